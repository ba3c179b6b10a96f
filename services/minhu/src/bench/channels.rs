//! `minhu bench channels`: intake throughput at province scale. The same load runs twice, each
//! against every role on a fresh NATS: with the configured channels only, then with thousands
//! of channels registered through ChannelAdmin, the load spread over all of them and tokens
//! rotated through the admin API while it runs. With `--rounds N` the pair runs N times,
//! alternating, and the medians are compared (this machine's other load is noisy). Ends with
//! `baseline_per_s=N scale_per_s=N change_pct=X channels=N rotations=N`.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use futures::StreamExt;
use minhu_contracts::v1::channel_admin_client::ChannelAdminClient;
use minhu_contracts::v1::intake_service_client::IntakeServiceClient;
use minhu_contracts::v1::{ChannelKind, CreateChannelRequest, RotateTokenRequest, SubmitRequest};
use tonic::Request;
use tonic::transport::Channel;

use super::text::{body_chars, petition};
use super::{BenchApp, BenchNats};

const ADMIN_TOKEN: &str = "demo-admin-token";
const BASELINE_TOKEN: &str = "demo-hotline-token";
/// Channels created at once while registering.
const CREATE_CONCURRENCY: usize = 32;
/// Rotated tokens stay valid this long: submitters still holding one are never refused.
const OVERLAP_SECONDS: u32 = 600;

pub struct ChannelsBench {
    pub nats_url: Option<String>,
    pub channels: usize,
    pub rotations: usize,
    pub concurrency: usize,
    pub duration: Duration,
    /// Baseline and scale runs, alternating; the medians are compared.
    pub rounds: usize,
}

impl ChannelsBench {
    pub async fn run(self) -> anyhow::Result<()> {
        anyhow::ensure!(self.channels > 0, "--channels must be at least 1");
        anyhow::ensure!(self.rounds > 0, "--rounds must be at least 1");
        let (mut baselines, mut scales) = (Vec::new(), Vec::new());
        let (mut failed, mut registered_s, mut rotated) = (0, 0.0, 0);
        // Baseline and scale alternate, so a change in the machine's other load falls on both.
        for round in 0..self.rounds {
            let run_id = time::OffsetDateTime::now_utc().unix_timestamp() * 100 + round as i64;

            let nats = BenchNats::start(self.nats_url.clone()).await?;
            let app = BenchApp::start(&nats).await?;
            let baseline_tokens = Arc::new(RwLock::new(vec![BASELINE_TOKEN.to_owned()]));
            let (baseline, baseline_failed) = self.load(app.addr, baseline_tokens, run_id).await?;
            app.stop().await?;
            nats.stop().await;

            let nats = BenchNats::start(self.nats_url.clone()).await?;
            let app = BenchApp::start(&nats).await?;
            let started = Instant::now();
            let tokens = Arc::new(RwLock::new(self.register(app.addr, run_id).await?));
            registered_s = started.elapsed().as_secs_f64();
            let rotator = tokio::spawn(rotate(
                app.addr,
                tokens.clone(),
                self.rotations,
                self.duration,
                run_id,
            ));
            let (scale, scale_failed) = self.load(app.addr, tokens, run_id + 1).await?;
            rotated = rotator.await??;
            app.stop().await?;
            nats.stop().await;

            let seconds = self.duration.as_secs_f64();
            baselines.push(baseline as f64 / seconds);
            scales.push(scale as f64 / seconds);
            failed += baseline_failed + scale_failed;
            println!(
                "round={} baseline_per_s={:.0} scale_per_s={:.0}",
                round + 1,
                baselines[round],
                scales[round]
            );
        }
        let (baseline_per_s, scale_per_s) = (median(&mut baselines), median(&mut scales));
        println!(
            "concurrency={} duration_s={} rounds={} registered_s={registered_s:.1} failed={failed}",
            self.concurrency,
            self.duration.as_secs(),
            self.rounds
        );
        println!(
            "baseline_per_s={baseline_per_s:.0} scale_per_s={scale_per_s:.0} change_pct={:.1} channels={} rotations={rotated}",
            (scale_per_s / baseline_per_s - 1.0) * 100.0,
            self.channels
        );
        Ok(())
    }

