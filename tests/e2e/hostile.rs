//! Hostile input against the real app: oversized messages, junk metadata, huge repeated and
//! deeply nested fields, and clients that connect and stall (HTTP/2, TLS, HTTP/1.1). Each is
//! refused or dropped, and a well-behaved client submitting at the same time is served.

use std::time::{Duration, Instant};

use bytes::{Buf, BufMut};
use minhu::Role;
use minhu::listener::{HANDSHAKE_TIMEOUT, KEEPALIVE_INTERVAL, KEEPALIVE_TIMEOUT};
use minhu::web::WEB_REQUEST_TIMEOUT;
use minhu_contracts::v1::case_service_client::CaseServiceClient;
use minhu_contracts::v1::intake_service_client::IntakeServiceClient;
use minhu_contracts::v1::{
    Attachment, ListCasesRequest, SubmitRequest, SubmitResponse, TrackRequest,
};
use minhu_e2e::pki::TestPki;
use minhu_e2e::{NatsServer, TestApp, WEB_TOKEN, authorized, petition, spawn_app, spawn_app_with};
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tonic::Code;
use tonic::codegen::http;
use tonic::metadata::MetadataMap;
use tonic_types::StatusExt;

/// Well-behaved submits on their own connection while `hostile` runs; all must succeed.
async fn while_others_submit<T>(app: &TestApp, name: &str, hostile: impl Future<Output = T>) -> T {
    let addr = format!("http://{}", app.grpc_addr.unwrap());
    let name = name.to_owned();
    let calm = tokio::spawn(async move {
        let mut client = IntakeServiceClient::connect(addr).await.expect("connect");
        for n in 0..20 {
            let request = SubmitRequest {
                petition: Some(petition(&format!("{name}-calm-{n}"))),
            };
            client
                .submit(authorized(WEB_TOKEN, request))
                .await
                .expect("a well-behaved client is served");
        }
    });
    let result = hostile.await;
    calm.await.expect("well-behaved client");
    result
}

#[tokio::test]
async fn oversized_messages_are_refused_and_others_are_served() {
    let server = NatsServer::start();
    let app = spawn_app(&server.url()).await;
    let codes = while_others_submit(&app, "oversized", async {
        let mut tasks = JoinSet::new();
        for n in 0..4 {
            let mut client = app.client().await;
            tasks.spawn(async move {
                let mut huge = petition(&format!("huge-{n}"));
                huge.body = "访".repeat(1 << 20);
                client
                    .submit(authorized(
                        WEB_TOKEN,
                        SubmitRequest {
                            petition: Some(huge),
                        },
                    ))
                    .await
                    .map(|_| ())
                    .unwrap_err()
                    .code()
            });
        }
        tasks.join_all().await
    })
    .await;
    assert_eq!(codes, vec![Code::OutOfRange; 4]);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn junk_bytes_in_metadata_are_unauthenticated() {
    let server = NatsServer::start();
    let app = spawn_app(&server.url()).await;
    let junk = |name: &'static str, value: &'static [u8]| {
        let mut headers = http::HeaderMap::new();
        headers.insert(name, http::HeaderValue::from_bytes(value).expect("header"));
        MetadataMap::from_headers(headers)
    };
    let authorizations: [&[u8]; 4] = [
        b"Bearer \xff\xfe\x80\xc3\x28",
        b"\xe6\xb0\x91\xe5\x91\xbc",
        b"Bearer demo-web-portal-token\xff",
        b"\x80",
    ];
    while_others_submit(&app, "junk", async {
        let mut client = app.client().await;
        for value in authorizations {
            let mut request = tonic::Request::new(SubmitRequest {
                petition: Some(petition("junk-1")),
            });
            *request.metadata_mut() = junk("authorization", value);
            let status = client.submit(request).await.unwrap_err();
            assert_eq!(status.code(), Code::Unauthenticated, "{value:?}");

            let mut request = tonic::Request::new(TrackRequest::default());
            *request.metadata_mut() = junk("authorization", value);
            let status = client.track(request).await.unwrap_err();
            assert_eq!(status.code(), Code::Unauthenticated, "{value:?}");

            let channel = tonic::transport::Endpoint::from_shared(format!(
                "http://{}",
                app.grpc_addr.unwrap()
            ))
            .unwrap()
            .connect()
            .await
            .unwrap();
            let mut request = tonic::Request::new(ListCasesRequest::default());
            *request.metadata_mut() = junk("authorization", value);
            let status = CaseServiceClient::new(channel)
                .list_cases(request)
                .await
                .unwrap_err();
            assert_eq!(status.code(), Code::Unauthenticated, "{value:?}");
        }
        // Junk beside a good token changes nothing.
        let mut headers = http::HeaderMap::new();
        let bearer = format!("Bearer {WEB_TOKEN}");
        headers.insert("authorization", bearer.parse().unwrap());
        headers.insert(
            "x-channel-note",
            http::HeaderValue::from_bytes(b"\xff\xfe").unwrap(),
        );
        let mut request = tonic::Request::new(SubmitRequest {
            petition: Some(petition("junk-beside")),
        });
        *request.metadata_mut() = MetadataMap::from_headers(headers);
        client.submit(request).await.expect("served");
    })
    .await;
    app.stop().await.unwrap();
}

/// Request bytes sent as they are, for inputs no well-formed client would encode.
#[derive(Debug, Default, Clone)]
struct Raw(Vec<u8>);

impl Message for Raw {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        buf.put_slice(&self.0);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: prost::encoding::WireType,
        buf: &mut impl Buf,
        ctx: prost::encoding::DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        prost::encoding::skip_field(wire_type, tag, buf, ctx)
    }

    fn encoded_len(&self) -> usize {
        self.0.len()
    }

    fn clear(&mut self) {
        self.0.clear();
    }
}

