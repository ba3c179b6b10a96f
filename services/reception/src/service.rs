//! `ReceptionService`: the thin gRPC edge of the reception sessions. Each call authenticates
//! (the centre; a unit for RecordFindings), lets the pure rules judge, writes the session with a
//! compare-and-set (re-judging after a lost race) or records case events, and lets the
//! announcer put on the bus what is due.

use std::collections::HashMap;
use std::sync::Arc;

use minhu_clock::{CHINA_TIME, Calendar};
use minhu_contracts::v1::reception_service_server::{ReceptionService, ReceptionServiceServer};
use minhu_contracts::v1::{
    BatchListResponse, CancelSessionRequest, CaseStatus, CaseView, ChangeSessionRequest,
    CreateSessionRequest, FindingsRecorded, ListSessionsRequest, ListSessionsResponse, Reassigned,
    ReceptionChanged, ReceptionDecided, ReceptionOutcomeKind, ReceptionReport, ReceptionSession,
    ReceptionState, RecordFindingsRequest, RecordOutcomeRequest, RouteDecision, SessionRef,
    SessionState, case_event,
};
use minhu_core::case::{CaseStore, StoreError as CaseError};
use minhu_core::config::Settings;
use minhu_core::credentials::{Credentials, bearer};
use minhu_core::domain::SessionId;
use minhu_core::grpc::{FieldViolation, invalid_argument};
use minhu_core::metrics;
use minhu_core::reception::ReceptionSettings;
use rand::Rng;
use time::OffsetDateTime;
use tonic::{Request, Response, Status};

use crate::announcer::Announcer;
use crate::batch::{self, matter_of};
use crate::instant;
use crate::register::{RegisterError, record_on};
use crate::schedule::{self, Due};
use crate::session::{self, Refusal};
use crate::store::{Sessions, StoreError};

/// Lost compare-and-set races a call tolerates before it answers ABORTED.
const ATTEMPTS: usize = 10;
/// Characters of a session id's suffix: capitals and digits, without the easily confused.
const SUFFIX_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
const MAX_FINDINGS_CHARS: usize = 5_000;

/// Cheap to clone: the state is shared (a bus handle is kilobytes, and the gRPC server's
/// futures hold the service by value).
#[derive(Clone)]
pub struct ReceptionApi(Arc<Api>);

struct Api {
    sessions: Sessions,
    cases: CaseStore,
    announcer: Announcer,
    calendar: Arc<Calendar>,
    settings: Arc<ReceptionSettings>,
    names: Arc<HashMap<String, String>>,
    units: Credentials,
    centre: Credentials,
}

impl ReceptionApi {
    pub fn new(
        settings: &Settings,
        bus: minhu_core::bus::Bus,
        calendar: Arc<Calendar>,
        announcer: Announcer,
    ) -> ReceptionApi {
        ReceptionApi(Arc::new(Api {
            sessions: Sessions::new(&bus),
            cases: CaseStore::new(bus),
            announcer,
            calendar,
            settings: Arc::new(settings.reception.clone()),
            names: Arc::new(
                settings
                    .catalogue
                    .units
                    .iter()
                    .map(|u| (u.id.clone(), u.name.clone()))
                    .collect(),
            ),
            units: Credentials::of_units(settings),
            centre: Credentials::of_centre(settings),
        }))
    }

    pub fn into_service(self) -> ReceptionServiceServer<ReceptionApi> {
        ReceptionServiceServer::new(self)
    }

    fn token<T>(request: &Request<T>) -> Result<&str, Status> {
        request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(bearer)
            .ok_or_else(|| Status::unauthenticated("missing authorization: Bearer <token>"))
    }

    fn centre<T>(&self, request: &Request<T>) -> Result<(), Status> {
        self.0
            .centre
            .identify(Self::token(request)?)
            .map(|_| ())
            .ok_or_else(|| Status::unauthenticated("not the centre token"))
    }

    fn unit<T>(&self, request: &Request<T>) -> Result<String, Status> {
        self.0
            .units
            .identify(Self::token(request)?)
            .map(str::to_owned)
            .ok_or_else(|| Status::unauthenticated("not a unit token"))
    }

