//! Which instance of the connector role polls a source: the one holding the connector's lease
//! (key `lease.<id>` in minhu_connectors). Pure: what to do given the stored lease.
//!
//! Every write is revision-checked (create when absent, update at the revision read), so of two
//! instances racing for a free or expired lease exactly one wins, and a holder that lost its
//! lease finds out at its next renewal. The holder renews well within the lease; on a graceful
//! stop it writes the lease expired, so another instance takes over at once; after a crash,
//! within one lease. Instances compare `expires_at` with their own clocks: they must agree to
//! within a few seconds (NTP), far less than the lease.

use std::time::Duration;

use minhu_contracts::v1::ConnectorLease;
use time::OffsetDateTime;

/// How long a lease lasts without renewal: what another instance waits after a crash.
pub const TTL: Duration = Duration::from_secs(30);
/// How often the holder renews.
pub const RENEW_EVERY: Duration = Duration::from_secs(10);

/// What an instance does about the lease as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// No lease yet: create it.
    Create,
    /// Write ours over the one at this revision: it is ours (renew) or it has expired (take).
    Write { revision: u64 },
    /// Another instance holds it until then.
    Wait { until: OffsetDateTime },
}

/// What `me` does at `now` given the stored lease and its revision.
pub fn step(stored: Option<(&ConnectorLease, u64)>, me: &str, now: OffsetDateTime) -> Step {
    let Some((lease, revision)) = stored else {
        return Step::Create;
    };
    let expires = expires_at(lease);
    if lease.holder == me || expires <= now {
        Step::Write { revision }
    } else {
        Step::Wait { until: expires }
    }
}

/// A lease for `me` lasting `ttl` from `now`.
pub fn held_by(me: &str, now: OffsetDateTime, ttl: Duration) -> ConnectorLease {
    ConnectorLease {
        holder: me.to_owned(),
        expires_at: Some(minhu_core::deadlines::timestamp(now + ttl)),
    }
}

/// The lease `me` leaves behind on a graceful stop: expired, so the next instance need not wait.
pub fn released(me: &str) -> ConnectorLease {
    ConnectorLease {
        holder: me.to_owned(),
        expires_at: Some(minhu_core::deadlines::timestamp(OffsetDateTime::UNIX_EPOCH)),
    }
}

fn expires_at(lease: &ConnectorLease) -> OffsetDateTime {
    lease
        .expires_at
        .as_ref()
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t.seconds).ok())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_free_expired_or_own_lease_is_written_anothers_is_waited_for() {
        let now = datetime!(2026-11-27 08:00 UTC);
        assert_eq!(step(None, "a", now), Step::Create);
        let theirs = held_by("b", now, TTL);
        assert_eq!(
            step(Some((&theirs, 7)), "a", now),
            Step::Wait { until: now + TTL }
        );
        assert_eq!(
            step(Some((&theirs, 7)), "b", now),
            Step::Write { revision: 7 }
        );
        assert_eq!(
            step(Some((&theirs, 7)), "a", now + TTL),
            Step::Write { revision: 7 }
        );
        assert_eq!(
            step(Some((&released("b"), 8)), "a", now),
            Step::Write { revision: 8 }
        );
        let malformed = ConnectorLease {
            holder: "b".into(),
            expires_at: None,
        };
        assert_eq!(
            step(Some((&malformed, 9)), "a", now),
            Step::Write { revision: 9 }
        );
    }

    #[test]
    fn renewal_comes_well_within_the_lease() {
        assert!(RENEW_EVERY * 2 < TTL);
    }
}
