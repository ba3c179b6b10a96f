//! What the clock must do next for one case, as a pure function of the case view and the
//! instant: record an event (the deadlines changed, a warning, an overdue milestone or an
//! escalation step fell due), or wait until the case's next clock instant.
//!
//! The worker asks again after every event it records, so one step at a time is enough, and the
//! order comes out right: deadlines first, then per milestone warning, overdue, escalation 1,
//! escalation 2. Whether a step already happened is read from the case view
//! ([`MilestoneState`]), so asking twice, on any instance, never records it twice.

use std::collections::HashMap;

use minhu_clock::{
    Calendar, CaseClock, CaseTraits, Extension, Milestone, MilestoneSchedule, Pause, Policy,
    RequestType, Round, SelectError, SlaConfig, Status, Unit, Urgency, schedule,
};
use minhu_contracts::v1::case_event::Event;
use minhu_contracts::v1::{
    CaseStage, CaseStatus, CaseView, Deadline, DeadlineOverdue, DeadlineWarned, DeadlinesSet,
    Escalated, MilestoneState,
};
use minhu_core::config::ClockSettings;
use minhu_core::deadlines::timestamp;
use time::OffsetDateTime;

/// Everything besides the case that decides its deadlines.
pub struct Rules {
    pub sla: SlaConfig,
    pub calendar: Calendar,
    pub clock: ClockSettings,
    /// Unit id → its supervising unit (上级主管), for escalation (督办).
    pub supervisors: HashMap<String, String>,
}

impl Rules {
    /// A deployment's policies, calendar and supervising chains.
    pub fn from_settings(settings: &minhu_core::config::Settings) -> Result<Rules, String> {
        Ok(Rules {
            sla: settings.clock.sla_config(),
            calendar: settings.clock.calendar()?,
            clock: settings.clock.clone(),
            supervisors: settings.supervisors(),
        })
    }
}

/// The clock's next step for a case.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Record this event (as actor "clock"), then ask again.
    Record(Box<Event>),
    /// Nothing is due now: wake up at this instant, or never (case closed, clock stopped,
    /// nothing left to watch).
    Wait(Option<Wake>),
}

/// The next instant something falls due for a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wake {
    pub at: OffsetDateTime,
    /// What falls due, e.g. "resolution warning".
    pub reason: String,
}

/// Why a case has no clock.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("case {case_id}: {source}")]
    NoPolicy {
        case_id: String,
        #[source]
        source: SelectError,
    },
    #[error("case {case_id}: {reason}")]
    Inconsistent { case_id: String, reason: String },
}

