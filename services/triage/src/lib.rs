//! The triage role: every stored petition is classified, checked for duplicates, routed and
//! dispatched to its unit (or put in the dispatch centre's queue), once.
//!
//! The decisions are pure cores of their own crates, put together here in [`Triage`]:
//! - minhu-classify: the domain label with a calibrated probability and an explanation; the
//!   rules for request type, 信访 category, urgency and legal pathway (诉访分离);
//! - minhu-route: where the matter arose, which unit the catalogue gives it to, and the
//!   accusation guard (检举控告 never reaches the accused);
//! - minhu-dedup (through [`near`]): repeats and clusters.
//!
//! The edges: [`worker`], the durable consumer of the intake stream, and [`reload`], which
//! swaps in a new model file without a restart.

pub mod journal;
pub mod near;
pub mod reload;
pub mod worker;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use minhu_classify::{Model, PathwayKind, Rules, XinfangCategory as RuleCategory};
use minhu_contracts::v1::{
    CentreReason, Classification, FeatureWeight, LabelScore, LegalPathway, LocationSource,
    Petition, RequestType, RouteDecision, Triaged, Urgency, XinfangCategory,
};
use minhu_core::config::Settings;
use minhu_route::{RouteInput, RouteOutcome, Router};

/// Why triage cannot start with a configuration.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("classifier model {path}: {source}")]
    Model {
        path: String,
        source: minhu_classify::ModelError,
    },
    #[error("classifier rules {path}: {reason}")]
    Rules { path: String, reason: String },
    #[error(transparent)]
    Routing(#[from] minhu_route::ConfigErrors),
}

/// The decision pipeline: the model in force (swapped on reload), the text rules, the routing.
pub struct Triage {
    model: RwLock<Arc<Model>>,
    rules: Rules,
    routing: LiveRouting,
    min_confidence: f64,
}

/// The routing in force, shared by triage and the centre's manual classification; a
/// configuration reload swaps in a new one (cases already routed keep their decision, which
/// names the catalogue version that made it).
#[derive(Clone)]
pub struct LiveRouting(Arc<RwLock<Arc<Routing>>>);

impl LiveRouting {
    pub fn new(routing: Routing) -> LiveRouting {
        LiveRouting(Arc::new(RwLock::new(Arc::new(routing))))
    }

    /// The routing now.
    pub fn current(&self) -> Arc<Routing> {
        self.0.read().expect("routing lock").clone()
    }

    pub fn replace(&self, routing: Routing) {
        *self.0.write().expect("routing lock") = Arc::new(routing);
    }
}

/// Where a classified petition goes: the catalogue's router and each channel's own area.
/// The centre's manual classification (CaseService `Classify`) routes with it too.
pub struct Routing {
    router: Router,
    /// Each channel's own area (行政区划代码), for petitions that name no place.
    channel_areas: HashMap<String, String>,
}

impl Triage {
    /// Builds the pipeline from the settings: the configured model file or the embedded
    /// default model, the configured rules or the embedded ones, the catalogue.
    pub fn new(settings: &Settings) -> Result<Triage, SetupError> {
        Triage::sharing(settings, LiveRouting::new(Routing::new(settings)?))
    }

    /// As [`Triage::new`], routing with `routing` (shared with others that route).
    pub fn sharing(settings: &Settings, routing: LiveRouting) -> Result<Triage, SetupError> {
        let model = match &settings.classifier.model_file {
            Some(path) => Arc::new(Model::load(path).map_err(|source| SetupError::Model {
                path: path.display().to_string(),
                source,
            })?),
            None => Arc::new(minhu_classify::default_model().clone()),
        };
        let rules = match &settings.classifier.rules_file {
            Some(path) => {
                let rules_error = |reason: String| SetupError::Rules {
                    path: path.display().to_string(),
                    reason,
                };
                let text = std::fs::read_to_string(path).map_err(|e| rules_error(e.to_string()))?;
                Rules::from_toml(&text).map_err(|e| rules_error(e.to_string()))?
            }
            None => minhu_classify::default_rules().clone(),
        };
        Triage::with(settings, model, rules, routing)
    }

