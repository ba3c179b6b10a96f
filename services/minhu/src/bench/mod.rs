//! Benchmark commands. Each prints its figures and ends with one `key=value ...` line; the
//! baselines it compares against are measured in the same run on the same machine, because
//! timings here are noisy and only ratios travel.

mod channels;
mod clock;
mod e2e;
mod idempotency;
mod intake;
mod ops;
mod text;

use std::time::Duration;

pub use channels::ChannelsBench;
pub use clock::ClockBench;
pub use e2e::E2eBench;
pub use idempotency::IdempotencyBench;
pub use intake::IntakeBench;
pub use ops::OpsBench;

use crate::managed_nats::ManagedNats;

/// The NATS a benchmark runs against: the one given, or a temporary local server.
pub(crate) struct BenchNats {
    url: String,
    managed: Option<ManagedNats>,
    // Keeps the temporary store alive as long as the server.
    _store: tempfile::TempDir,
}

impl BenchNats {
    pub(crate) async fn start(url: Option<String>) -> anyhow::Result<BenchNats> {
        let store = tempfile::tempdir()?;
        let (url, managed) = match url {
            Some(url) => (url, None),
            None => {
                let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
                let managed = ManagedNats::start(addr, store.path()).await?;
                (managed.url().to_owned(), Some(managed))
            }
        };
        Ok(BenchNats {
            url,
            managed,
            _store: store,
        })
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The temporary server's process id (none for a given NATS).
    pub(crate) fn server_pid(&self) -> Option<u32> {
        self.managed.as_ref().and_then(ManagedNats::pid)
    }

    pub(crate) async fn stop(self) {
        if let Some(managed) = self.managed {
            managed.stop().await;
        }
    }
}

/// Every role (or the roles given) running in this process against the benchmark's NATS, the
/// gateway on a free port, the per-channel rate limit lifted: the benchmarks measure the
/// pipeline.
pub(crate) struct BenchApp {
    pub(crate) addr: std::net::SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    running: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl BenchApp {
    pub(crate) async fn start(nats: &BenchNats) -> anyhow::Result<BenchApp> {
        BenchApp::start_roles(nats, &crate::Role::ALL).await
    }

    pub(crate) async fn start_roles(
        nats: &BenchNats,
        roles: &[crate::Role],
    ) -> anyhow::Result<BenchApp> {
        let mut settings = minhu_core::config::Settings::defaults();
        settings.gateway.listen = "127.0.0.1:0".parse()?;
        settings.ops.metrics_listen = None;
        settings.gateway.submit_rate_per_channel = 1_000_000;
        settings.gateway.submit_burst = 1_000_000;
        let app = crate::App::build(settings, nats.url(), roles).await?;
        let addr = app.grpc_addr().expect("the gateway serves gRPC");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(app.run_until_stopped(async {
            let _ = stopped.await;
        }));
        Ok(BenchApp {
            addr,
            stop,
            running,
        })
    }

    pub(crate) async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.running.await?
    }
}

/// CPU time spent by this process and by the benchmark's own NATS server since `start`: what a
/// phase of a benchmark costs in CPU, which (unlike its rate) does not depend on how busy the
/// machine was with anything else.
pub(crate) struct CpuMeter {
    server_pid: Option<u32>,
    started: Option<Duration>,
}

impl CpuMeter {
    /// Counts this process, and the server too when it is the benchmark's own (`None`: an
    /// external NATS, whose CPU is not ours to read).
    pub(crate) fn start(nats: &BenchNats) -> CpuMeter {
        let server_pid = nats.server_pid();
        CpuMeter {
            server_pid,
            started: cpu_time(server_pid),
        }
    }

    /// CPU time since the start, or since the last call.
    pub(crate) fn lap(&mut self) -> Option<Duration> {
        let now = cpu_time(self.server_pid);
        let lap = now
            .zip(self.started)
            .map(|(now, then)| now.saturating_sub(then));
        self.started = now;
        lap
    }
}

/// User and system time of this process plus the server's, if it can be read (Linux).
fn cpu_time(server_pid: Option<u32>) -> Option<Duration> {
    let server_pid = server_pid?;
    let ticks = clock_ticks_per_second()?;
    let stat = std::fs::read_to_string(format!("/proc/{server_pid}/stat")).ok()?;
    // The command name may hold spaces; the fields after it are fixed.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let server_ticks: u64 =
        fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let server = Duration::from_secs_f64(server_ticks as f64 / ticks);
    // SAFETY: getrusage writes into the zeroed struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        (libc::getrusage(libc::RUSAGE_SELF, &mut usage) == 0).then_some(usage)
    }?;
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Some(server + time(usage.ru_utime) + time(usage.ru_stime))
}

fn clock_ticks_per_second() -> Option<f64> {
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (ticks > 0).then_some(ticks as f64)
}

/// The `q`-quantile of `samples` (sorted in place), in milliseconds.
pub(crate) fn quantile_ms(samples: &mut [Duration], q: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.sort_unstable();
    let index = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
    samples[index].as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_pick_the_sample_at_or_above_the_rank() {
        let mut samples: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        assert_eq!(quantile_ms(&mut samples, 0.5), 50.0);
        assert_eq!(quantile_ms(&mut samples, 0.99), 99.0);
        assert_eq!(quantile_ms(&mut [], 0.5), 0.0);
    }
}
