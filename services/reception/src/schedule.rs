//! The session's calendar, pure: which announcement is due (挂牌、出公告 at each lead time, a
//! correction after a change, a cancellation notice) and when the next one falls; the
//! investigation deadline before the day (访前调查) and the deadline the leader sets on the day
//! (访后限期办理), on the working-day calendar.

use minhu_clock::{CHINA_TIME, Calendar};
use minhu_contracts::v1::{
    AnnouncementKind, AnnouncementRecord, Deadline, ReceptionAnnouncement, ReceptionOutcomeKind,
    ReceptionSession, SessionState,
};
use minhu_core::deadlines::timestamp;
use minhu_core::reception::{ASSIGNMENT_MILESTONE, INVESTIGATION_MILESTONE};
use time::{Date, Duration, OffsetDateTime, Time};

use crate::instant;

/// An announcement to make now.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub kind: AnnouncementKind,
    /// The lead time of a scheduled announcement.
    pub lead: Option<Duration>,
    /// A scheduled announcement made after its instant because the session was published
    /// late, or overtaking an earlier one.
    pub late: bool,
}

/// The announcer's next step for a session.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Announce(Planned),
    /// Nothing due now: look again at this instant, or never.
    Wait(Option<OffsetDateTime>),
}

/// What is due for `session` at `now`, with the lead times `leads` (longest first). One step at a
/// time: the announcer records it and asks again.
pub fn next_announcement(
    session: &ReceptionSession,
    leads: &[Duration],
    now: OffsetDateTime,
) -> Step {
    let announced = &session.announcements;
    let state = SessionState::try_from(session.state).unwrap_or_default();
    if state == SessionState::Cancelled {
        let noticed = announced
            .iter()
            .any(|a| a.kind == AnnouncementKind::Cancellation as i32);
        // Nothing public, nothing to take back.
        return if announced.is_empty() || noticed {
            Step::Wait(None)
        } else {
            Step::Announce(Planned {
                kind: AnnouncementKind::Cancellation,
                lead: None,
                late: false,
            })
        };
    }
    let Some(starts_at) = instant(session.starts_at) else {
        return Step::Wait(None);
    };
    if state != SessionState::Published || now >= starts_at {
        return Step::Wait(None);
    }
    // A scheduled announcement is made once it, or a later (shorter) one, went out.
    let made = |lead: Duration| {
        announced.iter().any(|a| {
            a.kind == AnnouncementKind::Scheduled as i32 && a.lead_seconds <= lead.whole_seconds()
        })
    };
    let due: Vec<Duration> = leads
        .iter()
        .copied()
        .filter(|lead| starts_at - *lead <= now && !made(*lead))
        .collect();
    if let Some(&lead) = due.last() {
        let published_after = instant(session.published_at).is_some_and(|p| p > starts_at - lead);
        return Step::Announce(Planned {
            kind: AnnouncementKind::Scheduled,
            lead: Some(lead),
            late: published_after || due.len() > 1,
        });
    }
    let last_edition = announced.last().map(|a| a.edition);
    if last_edition.is_some_and(|edition| session.edition > edition) {
        return Step::Announce(Planned {
            kind: AnnouncementKind::Correction,
            lead: None,
            late: false,
        });
    }
    let wake = leads
        .iter()
        .filter(|lead| !made(**lead))
        .map(|lead| starts_at - *lead)
        .filter(|at| *at > now)
        .min();
    Step::Wait(wake)
}

/// Announcement `number` of `session` as it goes on the bus.
pub fn announcement(
    session: &ReceptionSession,
    planned: &Planned,
    number: u32,
    now: OffsetDateTime,
) -> ReceptionAnnouncement {
    let correction = planned.kind == AnnouncementKind::Correction;
    let cancellation = planned.kind == AnnouncementKind::Cancellation;
    ReceptionAnnouncement {
        session_id: session.session_id.clone(),
        number,
        kind: planned.kind as i32,
        lead_seconds: planned.lead.map_or(0, |l| l.whole_seconds()),
        late: planned.late,
        session: Some(crate::session::public(session)),
        at: Some(timestamp(now)),
        changed: if correction {
            session.changed_since_announced.clone()
        } else {
            Vec::new()
        },
        reason: if cancellation {
            session.cancel_reason.clone()
        } else {
            String::new()
        },
    }
}

