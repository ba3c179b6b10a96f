//! The deadline schedule of a case: when each milestone of its policy is due, when to warn and
//! when to escalate, given what has happened to the case (anchors, pauses, extensions).
//!
//! The counting rules are in the crate documentation. In short, every limit is a budget of
//! counted time that the clock spends from a start instant:
//!
//! | unit | starts | time counted |
//! |---|---|---|
//! | seconds, minutes, hours | at the event | all time |
//! | calendar days | 00:00 after the event's day (China time) | all time |
//! | working days | 00:00 after the event's day (China time) | time on working days |
//!
//! Paused time is never counted. The deadline is the instant the budget is spent; a
//! calendar-day deadline whose day is not a working day moves to 24:00 of the next working day.

use time::macros::offset;
use time::{Date, Duration, OffsetDateTime, Time, UtcOffset};

use crate::calendar::Calendar;
use crate::policy::{Anchor, Limit, Milestone, MilestoneRule, Policy, Unit};

/// China Standard Time, UTC+8 all year: the days of every period are China days.
pub const CHINA_TIME: UtcOffset = offset!(+8);

/// What has happened to a case that its deadlines depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseClock {
    /// When minhu received the petition (收到; the receipt's `accepted_at`). Day 0 of every
    /// period counted from receipt.
    pub received_at: OffsetDateTime,
    /// When the handling organ accepted the matter (受理), if it has. Not minhu's receipt.
    pub acceptance_at: Option<OffsetDateTime>,
    /// When the petitioner's request for 复查 was received, if it was.
    pub review_request_at: Option<OffsetDateTime>,
    /// When the petitioner's request for 复核 was received, if it was.
    pub re_review_request_at: Option<OffsetDateTime>,
    /// Stretches in which the clock stood still (waiting for the petitioner's materials, a
    /// hearing 听证, ...). They may overlap; they apply to every milestone.
    pub pauses: Vec<Pause>,
    /// Approved extensions (延期).
    pub extensions: Vec<Extension>,
}

/// A stretch of time that is not counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pause {
    /// When the clock stopped.
    pub start: OffsetDateTime,
    /// When it restarted; `None` while the pause lasts.
    pub end: Option<OffsetDateTime>,
}

/// An approved extension of one milestone's limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extension {
    /// The milestone extended.
    pub milestone: Milestone,
    /// How much is added, in the unit of the milestone's limit.
    pub value: u32,
}

/// The deadlines of a case under one policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// The policy applied, to record on the case.
    pub policy_id: String,
    /// One entry per milestone of the policy, in the policy's order.
    pub milestones: Vec<MilestoneSchedule>,
    /// Whether any milestone reached a year without calendar data.
    pub calendar_gap: bool,
}

/// The deadlines of one milestone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MilestoneSchedule {
    /// Which milestone.
    pub milestone: Milestone,
    /// The rule the limit comes from.
    pub basis: String,
    /// The limit applied: the policy's limit plus the case's extensions.
    pub limit: Limit,
    /// Whether the milestone's clock runs, and its instants if so.
    pub status: Status,
    /// True when a day the computation needed lies in a year without calendar data. Such days
    /// were taken as working days, which gives the earliest deadline any calendar could give:
    /// the deadline is safe for the petitioner, but should be recomputed once the year's notice
    /// is loaded.
    pub calendar_gap: bool,
}

/// Where a milestone's clock stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// The event it is counted from has not happened (e.g. no 复查 was requested).
    NotStarted,
    /// A pause without an end stopped the clock before the deadline: no deadline until it ends.
    Suspended {
        /// When the open pause began.
        since: OffsetDateTime,
        /// The counted time still left (working time for working-day limits).
        remaining: Duration,
    },
    /// The clock runs: these are its instants.
    Scheduled(Due),
}

/// The instants of a running milestone, in China time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// The deadline: the milestone is on time if met before this instant (24:00 of the last day
    /// for day limits, i.e. 00:00 of the day after).
    pub due_at: OffsetDateTime,
    /// When the warning share of the limit is spent.
    pub warn_at: OffsetDateTime,
    /// When each escalation step is due, in the policy's order.
    pub escalations: Vec<EscalationAt>,
    /// How much counted time the pauses took out before the deadline: what moved it.
    pub paused: Duration,
}

/// One escalation step of a milestone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EscalationAt {
    /// The supervising level to escalate to.
    pub level: u8,
    /// When.
    pub at: OffsetDateTime,
}

