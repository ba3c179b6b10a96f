//! The bus primitives triage's guarantees rest on, against a real nats-server.

use std::time::Duration;

use minhu_core::bus::{Bus, kv_subject, last_messages};
use minhu_e2e::NatsServer;

#[tokio::test]
async fn one_batched_read_returns_the_last_entry_of_each_key_that_has_one() {
    let server = NatsServer::start();
    let client = async_nats::connect(server.url()).await.unwrap();
    let bus = Bus::provision(client, 1, Duration::from_secs(2))
        .await
        .unwrap();
    let timeout = Duration::from_secs(2);
    let subjects: Vec<String> = ["band.a", "band.b", "band.c"]
        .iter()
        .map(|k| kv_subject(&bus.dedup, k))
        .collect();

    let none = last_messages(&bus.client, &bus.dedup.stream_name, &subjects, timeout)
        .await
        .unwrap();
    assert!(none.is_empty());

    bus.dedup.put("band.a", "first".into()).await.unwrap();
    let a = bus.dedup.put("band.a", "second".into()).await.unwrap();
    let c = bus.dedup.put("band.c", "only".into()).await.unwrap();
    bus.dedup
        .put("band.other", "not asked".into())
        .await
        .unwrap();
    let found = last_messages(&bus.client, &bus.dedup.stream_name, &subjects, timeout)
        .await
        .unwrap();
    assert_eq!(found.len(), 2);
    let a_last = &found[&subjects[0]];
    assert_eq!((a_last.sequence, &a_last.payload[..]), (a, &b"second"[..]));
    let c_last = &found[&subjects[2]];
    assert_eq!((c_last.sequence, &c_last.payload[..]), (c, &b"only"[..]));
    // The revision read is the one a conditional write must name.
    bus.dedup
        .update("band.a", "third".into(), a_last.sequence)
        .await
        .unwrap();
}
