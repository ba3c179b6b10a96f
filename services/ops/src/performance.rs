//! How units and categories perform (响应率、按时办结率、解决率、退单率、满意率), kept in memory
//! from the case events like the unit board, so `UnitPerformance` and the per-unit gauges never
//! scan the case store.
//!
//! Figures cover every event since the stream began. A unit's figures count the cases while it
//! led them (主办); a category's count each case once per round of handling (first handling,
//! 复查, 复核), whichever units led it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use minhu_contracts::v1::{CaseEvent, Performance, Rating, case_event};
use minhu_core::metrics::PerformanceRatios;

/// Counts of one unit or category.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub assigned: u64,
    pub signed_for: u64,
    pub returned: u64,
    pub closed: u64,
    pub closed_on_time: u64,
    pub overdue: u64,
    pub reopened: u64,
    pub rated: u64,
    pub satisfied: u64,
    pub escalated: u64,
}

impl Counts {
    /// The rates, `None` where nothing has been counted yet.
    pub fn ratios(&self) -> PerformanceRatios {
        let ratio = |part: u64, whole: u64| (whole > 0).then(|| part as f64 / whole as f64);
        PerformanceRatios {
            response: ratio(self.signed_for, self.assigned),
            on_time: ratio(self.closed_on_time, self.closed),
            resolution: ratio(self.closed.saturating_sub(self.reopened), self.closed),
            returned: ratio(self.returned, self.assigned),
            satisfaction: ratio(self.satisfied, self.rated),
            overdue_cases: self.overdue,
        }
    }

    /// As the gRPC answer carries it; rates without a denominator are 0.
    pub fn to_proto(&self, key: &str, name: &str) -> Performance {
        let r = self.ratios();
        Performance {
            key: key.to_owned(),
            name: name.to_owned(),
            assigned: self.assigned,
            signed_for: self.signed_for,
            returned: self.returned,
            closed: self.closed,
            closed_on_time: self.closed_on_time,
            overdue: self.overdue,
            reopened: self.reopened,
            rated: self.rated,
            satisfied: self.satisfied,
            escalated: self.escalated,
            response_rate: r.response.unwrap_or_default(),
            on_time_rate: r.on_time.unwrap_or_default(),
            resolution_rate: r.resolution.unwrap_or_default(),
            return_rate: r.returned.unwrap_or_default(),
            satisfaction_rate: r.satisfaction.unwrap_or_default(),
        }
    }
}

/// What the book remembers of one case.
#[derive(Debug, Clone, Default)]
struct Track {
    category: String,
    lead: String,
    /// This round already counted as signed for, overdue (for its category and unit).
    signed_in_round: bool,
    overdue_in_round: bool,
    /// Who closed the round, until a review round reopens it.
    closed_by: Option<String>,
}

#[derive(Default)]
struct Book {
    cases: HashMap<String, Track>,
    units: HashMap<String, Counts>,
    categories: HashMap<String, Counts>,
}

/// Moves the counts of `unit` (unless empty) and of the case's category together.
fn bump(
    units: &mut HashMap<String, Counts>,
    categories: &mut HashMap<String, Counts>,
    unit: &str,
    track: &Track,
    change: impl Fn(&mut Counts),
) {
    if !unit.is_empty() {
        change(units.entry(unit.to_owned()).or_default());
    }
    let category = if track.category.is_empty() {
        UNCLASSIFIED
    } else {
        &track.category
    };
    change(categories.entry(category.to_owned()).or_default());
}

/// Counts by unit or by category, sorted by key.
pub type Figures = Vec<(String, Counts)>;

/// The category key of a case triage could not classify.
const UNCLASSIFIED: &str = "未分类";

/// The performance book, shared by the follower and the readers.
#[derive(Clone, Default)]
pub struct PerformanceBook {
    // A std Mutex: updates and reads are short and never cross an .await.
    inner: Arc<Mutex<Book>>,
}

