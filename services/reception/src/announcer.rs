//! The announcer (dispatch role): keeps each session's announcements on the bus and on time.
//!
//! A session has at most one timer, armed at its next announcement instant, like a case's clock
//! timer. A firing (or a call that changed the session) makes an instance [`reconcile`] the
//! session: the session record says what went out, [`schedule::next_announcement`] what is due,
//! and each announcement n is written once on `minhu.reception.announce.<session>.<n>`
//! (expected last subject sequence 0) before it is recorded on the session with a
//! compare-and-set. Two instances at once write announcement n once: the loser reads the
//! stored one back and records that. A crash between the two writes leaves the announcement on
//! the bus and the next look records it.
//!
//! [`reconcile`]: Announcer::reconcile

use std::future::Future;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::LastRawMessageErrorKind;
use futures::FutureExt;
use minhu_contracts::bus;
use minhu_contracts::v1::{AnnouncementKind, ReceptionAnnouncement, SessionTimer};
use minhu_core::bus::Bus;
use minhu_core::case::CaseStore;
use minhu_core::consumer::{self, Verdict};
use minhu_core::metrics;
use minhu_core::reception::ReceptionSettings;
use prost::Message;
use time::{Duration, OffsetDateTime};

use crate::schedule::{self, Step};
use crate::store::{Sessions, StoreError};

/// More steps than a session needs at once (a scheduled announcement and a correction) plus
/// lost races.
const MAX_STEPS: usize = 16;
const CONCURRENCY: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum AnnounceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("session {0} kept changing while it was announced")]
    Busy(String),
}

/// Cheap to clone: the handles are shared (a bus handle is kilobytes, and every role's future
/// holds its workers by value).
#[derive(Clone)]
pub struct Announcer(Arc<Inner>);

struct Inner {
    bus: Bus,
    sessions: Sessions,
    cases: CaseStore,
    leads: Vec<Duration>,
    settings: ReceptionSettings,
}

impl Announcer {
    pub fn new(bus: Bus, settings: &ReceptionSettings) -> Announcer {
        Announcer(Arc::new(Inner {
            sessions: Sessions::new(&bus),
            cases: CaseStore::new(bus.clone()),
            bus,
            leads: settings.leads_longest_first(),
            settings: settings.clone(),
        }))
    }

    /// Announces what is due for the session now (each announcement once) and leaves its timer
    /// armed at the next instant, if any.
    pub async fn reconcile(&self, session_id: &str) -> Result<(), AnnounceError> {
        for _ in 0..MAX_STEPS {
            let Some(mut current) = self.0.sessions.get(session_id).await? else {
                return Ok(());
            };
            let now = OffsetDateTime::now_utc();
            match schedule::next_announcement(&current.session, &self.0.leads, now) {
                Step::Announce(planned) => {
                    let number = current.session.announcements.len() as u32 + 1;
                    let made = schedule::announcement(&current.session, &planned, number, now);
                    let stored = self.publish_once(&made).await?;
                    schedule::record(&mut current.session, &stored);
                    if self
                        .0
                        .sessions
                        .update(&current.session, current.revision)
                        .await?
                        .is_some()
                        && stored == made
                    {
                        let kind = kind_label(made.kind);
                        metrics::reception_announced(kind);
                        tracing::info!(
                            session_id,
                            number,
                            kind,
                            "reception announcement published"
                        );
                    }
                }
                Step::Wait(wake) => {
                    if let Some(at) = wake {
                        self.0.sessions.arm(session_id, at).await?;
                    }
                    // The timer just written may replace one armed from a newer version; if
                    // the session moved on, plan again from it so the last write is the newest.
                    let latest = self.0.sessions.get(session_id).await?.map(|v| v.revision);
                    if latest == Some(current.revision) {
                        return Ok(());
                    }
                }
            }
        }
        Err(AnnounceError::Busy(session_id.to_owned()))
    }

    /// Writes the announcement unless its number is taken; returns what is stored under it.
    async fn publish_once(
        &self,
        announcement: &ReceptionAnnouncement,
    ) -> Result<ReceptionAnnouncement, StoreError> {
        let subject = bus::announcement_subject(&announcement.session_id, announcement.number);
        let publish = PublishMessage::build()
            .payload(announcement.encode_to_vec().into())
            .expected_last_subject_sequence(0);
        let acked = match self.0.bus.js.send_publish(subject.clone(), publish).await {
            Ok(ack) => ack.await,
            Err(e) => Err(e),
        };
        match acked {
            Ok(_) => Ok(announcement.clone()),
            Err(e) if minhu_core::bus::lost_first_write(&e) => {
                let stored = self
                    .0
                    .bus
                    .reception
                    .get_last_raw_message_by_subject(&subject)
                    .await
                    .map_err(|e| match e.kind() {
                        LastRawMessageErrorKind::NoMessageFound => {
                            StoreError::Corrupt(format!("{subject} refused and absent"))
                        }
                        _ => StoreError::Unavailable(e.into()),
                    })?;
                ReceptionAnnouncement::decode(stored.payload)
                    .map_err(|e| StoreError::Corrupt(format!("{subject}: {e}")))
            }
            Err(e) => Err(StoreError::Unavailable(e.into())),
        }
    }

