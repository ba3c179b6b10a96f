//! TLS on the gRPC listener, with certificates made by the test: clients that trust the
//! server's CA submit and track; plaintext clients and clients trusting another CA get
//! nowhere; under mutual TLS CaseService answers unit systems presenting a certificate the
//! unit CA signed, and no one else, while channels still submit with their token alone.

use minhu::Role;
use minhu::client::ClientTls;
use minhu_contracts::v1::case_service_client::CaseServiceClient;
use minhu_contracts::v1::intake_service_client::IntakeServiceClient;
use minhu_contracts::v1::{ListCasesRequest, SubmitRequest, TrackRequest};
use minhu_e2e::pki::TestPki;
use minhu_e2e::{NatsServer, TestApp, WEB_TOKEN, authorized, petition, spawn_app_with};
use tonic::transport::Channel;

const UNIT_TOKEN: &str = "demo-unit-huangzhai";

async fn spawn_tls_app(server: &NatsServer, pki: &TestPki, mutual: bool) -> TestApp {
    let tls = pki.server_settings(mutual);
    spawn_app_with(&server.url(), &Role::ALL, move |s| s.tls = Some(tls)).await
}

fn https(app: &TestApp) -> String {
    format!("https://{}", app.grpc_addr.expect("gRPC served"))
}

async fn channel(app: &TestApp, tls: &ClientTls) -> Result<Channel, tonic::transport::Error> {
    tls.endpoint(&https(app))
        .expect("endpoint")
        .connect_timeout(std::time::Duration::from_secs(5))
        .connect()
        .await
}

async fn list_cases(app: &TestApp, tls: &ClientTls) -> Result<usize, String> {
    let channel = channel(app, tls).await.map_err(|e| format!("{e:?}"))?;
    CaseServiceClient::new(channel)
        .list_cases(authorized(UNIT_TOKEN, ListCasesRequest::default()))
        .await
        .map(|r| r.into_inner().cases.len())
        .map_err(|status| format!("{:?}: {}", status.code(), status.message()))
}

#[tokio::test]
async fn a_client_trusting_the_ca_submits_and_tracks_and_others_get_nowhere() {
    let server = NatsServer::start();
    let pki = TestPki::generate();
    let app = spawn_tls_app(&server, &pki, false).await;

    let mut client = IntakeServiceClient::new(channel(&app, &pki.client()).await.unwrap());
    let receipt = client
        .submit(authorized(
            WEB_TOKEN,
            SubmitRequest {
                petition: Some(petition("tls-1")),
            },
        ))
        .await
        .expect("submit over TLS")
        .into_inner()
        .receipt
        .expect("receipt");
    let tracked = client
        .track(authorized(
            WEB_TOKEN,
            TrackRequest {
                tracking_number: receipt.tracking_number.clone(),
                query_code: receipt.query_code.clone(),
            },
        ))
        .await
        .expect("track over TLS")
        .into_inner();
    assert_eq!(tracked.tracking_number, receipt.tracking_number);

    // The CLI's client takes the same route.
    let mut cli = minhu::client::IntakeClient::connect(&https(&app), WEB_TOKEN, &pki.client())
        .await
        .unwrap();
    let again = cli.submit(petition("tls-1")).await.unwrap();
    assert!(again.replayed);

    // A plaintext client speaks HTTP/2 to a TLS listener: no answer.
    let plaintext = async {
        let addr = format!("http://{}", app.grpc_addr.unwrap());
        let mut client = IntakeServiceClient::connect(addr).await?;
        client
            .submit(authorized(
                WEB_TOKEN,
                SubmitRequest {
                    petition: Some(petition("tls-plain")),
                },
            ))
            .await?;
        anyhow::Ok(())
    };
    assert!(plaintext.await.is_err(), "a plaintext client was served");

    // A client that does not trust the server's CA refuses the server.
    let stranger = channel(&app, &pki.client_trusting_a_stranger()).await;
    assert!(stranger.is_err(), "connected without trusting the CA");

    // Without a client CA configured, CaseService takes token-only clients over TLS: the town
    // lists the case once it is dispatched there.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let listed = list_cases(&app, &pki.client()).await;
        if listed == Ok(1) || std::time::Instant::now() > deadline {
            assert_eq!(listed, Ok(1));
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    app.stop().await.unwrap();
}

#[tokio::test]
async fn under_mutual_tls_case_service_needs_a_certificate_the_unit_ca_signed() {
    let server = NatsServer::start();
    let pki = TestPki::generate();
    let app = spawn_tls_app(&server, &pki, true).await;

    let refused = list_cases(&app, &pki.client()).await.unwrap_err();
    assert!(
        refused.starts_with("Unauthenticated") && refused.contains("client certificate"),
        "{refused}"
    );
    assert_eq!(list_cases(&app, &pki.client_with("unit")).await, Ok(0));
    // A certificate from a CA minhu was not told about fails the handshake.
    let stranger = list_cases(&app, &pki.client_with("stranger")).await;
    assert!(stranger.is_err(), "a stranger's certificate was accepted");

    // Channels keep submitting with their token alone.
    let mut client = IntakeServiceClient::new(channel(&app, &pki.client()).await.unwrap());
    client
        .submit(authorized(
            WEB_TOKEN,
            SubmitRequest {
                petition: Some(petition("mtls-1")),
            },
        ))
        .await
        .expect("a channel submits without a client certificate");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn plaintext_stays_the_default() {
    let server = NatsServer::start();
    let app = spawn_app_with(&server.url(), &[Role::Gateway], |_| {}).await;
    app.submit(WEB_TOKEN, petition("plain-1")).await.unwrap();
    let tls_client = ClientTls::default()
        .endpoint(&https(&app))
        .unwrap()
        .connect()
        .await;
    assert!(
        tls_client.is_err(),
        "a TLS handshake succeeded on a plaintext listener"
    );
    app.stop().await.unwrap();
}
