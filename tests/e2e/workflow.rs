//! The unit workflow through CaseService, as unit systems, the centre and a petitioner's
//! portal drive it, with each unit's feed watched on the bus.

use std::time::{Duration, Instant};

use futures::StreamExt;
use minhu_contracts::v1::case_service_client::CaseServiceClient;
use minhu_contracts::v1::{
    CaseRef, CaseStage, CaseStatus, CaseView, CloseRequest, DecideExtensionRequest,
    DesignateRequest, EvaluateRequest, ExtensionRequest, ListCasesRequest, Rating, ReassignRequest,
    Receipt, ReplyRequest, ReturnReason, ReturnRequest, ReviewRequest, SubscribeRequest, UnitEvent,
    unit_event,
};
use minhu_e2e::{
    NatsServer, TestApp, WEB_TOKEN, WITHOUT_CLOCK, authorized, petition, spawn_app, spawn_app_with,
};
use tonic::Code;
use tonic::transport::Channel;
use tonic_types::StatusExt;

const HUANGZHAI: &str = "demo-unit-huangzhai";
const COUNTY: &str = "demo-unit-county";
const TRANSPORT: &str = "demo-unit-transport";
const BAIMA: &str = "demo-unit-baima";
const CENTRE: &str = "demo-centre-token";

fn case_ref(receipt: &Receipt) -> CaseRef {
    CaseRef {
        case_id: receipt.tracking_number.clone(),
    }
}

