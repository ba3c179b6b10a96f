//! `minhu`: parse the command line, load the configuration, run.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use minhu::bench::{ChannelsBench, ClockBench};
use minhu::bench::{E2eBench, IdempotencyBench, IntakeBench, OpsBench};
use minhu::channels_cli::ChannelsCommand;
use minhu::classify_cli::{self, EvalSource};
use minhu::client::{ClientTls, IntakeClient, PetitionArgs};
use minhu::managed_nats::ManagedNats;
use minhu::roles::{Role, parse_roles};
use minhu::top::Top;
use minhu::{App, telemetry};
use minhu_contracts::v1::CaseStatus;
use minhu_core::config::{DEFAULT_TOML, Settings};
use time::OffsetDateTime;

/// mimalloc instead of glibc malloc: the intake path allocates per request (protobuf, strings,
/// bytes), and malloc/free took a tenth of its CPU under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "minhu",
    version,
    about = "民呼 minhu: multi-channel intake and dispatch for citizen petitions"
)]
struct Cli {
    /// Log format: text or json.
    #[arg(long, global = true, default_value = "text", env = "MINHU_LOG_FORMAT")]
    log_format: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run roles (all by default) with the embedded configuration, a file and MINHU_* overrides.
    Serve {
        /// Configuration file (TOML) over the embedded defaults.
        #[arg(long, env = "MINHU_CONFIG")]
        config: Option<PathBuf>,
        /// Roles to run, comma-separated, or "all".
        #[arg(long, default_value = "all")]
        roles: String,
        /// Use this NATS instead of starting a local one (overrides nats.url).
        #[arg(long)]
        nats_url: Option<String>,
    },
    /// List the roles.
    Roles,
    /// Show configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Submit one petition (for trying minhu by hand).
    Submit {
        #[arg(long, default_value = "http://127.0.0.1:50051")]
        addr: String,
        /// Channel token.
        #[arg(long, env = "MINHU_TOKEN", default_value = "demo-web-portal-token")]
        token: String,
        /// The channel's own message id (idempotency key); generated if omitted.
        #[arg(long)]
        id: Option<String>,
        #[arg(long, default_value = "")]
        title: String,
        #[arg(long)]
        body: String,
        #[arg(long)]
        division_code: Option<String>,
        #[arg(long)]
        address: Option<String>,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        phone: Option<String>,
        #[arg(long)]
        id_number: Option<String>,
        #[command(flatten)]
        tls: ClientTls,
    },
    /// Train the domain classifier on labelled JSON lines (`{"title","body","label"}`) and
    /// write the model file (versioned by its content hash).
    Train {
        /// Labelled examples, one JSON object a line.
        #[arg(long)]
        data: PathBuf,
        /// Where to write the model.
        #[arg(long)]
        out: PathBuf,
    },
    /// Benchmarks that print figures.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// Evaluations that print quality figures.
    Eval {
        #[command(subcommand)]
        command: EvalCommand,
    },
    /// Live queue health for ops on a shell: intake rate, streams, consumer lag, channels and
    /// the units with the most overdue and unsigned cases, redrawn every second.
    Top {
        /// The gRPC address of a process running the ops role.
        #[arg(long, default_value = "http://127.0.0.1:50051")]
        addr: String,
        /// Ops token (OpsService credential).
        #[arg(long, env = "MINHU_OPS_TOKEN", default_value = "demo-ops-token")]
        token: String,
        /// Units to list (default: as many as the terminal has room for).
        #[arg(long)]
        units: Option<u32>,
        /// Milliseconds between refreshes.
        #[arg(long, default_value_t = 1000)]
        interval_ms: u64,
        /// Print one frame (two samples one interval apart, for the rate) and exit.
        #[arg(long)]
        once: bool,
        #[command(flatten)]
        tls: ClientTls,
    },
    /// Route past intake again with the catalogue in force and print what would change
    /// (case, old lead -> new lead, rule); without --dry-run, record each change as the
    /// centre's reassignment. Ends with `cases=N changed=N applied=N skipped=N`.
    Replay {
        /// From this time: RFC 3339 (2026-11-20T08:00:00+08:00) or a date (China time).
        #[arg(long)]
        since: String,
        /// Print the changes only.
        #[arg(long)]
        dry_run: bool,
        /// Configuration file (TOML) over the embedded defaults: its catalogue decides.
        #[arg(long, env = "MINHU_CONFIG")]
        config: Option<PathBuf>,
        /// NATS to read from; default: nats.url, else the managed local server's address.
        #[arg(long)]
        nats_url: Option<String>,
    },
    /// The channel registry through ChannelAdmin: create, list, suspend, resume, rotate.
    Channels {
        #[command(subcommand)]
        command: ChannelsCommand,
    },
    /// Track a case by tracking number and query code.
    Track {
        #[arg(long, default_value = "http://127.0.0.1:50051")]
        addr: String,
        #[arg(long, env = "MINHU_TOKEN", default_value = "demo-web-portal-token")]
        token: String,
        tracking_number: String,
        query_code: String,
        #[command(flatten)]
        tls: ClientTls,
    },
}