    /// Follows the fired session timers until `shutdown`, and every `report_interval_secs`
    /// looks at every session (one with an announcement overdue is announced) and refreshes the
    /// per-session report gauges.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let shutdown = shutdown.boxed().shared();
        let config = pull::Config {
            durable_name: Some(bus::RECEPTION_TIMER_CONSUMER.to_owned()),
            description: Some(
                "minhu reception: fired session timers, shared by every dispatch instance".into(),
            ),
            filter_subject: bus::RECEPTION_TIMER_FIRED_FILTER.to_owned(),
            ack_policy: AckPolicy::Explicit,
            deliver_policy: DeliverPolicy::All,
            ack_wait: StdDuration::from_secs(self.0.settings.ack_wait_secs),
            ..Default::default()
        };
        let worker = &self;
        let timers = consumer::run(
            self.0.bus.timers.clone(),
            bus::RECEPTION_TIMER_CONSUMER,
            config,
            CONCURRENCY,
            shutdown.clone(),
            |message| async move {
                let timer = match SessionTimer::decode(message.payload.clone()) {
                    Ok(timer) => timer,
                    Err(e) => {
                        return Verdict::Poison(format!("session timer does not decode: {e}"));
                    }
                };
                match worker.reconcile(&timer.session_id).await {
                    Ok(()) => Verdict::Done,
                    Err(e) => Verdict::Retry(e.to_string()),
                }
            },
        );
        let sweep = async {
            let mut ticker =
                tokio::time::interval(StdDuration::from_secs(self.0.settings.report_interval_secs));
            loop {
                tokio::select! {
                    _ = shutdown.clone() => return,
                    _ = ticker.tick() => {}
                }
                if let Err(e) = self.sweep().await {
                    tracing::warn!(error = %e, "reception sweep failed; trying again later");
                }
            }
        };
        futures::join!(timers, sweep);
    }

    /// One look at every session: announce what is overdue, refresh the report gauges of those
    /// within the report window.
    async fn sweep(&self) -> Result<(), AnnounceError> {
        let now = OffsetDateTime::now_utc();
        let window = Duration::days(i64::from(self.0.settings.report_days));
        for session in self.0.sessions.all().await? {
            let starts_at = crate::instant(session.starts_at);
            // Only a session with an announcement overdue: its timer was lost (a crash between
            // a call's write and its arming); the others' timers stand.
            if matches!(
                schedule::next_announcement(&session, &self.0.leads, now),
                Step::Announce(_)
            ) {
                self.reconcile(&session.session_id).await?;
            }
            if starts_at.is_some_and(|s| s + window >= now) && !session.registrations.is_empty() {
                let report = crate::service::report_of(&self.0.cases, &session, now)
                    .await
                    .map_err(|e| AnnounceError::Store(StoreError::Unavailable(e.into())))?;
                metrics::reception_report(&session.session_id, &report_figures(&report));
            }
        }
        Ok(())
    }
}

fn kind_label(kind: i32) -> &'static str {
    match AnnouncementKind::try_from(kind).unwrap_or_default() {
        AnnouncementKind::Scheduled => "scheduled",
        AnnouncementKind::Correction => "correction",
        AnnouncementKind::Cancellation => "cancellation",
        AnnouncementKind::Unspecified => "unspecified",
    }
}

/// The report's figures as gauge values, by the `figure` label.
fn report_figures(report: &minhu_contracts::v1::ReceptionReport) -> metrics::ReceptionFigures {
    metrics::ReceptionFigures {
        petitions: report.petitions,
        matters: report.matters,
        investigated: report.investigated,
        resolved_on_the_spot: report.resolved_on_the_spot,
        assigned: report.assigned,
        leader_owned: report.leader_owned,
        undecided: report.undecided,
        overdue: report.overdue,
        evaluated: report.evaluated,
        satisfaction_ratio: report.satisfaction_ratio,
    }
}
