//! Table-driven tests of the deadline arithmetic through the public API: holidays, 调休
//! weekends, year boundaries, China days, hours across midnight, pauses across holidays,
//! extensions, escalation, and years without calendar data.

use minhu_clock::{
    Anchor, Calendar, CaseClock, CaseTraits, ChannelType, DEFAULT_CALENDAR_TOML, Due, EscalationAt,
    EscalationStep, Extension, Limit, Milestone, MilestoneRule, Pause, Policy, ScheduleError,
    Selector, SlaConfig, Status, Unit, schedule,
};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use Unit::{CalendarDays, Hours, Minutes, Seconds, WorkingDays};

fn limit(value: u32, unit: Unit) -> Limit {
    Limit { value, unit }
}

/// A policy with one milestone (a reply counted from receipt) and the given escalation steps.
fn policy(limit: Limit, escalations: &[(Limit, u8)]) -> Policy {
    Policy {
        id: "test".into(),
        selector: Selector::default(),
        milestones: vec![MilestoneRule {
            milestone: Milestone::Reply,
            from: Anchor::Receipt,
            limit,
            warn_share: 0.75,
            extension: None,
            escalations: escalations
                .iter()
                .map(|&(after, level)| EscalationStep { after, level })
                .collect(),
            basis: "test 第1条".into(),
        }],
    }
}

fn case(
    received_at: OffsetDateTime,
    pauses: &[(OffsetDateTime, Option<OffsetDateTime>)],
) -> CaseClock {
    CaseClock {
        pauses: pauses
            .iter()
            .map(|&(start, end)| Pause { start, end })
            .collect(),
        ..CaseClock::received(received_at)
    }
}

/// The single milestone's status and calendar-gap flag.
fn status(policy: &Policy, case: &CaseClock, calendar: &Calendar) -> (Status, bool) {
    let schedule = schedule(policy, case, calendar).expect("a valid case");
    let milestone = schedule
        .milestones
        .into_iter()
        .next()
        .expect("one milestone");
    assert_eq!(milestone.calendar_gap, schedule.calendar_gap);
    (milestone.status, milestone.calendar_gap)
}

fn due(status: Status) -> Due {
    match status {
        Status::Scheduled(due) => due,
        other => panic!("expected a scheduled milestone, got {other:?}"),
    }
}