/// The first thing the clock must do for `view` at `now`.
pub fn next_step(view: &CaseView, rules: &Rules, now: OffsetDateTime) -> Result<Step, PlanError> {
    let status = CaseStatus::try_from(view.status).unwrap_or_default();
    // Only a dispatched case runs against its deadlines (a repeat or a merged petition never is
    // dispatched); a closed one has nothing left to watch until a review round reopens it.
    if view.dispatched_at.is_none() || matches!(status, CaseStatus::Closed | CaseStatus::Duplicate)
    {
        return Ok(Step::Wait(None));
    }
    let (set, schedule) = deadlines_of(view, rules)?;
    let handling_due_at = view.clock.as_ref().and_then(|c| c.handling_due_at);
    if view.policy_id != set.policy_id
        || view.deadlines != set.deadlines
        || view.calendar_gap != set.calendar_gap
        || handling_due_at != set.handling_due_at
    {
        return Ok(Step::Record(Box::new(Event::DeadlinesSet(set))));
    }

    let lead = view
        .route
        .as_ref()
        .map(|r| r.lead_unit_id.clone())
        .unwrap_or_default();
    let mut wake: Option<Wake> = None;
    for milestone in &schedule.milestones {
        let Status::Scheduled(due) = &milestone.status else {
            continue;
        };
        // The objection window (异议期) is the unit's right, not a duty: nothing to warn about.
        if milestone.milestone == Milestone::ObjectionWindow {
            continue;
        }
        let name = milestone.milestone.name();
        let state = state_of(view, name);
        if state.met_at.is_some() {
            continue;
        }
        let limit = milestone.limit.value;
        let due_at = Some(timestamp(due.due_at));
        let overdue = state.overdue_limit == limit;
        if !overdue && now >= due.due_at {
            return Ok(Step::Record(Box::new(Event::DeadlineOverdue(
                DeadlineOverdue {
                    milestone: name.to_owned(),
                    due_at,
                    unit_id: lead,
                    limit,
                },
            ))));
        }
        // A warning after the deadline has passed tells nobody anything.
        if !overdue && state.warned_limit != limit && now >= due.warn_at {
            return Ok(Step::Record(Box::new(Event::DeadlineWarned(
                DeadlineWarned {
                    milestone: name.to_owned(),
                    due_at,
                    unit_id: lead,
                    limit,
                },
            ))));
        }
        let escalated = if state.escalated_limit == limit {
            state.escalation_level
        } else {
            0
        };
        let next_escalation = due
            .escalations
            .iter()
            .find(|e| u32::from(e.level) > escalated);
        if overdue
            && let Some(step) = next_escalation
            && now >= step.at
        {
            let (to_unit_id, to_leader) =
                crate::reception::escalation_target(view, &rules.supervisors, &lead, step.level);
            return Ok(Step::Record(Box::new(Event::Escalated(Escalated {
                milestone: name.to_owned(),
                due_at,
                to_unit_id,
                to_leader,
                unit_id: lead,
                level: u32::from(step.level),
                limit,
            }))));
        }
        let upcoming = [
            (!overdue && state.warned_limit != limit).then(|| (due.warn_at, "warning".to_owned())),
            (!overdue).then(|| (due.due_at, "deadline".to_owned())),
            next_escalation.map(|e| (e.at, format!("escalation {}", e.level))),
        ];
        for (at, what) in upcoming.into_iter().flatten() {
            if at > now && wake.as_ref().is_none_or(|w| at < w.at) {
                wake = Some(Wake {
                    at,
                    reason: format!("{name} {what}"),
                });
            }
        }
    }
    // 领导下访接访: the investigation before the session, the leader's deadline after it.
    if let Some(event) = crate::reception::next(view, &rules.supervisors, now, &lead, &mut wake) {
        return Ok(Step::Record(Box::new(event)));
    }
    Ok(Step::Wait(wake))
}

/// The deadlines `view` runs against (what a [`Event::DeadlinesSet`] records) and the schedule
/// they come from. For a case about to be dispatched, these are the deadlines its dispatch
/// carries, so the clock finds nothing to change when it sees the dispatch.
pub fn deadlines_of(
    view: &CaseView,
    rules: &Rules,
) -> Result<(DeadlinesSet, minhu_clock::Schedule), PlanError> {
    let policy = policy_of(view, rules)?;
    let round = round_of(view);
    let clock = case_clock(view, policy, round)?;
    let schedule =
        schedule(policy, &clock, &rules.calendar).map_err(|e| PlanError::Inconsistent {
            case_id: view.case_id.clone(),
            reason: e.to_string(),
        })?;
    Ok((deadlines_set(policy, round, &schedule), schedule))
}

/// The policy the case already follows, else the one its traits select now.
fn policy_of<'a>(view: &CaseView, rules: &'a Rules) -> Result<&'a Policy, PlanError> {
    if let Some(policy) = rules.sla.policy(&view.policy_id) {
        return Ok(policy);
    }
    let classification = view.classification.clone().unwrap_or_default();
    let traits = CaseTraits {
        channel_type: rules.clock.channel_type(&view.channel_id),
        request_type: request_type(classification.request_type),
        category: Some(classification.category.as_str()).filter(|c| !c.is_empty()),
        urgency: urgency(classification.urgency),
    };
    rules
        .sla
        .select(&traits)
        .map_err(|source| PlanError::NoPolicy {
            case_id: view.case_id.clone(),
            source,
        })
}

