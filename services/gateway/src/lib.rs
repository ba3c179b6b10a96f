//! The gateway role: where channels hand petitions to minhu.
//!
//! Its contract: a receipt only once the petition is durable on the bus; the same receipt on
//! every retry, forever; a clear, complete error for bad input, and nothing stored for it.
//!
//! - [`auth`]: the bearer token decides the channel (the live channel registry).
//! - [`admin`]: ChannelAdmin, which registers channels, suspends them and rotates their tokens.
//! - [`validate`]: every rule, all violations at once.
//! - [`intake`]: the idempotent publish, receipts, and Track.
//! - [`error`]: the mapping of failures to gRPC, in one place.
//! - [`stats`]: each channel's recent figures, for ops.
//! - [`limits`]: per-channel submit rates and the Track guessing guard.
//! - `fuzzing` (feature `fuzzing`, and in tests): the fuzz target's logic over request bytes.

pub mod admin;
pub mod auth;
pub mod error;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod intake;
pub mod limits;
pub mod stats;
pub mod validate;

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use minhu_contracts::v1::intake_service_server::{IntakeService, IntakeServiceServer};
use minhu_contracts::v1::{
    SubmitError, SubmitRequest, SubmitResponse, SubmitStreamResponse, TrackRequest, TrackResponse,
    submit_stream_response,
};
use minhu_core::bus::Bus;
use minhu_core::channels::{LiveChannel, Registry};
use minhu_core::config::Settings;
use minhu_core::metrics;
use minhu_core::privacy::Identity;
use tonic::{Request, Response, Status, Streaming};

use crate::auth::ChannelRegistry;
use crate::intake::Intake;
use crate::limits::{SubmitLimiter, TrackGuard};
use crate::stats::ChannelStats;

/// How many items of one SubmitStream are stored concurrently; answers still come in order.
const STREAM_PIPELINE: usize = 32;
/// The largest request message the gateway reads. The largest valid petition (a body of
/// 20,000 four-byte characters, 20 attachments with 2,048-character URIs) encodes to under
/// 150 KB; anything bigger is refused with OUT_OF_RANGE from its length prefix, before it is
/// read into memory.
pub const MAX_REQUEST_BYTES: usize = 1 << 20;

/// The IntakeService implementation.
#[derive(Clone)]
pub struct Gateway {
    channels: ChannelRegistry,
    intake: Intake,
}

/// How far back the channel figures in QueueHealth reach.
pub const STATS_WINDOW: std::time::Duration = std::time::Duration::from_secs(300);

impl Gateway {
    /// The gateway over the live channel `registry` (see [`minhu_core::channels::load`]).
    pub fn new(settings: &Settings, bus: Bus, registry: Arc<Registry>) -> Gateway {
        let unit_names = settings
            .catalogue
            .units
            .iter()
            .map(|u| (u.id.clone(), u.name.clone()))
            .collect::<HashMap<_, _>>();
        Gateway {
            channels: ChannelRegistry::new(registry),
            intake: Intake {
                bus,
                identity: Identity::from_settings(&settings.identity),
                limits: settings.gateway.clone(),
                deadlines: settings.deadlines.clone(),
                tracking_prefix: settings.identity.tracking_prefix.clone(),
                unit_names,
                stats: Arc::new(ChannelStats::new(STATS_WINDOW)),
                submit_limiter: Arc::new(SubmitLimiter::new(
                    settings.gateway.submit_rate_per_channel,
                    settings.gateway.submit_burst,
                )),
                track_guard: Arc::new(TrackGuard::new(
                    settings.gateway.track_failures_per_case,
                    std::time::Duration::from_secs(settings.gateway.track_failure_window_secs),
                )),
            },
        }
    }

    /// The intake behind Submit, for submitters in this process (the connector role): the
    /// same validation, idempotent write, receipts, rate limits and channel figures.
    pub fn intake(&self) -> Intake {
        self.intake.clone()
    }

    /// This gateway's channel figures (published for QueueHealth by the gateway role).
    pub fn stats(&self) -> Arc<ChannelStats> {
        self.intake.stats.clone()
    }