    /// The pipeline with a given model and rules (tests, benchmarks).
    pub fn with(
        settings: &Settings,
        model: Arc<Model>,
        rules: Rules,
        routing: LiveRouting,
    ) -> Result<Triage, SetupError> {
        fits(&model, &routing.current())?;
        Ok(Triage {
            model: RwLock::new(model),
            rules,
            routing,
            min_confidence: settings.classifier.min_confidence,
        })
    }

    /// The model in force.
    pub fn model(&self) -> Arc<Model> {
        self.model.read().expect("model lock").clone()
    }

    /// Puts `model` in force if the catalogue's categories are all among its labels (a model
    /// that lacks one would leave that category's rules unreachable).
    pub fn swap_model(&self, model: Arc<Model>) -> Result<(), minhu_route::ConfigErrors> {
        fits(&model, &self.routing.current())?;
        *self.model.write().expect("model lock") = model;
        Ok(())
    }

    /// The routing in force.
    pub fn routing(&self) -> Arc<Routing> {
        self.routing.current()
    }

    /// Puts a new catalogue in force if the model in force knows all of its categories.
    pub fn replace_routing(&self, routing: Routing) -> Result<(), minhu_route::ConfigErrors> {
        fits(&self.model(), &routing)?;
        self.routing.replace(routing);
        Ok(())
    }

    /// Classification and route of a petition from `channel_id`, before duplicates are
    /// considered. `channel_area` is the channel's own area as the registry had it when the
    /// petition was received (empty: the configured one).
    pub fn assess(&self, petition: &Petition, channel_id: &str, channel_area: &str) -> Triaged {
        let model = self.model();
        let prediction = model.predict(&petition.title, &petition.body);
        let analysis = self.rules.analyse(&petition.title, &petition.body);
        let hints = petition.hints.clone().unwrap_or_default();
        // The petitioner's own choice in the channel's form outranks the text rules.
        let request_type = match RequestType::try_from(hints.request_type).unwrap_or_default() {
            RequestType::Unspecified => request_type(analysis.request_type),
            chosen => chosen,
        };
        let confident = prediction.probability >= self.min_confidence;
        // Below the gate, a category the channel sent (a label of ours) decides: a person
        // chose it.
        let channel_category = (!confident && model.labels().contains(&hints.category))
            .then(|| hints.category.clone());
        let (category, decided_by) = match channel_category {
            Some(category) => (category, "channel"),
            None => (prediction.label.clone(), "model"),
        };
        let gated = !confident && decided_by == "model";
        let classification = Classification {
            category: category.clone(),
            confidence: prediction.probability,
            model_version: model.version().to_owned(),
            scores: prediction
                .top
                .iter()
                .map(|(label, p)| LabelScore {
                    label: label.clone(),
                    score: *p,
                })
                .collect(),
            request_type: request_type as i32,
            xinfang_category: xinfang_category(analysis.xinfang_category) as i32,
            urgency: urgency(analysis.urgency) as i32,
            pathway: Some(LegalPathway {
                kind: pathway_kind(analysis.pathway.kind).to_owned(),
                route: analysis.pathway.route.clone(),
                hotline: analysis.pathway.hotline.clone().unwrap_or_default(),
                rule_id: analysis.pathway.rule.clone().unwrap_or_default(),
            }),
            top_features: prediction
                .top_features
                .iter()
                .map(|(feature, weight)| FeatureWeight {
                    feature: feature.clone(),
                    weight: *weight,
                })
                .collect(),
            rules_fired: analysis.fired.clone(),
            rules_version: self.rules.version().to_owned(),
            below_confidence_gate: gated,
            decided_by: decided_by.to_owned(),
        };
        let accusation = analysis.xinfang_category == RuleCategory::Accusation;
        let mut route = self.routing.current().route(
            petition,
            channel_id,
            channel_area,
            &category,
            request_type,
            accusation,
        );
        // 诉访分离 and the confidence gate hold the case for a person whatever the catalogue
        // says; the computed place and guard stay on the record for them.
        if route.centre_reason == CentreReason::Unspecified as i32 {
            let held = if is_other_pathway(analysis.pathway.kind) {
                Some(CentreReason::LegalPathway)
            } else if gated {
                Some(CentreReason::LowConfidence)
            } else {
                None
            };
            if let Some(reason) = held {
                route.centre_reason = reason as i32;
                route.lead_unit_id.clear();
                route.lead_unit_name.clear();
                route.assisting_unit_ids.clear();
            }
        }
        Triaged {
            classification: Some(classification),
            route: Some(route),
            ..Default::default()
        }
    }
}

