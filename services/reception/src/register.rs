//! Pre-registration as part of the normal intake path: after triage has decided a petition
//! (receipt, idempotency, classification, dedup, routing as for any other), a petition naming
//! a session is registered to it, or offered the next session for the same area, or left to
//! normal handling; the case records which.
//!
//! Every step is idempotent, so a redelivered intake message finishes what a crash left: the
//! registration is a compare-and-set on the session (the place is taken once), and each case
//! event is recorded unless the case shows it already.

use std::sync::Arc;

use minhu_clock::Calendar;
use minhu_contracts::v1::{
    CaseView, ReceptionOffered, ReceptionRegistered, ReceptionSession, ReceptionState,
    RegistrationRefusal, case_event,
};
use minhu_core::bus::Bus;
use minhu_core::case::{CaseStore, StoreError as CaseError, Versioned};
use minhu_core::deadlines::timestamp;
use minhu_core::domain::SessionId;
use minhu_core::metrics;
use minhu_core::reception::ReceptionSettings;
use time::OffsetDateTime;

use crate::batch::matter_of;
use crate::registration::{self, Decision, Petition};
use crate::schedule;
use crate::session::summary;
use crate::store::{Sessions, StoreError};

/// How the registrar signs its case events: it runs inside triage.
const ACTOR: &str = "triage";
/// Lost compare-and-set races tolerated before the message is retried.
const ATTEMPTS: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// The bus failed or a case is not written yet: the intake message is tried again.
    #[error("registration must be retried: {0}")]
    Transient(String),
    #[error("registration cannot be done: {0}")]
    Poison(String),
}

impl From<StoreError> for RegisterError {
    fn from(e: StoreError) -> RegisterError {
        match e {
            StoreError::Corrupt(reason) => RegisterError::Poison(reason),
            other => RegisterError::Transient(other.to_string()),
        }
    }
}

impl From<CaseError> for RegisterError {
    fn from(e: CaseError) -> RegisterError {
        match e {
            CaseError::Corrupt(reason) => RegisterError::Poison(reason),
            other => RegisterError::Transient(other.to_string()),
        }
    }
}

/// What became of a petition that named a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registered {
    Registered {
        matter_case_id: String,
    },
    Offered {
        session_id: Option<String>,
        refusal: RegistrationRefusal,
    },
}

/// Cheap to clone: the handles are shared (a bus handle is kilobytes, and triage's futures
/// hold the worker by value).
#[derive(Clone)]
pub struct Registrar(Arc<Inner>);

struct Inner {
    sessions: Sessions,
    cases: CaseStore,
    calendar: Calendar,
    settings: ReceptionSettings,
}

impl Registrar {
    pub fn new(bus: &Bus, settings: &ReceptionSettings, calendar: Calendar) -> Registrar {
        Registrar(Arc::new(Inner {
            sessions: Sessions::new(bus),
            cases: CaseStore::new(bus.clone()),
            calendar,
            settings: settings.clone(),
        }))
    }

    /// Registers case `case_id` to the session `session_id` its petition named (nothing when
    /// it named none).
    pub async fn register(
        &self,
        case_id: &str,
        session_id: &str,
    ) -> Result<Option<Registered>, RegisterError> {
        if session_id.is_empty() {
            return Ok(None);
        }
        let view = self.0.cases.load(case_id).await?.view;
        let petition = self.petition(&view).await?;
        // The gateway refuses a malformed reference; one from an older record is unknown.
        let known = SessionId::parse(session_id).is_ok();
        for _ in 0..ATTEMPTS {
            let now = OffsetDateTime::now_utc();
            let current = if known {
                self.0.sessions.get(session_id).await?
            } else {
                None
            };
            let decision =
                registration::decide(current.as_ref().map(|v| &v.session), &petition, now);
            let refusal = match decision {
                Decision::Refuse(refusal) => Some(refusal),
                _ => None,
            };
            let (Some(current), None) = (current, refusal) else {
                let refusal = refusal.unwrap_or(RegistrationRefusal::Unknown);
                return self.offer(&view, &petition, session_id, refusal, now).await;
            };
            let (mut session, revision) = (current.session, current.revision);
            if let Decision::Register { new_matter } = decision {
                registration::register(&mut session, &petition, now);
                if self.0.sessions.update(&session, revision).await?.is_none() {
                    continue;
                }
                metrics::reception_registration(if new_matter { "registered" } else { "joined" });
            }
            self.record_registered(&session, &petition, now).await?;
            return Ok(Some(Registered::Registered {
                matter_case_id: petition.matter_case_id,
            }));
        }
        Err(RegisterError::Transient(format!(
            "session {session_id} kept changing"
        )))
    }

    /// What registration needs of the case: its matter, and the area and category of the
    /// matter (a repeat has no route of its own: its original's counts).
    async fn petition(&self, view: &CaseView) -> Result<Petition, RegisterError> {
        let matter_case_id = matter_of(view).to_owned();
        let matter = if matter_case_id == view.case_id {
            view.clone()
        } else {
            self.0.cases.load(&matter_case_id).await?.view
        };
        let division_code = matter
            .route
            .as_ref()
            .map(|r| r.division_code.clone())
            .filter(|c| !c.is_empty())
            .or_else(|| matter.location.as_ref().map(|l| l.division_code.clone()))
            .unwrap_or_default();
        Ok(Petition {
            case_id: view.case_id.clone(),
            matter_case_id,
            division_code,
            category: matter
                .classification
                .as_ref()
                .map(|c| c.category.clone())
                .unwrap_or_default(),
        })
    }

