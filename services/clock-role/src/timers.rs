//! The case timers, as JetStream message schedules (ADR-51, nats-server 2.12 and later).
//!
//! A case has at most one timer: a message on `minhu.timer.set.<case_id>` in stream
//! `MINHU_TIMERS` with `Nats-Schedule: @at <instant>`, holding the case's next clock instant.
//! The server keeps it (replicated, on disk, across restarts) and at that instant publishes it
//! on `minhu.timer.fired.<case_id>`, where the clock instances share one durable consumer.
//! A schedule's subject is its identity: arming again replaces the earlier schedule, and a
//! purge of the subject disarms it. So the stream holds one schedule per case that still has
//! something to watch — not one per milestone and step — and re-arming is a single write.
//!
//! No timer is trusted: a firing only makes a clock instance look at the case again, and the
//! case view decides what is due (see [`crate::plan`]). A stale or early timer costs one look.

use async_nats::HeaderMap;
use async_nats::header::{NATS_SCHEDULE, NATS_SCHEDULE_TARGET};
use async_nats::jetstream::{self, stream};
use minhu_contracts::bus;
use minhu_contracts::v1::ClockTimer;
use minhu_core::deadlines::timestamp;
use prost::Message;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[derive(Debug, thiserror::Error)]
pub enum TimerError {
    #[error("cannot arm the timer of case {case_id}: {source}")]
    Arm {
        case_id: String,
        #[source]
        source: async_nats::Error,
    },
    #[error("cannot disarm the timer of case {case_id}: {source}")]
    Disarm {
        case_id: String,
        #[source]
        source: async_nats::Error,
    },
}

/// Arms and disarms case timers on the timers stream.
#[derive(Clone)]
pub struct Timers {
    js: jetstream::Context,
    stream: stream::Stream,
}

impl Timers {
    pub fn new(js: jetstream::Context, stream: stream::Stream) -> Timers {
        Timers { js, stream }
    }

    /// Sets the case's timer to fire at `at` (replacing any earlier one). An instant already
    /// past fires at once.
    pub async fn arm(
        &self,
        case_id: &str,
        at: OffsetDateTime,
        reason: &str,
    ) -> Result<(), TimerError> {
        let error = |source: async_nats::Error| TimerError::Arm {
            case_id: case_id.to_owned(),
            source,
        };
        // RFC 3339 in UTC with the fraction: the server keeps sub-second instants.
        let instant = at
            .to_offset(time::UtcOffset::UTC)
            .format(&Rfc3339)
            .map_err(|e| error(e.into()))?;
        let mut headers = HeaderMap::new();
        headers.insert(NATS_SCHEDULE, format!("@at {instant}").as_str());
        headers.insert(
            NATS_SCHEDULE_TARGET,
            bus::timer_fired_subject(case_id).as_str(),
        );
        let payload = ClockTimer {
            case_id: case_id.to_owned(),
            at: Some(timestamp(at)),
            reason: reason.to_owned(),
        };
        self.js
            .publish_with_headers(
                bus::timer_subject(case_id),
                headers,
                payload.encode_to_vec().into(),
            )
            .await
            .map_err(|e| error(e.into()))?
            .await
            .map_err(|e| error(e.into()))?;
        Ok(())
    }

    /// Removes the case's timer, if it has one.
    pub async fn disarm(&self, case_id: &str) -> Result<(), TimerError> {
        self.stream
            .purge()
            .filter(bus::timer_subject(case_id))
            .await
            .map_err(|e| TimerError::Disarm {
                case_id: case_id.to_owned(),
                source: e.into(),
            })?;
        Ok(())
    }
}