impl PerformanceBook {
    /// Applies one case event; kinds that change no figure are ignored.
    pub fn apply(&self, event: &CaseEvent) {
        use case_event::Event;
        let Some(kind) = &event.event else { return };
        let mut book = self.inner.lock().expect("performance lock");
        let Book {
            cases,
            units,
            categories,
        } = &mut *book;
        let track = cases.entry(event.case_id.clone()).or_default();
        let lead_of = |route: &Option<minhu_contracts::v1::RouteDecision>| {
            route
                .as_ref()
                .map(|r| r.lead_unit_id.clone())
                .unwrap_or_default()
        };
        match kind {
            Event::Triaged(t) => {
                track.category = t
                    .classification
                    .as_ref()
                    .map(|c| c.category.clone())
                    .unwrap_or_default();
            }
            Event::Dispatched(d) => {
                track.lead = d.unit_id.clone();
                bump(units, categories, &track.lead, track, |c| c.assigned += 1);
            }
            // A new lead in the same round: a new assignment for the unit, not a new round for
            // the category.
            Event::Reassigned(r) => {
                track.lead = lead_of(&r.route);
                units.entry(track.lead.clone()).or_default().assigned += 1;
            }
            Event::Designated(d) if d.unit_id != track.lead => {
                track.lead = d.unit_id.clone();
                units.entry(track.lead.clone()).or_default().assigned += 1;
            }
            Event::ReviewRequested(r) => {
                if let Some(closer) = track.closed_by.take() {
                    bump(units, categories, &closer, track, |c| c.reopened += 1);
                }
                track.lead = lead_of(&r.route);
                track.signed_in_round = false;
                track.overdue_in_round = false;
                bump(units, categories, &track.lead, track, |c| c.assigned += 1);
            }
            Event::SignedFor(s) => {
                units.entry(s.unit_id.clone()).or_default().signed_for += 1;
                if !track.signed_in_round {
                    track.signed_in_round = true;
                    bump(units, categories, "", track, |c| c.signed_for += 1);
                }
            }
            Event::Returned(r) => bump(units, categories, &r.unit_id, track, |c| c.returned += 1),
            Event::Closed(c) => {
                let on_time = !track.overdue_in_round;
                track.closed_by = Some(c.unit_id.clone());
                bump(units, categories, &c.unit_id, track, |counts| {
                    counts.closed += 1;
                    counts.closed_on_time += u64::from(on_time);
                });
            }
            Event::DeadlineOverdue(o) if !track.overdue_in_round => {
                track.overdue_in_round = true;
                bump(units, categories, &o.unit_id, track, |c| c.overdue += 1);
            }
            Event::Escalated(e) => bump(units, categories, &e.unit_id, track, |c| c.escalated += 1),
            Event::Evaluated(e) => {
                let satisfied = matches!(
                    Rating::try_from(e.rating).unwrap_or_default(),
                    Rating::Satisfied | Rating::BasicallySatisfied
                );
                let unit = track
                    .closed_by
                    .clone()
                    .unwrap_or_else(|| track.lead.clone());
                bump(units, categories, &unit, track, |c| {
                    c.rated += 1;
                    c.satisfied += u64::from(satisfied);
                });
            }
            _ => {}
        }
    }