/// Records on the session that `announcement` went out: what it announced is public now.
pub fn record(session: &mut ReceptionSession, announcement: &ReceptionAnnouncement) {
    session.announcements.push(AnnouncementRecord {
        number: announcement.number,
        kind: announcement.kind,
        lead_seconds: announcement.lead_seconds,
        edition: announcement
            .session
            .as_ref()
            .map_or(session.edition, |s| s.edition),
        at: announcement.at,
    });
    session.changed_since_announced.clear();
}

/// The working days of the calendar; a day of a year without holiday data counts as one (so a
/// deadline counted back from the session is never earlier than a real calendar would put it
/// by more than the unknown holidays).
fn working(calendar: &Calendar, day: Date) -> bool {
    calendar.is_working_day(day).unwrap_or(true)
}

/// 00:00 China time of `day`: 24:00 of the day before.
fn midnight(day: Date) -> OffsetDateTime {
    day.with_time(Time::MIDNIGHT).assume_offset(CHINA_TIME)
}

/// 访前调查: findings are due at 24:00 of the `working_days`-th working day before the session's
/// day (0: by the session's start), warned `warn_before` earlier but never before the matter was
/// registered.
pub fn investigation_deadline(
    starts_at: OffsetDateTime,
    working_days: u32,
    warn_before: Duration,
    registered_at: OffsetDateTime,
    calendar: &Calendar,
) -> Deadline {
    let due_at = if working_days == 0 {
        starts_at
    } else {
        let mut day = starts_at.to_offset(CHINA_TIME).date();
        let mut counted = 0;
        while counted < working_days {
            day = day.previous_day().expect("dates within range");
            if working(calendar, day) {
                counted += 1;
            }
        }
        midnight(day.next_day().expect("dates within range"))
    };
    let warn_at = (due_at - warn_before).max(registered_at).min(due_at);
    let (basis, limit) = if working_days == 0 {
        (
            "访前调查准备: 接访开始前查清事项、提出处理意见".to_owned(),
            "before the session".to_owned(),
        )
    } else {
        (
            format!("访前调查准备: 接访日前{working_days}个工作日查清事项、提出处理意见"),
            format!("{working_days} working_days before the session"),
        )
    };
    Deadline {
        milestone: INVESTIGATION_MILESTONE.to_owned(),
        due_at: Some(timestamp(due_at)),
        basis,
        warn_at: Some(timestamp(warn_at)),
        suspended: false,
        limit,
    }
}

/// How the leader set a deadline on the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    At(OffsetDateTime),
    /// Working days after the session's day: due at 24:00 of the last one.
    WorkingDays(u32),
}

