//! 三张清单 and 任期盘点 over gRPC against real NATS: a township's risk, task and responsibility
//! lists from its cases, a closed case dropping off (动态销号), and the handover report.

use std::time::{Duration, Instant};

use minhu_contracts::v1::case_service_client::CaseServiceClient;
use minhu_contracts::v1::{
    CloseRequest, HandoverRequest, ListCasesRequest, Receipt, ReplyRequest, RiskReason,
    UnitListsRequest, UnitListsResponse, Urgency,
};
use minhu_e2e::{NatsServer, WEB_TOKEN, authorized, distinct_petition, spawn_app};
use tonic::Code;
use tonic::transport::Channel;
use tonic_types::StatusExt;

const HUANGZHAI: &str = "demo-unit-huangzhai";
const HUANGZHAI_ID: &str = "pujiang-huangzhai";
const BAIMA: &str = "demo-unit-baima";
const CENTRE: &str = "demo-centre-token";

/// Waits until the unit index lists every one of `case_ids` for the township.
async fn wait_listed(client: &mut CaseServiceClient<Channel>, case_ids: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let listed = client
            .list_cases(authorized(HUANGZHAI, ListCasesRequest::default()))
            .await
            .unwrap()
            .into_inner()
            .cases;
        if case_ids
            .iter()
            .all(|id| listed.iter().any(|c| c.case_id == *id))
        {
            return;
        }
        assert!(Instant::now() < deadline, "{case_ids:?} never all listed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn lists(client: &mut CaseServiceClient<Channel>) -> UnitListsResponse {
    client
        .unit_lists(authorized(HUANGZHAI, UnitListsRequest::default()))
        .await
        .unwrap()
        .into_inner()
}

fn ids<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut ids: Vec<&str> = items.collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn a_townships_lists_follow_its_cases_and_the_handover_report_lists_what_is_open() {
    let server = NatsServer::start();
    let app = spawn_app(&server.url()).await;
    let mut urgent = distinct_petition("lists-gas", 1);
    urgent.title = "燃气泄漏".into();
    urgent.body = "黄宅镇某小区楼道里燃气泄漏，味道很大，有人晕倒，请马上派人来处理。".into();
    let submitted: Vec<Receipt> = {
        let mut out = Vec::new();
        for p in [
            urgent,
            distinct_petition("lists-1", 2),
            distinct_petition("lists-2", 3),
        ] {
            out.push(app.submit(WEB_TOKEN, p).await.unwrap());
        }
        out
    };
    let [gas, first, second] = [0, 1, 2].map(|i| submitted[i].tracking_number.as_str());
    for id in [gas, first, second] {
        app.wait_for_case(id).await;
    }
    let mut client = app.cases().await;
    wait_listed(&mut client, &[gas, first, second]).await;

    let before = lists(&mut client).await;
    assert_eq!(before.unit_id, HUANGZHAI_ID);
    // 风险清单: the gas leak, and only it.
    assert_eq!(ids(before.risks.iter().map(|r| r.case_id.as_str())), [gas]);
    assert_eq!(before.risks[0].urgency, Urgency::VeryUrgent as i32);
    assert_eq!(before.risks[0].reasons, [RiskReason::Urgent as i32]);
    // 任务清单: every open case with its deadlines, the soonest first.
    let mut all = vec![gas, first, second];
    all.sort();
    assert_eq!(ids(before.tasks.iter().map(|t| t.case_id.as_str())), all);
    for task in &before.tasks {
        assert!(!task.deadlines.is_empty(), "{task:?}");
        assert!(task.next_due_at.is_some(), "{task:?}");
        assert!(!task.overdue, "{task:?}");
    }
    let due: Vec<_> = before
        .tasks
        .iter()
        .map(|t| {
            let d = t.next_due_at.unwrap();
            (d.seconds, d.nanos)
        })
        .collect();
    assert!(due.is_sorted(), "{due:?}");
    // 责任清单: the township owns each case; no leader took any on.
    assert_eq!(
        ids(before.responsibilities.iter().map(|r| r.case_id.as_str())),
        all
    );
    for owner in &before.responsibilities {
        assert_eq!(owner.lead_unit_id, HUANGZHAI_ID);
        assert_eq!(owner.leader, None);
    }

    // The centre reads any unit's lists, naming it; another unit reads only its own.
    let centre = client
        .unit_lists(authorized(
            CENTRE,
            UnitListsRequest {
                unit_id: HUANGZHAI_ID.into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ids(centre.tasks.iter().map(|t| t.case_id.as_str())), all);
    let unnamed = client
        .unit_lists(authorized(CENTRE, UnitListsRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(unnamed.code(), Code::InvalidArgument);
    let violations = unnamed.get_details_bad_request().unwrap().field_violations;
    assert_eq!(violations[0].field, "unit_id");
    let foreign = client
        .handover_report(authorized(
            BAIMA,
            HandoverRequest {
                unit_id: HUANGZHAI_ID.into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(foreign.code(), Code::PermissionDenied);
    let own = client
        .unit_lists(authorized(BAIMA, UnitListsRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert!(own.tasks.is_empty(), "{own:?}");

    // 动态销号: the first case is signed for, replied and closed; it leaves every list.
    app.sign_for(HUANGZHAI, first).await.unwrap();
    client
        .reply(authorized(
            HUANGZHAI,
            ReplyRequest {
                case_id: first.into(),
                reply: "已责令拆除违建。".into(),
            },
        ))
        .await
        .unwrap();
    client
        .close(authorized(
            HUANGZHAI,
            CloseRequest {
                case_id: first.into(),
                summary: "违建已拆除，信访人认可。".into(),
            },
        ))
        .await
        .unwrap();
    let after = lists(&mut client).await;
    let mut open = vec![gas, second];
    open.sort();
    assert_eq!(ids(after.tasks.iter().map(|t| t.case_id.as_str())), open);
    assert_eq!(
        ids(after.responsibilities.iter().map(|r| r.case_id.as_str())),
        open
    );
    assert_eq!(ids(after.risks.iter().map(|r| r.case_id.as_str())), [gas]);

    // 任期盘点: the open cases, oldest first, with age, deadline and history.
    let report = client
        .handover_report(authorized(HUANGZHAI, HandoverRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(report.unit_id, HUANGZHAI_ID);
    assert_eq!(report.overdue, 0);
    assert_eq!(ids(report.cases.iter().map(|c| c.case_id.as_str())), open);
    let accepted: Vec<_> = report
        .cases
        .iter()
        .map(|c| c.accepted_at.unwrap().seconds)
        .collect();
    assert!(accepted.is_sorted(), "{accepted:?}");
    for case in &report.cases {
        assert_eq!(case.age_days, 0);
        assert!(case.next_deadline.is_some(), "{case:?}");
        assert!(!case.history.is_empty(), "{case:?}");
        assert_eq!(case.lead_unit_id, HUANGZHAI_ID);
    }
    let gas_case = report.cases.iter().find(|c| c.case_id == gas).unwrap();
    assert_eq!(gas_case.title, "燃气泄漏");
    assert_eq!(gas_case.urgency, Urgency::VeryUrgent as i32);
}
