//! The embedded calendar against an independent table: the crate `chinese_holiday` 2026.0.1,
//! hand-made from the same gov.cn notices. Every day of 2024-01-01 to 2026-12-25 (the end of
//! that crate's range) must agree, so a typo in either table shows up here.

use minhu_clock::Calendar;
use time::macros::date;
use time::{Date, Duration};

#[test]
fn every_day_of_2024_to_2026_agrees_with_chinese_holiday() {
    let calendar = Calendar::embedded();
    let mut day = date!(2024 - 01 - 01);
    let last = date!(2026 - 12 - 25);
    let mut checked = 0;
    let mut disagreements = Vec::new();
    while day <= last {
        let ours = calendar.is_working_day(day).expect("2024–2026 are covered");
        let theirs = chinese_holiday::chinese_holiday(ymd(day)).is_workday();
        if ours != theirs {
            disagreements.push(format!("{day}: ours {ours}, chinese_holiday {theirs}"));
        }
        checked += 1;
        day += Duration::DAY;
    }
    assert_eq!(checked, 366 + 365 + 359);
    assert!(disagreements.is_empty(), "{disagreements:#?}");
}

#[test]
fn the_days_after_the_reference_range_are_ordinary() {
    // chinese_holiday stops at 2026-12-25; no 2026 holiday is later, so the last days of 2026
    // are a plain week (Dec 26–27 weekend, Dec 28–31 Monday–Thursday).
    let calendar = Calendar::embedded();
    let tail = [
        (date!(2026 - 12 - 26), false),
        (date!(2026 - 12 - 27), false),
        (date!(2026 - 12 - 28), true),
        (date!(2026 - 12 - 31), true),
    ];
    for (day, working) in tail {
        assert_eq!(calendar.is_working_day(day), Ok(working), "{day}");
    }
}

fn ymd(day: Date) -> chinese_holiday::Ymd {
    let year = u16::try_from(day.year()).expect("a year after 2000");
    chinese_holiday::Ymd::new(year, u8::from(day.month()), day.day())
}
