//! The Chinese working-day calendar: statutory holidays (法定节假日) and 调休 make-up workdays
//! as data, one entry per year from the State Council's yearly notice.
//!
//! The data is a TOML file (`calendar.toml`, embedded) so that next year's notice is a data
//! change, not a code change: a deployment can load a newer file with [`Calendar::from_toml`].
//! A year without data is an explicit [`OutOfRange`], never a silent Monday–Friday week.

use std::collections::BTreeMap;

use serde::Deserialize;
use time::{Date, Duration, Month, Weekday};

/// The embedded calendar: 2024, 2025 and 2026, each from its 国务院办公厅 notice.
pub const DEFAULT_CALENDAR_TOML: &str = include_str!("calendar.toml");

/// The longest run of consecutive days off a single holiday may have. The longest ever announced
/// is 9 days (春节 2026); anything far longer is a typo in a year or month, which would otherwise
/// silently turn months into holidays.
const MAX_HOLIDAY_DAYS: i64 = 15;

/// Which days are working days (工作日), for the years whose notice is loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    /// One per covered year, in year order.
    sources: Vec<YearSource>,
    /// The exceptions to the Monday–Friday week: `false` for a day off, `true` for a make-up
    /// workday.
    exceptions: BTreeMap<Date, bool>,
}

/// Where one year's data comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YearSource {
    /// The year the notice arranges.
    pub year: i32,
    /// The notice's title, document number and date.
    pub notice: String,
    /// Where the notice is published.
    pub url: String,
}

/// A day in a year for which the calendar has no data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the working-day calendar has no data for {} (asked about {date})", .date.year())]
pub struct OutOfRange {
    /// The day that was asked about.
    pub date: Date,
}

/// Why calendar data was refused.
#[derive(Debug, thiserror::Error)]
pub enum CalendarError {
    #[error("the calendar is not valid TOML of the expected shape: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("the calendar is invalid:\n  - {}", .0.join("\n  - "))]
    Invalid(Vec<String>),
}

impl Calendar {
    /// The calendar compiled into the crate ([`DEFAULT_CALENDAR_TOML`]).
    pub fn embedded() -> Calendar {
        Calendar::from_toml(DEFAULT_CALENDAR_TOML).expect("the embedded calendar is valid (tested)")
    }

    /// Reads a calendar file of the same shape as [`DEFAULT_CALENDAR_TOML`], reporting every
    /// problem in it at once.
    pub fn from_toml(text: &str) -> Result<Calendar, CalendarError> {
        let file: CalendarFile = toml::from_str(text)?;
        let mut problems = Vec::new();
        let mut sources: Vec<YearSource> = Vec::new();
        let mut exceptions = BTreeMap::new();
        for year in file.years {
            if sources.iter().any(|s| s.year == year.year) {
                problems.push(format!("{}: the year is listed twice", year.year));
                continue;
            }
            if year.notice.trim().is_empty() || year.url.trim().is_empty() {
                problems.push(format!(
                    "{}: the notice and its url must be given",
                    year.year
                ));
            }
            for holiday in &year.holidays {
                read_holiday(year.year, holiday, &mut exceptions, &mut problems);
            }
            sources.push(YearSource {
                year: year.year,
                notice: year.notice,
                url: year.url,
            });
        }
        if !problems.is_empty() {
            return Err(CalendarError::Invalid(problems));
        }
        sources.sort_by_key(|s| s.year);
        Ok(Calendar {
            sources,
            exceptions,
        })
    }

    /// Whether `date` is a working day, or [`OutOfRange`] if its year has no data.
    pub fn is_working_day(&self, date: Date) -> Result<bool, OutOfRange> {
        if !self.covers(date.year()) {
            return Err(OutOfRange { date });
        }
        Ok(match self.exceptions.get(&date) {
            Some(&working) => working,
            None => !is_weekend(date),
        })
    }

    /// Whether the notice for `year` is loaded.
    pub fn covers(&self, year: i32) -> bool {
        self.sources.iter().any(|s| s.year == year)
    }

    /// The covered years and their notices, in year order: what a case records to explain
    /// which calendar set its deadlines.
    pub fn sources(&self) -> &[YearSource] {
        &self.sources
    }
}

fn is_weekend(date: Date) -> bool {
    matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday)
}

