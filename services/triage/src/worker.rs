//! The triage consumer: the thin edge around the pure cores.
//!
//! Each intake message goes through steps that are each written at most once, on their own
//! subject with an expected last subject sequence of 0:
//!
//! 1. the decision (`minhu.case.<id>.triaged`): read back if recorded, else computed and recorded;
//! 2. the dispatch to each unit (`minhu.dispatch.<unit>.<id>`) and its event;
//! 3. the case view in KV, created once.
//!
//! A crash anywhere leaves the message unacknowledged; its redelivery finds the finished steps
//! already written and does only the rest. So a redelivery, however late, never dispatches a
//! case twice, and never decides it differently. The message is acknowledged only after every
//! step is durable.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use async_nats::jetstream::consumer::{AckPolicy, PullConsumer, pull};
use bytes::Bytes;
use futures::FutureExt;
use minhu_contracts::bus;
use minhu_contracts::v1::{
    CaseEvent, CaseStatus, CaseView, CentreQueued, CentreReason, DeadlinesSet, Dispatched,
    HistoryEntry, HotspotRaised, IntakeRecord, MemberJoined, RepeatLinked, RouteDecision,
    UnitEvent, case_event, unit_event,
};
use minhu_core::bus::Bus;
use minhu_core::case::{self, CaseStore, StoreError};
use minhu_core::config::{CENTRE_QUEUE_ID, DeadlineSettings, DedupSettings, TriageSettings};
use minhu_core::consumer::{self, Verdict};
use minhu_core::deadlines::{self, timestamp};
use minhu_core::domain::TrackingNumber;
use minhu_core::metrics;
use minhu_dedup::decide::{Division, Facts, Outcome as DedupOutcome, PetitionerKey};
use minhu_dedup::hotspot::HotspotRule;
use prost::Message;
use time::OffsetDateTime;

use crate::Triage;
use crate::near::{self, NearIndex};

/// Messages handled at once by one worker; the bus round trips, not the CPU, bound a step.
const CONCURRENCY: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum TriageError {
    /// The message can never be handled (it does not decode): retrying cannot help.
    #[error("poison message: {0}")]
    Poison(String),
    /// The bus failed or a step is waiting for another case; the message is tried again.
    #[error("transient failure: {0}")]
    Transient(#[from] async_nats::Error),
}

/// What triage did with one petition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Dispatched {
        case_id: String,
        unit_id: String,
    },
    Duplicate {
        case_id: String,
        original: String,
    },
    /// 并单: joined another petitioner's case on the same matter.
    Merged {
        case_id: String,
        lead: String,
    },
    /// Waiting in the dispatch centre's queue for a person (派单中心待派).
    CentreQueued {
        case_id: String,
        reason: CentreReason,
    },
}

#[derive(Clone)]
pub struct TriageWorker {
    bus: Bus,
    cases: CaseStore,
    near: Arc<NearIndex>,
    hotspot: HotspotRule,
    triage: Arc<Triage>,
    settings: TriageSettings,
    deadlines: DeadlineSettings,
    tracking_prefix: String,
    /// Registers a petition naming a reception session (领导下访接访) after its decision.
    reception: Option<minhu_reception::Registrar>,
    /// The clock's policies and calendar, to dispatch with the deadlines that hold.
    clock_rules: Option<Arc<minhu_clock_role::Rules>>,
}

impl TriageWorker {
    pub fn new(
        bus: Bus,
        triage: Arc<Triage>,
        settings: TriageSettings,
        deadlines: DeadlineSettings,
        dedup: &DedupSettings,
        tracking_prefix: String,
    ) -> TriageWorker {
        TriageWorker {
            cases: CaseStore::new(bus.clone()),
            near: Arc::new(NearIndex::new(
                minhu_dedup::detector::Detector::default(),
                minhu_dedup::decide::Policy {
                    repeat_window_secs: i64::from(dedup.repeat_window_days) * 86_400,
                    cluster_window_secs: i64::from(dedup.cluster_window_days) * 86_400,
                },
            )),
            hotspot: HotspotRule {
                window_secs: dedup.hotspot_window_secs,
                min_petitioners: dedup.hotspot_min_petitioners,
            },
            bus,
            triage,
            settings,
            deadlines,
            tracking_prefix,
            reception: None,
            clock_rules: None,
        }
    }

