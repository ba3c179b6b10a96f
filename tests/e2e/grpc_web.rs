//! gRPC-Web and CORS on the gRPC listener, spoken as a browser speaks them: plain HTTP/1.1
//! POSTs of `application/grpc-web+proto` frames, and CORS preflights. Native gRPC (HTTP/2)
//! keeps working on the same port, with TLS and without.

use std::time::Duration;

use bytes::{Buf, Bytes};
use minhu::Role;
use minhu_contracts::v1::intake_service_client::IntakeServiceClient;
use minhu_contracts::v1::{
    Petition, Receipt, SubmitRequest, SubmitResponse, TrackRequest, TrackResponse,
};
use minhu_e2e::pki::TestPki;
use minhu_e2e::{NatsServer, TestApp, WEB_TOKEN, authorized, petition, spawn_app_with};
use prost::Message;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use tonic::Code;
use tonic_types::StatusExt;

const SUBMIT: &str = "/minhu.v1.IntakeService/Submit";
const TRACK: &str = "/minhu.v1.IntakeService/Track";
const PORTAL_ORIGIN: &str = "http://portal.example.org:8080";

/// A plain HTTP/1.1 client, as a browser on a plaintext origin is.
fn http1_client(ca: Option<&std::path::Path>) -> reqwest::Client {
    // reqwest is built without a crypto provider of its own: ring, as the rest of the stack.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .http1_only()
        .timeout(Duration::from_secs(20));
    if let Some(ca) = ca {
        let pem = std::fs::read(ca).expect("CA file");
        builder = builder.tls_certs_only([reqwest::Certificate::from_pem(&pem).expect("CA PEM")]);
    }
    builder.build().expect("HTTP client")
}

/// What a gRPC-Web call answered: the HTTP parts, the messages and the gRPC status (from the
/// trailers frame, or from the headers of a trailers-only response).
struct WebAnswer {
    version: reqwest::Version,
    http_status: reqwest::StatusCode,
    headers: HeaderMap,
    messages: Vec<Bytes>,
    status: tonic::Status,
}

impl WebAnswer {
    fn message<M: Message + Default>(&self) -> M {
        assert_eq!(self.messages.len(), 1, "one response message");
        M::decode(self.messages[0].clone()).expect("response decodes")
    }
}

/// The gRPC-Web framing: a flag byte (0 for a message) and a big-endian length.
fn frame(message: &impl Message) -> Vec<u8> {
    let bytes = message.encode_to_vec();
    let mut framed = vec![0u8];
    framed.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    framed.extend_from_slice(&bytes);
    framed
}

async fn grpc_web(
    client: &reqwest::Client,
    base: &str,
    method: &str,
    token: Option<&str>,
    origin: Option<&str>,
    request: &impl Message,
) -> WebAnswer {
    let mut call = client
        .post(format!("{base}{method}"))
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .body(frame(request));
    if let Some(token) = token {
        call = call.header("authorization", format!("Bearer {token}"));
    }
    if let Some(origin) = origin {
        call = call.header("origin", origin);
    }
    let response = call.send().await.expect("gRPC-Web call answered");
    let (version, http_status) = (response.version(), response.status());
    let headers = response.headers().clone();
    let mut body = response.bytes().await.expect("body");
    let mut messages = Vec::new();
    let mut trailers = None;
    while body.has_remaining() {
        assert!(body.len() >= 5, "a whole frame header");
        let flags = body.get_u8();
        let length = body.get_u32() as usize;
        let payload = body.split_to(length);
        if flags & 0x80 != 0 {
            trailers = Some(trailer_map(&payload));
        } else {
            messages.push(payload);
        }
    }
    let status = trailers
        .as_ref()
        .and_then(tonic::Status::from_header_map)
        .or_else(|| tonic::Status::from_header_map(&headers))
        .expect("a grpc-status in the trailers or the headers");
    WebAnswer {
        version,
        http_status,
        headers,
        messages,
        status,
    }
}

/// A trailers frame holds HTTP/1-style header lines.
fn trailer_map(payload: &[u8]) -> HeaderMap {
    let text = std::str::from_utf8(payload).expect("trailers are text");
    let mut map = HeaderMap::new();
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').expect("name: value");
        map.insert(
            HeaderName::from_bytes(name.trim().as_bytes()).unwrap(),
            HeaderValue::from_str(value.trim()).unwrap(),
        );
    }
    map
}

fn submit_request(petition: Petition) -> SubmitRequest {
    SubmitRequest {
        petition: Some(petition),
    }
}

/// Submits `petition` over gRPC-Web with `token` and no Origin header.
async fn web_submit(
    client: &reqwest::Client,
    base: &str,
    token: Option<&str>,
    petition: Petition,
) -> WebAnswer {
    grpc_web(client, base, SUBMIT, token, None, &submit_request(petition)).await
}

fn base(app: &TestApp, scheme: &str) -> String {
    format!("{scheme}://{}", app.grpc_addr.expect("gRPC served"))
}

