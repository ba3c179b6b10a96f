//! Test support: real nats-server processes ([`nats`]) and the real minhu app started against
//! them, driven like a channel, a unit system and an operator would drive it.

pub mod nats;
pub mod pki;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use minhu::{App, Role};
use minhu_contracts::bus;
use minhu_contracts::v1::case_service_client::CaseServiceClient;
use minhu_contracts::v1::intake_service_client::IntakeServiceClient;
use minhu_contracts::v1::ops_service_client::OpsServiceClient;
use minhu_contracts::v1::{
    CaseEvent, CaseRef, CaseView, Location, Petition, Petitioner, Receipt, SubmitRequest,
    TrackRequest, TrackResponse,
};
use minhu_core::config::Settings;
use prost::Message;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use tonic::{Request, Status};

pub use nats::NatsServer;

pub const WEB_TOKEN: &str = "demo-web-portal-token";
pub const HOTLINE_TOKEN: &str = "demo-hotline-token";

/// Settings for a test: embedded defaults, an OS-chosen gRPC port, the given NATS.
pub fn test_settings(nats_url: &str) -> Settings {
    let mut settings = Settings::defaults();
    settings.gateway.listen = "127.0.0.1:0".parse().expect("address");
    settings.ops.metrics_listen = Some("127.0.0.1:0".parse().expect("address"));
    settings.ops.gauge_interval_ms = 200;
    settings.nats.url = Some(nats_url.to_owned());
    settings.nats.request_timeout_ms = 2_000;
    settings
}

/// Logs go nowhere unless `TEST_LOG` is set (then to the test's output, filtered by RUST_LOG).
fn init_test_log() {
    static INIT: std::sync::Once = std::sync::Once::new();
    if std::env::var_os("TEST_LOG").is_some() {
        INIT.call_once(|| {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                .with_test_writer()
                .try_init();
        });
    }
}

/// A running minhu (in this process) plus the clients a test talks to it with.
pub struct TestApp {
    pub settings: Settings,
    pub grpc_addr: Option<SocketAddr>,
    pub metrics_addr: Option<SocketAddr>,
    /// An independent connection, as a unit system or an operator would have.
    pub nats: async_nats::Client,
    pub js: jetstream::Context,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

/// Every role but the clock, for tests that follow a case's events and feed messages one by
/// one: the clock records events of its own (deadlines set, warnings) on every case.
pub const WITHOUT_CLOCK: [Role; 5] = [
    Role::Gateway,
    Role::Triage,
    Role::Dispatch,
    Role::Ops,
    Role::Connector,
];

/// Starts every role against `nats_url` with default test settings.
pub async fn spawn_app(nats_url: &str) -> TestApp {
    spawn_app_with(nats_url, &Role::ALL, |_| {}).await
}

/// Starts `roles` against `nats_url`, after `adjust` has changed the settings.
pub async fn spawn_app_with(
    nats_url: &str,
    roles: &[Role],
    adjust: impl FnOnce(&mut Settings),
) -> TestApp {
    spawn_app_reloading(nats_url, roles, adjust, None).await
}

/// As [`spawn_app_with`], reloading the `[catalogue]` of `config_file` when it changes, as
/// `minhu serve --config FILE` does.
pub async fn spawn_app_reloading(
    nats_url: &str,
    roles: &[Role],
    adjust: impl FnOnce(&mut Settings),
    config_file: Option<std::path::PathBuf>,
) -> TestApp {
    init_test_log();
    let mut settings = test_settings(nats_url);
    adjust(&mut settings);
    settings.validate().expect("test settings are valid");
    let app = App::build(settings.clone(), nats_url, roles)
        .await
        .expect("app builds")
        .reloading_from(config_file);
    let grpc_addr = app.grpc_addr();
    let metrics_addr = app.metrics_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    let nats = minhu_core::bus::connect(nats_url, "test")
        .await
        .expect("test NATS client");
    let js = jetstream::new(nats.clone());
    TestApp {
        settings,
        grpc_addr,
        metrics_addr,
        nats,
        js,
        stop: Some(stop),
        task: Some(task),
    }
}

impl TestApp {
    fn grpc_url(&self) -> String {
        format!("http://{}", self.grpc_addr.expect("this app serves gRPC"))
    }

    /// A gRPC client on its own connection.
    pub async fn client(&self) -> IntakeServiceClient<Channel> {
        IntakeServiceClient::connect(self.grpc_url())
            .await
            .expect("gRPC connect")
    }