fn request_type(value: i32) -> Option<RequestType> {
    use minhu_contracts::v1::RequestType as Wire;
    match Wire::try_from(value).ok()? {
        Wire::Consultation => Some(RequestType::Consultation),
        Wire::Help => Some(RequestType::Help),
        Wire::Complaint => Some(RequestType::Complaint),
        Wire::Report => Some(RequestType::Report),
        Wire::Suggestion => Some(RequestType::Suggestion),
        Wire::Unspecified => None,
    }
}

fn urgency(value: i32) -> Option<Urgency> {
    use minhu_contracts::v1::Urgency as Wire;
    match Wire::try_from(value).ok()? {
        Wire::Ordinary => Some(Urgency::Normal),
        Wire::Urgent => Some(Urgency::Urgent),
        Wire::VeryUrgent => Some(Urgency::Emergency),
        Wire::Unspecified => None,
    }
}

fn round_of(view: &CaseView) -> Round {
    match CaseStage::try_from(view.stage).unwrap_or_default() {
        CaseStage::Review => Round::Review,
        CaseStage::ReReview => Round::ReReview,
        _ => Round::Handling,
    }
}

/// What happened to the case, as minhu-clock counts it.
fn case_clock(view: &CaseView, policy: &Policy, round: Round) -> Result<CaseClock, PlanError> {
    let inconsistent = |reason: &str| PlanError::Inconsistent {
        case_id: view.case_id.clone(),
        reason: reason.to_owned(),
    };
    let state = view.clock.clone().unwrap_or_default();
    let received_at = instant(view.accepted_at).ok_or_else(|| inconsistent("no accepted_at"))?;
    let pauses = view
        .pauses
        .iter()
        .filter_map(|p| {
            Some(Pause {
                start: instant(p.paused_at)?,
                end: instant(p.resumed_at),
            })
        })
        .collect();
    Ok(CaseClock {
        received_at,
        acceptance_at: instant(state.accepted_at),
        review_request_at: instant(state.review_requested_at),
        re_review_request_at: instant(state.re_review_requested_at),
        pauses,
        extensions: extensions(view, policy, round),
    })
}

/// The approved extension, as the policy allows it. The workflow grants days once per case
/// (信访工作条例 Art. 34) and refuses what the case's policy does not allow; a grant the policy
/// cannot take (the policy changed since) extends as far as the policy allows and no further.
fn extensions(view: &CaseView, policy: &Policy, round: Round) -> Vec<Extension> {
    if view.extension_days_granted == 0 {
        return Vec::new();
    }
    let Some(rule) = policy.final_milestone(round) else {
        return Vec::new();
    };
    let Some(allowed) = rule.extension else {
        return Vec::new();
    };
    let value = rule
        .limit
        .unit
        .of_days(view.extension_days_granted)
        .min(allowed.max_total);
    vec![Extension {
        milestone: rule.milestone,
        value,
    }]
}

/// The deadlines to record: every started milestone, in the policy's order. The handling
/// deadline is the round's final milestone's; before that one starts (a 信访 case waits for 受理)
/// the lead unit works against the earliest deadline it has.
fn deadlines_set(policy: &Policy, round: Round, schedule: &minhu_clock::Schedule) -> DeadlinesSet {
    let final_milestone = policy.final_milestone(round).map(|r| r.milestone);
    let mut final_started = false;
    let mut final_due = None;
    let mut earliest_due: Option<OffsetDateTime> = None;
    for m in &schedule.milestones {
        if Some(m.milestone) == final_milestone {
            final_started = m.status != Status::NotStarted;
        }
        let Status::Scheduled(due) = &m.status else {
            continue;
        };
        if Some(m.milestone) == final_milestone {
            final_due = Some(due.due_at);
        }
        if m.milestone != Milestone::ObjectionWindow {
            earliest_due = Some(earliest_due.map_or(due.due_at, |e| e.min(due.due_at)));
        }
    }
    let handling_due_at = if final_started {
        final_due
    } else {
        earliest_due
    }
    .map(timestamp);
    let deadlines = schedule.milestones.iter().filter_map(deadline).collect();
    DeadlinesSet {
        policy_id: policy.id.clone(),
        deadlines,
        calendar_gap: schedule.calendar_gap,
        handling_due_at,
    }
}

