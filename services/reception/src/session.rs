//! The session model, pure: create, publish, change and cancel a session, each checking every
//! rule and reporting every violated field at once; which areas and topics a session covers;
//! the session as the public and as a case see it.

use minhu_contracts::v1::{
    ChangeSessionRequest, CreateSessionRequest, LeaderLevel, ReceptionSession, SessionState,
    SessionSummary,
};
use minhu_core::deadlines::timestamp;
use minhu_core::domain::DivisionCode;
use minhu_core::grpc::{FieldViolation, invalid_message};
use time::{Duration, OffsetDateTime};

use crate::instant;

/// Matters one session may take at most: a day's desk, not a mass event.
pub const MAX_CAPACITY: u32 = 500;
const MAX_NAME_CHARS: usize = 50;
const MAX_PLACE_CHARS: usize = 200;
const MAX_NOTE_CHARS: usize = 2_000;
const MAX_AREAS: usize = 50;

/// Why a session call was refused, mapped to gRPC by the service.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{}", invalid_message(.0))]
    Invalid(Vec<FieldViolation>),
    /// The session's state does not allow it now.
    #[error("{0}")]
    WrongState(String),
}

/// What a session gets when the request leaves it open.
#[derive(Debug, Clone)]
pub struct Defaults {
    pub length: Duration,
    pub registration_closes_before: Duration,
}

#[derive(Default)]
struct Violations(Vec<FieldViolation>);

impl Violations {
    fn add(&mut self, field: &str, description: impl Into<String>) {
        self.0.push(FieldViolation::new(field, description));
    }

    fn text(&mut self, field: &str, value: &str, max: usize, required: bool) {
        if required && value.trim().is_empty() {
            self.add(field, "required");
        } else if value.chars().count() > max {
            self.add(field, format!("at most {max} characters"));
        } else if value.chars().any(|c| c.is_control() && c != '\n') {
            self.add(field, "no control characters");
        }
    }

    fn areas(&mut self, field: &str, codes: &[String]) {
        if codes.is_empty() {
            self.add(field, "at least one division code the session covers");
        }
        if codes.len() > MAX_AREAS {
            self.add(field, format!("at most {MAX_AREAS} areas"));
        }
        for (i, code) in codes.iter().enumerate() {
            if DivisionCode::parse(code).is_err() {
                self.add(&format!("{field}[{i}]"), "a 6, 9 or 12 digit division code");
            }
        }
    }

    fn topics(&mut self, field: &str, topics: &[String]) {
        for (i, topic) in topics.iter().enumerate() {
            self.text(&format!("{field}[{i}]"), topic, MAX_NAME_CHARS, true);
        }
    }

    fn capacity(&mut self, field: &str, capacity: u32) {
        if !(1..=MAX_CAPACITY).contains(&capacity) {
            self.add(field, format!("1 to {MAX_CAPACITY} matters"));
        }
    }

    fn done(self) -> Result<(), Refusal> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Refusal::Invalid(self.0))
        }
    }
}

