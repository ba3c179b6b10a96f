//! The connector role at work: for each configured connector, take its lease, then poll its
//! source page by page and hand every item to the gateway's intake, in process.
//!
//! The cursor moves only after every item of a page has its receipt (or was refused for
//! good), so a crash, a stop or an outage of NATS mid-page re-reads the page, and the intake's
//! idempotency answers the items already stored with their original receipts.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use minhu_contracts::v1::Petition;
use minhu_core::bus::Bus;
use minhu_core::channels::{LiveChannel, Registry, seed_record};
use minhu_core::config::Settings;
use minhu_core::connectors::ConnectorSettings;
use minhu_core::domain::ChannelId;
use minhu_core::metrics;
use minhu_gateway::error::IntakeError;
use minhu_gateway::intake::Intake;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::backoff;
use crate::health::{Health, ItemOutcome};
use crate::lease;
use crate::mapping::{self, Item};
use crate::paging::{Next, Paging, Position};
use crate::refusals::Refusals;
use crate::source::{Source, SourceError};
use crate::store::{Acquired, Store};

/// Every configured connector of this process.
pub struct ConnectorRole {
    connectors: Vec<Connector>,
    holder: Arc<str>,
}

struct Connector {
    settings: ConnectorSettings,
    channel: ChannelId,
    /// The channel registry: the connector submits as its channel as the registry has it now
    /// (suspended, nothing is submitted; its rate, burst and area hold).
    registry: Arc<Registry>,
    /// The channel as configured, until a gateway has seeded the registry with it.
    configured: Arc<LiveChannel>,
    source: Source,
    paging: Paging,
    store: Store,
    intake: Intake,
}

/// How one page ended.
enum PageOutcome {
    /// Read, and every item answered: where the next poll starts.
    Done(Next),
    /// No page, or an item could not be stored now: try again later from the same position.
    Failed {
        kind: &'static str,
        message: String,
    },
    Stopped,
}

/// How one item ended.
enum Submitted {
    Answered(ItemOutcome),
    /// Refused for good, with the reason in field names.
    Refused(String),
    Failed {
        kind: &'static str,
        message: String,
    },
    Stopped,
}

impl ConnectorRole {
    /// The connectors of `settings` (validated at load), submitting through `intake`; `holder`
    /// names this instance in the leases.
    pub fn from_settings(
        bus: &Bus,
        intake: Intake,
        registry: Arc<Registry>,
        settings: &Settings,
        holder: String,
    ) -> Result<ConnectorRole, SourceError> {
        let connectors = settings
            .connectors
            .iter()
            .map(|c| {
                Ok(Connector {
                    channel: ChannelId::parse(&c.channel).expect("validated channel id"),
                    registry: registry.clone(),
                    configured: Arc::new(LiveChannel {
                        id: ChannelId::parse(&c.channel).expect("validated channel id"),
                        record: settings
                            .channels
                            .iter()
                            .find(|channel| channel.id == c.channel)
                            .map(|channel| seed_record(channel, OffsetDateTime::now_utc()))
                            .expect("validated: the connector's channel is configured"),
                        revision: 0,
                    }),
                    source: Source::new(c)?,
                    paging: Paging::new(&c.paging),
                    store: Store::new(bus.connectors.clone(), &c.id),
                    intake: intake.clone(),
                    settings: c.clone(),
                })
            })
            .collect::<Result<_, SourceError>>()?;
        Ok(ConnectorRole {
            connectors,
            holder: holder.into(),
        })
    }

    /// Runs every connector until `stop`; with none configured, just waits for it.
    pub async fn run(self, stop: CancellationToken) {
        if self.connectors.is_empty() {
            tracing::info!("no connector configured; the connector role idles");
            stop.cancelled().await;
            return;
        }
        let holder = self.holder;
        futures::future::join_all(
            self.connectors
                .into_iter()
                .map(|c| c.run(holder.clone(), stop.clone())),
        )
        .await;
    }
}

impl Connector {
    fn id(&self) -> &str {
        &self.settings.id
    }