/// Why a schedule could not be computed: the case's events contradict themselves or the policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("pause {index} ends at {end}, before it starts at {start}")]
    PauseEndsBeforeStart {
        index: usize,
        start: OffsetDateTime,
        end: OffsetDateTime,
    },
    #[error("policy {policy} has no milestone {milestone} to extend")]
    NoSuchMilestone {
        policy: String,
        milestone: Milestone,
    },
    #[error("policy {policy} allows no extension of {milestone}")]
    ExtensionNotAllowed {
        policy: String,
        milestone: Milestone,
    },
    #[error("an extension of {milestone} must add at least 1")]
    EmptyExtension { milestone: Milestone },
    #[error("{count} extensions of {milestone}, but policy {policy} allows {max}")]
    TooManyExtensions {
        policy: String,
        milestone: Milestone,
        count: usize,
        max: u32,
    },
    #[error("extensions of {milestone} add {total}, but policy {policy} allows at most {max}")]
    ExtensionTooLong {
        policy: String,
        milestone: Milestone,
        total: u64,
        max: u32,
    },
}

impl CaseClock {
    /// A case received at `received_at` with nothing else yet.
    pub fn received(received_at: OffsetDateTime) -> CaseClock {
        CaseClock {
            received_at,
            acceptance_at: None,
            review_request_at: None,
            re_review_request_at: None,
            pauses: Vec::new(),
            extensions: Vec::new(),
        }
    }

    fn anchor(&self, anchor: Anchor) -> Option<OffsetDateTime> {
        match anchor {
            Anchor::Receipt => Some(self.received_at),
            Anchor::Acceptance => self.acceptance_at,
            Anchor::ReviewRequest => self.review_request_at,
            Anchor::ReReviewRequest => self.re_review_request_at,
        }
    }
}

/// The deadline schedule of `case` under `policy`. Pure: the same inputs give the same
/// schedule, so it can be recomputed whenever a pause, extension or anchor event arrives.
pub fn schedule(
    policy: &Policy,
    case: &CaseClock,
    calendar: &Calendar,
) -> Result<Schedule, ScheduleError> {
    let stops = merge_pauses(&case.pauses)?;
    let mut milestones = Vec::with_capacity(policy.milestones.len());
    for extension in &case.extensions {
        if policy.milestone(extension.milestone).is_none() {
            return Err(ScheduleError::NoSuchMilestone {
                policy: policy.id.clone(),
                milestone: extension.milestone,
            });
        }
    }
    for rule in &policy.milestones {
        let limit = Limit {
            value: rule
                .limit
                .value
                .saturating_add(extended_by(policy, rule, &case.extensions)?),
            unit: rule.limit.unit,
        };
        let mut days = Days {
            calendar,
            gap: false,
        };
        let status = match case.anchor(rule.from) {
            None => Status::NotStarted,
            Some(anchor) => days.plan(rule, limit, anchor, &stops),
        };
        milestones.push(MilestoneSchedule {
            milestone: rule.milestone,
            basis: rule.basis.clone(),
            limit,
            status,
            calendar_gap: days.gap,
        });
    }
    Ok(Schedule {
        policy_id: policy.id.clone(),
        calendar_gap: milestones.iter().any(|m| m.calendar_gap),
        milestones,
    })
}

/// The total of the case's extensions of `rule`, checked against the policy.
fn extended_by(
    policy: &Policy,
    rule: &MilestoneRule,
    extensions: &[Extension],
) -> Result<u32, ScheduleError> {
    let milestone = rule.milestone;
    let granted: Vec<u32> = extensions
        .iter()
        .filter(|e| e.milestone == milestone)
        .map(|e| e.value)
        .collect();
    if granted.is_empty() {
        return Ok(0);
    }
    let Some(allowed) = rule.extension else {
        return Err(ScheduleError::ExtensionNotAllowed {
            policy: policy.id.clone(),
            milestone,
        });
    };
    if granted.contains(&0) {
        return Err(ScheduleError::EmptyExtension { milestone });
    }
    if let Some(max) = allowed.max_count
        && granted.len() > max as usize
    {
        return Err(ScheduleError::TooManyExtensions {
            policy: policy.id.clone(),
            milestone,
            count: granted.len(),
            max,
        });
    }
    let total: u64 = granted.iter().map(|&v| u64::from(v)).sum();
    if total > u64::from(allowed.max_total) {
        return Err(ScheduleError::ExtensionTooLong {
            policy: policy.id.clone(),
            milestone,
            total,
            max: allowed.max_total,
        });
    }
    // Within `max_total`, so the total fits a u32.
    Ok(total as u32)
}

