//! The unit board: which cases each unit holds, kept in memory from the case events so
//! QueueHealth and the per-unit gauges never scan the case store.
//!
//! Fed by an ordered consumer that replays `MINHU_CASE_EVENTS` from the start and then follows
//! it; every ops instance builds the same board on its own.

use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use minhu_contracts::v1::{CaseEvent, case_event};
use time::OffsetDateTime;

/// One open case as the board sees it.
#[derive(Debug, Clone)]
struct OpenCase {
    unit_id: String,
    dispatched_at: OffsetDateTime,
    handling_due_at: Option<OffsetDateTime>,
    signed_for: bool,
}

/// Per-unit figures at one instant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UnitFigures {
    pub open: u64,
    pub unsigned: u64,
    pub overdue: u64,
    pub oldest_unsigned_age: Duration,
}

#[derive(Clone, Default)]
pub struct UnitBoard {
    // A std Mutex: updates and reads are short and never cross an .await.
    inner: Arc<Mutex<Board>>,
}

/// The cases and, kept up to date with every change, each unit's tallies: reading the figures
/// of thousands of units over 100k open cases costs a walk over the units, not the cases.
struct Board {
    cases: HashMap<String, OpenCase>,
    /// Every unit that has held a case, so a unit whose last case closed reads 0, not its last
    /// figures.
    units: HashMap<String, UnitTally>,
    /// Open cases with a handling deadline, by deadline. Those due before `counted_at` are
    /// counted in their unit's `overdue`; moving `counted_at` to a new instant visits only the
    /// deadlines in between.
    dues: BTreeSet<(OffsetDateTime, String)>,
    counted_at: OffsetDateTime,
}

#[derive(Default)]
struct UnitTally {
    open: u64,
    overdue: u64,
    /// Unsigned cases by dispatch time: their number and the oldest.
    unsigned: BTreeSet<(OffsetDateTime, String)>,
}

impl Default for Board {
    fn default() -> Board {
        Board {
            cases: HashMap::new(),
            units: HashMap::new(),
            dues: BTreeSet::new(),
            counted_at: OffsetDateTime::UNIX_EPOCH,
        }
    }
}

impl Board {
    fn insert(&mut self, case_id: &str, case: OpenCase) {
        let tally = self.units.entry(case.unit_id.clone()).or_default();
        tally.open += 1;
        if !case.signed_for {
            tally
                .unsigned
                .insert((case.dispatched_at, case_id.to_owned()));
        }
        if let Some(due) = case.handling_due_at {
            if due < self.counted_at {
                tally.overdue += 1;
            }
            self.dues.insert((due, case_id.to_owned()));
        }
        self.cases.insert(case_id.to_owned(), case);
    }

    fn remove(&mut self, case_id: &str) {
        let Some(case) = self.cases.remove(case_id) else {
            return;
        };
        let tally = self
            .units
            .get_mut(&case.unit_id)
            .expect("every open case's unit has a tally");
        tally.open -= 1;
        if !case.signed_for {
            tally
                .unsigned
                .remove(&(case.dispatched_at, case_id.to_owned()));
        }
        if let Some(due) = case.handling_due_at {
            if due < self.counted_at {
                tally.overdue -= 1;
            }
            self.dues.remove(&(due, case_id.to_owned()));
        }
    }

    /// Moves the overdue counts to `now`: a case is overdue when its deadline is before `now`.
    fn count_overdue_at(&mut self, now: OffsetDateTime) {
        let (from, to, step) = match now.cmp(&self.counted_at) {
            std::cmp::Ordering::Greater => (self.counted_at, now, 1i64),
            std::cmp::Ordering::Less => (now, self.counted_at, -1),
            std::cmp::Ordering::Equal => return,
        };
        // The empty id sorts first, so these bounds take every deadline in [from, to).
        let range = (
            Bound::Included((from, String::new())),
            Bound::Excluded((to, String::new())),
        );
        for (_, case_id) in self.dues.range(range) {
            let unit = &self.cases[case_id].unit_id;
            let tally = self.units.get_mut(unit).expect("tally of an open case");
            tally.overdue = tally.overdue.wrapping_add_signed(step);
        }
        self.counted_at = now;
    }
}

