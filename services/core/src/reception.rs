//! 领导下访接访, the part every role shares: the `[reception]` settings and what the reception
//! events mean for a case view (the rest of the fold is [`crate::case::apply`]). The sessions
//! themselves, their rules and their edges are the `minhu-reception` crate.

use std::fmt;
use std::str::FromStr;

use minhu_contracts::v1::{
    CaseStatus, CaseView, HistoryEntry, ReceptionOutcomeKind, ReceptionState, RegistrationRefusal,
    SessionSummary, case_event,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::domain::CHINA_TIME;

/// The milestone of the pre-visit investigation (访前调查) on the clock.
pub const INVESTIGATION_MILESTONE: &str = "investigation";
/// The milestone of the deadline the leader set on the day (交办 or 包案).
pub const ASSIGNMENT_MILESTONE: &str = "reception_assignment";

/// Reception sessions: announcements, registration and the investigation before the day.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceptionSettings {
    /// 挂牌、出公告: how long before a session starts each announcement goes out, longest first
    /// (the 浦江经验: 10 days, then again 3 days).
    pub announce_leads: Vec<Span>,
    /// Registrations close this long before a session starts, unless it sets its own close.
    pub registration_closes_before: Span,
    /// 访前调查: a registered matter's findings are due at 24:00 of this working day before the
    /// session's day; 0: by the session's start.
    pub investigation_working_days: u32,
    /// The unit is warned this long before the investigation deadline.
    pub investigation_warn_before: Span,
    /// How long a session without its own end lasts.
    pub default_length: Span,
    /// Per-session report gauges on `/metrics` cover the sessions that started within this
    /// many days, and the upcoming ones.
    pub report_days: u32,
    /// How often the dispatch role refreshes those gauges.
    pub report_interval_secs: u64,
    /// A fired session timer an instance has not finished within this time goes to another.
    pub ack_wait_secs: u64,
}

impl ReceptionSettings {
    /// What is wrong with these settings.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.announce_leads.is_empty() {
            problems.push("reception.announce_leads needs at least one lead time".into());
        }
        if self.announce_leads.iter().any(|l| l.seconds() == 0) {
            problems.push("reception.announce_leads must be longer than 0".into());
        }
        if self.default_length.seconds() == 0 {
            problems.push("reception.default_length must be longer than 0".into());
        }
        if self.report_interval_secs == 0 || self.ack_wait_secs == 0 {
            problems
                .push("reception.report_interval_secs and ack_wait_secs must be at least 1".into());
        }
        problems
    }

    /// The lead times, longest first (the order announcements go out in).
    pub fn leads_longest_first(&self) -> Vec<time::Duration> {
        let mut leads: Vec<_> = self.announce_leads.iter().map(Span::duration).collect();
        leads.sort_by(|a, b| b.cmp(a));
        leads.dedup();
        leads
    }
}

/// A length of time written the way people write it: a whole number and a unit, `10d`, `3h`,
/// `30m` or `5s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Span {
    seconds: u64,
    unit: char,
}

impl Span {
    pub fn seconds(&self) -> u64 {
        self.seconds
    }

    pub fn duration(&self) -> time::Duration {
        time::Duration::seconds(i64::try_from(self.seconds).unwrap_or(i64::MAX))
    }
}

impl FromStr for Span {
    type Err = String;

    fn from_str(text: &str) -> Result<Span, String> {
        let invalid = || format!("{text:?} is not a length of time (e.g. 10d, 3h, 30m, 5s)");
        let unit = text.chars().last().ok_or_else(invalid)?;
        let per = match unit {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return Err(invalid()),
        };
        let value: u64 = text[..text.len() - 1].parse().map_err(|_| invalid())?;
        let seconds = value.checked_mul(per).ok_or_else(invalid)?;
        Ok(Span { seconds, unit })
    }
}

impl TryFrom<String> for Span {
    type Error = String;

    fn try_from(text: String) -> Result<Span, String> {
        text.parse()
    }
}

impl From<Span> for String {
    fn from(span: Span) -> String {
        span.to_string()
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let per = match self.unit {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            _ => 1,
        };
        write!(f, "{}{}", self.seconds / per, self.unit)
    }
}

