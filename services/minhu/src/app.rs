//! The running application: build everything (connect, provision the bus, bind listeners),
//! then run the selected roles until told to stop. `main` and the end-to-end tests both go
//! through [`App::build`] and [`App::run_until_stopped`].

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_nats::connection::State;
use minhu_clock_role::ClockWorker;
use minhu_connector::ConnectorRole;
use minhu_contracts::v1::case_service_server::CaseServiceServer;
use minhu_contracts::v1::channel_admin_server::ChannelAdminServer;
use minhu_contracts::v1::intake_service_server::IntakeServiceServer;
use minhu_contracts::v1::ops_service_server::OpsServiceServer;
use minhu_contracts::v1::reception_service_server::ReceptionServiceServer;
use minhu_core::bus::{self, Bus};
use minhu_core::channels::{self, Registry};
use minhu_core::config::Settings;
use minhu_core::metrics;
use minhu_dispatch::feed::FeedWorker;
use minhu_dispatch::service::CaseApi;
use minhu_dispatch::webhook::WebhookWorker;
use minhu_gateway::Gateway;
use minhu_gateway::admin::ChannelAdminApi;
use minhu_ops::Ops;
use minhu_reception::{Announcer, ReceptionApi, Registrar};
use minhu_triage::Triage;
use minhu_triage::worker::TriageWorker;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tonic::service::interceptor::InterceptedService;
use tonic_health::server::HealthReporter;
use tracing::Instrument;

use crate::listener::{self, Tls};
use crate::roles::Role;
use crate::web::WebLayer;

/// How often the gateway publishes its channel figures for QueueHealth.
const GATEWAY_STATS_INTERVAL: Duration = Duration::from_secs(2);
/// How often gRPC health follows the NATS connection.
const HEALTH_INTERVAL: Duration = Duration::from_millis(250);

pub struct App {
    settings: Settings,
    roles: Vec<Role>,
    bus: Bus,
    grpc: Option<TcpListener>,
    tls: Option<Tls>,
    metrics: Option<TcpListener>,
    /// The configuration file the settings came from: its `[catalogue]` is reloaded on change.
    config_file: Option<std::path::PathBuf>,
    /// The channel registry (gateway, ops and connector roles), loaded, and its watch to follow.
    channels: Option<(Arc<Registry>, channels::Following)>,
}

impl App {
    /// Connects to NATS at `nats_url`, provisions streams and buckets, and binds the gRPC and
    /// metrics listeners (port 0 picks a free port; see [`App::grpc_addr`],
    /// [`App::metrics_addr`]). Nothing runs yet.
    pub async fn build(settings: Settings, nats_url: &str, roles: &[Role]) -> anyhow::Result<App> {
        let secured = bus::NatsSettingsRef {
            nkey_seed: settings.nats.nkey_seed.as_ref().map(|s| s.expose()),
            inbox_prefix: settings.nats.inbox_prefix.as_deref(),
        };
        let client = bus::connect_with(nats_url, "minhu", &secured).await?;
        let bus = Bus::provision(
            client,
            settings.nats.replicas,
            Duration::from_millis(settings.nats.request_timeout_ms),
        )
        .await?;
        let grpc = if roles.iter().any(|r| r.serves_grpc()) {
            Some(bind(settings.gateway.listen, "gRPC").await?)
        } else {
            None
        };
        let tls = match (&grpc, &settings.tls) {
            (Some(_), Some(tls)) => {
                Some(Tls::from_settings(tls, settings.web.enabled).context("TLS")?)
            }
            _ => None,
        };
        let metrics = match settings.ops.metrics_listen {
            Some(addr) => Some(bind(addr, "metrics").await?),
            None => None,
        };
        // The gateway seeds the registry with the configured channels it lacks, and serves
        // only once it holds the whole registry.
        let channels = if [Role::Gateway, Role::Ops, Role::Connector]
            .iter()
            .any(|r| roles.contains(r))
        {
            if roles.contains(&Role::Gateway) {
                let seeded = channels::seed(&bus.channels, &settings.channels)
                    .await
                    .context("seeding the channel registry")?;
                tracing::debug!(seeded, "configured channels written to the registry");
            }
            let loaded = channels::load(&bus.channels)
                .await
                .context("loading the channel registry")?;
            tracing::info!(channels = loaded.0.len(), "channel registry loaded");
            Some(loaded)
        } else {
            None
        };
        Ok(App {
            settings,
            roles: roles.to_vec(),
            bus,
            grpc,
            tls,
            metrics,
            config_file: None,
            channels,
        })
    }

