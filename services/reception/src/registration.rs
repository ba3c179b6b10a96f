//! Pre-registration, pure: whether a petition is registered to the session it names (the
//! session is published, the window is open, the matter is of its areas and topics, a place is
//! free), and otherwise which session to offer instead: the next one for the same area.
//!
//! Places are counted in matters (批次): a repeat of a registered petition or a member of a
//! registered cluster joins its matter without taking a new place.

use minhu_contracts::v1::{
    ReceptionSession, RegistrationRefusal, SessionRegistration, SessionState,
};
use minhu_core::deadlines::timestamp;
use time::OffsetDateTime;

use crate::instant;
use crate::session::covers;

/// What registration needs to know of a petition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Petition {
    pub case_id: String,
    /// The case carrying the matter: the case itself, a repeat's original, a cluster's lead.
    pub matter_case_id: String,
    /// Where the matter arose (empty: unknown).
    pub division_code: String,
    pub category: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Register it; `new_matter` when it takes a place.
    Register {
        new_matter: bool,
    },
    /// It is registered already (a redelivered petition): nothing changes.
    AlreadyRegistered,
    Refuse(RegistrationRefusal),
}

/// When the session takes registrations: from publication (or its own opening, if later) until
/// its close.
pub fn window(session: &ReceptionSession) -> Option<(OffsetDateTime, OffsetDateTime)> {
    let published = instant(session.published_at)?;
    let opens = instant(session.registration_opens_at).map_or(published, |o| o.max(published));
    let closes = instant(session.registration_closes_at)?;
    Some((opens, closes))
}

/// Whether `petition` is registered to `session` (None: no such session) at `now`.
pub fn decide(
    session: Option<&ReceptionSession>,
    petition: &Petition,
    now: OffsetDateTime,
) -> Decision {
    let Some(session) = session else {
        return Decision::Refuse(RegistrationRefusal::Unknown);
    };
    if session
        .registrations
        .iter()
        .any(|r| r.case_id == petition.case_id)
    {
        return Decision::AlreadyRegistered;
    }
    if session.state != SessionState::Published as i32 {
        return Decision::Refuse(RegistrationRefusal::NotOpen);
    }
    match window(session) {
        Some((opens, closes)) if opens <= now && now < closes => {}
        _ => return Decision::Refuse(RegistrationRefusal::Window),
    }
    if !covers(session, &petition.division_code, &petition.category) {
        return Decision::Refuse(RegistrationRefusal::NotCovered);
    }
    if has_matter(session, &petition.matter_case_id) {
        return Decision::Register { new_matter: false };
    }
    if session.matters_registered >= session.capacity {
        return Decision::Refuse(RegistrationRefusal::Full);
    }
    Decision::Register { new_matter: true }
}

fn has_matter(session: &ReceptionSession, matter_case_id: &str) -> bool {
    session
        .registrations
        .iter()
        .any(|r| r.matter_case_id == matter_case_id)
}

/// Adds the registration [`decide`] allowed.
pub fn register(session: &mut ReceptionSession, petition: &Petition, now: OffsetDateTime) {
    if !has_matter(session, &petition.matter_case_id) {
        session.matters_registered += 1;
    }
    session.registrations.push(SessionRegistration {
        case_id: petition.case_id.clone(),
        matter_case_id: petition.matter_case_id.clone(),
        registered_at: Some(timestamp(now)),
    });
}

