//! The reception milestones on the clock (领导下访接访): the pre-visit investigation (访前调查,
//! due working days before the session's day) and the deadline the leader set on the day (交办,
//! 包案). Their instants are on the case view (`CaseView.reception`), set when the matter was
//! registered or decided; this plans their warning, overdue and escalation the way
//! [`crate::plan`] plans the policy's milestones, each step once (read from the view's
//! milestone states). A case the leader took on (领导包案) escalates to the leader.

use std::collections::HashMap;

use minhu_contracts::v1::case_event::Event;
use minhu_contracts::v1::{
    CaseStatus, CaseView, DeadlineOverdue, DeadlineWarned, Escalated, Leader, ReceptionOutcomeKind,
    ReceptionState,
};
use minhu_core::reception::{ASSIGNMENT_MILESTONE, INVESTIGATION_MILESTONE};
use time::OffsetDateTime;

use crate::plan::{Wake, supervisor_at};

/// One reception milestone still running: its name, instants and the limit its steps are
/// recorded under (a moved session is a new limit: warned and overdue afresh).
struct Running {
    name: &'static str,
    due_at: prost_types::Timestamp,
    warn_at: Option<prost_types::Timestamp>,
    limit: u32,
}

fn running(view: &CaseView) -> Vec<Running> {
    let Some(reception) = &view.reception else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let registered = reception.state == ReceptionState::Registered as i32;
    if registered
        && reception.findings_at.is_none()
        && let Some(deadline) = &reception.investigation
        && let Some(due_at) = deadline.due_at
    {
        out.push(Running {
            name: INVESTIGATION_MILESTONE,
            due_at,
            warn_at: deadline.warn_at,
            limit: reception.session.as_ref().map_or(1, |s| s.edition.max(1)),
        });
    }
    let timed = matches!(
        ReceptionOutcomeKind::try_from(reception.outcome),
        Ok(ReceptionOutcomeKind::Assigned | ReceptionOutcomeKind::LeaderOwned)
    );
    // Met by the unit's reply after the day (or the case's closing).
    let answered = match (view.replied_at, reception.outcome_at) {
        (Some(replied), Some(decided)) => replied.seconds >= decided.seconds,
        _ => false,
    } || view.status == CaseStatus::Closed as i32;
    if timed
        && !answered
        && let Some(deadline) = &reception.outcome_deadline
        && let Some(due_at) = deadline.due_at
    {
        out.push(Running {
            name: ASSIGNMENT_MILESTONE,
            due_at,
            warn_at: deadline.warn_at,
            limit: 1,
        });
    }
    out
}

/// The first reception step due at `now`, if any; otherwise `wake` is moved to the earliest
/// coming reception instant.
pub(crate) fn next(
    view: &CaseView,
    supervisors: &HashMap<String, String>,
    now: OffsetDateTime,
    lead: &str,
    wake: &mut Option<Wake>,
) -> Option<Event> {
    for m in running(view) {
        let state = view
            .clock
            .as_ref()
            .and_then(|c| c.milestones.iter().find(|s| s.milestone == m.name))
            .cloned()
            .unwrap_or_default();
        if state.met_at.is_some() {
            continue;
        }
        let due = instant(Some(m.due_at))?;
        let warn = instant(m.warn_at).unwrap_or(due);
        let overdue = state.overdue_limit == m.limit;
        let due_at = Some(m.due_at);
        if !overdue && now >= due {
            return Some(Event::DeadlineOverdue(DeadlineOverdue {
                milestone: m.name.to_owned(),
                due_at,
                unit_id: lead.to_owned(),
                limit: m.limit,
            }));
        }
        if !overdue && state.warned_limit != m.limit && now >= warn {
            return Some(Event::DeadlineWarned(DeadlineWarned {
                milestone: m.name.to_owned(),
                due_at,
                unit_id: lead.to_owned(),
                limit: m.limit,
            }));
        }
        // 督办 at once: the session (or the leader's deadline) does not wait.
        if overdue && state.escalated_limit != m.limit {
            let (to_unit_id, to_leader) = escalation_target(view, supervisors, lead, 1);
            return Some(Event::Escalated(Escalated {
                milestone: m.name.to_owned(),
                due_at,
                unit_id: lead.to_owned(),
                level: 1,
                to_unit_id,
                limit: m.limit,
                to_leader,
            }));
        }
        let upcoming = [
            (!overdue && state.warned_limit != m.limit).then_some((warn, "warning")),
            (!overdue).then_some((due, "deadline")),
        ];
        for (at, what) in upcoming.into_iter().flatten() {
            if at > now && wake.as_ref().is_none_or(|w| at < w.at) {
                *wake = Some(Wake {
                    at,
                    reason: format!("{} {what}", m.name),
                });
            }
        }
    }
    None
}

