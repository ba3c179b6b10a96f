//! The unit feeds: every case event becomes, for each unit it concerns, one message on
//! `minhu.dispatch.<unit>.<case>.<n>` (written once: expected last subject sequence 0), and
//! the unit index follows. A durable consumer of the case events drives it, so a feed message
//! is never lost when the process that recorded the event dies right after.

use std::future::Future;
use std::time::Duration;

use async_nats::jetstream;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use futures::FutureExt;
use minhu_contracts::bus::{self, CENTRE_QUEUE_ID};
use minhu_contracts::v1::{
    CaseEvent, CaseStatus, CaseView, RouteDecision, UnitEvent, Withdrawn, case_event, unit_event,
};
use minhu_core::bus::Bus;
use minhu_core::case::{CaseStore, StoreError};
use minhu_core::consumer::{self, Verdict};
use prost::Message;

use crate::service::index_value;

const CONCURRENCY: usize = 8;

/// What one unit gets from one case event.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    Assigned { lead: bool },
    Update,
    Withdrawn { reason: String },
}

/// The units a case event concerns, and how. Units come from the event itself wherever it
/// names them, so a late redelivery still reaches the units of that moment; `view` is the
/// case now, `number` the event's number.
pub fn deliveries(
    event: &case_event::Event,
    number: u64,
    view: &CaseView,
    supervisor: Option<&str>,
) -> Vec<(String, Delivery)> {
    use case_event::Event;
    let lead_now = view
        .route
        .as_ref()
        .map(|r| r.lead_unit_id.clone())
        .unwrap_or_default();
    let assigned = |route: &RouteDecision| {
        std::iter::once((
            route.lead_unit_id.clone(),
            Delivery::Assigned { lead: true },
        ))
        .chain(
            route
                .assisting_unit_ids
                .iter()
                .map(|u| (u.clone(), Delivery::Assigned { lead: false })),
        )
        .collect::<Vec<_>>()
    };
    let update = |unit: &str| vec![(unit.to_owned(), Delivery::Update)];
    let centre = |reason: &str| {
        (
            CENTRE_QUEUE_ID.to_owned(),
            Delivery::Withdrawn {
                reason: reason.to_owned(),
            },
        )
    };
    match event {
        Event::Triaged(_) => Vec::new(),
        // Triage puts it on the centre's feed itself; this completes what it did not finish.
        Event::CentreQueued(_) if view.version == number => vec![(
            CENTRE_QUEUE_ID.to_owned(),
            Delivery::Assigned { lead: true },
        )],
        Event::CentreQueued(_) => Vec::new(),
        Event::Reclassified(r) => {
            let routed = r
                .route
                .as_ref()
                .filter(|route| !route.lead_unit_id.is_empty());
            match routed {
                Some(route) if route.lead_unit_id == r.from_unit_id => update(&r.from_unit_id),
                Some(route) => {
                    let mut out = Vec::new();
                    if !r.from_unit_id.is_empty() {
                        out.push((
                            r.from_unit_id.clone(),
                            Delivery::Withdrawn {
                                reason: format!("中心人工分类后改派: {}", r.reason),
                            },
                        ));
                    }
                    out.extend(assigned(route));
                    out.push(centre("已人工分类并交办"));
                    out
                }
                None => update(CENTRE_QUEUE_ID),
            }
        }
        // Triage delivers the first dispatch itself; this only completes a delivery it did not
        // finish, while the case has not moved on.
        Event::Dispatched(_) if view.version == number => {
            view.route.as_ref().map(&assigned).unwrap_or_default()
        }
        Event::Dispatched(_) => Vec::new(),
        Event::Reassigned(r) => {
            let mut out = vec![(
                r.from_unit_id.clone(),
                Delivery::Withdrawn {
                    reason: format!("改派: {}", r.reason),
                },
            )];
            out.extend(r.route.as_ref().map(&assigned).unwrap_or_default());
            out.push(centre("已改派"));
            out
        }
        Event::Designated(d) if d.from_unit_id != d.unit_id && !d.from_unit_id.is_empty() => vec![
            (
                d.from_unit_id.clone(),
                Delivery::Withdrawn {
                    reason: format!("中心指定其他单位: {}", d.reason),
                },
            ),
            (d.unit_id.clone(), Delivery::Assigned { lead: true }),
            centre("已指定承办单位"),
        ],
        Event::Designated(d) => vec![
            (d.unit_id.clone(), Delivery::Update),
            centre("已指定承办单位"),
        ],
        Event::ReviewRequested(r) => r
            .route
            .as_ref()
            .map(|route| {
                vec![(
                    route.lead_unit_id.clone(),
                    Delivery::Assigned { lead: true },
                )]
            })
            .unwrap_or_default(),
        Event::ExtensionRequested(e) => {
            let mut out = update(&e.unit_id);
            if let Some(sup) = supervisor {
                out.push((sup.to_owned(), Delivery::Update));
            }
            out
        }
        Event::ExtensionDecided(d) => {
            let mut out = update(&lead_now);
            out.push((d.decided_by_unit_id.clone(), Delivery::Update));
            out
        }
        Event::SignedFor(e) => update(&e.unit_id),
        // A return waits for the centre's decision: on its queue too.
        Event::Returned(e) => vec![
            (e.unit_id.clone(), Delivery::Update),
            (CENTRE_QUEUE_ID.to_owned(), Delivery::Update),
        ],
        Event::Replied(e) => update(&e.unit_id),
        Event::Closed(e) => update(&e.unit_id),
        // The clock's events go to the unit they concern (the lead at that moment); an
        // escalation (督办) also to the supervising unit it goes up to.
        Event::DeadlineWarned(w) => update(&w.unit_id),
        Event::DeadlineOverdue(o) => update(&o.unit_id),
        Event::Escalated(e) => {
            let mut out = update(&e.unit_id);
            if !e.to_unit_id.is_empty() && e.to_unit_id != e.unit_id {
                out.push((e.to_unit_id.clone(), Delivery::Update));
            }
            out
        }
        Event::DeadlinesSet(_) | Event::Paused(_) | Event::Resumed(_) => update(&lead_now),
        Event::Evaluated(_)
        | Event::PetitionerRevealed(_)
        | Event::RepeatLinked(_)
        | Event::MemberJoined(_)
        | Event::HotspotRaised(_)
        | Event::MemberSplit(_) => update(&lead_now),
        Event::Split(_) => view.route.as_ref().map(&assigned).unwrap_or_default(),
        // 领导下访接访: the lead unit's investigation task and the leader's decision; a case the
        // leader took on (包案) also reaches the leader's unit.
        Event::ReceptionRegistered(_)
        | Event::ReceptionOffered(_)
        | Event::ReceptionChanged(_)
        | Event::FindingsRecorded(_) => update(&lead_now),
        Event::ReceptionDecided(d) => {
            let mut out = update(&lead_now);
            if let Some(leader) = d.leader.as_ref().filter(|l| l.unit_id != lead_now) {
                out.push((leader.unit_id.clone(), Delivery::Update));
            }
            out
        }
    }
}

