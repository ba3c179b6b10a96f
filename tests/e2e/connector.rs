//! Pull connectors as an old mailbox system sees them: a real local HTTP server the test
//! starts serves the letters page by page with a cursor (and answers 503 when the test says
//! so); the real app with the connector role polls it. What counts is the intake: every letter
//! stored exactly once, whatever happens in between.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use minhu::Role;
use minhu_contracts::bus;
use minhu_contracts::v1::{
    ConnectorCursor, ConnectorHealth, IntakeRecord, QueueHealthRequest, QueueHealthResponse,
};
use minhu_core::config::{ChannelKindSetting, ChannelSettings, Secret, Settings};
use minhu_core::connectors::{ConnectorAuth, ConnectorFields, ConnectorPaging, ConnectorSettings};
use minhu_e2e::{NatsServer, TestApp, WITHOUT_CLOCK, authorized, spawn_app_with};
use prost::Message;
use serde_json::{Value, json};

const CHANNEL: &str = "county-mailbox";
const SOURCE_KEY: &str = "source-api-key";
const OPS_TOKEN: &str = "demo-ops-token";

/// The mailbox system: its letters, whether it is down, and every request it got.
#[derive(Clone, Default)]
struct Mailbox(Arc<Mutex<MailboxState>>);

#[derive(Default)]
struct MailboxState {
    letters: Vec<Value>,
    down: bool,
    /// Answers 200 with a body that is not JSON.
    garbage: bool,
    /// Answers only after this long.
    slow: Option<Duration>,
    requests: usize,
    unauthorized: usize,
    /// Stops the listener (and closes its connections), for an outage that refuses connections.
    close: Option<tokio::sync::oneshot::Sender<()>>,
    serving: Option<tokio::task::JoinHandle<()>>,
}

impl Mailbox {
    /// Serves `GET /api/letters?after=<index>&limit=<n>` on a free local port.
    async fn start() -> (Mailbox, SocketAddr) {
        let mailbox = Mailbox::default();
        let addr = mailbox.open("127.0.0.1:0".parse().unwrap()).await;
        (mailbox, addr)
    }

    async fn open(&self, addr: SocketAddr) -> SocketAddr {
        let app = axum::Router::new()
            .route("/api/letters", axum::routing::get(letters))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (close, closed) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = closed.await;
                })
                .await;
        });
        let mut state = self.0.lock().unwrap();
        state.close = Some(close);
        state.serving = Some(serving);
        addr
    }

    /// Closes the listener and every connection: connections are refused until it reopens.
    async fn refuse(&self) {
        let (close, serving) = {
            let mut state = self.0.lock().unwrap();
            (state.close.take().unwrap(), state.serving.take().unwrap())
        };
        close.send(()).unwrap();
        serving.await.unwrap();
    }

    /// Adds letters `from..to` (`letter-<n>`), each a matter of its own.
    fn write(&self, range: std::ops::Range<usize>) {
        let mut state = self.0.lock().unwrap();
        state.letters.extend(range.map(letter));
    }

    /// Adds a letter with no text: the intake refuses it.
    fn write_empty(&self, n: usize) {
        let mut empty = letter(n);
        empty["content"] = json!("");
        self.0.lock().unwrap().letters.push(empty);
    }

    fn set_down(&self, down: bool) {
        self.0.lock().unwrap().down = down;
    }

    fn requests(&self) -> usize {
        self.0.lock().unwrap().requests
    }
}

/// Letter `n`: numeric ids for some, as sources have them; text of its own.
fn letter(n: usize) -> Value {
    let detail: String = (0..24)
        .map(|i| char::from_u32(0x4E00 + ((n * 7919 + i * 104_729) % 0x51A0) as u32).unwrap())
        .collect();
    json!({
        "id": format!("letter-{n}"),
        "subject": format!("来信 {n}"),
        "content": format!("浦江县黄宅镇来信反映：{detail}。"),
        "written": "2026-11-26T09:30:00+08:00",
        "writer": {"tel": format!("139{n:08}")},
        "where": "浦江县黄宅镇"
    })
}