/// A new session in DRAFT with id `session_id`, or every reason the request is wrong.
/// `known_unit` tells whether a leader's unit is in the catalogue.
pub fn create(
    request: CreateSessionRequest,
    session_id: String,
    now: OffsetDateTime,
    defaults: &Defaults,
    known_unit: &dyn Fn(&str) -> bool,
) -> Result<ReceptionSession, Refusal> {
    let mut v = Violations::default();
    match &request.leader {
        None => v.add("leader", "required"),
        Some(leader) => {
            v.text("leader.name", &leader.name, MAX_NAME_CHARS, true);
            v.text("leader.post", &leader.post, MAX_NAME_CHARS, true);
            if matches!(
                LeaderLevel::try_from(leader.level),
                Ok(LeaderLevel::Unspecified) | Err(_)
            ) {
                v.add(
                    "leader.level",
                    "province, city, county, township or village",
                );
            }
            if !leader.unit_id.is_empty() && !known_unit(&leader.unit_id) {
                v.add("leader.unit_id", "not a unit of the catalogue");
            }
        }
    }
    let starts_at = instant(request.starts_at);
    match starts_at {
        None => v.add("starts_at", "required"),
        Some(at) if at <= now => v.add("starts_at", "must be in the future"),
        Some(_) => {}
    }
    let ends_at = match (instant(request.ends_at), starts_at) {
        (Some(end), Some(start)) if end <= start => {
            v.add("ends_at", "must be after starts_at");
            None
        }
        (Some(end), _) => Some(end),
        (None, start) => start.map(|s| s + defaults.length),
    };
    v.text("place", &request.place, MAX_PLACE_CHARS, !request.online);
    v.areas("division_codes", &request.division_codes);
    v.topics("topics", &request.topics);
    v.capacity("capacity", request.capacity);
    v.text("note", &request.note, MAX_NOTE_CHARS, false);
    let closes_at = match (instant(request.registration_closes_at), starts_at) {
        (Some(close), Some(start)) if close > start => {
            v.add("registration_closes_at", "must not be after starts_at");
            None
        }
        (Some(close), _) => Some(close),
        (None, start) => start.map(|s| s - defaults.registration_closes_before),
    };
    if let Some(close) = closes_at
        && close <= now
    {
        v.add(
            "registration_closes_at",
            "registration would already be closed: set an earlier close or a later start",
        );
    }
    let opens_at = instant(request.registration_opens_at);
    if let (Some(open), Some(close)) = (opens_at, closes_at)
        && open >= close
    {
        v.add(
            "registration_opens_at",
            "must be before the registration closes",
        );
    }
    v.done()?;
    Ok(ReceptionSession {
        session_id,
        leader: request.leader,
        starts_at: starts_at.map(timestamp),
        ends_at: ends_at.map(timestamp),
        place: request.place,
        online: request.online,
        division_codes: request.division_codes,
        topics: request.topics,
        capacity: request.capacity,
        registration_opens_at: opens_at.map(timestamp),
        registration_closes_at: closes_at.map(timestamp),
        state: SessionState::Draft as i32,
        created_at: Some(timestamp(now)),
        note: request.note,
        ..Default::default()
    })
}

fn state(session: &ReceptionSession) -> SessionState {
    SessionState::try_from(session.state).unwrap_or_default()
}

fn started(session: &ReceptionSession, now: OffsetDateTime) -> bool {
    instant(session.starts_at).is_none_or(|start| now >= start)
}

/// DRAFT → PUBLISHED, edition 1: registrations open and announcements start.
pub fn publish(session: &mut ReceptionSession, now: OffsetDateTime) -> Result<(), Refusal> {
    match state(session) {
        SessionState::Draft => {}
        SessionState::Published => {
            return Err(Refusal::WrongState(
                "the session is already published".into(),
            ));
        }
        _ => return Err(Refusal::WrongState("the session is cancelled".into())),
    }
    if started(session, now) {
        return Err(Refusal::WrongState(
            "the session's time has come: change its time before publishing".into(),
        ));
    }
    session.state = SessionState::Published as i32;
    session.published_at = Some(timestamp(now));
    session.edition = 1;
    Ok(())
}