#[test]
fn deadlines_without_pauses() {
    let calendar = Calendar::embedded();
    // (what, limit, received at, due at, calendar gap)
    let table = [
        (
            "the 调休 Saturday counts, the Spring Festival does not",
            limit(5, WorkingDays),
            datetime!(2026-02-12 10:00 +8),
            datetime!(2026-02-27 00:00 +8),
            false,
        ),
        (
            "received during the holiday: counting waits for the first working day",
            limit(10, WorkingDays),
            datetime!(2026-02-20 10:00 +8),
            datetime!(2026-03-07 00:00 +8),
            false,
        ),
        (
            "a calendar-day period ending in the Spring Festival ends on the next working day",
            limit(15, CalendarDays),
            datetime!(2026-02-05 09:00 +8),
            datetime!(2026-02-25 00:00 +8),
            false,
        ),
        (
            "a calendar-day period ending on a 调休 Saturday stays there",
            limit(15, CalendarDays),
            datetime!(2026-02-13 15:00 +8),
            datetime!(2026-03-01 00:00 +8),
            false,
        ),
        (
            "a calendar-day period ending on an ordinary Sunday moves to Monday",
            limit(15, CalendarDays),
            datetime!(2026-03-07 11:00 +8),
            datetime!(2026-03-24 00:00 +8),
            false,
        ),
        (
            "days are China days: 16:30 UTC on 5 March is 6 March in China",
            limit(15, CalendarDays),
            datetime!(2026-03-05 16:30 UTC),
            datetime!(2026-03-24 00:00 +8),
            false,
        ),
        (
            "across the year boundary onto the 调休 Sunday 2026-01-04",
            limit(15, CalendarDays),
            datetime!(2025-12-20 10:00 +8),
            datetime!(2026-01-05 00:00 +8),
            false,
        ),
        (
            "working days across 2025 → 2026 skip 元旦 Jan 1–3 and count Sunday Jan 4",
            limit(5, WorkingDays),
            datetime!(2025-12-31 15:00 +8),
            datetime!(2026-01-09 00:00 +8),
            false,
        ),
        (
            "working days across 2024 → 2025 skip the single day of 元旦",
            limit(3, WorkingDays),
            datetime!(2024-12-30 10:00 +8),
            datetime!(2025-01-04 00:00 +8),
            false,
        ),
        (
            "the day of receipt is not counted even when received at 00:00",
            limit(1, CalendarDays),
            datetime!(2026-03-03 00:00 +8),
            datetime!(2026-03-05 00:00 +8),
            false,
        ),
        (
            "hours run across midnight and through the Spring Festival",
            limit(2, Hours),
            datetime!(2026-02-16 23:10 +8),
            datetime!(2026-02-17 01:10 +8),
            false,
        ),
        (
            "hours given in UTC",
            limit(2, Hours),
            datetime!(2026-02-16 15:10 UTC),
            datetime!(2026-02-17 01:10 +8),
            false,
        ),
        (
            "24 hours into National Day",
            limit(24, Hours),
            datetime!(2026-09-30 18:00 +8),
            datetime!(2026-10-01 18:00 +8),
            false,
        ),
        (
            "a working-day period ending on 2026-12-31 needs no 2027 data",
            limit(3, WorkingDays),
            datetime!(2026-12-28 10:00 +8),
            datetime!(2027-01-01 00:00 +8),
            false,
        ),
        (
            "working days into 2027: unknown days, weekend included, count as working days",
            limit(5, WorkingDays),
            datetime!(2026-12-30 10:00 +8),
            datetime!(2027-01-05 00:00 +8),
            true,
        ),
        (
            "calendar days ending on an unknown 2027-01-01 are not postponed",
            limit(15, CalendarDays),
            datetime!(2026-12-17 10:00 +8),
            datetime!(2027-01-02 00:00 +8),
            true,
        ),
        (
            "minutes run continuously across midnight, like hours",
            limit(30, Minutes),
            datetime!(2026-02-16 23:50 +8),
            datetime!(2026-02-17 00:20 +8),
            false,
        ),
        (
            "seconds keep the instant's sub-second part",
            limit(90, Seconds),
            datetime!(2026-10-01 08:00:00.250 +8),
            datetime!(2026-10-01 08:01:30.250 +8),
            false,
        ),
        (
            "hours never need the calendar",
            limit(2, Hours),
            datetime!(2027-03-01 10:00 +8),
            datetime!(2027-03-01 12:00 +8),
            false,
        ),
    ];
    for (what, limit, received, expected, gap) in table {
        let (status, flagged) = status(&policy(limit, &[]), &case(received, &[]), &calendar);
        assert_eq!(due(status).due_at, expected, "{what}");
        assert_eq!(flagged, gap, "{what}: calendar gap");
    }
}