    async fn session(&self, session_id: &str) -> Result<crate::store::Versioned, Status> {
        self.0
            .sessions
            .get(session_id)
            .await
            .map_err(store_status)?
            .ok_or_else(|| Status::not_found(format!("no session {session_id}")))
    }

    /// Applies `change` to the session with a compare-and-set, judging again after a lost race.
    async fn modify<T>(
        &self,
        session_id: &str,
        change: impl Fn(&mut ReceptionSession, OffsetDateTime) -> Result<T, Refusal>,
    ) -> Result<(ReceptionSession, T), Status> {
        for _ in 0..ATTEMPTS {
            let mut current = self.session(session_id).await?;
            let now = OffsetDateTime::now_utc();
            let outcome = change(&mut current.session, now).map_err(refusal_status)?;
            if self
                .0
                .sessions
                .update(&current.session, current.revision)
                .await
                .map_err(store_status)?
                .is_some()
            {
                return Ok((current.session, outcome));
            }
        }
        Err(Status::aborted(
            "the session kept changing while this call was judged; retry",
        ))
    }

    /// Puts on the bus what the session now makes due. A failure here loses nothing: the
    /// announcer's sweep looks at every session still to come.
    async fn announce(&self, session_id: &str) {
        if let Err(e) = self.0.announcer.reconcile(session_id).await {
            tracing::warn!(session_id, error = %e, "announcement deferred to the sweep");
        }
    }

    /// Tells every registered petition, and every matter's case, that the session changed or
    /// was cancelled; each case once per edition.
    async fn tell_registered(&self, session: &ReceptionSession) -> Result<(), Status> {
        let cancelled = session.state == SessionState::Cancelled as i32;
        let mut told: Vec<&str> = Vec::new();
        let ids = session
            .registrations
            .iter()
            .flat_map(|r| [r.case_id.as_str(), r.matter_case_id.as_str()]);
        let now = OffsetDateTime::now_utc();
        for case_id in ids {
            if told.contains(&case_id) {
                continue;
            }
            told.push(case_id);
            record_on(&self.0.cases, case_id, "centre", |view| {
                let reception = view.reception.as_ref()?;
                if reception.session_id != session.session_id {
                    return None;
                }
                let state = ReceptionState::try_from(reception.state).unwrap_or_default();
                if cancelled {
                    return (state == ReceptionState::Registered).then(|| {
                        case_event::Event::ReceptionChanged(ReceptionChanged {
                            cancelled: true,
                            reason: session.cancel_reason.clone(),
                            ..Default::default()
                        })
                    });
                }
                let known = reception.session.as_ref().map_or(0, |s| s.edition);
                if known >= session.edition || state != ReceptionState::Registered {
                    return None;
                }
                let investigation = reception.investigation.as_ref().and_then(|_| {
                    Some(schedule::investigation_deadline(
                        instant(session.starts_at)?,
                        self.0.settings.investigation_working_days,
                        self.0.settings.investigation_warn_before.duration(),
                        now,
                        &self.0.calendar,
                    ))
                });
                Some(case_event::Event::ReceptionChanged(ReceptionChanged {
                    session: Some(session::summary(session)),
                    investigation,
                    cancelled: false,
                    reason: String::new(),
                }))
            })
            .await
            .map_err(register_status)?;
        }
        Ok(())
    }

    fn unit_name(&self, unit: &str) -> String {
        self.0.names.get(unit).cloned().unwrap_or_default()
    }
}

/// The registered cases and the cases carrying their matters, by id.
pub(crate) async fn views_of(
    cases: &CaseStore,
    session: &ReceptionSession,
) -> Result<HashMap<String, CaseView>, CaseError> {
    let mut views = HashMap::new();
    for registration in &session.registrations {
        let registered = load_once(cases, &mut views, registration.case_id.clone()).await?;
        let matter = matter_of(registered).to_owned();
        load_once(cases, &mut views, matter).await?;
    }
    Ok(views)
}

