//! Sessions in KV bucket `minhu_reception_sessions` (key: session id), and their timers.
//!
//! Every change of a session is a compare-and-set on the revision it was read at: of two
//! writers (two triage instances registering the last place, a registration and a change by the
//! centre) one wins, the other reads again and decides again, so no session is ever overbooked
//! and no registration is lost.

use async_nats::HeaderMap;
use async_nats::header::{NATS_SCHEDULE, NATS_SCHEDULE_TARGET};
use async_nats::jetstream::kv::{self, CreateErrorKind, UpdateErrorKind};
use futures::TryStreamExt;
use minhu_contracts::bus;
use minhu_contracts::v1::{ReceptionSession, SessionTimer};
use minhu_core::bus::Bus;
use minhu_core::deadlines::timestamp;
use prost::Message;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the session store is unavailable: {0}")]
    Unavailable(#[source] async_nats::Error),
    #[error("session data is corrupt: {0}")]
    Corrupt(String),
}

fn unavailable(e: impl Into<async_nats::Error>) -> StoreError {
    StoreError::Unavailable(e.into())
}

/// A session with the KV revision it was read at.
#[derive(Debug, Clone)]
pub struct Versioned {
    pub session: ReceptionSession,
    pub revision: u64,
}

#[derive(Clone)]
pub struct Sessions {
    bus: Bus,
}

impl Sessions {
    pub fn new(bus: &Bus) -> Sessions {
        Sessions { bus: bus.clone() }
    }

    pub async fn get(&self, session_id: &str) -> Result<Option<Versioned>, StoreError> {
        let Some(entry) = self
            .bus
            .reception_sessions
            .entry(session_id)
            .await
            .map_err(unavailable)?
        else {
            return Ok(None);
        };
        if entry.operation != kv::Operation::Put {
            return Ok(None);
        }
        let session = ReceptionSession::decode(entry.value)
            .map_err(|e| StoreError::Corrupt(format!("{session_id}: {e}")))?;
        Ok(Some(Versioned {
            session,
            revision: entry.revision,
        }))
    }

    /// Stores a new session; false if the id is taken.
    pub async fn create(&self, session: &ReceptionSession) -> Result<bool, StoreError> {
        match self
            .bus
            .reception_sessions
            .create(&session.session_id, session.encode_to_vec().into())
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == CreateErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Writes `session` if it is still at `revision`; the new revision, or None when another
    /// writer came first.
    pub async fn update(
        &self,
        session: &ReceptionSession,
        revision: u64,
    ) -> Result<Option<u64>, StoreError> {
        match self
            .bus
            .reception_sessions
            .update(
                &session.session_id,
                session.encode_to_vec().into(),
                revision,
            )
            .await
        {
            Ok(revision) => Ok(Some(revision)),
            Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Every session.
    pub async fn all(&self) -> Result<Vec<ReceptionSession>, StoreError> {
        let keys: Vec<String> = match self.bus.reception_sessions.keys().await {
            Ok(keys) => keys.try_collect().await.map_err(unavailable)?,
            Err(e) => return Err(unavailable(e)),
        };
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            if let Some(v) = self.get(&key).await? {
                out.push(v.session);
            }
        }
        Ok(out)
    }

    /// Sets the session's timer to fire at `at` (replacing any earlier one), as the clock arms
    /// a case's: a JetStream message schedule whose subject is its identity. A timer is never
    /// taken back: one no longer needed fires once and finds nothing due (so only the clock
    /// needs the right to purge MINHU_TIMERS).
    pub async fn arm(&self, session_id: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        let instant = at
            .to_offset(time::UtcOffset::UTC)
            .format(&Rfc3339)
            .map_err(unavailable)?;
        let mut headers = HeaderMap::new();
        headers.insert(NATS_SCHEDULE, format!("@at {instant}").as_str());
        headers.insert(
            NATS_SCHEDULE_TARGET,
            bus::reception_timer_fired_subject(session_id).as_str(),
        );
        let payload = SessionTimer {
            session_id: session_id.to_owned(),
            at: Some(timestamp(at)),
        };
        self.bus
            .js
            .publish_with_headers(
                bus::reception_timer_subject(session_id),
                headers,
                payload.encode_to_vec().into(),
            )
            .await
            .map_err(unavailable)?
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