#[test]
fn pauses_are_not_counted() {
    let calendar = Calendar::embedded();
    // 10 working days from Monday 2026-02-09: Feb 10–14 (the 14th is a 调休 Saturday), the
    // Spring Festival Feb 15–23, then Feb 24–28 (the 28th is a 调休 Saturday).
    let working = limit(10, WorkingDays);
    let working_received = datetime!(2026-02-09 09:00 +8);
    // 15 calendar days from Monday 2026-03-02: Tuesday 17 March.
    let calendar_days = limit(15, CalendarDays);
    let calendar_received = datetime!(2026-03-02 10:00 +8);
    // (what, limit, received, pauses, due at, paused)
    let table = [
        (
            "no pause",
            working,
            working_received,
            vec![],
            datetime!(2026-03-01 00:00 +8),
            Duration::ZERO,
        ),
        (
            "a pause across the Spring Festival costs only the working time in it (3 days)",
            working,
            working_received,
            vec![(
                datetime!(2026-02-13 12:00 +8),
                Some(datetime!(2026-02-25 12:00 +8)),
            )],
            datetime!(2026-03-05 00:00 +8),
            Duration::hours(72),
        ),
        (
            "a pause inside the holiday costs nothing",
            working,
            working_received,
            vec![(
                datetime!(2026-02-16 09:00 +8),
                Some(datetime!(2026-02-20 17:00 +8)),
            )],
            datetime!(2026-03-01 00:00 +8),
            Duration::ZERO,
        ),
        (
            "a pause across the deadline leaves the time that was left after resuming",
            working,
            working_received,
            // 6 h of the 调休 Saturday were left; Sunday does not count; Monday and 9 h of
            // Tuesday are lost.
            vec![(
                datetime!(2026-02-28 18:00 +8),
                Some(datetime!(2026-03-03 09:00 +8)),
            )],
            datetime!(2026-03-03 15:00 +8),
            Duration::hours(39),
        ),
        (
            "a calendar-day deadline moves by the paused duration",
            calendar_days,
            calendar_received,
            vec![(
                datetime!(2026-03-05 09:00 +8),
                Some(datetime!(2026-03-07 09:00 +8)),
            )],
            datetime!(2026-03-20 00:00 +8),
            Duration::hours(48),
        ),
        (
            "a moved calendar-day deadline landing on Saturday goes to Monday 24:00",
            calendar_days,
            calendar_received,
            vec![(
                datetime!(2026-03-05 09:00 +8),
                Some(datetime!(2026-03-08 15:00 +8)),
            )],
            datetime!(2026-03-24 00:00 +8),
            Duration::hours(78),
        ),
        (
            "overlapping pauses count once",
            calendar_days,
            calendar_received,
            vec![
                (
                    datetime!(2026-03-05 09:00 +8),
                    Some(datetime!(2026-03-06 09:00 +8)),
                ),
                (
                    datetime!(2026-03-05 21:00 +8),
                    Some(datetime!(2026-03-07 09:00 +8)),
                ),
            ],
            datetime!(2026-03-20 00:00 +8),
            Duration::hours(48),
        ),
        (
            "a pause on the day of receipt, before counting starts, changes nothing",
            calendar_days,
            calendar_received,
            vec![(
                datetime!(2026-03-02 11:00 +8),
                Some(datetime!(2026-03-02 20:00 +8)),
            )],
            datetime!(2026-03-18 00:00 +8),
            Duration::ZERO,
        ),
        (
            "a pause after the deadline changes nothing",
            calendar_days,
            calendar_received,
            vec![(
                datetime!(2026-03-20 09:00 +8),
                Some(datetime!(2026-03-25 09:00 +8)),
            )],
            datetime!(2026-03-18 00:00 +8),
            Duration::ZERO,
        ),
        (
            "an open pause after the deadline changes nothing either",
            calendar_days,
            calendar_received,
            vec![(datetime!(2026-03-20 09:00 +8), None)],
            datetime!(2026-03-18 00:00 +8),
            Duration::ZERO,
        ),
        (
            "hours: a pause moves the deadline by its length",
            limit(24, Hours),
            datetime!(2026-03-02 10:00 +8),
            vec![(
                datetime!(2026-03-02 22:00 +8),
                Some(datetime!(2026-03-03 01:30 +8)),
            )],
            datetime!(2026-03-03 13:30 +8),
            Duration::minutes(210),
        ),
    ];
    let escalation = [(limit(1, WorkingDays), 1)];
    for (what, limit, received, pauses, expected, paused) in table {
        let (status, _) = status(
            &policy(limit, &escalation),
            &case(received, &pauses),
            &calendar,
        );
        let due = due(status);
        assert_eq!(due.due_at, expected, "{what}");
        assert_eq!(due.paused, paused, "{what}: paused");
        assert!(
            due.warn_at < due.due_at,
            "{what}: warning before the deadline"
        );
        assert!(
            due.escalations[0].at > due.due_at,
            "{what}: escalation after it"
        );
    }
}