    /// Dispatches cases with the clock's deadlines (see [`TriageWorker::first_deadlines`]).
    pub fn with_clock_rules(mut self, rules: Arc<minhu_clock_role::Rules>) -> TriageWorker {
        self.clock_rules = Some(rules);
        self
    }

    /// Registers petitions that name a reception session to it (or records the offer of the
    /// next one), once each is triaged.
    pub fn with_reception(mut self, registrar: minhu_reception::Registrar) -> TriageWorker {
        self.reception = Some(registrar);
        self
    }

    /// The durable consumer every triage instance shares: each message goes to one of them.
    pub async fn consumer(&self) -> Result<PullConsumer, async_nats::Error> {
        Ok(self
            .bus
            .intake
            .get_or_create_consumer(bus::TRIAGE_CONSUMER, self.consumer_config())
            .await?)
    }

    fn consumer_config(&self) -> pull::Config {
        pull::Config {
            durable_name: Some(bus::TRIAGE_CONSUMER.to_owned()),
            description: Some("minhu triage: classify, dedup, route, dispatch".to_owned()),
            ack_policy: AckPolicy::Explicit,
            ack_wait: Duration::from_secs(self.settings.ack_wait_secs),
            max_deliver: self.settings.max_deliver,
            ..Default::default()
        }
    }

