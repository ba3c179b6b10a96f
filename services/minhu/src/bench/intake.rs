//! `minhu bench intake`: submits real-length petitions through the gateway with every role
//! running (or the roles given), then measures in the same run the two limits of the stack on this machine: a tonic
//! unary call of the same payload and concurrency that does nothing (the RPC layer), and raw
//! JetStream publish-with-ack of the same payloads (the bus).

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, stream};
use futures::{Stream, StreamExt};
use minhu_contracts::v1::intake_service_client::IntakeServiceClient;
use minhu_contracts::v1::intake_service_server::{IntakeService, IntakeServiceServer};
use minhu_contracts::v1::{
    Receipt, SubmitRequest, SubmitResponse, SubmitStreamResponse, TrackRequest, TrackResponse,
};
use prost::Message;
use tokio::sync::Mutex;
use tonic::transport::Channel;
use tonic::{Request, Response, Status, Streaming};

use super::text::{body_chars, petition};
use super::{BenchApp, BenchNats, CpuMeter, quantile_ms};

const TOKEN: &str = "demo-hotline-token";

pub struct IntakeBench {
    pub nats_url: Option<String>,
    pub concurrency: usize,
    pub duration: Duration,
    /// The roles running while it submits (all of them, or the gateway alone).
    pub roles: Vec<crate::Role>,
}

impl IntakeBench {
    pub async fn run(self) -> anyhow::Result<()> {
        let nats = BenchNats::start(self.nats_url.clone()).await?;
        let app = BenchApp::start_roles(&nats, &self.roles).await?;
        let addr = app.addr;

        let run_id = time::OffsetDateTime::now_utc().unix_timestamp();
        let mut cpu = CpuMeter::start(&nats);
        let (submits, mut latencies) = self.load(addr, run_id).await?;
        let submit_cpu = cpu.lap();
        app.stop().await?;
        let submits_per_s = submits as f64 / self.duration.as_secs_f64();

        let (echo_addr, echo_stop) = serve_echo().await?;
        cpu.lap();
        let (echoes, _) = self.load(echo_addr, run_id).await?;
        let echo_cpu = cpu.lap();
        let _ = echo_stop.send(());
        let echo_per_s = echoes as f64 / self.duration.as_secs_f64();

        let (writes, write_cpu) = self.raw_jetstream(nats.url(), &mut cpu).await?;
        let js_per_s = writes as f64 / self.duration.as_secs_f64();
        nats.stop().await;

        // What each call cost the machine in CPU (load generator and server included), which
        // unlike a rate does not move with whatever else the machine was doing. A submission
        // that cost exactly one echo and one write would reach `cpu_ratio_bound` of the echo
        // rate on the same cores.
        let per_call = |cpu: Option<Duration>, calls: u64| {
            cpu.map(|c| c.as_secs_f64() * 1e6 / calls.max(1) as f64)
        };
        if let (Some(submit), Some(echo), Some(write)) = (
            per_call(submit_cpu, submits),
            per_call(echo_cpu, echoes),
            per_call(write_cpu, writes),
        ) {
            println!(
                "cpu_us_per_submit={submit:.1} cpu_us_per_echo={echo:.1} cpu_us_per_write={write:.1} cpu_ratio_bound={:.2}",
                echo / (echo + write)
            );
        }

        // Every submission is at least one RPC and one acknowledged JetStream write, on the same
        // cores: the rate of the two back to back, were nothing else to run, bounds the ratio.
        let rpc_and_write_per_s = 1.0 / (1.0 / echo_per_s + 1.0 / js_per_s);
        let roles = if self.roles.len() == crate::Role::ALL.len() {
            "all".to_owned()
        } else {
            let names: Vec<_> = self.roles.iter().map(|r| r.name()).collect();
            names.join(",")
        };
        println!(
            "roles={roles} concurrency={} duration_s={} body_chars=100..2000 rpc_and_write_per_s={:.0} ratio_bound={:.2}",
            self.concurrency,
            self.duration.as_secs(),
            rpc_and_write_per_s,
            rpc_and_write_per_s / echo_per_s
        );
        println!(
            "submits_per_s={:.0} p50_ms={:.2} p99_ms={:.2} echo_per_s={:.0} ratio_to_echo={:.2} js_per_s={:.0}",
            submits_per_s,
            quantile_ms(&mut latencies, 0.50),
            quantile_ms(&mut latencies, 0.99),
            echo_per_s,
            submits_per_s / echo_per_s,
            js_per_s
        );
        Ok(())
    }

