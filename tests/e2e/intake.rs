//! The intake path as a channel and a unit system see it.

use std::time::{Duration, Instant};

use futures::StreamExt;
use minhu_contracts::bus;
use minhu_contracts::v1::{CaseStatus, IntakeRecord, SubmitRequest, submit_stream_response};
use minhu_e2e::{
    HOTLINE_TOKEN, NatsServer, WEB_TOKEN, assigned_case, authorized, petition, spawn_app,
};
use prost::Message;
use tonic::Code;

#[tokio::test]
async fn a_petition_is_receipted_dispatched_to_its_unit_and_tracked() {
    let server = NatsServer::start();
    let app = spawn_app(&server.url()).await;
    // A unit system subscribes to its own cases before anything is submitted.
    let mut unit_feed = app
        .nats
        .subscribe(bus::unit_dispatch_filter("pujiang-huangzhai"))
        .await
        .unwrap();
    app.nats.flush().await.unwrap();

    let submitted = Instant::now();
    let receipt = app.submit(WEB_TOKEN, petition("web-1")).await.unwrap();
    assert!(receipt.tracking_number.starts_with("MH"));
    assert_eq!(receipt.query_code.len(), 12);
    assert!(!receipt.replayed);

    let message = tokio::time::timeout(Duration::from_secs(5), unit_feed.next())
        .await
        .expect("the unit receives its case")
        .unwrap();
    let latency = submitted.elapsed();
    println!("submit → unit subject: {latency:?}");
    assert!(latency < Duration::from_secs(1), "took {latency:?}");
    let case = assigned_case(&message.payload);
    assert_eq!(case.tracking_number, receipt.tracking_number);
    assert_eq!(case.channel_id, "web-portal");
    assert!(case.lead);
    assert!(case.petitioner_identified);
    assert_eq!(case.classification.unwrap().category, "城乡建设");
    let route = case.route.unwrap();
    assert_eq!(route.lead_unit_id, "pujiang-huangzhai");
    assert_eq!(route.catalogue_version, "pujiang-demo-2026.1");
    assert_eq!(route.rule_id, "huangzhai-construction");
    assert_eq!(case.deadlines.len(), 2);
    // No personal data on the bus in clear text: not in the dispatch, not in the archive.
    for secret in ["王某某", "13812345678", "11010519491231002X", "3幢"] {
        assert!(!String::from_utf8_lossy(&message.payload).contains(secret));
    }
    let archive = app.stream_messages(bus::INTAKE_STREAM).await;
    assert_eq!(archive.len(), 1);
    for secret in ["王某某", "13812345678", "11010519491231002X", "3幢"] {
        assert!(!String::from_utf8_lossy(&archive[0].1).contains(secret));
    }
    let record = IntakeRecord::decode(archive[0].1.clone()).unwrap();
    assert!(record.sealed_petitioner.is_some());
    assert_eq!(record.petitioner_key.len(), 64);

    // The assisting unit gets its copy on its own subject.
    let dispatches = app.stream_messages(bus::DISPATCH_STREAM).await;
    let subjects: Vec<_> = dispatches.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        subjects,
        [
            bus::dispatch_subject("pujiang-huangzhai", &receipt.tracking_number, 2),
            bus::dispatch_subject("pujiang-housing", &receipt.tracking_number, 2),
        ]
    );

    app.wait_for_case(&receipt.tracking_number).await;
    let tracked = app.track(&receipt).await.unwrap();
    assert_eq!(tracked.status, CaseStatus::Dispatched as i32);
    assert_eq!(tracked.category, "城乡建设");
    let unit = tracked.unit.unwrap();
    assert_eq!(unit.id, "pujiang-huangzhai");
    assert_eq!(unit.name, "黄宅镇人民政府");
    assert_eq!(tracked.deadlines.len(), 2);
    let statuses: Vec<_> = tracked.history.iter().map(|h| h.status).collect();
    assert_eq!(
        statuses,
        [CaseStatus::Received as i32, CaseStatus::Dispatched as i32]
    );

    let mut wrong = receipt.clone();
    wrong.query_code = "ABCDEFGHJKLM".into();
    assert_eq!(app.track(&wrong).await.unwrap_err().code(), Code::NotFound);
    let mut unknown = receipt.clone();
    unknown.tracking_number = "MH20260101-9999999".into();
    assert_eq!(
        app.track(&unknown).await.unwrap_err().code(),
        Code::NotFound
    );

    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_retry_returns_the_original_receipt_and_creates_no_second_case() {
    let server = NatsServer::start();
    let app = spawn_app(&server.url()).await;
    let first = app.submit(WEB_TOKEN, petition("web-retry")).await.unwrap();
    app.wait_for_case(&first.tracking_number).await;
    let again = app.submit(WEB_TOKEN, petition("web-retry")).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.tracking_number, first.tracking_number);
    assert_eq!(again.query_code, first.query_code);
    assert_eq!(again.accepted_at, first.accepted_at);

    // The same id from another channel is another petition.
    let other = app
        .submit(HOTLINE_TOKEN, petition("web-retry"))
        .await
        .unwrap();
    assert!(!other.replayed);
    assert_ne!(other.tracking_number, first.tracking_number);

    assert_eq!(app.stream_messages(bus::INTAKE_STREAM).await.len(), 2);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn fifty_concurrent_retries_agree_on_one_receipt_and_one_case() {
    let server = NatsServer::start();
    let app = spawn_app(&server.url()).await;
    let attempts =
        futures::future::join_all((0..50).map(|_| app.submit(WEB_TOKEN, petition("web-burst"))))
            .await;
    let receipts: Vec<_> = attempts.into_iter().map(Result::unwrap).collect();
    let first = &receipts[0];
    for r in &receipts {
        assert_eq!(r.tracking_number, first.tracking_number);
        assert_eq!(r.query_code, first.query_code);
        assert_eq!(r.accepted_at, first.accepted_at);
    }
    let originals = receipts.iter().filter(|r| !r.replayed).count();
    assert_eq!(originals, 1, "exactly one call stored the petition");

    app.wait_for_case(&first.tracking_number).await;
    assert_eq!(app.stream_messages(bus::INTAKE_STREAM).await.len(), 1);
    let lead_dispatches = app
        .stream_messages(bus::DISPATCH_STREAM)
        .await
        .into_iter()
        .filter(|(s, _)| s.starts_with("minhu.dispatch.pujiang-huangzhai."))
        // The assignment (event 2); the clock's deadlines follow as updates.
        .filter(|(s, _)| s.ends_with(".2"))
        .count();
    assert_eq!(lead_dispatches, 1);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn the_same_id_with_a_different_petition_is_refused_not_merged() {
    let server = NatsServer::start();
    let app = spawn_app(&server.url()).await;
    app.submit(WEB_TOKEN, petition("web-reuse")).await.unwrap();
    let mut changed = petition("web-reuse");
    changed.body.push_str("补充：情况更严重了。");
    let err = app.submit(WEB_TOKEN, changed).await.unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    assert!(err.message().contains("web-reuse"), "{}", err.message());
    assert_eq!(app.stream_messages(bus::INTAKE_STREAM).await.len(), 1);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_repeat_from_the_same_petitioner_is_linked_not_dispatched_again() {
    let server = NatsServer::start();
    let app = spawn_app(&server.url()).await;
    let original = app.submit(WEB_TOKEN, petition("web-orig")).await.unwrap();
    app.wait_for_case(&original.tracking_number).await;

    // Same person (same ID number), same text with different line breaks, via the hotline.
    let mut repeat = petition("hotline-7");
    repeat.body = repeat.body.replace('，', "，\n");
    repeat.petitioner.as_mut().unwrap().name = "王先生".into();
    let receipt = app.submit(HOTLINE_TOKEN, repeat).await.unwrap();
    assert_ne!(receipt.tracking_number, original.tracking_number);
    let view = app.wait_for_case(&receipt.tracking_number).await;
    assert_eq!(view.status, CaseStatus::Duplicate as i32);

    let tracked = app.track(&receipt).await.unwrap();
    assert_eq!(tracked.status, CaseStatus::Duplicate as i32);
    assert_eq!(tracked.duplicate_of, original.tracking_number);
    assert_eq!(tracked.original_status, CaseStatus::Dispatched as i32);

    let dispatched_cases: Vec<_> = app
        .stream_messages(bus::DISPATCH_STREAM)
        .await
        .into_iter()
        .filter(|(s, _)| s.contains(&receipt.tracking_number))
        .collect();
    assert!(dispatched_cases.is_empty(), "a repeat is not dispatched");
    let original_view = app.wait_for_case(&original.tracking_number).await;
    assert_eq!(
        original_view.duplicates,
        vec![receipt.tracking_number.clone()]
    );

    // Another person with the same matter is not a repeat: the petitions are merged (并单)
    // and the original carries the matter for both.
    let mut neighbour = petition("web-neighbour");
    neighbour.petitioner.as_mut().unwrap().id_number = String::new();
    neighbour.petitioner.as_mut().unwrap().phone = "13900000000".into();
    neighbour.body = format!("您好！{}谢谢。", neighbour.body.replace('，', ","));
    let receipt = app.submit(WEB_TOKEN, neighbour).await.unwrap();
    let view = app.wait_for_case(&receipt.tracking_number).await;
    assert_eq!(view.status, CaseStatus::Merged as i32);
    assert_eq!(view.cluster_lead, original.tracking_number);
    assert!(view.dedup.as_ref().unwrap().jaccard > 0.4);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let lead = app.wait_for_case(&original.tracking_number).await;
        if lead
            .cluster_members
            .iter()
            .any(|m| m.case_id == receipt.tracking_number)
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "member never joined the lead"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.stop().await.unwrap();
}

#[tokio::test]
async fn submit_stream_answers_every_item_in_order_with_its_own_result() {
    let server = NatsServer::start();
    let app = spawn_app(&server.url()).await;
    let mut invalid = petition("bulk-2");
    invalid.body.clear();
    let items = vec![
        petition("bulk-1"),
        invalid,
        petition("bulk-3"),
        petition("bulk-1"),
    ];
    let requests = futures::stream::iter(
        items
            .into_iter()
            .map(|p| SubmitRequest { petition: Some(p) }),
    );
    let mut client = app.client().await;
    let mut answers = client
        .submit_stream(authorized(HOTLINE_TOKEN, requests))
        .await
        .unwrap()
        .into_inner();
    let mut results = Vec::new();
    while let Some(answer) = answers.next().await {
        results.push(answer.unwrap());
    }
    let ids: Vec<_> = results
        .iter()
        .map(|r| r.channel_message_id.as_str())
        .collect();
    assert_eq!(ids, ["bulk-1", "bulk-2", "bulk-3", "bulk-1"]);
    let receipt = |i: usize| match results[i].result.clone().unwrap() {
        submit_stream_response::Result::Receipt(r) => r,
        other => panic!("item {i}: {other:?}"),
    };
    match results[1].result.clone().unwrap() {
        submit_stream_response::Result::Error(e) => {
            assert_eq!(e.code, Code::InvalidArgument as i32);
            assert_eq!(e.field_violations[0].field, "petition.body");
        }
        other => panic!("item 1: {other:?}"),
    }
    assert!(!receipt(0).replayed && !receipt(2).replayed);
    assert!(receipt(3).replayed);
    assert_eq!(receipt(3).tracking_number, receipt(0).tracking_number);
    assert_eq!(app.stream_messages(bus::INTAKE_STREAM).await.len(), 2);
    app.stop().await.unwrap();
}
