//! `CaseService`: the thin gRPC edge of the unit workflow. Each call authenticates its actor,
//! loads the case, lets [`workflow::decide`] judge, and records the event; if another action
//! landed on the case in between, it reloads and judges again.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;

use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use futures::{Stream, StreamExt};
use minhu_clock::{Calendar, SlaConfig};
use minhu_contracts::bus::{self, CENTRE_QUEUE_ID};
use minhu_contracts::v1::case_service_server::{CaseService, CaseServiceServer};
use minhu_contracts::v1::{
    CaseRef, CaseStatus, CaseView, ClassifyRequest, CloseRequest, DecideExtensionRequest,
    DesignateRequest, EvaluateRequest, ExtensionRequest, ListCasesRequest, ListCasesResponse,
    Petition, Rating, ReassignRequest, ReplyRequest, RequestType, ReturnReason, ReturnRequest,
    ReviewRequest, SplitRequest, SubscribeRequest, UnitEvent, UnitEventDelivery,
};
use minhu_contracts::v1::{
    HandoverReportResponse, HandoverRequest, IntakeRecord, ListDeliveriesResponse, PauseRequest,
    Petitioner, ResumeRequest, RevealRequest, UnitListsRequest, UnitListsResponse,
};
use minhu_core::bus::Bus;
use minhu_core::case::{CaseStore, StoreError};
use minhu_core::config::Settings;
use minhu_core::credentials::{Credentials, bearer};
use minhu_core::deadlines::timestamp;
use minhu_core::domain::TrackingNumber;
use minhu_core::grpc::invalid_argument;
use minhu_core::privacy::Identity;
use prost::Message;
use time::OffsetDateTime;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

use crate::workflow::{self, Actor, Command, Refusal};

/// How often a call re-judges after losing a race with another action on the same case.
const ATTEMPTS: usize = 5;
const DEFAULT_PAGE: usize = 50;
const MAX_PAGE: usize = 500;

/// The units as the workflow sees them.
struct Directory {
    names: HashMap<String, String>,
    supervisors: HashMap<String, String>,
}

#[derive(Clone)]
pub struct CaseApi {
    bus: Bus,
    store: CaseStore,
    directory: Arc<Directory>,
    units: Credentials,
    centre: Credentials,
    channels: Credentials,
    identity: Identity,
    tracking_prefix: String,
    calendar: Arc<Calendar>,
    sla: Arc<SlaConfig>,
    objection_working_days: u32,
    review_window_days: u32,
    /// Routes a case the centre classified by hand.
    routing: minhu_triage::LiveRouting,
    deadlines: minhu_core::config::DeadlineSettings,
    deliveries: crate::webhook::DeliveryLog,
}

impl CaseApi {
    pub fn new(
        settings: &Settings,
        bus: Bus,
        calendar: Arc<Calendar>,
        routing: minhu_triage::LiveRouting,
    ) -> CaseApi {
        let units = &settings.catalogue.units;
        CaseApi {
            store: CaseStore::new(bus.clone()),
            bus: bus.clone(),
            directory: Arc::new(Directory {
                names: units
                    .iter()
                    .map(|u| (u.id.clone(), u.name.clone()))
                    .collect(),
                supervisors: settings.supervisors(),
            }),
            units: Credentials::of_units(settings),
            centre: Credentials::of_centre(settings),
            channels: Credentials::new(
                settings
                    .channels
                    .iter()
                    .filter_map(|c| c.token_digest().map(|d| (c.id.clone(), d))),
            ),
            identity: Identity::from_settings(&settings.identity),
            tracking_prefix: settings.identity.tracking_prefix.clone(),
            calendar,
            sla: Arc::new(settings.clock.sla_config()),
            objection_working_days: settings.centre.objection_working_days,
            review_window_days: settings.centre.review_window_days,
            routing,
            deadlines: settings.deadlines.clone(),
            deliveries: crate::webhook::DeliveryLog::new(bus.clone(), settings),
        }
    }