    /// Takes the lease whenever it is free and polls while holding it.
    async fn run(self, holder: Arc<str>, stop: CancellationToken) {
        let mut lease_errors = 0;
        while !stop.is_cancelled() {
            let wait = match self.store.acquire(&holder, lease::TTL).await {
                Ok(Acquired::Held(revision)) => {
                    lease_errors = 0;
                    tracing::info!(connector = self.id(), "lease taken; polling the source");
                    self.hold(&holder, revision, &stop).await;
                    Duration::ZERO
                }
                Ok(Acquired::Busy(until)) => {
                    lease_errors = 0;
                    let left = (until - OffsetDateTime::now_utc()).max(time::Duration::ZERO);
                    Duration::try_from(left)
                        .unwrap_or_default()
                        .min(lease::RENEW_EVERY)
                        + Duration::from_millis(50)
                }
                Err(e) => {
                    lease_errors += 1;
                    tracing::warn!(connector = self.id(), error = %e, "lease not readable; NATS unavailable?");
                    backoff::delay(lease_errors, lease::RENEW_EVERY, rand::random())
                }
            };
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Polls while the lease at `revision` holds: until `stop` (the lease is then released) or
    /// until the lease is lost.
    async fn hold(&self, holder: &str, revision: u64, stop: &CancellationToken) {
        let revision = AtomicU64::new(revision);
        tokio::select! {
            () = self.keep_lease(holder, &revision) => {
                tracing::warn!(connector = self.id(), "lease lost; another instance polls the source now");
                return;
            }
            () = self.poll(holder, stop) => {}
        }
        if let Err(e) = self
            .store
            .release(holder, revision.load(Ordering::Acquire))
            .await
        {
            tracing::warn!(connector = self.id(), error = %e, "lease not released; it expires on its own");
        }
    }

    /// Renews the lease until it is lost: written over by another instance, or not renewed
    /// for so long that another may have taken it.
    async fn keep_lease(&self, holder: &str, revision: &AtomicU64) {
        let mut renewed = Instant::now();
        loop {
            tokio::time::sleep(lease::RENEW_EVERY).await;
            match self
                .store
                .renew(holder, revision.load(Ordering::Acquire), lease::TTL)
                .await
            {
                Ok(Some(next)) => {
                    revision.store(next, Ordering::Release);
                    renewed = Instant::now();
                }
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(connector = self.id(), error = %e, "lease not renewed");
                    if renewed.elapsed() + lease::RENEW_EVERY >= lease::TTL {
                        return;
                    }
                }
            }
        }
    }

    /// Polls page after page until `stop`, from the stored cursor.
    async fn poll(&self, holder: &str, stop: &CancellationToken) {
        let mut failures = 0;
        let (stored_health, mut position) = loop {
            match tokio::try_join!(self.store.health(), self.store.cursor()) {
                Ok((health, cursor)) => {
                    break (health, cursor.unwrap_or_else(|| self.paging.start()));
                }
                Err(e) => {
                    failures += 1;
                    tracing::warn!(connector = self.id(), error = %e, "cursor not readable; NATS unavailable?");
                    let wait = self.backoff(failures);
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            }
        };
        let mut health = Health::resume(stored_health, self.id(), self.channel.as_str(), holder);
        let interval = Duration::from_secs(self.settings.interval_secs);
        let mut refusals = Refusals::default();
        loop {
            let outcome = self
                .poll_page(&position, &mut health, &mut refusals, stop)
                .await;
            let now = OffsetDateTime::now_utc();
            let wait = match outcome {
                PageOutcome::Stopped => {
                    self.save_health(&health).await;
                    return;
                }
                PageOutcome::Done(next) => {
                    let saved = if next.position == position {
                        Ok(())
                    } else {
                        self.store.save_cursor(&next.position).await
                    };
                    match saved {
                        Ok(()) => {
                            position = next.position;
                            health.succeeded(self.paging.describe(&position), now);
                            metrics::connector_poll(self.id(), "ok", 0);
                            metrics::connector_succeeded(self.id(), now.unix_timestamp());
                            self.save_health(&health).await;
                            if next.more { Duration::ZERO } else { interval }
                        }
                        Err(e) => {
                            self.failed(&mut health, "unavailable", &e.to_string())
                                .await
                        }
                    }
                }
                PageOutcome::Failed { kind, message } => {
                    self.failed(&mut health, kind, &message).await
                }
            };
            tokio::select! {
                _ = stop.cancelled() => {
                    self.save_health(&health).await;
                    return;
                }
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Records a failed poll; the wait before the next attempt.
    async fn failed(&self, health: &mut Health, kind: &'static str, message: &str) -> Duration {
        let failures = health.failed(kind, message, OffsetDateTime::now_utc());
        metrics::connector_poll(self.id(), kind, failures);
        let wait = self.backoff(failures);
        tracing::warn!(
            connector = self.id(),
            kind,
            error = message,
            failures,
            retry_in_ms = wait.as_millis() as u64,
            "poll failed"
        );
        self.save_health(health).await;
        wait
    }

    fn backoff(&self, failures: u32) -> Duration {
        backoff::delay(
            failures,
            Duration::from_millis(self.settings.max_backoff_ms),
            rand::random(),
        )
    }

    async fn save_health(&self, health: &Health) {
        let snapshot = health.snapshot(OffsetDateTime::now_utc());
        if let Err(e) = self.store.save_health(&snapshot).await {
            tracing::debug!(connector = self.id(), error = %e, "health not stored");
        }
    }

    /// Reads the page at `position` and answers each of its items.
    async fn poll_page(
        &self,
        position: &Position,
        health: &mut Health,
        refusals: &mut Refusals,
        stop: &CancellationToken,
    ) -> PageOutcome {
        let query = self.paging.query(position);
        let fetched = tokio::select! {
            _ = stop.cancelled() => return PageOutcome::Stopped,
            fetched = self.source.fetch(&query) => fetched,
        };
        let page = match fetched {
            Ok(value) => mapping::read_page(&value, &self.settings),
            Err(e) => {
                return PageOutcome::Failed {
                    kind: e.kind(),
                    message: e.to_string(),
                };
            }
        };
        let page = match page {
            Ok(page) => page,
            Err(e) => {
                return PageOutcome::Failed {
                    kind: "bad_response",
                    message: e.to_string(),
                };
            }
        };
        let count = page.items.len();
        for item in page.items {
            if stop.is_cancelled() {
                return PageOutcome::Stopped;
            }
            if refusals.already(position, &item) {
                continue;
            }
            let (id, submitted) = match &item {
                Item::Unusable { id, problem } => (
                    id.clone().unwrap_or_default(),
                    Submitted::Refused(problem.clone()),
                ),
                Item::Petition(petition) => (
                    petition.channel_message_id.clone(),
                    self.submit(petition, stop).await,
                ),
            };
            match submitted {
                Submitted::Answered(outcome) => {
                    health.item(outcome);
                    metrics::connector_item(self.id(), outcome.label());
                }
                Submitted::Refused(why) => {
                    // The source's item id and the fields at fault, never their values.
                    tracing::warn!(connector = self.id(), item = %id, reason = %why, "item refused; skipped");
                    health.rejected(&id, &why, OffsetDateTime::now_utc());
                    refusals.refused(&item);
                    metrics::connector_item(self.id(), ItemOutcome::Rejected.label());
                }
                Submitted::Failed { kind, message } => {
                    return PageOutcome::Failed { kind, message };
                }
                Submitted::Stopped => return PageOutcome::Stopped,
            }
        }
        PageOutcome::Done(
            self.paging
                .after(position, count, page.next_cursor.as_deref()),
        )
    }

    /// Hands one petition to the intake, waiting out the channel's rate limit.
    async fn submit(&self, petition: &Petition, stop: &CancellationToken) -> Submitted {
        let channel = self
            .registry
            .get(self.channel.as_str())
            .unwrap_or_else(|| self.configured.clone());
        if channel.suspended() {
            return Submitted::Failed {
                kind: "suspended",
                message: format!("channel {} is suspended", self.channel),
            };
        }
        loop {
            match self.intake.submit(&channel, Some(petition.clone())).await {
                Ok(receipt) if receipt.replayed => {
                    return Submitted::Answered(ItemOutcome::Replayed);
                }
                Ok(_) => return Submitted::Answered(ItemOutcome::Submitted),
                Err(e @ (IntakeError::Invalid(_) | IntakeError::ReusedMessageId(_))) => {
                    return Submitted::Refused(e.to_string());
                }
                Err(IntakeError::RateLimited(wait)) => {
                    tokio::select! {
                        _ = stop.cancelled() => return Submitted::Stopped,
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
                Err(e @ IntakeError::Unavailable(_)) => {
                    return Submitted::Failed {
                        kind: "unavailable",
                        message: e.to_string(),
                    };
                }
                Err(e @ IntakeError::Internal(_)) => {
                    return Submitted::Failed {
                        kind: "internal",
                        message: e.to_string(),
                    };
                }
            }
        }
    }
}