impl UnitBoard {
    /// Applies one case event; events of kinds the board does not track are ignored.
    pub fn apply(&self, event: &CaseEvent) {
        use case_event::Event;
        let at = |t: &prost_types::Timestamp| OffsetDateTime::from_unix_timestamp(t.seconds).ok();
        let when = event
            .at
            .as_ref()
            .and_then(at)
            .unwrap_or_else(OffsetDateTime::now_utc);
        let mut board = self.inner.lock().expect("board lock");
        let current = board.cases.get(&event.case_id);
        let assign = |unit: &str, due: Option<OffsetDateTime>| OpenCase {
            unit_id: unit.to_owned(),
            dispatched_at: when,
            handling_due_at: due,
            signed_for: false,
        };
        let lead = |route: &Option<minhu_contracts::v1::RouteDecision>| {
            route
                .as_ref()
                .map(|r| r.lead_unit_id.clone())
                .unwrap_or_default()
        };
        // None: the case does not change; Some(None): it is no longer open.
        let next: Option<Option<OpenCase>> = match &event.event {
            Some(Event::Dispatched(d)) => {
                let due = d.handling_due_at.as_ref().and_then(at);
                Some(Some(assign(&d.unit_id, due)))
            }
            Some(Event::Reassigned(r)) => {
                let due = current.and_then(|c| c.handling_due_at);
                Some(Some(assign(&lead(&r.route), due)))
            }
            Some(Event::ReviewRequested(r)) => Some(Some(assign(&lead(&r.route), None))),
            Some(Event::Designated(d)) => current
                .filter(|c| c.unit_id != d.unit_id)
                .map(|c| Some(assign(&d.unit_id, c.handling_due_at))),
            Some(Event::SignedFor(_)) => current.filter(|c| !c.signed_for).map(|c| {
                Some(OpenCase {
                    signed_for: true,
                    ..c.clone()
                })
            }),
            Some(Event::ExtensionDecided(d)) if d.approved => current.and_then(|c| {
                let due = c.handling_due_at? + time::Duration::days(i64::from(d.days));
                Some(Some(OpenCase {
                    handling_due_at: Some(due),
                    ..c.clone()
                }))
            }),
            Some(Event::Closed(_)) => current.map(|_| None),
            // The clock's deadlines replace triage's calendar-day ones; none while paused.
            Some(Event::DeadlinesSet(d)) => current.map(|c| {
                Some(OpenCase {
                    handling_due_at: d.handling_due_at.as_ref().and_then(at),
                    ..c.clone()
                })
            }),
            _ => None,
        };
        if let Some(next) = next {
            board.remove(&event.case_id);
            if let Some(case) = next {
                board.insert(&event.case_id, case);
            }
        }
    }

