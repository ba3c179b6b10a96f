//! The clock worker: follows the case events and the fired timers, and reconciles the case
//! each one names (see the crate documentation for why this records every step exactly once).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use minhu_contracts::bus;
use minhu_contracts::v1::{CaseEvent, ClockTimer, case_event::Event};
use minhu_core::bus::Bus;
use minhu_core::case::{CaseStore, StoreError, Versioned};
use minhu_core::consumer::{self, Verdict};
use minhu_core::deadlines::timestamp;
use minhu_core::metrics;
use prost::Message;
use time::OffsetDateTime;

use crate::plan::{self, PlanError, Rules, Step, Wake};
use crate::timers::{TimerError, Timers};

/// How the clock signs its events.
pub const ACTOR: &str = "clock";
/// Fired timers handled at once by one instance: each is a few bus round trips.
const TIMER_CONCURRENCY: usize = 64;
const EVENT_CONCURRENCY: usize = 16;
/// More steps than a case can need at once (deadlines, then per milestone a warning, overdue
/// and escalations) plus lost races; beyond it the case is retried later.
const MAX_STEPS: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum ClockError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Timer(#[from] TimerError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("case {0} kept changing while the clock planned it")]
    Busy(String),
    #[error("message cannot be handled: {0}")]
    Poison(String),
}

/// What a reconciliation did.
#[derive(Debug, Clone, PartialEq)]
pub struct Reconciled {
    /// Events recorded on the case.
    pub recorded: usize,
    /// The timer left armed.
    pub wake: Option<Wake>,
}

#[derive(Clone)]
pub struct ClockWorker {
    bus: Bus,
    store: CaseStore,
    timers: Timers,
    rules: Arc<Rules>,
    ack_wait: Duration,
}

impl ClockWorker {
    pub fn new(bus: Bus, rules: Arc<Rules>, ack_wait: Duration) -> ClockWorker {
        ClockWorker {
            store: CaseStore::new(bus.clone()),
            timers: Timers::new(bus.js.clone(), bus.timers.clone()),
            bus,
            rules,
            ack_wait,
        }
    }