#[test]
fn an_open_pause_suspends_the_clock_with_the_time_left() {
    let calendar = Calendar::embedded();
    let started = datetime!(2026-02-13 12:00 +8);
    let (status, _) = status(
        &policy(limit(10, WorkingDays), &[]),
        &case(datetime!(2026-02-09 09:00 +8), &[(started, None)]),
        &calendar,
    );
    // Feb 10, 11, 12 and the morning of the 13th were spent: 6.5 working days are left.
    assert_eq!(
        status,
        Status::Suspended {
            since: started,
            remaining: Duration::hours(156),
        }
    );
}

#[test]
fn warning_and_escalation_instants() {
    let calendar = Calendar::embedded();
    let config = SlaConfig::embedded();
    let zhejiang = config.policy("xinfang-zhejiang").unwrap();
    let received = CaseClock::received(datetime!(2026-02-12 10:00 +8));
    let acceptance = &schedule(zhejiang, &received, &calendar).unwrap().milestones[0];
    assert_eq!(acceptance.milestone, Milestone::AcceptanceNotice);
    // 5 working days: Feb 13, the 调休 Saturday 14th, then Feb 24, 25, 26. The warning falls at
    // 3.75 working days, 18:00 on the 25th. Escalation: one working day after the deadline
    // (Friday 27th), then three (27th, the 调休 Saturday 28th, Monday 2 March).
    assert_eq!(
        acceptance.status,
        Status::Scheduled(Due {
            due_at: datetime!(2026-02-27 00:00 +8),
            warn_at: datetime!(2026-02-25 18:00 +8),
            escalations: vec![
                EscalationAt {
                    level: 1,
                    at: datetime!(2026-02-28 00:00 +8)
                },
                EscalationAt {
                    level: 2,
                    at: datetime!(2026-03-03 00:00 +8)
                },
            ],
            paused: Duration::ZERO,
        })
    );

    // Escalation in working days waits out National Day; hours do not wait for anything.
    let national = config.policy("xinfang-national").unwrap();
    let received = CaseClock::received(datetime!(2026-09-15 10:00 +8));
    let acceptance = due(
        schedule(national, &received, &calendar).unwrap().milestones[0]
            .status
            .clone(),
    );
    assert_eq!(acceptance.due_at, datetime!(2026-10-01 00:00 +8));
    assert_eq!(
        acceptance.escalations,
        [
            EscalationAt {
                level: 1,
                at: datetime!(2026-10-09 00:00 +8)
            },
            EscalationAt {
                level: 2,
                at: datetime!(2026-10-14 00:00 +8)
            },
        ]
    );

    let emergency = config.policy("hotline-emergency").unwrap();
    let received = CaseClock::received(datetime!(2026-05-01 23:30 +8));
    let reply = due(schedule(emergency, &received, &calendar)
        .unwrap()
        .milestones[0]
        .status
        .clone());
    assert_eq!(reply.due_at, datetime!(2026-05-02 01:30 +8));
    assert_eq!(reply.warn_at, datetime!(2026-05-02 01:00 +8));
    let at: Vec<_> = reply.escalations.iter().map(|e| (e.level, e.at)).collect();
    assert_eq!(
        at,
        [
            (1, datetime!(2026-05-02 02:30 +8)),
            (2, datetime!(2026-05-02 03:30 +8)),
        ]
    );
}

