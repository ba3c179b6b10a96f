//! Every metric minhu exports, named in one place (Prometheus conventions: `_total` counters,
//! `_seconds` histograms, base units). deploy/prometheus and deploy/grafana use these names.
//!
//! Label cardinality stays bounded by configuration: `channel` and `unit` take only configured
//! ids, `outcome`, `stream` and `consumer` a handful of fixed values. Per-unit gauges grow with
//! the unit directory (thousands of series at province scale, a few per unit); dashboards show
//! them through `topk`.

use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};

pub const INTAKE_REQUESTS: &str = "minhu_intake_requests_total";
pub const INTAKE_RECEIPT_SECONDS: &str = "minhu_intake_receipt_seconds";
pub const TRIAGE_MESSAGES: &str = "minhu_triage_messages_total";
pub const TRIAGE_SECONDS: &str = "minhu_triage_seconds";
pub const SUBMIT_TO_DISPATCH_SECONDS: &str = "minhu_submit_to_dispatch_seconds";
pub const CONSUMER_PENDING: &str = "minhu_consumer_pending_messages";
pub const CONSUMER_ACK_PENDING: &str = "minhu_consumer_ack_pending_messages";
pub const CONSUMER_REDELIVERED: &str = "minhu_consumer_redelivered_messages";
pub const CONSUMER_OLDEST_AGE: &str = "minhu_consumer_oldest_unprocessed_age_seconds";
pub const STREAM_MESSAGES: &str = "minhu_stream_messages";
pub const STREAM_BYTES: &str = "minhu_stream_bytes";
pub const NATS_CONNECTED: &str = "minhu_nats_connected";
pub const CLASSIFIER_CONFIDENCE: &str = "minhu_classifier_confidence";
pub const ROUTE_FALLBACKS: &str = "minhu_route_fallbacks_total";
pub const DEDUP_OUTCOMES: &str = "minhu_dedup_outcomes_total";
pub const UNIT_OPEN: &str = "minhu_unit_open_cases";
pub const UNIT_UNSIGNED: &str = "minhu_unit_unsigned_cases";
pub const UNIT_OVERDUE: &str = "minhu_unit_overdue_cases";
pub const UNIT_OLDEST_UNSIGNED_AGE: &str = "minhu_unit_oldest_unsigned_age_seconds";

/// Registers the help text of every metric (call once per process, before serving /metrics).
pub fn describe() {
    describe_counter!(INTAKE_REQUESTS, "Intake requests by channel and outcome.");
    describe_histogram!(
        INTAKE_RECEIPT_SECONDS,
        metrics::Unit::Seconds,
        "Time from request to receipt (or refusal) at the gateway."
    );
    describe_counter!(
        TRIAGE_MESSAGES,
        "Intake messages handled by triage, by outcome."
    );
    describe_histogram!(
        TRIAGE_SECONDS,
        metrics::Unit::Seconds,
        "Time triage spent on one intake message."
    );
    describe_histogram!(
        SUBMIT_TO_DISPATCH_SECONDS,
        metrics::Unit::Seconds,
        "Time from acceptance to the case being on its unit's dispatch subject."
    );
    describe_gauge!(
        CONSUMER_PENDING,
        "Messages not yet delivered to a consumer."
    );
    describe_gauge!(
        CONSUMER_ACK_PENDING,
        "Messages delivered and not yet acknowledged."
    );
    describe_gauge!(
        CONSUMER_REDELIVERED,
        "Messages redelivered and not yet acknowledged."
    );
    describe_gauge!(
        CONSUMER_OLDEST_AGE,
        metrics::Unit::Seconds,
        "Age of the oldest message a consumer has not acknowledged."
    );
    describe_gauge!(STREAM_MESSAGES, "Messages stored in a stream.");
    describe_gauge!(
        STREAM_BYTES,
        metrics::Unit::Bytes,
        "Bytes stored in a stream."
    );
    describe_gauge!(NATS_CONNECTED, "1 while this process is connected to NATS.");
    describe_histogram!(
        CLASSIFIER_CONFIDENCE,
        "Confidence of each automatic classification."
    );
    describe_counter!(
        ROUTE_FALLBACKS,
        "Cases routed by fallback (no catalogue rule matched)."
    );
    describe_counter!(DEDUP_OUTCOMES, "Duplicate detection outcomes.");
    describe_gauge!(UNIT_OPEN, "Open cases per unit.");
    describe_gauge!(UNIT_UNSIGNED, "Open cases per unit not yet signed for.");
    describe_gauge!(
        UNIT_OVERDUE,
        "Open cases per unit past their handling deadline."
    );
    describe_gauge!(
        UNIT_OLDEST_UNSIGNED_AGE,
        metrics::Unit::Seconds,
        "Age of each unit's oldest unsigned case."
    );
}

pub fn intake_request(channel: &str, outcome: &'static str, elapsed: Duration) {
    counter!(INTAKE_REQUESTS, "channel" => channel.to_owned(), "outcome" => outcome).increment(1);
    histogram!(INTAKE_RECEIPT_SECONDS).record(elapsed.as_secs_f64());
}

pub fn triage_message(outcome: &'static str, elapsed: Duration) {
    counter!(TRIAGE_MESSAGES, "outcome" => outcome).increment(1);
    histogram!(TRIAGE_SECONDS).record(elapsed.as_secs_f64());
}

pub fn dispatched(since_acceptance: Duration, confidence: f64, fallback: bool) {
    histogram!(SUBMIT_TO_DISPATCH_SECONDS).record(since_acceptance.as_secs_f64());
    histogram!(CLASSIFIER_CONFIDENCE).record(confidence);
    if fallback {
        counter!(ROUTE_FALLBACKS).increment(1);
    }
}

pub fn dedup_outcome(outcome: &'static str) {
    counter!(DEDUP_OUTCOMES, "outcome" => outcome).increment(1);
}

pub fn nats_connected(connected: bool) {
    gauge!(NATS_CONNECTED).set(if connected { 1.0 } else { 0.0 });
}

pub fn stream_state(stream: &str, messages: u64, bytes: u64) {
    gauge!(STREAM_MESSAGES, "stream" => stream.to_owned()).set(messages as f64);
    gauge!(STREAM_BYTES, "stream" => stream.to_owned()).set(bytes as f64);
}

pub fn consumer_state(
    consumer: &str,
    pending: u64,
    ack_pending: u64,
    redelivered: u64,
    oldest_age: f64,
) {
    let label = || ("consumer", consumer.to_owned());
    gauge!(CONSUMER_PENDING, &[label()]).set(pending as f64);
    gauge!(CONSUMER_ACK_PENDING, &[label()]).set(ack_pending as f64);
    gauge!(CONSUMER_REDELIVERED, &[label()]).set(redelivered as f64);
    gauge!(CONSUMER_OLDEST_AGE, &[label()]).set(oldest_age);
}

pub fn unit_state(unit: &str, open: u64, unsigned: u64, overdue: u64, oldest_unsigned_age: f64) {
    let label = || ("unit", unit.to_owned());
    gauge!(UNIT_OPEN, &[label()]).set(open as f64);
    gauge!(UNIT_UNSIGNED, &[label()]).set(unsigned as f64);
    gauge!(UNIT_OVERDUE, &[label()]).set(overdue as f64);
    gauge!(UNIT_OLDEST_UNSIGNED_AGE, &[label()]).set(oldest_unsigned_age);
}
