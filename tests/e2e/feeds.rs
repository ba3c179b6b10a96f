//! A unit system's feed over gRPC (`Subscribe`) while petitions keep arriving: however often
//! the connection drops, resuming from the last sequence seen + 1 gives every event once.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use futures::StreamExt;
use minhu_contracts::bus;
use minhu_contracts::v1::SubscribeRequest;
use minhu_contracts::v1::case_service_client::CaseServiceClient;
use minhu_e2e::{NatsServer, WEB_TOKEN, authorized, distinct_petition, spawn_app};

const HUANGZHAI: &str = "demo-unit-huangzhai";
const PETITIONS: u64 = 300;
const DISCONNECTS: usize = 100;

#[tokio::test]
async fn subscribe_resumes_without_gaps_or_repeats_across_100_disconnects_under_load() {
    let server = NatsServer::start();
    let app = spawn_app(&server.url()).await;
    let addr = format!("http://{}", app.grpc_addr.unwrap());

    // The load: petitions for 黄宅镇 arriving all along.
    let client = app.client().await;
    let load = tokio::spawn(async move {
        let mut client = client;
        for n in 0..PETITIONS {
            let p = distinct_petition(&format!("feed-{n}"), n);
            client
                .submit(authorized(
                    WEB_TOKEN,
                    minhu_contracts::v1::SubmitRequest { petition: Some(p) },
                ))
                .await
                .unwrap();
            if n % 3 == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    });

    let mut seen: Vec<(u64, String)> = Vec::new();
    let mut next = 0;
    let mut disconnects = 0;
    // Until the 100th disconnect: read 1 to 3 events on a fresh connection, then drop it.
    while disconnects < DISCONNECTS {
        let take = 1 + disconnects % 3;
        read_feed(&addr, &mut next, &mut seen, take).await;
        disconnects += 1;
    }
    load.await.unwrap();
    // Every case triaged; the clock still adds events (deadlines set) to the feed for a while:
    // read until the unit's feed on the bus stops growing, then compare.
    let mut stored = wait_stored(&app).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        while seen.len() < stored.len() {
            assert!(Instant::now() < deadline, "feed stalled at {}", seen.len());
            read_feed(&addr, &mut next, &mut seen, usize::MAX).await;
        }
        let now = unit_feed(&app).await;
        if now.len() == stored.len() {
            break;
        }
        assert!(Instant::now() < deadline, "the feed kept growing");
        stored = now;
    }

    assert_eq!(disconnects, DISCONNECTS);
    let sequences: Vec<u64> = seen.iter().map(|(s, _)| *s).collect();
    assert!(
        sequences.windows(2).all(|w| w[0] < w[1]),
        "sequences out of order or repeated"
    );
    let ids: HashSet<&str> = seen.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(ids.len(), seen.len(), "an event was delivered twice");
    // No gaps: exactly what the bus holds for the unit.
    assert_eq!(stored.len(), seen.len());
    println!(
        "events={} disconnects={} gaps=0 repeats=0",
        seen.len(),
        disconnects
    );
    app.stop().await.unwrap();
}

/// Reads up to `take` events of the unit's feed from `next` on one fresh connection (until the
/// feed is quiet for a second), then drops the connection.
async fn read_feed(addr: &str, next: &mut u64, seen: &mut Vec<(u64, String)>, take: usize) {
    let mut client = CaseServiceClient::connect(addr.to_owned()).await.unwrap();
    let mut stream = client
        .subscribe(authorized(
            HUANGZHAI,
            SubscribeRequest {
                from_sequence: *next,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let mut read = 0;
    while read < take {
        let Ok(Some(delivery)) = tokio::time::timeout(Duration::from_secs(1), stream.next()).await
        else {
            break;
        };
        let delivery = delivery.unwrap();
        seen.push((delivery.sequence, delivery.event.unwrap().event_id));
        *next = delivery.sequence + 1;
        read += 1;
    }
}

/// The unit's feed messages on the bus once triage has finished with every petition.
async fn wait_stored(app: &minhu_e2e::TestApp) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let messages = app.stream_messages(bus::INTAKE_STREAM).await.len();
        let cases = app.stream_messages(bus::CASE_EVENTS_STREAM).await;
        let decided = cases.iter().filter(|(s, _)| s.contains(".2.")).count();
        if messages as u64 == PETITIONS && decided as u64 == PETITIONS {
            return unit_feed(app).await;
        }
        assert!(Instant::now() < deadline, "triage did not finish");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The subjects of the unit's feed messages on the bus now.
async fn unit_feed(app: &minhu_e2e::TestApp) -> Vec<String> {
    app.stream_messages(bus::DISPATCH_STREAM)
        .await
        .into_iter()
        .map(|(subject, _)| subject)
        .filter(|s| s.starts_with("minhu.dispatch.pujiang-huangzhai."))
        .collect()
}
