//! 三张清单 and 任期盘点 as pure functions of a unit's case views and the moment they describe.
//!
//! Nothing is stored: the lists are computed from the cases as they stand, so a case that is
//! closed, found a duplicate or merged drops off by itself (动态销号).

use std::cmp::Reverse;

use minhu_contracts::v1::{
    CaseStatus, CaseView, Deadline, HandoverCase, HandoverReportResponse, ResponsibilityItem,
    RiskItem, RiskReason, TaskItem, UnitListsResponse, Urgency,
};
use minhu_core::deadlines::timestamp;
use prost_types::Timestamp;
use time::OffsetDateTime;

const DAY_SECONDS: i64 = 86_400;

/// A case in this status is still being handled: not 办结, and not carried by another case
/// (重复件, 并单).
pub fn is_open(status: i32) -> bool {
    !matches!(
        CaseStatus::try_from(status).unwrap_or_default(),
        CaseStatus::Unspecified | CaseStatus::Closed | CaseStatus::Duplicate | CaseStatus::Merged
    )
}

/// The three lists of `unit_id` from its cases (any order; closed ones are left out) at `now`.
pub fn unit_lists(unit_id: &str, cases: &[CaseView], now: OffsetDateTime) -> UnitListsResponse {
    let as_of = timestamp(now);
    let mut open: Vec<&CaseView> = cases.iter().filter(|v| is_open(v.status)).collect();
    open.sort_by(|a, b| a.case_id.cmp(&b.case_id));

    let mut risks: Vec<RiskItem> = open.iter().filter_map(|v| risk(v)).collect();
    risks.sort_by_key(|r| (Reverse(r.urgency), Reverse(r.reasons.len())));

    let mut tasks: Vec<TaskItem> = open.iter().map(|v| task(v, &as_of)).collect();
    tasks.sort_by_key(|t| due_key(t.next_due_at.as_ref()));

    let responsibilities = open
        .iter()
        .map(|v| {
            let route = v.route.clone().unwrap_or_default();
            ResponsibilityItem {
                case_id: v.case_id.clone(),
                title: v.title.clone(),
                status: v.status,
                lead_unit_id: route.lead_unit_id,
                assisting_unit_ids: route.assisting_unit_ids,
                leader: v.leader.clone(),
            }
        })
        .collect();

    UnitListsResponse {
        unit_id: unit_id.to_owned(),
        as_of: Some(as_of),
        risks,
        tasks,
        responsibilities,
    }
}

/// 任期盘点 of `unit_id`: every open case, oldest first, with its age, next deadline and history.
pub fn handover(unit_id: &str, cases: &[CaseView], now: OffsetDateTime) -> HandoverReportResponse {
    let as_of = timestamp(now);
    let mut open: Vec<&CaseView> = cases.iter().filter(|v| is_open(v.status)).collect();
    open.sort_by_key(|v| {
        (
            v.accepted_at.map(|t| (t.seconds, t.nanos)),
            v.case_id.clone(),
        )
    });
    let cases: Vec<HandoverCase> = open
        .into_iter()
        .map(|v| {
            let pending = pending_deadlines(v);
            let age_seconds = v.accepted_at.map_or(0, |t| as_of.seconds - t.seconds);
            HandoverCase {
                case_id: v.case_id.clone(),
                title: v.title.clone(),
                status: v.status,
                accepted_at: v.accepted_at,
                age_days: u32::try_from(age_seconds.max(0) / DAY_SECONDS).unwrap_or(u32::MAX),
                overdue: overdue(&pending, &as_of),
                next_deadline: pending.into_iter().next(),
                lead_unit_id: v
                    .route
                    .as_ref()
                    .map(|r| r.lead_unit_id.clone())
                    .unwrap_or_default(),
                leader: v.leader.clone(),
                urgency: urgency(v) as i32,
                history: v.history.clone(),
            }
        })
        .collect();
    HandoverReportResponse {
        unit_id: unit_id.to_owned(),
        as_of: Some(as_of),
        overdue: cases.iter().filter(|c| c.overdue).count() as u32,
        cases,
    }
}

