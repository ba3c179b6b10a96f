//! The 接诉即办 clock against real NATS: deadlines from a test SLA policy counted in seconds
//! (configuration, like any deployment's own policy), timers as JetStream message schedules,
//! several clock instances sharing them.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use minhu::Role;
use minhu_contracts::bus;
use minhu_contracts::v1::{
    CaseEvent, CaseRef, CaseView, Deadline, DecideExtensionRequest, ExtensionRequest, PauseRequest,
    Receipt, ResumeRequest, UnitPerformanceRequest, case_event, unit_event,
};
use minhu_core::config::{Settings, SlaConfig};
use minhu_e2e::{
    NatsServer, TestApp, WEB_TOKEN, authorized, distinct_petition, feed_until, spawn_app_with,
    update_of,
};

const HUANGZHAI: &str = "demo-unit-huangzhai";
const COUNTY: &str = "demo-unit-county";
const CENTRE: &str = "demo-centre-token";
const OPS: &str = "demo-ops-token";

/// A deployment's own policy for 信访 cases, in seconds so a test sees it run out: the
/// resolution (办结) is due 3 s after receipt, warned at a share of it (`{warn}`), escalated
/// 1 s and 2 s after the deadline; an extension may add up to 30 days.
const FAST_POLICY: &str = r#"
active = ["e2e"]
[[profiles]]
name = "e2e"
description = "seconds instead of days, for end-to-end tests"
[[profiles.policies]]
id = "e2e-fast"
selector = { channel_types = ["petition"] }
[[profiles.policies.milestones]]
milestone = "resolution"
limit = { value = 3, unit = "seconds" }
warn_share = {warn}
extension = { max_total = 2592000 }
escalations = [
  { after = { value = 1, unit = "seconds" }, level = 1 },
  { after = { value = 2, unit = "seconds" }, level = 2 },
]
basis = "《端到端测试》第1条"
"#;

fn fast_clock(settings: &mut Settings) {
    warning_at(0.5)(settings);
}

/// The fast policy with the warning at `share` of the limit.
fn warning_at(share: f64) -> impl Fn(&mut Settings) {
    move |settings| {
        let policy = FAST_POLICY.replace("{warn}", &share.to_string());
        settings.clock.sla = Some(SlaConfig::from_toml(&policy).expect("test policy"));
        // A fired timer held by a killed instance goes to another one within a second.
        settings.clock.ack_wait_secs = 1;
    }
}

const CASE_WAIT: Duration = Duration::from_secs(15);

/// A case of its own (triage dispatches it instead of linking it to another), once the fast
/// policy's deadlines are on it.
async fn case_with_deadlines(app: &TestApp, channel_message_id: &str, n: u64) -> CaseView {
    let receipt = app
        .submit(WEB_TOKEN, distinct_petition(channel_message_id, n))
        .await
        .unwrap();
    app.case_when(
        &receipt.tracking_number,
        "given deadlines",
        CASE_WAIT,
        |v| v.policy_id == "e2e-fast",
    )
    .await
}

fn deadline<'a>(view: &'a CaseView, milestone: &str) -> &'a Deadline {
    view.deadlines
        .iter()
        .find(|d| d.milestone == milestone)
        .unwrap_or_else(|| panic!("no {milestone} deadline in {:?}", view.deadlines))
}

fn nanos(t: Option<prost_types::Timestamp>) -> i128 {
    let t = t.expect("a timestamp");
    i128::from(t.seconds) * 1_000_000_000 + i128::from(t.nanos)
}

fn overdue_and_escalated_twice(view: &CaseView) -> bool {
    view.clock
        .as_ref()
        .and_then(|c| c.milestones.iter().find(|m| m.milestone == "resolution"))
        .is_some_and(|m| m.overdue_limit > 0 && m.escalation_level == 2)
}

/// Counts of the clock's event kinds on a case.
fn clock_events(events: &[CaseEvent]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for event in events {
        let key = match &event.event {
            Some(case_event::Event::DeadlineWarned(_)) => "warned".to_owned(),
            Some(case_event::Event::DeadlineOverdue(_)) => "overdue".to_owned(),
            Some(case_event::Event::Escalated(e)) => format!("escalated {}", e.level),
            _ => continue,
        };
        *counts.entry(key).or_default() += 1;
    }
    counts
}