/// Applies a change; returns the names of the fields that changed (empty: nothing did). A
/// change to a published session is a new edition: the fields go into the next correction.
pub fn change(
    session: &mut ReceptionSession,
    request: &ChangeSessionRequest,
    now: OffsetDateTime,
) -> Result<Vec<String>, Refusal> {
    if state(session) == SessionState::Cancelled {
        return Err(Refusal::WrongState("the session is cancelled".into()));
    }
    if started(session, now) {
        return Err(Refusal::WrongState(
            "the session has started: it can no longer change".into(),
        ));
    }
    let published = state(session) == SessionState::Published;
    let mut v = Violations::default();
    let mut next = session.clone();
    if let Some(start) = instant(request.starts_at) {
        if start <= now {
            v.add("starts_at", "must be in the future");
        }
        // The session keeps its length unless the end changes too.
        if let (Some(old_start), Some(old_end)) =
            (instant(session.starts_at), instant(session.ends_at))
            && request.ends_at.is_none()
        {
            next.ends_at = Some(timestamp(start + (old_end - old_start)));
        }
        next.starts_at = Some(timestamp(start));
    }
    if request.ends_at.is_some() {
        next.ends_at = request.ends_at;
    }
    if let (Some(start), Some(end)) = (instant(next.starts_at), instant(next.ends_at))
        && end <= start
    {
        v.add("ends_at", "must be after starts_at");
    }
    if !request.place.is_empty() {
        v.text("place", &request.place, MAX_PLACE_CHARS, true);
        next.place = request.place.clone();
    }
    if !request.division_codes.is_empty() {
        v.areas("division_codes", &request.division_codes);
        next.division_codes = request.division_codes.clone();
    }
    if !request.topics.is_empty() {
        v.topics("topics", &request.topics);
        next.topics = request.topics.clone();
    }
    if request.capacity != 0 {
        v.capacity("capacity", request.capacity);
        if request.capacity < session.matters_registered {
            v.add(
                "capacity",
                format!(
                    "{} matters are registered already",
                    session.matters_registered
                ),
            );
        }
        next.capacity = request.capacity;
    }
    if request.registration_closes_at.is_some() {
        next.registration_closes_at = request.registration_closes_at;
    }
    if let (Some(close), Some(start)) = (
        instant(next.registration_closes_at),
        instant(next.starts_at),
    ) && close > start
    {
        v.add("registration_closes_at", "must not be after starts_at");
    }
    if !request.note.is_empty() {
        v.text("note", &request.note, MAX_NOTE_CHARS, false);
        next.note = request.note.clone();
    }
    if published {
        v.text("reason", &request.reason, MAX_NOTE_CHARS, true);
    }
    v.done()?;
    let changed = changed_fields(session, &next);
    if changed.is_empty() {
        return Ok(changed);
    }
    if published {
        next.edition += 1;
        for field in &changed {
            if !next.changed_since_announced.contains(field) {
                next.changed_since_announced.push(field.clone());
            }
        }
    }
    *session = next;
    Ok(changed)
}

/// The public fields that differ between two versions of a session.
fn changed_fields(before: &ReceptionSession, after: &ReceptionSession) -> Vec<String> {
    let mut changed = Vec::new();
    let mut check = |name: &str, differs: bool| {
        if differs {
            changed.push(name.to_owned());
        }
    };
    check("starts_at", before.starts_at != after.starts_at);
    check("ends_at", before.ends_at != after.ends_at);
    check("place", before.place != after.place);
    check(
        "division_codes",
        before.division_codes != after.division_codes,
    );
    check("topics", before.topics != after.topics);
    check("capacity", before.capacity != after.capacity);
    check(
        "registration_closes_at",
        before.registration_closes_at != after.registration_closes_at,
    );
    check("note", before.note != after.note);
    changed
}

/// Cancels the session, with a reason.
pub fn cancel(
    session: &mut ReceptionSession,
    reason: &str,
    now: OffsetDateTime,
) -> Result<(), Refusal> {
    let mut v = Violations::default();
    v.text("reason", reason, MAX_NOTE_CHARS, true);
    v.done()?;
    if state(session) == SessionState::Cancelled {
        return Err(Refusal::WrongState(
            "the session is already cancelled".into(),
        ));
    }
    if instant(session.ends_at).is_some_and(|end| now >= end) {
        return Err(Refusal::WrongState("the session is over".into()));
    }
    session.state = SessionState::Cancelled as i32;
    session.cancelled_at = Some(timestamp(now));
    session.cancel_reason = reason.to_owned();
    Ok(())
}

/// Whether the session takes matters of the area `division_code` and category `category`:
/// one of its areas is a prefix of the code (a county session covers its townships), and its
/// topics (if any) include the category. A matter whose area is unknown is taken: the
/// petitioner chose the session, and the leader's desk sorts it out.
pub fn covers(session: &ReceptionSession, division_code: &str, category: &str) -> bool {
    let area = division_code.is_empty()
        || session
            .division_codes
            .iter()
            .any(|prefix| division_code.starts_with(prefix.as_str()));
    let topic = session.topics.is_empty() || session.topics.iter().any(|t| t == category);
    area && topic
}

/// Whether the session is of the same area as `division_code` for listing: one contains the
/// other.
pub fn overlaps(session: &ReceptionSession, division_code: &str) -> bool {
    session.division_codes.iter().any(|prefix| {
        division_code.starts_with(prefix.as_str()) || prefix.starts_with(division_code)
    })
}