/// The case's view, loaded unless `views` has it already.
async fn load_once<'a>(
    cases: &CaseStore,
    views: &'a mut HashMap<String, CaseView>,
    case_id: String,
) -> Result<&'a CaseView, CaseError> {
    use std::collections::hash_map::Entry;
    match views.entry(case_id) {
        Entry::Occupied(entry) => Ok(entry.into_mut()),
        Entry::Vacant(entry) => {
            let view = cases.load(entry.key()).await?.view;
            Ok(entry.insert(view))
        }
    }
}

/// The session's report now.
pub(crate) async fn report_of(
    cases: &CaseStore,
    session: &ReceptionSession,
    now: OffsetDateTime,
) -> Result<ReceptionReport, CaseError> {
    let views = views_of(cases, session).await?;
    Ok(batch::report(session, &views, now))
}

#[tonic::async_trait]
impl ReceptionService for ReceptionApi {
    async fn create_session(
        &self,
        request: Request<CreateSessionRequest>,
    ) -> Result<Response<ReceptionSession>, Status> {
        self.centre(&request)?;
        let r = request.into_inner();
        let now = OffsetDateTime::now_utc();
        let day = instant(r.starts_at)
            .unwrap_or(now)
            .to_offset(CHINA_TIME)
            .date();
        let defaults = session::Defaults {
            length: self.0.settings.default_length.duration(),
            registration_closes_before: self.0.settings.registration_closes_before.duration(),
        };
        let known = |unit: &str| self.0.names.contains_key(unit);
        for _ in 0..ATTEMPTS {
            let suffix: String = {
                let mut rng = rand::rng();
                (0..4)
                    .map(|_| {
                        char::from(SUFFIX_ALPHABET[rng.random_range(0..SUFFIX_ALPHABET.len())])
                    })
                    .collect()
            };
            let id = SessionId::new(day, &suffix).to_string();
            let session =
                session::create(r.clone(), id, now, &defaults, &known).map_err(refusal_status)?;
            if self
                .0
                .sessions
                .create(&session)
                .await
                .map_err(store_status)?
            {
                tracing::info!(session_id = %session.session_id, "reception session created");
                return Ok(Response::new(session));
            }
        }
        Err(Status::aborted("no free session id was found; retry"))
    }

    async fn publish_session(
        &self,
        request: Request<SessionRef>,
    ) -> Result<Response<ReceptionSession>, Status> {
        self.centre(&request)?;
        let id = request.into_inner().session_id;
        let (session, ()) = self
            .modify(&id, |s, now| {
                // Publishing again (a retry) changes nothing.
                if s.state == SessionState::Published as i32 {
                    return Ok(());
                }
                session::publish(s, now)
            })
            .await?;
        tracing::info!(session_id = %id, "reception session published");
        self.announce(&id).await;
        Ok(Response::new(session))
    }

    async fn change_session(
        &self,
        request: Request<ChangeSessionRequest>,
    ) -> Result<Response<ReceptionSession>, Status> {
        self.centre(&request)?;
        let r = request.into_inner();
        let (session, changed) = self
            .modify(&r.session_id, |s, now| session::change(s, &r, now))
            .await?;
        if !changed.is_empty() {
            tracing::info!(session_id = %r.session_id, ?changed, "reception session changed");
            // The petitioners and the units hear of what changes their day: when and where.
            if changed
                .iter()
                .any(|f| matches!(f.as_str(), "starts_at" | "ends_at" | "place"))
            {
                self.tell_registered(&session).await?;
            }
            self.announce(&r.session_id).await;
        }
        Ok(Response::new(session))
    }

    async fn cancel_session(
        &self,
        request: Request<CancelSessionRequest>,
    ) -> Result<Response<ReceptionSession>, Status> {
        self.centre(&request)?;
        let r = request.into_inner();
        let (session, ()) = self
            .modify(&r.session_id, |s, now| {
                // Cancelling again (a retry) changes nothing.
                if s.state == SessionState::Cancelled as i32 {
                    return Ok(());
                }
                session::cancel(s, &r.reason, now)
            })
            .await?;
        tracing::info!(session_id = %r.session_id, "reception session cancelled");
        self.tell_registered(&session).await?;
        self.announce(&r.session_id).await;
        Ok(Response::new(session))
    }

