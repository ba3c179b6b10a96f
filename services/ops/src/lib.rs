//! The ops role: what an ops team watches.
//!
//! - `OpsService.QueueHealth`: streams, consumers, units and channels in one answer, from
//!   JetStream state, the in-memory [`projection::UnitBoard`] and the gateways' published
//!   channel figures;
//! - a poller that keeps the queue and unit gauges of `/metrics` fresh;
//! - [`serve_metrics`]: the `/metrics` endpoint every minhu process serves.

pub mod clusters;
pub mod events;
pub mod performance;
pub mod projection;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::stream::RawMessageErrorKind;

use async_nats::connection::State;
use async_nats::jetstream::stream::Stream as JsStream;
use futures::{StreamExt, TryStreamExt};
use metrics_exporter_prometheus::PrometheusHandle;
use minhu_contracts::v1::ops_service_server::{OpsService, OpsServiceServer};
use minhu_contracts::v1::{
    ChannelHealth, ConnectorHealth, ConsumerHealth, GatewayStats, HotspotsRequest,
    HotspotsResponse, QueueHealthRequest, QueueHealthResponse, StreamHealth, UnitHealth,
};
use minhu_core::bus::Bus;
use minhu_core::channels::Registry;
use minhu_core::deadlines::timestamp;
use minhu_core::metrics;
use prost::Message;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;
use tonic::{Request, Response, Status};

use crate::clusters::ClusterBook;
use crate::performance::PerformanceBook;
use crate::projection::UnitBoard;
use minhu_contracts::v1::{UnitPerformanceRequest, UnitPerformanceResponse};

const DEFAULT_TOP_UNITS: usize = 20;

#[derive(Clone)]
pub struct Ops {
    bus: Bus,
    board: UnitBoard,
    performance: PerformanceBook,
    clusters: ClusterBook,
    unit_names: HashMap<String, String>,
    token_digest: [u8; 32],
    /// The configured pull connectors, (id, channel): QueueHealth reports each one's health.
    connectors: std::sync::Arc<[(String, String)]>,
    /// The channel registry (watched): QueueHealth lists every registered channel.
    registry: Arc<Registry>,
}

impl Ops {
    pub fn new(
        bus: Bus,
        unit_names: HashMap<String, String>,
        token_digest: [u8; 32],
        registry: Arc<Registry>,
    ) -> Ops {
        Ops {
            bus,
            board: UnitBoard::default(),
            performance: PerformanceBook::default(),
            clusters: ClusterBook::default(),
            unit_names,
            token_digest,
            connectors: std::sync::Arc::new([]),
            registry,
        }
    }

    /// Reports these pull connectors, (id, channel), in QueueHealth.
    pub fn with_connectors(mut self, connectors: Vec<(String, String)>) -> Ops {
        self.connectors = connectors.into();
        self
    }

    /// Each configured connector's health as its lease holder last stored it; one that never
    /// polled yet is listed with nothing recorded.
    async fn connectors(&self) -> Result<Vec<ConnectorHealth>, async_nats::Error> {
        let reads = self.connectors.iter().map(|(id, channel)| async move {
            let key = minhu_contracts::bus::connector_health_key(id);
            let stored = self.bus.connectors.get(key).await?;
            Ok::<_, async_nats::Error>(
                stored
                    .and_then(|bytes| ConnectorHealth::decode(bytes).ok())
                    .unwrap_or_else(|| ConnectorHealth {
                        connector_id: id.clone(),
                        channel_id: channel.clone(),
                        ..Default::default()
                    }),
            )
        });
        futures::future::try_join_all(reads).await
    }

    /// Follows the case events into every projection of this role (one ordered consumer).
    pub async fn follow(self, bus: Bus, shutdown: impl std::future::Future<Output = ()>) {
        crate::events::follow_case_events(bus, "ops", shutdown, |event| {
            self.board.apply(event);
            self.performance.apply(event);
            self.clusters.apply(event);
        })
        .await;
    }

    /// The performance book, to follow the case events (the caller spawns its `follow`).
    pub fn into_service(self) -> OpsServiceServer<Ops> {
        OpsServiceServer::new(self)
    }