/// Where escalation step `level` of the case goes: for a case the leader took on (领导包案),
/// to the leader (and the leader's unit); otherwise up the lead unit's supervising chain.
pub(crate) fn escalation_target(
    view: &CaseView,
    supervisors: &HashMap<String, String>,
    lead: &str,
    level: u8,
) -> (String, Option<Leader>) {
    match &view.leader {
        Some(leader) => (leader.unit_id.clone(), Some(leader.clone())),
        None => (supervisor_at(supervisors, lead, level), None),
    }
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
    use crate::plan::{Rules, Step, next_step};
    use minhu_clock::{Calendar, SlaConfig};
    use minhu_contracts::v1::{
        CaseEvent, Classification, Deadline, Dispatched, FindingsRecorded, ReceptionDecided,
        ReceptionRegistered, RouteDecision, SessionSummary,
    };
    use minhu_core::case::apply;
    use minhu_core::config::Settings;
    use minhu_core::deadlines::timestamp;
    use time::Duration;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-11-27 10:00 +8);

    fn rules() -> Rules {
        Rules {
            sla: SlaConfig::embedded(),
            calendar: Calendar::embedded(),
            clock: Settings::defaults().clock,
            supervisors: [("town", "county")]
                .into_iter()
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .collect(),
        }
    }

    fn record(view: &mut CaseView, at: OffsetDateTime, event: Event) {
        let event = CaseEvent {
            case_id: view.case_id.clone(),
            at: Some(timestamp(at)),
            actor: "test".into(),
            number: view.version + 1,
            event: Some(event),
        };
        apply(view, &event);
    }

    fn dispatched() -> CaseView {
        let mut view = CaseView {
            case_id: "MH20261127-0000001".into(),
            channel_id: "web-portal".into(),
            accepted_at: Some(timestamp(T0)),
            classification: Some(Classification {
                category: "城乡建设".into(),
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
            Event::Dispatched(Dispatched {
                unit_id: "town".into(),
                ..Default::default()
            }),
        );
        view
    }

    fn deadline(name: &str, warn: OffsetDateTime, due: OffsetDateTime) -> Deadline {
        Deadline {
            milestone: name.into(),
            due_at: Some(timestamp(due)),
            warn_at: Some(timestamp(warn)),
            ..Default::default()
        }
    }

    /// The clock's steps at `now` until it waits, by milestone and kind.
    fn run(view: &mut CaseView, now: OffsetDateTime) -> (Vec<String>, Option<Wake>) {
        let rules = rules();
        let mut out = Vec::new();
        loop {
            match next_step(view, &rules, now).unwrap() {
                Step::Record(event) => {
                    let reception = |m: &str| m == "investigation" || m == "reception_assignment";
                    let name = match event.as_ref() {
                        Event::DeadlineWarned(w) if reception(&w.milestone) => {
                            format!("warn {}", w.milestone)
                        }
                        Event::DeadlineOverdue(o) if reception(&o.milestone) => {
                            format!("overdue {}", o.milestone)
                        }
                        Event::Escalated(e) => format!(
                            "escalate {} to {:?} {:?}",
                            e.milestone,
                            e.to_unit_id,
                            e.to_leader.as_ref().map(|l| l.name.clone())
                        ),
                        _ => String::new(),
                    };
                    record(view, now, *event);
                    if !name.is_empty() {
                        out.push(name);
                    }
                    assert!(view.version < 40, "the clock does not settle");
                }
                Step::Wait(wake) => return (out, wake),
            }
        }
    }

    #[test]
    fn the_investigation_is_warned_overdue_and_escalated_once_until_findings_stop_it() {
        let mut view = dispatched();
        let warn = T0 + Duration::days(5);
        let due = T0 + Duration::days(6);
        record(
            &mut view,
            T0,
            Event::ReceptionRegistered(ReceptionRegistered {
                session: Some(SessionSummary {
                    edition: 1,
                    ..Default::default()
                }),
                investigation: Some(deadline("investigation", warn, due)),
                ..Default::default()
            }),
        );
        let (steps, wake) = run(&mut view, T0 + Duration::hours(1));
        assert!(steps.is_empty(), "{steps:?}");
        assert!(wake.unwrap().at <= warn);
        let (steps, _) = run(&mut view, warn + Duration::minutes(1));
        assert_eq!(steps, ["warn investigation"]);
        let (steps, _) = run(&mut view, due + Duration::minutes(1));
        assert_eq!(
            steps,
            [
                "overdue investigation",
                "escalate investigation to \"county\" None"
            ]
        );
        assert!(run(&mut view, due + Duration::hours(1)).0.is_empty());

        // Findings before the deadline: nothing more for this milestone.
        let mut view = dispatched();
        record(
            &mut view,
            T0,
            Event::ReceptionRegistered(ReceptionRegistered {
                investigation: Some(deadline("investigation", warn, due)),
                ..Default::default()
            }),
        );
        record(
            &mut view,
            T0 + Duration::days(1),
            Event::FindingsRecorded(FindingsRecorded {
                unit_id: "town".into(),
                findings: "已核实".into(),
            }),
        );
        let (steps, _) = run(&mut view, due + Duration::days(1));
        assert!(
            !steps.iter().any(|s| s.contains("investigation")),
            "{steps:?}"
        );
    }

    #[test]
    fn a_leader_owned_case_escalates_to_the_leader() {
        let mut view = dispatched();
        let decided = T0 + Duration::days(14);
        let due = decided + Duration::days(10);
        let leader = Leader {
            name: "张某".into(),
            post: "县委书记".into(),
            unit_id: "pujiang-county".into(),
            ..Default::default()
        };
        record(
            &mut view,
            decided,
            Event::ReceptionDecided(ReceptionDecided {
                outcome: ReceptionOutcomeKind::LeaderOwned as i32,
                deadline: Some(deadline(
                    "reception_assignment",
                    decided + Duration::days(8),
                    due,
                )),
                leader: Some(leader),
                ..Default::default()
            }),
        );
        assert_eq!(view.leader.as_ref().unwrap().name, "张某");
        let (steps, _) = run(&mut view, due + Duration::minutes(1));
        assert!(
            steps.contains(&"overdue reception_assignment".to_owned()),
            "{steps:?}"
        );
        assert!(
            steps.contains(
                &"escalate reception_assignment to \"pujiang-county\" Some(\"张某\")".to_owned()
            ),
            "{steps:?}"
        );
        // The policy's own milestones escalate to the leader too.
        assert!(
            steps
                .iter()
                .filter(|s| s.starts_with("escalate"))
                .all(|s| s.contains("张某")),
            "{steps:?}"
        );
    }
}
