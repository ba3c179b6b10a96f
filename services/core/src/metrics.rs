//! Every metric minhu exports, named in one place (Prometheus conventions: `_total` counters,
//! `_seconds` histograms, base units). deploy/prometheus and deploy/grafana use these names.
//!
//! Label cardinality stays bounded by the registry and configuration: `channel` and `unit` take
//! only registered ids, `outcome`, `stream` and `consumer` a handful of fixed values. At province
//! scale (thousands of channels) each registered channel has one `minhu_channel_active` series;
//! its other series appear only once it has traffic. Per-unit gauges grow with the unit
//! directory (thousands of series at province scale, a few per unit); dashboards show them
//! through `topk`.

use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};

pub const INTAKE_REQUESTS: &str = "minhu_intake_requests_total";
pub const INTAKE_RECEIPT_SECONDS: &str = "minhu_intake_receipt_seconds";
/// One series per registered channel: 1 active, 0 suspended.
pub const CHANNEL_ACTIVE: &str = "minhu_channel_active";
/// One series per channel that has had a petition accepted by this gateway.
pub const CHANNEL_LAST_ACCEPTED: &str = "minhu_channel_last_accepted_timestamp_seconds";
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
/// Petitions the dedup journal holds in this triage instance's memory.
pub const DEDUP_JOURNAL_ENTRIES: &str = "minhu_dedup_journal_entries";
/// Journal entries another instance's write came before: decided again.
pub const DEDUP_JOURNAL_CONFLICTS: &str = "minhu_dedup_journal_conflicts_total";
pub const CENTRE_QUEUED: &str = "minhu_centre_queued_total";
pub const UNIT_OPEN: &str = "minhu_unit_open_cases";
pub const UNIT_UNSIGNED: &str = "minhu_unit_unsigned_cases";
pub const UNIT_OVERDUE: &str = "minhu_unit_overdue_cases";
pub const UNIT_OLDEST_UNSIGNED_AGE: &str = "minhu_unit_oldest_unsigned_age_seconds";
pub const DEADLINE_WARNINGS: &str = "minhu_deadline_warnings_total";
pub const DEADLINE_OVERDUE: &str = "minhu_deadline_overdue_total";
pub const DEADLINE_ESCALATIONS: &str = "minhu_deadline_escalations_total";
pub const CLOCK_FIRE_LAG: &str = "minhu_clock_fire_lag_seconds";
pub const UNIT_RESPONSE_RATIO: &str = "minhu_unit_response_ratio";
pub const UNIT_ON_TIME_RATIO: &str = "minhu_unit_on_time_ratio";
pub const UNIT_RESOLUTION_RATIO: &str = "minhu_unit_resolution_ratio";
pub const UNIT_RETURN_RATIO: &str = "minhu_unit_return_ratio";
pub const UNIT_SATISFACTION_RATIO: &str = "minhu_unit_satisfaction_ratio";
pub const UNIT_OVERDUE_CASES_SEEN: &str = "minhu_unit_overdue_cases_seen";
pub const CATEGORY_RESPONSE_RATIO: &str = "minhu_category_response_ratio";
pub const CATEGORY_ON_TIME_RATIO: &str = "minhu_category_on_time_ratio";
pub const CATEGORY_RESOLUTION_RATIO: &str = "minhu_category_resolution_ratio";
pub const CATEGORY_RETURN_RATIO: &str = "minhu_category_return_ratio";
pub const CATEGORY_SATISFACTION_RATIO: &str = "minhu_category_satisfaction_ratio";
pub const CATEGORY_OVERDUE_CASES_SEEN: &str = "minhu_category_overdue_cases_seen";
pub const WEBHOOK_ATTEMPTS: &str = "minhu_webhook_attempts_total";
pub const WEBHOOK_ATTEMPT_SECONDS: &str = "minhu_webhook_attempt_seconds";
pub const WEBHOOK_DELIVERIES: &str = "minhu_webhook_deliveries_total";
pub const WEBHOOK_DEAD_LETTERS: &str = "minhu_webhook_dead_letters_total";
pub const RECEPTION_ANNOUNCEMENTS: &str = "minhu_reception_announcements_total";
pub const RECEPTION_REGISTRATIONS: &str = "minhu_reception_registrations_total";
pub const RECEPTION_OUTCOMES: &str = "minhu_reception_outcomes_total";
pub const RECEPTION_SESSION_MATTERS: &str = "minhu_reception_session_matters";
pub const RECEPTION_SESSION_SATISFACTION: &str = "minhu_reception_session_satisfaction_ratio";
pub const CONNECTOR_POLLS: &str = "minhu_connector_polls_total";
pub const CONNECTOR_ITEMS: &str = "minhu_connector_items_total";
pub const CONNECTOR_CONSECUTIVE_FAILURES: &str = "minhu_connector_consecutive_failures";
pub const CONNECTOR_LAST_SUCCESS: &str = "minhu_connector_last_success_timestamp_seconds";

