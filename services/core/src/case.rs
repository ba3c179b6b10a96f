//! A case is the fold of its events: [`apply`] is that fold, pure; [`CaseStore`] appends
//! events and keeps the view in KV in step, with optimistic concurrency.
//!
//! An event is appended only if the case's last event is still the one the writer read
//! (`Nats-Expected-Last-Subject-Sequence` checked over `minhu.case.<id>.>`), so of two
//! concurrent actions on one case exactly one is recorded, and the loser re-reads and decides
//! again. The view in KV may lag its events when a writer dies between the two writes; every
//! reader through the store first folds in what is missing.

use async_nats::jetstream::kv::{CreateErrorKind, UpdateErrorKind};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::LastRawMessageErrorKind;
use minhu_contracts::bus;
use minhu_contracts::v1::{
    CaseEvent, CaseStage, CaseStatus, CaseView, ClusterMember, HistoryEntry, Rating, case_event,
};
use minhu_contracts::v1::{ClockState, MilestoneState, PauseRecord};
use prost::Message;
use time::OffsetDateTime;
use time::macros::format_description;

use crate::bus::Bus;
use crate::domain::CHINA_TIME;

const EXPECTED_SUBJECT_FILTER: &str = "Nats-Expected-Last-Subject-Sequence-Subject";

