//! What an ops team sees: QueueHealth, /metrics and gRPC health, against a known workload.

use std::time::{Duration, Instant};

use minhu_contracts::bus;
use minhu_contracts::v1::{QueueHealthRequest, QueueHealthResponse};
use minhu_core::config::{ChannelSettings, Secret};
use minhu_e2e::{
    NatsServer, TestApp, authorized, distinct_petition, petition, spawn_app, spawn_app_with,
};
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

const OPS_TOKEN: &str = "demo-ops-token";
/// A channel of this test alone, so process-wide metrics are this test's own.
const CHANNEL: &str = "ops-probe";
const CHANNEL_TOKEN: &str = "ops-probe-token";

async fn queue_health(app: &TestApp) -> Result<QueueHealthResponse, tonic::Status> {
    app.ops()
        .await
        .queue_health(authorized(OPS_TOKEN, QueueHealthRequest { top_units: 5 }))
        .await
        .map(|r| r.into_inner())
}

#[tokio::test]
async fn queue_health_and_metrics_reflect_a_known_workload() {
    let server = NatsServer::start();
    let app = spawn_app_with(&server.url(), &minhu::Role::ALL, |s| {
        s.channels.push(ChannelSettings {
            id: CHANNEL.into(),
            name: "ops test channel".into(),
            token_sha256: None,
            demo_token: Some(Secret::new(CHANNEL_TOKEN)),
            rate_per_second: None,
            burst: None,
            division_code: Some("330726".into()),
            kind: Default::default(),
            owner: None,
        });
    })
    .await;
    let mut receipts = Vec::new();
    for (n, id) in ["o-1", "o-2", "o-3"].into_iter().enumerate() {
        let p = distinct_petition(id, n as u64);
        receipts.push(app.submit(CHANNEL_TOKEN, p).await.unwrap());
    }
    let retry = distinct_petition("o-1", 0);
    assert!(app.submit(CHANNEL_TOKEN, retry).await.unwrap().replayed);
    let mut invalid = petition("o-4");
    invalid.body.clear();
    app.submit(CHANNEL_TOKEN, invalid).await.unwrap_err();
    for r in &receipts {
        app.wait_for_case(&r.tracking_number).await;
    }

    assert_eq!(
        app.client()
            .await
            .submit(authorized(
                "wrong",
                minhu_contracts::v1::SubmitRequest::default()
            ))
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );
    assert_eq!(
        app.ops()
            .await
            .queue_health(authorized(CHANNEL_TOKEN, QueueHealthRequest::default()))
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated,
        "a channel token is not an ops token"
    );

    // Gateways publish their figures every few seconds; the board follows the events.
    let deadline = Instant::now() + Duration::from_secs(20);
    let health = loop {
        let health = queue_health(&app).await.unwrap();
        let channel_done = health
            .channels
            .iter()
            .any(|c| c.channel_id == CHANNEL && c.submissions == 3);
        let units_done = health
            .units
            .iter()
            .any(|u| u.unit_id == "pujiang-huangzhai" && u.open == 3);
        if channel_done && units_done {
            break health;
        }
        assert!(
            Instant::now() < deadline,
            "QueueHealth never caught up: {health:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(health.nats_connected);
    let intake = health
        .streams
        .iter()
        .find(|s| s.name == bus::INTAKE_STREAM)
        .unwrap();
    assert_eq!((intake.messages, intake.last_sequence), (3, 3));
    let triage = health
        .consumers
        .iter()
        .find(|c| c.name == bus::TRIAGE_CONSUMER)
        .unwrap();
    assert_eq!((triage.pending, triage.ack_pending), (0, 0));
    assert_eq!(triage.oldest_unprocessed_age_seconds, 0.0);
    let channel = health
        .channels
        .iter()
        .find(|c| c.channel_id == CHANNEL)
        .unwrap();
    assert_eq!(channel.retries, 1);
    assert_eq!(channel.rejections["invalid"], 1);
    assert!(channel.last_accepted_at.is_some());
    let unit = &health.units[0];
    assert_eq!(unit.unit_id, "pujiang-huangzhai");
    assert_eq!(unit.unit_name, "黄宅镇人民政府");
    assert_eq!((unit.unsigned, unit.overdue), (3, 0));

    let metrics = app.metrics().await;
    for line in [
        format!("minhu_intake_requests_total{{channel=\"{CHANNEL}\",outcome=\"accepted\"}} 3"),
        format!("minhu_intake_requests_total{{channel=\"{CHANNEL}\",outcome=\"replayed\"}} 1"),
        format!("minhu_intake_requests_total{{channel=\"{CHANNEL}\",outcome=\"invalid\"}} 1"),
        "minhu_unit_open_cases{unit=\"pujiang-huangzhai\"} 3".to_owned(),
        "minhu_nats_connected 1".to_owned(),
    ] {
        assert!(metrics.contains(&line), "missing {line:?} in:\n{metrics}");
    }
    for name in [
        "minhu_intake_receipt_seconds_bucket",
        "minhu_triage_seconds_bucket",
        "minhu_submit_to_dispatch_seconds_bucket",
        "minhu_consumer_pending_messages{consumer=\"minhu-triage\"}",
        "minhu_stream_messages{stream=\"MINHU_INTAKE\"}",
    ] {
        assert!(metrics.contains(name), "missing {name} in:\n{metrics}");
    }
    app.stop().await.unwrap();
}

#[tokio::test]
async fn health_is_not_serving_while_nats_is_away() {
    let mut server = NatsServer::start();
    let app = spawn_app(&server.url()).await;
    let addr = app.grpc_addr.unwrap();
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel);
    let mut status_becomes = async |service: &str, wanted: ServingStatus| {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let status = health
                .check(HealthCheckRequest {
                    service: service.into(),
                })
                .await
                .unwrap()
                .into_inner()
                .status;
            if status == wanted as i32 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{service} never became {wanted:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    status_becomes("minhu.v1.IntakeService", ServingStatus::Serving).await;
    status_becomes("minhu.v1.OpsService", ServingStatus::Serving).await;
    server.kill();
    status_becomes("minhu.v1.IntakeService", ServingStatus::NotServing).await;
    status_becomes("", ServingStatus::NotServing).await;
    server.restart();
    status_becomes("minhu.v1.IntakeService", ServingStatus::Serving).await;
    status_becomes("minhu.v1.OpsService", ServingStatus::Serving).await;
    app.stop().await.unwrap();
}