    /// The streams and their consumers, read at once: the answer waits for the slowest read,
    /// not for the sum of them.
    async fn streams(&self) -> Result<(Vec<StreamHealth>, Vec<ConsumerHealth>), async_nats::Error> {
        let watched = [
            &self.bus.intake,
            &self.bus.case_events,
            &self.bus.dispatch,
            &self.bus.timers,
        ];
        let read = watched.map(stream_health);
        let mut streams = Vec::new();
        let mut consumers = Vec::new();
        for (stream, its_consumers) in futures::future::try_join_all(read).await? {
            streams.push(stream);
            consumers.extend(its_consumers);
        }
        Ok((streams, consumers))
    }

    fn units(&self, top: usize) -> Vec<UnitHealth> {
        let mut units: Vec<UnitHealth> = self
            .board
            .figures(OffsetDateTime::now_utc())
            .into_iter()
            .filter(|(_, f)| f.open > 0)
            .map(|(unit_id, f)| UnitHealth {
                unit_name: self.unit_names.get(&unit_id).cloned().unwrap_or_default(),
                unit_id,
                open: f.open,
                unsigned: f.unsigned,
                overdue: f.overdue,
                oldest_unsigned_age_seconds: f.oldest_unsigned_age.as_secs_f64(),
            })
            .collect();
        units.sort_by(|a, b| {
            (b.overdue, b.unsigned, b.open)
                .cmp(&(a.overdue, a.unsigned, a.open))
                .then_with(|| a.unit_id.cmp(&b.unit_id))
        });
        units.truncate(top);
        units
    }

    /// Every registered channel (with its kind and status, traffic or not), with the sum of
    /// every live gateway's published figures; a channel no longer registered that still has
    /// figures in the window is listed too.
    async fn channels(&self) -> Result<(Vec<ChannelHealth>, u32), async_nats::Error> {
        let mut merged: HashMap<String, ChannelHealth> = self
            .registry
            .all()
            .into_iter()
            .map(|c| {
                let health = ChannelHealth {
                    channel_id: c.id.to_string(),
                    kind: c.record.kind,
                    status: c.record.status,
                    name: c.record.name.clone(),
                    ..Default::default()
                };
                (health.channel_id.clone(), health)
            })
            .collect();
        let mut window = 0;
        let mut keys = self.bus.ops.keys().await?;
        while let Some(key) = keys.next().await {
            let Some(value) = self.bus.ops.get(key?).await? else {
                continue;
            };
            let Ok(stats) = GatewayStats::decode(value) else {
                continue;
            };
            window = window.max(stats.window_seconds);
            for c in stats.channels {
                let m = merged
                    .entry(c.channel_id.clone())
                    .or_insert_with(|| ChannelHealth {
                        channel_id: c.channel_id.clone(),
                        ..Default::default()
                    });
                m.submissions += c.submissions;
                m.retries += c.retries;
                m.rate_limited += c.rate_limited;
                for (reason, n) in c.rejections {
                    *m.rejections.entry(reason).or_default() += n;
                }
                let newer = match (&m.last_accepted_at, &c.last_accepted_at) {
                    (Some(a), Some(b)) => b.seconds > a.seconds,
                    (None, Some(_)) => true,
                    _ => false,
                };
                if newer {
                    m.last_accepted_at = c.last_accepted_at;
                }
            }
        }
        let mut channels: Vec<_> = merged.into_values().collect();
        channels.sort_by(|a, b| a.channel_id.cmp(&b.channel_id));
        Ok((channels, window))
    }