    pub fn into_service(self) -> CaseServiceServer<CaseApi> {
        CaseServiceServer::new(self)
    }

    fn token(metadata: &MetadataMap) -> Result<&str, Status> {
        metadata
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(bearer)
            .ok_or_else(|| Status::unauthenticated("missing authorization: Bearer <token>"))
    }

    fn unit<T>(&self, request: &Request<T>) -> Result<String, Status> {
        self.units
            .identify(Self::token(request.metadata())?)
            .map(str::to_owned)
            .ok_or_else(|| Status::unauthenticated("not a unit token"))
    }

    fn centre<T>(&self, request: &Request<T>) -> Result<(), Status> {
        self.centre
            .identify(Self::token(request.metadata())?)
            .map(|_| ())
            .ok_or_else(|| Status::unauthenticated("not the centre token"))
    }

    /// The centre, or else a unit, by its token.
    fn unit_or_centre<T>(&self, request: &Request<T>) -> Result<Actor, Status> {
        if self.centre(request).is_ok() {
            return Ok(Actor::Centre);
        }
        self.unit(request)
            .map(Actor::Unit)
            .map_err(|_| Status::unauthenticated("not a unit or centre token"))
    }

    /// A petitioner acts through a channel, proving the case with its query code.
    fn petitioner<T>(
        &self,
        request: &Request<T>,
        tracking_number: &str,
        query_code: &str,
    ) -> Result<String, Status> {
        self.channels
            .identify(Self::token(request.metadata())?)
            .ok_or_else(|| Status::unauthenticated("not a channel token"))?;
        let not_found = || Status::not_found("no case with this tracking number and query code");
        let tracking = TrackingNumber::parse(&self.tracking_prefix, tracking_number)
            .map_err(|_| not_found())?;
        if !self
            .identity
            .verify_query_code(tracking.as_str(), query_code)
        {
            return Err(not_found());
        }
        Ok(tracking.to_string())
    }

    /// A unit by its token, or the centre (as [`CENTRE_QUEUE_ID`], the id its queue is
    /// indexed under).
    fn reader<T>(&self, request: &Request<T>) -> Result<String, Status> {
        match self.unit_or_centre(request)? {
            Actor::Unit(unit) => Ok(unit),
            _ => Ok(CENTRE_QUEUE_ID.to_owned()),
        }
    }

    /// Whether `unit` may see the case: its lead or assisting unit, or the lead's supervisor;
    /// the centre sees every case.
    fn visible_to(&self, view: &CaseView, unit: &str) -> bool {
        if unit == CENTRE_QUEUE_ID {
            return true;
        }
        let Some(route) = &view.route else {
            return false;
        };
        route.lead_unit_id == unit
            || route.assisting_unit_ids.iter().any(|u| u == unit)
            || self
                .directory
                .supervisors
                .get(&route.lead_unit_id)
                .map(String::as_str)
                == Some(unit)
    }

    async fn load(&self, case_id: &str) -> Result<minhu_core::case::Versioned, Status> {
        self.store.load(case_id).await.map_err(store_status)
    }

