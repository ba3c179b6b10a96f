//! Faults: the bus going away under the gateway, and triage dying mid-message.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::connection::State;
use futures::StreamExt;
use minhu::Role;
use minhu_contracts::bus;
use minhu_core::bus::Bus;
use minhu_e2e::{NatsServer, WEB_TOKEN, petition, spawn_app, spawn_app_with};
use minhu_triage::Triage;
use minhu_triage::worker::{Outcome, TriageWorker};
use tonic::Code;

/// Waits until the client is connected (or not): a disconnected client soon shows as
/// reconnecting, so "not connected" is the state to wait for.
async fn wait_until(client: &async_nats::Client, connected: bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while (client.connection_state() == State::Connected) != connected {
        assert!(
            Instant::now() < deadline,
            "NATS client never became connected={connected}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn with_nats_down_submit_is_unavailable_and_leaves_nothing_behind() {
    let mut server = NatsServer::start();
    let app = spawn_app(&server.url()).await;

    server.kill();
    wait_until(&app.nats, false).await;
    // The app's own connection saw the same reset; give its event loop a moment.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let err = app
        .submit(WEB_TOKEN, petition("while-down"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{}", err.message());

    server.restart();
    wait_until(&app.nats, true).await;
    // Long enough for anything the app might have buffered to reach the server.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        app.stream_messages(bus::INTAKE_STREAM).await.is_empty(),
        "a refused petition must not be stored later"
    );

    // The channel's retry, once the bus is back, is stored as new and flows on.
    let mut receipt = None;
    for _ in 0..50 {
        match app.submit(WEB_TOKEN, petition("while-down")).await {
            Ok(r) => {
                receipt = Some(r);
                break;
            }
            Err(e) if e.code() == Code::Unavailable => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    let receipt = receipt.expect("submit works again after NATS is back");
    assert!(!receipt.replayed);
    app.wait_for_case(&receipt.tracking_number).await;
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_triage_crash_mid_message_is_redelivered_and_dispatched_once() {
    let server = NatsServer::start();
    let short_ack_wait = |s: &mut minhu_core::config::Settings| s.triage.ack_wait_secs = 1;
    let gateway = spawn_app_with(&server.url(), &[Role::Gateway], short_ack_wait).await;
    let receipt = gateway
        .submit(WEB_TOKEN, petition("crash-1"))
        .await
        .unwrap();

    // A triage instance takes the message, does all its work, and dies before acknowledging.
    let settings = gateway.settings.clone();
    let client = minhu_core::bus::connect(&server.url(), "doomed-triage")
        .await
        .unwrap();
    let doomed = TriageWorker::new(
        Bus::provision(client.clone(), 1, Duration::from_secs(2))
            .await
            .unwrap(),
        Arc::new(Triage::new(&settings).unwrap()),
        settings.triage.clone(),
        settings.deadlines.clone(),
        &settings.dedup,
        settings.identity.tracking_prefix.clone(),
    );
    let consumer = doomed.consumer().await.unwrap();
    let mut batch = consumer
        .fetch()
        .max_messages(1)
        .expires(Duration::from_secs(5))
        .messages()
        .await
        .unwrap();
    let message = batch.next().await.expect("one message").unwrap();
    let outcome = doomed.handle(&message).await.unwrap();
    assert_eq!(
        outcome,
        Outcome::Dispatched {
            case_id: receipt.tracking_number.clone(),
            unit_id: "pujiang-huangzhai".into()
        }
    );
    drop((message, batch, consumer, doomed, client));
    let dispatches_before = gateway.stream_messages(bus::DISPATCH_STREAM).await;
    assert_eq!(dispatches_before.len(), 2, "lead and assisting unit");

    // A new triage process takes over; the unacknowledged message comes back to it.
    let triage = spawn_app_with(&server.url(), &[Role::Triage], short_ack_wait).await;
    let mut consumer = triage
        .js
        .get_stream(bus::INTAKE_STREAM)
        .await
        .unwrap()
        .get_consumer::<async_nats::jetstream::consumer::pull::Config>(bus::TRIAGE_CONSUMER)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let info = consumer.info().await.unwrap().clone();
        if info.delivered.consumer_sequence >= 2 && info.ack_floor.stream_sequence >= 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never redelivered and acknowledged: {info:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    assert_eq!(
        triage.stream_messages(bus::DISPATCH_STREAM).await,
        dispatches_before,
        "the redelivery dispatched nothing new"
    );
    let dispatched_events = triage
        .stream_messages(bus::CASE_EVENTS_STREAM)
        .await
        .into_iter()
        .filter(|(s, _)| s.ends_with(".2.dispatched"))
        .count();
    assert_eq!(dispatched_events, 1);
    triage.stop().await.unwrap();
    gateway.stop().await.unwrap();
}