    /// Refreshes the queue and unit gauges every `interval` until `shutdown`.
    pub async fn poll_gauges(
        self,
        interval: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let mut ticker = tokio::time::interval(interval);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = ticker.tick() => {}
            }
            match self.streams().await {
                Ok((streams, consumers)) => {
                    for s in streams {
                        metrics::stream_state(&s.name, s.messages, s.bytes);
                    }
                    for c in consumers {
                        metrics::consumer_state(
                            &c.name,
                            c.pending,
                            c.ack_pending,
                            c.redelivered,
                            c.oldest_unprocessed_age_seconds,
                        );
                    }
                }
                Err(e) => tracing::debug!(error = %e, "queue gauges not refreshed"),
            }
            for (unit, f) in self.board.figures(OffsetDateTime::now_utc()) {
                metrics::unit_state(
                    &unit,
                    f.open,
                    f.unsigned,
                    f.overdue,
                    f.oldest_unsigned_age.as_secs_f64(),
                );
            }
            let (units, categories) = self.performance.figures();
            for (unit, counts) in units {
                metrics::unit_performance(&unit, &counts.ratios());
            }
            for (category, counts) in categories {
                metrics::category_performance(&category, &counts.ratios());
            }
        }
    }

    fn authenticate<T>(&self, request: &Request<T>) -> Result<(), Status> {
        let token = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| Status::unauthenticated("missing authorization: Bearer <ops token>"))?;
        let digest: [u8; 32] = Sha256::digest(token.trim().as_bytes()).into();
        if bool::from(digest.ct_eq(&self.token_digest)) {
            Ok(())
        } else {
            Err(Status::unauthenticated("unknown ops token"))
        }
    }
}

async fn stream_health(
    stream: &JsStream,
) -> Result<(StreamHealth, Vec<ConsumerHealth>), async_nats::Error> {
    let info = async { stream.get_info().await.map_err(async_nats::Error::from) };
    let listed = async {
        stream
            .consumers()
            .try_collect::<Vec<_>>()
            .await
            .map_err(async_nats::Error::from)
    };
    let (info, listed) = tokio::try_join!(info, listed)?;
    let name = info.config.name.as_str();
    let consumers =
        futures::future::join_all(listed.iter().map(|c| consumer_health(stream, name, c))).await;
    let health = StreamHealth {
        name: name.to_owned(),
        messages: info.state.messages,
        bytes: info.state.bytes,
        first_sequence: info.state.first_sequence,
        last_sequence: info.state.last_sequence,
    };
    Ok((health, consumers))
}

async fn consumer_health(
    stream: &JsStream,
    stream_name: &str,
    info: &async_nats::jetstream::consumer::Info,
) -> ConsumerHealth {
    let unprocessed = info.num_pending + info.num_ack_pending as u64;
    let oldest_unprocessed_age_seconds = if unprocessed == 0 {
        0.0
    } else {
        oldest_unprocessed_age(stream, stream_name, info).await
    };
    ConsumerHealth {
        stream: stream_name.to_owned(),
        name: info.name.clone(),
        pending: info.num_pending,
        ack_pending: info.num_ack_pending as u64,
        redelivered: info.num_redelivered as u64,
        oldest_unprocessed_age_seconds,
    }
}

/// How long a read of the oldest unprocessed message may take. A secured deployment keeps
/// petition text (MINHU_INTAKE, MINHU_DISPATCH) from ops: the server drops the refused request
/// and the client would wait out its whole request timeout, longer than a QueueHealth call.
const AGE_READ_TIMEOUT: Duration = Duration::from_millis(300);
/// After a refused or timed-out read, the stream's ages are not read again for this long.
const AGE_READ_BACKOFF: Duration = Duration::from_secs(300);

/// Streams whose oldest-message reads failed, until when they are not tried again.
static AGE_UNREADABLE: std::sync::LazyLock<std::sync::Mutex<HashMap<String, Instant>>> =
    std::sync::LazyLock::new(Default::default);

/// The age of a consumer's oldest unprocessed message; 0 when it cannot be read.
async fn oldest_unprocessed_age(
    stream: &JsStream,
    stream_name: &str,
    info: &async_nats::jetstream::consumer::Info,
) -> f64 {
    let now = Instant::now();
    let skip = AGE_UNREADABLE
        .lock()
        .expect("age lock")
        .get(stream_name)
        .is_some_and(|until| *until > now);
    if skip {
        return 0.0;
    }
    let filter = info.config.filter_subject.as_str();
    let subject = if filter.is_empty() { ">" } else { filter };
    let read = stream.get_first_raw_message_by_subject(subject, info.ack_floor.stream_sequence + 1);
    match tokio::time::timeout(AGE_READ_TIMEOUT, read).await {
        Ok(Ok(m)) => (OffsetDateTime::now_utc() - m.time)
            .as_seconds_f64()
            .max(0.0),
        failed => {
            let absent = matches!(&failed, Ok(Err(e)) if matches!(e.kind(), RawMessageErrorKind::NoMessageFound));
            if !absent {
                tracing::warn!(
                    stream = stream_name,
                    "oldest unprocessed message not readable (permissions?); its age is reported as 0 for a while"
                );
                AGE_UNREADABLE
                    .lock()
                    .expect("age lock")
                    .insert(stream_name.to_owned(), now + AGE_READ_BACKOFF);
            }
            0.0
        }
    }
}

