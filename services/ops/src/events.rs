//! Following the case events: every ops projection is a fold of `MINHU_CASE_EVENTS`, replayed
//! from the start by an ordered consumer and then followed live; every ops instance builds the
//! same projections on its own.

use std::time::Duration;

use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use futures::StreamExt;
use minhu_contracts::v1::CaseEvent;
use minhu_core::bus::Bus;
use prost::Message;

/// Applies every case event, in stream order, until `shutdown`; after an interruption it
/// resumes after the last event applied, with capped exponential backoff while the bus is away.
pub async fn follow_case_events(
    bus: Bus,
    what: &'static str,
    shutdown: impl std::future::Future<Output = ()>,
    apply: impl Fn(&CaseEvent),
) {
    tokio::pin!(shutdown);
    let mut next_sequence = 1u64;
    let mut backoff = Duration::from_millis(200);
    loop {
        let config = pull::OrderedConfig {
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: next_sequence,
            },
            ..Default::default()
        };
        let messages = async {
            let consumer = bus.case_events.create_consumer(config).await?;
            Ok::<_, async_nats::Error>(consumer.messages().await?)
        };
        let mut messages = tokio::select! {
            _ = &mut shutdown => return,
            m = messages => match m {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, projection = what, "cannot follow case events; retrying");
                    tokio::select! {
                        _ = &mut shutdown => return,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            },
        };
        backoff = Duration::from_millis(200);
        loop {
            let next = tokio::select! {
                _ = &mut shutdown => return,
                next = messages.next() => next,
            };
            match next {
                Some(Ok(message)) => {
                    if let Ok(info) = message.info() {
                        next_sequence = info.stream_sequence + 1;
                    }
                    match CaseEvent::decode(message.payload.clone()) {
                        Ok(event) => apply(&event),
                        Err(e) => tracing::warn!(error = %e, "case event does not decode"),
                    }
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, projection = what, "case event feed interrupted");
                    break;
                }
                None => break,
            }
        }
    }
}