#[derive(Subcommand)]
enum EvalCommand {
    /// The domain classifier: per-class precision, recall and F1 and the confusion matrix of a
    /// model file (--model), of stratified k-fold cross-validation on the data (--cv K), or of
    /// the embedded default model (neither). Ends with `accuracy=0.xxxx macro_f1=0.xxxx n=N`.
    Classify {
        /// Labelled examples, one JSON object a line.
        #[arg(long)]
        data: PathBuf,
        #[arg(long, conflicts_with = "cv")]
        model: Option<PathBuf>,
        /// Folds of cross-validation (trains a model per fold with the `minhu train` settings).
        #[arg(long, value_parser = clap::value_parser!(u16).range(2..))]
        cv: Option<u16>,
    },
    /// The duplicate detector the triage role uses. With --data: exact duplicates in the file
    /// and edited copies of its messages as positives, pairs of different messages as
    /// negatives; with --pairs: labelled pairs `{"a":{..},"b":{..},"same":bool}`. Ends with
    /// `precision=0.xxxx recall=0.xxxx pairs=N`.
    Dedup {
        #[arg(long, conflicts_with = "pairs", required_unless_present = "pairs")]
        data: Option<PathBuf>,
        #[arg(long)]
        pairs: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Classifies every message of the file (title and body) on one thread after a warm-up,
    /// with the model file or the embedded default model. Ends with `docs_per_s=N p99_us=N`.
    Classify {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        model: Option<PathBuf>,
    },
    /// Routing at province scale: a synthetic province (≈100 counties, 1,400 townships, 20,000
    /// villages, 50 categories, 100,000 catalogue rules) routes the file's message texts
    /// (JSON lines with title and body), single-threaded: location, catalogue and accusation
    /// guard. Ends with `p50_us=N p99_us=N`.
    Route {
        #[arg(long)]
        data: PathBuf,
    },
    /// Indexes 10k, 100k and 1M documents (the file's messages with edits, repeated to size)
    /// and times lookups. Ends with `p99_us_10k=N p99_us_1m=N bytes_per_doc=N`.
    Dedup {
        #[arg(long)]
        data: PathBuf,
    },
    /// QueueHealth with thousands of units and open cases replayed into a real ops role.
    /// Ends with `queue_health_p50_ms=N p99_ms=N units=N open_cases=N`.
    Ops {
        #[arg(long)]
        nats_url: Option<String>,
        #[arg(long, default_value_t = 2_000)]
        units: u32,
        #[arg(long, default_value_t = 100_000)]
        cases: u64,
        /// Timed QueueHealth calls.
        #[arg(long, default_value_t = 200)]
        calls: usize,
    },
    /// Intake at province scale: the same load with the configured channels, then with
    /// `--channels` registered through ChannelAdmin (the load spread over all of them) and
    /// `--rotations` token rotations during it. Ends with
    /// `baseline_per_s=N scale_per_s=N change_pct=X channels=N rotations=N`.
    Channels {
        #[arg(long)]
        nats_url: Option<String>,
        #[arg(long, default_value_t = 5_000)]
        channels: usize,
        #[arg(long, default_value_t = 10)]
        rotations: usize,
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Seconds of load for each measurement.
        #[arg(long, default_value_t = 10)]
        duration: u64,
        /// Baseline-then-scale pairs; the medians are compared.
        #[arg(long, default_value_t = 1)]
        rounds: usize,
    },
    /// Submits through the gateway with every role running, then measures a do-nothing tonic
    /// call and raw JetStream publishes of the same payloads. Ends with
    /// `submits_per_s=N p50_ms=N p99_ms=N echo_per_s=N ratio_to_echo=R js_per_s=N`.
    Intake {
        #[arg(long)]
        nats_url: Option<String>,
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Seconds of load for each measurement.
        #[arg(long, default_value_t = 10)]
        duration: u64,
        /// The roles running beside the load (`gateway` alone: what the intake gets on cores
        /// of its own, as in a deployment that runs the pipeline elsewhere).
        #[arg(long, default_value = "all")]
        roles: String,
    },
    /// Fixed-rate submits, each timed until its case is on its unit's dispatch subject.
    /// Ends with `rate=N p50_ms=N p99_ms=N lost=N`.
    E2e {
        #[arg(long)]
        nats_url: Option<String>,
        #[arg(long, default_value_t = 1000)]
        rate: u32,
        #[arg(long, default_value_t = 10)]
        duration: u64,
    },
    /// Idempotent intake: one publish per subject with expected sequence 0, against a KV
    /// create followed by a publish. Ends with `subject_cas_per_s=N kv_then_publish_per_s=N ratio=R`.
    Idempotency {
        /// Use this NATS (else a temporary local server is started).
        #[arg(long)]
        nats_url: Option<String>,
        #[arg(long, default_value_t = 20_000)]
        submissions: u64,
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        #[arg(long, default_value_t = 2048)]
        payload_bytes: usize,
    },
    /// Arms `--count` case timers (JetStream message schedules) due over a short window and
    /// takes them up with clock consumers as the clock role does, timing each firing against
    /// its instant. Ends with `fire_lag_p99_ms=N pending=N rss_mb=N`.
    Clock {
        /// Use this NATS (else a temporary local server is started).
        #[arg(long)]
        nats_url: Option<String>,
        #[arg(long, default_value_t = 100_000)]
        count: u64,
        /// Seconds the instants spread over (default: count / 10,000, at least 10).
        #[arg(long)]
        window: Option<u64>,
        /// Clock instances (each its own connection) sharing the timer consumer.
        #[arg(long, default_value_t = 2)]
        instances: usize,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// The effective configuration (defaults, file, environment), secrets masked.
    Print {
        #[arg(long, env = "MINHU_CONFIG")]
        config: Option<PathBuf>,
    },
    /// The embedded default configuration, as compiled in.
    Defaults,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            config,
            roles,
            nats_url,
        } => {
            telemetry::init(&cli.log_format);
            let settings = Settings::load(config.as_deref())?;
            let roles = parse_roles(&roles).map_err(anyhow::Error::msg)?;
            serve(settings, config, roles, nats_url).await
        }
        Command::Replay {
            since,
            dry_run,
            config,
            nats_url,
        } => {
            let since = minhu::replay::parse_since(&since)?;
            let settings = Settings::load(config.as_deref())?;
            let url = nats_url
                .or_else(|| settings.nats.url.clone())
                .unwrap_or_else(|| format!("nats://{}", settings.nats.managed_listen));
            let secured = minhu_core::bus::NatsSettingsRef {
                nkey_seed: settings.nats.nkey_seed.as_ref().map(|s| s.expose()),
                inbox_prefix: settings.nats.inbox_prefix.as_deref(),
            };
            let client = minhu_core::bus::connect_with(&url, "minhu-replay", &secured)
                .await
                .with_context(|| format!("connecting to {url}"))?;
            let bus = minhu_core::bus::Bus::provision(
                client,
                settings.nats.replicas,
                std::time::Duration::from_millis(settings.nats.request_timeout_ms),
            )
            .await?;
            let mut out = std::io::stdout().lock();
            let report = minhu::replay::replay(&settings, &bus, since, dry_run, &mut out).await?;
            writeln!(out, "{report}")?;
            Ok(())
        }
        Command::Eval {
            command: EvalCommand::Dedup { data, pairs },
        } => {
            let detector = minhu_dedup::detector::Detector::default();
            let report = match (data, pairs) {
                (Some(data), _) => {
                    let messages = minhu_dedup::data::read_messages(&data)?;
                    minhu_dedup::eval::eval_corpus(&detector, &messages)
                }
                (None, Some(pairs)) => {
                    let pairs = minhu_dedup::data::read_pairs(&pairs)?;
                    minhu_dedup::eval::eval_pairs(&detector, &pairs)
                }
                (None, None) => unreachable!("clap requires one of them"),
            };
            println!("{report}");
            Ok(())
        }
        Command::Train { data, out } => {
            classify_cli::run_train(&data, &out, &mut std::io::stdout())
        }
        Command::Eval {
            command: EvalCommand::Classify { data, model, cv },
        } => {
            let source = match (&model, cv) {
                (Some(model), _) => EvalSource::Model(model),
                (None, Some(folds)) => EvalSource::CrossValidation(folds.into()),
                (None, None) => EvalSource::Default,
            };
            classify_cli::run_eval(source, &data, &mut std::io::stdout())
        }
        Command::Bench {
            command: BenchCommand::Classify { data, model },
        } => classify_cli::run_bench(model.as_deref(), &data, &mut std::io::stdout()),
        Command::Bench {
            command: BenchCommand::Dedup { data },
        } => {
            let messages = minhu_dedup::data::read_messages(&data)?;
            let report = minhu_dedup::bench::bench(
                &minhu_dedup::detector::Detector::default(),
                &messages,
                &minhu_dedup::bench::BenchConfig::default(),
            )?;
            println!("{report}");
            Ok(())
        }
        Command::Bench {
            command: BenchCommand::Route { data },
        } => {
            let messages: Vec<_> = minhu_dedup::data::read_messages(&data)?
                .into_iter()
                .map(|m| minhu_route::bench::MessageText {
                    title: m.title,
                    body: m.body,
                })
                .collect();
            let report =
                minhu_route::bench::run(&minhu_route::bench::ProvinceShape::default(), &messages)?;
            println!("{report}");
            Ok(())
        }
        Command::Roles => {
            for role in Role::ALL {
                println!("{:<10} {}", role.name(), role.description());
            }
            Ok(())
        }
        Command::Config { command } => {
            match command {
                ConfigCommand::Print { config } => {
                    let settings = Settings::load(config.as_deref())?;
                    print!("{}", toml::to_string_pretty(&settings)?);
                }
                ConfigCommand::Defaults => {
                    print!("{DEFAULT_TOML}");
                    println!(
                        "\n# The embedded [catalogue]: minhu-route's 浦江县 demo.\n{}",
                        toml::to_string(&CatalogueTable {
                            catalogue: minhu_core::config::RouterConfig::demo(),
                        })?
                    );
                }
            }
            Ok(())
        }
        Command::Submit {
            addr,
            token,
            id,
            title,
            body,
            division_code,
            address,
            name,
            phone,
            id_number,
            tls,
        } => {
            let mut client = IntakeClient::connect(&addr, &token, &tls).await?;
            let id = id.unwrap_or_else(|| {
                format!("cli-{}", OffsetDateTime::now_utc().unix_timestamp_nanos())
            });
            let petition = PetitionArgs {
                id,
                title,
                body,
                division_code,
                address,
                name,
                phone,
                id_number,
            };
            let receipt = client.submit(petition.into()).await?;
            let accepted_at = receipt
                .accepted_at
                .map(|t| t.to_string())
                .unwrap_or_default();
            println!(
                "tracking_number={} query_code={} accepted_at={accepted_at} replayed={}",
                receipt.tracking_number, receipt.query_code, receipt.replayed
            );
            Ok(())
        }
        Command::Bench {
            command:
                BenchCommand::Intake {
                    nats_url,
                    concurrency,
                    duration,
                    roles,
                },
        } => {
            let roles = parse_roles(&roles).map_err(anyhow::Error::msg)?;
            if !roles.contains(&Role::Gateway) {
                anyhow::bail!("bench intake submits through the gateway: --roles must include it");
            }
            IntakeBench {
                nats_url,
                concurrency,
                duration: std::time::Duration::from_secs(duration),
                roles,
            }
            .run()
            .await
        }
        Command::Bench {
            command:
                BenchCommand::Channels {
                    nats_url,
                    channels,
                    rotations,
                    concurrency,
                    duration,
                    rounds,
                },
        } => {
            ChannelsBench {
                nats_url,
                channels,
                rotations,
                concurrency,
                duration: std::time::Duration::from_secs(duration),
                rounds,
            }
            .run()
            .await
        }
        Command::Bench {
            command:
                BenchCommand::E2e {
                    nats_url,
                    rate,
                    duration,
                },
        } => {
            E2eBench {
                nats_url,
                rate,
                duration: std::time::Duration::from_secs(duration),
            }
            .run()
            .await
        }
        Command::Bench {
            command:
                BenchCommand::Clock {
                    nats_url,
                    count,
                    window,
                    instances,
                },
        } => {
            ClockBench {
                nats_url,
                count,
                window: std::time::Duration::from_secs(window.unwrap_or((count / 10_000).max(10))),
                instances,
            }
            .run()
            .await
        }
        Command::Bench {
            command:
                BenchCommand::Idempotency {
                    nats_url,
                    submissions,
                    concurrency,
                    payload_bytes,
                },
        } => {
            IdempotencyBench {
                nats_url,
                submissions,
                concurrency,
                payload_bytes,
            }
            .run()
            .await
        }
        Command::Bench {
            command:
                BenchCommand::Ops {
                    nats_url,
                    units,
                    cases,
                    calls,
                },
        } => {
            OpsBench {
                nats_url,
                units,
                cases,
                calls,
            }
            .run()
            .await
        }
        Command::Top {
            addr,
            token,
            units,
            interval_ms,
            once,
            tls,
        } => {
            Top {
                addr,
                token,
                units,
                interval: std::time::Duration::from_millis(interval_ms.max(100)),
                once,
                tls,
            }
            .run()
            .await
        }
        Command::Channels { command } => command.run().await,
        Command::Track {
            addr,
            token,
            tracking_number,
            query_code,
            tls,
        } => {
            let mut client = IntakeClient::connect(&addr, &token, &tls).await?;
            let case = client.track(&tracking_number, &query_code).await?;
            let status = |s: i32| {
                CaseStatus::try_from(s)
                    .map(|s| {
                        s.as_str_name()
                            .trim_start_matches("CASE_STATUS_")
                            .to_owned()
                    })
                    .unwrap_or_else(|_| s.to_string())
            };
            println!("tracking_number: {}", case.tracking_number);
            println!("status:          {}", status(case.status));
            if !case.category.is_empty() {
                println!("category:        {}", case.category);
            }
            if let Some(unit) = &case.unit {
                println!("unit:            {} ({})", unit.name, unit.id);
            }
            if !case.duplicate_of.is_empty() {
                println!(
                    "duplicate of:    {} ({})",
                    case.duplicate_of,
                    status(case.original_status)
                );
            }
            for d in &case.deadlines {
                let due = d.due_at.map(|t| t.to_string()).unwrap_or_default();
                println!("deadline:        {} {} ({})", d.milestone, due, d.basis);
            }
            for h in &case.history {
                let at = h.at.map(|t| t.to_string()).unwrap_or_default();
                println!("history:         {at} {} {}", status(h.status), h.note);
            }
            Ok(())
        }
    }
}

