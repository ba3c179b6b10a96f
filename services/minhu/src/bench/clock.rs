//! `minhu bench clock --count N`: arms N case timers the way the clock role does (one JetStream
//! message schedule per case, `Timers::arm`), due over a short window, and takes them up with
//! clock instances running the role's own timer consumer (`worker::follow_timers`), each on its
//! own connection. Every firing is timed against its instant: the lag a deadline would have
//! before a clock instance starts re-checking its case. The re-check itself (a few bus round
//! trips per case) is not part of the figure.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{FutureExt, StreamExt};
use minhu_clock_role::worker::follow_timers;
use minhu_clock_role::{ClockError, Timers};
use minhu_core::bus::{self, Bus};
use time::OffsetDateTime;

use super::{BenchNats, quantile_ms};

/// How long firings may trail the window before the missing ones count as pending.
const GRACE: Duration = Duration::from_secs(30);
/// Schedules armed at once (acks in flight).
const ARM_CONCURRENCY: usize = 256;
/// A conservative arming rate on this kind of machine, to place the window after the arming.
const ARM_PER_SECOND: u64 = 15_000;

pub struct ClockBench {
    pub nats_url: Option<String>,
    pub count: u64,
    pub window: Duration,
    pub instances: usize,
}

/// What the clock instances saw: per timer, how often it fired and its lag.
struct Seen {
    fired: Vec<u8>,
    lags: Vec<Duration>,
    /// The lags again, by the tenth of the window the timer's instant falls in: whether late
    /// firings cluster (the start of the window, a stall) or spread.
    by_tenth: Vec<Vec<Duration>>,
    early: u64,
}

impl ClockBench {
    pub async fn run(self) -> anyhow::Result<()> {
        let nats = BenchNats::start(self.nats_url.clone()).await?;
        let provision = |name: &'static str| {
            let url = nats.url().to_owned();
            async move {
                let client = bus::connect(&url, name).await?;
                Bus::provision(client, 1, Duration::from_secs(10)).await
            }
        };
        let bus = provision("minhu-bench-clock").await?;
        let info = bus.timers.get_info().await?;
        anyhow::ensure!(
            info.state.messages == 0 && info.state.consumer_count == 0,
            "stream {} is in use ({} messages, {} consumers): run the bench against a NATS of its own",
            minhu_contracts::bus::TIMERS_STREAM,
            info.state.messages,
            info.state.consumer_count
        );

        let count = usize::try_from(self.count)?;
        let seen = Arc::new(Mutex::new(Seen {
            fired: vec![0; count],
            lags: Vec::with_capacity(count),
            by_tenth: vec![Vec::new(); 10],
            early: 0,
        }));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut instances = Vec::new();
        for _ in 0..self.instances.max(1) {
            let instance = provision("minhu-bench-clock-instance").await?;
            let seen = seen.clone();
            let mut stopped = stopped.clone();
            let shutdown = async move {
                let _ = stopped.wait_for(|s| *s).await;
            }
            .boxed()
            .shared();
            instances.push(tokio::spawn(async move {
                follow_timers(&instance, Duration::from_secs(5), shutdown, move |timer| {
                    let now = OffsetDateTime::now_utc();
                    let seen = seen.clone();
                    async move {
                        let at = timer.at.unwrap_or_default();
                        let at = OffsetDateTime::from_unix_timestamp_nanos(
                            i128::from(at.seconds) * 1_000_000_000 + i128::from(at.nanos),
                        )
                        .map_err(|e| ClockError::Poison(e.to_string()))?;
                        let index: usize = timer
                            .case_id
                            .rsplit('-')
                            .next()
                            .and_then(|i| i.parse().ok())
                            .ok_or_else(|| ClockError::Poison(timer.case_id.clone()))?;
                        let mut seen = seen.lock().expect("bench lock");
                        let Some(fired) = seen.fired.get_mut(index) else {
                            return Err(ClockError::Poison(timer.case_id.clone()));
                        };
                        *fired = fired.saturating_add(1);
                        let lag = Duration::try_from(now - at).unwrap_or_else(|_| {
                            seen.early += 1;
                            Duration::ZERO
                        });
                        seen.lags.push(lag);
                        let tenth = index * 10 / seen.fired.len();
                        seen.by_tenth[tenth].push(lag);
                        Ok(())
                    }
                })
                .await;
            }));
        }

        // The window opens once arming is expected to be over, so the lag is the timers' own.
        let lead = Duration::from_secs(3 + self.count / ARM_PER_SECOND);
        let start = OffsetDateTime::now_utc() + lead;
        let window = self.window;
        let instant = |i: usize| start + window.mul_f64(i as f64 / count as f64);
        let timers = Timers::new(bus.js.clone(), bus.timers.clone());
        let arming = Instant::now();
        let armed_late = futures::stream::iter(0..count)
            .map(|i| {
                let timers = timers.clone();
                async move {
                    let at = instant(i);
                    timers.arm(&format!("BENCH-{i}"), at, "bench").await?;
                    Ok::<_, anyhow::Error>(OffsetDateTime::now_utc() > at)
                }
            })
            .buffer_unordered(ARM_CONCURRENCY)
            .fold(Ok::<u64, anyhow::Error>(0), |late, armed| async move {
                Ok(late? + u64::from(armed?))
            })
            .await?;
        let armed_in = arming.elapsed();

        let end = Instant::now() + Duration::try_from(start - OffsetDateTime::now_utc())? + window;
        let deadline = end + GRACE;
        loop {
            let done = seen.lock().expect("bench lock").lags.len() >= count;
            if done || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let _ = stop.send(true);
        for instance in instances {
            instance.await?;
        }
        let server_rss = nats.server_pid().and_then(peak_rss_mb);
        nats.stop().await;

        let mut seen = seen.lock().expect("bench lock");
        let fired = seen.fired.iter().filter(|&&n| n > 0).count();
        let twice = seen.fired.iter().filter(|&&n| n > 1).count();
        let pending = count - fired;
        let early = seen.early;
        let p50 = quantile_ms(&mut seen.lags, 0.50);
        let p99 = quantile_ms(&mut seen.lags, 0.99);
        let max = quantile_ms(&mut seen.lags, 1.0);
        let by_tenth: Vec<String> = seen
            .by_tenth
            .iter_mut()
            .map(|lags| format!("{:.0}", quantile_ms(lags, 0.99)))
            .collect();
        println!("lag_p99_ms_by_tenth_of_window={}", by_tenth.join(","));
        println!(
            "count={count} window_s={} instances={} armed_in_s={:.1} arm_per_s={:.0} armed_late={armed_late} \
             fired={fired} fired_twice={twice} early={early} lag_p50_ms={p50:.0} lag_max_ms={max:.0} server_rss_mb={}",
            window.as_secs(),
            self.instances.max(1),
            armed_in.as_secs_f64(),
            count as f64 / armed_in.as_secs_f64(),
            server_rss.map_or("-".to_owned(), |mb| mb.to_string()),
        );
        println!(
            "fire_lag_p99_ms={p99:.0} pending={pending} rss_mb={}",
            peak_rss_mb(std::process::id()).unwrap_or_default()
        );
        Ok(())
    }
}

/// The peak resident set (VmHWM) of a process, in MiB.
fn peak_rss_mb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}