    /// Judges and records `command` on the case, re-judging after a lost race.
    async fn act(&self, case_id: &str, actor: Actor, command: Command) -> Result<CaseView, Status> {
        let directory = self.directory.clone();
        let supervisor_of = |u: &str| directory.supervisors.get(u).cloned();
        let unit_name = |u: &str| directory.names.get(u).cloned();
        let rules = workflow::Rules {
            calendar: &self.calendar,
            objection_working_days: self.objection_working_days,
            review_window_days: self.review_window_days,
            supervisor_of: &supervisor_of,
            unit_name: &unit_name,
            sla: &self.sla,
        };
        for _ in 0..ATTEMPTS {
            let current = self.load(case_id).await?;
            if let Actor::Unit(unit) = &actor
                && !self.visible_to(&current.view, unit)
            {
                // The same answer as a missing case: a unit learns nothing of others' cases.
                return Err(Status::not_found(format!(
                    "no case {case_id} for this unit"
                )));
            }
            let now = OffsetDateTime::now_utc();
            let event = workflow::decide(&current.view, &actor, command.clone(), now, &rules)
                .map_err(refusal_status)?;
            match self
                .store
                .commit(&current, &actor.label(), event, timestamp(now))
                .await
            {
                Ok(next) => {
                    tracing::info!(case_id, actor = %actor.label(), version = next.view.version, "case event recorded");
                    return Ok(next.view);
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(store_status(e)),
            }
        }
        Err(Status::aborted(
            "the case kept changing while this action was judged; retry",
        ))
    }

    /// A unit's action on one of its cases: the unit its token identifies acts, `command` names
    /// the case and the action the request asks for, and the answer is the case after it.
    async fn unit_call<T>(
        &self,
        request: Request<T>,
        command: impl FnOnce(T) -> (String, Command),
    ) -> Result<Response<CaseView>, Status> {
        let unit = self.unit(&request)?;
        let (case_id, command) = command(request.into_inner());
        self.act(&case_id, Actor::Unit(unit), command)
            .await
            .map(Response::new)
    }

    /// 改派 by the centre, for tools acting in its name (`minhu replay`): as the `Reassign`
    /// call, without a token.
    pub async fn reassign_by_centre(
        &self,
        case_id: &str,
        lead: String,
        assisting: Vec<String>,
        reason: String,
    ) -> Result<CaseView, Status> {
        let command = Command::Reassign {
            lead,
            assisting,
            reason,
        };
        self.act(case_id, Actor::Centre, command).await
    }

    /// The unit's case ids and statuses, from the unit index.
    async fn unit_cases(&self, unit: &str) -> Result<Vec<(String, i32)>, Status> {
        let stream = self
            .bus
            .js
            .get_stream(format!("KV_{}", bus::UNIT_CASES_BUCKET))
            .await
            .map_err(|e| unavailable(e.into()))?;
        let prefix = format!("$KV.{}.{unit}.", bus::UNIT_CASES_BUCKET);
        let consumer = stream
            .create_consumer(pull::OrderedConfig {
                filter_subject: format!("{prefix}*"),
                deliver_policy: DeliverPolicy::LastPerSubject,
                ..Default::default()
            })
            .await
            .map_err(|e| unavailable(e.into()))?;
        let pending = consumer.cached_info().num_pending;
        let mut out = Vec::new();
        if pending == 0 {
            return Ok(out);
        }
        let mut messages = consumer
            .messages()
            .await
            .map_err(|e| unavailable(e.into()))?
            .take(pending as usize);
        while let Some(message) = messages.next().await {
            let message = message.map_err(|e| unavailable(e.into()))?;
            let deleted = message
                .headers
                .as_ref()
                .and_then(|h| h.get("KV-Operation"))
                .is_some_and(|op| op.as_str() != "PUT");
            if deleted {
                continue;
            }
            let case_id = message.subject.as_str()[prefix.len()..].to_owned();
            let status = std::str::from_utf8(&message.payload)
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or_default();
            out.push((case_id, status));
        }
        out.sort();
        Ok(out)
    }
}

impl CaseApi {
    /// The unit a list or report is for: a unit's own, or the one the centre names.
    fn list_owner<T>(&self, request: &Request<T>, unit_id: &str) -> Result<String, Status> {
        match self.unit_or_centre(request)? {
            Actor::Unit(unit) if unit_id.is_empty() || unit_id == unit => Ok(unit),
            Actor::Unit(_) => Err(Status::permission_denied("a unit reads its own lists only")),
            _ if unit_id.is_empty() => Err(invalid_argument([(
                "unit_id",
                "required with the centre token",
            )])),
            _ if !self.directory.names.contains_key(unit_id) => Err(invalid_argument([(
                "unit_id",
                format!("{unit_id:?} is not a unit of the catalogue"),
            )])),
            _ => Ok(unit_id.to_owned()),
        }
    }