    async fn get_session(
        &self,
        request: Request<SessionRef>,
    ) -> Result<Response<ReceptionSession>, Status> {
        self.centre(&request)?;
        let id = request.into_inner().session_id;
        Ok(Response::new(self.session(&id).await?.session))
    }

    async fn list_sessions(
        &self,
        request: Request<ListSessionsRequest>,
    ) -> Result<Response<ListSessionsResponse>, Status> {
        self.centre(&request)?;
        let r = request.into_inner();
        let from = instant(r.from);
        let mut sessions: Vec<ReceptionSession> = self
            .0
            .sessions
            .all()
            .await
            .map_err(store_status)?
            .into_iter()
            .filter(|s| r.all_states || s.state == SessionState::Published as i32)
            .filter(|s| from.is_none_or(|from| instant(s.starts_at).is_some_and(|t| t >= from)))
            .filter(|s| r.division_code.is_empty() || session::overlaps(s, &r.division_code))
            .map(|s| session::public(&s))
            .collect();
        sessions.sort_by_key(|s| (instant(s.starts_at), s.session_id.clone()));
        Ok(Response::new(ListSessionsResponse { sessions }))
    }

    async fn batch_list(
        &self,
        request: Request<SessionRef>,
    ) -> Result<Response<BatchListResponse>, Status> {
        self.centre(&request)?;
        let id = request.into_inner().session_id;
        let session = self.session(&id).await?.session;
        let views = views_of(&self.0.cases, &session)
            .await
            .map_err(case_status)?;
        let name = |unit: &str| self.unit_name(unit);
        Ok(Response::new(batch::batch_list(&session, &views, &name)))
    }