#[tokio::test]
async fn a_plain_http1_client_submits_and_tracks_over_grpc_web() {
    let server = NatsServer::start();
    let app = spawn_app_with(&server.url(), &Role::ALL, |_| {}).await;
    let (client, base) = (http1_client(None), base(&app, "http"));

    let wrong = web_submit(
        &client,
        &base,
        Some("not-a-channel-token"),
        petition("web-1"),
    )
    .await;
    assert_eq!(wrong.version, reqwest::Version::HTTP_11);
    assert_eq!(wrong.http_status, reqwest::StatusCode::OK);
    assert!(
        wrong.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/grpc-web"),
        "{:?}",
        wrong.headers
    );
    assert_eq!(wrong.status.code(), Code::Unauthenticated);
    assert_eq!(wrong.status.code() as i32, 16);
    let anonymous = web_submit(&client, &base, None, petition("web-1")).await;
    assert_eq!(anonymous.status.code(), Code::Unauthenticated);

    // Bad input: the violated fields travel in grpc-status-details-bin, as for native gRPC.
    let mut empty = petition("web-2");
    empty.body.clear();
    let invalid = web_submit(&client, &base, Some(WEB_TOKEN), empty).await;
    assert_eq!(invalid.status.code(), Code::InvalidArgument);
    let violations = invalid
        .status
        .get_details_bad_request()
        .expect("BadRequest details")
        .field_violations;
    assert!(
        violations.iter().any(|v| v.field == "petition.body"),
        "{violations:?}"
    );

    let submitted = web_submit(&client, &base, Some(WEB_TOKEN), petition("web-3")).await;
    assert_eq!(submitted.status.code(), Code::Ok, "{:?}", submitted.status);
    assert_eq!(submitted.status.code() as i32, 0);
    let receipt: Receipt = submitted
        .message::<SubmitResponse>()
        .receipt
        .expect("receipt");
    assert!(!receipt.replayed);

    let tracked = grpc_web(
        &client,
        &base,
        TRACK,
        Some(WEB_TOKEN),
        None,
        &TrackRequest {
            tracking_number: receipt.tracking_number.clone(),
            query_code: receipt.query_code.clone(),
        },
    )
    .await;
    assert_eq!(tracked.status.code(), Code::Ok, "{:?}", tracked.status);
    assert_eq!(
        tracked.message::<TrackResponse>().tracking_number,
        receipt.tracking_number
    );

    // The same petition through native gRPC (HTTP/2, same port): one petition, replayed.
    let again = app
        .submit(WEB_TOKEN, petition("web-3"))
        .await
        .expect("native submit");
    assert_eq!(again.tracking_number, receipt.tracking_number);
    assert!(again.replayed);
    let native = app.track(&receipt).await.expect("native track");
    assert_eq!(native.tracking_number, receipt.tracking_number);
    app.stop().await.unwrap();
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|v| v.to_str().expect("ASCII header"))
}

fn listed(headers: &HeaderMap, name: &str) -> Vec<String> {
    header(headers, name)
        .unwrap_or_default()
        .split(',')
        .map(|v| v.trim().to_ascii_lowercase())
        .filter(|v| !v.is_empty())
        .collect()
}