/// The deadline the leader sets for an assigned (交办) or leader-owned (包案) matter, decided
/// at `decided_at`; warned when three quarters of the time are spent. Refused (with the reason)
/// when it is not after `decided_at`.
pub fn outcome_deadline(
    outcome: ReceptionOutcomeKind,
    due: Due,
    session_starts_at: OffsetDateTime,
    decided_at: OffsetDateTime,
    calendar: &Calendar,
) -> Result<Deadline, String> {
    let (due_at, limit) = match due {
        Due::At(at) => (at, "set by the leader".to_owned()),
        Due::WorkingDays(0) => return Err("working_days must be at least 1".into()),
        Due::WorkingDays(n) => {
            let mut day = session_starts_at.to_offset(CHINA_TIME).date();
            let mut counted = 0;
            while counted < n {
                day = day.next_day().expect("dates within range");
                if working(calendar, day) {
                    counted += 1;
                }
            }
            (
                midnight(day.next_day().expect("dates within range")),
                format!("{n} working_days"),
            )
        }
    };
    if due_at <= decided_at {
        return Err("the deadline must be in the future".into());
    }
    let warn_at = decided_at + (due_at - decided_at) * 3 / 4;
    let basis = match outcome {
        ReceptionOutcomeKind::LeaderOwned => "领导包案: 包案领导督办，限期办结",
        _ => "领导接访交办: 限期办理并反馈",
    };
    Ok(Deadline {
        milestone: ASSIGNMENT_MILESTONE.to_owned(),
        due_at: Some(timestamp(due_at)),
        basis: basis.to_owned(),
        warn_at: Some(timestamp(warn_at)),
        suspended: false,
        limit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const START: OffsetDateTime = datetime!(2026-12-11 09:00 +8);

    fn leads() -> Vec<Duration> {
        vec![Duration::days(10), Duration::days(3)]
    }

    fn published(at: OffsetDateTime) -> ReceptionSession {
        ReceptionSession {
            session_id: "RS20261211-7K3Q".into(),
            starts_at: Some(timestamp(START)),
            state: SessionState::Published as i32,
            published_at: Some(timestamp(at)),
            edition: 1,
            ..Default::default()
        }
    }

    /// Runs the announcer at `now` until it waits: what it announced (kind, lead days, late).
    fn run(
        session: &mut ReceptionSession,
        now: OffsetDateTime,
    ) -> (Vec<(AnnouncementKind, i64, bool)>, Option<OffsetDateTime>) {
        let mut made = Vec::new();
        loop {
            match next_announcement(session, &leads(), now) {
                Step::Announce(planned) => {
                    let number = session.announcements.len() as u32 + 1;
                    let a = announcement(session, &planned, number, now);
                    made.push((planned.kind, a.lead_seconds / 86_400, a.late));
                    record(session, &a);
                    assert!(made.len() < 10, "the announcer does not settle");
                }
                Step::Wait(wake) => return (made, wake),
            }
        }
    }

    #[test]
    fn announcements_go_out_at_each_lead_time_once() {
        let mut session = published(datetime!(2026-11-20 10:00 +8));
        let (made, wake) = run(&mut session, datetime!(2026-11-20 10:00 +8));
        assert!(made.is_empty());
        assert_eq!(wake, Some(datetime!(2026-12-01 09:00 +8)));
        let (made, wake) = run(&mut session, datetime!(2026-12-01 09:00:01 +8));
        assert_eq!(made, [(AnnouncementKind::Scheduled, 10, false)]);
        assert_eq!(wake, Some(datetime!(2026-12-08 09:00 +8)));
        let (again, _) = run(&mut session, datetime!(2026-12-02 09:00 +8));
        assert!(again.is_empty());
        let (made, wake) = run(&mut session, datetime!(2026-12-08 09:00 +8));
        assert_eq!(made, [(AnnouncementKind::Scheduled, 3, false)]);
        assert_eq!(wake, None);
        let numbers: Vec<_> = session.announcements.iter().map(|a| a.number).collect();
        assert_eq!(numbers, [1, 2]);
    }

    #[test]
    fn a_late_publication_announces_at_once_and_skips_what_it_overtook() {
        // Published 5 days ahead: the 10-day notice goes out at once, marked late.
        let mut session = published(datetime!(2026-12-06 09:00 +8));
        let (made, wake) = run(&mut session, datetime!(2026-12-06 09:00 +8));
        assert_eq!(made, [(AnnouncementKind::Scheduled, 10, true)]);
        assert_eq!(wake, Some(datetime!(2026-12-08 09:00 +8)));
        // Published the day before: one announcement, the 3-day one, late.
        let mut session = published(datetime!(2026-12-10 09:00 +8));
        let (made, wake) = run(&mut session, datetime!(2026-12-10 09:00 +8));
        assert_eq!(made, [(AnnouncementKind::Scheduled, 3, true)]);
        assert_eq!(wake, None);
        // After the start nothing is announced.
        let mut session = published(datetime!(2026-11-20 09:00 +8));
        assert_eq!(run(&mut session, START).0, []);
    }

    #[test]
    fn a_change_after_an_announcement_is_corrected_at_once_and_a_cancellation_noticed() {
        let mut session = published(datetime!(2026-11-20 10:00 +8));
        // A change before anything went out needs no correction.
        session.edition = 2;
        session.changed_since_announced = vec!["place".into()];
        let (made, _) = run(&mut session, datetime!(2026-11-25 10:00 +8));
        assert!(made.is_empty());
        let (made, _) = run(&mut session, datetime!(2026-12-01 10:00 +8));
        assert_eq!(made, [(AnnouncementKind::Scheduled, 10, false)]);
        assert!(session.changed_since_announced.is_empty());
        assert_eq!(session.announcements[0].edition, 2);

        session.edition = 3;
        session.changed_since_announced = vec!["place".into()];
        let correction = match next_announcement(&session, &leads(), datetime!(2026-12-02 10:00 +8))
        {
            Step::Announce(p) => announcement(&session, &p, 2, datetime!(2026-12-02 10:00 +8)),
            other => panic!("{other:?}"),
        };
        assert_eq!(correction.kind, AnnouncementKind::Correction as i32);
        assert_eq!(correction.changed, ["place"]);
        record(&mut session, &correction);
        assert_eq!(
            next_announcement(&session, &leads(), datetime!(2026-12-02 10:00 +8)),
            Step::Wait(Some(datetime!(2026-12-08 09:00 +8)))
        );

        session.state = SessionState::Cancelled as i32;
        session.cancel_reason = "台风预警".into();
        let (made, wake) = run(&mut session, datetime!(2026-12-03 10:00 +8));
        assert_eq!(made, [(AnnouncementKind::Cancellation, 0, false)]);
        assert_eq!(wake, None);
        assert_eq!(session.announcements.last().unwrap().number, 3);

        // A session cancelled before anything was announced goes quietly.
        let mut quiet = published(datetime!(2026-11-20 10:00 +8));
        quiet.state = SessionState::Cancelled as i32;
        assert_eq!(run(&mut quiet, datetime!(2026-11-21 10:00 +8)).0, []);
    }

    #[test]
    fn the_investigation_is_due_working_days_before_the_day() {
        let calendar = Calendar::embedded();
        let registered = datetime!(2026-11-27 10:00 +8);
        for (start, days, due) in [
            // Friday session, 2 working days: Thursday and Wednesday; due 24:00 Wednesday.
            (START, 2, datetime!(2026-12-10 00:00 +8)),
            (START, 1, datetime!(2026-12-11 00:00 +8)),
            // Monday session: the weekend is skipped.
            (
                datetime!(2026-12-14 09:00 +8),
                2,
                datetime!(2026-12-11 00:00 +8),
            ),
            // 元旦 2026: Sunday 4 January is a 调休 working day (the first), 1–3 January are
            // off, Wednesday 31 December is the second: due at its 24:00.
            (
                datetime!(2026-01-05 09:00 +8),
                2,
                datetime!(2026-01-01 00:00 +8),
            ),
            (START, 0, START),
        ] {
            let deadline =
                investigation_deadline(start, days, Duration::days(1), registered, &calendar);
            assert_eq!(instant(deadline.due_at), Some(due), "{start} {days}");
            assert_eq!(deadline.milestone, "investigation");
        }
        let late = investigation_deadline(
            START,
            2,
            Duration::days(1),
            datetime!(2026-12-09 12:00 +8),
            &calendar,
        );
        assert_eq!(
            instant(late.warn_at),
            Some(datetime!(2026-12-09 12:00 +8)),
            "a warning never falls before the registration"
        );
    }

    #[test]
    fn the_leaders_deadline_counts_working_days_after_the_day() {
        let calendar = Calendar::embedded();
        let decided = datetime!(2026-12-11 11:00 +8);
        let deadline = outcome_deadline(
            ReceptionOutcomeKind::Assigned,
            Due::WorkingDays(5),
            START,
            decided,
            &calendar,
        )
        .unwrap();
        // Friday 11 December + 5 working days: 14–18 December, due 24:00 Friday 18th.
        assert_eq!(
            instant(deadline.due_at),
            Some(datetime!(2026-12-19 00:00 +8))
        );
        assert_eq!(deadline.milestone, "reception_assignment");
        assert!(instant(deadline.warn_at).unwrap() > decided);
        assert!(
            outcome_deadline(
                ReceptionOutcomeKind::LeaderOwned,
                Due::At(decided - Duration::hours(1)),
                START,
                decided,
                &calendar
            )
            .is_err()
        );
        assert!(
            outcome_deadline(
                ReceptionOutcomeKind::Assigned,
                Due::WorkingDays(0),
                START,
                decided,
                &calendar
            )
            .is_err()
        );
    }
}