/// The session as portals and the press see it: no registrations, no working state.
pub fn public(session: &ReceptionSession) -> ReceptionSession {
    ReceptionSession {
        registrations: Vec::new(),
        announcements: Vec::new(),
        changed_since_announced: Vec::new(),
        ..session.clone()
    }
}

/// The session as a case carries it.
pub fn summary(session: &ReceptionSession) -> SessionSummary {
    SessionSummary {
        session_id: session.session_id.clone(),
        leader: session.leader.clone(),
        starts_at: session.starts_at,
        ends_at: session.ends_at,
        place: session.place.clone(),
        online: session.online,
        edition: session.edition,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minhu_contracts::v1::Leader;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-27 10:00 +8);

    fn defaults() -> Defaults {
        Defaults {
            length: Duration::hours(3),
            registration_closes_before: Duration::days(3),
        }
    }

    pub(crate) fn request() -> CreateSessionRequest {
        CreateSessionRequest {
            leader: Some(Leader {
                name: "张某".into(),
                post: "县委书记".into(),
                level: LeaderLevel::County as i32,
                unit_id: "pujiang-county".into(),
            }),
            starts_at: Some(timestamp(datetime!(2026-12-11 09:00 +8))),
            place: "浦江县矛调中心接待大厅".into(),
            division_codes: vec!["330726".into()],
            capacity: 20,
            ..Default::default()
        }
    }

    fn created() -> ReceptionSession {
        create(
            request(),
            "RS20261211-7K3Q".into(),
            NOW,
            &defaults(),
            &|u| u == "pujiang-county",
        )
        .unwrap()
    }

    fn fields(refusal: Refusal) -> Vec<String> {
        match refusal {
            Refusal::Invalid(v) => v.into_iter().map(|v| v.field).collect(),
            other => panic!("not invalid: {other:?}"),
        }
    }

    #[test]
    fn a_session_takes_its_defaults_and_starts_as_a_draft() {
        let session = created();
        assert_eq!(session.state, SessionState::Draft as i32);
        assert_eq!(
            instant(session.ends_at),
            Some(datetime!(2026-12-11 12:00 +8))
        );
        assert_eq!(
            instant(session.registration_closes_at),
            Some(datetime!(2026-12-08 09:00 +8))
        );
        assert_eq!(session.edition, 0);
    }

    type Spoil = Box<dyn Fn(&mut CreateSessionRequest)>;

    #[test]
    fn every_violated_field_is_reported_at_once() {
        let table: Vec<(&str, Spoil)> = vec![
            ("leader", Box::new(|r| r.leader = None)),
            (
                "leader.name",
                Box::new(|r| r.leader.as_mut().unwrap().name.clear()),
            ),
            (
                "leader.level",
                Box::new(|r| r.leader.as_mut().unwrap().level = 0),
            ),
            (
                "leader.unit_id",
                Box::new(|r| r.leader.as_mut().unwrap().unit_id = "nowhere".into()),
            ),
            ("starts_at", Box::new(|r| r.starts_at = None)),
            (
                "starts_at",
                Box::new(|r| r.starts_at = Some(timestamp(NOW - Duration::hours(1)))),
            ),
            (
                "ends_at",
                Box::new(|r| r.ends_at = Some(timestamp(datetime!(2026-12-11 08:00 +8)))),
            ),
            ("place", Box::new(|r| r.place.clear())),
            ("division_codes", Box::new(|r| r.division_codes.clear())),
            (
                "division_codes[0]",
                Box::new(|r| r.division_codes = vec!["3307".into()]),
            ),
            ("capacity", Box::new(|r| r.capacity = 0)),
            ("capacity", Box::new(|r| r.capacity = MAX_CAPACITY + 1)),
            (
                "registration_closes_at",
                Box::new(|r| {
                    r.registration_closes_at = Some(timestamp(datetime!(2026-12-12 09:00 +8)))
                }),
            ),
            (
                "registration_closes_at",
                Box::new(|r| r.starts_at = Some(timestamp(NOW + Duration::days(2)))),
            ),
            (
                "registration_opens_at",
                Box::new(|r| {
                    r.registration_opens_at = Some(timestamp(datetime!(2026-12-10 09:00 +8)))
                }),
            ),
        ];
        let known = |u: &str| u == "pujiang-county";
        for (field, spoil) in &table {
            let mut r = request();
            spoil(&mut r);
            let refusal = create(r, "RS20261211-7K3Q".into(), NOW, &defaults(), &known)
                .map(|_| ())
                .err();
            let got = refusal.map(fields).unwrap_or_default();
            assert!(got.contains(&field.to_string()), "{field}: got {got:?}");
        }
        // An online session needs no place; several faults come back together.
        let mut r = request();
        r.online = true;
        r.place.clear();
        assert!(create(r, "x".into(), NOW, &defaults(), &|_| true).is_ok());
        let mut r = request();
        r.capacity = 0;
        r.division_codes.clear();
        let got = fields(create(r, "x".into(), NOW, &defaults(), &|_| true).unwrap_err());
        assert_eq!(got, ["division_codes", "capacity"]);
    }

    #[test]
    fn publishing_changing_and_cancelling_follow_the_states() {
        let mut session = created();
        let change = ChangeSessionRequest {
            place: "黄宅镇便民服务中心".into(),
            ..Default::default()
        };
        // A draft changes silently: nothing was public.
        assert_eq!(change_of(&mut session, &change), ["place"]);
        assert_eq!(session.edition, 0);
        assert!(session.changed_since_announced.is_empty());

        publish(&mut session, NOW).unwrap();
        assert_eq!(session.edition, 1);
        assert!(matches!(
            publish(&mut session, NOW),
            Err(Refusal::WrongState(_))
        ));
        // Published: a change needs a reason and makes a new edition.
        let moved = ChangeSessionRequest {
            starts_at: Some(timestamp(datetime!(2026-12-12 09:00 +8))),
            ..Default::default()
        };
        assert_eq!(
            fields(super::change(&mut session, &moved, NOW).unwrap_err()),
            ["reason"]
        );
        let moved = ChangeSessionRequest {
            reason: "领导临时公务".into(),
            ..moved
        };
        assert_eq!(change_of(&mut session, &moved), ["starts_at", "ends_at"]);
        assert_eq!(session.edition, 2);
        assert_eq!(
            instant(session.ends_at),
            Some(datetime!(2026-12-12 12:00 +8)),
            "the session keeps its length"
        );
        assert_eq!(session.changed_since_announced, ["starts_at", "ends_at"]);
        // The same change again changes nothing.
        assert!(change_of(&mut session, &moved).is_empty());
        assert_eq!(session.edition, 2);

        session.matters_registered = 5;
        let smaller = ChangeSessionRequest {
            capacity: 4,
            reason: "场地变小".into(),
            ..Default::default()
        };
        assert_eq!(
            fields(super::change(&mut session, &smaller, NOW).unwrap_err()),
            ["capacity"]
        );

        assert_eq!(
            fields(cancel(&mut session, " ", NOW).unwrap_err()),
            ["reason"]
        );
        cancel(&mut session, "台风预警", NOW).unwrap();
        assert_eq!(session.state, SessionState::Cancelled as i32);
        assert!(matches!(
            cancel(&mut session, "again", NOW),
            Err(Refusal::WrongState(_))
        ));
        assert!(matches!(
            super::change(&mut session, &moved, NOW),
            Err(Refusal::WrongState(_))
        ));
    }

    fn change_of(session: &mut ReceptionSession, request: &ChangeSessionRequest) -> Vec<String> {
        super::change(session, request, NOW).unwrap()
    }

    #[test]
    fn a_session_covers_its_areas_below_them_and_its_topics() {
        let mut session = created();
        session.division_codes = vec!["330726101".into()];
        for (code, category, covered) in [
            ("330726101", "城乡建设", true),
            ("330726101203", "城乡建设", true),
            ("330726102", "城乡建设", false),
            ("330726", "城乡建设", false),
            ("", "城乡建设", true),
        ] {
            assert_eq!(covers(&session, code, category), covered, "{code}");
        }
        session.topics = vec!["环境保护".into()];
        assert!(!covers(&session, "330726101", "城乡建设"));
        assert!(covers(&session, "330726101", "环境保护"));
        assert!(overlaps(&session, "330726"));
        assert!(overlaps(&session, "330726101001"));
        assert!(!overlaps(&session, "330727"));
    }
}