async fn serve(
    settings: Settings,
    config: Option<std::path::PathBuf>,
    roles: Vec<Role>,
    nats_url: Option<String>,
) -> anyhow::Result<()> {
    let managed = match nats_url.clone().or_else(|| settings.nats.url.clone()) {
        Some(_) => None,
        None => Some(
            ManagedNats::start(
                settings.nats.managed_listen,
                &settings.nats.managed_store_dir,
            )
            .await
            .context("starting the local NATS server")?,
        ),
    };
    let url = nats_url
        .or_else(|| settings.nats.url.clone())
        .or_else(|| managed.as_ref().map(|m| m.url().to_owned()))
        .expect("either configured or managed");

    let app = App::build(settings.clone(), &url, &roles)
        .await?
        .reloading_from(config);
    print_banner(&settings, &roles, &app, &url, managed.is_some());

    let result = app.run_until_stopped(shutdown_signal()).await;
    if let Some(managed) = managed {
        managed.stop().await;
    }
    result
}

fn print_banner(settings: &Settings, roles: &[Role], app: &App, url: &str, managed: bool) {
    let names: Vec<_> = roles.iter().map(|r| r.name()).collect();
    println!("minhu serving roles: {}", names.join(", "));
    if let Some(addr) = app.grpc_addr() {
        let services: Vec<_> = roles
            .iter()
            .filter_map(|r| match r {
                Role::Gateway => Some("minhu.v1.IntakeService, minhu.v1.ChannelAdmin"),
                Role::Dispatch => Some("minhu.v1.CaseService"),
                Role::Ops => Some("minhu.v1.OpsService"),
                Role::Triage | Role::Clock | Role::Connector => None,
            })
            .collect();
        println!(
            "  gRPC ({}, grpc.health.v1, reflection): {addr}",
            services.join(", ")
        );
        if settings.web.enabled {
            let origins = match settings.web.allow_origins.as_slice() {
                [] => "same origin only".to_owned(),
                origins => format!("CORS for {}", origins.join(", ")),
            };
            println!("  gRPC-Web for browsers on the same port ({origins})");
            if settings.web.portal && roles.contains(&Role::Gateway) {
                let scheme = if settings.tls.is_some() {
                    "https"
                } else {
                    "http"
                };
                println!(
                    "  demo portal: {scheme}://{addr}{}",
                    minhu::web::PORTAL_PATH
                );
            }
        }
        if let Some(tls) = &settings.tls {
            println!("  TLS on gRPC: certificate {}", tls.cert_file.display());
            if let Some(ca) = &tls.client_ca_file {
                println!(
                    "  CaseService clients need a certificate signed by {}",
                    ca.display()
                );
            }
        }
    }
    if let Some(addr) = app.metrics_addr() {
        println!("  Prometheus metrics: http://{addr}/metrics");
    }
    if managed {
        println!(
            "  NATS: {url} (local server, data in {})",
            settings.nats.managed_store_dir.display()
        );
    } else {
        println!("  NATS: {url}");
    }
    println!(
        "  units receive cases on: minhu.dispatch.<unit_id>.>  (payload minhu.v1.DispatchedCase)"
    );
    if roles.contains(&Role::Clock) {
        println!(
            "  clock: SLA profiles {}; hotline channels {}; timers in stream {}",
            settings.clock.sla_config().active.join(", "),
            settings.clock.hotline_channels.join(", "),
            minhu_contracts::bus::TIMERS_STREAM
        );
    }
    if roles.contains(&Role::Connector) {
        // The URLs stay out of the banner: they may carry the sources' credentials.
        match settings.connectors.as_slice() {
            [] => println!("  connector: no [[connectors]] configured; idle"),
            connectors => {
                for c in connectors {
                    println!(
                        "  connector {} → channel {}, every {} s; cursor, lease, health in KV {}",
                        c.id,
                        c.channel,
                        c.interval_secs,
                        minhu_contracts::bus::CONNECTORS_BUCKET
                    );
                }
            }
        }
    }
    let demo: Vec<_> = settings
        .channels
        .iter()
        .filter(|c| c.token_sha256.is_none())
        .filter_map(|c| c.demo_token.as_ref().map(|t| (c, t)))
        .collect();
    if !demo.is_empty() {
        println!("  demo channel tokens (replace them before production):");
        for (channel, token) in demo {
            println!(
                "    {:<16} authorization: Bearer {}",
                channel.id,
                token.expose()
            );
        }
    }
    if let Some(token) = settings
        .ops
        .demo_token
        .as_ref()
        .filter(|_| roles.contains(&Role::Ops))
    {
        println!("  demo ops token: authorization: Bearer {}", token.expose());
    }
    if let Some(token) = settings
        .admin
        .demo_token
        .as_ref()
        .filter(|_| settings.admin.token_sha256.is_none() && roles.contains(&Role::Gateway))
    {
        println!(
            "  demo admin token (ChannelAdmin, minhu channels): authorization: Bearer {}",
            token.expose()
        );
    }
    if settings.uses_demo_secrets() {
        tracing::warn!("demo secrets or tokens are in use; a deployment must replace them");
    }
}

/// `minhu config defaults` prints the catalogue as the `[catalogue]` table a file would hold.
#[derive(serde::Serialize)]
struct CatalogueTable {
    catalogue: minhu_core::config::RouterConfig,
}

/// Ctrl-C or SIGTERM (systemd, Kubernetes).
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down: finishing in-flight work");
}