    /// Watches `file` (the configuration the settings were loaded from) and puts each new
    /// `[catalogue]` in force without a restart.
    pub fn reloading_from(mut self, file: Option<std::path::PathBuf>) -> App {
        self.config_file = file;
        self
    }

    /// Where the gRPC server listens, if a role of this process serves gRPC.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Where `/metrics` is served, if configured.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|l| l.local_addr().ok())
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
        let bus = self.bus.clone();
        let mut tasks = self.spawn_roles(&stop)?;

        let watcher = stop.clone();
        tokio::spawn(async move {
            shutdown.await;
            watcher.cancel();
        });

        let mut failure = None;
        while let Some(joined) = tasks.join_next().await {
            let (name, result) = joined.context("a role task panicked")?;
            match result {
                Ok(()) if stop.is_cancelled() => {}
                Ok(()) => {
                    failure.get_or_insert(anyhow::anyhow!("{name} stopped unexpectedly"));
                    stop.cancel();
                }
                Err(e) => {
                    tracing::error!(
                        task = name,
                        error = format!("{e:#}"),
                        "task failed; stopping"
                    );
                    failure.get_or_insert(e.context(format!("{name} failed")));
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

    /// Builds every role and spawns its tasks (see [`spawn_built`] for why each future is built
    /// in a frame of its own).
    fn spawn_roles(
        self,
        stop: &CancellationToken,
    ) -> anyhow::Result<JoinSet<(&'static str, anyhow::Result<()>)>> {
        let mut tasks: JoinSet<(&'static str, anyhow::Result<()>)> = JoinSet::new();
        let App {
            settings,
            roles,
            bus,
            grpc,
            tls,
            metrics,
            config_file,
            channels,
        } = self;
        let registry = channels.map(|(registry, following)| {
            let stop = stop.clone();
            tokio::spawn(async move {
                channels::follow(following, stop.cancelled_owned()).await;
            });
            registry
        });
        // One routing for triage and the centre's manual classification, swapped on reload.
        let routing = minhu_triage::LiveRouting::new(
            minhu_triage::Routing::new(&settings).context("catalogue")?,
        );
        let reload_every = Duration::from_secs(settings.triage.reload_check_secs);
        let unit_names: HashMap<String, String> = settings
            .catalogue
            .units
            .iter()
            .map(|u| (u.id.clone(), u.name.clone()))
            .collect();

        if let Some(listener) = metrics {
            let handle = minhu_ops::prometheus_handle();
            let stop = stop.clone();
            spawn_built(&mut tasks, move || async move {
                let result = minhu_ops::serve_metrics(listener, handle, stop.cancelled_owned())
                    .await
                    .context("metrics endpoint");
                ("metrics", result)
            });
        }

        let gateway = match &registry {
            Some(registry) if roles.contains(&Role::Gateway) => {
                Some(Gateway::new(&settings, bus.clone(), registry.clone()))
            }
            _ => None,
        };
        let admin = match &registry {
            Some(registry) if roles.contains(&Role::Gateway) => Some(ChannelAdminApi::new(
                bus.channels.clone(),
                registry.clone(),
                settings
                    .admin
                    .token_digest()
                    .expect("validated admin token"),
            )),
            _ => None,
        };
        // This process among the instances that report channel figures and hold leases.
        let instance = format!(
            "{}-{}",
            std::process::id(),
            bus.client.server_info().client_id
        );
        if let Some(gateway) = &gateway {
            spawn_channel_stats(&mut tasks, "gateway", &bus, &instance, gateway, stop);
        }

        if roles.contains(&Role::Connector) {
            let registry = registry.clone().expect("loaded for the connector role");
            // The same intake as Submit: the gateway's of this process (its rate limits and
            // channel figures), or one of the connector's own, whose channel figures it then
            // publishes for QueueHealth as a gateway would.
            let intake = match &gateway {
                Some(gateway) => gateway.intake(),
                None => {
                    let own = Gateway::new(&settings, bus.clone(), registry.clone());
                    spawn_channel_stats(&mut tasks, "connector", &bus, &instance, &own, stop);
                    own.intake()
                }
            };
            let connectors =
                ConnectorRole::from_settings(&bus, intake, registry, &settings, instance)
                    .context("connector role")?;
            let stop = stop.clone();
            spawn_built(&mut tasks, move || {
                async move {
                    connectors.run(stop).await;
                    ("connector", Ok(()))
                }
                .instrument(tracing::info_span!("role", name = "connector"))
            });
        }

        let ops = roles.contains(&Role::Ops).then(|| {
            let digest = settings.ops.token_digest().expect("validated ops token");
            Ops::new(
                bus.clone(),
                unit_names.clone(),
                digest,
                registry.clone().expect("loaded for the ops role"),
            )
            .with_connectors(
                settings
                    .connectors
                    .iter()
                    .map(|c| (c.id.clone(), c.channel.clone()))
                    .collect(),
            )
        });
        if let Some(ops) = &ops {
            let span = tracing::info_span!("role", name = "ops");
            let (follower, bus_, stop_) = (ops.clone(), bus.clone(), stop.clone());
            spawn_built(&mut tasks, move || {
                async move {
                    follower.follow(bus_, stop_.cancelled_owned()).await;
                    ("ops", Ok(()))
                }
                .instrument(tracing::info_span!("role", name = "ops"))
            });
            let (poller, stop_) = (ops.clone(), stop.clone());
            let interval = Duration::from_millis(settings.ops.gauge_interval_ms);
            spawn_built(&mut tasks, move || {
                async move {
                    poller.poll_gauges(interval, stop_.cancelled_owned()).await;
                    ("ops", Ok(()))
                }
                .instrument(span)
            });
        }

        let cases = roles.contains(&Role::Dispatch).then(|| {
            // Validated at load: the configured calendar file reads and parses.
            let calendar = settings.clock.calendar().unwrap_or_else(|_| {
                tracing::error!(
                    "the holiday calendar file became unreadable; using the embedded one"
                );
                minhu_clock::Calendar::embedded()
            });
            CaseApi::new(&settings, bus.clone(), Arc::new(calendar), routing.clone())
        });
        // The dispatch role also serves the reception sessions (领导下访接访) and announces them.
        let reception = match &cases {
            Some(_) => {
                let calendar = settings.clock.calendar().map_err(anyhow::Error::msg)?;
                let announcer = Announcer::new(bus.clone(), &settings.reception);
                let worker = announcer.clone();
                let stop = stop.clone();
                spawn_built(&mut tasks, move || {
                    async move {
                        worker.run(stop.cancelled_owned()).await;
                        ("dispatch", Ok(()))
                    }
                    .instrument(tracing::info_span!("role", name = "dispatch"))
                });
                Some(ReceptionApi::new(
                    &settings,
                    bus.clone(),
                    Arc::new(calendar),
                    announcer,
                ))
            }
            None => None,
        };
        if cases.is_some() {
            let feed = FeedWorker::new(bus.clone(), settings.supervisors());
            let stop = stop.clone();
            spawn_built(&mut tasks, move || {
                async move {
                    feed.run(stop.cancelled_owned()).await;
                    ("dispatch", Ok(()))
                }
                .instrument(tracing::info_span!("role", name = "dispatch"))
            });
        }
        // The dispatch role also POSTs the feeds of units with a webhook.
        let webhooks = match &cases {
            Some(_) => WebhookWorker::from_settings(bus.clone(), &settings)
                .context("dispatch role: webhooks")?,
            None => None,
        };
        if let Some(webhooks) = webhooks {
            let stop = stop.clone();
            spawn_built(&mut tasks, move || {
                async move {
                    webhooks.run(stop.cancelled_owned()).await;
                    ("dispatch", Ok(()))
                }
                .instrument(tracing::info_span!("role", name = "dispatch"))
            });
        }

        let has_grpc = grpc.is_some();
        if let Some(listener) = grpc {
            let stop = stop.clone();
            let bus = bus.clone();
            let web = WebLayer::new(&settings.web, gateway.is_some()).context("[web]")?;
            let services = Services {
                gateway,
                admin,
                cases,
                ops,
                reception,
            };
            spawn_built(&mut tasks, move || {
                async move {
                    let result = serve_grpc(listener, tls, web, bus, services, stop).await;
                    ("grpc", result)
                }
                .instrument(tracing::info_span!("grpc"))
            });
        }

        let mut triage_for_reload = None;
        // Triage dispatches with the clock's deadlines; the clock keeps cases to them.
        let clock_rules = if roles.contains(&Role::Triage) || roles.contains(&Role::Clock) {
            Some(Arc::new(
                minhu_clock_role::Rules::from_settings(&settings)
                    .map_err(anyhow::Error::msg)
                    .context("the clock's rules")?,
            ))
        } else {
            None
        };

        if roles.contains(&Role::Triage) {
            let triage =
                Arc::new(Triage::sharing(&settings, routing.clone()).context("triage role")?);
            tracing::info!(
                model = triage.model().version(),
                catalogue = triage.routing().router().catalogue_version(),
                "triage ready"
            );
            if let Some(path) = settings.classifier.model_file.clone() {
                let stop = stop.clone();
                let triage = triage.clone();
                tokio::spawn(async move {
                    minhu_triage::reload::watch_model(
                        triage,
                        path,
                        reload_every,
                        stop.cancelled_owned(),
                    )
                    .await;
                });
            }
            triage_for_reload = Some(triage.clone());
            let calendar = settings.clock.calendar().map_err(anyhow::Error::msg)?;
            let worker = TriageWorker::new(
                bus.clone(),
                triage,
                settings.triage.clone(),
                settings.deadlines.clone(),
                &settings.dedup,
                settings.identity.tracking_prefix.clone(),
            )
            .with_reception(Registrar::new(&bus, &settings.reception, calendar))
            .with_clock_rules(clock_rules.clone().expect("built for triage"));
            let stop = stop.clone();
            spawn_built(&mut tasks, move || {
                async move {
                    worker.run(stop.cancelled_owned()).await;
                    ("triage", Ok(()))
                }
                .instrument(tracing::info_span!("role", name = "triage"))
            });
        }

        if let Some(path) = config_file
            && (roles.contains(&Role::Triage) || roles.contains(&Role::Dispatch))
        {
            let stop = stop.clone();
            tokio::spawn(async move {
                minhu_triage::reload::watch_catalogue(
                    routing,
                    triage_for_reload,
                    path,
                    reload_every,
                    stop.cancelled_owned(),
                )
                .await;
            });
        }

        if roles.contains(&Role::Clock) {
            let worker = ClockWorker::new(
                bus.clone(),
                clock_rules.clone().expect("built for the clock"),
                Duration::from_secs(settings.clock.ack_wait_secs),
            );
            let stop = stop.clone();
            spawn_built(&mut tasks, move || {
                async move {
                    worker.run(stop.cancelled_owned()).await;
                    ("clock", Ok(()))
                }
                .instrument(tracing::info_span!("role", name = "clock"))
            });
        }

        if !has_grpc {
            // Without a gRPC server there is no health to follow, but the gauge still tells
            // ops whether this process reaches NATS.
            tokio::spawn(follow_nats(bus.clone(), None, stop.clone()));
        }

        Ok(tasks)
    }
}

async fn bind(addr: SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen for {what} on {addr}"))
}

/// Spawns the future `build` makes. Built in this function's own frame, which ends before the
/// next role is built: the role futures are large, and a frame holding them all would not fit
/// a test thread's stack in debug builds.
#[inline(never)]
fn spawn_built<F>(
    tasks: &mut JoinSet<(&'static str, anyhow::Result<()>)>,
    build: impl FnOnce() -> F,
) where
    F: Future<Output = (&'static str, anyhow::Result<()>)> + Send + 'static,
{
    tasks.spawn(build());
}

/// Publishes the channel figures of `gateway` for QueueHealth every few seconds, as a task of
/// `role`, until stopped.
fn spawn_channel_stats(
    tasks: &mut JoinSet<(&'static str, anyhow::Result<()>)>,
    role: &'static str,
    bus: &Bus,
    instance: &str,
    gateway: &Gateway,
    stop: &CancellationToken,
) {
    let (bus, instance, stats, stop) = (
        bus.clone(),
        instance.to_owned(),
        gateway.stats(),
        stop.clone(),
    );
    spawn_built(tasks, move || {
        async move {
            let shutdown = stop.cancelled_owned();
            minhu_gateway::publish_stats(bus, instance, stats, GATEWAY_STATS_INTERVAL, shutdown)
                .await;
            (role, Ok(()))
        }
        .instrument(tracing::info_span!("role", name = role))
    });
}

/// The gRPC services of the roles this process runs.
struct Services {
    gateway: Option<Gateway>,
    admin: Option<ChannelAdminApi>,
    cases: Option<CaseApi>,
    ops: Option<Ops>,
    reception: Option<ReceptionApi>,
}

/// One gRPC server for the services of this process, with health and reflection. Health
/// follows the NATS connection: a role that cannot reach the bus is NOT_SERVING.
async fn serve_grpc(
    listener: TcpListener,
    tls: Option<Tls>,
    web: WebLayer,
    bus: Bus,
    services: Services,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let (health, health_service) = tonic_health::server::health_reporter();
    let served = Served {
        gateway: services.gateway.is_some(),
        cases: services.cases.is_some(),
        ops: services.ops.is_some(),
        reception: services.reception.is_some(),
    };
    tokio::spawn(follow_nats(
        bus,
        Some((health.clone(), served)),
        stop.clone(),
    ));
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
    let shutdown = async move {
        stop.cancelled().await;
        // Load balancers stop sending before the server stops accepting.
        served.set(&health, false).await;
    };
    // Unit systems prove themselves with a client certificate when mutual TLS is configured.
    let unit_certificates = tls.as_ref().is_some_and(Tls::verifies_clients);
    let cases = services.cases.map(|cases| {
        InterceptedService::new(cases.into_service(), move |request| {
            if unit_certificates {
                listener::require_client_certificate(request)
            } else {
                Ok(request)
            }
        })
    });
    // The reception desk (the centre, units recording findings) the same way.
    let reception = services.reception.map(|reception| {
        InterceptedService::new(reception.into_service(), move |request| {
            if unit_certificates {
                listener::require_client_certificate(request)
            } else {
                Ok(request)
            }
        })
    });
    let router = tonic::transport::Server::builder()
        // Peers that stop answering (gone, or stalling on purpose) are found and dropped.
        .http2_keepalive_interval(Some(listener::KEEPALIVE_INTERVAL))
        .http2_keepalive_timeout(Some(listener::KEEPALIVE_TIMEOUT))
        // Browsers on plaintext speak HTTP/1.1; native gRPC stays HTTP/2 on the same port.
        .accept_http1(web.accepts_http1())
        .layer(web)
        .add_service(health_service)
        .add_service(reflection)
        .add_service(reflection_alpha)
        .add_optional_service(services.gateway.map(Gateway::into_service))
        .add_optional_service(services.admin.map(ChannelAdminApi::into_service))
        .add_optional_service(cases)
        .add_optional_service(services.ops.map(Ops::into_service))
        .add_optional_service(reception);
    match tls {
        Some(tls) => {
            router
                .serve_with_incoming_shutdown(listener::tls(listener, &tls), shutdown)
                .await
        }
        None => {
            router
                .serve_with_incoming_shutdown(listener::plaintext(listener), shutdown)
                .await
        }
    }
    .context("gRPC server")
}

#[derive(Clone, Copy)]
struct Served {
    gateway: bool,
    cases: bool,
    ops: bool,
    reception: bool,
}

impl Served {
    async fn set(self, health: &HealthReporter, serving: bool) {
        let status = if serving {
            tonic_health::ServingStatus::Serving
        } else {
            tonic_health::ServingStatus::NotServing
        };
        if self.gateway {
            health
                .set_service_status(
                    <IntakeServiceServer<Gateway> as tonic::server::NamedService>::NAME,
                    status,
                )
                .await;
            health
                .set_service_status(
                    <ChannelAdminServer<ChannelAdminApi> as tonic::server::NamedService>::NAME,
                    status,
                )
                .await;
        }
        if self.cases {
            health
                .set_service_status(
                    <CaseServiceServer<CaseApi> as tonic::server::NamedService>::NAME,
                    status,
                )
                .await;
        }
        if self.ops {
            health
                .set_service_status(
                    <OpsServiceServer<Ops> as tonic::server::NamedService>::NAME,
                    status,
                )
                .await;
        }
        if self.reception {
            health
                .set_service_status(
                    <ReceptionServiceServer<ReceptionApi> as tonic::server::NamedService>::NAME,
                    status,
                )
                .await;
        }
        health.set_service_status("", status).await;
    }
}

/// Keeps gRPC health (if served) and the `minhu_nats_connected` gauge in step with the NATS
/// connection.
async fn follow_nats(bus: Bus, health: Option<(HealthReporter, Served)>, stop: CancellationToken) {
    let mut last = None;
    let mut ticker = tokio::time::interval(HEALTH_INTERVAL);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let connected = bus.client.connection_state() == State::Connected;
        if last != Some(connected) {
            if last.is_some() {
                tracing::warn!(connected, "NATS connection changed; gRPC health follows");
            }
            if let Some((health, served)) = &health {
                served.set(health, connected).await;
            }
            metrics::nats_connected(connected);
            last = Some(connected);
        }
    }
}