    /// Records the registration on the case, and on the case carrying the matter when that is
    /// another one not yet on this session: its lead unit investigates before the day.
    async fn record_registered(
        &self,
        session: &ReceptionSession,
        petition: &Petition,
        now: OffsetDateTime,
    ) -> Result<(), RegisterError> {
        let on_session = |v: &CaseView| {
            v.reception.as_ref().is_some_and(|r| {
                r.session_id == session.session_id && r.state != ReceptionState::Unspecified as i32
            })
        };
        let own_matter = petition.matter_case_id == petition.case_id;
        let event = case_event::Event::ReceptionRegistered(ReceptionRegistered {
            session: Some(summary(session)),
            matter_case_id: petition.matter_case_id.clone(),
            investigation: own_matter
                .then(|| self.investigation(session, now))
                .flatten(),
            registered_via: String::new(),
        });
        self.record_on(&petition.case_id, event, on_session).await?;
        if own_matter {
            return Ok(());
        }
        let busy_elsewhere = |v: &CaseView| {
            on_session(v)
                || v.reception.as_ref().is_some_and(|r| {
                    matches!(
                        ReceptionState::try_from(r.state),
                        Ok(ReceptionState::Registered | ReceptionState::Decided)
                    )
                })
        };
        let event = case_event::Event::ReceptionRegistered(ReceptionRegistered {
            session: Some(summary(session)),
            matter_case_id: petition.matter_case_id.clone(),
            investigation: self.investigation(session, now),
            registered_via: petition.case_id.clone(),
        });
        self.record_on(&petition.matter_case_id, event, busy_elsewhere)
            .await
    }

    /// The investigation deadline of a matter registered at `now`.
    pub(crate) fn investigation(
        &self,
        session: &ReceptionSession,
        now: OffsetDateTime,
    ) -> Option<minhu_contracts::v1::Deadline> {
        let starts_at = crate::instant(session.starts_at)?;
        Some(schedule::investigation_deadline(
            starts_at,
            self.0.settings.investigation_working_days,
            self.0.settings.investigation_warn_before.duration(),
            now,
            &self.0.calendar,
        ))
    }

    /// Records that the petition was not registered, with the next session for the same area
    /// if there is one.
    async fn offer(
        &self,
        view: &CaseView,
        petition: &Petition,
        session_id: &str,
        refusal: RegistrationRefusal,
        now: OffsetDateTime,
    ) -> Result<Option<Registered>, RegisterError> {
        let sessions = self.0.sessions.all().await?;
        let offered = registration::next_session(&sessions, session_id, petition, now);
        metrics::reception_registration(refusal_label(refusal));
        let event = case_event::Event::ReceptionOffered(ReceptionOffered {
            session_id: session_id.to_owned(),
            refusal: refusal as i32,
            offered: offered.map(summary),
        });
        self.record_on(&view.case_id, event, |v| {
            v.reception
                .as_ref()
                .is_some_and(|r| r.session_id == session_id)
        })
        .await?;
        Ok(Some(Registered::Offered {
            session_id: offered.map(|s| s.session_id.clone()),
            refusal,
        }))
    }

    /// Records `event` on the case unless `done` says it shows already.
    async fn record_on(
        &self,
        case_id: &str,
        event: case_event::Event,
        done: impl Fn(&CaseView) -> bool,
    ) -> Result<(), RegisterError> {
        record_on(&self.0.cases, case_id, ACTOR, |v| {
            (!done(v)).then(|| event.clone())
        })
        .await
        .map(|_| ())
    }
}

/// Records on a case as `actor` the event `event` makes of its current view (None: the case
/// shows it already), re-reading after a lost race; the case as it stands after.
pub(crate) async fn record_on(
    cases: &CaseStore,
    case_id: &str,
    actor: &str,
    event: impl Fn(&CaseView) -> Option<case_event::Event>,
) -> Result<CaseView, RegisterError> {
    for _ in 0..ATTEMPTS {
        let current: Versioned = cases.load(case_id).await?;
        let Some(event) = event(&current.view) else {
            return Ok(current.view);
        };
        let now = timestamp(OffsetDateTime::now_utc());
        match cases.commit(&current, actor, event, now).await {
            Ok(next) => return Ok(next.view),
            Err(CaseError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(RegisterError::Transient(format!(
        "case {case_id} kept changing"
    )))
}

fn refusal_label(refusal: RegistrationRefusal) -> &'static str {
    match refusal {
        RegistrationRefusal::Full => "full",
        RegistrationRefusal::Window => "window",
        RegistrationRefusal::NotOpen => "not_open",
        RegistrationRefusal::Unknown => "unknown",
        RegistrationRefusal::NotCovered => "not_covered",
        RegistrationRefusal::Unspecified => "refused",
    }
}