/// Folds one event into the view. Events are facts already decided; this never refuses one.
pub fn apply(view: &mut CaseView, event: &CaseEvent) {
    use case_event::Event;
    view.version = view.version.max(event.number);
    let at = event.at;
    let history = |status: CaseStatus, note: String| view_history(at, status, note);
    let Some(kind) = &event.event else { return };
    let entry = match kind {
        Event::Triaged(t) => {
            view.classification = t.classification.clone();
            view.route = t.route.clone();
            view.dedup = t.dedup.clone();
            view.repeat_of_closed = t.repeat_of_closed.clone();
            if !t.cluster_lead.is_empty() {
                view.cluster_lead = t.cluster_lead.clone();
                view.status = CaseStatus::Merged as i32;
                Some(history(
                    CaseStatus::Merged,
                    format!("与 {} 为同一诉求，并单办理", t.cluster_lead),
                ))
            } else if t.duplicate_of.is_empty() {
                None
            } else {
                view.duplicate_of = t.duplicate_of.clone();
                view.status = CaseStatus::Duplicate as i32;
                Some(history(
                    CaseStatus::Duplicate,
                    format!("与 {} 为同一事项，并入原件办理", t.duplicate_of),
                ))
            }
        }
        Event::Dispatched(d) => {
            view.status = CaseStatus::Dispatched as i32;
            view.stage = CaseStage::Handling as i32;
            view.dispatched_at = at;
            view.deadlines = d.deadlines.clone();
            // Deadlines from the clock's own policies stand as a DeadlinesSet would.
            if !d.policy_id.is_empty() {
                view.policy_id = d.policy_id.clone();
                view.calendar_gap = d.calendar_gap;
                view.clock.get_or_insert_default().handling_due_at = d.handling_due_at;
            }
            Some(history(
                CaseStatus::Dispatched,
                format!("已交办{}", lead_name(view)),
            ))
        }
        Event::PetitionerRevealed(_) => {
            view.identity_reads += 1;
            None
        }
        Event::CentreQueued(q) => {
            view.status = CaseStatus::CentreQueue as i32;
            Some(history(CaseStatus::CentreQueue, centre_note(q)))
        }
        Event::Reclassified(r) => {
            view.classification = r.classification.clone();
            view.route = r.route.clone();
            let routed = r
                .route
                .as_ref()
                .is_some_and(|route| !route.lead_unit_id.is_empty());
            if routed {
                view.status = CaseStatus::Dispatched as i32;
                view.stage = CaseStage::Handling as i32;
                view.dispatched_at = at;
                view.signed_for_at = None;
                if !r.deadlines.is_empty() {
                    view.deadlines = r.deadlines.clone();
                }
                Some(history(
                    CaseStatus::Dispatched,
                    format!("经中心人工分类，交办{}", lead_name(view)),
                ))
            } else {
                view.status = CaseStatus::CentreQueue as i32;
                Some(history(
                    CaseStatus::CentreQueue,
                    "经中心人工分类，待确定承办单位".into(),
                ))
            }
        }
        Event::SignedFor(_) => {
            view.status = CaseStatus::SignedFor as i32;
            view.signed_for_at = at;
            Some(history(
                CaseStatus::SignedFor,
                format!("{}已签收", lead_name(view)),
            ))
        }
        Event::Returned(r) => {
            view.status = CaseStatus::Returned as i32;
            view.returned_by.push(r.unit_id.clone());
            view.return_reason = r.reason;
            view.return_explanation = r.explanation.clone();
            Some(history(
                CaseStatus::Returned,
                "承办单位申请退单，待中心审核".into(),
            ))
        }
        Event::Reassigned(r) => {
            view.route = r.route.clone();
            view.status = CaseStatus::Dispatched as i32;
            view.dispatched_at = at;
            view.signed_for_at = None;
            Some(history(
                CaseStatus::Dispatched,
                format!("改派{}", lead_name(view)),
            ))
        }
        Event::Designated(d) => {
            view.designated = true;
            let lead = view.route.as_ref().map(|r| r.lead_unit_id.clone());
            if lead.as_deref() != Some(d.unit_id.as_str()) {
                if let Some(route) = view.route.as_mut() {
                    route.lead_unit_id = d.unit_id.clone();
                }
                view.status = CaseStatus::Dispatched as i32;
                view.dispatched_at = at;
                view.signed_for_at = None;
            } else if view.status == CaseStatus::Returned as i32 {
                view.status = CaseStatus::Dispatched as i32;
            }
            Some(history(
                CaseStatus::try_from(view.status).unwrap_or_default(),
                format!("中心指定{}办理", lead_name(view)),
            ))
        }
        Event::Replied(r) => {
            view.status = CaseStatus::Replied as i32;
            view.replied_at = at;
            view.reply = r.reply.clone();
            Some(history(CaseStatus::Replied, "已答复".into()))
        }
        Event::ExtensionRequested(e) => {
            view.extension_days_requested = e.days;
            None
        }
        Event::ExtensionDecided(d) => {
            view.extension_days_requested = 0;
            if d.approved {
                view.extension_days_granted += d.days;
                extend_handling(view, d.days);
                Some(history(
                    CaseStatus::try_from(view.status).unwrap_or_default(),
                    format!("经批准延期 {} 日", d.days),
                ))
            } else {
                None
            }
        }
        Event::Closed(_) => {
            view.status = CaseStatus::Closed as i32;
            view.closed_at = at;
            Some(history(CaseStatus::Closed, "已办结".into()))
        }
        Event::Evaluated(e) => {
            view.rating = e.rating;
            let word = match Rating::try_from(e.rating).unwrap_or_default() {
                Rating::Satisfied => "满意",
                Rating::BasicallySatisfied => "基本满意",
                Rating::Unsatisfied => "不满意",
                Rating::Unspecified => "未评价",
            };
            Some(history(
                CaseStatus::try_from(view.status).unwrap_or_default(),
                format!("群众评价：{word}"),
            ))
        }
        Event::ReviewRequested(r) => {
            view.stage = r.stage;
            view.route = r.route.clone();
            view.status = CaseStatus::Dispatched as i32;
            view.dispatched_at = at;
            view.signed_for_at = None;
            view.replied_at = None;
            view.closed_at = None;
            view.reply.clear();
            view.rating = Rating::Unspecified as i32;
            view.designated = false;
            let what = if r.stage == CaseStage::ReReview as i32 {
                "复核"
            } else {
                "复查"
            };
            Some(history(
                CaseStatus::Dispatched,
                format!("申请{what}，交{}办理", lead_name(view)),
            ))
        }
        Event::DeadlinesSet(d) => {
            view.policy_id = d.policy_id.clone();
            view.deadlines = d.deadlines.clone();
            view.calendar_gap = d.calendar_gap;
            view.clock.get_or_insert_default().handling_due_at = d.handling_due_at;
            None
        }
        Event::DeadlineWarned(w) => {
            milestone_state(view, &w.milestone).warned_limit = w.limit;
            Some(history(
                CaseStatus::try_from(view.status).unwrap_or_default(),
                format!(
                    "{}时限将于{}届满（预警）",
                    milestone_label(&w.milestone),
                    china_due(w.due_at)
                ),
            ))
        }
        Event::DeadlineOverdue(o) => {
            milestone_state(view, &o.milestone).overdue_limit = o.limit;
            Some(history(
                CaseStatus::try_from(view.status).unwrap_or_default(),
                format!(
                    "{}已超期（时限{}）",
                    milestone_label(&o.milestone),
                    china_due(o.due_at)
                ),
            ))
        }
        Event::Escalated(e) => {
            let state = milestone_state(view, &e.milestone);
            state.escalated_limit = e.limit;
            state.escalation_level = e.level;
            Some(history(
                CaseStatus::try_from(view.status).unwrap_or_default(),
                format!(
                    "{}超期，已提请上级督办（第{}级）",
                    milestone_label(&e.milestone),
                    e.level
                ),
            ))
        }
        Event::Paused(p) => {
            view.paused = true;
            view.pauses.push(PauseRecord {
                paused_at: at,
                reason: p.reason.clone(),
                paused_by: p.actor.clone(),
                ..Default::default()
            });
            Some(history(
                CaseStatus::try_from(view.status).unwrap_or_default(),
                format!("暂停计时：{}", p.reason),
            ))
        }
        Event::Resumed(r) => {
            view.paused = false;
            if let Some(pause) = view.pauses.last_mut().filter(|p| p.resumed_at.is_none()) {
                pause.resumed_at = at;
                pause.resume_reason = r.reason.clone();
                pause.resumed_by = r.actor.clone();
                let seconds = |t: Option<prost_types::Timestamp>| t.map_or(0, |t| t.seconds);
                view.paused_seconds += (seconds(at) - seconds(pause.paused_at)).max(0);
            }
            Some(history(
                CaseStatus::try_from(view.status).unwrap_or_default(),
                format!("恢复计时：{}", r.reason),
            ))
        }
        Event::RepeatLinked(r) => {
            view.repeat_count += 1;
            view.duplicates.push(r.repeat_case_id.clone());
            Some(history(
                CaseStatus::try_from(view.status).unwrap_or_default(),
                "收到同一事项的重复反映，已并入本件".into(),
            ))
        }
        // Other petitioners' petitions stay out of this petitioner's history.
        Event::MemberJoined(m) => {
            view.cluster_members.push(ClusterMember {
                case_id: m.member_case_id.clone(),
                petitioner_digest: m.petitioner_digest.clone(),
                accepted_at: m.member_accepted_at,
            });
            None
        }
        Event::HotspotRaised(_) => {
            view.hotspot_raised_at = at;
            None
        }
        Event::MemberSplit(m) => {
            view.cluster_members
                .retain(|c| c.case_id != m.member_case_id);
            None
        }
        Event::ReceptionRegistered(_)
        | Event::ReceptionOffered(_)
        | Event::ReceptionChanged(_)
        | Event::FindingsRecorded(_)
        | Event::ReceptionDecided(_) => crate::reception::fold(view, kind, at),
        Event::Split(_) => {
            view.cluster_lead.clear();
            view.status = CaseStatus::Dispatched as i32;
            view.stage = CaseStage::Handling as i32;
            view.dispatched_at = at;
            Some(history(
                CaseStatus::Dispatched,
                format!("经中心审核单独办理，交办{}", lead_name(view)),
            ))
        }
    };
    track_milestones(view, kind, at);
    if let Some(entry) = entry {
        view.history.push(entry);
    }
}