/// Checks one holiday and adds its days to `exceptions`.
fn read_holiday(
    year: i32,
    holiday: &HolidayFile,
    exceptions: &mut BTreeMap<Date, bool>,
    problems: &mut Vec<String>,
) {
    let place = format!("{year} {}", holiday.name);
    if holiday.name.trim().is_empty() {
        problems.push(format!("{year}: a holiday has no name"));
    }
    let mut add = |date: Date, working: bool, problems: &mut Vec<String>| {
        // A notice arranges its own year and may reach back into the December before it (a 调休
        // around 元旦); a date anywhere else is a typo.
        let in_reach =
            date.year() == year || (date.year() == year - 1 && date.month() == Month::December);
        if !in_reach {
            problems.push(format!(
                "{place}: {date} is outside the year the notice arranges"
            ));
        }
        if exceptions.insert(date, working).is_some() {
            problems.push(format!("{place}: {date} is listed more than once"));
        }
    };
    let from = date_of(&holiday.off_from, &place, "off_from", problems);
    let to = date_of(&holiday.off_to, &place, "off_to", problems);
    if let (Some(from), Some(to)) = (from, to) {
        let days = (to - from).whole_days() + 1;
        if days < 1 {
            problems.push(format!("{place}: off_to {to} is before off_from {from}"));
        } else if days > MAX_HOLIDAY_DAYS {
            problems.push(format!(
                "{place}: {days} days off in a row ({from} to {to}) is not a plausible holiday"
            ));
        } else {
            let mut day = from;
            while day <= to {
                add(day, false, problems);
                day += Duration::DAY;
            }
        }
    }
    for value in &holiday.makeup_workdays {
        let Some(day) = date_of(value, &place, "makeup_workdays", problems) else {
            continue;
        };
        // 调休 moves a weekend day to work; a make-up "workday" on a weekday changes nothing and
        // is almost certainly a wrong date.
        if !is_weekend(day) {
            problems.push(format!(
                "{place}: make-up workday {day} is a {}, not a Saturday or Sunday",
                day.weekday()
            ));
        }
        add(day, true, problems);
    }
}

/// A TOML date (`2026-02-14`, unquoted) as a [`Date`]; a time or offset is a mistake.
fn date_of(
    value: &toml::value::Datetime,
    place: &str,
    field: &str,
    problems: &mut Vec<String>,
) -> Option<Date> {
    let date = match (value.date, value.time, value.offset) {
        (Some(date), None, None) => Month::try_from(date.month)
            .ok()
            .and_then(|month| Date::from_calendar_date(date.year.into(), month, date.day).ok()),
        _ => None,
    };
    if date.is_none() {
        problems.push(format!(
            "{place}: {field} {value} is not a date like 2026-02-14"
        ));
    }
    date
}

