//! Rate limits: a token bucket per channel for submissions, so one flooding channel cannot
//! starve the others, and a failure budget per tracking number for Track, so query codes
//! cannot be guessed through the API.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A token bucket: `rate` tokens a second, at most `burst` saved up.
#[derive(Debug, Clone)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

pub struct SubmitLimiter {
    default_rate: f64,
    default_burst: f64,
    // A std Mutex: a few arithmetic operations, never held across .await.
    buckets: Mutex<HashMap<String, Bucket>>,
}

/// A channel's own rate and burst from the registry; 0 means the gateway's.
#[derive(Debug, Clone, Copy, Default)]
pub struct OwnLimit {
    pub rate: u32,
    pub burst: u32,
}

impl SubmitLimiter {
    pub fn new(rate: u32, burst: u32) -> SubmitLimiter {
        SubmitLimiter {
            default_rate: f64::from(rate.max(1)),
            default_burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `channel`, or says how long until one is available. The limit is
    /// the registry's at this moment, so a changed rate holds from the next request on.
    pub fn take(&self, channel: &str, own: OwnLimit) -> Result<(), Duration> {
        self.take_at(channel, own, Instant::now())
    }

    fn take_at(&self, channel: &str, own: OwnLimit, now: Instant) -> Result<(), Duration> {
        let (rate, burst) = if own.rate == 0 {
            (self.default_rate, self.default_burst)
        } else {
            (f64::from(own.rate), f64::from(own.burst.max(own.rate)))
        };
        let mut buckets = self.buckets.lock().expect("limiter lock");
        let bucket = buckets.entry(channel.to_owned()).or_insert(Bucket {
            tokens: burst,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
        }
    }
}

/// Counts wrong query codes per tracking number in a fixed window.
pub struct TrackGuard {
    allowed: u32,
    window: Duration,
    failures: Mutex<HashMap<String, (Instant, u32)>>,
}

impl TrackGuard {
    pub fn new(allowed: u32, window: Duration) -> TrackGuard {
        TrackGuard {
            allowed,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Whether this tracking number may be tried now; `Err` holds the wait.
    pub fn check(&self, tracking_number: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let failures = self.failures.lock().expect("guard lock");
        match failures.get(tracking_number) {
            Some((since, n)) if *n >= self.allowed && now < *since + self.window => {
                Err(*since + self.window - now)
            }
            _ => Ok(()),
        }
    }

    pub fn failed(&self, tracking_number: &str) {
        let now = Instant::now();
        let mut failures = self.failures.lock().expect("guard lock");
        // Old windows are dropped as they are met, and all of them when the map grows large.
        if failures.len() > 100_000 {
            let window = self.window;
            failures.retain(|_, (since, _)| now < *since + window);
        }
        let entry = failures
            .entry(tracking_number.to_owned())
            .or_insert((now, 0));
        if now >= entry.0 + self.window {
            *entry = (now, 0);
        }
        entry.1 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flooding_channel_is_held_back_and_others_are_not() {
        let limiter = SubmitLimiter::new(10, 5);
        let now = Instant::now();
        let default = OwnLimit::default();
        let vip = OwnLimit {
            rate: 100,
            burst: 50,
        };
        for _ in 0..5 {
            limiter.take_at("flood", default, now).unwrap();
        }
        let wait = limiter.take_at("flood", default, now).unwrap_err();
        assert!(
            wait <= Duration::from_millis(100) && wait > Duration::ZERO,
            "{wait:?}"
        );
        limiter.take_at("other", default, now).unwrap();
        for _ in 0..50 {
            limiter.take_at("vip", vip, now).unwrap();
        }
        // A tenth of a second later the flooding channel has one token again.
        limiter
            .take_at("flood", default, now + Duration::from_millis(100))
            .unwrap();
    }

    #[test]
    fn guessing_a_query_code_is_cut_off_per_tracking_number() {
        let guard = TrackGuard::new(3, Duration::from_secs(600));
        for _ in 0..3 {
            guard.check("MH1").unwrap();
            guard.failed("MH1");
        }
        assert!(guard.check("MH1").is_err());
        guard.check("MH2").unwrap();
    }
}
