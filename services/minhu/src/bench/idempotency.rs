//! `minhu bench idempotency`: measures the two ways to make a submission idempotent forever, on
//! the same server in the same run, so the choice in the gateway rests on figures:
//!
//! - `subject_cas`: one publish per submission on its own subject with an expected last subject
//!   sequence of 0 (what the gateway does);
//! - `kv_then_publish`: a KV `create` of the idempotency key, then the publish (two round trips,
//!   and a window where the key exists but the petition does not).
//!
//! Both run with the same payload size and the same number of submissions in flight.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::Context;
use async_nats::jetstream::{self, kv, message::PublishMessage, stream};
use bytes::Bytes;
use futures::StreamExt;

use super::BenchNats;

pub struct IdempotencyBench {
    pub nats_url: Option<String>,
    pub submissions: u64,
    pub concurrency: usize,
    pub payload_bytes: usize,
}

impl IdempotencyBench {
    pub async fn run(self) -> anyhow::Result<()> {
        let nats = BenchNats::start(self.nats_url.clone()).await?;
        let client = async_nats::connect(nats.url()).await.context("connect")?;
        let js = jetstream::new(client);
        let payload = Bytes::from(vec![b'x'; self.payload_bytes]);

        // Each runs twice, alternating, and the better run counts: drift on a noisy machine
        // then hits both alike, and the first run of each also warms the server up.
        let mut cas: f64 = 0.0;
        let mut kv: f64 = 0.0;
        for _ in 0..2 {
            cas = cas.max(self.subject_cas(&js, &payload).await?);
            kv = kv.max(self.kv_then_publish(&js, &payload).await?);
        }
        nats.stop().await;
        println!(
            "submissions={} concurrency={} payload_bytes={}",
            self.submissions, self.concurrency, self.payload_bytes
        );
        println!(
            "subject_cas_per_s={:.0} kv_then_publish_per_s={:.0} ratio={:.2}",
            cas,
            kv,
            cas / kv
        );
        Ok(())
    }

    async fn fresh_stream(&self, js: &jetstream::Context, name: &str) -> anyhow::Result<()> {
        let _ = js.delete_stream(name).await;
        js.create_stream(stream::Config {
            name: name.to_owned(),
            subjects: vec![format!("{}.>", name.to_lowercase())],
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await?;
        Ok(())
    }

    async fn subject_cas(&self, js: &jetstream::Context, payload: &Bytes) -> anyhow::Result<f64> {
        self.fresh_stream(js, "BENCH_CAS").await?;
        let conflicts = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        futures::stream::iter(0..self.submissions)
            .for_each_concurrent(self.concurrency, |i| {
                let js = js.clone();
                let payload = payload.clone();
                let conflicts = conflicts.clone();
                async move {
                    let publish = PublishMessage::build()
                        .payload(payload)
                        .expected_last_subject_sequence(0);
                    let acked = match js.send_publish(format!("bench_cas.{i}"), publish).await {
                        Ok(ack) => ack.await.is_ok(),
                        Err(_) => false,
                    };
                    if !acked {
                        conflicts.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
            .await;
        let rate = self.submissions as f64 / started.elapsed().as_secs_f64();
        anyhow::ensure!(
            conflicts.load(Ordering::Relaxed) == 0,
            "unexpected publish failures"
        );
        let _ = js.delete_stream("BENCH_CAS").await;
        Ok(rate)
    }

    async fn kv_then_publish(
        &self,
        js: &jetstream::Context,
        payload: &Bytes,
    ) -> anyhow::Result<f64> {
        self.fresh_stream(js, "BENCH_KVP").await?;
        let _ = js.delete_key_value("bench_keys").await;
        let keys = js
            .create_key_value(kv::Config {
                bucket: "bench_keys".into(),
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await?;
        let failures = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        futures::stream::iter(0..self.submissions)
            .for_each_concurrent(self.concurrency, |i| {
                let js = js.clone();
                let keys = keys.clone();
                let payload = payload.clone();
                let failures = failures.clone();
                async move {
                    let ok = keys
                        .create(format!("k{i}"), Bytes::from_static(b"1"))
                        .await
                        .is_ok()
                        && match js.publish(format!("bench_kvp.{i}"), payload).await {
                            Ok(ack) => ack.await.is_ok(),
                            Err(_) => false,
                        };
                    if !ok {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
            .await;
        let rate = self.submissions as f64 / started.elapsed().as_secs_f64();
        anyhow::ensure!(failures.load(Ordering::Relaxed) == 0, "unexpected failures");
        let _ = js.delete_stream("BENCH_KVP").await;
        let _ = js.delete_key_value("bench_keys").await;
        Ok(rate)
    }
}