/// The pauses as disjoint stretches in start order, in China time. Overlapping pauses (waiting
/// for materials while a hearing is pending) stop the clock once, not twice.
fn merge_pauses(pauses: &[Pause]) -> Result<Vec<Pause>, ScheduleError> {
    let mut sorted = Vec::with_capacity(pauses.len());
    for (index, pause) in pauses.iter().enumerate() {
        if let Some(end) = pause.end
            && end < pause.start
        {
            return Err(ScheduleError::PauseEndsBeforeStart {
                index,
                start: pause.start,
                end,
            });
        }
        sorted.push(Pause {
            start: pause.start.to_offset(CHINA_TIME),
            end: pause.end.map(|e| e.to_offset(CHINA_TIME)),
        });
    }
    sorted.sort_by_key(|p| p.start);
    let mut merged: Vec<Pause> = Vec::with_capacity(sorted.len());
    for pause in sorted {
        match merged.last_mut() {
            // An open pause swallows everything after it.
            Some(Pause { end: None, .. }) => break,
            Some(last) if last.end.is_some_and(|end| pause.start <= end) => {
                last.end = pause.end.map(|e| e.max(last.end.unwrap_or(e)));
            }
            _ => merged.push(pause),
        }
    }
    Ok(merged)
}

/// How the clock ran against a list of marks.
enum Run {
    /// Every mark was reached: when, in order, and how much counted time the pauses took.
    Reached {
        at: Vec<OffsetDateTime>,
        paused: Duration,
    },
    /// An open pause stopped the clock first.
    Suspended {
        since: OffsetDateTime,
        remaining: Duration,
    },
}

/// The calendar as the arithmetic sees it: a day of a year without data counts as a working
/// day, and `gap` records that it happened.
struct Days<'a> {
    calendar: &'a Calendar,
    gap: bool,
}

impl Days<'_> {
    /// Working day or not. A day without data is taken as a working day because that is the
    /// conservative direction for every rule here: more working days only ever make a deadline
    /// earlier (working-day budgets are spent sooner, and Art. 203 has nothing to postpone).
    fn is_working(&mut self, day: Date) -> bool {
        self.calendar.is_working_day(day).unwrap_or_else(|_| {
            self.gap = true;
            true
        })
    }

    /// Whether time on `day` counts towards a limit in `unit`.
    fn counts(&mut self, unit: Unit, day: Date) -> bool {
        unit != Unit::WorkingDays || self.is_working(day)
    }

    /// The instants of one milestone counted from `anchor`.
    fn plan(
        &mut self,
        rule: &MilestoneRule,
        limit: Limit,
        anchor: OffsetDateTime,
        stops: &[Pause],
    ) -> Status {
        let anchor = anchor.to_offset(CHINA_TIME);
        // 民法典 Art. 201: a period in days does not count the day of the event.
        let start = match limit.unit {
            Unit::Seconds | Unit::Minutes | Unit::Hours => anchor,
            Unit::CalendarDays | Unit::WorkingDays => next_midnight(anchor),
        };
        let budget = length(limit);
        let warn =
            Duration::seconds((budget.whole_seconds() as f64 * rule.warn_share).round() as i64);
        match self.run(start, limit.unit, &[warn, budget], stops) {
            Run::Suspended { since, remaining } => Status::Suspended { since, remaining },
            Run::Reached { at, paused } => {
                let due_at = match limit.unit {
                    Unit::CalendarDays => self.roll_to_working_day(at[1]),
                    Unit::Seconds | Unit::Minutes | Unit::Hours | Unit::WorkingDays => at[1],
                };
                let escalations = rule
                    .escalations
                    .iter()
                    .map(|step| EscalationAt {
                        level: step.level,
                        at: self.after(due_at, step.after),
                    })
                    .collect();
                Status::Scheduled(Due {
                    due_at,
                    warn_at: at[0],
                    escalations,
                    paused,
                })
            }
        }
    }

    /// Runs the clock from `from` and finds when the counted time reaches each of `marks`
    /// (ascending). Time is walked in segments that end at each China midnight and at each pause
    /// boundary, so a segment lies in one day and is either wholly paused or wholly running.
    fn run(
        &mut self,
        from: OffsetDateTime,
        unit: Unit,
        marks: &[Duration],
        stops: &[Pause],
    ) -> Run {
        let mut t = from;
        let mut counted = Duration::ZERO;
        let mut paused = Duration::ZERO;
        let mut at = Vec::with_capacity(marks.len());
        loop {
            while let Some(&mark) = marks.get(at.len())
                && mark <= counted
            {
                at.push(t);
            }
            if at.len() == marks.len() {
                return Run::Reached { at, paused };
            }
            let stop = stops
                .iter()
                .find(|s| s.start <= t && s.end.is_none_or(|end| t < end));
            let day_end = next_midnight(t);
            let segment_end = match stop {
                Some(Pause { end: None, start }) => {
                    let last = marks.last().copied().unwrap_or(Duration::ZERO);
                    return Run::Suspended {
                        since: *start,
                        remaining: last - counted,
                    };
                }
                Some(Pause { end: Some(end), .. }) => (*end).min(day_end),
                None => stops
                    .iter()
                    .map(|s| s.start)
                    .filter(|&start| start > t)
                    .fold(day_end, OffsetDateTime::min),
            };
            let len = segment_end - t;
            if self.counts(unit, china_date(t)) {
                if stop.is_some() {
                    paused += len;
                } else {
                    while let Some(&mark) = marks.get(at.len())
                        && mark <= counted + len
                    {
                        at.push(t + (mark - counted));
                    }
                    counted += len;
                }
            }
            t = segment_end;
        }
    }

    /// `from` plus `limit` of counted time, without pauses: the offset of an escalation step.
    /// Counted from the deadline instant itself (no Art. 201 day skip, no Art. 203 roll): it is
    /// an internal supervision step, not a legal period. Pauses that begin after a deadline has
    /// passed do not delay escalation, so a unit cannot stop a clock it has already run out.
    fn after(&mut self, from: OffsetDateTime, limit: Limit) -> OffsetDateTime {
        let mut left = length(limit);
        let mut t = from;
        while left > Duration::ZERO {
            let day_end = next_midnight(t);
            if self.counts(limit.unit, china_date(t)) {
                if day_end - t >= left {
                    return t + left;
                }
                left -= day_end - t;
            }
            t = day_end;
        }
        t
    }

    /// 民法典 Art. 203: a period whose last day is a statutory rest day ends at the end of the
    /// next working day. A 调休 make-up Saturday is a working day, so a period ending on it stays.
    fn roll_to_working_day(&mut self, due: OffsetDateTime) -> OffsetDateTime {
        let local = due.to_offset(CHINA_TIME);
        // A deadline at 00:00 is 24:00 of the day before: that day is the period's last day.
        let mut last_day = if local.time() == Time::MIDNIGHT {
            local.date() - Duration::DAY
        } else {
            local.date()
        };
        if self.is_working(last_day) {
            return due;
        }
        loop {
            last_day += Duration::DAY;
            if self.is_working(last_day) {
                return end_of_day(last_day);
            }
        }
    }
}