/// The file as written; [`Calendar::from_toml`] checks it and turns it into a [`Calendar`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CalendarFile {
    /// One entry per year whose notice is loaded.
    years: Vec<YearFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct YearFile {
    /// The year the notice arranges.
    year: i32,
    /// The notice's title, document number and date.
    notice: String,
    /// Where the notice is published.
    url: String,
    /// The notice's holidays, each with its days off and make-up workdays.
    holidays: Vec<HolidayFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HolidayFile {
    /// The holiday as the notice names it (春节, 国庆节、中秋节, ...).
    name: String,
    /// The first day off.
    off_from: toml::value::Datetime,
    /// The last day off (the same as `off_from` for a single day).
    off_to: toml::value::Datetime,
    /// The weekend days worked instead (调休上班).
    #[serde(default)]
    makeup_workdays: Vec<toml::value::Datetime>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn embedded_calendar_knows_holidays_and_make_up_workdays() {
        let calendar = Calendar::embedded();
        let cases = [
            // 2024: 春节 Feb 10–17 off, Sun Feb 4 and Sun Feb 18 worked.
            (date!(2024 - 02 - 04), true),
            (date!(2024 - 02 - 09), true),
            (date!(2024 - 02 - 10), false),
            (date!(2024 - 02 - 16), false),
            (date!(2024 - 02 - 18), true),
            (date!(2024 - 06 - 10), false),
            (date!(2024 - 10 - 12), true),
            // 2025: 元旦 alone, no 调休; 国庆节、中秋节 Oct 1–8.
            (date!(2025 - 01 - 01), false),
            (date!(2025 - 01 - 02), true),
            (date!(2025 - 10 - 08), false),
            (date!(2025 - 10 - 11), true),
            (date!(2025 - 12 - 31), true),
            // 2026: Sat Jan 3 is a holiday, Sun Jan 4 is worked.
            (date!(2026 - 01 - 03), false),
            (date!(2026 - 01 - 04), true),
            (date!(2026 - 02 - 14), true),
            (date!(2026 - 02 - 23), false),
            (date!(2026 - 02 - 24), true),
            (date!(2026 - 02 - 28), true),
            (date!(2026 - 03 - 01), false),
            (date!(2026 - 09 - 20), true),
            (date!(2026 - 10 - 07), false),
            (date!(2026 - 10 - 10), true),
            // Ordinary weeks.
            (date!(2026 - 03 - 06), true),
            (date!(2026 - 03 - 07), false),
        ];
        for (day, working) in cases {
            assert_eq!(calendar.is_working_day(day), Ok(working), "{day}");
        }
    }

    #[test]
    fn years_without_a_notice_are_out_of_range() {
        let calendar = Calendar::embedded();
        for day in [
            date!(2023 - 12 - 31),
            date!(2027 - 01 - 01),
            date!(2027 - 03 - 03),
        ] {
            assert_eq!(calendar.is_working_day(day), Err(OutOfRange { date: day }));
        }
        assert!(!calendar.covers(2027));
    }

    #[test]
    fn every_embedded_year_cites_its_notice() {
        let calendar = Calendar::embedded();
        let years: Vec<i32> = calendar.sources().iter().map(|s| s.year).collect();
        assert_eq!(years, [2024, 2025, 2026]);
        for source in calendar.sources() {
            let title = format!("国务院办公厅关于{}年部分节假日安排的通知", source.year);
            assert!(source.notice.contains(&title), "{}", source.notice);
            assert!(
                source.url.starts_with("https://www.gov.cn/"),
                "{}",
                source.url
            );
        }
    }

    #[test]
    fn a_replacement_file_replaces_the_data() {
        let calendar = Calendar::from_toml(
            r#"
            [[years]]
            year = 2027
            notice = "a test notice"
            url = "https://example.invalid/2027"
            [[years.holidays]]
            name = "元旦"
            off_from = 2026-12-31
            off_to = 2027-01-01
            makeup_workdays = [2027-01-02]
            "#,
        )
        .unwrap();
        assert_eq!(calendar.is_working_day(date!(2027 - 01 - 01)), Ok(false));
        assert_eq!(calendar.is_working_day(date!(2027 - 01 - 02)), Ok(true));
        assert_eq!(calendar.is_working_day(date!(2027 - 01 - 04)), Ok(true));
        // The notice reaches back into December, but 2026 itself is not covered by this file.
        assert!(calendar.is_working_day(date!(2026 - 12 - 30)).is_err());
    }

    #[test]
    fn every_problem_in_a_file_is_reported_at_once() {
        let Err(CalendarError::Invalid(problems)) = Calendar::from_toml(
            r#"
            [[years]]
            year = 2026
            notice = ""
            url = "https://example.invalid"
            [[years.holidays]]
            name = "春节"
            off_from = 2026-02-23
            off_to = 2026-02-15
            makeup_workdays = [2026-02-16, 2026-02-14T08:00:00]
            [[years.holidays]]
            name = "国庆节"
            off_from = 2026-10-01
            off_to = 2027-10-07
            [[years.holidays]]
            name = "中秋节"
            off_from = 2025-09-25
            off_to = 2025-09-27
            [[years.holidays]]
            name = "劳动节"
            off_from = 2026-05-01
            off_to = 2026-05-05
            makeup_workdays = [2026-05-03]

            [[years]]
            year = 2026
            notice = "again"
            url = "https://example.invalid"
            holidays = []
            "#,
        ) else {
            panic!("the file must be refused");
        };
        let expected = [
            "2026: the notice and its url must be given",
            "2026 春节: off_to 2026-02-15 is before off_from 2026-02-23",
            "2026 春节: make-up workday 2026-02-16 is a Monday, not a Saturday or Sunday",
            "2026 春节: makeup_workdays 2026-02-14T08:00:00 is not a date like 2026-02-14",
            "2026 国庆节: 372 days off in a row (2026-10-01 to 2027-10-07) is not a plausible holiday",
            "2026 中秋节: 2025-09-25 is outside the year the notice arranges",
            "2026 劳动节: 2026-05-03 is listed more than once",
            "2026: the year is listed twice",
        ];
        for line in expected {
            assert!(
                problems.iter().any(|p| p == line),
                "missing {line:?} in {problems:#?}"
            );
        }
        assert!(problems.len() >= expected.len());
    }

    #[test]
    fn unknown_keys_are_refused() {
        let result = Calendar::from_toml(
            r#"
            [[years]]
            year = 2026
            notice = "n"
            url = "u"
            holiday = []
            "#,
        );
        assert!(matches!(result, Err(CalendarError::Parse(_))));
    }
}
