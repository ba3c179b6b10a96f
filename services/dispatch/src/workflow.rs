//! The unit workflow as a pure function: given a case as it stands, who is asking and what,
//! decide the event to record, or refuse with the reason. No I/O: the service around it loads
//! the case, records the event, and retries the decision if the case changed meanwhile.
//!
//! The rules (信访工作条例 Art. 23, 34–36; 12345 practice):
//! - only the lead unit (主办) signs for, returns, replies, asks for more time and closes;
//! - a unit returns a case (退单) at most once, within the objection window after dispatch,
//!   and never once the centre has designated it (指定);
//! - an extension is asked once and decided by the lead unit's supervising unit;
//! - the petitioner rates a replied case once per round, and after an unsatisfied rating may
//!   ask within the review window for 复查, then 复核, each going one level up.

use minhu_clock::Calendar;
use minhu_clock::{Round, SlaConfig};
use minhu_contracts::v1::{
    CaseStage, CaseStatus, CaseView, Closed, Designated, Evaluated, ExtensionDecided,
    ExtensionRequested, Rating, Reassigned, Reclassified, Replied, ReturnReason, Returned,
    ReviewRequested, RouteDecision, SignedFor, Split, case_event::Event,
};
use minhu_contracts::v1::{Paused, PetitionerRevealed, Resumed};
use minhu_core::grpc::{FieldViolation, invalid_message};
use time::{Duration, OffsetDateTime, Time};

/// Who is acting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    Unit(String),
    Centre,
    Petitioner,
}

impl Actor {
    /// How the actor is named on the event.
    pub fn label(&self) -> String {
        match self {
            Actor::Unit(id) => format!("unit:{id}"),
            Actor::Centre => "centre".into(),
            Actor::Petitioner => "petitioner".into(),
        }
    }
}

#[derive(Debug, Clone)]
pub enum Command {
    SignFor,
    Return {
        reason: ReturnReason,
        explanation: String,
    },
    Reply {
        reply: String,
    },
    RequestExtension {
        days: u32,
        reason: String,
    },
    DecideExtension {
        approve: bool,
        reason: String,
    },
    Close {
        summary: String,
    },
    Reassign {
        lead: String,
        assisting: Vec<String>,
        reason: String,
    },
    Designate {
        unit: Option<String>,
        reason: String,
    },
    Evaluate {
        rating: Rating,
        comment: String,
    },
    RequestReview {
        reason: String,
    },
    Pause {
        reason: String,
    },
    Resume {
        reason: String,
    },
    /// 拆分: the centre splits a wrongly merged case out of its cluster.
    Split {
        reason: String,
    },
    /// The lead unit opens the petitioner's identity, to contact them.
    RevealPetitioner {
        reason: String,
    },
    /// 人工分类: the centre sets the category; `route` is where the current catalogue sends
    /// the case with it, `deadlines` the case's deadlines if it leaves the centre's queue.
    Classify {
        classification: Box<minhu_contracts::v1::Classification>,
        route: RouteDecision,
        deadlines: Vec<minhu_contracts::v1::Deadline>,
        reason: String,
    },
}

/// Why an action was refused, mapped to gRPC by the service.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The actor may not act on this case (not its unit, not its supervisor).
    #[error("{0}")]
    NotAllowed(String),
    /// The case's state does not allow the action now.
    #[error("{0}")]
    WrongState(String),
    /// The request itself is incomplete or out of range, field by field as the request names
    /// them: a unit system shows each problem at the field it comes from.
    #[error("{}", invalid_message(.0))]
    Invalid(Vec<FieldViolation>),
}

impl Refusal {
    fn invalid(field: &str, description: impl Into<String>) -> Refusal {
        Refusal::Invalid(vec![FieldViolation::new(field, description)])
    }
}

/// What the workflow needs to know beyond the case.
pub struct Rules<'a> {
    pub calendar: &'a Calendar,
    pub objection_working_days: u32,
    pub review_window_days: u32,
    /// Unit id → its supervising unit.
    pub supervisor_of: &'a (dyn Fn(&str) -> Option<String> + Sync),
    /// Unit id → its name, if the unit exists.
    pub unit_name: &'a (dyn Fn(&str) -> Option<String> + Sync),
    /// The SLA policies: an extension must be one the case's policy allows.
    pub sla: &'a SlaConfig,
}