impl Routing {
    pub fn new(settings: &Settings) -> Result<Routing, minhu_route::ConfigErrors> {
        Ok(Routing {
            router: Router::new(&settings.catalogue)?,
            channel_areas: settings
                .channels
                .iter()
                .filter_map(|c| c.division_code.clone().map(|code| (c.id.clone(), code)))
                .collect(),
        })
    }

    /// The router in force.
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// The route of a classified petition: the petition's code, else its address and text,
    /// else the channel's own area (`registry_area` from the channel registry, else the
    /// configured `channels[].division_code`); an accusation past the guard.
    pub fn route(
        &self,
        petition: &Petition,
        channel_id: &str,
        registry_area: &str,
        category: &str,
        request_type: RequestType,
        accusation: bool,
    ) -> RouteDecision {
        let location = petition.location.clone().unwrap_or_default();
        let reporter_consents = petition
            .consent
            .as_ref()
            .is_some_and(|c| c.disclose_identity_to_handler && !c.keep_identity_confidential);
        let mut input = RouteInput {
            category,
            request_type: route_request_type(request_type),
            division_code: &location.division_code,
            address: &location.address,
            title: &petition.title,
            body: &petition.body,
            is_accusation: accusation,
            reporter_consents,
        };
        let mut outcome = self.router.route(&input);
        let mut channel_area = false;
        if let RouteOutcome::CentreQueue(q) = &outcome
            && q.reason == minhu_route::CentreReason::NoLocation
            && let Some(code) = Some(registry_area)
                .filter(|a| !a.is_empty())
                .or_else(|| self.channel_areas.get(channel_id).map(String::as_str))
        {
            input.division_code = code;
            outcome = self.router.route(&input);
            channel_area = true;
        }
        let mut decision = self.decision(&outcome);
        if channel_area && decision.location_source != LocationSource::Unspecified as i32 {
            decision.location_source = LocationSource::DefaultArea as i32;
        }
        decision
    }

