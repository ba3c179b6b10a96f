//! The cluster book (社情民意): which matters many petitioners raise, where, and how fast they
//! grow. A fold of the case events: each case's category, place and time from its triage, the
//! members that joined it, splits, hotspots.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use minhu_contracts::v1::{CaseEvent, Cluster, case_event};

#[derive(Debug, Clone, Default)]
struct Matter {
    category: String,
    division_code: String,
    /// Acceptance times (Unix seconds) of the lead and every member.
    times: Vec<i64>,
    members: Vec<String>,
    hotspot: bool,
}

#[derive(Clone, Default)]
pub struct ClusterBook {
    // A std RwLock: short updates and reads, never across an .await.
    matters: Arc<RwLock<HashMap<String, Matter>>>,
}

impl ClusterBook {
    pub fn apply(&self, event: &CaseEvent) {
        use case_event::Event;
        let mut matters = self.matters.write().expect("cluster lock");
        match &event.event {
            // Every case may become a lead: remember what and where, and when it arrived.
            Some(Event::Triaged(t)) if t.cluster_lead.is_empty() && t.duplicate_of.is_empty() => {
                let matter = matters.entry(event.case_id.clone()).or_default();
                matter.category = t
                    .classification
                    .as_ref()
                    .map(|c| c.category.clone())
                    .unwrap_or_default();
                matter.division_code = t
                    .route
                    .as_ref()
                    .map(|r| r.division_code.clone())
                    .unwrap_or_default();
                if matter.times.is_empty() {
                    matter.times.push(event.at.map_or(0, |t| t.seconds));
                }
            }
            Some(Event::MemberJoined(m)) => {
                let matter = matters.entry(event.case_id.clone()).or_default();
                if !matter.members.contains(&m.member_case_id) {
                    matter.members.push(m.member_case_id.clone());
                    let at = m.member_accepted_at.or(event.at).map_or(0, |t| t.seconds);
                    matter.times.push(at);
                }
            }
            Some(Event::MemberSplit(m)) => {
                if let Some(matter) = matters.get_mut(&event.case_id)
                    && let Some(i) = matter.members.iter().position(|c| *c == m.member_case_id)
                {
                    matter.members.remove(i);
                    // times[0] is the lead's own.
                    matter.times.remove(i + 1);
                }
            }
            Some(Event::HotspotRaised(_)) => {
                matters.entry(event.case_id.clone()).or_default().hotspot = true;
            }
            _ => {}
        }
    }

    /// The `top` clusters in the window ending at `now`, largest first; only matters with at
    /// least one member count as clusters.
    pub fn top(
        &self,
        area_prefix: &str,
        category: &str,
        window: i64,
        now: i64,
        top: usize,
    ) -> Vec<Cluster> {
        let matters = self.matters.read().expect("cluster lock");
        let count = |times: &[i64], from: i64, to: i64| {
            times.iter().filter(|t| (from..to).contains(*t)).count() as u32
        };
        let mut clusters: Vec<Cluster> = matters
            .iter()
            .filter(|(_, m)| !m.members.is_empty())
            .filter(|(_, m)| m.division_code.starts_with(area_prefix))
            .filter(|(_, m)| category.is_empty() || m.category == category)
            .map(|(lead, m)| Cluster {
                lead_case_id: lead.clone(),
                category: m.category.clone(),
                division_code: m.division_code.clone(),
                petitions_in_window: count(&m.times, now - window, now + 1),
                petitions_previous_window: count(&m.times, now - 2 * window, now - window),
                petitions_total: m.times.len() as u32,
                hotspot: m.hotspot,
            })
            .filter(|c| c.petitions_in_window > 0)
            .collect();
        clusters.sort_by(|a, b| {
            b.petitions_in_window
                .cmp(&a.petitions_in_window)
                .then_with(|| a.lead_case_id.cmp(&b.lead_case_id))
        });
        clusters.truncate(top);
        clusters
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minhu_contracts::v1::{Classification, MemberJoined, MemberSplit, RouteDecision, Triaged};

    fn at(seconds: i64) -> Option<prost_types::Timestamp> {
        Some(prost_types::Timestamp { seconds, nanos: 0 })
    }

    fn triaged(case: &str, category: &str, code: &str, seconds: i64) -> CaseEvent {
        CaseEvent {
            case_id: case.into(),
            at: at(seconds),
            event: Some(case_event::Event::Triaged(Triaged {
                classification: Some(Classification {
                    category: category.into(),
                    ..Default::default()
                }),
                route: Some(RouteDecision {
                    division_code: code.into(),
                    ..Default::default()
                }),
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    fn joined(lead: &str, member: &str, seconds: i64) -> CaseEvent {
        CaseEvent {
            case_id: lead.into(),
            at: at(seconds),
            event: Some(case_event::Event::MemberJoined(MemberJoined {
                member_case_id: member.into(),
                member_accepted_at: at(seconds),
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    #[test]
    fn clusters_are_ranked_by_recent_petitions_with_their_growth() {
        let book = ClusterBook::default();
        book.apply(&triaged("a", "环境保护", "330726101", 1_000));
        book.apply(&triaged("b", "城乡建设", "330726102", 1_000));
        book.apply(&triaged("lonely", "城乡建设", "330726102", 1_000));
        for (i, t) in [1_100, 2_100, 2_200, 2_300].into_iter().enumerate() {
            book.apply(&joined("a", &format!("a{i}"), t));
        }
        book.apply(&joined("b", "b0", 2_500));
        // A redelivered join counts once; a split member no longer counts.
        book.apply(&joined("b", "b0", 2_500));
        book.apply(&joined("b", "b1", 2_600));
        book.apply(&CaseEvent {
            case_id: "b".into(),
            event: Some(case_event::Event::MemberSplit(MemberSplit {
                member_case_id: "b1".into(),
                reason: String::new(),
            })),
            ..Default::default()
        });

        let top = book.top("330726", "", 1_000, 3_000, 10);
        let leads: Vec<_> = top.iter().map(|c| c.lead_case_id.as_str()).collect();
        assert_eq!(leads, ["a", "b"]);
        assert_eq!(
            (top[0].petitions_in_window, top[0].petitions_previous_window),
            (3, 2)
        );
        assert_eq!(top[0].petitions_total, 5);
        assert_eq!(top[1].petitions_total, 2);
        assert_eq!(book.top("330726102", "", 1_000, 3_000, 10).len(), 1);
        assert_eq!(book.top("", "环境保护", 1_000, 3_000, 10).len(), 1);
    }
}