fn urgency(view: &CaseView) -> Urgency {
    view.classification
        .as_ref()
        .and_then(|c| Urgency::try_from(c.urgency).ok())
        .unwrap_or_default()
}

/// On the risk list when urgent or a group matter (a hotspot, or two or more merged cases).
fn risk(view: &CaseView) -> Option<RiskItem> {
    let urgency = urgency(view);
    let mut reasons = Vec::new();
    if matches!(urgency, Urgency::Urgent | Urgency::VeryUrgent) {
        reasons.push(RiskReason::Urgent as i32);
    }
    if view.hotspot_raised_at.is_some() {
        reasons.push(RiskReason::Hotspot as i32);
    }
    if view.cluster_members.len() >= 2 {
        reasons.push(RiskReason::Cluster as i32);
    }
    if reasons.is_empty() {
        return None;
    }
    Some(RiskItem {
        case_id: view.case_id.clone(),
        title: view.title.clone(),
        status: view.status,
        urgency: urgency as i32,
        reasons,
        cluster_members: view.cluster_members.len() as u32,
        hotspot_raised_at: view.hotspot_raised_at,
        lead_unit_id: view
            .route
            .as_ref()
            .map(|r| r.lead_unit_id.clone())
            .unwrap_or_default(),
    })
}

fn task(view: &CaseView, now: &Timestamp) -> TaskItem {
    let deadlines = pending_deadlines(view);
    TaskItem {
        case_id: view.case_id.clone(),
        title: view.title.clone(),
        status: view.status,
        next_due_at: deadlines.first().and_then(|d| d.due_at),
        overdue: overdue(&deadlines, now),
        paused: view.paused,
        deadlines,
    }
}

/// The case's deadlines whose milestone is not met yet, soonest first; suspended ones (no due
/// time while paused) last.
fn pending_deadlines(view: &CaseView) -> Vec<Deadline> {
    let met = |milestone: &str| {
        view.clock.as_ref().is_some_and(|c| {
            c.milestones
                .iter()
                .any(|m| m.milestone == milestone && m.met_at.is_some())
        })
    };
    let mut pending: Vec<Deadline> = view
        .deadlines
        .iter()
        .filter(|d| !met(&d.milestone))
        .cloned()
        .collect();
    pending.sort_by_key(|d| due_key(d.due_at.as_ref()));
    pending
}

fn due_key(due: Option<&Timestamp>) -> (bool, i64, i32) {
    match due {
        Some(t) => (false, t.seconds, t.nanos),
        None => (true, 0, 0),
    }
}

fn overdue(pending: &[Deadline], now: &Timestamp) -> bool {
    pending
        .iter()
        .filter_map(|d| d.due_at.as_ref())
        .any(|due| (due.seconds, due.nanos) < (now.seconds, now.nanos))
}

#[cfg(test)]
mod tests {
    use minhu_contracts::v1::{
        Classification, ClockState, ClusterMember, HistoryEntry, Leader, MilestoneState,
        RouteDecision,
    };
    use time::macros::datetime;

    use super::*;

    const NOW: OffsetDateTime = datetime!(2026-03-10 08:00 UTC);

    fn at(days_from_now: i64) -> Timestamp {
        timestamp(NOW + time::Duration::days(days_from_now))
    }

    fn deadline(milestone: &str, days_from_now: i64) -> Deadline {
        Deadline {
            milestone: milestone.into(),
            due_at: Some(at(days_from_now)),
            ..Default::default()
        }
    }