#[tokio::test]
async fn each_deadline_fires_once_with_three_clock_instances_and_one_killed() {
    let server = NatsServer::start();
    let url = server.url();
    // Warnings early (0.75 s) and the deadline late (3 s): however slow a redelivery after
    // the kill, each warning still falls before its deadline.
    let policy = warning_at(0.25);
    let app = spawn_app_with(
        &url,
        &[Role::Gateway, Role::Triage, Role::Dispatch],
        &policy,
    )
    .await;
    let mut clocks = Vec::new();
    for _ in 0..3 {
        clocks.push(spawn_app_with(&url, &[Role::Clock], &policy).await);
    }
    let receipts: Vec<Receipt> = futures::future::join_all((0..6).map(|n| {
        let app = &app;
        async move {
            app.submit(WEB_TOKEN, distinct_petition(&format!("clock-once-{n}"), n))
                .await
                .unwrap()
        }
    }))
    .await;
    // Mid-run, as the deadlines fall due: one instance dies with whatever it held.
    tokio::time::sleep(Duration::from_millis(2800)).await;
    drop(clocks.remove(0));

    for receipt in &receipts {
        let case_id = &receipt.tracking_number;
        let view = app
            .case_when(
                case_id,
                "escalated twice",
                CASE_WAIT,
                overdue_and_escalated_twice,
            )
            .await;
        assert_eq!(view.policy_id, "e2e-fast");
        let events = app.case_events(case_id).await;
        let counts = clock_events(&events);
        let expected: HashMap<String, usize> = [
            ("warned", 1),
            ("overdue", 1),
            ("escalated 1", 1),
            ("escalated 2", 1),
        ]
        .into_iter()
        .map(|(k, n)| (k.to_owned(), n))
        .collect();
        assert_eq!(counts, expected, "{case_id}: {events:#?}");
    }
    // Nothing left to watch: every schedule fired or was removed, every firing was handled.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut timers = app.js.get_stream(bus::TIMERS_STREAM).await.unwrap();
        let messages = timers.info().await.unwrap().state.messages;
        if messages == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{messages} timers left");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for clock in clocks {
        clock.stop().await.unwrap();
    }
    app.stop().await.unwrap();
}