/// Folds a reception event into the view; the history entry the petitioner reads, if any.
pub(crate) fn fold(
    view: &mut CaseView,
    event: &case_event::Event,
    at: Option<prost_types::Timestamp>,
) -> Option<HistoryEntry> {
    use case_event::Event;
    let status = CaseStatus::try_from(view.status).unwrap_or_default();
    let entry = |note: String| {
        Some(HistoryEntry {
            at,
            status: status as i32,
            note,
        })
    };
    match event {
        Event::ReceptionRegistered(r) => {
            let reception = view.reception.get_or_insert_default();
            reception.session_id = r
                .session
                .as_ref()
                .map(|s| s.session_id.clone())
                .unwrap_or_default();
            reception.state = ReceptionState::Registered as i32;
            reception.session = r.session.clone();
            reception.matter_case_id = r.matter_case_id.clone();
            reception.investigation = r.investigation.clone();
            reception.refusal = RegistrationRefusal::Unspecified as i32;
            reception.offered = None;
            if !r.registered_via.is_empty() {
                reception.registered_via = r.registered_via.clone();
                return entry(format!("本事项已列入{}", session_words(r.session.as_ref())));
            }
            entry(format!("已登记参加{}", session_words(r.session.as_ref())))
        }
        Event::ReceptionOffered(o) => {
            let reception = view.reception.get_or_insert_default();
            reception.session_id = o.session_id.clone();
            reception.refusal = o.refusal;
            reception.offered = o.offered.clone();
            let why = match RegistrationRefusal::try_from(o.refusal).unwrap_or_default() {
                RegistrationRefusal::Full => "名额已满",
                RegistrationRefusal::Window => "不在登记时间内",
                RegistrationRefusal::NotOpen | RegistrationRefusal::Unknown => "无法登记",
                RegistrationRefusal::NotCovered => "不接待本地区或本类事项",
                RegistrationRefusal::Unspecified => "无法登记",
            };
            match &o.offered {
                Some(next) => {
                    reception.state = ReceptionState::Offered as i32;
                    entry(format!(
                        "所选领导接访{why}，可改约{}；本事项同时按正常程序办理",
                        session_words(Some(next))
                    ))
                }
                None => {
                    reception.state = ReceptionState::NormalHandling as i32;
                    entry(format!("所选领导接访{why}，本事项按正常程序办理"))
                }
            }
        }
        Event::ReceptionChanged(c) => {
            let reception = view.reception.get_or_insert_default();
            if c.cancelled {
                reception.state = ReceptionState::Cancelled as i32;
                reception.investigation = None;
                return entry(format!(
                    "领导接访活动已取消（{}），本事项按正常程序办理",
                    c.reason
                ));
            }
            reception.session = c.session.clone();
            if c.investigation.is_some() {
                reception.investigation = c.investigation.clone();
            }
            entry(format!(
                "接访安排变更为{}",
                session_words(c.session.as_ref())
            ))
        }
        Event::FindingsRecorded(f) => {
            let reception = view.reception.get_or_insert_default();
            reception.findings = f.findings.clone();
            reception.findings_at = at;
            reception.findings_unit_id = f.unit_id.clone();
            let state = crate::case::milestone_state(view, INVESTIGATION_MILESTONE);
            if state.met_at.is_none() {
                state.met_at = at;
            }
            entry("承办单位已完成访前调查".into())
        }
        Event::ReceptionDecided(d) => {
            let reception = view.reception.get_or_insert_default();
            reception.state = ReceptionState::Decided as i32;
            reception.outcome = d.outcome;
            reception.outcome_summary = d.summary.clone();
            reception.outcome_deadline = d.deadline.clone();
            reception.outcome_at = at;
            let due = d
                .deadline
                .as_ref()
                .map(|deadline| day_words(deadline.due_at))
                .unwrap_or_default();
            match ReceptionOutcomeKind::try_from(d.outcome).unwrap_or_default() {
                ReceptionOutcomeKind::Resolved => {
                    // The answer given on the spot is the case's reply (答复): the petitioner
                    // rates it, the lead unit closes the case.
                    view.status = CaseStatus::Replied as i32;
                    view.replied_at = at;
                    view.reply = d.summary.clone();
                    for milestone in ["reply", "first_contact"] {
                        let state = crate::case::milestone_state(view, milestone);
                        if state.met_at.is_none() {
                            state.met_at = at;
                        }
                    }
                    Some(HistoryEntry {
                        at,
                        status: CaseStatus::Replied as i32,
                        note: "领导接访当场答复".into(),
                    })
                }
                ReceptionOutcomeKind::Assigned => entry(format!("领导接访交办，限{due}前办理")),
                ReceptionOutcomeKind::LeaderOwned => {
                    view.leader = d.leader.clone();
                    let who = d
                        .leader
                        .as_ref()
                        .map(|l| format!("{}{}", l.post, l.name))
                        .unwrap_or_default();
                    entry(format!("由{who}包案督办，限{due}前办理"))
                }
                ReceptionOutcomeKind::Unspecified => None,
            }
        }
        _ => None,
    }
}

/// A session as the petitioner reads it: who receives, when, where.
fn session_words(session: Option<&SessionSummary>) -> String {
    let Some(s) = session else {
        return "领导接访".into();
    };
    let leader = s
        .leader
        .as_ref()
        .map(|l| format!("{}{}", l.post, l.name))
        .unwrap_or_default();
    let place = if s.online {
        "网上".to_owned()
    } else {
        s.place.clone()
    };
    format!("{}{}在{}的领导接访", day_words(s.starts_at), leader, place)
}

