//! The channel registry (KV bucket `minhu_channels`): the record of each channel, the live
//! index every gateway authenticates against, and the watch that keeps it current.
//!
//! A record holds only SHA-256 digests of tokens. Several are valid at once while a rotation
//! overlaps; each may carry a `not_after` past which it is refused. The index applies one
//! record at a time (5,000 channels are never rebuilt for one change) and ignores a record
//! older than the one it holds, so the watch and a writer applying its own write agree.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_nats::jetstream::kv;
use futures::StreamExt;
use minhu_contracts::v1::{
    Channel, ChannelKind, ChannelRecord, ChannelStatus, TokenDigest, TokenValidity,
};
use prost::Message;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use crate::config::{ChannelKindSetting, ChannelSettings};
use crate::deadlines::timestamp;
use crate::domain::ChannelId;

/// One registered channel as the index holds it.
#[derive(Debug)]
pub struct LiveChannel {
    pub id: ChannelId,
    pub record: ChannelRecord,
    /// The KV revision the record was read at.
    pub revision: u64,
}

impl LiveChannel {
    pub fn suspended(&self) -> bool {
        self.record.status == ChannelStatus::Suspended as i32
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No channel holds this token.
    Unknown,
    /// The channel's token, past its `not_after` (rotated away).
    Expired(ChannelId),
    Suspended(ChannelId),
}

#[derive(Default)]
struct Index {
    channels: HashMap<String, Arc<LiveChannel>>,
    /// Token digest → its expiry and channel.
    by_digest: HashMap<[u8; 32], (Option<i64>, Arc<LiveChannel>)>,
}

/// The live registry of channels: written by the watch, read by every request.
#[derive(Default)]
pub struct Registry {
    // A std RwLock: lookups and one record's update, never held across .await.
    index: RwLock<Index>,
}

impl Registry {
    /// Puts a record read at `revision` in force, unless a newer one already is. Returns
    /// whether it changed anything.
    pub fn apply(&self, record: ChannelRecord, revision: u64) -> bool {
        let Ok(id) = ChannelId::parse(&record.channel_id) else {
            tracing::warn!(
                revision,
                "channel registry entry with an invalid channel id ignored"
            );
            return false;
        };
        let live = Arc::new(LiveChannel {
            id,
            record,
            revision,
        });
        let mut index = self.index.write().expect("registry lock");
        if let Some(old) = index.channels.get(live.id.as_str()).cloned() {
            if old.revision >= revision {
                return false;
            }
            for token in &old.record.tokens {
                if let Ok(digest) = <[u8; 32]>::try_from(token.sha256.as_slice()) {
                    index.by_digest.remove(&digest);
                }
            }
        }
        for token in &live.record.tokens {
            if let Ok(digest) = <[u8; 32]>::try_from(token.sha256.as_slice()) {
                let not_after = token.not_after.as_ref().map(|t| t.seconds);
                index.by_digest.insert(digest, (not_after, live.clone()));
            }
        }
        crate::metrics::channel_registered(live.id.as_str(), !live.suspended());
        index.channels.insert(live.id.to_string(), live);
        true
    }

    /// Forgets a channel whose entry was deleted or purged.
    pub fn remove(&self, channel_id: &str) {
        let mut index = self.index.write().expect("registry lock");
        if let Some(old) = index.channels.remove(channel_id) {
            for token in &old.record.tokens {
                if let Ok(digest) = <[u8; 32]>::try_from(token.sha256.as_slice()) {
                    index.by_digest.remove(&digest);
                }
            }
        }
    }

    /// The channel this token belongs to, if it may submit now. The lookup is by digest (its
    /// timing can only reveal bits of a digest); the final comparison is constant-time.
    pub fn authenticate(&self, token: &str) -> Result<Arc<LiveChannel>, Refusal> {
        self.authenticate_at(token, OffsetDateTime::now_utc())
    }