    /// A CaseService client on its own connection, as a unit system or the centre has.
    pub async fn cases(&self) -> CaseServiceClient<Channel> {
        CaseServiceClient::connect(self.grpc_url())
            .await
            .expect("CaseService connects")
    }

    /// An OpsService client on its own connection, as an operator has.
    pub async fn ops(&self) -> OpsServiceClient<Channel> {
        OpsServiceClient::connect(self.grpc_url())
            .await
            .expect("OpsService connects")
    }

    pub async fn submit(&self, token: &str, petition: Petition) -> Result<Receipt, Status> {
        let mut client = self.client().await;
        let response = client
            .submit(authorized(
                token,
                SubmitRequest {
                    petition: Some(petition),
                },
            ))
            .await?;
        Ok(response.into_inner().receipt.expect("receipt"))
    }

    pub async fn track(&self, receipt: &Receipt) -> Result<TrackResponse, Status> {
        let mut client = self.client().await;
        client
            .track(authorized(
                WEB_TOKEN,
                TrackRequest {
                    tracking_number: receipt.tracking_number.clone(),
                    query_code: receipt.query_code.clone(),
                },
            ))
            .await
            .map(|r| r.into_inner())
    }

    /// The unit of `token` signs for the case (签收).
    pub async fn sign_for(&self, token: &str, case_id: &str) -> Result<CaseView, Status> {
        let case = CaseRef {
            case_id: case_id.to_owned(),
        };
        self.cases()
            .await
            .sign_for(authorized(token, case))
            .await
            .map(|r| r.into_inner())
    }

    /// The `/metrics` text of this app.
    pub async fn metrics(&self) -> String {
        let addr = self.metrics_addr.expect("metrics endpoint");
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: minhu\r\nConnection: close\r\n\r\n")
            .await
            .expect("request");
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .await
            .expect("response");
        response
    }

    /// Submits `petition` and waits until triage has finished with its case.
    pub async fn triaged(&self, token: &str, petition: Petition) -> CaseView {
        let receipt = self.submit(token, petition).await.expect("submitted");
        self.wait_for_case(&receipt.tracking_number).await
    }