/// Decides `command` by `actor` on `view` at `now`: the event to record, or why not.
pub fn decide(
    view: &CaseView,
    actor: &Actor,
    command: Command,
    now: OffsetDateTime,
    rules: &Rules<'_>,
) -> Result<Event, Refusal> {
    let status = CaseStatus::try_from(view.status).unwrap_or_default();
    let lead = view
        .route
        .as_ref()
        .map(|r| r.lead_unit_id.clone())
        .unwrap_or_default();
    let state = || format!("the case is {}", status_name(status));
    let as_lead = || match actor {
        Actor::Unit(unit) if *unit == lead => Ok(unit.clone()),
        _ => Err(Refusal::NotAllowed(
            "only the case's lead unit may do this".into(),
        )),
    };
    let open = !matches!(
        status,
        CaseStatus::Closed | CaseStatus::Duplicate | CaseStatus::Received | CaseStatus::Merged
    );
    let as_lead_or_centre = || match actor {
        Actor::Centre => Ok(actor.label()),
        _ => as_lead().map(|_| actor.label()),
    };
    if view.paused && matches!(command, Command::Reply { .. } | Command::Close { .. }) {
        return Err(Refusal::WrongState(
            "the case clock is paused (暂停计时): resume it first".into(),
        ));
    }
    match command {
        Command::SignFor => {
            let unit = as_lead()?;
            if status != CaseStatus::Dispatched {
                return Err(Refusal::WrongState(format!("cannot sign for: {}", state())));
            }
            Ok(Event::SignedFor(SignedFor { unit_id: unit }))
        }
        Command::Return {
            reason,
            explanation,
        } => {
            let unit = as_lead()?;
            let mut violations = Vec::new();
            if reason == ReturnReason::Unspecified {
                violations.push(FieldViolation::new(
                    "reason",
                    "required: not our function, not our area, another legal route or other",
                ));
            }
            if explanation.trim().is_empty() {
                violations.push(FieldViolation::new(
                    "explanation",
                    "required: why the case is not this unit's matter, and whose it is",
                ));
            }
            if !violations.is_empty() {
                return Err(Refusal::Invalid(violations));
            }
            if !matches!(status, CaseStatus::Dispatched | CaseStatus::SignedFor) {
                return Err(Refusal::WrongState(format!("cannot return: {}", state())));
            }
            if view.designated {
                return Err(Refusal::WrongState(
                    "cannot return: the centre designated this unit (指定), it may not return the case"
                        .into(),
                ));
            }
            if view.returned_by.contains(&unit) {
                return Err(Refusal::WrongState(
                    "cannot return: this unit already returned the case once".into(),
                ));
            }
            let dispatched = at(view.dispatched_at).ok_or_else(|| {
                Refusal::WrongState("cannot return: the case has no dispatch time".into())
            })?;
            let window_ends =
                working_days_after(rules.calendar, dispatched, rules.objection_working_days);
            if now > window_ends {
                return Err(Refusal::WrongState(format!(
                    "cannot return: the objection window of {} working days ended at {window_ends}",
                    rules.objection_working_days
                )));
            }
            Ok(Event::Returned(Returned {
                unit_id: unit,
                reason: reason as i32,
                explanation,
            }))
        }
        Command::Reply { reply } => {
            let unit = as_lead()?;
            if reply.trim().is_empty() {
                return Err(Refusal::invalid(
                    "reply",
                    "required: the answer given to the petitioner",
                ));
            }
            if status != CaseStatus::SignedFor {
                return Err(Refusal::WrongState(format!(
                    "cannot reply: {} (sign for it first)",
                    state()
                )));
            }
            Ok(Event::Replied(Replied {
                unit_id: unit,
                reply,
            }))
        }
        Command::RequestExtension { days, reason } => {
            let unit = as_lead()?;
            let mut violations = Vec::new();
            if !(1..=30).contains(&days) {
                violations.push(FieldViolation::new(
                    "days",
                    "an extension is 1 to 30 days (信访工作条例 Art. 34)",
                ));
            }
            if reason.trim().is_empty() {
                violations.push(FieldViolation::new(
                    "reason",
                    "required: why the case needs more time",
                ));
            }
            if !violations.is_empty() {
                return Err(Refusal::Invalid(violations));
            }
            if status != CaseStatus::SignedFor {
                return Err(Refusal::WrongState(format!(
                    "cannot ask for an extension: {}",
                    state()
                )));
            }
            if view.extension_days_requested > 0 || view.extension_days_granted > 0 {
                return Err(Refusal::WrongState(
                    "cannot ask for an extension: a case is extended once".into(),
                ));
            }
            extension_allowed(view, days, rules.sla)?;
            Ok(Event::ExtensionRequested(ExtensionRequested {
                unit_id: unit,
                days,
                reason,
            }))
        }
        Command::DecideExtension { approve, reason } => {
            let supervisor = (rules.supervisor_of)(&lead);
            let decider = match (actor, supervisor) {
                (Actor::Unit(unit), Some(sup)) if *unit == sup => unit.clone(),
                _ => {
                    return Err(Refusal::NotAllowed(
                        "only the lead unit's supervising unit decides its extension".into(),
                    ));
                }
            };
            if view.extension_days_requested == 0 {
                return Err(Refusal::WrongState(
                    "no extension is waiting for a decision".into(),
                ));
            }
            Ok(Event::ExtensionDecided(ExtensionDecided {
                approved: approve,
                days: view.extension_days_requested,
                decided_by_unit_id: decider,
                reason,
            }))
        }
        Command::Close { summary } => {
            let unit = as_lead()?;
            if status != CaseStatus::Replied {
                return Err(Refusal::WrongState(format!(
                    "cannot close: {} (reply first)",
                    state()
                )));
            }
            Ok(Event::Closed(Closed {
                unit_id: unit,
                summary,
            }))
        }
        Command::Reassign {
            lead: new_lead,
            assisting,
            reason,
        } => {
            if *actor != Actor::Centre {
                return Err(Refusal::NotAllowed("only the centre reassigns".into()));
            }
            if !open {
                return Err(Refusal::WrongState(format!("cannot reassign: {}", state())));
            }
            let name = (rules.unit_name)(&new_lead);
            let mut violations = Vec::new();
            if name.is_none() {
                violations.push(FieldViolation::new(
                    "lead_unit_id",
                    format!("unknown unit {new_lead:?}"),
                ));
            }
            for (i, unit) in assisting.iter().enumerate() {
                if (rules.unit_name)(unit).is_none() {
                    violations.push(FieldViolation::new(
                        format!("assisting_unit_ids[{i}]"),
                        format!("unknown unit {unit:?}"),
                    ));
                }
            }
            let name = match name {
                Some(name) if violations.is_empty() => name,
                _ => return Err(Refusal::Invalid(violations)),
            };
            let previous = view.route.clone().unwrap_or_default();
            Ok(Event::Reassigned(Reassigned {
                from_unit_id: lead,
                route: Some(RouteDecision {
                    lead_unit_id: new_lead,
                    lead_unit_name: name,
                    assisting_unit_ids: assisting,
                    rule_id: "centre".into(),
                    fallback: false,
                    centre_reason: 0,
                    ..previous
                }),
                reason,
            }))
        }
        Command::Designate { unit, reason } => {
            if *actor != Actor::Centre {
                return Err(Refusal::NotAllowed("only the centre designates".into()));
            }
            if !open {
                return Err(Refusal::WrongState(format!(
                    "cannot designate: {}",
                    state()
                )));
            }
            let unit = unit
                .filter(|u| !u.is_empty())
                .unwrap_or_else(|| lead.clone());
            if (rules.unit_name)(&unit).is_none() {
                return Err(Refusal::invalid(
                    "unit_id",
                    format!("unknown unit {unit:?}"),
                ));
            }
            Ok(Event::Designated(Designated {
                unit_id: unit,
                reason,
                from_unit_id: lead,
            }))
        }
        Command::Evaluate { rating, comment } => {
            if *actor != Actor::Petitioner {
                return Err(Refusal::NotAllowed(
                    "only the petitioner rates a case".into(),
                ));
            }
            if rating == Rating::Unspecified {
                return Err(Refusal::invalid(
                    "rating",
                    "required: satisfied, basically satisfied or unsatisfied",
                ));
            }
            if !matches!(status, CaseStatus::Replied | CaseStatus::Closed) {
                return Err(Refusal::WrongState(format!(
                    "cannot rate yet: {} (no reply yet)",
                    state()
                )));
            }
            if view.rating != Rating::Unspecified as i32 {
                return Err(Refusal::WrongState("this reply was already rated".into()));
            }
            Ok(Event::Evaluated(Evaluated {
                rating: rating as i32,
                comment,
            }))
        }
        Command::Split { reason } => {
            if *actor != Actor::Centre {
                return Err(Refusal::NotAllowed(
                    "only the centre splits merged cases".into(),
                ));
            }
            if reason.trim().is_empty() {
                return Err(Refusal::invalid(
                    "reason",
                    "required: why the petitions are not one matter",
                ));
            }
            if status != CaseStatus::Merged || view.cluster_lead.is_empty() {
                return Err(Refusal::WrongState(format!(
                    "cannot split: {} (only a merged case is split out)",
                    state()
                )));
            }
            if view.route.is_none() {
                return Err(Refusal::WrongState(
                    "cannot split: the case has no route to dispatch it on".into(),
                ));
            }
            Ok(Event::Split(Split {
                from_lead_case_id: view.cluster_lead.clone(),
                reason,
            }))
        }
        Command::RevealPetitioner { reason } => {
            let unit = as_lead()?;
            if reason.trim().is_empty() {
                return Err(Refusal::invalid(
                    "reason",
                    "required: why the unit needs the identity, for the audit record",
                ));
            }
            if !view.petitioner_identified {
                return Err(Refusal::WrongState(
                    "the petition is anonymous: there is no identity to read".into(),
                ));
            }
            if view.identity_confidential {
                return Err(Refusal::NotAllowed(
                    "the petitioner's identity is withheld from handling units".into(),
                ));
            }
            if !matches!(status, CaseStatus::SignedFor | CaseStatus::Replied) {
                return Err(Refusal::WrongState(format!(
                    "cannot read the identity: {} (sign for the case first)",
                    state()
                )));
            }
            Ok(Event::PetitionerRevealed(PetitionerRevealed {
                unit_id: unit,
                reason,
            }))
        }
        Command::Classify {
            classification,
            route,
            deadlines,
            reason,
        } => {
            if *actor != Actor::Centre {
                return Err(Refusal::NotAllowed("only the centre classifies".into()));
            }
            if reason.trim().is_empty() {
                return Err(Refusal::invalid(
                    "reason",
                    "required: why the case is classified so, for the record",
                ));
            }
            // Once a unit signed for the case, the matter is in its hands: the centre moves it
            // with Reassign instead.
            if !matches!(
                status,
                CaseStatus::CentreQueue | CaseStatus::Returned | CaseStatus::Dispatched
            ) {
                return Err(Refusal::WrongState(format!(
                    "cannot classify: {} (only a case no unit has signed for)",
                    state()
                )));
            }
            let leaving_queue = status == CaseStatus::CentreQueue;
            Ok(Event::Reclassified(Reclassified {
                classification: Some(*classification),
                route: Some(route),
                reason,
                deadlines: if leaving_queue { deadlines } else { Vec::new() },
                from_unit_id: lead,
            }))
        }
        Command::RequestReview { reason } => {
            if *actor != Actor::Petitioner {
                return Err(Refusal::NotAllowed(
                    "only the petitioner asks for review".into(),
                ));
            }
            if view.rating != Rating::Unsatisfied as i32 {
                return Err(Refusal::WrongState(
                    "a review follows an unsatisfied rating (不满意)".into(),
                ));
            }
            let replied = at(view.replied_at)
                .ok_or_else(|| Refusal::WrongState("the case has no reply to review".into()))?;
            let window = Duration::days(i64::from(rules.review_window_days));
            if now > replied + window {
                return Err(Refusal::WrongState(format!(
                    "the review window of {} days after the reply has passed",
                    rules.review_window_days
                )));
            }
            let stage = match CaseStage::try_from(view.stage).unwrap_or_default() {
                CaseStage::Review => CaseStage::ReReview,
                CaseStage::ReReview => {
                    return Err(Refusal::WrongState(
                        "a 复核 opinion is final: the same matter is not reviewed again".into(),
                    ));
                }
                _ => CaseStage::Review,
            };
            let up = (rules.supervisor_of)(&lead).ok_or_else(|| {
                Refusal::WrongState("the lead unit has no supervising unit to review it".into())
            })?;
            let name = (rules.unit_name)(&up).unwrap_or_default();
            let previous = view.route.clone().unwrap_or_default();
            Ok(Event::ReviewRequested(ReviewRequested {
                reason,
                route: Some(RouteDecision {
                    lead_unit_id: up,
                    lead_unit_name: name,
                    assisting_unit_ids: Vec::new(),
                    rule_id: "review".into(),
                    fallback: false,
                    ..previous
                }),
                stage: stage as i32,
            }))
        }
        Command::Pause { reason } => {
            let by = as_lead_or_centre()?;
            if reason.trim().is_empty() {
                return Err(Refusal::invalid(
                    "reason",
                    "required: why the clock stops (e.g. 等待信访人补充材料)",
                ));
            }
            if !open {
                return Err(Refusal::WrongState(format!("cannot pause: {}", state())));
            }
            if view.paused {
                return Err(Refusal::WrongState(
                    "cannot pause: the case clock is already paused".into(),
                ));
            }
            Ok(Event::Paused(Paused { reason, actor: by }))
        }
        Command::Resume { reason } => {
            let by = as_lead_or_centre()?;
            if reason.trim().is_empty() {
                return Err(Refusal::invalid(
                    "reason",
                    "required: why the clock runs again (e.g. 材料已补齐)",
                ));
            }
            if !view.paused {
                return Err(Refusal::WrongState(
                    "cannot resume: the case clock is not paused".into(),
                ));
            }
            Ok(Event::Resumed(Resumed { reason, actor: by }))
        }
    }
}