    /// Pulls and handles messages until `shutdown` resolves (see [`consumer::run`]).
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        consumer::run(
            self.bus.intake.clone(),
            bus::TRIAGE_CONSUMER,
            self.consumer_config(),
            CONCURRENCY,
            shutdown.boxed().shared(),
            |message| self.handle_counted(message),
        )
        .await;
    }

    /// Handles one message and counts the outcome; the runner acknowledges.
    async fn handle_counted(&self, message: jetstream::Message) -> Verdict {
        let started = std::time::Instant::now();
        let handled = match self.handle(&message).await {
            Ok(outcome) => self.register(&message, outcome).await,
            failed => failed,
        };
        let label = match &handled {
            Ok(Outcome::Dispatched { .. }) => "dispatched",
            Ok(Outcome::Duplicate { .. }) => "duplicate",
            Ok(Outcome::Merged { .. }) => "merged",
            Ok(Outcome::CentreQueued { .. }) => "centre_queue",
            Err(TriageError::Poison(_)) => "poison",
            Err(TriageError::Transient(_)) => "retry",
        };
        metrics::triage_message(label, started.elapsed());
        match handled {
            Ok(outcome) => {
                tracing::debug!(?outcome, "petition triaged");
                Verdict::Done
            }
            Err(TriageError::Poison(reason)) => Verdict::Poison(reason),
            Err(TriageError::Transient(e)) => Verdict::Retry(e.to_string()),
        }
    }

    /// Everything for one message except its acknowledgement, which is the caller's.
    pub async fn handle(&self, message: &jetstream::Message) -> Result<Outcome, TriageError> {
        let info = message
            .info()
            .map_err(|e| TriageError::Poison(format!("not a JetStream message: {e}")))?;
        let intake_sequence = info.stream_sequence;
        // Only an earlier delivery of this message can have recorded steps of this case.
        let first_delivery = info.delivered == 1;
        let record = IntakeRecord::decode(message.payload.clone())
            .map_err(|e| TriageError::Poison(format!("intake record does not decode: {e}")))?;
        let accepted_at = record
            .received_at
            .as_ref()
            .and_then(|t| OffsetDateTime::from_unix_timestamp(t.seconds).ok())
            .ok_or_else(|| TriageError::Poison("intake record without received_at".into()))?;
        let case_id =
            TrackingNumber::new(&self.tracking_prefix, accepted_at, intake_sequence).to_string();

        let (first_sequence, first, decided_now) =
            self.decision(&case_id, &record, first_delivery).await?;
        let Some(case_event::Event::Triaged(triaged)) = first.event.clone() else {
            return Err(TriageError::Poison(format!(
                "case {case_id} does not start with its triage"
            )));
        };
        let petition = record.petition.clone().unwrap_or_default();
        let mut view = CaseView {
            case_id: case_id.clone(),
            tracking_number: case_id.clone(),
            channel_id: record.channel_id.clone(),
            accepted_at: Some(timestamp(accepted_at)),
            intake_sequence,
            history: vec![HistoryEntry {
                at: Some(timestamp(accepted_at)),
                status: CaseStatus::Received as i32,
                note: "已受理".into(),
            }],
            title: petition.title.clone(),
            body: petition.body.clone(),
            location: petition.location.clone(),
            attachments: petition.attachments.clone(),
            petitioner_identified: record.sealed_petitioner.is_some(),
            identity_confidential: petition
                .consent
                .as_ref()
                .is_some_and(|c| c.keep_identity_confidential),
            status: CaseStatus::Received as i32,
            ..Default::default()
        };
        case::apply(&mut view, &first);
        view.last_event_sequence = first_sequence;
        // 检举控告 without the reporter's consent: no handling unit learns who reported.
        if triaged.route.as_ref().is_some_and(|r| r.identity_withheld) {
            view.identity_confidential = true;
        }

        if !triaged.duplicate_of.is_empty() {
            let original = triaged.duplicate_of.clone();
            let linked = case_event::Event::RepeatLinked(RepeatLinked {
                repeat_case_id: case_id.clone(),
                evidence: triaged.dedup.clone(),
            });
            self.record_on(&original, linked, |v| v.duplicates.contains(&case_id))
                .await?;
            self.cases.create(&view).await.map_err(transient)?;
            return Ok(Outcome::Duplicate { case_id, original });
        }
        if !triaged.cluster_lead.is_empty() {
            let lead = triaged.cluster_lead.clone();
            let joined = case_event::Event::MemberJoined(MemberJoined {
                member_case_id: case_id.clone(),
                evidence: triaged.dedup.clone(),
                petitioner_digest: PetitionerKey::of(&record.petitioner_key)
                    .digest()
                    .map(|d| format!("{d:016x}"))
                    .unwrap_or_default(),
                member_accepted_at: Some(timestamp(accepted_at)),
            });
            let lead_view = self
                .record_on(&lead, joined, |v| {
                    v.cluster_members.iter().any(|m| m.case_id == case_id)
                })
                .await?;
            self.raise_hotspot(&lead_view).await?;
            self.cases.create(&view).await.map_err(transient)?;
            return Ok(Outcome::Merged { case_id, lead });
        }

        let route = triaged
            .route
            .clone()
            .ok_or_else(|| TriageError::Poison("triaged event without a route".into()))?;
        let queued = CentreReason::try_from(route.centre_reason).unwrap_or_default();
        let first_deadlines = self.first_deadlines(&view, accepted_at);
        let deadlines = &first_deadlines.deadlines;
        // Event 2 follows the decision: a decision recorded by this very call has none yet.
        let recorded = if decided_now {
            None
        } else {
            self.cases.event(&case_id, 2).await.map_err(transient)?
        };
        let second = match recorded {
            Some(done) => done,
            None => {
                let event = if queued == CentreReason::Unspecified {
                    self.deliver(&view, &route, deadlines, accepted_at).await?;
                    case_event::Event::Dispatched(Dispatched {
                        unit_id: route.lead_unit_id.clone(),
                        handling_due_at: first_deadlines.handling_due_at,
                        deadlines: deadlines.clone(),
                        policy_id: first_deadlines.policy_id.clone(),
                        calendar_gap: first_deadlines.calendar_gap,
                        ..Default::default()
                    })
                } else {
                    self.deliver_to_centre(&view, &route).await?;
                    case_event::Event::CentreQueued(centre_queued(queued, &triaged))
                };
                let second = CaseEvent {
                    case_id: case_id.clone(),
                    at: Some(timestamp(OffsetDateTime::now_utc())),
                    actor: "triage".into(),
                    number: 2,
                    event: Some(event),
                };
                match self
                    .cases
                    .append(&case_id, first_sequence, &second)
                    .await
                    .map_err(transient)?
                {
                    Some(sequence) => (sequence, second),
                    // Another instance recorded it first: its record stands.
                    None => self
                        .cases
                        .event(&case_id, 2)
                        .await
                        .map_err(transient)?
                        .ok_or_else(|| transient(StoreError::Conflict(case_id.clone())))?,
                }
            }
        };
        case::apply(&mut view, &second.1);
        view.last_event_sequence = second.0;
        self.cases.create(&view).await.map_err(transient)?;
        if queued != CentreReason::Unspecified {
            return Ok(Outcome::CentreQueued {
                case_id,
                reason: queued,
            });
        }
        Ok(Outcome::Dispatched {
            case_id,
            unit_id: route.lead_unit_id,
        })
    }

    /// The deadlines a case is dispatched with: the clock's own — its policy for the case, the
    /// working-day calendar — when triage has the clock's rules, so the unit's assignment
    /// carries the deadlines that hold and the clock finds nothing to correct; otherwise the
    /// configured defaults, which the clock replaces once it sees the dispatch.
    fn first_deadlines(&self, view: &CaseView, accepted_at: OffsetDateTime) -> DeadlinesSet {
        if let Some(rules) = &self.clock_rules {
            match minhu_clock_role::plan::deadlines_of(view, rules) {
                Ok((set, _)) => return set,
                Err(e) => {
                    tracing::warn!(error = %e, "no clock deadlines for the dispatch; the defaults go first")
                }
            }
        }
        let deadlines = deadlines::initial(accepted_at, &self.deadlines);
        DeadlinesSet {
            handling_due_at: deadlines
                .iter()
                .find(|d| d.milestone == "handling")
                .and_then(|d| d.due_at),
            deadlines,
            ..Default::default()
        }
    }

    /// Pre-registration (领导下访接访): after the decision, a petition naming a reception session
    /// is registered to it, or offered the next one; before the message is acknowledged.
    async fn register(
        &self,
        message: &jetstream::Message,
        outcome: Outcome,
    ) -> Result<Outcome, TriageError> {
        let Some(registrar) = &self.reception else {
            return Ok(outcome);
        };
        let record = IntakeRecord::decode(message.payload.clone())
            .map_err(|e| TriageError::Poison(format!("intake record does not decode: {e}")))?;
        let session_id = record
            .petition
            .as_ref()
            .map_or("", |p| p.reception_session_id.as_str());
        let case_id = match &outcome {
            Outcome::Dispatched { case_id, .. }
            | Outcome::Duplicate { case_id, .. }
            | Outcome::Merged { case_id, .. }
            | Outcome::CentreQueued { case_id, .. } => case_id,
        };
        match registrar.register(case_id, session_id).await {
            Ok(_) => Ok(outcome),
            Err(minhu_reception::register::RegisterError::Poison(reason)) => {
                Err(TriageError::Poison(reason))
            }
            Err(e) => Err(TriageError::Transient(e.to_string().into())),
        }
    }

    /// Puts the case on the dispatch centre's feed (`minhu.dispatch.centre.<case>.2`), once.
    async fn deliver_to_centre(
        &self,
        view: &CaseView,
        route: &RouteDecision,
    ) -> Result<(), TriageError> {
        let event = UnitEvent {
            event_id: format!("{}/2", view.case_id),
            case_id: view.case_id.clone(),
            unit_id: CENTRE_QUEUE_ID.to_owned(),
            at: Some(timestamp(OffsetDateTime::now_utc())),
            event: Some(unit_event::Event::Assigned(case::assignment(
                view,
                Some(route.clone()),
                Vec::new(),
                true,
            ))),
        };
        let fresh = append_once(
            &self.bus,
            bus::dispatch_subject(CENTRE_QUEUE_ID, &view.case_id, 2),
            event.encode_to_vec().into(),
        )
        .await?;
        if fresh {
            let reason = CentreReason::try_from(route.centre_reason).unwrap_or_default();
            metrics::centre_queued(reason.as_str_name());
        }
        Ok(())
    }

    /// Puts the case on the feed of its lead and assisting units, each once.
    async fn deliver(
        &self,
        view: &CaseView,
        route: &RouteDecision,
        deadlines: &[minhu_contracts::v1::Deadline],
        accepted_at: OffsetDateTime,
    ) -> Result<(), TriageError> {
        let now = Some(timestamp(OffsetDateTime::now_utc()));
        let units = std::iter::once(&route.lead_unit_id).chain(&route.assisting_unit_ids);
        // Each unit's subject is its own: the lead's and the assisting units' writes at once.
        let writes = units.map(|unit| async move {
            let lead = *unit == route.lead_unit_id;
            let case = case::assignment(view, Some(route.clone()), deadlines.to_vec(), lead);
            let event = UnitEvent {
                event_id: format!("{}/2", view.case_id),
                case_id: view.case_id.clone(),
                unit_id: unit.clone(),
                at: now,
                event: Some(unit_event::Event::Assigned(case)),
            };
            let fresh = append_once(
                &self.bus,
                bus::dispatch_subject(unit, &view.case_id, 2),
                event.encode_to_vec().into(),
            )
            .await?;
            if lead && fresh {
                let waited = (OffsetDateTime::now_utc() - accepted_at).unsigned_abs();
                let confidence = view.classification.as_ref().map_or(0.0, |c| c.confidence);
                metrics::dispatched(waited, confidence, route.fallback);
            }
            Ok::<_, TriageError>(())
        });
        futures::future::try_join_all(writes).await?;
        Ok(())
    }

    /// The recorded decision for this case (event 1), or a new one, recorded before anything
    /// acts on it; true when this call recorded it.
    ///
    /// On a message's first delivery nothing can be recorded yet, so the read is skipped: the
    /// record is conditional all the same, and should another instance have recorded a
    /// decision first, that one is read back and stands.
    async fn decision(
        &self,
        case_id: &str,
        record: &IntakeRecord,
        first_delivery: bool,
    ) -> Result<(u64, CaseEvent, bool), TriageError> {
        if !first_delivery
            && let Some((sequence, done)) = self.cases.event(case_id, 1).await.map_err(transient)?
        {
            return Ok((sequence, done, false));
        }
        let petition = record.petition.clone().unwrap_or_default();
        let mut triaged =
            self.triage
                .assess(&petition, &record.channel_id, &record.channel_division_code);
        let facts = Facts {
            petitioner: PetitionerKey::of(&record.petitioner_key),
            division: Division::of(
                triaged
                    .route
                    .as_ref()
                    .map_or("", |r| r.division_code.as_str()),
            ),
            time: record.received_at.as_ref().map_or(0, |t| t.seconds),
        };
        let decision = self
            .near
            .decide_and_record(&self.bus, case_id, &petition.title, &petition.body, facts)
            .await
            .map_err(|e| TriageError::Transient(e.into()))?;
        triaged.dedup = near::evidence(&decision, &self.near.detector().scheme.version());
        match decision.outcome {
            DedupOutcome::New => metrics::dedup_outcome("new"),
            DedupOutcome::Repeat { original } => {
                metrics::dedup_outcome("repeat");
                triaged.duplicate_of = original;
                triaged.route = None;
            }
            DedupOutcome::RepeatAfterClosure { original } => {
                metrics::dedup_outcome("repeat_after_closure");
                triaged.repeat_of_closed = original;
            }
            DedupOutcome::ClusterMember { lead } => {
                metrics::dedup_outcome("cluster_member");
                triaged.cluster_lead = lead;
            }
        }
        let event = CaseEvent {
            case_id: case_id.to_owned(),
            at: Some(timestamp(OffsetDateTime::now_utc())),
            actor: "triage".into(),
            number: 1,
            event: Some(case_event::Event::Triaged(triaged)),
        };
        match self
            .cases
            .append(case_id, 0, &event)
            .await
            .map_err(transient)?
        {
            Some(sequence) => Ok((sequence, event, true)),
            // Another instance recorded its decision first: the recorded one is the decision.
            None => self
                .cases
                .event(case_id, 1)
                .await
                .map_err(transient)?
                .map(|(sequence, done)| (sequence, done, false))
                .ok_or_else(|| transient(StoreError::Conflict(case_id.to_owned()))),
        }
    }

    /// Records `event` on another case (the original of a repeat, the lead of a cluster)
    /// unless `done` says an earlier attempt already did; returns that case's view.
    async fn record_on(
        &self,
        case_id: &str,
        event: case_event::Event,
        done: impl Fn(&CaseView) -> bool,
    ) -> Result<CaseView, TriageError> {
        loop {
            // The other case may still be in triage itself: try again shortly.
            let current = match self.cases.load(case_id).await {
                Ok(v) => v,
                Err(StoreError::NotFound(_)) => {
                    return Err(TriageError::Transient(
                        format!("case {case_id} has no view yet").into(),
                    ));
                }
                Err(e) => return Err(transient(e)),
            };
            if done(&current.view) {
                return Ok(current.view);
            }
            let now = timestamp(OffsetDateTime::now_utc());
            match self
                .cases
                .commit(&current, "triage", event.clone(), now)
                .await
            {
                Ok(next) => return Ok(next.view),
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(transient(e)),
            }
        }
    }

    /// Marks a cluster a hotspot (group demand) once enough distinct people joined it within
    /// the window: an event on the lead case, on the bus for everyone watching.
    async fn raise_hotspot(&self, lead: &CaseView) -> Result<(), TriageError> {
        if lead.hotspot_raised_at.is_some() {
            return Ok(());
        }
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let window = self.hotspot.window_secs;
        let recent: Vec<_> = lead
            .cluster_members
            .iter()
            .filter(|m| m.accepted_at.is_some_and(|t| now - t.seconds <= window))
            .collect();
        let mut people: std::collections::HashSet<&str> = std::collections::HashSet::new();
        let mut anonymous = 0;
        for m in &recent {
            if m.petitioner_digest.is_empty() {
                anonymous += 1;
            } else {
                people.insert(&m.petitioner_digest);
            }
        }
        // The lead's own petitioner counts too.
        let petitioners = people.len() + anonymous + 1;
        if petitioners < self.hotspot.min_petitioners {
            return Ok(());
        }
        metrics::dedup_outcome("hotspot");
        let raised = case_event::Event::HotspotRaised(HotspotRaised {
            petitioners: petitioners as u32,
            petitions: recent.len() as u32 + 1,
            window_seconds: window as u32,
        });
        self.record_on(&lead.case_id, raised, |v| v.hotspot_raised_at.is_some())
            .await
            .map(|_| ())
    }
}