    /// The unit's open cases, as the unit index lists them, each as it stands now.
    async fn open_cases(&self, unit: &str) -> Result<Vec<CaseView>, Status> {
        let mut views = Vec::new();
        for (id, status) in self.unit_cases(unit).await? {
            // The index may lag the case: the view decides, the index only spares loads.
            if crate::lists::is_open(status) {
                views.push(self.load(&id).await?.view);
            }
        }
        Ok(views)
    }
}

type SubscribeStream = Pin<Box<dyn Stream<Item = Result<UnitEventDelivery, Status>> + Send>>;

#[tonic::async_trait]
impl CaseService for CaseApi {
    async fn list_cases(
        &self,
        request: Request<ListCasesRequest>,
    ) -> Result<Response<ListCasesResponse>, Status> {
        let unit = self.reader(&request)?;
        let request = request.into_inner();
        let size = match request.page_size as usize {
            0 => DEFAULT_PAGE,
            n => n.min(MAX_PAGE),
        };
        let wanted: Vec<i32> = request.statuses.clone();
        let mut matching = self
            .unit_cases(&unit)
            .await?
            .into_iter()
            .filter(|(id, status)| {
                id.as_str() > request.page_token.as_str()
                    && (wanted.is_empty() || wanted.contains(status))
            });
        let mut cases = Vec::new();
        for (id, _) in matching.by_ref().take(size) {
            cases.push(self.load(&id).await?.view);
        }
        let next_page_token = match matching.next() {
            Some(_) => cases.last().map(|c| c.case_id.clone()).unwrap_or_default(),
            None => String::new(),
        };
        Ok(Response::new(ListCasesResponse {
            cases,
            next_page_token,
        }))
    }

    async fn get_case(&self, request: Request<CaseRef>) -> Result<Response<CaseView>, Status> {
        let unit = self.reader(&request)?;
        let case_id = request.into_inner().case_id;
        let view = match self.store.load(&case_id).await {
            Ok(v) => v.view,
            Err(StoreError::NotFound(_)) => {
                return Err(Status::not_found(format!(
                    "no case {case_id} for this unit"
                )));
            }
            Err(e) => return Err(store_status(e)),
        };
        if !self.visible_to(&view, &unit) {
            return Err(Status::not_found(format!(
                "no case {case_id} for this unit"
            )));
        }
        Ok(Response::new(view))
    }

    async fn sign_for(&self, request: Request<CaseRef>) -> Result<Response<CaseView>, Status> {
        self.unit_call(request, |r| (r.case_id, Command::SignFor))
            .await
    }

    async fn r#return(
        &self,
        request: Request<ReturnRequest>,
    ) -> Result<Response<CaseView>, Status> {
        self.unit_call(request, |r| {
            let command = Command::Return {
                reason: ReturnReason::try_from(r.reason).unwrap_or_default(),
                explanation: r.explanation,
            };
            (r.case_id, command)
        })
        .await
    }

    async fn reveal_petitioner(
        &self,
        request: Request<RevealRequest>,
    ) -> Result<Response<Petitioner>, Status> {
        let unit = self.unit(&request)?;
        let r = request.into_inner();
        // The audit event is durable before anything is opened: no read goes unrecorded.
        let view = self
            .act(
                &r.case_id,
                Actor::Unit(unit.clone()),
                Command::RevealPetitioner { reason: r.reason },
            )
            .await?;
        let stored = self
            .bus
            .intake
            .get_raw_message(view.intake_sequence)
            .await
            .map_err(|e| unavailable(e.into()))?;
        let record = IntakeRecord::decode(stored.payload)
            .map_err(|_| Status::internal("the intake record does not decode"))?;
        let sealed = record
            .sealed_petitioner
            .ok_or_else(|| Status::failed_precondition("the petition is anonymous"))?;
        let petitioner = self.identity.open(&sealed).map_err(|e| {
            tracing::error!(case_id = %view.case_id, error = %e, "sealed identity does not open");
            Status::internal("the identity cannot be opened")
        })?;
        tracing::info!(case_id = %view.case_id, %unit, "petitioner identity read (audited)");
        Ok(Response::new(petitioner))
    }

