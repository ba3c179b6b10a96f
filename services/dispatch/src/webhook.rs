//! Webhook delivery (推送): every unit with a `delivery.webhook_url` gets each event of its feed
//! POSTed as JSON, signed with its secret, in order, at least once.
//!
//! One durable consumer per unit (`minhu-webhook-<unit>`) on MINHU_DISPATCH, filtered to the
//! unit's subjects, with at most one message unacknowledged. The server hands out event n+1
//! only once n is acknowledged, and an event is acknowledged only once its webhook answered 2xx
//! or it was dead-lettered: so order per unit holds across any number of dispatch instances and
//! across crashes (an unacknowledged event comes back before any later one), and a dead
//! receiver holds up its own unit only. Retries happen in the instance holding the message,
//! which keeps it by telling the server it is still working on it; the attempts made so far
//! are in the delivery state (KV bucket minhu_webhook_deliveries), so after a crash the count
//! goes on where it stopped. A per-unit sequencer in code over one shared consumer would keep
//! order only within one process.
//!
//! At least once: a crash between the receiver's 2xx and the acknowledgement POSTs the event
//! again. Every POST carries `X-Minhu-Event-Id` (the UnitEvent's `event_id`), by which the
//! receiver drops a repeat. Bodies hold case content and are never logged.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{self, AckKind};
use bytes::Bytes;
use futures::future::{BoxFuture, Shared};
use futures::{FutureExt, StreamExt};
use hmac::{Hmac, Mac};
use minhu_contracts::bus;
use minhu_contracts::v1::{UnitEvent, WebhookDelivery, WebhookDeliveryState, unit_event};
use minhu_core::bus::Bus;
use minhu_core::config::{Settings, WebhookSettings};
use minhu_core::consumer::{self, Verdict};
use minhu_core::deadlines::timestamp;
use minhu_core::metrics;
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, SerializeOptions};
use rand::Rng;
use serde::Serialize;
use sha2::Sha256;
use time::OffsetDateTime;

/// The headers of every POST.
pub const EVENT_ID_HEADER: &str = "X-Minhu-Event-Id";
pub const TIMESTAMP_HEADER: &str = "X-Minhu-Timestamp";
pub const SIGNATURE_HEADER: &str = "X-Minhu-Signature";

/// Headers of a dead letter, beside the unit event as it was on the feed.
pub const DEAD_EVENT_ID_HEADER: &str = "Minhu-Event-Id";
pub const DEAD_UNIT_HEADER: &str = "Minhu-Unit-Id";
pub const DEAD_SEQUENCE_HEADER: &str = "Minhu-Dispatch-Sequence";
pub const DEAD_ATTEMPTS_HEADER: &str = "Minhu-Attempts";
pub const DEAD_ERROR_HEADER: &str = "Minhu-Last-Error";
pub const DEAD_AT_HEADER: &str = "Minhu-Failed-At";

/// The server takes an event back from an instance that has not acknowledged it or said it is
/// still working on it within this time (a crashed instance).
const ACK_WAIT: Duration = Duration::from_secs(30);
/// How often an instance says it is still working on an event (retrying, waiting).
const PROGRESS_EVERY: Duration = Duration::from_secs(10);
/// Waits between tries of a bus write (delivery state, dead letter) while NATS is away.
const BUS_RETRY_FIRST: Duration = Duration::from_millis(100);
const BUS_RETRY_MAX: Duration = Duration::from_secs(5);
/// The longest last error kept (state, dead-letter header).
const MAX_ERROR_CHARS: usize = 300;

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("cannot build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    #[error("the contract descriptors lack minhu.v1.UnitEvent: {0}")]
    Descriptor(String),
}

/// `sha256=<hex>` of HMAC-SHA256 over `"<timestamp>.<body>"` with the unit's secret.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Retries: how many POSTs and how long to wait between them.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub base_backoff: Duration,
    pub max_backoff: Duration,
}

impl RetryPolicy {
    fn from_settings(settings: &WebhookSettings) -> RetryPolicy {
        RetryPolicy {
            attempts: settings.attempts,
            base_backoff: Duration::from_millis(settings.base_backoff_ms),
            max_backoff: Duration::from_millis(settings.max_backoff_ms),
        }
    }