/// Why the case waits for the centre, in words for the centre's staff.
fn centre_queued(reason: CentreReason, triaged: &minhu_contracts::v1::Triaged) -> CentreQueued {
    let classification = triaged.classification.clone().unwrap_or_default();
    let detail = match reason {
        CentreReason::LegalPathway => classification.pathway.map(|p| p.route).unwrap_or_default(),
        CentreReason::LowConfidence => format!(
            "分类置信度 {:.2} 低于门限: {}",
            classification.confidence, classification.category
        ),
        CentreReason::NoLocation => "事发地不明".into(),
        CentreReason::NoResponsibleUnit => "无对应承办单位".into(),
        CentreReason::GuardExhausted => "检举控告: 无可回避被举报单位的承办单位".into(),
        CentreReason::Unspecified => String::new(),
    };
    CentreQueued {
        reason: reason as i32,
        detail,
    }
}

fn transient(e: StoreError) -> TriageError {
    match e {
        StoreError::Corrupt(reason) => TriageError::Poison(reason),
        other => TriageError::Transient(other.into()),
    }
}

/// Writes `payload` on `subject` unless something is there already; true if this call wrote it.
async fn append_once(bus: &Bus, subject: String, payload: Bytes) -> Result<bool, TriageError> {
    minhu_core::bus::write_once(&bus.js, subject, payload)
        .await
        .map_err(|e| TriageError::Transient(e.into()))
}