fn deadline(m: &MilestoneSchedule) -> Option<Deadline> {
    let base = Deadline {
        milestone: m.milestone.name().to_owned(),
        basis: m.basis.clone(),
        limit: format!("{} {}", m.limit.value, unit_name(m.limit.unit)),
        ..Default::default()
    };
    match &m.status {
        Status::NotStarted => None,
        Status::Suspended { .. } => Some(Deadline {
            suspended: true,
            ..base
        }),
        Status::Scheduled(due) => Some(Deadline {
            due_at: Some(timestamp(due.due_at)),
            warn_at: Some(timestamp(due.warn_at)),
            ..base
        }),
    }
}

fn unit_name(unit: Unit) -> &'static str {
    match unit {
        Unit::Seconds => "seconds",
        Unit::Minutes => "minutes",
        Unit::Hours => "hours",
        Unit::CalendarDays => "calendar_days",
        Unit::WorkingDays => "working_days",
    }
}

fn state_of(view: &CaseView, milestone: &str) -> MilestoneState {
    view.clock
        .as_ref()
        .and_then(|c| c.milestones.iter().find(|m| m.milestone == milestone))
        .cloned()
        .unwrap_or_default()
}

/// The unit `level` steps up the supervising chain from `unit` (the top of the chain when it
/// is shorter); empty when `unit` has no supervisor: the centre supervises.
pub(crate) fn supervisor_at(
    supervisors: &HashMap<String, String>,
    unit: &str,
    level: u8,
) -> String {
    let mut current = unit;
    let mut found = "";
    for _ in 0..level {
        match supervisors.get(current) {
            Some(up) => {
                found = up;
                current = up;
            }
            None => break,
        }
    }
    found.to_owned()
}