#[derive(Clone)]
pub struct FeedWorker {
    bus: Bus,
    store: CaseStore,
    supervisors: std::sync::Arc<std::collections::HashMap<String, String>>,
}

impl FeedWorker {
    pub fn new(bus: Bus, supervisors: std::collections::HashMap<String, String>) -> FeedWorker {
        FeedWorker {
            store: CaseStore::new(bus.clone()),
            bus,
            supervisors: std::sync::Arc::new(supervisors),
        }
    }

    /// Follows the case events until `shutdown` (see [`consumer::run`]).
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let config = pull::Config {
            durable_name: Some(bus::FEED_CONSUMER.to_owned()),
            description: Some("minhu dispatch: unit feeds and the unit index".into()),
            ack_policy: AckPolicy::Explicit,
            deliver_policy: DeliverPolicy::All,
            ack_wait: Duration::from_secs(30),
            ..Default::default()
        };
        consumer::run(
            self.bus.case_events.clone(),
            bus::FEED_CONSUMER,
            config,
            CONCURRENCY,
            shutdown.boxed().shared(),
            |message| {
                let worker = &self;
                async move {
                    match worker.handle(&message).await {
                        Ok(()) => Verdict::Done,
                        Err(FeedError::Poison(reason)) => Verdict::Poison(reason),
                        Err(FeedError::Transient(e)) => Verdict::Retry(e.to_string()),
                    }
                }
            },
        )
        .await;
    }

    async fn handle(&self, message: &jetstream::Message) -> Result<(), FeedError> {
        let event = CaseEvent::decode(message.payload.clone())
            .map_err(|e| FeedError::Poison(format!("case event does not decode: {e}")))?;
        let Some(kind) = &event.event else {
            return Ok(());
        };
        if matches!(kind, case_event::Event::Triaged(t) if t.duplicate_of.is_empty()) {
            return Ok(());
        }
        let view = self.view_of(&event.case_id).await?;
        // Triage writes a case's first dispatch (event 2) only after it put the case on the
        // feeds itself: here only the unit index is left to write.
        let delivered = event.number == 2
            && matches!(
                kind,
                case_event::Event::Dispatched(_) | case_event::Event::CentreQueued(_)
            );
        let lead = view
            .route
            .as_ref()
            .map(|r| r.lead_unit_id.clone())
            .unwrap_or_default();
        let supervisor = self.supervisors.get(&lead).map(String::as_str);
        for (unit, delivery) in deliveries(kind, event.number, &view, supervisor) {
            if unit.is_empty() {
                continue;
            }
            // The centre's queue hears that a case left it only if the case was in it.
            if unit == CENTRE_QUEUE_ID
                && matches!(delivery, Delivery::Withdrawn { .. })
                && !self.in_centre_queue(&event.case_id).await?
            {
                continue;
            }
            if !delivered {
                let payload = match &delivery {
                    Delivery::Assigned { lead } => {
                        unit_event::Event::Assigned(minhu_core::case::assignment(
                            &view,
                            view.route.clone(),
                            view.deadlines.clone(),
                            *lead,
                        ))
                    }
                    Delivery::Update => unit_event::Event::Update(event.clone()),
                    Delivery::Withdrawn { reason } => unit_event::Event::Withdrawn(Withdrawn {
                        reason: reason.clone(),
                    }),
                };
                let unit_event = UnitEvent {
                    event_id: format!("{}/{}", event.case_id, event.number),
                    case_id: event.case_id.clone(),
                    unit_id: unit.clone(),
                    at: event.at,
                    event: Some(payload),
                };
                self.publish_once(
                    bus::dispatch_subject(&unit, &event.case_id, event.number),
                    unit_event.encode_to_vec().into(),
                )
                .await?;
            }
            let key = bus::unit_case_key(&unit, &event.case_id);
            match delivery {
                Delivery::Withdrawn { .. } => self
                    .bus
                    .unit_cases
                    .delete(&key)
                    .await
                    .map_err(|e| FeedError::Transient(e.into()))?,
                _ => {
                    let status = CaseStatus::try_from(view.status).unwrap_or_default();
                    self.bus
                        .unit_cases
                        .put(&key, index_value(status))
                        .await
                        .map_err(|e| FeedError::Transient(e.into()))?;
                }
            }
        }
        Ok(())
    }

    async fn view_of(&self, case_id: &str) -> Result<CaseView, FeedError> {
        match self.store.load_after_event(case_id).await {
            Ok(v) => Ok(v.view),
            Err(StoreError::NotFound(_)) => Err(FeedError::Transient(
                "the case view is not written yet".into(),
            )),
            Err(StoreError::Corrupt(reason)) => Err(FeedError::Poison(reason)),
            Err(e) => Err(FeedError::Transient(e.into())),
        }
    }

    async fn in_centre_queue(&self, case_id: &str) -> Result<bool, FeedError> {
        let key = bus::unit_case_key(CENTRE_QUEUE_ID, case_id);
        let entry = self
            .bus
            .unit_cases
            .get(&key)
            .await
            .map_err(|e| FeedError::Transient(e.into()))?;
        Ok(entry.is_some())
    }

    async fn publish_once(&self, subject: String, payload: bytes::Bytes) -> Result<(), FeedError> {
        minhu_core::bus::write_once(&self.bus.js, subject, payload)
            .await
            .map(|_| ())
            .map_err(|e| FeedError::Transient(e.into()))
    }
}