    /// Every unit that has held a case since the board started, with its figures at `now`
    /// (zeros once its last case closed).
    pub fn figures(&self, now: OffsetDateTime) -> HashMap<String, UnitFigures> {
        let mut board = self.inner.lock().expect("board lock");
        board.count_overdue_at(now);
        board
            .units
            .iter()
            .map(|(unit, tally)| {
                let oldest_unsigned_age = tally
                    .unsigned
                    .first()
                    // An event stamped a little ahead of this clock is not yet old.
                    .map(|(since, _)| (now - *since).max(time::Duration::ZERO).unsigned_abs())
                    .unwrap_or_default();
                let figures = UnitFigures {
                    open: tally.open,
                    unsigned: tally.unsigned.len() as u64,
                    overdue: tally.overdue,
                    oldest_unsigned_age,
                };
                (unit.clone(), figures)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minhu_contracts::v1::Dispatched;
    use minhu_core::deadlines::timestamp;
    use time::macros::datetime;

    fn dispatched(case: &str, unit: &str, at: OffsetDateTime, due: OffsetDateTime) -> CaseEvent {
        CaseEvent {
            case_id: case.into(),
            at: Some(timestamp(at)),
            event: Some(case_event::Event::Dispatched(Dispatched {
                unit_id: unit.into(),
                handling_due_at: Some(timestamp(due)),
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    #[test]
    fn units_count_open_unsigned_and_overdue_cases() {
        let board = UnitBoard::default();
        let day = |d: u8| datetime!(2026-11-01 00:00 UTC).replace_day(d).unwrap();
        board.apply(&dispatched("a", "u1", day(1), day(10)));
        board.apply(&dispatched("b", "u1", day(5), day(30)));
        board.apply(&dispatched("c", "u2", day(6), day(30)));
        // A redelivered event changes nothing.
        board.apply(&dispatched("c", "u2", day(6), day(30)));
        let figures = board.figures(day(20));
        assert_eq!(figures.len(), 2);
        let u1 = &figures["u1"];
        assert_eq!((u1.open, u1.unsigned, u1.overdue), (2, 2, 1));
        assert_eq!(u1.oldest_unsigned_age, Duration::from_secs(19 * 86_400));
        assert_eq!(figures["u2"].open, 1);
        assert_eq!(figures["u2"].overdue, 0);

        // Signing for, reassigning and closing move the figures.
        let event = |case: &str, kind| CaseEvent {
            case_id: case.into(),
            at: Some(timestamp(day(15))),
            event: Some(kind),
            ..Default::default()
        };
        board.apply(&event(
            "a",
            case_event::Event::SignedFor(minhu_contracts::v1::SignedFor {
                unit_id: "u1".into(),
            }),
        ));
        board.apply(&event(
            "b",
            case_event::Event::Reassigned(minhu_contracts::v1::Reassigned {
                from_unit_id: "u1".into(),
                route: Some(minhu_contracts::v1::RouteDecision {
                    lead_unit_id: "u2".into(),
                    ..Default::default()
                }),
                reason: String::new(),
            }),
        ));
        board.apply(&event(
            "c",
            case_event::Event::Closed(minhu_contracts::v1::Closed::default()),
        ));
        let figures = board.figures(day(20));
        assert_eq!((figures["u1"].open, figures["u1"].unsigned), (1, 0));
        assert_eq!((figures["u2"].open, figures["u2"].unsigned), (1, 1));
    }

    #[test]
    fn the_clock_deadlines_decide_what_is_overdue() {
        let board = UnitBoard::default();
        let day = |d: u8| datetime!(2026-11-01 00:00 UTC).replace_day(d).unwrap();
        board.apply(&dispatched("a", "u1", day(1), day(30)));
        assert_eq!(board.figures(day(10))["u1"].overdue, 0);
        let set = |due: Option<OffsetDateTime>| CaseEvent {
            case_id: "a".into(),
            event: Some(case_event::Event::DeadlinesSet(
                minhu_contracts::v1::DeadlinesSet {
                    handling_due_at: due.map(timestamp),
                    ..Default::default()
                },
            )),
            ..Default::default()
        };
        board.apply(&set(Some(day(5))));
        assert_eq!(board.figures(day(10))["u1"].overdue, 1);
        // Paused: no deadline runs.
        board.apply(&set(None));
        assert_eq!(board.figures(day(10))["u1"].overdue, 0);
    }

    #[test]
    fn a_unit_whose_last_case_closed_reads_zero() {
        let board = UnitBoard::default();
        let day = |d: u8| datetime!(2026-11-01 00:00 UTC).replace_day(d).unwrap();
        board.apply(&dispatched("a", "u1", day(1), day(3)));
        assert_eq!(board.figures(day(5))["u1"].overdue, 1);
        board.apply(&CaseEvent {
            case_id: "a".into(),
            event: Some(case_event::Event::Closed(
                minhu_contracts::v1::Closed::default(),
            )),
            ..Default::default()
        });
        assert_eq!(board.figures(day(5))["u1"], UnitFigures::default());
    }

    /// The tallies against a recount over every case, through a long random history and
    /// instants that go forward and back.
    #[test]
    fn tallies_agree_with_a_recount_of_the_cases() {
        use minhu_contracts::v1::{
            Closed, Designated, ExtensionDecided, Reassigned, RouteDecision, SignedFor,
        };
        let start = datetime!(2026-11-01 00:00 UTC);
        let mut random = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move |n: u64| {
            random ^= random << 13;
            random ^= random >> 7;
            random ^= random << 17;
            random % n
        };
        let board = UnitBoard::default();
        // The reference: each case's state, recounted on every check.
        let mut reference: HashMap<String, OpenCase> = HashMap::new();
        for step in 0..4_000u64 {
            let case = format!("c{}", next(60));
            let unit = format!("u{}", next(6));
            let at = start + time::Duration::hours(step as i64);
            let kind = match next(7) {
                0 | 1 => {
                    let due = at + time::Duration::hours(next(400) as i64);
                    reference.insert(
                        case.clone(),
                        OpenCase {
                            unit_id: unit.clone(),
                            dispatched_at: at,
                            handling_due_at: Some(due),
                            signed_for: false,
                        },
                    );
                    case_event::Event::Dispatched(Dispatched {
                        unit_id: unit,
                        handling_due_at: Some(timestamp(due)),
                        ..Default::default()
                    })
                }
                2 => {
                    if let Some(c) = reference.get_mut(&case) {
                        c.signed_for = true;
                    }
                    case_event::Event::SignedFor(SignedFor { unit_id: unit })
                }
                3 => {
                    // A reassignment opens the case for its new unit even if the board never
                    // saw it dispatched.
                    let due = reference.get(&case).and_then(|c| c.handling_due_at);
                    reference.insert(
                        case.clone(),
                        OpenCase {
                            unit_id: unit.clone(),
                            dispatched_at: at,
                            handling_due_at: due,
                            signed_for: false,
                        },
                    );
                    case_event::Event::Reassigned(Reassigned {
                        route: Some(RouteDecision {
                            lead_unit_id: unit,
                            ..Default::default()
                        }),
                        ..Default::default()
                    })
                }
                4 => {
                    if let Some(c) = reference.get_mut(&case)
                        && c.unit_id != unit
                    {
                        *c = OpenCase {
                            unit_id: unit.clone(),
                            dispatched_at: at,
                            handling_due_at: c.handling_due_at,
                            signed_for: false,
                        };
                    }
                    case_event::Event::Designated(Designated {
                        unit_id: unit,
                        ..Default::default()
                    })
                }
                5 => {
                    let days = next(10) as u32;
                    if let Some(due) = reference
                        .get_mut(&case)
                        .and_then(|c| c.handling_due_at.as_mut())
                    {
                        *due += time::Duration::days(i64::from(days));
                    }
                    case_event::Event::ExtensionDecided(ExtensionDecided {
                        approved: true,
                        days,
                        ..Default::default()
                    })
                }
                _ => {
                    reference.remove(&case);
                    case_event::Event::Closed(Closed::default())
                }
            };
            board.apply(&CaseEvent {
                case_id: case,
                at: Some(timestamp(at)),
                event: Some(kind),
                ..Default::default()
            });
            if step % 50 == 0 {
                // Now, a while ahead, or back in the past.
                let now = at + time::Duration::hours(next(300) as i64 - 100);
                let mut expected: HashMap<String, UnitFigures> = board
                    .figures(now)
                    .into_keys()
                    .map(|unit| (unit, UnitFigures::default()))
                    .collect();
                for c in reference.values() {
                    let f = expected.get_mut(&c.unit_id).expect("unit is on the board");
                    f.open += 1;
                    if !c.signed_for {
                        f.unsigned += 1;
                        let age = (now - c.dispatched_at)
                            .max(time::Duration::ZERO)
                            .unsigned_abs();
                        f.oldest_unsigned_age = f.oldest_unsigned_age.max(age);
                    }
                    if c.handling_due_at.is_some_and(|due| due < now) {
                        f.overdue += 1;
                    }
                }
                assert_eq!(board.figures(now), expected, "step {step}");
            }
        }
    }
}
