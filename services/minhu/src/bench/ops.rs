//! `minhu bench ops`: QueueHealth at the scale. Writes dispatched-case events for
//! thousands of units into `MINHU_CASE_EVENTS`, lets a real ops role replay them into its unit
//! board, then times real gRPC `QueueHealth` calls against it, with the gateway and triage
//! roles running so there are consumers and channel figures to report as in production. The
//! board's own per-call work (the per-unit figures) is timed alone on the same events, so the
//! split between the board and the bus reads is visible.

use std::time::{Duration, Instant};

use async_nats::jetstream;
use futures::StreamExt;
use minhu_contracts::bus;
use minhu_contracts::v1::ops_service_client::OpsServiceClient;
use minhu_contracts::v1::{
    CaseEvent, Dispatched, QueueHealthRequest, QueueHealthResponse, SignedFor, case_event,
};
use minhu_core::config::Settings;
use minhu_core::deadlines::timestamp;
use minhu_ops::projection::UnitBoard;
use prost::Message;
use time::OffsetDateTime;
use tonic::Request;
use tonic::transport::Channel;

use super::{BenchNats, quantile_ms};
use crate::{App, Role};

const OPS_TOKEN: &str = "demo-ops-token";
/// Publishes in flight while loading the events.
const PUBLISH_WINDOW: usize = 512;
/// How long the ops role may take to replay the events before the bench gives up.
const REPLAY_TIMEOUT: Duration = Duration::from_secs(300);

pub struct OpsBench {
    pub nats_url: Option<String>,
    pub units: u32,
    pub cases: u64,
    /// Timed QueueHealth calls.
    pub calls: usize,
}

impl OpsBench {
    pub async fn run(self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.units > 0 && self.cases > 0 && self.calls > 0,
            "units, cases and calls must be positive"
        );
        let nats = BenchNats::start(self.nats_url.clone()).await?;
        let mut settings = Settings::defaults();
        settings.gateway.listen = "127.0.0.1:0".parse()?;
        settings.ops.metrics_listen = None;
        let roles = [Role::Gateway, Role::Triage, Role::Ops];
        // Built before the load so the streams exist; the board starts replaying when it runs.
        let app = App::build(settings, nats.url(), &roles).await?;
        let addr = app.grpc_addr().expect("the ops role serves gRPC");
        let js = app.bus().js.clone();

        let events = self.events(OffsetDateTime::now_utc());
        let started = Instant::now();
        publish(&js, &events).await?;
        let load_s = started.elapsed().as_secs_f64();

        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(app.run_until_stopped(async {
            let _ = stopped.await;
        }));
        let channel = Channel::from_shared(format!("http://{addr}"))?
            .connect()
            .await?;
        let mut client = OpsServiceClient::new(channel).max_decoding_message_size(64 << 20);

        let started = Instant::now();
        let every_unit = self.wait_replayed(&mut client).await?;
        let replay_s = started.elapsed().as_secs_f64();
        let open_cases: u64 = every_unit.units.iter().map(|u| u.open).sum();
        let unsigned: u64 = every_unit.units.iter().map(|u| u.unsigned).sum();
        let overdue: u64 = every_unit.units.iter().map(|u| u.overdue).sum();

        let mut samples = Vec::with_capacity(self.calls);
        for _ in 0..self.calls {
            let started = Instant::now();
            queue_health(&mut client, 0).await?;
            samples.push(started.elapsed());
        }
        let _ = stop.send(());
        running.await??;
        nats.stop().await;

        let board_ms = board_figures_ms(&events, self.calls.min(50));

