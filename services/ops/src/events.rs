//! Following the case events: every ops projection is a fold of `MINHU_CASE_EVENTS`, replayed
//! from the start by an ordered consumer and then followed live; every ops instance builds the
//! same projections on its own.

use minhu_contracts::v1::CaseEvent;
use minhu_core::bus::Bus;
use minhu_core::consumer;
use prost::Message;

/// Applies every case event, in stream order, until `shutdown`; after an interruption it
/// resumes after the last event applied, with capped exponential backoff while the bus is away.
pub async fn follow_case_events(
    bus: Bus,
    what: &'static str,
    shutdown: impl std::future::Future<Output = ()>,
    apply: impl Fn(&CaseEvent),
) {
    consumer::follow(
        &bus.case_events,
        1,
        what,
        shutdown,
        |_, message| match CaseEvent::decode(message.payload.clone()) {
            Ok(event) => apply(&event),
            Err(e) => tracing::warn!(error = %e, "case event does not decode"),
        },
    )
    .await;
}
