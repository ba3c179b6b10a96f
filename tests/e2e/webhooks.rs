//! Webhook delivery as a unit's HTTP receiver sees it: a real local HTTP server stands in for
//! 黄宅镇's system, checks every signature, and answers as the test scripts it (failing,
//! slow, or not there at all).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use minhu_contracts::bus;
use minhu_contracts::v1::{CaseRef, ReplyRequest, WebhookDelivery, WebhookDeliveryState};
use minhu_core::config::{Secret, Settings};
use minhu_e2e::{
    NatsServer, TestApp, WEB_TOKEN, authorized, distinct_petition, petition, spawn_app_with,
};
use sha2::Sha256;

const UNIT: &str = "pujiang-huangzhai";
const UNIT_TOKEN: &str = "demo-unit-huangzhai";
const OTHER_UNIT_TOKEN: &str = "demo-unit-baima";
const CENTRE: &str = "demo-centre-token";
const SECRET_NAME: &str = "hook-huangzhai";
const SECRET: &str = "a long random secret shared with 黄宅镇";

/// One request as the receiver got it.
#[derive(Debug, Clone)]
struct Hit {
    event_id: String,
    /// The body's own `event_id`: equal to the header's.
    body_event_id: String,
    sequence: u64,
    timestamp: Option<i64>,
    signature_ok: bool,
    body: serde_json::Value,
    answered: StatusCode,
}

/// How the receiver answers request `index` (0-based, over all requests) for `event_id`, and
/// how long it takes.
type Script = Box<dyn Fn(usize, &str, usize) -> (StatusCode, Duration) + Send + Sync>;

#[derive(Clone)]
struct Receiver {
    hits: Arc<Mutex<Vec<Hit>>>,
    script: Arc<Script>,
}

impl Receiver {
    /// Starts the receiver on a free local port; its URL is `http://<addr>/minhu/events`.
    async fn start(script: Script) -> (Receiver, SocketAddr) {
        let receiver = Receiver {
            hits: Arc::default(),
            script: Arc::new(script),
        };
        let app = axum::Router::new()
            .route("/minhu/events", axum::routing::post(receive))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, addr)
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    /// What a receiver that drops repeats by event id accepted, in the order it accepted them.
    fn accepted(&self) -> Vec<Hit> {
        let mut seen = BTreeSet::new();
        self.hits()
            .into_iter()
            .filter(|h| h.answered.is_success() && seen.insert(h.event_id.clone()))
            .collect()
    }
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let event_id = header("x-minhu-event-id").unwrap_or_default();
    let timestamp = header("x-minhu-timestamp").and_then(|t| t.parse::<i64>().ok());
    let signature_ok = match (timestamp, header("x-minhu-signature")) {
        (Some(ts), Some(signature)) => verify(SECRET.as_bytes(), ts, &body, &signature),
        _ => false,
    };
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let (index, same_event) = {
        let hits = receiver.hits.lock().unwrap();
        let same = hits.iter().filter(|h| h.event_id == event_id).count();
        (hits.len(), same)
    };
    let (answer, delay) = (receiver.script)(index, &event_id, same_event);
    tokio::time::sleep(delay).await;
    receiver.hits.lock().unwrap().push(Hit {
        body_event_id: json["event_id"].as_str().unwrap_or_default().to_owned(),
        sequence: json["sequence"].as_u64().unwrap_or_default(),
        event_id,
        timestamp,
        signature_ok,
        body: json,
        answered: answer,
    });
    answer
}

/// The check a unit's receiver makes, as the README shows it: HMAC-SHA256 over
/// "<timestamp>.<body>", compared in constant time.
fn verify(secret: &[u8], timestamp: i64, body: &[u8], signature: &str) -> bool {
    let Some(hex_digest) = signature.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_digest) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// 黄宅镇 gets a webhook at `url`; retries are fast for the test.
fn with_webhook(settings: &mut Settings, url: String, attempts: u32) {
    let unit = settings
        .catalogue
        .units
        .iter_mut()
        .find(|u| u.id == UNIT)
        .unwrap();
    unit.delivery.webhook_url = Some(url);
    unit.delivery.secret_name = Some(SECRET_NAME.into());
    settings
        .webhooks
        .secrets
        .insert(SECRET_NAME.into(), Secret::new(SECRET));
    settings.webhooks.attempts = attempts;
    settings.webhooks.base_backoff_ms = 20;
    settings.webhooks.max_backoff_ms = 100;
    settings.webhooks.request_timeout_ms = 2_000;
}