#[test]
fn the_national_profile_from_receipt_to_re_review() {
    let calendar = Calendar::embedded();
    let mut config = SlaConfig::embedded();
    config.active = vec!["xinfang-national".into()];
    config.validate().unwrap();
    let policy = config
        .select(&CaseTraits {
            channel_type: ChannelType::Petition,
            request_type: None,
            category: None,
            urgency: None,
        })
        .unwrap();
    let mut case = CaseClock::received(datetime!(2026-03-02 10:00 +8));
    case.acceptance_at = Some(datetime!(2026-03-10 15:00 +8));

    let due_of = |case: &CaseClock| -> Vec<(Milestone, Option<OffsetDateTime>)> {
        schedule(policy, case, &calendar)
            .unwrap()
            .milestones
            .into_iter()
            .map(|m| {
                let at = match m.status {
                    Status::Scheduled(due) => Some(due.due_at),
                    Status::NotStarted => None,
                    Status::Suspended { .. } => panic!("{} is suspended", m.milestone),
                };
                (m.milestone, at)
            })
            .collect()
    };
    use Milestone::*;
    assert_eq!(
        due_of(&case),
        [
            // 15 days from receipt: Tuesday 17 March.
            (AcceptanceNotice, Some(datetime!(2026-03-18 00:00 +8))),
            // 5 working days: 3–6 and 9 March.
            (ObjectionWindow, Some(datetime!(2026-03-10 00:00 +8))),
            // 60 days from acceptance: 9 May, a 调休 Saturday, so it stays.
            (Resolution, Some(datetime!(2026-05-10 00:00 +8))),
            (Review, None),
            (ReReview, None),
        ]
    );

    // One approved extension of 30 days: 8 June.
    case.extensions.push(Extension {
        milestone: Resolution,
        value: 30,
    });
    // 复查 requested on 20 June: 30 days, 20 July.
    case.review_request_at = Some(datetime!(2026-06-20 09:00 +8));
    // 复核 requested on 3 August, with a hearing (听证) of 56 hours, which is not counted: 2
    // September + 56 h is Saturday 5 September, so the period ends on Monday the 7th.
    case.re_review_request_at = Some(datetime!(2026-08-03 09:00 +8));
    case.pauses.push(Pause {
        start: datetime!(2026-08-10 09:00 +8),
        end: Some(datetime!(2026-08-12 17:00 +8)),
    });
    assert_eq!(
        due_of(&case),
        [
            (AcceptanceNotice, Some(datetime!(2026-03-18 00:00 +8))),
            (ObjectionWindow, Some(datetime!(2026-03-10 00:00 +8))),
            (Resolution, Some(datetime!(2026-06-09 00:00 +8))),
            (Review, Some(datetime!(2026-07-21 00:00 +8))),
            (ReReview, Some(datetime!(2026-09-08 00:00 +8))),
        ]
    );
}

#[test]
fn extensions_are_checked_against_the_policy() {
    use Milestone::{ObjectionWindow, Reply, Resolution};
    let calendar = Calendar::embedded();
    let config = SlaConfig::embedded();
    let national = config.policy("xinfang-national").unwrap();
    let zhejiang = config.policy("xinfang-zhejiang").unwrap();
    let with = |extensions: &[(Milestone, u32)]| CaseClock {
        acceptance_at: Some(datetime!(2026-03-10 15:00 +8)),
        extensions: extensions
            .iter()
            .map(|&(milestone, value)| Extension { milestone, value })
            .collect(),
        ..CaseClock::received(datetime!(2026-03-02 10:00 +8))
    };
    let error = |policy: &Policy, extensions: &[(Milestone, u32)]| {
        schedule(policy, &with(extensions), &calendar).unwrap_err()
    };
    assert!(matches!(
        error(national, &[(Resolution, 10), (Resolution, 10)]),
        ScheduleError::TooManyExtensions {
            count: 2,
            max: 1,
            ..
        }
    ));
    assert!(matches!(
        error(national, &[(Resolution, 31)]),
        ScheduleError::ExtensionTooLong {
            total: 31,
            max: 30,
            ..
        }
    ));
    assert!(matches!(
        error(national, &[(ObjectionWindow, 1)]),
        ScheduleError::ExtensionNotAllowed {
            milestone: ObjectionWindow,
            ..
        }
    ));
    assert!(matches!(
        error(national, &[(Reply, 1)]),
        ScheduleError::NoSuchMilestone {
            milestone: Reply,
            ..
        }
    ));
    assert!(matches!(
        error(national, &[(Resolution, 0)]),
        ScheduleError::EmptyExtension { .. }
    ));
    // 浙江 allows any number of extensions up to 60 days in total.
    assert!(matches!(
        error(zhejiang, &[(Resolution, 20), (Resolution, 41)]),
        ScheduleError::ExtensionTooLong {
            total: 61,
            max: 60,
            ..
        }
    ));
    let extended = schedule(
        zhejiang,
        &with(&[(Resolution, 20), (Resolution, 40)]),
        &calendar,
    )
    .unwrap();
    let resolution = extended
        .milestones
        .iter()
        .find(|m| m.milestone == Resolution)
        .unwrap();
    assert_eq!(resolution.limit, limit(90, CalendarDays));
    // 10 March + 90 days = 8 June, a Monday.
    assert_eq!(
        due(resolution.status.clone()).due_at,
        datetime!(2026-06-09 00:00 +8)
    );
}

