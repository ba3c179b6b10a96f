//! The running application: build everything (connect, provision the bus, bind listeners),
//! then run the selected roles until told to stop. `main` and the end-to-end tests both go
//! through [`App::build`] and [`App::run_until_stopped`].

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use minhu_contracts::v1::intake_service_server::IntakeServiceServer;
use minhu_core::bus::{self, Bus};
use minhu_core::config::Settings;
use minhu_gateway::Gateway;
use minhu_triage::Triage;
use minhu_triage::worker::TriageWorker;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::roles::Role;

pub struct App {
    settings: Settings,
    roles: Vec<Role>,
    bus: Bus,
    listener: Option<TcpListener>,
}

impl App {
    /// Connects to NATS at `nats_url`, provisions streams and buckets, and binds the gRPC
    /// listener (port 0 picks a free port; see [`App::grpc_addr`]). Nothing runs yet.
    pub async fn build(settings: Settings, nats_url: &str, roles: &[Role]) -> anyhow::Result<App> {
        let client = bus::connect(nats_url, "minhu").await?;
        let bus = Bus::provision(
            client,
            settings.nats.replicas,
            Duration::from_millis(settings.nats.request_timeout_ms),
        )
        .await?;
        let listener = if roles.iter().any(|r| r.serves_grpc()) {
            let addr = settings.gateway.listen;
            Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen for gRPC on {addr}"))?,
            )
        } else {
            None
        };
        Ok(App {
            settings,
            roles: roles.to_vec(),
            bus,
            listener,
        })
    }

    /// Where the gRPC server listens, if a role of this process serves gRPC.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    /// Runs every selected role until `shutdown` resolves or one role fails; a failure stops
    /// the others and is reported with the role's name.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let stop = CancellationToken::new();
        let mut tasks: JoinSet<(Role, anyhow::Result<()>)> = JoinSet::new();
        let App {
            settings,
            roles,
            bus,
            listener,
        } = self;

        if let Some(listener) = listener {
            let gateway = Gateway::new(&settings, bus.clone());
            let stop = stop.clone();
            let span = tracing::info_span!("role", name = "gateway");
            tasks.spawn(
                async move {
                    let result = serve_grpc(listener, gateway, stop.cancelled_owned()).await;
                    (Role::Gateway, result)
                }
                .instrument(span),
            );
        }
        if roles.contains(&Role::Triage) {
            let worker = TriageWorker::new(
                bus.clone(),
                Arc::new(Triage::new(&settings)),
                settings.triage.clone(),
                settings.deadlines.clone(),
                settings.identity.tracking_prefix.clone(),
            );
            let stop = stop.clone();
            let span = tracing::info_span!("role", name = "triage");
            tasks.spawn(
                async move {
                    worker.run(stop.cancelled_owned()).await;
                    (Role::Triage, Ok(()))
                }
                .instrument(span),
            );
        }

        let watcher = stop.clone();
        tokio::spawn(async move {
            shutdown.await;
            watcher.cancel();
        });

        let mut failure = None;
        while let Some(joined) = tasks.join_next().await {
            let (role, result) = joined.context("a role task panicked")?;
            match result {
                Ok(()) if stop.is_cancelled() => {}
                Ok(()) => {
                    failure.get_or_insert(anyhow::anyhow!("role {role} stopped unexpectedly"));
                    stop.cancel();
                }
                Err(e) => {
                    tracing::error!(role = %role, error = format!("{e:#}"), "role failed; stopping");
                    failure.get_or_insert(e.context(format!("role {role} failed")));
                    stop.cancel();
                }
            }
        }
        // Everything acknowledged is on the server; flush what the client still buffers.
        if let Err(e) = bus.client.flush().await {
            tracing::warn!(error = %e, "NATS flush at shutdown failed");
        }
        failure.map_or(Ok(()), Err)
    }
}

async fn serve_grpc(
    listener: TcpListener,
    gateway: Gateway,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<IntakeServiceServer<Gateway>>().await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(minhu_contracts::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("reflection service")?;
    let reflection_alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(minhu_contracts::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .context("reflection service (v1alpha)")?;
    tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(reflection)
        .add_service(reflection_alpha)
        .add_service(gateway.into_service())
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async move {
            shutdown.await;
            health
                .set_not_serving::<IntakeServiceServer<Gateway>>()
                .await;
        })
        .await
        .context("gRPC server")
}
