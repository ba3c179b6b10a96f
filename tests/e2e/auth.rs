//! Channel authentication: the token decides the channel; no token, no entry.

use minhu_contracts::bus;
use minhu_contracts::v1::SubmitRequest;
use minhu_e2e::{HOTLINE_TOKEN, NatsServer, assigned_case, authorized, petition, spawn_app};
use tonic::{Code, Request};

#[tokio::test]
async fn missing_or_wrong_tokens_are_refused_and_nothing_is_stored() {
    let server = NatsServer::start();
    let app = spawn_app(&server.url()).await;
    let mut client = app.client().await;
    let anonymous = client
        .submit(Request::new(SubmitRequest {
            petition: Some(petition("no-token")),
        }))
        .await
        .unwrap_err();
    assert_eq!(anonymous.code(), Code::Unauthenticated);
    for token in ["wrong-token", "demo-web-portal-tokenx", ""] {
        let err = client
            .submit(authorized(
                token,
                SubmitRequest {
                    petition: Some(petition("bad-token")),
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated, "{token:?}");
    }
    assert!(app.stream_messages(bus::INTAKE_STREAM).await.is_empty());
    app.stop().await.unwrap();
}

#[tokio::test]
async fn the_gateway_stamps_the_channel_of_the_token() {
    let server = NatsServer::start();
    let app = spawn_app(&server.url()).await;
    let receipt = app.submit(HOTLINE_TOKEN, petition("call-1")).await.unwrap();
    app.wait_for_case(&receipt.tracking_number).await;
    let (_, payload) = app
        .stream_messages(bus::DISPATCH_STREAM)
        .await
        .into_iter()
        .next()
        .expect("dispatched");
    assert_eq!(assigned_case(&payload).channel_id, "hotline-12345");
    app.stop().await.unwrap();
}