    /// The wait after `failed` failed attempts: the base doubled per earlier failure, capped,
    /// then "equal jitter" (half fixed, half random) so that receivers coming back are not hit
    /// by every unit's retries at the same instant.
    pub fn backoff(&self, failed: u32, rng: &mut impl Rng) -> Duration {
        let doublings = failed.saturating_sub(1).min(31);
        let full = self
            .base_backoff
            .saturating_mul(1 << doublings)
            .min(self.max_backoff);
        let half = full / 2;
        half + full.mul_f64(rng.random_range(0.0..=0.5))
    }
}

/// A unit with a webhook.
#[derive(Clone)]
struct Target {
    unit_id: String,
    url: String,
    secret: Arc<[u8]>,
}

/// The units of `settings` with a webhook and their secrets (validated at load).
fn targets(settings: &Settings) -> Vec<Target> {
    settings
        .catalogue
        .units
        .iter()
        .filter_map(|unit| {
            let url = unit.delivery.webhook_url.clone()?;
            let name = unit.delivery.secret_name.as_ref()?;
            let secret = settings.webhooks.secrets.get(name)?;
            Some(Target {
                unit_id: unit.id.clone(),
                url,
                secret: Arc::from(secret.expose().as_bytes()),
            })
        })
        .collect()
}

/// Why one POST failed.
#[derive(Debug, thiserror::Error)]
enum AttemptError {
    #[error("HTTP {0}")]
    Status(reqwest::StatusCode),
    #[error("no answer within the request timeout")]
    Timeout,
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("request failed: {0}")]
    Other(String),
}

impl AttemptError {
    fn from_reqwest(e: reqwest::Error) -> AttemptError {
        // Without the URL: it may carry a token of the unit's, and the error is shown to the
        // unit and the centre (ListDeliveries, the dead letter).
        let e = e.without_url();
        let mut chain = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            chain.push_str(": ");
            chain.push_str(&cause.to_string());
            source = cause.source();
        }
        if e.is_timeout() {
            AttemptError::Timeout
        } else if e.is_connect() {
            AttemptError::Connect(chain)
        } else {
            AttemptError::Other(chain)
        }
    }

    fn label(&self) -> &'static str {
        match self {
            AttemptError::Status(_) => "http_status",
            AttemptError::Timeout => "timeout",
            AttemptError::Connect(_) => "connect",
            AttemptError::Other(_) => "error",
        }
    }

    /// One line of printable ASCII, fit for a NATS header.
    fn summary(&self) -> String {
        self.to_string()
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() || c == ' ' {
                    c
                } else {
                    '?'
                }
            })
            .take(MAX_ERROR_CHARS)
            .collect()
    }
}

/// The JSON body of a POST.
#[derive(Serialize)]
struct Body<'a> {
    event_id: &'a str,
    unit_id: &'a str,
    case_id: &'a str,
    /// `assigned`, `update` or `withdrawn`: which field of `event` is set.
    kind: &'static str,
    /// For an update, the case event's kind (`signed_for`, `deadline_warned`...).
    #[serde(skip_serializing_if = "Option::is_none")]
    update_kind: Option<&'static str>,
    /// The case event number n.
    number: u64,
    /// The event's sequence in MINHU_DISPATCH (as `Subscribe` gives it).
    sequence: u64,
    /// The `minhu.v1.UnitEvent`, in the proto3 JSON mapping with the .proto's field names.
    event: serde_json::Value,
}

/// Turns unit events into webhook bodies.
#[derive(Clone)]
struct Encoder {
    unit_event: MessageDescriptor,
}

impl Encoder {
    fn new() -> Result<Encoder, WebhookError> {
        let pool = DescriptorPool::decode(minhu_contracts::FILE_DESCRIPTOR_SET)
            .map_err(|e| WebhookError::Descriptor(e.to_string()))?;
        let unit_event = pool
            .get_message_by_name("minhu.v1.UnitEvent")
            .ok_or_else(|| WebhookError::Descriptor("not found".into()))?;
        Ok(Encoder { unit_event })
    }

