//! 领导下访接访 against real NATS: a session announced at its lead times (seconds, by
//! configuration), corrected and cancelled; petitions pre-registered through the normal intake
//! path up to the capacity by two triage instances, the next session offered beyond it; the
//! investigation task on the unit's feed, findings, one investigation going overdue; the
//! leader's batch list with a repeat and a cluster shown once; the outcomes of the day, a
//! leader-owned case escalating to the leader; the report over gRPC and on /metrics.

use std::time::{Duration, Instant};

use minhu::Role;
use minhu_contracts::bus;
use minhu_contracts::v1::reception_service_client::ReceptionServiceClient;
use minhu_contracts::v1::{
    AnnouncementKind, CancelSessionRequest, CaseStatus, CaseView, ChangeSessionRequest,
    CreateSessionRequest, Escalated, EvaluateRequest, Leader, LeaderLevel, Petition, Rating,
    Receipt, ReceptionAnnouncement, ReceptionOutcomeKind, ReceptionSession, ReceptionState,
    RecordFindingsRequest, RecordOutcomeRequest, RegistrationRefusal, SessionRef, SessionState,
    case_event,
};
use minhu_core::config::Settings;
use minhu_core::deadlines::timestamp;
use minhu_e2e::{
    HOTLINE_TOKEN, NatsServer, TestApp, WEB_TOKEN, authorized, distinct_petition, feed_until,
    petition, retold, spawn_app_with, stream_messages, update_of,
};
use prost::Message;
use time::OffsetDateTime;
use tonic::Code;
use tonic::transport::Channel;

const CENTRE: &str = "demo-centre-token";
const HUANGZHAI: &str = "demo-unit-huangzhai";
const BAIMA: &str = "demo-unit-baima";
const JINHUA: &str = "demo-unit-jinhua";

/// Sessions a few seconds ahead: registrations stay open until the start, the report gauges
/// are refreshed every second.
fn fast_sessions(settings: &mut Settings) {
    settings.reception.registration_closes_before = "0s".parse().unwrap();
    settings.reception.report_interval_secs = 1;
    settings.reception.ack_wait_secs = 1;
}

async fn reception(app: &TestApp) -> ReceptionServiceClient<Channel> {
    ReceptionServiceClient::connect(format!("http://{}", app.grpc_addr.unwrap()))
        .await
        .unwrap()
}

/// A city leader (金华市委书记) receiving in 浦江县, `ahead` from now.
fn session_request(ahead: Duration, capacity: u32) -> CreateSessionRequest {
    let starts_at = OffsetDateTime::now_utc() + ahead;
    CreateSessionRequest {
        leader: Some(Leader {
            name: "张某".into(),
            post: "市委书记".into(),
            level: LeaderLevel::City as i32,
            unit_id: "jinhua".into(),
        }),
        starts_at: Some(timestamp(starts_at)),
        place: "浦江县矛调中心接待大厅".into(),
        division_codes: vec!["330726".into()],
        capacity,
        note: "反映城乡建设、环境保护方面的问题".into(),
        ..Default::default()
    }
}

async fn published(app: &TestApp, request: CreateSessionRequest) -> ReceptionSession {
    let mut client = reception(app).await;
    let created = client
        .create_session(authorized(CENTRE, request))
        .await
        .unwrap()
        .into_inner();
    client
        .publish_session(session_ref(&created.session_id))
        .await
        .unwrap()
        .into_inner()
}

/// A session as the centre names it in a request.
fn session_ref(session_id: &str) -> tonic::Request<SessionRef> {
    authorized(
        CENTRE,
        SessionRef {
            session_id: session_id.to_owned(),
        },
    )
}

fn naming(mut p: Petition, session: &ReceptionSession) -> Petition {
    p.reception_session_id = session.session_id.clone();
    p
}

/// The announcements of a session so far, in order.
async fn announcements(app: &TestApp, session_id: &str) -> Vec<ReceptionAnnouncement> {
    let prefix = format!("minhu.reception.announce.{session_id}.");
    stream_messages(&app.js, bus::RECEPTION_STREAM)
        .await
        .into_iter()
        .filter(|(subject, _)| subject.starts_with(&prefix))
        .map(|(_, payload)| ReceptionAnnouncement::decode(payload).unwrap())
        .collect()
}