/// Registers the help text of every metric (call once per process, before serving /metrics).
pub fn describe() {
    describe_counter!(INTAKE_REQUESTS, "Intake requests by channel and outcome.");
    describe_histogram!(
        INTAKE_RECEIPT_SECONDS,
        metrics::Unit::Seconds,
        "Time from request to receipt (or refusal) at the gateway."
    );
    describe_gauge!(
        CHANNEL_ACTIVE,
        "1 for each registered channel that is active, 0 while it is suspended."
    );
    describe_gauge!(
        CHANNEL_LAST_ACCEPTED,
        metrics::Unit::Seconds,
        "Unix time of the last petition this gateway accepted from the channel."
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
    describe_gauge!(
        DEDUP_JOURNAL_ENTRIES,
        "Petitions the dedup journal holds in this triage instance's memory."
    );
    describe_counter!(
        DEDUP_JOURNAL_CONFLICTS,
        "Dedup journal entries another instance wrote first; the petition was decided again."
    );
    describe_counter!(
        CENTRE_QUEUED,
        "Cases put in the dispatch centre's queue instead of dispatched, by reason."
    );
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
    describe_counter!(
        DEADLINE_WARNINGS,
        "Deadline warnings (预警) recorded by the clock, by milestone."
    );
    describe_counter!(
        DEADLINE_OVERDUE,
        "Milestones recorded overdue (超期) by the clock, by milestone."
    );
    describe_counter!(
        DEADLINE_ESCALATIONS,
        "Escalations (督办) of overdue milestones recorded by the clock, by level."
    );
    describe_histogram!(
        CLOCK_FIRE_LAG,
        metrics::Unit::Seconds,
        "Time from a case timer's instant until a clock instance takes it up."
    );
    describe_counter!(
        WEBHOOK_ATTEMPTS,
        "Webhook POSTs per unit, by outcome (ok, http_status, timeout, connect, error)."
    );
    describe_histogram!(
        WEBHOOK_ATTEMPT_SECONDS,
        metrics::Unit::Seconds,
        "Time one webhook POST took, until the answer or the failure."
    );
    describe_counter!(
        WEBHOOK_DELIVERIES,
        "Unit events finished by the webhook delivery, per unit, by outcome (delivered, dead_lettered)."
    );
    describe_counter!(
        WEBHOOK_DEAD_LETTERS,
        "Unit events put on the dead-letter stream after every webhook attempt failed, per unit."
    );
    let per_unit = [
        (
            UNIT_RESPONSE_RATIO,
            "响应率: cases signed for / assigned, per lead unit.",
        ),
        (
            UNIT_ON_TIME_RATIO,
            "按时办结率: cases closed with no deadline missed / closed, per lead unit.",
        ),
        (
            UNIT_RESOLUTION_RATIO,
            "解决率: closed cases not taken to 复查/复核 / closed, per lead unit.",
        ),
        (
            UNIT_RETURN_RATIO,
            "退单率: cases returned / assigned, per lead unit.",
        ),
        (
            UNIT_SATISFACTION_RATIO,
            "满意率: ratings 满意 or 基本满意 / ratings, per lead unit.",
        ),
        (
            UNIT_OVERDUE_CASES_SEEN,
            "Cases that went past a deadline while the unit led them (once per case and round).",
        ),
        (CATEGORY_RESPONSE_RATIO, "响应率 per category."),
        (CATEGORY_ON_TIME_RATIO, "按时办结率 per category."),
        (CATEGORY_RESOLUTION_RATIO, "解决率 per category."),
        (CATEGORY_RETURN_RATIO, "退单率 per category."),
        (CATEGORY_SATISFACTION_RATIO, "满意率 per category."),
        (
            CATEGORY_OVERDUE_CASES_SEEN,
            "Cases of the category that went past a deadline (once per case and round).",
        ),
    ];
    for (name, help) in per_unit {
        describe_gauge!(name, help);
    }
    describe_counter!(
        RECEPTION_ANNOUNCEMENTS,
        "Reception session announcements published, by kind (scheduled, correction, cancellation)."
    );
    describe_counter!(
        RECEPTION_REGISTRATIONS,
        "Petitions naming a reception session, by outcome (registered, or why not)."
    );
    describe_counter!(
        RECEPTION_OUTCOMES,
        "Matters decided at reception sessions, by outcome (resolved, assigned, leader_owned)."
    );
    describe_gauge!(
        RECEPTION_SESSION_MATTERS,
        "A reception session's report by figure (petitions, matters, investigated, resolved_on_the_spot, assigned, leader_owned, undecided, overdue, evaluated), for sessions within reception.report_days."
    );
    describe_gauge!(
        RECEPTION_SESSION_SATISFACTION,
        "Share of 满意 and 基本满意 among a reception session's rated matters."
    );
    describe_counter!(
        CONNECTOR_POLLS,
        "Polls of a pull connector's source by this process, by outcome (ok, http_status, timeout, connect, bad_response, request, unavailable, internal, suspended)."
    );
    describe_counter!(
        CONNECTOR_ITEMS,
        "Items of a pull connector's source, by outcome (submitted, replayed, rejected)."
    );
    describe_gauge!(
        CONNECTOR_CONSECUTIVE_FAILURES,
        "Failed polls of a pull connector since its last successful one (on the instance holding its lease)."
    );
    describe_gauge!(
        CONNECTOR_LAST_SUCCESS,
        metrics::Unit::Seconds,
        "Unix time of a pull connector's last successful poll (on the instance holding its lease)."
    );
}

pub fn intake_request(channel: &str, outcome: &'static str, elapsed: Duration) {
    counter!(INTAKE_REQUESTS, "channel" => channel.to_owned(), "outcome" => outcome).increment(1);
    histogram!(INTAKE_RECEIPT_SECONDS).record(elapsed.as_secs_f64());
}

/// A channel entered or changed in the registry.
pub fn channel_registered(channel: &str, active: bool) {
    gauge!(CHANNEL_ACTIVE, "channel" => channel.to_owned()).set(if active { 1.0 } else { 0.0 });
}

pub fn channel_accepted(channel: &str, at_unix_seconds: f64) {
    gauge!(CHANNEL_LAST_ACCEPTED, "channel" => channel.to_owned()).set(at_unix_seconds);
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

pub fn centre_queued(reason: &'static str) {
    counter!(CENTRE_QUEUED, "reason" => reason).increment(1);
}

pub fn dedup_outcome(outcome: &'static str) {
    counter!(DEDUP_OUTCOMES, "outcome" => outcome).increment(1);
}

pub fn dedup_journal(entries: usize) {
    gauge!(DEDUP_JOURNAL_ENTRIES).set(entries as f64);
}

pub fn dedup_journal_conflicts(lost: usize) {
    counter!(DEDUP_JOURNAL_CONFLICTS).increment(lost as u64);
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

pub fn deadline_warned(milestone: &str) {
    counter!(DEADLINE_WARNINGS, "milestone" => milestone.to_owned()).increment(1);
}

pub fn deadline_overdue(milestone: &str) {
    counter!(DEADLINE_OVERDUE, "milestone" => milestone.to_owned()).increment(1);
}

pub fn deadline_escalated(level: u32) {
    counter!(DEADLINE_ESCALATIONS, "level" => level.to_string()).increment(1);
}

pub fn clock_fire_lag(lag: Duration) {
    histogram!(CLOCK_FIRE_LAG).record(lag.as_secs_f64());
}

pub fn webhook_attempt(unit: &str, outcome: &'static str, elapsed: Duration) {
    counter!(WEBHOOK_ATTEMPTS, "unit" => unit.to_owned(), "outcome" => outcome).increment(1);
    histogram!(WEBHOOK_ATTEMPT_SECONDS).record(elapsed.as_secs_f64());
}

pub fn webhook_delivered(unit: &str) {
    counter!(WEBHOOK_DELIVERIES, "unit" => unit.to_owned(), "outcome" => "delivered").increment(1);
}

pub fn webhook_dead_lettered(unit: &str) {
    counter!(WEBHOOK_DELIVERIES, "unit" => unit.to_owned(), "outcome" => "dead_lettered")
        .increment(1);
    counter!(WEBHOOK_DEAD_LETTERS, "unit" => unit.to_owned()).increment(1);
}

/// The performance figures of one unit or category as ratios; `None` where the denominator
/// is still 0 (the gauge is then not set, rather than set to a misleading 0).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PerformanceRatios {
    pub response: Option<f64>,
    pub on_time: Option<f64>,
    pub resolution: Option<f64>,
    pub returned: Option<f64>,
    pub satisfaction: Option<f64>,
    pub overdue_cases: u64,
}

pub fn unit_performance(unit: &str, figures: &PerformanceRatios) {
    let names = [
        UNIT_RESPONSE_RATIO,
        UNIT_ON_TIME_RATIO,
        UNIT_RESOLUTION_RATIO,
        UNIT_RETURN_RATIO,
        UNIT_SATISFACTION_RATIO,
        UNIT_OVERDUE_CASES_SEEN,
    ];
    performance(&names, "unit", unit, figures);
}

pub fn category_performance(category: &str, figures: &PerformanceRatios) {
    let names = [
        CATEGORY_RESPONSE_RATIO,
        CATEGORY_ON_TIME_RATIO,
        CATEGORY_RESOLUTION_RATIO,
        CATEGORY_RETURN_RATIO,
        CATEGORY_SATISFACTION_RATIO,
        CATEGORY_OVERDUE_CASES_SEEN,
    ];
    performance(&names, "category", category, figures);
}

fn performance(names: &[&'static str; 6], label: &'static str, key: &str, f: &PerformanceRatios) {
    let ratios = [
        f.response,
        f.on_time,
        f.resolution,
        f.returned,
        f.satisfaction,
    ];
    for (name, ratio) in names.iter().zip(ratios) {
        if let Some(ratio) = ratio {
            gauge!(*name, label => key.to_owned()).set(ratio);
        }
    }
    gauge!(names[5], label => key.to_owned()).set(f.overdue_cases as f64);
}

pub fn unit_state(unit: &str, open: u64, unsigned: u64, overdue: u64, oldest_unsigned_age: f64) {
    let label = || ("unit", unit.to_owned());
    gauge!(UNIT_OPEN, &[label()]).set(open as f64);
    gauge!(UNIT_UNSIGNED, &[label()]).set(unsigned as f64);
    gauge!(UNIT_OVERDUE, &[label()]).set(overdue as f64);
    gauge!(UNIT_OLDEST_UNSIGNED_AGE, &[label()]).set(oldest_unsigned_age);
}

pub fn reception_announced(kind: &'static str) {
    counter!(RECEPTION_ANNOUNCEMENTS, "kind" => kind).increment(1);
}

pub fn reception_registration(outcome: &'static str) {
    counter!(RECEPTION_REGISTRATIONS, "outcome" => outcome).increment(1);
}

pub fn reception_outcome(outcome: &'static str) {
    counter!(RECEPTION_OUTCOMES, "outcome" => outcome).increment(1);
}

/// One reception session's report. The `session` label takes only the ids of sessions held
/// within `reception.report_days` (and upcoming ones): a county with a session a day adds a few
/// hundred series a year.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ReceptionFigures {
    pub petitions: u32,
    pub matters: u32,
    pub investigated: u32,
    pub resolved_on_the_spot: u32,
    pub assigned: u32,
    pub leader_owned: u32,
    pub undecided: u32,
    pub overdue: u32,
    pub evaluated: u32,
    pub satisfaction_ratio: f64,
}

pub fn reception_report(session: &str, f: &ReceptionFigures) {
    let figures = [
        ("petitions", f.petitions),
        ("matters", f.matters),
        ("investigated", f.investigated),
        ("resolved_on_the_spot", f.resolved_on_the_spot),
        ("assigned", f.assigned),
        ("leader_owned", f.leader_owned),
        ("undecided", f.undecided),
        ("overdue", f.overdue),
        ("evaluated", f.evaluated),
    ];
    for (figure, value) in figures {
        gauge!(RECEPTION_SESSION_MATTERS, "session" => session.to_owned(), "figure" => figure)
            .set(f64::from(value));
    }
    if f.evaluated > 0 {
        gauge!(RECEPTION_SESSION_SATISFACTION, "session" => session.to_owned())
            .set(f.satisfaction_ratio);
    }
}

/// One poll of a connector's source: `outcome` is `ok` or the failure's kind; `failures` the
/// failed polls in a row since (0 after a success).
pub fn connector_poll(connector: &str, outcome: &'static str, failures: u32) {
    counter!(CONNECTOR_POLLS, "connector" => connector.to_owned(), "outcome" => outcome)
        .increment(1);
    gauge!(CONNECTOR_CONSECUTIVE_FAILURES, "connector" => connector.to_owned())
        .set(f64::from(failures));
}

/// A connector's successful poll at `unix_seconds`.
pub fn connector_succeeded(connector: &str, unix_seconds: i64) {
    gauge!(CONNECTOR_LAST_SUCCESS, "connector" => connector.to_owned()).set(unix_seconds as f64);
}

/// One item of a connector's source: `submitted`, `replayed` or `rejected`.
pub fn connector_item(connector: &str, outcome: &'static str) {
    counter!(CONNECTOR_ITEMS, "connector" => connector.to_owned(), "outcome" => outcome)
        .increment(1);
}