    fn body(
        &self,
        event: &UnitEvent,
        payload: &Bytes,
        number: u64,
        sequence: u64,
    ) -> Result<Bytes, String> {
        let dynamic = DynamicMessage::decode(self.unit_event.clone(), payload.clone())
            .map_err(|e| format!("the unit event does not decode: {e}"))?;
        let json = dynamic
            .serialize_with_options(
                serde_json::value::Serializer,
                &SerializeOptions::new().use_proto_field_name(true),
            )
            .map_err(|e| format!("the unit event has no JSON form: {e}"))?;
        let (kind, update_kind) = match &event.event {
            Some(unit_event::Event::Assigned(_)) => ("assigned", None),
            Some(unit_event::Event::Update(update)) => {
                ("update", update.event.as_ref().map(bus::case_event_kind))
            }
            Some(unit_event::Event::Withdrawn(_)) => ("withdrawn", None),
            None => return Err("the unit event is empty".into()),
        };
        let body = Body {
            event_id: &event.event_id,
            unit_id: &event.unit_id,
            case_id: &event.case_id,
            kind,
            update_kind,
            number,
            sequence,
            event: json,
        };
        serde_json::to_vec(&body)
            .map(Bytes::from)
            .map_err(|e| format!("the body does not serialize: {e}"))
    }
}

/// What a feed subject names: `minhu.dispatch.<unit>.<case>.<n>`.
fn feed_subject(subject: &str) -> Option<(&str, &str, u64)> {
    let mut tokens = subject.strip_prefix("minhu.dispatch.")?.split('.');
    let (unit, case, number) = (tokens.next()?, tokens.next()?, tokens.next()?);
    if tokens.next().is_some() {
        return None;
    }
    Some((unit, case, number.parse().ok()?))
}

/// Delivers the feeds of the units with a webhook until shutdown.
#[derive(Clone)]
pub struct WebhookWorker {
    // Shared: the role's futures stay small (a Bus alone is kilobytes).
    inner: Arc<Worker>,
}

struct Worker {
    bus: Bus,
    http: reqwest::Client,
    policy: RetryPolicy,
    targets: Vec<Target>,
    encoder: Encoder,
}

impl WebhookWorker {
    /// `None` when no unit has a webhook.
    pub fn from_settings(
        bus: Bus,
        settings: &Settings,
    ) -> Result<Option<WebhookWorker>, WebhookError> {
        let targets = targets(settings);
        if targets.is_empty() {
            return Ok(None);
        }
        // reqwest is built without a crypto provider (no aws-lc); rustls takes the process's
        // default, ring, which async-nats already uses. Installed once; later calls find it.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let timeout = Duration::from_millis(settings.webhooks.request_timeout_ms);
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            // A redirect would turn the POST into a GET elsewhere: a 3xx is a failed attempt.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("minhu-webhook/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(WebhookError::Client)?;
        let worker = Worker {
            bus,
            http,
            policy: RetryPolicy::from_settings(&settings.webhooks),
            targets,
            encoder: Encoder::new()?,
        };
        Ok(Some(WebhookWorker {
            inner: Arc::new(worker),
        }))
    }

    /// Runs every unit's consumer until `shutdown`; an event in hand is left unacknowledged and
    /// comes back (to this or another instance) with its attempts counted.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let shutdown = shutdown.boxed().shared();
        let worker = &self.inner;
        tracing::info!(units = worker.targets.len(), "webhook delivery running");
        let units = worker
            .targets
            .iter()
            .map(|target| worker.run_unit(target, shutdown.clone()));
        futures::future::join_all(units).await;
    }
}

impl Worker {
    async fn run_unit(&self, target: &Target, shutdown: Shared<BoxFuture<'static, ()>>) {
        let name = bus::webhook_consumer(&target.unit_id);
        let config = pull::Config {
            durable_name: Some(name.clone()),
            description: Some(format!(
                "minhu dispatch: webhook of unit {}",
                target.unit_id
            )),
            filter_subject: bus::unit_dispatch_filter(&target.unit_id),
            ack_policy: AckPolicy::Explicit,
            // A webhook configured later still receives the unit's feed from its start: the
            // receiver drops what it already has by event id.
            deliver_policy: DeliverPolicy::All,
            ack_wait: ACK_WAIT,
            // The order guarantee: event n+1 is handed out only after n is acknowledged.
            max_ack_pending: 1,
            ..Default::default()
        };
        consumer::run(
            self.bus.dispatch.clone(),
            &name,
            config,
            1,
            shutdown.clone(),
            |message| self.handle(target, message, shutdown.clone()),
        )
        .await;
    }