async fn announcements_until(
    app: &TestApp,
    session_id: &str,
    n: usize,
) -> Vec<ReceptionAnnouncement> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let made = announcements(app, session_id).await;
        if made.len() >= n {
            return made;
        }
        assert!(
            Instant::now() < deadline,
            "{session_id}: only {} announcements: {made:#?}",
            made.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const CASE_WAIT: Duration = Duration::from_secs(20);

fn reception_state(view: &CaseView) -> ReceptionState {
    view.reception
        .as_ref()
        .map_or(ReceptionState::Unspecified, |r| {
            ReceptionState::try_from(r.state).unwrap()
        })
}

/// Submits `petition` for `session` and waits until it is registered.
async fn register(
    app: &TestApp,
    token: &str,
    petition: Petition,
    session: &ReceptionSession,
) -> (Receipt, CaseView) {
    let receipt = app.submit(token, naming(petition, session)).await.unwrap();
    let view = app
        .case_when(&receipt.tracking_number, "registered", CASE_WAIT, |v| {
            reception_state(v) == ReceptionState::Registered
        })
        .await;
    (receipt, view)
}

fn seconds(t: Option<prost_types::Timestamp>) -> f64 {
    let t = t.unwrap();
    t.seconds as f64 + f64::from(t.nanos) / 1e9
}

#[tokio::test]
async fn a_published_session_is_announced_at_each_lead_time_then_corrected_or_cancelled() {
    let server = NatsServer::start();
    let app = spawn_app_with(&server.url(), &Role::ALL, |s| {
        fast_sessions(s);
        s.reception.announce_leads = vec!["6s".parse().unwrap(), "3s".parse().unwrap()];
    })
    .await;
    let mut client = reception(&app).await;

    // A draft is not public.
    let draft = client
        .create_session(authorized(
            CENTRE,
            session_request(Duration::from_secs(9), 20),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(draft.state, SessionState::Draft as i32);
    assert!(draft.session_id.starts_with("RS"), "{}", draft.session_id);
    let session = client
        .publish_session(session_ref(&draft.session_id))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (session.state, session.edition),
        (SessionState::Published as i32, 1)
    );
    let id = session.session_id.clone();
    let start = seconds(session.starts_at);
    assert!(
        announcements(&app, &id).await.is_empty(),
        "nothing before 6 s ahead"
    );

    // The 6-second announcement, on time.
    let first = announcements_until(&app, &id, 1).await;
    let a = &first[0];
    assert_eq!(
        (a.number, a.kind, a.lead_seconds, a.late),
        (1, AnnouncementKind::Scheduled as i32, 6, false)
    );
    let at = seconds(a.at);
    assert!(
        at >= start - 6.0 && at < start - 6.0 + 2.0,
        "announced at {at}, due {}",
        start - 6.0
    );
    let public = a.session.as_ref().unwrap();
    assert_eq!(public.place, "浦江县矛调中心接待大厅");
    assert!(public.registrations.is_empty());

    // A change: a correction at once, naming what changed; the next announcement carries it.
    client
        .change_session(authorized(
            CENTRE,
            ChangeSessionRequest {
                session_id: id.clone(),
                place: "黄宅镇便民服务中心".into(),
                reason: "场地调整".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    let made = announcements_until(&app, &id, 3).await;
    let correction = &made[1];
    assert_eq!(correction.kind, AnnouncementKind::Correction as i32);
    assert_eq!(correction.changed, ["place"]);
    assert_eq!(correction.session.as_ref().unwrap().edition, 2);
    let second = &made[2];
    assert_eq!(
        (second.number, second.kind, second.lead_seconds),
        (3, AnnouncementKind::Scheduled as i32, 3)
    );
    assert!(seconds(second.at) >= start - 3.0);
    assert_eq!(second.session.as_ref().unwrap().place, "黄宅镇便民服务中心");
    // Each announcement once, even after the start.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(announcements(&app, &id).await.len(), 3);

    // Another session, cancelled after its first announcement: a cancellation notice.
    let other = published(&app, session_request(Duration::from_secs(8), 5)).await;
    announcements_until(&app, &other.session_id, 1).await;
    let cancelled = client
        .cancel_session(authorized(
            CENTRE,
            CancelSessionRequest {
                session_id: other.session_id.clone(),
                reason: "台风预警".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(cancelled.state, SessionState::Cancelled as i32);
    let made = announcements_until(&app, &other.session_id, 2).await;
    assert_eq!(made[1].kind, AnnouncementKind::Cancellation as i32);
    assert_eq!(made[1].reason, "台风预警");
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(
        announcements(&app, &other.session_id).await.len(),
        2,
        "nothing after a cancellation"
    );

    // Bad requests name every field; only the centre creates sessions.
    let mut bad = session_request(Duration::from_secs(60), 0);
    bad.division_codes = vec!["33".into()];
    let refused = client
        .create_session(authorized(CENTRE, bad))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    let fields: Vec<String> = {
        use tonic_types::StatusExt;
        refused
            .get_error_details()
            .bad_request()
            .unwrap()
            .field_violations
            .iter()
            .map(|v| v.field.clone())
            .collect()
    };
    assert_eq!(fields, ["division_codes[0]", "capacity"]);
    let stranger = client
        .create_session(authorized(
            HUANGZHAI,
            session_request(Duration::from_secs(60), 5),
        ))
        .await
        .unwrap_err();
    assert_eq!(stranger.code(), Code::Unauthenticated);
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("minhu_reception_announcements_total{kind=\"correction\"} 1"),
        "{metrics}"
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn two_triage_instances_fill_the_places_the_next_session_is_offered_and_changes_reach_the_registered()
 {
    let server = NatsServer::start();
    let by_the_start = |s: &mut Settings| {
        fast_sessions(s);
        s.reception.investigation_working_days = 0;
    };
    let app = spawn_app_with(&server.url(), &Role::ALL, by_the_start).await;
    let second_triage = spawn_app_with(&server.url(), &[Role::Triage], by_the_start).await;
    let full = published(&app, session_request(Duration::from_secs(3600), 3)).await;
    let next = published(&app, session_request(Duration::from_secs(7200), 10)).await;

    // Six matters at once, for three places.
    let submits = (0..6).map(|n| {
        let p = naming(distinct_petition(&format!("rs-cap-{n}"), 500 + n), &full);
        let app = &app;
        async move { app.submit(WEB_TOKEN, p).await.unwrap() }
    });
    let receipts = futures::future::join_all(submits).await;
    let mut registered_cases = Vec::new();
    let mut offered = Vec::new();
    for receipt in &receipts {
        let view = app
            .case_when(&receipt.tracking_number, "answered", CASE_WAIT, |v| {
                matches!(
                    reception_state(v),
                    ReceptionState::Registered | ReceptionState::Offered
                )
            })
            .await;
        match reception_state(&view) {
            ReceptionState::Registered => registered_cases.push(receipt.clone()),
            _ => offered.push(receipt.clone()),
        }
    }
    assert_eq!((registered_cases.len(), offered.len()), (3, 3));
    let mut client = reception(&app).await;
    let stored = client
        .get_session(session_ref(&full.session_id))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stored.matters_registered, 3);
    assert_eq!(stored.registrations.len(), 3);

    // The petitioner sees which: registered, or the next session offered (and normal handling).
    let tracked = app.track(&offered[0]).await.unwrap();
    let r = tracked.reception.unwrap();
    assert_eq!(r.state, ReceptionState::Offered as i32);
    assert_eq!(r.refusal, RegistrationRefusal::Full as i32);
    assert_eq!(r.offered.unwrap().session_id, next.session_id);
    assert_eq!(tracked.status, CaseStatus::Dispatched as i32);
    assert!(
        tracked.history.iter().any(|h| h.note.contains("名额已满")),
        "{:?}",
        tracked.history
    );
    let tracked = app.track(&registered_cases[0]).await.unwrap();
    let r = tracked.reception.unwrap();
    assert_eq!(r.state, ReceptionState::Registered as i32);
    assert_eq!(r.session.unwrap().session_id, full.session_id);

    // A session id that is not one is refused at the gateway; an unknown one is offered.
    let mut malformed = distinct_petition("rs-bad", 600);
    malformed.reception_session_id = "next-friday".into();
    let refused = app.submit(WEB_TOKEN, malformed).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(
        refused.message().contains("petition.reception_session_id"),
        "{}",
        refused.message()
    );
    let mut unknown = distinct_petition("rs-unknown", 601);
    unknown.reception_session_id = "RS20261231-ZZZZ".into();
    let receipt = app.submit(WEB_TOKEN, unknown).await.unwrap();
    let view = app
        .case_when(&receipt.tracking_number, "offered", CASE_WAIT, |v| {
            reception_state(v) == ReceptionState::Offered
        })
        .await;
    let r = view.reception.unwrap();
    assert_eq!(r.refusal, RegistrationRefusal::Unknown as i32);
    assert_eq!(r.offered.unwrap().session_id, next.session_id);

    // The session moves an hour later: every registered matter's investigation follows it.
    let before = app
        .wait_for_case(&registered_cases[0].tracking_number)
        .await;
    let due = |v: &CaseView| {
        seconds(
            v.reception
                .as_ref()
                .unwrap()
                .investigation
                .as_ref()
                .unwrap()
                .due_at,
        )
    };
    let moved_to = timestamp(OffsetDateTime::now_utc() + Duration::from_secs(2 * 3600));
    client
        .change_session(authorized(
            CENTRE,
            ChangeSessionRequest {
                session_id: full.session_id.clone(),
                starts_at: Some(moved_to),
                reason: "领导临时公务，推迟一小时".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    let after = app
        .case_when(
            &registered_cases[0].tracking_number,
            "moved",
            CASE_WAIT,
            |v| {
                v.reception
                    .as_ref()
                    .unwrap()
                    .session
                    .as_ref()
                    .unwrap()
                    .edition
                    == 2
            },
        )
        .await;
    assert!((due(&after) - seconds(Some(moved_to))).abs() < 0.001);
    assert!(due(&after) > due(&before));

    // Cancelled: the registered petitions are handled the normal way, and told so.
    client
        .cancel_session(authorized(
            CENTRE,
            CancelSessionRequest {
                session_id: full.session_id.clone(),
                reason: "台风预警".into(),
            },
        ))
        .await
        .unwrap();
    for receipt in &registered_cases {
        app.case_when(
            &receipt.tracking_number,
            "told of the cancellation",
            CASE_WAIT,
            |v| reception_state(v) == ReceptionState::Cancelled,
        )
        .await;
    }
    let tracked = app.track(&registered_cases[1]).await.unwrap();
    assert!(
        tracked
            .history
            .iter()
            .any(|h| h.note == "领导接访活动已取消（台风预警），本事项按正常程序办理"),
        "{:?}",
        tracked.history
    );
    second_triage.stop().await.unwrap();
    app.stop().await.unwrap();
}

/// The escalations of the leader's deadline recorded on a case.
async fn assignment_escalations(app: &TestApp, case_id: &str) -> Vec<Escalated> {
    app.case_events(case_id)
        .await
        .into_iter()
        .filter_map(|event| match event.event {
            Some(case_event::Event::Escalated(e)) if e.milestone == "reception_assignment" => {
                Some(e)
            }
            _ => None,
        })
        .collect()
}

fn milestone_escalated(view: &CaseView, milestone: &str) -> bool {
    view.clock
        .as_ref()
        .and_then(|c| c.milestones.iter().find(|m| m.milestone == milestone))
        .is_some_and(|m| m.escalation_level >= 1)
}

#[tokio::test]
async fn a_session_day_from_investigation_to_outcomes_and_report() {
    let server = NatsServer::start();
    let app = spawn_app_with(&server.url(), &Role::ALL, |s| {
        fast_sessions(s);
        // Findings are due by the session's start, warned 4 s before.
        s.reception.investigation_working_days = 0;
        s.reception.investigation_warn_before = "4s".parse().unwrap();
        s.clock.ack_wait_secs = 1;
    })
    .await;
    let session = published(&app, session_request(Duration::from_secs(16), 10)).await;
    let id = session.session_id.clone();
    let start = seconds(session.starts_at);

    // One matter from three petitions: the original, its repeat by the same person, and the
    // same matter from a neighbour (并单); two more matters of their own.
    let (original, original_view) = register(&app, WEB_TOKEN, petition("rs-day-1"), &session).await;
    // Each registered before the next is submitted: the desk lists in order of registration.
    let (repeat, _) = register(&app, WEB_TOKEN, petition("rs-day-2"), &session).await;
    let neighbour = retold("rs-day-3", "13900000031");
    let (neighbour, _) = register(&app, HOTLINE_TOKEN, neighbour, &session).await;
    let second = distinct_petition("rs-day-4", 700);
    let (second, _) = register(&app, WEB_TOKEN, second, &session).await;
    let third = distinct_petition("rs-day-5", 701);
    let (third, _) = register(&app, WEB_TOKEN, third, &session).await;
    let repeat_view = app.wait_for_case(&repeat.tracking_number).await;
    assert_eq!(repeat_view.duplicate_of, original.tracking_number);
    let neighbour_view = app.wait_for_case(&neighbour.tracking_number).await;
    assert_eq!(neighbour_view.cluster_lead, original.tracking_number);

    // The investigation task reaches the lead unit with its deadline: the session's start.
    let investigation = original_view
        .reception
        .as_ref()
        .unwrap()
        .investigation
        .clone()
        .unwrap();
    assert_eq!(investigation.milestone, "investigation");
    assert!((seconds(investigation.due_at) - start).abs() < 0.001);
    let feed = feed_until(&app, HUANGZHAI, |e| {
        e.case_id == third.tracking_number
            && matches!(
                update_of(e),
                Some(case_event::Event::ReceptionRegistered(_))
            )
    })
    .await;
    let task = feed
        .iter()
        .filter(|e| e.case_id == original.tracking_number)
        .find_map(|e| match update_of(e) {
            Some(case_event::Event::ReceptionRegistered(r)) => Some(r),
            _ => None,
        })
        .expect("the original's investigation task on the town's feed");
    assert_eq!(task.investigation.unwrap().due_at, investigation.due_at);
    assert_eq!(task.session.unwrap().session_id, id);

    // The town records findings on two matters; another unit cannot; the third stays open.
    let mut desk = reception(&app).await;
    let findings = |case: &Receipt, text: &str| RecordFindingsRequest {
        case_id: case.tracking_number.clone(),
        findings: text.into(),
    };
    let noted = desk
        .record_findings(authorized(
            HUANGZHAI,
            findings(&original, "经查，违建属实，已下达限期拆除通知。"),
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(noted.reception.unwrap().findings_at.is_some());
    desk.record_findings(authorized(HUANGZHAI, findings(&second, "已现场核实。")))
        .await
        .unwrap();
    let foreign = desk
        .record_findings(authorized(BAIMA, findings(&third, "x")))
        .await
        .unwrap_err();
    assert_eq!(foreign.code(), Code::NotFound);

    // The leader's desk: three batches, five petitions; the repeat and the neighbour with the
    // original, the findings beside each.
    let list = desk
        .batch_list(session_ref(&id))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((list.batches_count, list.petitions_count), (3, 5));
    let first = &list.batches[0];
    assert_eq!(first.case_id, original.tracking_number);
    assert_eq!(
        first.registered_case_ids,
        [
            original.tracking_number.clone(),
            repeat.tracking_number.clone(),
            neighbour.tracking_number.clone()
        ]
    );
    assert_eq!(first.petitioners, 2);
    assert_eq!(first.findings, "经查，违建属实，已下达限期拆除通知。");
    assert_eq!(first.unit.as_ref().unwrap().id, "pujiang-huangzhai");
    assert!(list.batches[2].findings.is_empty());

    // Outcomes wait for the day.
    let outcome = |case: &Receipt, kind: ReceptionOutcomeKind, unit: &str, due_in: u64| {
        authorized(
            CENTRE,
            RecordOutcomeRequest {
                session_id: id.clone(),
                case_id: case.tracking_number.clone(),
                outcome: kind as i32,
                summary: "当场研究处理".into(),
                lead_unit_id: unit.into(),
                due_at: (due_in > 0)
                    .then(|| timestamp(OffsetDateTime::now_utc() + Duration::from_secs(due_in))),
                working_days: 0,
            },
        )
    };
    let early = desk
        .record_outcome(outcome(&original, ReceptionOutcomeKind::Resolved, "", 0))
        .await
        .unwrap_err();
    assert_eq!(early.code(), Code::FailedPrecondition);

    // The matter without findings goes overdue at the start and is escalated to the town's
    // supervising unit.
    let overdue = app
        .case_when(
            &third.tracking_number,
            "investigation escalated",
            CASE_WAIT,
            |v| milestone_escalated(v, "investigation"),
        )
        .await;
    assert!(
        overdue
            .history
            .iter()
            .any(|h| h.note.contains("访前调查已超期")),
        "{:?}",
        overdue.history
    );
    let investigated = app.wait_for_case(&second.tracking_number).await;
    assert!(!milestone_escalated(&investigated, "investigation"));
    let wait = start - seconds(Some(timestamp(OffsetDateTime::now_utc())));
    if wait > 0.0 {
        tokio::time::sleep(Duration::from_secs_f64(wait + 0.2)).await;
    }

    // The day: resolved on the spot, assigned to another unit with a deadline, and taken on by
    // the leader (领导包案).
    let resolved = desk
        .record_outcome(outcome(&repeat, ReceptionOutcomeKind::Resolved, "", 0))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        resolved.case_id, original.tracking_number,
        "the matter's case"
    );
    assert_eq!(resolved.status, CaseStatus::Replied as i32);
    let assigned = desk
        .record_outcome(outcome(
            &second,
            ReceptionOutcomeKind::Assigned,
            "pujiang-housing",
            3,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        assigned.route.as_ref().unwrap().lead_unit_id,
        "pujiang-housing"
    );
    let owned = desk
        .record_outcome(outcome(&third, ReceptionOutcomeKind::LeaderOwned, "", 3))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(owned.leader.as_ref().unwrap().name, "张某");
    assert_eq!(
        owned.route.as_ref().unwrap().lead_unit_id,
        "pujiang-huangzhai"
    );
    let again = desk
        .record_outcome(outcome(&third, ReceptionOutcomeKind::Resolved, "", 0))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);

    // The petitioner reads the answer and rates it.
    let tracked = app.track(&original).await.unwrap();
    assert_eq!(tracked.status, CaseStatus::Replied as i32);
    assert_eq!(tracked.reply, "当场研究处理");
    assert!(
        tracked.reception.as_ref().unwrap().findings.is_empty(),
        "findings stay with the units"
    );
    app.cases()
        .await
        .evaluate(authorized(
            WEB_TOKEN,
            EvaluateRequest {
                tracking_number: original.tracking_number.clone(),
                query_code: original.query_code.clone(),
                rating: Rating::Satisfied as i32,
                comment: "领导当场拍板".into(),
            },
        ))
        .await
        .unwrap();

    // Past the leader's deadlines: the assigned matter escalates up the new unit's chain, the
    // leader-owned one to the leader.
    let assigned = app
        .case_when(
            &second.tracking_number,
            "assignment escalated",
            CASE_WAIT,
            |v| milestone_escalated(v, "reception_assignment"),
        )
        .await;
    let owned = app
        .case_when(
            &third.tracking_number,
            "assignment escalated",
            CASE_WAIT,
            |v| milestone_escalated(v, "reception_assignment"),
        )
        .await;
    let to_supervisor = assignment_escalations(&app, &assigned.case_id).await;
    assert_eq!(to_supervisor.len(), 1);
    assert_eq!(to_supervisor[0].unit_id, "pujiang-housing");
    assert_eq!(to_supervisor[0].to_unit_id, "pujiang-county");
    assert!(to_supervisor[0].to_leader.is_none());
    let to_leader = assignment_escalations(&app, &owned.case_id).await;
    assert_eq!(to_leader.len(), 1);
    assert_eq!(to_leader[0].to_unit_id, "jinhua");
    assert_eq!(to_leader[0].to_leader.as_ref().unwrap().post, "市委书记");
    // The leader's unit hears of it on its feed.
    feed_until(&app, JINHUA, |e| {
        e.case_id == owned.case_id && matches!(update_of(e), Some(case_event::Event::Escalated(_)))
    })
    .await;

    // The report, over gRPC and on /metrics.
    let deadline = Instant::now() + Duration::from_secs(10);
    let report = loop {
        let report = desk
            .session_report(session_ref(&id))
            .await
            .unwrap()
            .into_inner();
        if report.evaluated == 1 {
            break report;
        }
        assert!(
            Instant::now() < deadline,
            "the rating never counted: {report:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!((report.petitions, report.matters), (5, 3));
    assert_eq!(
        (
            report.investigated,
            report.resolved_on_the_spot,
            report.assigned,
            report.leader_owned,
            report.undecided,
            report.overdue
        ),
        (2, 1, 1, 1, 0, 2)
    );
    assert_eq!((report.satisfied, report.satisfaction_ratio), (1, 1.0));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = app.metrics().await;
        let line = metrics.lines().find(|l| {
            l.starts_with("minhu_reception_session_matters")
                && l.contains(&id)
                && l.contains("figure=\"leader_owned\"")
        });
        if line.is_some_and(|l| l.ends_with(" 1")) {
            assert!(
                metrics.contains(&format!(
                    "minhu_reception_session_satisfaction_ratio{{session=\"{id}\"}} 1"
                )),
                "{metrics}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "no report gauges: {metrics}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.stop().await.unwrap();
}