async fn submit_raw(app: &TestApp, bytes: Vec<u8>) -> Result<SubmitResponse, tonic::Status> {
    let channel =
        tonic::transport::Endpoint::from_shared(format!("http://{}", app.grpc_addr.unwrap()))
            .unwrap()
            .connect()
            .await
            .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    grpc.unary(
        authorized(WEB_TOKEN, Raw(bytes)),
        http::uri::PathAndQuery::from_static("/minhu.v1.IntakeService/Submit"),
        tonic_prost::ProstCodec::<Raw, SubmitResponse>::default(),
    )
    .await
    .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn huge_repeated_and_deeply_nested_fields_are_refused_and_others_are_served() {
    let server = NatsServer::start();
    let app = spawn_app(&server.url()).await;
    while_others_submit(&app, "nested", async {
        // 100,000 attachments: one violation, not 400,000.
        let mut many = petition("many-attachments");
        many.attachments = vec![Attachment::default(); 100_000];
        let bytes = SubmitRequest {
            petition: Some(many),
        }
        .encode_to_vec();
        let status = submit_raw(&app, bytes).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        let violations = status.get_details_bad_request().unwrap().field_violations;
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert_eq!(violations[0].field, "petition.attachments");

        // The same with content: past the size limit, refused unread.
        let mut heavy = petition("heavy-attachments");
        heavy.attachments = vec![
            Attachment {
                uri: "https://files.example.org/a.jpg".into(),
                media_type: "image/jpeg".into(),
                size_bytes: 1,
                digest: format!("sha256:{}", "a".repeat(64)),
            };
            100_000
        ];
        let bytes = SubmitRequest {
            petition: Some(heavy),
        }
        .encode_to_vec();
        assert_eq!(
            submit_raw(&app, bytes).await.unwrap_err().code(),
            Code::OutOfRange
        );

        // 100,000 nested groups in an unknown field: beyond the decoder's depth limit.
        let status = submit_raw(&app, vec![0x7b; 100_000]).await.unwrap_err();
        assert_eq!(status.code(), Code::Internal, "{status:?}");
    })
    .await;
    app.stop().await.unwrap();
}

/// Opens `count` connections that each send `opening` and then nothing.
async fn stalled_connections(app: &TestApp, count: usize, opening: &[u8]) -> Vec<TcpStream> {
    let mut connections = Vec::with_capacity(count);
    for _ in 0..count {
        let mut stream = TcpStream::connect(app.grpc_addr.unwrap()).await.unwrap();
        stream.write_all(opening).await.unwrap();
        connections.push(stream);
    }
    connections
}

/// How long until the server has closed every one of `connections`.
async fn closed_within(connections: Vec<TcpStream>, limit: Duration) -> Duration {
    let start = Instant::now();
    let mut waiting = JoinSet::new();
    for mut stream in connections {
        waiting.spawn(async move {
            let mut buf = [0u8; 4096];
            // Whatever the server sends (its settings, pings) until it closes.
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        });
    }
    tokio::time::timeout(limit, waiting.join_all())
        .await
        .expect("the server closed the stalled connections in time");
    start.elapsed()
}

/// The HTTP/2 preface, empty SETTINGS, and the first 9 bytes of a HEADERS frame that claims
/// 1,000 bytes of header block.
fn preface_and_partial_headers() -> Vec<u8> {
    let mut bytes = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    bytes.extend_from_slice(&[0, 0, 0, 0x4, 0, 0, 0, 0, 0]);
    bytes.extend_from_slice(&[0, 0x03, 0xe8, 0x1, 0x4, 0, 0, 0, 1]);
    bytes.extend_from_slice(&[0x83, 0x86]);
    bytes
}

#[tokio::test]
async fn slow_loris_clients_are_dropped_and_do_not_stop_others() {
    let server = NatsServer::start();
    let app = spawn_app_with(&server.url(), &[Role::Gateway], |_| {}).await;
    let half_preface = stalled_connections(&app, 150, b"PRI * HTTP/2.0\r\n").await;
    let half_headers = stalled_connections(&app, 150, &preface_and_partial_headers()).await;
    let silent = stalled_connections(&app, 150, b"").await;

    let start = Instant::now();
    while_others_submit(&app, "loris", async {}).await;
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "20 submits took {:?} beside 450 stalled connections",
        start.elapsed()
    );

    let mut early = half_preface;
    early.extend(silent);
    let took = closed_within(early, HANDSHAKE_TIMEOUT + Duration::from_secs(5)).await;
    println!("connections without a preface closed after {took:?}");
    let took = closed_within(
        half_headers,
        KEEPALIVE_INTERVAL + KEEPALIVE_TIMEOUT + Duration::from_secs(5),
    )
    .await;
    println!("connections stalled mid-request closed after {took:?}");
    // Still serving.
    app.submit(WEB_TOKEN, petition("loris-after"))
        .await
        .unwrap();
    app.stop().await.unwrap();
}