    /// Creates the channels through ChannelAdmin; their tokens, in channel order.
    async fn register(&self, addr: SocketAddr, run_id: i64) -> anyhow::Result<Vec<String>> {
        let admin = ChannelAdminClient::new(connect(addr).await?);
        let created: Vec<anyhow::Result<String>> = futures::stream::iter(0..self.channels)
            .map(|n| {
                let mut admin = admin.clone();
                async move {
                    let response = admin
                        .create_channel(authorized(
                            ADMIN_TOKEN,
                            CreateChannelRequest {
                                channel_id: channel_id(run_id, n),
                                name: format!("province channel {n}"),
                                kind: ChannelKind::Web as i32,
                                owner: "bench".into(),
                                division_code: "330726".into(),
                                rate_per_second: 0,
                                burst: 0,
                            },
                        ))
                        .await?;
                    Ok(response.into_inner().token)
                }
            })
            .buffered(CREATE_CONCURRENCY)
            .collect()
            .await;
        created.into_iter().collect()
    }

    /// `concurrency` callers on one HTTP/2 connection, each submitting until the time is up,
    /// each request with the token of the next channel in turn. Returns (accepted, failed).
    async fn load(
        &self,
        addr: SocketAddr,
        tokens: Arc<RwLock<Vec<String>>>,
        run_id: i64,
    ) -> anyhow::Result<(u64, u64)> {
        let channel = connect(addr).await?;
        let deadline = Instant::now() + self.duration;
        let mut workers = Vec::new();
        for worker in 0..self.concurrency {
            let mut client = IntakeServiceClient::new(channel.clone());
            let tokens = tokens.clone();
            workers.push(tokio::spawn(async move {
                let (mut accepted, mut failed) = (0u64, 0u64);
                let mut n = worker as u64;
                while Instant::now() < deadline {
                    let token = {
                        let tokens = tokens.read().expect("tokens lock");
                        tokens[(n as usize) % tokens.len()].clone()
                    };
                    let request = authorized(
                        &token,
                        SubmitRequest {
                            petition: Some(petition(
                                format!("bench-{run_id}-{n}"),
                                n,
                                body_chars(n),
                            )),
                        },
                    );
                    match client.submit(request).await {
                        Ok(_) => accepted += 1,
                        Err(status) => {
                            failed += 1;
                            tracing::warn!(code = ?status.code(), message = status.message(), "submit failed");
                        }
                    }
                    n += 1_000_000;
                }
                (accepted, failed)
            }));
        }
        let (mut accepted, mut failed) = (0, 0);
        for worker in workers {
            let (a, f) = worker.await?;
            accepted += a;
            failed += f;
        }
        Ok((accepted, failed))
    }
}

/// Rotates `rotations` channels' tokens evenly over the run, each through ChannelAdmin while
/// the load runs; the submitters take the new token from then on.
async fn rotate(
    addr: SocketAddr,
    tokens: Arc<RwLock<Vec<String>>>,
    rotations: usize,
    duration: Duration,
    run_id: i64,
) -> anyhow::Result<usize> {
    let mut admin = ChannelAdminClient::new(connect(addr).await?);
    let count = tokens.read().expect("tokens lock").len();
    let started = Instant::now();
    for i in 0..rotations {
        let at = duration.mul_f64((i + 1) as f64 / (rotations + 1) as f64);
        tokio::time::sleep(at.saturating_sub(started.elapsed())).await;
        let n = i * count / rotations.max(1);
        let rotated = admin
            .rotate_token(authorized(
                ADMIN_TOKEN,
                RotateTokenRequest {
                    channel_id: channel_id(run_id, n),
                    overlap_seconds: Some(OVERLAP_SECONDS),
                },
            ))
            .await?
            .into_inner()
            .token;
        tokens.write().expect("tokens lock")[n] = rotated;
    }
    Ok(rotations)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

fn channel_id(run_id: i64, n: usize) -> String {
    format!("p{run_id}-{n:05}")
}

async fn connect(addr: SocketAddr) -> anyhow::Result<Channel> {
    Ok(Channel::from_shared(format!("http://{addr}"))?
        .connect()
        .await?)
}

fn authorized<T>(token: &str, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ascii token"),
    );
    request
}