/// The petitioner's words for why a case waits for the centre: for a matter of another legal
/// pathway (诉访分离), the pathway itself, so they know where to turn.
fn centre_note(queued: &minhu_contracts::v1::CentreQueued) -> String {
    use minhu_contracts::v1::CentreReason;
    match CentreReason::try_from(queued.reason).unwrap_or_default() {
        CentreReason::LegalPathway => format!("该事项依法应通过其他途径解决：{}", queued.detail),
        _ => "已转交办中心，待人工分派".into(),
    }
}

/// Records on the clock's state what an event means for the milestones: which it meets (the
/// first time only) and which anchors it sets. Independent of the policy, so the clock can
/// compute a case's deadlines from its view whichever policy applies.
fn track_milestones(
    view: &mut CaseView,
    event: &case_event::Event,
    at: Option<prost_types::Timestamp>,
) {
    use case_event::Event;
    let met: &[&str] = match event {
        // 签收 is the handling organ's 受理: the acceptance notice is due by then.
        Event::SignedFor(_) => {
            let clock = view.clock.get_or_insert_default();
            if clock.accepted_at.is_none() {
                clock.accepted_at = at;
            }
            &["sign_for", "acceptance_notice"]
        }
        Event::Replied(_) => &["reply", "first_contact"],
        Event::Closed(_) => match CaseStage::try_from(view.stage).unwrap_or_default() {
            CaseStage::Review => &["review"],
            CaseStage::ReReview => &["re_review"],
            _ => &["resolution"],
        },
        Event::ReviewRequested(r) => {
            let clock = view.clock.get_or_insert_default();
            if r.stage == CaseStage::ReReview as i32 {
                clock.re_review_requested_at = at;
            } else {
                clock.review_requested_at = at;
            }
            &[]
        }
        _ => &[],
    };
    for milestone in met {
        let state = milestone_state(view, milestone);
        if state.met_at.is_none() {
            state.met_at = at;
        }
    }
}