/// The session to offer instead of `requested`: the earliest published one still to come that
/// covers the petition's area and topic, takes registrations now or later, and has a place left.
pub fn next_session<'a>(
    sessions: impl IntoIterator<Item = &'a ReceptionSession>,
    requested: &str,
    petition: &Petition,
    now: OffsetDateTime,
) -> Option<&'a ReceptionSession> {
    sessions
        .into_iter()
        .filter(|s| s.session_id != requested)
        .filter(|s| s.state == SessionState::Published as i32)
        .filter(|s| instant(s.starts_at).is_some_and(|start| start > now))
        .filter(|s| window(s).is_some_and(|(_, closes)| closes > now))
        .filter(|s| s.matters_registered < s.capacity)
        .filter(|s| covers(s, &petition.division_code, &petition.category))
        .min_by_key(|s| (instant(s.starts_at), s.session_id.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-27 10:00 +8);

    fn session(id: &str, start: OffsetDateTime, capacity: u32) -> ReceptionSession {
        ReceptionSession {
            session_id: id.into(),
            starts_at: Some(timestamp(start)),
            state: SessionState::Published as i32,
            published_at: Some(timestamp(NOW - Duration::days(1))),
            registration_closes_at: Some(timestamp(start - Duration::days(3))),
            division_codes: vec!["330726".into()],
            capacity,
            ..Default::default()
        }
    }

    fn petition(case: &str, matter: &str) -> Petition {
        Petition {
            case_id: case.into(),
            matter_case_id: matter.into(),
            division_code: "330726101".into(),
            category: "城乡建设".into(),
        }
    }

    #[test]
    fn registrations_fill_the_places_in_matters() {
        let mut s = session("RS20261211-AAAA", datetime!(2026-12-11 09:00 +8), 2);
        let steps = [
            (
                petition("c1", "c1"),
                Decision::Register { new_matter: true },
            ),
            // A repeat of c1's matter joins it without a place.
            (
                petition("c2", "c1"),
                Decision::Register { new_matter: false },
            ),
            (
                petition("c3", "c3"),
                Decision::Register { new_matter: true },
            ),
            (
                petition("c4", "c4"),
                Decision::Refuse(RegistrationRefusal::Full),
            ),
            // A cluster member of a registered matter still joins a full session.
            (
                petition("c5", "c3"),
                Decision::Register { new_matter: false },
            ),
            // A redelivered petition is registered once.
            (petition("c1", "c1"), Decision::AlreadyRegistered),
        ];
        for (p, expected) in steps {
            let decision = decide(Some(&s), &p, NOW);
            assert_eq!(decision, expected, "{}", p.case_id);
            if let Decision::Register { .. } = decision {
                register(&mut s, &p, NOW);
            }
        }
        assert_eq!(s.matters_registered, 2);
        let cases: Vec<_> = s.registrations.iter().map(|r| r.case_id.as_str()).collect();
        assert_eq!(cases, ["c1", "c2", "c3", "c5"]);
    }

    type Spoil = Box<dyn Fn(&mut ReceptionSession)>;

    #[test]
    fn the_state_window_and_coverage_are_checked_in_order() {
        let base = session("RS20261211-AAAA", datetime!(2026-12-11 09:00 +8), 5);
        let p = petition("c1", "c1");
        assert_eq!(
            decide(None, &p, NOW),
            Decision::Refuse(RegistrationRefusal::Unknown)
        );
        let table: Vec<(Spoil, OffsetDateTime, RegistrationRefusal)> = vec![
            (
                Box::new(|s| s.state = SessionState::Draft as i32),
                NOW,
                RegistrationRefusal::NotOpen,
            ),
            (
                Box::new(|s| s.state = SessionState::Cancelled as i32),
                NOW,
                RegistrationRefusal::NotOpen,
            ),
            // Closed three days before the day.
            (
                Box::new(|_| {}),
                datetime!(2026-12-08 09:00 +8),
                RegistrationRefusal::Window,
            ),
            (
                Box::new(|s| s.registration_opens_at = Some(timestamp(NOW + Duration::hours(1)))),
                NOW,
                RegistrationRefusal::Window,
            ),
            (
                Box::new(|s| s.division_codes = vec!["330727".into()]),
                NOW,
                RegistrationRefusal::NotCovered,
            ),
            (
                Box::new(|s| s.topics = vec!["卫生计生".into()]),
                NOW,
                RegistrationRefusal::NotCovered,
            ),
        ];
        for (i, (spoil, at, refusal)) in table.iter().enumerate() {
            let mut s = base.clone();
            spoil(&mut s);
            assert_eq!(
                decide(Some(&s), &p, *at),
                Decision::Refuse(*refusal),
                "row {i}"
            );
        }
        assert_eq!(
            decide(Some(&base), &p, datetime!(2026-12-08 08:59 +8)),
            Decision::Register { new_matter: true }
        );
    }

    #[test]
    fn the_next_session_for_the_same_area_is_offered() {
        let full = session("RS20261211-AAAA", datetime!(2026-12-11 09:00 +8), 0);
        let later = session("RS20261218-BBBB", datetime!(2026-12-18 09:00 +8), 5);
        let sooner = session("RS20261215-CCCC", datetime!(2026-12-15 09:00 +8), 5);
        let mut elsewhere = session("RS20261214-DDDD", datetime!(2026-12-14 09:00 +8), 5);
        elsewhere.division_codes = vec!["330727".into()];
        let mut cancelled = session("RS20261212-EEEE", datetime!(2026-12-12 09:00 +8), 5);
        cancelled.state = SessionState::Cancelled as i32;
        let mut closed = session("RS20261213-FFFF", datetime!(2026-12-13 09:00 +8), 5);
        closed.registration_closes_at = Some(timestamp(NOW - Duration::hours(1)));
        let mut no_place = session("RS20261213-GGGG", datetime!(2026-12-13 10:00 +8), 1);
        no_place.matters_registered = 1;
        let all = [
            full.clone(),
            later.clone(),
            sooner.clone(),
            elsewhere,
            cancelled,
            closed,
            no_place,
        ];
        let p = petition("c1", "c1");
        let offered = next_session(&all, &full.session_id, &p, NOW).unwrap();
        assert_eq!(offered.session_id, sooner.session_id);
        assert!(next_session([&full], &full.session_id, &p, NOW).is_none());
    }
}