    /// The contract's form of a routing outcome.
    fn decision(&self, outcome: &RouteOutcome) -> RouteDecision {
        let location = outcome.location();
        let mut decision = RouteDecision {
            catalogue_version: outcome.catalogue_version().to_owned(),
            division_code: location
                .map(|l| l.division_code.clone())
                .unwrap_or_default(),
            location_source: location.map_or(LocationSource::Unspecified, |l| match l.source {
                minhu_route::LocationSource::ChannelCode => LocationSource::ChannelCode,
                minhu_route::LocationSource::AddressText => LocationSource::AddressText,
                minhu_route::LocationSource::BodyText => LocationSource::BodyText,
            }) as i32,
            ..Default::default()
        };
        if let Some(guard) = outcome.guard() {
            decision.accused_unit_ids = guard.accused.clone();
            decision.identity_withheld = guard.identity_withheld;
            decision.guard_redirect = guard
                .redirect
                .map(|r| match r {
                    minhu_route::Redirect::DisciplineUnit => "discipline_unit",
                    minhu_route::Redirect::SupervisingUnit => "supervising_unit",
                    minhu_route::Redirect::DefaultDisciplineUnit => "default_discipline_unit",
                })
                .unwrap_or_default()
                .to_owned();
        }
        match outcome {
            RouteOutcome::Dispatch(d) => {
                decision.lead_unit_name = self
                    .router
                    .directory()
                    .unit(&d.lead)
                    .map(|u| u.name.clone())
                    .unwrap_or_default();
                decision.lead_unit_id = d.lead.clone();
                decision.assisting_unit_ids = d.assisting.clone();
                decision.rule_id = d.rule_id.clone();
                decision.fallback = d.fallback;
            }
            RouteOutcome::CentreQueue(q) => {
                decision.centre_reason = match q.reason {
                    minhu_route::CentreReason::NoLocation => CentreReason::NoLocation,
                    minhu_route::CentreReason::NoResponsibleUnit => CentreReason::NoResponsibleUnit,
                    minhu_route::CentreReason::GuardExhausted => CentreReason::GuardExhausted,
                } as i32;
            }
        }
        decision
    }
}

/// Every category the catalogue routes must be a label the model can give, or its rules could
/// never match.
fn fits(model: &Model, routing: &Routing) -> Result<(), minhu_route::ConfigErrors> {
    let problems: Vec<String> = routing
        .router
        .categories()
        .filter(|c| *c != minhu_route::ANY_CATEGORY && !model.labels().iter().any(|l| l == c))
        .map(|c| {
            format!(
                "catalogue category {c:?} is not a label of model {}",
                model.version()
            )
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(minhu_route::ConfigErrors { problems })
    }
}

/// Litigation, arbitration and administrative review have their own statutory procedures
/// (诉访分离): the case is not dispatched.
fn is_other_pathway(kind: PathwayKind) -> bool {
    matches!(
        kind,
        PathwayKind::Litigation | PathwayKind::Arbitration | PathwayKind::AdministrativeReview
    )
}

/// The contract's name of a pathway (the rules file's).
fn pathway_kind(kind: PathwayKind) -> &'static str {
    match kind {
        PathwayKind::Dispatch => "dispatch",
        PathwayKind::Emergency => "emergency",
        PathwayKind::Litigation => "litigation",
        PathwayKind::Arbitration => "arbitration",
        PathwayKind::AdministrativeReview => "administrative_review",
    }
}

fn request_type(value: minhu_classify::RequestType) -> RequestType {
    use minhu_classify::RequestType as Rule;
    match value {
        Rule::Consultation => RequestType::Consultation,
        Rule::Help => RequestType::Help,
        Rule::Complaint => RequestType::Complaint,
        Rule::Report => RequestType::Report,
        Rule::Suggestion => RequestType::Suggestion,
    }
}

fn route_request_type(value: RequestType) -> Option<minhu_route::RequestType> {
    use minhu_route::RequestType as Route;
    match value {
        RequestType::Unspecified => None,
        RequestType::Consultation => Some(Route::Consultation),
        RequestType::Help => Some(Route::Help),
        RequestType::Complaint => Some(Route::Complaint),
        RequestType::Report => Some(Route::Report),
        RequestType::Suggestion => Some(Route::Suggestion),
    }
}

fn xinfang_category(value: RuleCategory) -> XinfangCategory {
    match value {
        RuleCategory::Suggestion => XinfangCategory::Suggestion,
        RuleCategory::Accusation => XinfangCategory::Accusation,
        RuleCategory::Claim => XinfangCategory::Claim,
    }
}

fn urgency(value: minhu_classify::Urgency) -> Urgency {
    use minhu_classify::Urgency as Rule;
    match value {
        Rule::Ordinary => Urgency::Ordinary,
        Rule::Urgent => Urgency::Urgent,
        Rule::VeryUrgent => Urgency::VeryUrgent,
    }
}

#[cfg(test)]
mod tests;