    async fn reply(&self, request: Request<ReplyRequest>) -> Result<Response<CaseView>, Status> {
        self.unit_call(request, |r| (r.case_id, Command::Reply { reply: r.reply }))
            .await
    }

    async fn request_extension(
        &self,
        request: Request<ExtensionRequest>,
    ) -> Result<Response<CaseView>, Status> {
        self.unit_call(request, |r| {
            let command = Command::RequestExtension {
                days: r.days,
                reason: r.reason,
            };
            (r.case_id, command)
        })
        .await
    }

    async fn decide_extension(
        &self,
        request: Request<DecideExtensionRequest>,
    ) -> Result<Response<CaseView>, Status> {
        self.unit_call(request, |r| {
            let command = Command::DecideExtension {
                approve: r.approve,
                reason: r.reason,
            };
            (r.case_id, command)
        })
        .await
    }

    async fn close(&self, request: Request<CloseRequest>) -> Result<Response<CaseView>, Status> {
        self.unit_call(request, |r| {
            (r.case_id, Command::Close { summary: r.summary })
        })
        .await
    }

    async fn pause(&self, request: Request<PauseRequest>) -> Result<Response<CaseView>, Status> {
        let actor = self.unit_or_centre(&request)?;
        let r = request.into_inner();
        self.act(&r.case_id, actor, Command::Pause { reason: r.reason })
            .await
            .map(Response::new)
    }

    async fn resume(&self, request: Request<ResumeRequest>) -> Result<Response<CaseView>, Status> {
        let actor = self.unit_or_centre(&request)?;
        let r = request.into_inner();
        self.act(&r.case_id, actor, Command::Resume { reason: r.reason })
            .await
            .map(Response::new)
    }

    type SubscribeStream = SubscribeStream;

    async fn subscribe(
        &self,
        request: Request<SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        // A unit's feed, or with the centre token the centre's queue (minhu.dispatch.centre.>).
        let unit = self.reader(&request)?;
        let from = request.into_inner().from_sequence;
        let deliver_policy = if from == 0 {
            DeliverPolicy::All
        } else {
            DeliverPolicy::ByStartSequence {
                start_sequence: from,
            }
        };
        // An ordered consumer: in stream order, no gaps, no repeats; the client resumes with
        // the last delivered sequence + 1.
        let consumer = self
            .bus
            .dispatch
            .create_consumer(pull::OrderedConfig {
                filter_subject: bus::unit_dispatch_filter(&unit),
                deliver_policy,
                ..Default::default()
            })
            .await
            .map_err(|e| unavailable(e.into()))?;
        let messages = consumer
            .messages()
            .await
            .map_err(|e| unavailable(e.into()))?;
        let deliveries = messages.map(|message| {
            let message = message.map_err(|e| unavailable(e.into()))?;
            let sequence = message
                .info()
                .map_err(|e| Status::internal(format!("not a stream message: {e}")))?
                .stream_sequence;
            let event = UnitEvent::decode(message.payload.clone())
                .map_err(|_| Status::internal("a feed message does not decode"))?;
            Ok(UnitEventDelivery {
                sequence,
                event: Some(event),
            })
        });
        Ok(Response::new(Box::pin(deliveries)))
    }