#[tonic::async_trait]
impl OpsService for Ops {
    async fn hotspots(
        &self,
        request: Request<HotspotsRequest>,
    ) -> Result<Response<HotspotsResponse>, Status> {
        self.authenticate(&request)?;
        let r = request.into_inner();
        let window = match r.window_seconds {
            0 => 86_400,
            w => w,
        };
        let top = match r.top {
            0 => 20,
            n => n as usize,
        };
        let now = OffsetDateTime::now_utc().unix_timestamp();
        Ok(Response::new(HotspotsResponse {
            clusters: self
                .clusters
                .top(&r.area_prefix, &r.category, i64::from(window), now, top),
            window_seconds: window,
        }))
    }

    async fn unit_performance(
        &self,
        request: Request<UnitPerformanceRequest>,
    ) -> Result<Response<UnitPerformanceResponse>, Status> {
        self.authenticate(&request)?;
        let wanted = request.into_inner().unit_ids;
        let (units, categories) = self.performance.figures();
        let units = units
            .into_iter()
            .filter(|(unit, _)| wanted.is_empty() || wanted.contains(unit))
            .map(|(unit, counts)| {
                let name = self.unit_names.get(&unit).cloned().unwrap_or_default();
                counts.to_proto(&unit, &name)
            })
            .collect();
        let categories = categories
            .into_iter()
            .map(|(category, counts)| counts.to_proto(&category, ""))
            .collect();
        Ok(Response::new(UnitPerformanceResponse {
            at: Some(timestamp(OffsetDateTime::now_utc())),
            units,
            categories,
        }))
    }

    async fn queue_health(
        &self,
        request: Request<QueueHealthRequest>,
    ) -> Result<Response<QueueHealthResponse>, Status> {
        self.authenticate(&request)?;
        let top = match request.into_inner().top_units {
            0 => DEFAULT_TOP_UNITS,
            n => n as usize,
        };
        let nats_connected = self.bus.client.connection_state() == State::Connected;
        let unavailable = |e: async_nats::Error| {
            tracing::warn!(error = %e, "queue health: bus read failed");
            Status::unavailable("JetStream state is unavailable; retry later")
        };
        let ((streams, consumers), (channels, window), connectors) =
            tokio::try_join!(self.streams(), self.channels(), self.connectors())
                .map_err(unavailable)?;
        Ok(Response::new(QueueHealthResponse {
            at: Some(timestamp(OffsetDateTime::now_utc())),
            nats_connected,
            streams,
            consumers,
            units: self.units(top),
            channels,
            channel_window_seconds: window,
            connectors,
        }))
    }
}

/// Serves `/metrics` (Prometheus text format) on `listener` until `shutdown`.
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    handle: PrometheusHandle,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let handle = handle.clone();
            async move { handle.render() }
        }),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// The process-wide Prometheus recorder, installed once (every App in a process shares it).
pub fn prometheus_handle() -> PrometheusHandle {
    static HANDLE: std::sync::OnceLock<PrometheusHandle> = std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            use metrics_exporter_prometheus::Matcher;
            let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
                .set_buckets(&[
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ])
                .expect("static buckets")
                // Confidence is a share, not a time.
                .set_buckets_for_metric(
                    Matcher::Full(metrics::CLASSIFIER_CONFIDENCE.to_owned()),
                    &[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0],
                )
                .expect("static buckets")
                .install_recorder()
                .expect("the only recorder of this process");
            metrics::describe();
            handle
        })
        .clone()
}
