//! The live channel registry: channels created, suspended, resumed and given new tokens through
//! ChannelAdmin are in force on every gateway within a second, without a restart; a restart
//! keeps what the admins did; QueueHealth lists every channel with its rejections.

use std::time::{Duration, Instant};

use minhu::Role;
use minhu_contracts::v1::channel_admin_client::ChannelAdminClient;
use minhu_contracts::v1::ops_service_client::OpsServiceClient;
use minhu_contracts::v1::{
    ChannelKind, ChannelStatus, CreateChannelRequest, CreateChannelResponse, GetChannelRequest,
    ListChannelsRequest, QueueHealthRequest, ResumeChannelRequest, RotateTokenRequest,
    SuspendChannelRequest, UpdateChannelRequest,
};
use minhu_e2e::{
    NatsServer, TestApp, WEB_TOKEN, WITHOUT_CLOCK, authorized, distinct_petition, spawn_app_with,
};
use tonic::Code;
use tonic::transport::Channel;
use tonic_types::StatusExt;

const ADMIN_TOKEN: &str = "demo-admin-token";
/// Changes must be in force on every gateway within this time.
const PROPAGATION: Duration = Duration::from_secs(1);

async fn admin(app: &TestApp) -> ChannelAdminClient<Channel> {
    let addr = app.grpc_addr.expect("gRPC");
    ChannelAdminClient::connect(format!("http://{addr}"))
        .await
        .expect("connect")
}

async fn create(app: &TestApp, id: &str, rate: u32) -> CreateChannelResponse {
    admin(app)
        .await
        .create_channel(authorized(
            ADMIN_TOKEN,
            CreateChannelRequest {
                channel_id: id.into(),
                name: format!("{id} (test)"),
                kind: ChannelKind::MiniProgram as i32,
                owner: "浦江县信访局".into(),
                division_code: "330726".into(),
                rate_per_second: rate,
                burst: 0,
            },
        ))
        .await
        .expect("create channel")
        .into_inner()
}