    fn authenticate_at(
        &self,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<Arc<LiveChannel>, Refusal> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let index = self.index.read().expect("registry lock");
        let (not_after, channel) = match index.by_digest.get_key_value(&digest) {
            Some((known, entry)) if bool::from(known.ct_eq(&digest)) => entry,
            _ => return Err(Refusal::Unknown),
        };
        if not_after.is_some_and(|t| now.unix_timestamp() >= t) {
            return Err(Refusal::Expired(channel.id.clone()));
        }
        if channel.suspended() {
            return Err(Refusal::Suspended(channel.id.clone()));
        }
        Ok(channel.clone())
    }

    pub fn get(&self, channel_id: &str) -> Option<Arc<LiveChannel>> {
        let index = self.index.read().expect("registry lock");
        index.channels.get(channel_id).cloned()
    }

    /// Every registered channel, in id order.
    pub fn all(&self) -> Vec<Arc<LiveChannel>> {
        let mut all: Vec<_> = {
            let index = self.index.read().expect("registry lock");
            index.channels.values().cloned().collect()
        };
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    pub fn len(&self) -> usize {
        self.index.read().expect("registry lock").channels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The registry's kind of a configured channel.
pub fn kind_of(setting: ChannelKindSetting) -> ChannelKind {
    match setting {
        ChannelKindSetting::Web => ChannelKind::Web,
        ChannelKindSetting::App => ChannelKind::App,
        ChannelKindSetting::MiniProgram => ChannelKind::MiniProgram,
        ChannelKindSetting::Hotline => ChannelKind::Hotline,
        ChannelKindSetting::Mailbox => ChannelKind::Mailbox,
        ChannelKindSetting::Email => ChannelKind::Email,
        ChannelKindSetting::Letter => ChannelKind::Letter,
        ChannelKindSetting::Visit => ChannelKind::Visit,
        ChannelKindSetting::Connector => ChannelKind::Connector,
    }
}

/// A kind's name as configuration and the CLI write it.
pub fn kind_name(kind: ChannelKind) -> &'static str {
    match kind {
        ChannelKind::Unspecified => "unspecified",
        ChannelKind::Web => "web",
        ChannelKind::App => "app",
        ChannelKind::MiniProgram => "mini-program",
        ChannelKind::Hotline => "hotline",
        ChannelKind::Mailbox => "mailbox",
        ChannelKind::Email => "email",
        ChannelKind::Letter => "letter",
        ChannelKind::Visit => "visit",
        ChannelKind::Connector => "connector",
    }
}

/// The registry record of a configured channel (validated configuration: its token digest is
/// well formed).
pub fn seed_record(channel: &ChannelSettings, now: OffsetDateTime) -> ChannelRecord {
    ChannelRecord {
        channel_id: channel.id.clone(),
        name: channel.name.clone(),
        kind: kind_of(channel.kind) as i32,
        owner: channel.owner.clone().unwrap_or_default(),
        division_code: channel.division_code.clone().unwrap_or_default(),
        tokens: vec![TokenDigest {
            sha256: channel
                .token_digest()
                .expect("validated channel token")
                .to_vec(),
            created_at: Some(timestamp(now)),
            not_after: None,
        }],
        rate_per_second: channel.rate_per_second.unwrap_or(0),
        burst: channel
            .burst
            .or(channel.rate_per_second)
            .unwrap_or_default(),
        status: ChannelStatus::Active as i32,
        created_at: Some(timestamp(now)),
        updated_at: Some(timestamp(now)),
        suspended_reason: String::new(),
    }
}

/// A record as ChannelAdmin shows it: the tokens' validity, never their digests. Tokens past
/// their `not_after` at `now` are left out.
pub fn public_view(record: &ChannelRecord, now: OffsetDateTime) -> Channel {
    Channel {
        channel_id: record.channel_id.clone(),
        name: record.name.clone(),
        kind: record.kind,
        owner: record.owner.clone(),
        division_code: record.division_code.clone(),
        rate_per_second: record.rate_per_second,
        burst: record.burst,
        status: record.status,
        suspended_reason: record.suspended_reason.clone(),
        created_at: record.created_at,
        updated_at: record.updated_at,
        tokens: record
            .tokens
            .iter()
            .filter(|t| !expired(t, now))
            .map(|t| TokenValidity {
                created_at: t.created_at,
                not_after: t.not_after,
            })
            .collect(),
    }
}

fn expired(token: &TokenDigest, now: OffsetDateTime) -> bool {
    token
        .not_after
        .as_ref()
        .is_some_and(|t| now.unix_timestamp() >= t.seconds)
}

/// A rotation: `new_digest` becomes a token of the channel; the ones it had stay valid for
/// `overlap` (none at once when it is zero, and never longer than an earlier rotation said);
/// tokens already expired are dropped.
pub fn rotate(
    record: &mut ChannelRecord,
    new_digest: [u8; 32],
    overlap: Duration,
    now: OffsetDateTime,
) {
    let until = now + overlap;
    record.tokens.retain(|t| !expired(t, now));
    if overlap.is_zero() {
        record.tokens.clear();
    }
    for token in &mut record.tokens {
        let earlier = token
            .not_after
            .as_ref()
            .and_then(|t| OffsetDateTime::from_unix_timestamp(t.seconds).ok());
        let not_after = earlier.map_or(until, |e| e.min(until));
        token.not_after = Some(timestamp(not_after));
    }
    record.tokens.push(TokenDigest {
        sha256: new_digest.to_vec(),
        created_at: Some(timestamp(now)),
        not_after: None,
    });
    record.updated_at = Some(timestamp(now));
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("channel registry unavailable: {0}")]
    Bus(#[source] async_nats::Error),
}

/// Writes each configured channel the registry does not have yet; an entry already there
/// (perhaps changed through ChannelAdmin) stays as it is. Returns how many were written.
pub async fn seed(store: &kv::Store, channels: &[ChannelSettings]) -> Result<usize, RegistryError> {
    let now = OffsetDateTime::now_utc();
    let mut written = 0;
    for channel in channels {
        let record = seed_record(channel, now);
        match store
            .create(&channel.id, record.encode_to_vec().into())
            .await
        {
            Ok(_) => written += 1,
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {}
            Err(e) => return Err(RegistryError::Bus(e.into())),
        }
    }
    Ok(written)
}

/// Opens a watch of the whole registry and applies what it holds now; the returned watch
/// carries on with the changes (see [`follow`]).
pub async fn load(store: &kv::Store) -> Result<(Arc<Registry>, Following), RegistryError> {
    let registry = Arc::new(Registry::default());
    // The store's own status is the info cached when it was opened: ask the server.
    let present = store
        .stream
        .clone()
        .info()
        .await
        .map_err(|e| RegistryError::Bus(e.into()))?
        .state
        .messages;
    let mut watch = store
        .watch_with_history(">")
        .await
        .map_err(|e| RegistryError::Bus(e.into()))?;
    let mut last_revision = 0;
    if present > 0 {
        while let Some(entry) = watch.next().await {
            let entry = entry.map_err(|e| RegistryError::Bus(e.into()))?;
            last_revision = entry.revision;
            let caught_up = entry.delta == 0;
            apply_entry(&registry, entry);
            if caught_up {
                break;
            }
        }
    }
    Ok((
        registry.clone(),
        Following {
            store: store.clone(),
            registry,
            watch,
            last_revision,
        },
    ))
}

/// The registry's watch, continued by [`follow`].
pub struct Following {
    store: kv::Store,
    registry: Arc<Registry>,
    watch: kv::Watch,
    last_revision: u64,
}

/// Applies every change to the registry as it happens, until `shutdown`. A broken watch is
/// opened again after the last revision applied, so no change is missed.
pub async fn follow(following: Following, shutdown: impl std::future::Future<Output = ()>) {
    let Following {
        store,
        registry,
        mut watch,
        mut last_revision,
    } = following;
    tokio::pin!(shutdown);
    loop {
        let next = tokio::select! {
            _ = &mut shutdown => return,
            next = watch.next() => next,
        };
        match next {
            Some(Ok(entry)) => {
                last_revision = last_revision.max(entry.revision);
                apply_entry(&registry, entry);
                continue;
            }
            Some(Err(e)) => tracing::warn!(error = %e, "channel registry watch failed"),
            None => tracing::warn!("channel registry watch ended"),
        }
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
            match store.watch_all_from_revision(last_revision + 1).await {
                Ok(w) => {
                    watch = w;
                    break;
                }
                Err(e) => tracing::warn!(error = %e, "channel registry watch not reopened"),
            }
        }
    }
}

fn apply_entry(registry: &Registry, entry: kv::Entry) {
    match entry.operation {
        kv::Operation::Put => match ChannelRecord::decode(entry.value) {
            Ok(record) => {
                registry.apply(record, entry.revision);
            }
            Err(e) => tracing::warn!(
                revision = entry.revision,
                error = %e,
                "channel registry entry does not decode; ignored"
            ),
        },
        kv::Operation::Delete | kv::Operation::Purge => registry.remove(&entry.key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    fn registry() -> Registry {
        let registry = Registry::default();
        let now = OffsetDateTime::now_utc();
        for (i, channel) in Settings::defaults().channels.iter().enumerate() {
            assert!(registry.apply(seed_record(channel, now), i as u64 + 1));
        }
        registry
    }

    #[test]
    fn the_token_decides_the_channel() {
        let registry = registry();
        let channel = registry.authenticate("demo-hotline-token").unwrap();
        assert_eq!(channel.id.as_str(), "hotline-12345");
        assert_eq!(channel.record.kind, ChannelKind::Hotline as i32);
        assert_eq!(
            registry.authenticate("demo-hotline-tokem").unwrap_err(),
            Refusal::Unknown
        );
    }

    #[test]
    fn a_rotation_overlaps_then_the_old_token_expires() {
        let registry = registry();
        let now = OffsetDateTime::now_utc();
        let mut record = registry.get("web-portal").unwrap().record.clone();
        rotate(
            &mut record,
            Sha256::digest(b"new-token").into(),
            Duration::from_secs(60),
            now,
        );
        assert!(registry.apply(record.clone(), 10));
        // An older revision arriving late changes nothing.
        assert!(!registry.apply(record.clone(), 9));
        for token in ["demo-web-portal-token", "new-token"] {
            assert_eq!(
                registry.authenticate_at(token, now).unwrap().id.as_str(),
                "web-portal"
            );
        }
        let later = now + Duration::from_secs(61);
        assert!(matches!(
            registry.authenticate_at("demo-web-portal-token", later),
            Err(Refusal::Expired(_))
        ));
        registry.authenticate_at("new-token", later).unwrap();
        assert_eq!(public_view(&record, later).tokens.len(), 1);

        // A rotation with no overlap revokes every earlier token at once.
        rotate(
            &mut record,
            Sha256::digest(b"newer-token").into(),
            Duration::ZERO,
            now,
        );
        assert!(registry.apply(record, 11));
        assert_eq!(
            registry.authenticate_at("new-token", now).unwrap_err(),
            Refusal::Unknown
        );
        registry.authenticate_at("newer-token", now).unwrap();
    }

    #[test]
    fn a_suspended_channel_is_refused_as_suspended() {
        let registry = registry();
        let mut record = registry.get("hotline-12345").unwrap().record.clone();
        record.status = ChannelStatus::Suspended as i32;
        registry.apply(record, 20);
        assert!(matches!(
            registry.authenticate("demo-hotline-token"),
            Err(Refusal::Suspended(id)) if id.as_str() == "hotline-12345"
        ));
        registry.remove("hotline-12345");
        assert_eq!(
            registry.authenticate("demo-hotline-token").unwrap_err(),
            Refusal::Unknown
        );
        assert_eq!(registry.len(), 1);
    }
}
