//! A connector's records in KV bucket minhu_connectors: its cursor, its lease, its health.

use std::time::Duration;

use async_nats::jetstream::kv;
use bytes::Bytes;
use minhu_contracts::bus;
use minhu_contracts::v1::{ConnectorCursor, ConnectorHealth, ConnectorLease};
use minhu_core::deadlines::timestamp;
use prost::Message;
use time::OffsetDateTime;

use crate::lease::{self, Step};
use crate::paging::Position;

/// Header with which KV marks a deleted or purged key.
const KV_OPERATION: &str = "KV-Operation";

/// What an attempt to take the lease came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acquired {
    /// Held, at this revision of the lease key.
    Held(u64),
    /// Another instance holds it until then (or won a race just now).
    Busy(OffsetDateTime),
}

/// One connector's keys.
#[derive(Clone)]
pub struct Store {
    kv: kv::Store,
    cursor_key: String,
    lease_key: String,
    health_key: String,
}

impl Store {
    pub fn new(kv: kv::Store, connector_id: &str) -> Store {
        Store {
            kv,
            cursor_key: bus::connector_cursor_key(connector_id),
            lease_key: bus::connector_lease_key(connector_id),
            health_key: bus::connector_health_key(connector_id),
        }
    }

    /// Where the next poll starts, if a poll ever finished a page.
    pub async fn cursor(&self) -> Result<Option<Position>, async_nats::Error> {
        let Some((bytes, _)) = self.read_at_leader(&self.cursor_key).await? else {
            return Ok(None);
        };
        let stored = ConnectorCursor::decode(bytes)?;
        Ok(Some(Position {
            cursor: stored.cursor,
            page: stored.page,
        }))
    }

    pub async fn save_cursor(&self, position: &Position) -> Result<(), async_nats::Error> {
        let record = ConnectorCursor {
            cursor: position.cursor.clone(),
            page: position.page,
            at: Some(timestamp(OffsetDateTime::now_utc())),
        };
        self.kv
            .put(&self.cursor_key, record.encode_to_vec().into())
            .await?;
        Ok(())
    }

    pub async fn health(&self) -> Result<Option<ConnectorHealth>, async_nats::Error> {
        match self.kv.get(&self.health_key).await? {
            Some(bytes) => Ok(Some(ConnectorHealth::decode(bytes)?)),
            None => Ok(None),
        }
    }

    pub async fn save_health(&self, health: &ConnectorHealth) -> Result<(), async_nats::Error> {
        self.kv
            .put(&self.health_key, health.encode_to_vec().into())
            .await?;
        Ok(())
    }

    /// Takes the lease for `me` for `ttl` if it is free, expired or already `me`'s.
    pub async fn acquire(&self, me: &str, ttl: Duration) -> Result<Acquired, async_nats::Error> {
        let now = OffsetDateTime::now_utc();
        let stored = match self.read_at_leader(&self.lease_key).await? {
            Some((bytes, revision)) => Some((ConnectorLease::decode(bytes)?, revision)),
            None => None,
        };
        let ours = lease::held_by(me, now, ttl).encode_to_vec();
        let written = match lease::step(stored.as_ref().map(|(l, r)| (l, *r)), me, now) {
            Step::Wait { until } => return Ok(Acquired::Busy(until)),
            Step::Create => match self.kv.create(&self.lease_key, ours.into()).await {
                Ok(revision) => Some(revision),
                Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists || lost_race(&e) => None,
                Err(e) => return Err(e.into()),
            },
            Step::Write { revision } => self.write(ours, revision).await?,
        };
        Ok(match written {
            Some(revision) => Acquired::Held(revision),
            // Another instance wrote first: look again shortly.
            None => Acquired::Busy(now + lease::RENEW_EVERY),
        })
    }

    /// Extends `me`'s lease held at `revision`: the new revision, or `None` if it was lost.
    pub async fn renew(
        &self,
        me: &str,
        revision: u64,
        ttl: Duration,
    ) -> Result<Option<u64>, async_nats::Error> {
        let ours = lease::held_by(me, OffsetDateTime::now_utc(), ttl).encode_to_vec();
        self.write(ours, revision).await
    }

    /// Gives the lease up (written expired), so another instance need not wait it out.
    pub async fn release(&self, me: &str, revision: u64) -> Result<(), async_nats::Error> {
        self.write(lease::released(me).encode_to_vec(), revision)
            .await
            .map(drop)
    }

    /// The value and revision of `key` as the bucket's stream leader has it; `None` when absent
    /// or deleted. The lease and the cursor are read here, not from any replica: a replica can
    /// lag a write just made, so an instance would see a released lease still held, or a new
    /// holder start from a cursor an earlier one already moved past.
    async fn read_at_leader(&self, key: &str) -> Result<Option<(Bytes, u64)>, async_nats::Error> {
        use async_nats::jetstream::stream::LastRawMessageErrorKind;
        let subject = format!("{}{key}", self.kv.prefix);
        let message = match self
            .kv
            .stream
            .get_last_raw_message_by_subject(&subject)
            .await
        {
            Ok(message) => message,
            Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let removed = message
            .headers
            .get(KV_OPERATION)
            .is_some_and(|operation| matches!(operation.as_str(), "DEL" | "PURGE"));
        Ok((!removed).then_some((message.payload, message.sequence)))
    }

    /// Writes the lease over `revision`; `None` when someone else wrote since.
    async fn write(&self, lease: Vec<u8>, revision: u64) -> Result<Option<u64>, async_nats::Error> {
        match self
            .kv
            .update(&self.lease_key, lease.into(), revision)
            .await
        {
            Ok(revision) => Ok(Some(revision)),
            Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision || lost_race(&e) => {
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// Whether a revision-checked write lost to another writer. A replicated bucket's leader may
/// report that with a code async-nats does not name (10164), so the publish error beneath the
/// KV error is asked as well.
fn lost_race(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if let Some(publish) = e.downcast_ref::<async_nats::jetstream::context::PublishError>()
            && minhu_core::bus::lost_first_write(publish)
        {
            return true;
        }
        cause = e.source();
    }
    false
}
