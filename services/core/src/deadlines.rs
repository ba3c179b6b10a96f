//! The statutory limits a case carries from the moment it is accepted.
//!
//! Counting follows 民法典 Art. 201: the day of receipt is not counted, a period of N days ends
//! at the end of the N-th following day, in China time. Working-day calendars and the full
//! milestone model of the 接诉即办 clock come later; these two limits are calendar days in the
//! 信访工作条例 itself, so they need no holiday table.

use minhu_contracts::v1::Deadline;
use time::{Duration, OffsetDateTime, Time};

use crate::config::DeadlineSettings;
use crate::domain::CHINA_TIME;

/// The deadlines every accepted petition starts with.
pub fn initial(accepted_at: OffsetDateTime, settings: &DeadlineSettings) -> Vec<Deadline> {
    vec![
        Deadline {
            milestone: "acceptance_notice".into(),
            due_at: Some(timestamp(end_of_day_after(
                accepted_at,
                settings.acceptance_notice_days,
            ))),
            basis: format!(
                "信访工作条例 第二十三条: 收到之日起{}日内书面告知是否受理",
                settings.acceptance_notice_days
            ),
            ..Default::default()
        },
        Deadline {
            milestone: "handling".into(),
            due_at: Some(timestamp(end_of_day_after(
                accepted_at,
                settings.handling_days,
            ))),
            basis: format!(
                "信访工作条例 第三十四条: {}日内办结",
                settings.handling_days
            ),
            ..Default::default()
        },
    ]
}

/// The last second of the `days`-th day after the day of `at`, in China time.
fn end_of_day_after(at: OffsetDateTime, days: u32) -> OffsetDateTime {
    let local = at.to_offset(CHINA_TIME);
    let last_day = local.date() + Duration::days(i64::from(days));
    last_day
        .with_time(Time::from_hms(23, 59, 59).expect("valid time"))
        .assume_offset(CHINA_TIME)
}

pub fn timestamp(at: OffsetDateTime) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.unix_timestamp(),
        nanos: at.nanosecond() as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use time::macros::datetime;

    #[test]
    fn periods_start_the_day_after_receipt_in_china_time() {
        // 23:30 on 27 Nov in China; 15 days later is 12 Dec, ending 23:59:59 China time.
        let accepted = datetime!(2026-11-27 15:30 UTC);
        let deadlines = initial(accepted, &Settings::defaults().deadlines);
        assert_eq!(deadlines[0].milestone, "acceptance_notice");
        let due = deadlines[0].due_at.as_ref().unwrap();
        assert_eq!(
            OffsetDateTime::from_unix_timestamp(due.seconds).unwrap(),
            datetime!(2026-12-12 23:59:59 +8)
        );
        let handling = deadlines[1].due_at.as_ref().unwrap();
        assert_eq!(
            OffsetDateTime::from_unix_timestamp(handling.seconds).unwrap(),
            datetime!(2027-01-26 23:59:59 +8)
        );
    }
}