/// The clock's state of `milestone`, added on first mention.
pub(crate) fn milestone_state<'a>(
    view: &'a mut CaseView,
    milestone: &str,
) -> &'a mut MilestoneState {
    let clock: &mut ClockState = view.clock.get_or_insert_default();
    let index = match clock
        .milestones
        .iter()
        .position(|m| m.milestone == milestone)
    {
        Some(index) => index,
        None => {
            clock.milestones.push(MilestoneState {
                milestone: milestone.to_owned(),
                ..Default::default()
            });
            clock.milestones.len() - 1
        }
    };
    &mut clock.milestones[index]
}

/// A milestone as the history names it.
fn milestone_label(milestone: &str) -> &str {
    match milestone {
        "sign_for" => "签收",
        "first_contact" => "首次联系",
        "acceptance_notice" => "受理告知",
        "objection_window" => "异议",
        "reply" => "答复",
        "resolution" => "办结",
        "review" => "复查",
        "re_review" => "复核",
        crate::reception::INVESTIGATION_MILESTONE => "访前调查",
        crate::reception::ASSIGNMENT_MILESTONE => "领导交办",
        other => other,
    }
}

/// A deadline as people read it, China time; one at midnight is 24:00 of the day before
/// (民法典 Art. 201: a period ends at 24:00 of its last day).
fn china_due(due: Option<prost_types::Timestamp>) -> String {
    let Some(due) = due.and_then(|t| OffsetDateTime::from_unix_timestamp(t.seconds).ok()) else {
        return String::new();
    };
    let local = due.to_offset(CHINA_TIME);
    let minute = format_description!("[hour]:[minute]");
    let day = format_description!("[year]-[month]-[day]");
    if local.time() == time::Time::MIDNIGHT {
        let before = local.date().previous_day().unwrap_or(local.date());
        format!("{} 24:00", before.format(day).unwrap_or_default())
    } else {
        format!(
            "{} {}",
            local.date().format(day).unwrap_or_default(),
            local.time().format(minute).unwrap_or_default()
        )
    }
}