    async fn list_deliveries(
        &self,
        request: Request<CaseRef>,
    ) -> Result<Response<ListDeliveriesResponse>, Status> {
        let reader = self.reader(&request)?;
        let case_id = request.into_inner().case_id;
        let hidden = || Status::not_found(format!("no case {case_id} for this unit"));
        let view = match self.store.load(&case_id).await {
            Ok(v) => v.view,
            Err(StoreError::NotFound(_)) => return Err(hidden()),
            Err(e) => return Err(store_status(e)),
        };
        let mut deliveries = self.deliveries.list(&case_id).await.map_err(unavailable)?;
        // A unit sees its own deliveries, also of a case since taken from it.
        if reader != CENTRE_QUEUE_ID {
            deliveries.retain(|d| d.unit_id == reader);
            if deliveries.is_empty() && !self.visible_to(&view, &reader) {
                return Err(hidden());
            }
        }
        Ok(Response::new(ListDeliveriesResponse { deliveries }))
    }

    async fn unit_lists(
        &self,
        request: Request<UnitListsRequest>,
    ) -> Result<Response<UnitListsResponse>, Status> {
        let unit = self.list_owner(&request, &request.get_ref().unit_id)?;
        let cases = self.open_cases(&unit).await?;
        Ok(Response::new(crate::lists::unit_lists(
            &unit,
            &cases,
            OffsetDateTime::now_utc(),
        )))
    }

    async fn handover_report(
        &self,
        request: Request<HandoverRequest>,
    ) -> Result<Response<HandoverReportResponse>, Status> {
        let unit = self.list_owner(&request, &request.get_ref().unit_id)?;
        let cases = self.open_cases(&unit).await?;
        Ok(Response::new(crate::lists::handover(
            &unit,
            &cases,
            OffsetDateTime::now_utc(),
        )))
    }

    async fn reassign(
        &self,
        request: Request<ReassignRequest>,
    ) -> Result<Response<CaseView>, Status> {
        self.centre(&request)?;
        let r = request.into_inner();
        let command = Command::Reassign {
            lead: r.lead_unit_id,
            assisting: r.assisting_unit_ids,
            reason: r.reason,
        };
        self.act(&r.case_id, Actor::Centre, command)
            .await
            .map(Response::new)
    }

    async fn classify(
        &self,
        request: Request<ClassifyRequest>,
    ) -> Result<Response<CaseView>, Status> {
        self.centre(&request)?;
        let r = request.into_inner();
        let routing = self.routing.current();
        let known = routing
            .router()
            .categories()
            .any(|c| c == r.category && c != minhu_route::ANY_CATEGORY);
        if !known {
            return Err(invalid_argument([(
                "category",
                format!("{:?} is not a category of the catalogue", r.category),
            )]));
        }
        let view = self.load(&r.case_id).await?.view;
        let mut classification = view.classification.clone().unwrap_or_default();
        classification.category = r.category.clone();
        if r.request_type != RequestType::Unspecified as i32 {
            classification.request_type = r.request_type;
        }
        classification.decided_by = "centre".into();
        classification.below_confidence_gate = false;
        let petition = Petition {
            title: view.title.clone(),
            body: view.body.clone(),
            location: view.location.clone(),
            ..Default::default()
        };
        // The channel's area as configured: the case view does not carry the registry's.
        let mut route = routing.route(
            &petition,
            &view.channel_id,
            "",
            &r.category,
            RequestType::try_from(classification.request_type).unwrap_or_default(),
            classification.xinfang_category
                == minhu_contracts::v1::XinfangCategory::Accusation as i32,
        );
        // The reporter's consent was given (or not) at intake; routing again cannot grant it.
        route.identity_withheld |= view.identity_confidential;
        let accepted_at = view
            .accepted_at
            .and_then(|t| OffsetDateTime::from_unix_timestamp(t.seconds).ok())
            .unwrap_or_else(OffsetDateTime::now_utc);
        let command = Command::Classify {
            classification: Box::new(classification),
            route,
            deadlines: minhu_core::deadlines::initial(accepted_at, &self.deadlines),
            reason: r.reason,
        };
        self.act(&r.case_id, Actor::Centre, command)
            .await
            .map(Response::new)
    }

