//! The roles as a deployment runs them: one `minhu serve --roles <role>` process each, against
//! a real 3-node NATS cluster with 3 replicas. A known workload through the gateway process
//! shows up exactly in the ops process's QueueHealth and in each process's `/metrics`; the
//! processes' gRPC health and NATS gauge follow the whole cluster away and back; every
//! process stops cleanly on SIGTERM.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{OnceLock, mpsc};
use std::time::{Duration, Instant};

use minhu_contracts::bus;
use minhu_contracts::v1::intake_service_client::IntakeServiceClient;
use minhu_contracts::v1::ops_service_client::OpsServiceClient;
use minhu_contracts::v1::{
    CaseStatus, Location, Petition, QueueHealthRequest, QueueHealthResponse, Receipt,
    SubmitRequest, TrackRequest,
};
use minhu_e2e::nats::NatsCluster;
use minhu_e2e::{HOTLINE_TOKEN, WEB_TOKEN, authorized, petition};
use tonic::Code;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

const OPS_TOKEN: &str = "demo-ops-token";
/// How long a process may take to come up (connect, provision R3 streams) or to catch up.
const WAIT: Duration = Duration::from_secs(20);

/// The `minhu` binary of this build. Cargo builds a package's binaries only for that
/// package's own tests, so this one asks Cargo for it (a no-op when it is up to date) and
/// never runs a stale binary left from an earlier build.
fn minhu_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test binary's path");
        // <target dir>/<profile dir>/deps/e2e-<hash>
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("the test binary is in <target>/<profile>/deps");
        let target_dir = profile_dir.parent().expect("a target directory");
        let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => "dev",
            Some(other) => other,
        };
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = Command::new(cargo);
        // What Cargo sets for this test only: build scripts that watch these (ring's) would
        // otherwise see a change and rebuild half the dependencies, here and in the next
        // outer build.
        for (key, _) in std::env::vars_os() {
            let key_text = key.to_string_lossy();
            let set_for_tests = [
                "CARGO_MANIFEST_",
                "CARGO_PKG_",
                "CARGO_CRATE_",
                "CARGO_BIN_",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
                "CARGO_RUSTC_CURRENT_DIR",
                "OUT_DIR",
            ];
            if set_for_tests.iter().any(|p| key_text.starts_with(p)) {
                command.env_remove(&key);
            }
        }
        // With this package selected too, dependencies resolve to the features this test was
        // built with, so their artifacts are reused instead of built a second time.
        let output = command
            .args([
                "build",
                "--quiet",
                "-p",
                "minhu",
                "-p",
                "minhu-e2e",
                "--lib",
            ])
            .args(["--bin", "minhu", "--profile"])
            .arg(profile)
            .arg("--target-dir")
            .arg(target_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdin(Stdio::null())
            .output()
            .expect("run cargo build");
        assert!(
            output.status.success(),
            "cargo build -p minhu failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let bin = profile_dir.join("minhu");
        assert!(bin.is_file(), "no minhu binary at {}", bin.display());
        bin
    })
}

/// One `minhu serve` child process, killed on drop.
struct Process {
    roles: &'static str,
    child: Child,
    grpc: Option<SocketAddr>,
    /// Known once the banner is read.
    metrics: Option<SocketAddr>,
    log: PathBuf,
}