    async fn handle(
        &self,
        target: &Target,
        message: jetstream::Message,
        shutdown: Shared<BoxFuture<'static, ()>>,
    ) -> Verdict {
        let still_working = async {
            let mut ticker = tokio::time::interval(PROGRESS_EVERY);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                if let Err(e) = message.ack_with(AckKind::Progress).await {
                    tracing::debug!(unit = %target.unit_id, error = %e, "progress not sent");
                }
            }
        };
        tokio::select! {
            verdict = self.deliver(target, &message) => verdict,
            () = still_working => unreachable!("the progress loop never ends"),
            () = shutdown => Verdict::Retry("shutting down".into()),
        }
    }

    /// Delivers one event: POSTs until 2xx or the attempts are spent, then dead-letters it.
    /// Bus writes are retried until they succeed (or shutdown cancels this).
    async fn deliver(&self, target: &Target, message: &jetstream::Message) -> Verdict {
        let sequence = match message.info() {
            Ok(info) => info.stream_sequence,
            Err(e) => return Verdict::Poison(format!("not a stream message: {e}")),
        };
        let Some((unit, case_id, number)) = feed_subject(message.subject.as_str()) else {
            return Verdict::Poison(format!("not a feed subject: {}", message.subject));
        };
        let key = bus::webhook_delivery_key(case_id, unit, number);
        let mut record = match self.load(&key).await {
            Some(r)
                if r.state == WebhookDeliveryState::Delivered as i32
                    || r.state == WebhookDeliveryState::DeadLettered as i32 =>
            {
                // Finished before a crash took the acknowledgement with it.
                return Verdict::Done;
            }
            Some(r) => r,
            None => WebhookDelivery {
                event_id: format!("{case_id}/{number}"),
                case_id: case_id.to_owned(),
                unit_id: unit.to_owned(),
                number,
                sequence,
                ..Default::default()
            },
        };
        record.state = WebhookDeliveryState::Retrying as i32;
        let body = UnitEvent::decode(message.payload.clone())
            .map_err(|e| format!("the unit event does not decode: {e}"))
            .and_then(|event| {
                self.encoder
                    .body(&event, &message.payload, number, sequence)
                    .map(|body| (event.event_id, body))
            });
        let (event_id, body) = match body {
            Ok(ok) => ok,
            Err(reason) => {
                // Nothing a receiver could accept: kept for an operator rather than dropped.
                tracing::error!(unit, case_id, number, %reason, "unit event cannot be sent");
                record.last_error = reason;
                return self.dead_letter(&key, record, message).await;
            }
        };
        while record.attempts < self.policy.attempts {
            if record.attempts > 0 {
                let wait = self.policy.backoff(record.attempts, &mut rand::rng());
                tokio::time::sleep(wait).await;
            }
            let started = Instant::now();
            let outcome = self.post(target, &event_id, &body).await;
            record.attempts += 1;
            record.updated_at = Some(timestamp(OffsetDateTime::now_utc()));
            match outcome {
                Ok(()) => {
                    metrics::webhook_attempt(unit, "ok", started.elapsed());
                    record.state = WebhookDeliveryState::Delivered as i32;
                    self.save(&key, &record).await;
                    metrics::webhook_delivered(unit);
                    tracing::info!(
                        unit,
                        event_id,
                        attempts = record.attempts,
                        "webhook delivered"
                    );
                    return Verdict::Done;
                }
                Err(e) => {
                    metrics::webhook_attempt(unit, e.label(), started.elapsed());
                    tracing::warn!(unit, event_id, attempt = record.attempts, error = %e, "webhook attempt failed");
                    record.last_error = e.summary();
                    // The count survives a crash, so the attempts are N in all, not N per
                    // instance; if the bus is away the next attempt goes ahead all the same.
                    if record.attempts < self.policy.attempts
                        && let Err(e) = self
                            .bus
                            .webhook_deliveries
                            .put(&key, record.encode_to_vec().into())
                            .await
                    {
                        tracing::warn!(unit, event_id, error = %e, "delivery state not saved");
                    }
                }
            }
        }
        self.dead_letter(&key, record, message).await
    }

    /// One POST, signed with a fresh timestamp (receivers refuse old ones against replay).
    async fn post(
        &self,
        target: &Target,
        event_id: &str,
        body: &Bytes,
    ) -> Result<(), AttemptError> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let response = self
            .http
            .post(&target.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(EVENT_ID_HEADER, event_id)
            .header(TIMESTAMP_HEADER, now.to_string())
            .header(SIGNATURE_HEADER, signature(&target.secret, now, body))
            .body(body.clone())
            .send()
            .await
            .map_err(AttemptError::from_reqwest)?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(AttemptError::Status(response.status()))
        }
    }

    /// Puts the event on the dead-letter stream (once) and records it.
    async fn dead_letter(
        &self,
        key: &str,
        mut record: WebhookDelivery,
        message: &jetstream::Message,
    ) -> Verdict {
        let subject =
            bus::webhook_dead_letter_subject(&record.unit_id, &record.case_id, record.number);
        let failed_at = OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let sequence = retry_bus("dead letter", || async {
            let publish = PublishMessage::build()
                .payload(message.payload.clone())
                .header(DEAD_EVENT_ID_HEADER, record.event_id.as_str())
                .header(DEAD_UNIT_HEADER, record.unit_id.as_str())
                .header(DEAD_SEQUENCE_HEADER, record.sequence.to_string().as_str())
                .header(DEAD_ATTEMPTS_HEADER, record.attempts.to_string().as_str())
                .header(DEAD_ERROR_HEADER, record.last_error.as_str())
                .header(DEAD_AT_HEADER, failed_at.as_str())
                // Written once: a redelivery after a crash finds it there.
                .expected_last_subject_sequence(0);
            let acked = match self.bus.js.send_publish(subject.clone(), publish).await {
                Ok(ack) => ack.await,
                Err(e) => Err(e),
            };
            match acked {
                Ok(ack) => Ok(ack.sequence),
                Err(e) if minhu_core::bus::lost_first_write(&e) => self
                    .bus
                    .dead_letter
                    .get_last_raw_message_by_subject(&subject)
                    .await
                    .map(|m| m.sequence)
                    .map_err(async_nats::Error::from),
                Err(e) => Err(e.into()),
            }
        })
        .await;
        record.state = WebhookDeliveryState::DeadLettered as i32;
        record.dead_letter_sequence = sequence;
        record.updated_at = Some(timestamp(OffsetDateTime::now_utc()));
        self.save(key, &record).await;
        metrics::webhook_dead_lettered(&record.unit_id);
        tracing::warn!(
            unit = %record.unit_id,
            event_id = %record.event_id,
            attempts = record.attempts,
            error = %record.last_error,
            dead_letter_sequence = sequence,
            "webhook gave up; event dead-lettered"
        );
        Verdict::Done
    }

    async fn load(&self, key: &str) -> Option<WebhookDelivery> {
        let bytes = retry_bus("delivery state read", || async {
            self.bus
                .webhook_deliveries
                .get(key)
                .await
                .map_err(async_nats::Error::from)
        })
        .await?;
        WebhookDelivery::decode(bytes).ok()
    }

    async fn save(&self, key: &str, record: &WebhookDelivery) {
        retry_bus("delivery state", || async {
            self.bus
                .webhook_deliveries
                .put(key, record.encode_to_vec().into())
                .await
                .map_err(async_nats::Error::from)
        })
        .await;
    }
}