fn instant(t: Option<prost_types::Timestamp>) -> Option<OffsetDateTime> {
    let t = t?;
    OffsetDateTime::from_unix_timestamp_nanos(
        i128::from(t.seconds) * 1_000_000_000 + i128::from(t.nanos),
    )
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use minhu_contracts::v1::{
        CaseEvent, Classification, Closed, Dispatched, ExtensionDecided, Paused, Resumed,
        RouteDecision, SignedFor,
    };
    use minhu_core::case::apply;
    use minhu_core::config::Settings;
    use time::Duration;
    use time::macros::datetime;

    /// 浦江 demo units: a township under the county under the city.
    fn rules(sla: SlaConfig) -> Rules {
        Rules {
            sla,
            calendar: Calendar::embedded(),
            clock: Settings::defaults().clock,
            supervisors: [("town", "county"), ("county", "city")]
                .into_iter()
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .collect(),
        }
    }

    /// A test policy in seconds: warn at 2 s, due at 4 s, escalate at +1 s and +3 s.
    fn fast() -> SlaConfig {
        SlaConfig::from_toml(
            r#"
            active = ["fast"]
            [[profiles]]
            name = "fast"
            description = "test"
            [[profiles.policies]]
            id = "fast"
            [[profiles.policies.milestones]]
            milestone = "resolution"
            limit = { value = 4, unit = "seconds" }
            warn_share = 0.5
            extension = { max_total = 2592000, max_count = 1 }
            escalations = [
              { after = { value = 1, unit = "seconds" }, level = 1 },
              { after = { value = 3, unit = "seconds" }, level = 2 },
            ]
            basis = "《测试》第1条"
            "#,
        )
        .unwrap()
    }

    const T0: OffsetDateTime = datetime!(2026-11-27 10:00 +8);

    fn dispatched_view(channel: &str) -> CaseView {
        let mut view = CaseView {
            case_id: "MH20261127-0000001".into(),
            channel_id: channel.into(),
            accepted_at: Some(timestamp(T0)),
            status: CaseStatus::Received as i32,
            classification: Some(Classification {
                category: "城乡建设".into(),
                request_type: minhu_contracts::v1::RequestType::Complaint as i32,
                ..Default::default()
            }),
            route: Some(RouteDecision {
                lead_unit_id: "town".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        record(
            &mut view,
            T0,
            "triage",
            Event::Dispatched(Dispatched {
                unit_id: "town".into(),
                ..Default::default()
            }),
        );
        view
    }

    fn record(view: &mut CaseView, at: OffsetDateTime, actor: &str, event: Event) {
        let event = CaseEvent {
            case_id: view.case_id.clone(),
            at: Some(timestamp(at)),
            actor: actor.into(),
            number: view.version + 1,
            event: Some(event),
        };
        apply(view, &event);
    }

    /// Runs the clock at `now` until it waits; returns what it recorded and the wake.
    fn run(view: &mut CaseView, rules: &Rules, now: OffsetDateTime) -> (Vec<Event>, Option<Wake>) {
        let mut recorded = Vec::new();
        loop {
            match next_step(view, rules, now).unwrap() {
                Step::Record(event) => {
                    record(view, now, "clock", (*event).clone());
                    recorded.push(*event);
                    assert!(recorded.len() < 20, "the clock does not settle");
                }
                Step::Wait(wake) => return (recorded, wake),
            }
        }
    }

    fn kinds(events: &[Event]) -> Vec<String> {
        events
            .iter()
            .map(|e| match e {
                Event::DeadlinesSet(_) => "set".to_owned(),
                Event::DeadlineWarned(w) => format!("warn {}", w.milestone),
                Event::DeadlineOverdue(o) => format!("overdue {}", o.milestone),
                Event::Escalated(e) => format!("escalate {} to {:?}", e.level, e.to_unit_id),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_zhejiang_petition_gets_its_statutory_deadlines_and_a_wake_for_the_warning() {
        let rules = rules(SlaConfig::embedded());
        let mut view = dispatched_view("web-portal");
        let (events, wake) = run(&mut view, &rules, T0 + Duration::minutes(1));
        assert_eq!(kinds(&events), ["set"]);
        assert_eq!(view.policy_id, "xinfang-zhejiang");
        // 5 working days from Friday 27 Nov 2026: 30 Nov to 4 Dec, due 24:00 on the 4th. The
        // resolution clock waits for 受理 (sign-for).
        let names: Vec<_> = view
            .deadlines
            .iter()
            .map(|d| d.milestone.as_str())
            .collect();
        assert_eq!(names, ["acceptance_notice", "objection_window"]);
        assert_eq!(
            view.deadlines[0].due_at,
            Some(timestamp(datetime!(2026-12-05 00:00 +8)))
        );
        assert_eq!(view.deadlines[0].limit, "5 working_days");
        // Until 受理, the unit works against the acceptance notice.
        assert_eq!(
            view.clock.as_ref().unwrap().handling_due_at,
            view.deadlines[0].due_at
        );
        assert_eq!(
            wake.unwrap(),
            Wake {
                at: datetime!(2026-12-03 18:00 +8),
                reason: "acceptance_notice warning".into()
            }
        );
        // Asking again changes nothing.
        let (again, _) = run(&mut view, &rules, T0 + Duration::minutes(2));
        assert!(again.is_empty());

        // 受理 (sign-for) meets the acceptance notice and starts the 30-day resolution clock.
        record(
            &mut view,
            T0 + Duration::hours(1),
            "unit:town",
            Event::SignedFor(SignedFor {
                unit_id: "town".into(),
            }),
        );
        let (events, wake) = run(&mut view, &rules, T0 + Duration::hours(2));
        assert_eq!(kinds(&events), ["set"]);
        let resolution = view
            .deadlines
            .iter()
            .find(|d| d.milestone == "resolution")
            .unwrap();
        // 30 calendar days from 27 Nov end on 27 Dec, a Sunday: moved to Monday 28 Dec.
        assert_eq!(
            resolution.due_at,
            Some(timestamp(datetime!(2026-12-29 00:00 +8)))
        );
        assert_eq!(
            view.clock.as_ref().unwrap().handling_due_at,
            resolution.due_at
        );
        assert_eq!(wake.unwrap().reason, "resolution warning");
    }

    #[test]
    fn a_hotline_complaint_gets_the_15_working_day_reply_limit() {
        let rules = rules(SlaConfig::embedded());
        let mut view = dispatched_view("hotline-12345");
        run(&mut view, &rules, T0);
        assert_eq!(view.policy_id, "hotline-complaint-report");
        assert_eq!(view.deadlines[0].milestone, "reply");
        assert_eq!(
            view.clock.unwrap().handling_due_at,
            view.deadlines[0].due_at
        );
    }

    #[test]
    fn a_hotline_emergency_the_rules_found_gets_the_two_hour_reply_limit() {
        let rules = rules(SlaConfig::embedded());
        let mut view = dispatched_view("hotline-12345");
        if let Some(c) = view.classification.as_mut() {
            c.urgency = minhu_contracts::v1::Urgency::VeryUrgent as i32;
        }
        run(&mut view, &rules, T0);
        assert_eq!(view.policy_id, "hotline-emergency");
        assert_eq!(view.deadlines[0].milestone, "reply");
        assert_eq!(
            view.deadlines[0].due_at,
            Some(timestamp(T0 + time::Duration::hours(2)))
        );
    }

    #[test]
    fn warning_overdue_and_escalation_each_once_and_in_order() {
        let rules = rules(fast());
        let mut view = dispatched_view("web-portal");
        let (events, wake) = run(&mut view, &rules, T0);
        assert_eq!(kinds(&events), ["set"]);
        assert_eq!(wake.unwrap().at, T0 + Duration::seconds(2));
        let (events, wake) = run(&mut view, &rules, T0 + Duration::milliseconds(2100));
        assert_eq!(kinds(&events), ["warn resolution"]);
        assert_eq!(
            wake,
            Some(Wake {
                at: T0 + Duration::seconds(4),
                reason: "resolution deadline".into()
            })
        );
        let (events, wake) = run(&mut view, &rules, T0 + Duration::milliseconds(4300));
        assert_eq!(kinds(&events), ["overdue resolution"]);
        assert_eq!(wake.unwrap().reason, "resolution escalation 1");
        // A clock that was down catches up in order, each step once.
        let (events, wake) = run(&mut view, &rules, T0 + Duration::seconds(60));
        assert_eq!(
            kinds(&events),
            ["escalate 1 to \"county\"", "escalate 2 to \"city\""]
        );
        assert_eq!(wake, None);
        let (events, _) = run(&mut view, &rules, T0 + Duration::seconds(61));
        assert!(events.is_empty());
        let history: Vec<_> = view.history.iter().map(|h| h.note.as_str()).collect();
        assert!(
            history.contains(&"办结超期，已提请上级督办（第2级）"),
            "{history:?}"
        );
    }

    #[test]
    fn a_late_clock_skips_the_warning_and_a_met_milestone_stops() {
        let rules = rules(fast());
        let mut view = dispatched_view("web-portal");
        let (events, _) = run(&mut view, &rules, T0 + Duration::milliseconds(4500));
        assert_eq!(kinds(&events), ["set", "overdue resolution"]);

        let mut view = dispatched_view("web-portal");
        run(&mut view, &rules, T0);
        record(
            &mut view,
            T0 + Duration::seconds(1),
            "unit:town",
            Event::Closed(Closed {
                unit_id: "town".into(),
                summary: String::new(),
            }),
        );
        let (events, wake) = run(&mut view, &rules, T0 + Duration::seconds(30));
        assert!(events.is_empty());
        assert_eq!(wake, None);
    }

    #[test]
    fn a_pause_stops_the_clock_and_moves_the_deadline_by_the_paused_time() {
        let rules = rules(fast());
        let mut view = dispatched_view("web-portal");
        run(&mut view, &rules, T0);
        record(
            &mut view,
            T0 + Duration::seconds(1),
            "unit:town",
            Event::Paused(Paused {
                reason: "等待补充材料".into(),
                actor: "unit:town".into(),
            }),
        );
        let (events, wake) = run(&mut view, &rules, T0 + Duration::seconds(1));
        assert_eq!(kinds(&events), ["set"]);
        assert_eq!(wake, None, "a stopped clock has nothing to wake for");
        assert!(view.deadlines[0].suspended && view.deadlines[0].due_at.is_none());
        record(
            &mut view,
            T0 + Duration::seconds(11),
            "centre",
            Event::Resumed(Resumed {
                reason: "材料已补齐".into(),
                actor: "centre".into(),
            }),
        );
        let (events, wake) = run(&mut view, &rules, T0 + Duration::seconds(11));
        assert_eq!(kinds(&events), ["set"]);
        assert_eq!(
            view.deadlines[0].due_at,
            Some(timestamp(T0 + Duration::seconds(14)))
        );
        assert_eq!(view.paused_seconds, 10);
        assert_eq!(wake.unwrap().at, T0 + Duration::seconds(12));
    }

    #[test]
    fn an_extension_moves_the_deadline_and_warns_again_under_the_new_limit() {
        let rules = rules(fast());
        let mut view = dispatched_view("web-portal");
        run(&mut view, &rules, T0 + Duration::seconds(5));
        record(
            &mut view,
            T0 + Duration::seconds(6),
            "unit:county",
            Event::ExtensionDecided(ExtensionDecided {
                approved: true,
                days: 1,
                ..Default::default()
            }),
        );
        let (events, wake) = run(&mut view, &rules, T0 + Duration::seconds(6));
        assert_eq!(kinds(&events), ["set"]);
        assert_eq!(
            view.deadlines[0].due_at,
            Some(timestamp(T0 + Duration::seconds(4 + 86_400)))
        );
        assert_eq!(view.deadlines[0].limit, "86404 seconds");
        // Half of the new limit falls 12 hours on: a new warning, then a new deadline.
        assert_eq!(
            wake.unwrap().at,
            T0 + Duration::seconds(2) + Duration::hours(12)
        );
    }

    #[test]
    fn a_case_no_policy_covers_is_an_error_not_a_guess() {
        let mut sla = fast();
        sla.profiles[0].policies[0].selector.channel_types =
            vec![minhu_clock::ChannelType::Hotline];
        let rules = rules(sla);
        let view = dispatched_view("web-portal");
        assert!(matches!(
            next_step(&view, &rules, T0),
            Err(PlanError::NoPolicy { .. })
        ));
        // Not dispatched yet: nothing to do and no policy needed.
        let mut received = view.clone();
        received.dispatched_at = None;
        assert_eq!(next_step(&received, &rules, T0), Ok(Step::Wait(None)));
    }

    #[test]
    fn escalation_goes_up_the_supervising_chain_or_to_the_centre() {
        let chain: HashMap<String, String> = [("town", "county"), ("county", "city")]
            .into_iter()
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
            .collect();
        assert_eq!(supervisor_at(&chain, "town", 1), "county");
        assert_eq!(supervisor_at(&chain, "town", 2), "city");
        assert_eq!(supervisor_at(&chain, "town", 3), "city");
        assert_eq!(supervisor_at(&chain, "city", 1), "");
    }
}