    /// Every unit's and every category's counts, each sorted by key.
    pub fn figures(&self) -> (Figures, Figures) {
        let book = self.inner.lock().expect("performance lock");
        let sorted = |map: &HashMap<String, Counts>| {
            let mut out: Vec<_> = map.iter().map(|(k, c)| (k.clone(), *c)).collect();
            out.sort_by(|a, b| a.0.cmp(&b.0));
            out
        };
        (sorted(&book.units), sorted(&book.categories))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minhu_contracts::v1::{
        Classification, Closed, DeadlineOverdue, Dispatched, Escalated, Evaluated, Reassigned,
        Returned, ReviewRequested, RouteDecision, SignedFor, Triaged,
    };

    fn on(case: &str, kind: case_event::Event) -> CaseEvent {
        CaseEvent {
            case_id: case.into(),
            event: Some(kind),
            ..Default::default()
        }
    }

    fn route(unit: &str) -> Option<RouteDecision> {
        Some(RouteDecision {
            lead_unit_id: unit.into(),
            ..Default::default()
        })
    }

    #[test]
    fn rates_follow_the_cases_of_each_unit_and_category() {
        use case_event::Event as E;
        let book = PerformanceBook::default();
        let triaged = |category: &str| {
            E::Triaged(Triaged {
                classification: Some(Classification {
                    category: category.into(),
                    ..Default::default()
                }),
                ..Default::default()
            })
        };
        let dispatched = |unit: &str| {
            E::Dispatched(Dispatched {
                unit_id: unit.into(),
                ..Default::default()
            })
        };
        let signed = |unit: &str| {
            E::SignedFor(SignedFor {
                unit_id: unit.into(),
            })
        };
        let closed = |unit: &str| {
            E::Closed(Closed {
                unit_id: unit.into(),
                summary: String::new(),
            })
        };
        let rated = |rating: Rating| {
            E::Evaluated(Evaluated {
                rating: rating as i32,
                comment: String::new(),
            })
        };
        let events = [
            // a: on time, satisfied, then reopened by a review at the county.
            on("a", triaged("城乡建设")),
            on("a", dispatched("town")),
            on("a", signed("town")),
            on("a", closed("town")),
            on("a", rated(Rating::Unsatisfied)),
            on(
                "a",
                E::ReviewRequested(ReviewRequested {
                    route: route("county"),
                    ..Default::default()
                }),
            ),
            // b: overdue and escalated, then closed late and rated 基本满意.
            on("b", triaged("城乡建设")),
            on("b", dispatched("town")),
            on("b", signed("town")),
            on(
                "b",
                E::DeadlineOverdue(DeadlineOverdue {
                    unit_id: "town".into(),
                    ..Default::default()
                }),
            ),
            on(
                "b",
                E::DeadlineOverdue(DeadlineOverdue {
                    unit_id: "town".into(),
                    milestone: "another".into(),
                    ..Default::default()
                }),
            ),
            on(
                "b",
                E::Escalated(Escalated {
                    unit_id: "town".into(),
                    ..Default::default()
                }),
            ),
            on("b", closed("town")),
            on("b", rated(Rating::BasicallySatisfied)),
            // c: returned by the town, reassigned to the bureau, never signed.
            on("c", triaged("交通运输")),
            on("c", dispatched("town")),
            on(
                "c",
                E::Returned(Returned {
                    unit_id: "town".into(),
                    ..Default::default()
                }),
            ),
            on(
                "c",
                E::Reassigned(Reassigned {
                    from_unit_id: "town".into(),
                    route: route("bureau"),
                    reason: String::new(),
                }),
            ),
        ];
        for e in &events {
            book.apply(e);
        }
        let (units, categories) = book.figures();
        let unit = |id: &str| units.iter().find(|(k, _)| k == id).unwrap().1;
        let town = unit("town");
        assert_eq!(
            town,
            Counts {
                assigned: 3,
                signed_for: 2,
                returned: 1,
                closed: 2,
                closed_on_time: 1,
                overdue: 1,
                reopened: 1,
                rated: 2,
                satisfied: 1,
                escalated: 1,
            }
        );
        let r = town.ratios();
        assert_eq!(r.response, Some(2.0 / 3.0));
        assert_eq!(r.on_time, Some(0.5));
        assert_eq!(r.resolution, Some(0.5));
        assert_eq!(r.satisfaction, Some(0.5));
        assert_eq!(r.overdue_cases, 1);
        // The bureau has a case and nothing else yet: no rate is made up.
        let bureau = unit("bureau").ratios();
        assert_eq!(bureau.response, Some(0.0));
        assert_eq!((bureau.on_time, bureau.satisfaction), (None, None));
        assert_eq!(unit("county").assigned, 1);

        let category = |name: &str| categories.iter().find(|(k, _)| k == name).unwrap().1;
        let building = category("城乡建设");
        // Two cases, three rounds (a's review is a round of its own).
        assert_eq!(
            (building.assigned, building.signed_for, building.closed),
            (3, 2, 2)
        );
        assert_eq!(category("交通运输").returned, 1);
        let proto = building.to_proto("城乡建设", "");
        assert_eq!(proto.on_time_rate, 0.5);
        assert_eq!(unit("bureau").to_proto("bureau", "").on_time_rate, 0.0);
    }
}