    /// Waits until the case view exists (triage has finished with it).
    pub async fn wait_for_case(&self, case_id: &str) -> CaseView {
        let cases = self
            .js
            .get_key_value(bus::CASES_BUCKET)
            .await
            .expect("cases bucket");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(bytes) = cases.get(case_id).await.expect("KV get") {
                return CaseView::decode(bytes).expect("case view decodes");
            }
            assert!(
                Instant::now() < deadline,
                "case {case_id} was not triaged within 20 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The case view once `done` holds for it, polled from the case store for up to `within`.
    pub async fn case_when(
        &self,
        case_id: &str,
        what: &str,
        within: Duration,
        done: impl Fn(&CaseView) -> bool,
    ) -> CaseView {
        let store = self
            .js
            .get_key_value(bus::CASES_BUCKET)
            .await
            .expect("cases bucket");
        let deadline = Instant::now() + within;
        loop {
            if let Some(bytes) = store.get(case_id).await.expect("KV get") {
                let view = CaseView::decode(bytes).expect("case view decodes");
                if done(&view) {
                    return view;
                }
                assert!(
                    Instant::now() < deadline,
                    "{case_id}: never {what}: {view:#?}"
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every message stored in `stream` (subject, payload), in order.
    pub async fn stream_messages(&self, stream: &str) -> Vec<(String, bytes::Bytes)> {
        stream_messages(&self.js, stream).await
    }

    /// Every event recorded on the case, in order.
    pub async fn case_events(&self, case_id: &str) -> Vec<CaseEvent> {
        let prefix = format!("minhu.case.{case_id}.");
        self.stream_messages(bus::CASE_EVENTS_STREAM)
            .await
            .into_iter()
            .filter(|(subject, _)| subject.starts_with(&prefix))
            .map(|(_, payload)| CaseEvent::decode(payload).expect("a CaseEvent"))
            .collect()
    }

    /// Stops the app gracefully and returns how it ended.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.stop.take().map(|s| s.send(()));
        self.task.take().expect("running").await.expect("app task")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Every message stored in `stream` (subject, payload), in order.
pub async fn stream_messages(js: &jetstream::Context, stream: &str) -> Vec<(String, bytes::Bytes)> {
    // Right after a fault the stream may take a moment to answer again.
    let mut attempts = 0;
    let (stream, state) = loop {
        let answered = async {
            let mut s = js.get_stream(stream).await.ok()?;
            let state = s.info().await.ok()?.state.clone();
            Some((s, state))
        };
        match answered.await {
            Some(found) => break found,
            None if attempts < 30 => {
                attempts += 1;
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
            None => panic!("stream {stream} does not answer"),
        }
    };
    let mut out = Vec::new();
    if state.messages == 0 {
        return out;
    }
    for sequence in state.first_sequence..=state.last_sequence {
        if let Ok(m) = stream.get_raw_message(sequence).await {
            out.push((m.subject.to_string(), m.payload));
        }
    }
    out
}

/// The case a unit was assigned, from a message on its dispatch feed.
pub fn assigned_case(payload: &[u8]) -> minhu_contracts::v1::DispatchedCase {
    use minhu_contracts::v1::{UnitEvent, unit_event};
    match UnitEvent::decode(payload).expect("a UnitEvent").event {
        Some(unit_event::Event::Assigned(case)) => case,
        other => panic!("not an assignment: {other:?}"),
    }
}

pub fn authorized<T>(token: &str, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ascii token"),
    );
    request
}

/// A petition about a matter of its own: `n` picks characters no other petition shares, so
/// near-duplicate detection treats each as a separate matter (for load and fault tests).
pub fn distinct_petition(channel_message_id: &str, n: u64) -> Petition {
    let mut p = petition(channel_message_id);
    let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let detail: String = (0..40)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from_u32(0x4E00 + (x % 0x51A0) as u32).expect("CJK")
        })
        .collect();
    p.body = format!("黄宅镇小区违章搭建：{detail}");
    let person = p.petitioner.as_mut().expect("identified");
    person.id_number = String::new();
    person.phone = format!("139{:08}", n % 100_000_000);
    p
}

/// A realistic petition: a township construction matter from an identified petitioner.
pub fn petition(channel_message_id: &str) -> Petition {
    Petition {
        channel_message_id: channel_message_id.to_owned(),
        title: "小区违章搭建无人管".into(),
        body: "我住在黄宅镇某小区，楼下业主违章搭建阳光房已三个月，物业多次劝阻无效，请相关部门依法处理。"
            .into(),
        petitioner: Some(Petitioner {
            name: "王某某".into(),
            id_number: "11010519491231002X".into(),
            phone: "13812345678".into(),
            contact_address: "浦江县黄宅镇某小区3幢".into(),
        }),
        location: Some(Location {
            address: "浦江县黄宅镇某小区".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The matter of [`petition`] in another petitioner's words (greeting, punctuation, a
/// signature): near-duplicate detection joins it to the matter (并单) without it being a repeat
/// by the same person.
pub fn retold(channel_message_id: &str, phone: &str) -> Petition {
    let mut p = petition(channel_message_id);
    let person = p.petitioner.as_mut().expect("identified");
    person.id_number = String::new();
    person.phone = phone.into();
    p.body = format!("领导您好！{}望领导重视，谢谢！", p.body.replace('，', ","));
    p
}

/// The later case event a feed message carries, if it is an update.
pub fn update_of(
    event: &minhu_contracts::v1::UnitEvent,
) -> Option<minhu_contracts::v1::case_event::Event> {
    match &event.event {
        Some(minhu_contracts::v1::unit_event::Event::Update(e)) => e.event.clone(),
        _ => None,
    }
}

/// A unit's feed (CaseService Subscribe with `token`) from the start until an event
/// satisfies `last`.
pub async fn feed_until(
    app: &TestApp,
    token: &str,
    last: impl Fn(&minhu_contracts::v1::UnitEvent) -> bool,
) -> Vec<minhu_contracts::v1::UnitEvent> {
    use futures::StreamExt;
    let mut client = app.cases().await;
    let mut stream = client
        .subscribe(authorized(
            token,
            minhu_contracts::v1::SubscribeRequest { from_sequence: 0 },
        ))
        .await
        .expect("subscribed")
        .into_inner();
    let mut out = Vec::new();
    loop {
        let next = tokio::time::timeout(Duration::from_secs(20), stream.next())
            .await
            .unwrap_or_else(|_| panic!("feed of {token} stalled after {out:#?}"))
            .expect("stream open")
            .expect("feed message");
        let event = next.event.expect("an event");
        let done = last(&event);
        out.push(event);
        if done {
            return out;
        }
    }
}