    fn case(id: &str, status: CaseStatus, urgency: Urgency) -> CaseView {
        CaseView {
            case_id: id.into(),
            title: format!("title {id}"),
            status: status as i32,
            accepted_at: Some(at(-3)),
            classification: Some(Classification {
                urgency: urgency as i32,
                ..Default::default()
            }),
            route: Some(RouteDecision {
                lead_unit_id: "pujiang-huangzhai".into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn member(id: &str) -> ClusterMember {
        ClusterMember {
            case_id: id.into(),
            ..Default::default()
        }
    }

    #[test]
    fn the_risk_list_holds_urgent_and_group_matters_most_urgent_first() {
        let ordinary = case("c1", CaseStatus::SignedFor, Urgency::Ordinary);
        let urgent = case("c2", CaseStatus::Dispatched, Urgency::Urgent);
        let very = case("c3", CaseStatus::Dispatched, Urgency::VeryUrgent);
        let mut hotspot = case("c4", CaseStatus::SignedFor, Urgency::Ordinary);
        hotspot.hotspot_raised_at = Some(at(-1));
        let mut cluster = case("c5", CaseStatus::SignedFor, Urgency::Ordinary);
        cluster.cluster_members = vec![member("m1"), member("m2")];
        let mut pair = case("c6", CaseStatus::SignedFor, Urgency::Ordinary);
        pair.cluster_members = vec![member("m3")];

        let lists = unit_lists(
            "pujiang-huangzhai",
            &[ordinary, cluster, hotspot, urgent, very, pair],
            NOW,
        );
        let risks: Vec<(&str, Vec<i32>)> = lists
            .risks
            .iter()
            .map(|r| (r.case_id.as_str(), r.reasons.clone()))
            .collect();
        assert_eq!(
            risks,
            vec![
                ("c3", vec![RiskReason::Urgent as i32]),
                ("c2", vec![RiskReason::Urgent as i32]),
                ("c4", vec![RiskReason::Hotspot as i32]),
                ("c5", vec![RiskReason::Cluster as i32]),
            ]
        );
        assert_eq!(lists.risks[3].cluster_members, 2);
        assert_eq!(lists.risks[2].hotspot_raised_at, Some(at(-1)));
    }

    #[test]
    fn the_task_list_puts_the_soonest_pending_deadline_first_and_flags_the_overdue() {
        let mut late = case("c1", CaseStatus::SignedFor, Urgency::Ordinary);
        late.deadlines = vec![deadline("handling", 20), deadline("sign_for", -1)];
        let mut met = case("c2", CaseStatus::SignedFor, Urgency::Ordinary);
        // Signed for: the passed sign-for deadline no longer counts.
        met.deadlines = vec![deadline("sign_for", -2), deadline("handling", 5)];
        met.clock = Some(ClockState {
            milestones: vec![MilestoneState {
                milestone: "sign_for".into(),
                met_at: Some(at(-3)),
                ..Default::default()
            }],
            ..Default::default()
        });
        let mut soon = case("c3", CaseStatus::Dispatched, Urgency::Ordinary);
        soon.deadlines = vec![deadline("sign_for", 1)];
        let mut paused = case("c4", CaseStatus::SignedFor, Urgency::Ordinary);
        paused.paused = true;
        paused.deadlines = vec![Deadline {
            milestone: "handling".into(),
            suspended: true,
            ..Default::default()
        }];

        let lists = unit_lists("pujiang-huangzhai", &[paused, met, soon, late], NOW);
        let tasks: Vec<(&str, bool)> = lists
            .tasks
            .iter()
            .map(|t| (t.case_id.as_str(), t.overdue))
            .collect();
        assert_eq!(
            tasks,
            vec![("c1", true), ("c3", false), ("c2", false), ("c4", false)]
        );
        let first: Vec<&str> = lists.tasks[0]
            .deadlines
            .iter()
            .map(|d| d.milestone.as_str())
            .collect();
        assert_eq!(first, ["sign_for", "handling"]);
        assert_eq!(lists.tasks[2].deadlines.len(), 1);
        assert_eq!(lists.tasks[2].next_due_at, Some(at(5)));
        assert_eq!(lists.tasks[3].next_due_at, None);
        assert!(lists.tasks[3].paused);
    }

    #[test]
    fn the_responsibility_list_names_the_lead_unit_and_the_leader_who_took_the_case_on() {
        let plain = case("c1", CaseStatus::SignedFor, Urgency::Ordinary);
        let mut owned = case("c2", CaseStatus::SignedFor, Urgency::Ordinary);
        owned.leader = Some(Leader {
            name: "张某".into(),
            post: "县委书记".into(),
            unit_id: "pujiang-county".into(),
            ..Default::default()
        });
        owned.route.as_mut().unwrap().assisting_unit_ids = vec!["pujiang-transport".into()];

        let lists = unit_lists("pujiang-huangzhai", &[owned, plain], NOW);
        let owners = &lists.responsibilities;
        assert_eq!(owners.len(), 2);
        assert_eq!(owners[0].case_id, "c1");
        assert_eq!(owners[0].lead_unit_id, "pujiang-huangzhai");
        assert_eq!(owners[0].leader, None);
        assert_eq!(owners[1].leader.as_ref().unwrap().post, "县委书记");
        assert_eq!(owners[1].assisting_unit_ids, ["pujiang-transport"]);
    }

    #[test]
    fn closed_duplicate_and_merged_cases_drop_off_every_list() {
        let mut cases = Vec::new();
        for (id, status) in [
            ("c1", CaseStatus::Closed),
            ("c2", CaseStatus::Duplicate),
            ("c3", CaseStatus::Merged),
            ("c4", CaseStatus::Replied),
        ] {
            let mut v = case(id, status, Urgency::VeryUrgent);
            v.deadlines = vec![deadline("handling", -1)];
            cases.push(v);
        }
        let lists = unit_lists("pujiang-huangzhai", &cases, NOW);
        let ids = |ids: Vec<&str>| assert_eq!(ids, ["c4"]);
        ids(lists.risks.iter().map(|r| r.case_id.as_str()).collect());
        ids(lists.tasks.iter().map(|r| r.case_id.as_str()).collect());
        ids(lists
            .responsibilities
            .iter()
            .map(|r| r.case_id.as_str())
            .collect());
        let report = handover("pujiang-huangzhai", &cases, NOW);
        ids(report.cases.iter().map(|r| r.case_id.as_str()).collect());
    }

    #[test]
    fn the_handover_report_gives_each_open_case_its_age_deadline_and_history_oldest_first() {
        let mut young = case("c1", CaseStatus::Dispatched, Urgency::Urgent);
        young.accepted_at = Some(at(-1));
        young.deadlines = vec![deadline("sign_for", 2)];
        let mut old = case("c2", CaseStatus::SignedFor, Urgency::Ordinary);
        old.accepted_at = Some(timestamp(NOW - time::Duration::hours(24 * 40 + 5)));
        old.deadlines = vec![deadline("handling", -2)];
        old.history = vec![
            HistoryEntry {
                at: Some(at(-40)),
                status: CaseStatus::Dispatched as i32,
                note: "已交办".into(),
            },
            HistoryEntry {
                at: Some(at(-39)),
                status: CaseStatus::SignedFor as i32,
                note: "已签收".into(),
            },
        ];

        let report = handover("pujiang-huangzhai", &[young, old], NOW);
        assert_eq!(report.unit_id, "pujiang-huangzhai");
        assert_eq!(report.as_of, Some(timestamp(NOW)));
        assert_eq!(report.overdue, 1);
        let old = &report.cases[0];
        assert_eq!(old.case_id, "c2");
        assert_eq!(old.age_days, 40);
        assert!(old.overdue);
        assert_eq!(old.next_deadline.as_ref().unwrap().milestone, "handling");
        let notes: Vec<&str> = old.history.iter().map(|h| h.note.as_str()).collect();
        assert_eq!(notes, ["已交办", "已签收"]);
        let young = &report.cases[1];
        assert_eq!(young.age_days, 1);
        assert!(!young.overdue);
        assert_eq!(young.urgency, Urgency::Urgent as i32);
        assert_eq!(young.lead_unit_id, "pujiang-huangzhai");
    }
}