#[derive(Debug, thiserror::Error)]
enum FeedError {
    #[error("poison: {0}")]
    Poison(String),
    #[error("transient: {0}")]
    Transient(#[from] async_nats::Error),
}

#[cfg(test)]
mod tests {
    use super::*;
    use minhu_contracts::v1::{
        Designated, ExtensionRequested, Reassigned, RouteDecision, SignedFor,
    };

    fn view(lead: &str, assisting: &[&str]) -> CaseView {
        CaseView {
            route: Some(RouteDecision {
                lead_unit_id: lead.into(),
                assisting_unit_ids: assisting.iter().map(|s| s.to_string()).collect(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_reassignment_withdraws_from_the_old_unit_and_assigns_the_new_ones() {
        let event = case_event::Event::Reassigned(Reassigned {
            from_unit_id: "old".into(),
            route: view("new", &["helper"]).route,
            reason: "属交通部门".into(),
        });
        // The case has since moved on: the event still says who it concerned.
        let got = deliveries(&event, 3, &view("later", &[]), None);
        assert_eq!(got.len(), 4);
        assert!(matches!(&got[0], (u, Delivery::Withdrawn { .. }) if u == "old"));
        assert_eq!(got[1], ("new".into(), Delivery::Assigned { lead: true }));
        assert_eq!(
            got[2],
            ("helper".into(), Delivery::Assigned { lead: false })
        );
        // Out of the centre's queue, if it was there (a return, a case waiting for a person).
        assert!(matches!(&got[3], (u, Delivery::Withdrawn { .. }) if u == CENTRE_QUEUE_ID));
    }

    #[test]
    fn an_extension_request_reaches_the_deciding_supervisor() {
        let event = case_event::Event::ExtensionRequested(ExtensionRequested {
            unit_id: "town".into(),
            days: 10,
            reason: String::new(),
        });
        let got = deliveries(&event, 3, &view("town", &[]), Some("county"));
        assert_eq!(
            got,
            [
                ("town".into(), Delivery::Update),
                ("county".into(), Delivery::Update)
            ]
        );
    }

    #[test]
    fn confirming_the_lead_is_an_update_and_moving_it_is_a_handover() {
        let confirm = case_event::Event::Designated(Designated {
            unit_id: "town".into(),
            reason: String::new(),
            from_unit_id: "town".into(),
        });
        let got = deliveries(&confirm, 3, &view("town", &[]), None);
        assert_eq!(got[0], ("town".into(), Delivery::Update));
        assert!(matches!(&got[1], (u, Delivery::Withdrawn { .. }) if u == CENTRE_QUEUE_ID));
        let moved = case_event::Event::Designated(Designated {
            unit_id: "bureau".into(),
            reason: String::new(),
            from_unit_id: "town".into(),
        });
        let got = deliveries(&moved, 3, &view("bureau", &[]), None);
        assert!(matches!(&got[0], (u, Delivery::Withdrawn { .. }) if u == "town"));
        assert_eq!(got[1], ("bureau".into(), Delivery::Assigned { lead: true }));
        let signed = case_event::Event::SignedFor(SignedFor {
            unit_id: "town".into(),
        });
        assert_eq!(
            deliveries(&signed, 3, &view("town", &[]), None),
            [("town".into(), Delivery::Update)]
        );
    }

    #[test]
    fn clock_events_reach_the_lead_and_an_escalation_its_supervisor() {
        let escalated = case_event::Event::Escalated(minhu_contracts::v1::Escalated {
            milestone: "resolution".into(),
            unit_id: "town".into(),
            to_unit_id: "county".into(),
            level: 1,
            ..Default::default()
        });
        assert_eq!(
            deliveries(&escalated, 5, &view("town", &[]), Some("county")),
            [
                ("town".into(), Delivery::Update),
                ("county".into(), Delivery::Update)
            ]
        );
        // To the centre (no supervisor): only the lead's feed.
        let to_centre = case_event::Event::Escalated(minhu_contracts::v1::Escalated {
            unit_id: "city".into(),
            ..Default::default()
        });
        assert_eq!(
            deliveries(&to_centre, 5, &view("city", &[]), None),
            [("city".into(), Delivery::Update)]
        );
        // A warning names the lead it warned, even after the case moved on.
        let warned = case_event::Event::DeadlineWarned(minhu_contracts::v1::DeadlineWarned {
            unit_id: "town".into(),
            ..Default::default()
        });
        assert_eq!(
            deliveries(&warned, 4, &view("bureau", &[]), None),
            [("town".into(), Delivery::Update)]
        );
        let paused = case_event::Event::Paused(minhu_contracts::v1::Paused::default());
        assert_eq!(
            deliveries(&paused, 4, &view("bureau", &[]), None),
            [("bureau".into(), Delivery::Update)]
        );
    }
}