    async fn designate(
        &self,
        request: Request<DesignateRequest>,
    ) -> Result<Response<CaseView>, Status> {
        self.centre(&request)?;
        let r = request.into_inner();
        let command = Command::Designate {
            unit: Some(r.unit_id),
            reason: r.reason,
        };
        self.act(&r.case_id, Actor::Centre, command)
            .await
            .map(Response::new)
    }

    async fn split(&self, request: Request<SplitRequest>) -> Result<Response<CaseView>, Status> {
        self.centre(&request)?;
        let r = request.into_inner();
        let lead = self.load(&r.case_id).await?.view.cluster_lead;
        let member = self
            .act(
                &r.case_id,
                Actor::Centre,
                Command::Split {
                    reason: r.reason.clone(),
                },
            )
            .await?;
        // The lead forgets its member (audited there too). Recorded once: a repeated call finds
        // the member gone from the lead.
        for _ in 0..ATTEMPTS {
            let current = self.load(&lead).await?;
            if !current
                .view
                .cluster_members
                .iter()
                .any(|m| m.case_id == r.case_id)
            {
                break;
            }
            let event = minhu_contracts::v1::case_event::Event::MemberSplit(
                minhu_contracts::v1::MemberSplit {
                    member_case_id: r.case_id.clone(),
                    reason: r.reason.clone(),
                },
            );
            let now = timestamp(OffsetDateTime::now_utc());
            match self.store.commit(&current, "centre", event, now).await {
                Ok(_) => break,
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(store_status(e)),
            }
        }
        Ok(Response::new(member))
    }

    async fn evaluate(
        &self,
        request: Request<EvaluateRequest>,
    ) -> Result<Response<CaseView>, Status> {
        let case_id = self.petitioner(
            &request,
            &request.get_ref().tracking_number,
            &request.get_ref().query_code,
        )?;
        let r = request.into_inner();
        let command = Command::Evaluate {
            rating: Rating::try_from(r.rating).unwrap_or_default(),
            comment: r.comment,
        };
        self.act(&case_id, Actor::Petitioner, command)
            .await
            .map(Response::new)
    }

    async fn request_review(
        &self,
        request: Request<ReviewRequest>,
    ) -> Result<Response<CaseView>, Status> {
        let case_id = self.petitioner(
            &request,
            &request.get_ref().tracking_number,
            &request.get_ref().query_code,
        )?;
        let reason = request.into_inner().reason;
        self.act(
            &case_id,
            Actor::Petitioner,
            Command::RequestReview { reason },
        )
        .await
        .map(Response::new)
    }
}

fn refusal_status(refusal: Refusal) -> Status {
    match refusal {
        Refusal::NotAllowed(m) => Status::permission_denied(m),
        Refusal::WrongState(m) => Status::failed_precondition(m),
        Refusal::Invalid(violations) => invalid_argument(violations),
    }
}

fn store_status(e: StoreError) -> Status {
    match e {
        StoreError::NotFound(id) => Status::not_found(format!("no case {id}")),
        StoreError::Conflict(id) => Status::aborted(format!("case {id} changed meanwhile; retry")),
        StoreError::Unavailable(e) => unavailable(e),
        StoreError::Corrupt(reason) => {
            tracing::error!(%reason, "case data is corrupt");
            Status::internal("internal error")
        }
    }
}

fn unavailable(e: async_nats::Error) -> Status {
    tracing::warn!(error = %e, "case store unavailable");
    Status::unavailable("the case store is unavailable; retry later")
}

/// The status number stored in the unit index.
pub fn index_value(status: CaseStatus) -> bytes::Bytes {
    bytes::Bytes::from((status as i32).to_string())
}