/// A limit as a length of counted time.
fn length(limit: Limit) -> Duration {
    let unit = match limit.unit {
        Unit::Seconds => Duration::SECOND,
        Unit::Minutes => Duration::MINUTE,
        Unit::Hours => Duration::HOUR,
        Unit::CalendarDays | Unit::WorkingDays => Duration::DAY,
    };
    unit * limit.value
}

fn china_date(t: OffsetDateTime) -> Date {
    t.to_offset(CHINA_TIME).date()
}

/// 24:00 of `day`, China time, i.e. 00:00 of the day after.
fn end_of_day(day: Date) -> OffsetDateTime {
    (day + Duration::DAY).midnight().assume_offset(CHINA_TIME)
}

/// The first China midnight after `t` (strictly after, so a day always has length).
fn next_midnight(t: OffsetDateTime) -> OffsetDateTime {
    end_of_day(china_date(t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn overlapping_pauses_merge_and_an_open_pause_swallows_the_rest() {
        let pauses = [
            Pause {
                start: datetime!(2026-03-05 10:00 +8),
                end: Some(datetime!(2026-03-06 10:00 +8)),
            },
            Pause {
                start: datetime!(2026-03-01 02:00 UTC),
                end: Some(datetime!(2026-03-05 12:00 +8)),
            },
            Pause {
                start: datetime!(2026-03-10 10:00 +8),
                end: None,
            },
            Pause {
                start: datetime!(2026-03-11 10:00 +8),
                end: Some(datetime!(2026-03-12 10:00 +8)),
            },
        ];
        assert_eq!(
            merge_pauses(&pauses).unwrap(),
            [
                Pause {
                    start: datetime!(2026-03-01 10:00 +8),
                    end: Some(datetime!(2026-03-06 10:00 +8)),
                },
                Pause {
                    start: datetime!(2026-03-10 10:00 +8),
                    end: None,
                },
            ]
        );
    }

    #[test]
    fn a_pause_that_ends_before_it_starts_is_refused() {
        let pauses = [Pause {
            start: datetime!(2026-03-05 10:00 +8),
            end: Some(datetime!(2026-03-05 09:00 +8)),
        }];
        assert!(matches!(
            merge_pauses(&pauses),
            Err(ScheduleError::PauseEndsBeforeStart { index: 0, .. })
        ));
    }

    #[test]
    fn next_midnight_is_china_midnight() {
        // 16:30 UTC is already the next day in China.
        assert_eq!(
            next_midnight(datetime!(2026-03-05 16:30 UTC)),
            datetime!(2026-03-07 00:00 +8)
        );
        assert_eq!(
            next_midnight(datetime!(2026-03-06 00:00 +8)),
            datetime!(2026-03-07 00:00 +8)
        );
    }
}