    pub fn into_service(self) -> IntakeServiceServer<Gateway> {
        IntakeServiceServer::new(self).max_decoding_message_size(MAX_REQUEST_BYTES)
    }
}

/// Publishes this gateway's channel figures to the ops bucket every `interval` until
/// `shutdown`, so QueueHealth sees every gateway instance.
pub async fn publish_stats(
    bus: Bus,
    instance: String,
    stats: Arc<ChannelStats>,
    interval: std::time::Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    use prost::Message;
    tokio::pin!(shutdown);
    let key = minhu_contracts::bus::gateway_stats_key(&instance);
    let mut ticker = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = ticker.tick() => {}
        }
        let snapshot = minhu_contracts::v1::GatewayStats {
            instance: instance.clone(),
            at: Some(minhu_core::deadlines::timestamp(
                time::OffsetDateTime::now_utc(),
            )),
            window_seconds: stats.window().as_secs() as u32,
            channels: stats.snapshot(),
        };
        if let Err(e) = bus.ops.put(&key, snapshot.encode_to_vec().into()).await {
            tracing::debug!(error = %e, "gateway figures not published");
        }
    }
}

type SubmitStreamOut = Pin<Box<dyn Stream<Item = Result<SubmitStreamResponse, Status>> + Send>>;

impl Gateway {
    fn authenticate(
        &self,
        metadata: &tonic::metadata::MetadataMap,
    ) -> Result<Arc<LiveChannel>, Status> {
        self.channels.authenticate(metadata).map_err(|refused| {
            let channel = refused.channel.as_deref().unwrap_or("unknown");
            metrics::intake_request(channel, refused.outcome, std::time::Duration::ZERO);
            if let Some(channel) = &refused.channel {
                self.intake.stats.record(channel, refused.outcome);
            }
            refused.status
        })
    }
}

#[tonic::async_trait]
impl IntakeService for Gateway {
    async fn submit(
        &self,
        request: Request<SubmitRequest>,
    ) -> Result<Response<SubmitResponse>, Status> {
        let channel = self.authenticate(request.metadata())?;
        let petition = request.into_inner().petition;
        match self.intake.submit(&channel, petition).await {
            Ok(receipt) => Ok(Response::new(SubmitResponse {
                receipt: Some(receipt),
            })),
            Err(e) => Err(e.to_status()),
        }
    }

    type SubmitStreamStream = SubmitStreamOut;

    async fn submit_stream(
        &self,
        request: Request<Streaming<SubmitRequest>>,
    ) -> Result<Response<Self::SubmitStreamStream>, Status> {
        self.authenticate(request.metadata())?;
        let credentials = Arc::new(request.metadata().clone());
        let gateway = self.clone();
        let answers = request
            .into_inner()
            .map(move |item| {
                let gateway = gateway.clone();
                let credentials = credentials.clone();
                async move {
                    let petition = item?.petition;
                    let channel_message_id = petition
                        .as_ref()
                        .map(|p| p.channel_message_id.clone())
                        .unwrap_or_default();
                    // Each item is let in as a Submit would be: a channel suspended or a token
                    // revoked while its stream is open has the items after that refused.
                    let result = match gateway.authenticate(&credentials) {
                        Err(refused) => submit_stream_response::Result::Error(SubmitError {
                            code: refused.code() as i32,
                            message: refused.message().to_owned(),
                            field_violations: Vec::new(),
                        }),
                        Ok(channel) => match gateway.intake.submit(&channel, petition).await {
                            Ok(receipt) => submit_stream_response::Result::Receipt(receipt),
                            Err(e) => submit_stream_response::Result::Error(e.to_submit_error()),
                        },
                    };
                    Ok(SubmitStreamResponse {
                        channel_message_id,
                        result: Some(result),
                    })
                }
            })
            .buffered(STREAM_PIPELINE);
        Ok(Response::new(Box::pin(answers)))
    }

    async fn track(
        &self,
        request: Request<TrackRequest>,
    ) -> Result<Response<TrackResponse>, Status> {
        self.authenticate(request.metadata())?;
        let TrackRequest {
            tracking_number,
            query_code,
        } = request.into_inner();
        self.intake
            .track(&tracking_number, &query_code)
            .await
            .map(Response::new)
    }
}