async fn letters(State(mailbox): State<Mailbox>, headers: HeaderMap, uri: Uri) -> Response {
    let slow = {
        let mut state = mailbox.0.lock().unwrap();
        state.requests += 1;
        state.slow
    };
    if let Some(delay) = slow {
        tokio::time::sleep(delay).await;
    }
    let mut state = mailbox.0.lock().unwrap();
    if headers.get("x-api-key").and_then(|v| v.to_str().ok()) != Some(SOURCE_KEY) {
        state.unauthorized += 1;
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if state.down {
        return (StatusCode::SERVICE_UNAVAILABLE, "maintenance").into_response();
    }
    if state.garbage {
        return "<html>维护中</html>".into_response();
    }
    let query: BTreeMap<&str, &str> = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .collect();
    let after: usize = query.get("after").map_or(0, |a| a.parse().unwrap());
    let limit: usize = query.get("limit").map_or(100, |l| l.parse().unwrap());
    let end = (after + limit).min(state.letters.len());
    let next = if end < state.letters.len() {
        json!(end.to_string())
    } else {
        Value::Null
    };
    let page = json!({"data": {"letters": state.letters[after.min(end)..end], "next": next}});
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        page.to_string(),
    )
        .into_response()
}

/// The mailbox channel and its connector (page size 3, polled every second, fast backoff).
fn with_connector(settings: &mut Settings, connector_id: &str, addr: SocketAddr) {
    settings.channels.push(ChannelSettings {
        id: CHANNEL.into(),
        name: "浦江县长信箱 (polled)".into(),
        token_sha256: None,
        demo_token: Some(Secret::new("county-mailbox-token")),
        rate_per_second: None,
        burst: None,
        division_code: Some("330726".into()),
        kind: ChannelKindSetting::Connector,
        owner: None,
    });
    settings.connectors.push(ConnectorSettings {
        id: connector_id.into(),
        channel: CHANNEL.into(),
        url: format!("http://{addr}/api/letters"),
        interval_secs: 1,
        request_timeout_ms: 2_000,
        max_backoff_ms: 300,
        auth: Some(ConnectorAuth {
            header: "X-Api-Key".into(),
            value: Secret::new(SOURCE_KEY),
        }),
        items: "/data/letters".into(),
        paging: ConnectorPaging {
            next_cursor: Some("/data/next".into()),
            cursor_param: Some("after".into()),
            page_size_param: Some("limit".into()),
            page_size: Some(3),
            ..Default::default()
        },
        fields: ConnectorFields {
            id: "/id".into(),
            body: "/content".into(),
            title: Some("/subject".into()),
            submitted_at: Some("/written".into()),
            name: None,
            phone: Some("/writer/tel".into()),
            id_number: None,
            address: Some("/where".into()),
            division_code: None,
            category: None,
        },
    });
}

/// How many times each letter id is stored in the intake, as the mailbox channel's petitions.
async fn stored(js: &async_nats::jetstream::Context) -> BTreeMap<String, usize> {
    let prefix = format!("minhu.intake.{CHANNEL}.");
    let mut counts = BTreeMap::new();
    for (subject, payload) in minhu_e2e::stream_messages(js, bus::INTAKE_STREAM).await {
        if subject.starts_with(&prefix) {
            let record = IntakeRecord::decode(payload).unwrap();
            *counts
                .entry(record.petition.unwrap().channel_message_id)
                .or_default() += 1;
        }
    }
    counts
}

fn ids(range: impl IntoIterator<Item = usize>) -> Vec<String> {
    range.into_iter().map(|n| format!("letter-{n}")).collect()
}