/// The lead unit as the petitioner reads it: its name, else its id.
fn lead_name(view: &CaseView) -> String {
    view.route
        .as_ref()
        .map(|r| {
            if r.lead_unit_name.is_empty() {
                r.lead_unit_id.clone()
            } else {
                r.lead_unit_name.clone()
            }
        })
        .unwrap_or_default()
}

fn view_history(
    at: Option<prost_types::Timestamp>,
    status: CaseStatus,
    note: String,
) -> HistoryEntry {
    HistoryEntry {
        at,
        status: status as i32,
        note,
    }
}

/// Moves the deadline the lead unit works against by an approved extension's days: the
/// configured defaults' "handling" milestone, or, for deadlines from the clock's policies, the
/// one at `clock.handling_due_at`. Where the clock runs, it then records the policy's own
/// reckoning (working days, the policy's cap).
fn extend_handling(view: &mut CaseView, days: u32) {
    let shift = i64::from(days) * 86_400;
    let handling_due = view.clock.as_ref().and_then(|c| c.handling_due_at);
    for deadline in view.deadlines.iter_mut().filter(|d| {
        d.milestone == "handling" || (handling_due.is_some() && d.due_at == handling_due)
    }) {
        if let Some(due) = deadline.due_at.as_mut() {
            due.seconds += shift;
        }
    }
    if let Some(due) = view.clock.as_mut().and_then(|c| c.handling_due_at.as_mut()) {
        due.seconds += shift;
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("case {0} does not exist")]
    NotFound(String),
    /// Another writer recorded an event on this case after it was read.
    #[error("case {0} changed meanwhile")]
    Conflict(String),
    #[error("the case store is unavailable: {0}")]
    Unavailable(#[source] async_nats::Error),
    #[error("case data is corrupt: {0}")]
    Corrupt(String),
}

/// A case view with the KV revision it was read at.
#[derive(Debug, Clone)]
pub struct Versioned {
    pub view: CaseView,
    pub revision: u64,
}

/// Reads and writes cases: events on the case stream, views in KV.
#[derive(Clone)]
pub struct CaseStore {
    bus: Bus,
}

impl CaseStore {
    pub fn new(bus: Bus) -> CaseStore {
        CaseStore { bus }
    }

    /// The current view, with any events a crashed writer left unfolded folded in.
    pub async fn load(&self, case_id: &str) -> Result<Versioned, StoreError> {
        let entry = self
            .bus
            .cases
            .entry(case_id)
            .await
            .map_err(|e| StoreError::Unavailable(e.into()))?
            .filter(|e| !e.value.is_empty())
            .ok_or_else(|| StoreError::NotFound(case_id.to_owned()))?;
        let view = CaseView::decode(entry.value).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut current = Versioned {
            view,
            revision: entry.revision,
        };
        if self.catch_up(&mut current.view).await? {
            current.revision = self.save(case_id, &current).await?;
        }
        Ok(current)
    }

    /// The view of a case one of whose events was just seen. Triage writes a case's view just
    /// after its first events, which can arrive first: a moment's wait (200 ms in all) saves the
    /// second's delay of a redelivery. Still missing then: [`StoreError::NotFound`].
    pub async fn load_after_event(&self, case_id: &str) -> Result<Versioned, StoreError> {
        const PAUSES: [u64; 4] = [5, 15, 30, 150];
        for pause in PAUSES {
            match self.load(case_id).await {
                Err(StoreError::NotFound(_)) => {
                    tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
                }
                loaded => return loaded,
            }
        }
        self.load(case_id).await
    }

    /// Creates the view of a new case (triage); an existing one is left as it is.
    pub async fn create(&self, view: &CaseView) -> Result<(), StoreError> {
        match self
            .bus
            .cases
            .create(&view.case_id, view.encode_to_vec().into())
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == CreateErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(StoreError::Unavailable(e.into())),
        }
    }

    /// Records `event` as the next event of the case and returns the updated view. Refused
    /// with [`StoreError::Conflict`] if another event was recorded since `current` was read.
    pub async fn commit(
        &self,
        current: &Versioned,
        actor: &str,
        event: case_event::Event,
        at: prost_types::Timestamp,
    ) -> Result<Versioned, StoreError> {
        let case_id = current.view.case_id.clone();
        let event = CaseEvent {
            case_id: case_id.clone(),
            at: Some(at),
            actor: actor.to_owned(),
            number: current.view.version + 1,
            event: Some(event),
        };
        let sequence = self
            .append(&case_id, current.view.last_event_sequence, &event)
            .await?
            .ok_or_else(|| StoreError::Conflict(case_id.clone()))?;
        let mut next = current.clone();
        apply(&mut next.view, &event);
        next.view.last_event_sequence = sequence;
        next.revision = self.save(&case_id, &next).await?;
        Ok(next)
    }

    /// Appends `event` if the case's last event is still at `expected` (0: no event yet);
    /// `None` when it is not.
    pub async fn append(
        &self,
        case_id: &str,
        expected: u64,
        event: &CaseEvent,
    ) -> Result<Option<u64>, StoreError> {
        let kind = event.event.as_ref().expect("an event has a kind");
        let subject = bus::case_event_subject(case_id, event.number, kind);
        let publish = PublishMessage::build()
            .payload(event.encode_to_vec().into())
            .header(
                EXPECTED_SUBJECT_FILTER,
                bus::case_events_filter(case_id).as_str(),
            )
            .expected_last_subject_sequence(expected);
        let acked = match self.bus.js.send_publish(subject, publish).await {
            Ok(ack) => ack.await,
            Err(e) => Err(e),
        };
        match acked {
            Ok(ack) => Ok(Some(ack.sequence)),
            Err(e) if crate::bus::lost_first_write(&e) => Ok(None),
            Err(e) => Err(StoreError::Unavailable(e.into())),
        }
    }

    /// The last event recorded for a case, with its stream sequence.
    pub async fn last_event(&self, case_id: &str) -> Result<Option<(u64, CaseEvent)>, StoreError> {
        self.event_on(&bus::case_events_filter(case_id)).await
    }

    /// Event number `number` of a case, with its stream sequence.
    pub async fn event(
        &self,
        case_id: &str,
        number: u64,
    ) -> Result<Option<(u64, CaseEvent)>, StoreError> {
        self.event_on(&bus::case_event_number_filter(case_id, number))
            .await
    }

    async fn event_on(&self, filter: &str) -> Result<Option<(u64, CaseEvent)>, StoreError> {
        match self
            .bus
            .case_events
            .get_last_raw_message_by_subject(filter)
            .await
        {
            Ok(m) => {
                let event =
                    CaseEvent::decode(m.payload).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                Ok(Some((m.sequence, event)))
            }
            Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(None),
            Err(e) => Err(StoreError::Unavailable(e.into())),
        }
    }

    /// Folds in events recorded after the view was saved; true if there were any.
    async fn catch_up(&self, view: &mut CaseView) -> Result<bool, StoreError> {
        let Some((_, last)) = self.last_event(&view.case_id).await? else {
            return Ok(false);
        };
        if last.number <= view.version {
            return Ok(false);
        }
        for number in view.version + 1..=last.number {
            let (sequence, event) = self
                .event(&view.case_id, number)
                .await?
                .ok_or_else(|| StoreError::Corrupt(format!("event {number} is missing")))?;
            apply(view, &event);
            view.last_event_sequence = sequence;
        }
        Ok(true)
    }

    /// Writes the view unless a newer one is already there; returns the KV revision.
    async fn save(&self, case_id: &str, next: &Versioned) -> Result<u64, StoreError> {
        let mut revision = next.revision;
        loop {
            match self
                .bus
                .cases
                .update(case_id, next.view.encode_to_vec().into(), revision)
                .await
            {
                Ok(r) => return Ok(r),
                Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => {
                    let entry = self
                        .bus
                        .cases
                        .entry(case_id)
                        .await
                        .map_err(|e| StoreError::Unavailable(e.into()))?
                        .ok_or_else(|| StoreError::NotFound(case_id.to_owned()))?;
                    let stored = CaseView::decode(entry.value)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    // Someone else folded the same events (or more) in: theirs stands.
                    if stored.version >= next.view.version {
                        return Ok(entry.revision);
                    }
                    revision = entry.revision;
                }
                Err(e) => return Err(StoreError::Unavailable(e.into())),
            }
        }
    }
}