/// A day and time, China time: "2026-12-11 09:00".
fn day_words(at: Option<prost_types::Timestamp>) -> String {
    let Some(at) = at.and_then(|t| OffsetDateTime::from_unix_timestamp(t.seconds).ok()) else {
        return String::new();
    };
    let local = at.to_offset(CHINA_TIME);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        local.year(),
        u8::from(local.month()),
        local.day(),
        local.hour(),
        local.minute()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_and_print_as_people_write_them() {
        for (text, seconds) in [("10d", 864_000), ("3h", 10_800), ("30m", 1_800), ("5s", 5)] {
            let span: Span = text.parse().unwrap();
            assert_eq!(span.seconds(), seconds);
            assert_eq!(span.to_string(), text);
        }
        for bad in ["", "d", "10", "10w", "-1d", "1.5d", "99999999999999999999d"] {
            assert!(bad.parse::<Span>().is_err(), "{bad:?} accepted");
        }
    }

    fn on(view: &mut CaseView, number: u64, event: case_event::Event) {
        let event = minhu_contracts::v1::CaseEvent {
            case_id: "MH20261127-0000001".into(),
            at: Some(prost_types::Timestamp {
                seconds: 1_800_000_000 + number as i64,
                nanos: 0,
            }),
            actor: "test".into(),
            number,
            event: Some(event),
        };
        crate::case::apply(view, &event);
    }

    #[test]
    fn the_reception_events_tell_the_petitioner_and_the_clock() {
        use case_event::Event;
        use minhu_contracts::v1::{
            FindingsRecorded, Leader, ReceptionChanged, ReceptionDecided, ReceptionOffered,
            ReceptionRegistered,
        };
        let session = SessionSummary {
            session_id: "RS20261211-7K3Q".into(),
            leader: Some(Leader {
                name: "张某".into(),
                post: "县委书记".into(),
                ..Default::default()
            }),
            starts_at: Some(prost_types::Timestamp {
                seconds: 1_796_950_800,
                nanos: 0,
            }),
            place: "矛调中心".into(),
            edition: 1,
            ..Default::default()
        };
        let mut offered = CaseView::default();
        on(
            &mut offered,
            3,
            Event::ReceptionOffered(ReceptionOffered {
                session_id: "RS20261211-7K3Q".into(),
                refusal: RegistrationRefusal::Full as i32,
                offered: Some(session.clone()),
            }),
        );
        assert_eq!(
            offered.reception.as_ref().unwrap().state,
            ReceptionState::Offered as i32
        );
        assert_eq!(
            offered.history[0].note,
            "所选领导接访名额已满，可改约2026-12-11 09:00县委书记张某在矛调中心的领导接访；本事项同时按正常程序办理"
        );

        let mut view = CaseView {
            status: CaseStatus::SignedFor as i32,
            ..Default::default()
        };
        on(
            &mut view,
            3,
            Event::ReceptionRegistered(ReceptionRegistered {
                session: Some(session.clone()),
                matter_case_id: "MH20261127-0000001".into(),
                ..Default::default()
            }),
        );
        on(
            &mut view,
            4,
            Event::FindingsRecorded(FindingsRecorded {
                unit_id: "u1".into(),
                findings: "已核实".into(),
            }),
        );
        let investigation = view
            .clock
            .as_ref()
            .unwrap()
            .milestones
            .iter()
            .find(|m| m.milestone == INVESTIGATION_MILESTONE)
            .unwrap();
        assert_eq!(investigation.met_at.unwrap().seconds, 1_800_000_004);
        on(
            &mut view,
            5,
            Event::ReceptionDecided(ReceptionDecided {
                outcome: ReceptionOutcomeKind::Resolved as i32,
                summary: "当场答复".into(),
                ..Default::default()
            }),
        );
        assert_eq!(view.status, CaseStatus::Replied as i32);
        assert_eq!(view.reply, "当场答复");
        let notes: Vec<_> = view.history.iter().map(|h| h.note.as_str()).collect();
        assert_eq!(
            notes,
            [
                "已登记参加2026-12-11 09:00县委书记张某在矛调中心的领导接访",
                "承办单位已完成访前调查",
                "领导接访当场答复",
            ]
        );

        let mut cancelled = CaseView::default();
        on(
            &mut cancelled,
            3,
            Event::ReceptionRegistered(ReceptionRegistered {
                session: Some(session),
                ..Default::default()
            }),
        );
        on(
            &mut cancelled,
            4,
            Event::ReceptionChanged(ReceptionChanged {
                cancelled: true,
                reason: "台风预警".into(),
                ..Default::default()
            }),
        );
        let reception = cancelled.reception.unwrap();
        assert_eq!(reception.state, ReceptionState::Cancelled as i32);
        assert!(reception.investigation.is_none());
    }
}