impl Process {
    /// Starts `minhu serve --roles <roles>` and waits for its banner, which says where it
    /// listens: every port is chosen by the process itself, so none can be taken in between.
    fn start(roles: &'static str, nats_urls: &str, dir: &Path) -> Process {
        let log = dir.join(format!("{roles}.log"));
        let mut command = Command::new(minhu_bin());
        // Only this test's settings: nothing from the developer's shell.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("MINHU_") {
                command.env_remove(key);
            }
        }
        command
            .args(["serve", "--roles", roles, "--nats-url", nats_urls])
            .env("MINHU_GATEWAY__LISTEN", "127.0.0.1:0")
            .env("MINHU_OPS__METRICS_LISTEN", "127.0.0.1:0")
            .env("MINHU_OPS__GAUGE_INTERVAL_MS", "200")
            .env("MINHU_NATS__REPLICAS", "3")
            // Creating replicated streams on a fresh cluster can be slow on a loaded machine.
            .env("MINHU_NATS__REQUEST_TIMEOUT_MS", "10000")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(&log).expect("process log file"));
        let mut child = command.spawn().expect("spawn minhu");
        let stdout = child.stdout.take().expect("piped stdout");
        let (lines, banner) = mpsc::channel();
        let copy = dir.join(format!("{roles}.out"));
        std::thread::spawn(move || {
            let mut copy = File::create(copy).expect("process output file");
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = writeln!(copy, "{line}");
                let _ = lines.send(line);
            }
        });
        let mut process = Process {
            roles,
            child,
            grpc: None,
            metrics: None,
            log,
        };
        let deadline = Instant::now() + WAIT;
        loop {
            let line = match banner.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => line,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Ok(Some(status)) = process.child.try_wait() {
                        panic!("{roles} exited at start ({status}):\n{}", process.logs());
                    }
                    assert!(
                        Instant::now() < deadline,
                        "{roles} printed no banner within {WAIT:?}:\n{}",
                        process.logs()
                    );
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("{roles} closed its output:\n{}", process.logs())
                }
            };
            let address = |line: &str| -> SocketAddr {
                let text = line.rsplit(": ").next().unwrap_or_default();
                let text = text
                    .trim_start_matches("http://")
                    .trim_end_matches("/metrics");
                text.parse()
                    .unwrap_or_else(|_| panic!("no address in banner line {line:?}"))
            };
            if line.trim_start().starts_with("gRPC (") {
                process.grpc = Some(address(&line));
            } else if line.trim_start().starts_with("Prometheus metrics:") {
                process.metrics = Some(address(&line));
            } else if line.trim_start().starts_with("units receive cases on:") {
                // The banner's last fixed line: everything it says is known now.
                break;
            }
        }
        assert!(
            process.metrics.is_some(),
            "{roles} announced no metrics endpoint:\n{}",
            process.logs()
        );
        process
    }

    fn grpc_url(&self) -> String {
        format!("http://{}", self.grpc.expect("this process serves gRPC"))
    }

    /// The process's log (stderr), for failure messages.
    fn logs(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        format!(
            "--- {} ({}) ---\n{}",
            self.roles,
            self.log.display(),
            lines[lines.len().saturating_sub(40)..].join("\n")
        )
    }

    async fn metrics(&self) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = self.metrics.expect("announced at start");
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| panic!("{} /metrics: {e}\n{}", self.roles, self.logs()));
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: minhu\r\nConnection: close\r\n\r\n")
            .await
            .expect("metrics request");
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .await
            .expect("metrics response");
        response
    }

    /// Waits until `/metrics` has every line of `wanted`.
    async fn metrics_show(&self, wanted: &[String]) {
        let deadline = Instant::now() + WAIT;
        loop {
            let metrics = self.metrics().await;
            let missing: Vec<&String> = wanted.iter().filter(|l| !metrics.contains(*l)).collect();
            if missing.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} /metrics never showed {missing:?}:\n{metrics}",
                self.roles
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the process's gRPC health of `service` is `wanted`.
    async fn health_becomes(&self, service: &str, wanted: ServingStatus) {
        let channel = Channel::from_shared(self.grpc_url())
            .expect("url")
            .connect_lazy();
        let mut health = HealthClient::new(channel);
        let deadline = Instant::now() + WAIT;
        loop {
            let status = health
                .check(HealthCheckRequest {
                    service: service.into(),
                })
                .await
                .map(|r| r.into_inner().status);
            if status.as_ref().is_ok_and(|s| *s == wanted as i32) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} health of {service:?} never became {wanted:?} (last: {status:?}):\n{}",
                self.roles,
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Asks the process to stop, as systemd and Kubernetes do.
    fn terminate(&self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
    }

    /// The exit status, waiting at most `timeout`. Waits without blocking the runtime: the
    /// test's clients must see the server's GOAWAY and close, or a graceful server waits.
    async fn exited(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        None
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Distinct matters at distinct places from distinct petitioners, so triage dispatches each
/// on its own (no repeat, no merge).
fn matter(id: &str, title: &str, body: &str, place: &str, phone: &str) -> Petition {
    let mut p = petition(id);
    p.title = title.into();
    p.body = body.into();
    p.location = Some(Location {
        address: place.into(),
        ..Default::default()
    });
    let petitioner = p.petitioner.as_mut().expect("a petitioner");
    petitioner.id_number = String::new();
    petitioner.phone = phone.into();
    p
}

async fn submit(
    client: &mut IntakeServiceClient<Channel>,
    token: &str,
    petition: Petition,
) -> Result<Receipt, tonic::Status> {
    let request = authorized(
        token,
        SubmitRequest {
            petition: Some(petition),
        },
    );
    Ok(client
        .submit(request)
        .await?
        .into_inner()
        .receipt
        .expect("a receipt"))
}

/// The lead unit of a receipted petition, once triage has dispatched it, as Track tells the
/// petitioner.
async fn dispatched_unit(client: &mut IntakeServiceClient<Channel>, receipt: &Receipt) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let track = client
            .track(authorized(
                WEB_TOKEN,
                TrackRequest {
                    tracking_number: receipt.tracking_number.clone(),
                    query_code: receipt.query_code.clone(),
                },
            ))
            .await;
        if let Ok(track) = &track {
            let track = track.get_ref();
            assert!(
                track.duplicate_of.is_empty(),
                "{} was taken as a repeat of {}",
                receipt.tracking_number,
                track.duplicate_of
            );
            if track.status == CaseStatus::Dispatched as i32
                && let Some(unit) = &track.unit
            {
                return unit.id.clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "{} was not dispatched within {WAIT:?}: {track:?}",
            receipt.tracking_number
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn queue_health(client: &mut OpsServiceClient<Channel>) -> QueueHealthResponse {
    client
        .queue_health(authorized(OPS_TOKEN, QueueHealthRequest { top_units: 100 }))
        .await
        .expect("QueueHealth answers")
        .into_inner()
}

#[tokio::test]
async fn roles_as_processes_on_a_cluster_report_a_known_workload_and_follow_nats() {
    let started = Instant::now();
    let mut phases: Vec<(&str, f64)> = Vec::new();
    let bin = tokio::task::spawn_blocking(minhu_bin);
    let mut cluster = tokio::task::spawn_blocking(|| NatsCluster::start(3))
        .await
        .expect("cluster");
    bin.await.expect("minhu binary");
    phases.push(("cluster", started.elapsed().as_secs_f64()));
    let dir = tempfile::Builder::new()
        .prefix("minhu-processes-")
        .tempdir()
        .expect("temp dir");
    let urls = cluster.urls();
    // The first process creates the streams and buckets; the others, started together, find
    // them (creating them from four processes at once only adds contention).
    let first = {
        let (urls, dir) = (urls.clone(), dir.path().to_owned());
        tokio::task::spawn_blocking(move || Process::start("gateway", &urls, &dir))
            .await
            .expect("the gateway started")
    };
    let starting: Vec<_> = ["triage", "dispatch", "ops"]
        .into_iter()
        .map(|role| {
            let urls = urls.clone();
            let dir = dir.path().to_owned();
            std::thread::spawn(move || Process::start(role, &urls, &dir))
        })
        .collect();
    let mut processes = vec![first];
    processes.extend(
        starting
            .into_iter()
            .map(|t| t.join().expect("a process started")),
    );
    phases.push(("processes", started.elapsed().as_secs_f64()));
    let [gateway, triage, dispatch, ops] = &processes[..] else {
        unreachable!("four roles")
    };
    assert!(triage.grpc.is_none(), "triage serves no gRPC");

    // The workload: 4 petitions from the web portal, 2 from the hotline, a retry, a refusal.
    let mut intake = IntakeServiceClient::connect(gateway.grpc_url())
        .await
        .expect("gateway gRPC");
    let web = [
        matter(
            "p-1",
            "小区违章搭建无人管",
            "我住在黄宅镇某小区，楼下业主违章搭建阳光房已三个月，物业多次劝阻无效，请相关部门依法处理。",
            "浦江县黄宅镇某小区",
            "13900000001",
        ),
        matter(
            "p-2",
            "夜间施工噪音扰民",
            "仙华街道某工地每天夜里施工到凌晨，严重影响周边居民休息，请有关部门管一管。",
            "浦江县仙华街道",
            "13900000002",
        ),
        matter(
            "p-3",
            "路灯损坏无人修",
            "浦阳街道某路段路灯损坏半个月无人修理，夜间出行很不安全。",
            "浦江县浦阳街道",
            "13900000003",
        ),
        matter(
            "p-4",
            "河道被养殖场排污",
            "花桥乡某村河道被养殖场排污，河水发黑发臭，请环保部门查处。",
            "浦江县花桥乡",
            "13900000004",
        ),
    ];
    let hotline = [
        matter(
            "h-1",
            "农贸市场周边占道经营",
            "岩头镇农贸市场周边商贩占道经营，早上车辆无法通行，请城管处理。",
            "浦江县岩头镇",
            "13900000005",
        ),
        matter(
            "h-2",
            "工厂拖欠工资",
            "我在郑宅镇某工厂打工，老板已经拖欠三个月工资不发，请劳动监察部门帮忙。",
            "浦江县郑宅镇",
            "13900000006",
        ),
    ];
    let mut receipts = Vec::new();
    for p in web.iter().cloned() {
        receipts.push(submit(&mut intake, WEB_TOKEN, p).await.expect("accepted"));
    }
    for p in hotline.iter().cloned() {
        receipts.push(
            submit(&mut intake, HOTLINE_TOKEN, p)
                .await
                .expect("accepted"),
        );
    }
    let retry = submit(&mut intake, WEB_TOKEN, web[0].clone())
        .await
        .expect("retry answered");
    assert!(retry.replayed);
    assert_eq!(retry.tracking_number, receipts[0].tracking_number);
    let mut empty = web[1].clone();
    empty.channel_message_id = "p-5".into();
    empty.body.clear();
    assert_eq!(
        submit(&mut intake, WEB_TOKEN, empty)
            .await
            .unwrap_err()
            .code(),
        Code::InvalidArgument
    );

    phases.push(("workload", started.elapsed().as_secs_f64()));
    let mut expected_units: BTreeMap<String, u64> = BTreeMap::new();
    for receipt in &receipts {
        *expected_units
            .entry(dispatched_unit(&mut intake, receipt).await)
            .or_default() += 1;
    }

    // QueueHealth of the ops process: gateways publish their figures every few seconds and
    // the ops board follows the case events, so wait until both have caught up.
    phases.push(("dispatched", started.elapsed().as_secs_f64()));
    let mut ops_client = OpsServiceClient::connect(ops.grpc_url())
        .await
        .expect("ops gRPC");
    let deadline = Instant::now() + WAIT;
    let health = loop {
        let health = queue_health(&mut ops_client).await;
        let units: BTreeMap<String, u64> = health
            .units
            .iter()
            .map(|u| (u.unit_id.clone(), u.open))
            .collect();
        let channel = |id: &str| health.channels.iter().find(|c| c.channel_id == id);
        let consumers_idle = [bus::TRIAGE_CONSUMER, bus::FEED_CONSUMER]
            .iter()
            .all(|name| {
                health
                    .consumers
                    .iter()
                    .any(|c| c.name == *name && c.pending == 0 && c.ack_pending == 0)
            });
        // A gateway's figures are a snapshot of its counters: wait for one taken after the
        // retry and the refusal too.
        let web_done = channel("web-portal").is_some_and(|c| {
            c.submissions == 4 && c.retries == 1 && c.rejections.get("invalid") == Some(&1)
        });
        if units == expected_units
            && web_done
            && channel("hotline-12345").is_some_and(|c| c.submissions == 2)
            && consumers_idle
        {
            break health;
        }
        assert!(
            Instant::now() < deadline,
            "QueueHealth never showed units {expected_units:?}, the channels' submissions, \
             retry and refusal, and idle consumers: {health:#?}\n{}",
            ops.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(health.nats_connected);
    let intake_stream = health
        .streams
        .iter()
        .find(|s| s.name == bus::INTAKE_STREAM)
        .expect("the intake stream");
    assert_eq!(
        (intake_stream.messages, intake_stream.last_sequence),
        (6, 6)
    );
    for unit in &health.units {
        assert_eq!(unit.unsigned, unit.open, "{unit:?}");
        assert_eq!(unit.overdue, 0, "{unit:?}");
        assert!(!unit.unit_name.is_empty(), "{unit:?}");
    }

    phases.push(("queue_health", started.elapsed().as_secs_f64()));
    // Each process's /metrics: its own part of the same workload.
    let counter = |channel: &str, outcome: &str, n: u64| {
        format!("minhu_intake_requests_total{{channel=\"{channel}\",outcome=\"{outcome}\"}} {n}")
    };
    gateway
        .metrics_show(&[
            counter("web-portal", "accepted", 4),
            counter("web-portal", "replayed", 1),
            counter("web-portal", "invalid", 1),
            counter("hotline-12345", "accepted", 2),
            "minhu_nats_connected 1".into(),
        ])
        .await;
    triage
        .metrics_show(&[
            "minhu_triage_messages_total{outcome=\"dispatched\"} 6".into(),
            "minhu_nats_connected 1".into(),
        ])
        .await;
    dispatch
        .metrics_show(&["minhu_nats_connected 1".into()])
        .await;
    let mut ops_lines: Vec<String> = expected_units
        .iter()
        .map(|(unit, n)| format!("minhu_unit_open_cases{{unit=\"{unit}\"}} {n}"))
        .collect();
    ops_lines.push("minhu_stream_messages{stream=\"MINHU_INTAKE\"} 6".into());
    ops_lines.push("minhu_consumer_pending_messages{consumer=\"minhu-triage\"} 0".into());
    ops_lines.push("minhu_nats_connected 1".into());
    ops.metrics_show(&ops_lines).await;
    for metrics in [gateway.metrics().await, ops.metrics().await] {
        assert!(
            !metrics.contains("minhu_triage_messages_total"),
            "only the triage process triages:\n{metrics}"
        );
    }

    // What an operator on a shell sees: `minhu top --once` against the ops process.
    let top = {
        let addr = ops.grpc_url();
        tokio::task::spawn_blocking(move || {
            Command::new(minhu_bin())
                .args(["top", "--once", "--units", "20", "--interval-ms", "200"])
                .args(["--addr", &addr, "--token", OPS_TOKEN])
                .env("NO_COLOR", "1")
                .output()
                .expect("run minhu top")
        })
        .await
        .expect("minhu top ran")
    };
    let frame = String::from_utf8_lossy(&top.stdout);
    assert!(
        top.status.success(),
        "minhu top --once failed: {}",
        String::from_utf8_lossy(&top.stderr)
    );
    let row = |first: &str| -> Vec<String> {
        frame
            .lines()
            .map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
            .find(|words| words.first().map(String::as_str) == Some(first))
            .unwrap_or_else(|| panic!("no {first} row in:\n{frame}"))
    };
    // STREAM MESSAGES ...; CHANNEL SUBMITTED PER-MINUTE RETRIES REJECTED ...
    assert_eq!(row(bus::INTAKE_STREAM)[1], "6", "{frame}");
    let web_row = row("web-portal");
    assert_eq!(
        [&web_row[1], &web_row[3], &web_row[4]],
        ["4", "1", "1"],
        "{frame}"
    );
    assert_eq!(row("hotline-12345")[1], "2", "{frame}");
    for (unit, n) in &expected_units {
        // OVERDUE UNSIGNED OPEN OLDEST UNIT NAME
        let unit_row = frame
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|words| words.get(4) == Some(&unit.as_str()))
            .unwrap_or_else(|| panic!("no row for {unit} in:\n{frame}"));
        assert_eq!(
            unit_row[..3],
            ["0", &n.to_string(), &n.to_string()],
            "{frame}"
        );
    }

    phases.push(("metrics", started.elapsed().as_secs_f64()));
    // The whole cluster goes away: every gRPC role turns NOT_SERVING, the triage process
    // (no gRPC) says so on its gauge; all of it comes back with the cluster.
    let checks = [
        (gateway, "minhu.v1.IntakeService"),
        (dispatch, "minhu.v1.CaseService"),
        (ops, "minhu.v1.OpsService"),
    ];
    for (process, service) in checks {
        process
            .health_becomes(service, ServingStatus::Serving)
            .await;
    }
    for i in 0..cluster.size() {
        cluster.node(i).kill();
    }
    for (process, service) in checks {
        process
            .health_becomes(service, ServingStatus::NotServing)
            .await;
    }
    gateway.health_becomes("", ServingStatus::NotServing).await;
    triage
        .metrics_show(&["minhu_nats_connected 0".into()])
        .await;

    phases.push(("nats_away", started.elapsed().as_secs_f64()));
    let cluster = tokio::task::spawn_blocking(move || {
        for i in 0..cluster.size() {
            cluster.node(i).restart();
        }
        cluster.wait_ready();
        cluster
    })
    .await
    .expect("cluster restarts");
    for (process, service) in checks {
        process
            .health_becomes(service, ServingStatus::Serving)
            .await;
    }
    gateway.health_becomes("", ServingStatus::Serving).await;
    triage
        .metrics_show(&["minhu_nats_connected 1".into()])
        .await;
    phases.push(("nats_back", started.elapsed().as_secs_f64()));
    // Nothing was lost: once the streams have leaders again, the ops process counts every
    // petition as before.
    let deadline = Instant::now() + WAIT;
    loop {
        let answer = ops_client
            .queue_health(authorized(OPS_TOKEN, QueueHealthRequest { top_units: 100 }))
            .await
            .map(|r| r.into_inner());
        if let Ok(health) = &answer {
            let intake_messages = health
                .streams
                .iter()
                .find(|s| s.name == bus::INTAKE_STREAM)
                .map(|s| s.messages);
            let open: u64 = health.units.iter().map(|u| u.open).sum();
            if intake_messages == Some(6) && open == 6 {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "QueueHealth after the cluster came back: {answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    phases.push(("queue_health_again", started.elapsed().as_secs_f64()));
    // A deployment stops processes with SIGTERM: each finishes and exits cleanly, with this
    // test's clients still connected.
    for process in &processes {
        process.terminate();
    }
    for process in &mut processes {
        let roles = process.roles;
        let status = process.exited(Duration::from_secs(15)).await;
        assert!(
            status.is_some_and(|s| s.success()),
            "{roles} did not stop cleanly on SIGTERM: {status:?}\n{}",
            process.logs()
        );
    }
    phases.push(("stopped", started.elapsed().as_secs_f64()));
    drop(cluster);
    let phases: Vec<String> = phases
        .iter()
        .map(|(name, at)| format!("{name}@{at:.1}s"))
        .collect();
    println!(
        "roles=4 processes nats_nodes=3 petitions=6 units={} elapsed_s={:.1} ({})",
        expected_units.len(),
        started.elapsed().as_secs_f64(),
        phases.join(" ")
    );
}
