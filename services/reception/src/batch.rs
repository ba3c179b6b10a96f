//! The leader's desk and the session report, pure: the registered petitions grouped by matter
//! (批次: a repeat or a cluster shown once, with its members; 人次: every petition), each with
//! the unit's findings and the leader's decision; and the report's arithmetic.

use std::collections::{HashMap, HashSet};

use minhu_contracts::v1::{
    BatchEntry, BatchListResponse, CaseStatus, CaseView, Rating, ReceptionOutcomeKind,
    ReceptionReport, ReceptionSession, Unit,
};
use time::OffsetDateTime;

use crate::instant;

/// The case carrying the matter of `view` now: a cluster's lead, a repeat's original, or the
/// case itself. Read from the case, not the registration, so a split the centre made since
/// shows.
pub fn matter_of(view: &CaseView) -> &str {
    if !view.cluster_lead.is_empty() {
        &view.cluster_lead
    } else if !view.duplicate_of.is_empty() {
        &view.duplicate_of
    } else {
        &view.case_id
    }
}

/// One matter of a session and its registered petitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub matter: String,
    /// The matter's own case first when it is registered, then in order of registration.
    pub registered: Vec<String>,
}

/// The session's registrations by matter, in order of each matter's first registration.
/// `views` holds the registered cases (a missing one keeps the matter it was registered with).
pub fn groups(session: &ReceptionSession, views: &HashMap<String, CaseView>) -> Vec<Group> {
    let mut out: Vec<Group> = Vec::new();
    for registration in &session.registrations {
        let matter = views
            .get(&registration.case_id)
            .map_or(registration.matter_case_id.as_str(), matter_of)
            .to_owned();
        let case_id = registration.case_id.clone();
        match out.iter_mut().find(|g| g.matter == matter) {
            Some(group) if group.registered.contains(&case_id) => {}
            Some(group) if case_id == matter => group.registered.insert(0, case_id),
            Some(group) => group.registered.push(case_id),
            None => out.push(Group {
                matter,
                registered: vec![case_id],
            }),
        }
    }
    out
}

/// How many people a matter gathered: its own petitioner and each distinct member of its
/// cluster (an anonymous member counts as one person).
fn petitioners(matter: &CaseView) -> u32 {
    let mut digests = HashSet::new();
    let mut anonymous = 0;
    for member in &matter.cluster_members {
        if member.petitioner_digest.is_empty() {
            anonymous += 1;
        } else {
            digests.insert(member.petitioner_digest.as_str());
        }
    }
    1 + digests.len() as u32 + anonymous
}

/// The batch list for the leader's desk. `views` holds the registered cases and the cases
/// carrying their matters; `unit_name` names a unit.
pub fn batch_list(
    session: &ReceptionSession,
    views: &HashMap<String, CaseView>,
    unit_name: &dyn Fn(&str) -> String,
) -> BatchListResponse {
    let groups = groups(session, views);
    let batches = groups
        .iter()
        .map(|group| {
            let matter = views.get(&group.matter).cloned().unwrap_or_default();
            let reception = matter.reception.clone().unwrap_or_default();
            let unit = matter
                .route
                .as_ref()
                .filter(|r| !r.lead_unit_id.is_empty())
                .map(|r| Unit {
                    id: r.lead_unit_id.clone(),
                    name: unit_name(&r.lead_unit_id),
                });
            BatchEntry {
                case_id: group.matter.clone(),
                title: matter.title.clone(),
                category: matter
                    .classification
                    .as_ref()
                    .map(|c| c.category.clone())
                    .unwrap_or_default(),
                unit,
                status: matter.status,
                registered_case_ids: group.registered.clone(),
                petitioners: petitioners(&matter),
                hotspot: matter.hotspot_raised_at.is_some(),
                investigation: reception.investigation,
                findings: reception.findings,
                findings_at: reception.findings_at,
                outcome: reception.outcome,
                outcome_summary: reception.outcome_summary,
                outcome_deadline: reception.outcome_deadline,
            }
        })
        .collect();
    BatchListResponse {
        session: Some(crate::session::public(session)),
        batches,
        batches_count: groups.len() as u32,
        petitions_count: session.registrations.len() as u32,
    }
}