    async fn record_outcome(
        &self,
        request: Request<RecordOutcomeRequest>,
    ) -> Result<Response<CaseView>, Status> {
        self.centre(&request)?;
        let r = request.into_inner();
        let mut violations = Vec::new();
        let mut violate = |field: &str, description: &str| {
            violations.push(FieldViolation::new(field, description))
        };
        let kind = ReceptionOutcomeKind::try_from(r.outcome).unwrap_or_default();
        if kind == ReceptionOutcomeKind::Unspecified {
            violate("outcome", "resolved, assigned or leader_owned");
        }
        if r.summary.trim().is_empty() {
            violate(
                "summary",
                "required: the answer given, or what the unit must do",
            );
        }
        let timed = matches!(
            kind,
            ReceptionOutcomeKind::Assigned | ReceptionOutcomeKind::LeaderOwned
        );
        let due = match (instant(r.due_at), r.working_days) {
            (Some(at), 0) => Some(Due::At(at)),
            (None, n) if n > 0 => Some(Due::WorkingDays(n)),
            (None, _) => None,
            (Some(_), _) => {
                violate("due_at", "give due_at or working_days, not both");
                None
            }
        };
        if timed && due.is_none() {
            violate("due_at", "a deadline is required: due_at or working_days");
        }
        if kind == ReceptionOutcomeKind::Assigned && r.lead_unit_id.is_empty() {
            violate(
                "lead_unit_id",
                "required: the unit the matter is assigned to",
            );
        }
        if !r.lead_unit_id.is_empty() && !self.0.names.contains_key(&r.lead_unit_id) {
            violate("lead_unit_id", "not a unit of the catalogue");
        }
        if !violations.is_empty() {
            return Err(invalid_argument(violations));
        }

        let session = self.session(&r.session_id).await?.session;
        let registered = session
            .registrations
            .iter()
            .any(|g| g.case_id == r.case_id || g.matter_case_id == r.case_id);
        if !registered {
            return Err(Status::not_found(format!(
                "no matter {} on session {}",
                r.case_id, r.session_id
            )));
        }
        let now = OffsetDateTime::now_utc();
        if session.state != SessionState::Published as i32 {
            return Err(Status::failed_precondition(
                "the session is not held (cancelled)",
            ));
        }
        let starts_at = instant(session.starts_at).unwrap_or(now);
        if now < starts_at {
            return Err(Status::failed_precondition(
                "the session has not started: outcomes are recorded on the day",
            ));
        }
        let registered_view = self
            .0
            .cases
            .load(&r.case_id)
            .await
            .map_err(case_status)?
            .view;
        let matter_id = matter_of(&registered_view).to_owned();
        let matter = self
            .0
            .cases
            .load(&matter_id)
            .await
            .map_err(case_status)?
            .view;
        let decided = matter.reception.as_ref().filter(|m| {
            m.session_id == session.session_id
                && m.outcome != ReceptionOutcomeKind::Unspecified as i32
        });
        if let Some(done) = decided {
            // A retry of the same decision answers as the first time.
            if done.outcome == kind as i32 && done.outcome_summary == r.summary {
                return Ok(Response::new(matter));
            }
            return Err(Status::failed_precondition(
                "the leader already decided this matter",
            ));
        }
        if matches!(
            CaseStatus::try_from(matter.status).unwrap_or_default(),
            CaseStatus::Closed | CaseStatus::Duplicate | CaseStatus::Merged
        ) {
            return Err(Status::failed_precondition(
                "the matter's case is closed: nothing to decide",
            ));
        }
        let current_lead = matter
            .route
            .as_ref()
            .map(|route| route.lead_unit_id.clone())
            .unwrap_or_default();
        let lead = if r.lead_unit_id.is_empty() {
            current_lead.clone()
        } else {
            r.lead_unit_id.clone()
        };
        if timed && lead.is_empty() {
            return Err(invalid_argument([(
                "lead_unit_id",
                "the case has no lead unit yet: name one",
            )]));
        }
        let leader = (kind == ReceptionOutcomeKind::LeaderOwned)
            .then(|| session.leader.clone())
            .flatten();
        let deadline = match due.filter(|_| timed) {
            Some(due) => Some(
                schedule::outcome_deadline(kind, due, starts_at, now, &self.0.calendar)
                    .map_err(|reason| invalid_argument([("due_at", reason)]))?,
            ),
            None => None,
        };

        let reason = match kind {
            ReceptionOutcomeKind::LeaderOwned => "领导包案",
            _ => "领导接访交办",
        };
        if timed && lead != current_lead {
            let name = self.unit_name(&lead);
            record_on(&self.0.cases, &matter_id, "centre", |view| {
                let previous = view.route.clone().unwrap_or_default();
                (previous.lead_unit_id != lead).then(|| {
                    case_event::Event::Reassigned(Reassigned {
                        from_unit_id: previous.lead_unit_id.clone(),
                        route: Some(RouteDecision {
                            lead_unit_id: lead.clone(),
                            lead_unit_name: name.clone(),
                            assisting_unit_ids: Vec::new(),
                            rule_id: "reception".into(),
                            fallback: false,
                            centre_reason: 0,
                            ..previous
                        }),
                        reason: reason.into(),
                    })
                })
            })
            .await
            .map_err(register_status)?;
        }
        let decision = ReceptionDecided {
            session_id: session.session_id.clone(),
            outcome: kind as i32,
            summary: r.summary.clone(),
            lead_unit_id: if timed { lead } else { String::new() },
            deadline,
            leader,
        };
        let view = record_on(&self.0.cases, &matter_id, "centre", |view| {
            let done = view
                .reception
                .as_ref()
                .is_some_and(|m| m.outcome != ReceptionOutcomeKind::Unspecified as i32);
            (!done).then(|| case_event::Event::ReceptionDecided(decision.clone()))
        })
        .await
        .map_err(register_status)?;
        metrics::reception_outcome(match kind {
            ReceptionOutcomeKind::Resolved => "resolved",
            ReceptionOutcomeKind::Assigned => "assigned",
            _ => "leader_owned",
        });
        tracing::info!(session_id = %r.session_id, case_id = %matter_id, outcome = kind.as_str_name(), "reception outcome recorded");
        Ok(Response::new(view))
    }