async fn preflight(client: &reqwest::Client, base: &str, origin: &str) -> reqwest::Response {
    client
        .request(reqwest::Method::OPTIONS, format!("{base}{SUBMIT}"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type,grpc-timeout,x-grpc-web,x-user-agent",
        )
        .send()
        .await
        .expect("preflight answered")
}

#[tokio::test]
async fn cors_lets_exactly_the_listed_origins_call() {
    let server = NatsServer::start();
    let app = spawn_app_with(&server.url(), &[Role::Gateway], |s| {
        s.web.allow_origins = vec![PORTAL_ORIGIN.to_owned()];
    })
    .await;
    let (client, base) = (http1_client(None), base(&app, "http"));

    let allowed = preflight(&client, &base, PORTAL_ORIGIN).await;
    assert!(allowed.status().is_success(), "{}", allowed.status());
    let headers = allowed.headers();
    assert_eq!(
        header(headers, "access-control-allow-origin"),
        Some(PORTAL_ORIGIN)
    );
    let allow_headers = listed(headers, "access-control-allow-headers");
    for wanted in [
        "authorization",
        "content-type",
        "x-grpc-web",
        "x-user-agent",
        "grpc-timeout",
    ] {
        assert!(
            allow_headers.iter().any(|h| h == wanted),
            "{wanted}: {allow_headers:?}"
        );
    }
    assert!(listed(headers, "access-control-allow-methods").contains(&"post".to_owned()));
    assert!(listed(headers, "vary").contains(&"origin".to_owned()));

    for stranger in [
        "http://evil.example.org",
        "http://portal.example.org",
        "https://portal.example.org:8080",
        "null",
    ] {
        let refused = preflight(&client, &base, stranger).await;
        assert_eq!(
            header(refused.headers(), "access-control-allow-origin"),
            None,
            "{stranger}"
        );
    }

    // The call itself: the listed origin may read the answer and its gRPC status headers.
    let call = grpc_web(
        &client,
        &base,
        SUBMIT,
        Some(WEB_TOKEN),
        Some(PORTAL_ORIGIN),
        &submit_request(petition("cors-1")),
    )
    .await;
    assert_eq!(call.status.code(), Code::Ok);
    assert_eq!(
        header(&call.headers, "access-control-allow-origin"),
        Some(PORTAL_ORIGIN)
    );
    let exposed = listed(&call.headers, "access-control-expose-headers");
    for wanted in ["grpc-status", "grpc-message", "grpc-status-details-bin"] {
        assert!(exposed.iter().any(|h| h == wanted), "{wanted}: {exposed:?}");
    }
    // Another origin's page gets no CORS grant: its browser withholds the answer.
    let stranger = grpc_web(
        &client,
        &base,
        SUBMIT,
        Some(WEB_TOKEN),
        Some("http://evil.example.org"),
        &submit_request(petition("cors-1")),
    )
    .await;
    assert_eq!(
        header(&stranger.headers, "access-control-allow-origin"),
        None
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn grpc_web_the_portal_and_native_grpc_share_the_tls_port() {
    let server = NatsServer::start();
    let pki = TestPki::generate();
    let tls = pki.server_settings(false);
    let app = spawn_app_with(&server.url(), &[Role::Gateway], move |s| s.tls = Some(tls)).await;
    let (client, base) = (http1_client(Some(&pki.server_ca())), base(&app, "https"));

    let page = client
        .get(format!("{base}/portal/"))
        .send()
        .await
        .expect("portal over TLS");
    assert_eq!(page.version(), reqwest::Version::HTTP_11);
    assert_eq!(page.status(), reqwest::StatusCode::OK);
    assert_eq!(
        header(page.headers(), "content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(page.text().await.unwrap().contains("浦江县网上信访"));

    let submitted = web_submit(&client, &base, Some(WEB_TOKEN), petition("tls-web-1")).await;
    assert_eq!(submitted.version, reqwest::Version::HTTP_11);
    assert_eq!(submitted.status.code(), Code::Ok, "{:?}", submitted.status);
    let receipt = submitted
        .message::<SubmitResponse>()
        .receipt
        .expect("receipt");

    let channel = pki
        .client()
        .endpoint(&base)
        .unwrap()
        .connect()
        .await
        .expect("native gRPC over TLS beside gRPC-Web");
    let replayed = IntakeServiceClient::new(channel)
        .submit(authorized(WEB_TOKEN, submit_request(petition("tls-web-1"))))
        .await
        .expect("native submit over TLS")
        .into_inner()
        .receipt
        .expect("receipt");
    assert_eq!(replayed.tracking_number, receipt.tracking_number);
    assert!(replayed.replayed);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn the_portal_is_served_only_when_configured_and_web_off_is_http2_only() {
    let server = NatsServer::start();
    let app = spawn_app_with(&server.url(), &[Role::Gateway], |_| {}).await;
    let (client, base_url) = (http1_client(None), base(&app, "http"));
    for (path, content_type) in [
        ("/portal/", "text/html; charset=utf-8"),
        ("/portal/portal.js", "text/javascript; charset=utf-8"),
        ("/portal/grpc-web.js", "text/javascript; charset=utf-8"),
        ("/portal/protobuf.js", "text/javascript; charset=utf-8"),
        ("/portal/style.css", "text/css; charset=utf-8"),
        ("/portal/favicon.svg", "image/svg+xml"),
    ] {
        let response = client
            .get(format!("{base_url}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::OK, "{path}");
        assert_eq!(
            header(response.headers(), "content-type"),
            Some(content_type)
        );
    }
    app.stop().await.unwrap();

    // gRPC-Web on, portal off: /portal/ is nothing special.
    let app = spawn_app_with(&server.url(), &[Role::Gateway], |s| s.web.portal = false).await;
    let base_url = base(&app, "http");
    let response = client
        .get(format!("{base_url}/portal/"))
        .send()
        .await
        .unwrap();
    assert_ne!(response.status(), reqwest::StatusCode::OK);
    app.stop().await.unwrap();

    // Off: HTTP/1.1 gets no answer at all; native gRPC is served as ever.
    let app = spawn_app_with(&server.url(), &[Role::Gateway], |s| {
        s.web.enabled = false;
        s.web.portal = false;
    })
    .await;
    let base_url = base(&app, "http");
    let response = client.get(format!("{base_url}/portal/")).send().await;
    assert!(response.is_err(), "{response:?}");
    let response = client
        .post(format!("{base_url}{SUBMIT}"))
        .header("content-type", "application/grpc-web+proto")
        .body(frame(&submit_request(petition("off-1"))))
        .send()
        .await;
    assert!(response.is_err(), "{response:?}");
    app.submit(WEB_TOKEN, petition("off-1"))
        .await
        .expect("native gRPC with web off");
    app.stop().await.unwrap();
}
