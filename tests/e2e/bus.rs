//! The bus primitives triage's guarantees rest on, against a real nats-server.

use std::time::Duration;

use minhu_core::bus::{AtomicWrite, Bus, kv_subject, write_all_or_none};
use minhu_e2e::NatsServer;

fn write(bus: &Bus, key: &str, value: &'static str, expected: Option<u64>) -> AtomicWrite {
    AtomicWrite {
        subject: kv_subject(&bus.dedup, key),
        payload: value.into(),
        expected_last_subject_sequence: expected,
    }
}

#[tokio::test]
async fn an_atomic_batch_is_written_whole_or_not_at_all() {
    let server = NatsServer::start();
    let client = async_nats::connect(server.url()).await.unwrap();
    let bus = Bus::provision(client, 1, Duration::from_secs(2))
        .await
        .unwrap();

    let fresh = vec![
        write(&bus, "doc.a", "doc of a", None),
        write(&bus, "band.1", "[\"a\"]", Some(0)),
        write(&bus, "band.2", "[\"a\"]", Some(0)),
    ];
    assert!(write_all_or_none(&bus.js, fresh).await.unwrap());
    let band_1 = bus.dedup.entry("band.1").await.unwrap().unwrap();
    assert_eq!(&band_1.value[..], b"[\"a\"]");
    assert!(bus.dedup.get("band.2").await.unwrap().is_some());

    // Another writer got to band.2 first: b's batch, read before that, must leave no trace.
    let band_2 = bus.dedup.entry("band.2").await.unwrap().unwrap();
    bus.dedup
        .update("band.2", "[\"a\",\"c\"]".into(), band_2.revision)
        .await
        .unwrap();
    let stale = vec![
        write(&bus, "doc.b", "doc of b", None),
        write(&bus, "band.1", "[\"a\",\"b\"]", Some(band_1.revision)),
        write(&bus, "band.2", "[\"a\",\"b\"]", Some(band_2.revision)),
        write(&bus, "band.3", "[\"b\"]", Some(0)),
    ];
    assert!(!write_all_or_none(&bus.js, stale).await.unwrap());
    assert!(bus.dedup.get("doc.b").await.unwrap().is_none());
    assert!(bus.dedup.get("band.3").await.unwrap().is_none());
    let band_1_after = bus.dedup.entry("band.1").await.unwrap().unwrap();
    assert_eq!(band_1_after.revision, band_1.revision);
    assert_eq!(
        &bus.dedup.get("band.2").await.unwrap().unwrap()[..],
        b"[\"a\",\"c\"]"
    );

    // Read again, the same batch goes through.
    let band_2 = bus.dedup.entry("band.2").await.unwrap().unwrap();
    let retried = vec![
        write(&bus, "doc.b", "doc of b", None),
        write(&bus, "band.1", "[\"a\",\"b\"]", Some(band_1.revision)),
        write(&bus, "band.2", "[\"a\",\"c\",\"b\"]", Some(band_2.revision)),
        write(&bus, "band.3", "[\"b\"]", Some(0)),
    ];
    assert!(write_all_or_none(&bus.js, retried).await.unwrap());
    assert!(bus.dedup.get("doc.b").await.unwrap().is_some());
    assert!(bus.dedup.get("band.3").await.unwrap().is_some());
}
