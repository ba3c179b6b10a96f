//! No one in where they don't belong, no one exposed: per-channel rate limits, the Track
//! guessing guard, and logs free of the personal data the tests submit.

use std::io::Write;
use std::sync::{Arc, Mutex};

use minhu::Role;
use minhu_e2e::{HOTLINE_TOKEN, NatsServer, WEB_TOKEN, petition, spawn_app_with};
use tonic::Code;
use tonic_types::StatusExt;

#[tokio::test]
async fn a_flooding_channel_is_limited_without_starving_the_others() {
    let server = NatsServer::start();
    let app = spawn_app_with(&server.url(), &Role::ALL, |s| {
        let web = s
            .channels
            .iter_mut()
            .find(|c| c.id == "web-portal")
            .unwrap();
        web.rate_per_second = Some(2);
        web.burst = Some(3);
    })
    .await;
    let mut limited = None;
    for n in 0..10 {
        match app.submit(WEB_TOKEN, petition(&format!("flood-{n}"))).await {
            Ok(_) => {}
            Err(status) => {
                limited = Some(status);
                break;
            }
        }
    }
    let status = limited.expect("the flooding channel is held back");
    assert_eq!(status.code(), Code::ResourceExhausted);
    let retry = status.get_details_retry_info().expect("retry info");
    assert!(retry.retry_delay.unwrap() > std::time::Duration::ZERO);
    // The hotline is not affected.
    for n in 0..5 {
        app.submit(HOTLINE_TOKEN, petition(&format!("calm-{n}")))
            .await
            .unwrap();
    }
    app.stop().await.unwrap();
}

#[tokio::test]
async fn guessing_query_codes_is_cut_off() {
    let server = NatsServer::start();
    let app = spawn_app_with(&server.url(), &Role::ALL, |s| {
        s.gateway.track_failures_per_case = 3;
    })
    .await;
    let receipt = app.submit(WEB_TOKEN, petition("guess-1")).await.unwrap();
    let mut guess = receipt.clone();
    for code in ["AAAAAAAAAAAA", "BBBBBBBBBBBB", "CCCCCCCCCCCC"] {
        guess.query_code = code.into();
        assert_eq!(app.track(&guess).await.unwrap_err().code(), Code::NotFound);
    }
    guess.query_code = "DDDDDDDDDDDD".into();
    assert_eq!(
        app.track(&guess).await.unwrap_err().code(),
        Code::ResourceExhausted
    );
    app.stop().await.unwrap();
}

/// Everything logged while the test thread runs the app (a current-thread runtime).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_logs_contain_none_of_the_personal_data_submitted() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("trace")
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = NatsServer::start();
    let app = spawn_app_with(&server.url(), &Role::ALL, |_| {}).await;
    let receipt = app.submit(WEB_TOKEN, petition("pii-1")).await.unwrap();
    app.submit(WEB_TOKEN, petition("pii-1")).await.unwrap();
    let mut bad = petition("pii-2");
    bad.petitioner.as_mut().unwrap().phone = "138-call-me-1234".into();
    app.submit(WEB_TOKEN, bad).await.unwrap_err();
    app.wait_for_case(&receipt.tracking_number).await;
    app.track(&receipt).await.unwrap();
    app.stop().await.unwrap();

    let logs = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    assert!(
        logs.contains(&receipt.tracking_number),
        "the capture works: it saw the case go by"
    );
    let person = petition("x").petitioner.unwrap();
    for secret in [
        person.name.as_str(),
        person.phone.as_str(),
        person.id_number.as_str(),
        person.contact_address.as_str(),
        "138-call-me-1234",
    ] {
        assert!(!logs.contains(secret), "the logs contain {secret:?}");
    }
}