/// Waits until the intake holds exactly the letters `expected`, each once.
async fn stored_exactly(js: &async_nats::jetstream::Context, expected: &[String]) {
    let expected: std::collections::BTreeSet<&String> = expected.iter().collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let counts = stored(js).await;
        assert!(
            counts.values().all(|&n| n == 1),
            "a letter stored twice: {counts:?}"
        );
        if counts.keys().eq(expected.iter().copied()) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "stored {:?}, expected {expected:?}",
            counts.keys().collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The mailbox channel and its connector, with one page of twelve and the channel allowed 4
/// petitions a second: the page takes about three seconds, long enough to stop the connector
/// or NATS in the middle of it.
fn slow_page(connector_id: &str, addr: SocketAddr) -> impl Fn(&mut Settings) + Copy + '_ {
    move |s| {
        with_connector(s, connector_id, addr);
        let channel = s.channels.iter_mut().find(|c| c.id == CHANNEL).unwrap();
        channel.rate_per_second = Some(4);
        channel.burst = Some(1);
        s.connectors[0].paging.page_size = Some(12);
    }
}

/// A connector-only app with the connector of [`slow_page`], once it is in the middle of the
/// page.
async fn in_mid_page(nats_url: &str, connector_id: &str, addr: SocketAddr) -> TestApp {
    let app = spawn_app_with(nats_url, &[Role::Connector], slow_page(connector_id, addr)).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while stored(&app.js).await.len() < 3 {
        assert!(Instant::now() < deadline, "the connector did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app
}

async fn queue_health(app: &TestApp) -> QueueHealthResponse {
    app.ops()
        .await
        .queue_health(authorized(OPS_TOKEN, QueueHealthRequest { top_units: 1 }))
        .await
        .unwrap()
        .into_inner()
}

async fn connector_health(app: &TestApp, connector_id: &str) -> ConnectorHealth {
    queue_health(app)
        .await
        .connectors
        .into_iter()
        .find(|c| c.connector_id == connector_id)
        .expect("the connector in QueueHealth")
}

/// Waits until QueueHealth shows the connector as `done` wants it.
async fn health_until(
    app: &TestApp,
    connector_id: &str,
    what: &str,
    done: impl Fn(&ConnectorHealth) -> bool,
) -> ConnectorHealth {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let health = connector_health(app, connector_id).await;
        if done(&health) {
            return health;
        }
        assert!(Instant::now() < deadline, "{what}: {health:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn kv_record<M: Message + Default>(app: &TestApp, key: &str) -> Option<M> {
    let kv = app.js.get_key_value(bus::CONNECTORS_BUCKET).await.unwrap();
    kv.get(key).await.unwrap().map(|b| M::decode(b).unwrap())
}

/// Waits until the health the connector's holder stored in KV satisfies `done`.
async fn stored_health_until(
    app: &TestApp,
    connector_id: &str,
    done: impl Fn(&ConnectorHealth) -> bool,
) -> ConnectorHealth {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let health: Option<ConnectorHealth> =
            kv_record(app, &bus::connector_health_key(connector_id)).await;
        match health {
            Some(h) if done(&h) => return h,
            other => assert!(Instant::now() < deadline, "{other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn every_letter_becomes_one_petition_through_paging_a_refusal_outages_and_new_letters() {
    const ID: &str = "mailbox-outage";
    let server = NatsServer::start();
    let (mailbox, addr) = Mailbox::start().await;
    // Three pages of three: letter 4 has no text.
    mailbox.write(0..4);
    mailbox.write_empty(4);
    mailbox.write(5..7);
    let app = spawn_app_with(&server.url(), &WITHOUT_CLOCK, |s| {
        with_connector(s, ID, addr)
    })
    .await;

    let valid: Vec<_> = ids((0..7).filter(|&n| n != 4));
    stored_exactly(&app.js, &valid).await;
    let health = health_until(&app, ID, "the refusal counted", |h| {
        h.items_submitted == 6 && h.items_rejected == 1
    })
    .await;
    assert_eq!(health.channel_id, CHANNEL);
    assert!(
        health.last_rejection.starts_with("letter-4: ")
            && health.last_rejection.contains("petition.body"),
        "{health:?}"
    );
    assert!(health.last_success_at.is_some());
    // The last page (letters 6 and after) is where new letters appear: the cursor waits there.
    let cursor: ConnectorCursor = kv_record(&app, &bus::connector_cursor_key(ID))
        .await
        .unwrap();
    assert_eq!(cursor.cursor, "6");
    assert_eq!(health.position, "cursor 6");

    // The mailbox goes down: the connector backs off, and QueueHealth says so.
    mailbox.set_down(true);
    let failing = health_until(&app, ID, "the outage seen", |h| h.consecutive_failures >= 3).await;
    assert_eq!(failing.last_error_kind, "http_status");
    assert_eq!(failing.last_error, "HTTP 503 Service Unavailable");
    assert!(failing.last_error_at.is_some());
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(&format!(
            "minhu_connector_polls_total{{connector=\"{ID}\",outcome=\"http_status\"}}"
        )),
        "{metrics}"
    );
    // Backed off, not a hot loop: from the third failure on, each wait is 150 to 300 ms (the
    // cap of 300 ms with jitter).
    let before = mailbox.requests();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let during = mailbox.requests() - before;
    assert!(
        (2..=8).contains(&during),
        "{during} requests in 1 s of outage"
    );

    // Letters arrive while it is down; it comes back: nothing lost, nothing twice.
    mailbox.write(7..11);
    mailbox.set_down(false);
    stored_exactly(&app.js, &ids((0..11).filter(|&n| n != 4))).await;
    let recovered = health_until(&app, ID, "the recovery", |h| {
        h.consecutive_failures == 0 && h.items_submitted == 10
    })
    .await;
    assert_eq!(recovered.items_rejected, 1);
    assert_eq!(recovered.last_error_kind, "http_status");
    assert!(
        recovered.items_replayed >= 1,
        "the last page read again: {recovered:?}"
    );

    // Now it is gone altogether (connections refused), and comes back on the same address.
    mailbox.refuse().await;
    let refused = health_until(&app, ID, "the refusals seen", |h| {
        h.consecutive_failures >= 2 && h.last_error_kind == "connect"
    })
    .await;
    assert!(
        refused.last_error.starts_with("cannot connect"),
        "{refused:?}"
    );
    assert!(
        !refused.last_error.contains(&addr.to_string()),
        "the URL stays out: {refused:?}"
    );
    mailbox.write(11..13);
    mailbox.open(addr).await;
    stored_exactly(&app.js, &ids((0..13).filter(|&n| n != 4))).await;
    health_until(&app, ID, "the second recovery", |h| {
        h.consecutive_failures == 0 && h.items_submitted == 12
    })
    .await;

    // A refused letter on the last page (read again every second) is counted once.
    mailbox.write_empty(13);
    health_until(&app, ID, "the second refusal", |h| h.items_rejected == 2).await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let later = connector_health(&app, ID).await;
    assert_eq!(later.items_rejected, 2, "{later:?}");
    assert!(later.last_rejection.starts_with("letter-13: "), "{later:?}");
    let metrics = app.metrics().await;
    for outcome in ["submitted", "replayed", "rejected"] {
        assert!(
            metrics.contains(&format!(
                "minhu_connector_items_total{{connector=\"{ID}\",outcome=\"{outcome}\"}}"
            )),
            "{outcome}: {metrics}"
        );
    }
    assert!(metrics.contains(&format!(
        "minhu_connector_consecutive_failures{{connector=\"{ID}\"}} 0"
    )));
    assert_eq!(mailbox.0.lock().unwrap().unauthorized, 0);

    // Every letter is a case like any other petition of the channel.
    let cases = app.stream_messages(bus::CASE_EVENTS_STREAM).await;
    assert!(!cases.is_empty());
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_connector_stopped_mid_page_is_followed_by_a_new_one_without_loss_or_duplicates() {
    const ID: &str = "mailbox-restart";
    let server = NatsServer::start();
    let (mailbox, addr) = Mailbox::start().await;
    mailbox.write(0..12);
    let first = in_mid_page(&server.url(), ID, addr).await;
    let js = first.js.clone();
    first.stop().await.unwrap();
    let before = stored(&js).await;
    assert!(
        before.len() < 12 && before.values().all(|&n| n == 1),
        "stopped mid-page: {before:?}"
    );
    // The page was not finished: the cursor has not moved past it.
    let kv = js.get_key_value(bus::CONNECTORS_BUCKET).await.unwrap();
    assert_eq!(kv.get(bus::connector_cursor_key(ID)).await.unwrap(), None);

    // A new instance takes the released lease at once and reads the page again.
    let second = spawn_app_with(&server.url(), &[Role::Connector], slow_page(ID, addr)).await;
    stored_exactly(&second.js, &ids(0..12)).await;
    let health = stored_health_until(&second, ID, |h| {
        h.items_submitted + h.items_replayed >= 12 + before.len() as u64
    })
    .await;
    // The first instance's letters come back as replays, never as new petitions.
    assert_eq!(health.items_submitted, 12, "{health:?}");
    assert!(health.items_replayed >= before.len() as u64, "{health:?}");
    second.stop().await.unwrap();
}

#[tokio::test]
async fn nats_going_away_mid_page_stops_the_page_and_it_is_read_again_without_duplicates() {
    const ID: &str = "mailbox-nats";
    let mut server = NatsServer::start();
    let (mailbox, addr) = Mailbox::start().await;
    mailbox.write(0..12);
    let app = in_mid_page(&server.url(), ID, addr).await;
    // NATS goes away in the middle of the page: the intake answers UNAVAILABLE, the page
    // stops, the cursor stays; the connector keeps trying (backoff) until NATS is back.
    server.stop();
    tokio::time::sleep(Duration::from_secs(2)).await;
    server.restart();
    stored_exactly(&app.js, &ids(0..12)).await;
    let health = stored_health_until(&app, ID, |h| {
        h.items_submitted == 12 && h.consecutive_failures == 0
    })
    .await;
    assert_eq!(health.last_error_kind, "unavailable", "{health:?}");
    assert_eq!(health.position, "first page");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_slow_source_and_one_answering_garbage_are_failed_polls_until_they_recover() {
    const ID: &str = "mailbox-odd";
    let server = NatsServer::start();
    let (mailbox, addr) = Mailbox::start().await;
    mailbox.write(0..2);
    mailbox.0.lock().unwrap().garbage = true;
    let settings = |s: &mut Settings| {
        with_connector(s, ID, addr);
        s.connectors[0].request_timeout_ms = 300;
    };
    let app = spawn_app_with(&server.url(), &[Role::Connector], settings).await;
    let garbage = stored_health_until(&app, ID, |h| h.consecutive_failures >= 2).await;
    assert_eq!(garbage.last_error_kind, "bad_response", "{garbage:?}");
    assert!(
        garbage
            .last_error
            .starts_with("the answer is not a JSON page"),
        "{garbage:?}"
    );
    assert!(
        !garbage.last_error.contains("维护中"),
        "no page content: {garbage:?}"
    );
    {
        let mut state = mailbox.0.lock().unwrap();
        state.garbage = false;
        state.slow = Some(Duration::from_secs(1));
    }
    let slow = stored_health_until(&app, ID, |h| h.last_error_kind == "timeout").await;
    assert_eq!(slow.last_error, "no answer within the request timeout");
    assert!(stored(&app.js).await.is_empty());
    mailbox.0.lock().unwrap().slow = None;
    stored_exactly(&app.js, &ids(0..2)).await;
    stored_health_until(&app, ID, |h| {
        h.consecutive_failures == 0 && h.items_submitted == 2
    })
    .await;
    app.stop().await.unwrap();
}

#[tokio::test]
async fn two_instances_poll_a_source_once_and_the_second_takes_over_when_the_first_stops() {
    const ID: &str = "mailbox-lease";
    let server = NatsServer::start();
    let (mailbox, addr) = Mailbox::start().await;
    mailbox.write(0..2);
    let settings = |s: &mut Settings| with_connector(s, ID, addr);
    let first = spawn_app_with(&server.url(), &[Role::Connector], settings).await;
    stored_exactly(&first.js, &ids(0..2)).await;
    let second = spawn_app_with(&server.url(), &[Role::Connector], settings).await;
    let first_holder = stored_health_until(&first, ID, |h| h.items_submitted == 2)
        .await
        .holder;
    // A connector-only process reports its channel's figures like a gateway: an ops process
    // elsewhere shows them in QueueHealth.
    let ops = spawn_app_with(&server.url(), &[Role::Ops], settings).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let health = queue_health(&ops).await;
        let channel = health.channels.iter().find(|c| c.channel_id == CHANNEL);
        if channel.is_some_and(|c| c.submissions == 2 && c.last_accepted_at.is_some()) {
            break;
        }
        assert!(Instant::now() < deadline, "{:?}", health.channels);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    ops.stop().await.unwrap();
    // One instance polls: the last page once a second, not twice.
    let before = mailbox.requests();
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    let polls = mailbox.requests() - before;
    assert!((2..=5).contains(&polls), "{polls} polls in 3.5 s");
    let health: ConnectorHealth = kv_record(&second, &bus::connector_health_key(ID))
        .await
        .unwrap();
    assert_eq!(health.holder, first_holder);

    // The first stops; the second takes over and picks up new letters.
    first.stop().await.unwrap();
    mailbox.write(2..5);
    stored_exactly(&second.js, &ids(0..5)).await;
    let health = stored_health_until(&second, ID, |h| h.items_submitted == 5).await;
    assert_ne!(health.holder, first_holder);
    second.stop().await.unwrap();
}

#[tokio::test]
async fn the_lease_goes_to_one_instance_at_a_time_and_expires_without_renewal() {
    let server = NatsServer::start();
    lease_is_exclusive(&server.url(), 1).await;
}

#[tokio::test]
async fn the_lease_is_exclusive_on_a_replicated_bucket_too() {
    let cluster = tokio::task::spawn_blocking(|| minhu_e2e::nats::NatsCluster::start(3))
        .await
        .unwrap();
    lease_is_exclusive(&cluster.urls(), 3).await;
}

/// Two instances, `a` and `b`, contend for one connector's lease in a bucket of `replicas`.
async fn lease_is_exclusive(url: &str, replicas: usize) {
    use minhu_connector::store::{Acquired, Store};
    let client = minhu_core::bus::connect(url, "lease-test").await.unwrap();
    let bus = minhu_core::bus::Bus::provision(client, replicas, Duration::from_secs(5))
        .await
        .unwrap();
    let store = Store::new(bus.connectors.clone(), "mailbox");
    let ttl = Duration::from_secs(2);
    let Acquired::Held(a) = store.acquire("a", ttl).await.unwrap() else {
        panic!("a free lease is taken");
    };
    assert!(matches!(
        store.acquire("b", ttl).await.unwrap(),
        Acquired::Busy(_)
    ));
    // Renewal at the revision held works once; a stale revision has lost.
    let a2 = store.renew("a", a, ttl).await.unwrap().expect("renewed");
    assert_eq!(store.renew("a", a, ttl).await.unwrap(), None);
    // Unrenewed, it expires and another instance takes it; the old holder finds out.
    tokio::time::sleep(ttl + Duration::from_millis(200)).await;
    let Acquired::Held(b) = store.acquire("b", ttl).await.unwrap() else {
        panic!("an expired lease is taken");
    };
    assert_eq!(store.renew("a", a2, ttl).await.unwrap(), None);
    // Released, it is free at once.
    store.release("b", b).await.unwrap();
    assert!(matches!(
        store.acquire("a", ttl).await.unwrap(),
        Acquired::Held(_)
    ));
    // Racing for a free lease: exactly one of many wins.
    let racers = Store::new(bus.connectors.clone(), "forum");
    let attempts = (0..8).map(|i| {
        let racers = racers.clone();
        async move { racers.acquire(&format!("racer-{i}"), ttl).await.unwrap() }
    });
    let won = futures::future::join_all(attempts)
        .await
        .into_iter()
        .filter(|a| matches!(a, Acquired::Held(_)))
        .count();
    assert_eq!(won, 1);
}