/// The case as a unit (or the centre's queue) receives it, with `route` and `deadlines` as of
/// the event that sends it.
pub fn assignment(
    view: &CaseView,
    route: Option<minhu_contracts::v1::RouteDecision>,
    deadlines: Vec<minhu_contracts::v1::Deadline>,
    lead: bool,
) -> minhu_contracts::v1::DispatchedCase {
    minhu_contracts::v1::DispatchedCase {
        case_id: view.case_id.clone(),
        tracking_number: view.tracking_number.clone(),
        channel_id: view.channel_id.clone(),
        accepted_at: view.accepted_at,
        title: view.title.clone(),
        body: view.body.clone(),
        classification: view.classification.clone(),
        route,
        location: view.location.clone(),
        attachments: view.attachments.clone(),
        deadlines,
        petitioner_identified: view.petitioner_identified,
        identity_confidential: view.identity_confidential,
        lead,
        repeat_of_closed: view.repeat_of_closed.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minhu_contracts::v1::{
        Closed, Deadline, Dispatched, ExtensionDecided, Replied, Returned, RouteDecision, SignedFor,
    };

    fn event(number: u64, kind: case_event::Event) -> CaseEvent {
        CaseEvent {
            case_id: "MH20261127-0000001".into(),
            at: Some(prost_types::Timestamp {
                seconds: 1_800_000_000 + number as i64,
                nanos: 0,
            }),
            actor: "test".into(),
            number,
            event: Some(kind),
        }
    }

    #[test]
    fn the_view_is_the_fold_of_the_events() {
        use case_event::Event;
        let mut view = CaseView {
            route: Some(RouteDecision {
                lead_unit_id: "u1".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let due = prost_types::Timestamp {
            seconds: 1_900_000_000,
            nanos: 0,
        };
        let events = [
            event(
                2,
                Event::Dispatched(Dispatched {
                    unit_id: "u1".into(),
                    deadlines: vec![Deadline {
                        milestone: "handling".into(),
                        due_at: Some(due),
                        basis: String::new(),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
            ),
            event(
                3,
                Event::SignedFor(SignedFor {
                    unit_id: "u1".into(),
                }),
            ),
            event(
                4,
                Event::ExtensionDecided(ExtensionDecided {
                    approved: true,
                    days: 10,
                    ..Default::default()
                }),
            ),
            event(
                5,
                Event::Replied(Replied {
                    unit_id: "u1".into(),
                    reply: "已处理".into(),
                }),
            ),
            event(
                6,
                Event::Closed(Closed {
                    unit_id: "u1".into(),
                    summary: String::new(),
                }),
            ),
        ];
        for e in &events {
            apply(&mut view, e);
        }
        assert_eq!(view.version, 6);
        assert_eq!(view.status, CaseStatus::Closed as i32);
        assert_eq!(view.reply, "已处理");
        assert_eq!(view.extension_days_granted, 10);
        assert_eq!(
            view.deadlines[0].due_at.unwrap().seconds,
            1_900_000_000 + 10 * 86_400
        );
        let notes: Vec<_> = view.history.iter().map(|h| h.note.as_str()).collect();
        assert_eq!(
            notes,
            [
                "已交办u1",
                "u1已签收",
                "经批准延期 10 日",
                "已答复",
                "已办结"
            ]
        );
    }

    #[test]
    fn a_return_is_recorded_for_the_centre() {
        let mut view = CaseView::default();
        apply(
            &mut view,
            &event(
                3,
                case_event::Event::Returned(Returned {
                    unit_id: "u1".into(),
                    reason: 1,
                    explanation: "属交通部门职责".into(),
                }),
            ),
        );
        assert_eq!(view.status, CaseStatus::Returned as i32);
        assert_eq!(view.returned_by, ["u1"]);
        assert_eq!(view.return_explanation, "属交通部门职责");
    }

    #[test]
    fn the_clock_state_follows_pauses_steps_and_met_milestones() {
        use case_event::Event;
        use minhu_contracts::v1::{
            DeadlineOverdue, DeadlineWarned, Escalated, Paused, Resumed, ReviewRequested,
        };
        let mut view = CaseView {
            stage: CaseStage::Handling as i32,
            ..Default::default()
        };
        // 2027-01-15 00:00 China time: a deadline at midnight reads as 24:00 of the 14th.
        let due = Some(prost_types::Timestamp {
            seconds: 1_799_942_400,
            nanos: 0,
        });
        let events = [
            event(
                3,
                Event::Paused(Paused {
                    reason: "等待信访人补充材料".into(),
                    actor: "unit:u1".into(),
                }),
            ),
            event(
                13,
                Event::Resumed(Resumed {
                    reason: "材料已补齐".into(),
                    actor: "centre".into(),
                }),
            ),
            event(
                14,
                Event::DeadlineWarned(DeadlineWarned {
                    milestone: "resolution".into(),
                    due_at: due,
                    unit_id: "u1".into(),
                    limit: 30,
                }),
            ),
            event(
                15,
                Event::DeadlineOverdue(DeadlineOverdue {
                    milestone: "resolution".into(),
                    due_at: due,
                    unit_id: "u1".into(),
                    limit: 30,
                }),
            ),
            event(
                16,
                Event::Escalated(Escalated {
                    milestone: "resolution".into(),
                    level: 2,
                    unit_id: "u1".into(),
                    to_unit_id: "u3".into(),
                    due_at: due,
                    limit: 30,
                    to_leader: None,
                }),
            ),
            event(
                17,
                Event::SignedFor(SignedFor {
                    unit_id: "u1".into(),
                }),
            ),
            event(
                18,
                Event::Closed(Closed {
                    unit_id: "u1".into(),
                    summary: String::new(),
                }),
            ),
            event(
                19,
                Event::ReviewRequested(ReviewRequested {
                    stage: CaseStage::Review as i32,
                    ..Default::default()
                }),
            ),
        ];
        for e in &events {
            apply(&mut view, e);
        }
        assert!(!view.paused);
        assert_eq!(view.paused_seconds, 10);
        let pause = &view.pauses[0];
        assert_eq!(
            (pause.paused_by.as_str(), pause.resumed_by.as_str()),
            ("unit:u1", "centre")
        );
        let clock = view.clock.as_ref().unwrap();
        let state = |m: &str| clock.milestones.iter().find(|s| s.milestone == m).unwrap();
        let resolution = state("resolution");
        assert_eq!(
            (
                resolution.warned_limit,
                resolution.overdue_limit,
                resolution.escalation_level
            ),
            (30, 30, 2)
        );
        assert_eq!(resolution.met_at.unwrap().seconds, 1_800_000_018);
        assert_eq!(
            state("acceptance_notice").met_at.unwrap().seconds,
            1_800_000_017
        );
        assert_eq!(clock.accepted_at.unwrap().seconds, 1_800_000_017);
        assert_eq!(clock.review_requested_at.unwrap().seconds, 1_800_000_019);
        let notes: Vec<_> = view.history.iter().map(|h| h.note.as_str()).collect();
        assert_eq!(
            notes[..5],
            [
                "暂停计时：等待信访人补充材料",
                "恢复计时：材料已补齐",
                "办结时限将于2027-01-14 24:00届满（预警）",
                "办结已超期（时限2027-01-14 24:00）",
                "办结超期，已提请上级督办（第2级）",
            ]
        );
    }
}