/// The session's figures at `now`, from the same views as [`batch_list`].
pub fn report(
    session: &ReceptionSession,
    views: &HashMap<String, CaseView>,
    now: OffsetDateTime,
) -> ReceptionReport {
    let groups = groups(session, views);
    let mut report = ReceptionReport {
        session_id: session.session_id.clone(),
        leader: session.leader.clone(),
        starts_at: session.starts_at,
        petitions: session.registrations.len() as u32,
        matters: groups.len() as u32,
        ..Default::default()
    };
    for group in &groups {
        let Some(matter) = views.get(&group.matter) else {
            report.undecided += 1;
            continue;
        };
        let reception = matter.reception.clone().unwrap_or_default();
        if reception.findings_at.is_some() {
            report.investigated += 1;
        }
        let decided = match ReceptionOutcomeKind::try_from(reception.outcome).unwrap_or_default() {
            ReceptionOutcomeKind::Resolved => {
                report.resolved_on_the_spot += 1;
                true
            }
            ReceptionOutcomeKind::Assigned => {
                report.assigned += 1;
                true
            }
            ReceptionOutcomeKind::LeaderOwned => {
                report.leader_owned += 1;
                true
            }
            ReceptionOutcomeKind::Unspecified => {
                report.undecided += 1;
                false
            }
        };
        if !decided {
            continue;
        }
        let status = CaseStatus::try_from(matter.status).unwrap_or_default();
        if status == CaseStatus::Closed {
            report.closed += 1;
        }
        // Overdue against the leader's deadline: past it with no reply given since the day.
        let answered = instant(matter.replied_at)
            .zip(instant(reception.outcome_at))
            .is_some_and(|(replied, decided)| replied >= decided);
        let due = reception
            .outcome_deadline
            .as_ref()
            .and_then(|d| instant(d.due_at));
        if due.is_some_and(|due| now > due) && !answered && status != CaseStatus::Closed {
            report.overdue += 1;
        }
    }
    // Ratings are given per case: the matters' own and any registered petition's.
    let mut rated: HashSet<&str> = HashSet::new();
    let cases = groups
        .iter()
        .flat_map(|g| std::iter::once(&g.matter).chain(&g.registered));
    for case_id in cases {
        if !rated.insert(case_id) {
            continue;
        }
        let rating = views.get(case_id).map_or(Rating::Unspecified, |v| {
            Rating::try_from(v.rating).unwrap_or_default()
        });
        match rating {
            Rating::Satisfied => report.satisfied += 1,
            Rating::BasicallySatisfied => report.basically_satisfied += 1,
            Rating::Unsatisfied => report.unsatisfied += 1,
            Rating::Unspecified => continue,
        }
        report.evaluated += 1;
    }
    if report.evaluated > 0 {
        report.satisfaction_ratio =
            f64::from(report.satisfied + report.basically_satisfied) / f64::from(report.evaluated);
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use minhu_contracts::v1::{
        ClusterMember, Deadline, ReceptionCase, RouteDecision, SessionRegistration,
    };
    use minhu_core::deadlines::timestamp;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-12-20 10:00 +8);

    fn registered(cases: &[(&str, &str)]) -> ReceptionSession {
        ReceptionSession {
            session_id: "RS20261211-AAAA".into(),
            registrations: cases
                .iter()
                .map(|(case, matter)| SessionRegistration {
                    case_id: (*case).into(),
                    matter_case_id: (*matter).into(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    fn view(id: &str) -> CaseView {
        CaseView {
            case_id: id.into(),
            title: format!("事项{id}"),
            status: CaseStatus::SignedFor as i32,
            route: Some(RouteDecision {
                lead_unit_id: "pujiang-huangzhai".into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn decided(mut v: CaseView, outcome: ReceptionOutcomeKind, due: OffsetDateTime) -> CaseView {
        v.reception = Some(ReceptionCase {
            outcome: outcome as i32,
            outcome_at: Some(timestamp(datetime!(2026-12-11 10:00 +8))),
            outcome_deadline: Some(Deadline {
                due_at: Some(timestamp(due)),
                ..Default::default()
            }),
            findings_at: Some(timestamp(datetime!(2026-12-09 10:00 +8))),
            ..Default::default()
        });
        v
    }

    fn views(list: Vec<CaseView>) -> HashMap<String, CaseView> {
        list.into_iter().map(|v| (v.case_id.clone(), v)).collect()
    }

    #[test]
    fn repeats_and_clusters_are_one_batch_with_their_members() {
        // c2 repeats c1; c4 and c5 joined c3's cluster (c3 registered after c4); c6 alone.
        let session = registered(&[
            ("c1", "c1"),
            ("c2", "c1"),
            ("c4", "c3"),
            ("c3", "c3"),
            ("c5", "c3"),
            ("c6", "c6"),
        ]);
        let mut c2 = view("c2");
        c2.duplicate_of = "c1".into();
        let mut c3 = view("c3");
        c3.cluster_members = vec![
            ClusterMember {
                case_id: "c4".into(),
                petitioner_digest: "aa".into(),
                ..Default::default()
            },
            ClusterMember {
                case_id: "c5".into(),
                petitioner_digest: "aa".into(),
                ..Default::default()
            },
            ClusterMember {
                case_id: "c7".into(),
                ..Default::default()
            },
        ];
        c3.hotspot_raised_at = Some(timestamp(NOW));
        let mut c4 = view("c4");
        c4.cluster_lead = "c3".into();
        let mut c5 = view("c5");
        c5.cluster_lead = "c3".into();
        // c6 was registered as its own matter; it is still one.
        let all = views(vec![view("c1"), c2, c3, c4, c5, view("c6")]);
        let list = batch_list(&session, &all, &|_| "黄宅镇人民政府".into());
        let shown: Vec<(&str, Vec<&str>, u32, bool)> = list
            .batches
            .iter()
            .map(|b| {
                (
                    b.case_id.as_str(),
                    b.registered_case_ids.iter().map(String::as_str).collect(),
                    b.petitioners,
                    b.hotspot,
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                ("c1", vec!["c1", "c2"], 1, false),
                ("c3", vec!["c3", "c4", "c5"], 3, true),
                ("c6", vec!["c6"], 1, false),
            ]
        );
        assert_eq!((list.batches_count, list.petitions_count), (3, 6));
        assert_eq!(
            list.batches[0].unit.as_ref().unwrap().name,
            "黄宅镇人民政府"
        );
        assert_eq!(list.batches[0].title, "事项c1");
    }

    #[test]
    fn a_member_split_out_since_is_a_matter_of_its_own() {
        let session = registered(&[("c3", "c3"), ("c4", "c3")]);
        let all = views(vec![view("c3"), view("c4")]);
        let g = groups(&session, &all);
        assert_eq!(g.len(), 2);
        assert_eq!(g[1].matter, "c4");
    }

    #[test]
    fn the_report_counts_matters_outcomes_overdue_and_satisfaction() {
        let session = registered(&[
            ("c1", "c1"),
            ("c2", "c1"),
            ("c3", "c3"),
            ("c4", "c4"),
            ("c5", "c5"),
        ]);
        let mut c1 = decided(view("c1"), ReceptionOutcomeKind::Resolved, NOW);
        c1.rating = Rating::Satisfied as i32;
        c1.status = CaseStatus::Closed as i32;
        let mut c2 = view("c2");
        c2.duplicate_of = "c1".into();
        // Assigned, due yesterday, not answered: overdue.
        let c3 = decided(
            view("c3"),
            ReceptionOutcomeKind::Assigned,
            datetime!(2026-12-19 00:00 +8),
        );
        // Leader-owned, due later, answered and rated unsatisfied.
        let mut c4 = decided(
            view("c4"),
            ReceptionOutcomeKind::LeaderOwned,
            datetime!(2026-12-31 00:00 +8),
        );
        c4.replied_at = Some(timestamp(datetime!(2026-12-15 10:00 +8)));
        c4.rating = Rating::Unsatisfied as i32;
        let report = report(&session, &views(vec![c1, c2, c3, c4, view("c5")]), NOW);
        assert_eq!((report.petitions, report.matters), (5, 4));
        assert_eq!(
            (
                report.investigated,
                report.resolved_on_the_spot,
                report.assigned,
                report.leader_owned,
                report.undecided,
            ),
            (3, 1, 1, 1, 1)
        );
        assert_eq!((report.closed, report.overdue), (1, 1));
        assert_eq!(
            (report.evaluated, report.satisfied, report.unsatisfied),
            (2, 1, 1)
        );
        assert!((report.satisfaction_ratio - 0.5).abs() < 1e-9);
        let empty = super::report(&registered(&[]), &HashMap::new(), NOW);
        assert_eq!((empty.matters, empty.satisfaction_ratio), (0, 0.0));
    }
}
