//! How long a connector waits after failed polls. Pure: the caller brings the randomness.

use std::time::Duration;

/// The wait after the first failure; each further one doubles it, up to the connector's
/// `max_backoff_ms`.
pub const BASE: Duration = Duration::from_millis(500);

/// The wait after `failures` consecutive failed polls (at least 1): `BASE` doubled per earlier
/// failure, capped at `max`, then "equal jitter" — half fixed, half `jitter` (in 0..=1) of
/// the other half — so that connectors failing together do not come back at the same instant.
pub fn delay(failures: u32, max: Duration, jitter: f64) -> Duration {
    let doublings = failures.saturating_sub(1).min(31);
    let full = BASE.saturating_mul(1 << doublings).min(max);
    let half = full / 2;
    half + half.mul_f64(jitter.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_half_a_second_up_to_the_cap_with_bounded_jitter() {
        let max = Duration::from_secs(60);
        assert_eq!(delay(1, max, 1.0), Duration::from_millis(500));
        assert_eq!(delay(1, max, 0.0), Duration::from_millis(250));
        assert_eq!(delay(2, max, 1.0), Duration::from_secs(1));
        assert_eq!(delay(4, max, 1.0), Duration::from_secs(4));
        assert_eq!(delay(8, max, 1.0), Duration::from_secs(60));
        assert_eq!(delay(u32::MAX, max, 1.0), Duration::from_secs(60));
        assert_eq!(delay(u32::MAX, max, 0.0), Duration::from_secs(30));
        for failures in 1..40 {
            for jitter in [0.0, 0.3, 0.99, 1.0, 7.0, -1.0] {
                let wait = delay(failures, max, jitter);
                let full = delay(failures, max, 1.0);
                assert!(
                    wait >= full / 2 && wait <= full && wait <= max,
                    "{failures} {jitter}"
                );
            }
        }
    }

    #[test]
    fn a_cap_below_the_base_is_the_wait() {
        let max = Duration::from_millis(100);
        assert_eq!(delay(1, max, 1.0), max);
        assert_eq!(delay(9, max, 0.0), max / 2);
    }
}