    async fn session_report(
        &self,
        request: Request<SessionRef>,
    ) -> Result<Response<ReceptionReport>, Status> {
        self.centre(&request)?;
        let id = request.into_inner().session_id;
        let session = self.session(&id).await?.session;
        let report = report_of(&self.0.cases, &session, OffsetDateTime::now_utc())
            .await
            .map_err(case_status)?;
        Ok(Response::new(report))
    }

    async fn record_findings(
        &self,
        request: Request<RecordFindingsRequest>,
    ) -> Result<Response<CaseView>, Status> {
        let unit = self.unit(&request)?;
        let r = request.into_inner();
        let hidden = || Status::not_found(format!("no case {} for this unit", r.case_id));
        let view = match self.0.cases.load(&r.case_id).await {
            Ok(v) => v.view,
            Err(CaseError::NotFound(_)) => return Err(hidden()),
            Err(e) => return Err(case_status(e)),
        };
        // A unit learns nothing of others' cases: the same answer as a missing case.
        if view.route.as_ref().map(|route| route.lead_unit_id.as_str()) != Some(unit.as_str()) {
            return Err(hidden());
        }
        if r.findings.trim().is_empty() || r.findings.chars().count() > MAX_FINDINGS_CHARS {
            return Err(invalid_argument([(
                "findings",
                format!("required, at most {MAX_FINDINGS_CHARS} characters"),
            )]));
        }
        let open_task = view.reception.as_ref().is_some_and(|m| {
            m.investigation.is_some() && m.state == ReceptionState::Registered as i32
        });
        if !open_task {
            return Err(Status::failed_precondition(
                "the case has no open investigation task (not a matter registered to a coming session)",
            ));
        }
        let actor = format!("unit:{unit}");
        let view = record_on(&self.0.cases, &r.case_id, &actor, |view| {
            let same = view
                .reception
                .as_ref()
                .is_some_and(|m| m.findings == r.findings);
            (!same).then(|| {
                case_event::Event::FindingsRecorded(FindingsRecorded {
                    unit_id: unit.clone(),
                    findings: r.findings.clone(),
                })
            })
        })
        .await
        .map_err(register_status)?;
        tracing::info!(case_id = %r.case_id, %unit, "investigation findings recorded");
        Ok(Response::new(view))
    }
}

fn refusal_status(refusal: Refusal) -> Status {
    match refusal {
        Refusal::Invalid(violations) => invalid_argument(violations),
        Refusal::WrongState(m) => Status::failed_precondition(m),
    }
}

fn store_status(e: StoreError) -> Status {
    match e {
        StoreError::Unavailable(e) => {
            tracing::warn!(error = %e, "session store unavailable");
            Status::unavailable("the session store is unavailable; retry later")
        }
        StoreError::Corrupt(reason) => {
            tracing::error!(%reason, "session data is corrupt");
            Status::internal("internal error")
        }
    }
}

fn case_status(e: CaseError) -> Status {
    match e {
        CaseError::NotFound(id) => Status::not_found(format!("no case {id}")),
        CaseError::Conflict(id) => Status::aborted(format!("case {id} changed meanwhile; retry")),
        CaseError::Unavailable(e) => {
            tracing::warn!(error = %e, "case store unavailable");
            Status::unavailable("the case store is unavailable; retry later")
        }
        CaseError::Corrupt(reason) => {
            tracing::error!(%reason, "case data is corrupt");
            Status::internal("internal error")
        }
    }
}

fn register_status(e: RegisterError) -> Status {
    match e {
        RegisterError::Transient(reason) => {
            tracing::warn!(%reason, "case write deferred");
            Status::unavailable("the case store is busy or unavailable; retry")
        }
        RegisterError::Poison(reason) => {
            tracing::error!(%reason, "case data is corrupt");
            Status::internal("internal error")
        }
    }
}