/// Whether the case's SLA policy lets the handling deadline of the current round be extended by
/// `days`. A case the clock has not given a policy yet (no clock role runs) is judged by the
/// workflow's own limit alone.
fn extension_allowed(view: &CaseView, days: u32, sla: &SlaConfig) -> Result<(), Refusal> {
    let Some(policy) = sla.policy(&view.policy_id) else {
        return Ok(());
    };
    let round = match CaseStage::try_from(view.stage).unwrap_or_default() {
        CaseStage::Review => Round::Review,
        CaseStage::ReReview => Round::ReReview,
        _ => Round::Handling,
    };
    let rule = policy.final_milestone(round).ok_or_else(|| {
        Refusal::WrongState(format!(
            "cannot ask for an extension: policy {} sets no handling deadline here",
            policy.id
        ))
    })?;
    let Some(allowed) = rule.extension else {
        return Err(Refusal::WrongState(format!(
            "cannot ask for an extension: policy {} allows no extension of {}",
            policy.id, rule.milestone
        )));
    };
    if rule.limit.unit.of_days(days) > allowed.max_total {
        return Err(Refusal::invalid(
            "days",
            format!(
                "policy {} allows at most {} more {:?} for {}",
                policy.id, allowed.max_total, rule.limit.unit, rule.milestone
            ),
        ));
    }
    Ok(())
}