async fn deliveries(app: &TestApp, token: &str, case_id: &str) -> Vec<WebhookDelivery> {
    app.cases()
        .await
        .list_deliveries(authorized(
            token,
            CaseRef {
                case_id: case_id.into(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .deliveries
}

/// The unit's feed as it stands: (sequence, event id) of every message on its subjects.
async fn unit_feed(app: &TestApp) -> Vec<(u64, String)> {
    let mut stream = app.js.get_stream(bus::DISPATCH_STREAM).await.unwrap();
    let last = stream.info().await.unwrap().state.last_sequence;
    let prefix = format!("minhu.dispatch.{UNIT}.");
    let mut out = Vec::new();
    for sequence in 1..=last {
        let Ok(message) = stream.get_raw_message(sequence).await else {
            continue;
        };
        if let Some(rest) = message.subject.as_str().strip_prefix(&prefix) {
            let (case, number) = rest.rsplit_once('.').unwrap();
            out.push((sequence, format!("{case}/{number}")));
        }
    }
    out
}

/// Waits until `done` holds, or fails after `within`.
async fn eventually<T>(
    within: Duration,
    what: &str,
    mut done: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = done().await {
            return value;
        }
        assert!(Instant::now() < deadline, "{what} within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The unit's feed once it holds `events` events and the receiver accepted every one.
async fn all_accepted(app: &TestApp, receiver: &Receiver, events: usize) -> Vec<(u64, String)> {
    eventually(
        Duration::from_secs(30),
        "every feed event accepted",
        async || {
            let feed = unit_feed(app).await;
            let accepted: BTreeSet<String> = receiver
                .accepted()
                .into_iter()
                .map(|h| h.event_id)
                .collect();
            let complete = feed.len() >= events && feed.iter().all(|(_, id)| accepted.contains(id));
            complete.then_some(feed)
        },
    )
    .await
}

/// Submits a petition and checks that triage gave it to 黄宅镇 (so its feed carries it).
async fn submit_to_unit(app: &TestApp, petition: minhu_contracts::v1::Petition) -> String {
    let receipt = app.submit(WEB_TOKEN, petition).await.unwrap();
    let view = app.wait_for_case(&receipt.tracking_number).await;
    assert_eq!(view.route.unwrap().lead_unit_id, UNIT);
    receipt.tracking_number
}

#[tokio::test]
async fn a_receiver_failing_three_times_gets_each_event_once_signed_and_in_order() {
    let (receiver, addr) = Receiver::start(Box::new(|index, _, _| {
        let answer = if index < 3 {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::OK
        };
        (answer, Duration::ZERO)
    }))
    .await;
    let server = NatsServer::start();
    let app = spawn_app_with(&server.url(), &minhu_e2e::WITHOUT_CLOCK, |s| {
        with_webhook(s, format!("http://{addr}/minhu/events"), 5)
    })
    .await;
    let case_id = submit_to_unit(&app, petition("hook-1")).await;
    // Without the clock role the case's one event for the unit is its assignment.
    let feed = all_accepted(&app, &receiver, 1).await;
    assert_eq!(feed.len(), 1);

    let hits = receiver.hits();
    let first = &feed[0].1;
    // The first event was refused three times, then taken; nothing went ahead of it.
    let answers: Vec<_> = hits[..4]
        .iter()
        .map(|h| (h.event_id.as_str(), h.answered))
        .collect();
    assert_eq!(
        answers,
        [
            (first.as_str(), StatusCode::INTERNAL_SERVER_ERROR),
            (first.as_str(), StatusCode::INTERNAL_SERVER_ERROR),
            (first.as_str(), StatusCode::INTERNAL_SERVER_ERROR),
            (first.as_str(), StatusCode::OK),
        ]
    );
    // Exactly once from the receiver's point of view: each event accepted once, nothing else.
    let accepted = receiver.accepted();
    let accepted_ids: Vec<_> = accepted.iter().map(|h| h.event_id.clone()).collect();
    let feed_ids: Vec<_> = feed.iter().map(|(_, id)| id.clone()).collect();
    assert_eq!(accepted_ids, feed_ids);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    for hit in &hits {
        assert!(hit.signature_ok, "signature of {hit:?}");
        let sent = hit.timestamp.expect("X-Minhu-Timestamp");
        assert!((now - sent).abs() < 120, "timestamp {sent} vs now {now}");
        assert_eq!(hit.event_id, hit.body_event_id);
    }
    // The unit sees its case content in the body: it is the unit's case.
    let assigned = &accepted[0].body;
    assert_eq!(assigned["kind"], "assigned");
    assert_eq!(assigned["unit_id"], UNIT);
    assert_eq!(assigned["case_id"], case_id.as_str());
    assert_eq!(assigned["sequence"], feed[0].0);
    assert_eq!(assigned["event"]["assigned"]["title"], "小区违章搭建无人管");
    assert!(assigned["event"]["assigned"].get("petitioner").is_none());

    // The delivery state, as the unit and the centre read it.
    let states = deliveries(&app, UNIT_TOKEN, &case_id).await;
    assert_eq!(states.len(), feed.len(), "{states:?}");
    assert_eq!(states[0].event_id, *first);
    assert_eq!(states[0].state(), WebhookDeliveryState::Delivered);
    assert_eq!(states[0].attempts, 4);
    assert_eq!(states[0].last_error, "HTTP 500 Internal Server Error");
    assert!(
        states
            .iter()
            .all(|d| d.state() == WebhookDeliveryState::Delivered)
    );
    assert_eq!(deliveries(&app, CENTRE, &case_id).await, states);
    // Another unit learns nothing of the case.
    let hidden = app
        .cases()
        .await
        .list_deliveries(authorized(OTHER_UNIT_TOKEN, CaseRef { case_id }))
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), tonic::Code::NotFound);

    let metrics = app.metrics().await;
    assert!(
        metrics.contains(
            r#"minhu_webhook_attempts_total{unit="pujiang-huangzhai",outcome="http_status"} 3"#
        ),
        "{metrics}"
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_dead_receiver_lands_every_event_in_the_dead_letter_stream() {
    // A port nothing listens on: every connection is refused.
    let addr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let server = NatsServer::start();
    let app = spawn_app_with(&server.url(), &minhu_e2e::WITHOUT_CLOCK, |s| {
        with_webhook(s, format!("http://{addr}/minhu/events"), 3)
    })
    .await;
    let mut case_ids = Vec::new();
    for n in 0..2 {
        let petition = distinct_petition(&format!("dead-{n}"), n);
        case_ids.push(submit_to_unit(&app, petition).await);
    }

    // Nothing lost: every message of the unit's feed is in the dead-letter stream, as it was.
    let dead = eventually(
        Duration::from_secs(30),
        "every event dead-lettered",
        async || {
            let feed = unit_feed(&app).await;
            if feed.len() < case_ids.len() {
                return None;
            }
            let mut stream = app.js.get_stream(bus::DEAD_LETTER_STREAM).await.unwrap();
            let state = stream.info().await.unwrap().state.clone();
            let mut dead = BTreeMap::new();
            for sequence in state.first_sequence..=state.last_sequence {
                if let Ok(m) = stream.get_raw_message(sequence).await {
                    dead.insert(m.subject.to_string(), m);
                }
            }
            (dead.len() == feed.len()).then_some((feed, dead))
        },
    )
    .await;
    let (feed, dead) = dead;
    let dispatch = app.js.get_stream(bus::DISPATCH_STREAM).await.unwrap();
    for (sequence, event_id) in &feed {
        let (case_id, number) = event_id.split_once('/').unwrap();
        let subject = bus::webhook_dead_letter_subject(UNIT, case_id, number.parse().unwrap());
        let letter = dead
            .get(&subject)
            .unwrap_or_else(|| panic!("{subject} missing"));
        let original = dispatch.get_raw_message(*sequence).await.unwrap();
        assert_eq!(letter.payload, original.payload);
        let headers = &letter.headers;
        let header = |name: &str| {
            headers
                .get(name)
                .map(|v| v.as_str().to_owned())
                .unwrap_or_default()
        };
        assert_eq!(header("Minhu-Event-Id"), *event_id);
        assert_eq!(header("Minhu-Attempts"), "3");
        assert_eq!(header("Minhu-Dispatch-Sequence"), sequence.to_string());
        assert!(
            header("Minhu-Last-Error").starts_with("cannot connect"),
            "{}",
            header("Minhu-Last-Error")
        );
        assert!(!header("Minhu-Failed-At").is_empty());
    }

    for case_id in &case_ids {
        let states = deliveries(&app, CENTRE, case_id).await;
        assert!(!states.is_empty());
        for state in &states {
            assert_eq!(
                state.state(),
                WebhookDeliveryState::DeadLettered,
                "{state:?}"
            );
            assert_eq!(state.attempts, 3);
            assert!(state.dead_letter_sequence > 0);
            assert!(
                state.last_error.starts_with("cannot connect"),
                "{}",
                state.last_error
            );
        }
    }
    let metrics = app.metrics().await;
    let line = format!(
        r#"minhu_webhook_deliveries_total{{unit="pujiang-huangzhai",outcome="dead_lettered"}} {}"#,
        feed.len()
    );
    assert!(metrics.contains(&line), "{line} in {metrics}");
    let line = format!(
        r#"minhu_webhook_dead_letters_total{{unit="pujiang-huangzhai"}} {}"#,
        feed.len()
    );
    assert!(metrics.contains(&line), "{line} in {metrics}");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_units_events_arrive_in_feed_order_through_failures_and_slow_answers() {
    // Each event is refused 0, 1 or 2 times (by its id), and every answer takes a little while:
    // an instance that let event n+1 overtake n would show here.
    let (receiver, addr) = Receiver::start(Box::new(|_, event_id, seen| {
        let refusals = event_id.bytes().map(usize::from).sum::<usize>() % 3;
        let answer = if seen < refusals {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::NO_CONTENT
        };
        (answer, Duration::from_millis(5 + (seen as u64 * 7) % 20))
    }))
    .await;
    let server = NatsServer::start();
    let app = spawn_app_with(&server.url(), &minhu_e2e::WITHOUT_CLOCK, |s| {
        with_webhook(s, format!("http://{addr}/minhu/events"), 10)
    })
    .await;
    let mut client = app.cases().await;
    let mut case_ids = Vec::new();
    for n in 0..4 {
        let petition = distinct_petition(&format!("order-{n}"), n);
        case_ids.push(submit_to_unit(&app, petition).await);
    }
    // Each case also moves on (signed for, replied): more events on the same feed.
    for case_id in &case_ids {
        let case = CaseRef {
            case_id: case_id.clone(),
        };
        eventually(Duration::from_secs(20), "signed for", async || {
            client
                .sign_for(authorized(UNIT_TOKEN, case.clone()))
                .await
                .ok()
        })
        .await;
        client
            .reply(authorized(
                UNIT_TOKEN,
                ReplyRequest {
                    case_id: case_id.clone(),
                    reply: "已现场核查，责令限期拆除。".into(),
                },
            ))
            .await
            .unwrap();
    }
    // Assigned, signed for, replied: three events per case.
    let feed = all_accepted(&app, &receiver, 3 * case_ids.len()).await;
    assert_eq!(feed.len(), 3 * case_ids.len());
    let hits = receiver.hits();
    // Never a later event before an earlier one was taken: requests go up the feed.
    let attempted: Vec<u64> = hits.iter().map(|h| h.sequence).collect();
    assert!(
        attempted.is_sorted(),
        "attempted out of order: {attempted:?}"
    );
    assert!(
        hits.iter().any(|h| !h.answered.is_success()),
        "the script refused some"
    );
    let accepted: Vec<(u64, String)> = receiver
        .accepted()
        .into_iter()
        .map(|h| (h.sequence, h.event_id))
        .collect();
    assert_eq!(accepted, feed);
    // An update names its case event's kind and carries the event, as the README shows it.
    let signed = receiver
        .accepted()
        .into_iter()
        .find(|h| h.body["update_kind"] == "signed_for")
        .expect("a signed_for update");
    let update = &signed.body["event"]["update"];
    assert_eq!(signed.body["kind"], "update");
    assert_eq!(update["signed_for"]["unit_id"], UNIT);
    assert_eq!(update["actor"], format!("unit:{UNIT}"));
    assert_eq!(update["number"], signed.body["number"].to_string());
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_restart_in_the_middle_of_retries_goes_on_counting_the_attempts() {
    let (receiver, addr) = Receiver::start(Box::new(|_, _, _| {
        (StatusCode::BAD_GATEWAY, Duration::ZERO)
    }))
    .await;
    let server = NatsServer::start();
    let settings = |s: &mut Settings| {
        with_webhook(s, format!("http://{addr}/minhu/events"), 4);
        s.webhooks.base_backoff_ms = 500;
        s.webhooks.max_backoff_ms = 500;
    };
    let app = spawn_app_with(&server.url(), &minhu_e2e::WITHOUT_CLOCK, settings).await;
    let case_id = submit_to_unit(&app, petition("hook-restart")).await;
    eventually(Duration::from_secs(20), "two attempts", async || {
        (receiver.hits().len() >= 2).then_some(())
    })
    .await;
    // Stopped while waiting to retry: the event goes back to the stream unacknowledged.
    app.stop().await.unwrap();
    let before = receiver.hits().len();
    let app = spawn_app_with(&server.url(), &minhu_e2e::WITHOUT_CLOCK, settings).await;
    let state = eventually(Duration::from_secs(30), "dead-lettered", async || {
        let states = deliveries(&app, CENTRE, &case_id).await;
        states
            .into_iter()
            .find(|d| d.state() == WebhookDeliveryState::DeadLettered)
    })
    .await;
    // Four attempts in all, not four more: the count was kept in the delivery state. A stop
    // between a POST and its record would cost one repeat (at least once), never more.
    let hits = receiver.hits();
    assert!(
        (2..4).contains(&before),
        "{before} attempts before the restart"
    );
    assert!((4..=5).contains(&hits.len()), "{} attempts", hits.len());
    assert_eq!(state.attempts, 4);
    assert_eq!(state.last_error, "HTTP 502 Bad Gateway");
    assert!(hits.iter().all(|h| h.event_id == state.event_id));
    app.stop().await.unwrap();
}
