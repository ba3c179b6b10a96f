//! The unit board: which cases each unit holds, kept in memory from the case events so
//! QueueHealth and the per-unit gauges never scan the case store.
//!
//! Fed by an ordered consumer that replays `MINHU_CASE_EVENTS` from the start and then follows
//! it; every ops instance builds the same board on its own.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use futures::StreamExt;
use minhu_contracts::v1::{CaseEvent, case_event};
use minhu_core::bus::Bus;
use prost::Message;
use time::OffsetDateTime;

/// One open case as the board sees it.
#[derive(Debug, Clone)]
struct OpenCase {
    unit_id: String,
    dispatched_at: OffsetDateTime,
    handling_due_at: Option<OffsetDateTime>,
    signed_for: bool,
}

/// Per-unit figures at one instant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UnitFigures {
    pub open: u64,
    pub unsigned: u64,
    pub overdue: u64,
    pub oldest_unsigned_age: Duration,
}

#[derive(Clone, Default)]
pub struct UnitBoard {
    // A std RwLock: updates and reads are short and never cross an .await.
    cases: Arc<RwLock<HashMap<String, OpenCase>>>,
}

impl UnitBoard {
    /// Applies one case event; events of kinds the board does not track are ignored.
    pub fn apply(&self, event: &CaseEvent) {
        use case_event::Event;
        let at = |t: &prost_types::Timestamp| OffsetDateTime::from_unix_timestamp(t.seconds).ok();
        let when = event
            .at
            .as_ref()
            .and_then(at)
            .unwrap_or_else(OffsetDateTime::now_utc);
        let mut cases = self.cases.write().expect("board lock");
        let assign = |unit: &str, due: Option<OffsetDateTime>| OpenCase {
            unit_id: unit.to_owned(),
            dispatched_at: when,
            handling_due_at: due,
            signed_for: false,
        };
        match &event.event {
            Some(Event::Dispatched(d)) => {
                let due = d.handling_due_at.as_ref().and_then(at);
                cases.insert(event.case_id.clone(), assign(&d.unit_id, due));
            }
            Some(Event::Reassigned(r)) => {
                let due = cases.get(&event.case_id).and_then(|c| c.handling_due_at);
                let unit = r
                    .route
                    .as_ref()
                    .map(|r| r.lead_unit_id.clone())
                    .unwrap_or_default();
                cases.insert(event.case_id.clone(), assign(&unit, due));
            }
            Some(Event::ReviewRequested(r)) => {
                let unit = r
                    .route
                    .as_ref()
                    .map(|r| r.lead_unit_id.clone())
                    .unwrap_or_default();
                cases.insert(event.case_id.clone(), assign(&unit, None));
            }
            Some(Event::Designated(d)) => {
                if let Some(case) = cases.get_mut(&event.case_id)
                    && case.unit_id != d.unit_id
                {
                    *case = assign(&d.unit_id, case.handling_due_at);
                }
            }
            Some(Event::SignedFor(_)) => {
                if let Some(case) = cases.get_mut(&event.case_id) {
                    case.signed_for = true;
                }
            }
            Some(Event::ExtensionDecided(d)) if d.approved => {
                if let Some(due) = cases
                    .get_mut(&event.case_id)
                    .and_then(|c| c.handling_due_at.as_mut())
                {
                    *due += time::Duration::days(i64::from(d.days));
                }
            }
            Some(Event::Closed(_)) => {
                cases.remove(&event.case_id);
            }
            _ => {}
        }
    }

    /// Every unit holding at least one open case, with its figures at `now`.
    pub fn figures(&self, now: OffsetDateTime) -> HashMap<String, UnitFigures> {
        let cases = self.cases.read().expect("board lock");
        let mut out: HashMap<String, UnitFigures> = HashMap::new();
        for case in cases.values() {
            let f = out.entry(case.unit_id.clone()).or_default();
            f.open += 1;
            if !case.signed_for {
                f.unsigned += 1;
                let age = (now - case.dispatched_at).unsigned_abs();
                f.oldest_unsigned_age = f.oldest_unsigned_age.max(age);
            }
            if case.handling_due_at.is_some_and(|due| due < now) {
                f.overdue += 1;
            }
        }
        out
    }

    /// Follows the case events until `shutdown`; reconnects with backoff when the bus is away.
    pub async fn follow(self, bus: Bus, shutdown: impl std::future::Future<Output = ()>) {
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
                        tracing::warn!(error = %e, "unit board cannot follow case events; retrying");
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
                            Ok(event) => self.apply(&event),
                            Err(e) => tracing::warn!(error = %e, "case event does not decode"),
                        }
                    }
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "case event feed interrupted");
                        break;
                    }
                    None => break,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minhu_contracts::v1::Dispatched;
    use minhu_core::deadlines::timestamp;
    use time::macros::datetime;

    fn dispatched(case: &str, unit: &str, at: OffsetDateTime, due: OffsetDateTime) -> CaseEvent {
        CaseEvent {
            case_id: case.into(),
            at: Some(timestamp(at)),
            event: Some(case_event::Event::Dispatched(Dispatched {
                unit_id: unit.into(),
                handling_due_at: Some(timestamp(due)),
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    #[test]
    fn units_count_open_unsigned_and_overdue_cases() {
        let board = UnitBoard::default();
        let day = |d: u8| datetime!(2026-11-01 00:00 UTC).replace_day(d).unwrap();
        board.apply(&dispatched("a", "u1", day(1), day(10)));
        board.apply(&dispatched("b", "u1", day(5), day(30)));
        board.apply(&dispatched("c", "u2", day(6), day(30)));
        // A redelivered event changes nothing.
        board.apply(&dispatched("c", "u2", day(6), day(30)));
        let figures = board.figures(day(20));
        assert_eq!(figures.len(), 2);
        let u1 = &figures["u1"];
        assert_eq!((u1.open, u1.unsigned, u1.overdue), (2, 2, 1));
        assert_eq!(u1.oldest_unsigned_age, Duration::from_secs(19 * 86_400));
        assert_eq!(figures["u2"].open, 1);
        assert_eq!(figures["u2"].overdue, 0);

        // Signing for, reassigning and closing move the figures.
        let event = |case: &str, kind| CaseEvent {
            case_id: case.into(),
            at: Some(timestamp(day(15))),
            event: Some(kind),
            ..Default::default()
        };
        board.apply(&event(
            "a",
            case_event::Event::SignedFor(minhu_contracts::v1::SignedFor {
                unit_id: "u1".into(),
            }),
        ));
        board.apply(&event(
            "b",
            case_event::Event::Reassigned(minhu_contracts::v1::Reassigned {
                from_unit_id: "u1".into(),
                route: Some(minhu_contracts::v1::RouteDecision {
                    lead_unit_id: "u2".into(),
                    ..Default::default()
                }),
                reason: String::new(),
            }),
        ));
        board.apply(&event(
            "c",
            case_event::Event::Closed(minhu_contracts::v1::Closed::default()),
        ));
        let figures = board.figures(day(20));
        assert_eq!((figures["u1"].open, figures["u1"].unsigned), (1, 0));
        assert_eq!((figures["u2"].open, figures["u2"].unsigned), (1, 1));
    }
}