/// Waits until the feed's unit index lists the case for `token`'s unit.
async fn wait_listed(client: &mut CaseServiceClient<Channel>, token: &str, case_id: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let listed = client
            .list_cases(authorized(token, ListCasesRequest::default()))
            .await
            .unwrap()
            .into_inner()
            .cases;
        if listed.iter().any(|c| c.case_id == case_id) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{case_id} never listed for {token}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The unit feed from the start, until `n` events arrived.
async fn feed(app: &TestApp, token: &str, n: usize) -> Vec<(u64, UnitEvent)> {
    let mut client = app.cases().await;
    let mut stream = client
        .subscribe(authorized(token, SubscribeRequest { from_sequence: 0 }))
        .await
        .unwrap()
        .into_inner();
    let mut out = Vec::new();
    while out.len() < n {
        let next = tokio::time::timeout(Duration::from_secs(20), stream.next())
            .await
            .unwrap_or_else(|_| panic!("feed stalled after {out:?}"))
            .unwrap()
            .unwrap();
        out.push((next.sequence, next.event.unwrap()));
    }
    out
}

fn status(view: &CaseView) -> CaseStatus {
    CaseStatus::try_from(view.status).unwrap()
}

#[tokio::test]
async fn a_case_is_signed_for_replied_closed_rated_and_reviewed_one_level_up() {
    let server = NatsServer::start();
    let app = spawn_app(&server.url()).await;
    let receipt = app.submit(WEB_TOKEN, petition("wf-1")).await.unwrap();
    app.wait_for_case(&receipt.tracking_number).await;
    let mut client = app.cases().await;
    wait_listed(&mut client, HUANGZHAI, &receipt.tracking_number).await;

    // Another unit learns nothing of the case.
    let hidden = client
        .get_case(authorized(BAIMA, case_ref(&receipt)))
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), Code::NotFound);
    let foreign = client
        .sign_for(authorized(BAIMA, case_ref(&receipt)))
        .await
        .unwrap_err();
    assert_eq!(foreign.code(), Code::NotFound);

    let early = client
        .close(authorized(
            HUANGZHAI,
            CloseRequest {
                case_id: receipt.tracking_number.clone(),
                summary: "x".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(early.code(), Code::FailedPrecondition);
    assert!(
        early.message().contains("dispatched"),
        "{}",
        early.message()
    );

    let signed = client
        .sign_for(authorized(HUANGZHAI, case_ref(&receipt)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status(&signed), CaseStatus::SignedFor);
    let replied = client
        .reply(authorized(
            HUANGZHAI,
            ReplyRequest {
                case_id: receipt.tracking_number.clone(),
                reply: "已责令拆除违建，物业加强巡查。".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status(&replied), CaseStatus::Replied);
    client
        .close(authorized(
            HUANGZHAI,
            CloseRequest {
                case_id: receipt.tracking_number.clone(),
                summary: "已办结".into(),
            },
        ))
        .await
        .unwrap();

    let tracked = app.track(&receipt).await.unwrap();
    assert_eq!(tracked.status, CaseStatus::Closed as i32);
    let notes: Vec<_> = tracked.history.iter().map(|h| h.note.as_str()).collect();
    assert_eq!(
        notes,
        [
            "已受理",
            "已交办黄宅镇人民政府",
            "黄宅镇人民政府已签收",
            "已答复",
            "已办结"
        ]
    );

    // The petitioner, through the portal: unsatisfied, then asks for review (复查).
    let evaluate = |rating: Rating| EvaluateRequest {
        tracking_number: receipt.tracking_number.clone(),
        query_code: receipt.query_code.clone(),
        rating: rating as i32,
        comment: "违建仍在".into(),
    };
    let mut wrong_code = evaluate(Rating::Unsatisfied);
    wrong_code.query_code = "ABCDEFGHJKLM".into();
    assert_eq!(
        client
            .evaluate(authorized(WEB_TOKEN, wrong_code))
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    client
        .evaluate(authorized(WEB_TOKEN, evaluate(Rating::Unsatisfied)))
        .await
        .unwrap();
    let again = client
        .evaluate(authorized(WEB_TOKEN, evaluate(Rating::Satisfied)))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);
    let reviewed = client
        .request_review(authorized(
            WEB_TOKEN,
            ReviewRequest {
                tracking_number: receipt.tracking_number.clone(),
                query_code: receipt.query_code.clone(),
                reason: "违建未拆除".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reviewed.stage, CaseStage::Review as i32);
    assert_eq!(status(&reviewed), CaseStatus::Dispatched);
    assert_eq!(reviewed.route.unwrap().lead_unit_id, "pujiang-county");

    // The county government (the supervising unit) receives the case on its feed.
    let county = feed(&app, COUNTY, 1).await;
    match &county[0].1.event {
        Some(unit_event::Event::Assigned(case)) => {
            assert_eq!(case.case_id, receipt.tracking_number);
            assert!(case.lead);
        }
        other => panic!("{other:?}"),
    }
    // The town's feed: assignment, then each of its own steps and the rating.
    let town = feed(&app, HUANGZHAI, 5).await;
    let ids: Vec<_> = town.iter().map(|(_, e)| e.event_id.clone()).collect();
    let case = &receipt.tracking_number;
    assert_eq!(
        ids,
        [2, 3, 4, 5, 6].map(|n| format!("{case}/{n}")),
        "one message per event, in order"
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_return_goes_to_the_centre_and_a_designated_unit_cannot_return() {
    let server = NatsServer::start();
    let app = spawn_app_with(&server.url(), &WITHOUT_CLOCK, |_| {}).await;
    let receipt = app.submit(WEB_TOKEN, petition("wf-2")).await.unwrap();
    app.wait_for_case(&receipt.tracking_number).await;
    let mut client = app.cases().await;
    wait_listed(&mut client, HUANGZHAI, &receipt.tracking_number).await;
    let give_back = || ReturnRequest {
        case_id: receipt.tracking_number.clone(),
        reason: ReturnReason::NotOurFunction as i32,
        explanation: "属县交通运输局职责".into(),
    };
    let returned = client
        .r#return(authorized(HUANGZHAI, give_back()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status(&returned), CaseStatus::Returned);

    // Only the centre reassigns.
    let reassign = ReassignRequest {
        case_id: receipt.tracking_number.clone(),
        lead_unit_id: "pujiang-transport".into(),
        assisting_unit_ids: vec![],
        reason: "退单审核通过".into(),
    };
    assert_eq!(
        client
            .reassign(authorized(HUANGZHAI, reassign.clone()))
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );
    let moved = client
        .reassign(authorized(CENTRE, reassign))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(moved.route.unwrap().lead_unit_id, "pujiang-transport");

    // The town sees the case withdrawn; the bureau receives it.
    let town = feed(&app, HUANGZHAI, 3).await;
    assert!(matches!(
        town[2].1.event,
        Some(unit_event::Event::Withdrawn(_))
    ));
    let bureau = feed(&app, TRANSPORT, 1).await;
    assert!(matches!(
        bureau[0].1.event,
        Some(unit_event::Event::Assigned(_))
    ));
    // And the town can no longer act on it.
    assert_eq!(
        client
            .sign_for(authorized(HUANGZHAI, case_ref(&receipt)))
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );

    client
        .designate(authorized(
            CENTRE,
            DesignateRequest {
                case_id: receipt.tracking_number.clone(),
                unit_id: String::new(),
                reason: "职责明确，指定办理".into(),
            },
        ))
        .await
        .unwrap();
    let refused = client
        .r#return(authorized(TRANSPORT, give_back()))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(refused.message().contains("指定"), "{}", refused.message());
    app.stop().await.unwrap();
}

#[tokio::test]
async fn an_extension_is_decided_by_the_supervising_unit_and_moves_the_deadline() {
    let server = NatsServer::start();
    let app = spawn_app_with(&server.url(), &WITHOUT_CLOCK, |_| {}).await;
    let receipt = app.submit(WEB_TOKEN, petition("wf-3")).await.unwrap();
    let before = app.wait_for_case(&receipt.tracking_number).await;
    // The deadline the lead unit works against, and the deadline listed for it.
    let handling = |v: &CaseView| {
        let due = v.clock.as_ref().unwrap().handling_due_at.unwrap();
        assert!(v.deadlines.iter().any(|d| d.due_at == Some(due)), "{v:?}");
        due.seconds
    };
    let mut client = app.cases().await;
    wait_listed(&mut client, HUANGZHAI, &receipt.tracking_number).await;
    client
        .sign_for(authorized(HUANGZHAI, case_ref(&receipt)))
        .await
        .unwrap();
    // A unit system is told which fields to correct, as by every minhu API.
    let refused = client
        .request_extension(authorized(
            HUANGZHAI,
            ExtensionRequest {
                case_id: receipt.tracking_number.clone(),
                days: 45,
                reason: " ".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    let fields: Vec<_> = refused
        .get_details_bad_request()
        .expect("a BadRequest")
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(fields, ["days", "reason"], "{}", refused.message());
    client
        .request_extension(authorized(
            HUANGZHAI,
            ExtensionRequest {
                case_id: receipt.tracking_number.clone(),
                days: 20,
                reason: "需多部门会商".into(),
            },
        ))
        .await
        .unwrap();
    let decide = |approve| DecideExtensionRequest {
        case_id: receipt.tracking_number.clone(),
        approve,
        reason: "同意".into(),
    };
    assert_eq!(
        client
            .decide_extension(authorized(HUANGZHAI, decide(true)))
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied,
        "the town cannot decide its own extension"
    );
    let decided = client
        .decide_extension(authorized(COUNTY, decide(true)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(decided.extension_days_granted, 20);
    assert_eq!(handling(&decided) - handling(&before), 20 * 86_400);
    let listed = client
        .list_cases(authorized(
            HUANGZHAI,
            ListCasesRequest {
                statuses: vec![CaseStatus::SignedFor as i32],
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.cases.len(), 1);
    app.stop().await.unwrap();
}