/// Submits with `token` until the answer has `expected` code (Ok as `Code::Ok`), and returns
/// how long it took; fails the test if that takes longer than `within`.
async fn until_code(
    app: &TestApp,
    token: &str,
    expected: Code,
    within: Duration,
    seq: &mut u64,
) -> Duration {
    let started = Instant::now();
    loop {
        *seq += 1;
        let id = format!("ch-{}-{seq}", app.grpc_addr.unwrap().port());
        let code = match app.submit(token, distinct_petition(&id, *seq)).await {
            Ok(_) => Code::Ok,
            Err(status) => status.code(),
        };
        if code == expected {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "still {code:?} instead of {expected:?} after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn admin_changes_reach_every_gateway_within_a_second() {
    let server = NatsServer::start();
    let a = spawn_app_with(&server.url(), &[Role::Gateway], |_| {}).await;
    let b = spawn_app_with(&server.url(), &[Role::Gateway], |_| {}).await;
    let mut seq = 0;

    // Created on A: its token works on A at once and on B within a second.
    let created = create(&a, "mini-probe", 0).await;
    assert!(created.token.starts_with("mhc_"));
    let channel = created.channel.unwrap();
    assert_eq!(channel.status, ChannelStatus::Active as i32);
    assert_eq!(channel.tokens.len(), 1);
    a.submit(&created.token, distinct_petition("mini-1", 1))
        .await
        .expect("the new token works on the gateway that created it");
    until_code(&b, &created.token, Code::Ok, PROPAGATION, &mut seq).await;

    // Suspended: refused as suspended on both, not as an unknown token.
    let suspended = admin(&b)
        .await
        .suspend_channel(authorized(
            ADMIN_TOKEN,
            SuspendChannelRequest {
                channel_id: "mini-probe".into(),
                reason: "leaked token under investigation".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(suspended.status, ChannelStatus::Suspended as i32);
    until_code(
        &a,
        &created.token,
        Code::PermissionDenied,
        PROPAGATION,
        &mut seq,
    )
    .await;
    let refused = b
        .submit(&created.token, distinct_petition("mini-2", 2))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert_eq!(refused.message(), "channel suspended");

    // Resumed: accepted again on both.
    admin(&a)
        .await
        .resume_channel(authorized(
            ADMIN_TOKEN,
            ResumeChannelRequest {
                channel_id: "mini-probe".into(),
            },
        ))
        .await
        .unwrap();
    until_code(&b, &created.token, Code::Ok, PROPAGATION, &mut seq).await;
    until_code(&a, &created.token, Code::Ok, PROPAGATION, &mut seq).await;

    // An update of the rate is in force on the other gateway too.
    let updated = admin(&a)
        .await
        .update_channel(authorized(
            ADMIN_TOKEN,
            UpdateChannelRequest {
                channel_id: "mini-probe".into(),
                rate_per_second: 1,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((updated.rate_per_second, updated.burst), (1, 1));
    until_code(
        &b,
        &created.token,
        Code::ResourceExhausted,
        PROPAGATION,
        &mut seq,
    )
    .await;
    a.stop().await.unwrap();
    b.stop().await.unwrap();
}

#[tokio::test]
async fn a_rotated_token_overlaps_then_only_the_new_one_works() {
    let server = NatsServer::start();
    let a = spawn_app_with(&server.url(), &[Role::Gateway], |_| {}).await;
    let b = spawn_app_with(&server.url(), &[Role::Gateway], |_| {}).await;
    let mut seq = 0;
    let old = create(&a, "rotating", 0).await.token;
    until_code(&b, &old, Code::Ok, PROPAGATION, &mut seq).await;

    let rotated = admin(&a)
        .await
        .rotate_token(authorized(
            ADMIN_TOKEN,
            RotateTokenRequest {
                channel_id: "rotating".into(),
                overlap_seconds: Some(3),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let new = rotated.token;
    assert_ne!(new, old);
    assert_eq!(rotated.channel.unwrap().tokens.len(), 2);
    // The new token on the other gateway within a second; the old one still works.
    until_code(&b, &new, Code::Ok, PROPAGATION, &mut seq).await;
    for app in [&a, &b] {
        until_code(app, &old, Code::Ok, Duration::ZERO, &mut seq).await;
    }
    // After the overlap only the new one.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for app in [&a, &b] {
        let refused = app
            .submit(&old, distinct_petition("after-overlap", 9_000))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
        until_code(app, &new, Code::Ok, Duration::ZERO, &mut seq).await;
    }
    let listed = admin(&b)
        .await
        .get_channel(authorized(
            ADMIN_TOKEN,
            GetChannelRequest {
                channel_id: "rotating".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.tokens.len(), 1, "the expired token is not shown");

    // Overlap 0 revokes at once.
    let newest = admin(&b)
        .await
        .rotate_token(authorized(
            ADMIN_TOKEN,
            RotateTokenRequest {
                channel_id: "rotating".into(),
                overlap_seconds: Some(0),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .token;
    until_code(&a, &new, Code::Unauthenticated, PROPAGATION, &mut seq).await;
    until_code(&a, &newest, Code::Ok, Duration::ZERO, &mut seq).await;
    a.stop().await.unwrap();
    b.stop().await.unwrap();
}

#[tokio::test]
async fn admin_needs_its_token_and_names_every_bad_field() {
    let server = NatsServer::start();
    let app = spawn_app_with(&server.url(), &[Role::Gateway], |_| {}).await;
    let mut client = admin(&app).await;
    let list = ListChannelsRequest::default();
    for token in ["wrong-admin-token", WEB_TOKEN] {
        let refused = client
            .list_channels(authorized(token, list.clone()))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::Unauthenticated);
    }
    let refused = client
        .list_channels(tonic::Request::new(list.clone()))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);

    let refused = client
        .create_channel(authorized(
            ADMIN_TOKEN,
            CreateChannelRequest {
                channel_id: "bad id!".into(),
                name: String::new(),
                kind: 0,
                division_code: "33".into(),
                rate_per_second: 10,
                burst: 5,
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    let fields: Vec<_> = refused
        .get_details_bad_request()
        .expect("field violations")
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(
        fields,
        ["channel_id", "name", "kind", "division_code", "burst"]
    );

    let refused = client
        .create_channel(authorized(
            ADMIN_TOKEN,
            CreateChannelRequest {
                channel_id: "web-portal".into(),
                name: "again".into(),
                kind: ChannelKind::Web as i32,
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::AlreadyExists);
    let refused = client
        .suspend_channel(authorized(
            ADMIN_TOKEN,
            SuspendChannelRequest {
                channel_id: "nobody".into(),
                reason: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::NotFound);
    let refused = client
        .rotate_token(authorized(
            ADMIN_TOKEN,
            RotateTokenRequest {
                channel_id: "web-portal".into(),
                overlap_seconds: Some(90 * 24 * 3600),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);

    // The configured channels are listed, a page at a time, without any token material.
    let first = client
        .list_channels(authorized(
            ADMIN_TOKEN,
            ListChannelsRequest {
                page_size: 1,
                page_token: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.channels[0].channel_id, "hotline-12345");
    assert_eq!(first.channels[0].kind, ChannelKind::Hotline as i32);
    let second = client
        .list_channels(authorized(
            ADMIN_TOKEN,
            ListChannelsRequest {
                page_size: 1,
                page_token: first.next_page_token,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.channels[0].channel_id, "web-portal");
    assert_eq!(second.channels[0].division_code, "330726");
    assert!(second.next_page_token.is_empty());
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_restart_keeps_what_the_admins_changed() {
    let server = NatsServer::start();
    let app = spawn_app_with(&server.url(), &[Role::Gateway], |_| {}).await;
    let mut seq = 0;
    let token = create(&app, "kept", 0).await.token;
    admin(&app)
        .await
        .suspend_channel(authorized(
            ADMIN_TOKEN,
            SuspendChannelRequest {
                channel_id: "web-portal".into(),
                reason: "moving to the new portal".into(),
            },
        ))
        .await
        .unwrap();
    app.stop().await.unwrap();

    // The configured web-portal seeds nothing over the suspended entry.
    let app = spawn_app_with(&server.url(), &[Role::Gateway], |_| {}).await;
    let refused = app
        .submit(WEB_TOKEN, distinct_petition("after-restart", 1))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    until_code(&app, &token, Code::Ok, Duration::ZERO, &mut seq).await;
    until_code(
        &app,
        minhu_e2e::HOTLINE_TOKEN,
        Code::Ok,
        Duration::ZERO,
        &mut seq,
    )
    .await;
    app.stop().await.unwrap();
}

#[tokio::test]
async fn queue_health_lists_every_channel_with_its_rejections_and_rate_limit_hits() {
    let server = NatsServer::start();
    let app = spawn_app_with(&server.url(), &WITHOUT_CLOCK, |_| {}).await;
    let idle = create(&app, "idle-mailbox", 0).await;
    let limited = create(&app, "limited-app", 1).await.token;
    app.submit(&limited, distinct_petition("lim-1", 1))
        .await
        .unwrap();
    let refused = app
        .submit(&limited, distinct_petition("lim-2", 2))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut bad = distinct_petition("lim-3", 3);
    bad.body.clear();
    let refused = app.submit(&limited, bad).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);

    let addr = app.grpc_addr.unwrap();
    let mut ops = OpsServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let health = loop {
        let health = ops
            .queue_health(authorized(
                "demo-ops-token",
                QueueHealthRequest { top_units: 1 },
            ))
            .await
            .unwrap()
            .into_inner();
        let limited = health
            .channels
            .iter()
            .find(|c| c.channel_id == "limited-app");
        if limited.is_some_and(|c| c.rejections.get("invalid") == Some(&1)) {
            break health;
        }
        assert!(Instant::now() < deadline, "{health:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let ids: Vec<_> = health
        .channels
        .iter()
        .map(|c| c.channel_id.as_str())
        .collect();
    assert_eq!(
        ids,
        ["hotline-12345", "idle-mailbox", "limited-app", "web-portal"]
    );
    let idle_health = &health.channels[1];
    assert_eq!(idle_health.kind, ChannelKind::MiniProgram as i32);
    assert_eq!(idle_health.status, ChannelStatus::Active as i32);
    assert_eq!(idle_health.name, idle.channel.unwrap().name);
    assert_eq!(idle_health.submissions, 0);
    assert!(idle_health.last_accepted_at.is_none());
    let limited_health = &health.channels[2];
    assert_eq!(limited_health.submissions, 1);
    assert_eq!(limited_health.rate_limited, 1);
    assert_eq!(limited_health.rejections["rate_limited"], 1);
    assert!(limited_health.last_accepted_at.is_some());

    let metrics = app.metrics().await;
    assert!(
        metrics.contains("minhu_channel_active{channel=\"idle-mailbox\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("minhu_channel_last_accepted_timestamp_seconds{channel=\"limited-app\"}")
    );
    assert!(metrics.contains(
        "minhu_intake_requests_total{channel=\"limited-app\",outcome=\"rate_limited\"} 1"
    ));
    app.stop().await.unwrap();
}

/// Province scale in small: 200 channels, tokens rotated while 20 of them submit without a
/// pause. No submission fails because of a rotation; each new token works on the other gateway
/// within a second; each old one until its overlap ends.
#[tokio::test]
async fn rotations_during_a_load_lose_no_submission() {
    let server = NatsServer::start();
    let a = spawn_app_with(&server.url(), &[Role::Gateway], |_| {}).await;
    let b = spawn_app_with(&server.url(), &[Role::Gateway], |_| {}).await;
    let mut tokens = Vec::new();
    for n in 0..200 {
        tokens.push(create(&a, &format!("scale-{n:03}"), 0).await.token);
    }
    let (current, _) = tokio::sync::watch::channel(tokens[..20].to_vec());
    let current = std::sync::Arc::new(current);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut submitters = tokio::task::JoinSet::new();
    for n in 0..20usize {
        let (tokens, stop) = (current.subscribe(), stop.clone());
        let client = b.client().await;
        submitters.spawn(async move {
            let mut client = client;
            let (mut ok, mut failed) = (0u32, Vec::new());
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                i += 1;
                let token = tokens.borrow()[n].clone();
                let petition = distinct_petition(&format!("scale-{n}-{i}"), i * 1000 + n as u64);
                match client
                    .submit(authorized(
                        &token,
                        minhu_contracts::v1::SubmitRequest {
                            petition: Some(petition),
                        },
                    ))
                    .await
                {
                    Ok(_) => ok += 1,
                    Err(status) => failed.push(status),
                }
            }
            (ok, failed)
        });
    }
    let mut seq = 0;
    for round in 0..10usize {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let n = round * 2;
        let rotated = admin(&a)
            .await
            .rotate_token(authorized(
                ADMIN_TOKEN,
                RotateTokenRequest {
                    channel_id: format!("scale-{n:03}"),
                    overlap_seconds: Some(5),
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .token;
        let took = until_code(&b, &rotated, Code::Ok, PROPAGATION, &mut seq).await;
        assert!(took < PROPAGATION, "{took:?}");
        // The submitter of that channel moves to the new token; the old one still works.
        current.send_modify(|t| t[n] = rotated);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut ok, mut failed) = (0, Vec::new());
    while let Some(done) = submitters.join_next().await {
        let (o, f) = done.unwrap();
        ok += o;
        failed.extend(f);
    }
    assert!(
        failed.is_empty(),
        "{} failed: {:?}",
        failed.len(),
        failed.first()
    );
    assert!(ok > 100, "{ok} submissions");
    a.stop().await.unwrap();
    b.stop().await.unwrap();
}

/// Admins changing one channel at once (through two gateways) never lose a change: each write
/// is a compare-and-set on the entry's revision, applied again to what the other wrote.
#[tokio::test]
async fn concurrent_admin_changes_are_all_kept() {
    let server = NatsServer::start();
    let a = spawn_app_with(&server.url(), &[Role::Gateway], |_| {}).await;
    let b = spawn_app_with(&server.url(), &[Role::Gateway], |_| {}).await;
    create(&a, "contended", 0).await;
    let (mut on_a, mut on_b, mut also_a) = (admin(&a).await, admin(&b).await, admin(&a).await);
    let update = |rate: u32, owner: &str| {
        authorized(
            ADMIN_TOKEN,
            UpdateChannelRequest {
                channel_id: "contended".into(),
                rate_per_second: rate,
                owner: owner.into(),
                ..Default::default()
            },
        )
    };
    let (owner, rate, suspended) = tokio::join!(
        on_a.update_channel(update(0, "县政务服务中心")),
        on_b.update_channel(update(7, "")),
        also_a.suspend_channel(authorized(
            ADMIN_TOKEN,
            SuspendChannelRequest {
                channel_id: "contended".into(),
                reason: "audit".into(),
            },
        )),
    );
    owner.unwrap();
    rate.unwrap();
    suspended.unwrap();
    let channel = admin(&b)
        .await
        .get_channel(authorized(
            ADMIN_TOKEN,
            GetChannelRequest {
                channel_id: "contended".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(channel.owner, "县政务服务中心");
    assert_eq!(channel.rate_per_second, 7);
    assert_eq!(channel.status, ChannelStatus::Suspended as i32);
    a.stop().await.unwrap();
    b.stop().await.unwrap();
}

/// A SubmitStream stays open across a suspension: the items after it are refused, each with
/// the reason, and the stream itself goes on answering.
#[tokio::test]
async fn a_suspension_refuses_the_next_items_of_an_open_stream() {
    use minhu_contracts::v1::intake_service_client::IntakeServiceClient;
    use minhu_contracts::v1::{SubmitRequest, submit_stream_response};

    let server = NatsServer::start();
    let app = spawn_app_with(&server.url(), &[Role::Gateway], |_| {}).await;
    let created = create(&app, "mini-stream", 0).await;
    let (items, queued) = tokio::sync::mpsc::channel::<SubmitRequest>(4);
    let item = |n: u64| SubmitRequest {
        petition: Some(distinct_petition(&format!("stream-{n}"), n)),
    };
    // A client with a backlog: its first item is waiting when the stream opens.
    items.send(item(1)).await.unwrap();
    let mut client = IntakeServiceClient::connect(format!("http://{}", app.grpc_addr.unwrap()))
        .await
        .unwrap();
    let mut answers = client
        .submit_stream(authorized(
            &created.token,
            tokio_stream::wrappers::ReceiverStream::new(queued),
        ))
        .await
        .unwrap()
        .into_inner();
    let first = answers.message().await.unwrap().expect("an answer");
    assert!(matches!(
        first.result,
        Some(submit_stream_response::Result::Receipt(_))
    ));
    let mut send = async |n: u64| {
        items.send(item(n)).await.unwrap();
        answers
            .message()
            .await
            .unwrap()
            .expect("an answer")
            .result
            .unwrap()
    };

    admin(&app)
        .await
        .suspend_channel(authorized(
            ADMIN_TOKEN,
            SuspendChannelRequest {
                channel_id: "mini-stream".into(),
                reason: "leaked token under investigation".into(),
            },
        ))
        .await
        .unwrap();
    let started = Instant::now();
    let mut n = 2;
    let refused = loop {
        match send(n).await {
            submit_stream_response::Result::Error(e) => break e,
            submit_stream_response::Result::Receipt(_) => {
                assert!(started.elapsed() < PROPAGATION, "items still accepted");
                n += 1;
            }
        }
    };
    assert_eq!(
        (refused.code, refused.message.as_str()),
        (Code::PermissionDenied as i32, "channel suspended")
    );
    // The stream ends with its items: a graceful stop waits for open streams.
    drop(items);
    drop(answers);
    app.stop().await.unwrap();
}