/// Runs a bus step until it succeeds: the event stays in hand meanwhile, so its order holds.
async fn retry_bus<T, F, Fut>(what: &str, mut step: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, async_nats::Error>>,
{
    let mut wait = BUS_RETRY_FIRST;
    loop {
        match step().await {
            Ok(value) => return value,
            Err(e) => {
                tracing::warn!(step = what, error = %e, retry_in = ?wait, "bus step failed");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(BUS_RETRY_MAX);
            }
        }
    }
}

/// Where each webhook delivery of a case stands, for `ListDeliveries`.
#[derive(Clone)]
pub struct DeliveryLog {
    bus: Arc<Bus>,
    /// The units with a webhook: their feed messages without a state yet are queued.
    units: Arc<BTreeSet<String>>,
}

impl DeliveryLog {
    pub fn new(bus: Bus, settings: &Settings) -> DeliveryLog {
        DeliveryLog {
            bus: Arc::new(bus),
            units: Arc::new(targets(settings).into_iter().map(|t| t.unit_id).collect()),
        }
    }

    /// Every webhook delivery of `case_id`, in feed order: the recorded states, and the feed
    /// messages of webhook units not attempted yet as queued.
    pub async fn list(&self, case_id: &str) -> Result<Vec<WebhookDelivery>, async_nats::Error> {
        let kv_stream = format!("KV_{}", bus::WEBHOOK_DELIVERIES_BUCKET);
        let prefix = format!("$KV.{}.", bus::WEBHOOK_DELIVERIES_BUCKET);
        let kv = self.bus.js.get_stream(&kv_stream).await?;
        let recorded = read_all(
            &kv,
            format!("{prefix}{case_id}.>"),
            DeliverPolicy::LastPerSubject,
        )
        .await?;
        let mut out: Vec<WebhookDelivery> = recorded
            .iter()
            .filter_map(|m| WebhookDelivery::decode(m.payload.clone()).ok())
            .collect();
        let feed = read_all(
            &self.bus.dispatch,
            bus::case_dispatch_filter(case_id),
            DeliverPolicy::All,
        )
        .await?;
        for message in feed {
            let Some((unit, case, number)) = feed_subject(message.subject.as_str()) else {
                continue;
            };
            let known = out.iter().any(|d| d.unit_id == unit && d.number == number);
            if known || !self.units.contains(unit) {
                continue;
            }
            let sequence = message
                .info()
                .map(|i| i.stream_sequence)
                .unwrap_or_default();
            out.push(WebhookDelivery {
                event_id: format!("{case}/{number}"),
                case_id: case.to_owned(),
                unit_id: unit.to_owned(),
                number,
                sequence,
                state: WebhookDeliveryState::Queued as i32,
                ..Default::default()
            });
        }
        out.sort_by_key(|d| (d.sequence, d.unit_id.clone()));
        Ok(out)
    }
}

/// Every message of `stream` on `filter` at this moment.
async fn read_all(
    stream: &jetstream::stream::Stream,
    filter: String,
    deliver_policy: DeliverPolicy,
) -> Result<Vec<jetstream::Message>, async_nats::Error> {
    let consumer = stream
        .create_consumer(pull::OrderedConfig {
            filter_subject: filter,
            deliver_policy,
            ..Default::default()
        })
        .await?;
    let pending = consumer.cached_info().num_pending as usize;
    let mut out = Vec::with_capacity(pending);
    if pending == 0 {
        return Ok(out);
    }
    let mut messages = consumer.messages().await?.take(pending);
    while let Some(message) = messages.next().await {
        out.push(message?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use minhu_contracts::v1::{CaseEvent, SignedFor, case_event};
    use rand::SeedableRng;

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // printf '1764201600.{"a":1}' | openssl dgst -sha256 -hmac 'top-secret'
        assert_eq!(
            signature(b"top-secret", 1_764_201_600, br#"{"a":1}"#),
            "sha256=b54cbd36a92496284977849c66f924d4a62994e6256266ea5bb2423524c2cae4"
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_bounded_jitter() {
        let policy = RetryPolicy {
            attempts: 10,
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for (failed, full) in [(1, 1), (2, 2), (3, 4), (7, 60), (40, 60)] {
            for _ in 0..50 {
                let wait = policy.backoff(failed, &mut rng);
                let full = Duration::from_secs(full);
                assert!(wait >= full / 2 && wait <= full, "{failed}: {wait:?}");
            }
        }
    }

    #[test]
    fn a_feed_subject_names_unit_case_and_number() {
        assert_eq!(
            feed_subject("minhu.dispatch.pujiang-huangzhai.MH20261127-0000001.3"),
            Some(("pujiang-huangzhai", "MH20261127-0000001", 3))
        );
        assert_eq!(feed_subject("minhu.dispatch.unit.case"), None);
        assert_eq!(feed_subject("minhu.dead.webhook.u.c.1"), None);
    }

    #[test]
    fn the_body_names_the_event_and_carries_it_as_proto3_json() {
        let event = UnitEvent {
            event_id: "MH20261127-0000001/3".into(),
            case_id: "MH20261127-0000001".into(),
            unit_id: "pujiang-huangzhai".into(),
            at: Some(prost_types::Timestamp {
                seconds: 1_764_201_600,
                nanos: 0,
            }),
            event: Some(unit_event::Event::Update(CaseEvent {
                case_id: "MH20261127-0000001".into(),
                number: 3,
                event: Some(case_event::Event::SignedFor(SignedFor {
                    unit_id: "pujiang-huangzhai".into(),
                })),
                ..Default::default()
            })),
        };
        let payload = Bytes::from(event.encode_to_vec());
        let body = Encoder::new()
            .unwrap()
            .body(&event, &payload, 3, 42)
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["event_id"], "MH20261127-0000001/3");
        assert_eq!(json["kind"], "update");
        assert_eq!(json["update_kind"], "signed_for");
        assert_eq!(json["number"], 3);
        assert_eq!(json["sequence"], 42);
        assert_eq!(json["event"]["at"], "2025-11-27T00:00:00Z");
        assert_eq!(
            json["event"]["update"]["signed_for"]["unit_id"],
            "pujiang-huangzhai"
        );
    }
}
