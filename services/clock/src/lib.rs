//! minhu-clock: the pure deadline arithmetic of the 接诉即办 clock.
//!
//! No I/O and no wall clock: every function takes the instants it needs, so the clock role can
//! recompute a case's schedule whenever an event arrives and get the same answer on every
//! instance.
//!
//! # Layout
//!
//! - [`calendar`]: the Chinese working-day calendar — statutory holidays and 调休 make-up
//!   workdays as data (`calendar.toml`, embedded; replaceable with [`Calendar::from_toml`]).
//! - [`policy`]: SLA policies as configuration (`policies.toml`, embedded): profiles, selection
//!   by channel type / request type / category / urgency, milestones with limits, warning share,
//!   extension rules and escalation steps (督办).
//! - [`mod@schedule`]: a case's deadline schedule — due, warning and escalation instants per
//!   milestone, with pauses and extensions.
//!
//! # Counting rules
//!
//! - **Days** (日 and 工作日) follow 民法典 Art. 201 and 203: the day of the event is not
//!   counted, the period starts at 00:00 of the next day and ends at 24:00 of its last day,
//!   China time (UTC+8). A calendar-day period whose last day is a rest day (weekend or
//!   statutory holiday) ends at 24:00 of the next working day; a 调休 make-up Saturday is a
//!   working day. Working-day periods count only working days, so they always end on one.
//! - **Hours** run continuously from the instant of the event, through nights and holidays: the
//!   hour limits are for emergencies and utilities, which are served around the clock. Minutes
//!   and seconds run the same way (call-backs; drills and tests of a deployment's clock).
//! - **Extensions** add to the milestone's limit, in its unit, within the policy's extension rule.
//! - **Warnings** fall when the warning share (default 0.75) of the counted time is spent.
//! - **Escalation steps** fall the configured time after the deadline, counted in the step's
//!   unit from the deadline instant.
//!
//! # Pauses
//!
//! A limit is a budget of counted time (hours, days × 24 h, or working days × 24 h of time on
//! working days) and paused time does not spend it. So a deadline moves by exactly the counted
//! time the pauses took: a calendar-day deadline by the paused duration, a working-day deadline
//! by the working time actually lost. A pause over a weekend or the Spring Festival costs a
//! working-day limit nothing; one from a Friday noon to the next Wednesday noon costs three
//! working days (half of Friday, Monday, Tuesday, half of Wednesday).
//!
//! Exact time was chosen over whole days because rounding down can make a case overdue while it
//! is paused or right after it resumes, and rounding up gives a unit up to a day it never lost.
//! A deadline moved by a pause may therefore fall inside a day instead of at 24:00. A pause that
//! begins after the deadline has passed changes nothing, and does not delay escalation either.
//! While an open pause stops a clock before its deadline, the milestone is
//! [`Status::Suspended`] with its remaining time.
//!
//! # Years without calendar data
//!
//! A day in a year whose holiday notice is not loaded is taken as a working day and the result
//! is flagged `calendar_gap`. Every rule here is monotone in the set of working days — more
//! working days spend a working-day budget sooner, and Art. 203 has less to postpone — so this
//! gives the earliest deadline any real calendar could give: never late for the petitioner, and
//! never silently a Monday–Friday guess. Recompute the schedule once the notice is loaded.

pub mod calendar;
pub mod policy;
pub mod schedule;

pub use calendar::{Calendar, CalendarError, DEFAULT_CALENDAR_TOML, OutOfRange, YearSource};
pub use policy::{
    Anchor, CaseTraits, ChannelType, DEFAULT_POLICIES_TOML, EscalationStep, ExtensionRule, Limit,
    Milestone, MilestoneRule, Policy, PolicyError, Profile, RequestType, Round, SelectError,
    Selector, SlaConfig, Unit, Urgency,
};
pub use schedule::{
    CHINA_TIME, CaseClock, Due, EscalationAt, Extension, MilestoneSchedule, Pause, Schedule,
    ScheduleError, Status, schedule,
};