        println!(
            "events={} load_s={load_s:.1} replay_s={replay_s:.1} unsigned={unsigned} overdue={overdue}",
            events.len()
        );
        println!(
            "board_figures_p50_ms={:.2} queue_health_top_units=20 calls={}",
            board_ms, self.calls
        );
        println!(
            "queue_health_p50_ms={:.2} p99_ms={:.2} units={} open_cases={open_cases}",
            quantile_ms(&mut samples, 0.50),
            quantile_ms(&mut samples, 0.99),
            every_unit.units.len(),
        );
        Ok(())
    }

    /// One dispatched event per case over the last 30 days, skewed so a few units carry many
    /// cases as in a real county; a fifth of the cases also signed for.
    fn events(&self, now: OffsetDateTime) -> Vec<CaseEvent> {
        let mut events = Vec::with_capacity(self.cases as usize * 6 / 5);
        let mut random = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            // xorshift64*: deterministic and enough to spread cases.
            random ^= random >> 12;
            random ^= random << 25;
            random ^= random >> 27;
            random.wrapping_mul(0x2545_F491_4F6C_DD1D)
        };
        for n in 1..=self.cases {
            let case_id = format!("MH20261101-{n:07}");
            let units = u64::from(self.units);
            // Every unit gets cases; half of them go by the product of two uniform picks,
            // which favours low unit numbers.
            let unit = if n % 2 == 0 {
                (n / 2) % units
            } else {
                (next() % units) * (next() % units) / units
            };
            let dispatched_at = now - time::Duration::seconds((next() % (30 * 86_400)) as i64);
            let due = dispatched_at + time::Duration::days(15);
            events.push(CaseEvent {
                case_id: case_id.clone(),
                at: Some(timestamp(dispatched_at)),
                actor: "triage".into(),
                number: 1,
                event: Some(case_event::Event::Dispatched(Dispatched {
                    unit_id: format!("bench-unit-{unit:05}"),
                    handling_due_at: Some(timestamp(due)),
                    ..Default::default()
                })),
            });
            if n % 5 == 0 {
                events.push(CaseEvent {
                    case_id,
                    at: Some(timestamp(dispatched_at + time::Duration::hours(2))),
                    actor: format!("unit:bench-unit-{unit:05}"),
                    number: 2,
                    event: Some(case_event::Event::SignedFor(SignedFor {
                        unit_id: format!("bench-unit-{unit:05}"),
                    })),
                });
            }
        }
        events
    }

    /// Waits until the board holds every case, and returns the answer listing every unit.
    async fn wait_replayed(
        &self,
        client: &mut OpsServiceClient<Channel>,
    ) -> anyhow::Result<QueueHealthResponse> {
        let deadline = Instant::now() + REPLAY_TIMEOUT;
        loop {
            let health = queue_health(client, self.units).await?;
            let open: u64 = health.units.iter().map(|u| u.open).sum();
            if open == self.cases {
                return Ok(health);
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "the ops role holds {open} of {} cases after {REPLAY_TIMEOUT:?}",
                self.cases
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

async fn publish(js: &jetstream::Context, events: &[CaseEvent]) -> anyhow::Result<()> {
    let mut acks = futures::stream::iter(events)
        .map(|event| {
            let subject = bus::case_event_subject(
                &event.case_id,
                event.number,
                event.event.as_ref().expect("bench events have a kind"),
            );
            let payload = event.encode_to_vec();
            async move { js.publish(subject, payload.into()).await?.await }
        })
        .buffer_unordered(PUBLISH_WINDOW);
    while let Some(ack) = acks.next().await {
        ack?;
    }
    Ok(())
}

async fn queue_health(
    client: &mut OpsServiceClient<Channel>,
    top_units: u32,
) -> anyhow::Result<QueueHealthResponse> {
    let mut request = Request::new(QueueHealthRequest { top_units });
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {OPS_TOKEN}").parse().expect("ascii"),
    );
    Ok(client.queue_health(request).await?.into_inner())
}

/// The median time of the board's per-unit figures over the same events, without the bus.
fn board_figures_ms(events: &[CaseEvent], calls: usize) -> f64 {
    let board = UnitBoard::default();
    for event in events {
        board.apply(event);
    }
    let mut samples: Vec<Duration> = (0..calls)
        .map(|_| {
            let started = Instant::now();
            std::hint::black_box(board.figures(OffsetDateTime::now_utc()));
            started.elapsed()
        })
        .collect();
    quantile_ms(&mut samples, 0.50)
}