    /// Follows the case events and the fired timers until `shutdown`; what is in hand finishes
    /// (and is acknowledged) first.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let shutdown = shutdown.boxed().shared();
        let worker = &self;
        let events = consumer::run(
            self.bus.case_events.clone(),
            bus::CLOCK_EVENTS_CONSUMER,
            pull::Config {
                durable_name: Some(bus::CLOCK_EVENTS_CONSUMER.to_owned()),
                description: Some(
                    "minhu clock: recompute a case's deadlines when it changes".into(),
                ),
                ack_policy: AckPolicy::Explicit,
                deliver_policy: DeliverPolicy::All,
                ack_wait: self.ack_wait,
                ..Default::default()
            },
            EVENT_CONCURRENCY,
            shutdown.clone(),
            |message| async move { verdict(worker.on_case_event(&message).await) },
        );
        let timers = follow_timers(&self.bus, self.ack_wait, shutdown, |timer| async move {
            worker.on_timer(timer).await
        });
        futures::join!(events, timers);
    }

    /// Brings the case up to date at this instant: records every step that is due (each once)
    /// and leaves its timer armed at its next instant, or disarmed.
    pub async fn reconcile(&self, case_id: &str) -> Result<Reconciled, ClockError> {
        let current = self.store.load(case_id).await?;
        self.reconcile_from(current).await
    }

    /// [`ClockWorker::reconcile`] from a view just loaded.
    async fn reconcile_from(&self, mut current: Versioned) -> Result<Reconciled, ClockError> {
        let case_id = current.view.case_id.clone();
        let case_id = case_id.as_str();
        let mut recorded = 0;
        for _ in 0..MAX_STEPS {
            let now = OffsetDateTime::now_utc();
            let step = match plan::next_step(&current.view, &self.rules, now) {
                Ok(step) => step,
                Err(e) => {
                    // No deadline can be computed: leave no timer behind to fire for nothing.
                    self.timers.disarm(case_id).await?;
                    return Err(e.into());
                }
            };
            match step {
                Step::Record(event) => {
                    match self
                        .store
                        .commit(&current, ACTOR, (*event).clone(), timestamp(now))
                        .await
                    {
                        Ok(next) => {
                            observe(case_id, &event);
                            recorded += 1;
                            current = next;
                        }
                        // Another instance or a unit recorded something first: decide again.
                        Err(StoreError::Conflict(_)) => {
                            current = self.store.load(case_id).await?;
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                Step::Wait(wake) => {
                    match &wake {
                        Some(w) => self.timers.arm(case_id, w.at, &w.reason).await?,
                        None => self.timers.disarm(case_id).await?,
                    }
                    // The timer just written may replace one armed from a newer view; if the case
                    // moved on, plan again from it so the last write is the newest.
                    let latest = self
                        .store
                        .last_event(case_id)
                        .await?
                        .map_or(0, |(_, e)| e.number);
                    if latest == current.view.version {
                        return Ok(Reconciled { recorded, wake });
                    }
                    current = self.store.load(case_id).await?;
                }
            }
        }
        Err(ClockError::Busy(case_id.to_owned()))
    }

    async fn on_case_event(&self, message: &jetstream::Message) -> Result<(), ClockError> {
        let event = CaseEvent::decode(message.payload.clone())
            .map_err(|e| ClockError::Poison(format!("case event does not decode: {e}")))?;
        // The clock's own events: the instance that recorded one re-armed the timer after it.
        // Before dispatch there is no clock.
        if event.actor == ACTOR || matches!(event.event, Some(Event::Triaged(_)) | None) {
            return Ok(());
        }
        // Only the case's latest event needs a look: a later one is on its way to some instance
        // (or was recorded by the clock, which armed after it). The view is loaded up to the
        // case's last event.
        let current = self.store.load_after_event(&event.case_id).await?;
        if current.view.version > event.number {
            return Ok(());
        }
        self.reconcile_from(current).await.map(|_| ())
    }

    async fn on_timer(&self, timer: ClockTimer) -> Result<(), ClockError> {
        match self.reconcile(&timer.case_id).await {
            Ok(_) => Ok(()),
            // A timer of a case that does not exist (removed by an operator) has nothing to do.
            Err(ClockError::Store(StoreError::NotFound(case_id))) => {
                tracing::warn!(%case_id, "timer of an unknown case dropped");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

fn observe(case_id: &str, event: &Event) {
    match event {
        Event::DeadlineWarned(w) => {
            metrics::deadline_warned(&w.milestone);
            tracing::info!(case_id, milestone = %w.milestone, unit = %w.unit_id, "deadline warning recorded");
        }
        Event::DeadlineOverdue(o) => {
            metrics::deadline_overdue(&o.milestone);
            tracing::info!(case_id, milestone = %o.milestone, unit = %o.unit_id, "overdue recorded");
        }
        Event::Escalated(e) => {
            metrics::deadline_escalated(e.level);
            tracing::info!(case_id, milestone = %e.milestone, level = e.level, to = %e.to_unit_id, "escalation recorded");
        }
        Event::DeadlinesSet(d) => {
            tracing::debug!(case_id, policy = %d.policy_id, "deadlines recorded");
        }
        _ => {}
    }
}

/// What the consumer loop does with a message after the clock handled it.
fn verdict(result: Result<(), ClockError>) -> Verdict {
    match result {
        Ok(()) => Verdict::Done,
        Err(ClockError::Poison(reason)) => Verdict::Poison(reason),
        // Configuration, not the bus: handling the same case again cannot help.
        Err(ClockError::Plan(e)) => {
            tracing::error!(error = %e, "case has no clock");
            Verdict::Done
        }
        Err(e) => Verdict::Retry(e.to_string()),
    }
}

/// Takes up fired timers from the durable consumer every clock instance shares, passing each
/// to `handle`; acknowledges it when `handle` succeeds and hands it back for a retry when not.
/// Each timer's lag behind its instant goes to `minhu_clock_fire_lag_seconds`.
pub async fn follow_timers<F, Fut>(
    bus: &Bus,
    ack_wait: Duration,
    shutdown: Shared<BoxFuture<'static, ()>>,
    handle: F,
) where
    F: Fn(ClockTimer) -> Fut,
    Fut: Future<Output = Result<(), ClockError>>,
{
    let config = pull::Config {
        durable_name: Some(bus::CLOCK_TIMER_CONSUMER.to_owned()),
        description: Some("minhu clock: fired case timers, shared by every clock instance".into()),
        filter_subject: bus::TIMER_FIRED_FILTER.to_owned(),
        ack_policy: AckPolicy::Explicit,
        deliver_policy: DeliverPolicy::All,
        ack_wait,
        // A burst of deadlines (24:00 of a working day) fires thousands at once.
        max_ack_pending: 20_000,
        ..Default::default()
    };
    let handle = &handle;
    consumer::run(
        bus.timers.clone(),
        bus::CLOCK_TIMER_CONSUMER,
        config,
        TIMER_CONCURRENCY,
        shutdown,
        |message: jetstream::Message| async move {
            let timer = match ClockTimer::decode(message.payload.clone()) {
                Ok(timer) => timer,
                Err(e) => return Verdict::Poison(format!("timer does not decode: {e}")),
            };
            if let Some(at) = timer.at.and_then(|t| {
                OffsetDateTime::from_unix_timestamp_nanos(
                    i128::from(t.seconds) * 1_000_000_000 + i128::from(t.nanos),
                )
                .ok()
            }) {
                let lag = OffsetDateTime::now_utc() - at;
                metrics::clock_fire_lag(lag.try_into().unwrap_or_default());
            }
            verdict(handle(timer).await)
        },
    )
    .await
}