    /// `concurrency` callers on one HTTP/2 connection, each submitting until the time is up.
    async fn load(&self, addr: SocketAddr, run_id: i64) -> anyhow::Result<(u64, Vec<Duration>)> {
        let channel = Channel::from_shared(format!("http://{addr}"))?
            .connect()
            .await?;
        let deadline = Instant::now() + self.duration;
        let samples = Arc::new(Mutex::new(Vec::new()));
        let mut workers = Vec::new();
        for worker in 0..self.concurrency {
            let mut client = IntakeServiceClient::new(channel.clone())
                .max_decoding_message_size(16 * 1024 * 1024);
            let samples = samples.clone();
            workers.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                let mut n = worker as u64;
                while Instant::now() < deadline {
                    let id = format!("bench-{run_id}-{n}");
                    let mut request = Request::new(SubmitRequest {
                        petition: Some(petition(id, n, body_chars(n))),
                    });
                    request.metadata_mut().insert(
                        "authorization",
                        format!("Bearer {TOKEN}").parse().expect("ascii"),
                    );
                    let started = Instant::now();
                    client.submit(request).await?;
                    mine.push(started.elapsed());
                    n += 1_000_000;
                }
                samples.lock().await.extend(mine);
                Ok::<_, Status>(())
            }));
        }
        for worker in workers {
            worker.await??;
        }
        let samples = std::mem::take(&mut *samples.lock().await);
        Ok((samples.len() as u64, samples))
    }

    /// The same payloads published straight to JetStream, `concurrency` acks in flight: how many
    /// were acknowledged, and the CPU the writing took.
    async fn raw_jetstream(
        &self,
        url: &str,
        cpu: &mut CpuMeter,
    ) -> anyhow::Result<(u64, Option<Duration>)> {
        let js = jetstream::new(async_nats::connect(url).await?);
        let _ = js.delete_stream("BENCH_RAW").await;
        js.create_stream(stream::Config {
            name: "BENCH_RAW".into(),
            subjects: vec!["bench_raw.>".into()],
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await?;
        let payloads: Vec<bytes::Bytes> = (0..256u64)
            .map(|n| {
                petition(n.to_string(), n, body_chars(n))
                    .encode_to_vec()
                    .into()
            })
            .collect();
        cpu.lap();
        let deadline = Instant::now() + self.duration;
        let published = futures::stream::iter(0u64..)
            .take_while(|_| futures::future::ready(Instant::now() < deadline))
            .map(|n| {
                let js = js.clone();
                let payload = payloads[(n % 256) as usize].clone();
                async move { js.publish(format!("bench_raw.{n}"), payload).await?.await }
            })
            .buffer_unordered(self.concurrency)
            .filter(|r| futures::future::ready(r.is_ok()))
            .count()
            .await;
        let write_cpu = cpu.lap();
        let _ = js.delete_stream("BENCH_RAW").await;
        Ok((published as u64, write_cpu))
    }
}

/// The RPC-layer limit: an IntakeService that answers Submit at once, with a receipt of the
/// real size, doing no work.
struct Echo;

#[tonic::async_trait]
impl IntakeService for Echo {
    async fn submit(
        &self,
        request: Request<SubmitRequest>,
    ) -> Result<Response<SubmitResponse>, Status> {
        let petition = request.into_inner().petition.unwrap_or_default();
        Ok(Response::new(SubmitResponse {
            receipt: Some(Receipt {
                tracking_number: format!("MH20261127-{:07}", petition.body.len()),
                query_code: "23456789ABCD".into(),
                accepted_at: None,
                replayed: false,
            }),
        }))
    }

    type SubmitStreamStream =
        Pin<Box<dyn Stream<Item = Result<SubmitStreamResponse, Status>> + Send>>;

    async fn submit_stream(
        &self,
        _: Request<Streaming<SubmitRequest>>,
    ) -> Result<Response<Self::SubmitStreamStream>, Status> {
        Err(Status::unimplemented("echo baseline"))
    }

    async fn track(&self, _: Request<TrackRequest>) -> Result<Response<TrackResponse>, Status> {
        Err(Status::unimplemented("echo baseline"))
    }
}

async fn serve_echo() -> anyhow::Result<(SocketAddr, tokio::sync::oneshot::Sender<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(IntakeServiceServer::new(Echo))
            .serve_with_incoming_shutdown(
                // As the app serves: with TCP_NODELAY, or the baseline waits out delayed ACKs.
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
                async {
                    let _ = stopped.await;
                },
            ),
    );
    Ok((addr, stop))
}