#[test]
fn a_calendar_gap_never_gives_a_later_deadline_than_real_data() {
    let embedded = Calendar::embedded();
    // Possible 2027 arrangements; whatever the real notice says, the gap deadline must not be
    // later than the deadline under it.
    let possible_2027 = [
        "holidays = []",
        r#"
        [[years.holidays]]
        name = "元旦"
        off_from = 2027-01-01
        off_to = 2027-01-03
        "#,
        r#"
        [[years.holidays]]
        name = "元旦"
        off_from = 2026-12-31
        off_to = 2027-01-03
        makeup_workdays = [2027-01-09]
        [[years.holidays]]
        name = "春节"
        off_from = 2027-02-06
        off_to = 2027-02-14
        makeup_workdays = [2027-02-20]
        "#,
    ];
    let cases = [
        (limit(5, WorkingDays), datetime!(2026-12-30 10:00 +8)),
        (limit(10, WorkingDays), datetime!(2027-02-01 10:00 +8)),
        (limit(15, CalendarDays), datetime!(2026-12-17 10:00 +8)),
        (limit(15, CalendarDays), datetime!(2027-01-25 10:00 +8)),
    ];
    let escalation = [(limit(2, WorkingDays), 1)];
    for extra in possible_2027 {
        let known = Calendar::from_toml(&format!(
            "{DEFAULT_CALENDAR_TOML}
            [[years]]
            year = 2027
            notice = \"a possible notice\"
            url = \"https://example.invalid\"
            {extra}"
        ))
        .unwrap();
        assert!(known.covers(2027));
        for (limit, received) in cases {
            let policy = policy(limit, &escalation);
            let (with_gap, flagged) = status(&policy, &case(received, &[]), &embedded);
            let (with_data, unflagged) = status(&policy, &case(received, &[]), &known);
            assert!(flagged && !unflagged, "{limit:?} from {received}");
            let (gap, data) = (due(with_gap), due(with_data));
            assert!(
                gap.due_at <= data.due_at,
                "{limit:?} from {received}: {extra}"
            );
            assert!(
                gap.warn_at <= data.warn_at,
                "{limit:?} from {received}: {extra}"
            );
            assert!(
                gap.escalations[0].at <= data.escalations[0].at,
                "{limit:?} from {received}: {extra}"
            );
        }
    }
}

#[test]
fn milestones_wait_for_their_anchor_event() {
    let calendar = Calendar::embedded();
    let mut policy = policy(limit(30, CalendarDays), &[]);
    policy.milestones[0].from = Anchor::ReviewRequest;
    let (status, gap) = status(
        &policy,
        &case(datetime!(2026-03-02 10:00 +8), &[]),
        &calendar,
    );
    assert_eq!(status, Status::NotStarted);
    assert!(!gap);
}