#[tokio::test]
async fn warning_overdue_and_escalation_reach_the_case_the_unit_feeds_and_the_figures() {
    let server = NatsServer::start();
    let app = spawn_app_with(&server.url(), &Role::ALL, fast_clock).await;
    let receipt = app
        .submit(WEB_TOKEN, distinct_petition("clock-feed", 100))
        .await
        .unwrap();
    let case_id = receipt.tracking_number.clone();
    let view = app
        .case_when(
            &case_id,
            "escalated twice",
            CASE_WAIT,
            overdue_and_escalated_twice,
        )
        .await;
    let due = deadline(&view, "resolution");
    assert_eq!(due.limit, "3 seconds");
    assert_eq!(
        nanos(due.due_at) - nanos(view.accepted_at),
        3_000_000_000,
        "due 3 s after receipt"
    );

    // The petitioner sees it in Track, in plain words.
    let tracked = app.track(&receipt).await.unwrap();
    let notes: Vec<_> = tracked.history.iter().map(|h| h.note.as_str()).collect();
    for wanted in ["办结时限将于", "办结已超期", "已提请上级督办（第1级）"] {
        assert!(
            notes.iter().any(|n| n.contains(wanted)),
            "{wanted} not in {notes:?}"
        );
    }
    assert_eq!(tracked.deadlines.len(), 1);

    // The town's feed: its assignment, carrying the policy's deadline from the start (triage
    // dispatches with the clock's own rules, so no correction follows), then the clock's
    // events about its case; the county (one level up) gets the escalation.
    let town = feed_until(
        &app,
        HUANGZHAI,
        |e| matches!(update_of(e), Some(case_event::Event::Escalated(x)) if x.level == 2),
    )
    .await;
    let assigned = town
        .iter()
        .find_map(|e| match &e.event {
            Some(unit_event::Event::Assigned(case)) => Some(case),
            _ => None,
        })
        .expect("the town's assignment");
    let assigned_due = assigned
        .deadlines
        .iter()
        .find(|d| d.milestone == "resolution")
        .expect("the resolution deadline in the assignment");
    assert_eq!(
        (assigned_due.due_at, assigned_due.limit.as_str()),
        (due.due_at, "3 seconds")
    );
    let kinds: Vec<_> = town
        .iter()
        .filter_map(update_of)
        .map(|e| bus::case_event_kind(&e))
        .collect();
    assert!(
        !kinds.contains(&"deadlines_set"),
        "the deadlines were right from the start: {kinds:?}"
    );
    for kind in ["deadline_warned", "deadline_overdue", "escalated"] {
        assert!(
            kinds.contains(&kind),
            "{kind} not on the town's feed: {kinds:?}"
        );
    }
    let county = feed_until(&app, COUNTY, |e| update_of(e).is_some()).await;
    match update_of(county.last().unwrap()) {
        Some(case_event::Event::Escalated(e)) => {
            assert_eq!((e.level, e.to_unit_id.as_str()), (1, "pujiang-county"));
        }
        other => panic!("{other:?}"),
    }

    // Ops: the unit's performance counts the overdue case; /metrics has the clock's counters.
    let mut ops = app.ops().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let figures = ops
            .unit_performance(authorized(OPS, UnitPerformanceRequest::default()))
            .await
            .unwrap()
            .into_inner();
        let town = figures.units.iter().find(|u| u.key == "pujiang-huangzhai");
        if let Some(town) = town.filter(|t| t.overdue == 1 && t.escalated == 2) {
            assert_eq!(town.name, "黄宅镇人民政府");
            assert_eq!((town.assigned, town.signed_for), (1, 0));
            assert_eq!(town.response_rate, 0.0);
            assert!(figures.categories.iter().any(|c| c.overdue == 1));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "performance never caught up: {figures:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let metrics = app.metrics().await;
    for line in [
        "minhu_deadline_warnings_total{milestone=\"resolution\"}",
        "minhu_deadline_escalations_total{level=\"2\"}",
        "minhu_clock_fire_lag_seconds_bucket",
        "minhu_unit_response_ratio{unit=\"pujiang-huangzhai\"}",
    ] {
        assert!(metrics.contains(line), "missing {line} in:\n{metrics}");
    }
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_pause_stops_the_clock_and_resuming_moves_the_deadline_by_the_pause() {
    let server = NatsServer::start();
    let app = spawn_app_with(&server.url(), &Role::ALL, fast_clock).await;
    let before = case_with_deadlines(&app, "clock-pause", 200).await;
    let case_id = before.case_id.clone();
    let mut client = app.cases().await;
    let case_ref = || CaseRef {
        case_id: case_id.clone(),
    };
    let paused = client
        .pause(authorized(
            HUANGZHAI,
            PauseRequest {
                case_id: case_id.clone(),
                reason: "等待信访人补充材料".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(paused.paused);
    let refused = client
        .pause(authorized(
            CENTRE,
            PauseRequest {
                case_id: case_id.clone(),
                reason: "听证".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);

    // Past the original warning instant, nothing is recorded: the clock stands still.
    let suspended = app
        .case_when(&case_id, "suspended", CASE_WAIT, |v| {
            v.deadlines.first().is_some_and(|d| d.suspended)
        })
        .await;
    assert!(deadline(&suspended, "resolution").due_at.is_none());
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert!(clock_events(&app.case_events(&case_id).await).is_empty());

    let resumed = client
        .resume(authorized(
            CENTRE,
            ResumeRequest {
                case_id: case_id.clone(),
                reason: "材料已补齐".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!resumed.paused);
    let pause = resumed.pauses[0].clone();
    assert_eq!(
        (pause.paused_by.as_str(), pause.resumed_by.as_str()),
        ("unit:pujiang-huangzhai", "centre")
    );
    let after = app
        .case_when(&case_id, "given a new deadline", CASE_WAIT, |v| {
            v.deadlines.first().is_some_and(|d| d.due_at.is_some())
        })
        .await;
    let moved = nanos(deadline(&after, "resolution").due_at)
        - nanos(deadline(&before, "resolution").due_at);
    assert_eq!(
        moved,
        nanos(pause.resumed_at) - nanos(pause.paused_at),
        "the deadline moved by exactly the paused time"
    );
    assert!(after.paused_seconds >= 2, "{}", after.paused_seconds);
    // The clock runs again: the warning comes, later than it would have.
    let warned = app
        .case_when(&case_id, "warned", CASE_WAIT, |v| {
            v.clock
                .as_ref()
                .is_some_and(|c| c.milestones.iter().any(|m| m.warned_limit > 0))
        })
        .await;
    assert!(
        warned
            .history
            .iter()
            .any(|h| h.note == "暂停计时：等待信访人补充材料")
    );
    client
        .get_case(authorized(HUANGZHAI, case_ref()))
        .await
        .unwrap();
    app.stop().await.unwrap();
}

#[tokio::test]
async fn an_approved_extension_moves_the_deadline() {
    let server = NatsServer::start();
    let app = spawn_app_with(&server.url(), &Role::ALL, fast_clock).await;
    let before = case_with_deadlines(&app, "clock-extension", 300).await;
    let case_id = before.case_id.clone();
    app.sign_for(HUANGZHAI, &case_id).await.unwrap();
    let mut client = app.cases().await;
    client
        .request_extension(authorized(
            HUANGZHAI,
            ExtensionRequest {
                case_id: case_id.clone(),
                days: 1,
                reason: "需现场勘查".into(),
            },
        ))
        .await
        .unwrap();
    client
        .decide_extension(authorized(
            COUNTY,
            DecideExtensionRequest {
                case_id: case_id.clone(),
                approve: true,
                reason: "同意".into(),
            },
        ))
        .await
        .unwrap();
    let after = app
        .case_when(&case_id, "extended", CASE_WAIT, |v| {
            v.deadlines
                .first()
                .is_some_and(|d| d.limit == "86403 seconds")
        })
        .await;
    assert_eq!(
        nanos(deadline(&after, "resolution").due_at)
            - nanos(deadline(&before, "resolution").due_at),
        86_400 * 1_000_000_000,
        "one day later"
    );
    assert_eq!(
        after.clock.as_ref().unwrap().handling_due_at,
        deadline(&after, "resolution").due_at
    );
    app.stop().await.unwrap();
}