#[tokio::test]
async fn stalled_http1_requests_are_dropped_and_do_not_stop_others() {
    let server = NatsServer::start();
    let app = spawn_app_with(&server.url(), &[Role::Gateway], |_| {}).await;
    // gRPC-Web over HTTP/1.1 (on by default): a head that never ends, and a whole head with a
    // body that never comes.
    let half_head = stalled_connections(
        &app,
        100,
        b"POST /minhu.v1.IntakeService/Submit HTTP/1.1\r\nHost: minhu\r\n",
    )
    .await;
    let half_body = stalled_connections(
        &app,
        100,
        b"POST /minhu.v1.IntakeService/Submit HTTP/1.1\r\nHost: minhu\r\n\
          content-type: application/grpc-web+proto\r\ncontent-length: 1000\r\n\r\n\0\0\0\x03",
    )
    .await;

    let start = Instant::now();
    while_others_submit(&app, "http1-loris", async {}).await;
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "20 submits took {:?} beside 200 stalled HTTP/1.1 requests",
        start.elapsed()
    );

    let took = closed_within(half_body, WEB_REQUEST_TIMEOUT + Duration::from_secs(5)).await;
    println!("HTTP/1.1 requests stalled mid-body closed after {took:?}");
    // hyper's own limit on reading a request head.
    let took = closed_within(half_head, Duration::from_secs(30 + 5)).await;
    println!("HTTP/1.1 requests stalled mid-head closed after {took:?}");
    app.submit(WEB_TOKEN, petition("http1-loris-after"))
        .await
        .unwrap();
    app.stop().await.unwrap();
}

#[tokio::test]
async fn stalled_tls_handshakes_are_dropped_and_do_not_stop_others() {
    let server = NatsServer::start();
    let pki = TestPki::generate();
    let tls = pki.server_settings(false);
    let app = spawn_app_with(&server.url(), &[Role::Gateway], move |s| s.tls = Some(tls)).await;
    // A TLS record header announcing a 512-byte ClientHello, and 5 bytes of it.
    let partial_hello = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03];
    let stalled = stalled_connections(&app, 200, &partial_hello).await;

    let channel = pki
        .client()
        .endpoint(&format!("https://{}", app.grpc_addr.unwrap()))
        .unwrap()
        .connect()
        .await
        .expect("a TLS client connects beside 200 stalled handshakes");
    let mut client = IntakeServiceClient::new(channel);
    for n in 0..10 {
        let request = SubmitRequest {
            petition: Some(petition(&format!("tls-calm-{n}"))),
        };
        client.submit(authorized(WEB_TOKEN, request)).await.unwrap();
    }
    let took = closed_within(stalled, HANDSHAKE_TIMEOUT + Duration::from_secs(5)).await;
    println!("stalled TLS handshakes closed after {took:?}");
    app.stop().await.unwrap();
}