fn status_name(status: CaseStatus) -> &'static str {
    match status {
        CaseStatus::Unspecified => "in no known state",
        CaseStatus::Received => "not yet dispatched",
        CaseStatus::Dispatched => "dispatched, not signed for",
        CaseStatus::Duplicate => "a repeat of another case",
        CaseStatus::CentreQueue => "waiting in the centre's queue",
        CaseStatus::SignedFor => "signed for, being handled",
        CaseStatus::Returned => "returned, waiting for the centre",
        CaseStatus::Replied => "replied",
        CaseStatus::Closed => "closed",
        CaseStatus::Merged => "merged into another case (并单)",
    }
}

fn at(ts: Option<prost_types::Timestamp>) -> Option<OffsetDateTime> {
    ts.and_then(|t| OffsetDateTime::from_unix_timestamp(t.seconds).ok())
}

/// The end (24:00 China time) of the `n`-th working day after the day of `start`. A day of a
/// year the calendar does not cover counts as a working day: the window can only end earlier
/// than the real one, never later.
pub fn working_days_after(calendar: &Calendar, start: OffsetDateTime, n: u32) -> OffsetDateTime {
    let mut date = start.to_offset(minhu_clock::CHINA_TIME).date();
    let mut counted = 0;
    while counted < n {
        date = date.next_day().expect("dates within range");
        if calendar.is_working_day(date).unwrap_or(true) {
            counted += 1;
        }
    }
    date.next_day()
        .expect("dates within range")
        .with_time(Time::MIDNIGHT)
        .assume_offset(minhu_clock::CHINA_TIME)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn ts(t: OffsetDateTime) -> Option<prost_types::Timestamp> {
        Some(prost_types::Timestamp {
            seconds: t.unix_timestamp(),
            nanos: 0,
        })
    }

    fn case(status: CaseStatus) -> CaseView {
        CaseView {
            case_id: "MH20261127-0000001".into(),
            status: status as i32,
            stage: CaseStage::Handling as i32,
            route: Some(RouteDecision {
                lead_unit_id: "town".into(),
                ..Default::default()
            }),
            dispatched_at: ts(datetime!(2026-11-27 10:00 +8)),
            ..Default::default()
        }
    }

    fn decide_at(
        view: &CaseView,
        actor: Actor,
        command: Command,
        now: OffsetDateTime,
    ) -> Result<Event, Refusal> {
        let calendar = Calendar::embedded();
        let supervisor = |u: &str| match u {
            "town" => Some("county".to_owned()),
            "county" => Some("city".to_owned()),
            _ => None,
        };
        let name = |u: &str| {
            ["town", "county", "city", "bureau"]
                .contains(&u)
                .then(|| format!("{u} name"))
        };
        let sla = SlaConfig::embedded();
        let rules = Rules {
            calendar: &calendar,
            objection_working_days: 5,
            review_window_days: 30,
            supervisor_of: &supervisor,
            unit_name: &name,
            sla: &sla,
        };
        decide(view, &actor, command, now, &rules)
    }

    fn unit(id: &str) -> Actor {
        Actor::Unit(id.into())
    }

    /// The request fields a refusal names as invalid.
    fn invalid_fields(decision: Result<Event, Refusal>) -> Vec<String> {
        match decision {
            Err(Refusal::Invalid(violations)) => violations.into_iter().map(|v| v.field).collect(),
            other => panic!("not refused as invalid: {other:?}"),
        }
    }

    fn give_back() -> Command {
        Command::Return {
            reason: ReturnReason::NotOurFunction,
            explanation: "属交通部门职责".into(),
        }
    }

    #[test]
    fn only_the_lead_unit_signs_for_a_dispatched_case() {
        let now = datetime!(2026-11-27 11:00 +8);
        let view = case(CaseStatus::Dispatched);
        assert!(matches!(
            decide_at(&view, unit("town"), Command::SignFor, now),
            Ok(Event::SignedFor(_))
        ));
        assert!(matches!(
            decide_at(&view, unit("bureau"), Command::SignFor, now),
            Err(Refusal::NotAllowed(_))
        ));
        let signed = case(CaseStatus::SignedFor);
        let refusal = decide_at(&signed, unit("town"), Command::SignFor, now).unwrap_err();
        assert!(refusal.to_string().contains("signed for"), "{refusal}");
    }

    #[test]
    fn the_objection_window_counts_working_days_from_dispatch() {
        // Dispatched Friday 27 Nov 2026: five working days are 30 Nov to 4 Dec.
        let view = case(CaseStatus::SignedFor);
        assert!(
            decide_at(
                &view,
                unit("town"),
                give_back(),
                datetime!(2026-12-04 23:00 +8)
            )
            .is_ok()
        );
        let late = decide_at(
            &view,
            unit("town"),
            give_back(),
            datetime!(2026-12-05 00:30 +8),
        );
        assert!(matches!(late, Err(Refusal::WrongState(m)) if m.contains("objection window")));
    }

    #[test]
    fn the_2026_national_day_holiday_and_its_makeup_day_move_the_window() {
        // Dispatched Tue 29 Sep 2026: 30 Sep works; 1–7 Oct off; 8, 9 Oct work; Sat 10 Oct is a
        // make-up workday (调休); Sun 11 Oct is off: the fifth working day is Mon 12 Oct (it
        // would be 13 Oct without the make-up day).
        let mut view = case(CaseStatus::Dispatched);
        view.dispatched_at = ts(datetime!(2026-09-29 09:00 +8));
        assert!(
            decide_at(
                &view,
                unit("town"),
                give_back(),
                datetime!(2026-10-12 20:00 +8)
            )
            .is_ok()
        );
        assert!(
            decide_at(
                &view,
                unit("town"),
                give_back(),
                datetime!(2026-10-13 00:30 +8)
            )
            .is_err()
        );
    }

    #[test]
    fn a_designated_unit_cannot_return_and_no_unit_returns_twice() {
        let now = datetime!(2026-11-28 09:00 +8);
        let mut view = case(CaseStatus::Dispatched);
        view.designated = true;
        let refusal = decide_at(&view, unit("town"), give_back(), now).unwrap_err();
        assert!(refusal.to_string().contains("指定"), "{refusal}");
        let mut view = case(CaseStatus::Dispatched);
        view.returned_by = vec!["town".into()];
        assert!(decide_at(&view, unit("town"), give_back(), now).is_err());
        let vague = Command::Return {
            reason: ReturnReason::NotOurFunction,
            explanation: " ".into(),
        };
        assert_eq!(
            invalid_fields(decide_at(
                &case(CaseStatus::Dispatched),
                unit("town"),
                vague,
                now
            )),
            ["explanation"]
        );
        let empty = Command::Return {
            reason: ReturnReason::Unspecified,
            explanation: String::new(),
        };
        assert_eq!(
            invalid_fields(decide_at(
                &case(CaseStatus::Dispatched),
                unit("town"),
                empty,
                now
            )),
            ["reason", "explanation"]
        );
    }

    #[test]
    fn extensions_are_asked_once_and_decided_by_the_supervisor() {
        let now = datetime!(2026-11-28 09:00 +8);
        let ask = || Command::RequestExtension {
            days: 30,
            reason: "需现场勘查".into(),
        };
        let view = case(CaseStatus::SignedFor);
        assert!(decide_at(&view, unit("town"), ask(), now).is_ok());
        let too_long = Command::RequestExtension {
            days: 31,
            reason: "x".into(),
        };
        assert_eq!(
            invalid_fields(decide_at(&view, unit("town"), too_long, now)),
            ["days"]
        );
        let mut pending = view.clone();
        pending.extension_days_requested = 30;
        assert!(decide_at(&pending, unit("town"), ask(), now).is_err());
        let decide_it = || Command::DecideExtension {
            approve: true,
            reason: String::new(),
        };
        assert!(matches!(
            decide_at(&pending, unit("town"), decide_it(), now),
            Err(Refusal::NotAllowed(_))
        ));
        match decide_at(&pending, unit("county"), decide_it(), now) {
            Ok(Event::ExtensionDecided(d)) => assert!(d.approved && d.days == 30),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reply_close_rate_and_review_one_level_up() {
        let now = datetime!(2026-12-01 09:00 +8);
        let signed = case(CaseStatus::SignedFor);
        let reply = || Command::Reply {
            reply: "已责令整改".into(),
        };
        assert!(decide_at(&signed, unit("town"), reply(), now).is_ok());
        assert!(decide_at(&case(CaseStatus::Dispatched), unit("town"), reply(), now).is_err());
        let close = || Command::Close {
            summary: "办结".into(),
        };
        assert!(decide_at(&signed, unit("town"), close(), now).is_err());

        let mut replied = case(CaseStatus::Replied);
        replied.replied_at = ts(datetime!(2026-11-30 09:00 +8));
        assert!(decide_at(&replied, unit("town"), close(), now).is_ok());
        let review = || Command::RequestReview {
            reason: "问题未解决".into(),
        };
        assert!(decide_at(&replied, Actor::Petitioner, review(), now).is_err());
        let rate = Command::Evaluate {
            rating: Rating::Unsatisfied,
            comment: String::new(),
        };
        assert!(decide_at(&replied, Actor::Petitioner, rate, now).is_ok());
        replied.rating = Rating::Unsatisfied as i32;
        match decide_at(&replied, Actor::Petitioner, review(), now) {
            Ok(Event::ReviewRequested(r)) => {
                assert_eq!(r.stage, CaseStage::Review as i32);
                assert_eq!(r.route.unwrap().lead_unit_id, "county");
            }
            other => panic!("{other:?}"),
        }
        let too_late = datetime!(2027-01-05 09:00 +8);
        assert!(decide_at(&replied, Actor::Petitioner, review(), too_late).is_err());
        replied.stage = CaseStage::ReReview as i32;
        assert!(decide_at(&replied, Actor::Petitioner, review(), now).is_err());
    }

    #[test]
    fn only_the_centre_splits_a_merged_case_out() {
        let now = datetime!(2026-11-28 09:00 +8);
        let mut merged = case(CaseStatus::Merged);
        merged.cluster_lead = "MH20261127-0000007".into();
        let split = || Command::Split {
            reason: "不同小区的不同事项".into(),
        };
        assert!(matches!(
            decide_at(&merged, unit("town"), split(), now),
            Err(Refusal::NotAllowed(_))
        ));
        match decide_at(&merged, Actor::Centre, split(), now) {
            Ok(Event::Split(s)) => assert_eq!(s.from_lead_case_id, "MH20261127-0000007"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            decide_at(&case(CaseStatus::Dispatched), Actor::Centre, split(), now),
            Err(Refusal::WrongState(_))
        ));
    }

    #[test]
    fn only_the_centre_reassigns_and_designates_known_units() {
        let now = datetime!(2026-11-28 09:00 +8);
        let view = case(CaseStatus::Returned);
        let to = |lead: &str| Command::Reassign {
            lead: lead.into(),
            assisting: vec![],
            reason: "属交通部门".into(),
        };
        assert!(matches!(
            decide_at(&view, unit("town"), to("bureau"), now),
            Err(Refusal::NotAllowed(_))
        ));
        assert_eq!(
            invalid_fields(decide_at(&view, Actor::Centre, to("nowhere"), now)),
            ["lead_unit_id"]
        );
        let with_unknown_help = Command::Reassign {
            lead: "bureau".into(),
            assisting: vec!["county".into(), "nowhere".into()],
            reason: "需镇街配合".into(),
        };
        assert_eq!(
            invalid_fields(decide_at(&view, Actor::Centre, with_unknown_help, now)),
            ["assisting_unit_ids[1]"]
        );
        match decide_at(&view, Actor::Centre, to("bureau"), now) {
            Ok(Event::Reassigned(r)) => {
                assert_eq!(r.from_unit_id, "town");
                assert_eq!(r.route.unwrap().lead_unit_name, "bureau name");
            }
            other => panic!("{other:?}"),
        }
        let designate = Command::Designate {
            unit: None,
            reason: "职责争议，中心指定".into(),
        };
        match decide_at(&view, Actor::Centre, designate, now) {
            Ok(Event::Designated(d)) => assert_eq!(d.unit_id, "town"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_lead_unit_or_the_centre_pauses_and_resumes_with_a_reason() {
        let now = datetime!(2026-11-28 09:00 +8);
        let pause = |reason: &str| Command::Pause {
            reason: reason.into(),
        };
        let view = case(CaseStatus::SignedFor);
        match decide_at(&view, unit("town"), pause("等待信访人补充材料"), now) {
            Ok(Event::Paused(p)) => {
                assert_eq!(p.actor, "unit:town");
                assert_eq!(p.reason, "等待信访人补充材料");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            decide_at(&view, Actor::Centre, pause("听证"), now),
            Ok(Event::Paused(p)) if p.actor == "centre"
        ));
        assert!(matches!(
            decide_at(&view, unit("bureau"), pause("x"), now),
            Err(Refusal::NotAllowed(_))
        ));
        assert_eq!(
            invalid_fields(decide_at(&view, unit("town"), pause(" "), now)),
            ["reason"]
        );
        assert!(matches!(
            decide_at(&case(CaseStatus::Closed), Actor::Centre, pause("x"), now),
            Err(Refusal::WrongState(_))
        ));
        let resume = || Command::Resume {
            reason: "材料已补齐".into(),
        };
        assert!(matches!(
            decide_at(&view, unit("town"), resume(), now),
            Err(Refusal::WrongState(m)) if m.contains("not paused")
        ));

        let mut paused = view.clone();
        paused.paused = true;
        assert!(matches!(
            decide_at(&paused, unit("town"), pause("again"), now),
            Err(Refusal::WrongState(m)) if m.contains("already paused")
        ));
        let reply = Command::Reply {
            reply: "已处理".into(),
        };
        assert!(matches!(
            decide_at(&paused, unit("town"), reply, now),
            Err(Refusal::WrongState(m)) if m.contains("resume it first")
        ));
        assert!(matches!(
            decide_at(&paused, Actor::Centre, resume(), now),
            Ok(Event::Resumed(r)) if r.actor == "centre"
        ));
    }

    #[test]
    fn an_extension_must_be_one_the_case_policy_allows() {
        let now = datetime!(2026-11-28 09:00 +8);
        let ask = |days| Command::RequestExtension {
            days,
            reason: "需多部门会商".into(),
        };
        let mut hotline = case(CaseStatus::SignedFor);
        hotline.policy_id = "hotline-complaint-report".into();
        let refusal = decide_at(&hotline, unit("town"), ask(10), now).unwrap_err();
        assert!(
            refusal.to_string().contains("allows no extension"),
            "{refusal}"
        );
        let mut petition = case(CaseStatus::SignedFor);
        petition.policy_id = "xinfang-zhejiang".into();
        assert!(decide_at(&petition, unit("town"), ask(30), now).is_ok());
        // Without a policy (no clock role), the workflow's own 1–30 days apply.
        assert!(decide_at(&case(CaseStatus::SignedFor), unit("town"), ask(30), now).is_ok());
    }
}
