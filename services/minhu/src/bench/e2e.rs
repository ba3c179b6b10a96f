//! `minhu bench e2e --rate R`: submits at a fixed rate with every role running and measures,
//! for each petition, the time from the start of its Submit call until its case is on the lead
//! unit's dispatch subject, as a unit system subscribed there sees it. A petition receipted but
//! never seen there is lost.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use minhu_contracts::v1::intake_service_client::IntakeServiceClient;
use minhu_contracts::v1::{SubmitRequest, UnitEvent, unit_event};
use prost::Message;
use tokio::sync::Mutex;
use tonic::Request;
use tonic::transport::Channel;

use super::text::{body_chars, petition};
use super::{BenchApp, BenchNats, quantile_ms};

const TOKEN: &str = "demo-web-portal-token";
/// How long dispatches may trail the last submit before the missing ones count as lost.
const DRAIN: Duration = Duration::from_secs(10);

pub struct E2eBench {
    pub nats_url: Option<String>,
    pub rate: u32,
    pub duration: Duration,
}

impl E2eBench {
    pub async fn run(self) -> anyhow::Result<()> {
        let nats = BenchNats::start(self.nats_url.clone()).await?;
        let app = BenchApp::start(&nats).await?;
        let addr = app.addr;

        // The unit system's view: every lead dispatch, with the instant it arrived.
        let subscriber = async_nats::connect(nats.url()).await?;
        let mut dispatches = subscriber.subscribe("minhu.dispatch.>").await?;
        subscriber.flush().await?;
        let arrived: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
        let watcher = {
            let arrived = arrived.clone();
            tokio::spawn(async move {
                while let Some(message) = dispatches.next().await {
                    let at = Instant::now();
                    if let Ok(UnitEvent {
                        event: Some(unit_event::Event::Assigned(case)),
                        ..
                    }) = UnitEvent::decode(message.payload)
                        && case.lead
                    {
                        arrived
                            .lock()
                            .await
                            .entry(case.tracking_number)
                            .or_insert(at);
                    }
                }
            })
        };

        let channel = Channel::from_shared(format!("http://{addr}"))?
            .connect()
            .await?;
        let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
        let run_id = time::OffsetDateTime::now_utc().unix_timestamp();
        let total = u64::from(self.rate) * self.duration.as_secs();
        let mut ticker = tokio::time::interval(Duration::from_secs(1) / self.rate);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let mut calls = Vec::with_capacity(total as usize);
        for n in 0..total {
            ticker.tick().await;
            let mut client = IntakeServiceClient::new(channel.clone());
            let sent = sent.clone();
            calls.push(tokio::spawn(async move {
                let mut request = Request::new(SubmitRequest {
                    petition: Some(petition(format!("e2e-{run_id}-{n}"), n, body_chars(n))),
                });
                request.metadata_mut().insert(
                    "authorization",
                    format!("Bearer {TOKEN}").parse().expect("ascii"),
                );
                let started = Instant::now();
                let receipt = client.submit(request).await?.into_inner().receipt;
                if let Some(receipt) = receipt {
                    sent.lock().await.insert(receipt.tracking_number, started);
                }
                Ok::<_, tonic::Status>(())
            }));
        }
        let mut refused = 0u64;
        for call in calls {
            if call.await?.is_err() {
                refused += 1;
            }
        }

        let drain_until = Instant::now() + DRAIN;
        loop {
            let missing = {
                let sent = sent.lock().await;
                let arrived = arrived.lock().await;
                sent.keys().filter(|t| !arrived.contains_key(*t)).count()
            };
            if missing == 0 || Instant::now() > drain_until {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        watcher.abort();
        app.stop().await?;
        nats.stop().await;

        let sent = sent.lock().await;
        let arrived = arrived.lock().await;
        let mut latencies: Vec<Duration> = sent
            .iter()
            .filter_map(|(t, s)| arrived.get(t).map(|a| a.saturating_duration_since(*s)))
            .collect();
        let lost = sent.len() - latencies.len();
        println!(
            "submitted={total} receipted={} refused={refused} dispatched={}",
            sent.len(),
            latencies.len()
        );
        println!(
            "rate={} p50_ms={:.2} p99_ms={:.2} lost={lost}",
            self.rate,
            quantile_ms(&mut latencies, 0.50),
            quantile_ms(&mut latencies, 0.99)
        );
        Ok(())
    }
}
