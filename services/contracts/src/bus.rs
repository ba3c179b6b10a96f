//! The bus layout: every NATS subject, JetStream stream and KV bucket minhu uses, named here
//! and nowhere else. The README ("The bus") describes the same layout for subscribers.
//!
//! Tokens put into subjects (channel ids, unit ids, case ids, intake keys) are restricted by
//! their own parsers to `[A-Za-z0-9_-]`, so they never contain `.`, `*`, `>` or white space.

use crate::v1::case_event;

/// Stream holding every accepted submission, forever: the permanent, replayable intake archive
/// and the idempotency index (one subject per submission).
pub const INTAKE_STREAM: &str = "MINHU_INTAKE";
/// All intake subjects.
pub const INTAKE_SUBJECTS: &str = "minhu.intake.>";

/// Subject of one submission: `minhu.intake.<channel_id>.<intake_key>`, where the intake key is a
/// digest of the channel's message id. Written with expected last subject sequence 0, so the
/// first write wins and every retry reads the original back.
pub fn intake_subject(channel_id: &str, intake_key: &str) -> String {
    format!("minhu.intake.{channel_id}.{intake_key}")
}

/// Stream of case events.
pub const CASE_EVENTS_STREAM: &str = "MINHU_CASE_EVENTS";
pub const CASE_EVENTS_SUBJECTS: &str = "minhu.case.>";

/// `minhu.case.<case_id>.<n>.<kind>`: event number `n` of a case.
pub fn case_event_subject(case_id: &str, number: u64, event: &case_event::Event) -> String {
    format!("minhu.case.{case_id}.{number}.{}", case_event_kind(event))
}

/// Every event of one case: `minhu.case.<case_id>.>`. Appends are checked against the last
/// sequence on this filter.
pub fn case_events_filter(case_id: &str) -> String {
    format!("minhu.case.{case_id}.>")
}

/// Event number `n` of one case, whatever its kind.
pub fn case_event_number_filter(case_id: &str, number: u64) -> String {
    format!("minhu.case.{case_id}.{number}.*")
}

/// The subject token naming an event's kind.
pub fn case_event_kind(event: &case_event::Event) -> &'static str {
    use case_event::Event;
    match event {
        Event::Triaged(_) => "triaged",
        Event::Dispatched(_) => "dispatched",
        Event::SignedFor(_) => "signed_for",
        Event::Returned(_) => "returned",
        Event::Reassigned(_) => "reassigned",
        Event::Designated(_) => "designated",
        Event::Replied(_) => "replied",
        Event::ExtensionRequested(_) => "extension_requested",
        Event::ExtensionDecided(_) => "extension_decided",
        Event::Closed(_) => "closed",
        Event::Evaluated(_) => "evaluated",
        Event::ReviewRequested(_) => "review_requested",
        Event::DeadlineWarned(_) => "deadline_warned",
        Event::DeadlineOverdue(_) => "deadline_overdue",
        Event::Escalated(_) => "escalated",
        Event::Paused(_) => "paused",
        Event::Resumed(_) => "resumed",
        Event::DeadlinesSet(_) => "deadlines_set",
        Event::RepeatLinked(_) => "repeat_linked",
        Event::MemberJoined(_) => "member_joined",
        Event::HotspotRaised(_) => "hotspot_raised",
        Event::MemberSplit(_) => "member_split",
        Event::Split(_) => "split",
        Event::CentreQueued(_) => "centre_queued",
        Event::Reclassified(_) => "reclassified",
        Event::PetitionerRevealed(_) => "petitioner_revealed",
        Event::ReceptionRegistered(_) => "reception_registered",
        Event::ReceptionOffered(_) => "reception_offered",
        Event::ReceptionChanged(_) => "reception_changed",
        Event::FindingsRecorded(_) => "findings_recorded",
        Event::ReceptionDecided(_) => "reception_decided",
    }
}

/// Stream of cases dispatched to handling units.
pub const DISPATCH_STREAM: &str = "MINHU_DISPATCH";
pub const DISPATCH_SUBJECTS: &str = "minhu.dispatch.>";

/// `minhu.dispatch.<unit_id>.<case_id>.<n>`: what case event `n` means for one unit, written
/// once.
pub fn dispatch_subject(unit_id: &str, case_id: &str, number: u64) -> String {
    format!("minhu.dispatch.{unit_id}.{case_id}.{number}")
}

/// The dispatch centre's queue (派单中心待派) is fed like a unit, under this id:
/// `minhu.dispatch.centre.>` carries every case that waits for a person.
pub const CENTRE_QUEUE_ID: &str = "centre";

/// What a unit system subscribes to: all of one unit's cases.
pub fn unit_dispatch_filter(unit_id: &str) -> String {
    format!("minhu.dispatch.{unit_id}.>")
}

/// KV bucket of case views, key = case id (the tracking number).
pub const CASES_BUCKET: &str = "minhu_cases";
/// KV bucket of each unit's cases: key `<unit_id>.<case_id>`, value the case status number.
pub const UNIT_CASES_BUCKET: &str = "minhu_unit_cases";

/// Key of one case in [`UNIT_CASES_BUCKET`].
pub fn unit_case_key(unit_id: &str, case_id: &str) -> String {
    format!("{unit_id}.{case_id}")
}

/// Durable consumer of the dispatch role on the case events: turns them into unit feeds.
pub const FEED_CONSUMER: &str = "minhu-dispatch-feed";

/// KV bucket of the exact-duplicate index: key = digest of (petitioner key, body), value = case id.
pub const DEDUP_BUCKET: &str = "minhu_dedup";

/// KV bucket of ops figures: key `gateway.<instance>` = GatewayStats.
pub const OPS_BUCKET: &str = "minhu_ops";

/// Key of one gateway instance's figures in [`OPS_BUCKET`].
pub fn gateway_stats_key(instance: &str) -> String {
    format!("gateway.{instance}")
}

/// KV bucket of the channel registry: key = channel id, value = ChannelRecord. Every gateway
/// watches it; ChannelAdmin writes it (compare-and-set on the revision).
pub const CHANNELS_BUCKET: &str = "minhu_channels";

/// Durable pull consumer of the triage role on the intake stream.
pub const TRIAGE_CONSUMER: &str = "minhu-triage";

/// Stream of the clock's timers: one JetStream message schedule (ADR-51) per case with a
/// deadline still to watch, and the messages the server publishes when one falls due. Work-queue
/// retention: a fired timer is gone once a clock instance has handled it.
pub const TIMERS_STREAM: &str = "MINHU_TIMERS";
pub const TIMERS_SUBJECTS: &str = "minhu.timer.>";

/// `minhu.timer.set.<case_id>`: the schedule holding a case's next clock instant. One subject
/// per case, so arming again replaces it and a purge of the subject disarms it.
pub fn timer_subject(case_id: &str) -> String {
    format!("minhu.timer.set.{case_id}")
}

/// `minhu.timer.fired.<case_id>`: where the server publishes a case's timer when it falls due.
pub fn timer_fired_subject(case_id: &str) -> String {
    format!("minhu.timer.fired.{case_id}")
}

/// Every fired timer: the filter of [`CLOCK_TIMER_CONSUMER`].
pub const TIMER_FIRED_FILTER: &str = "minhu.timer.fired.>";

/// Durable pull consumer on the fired timers, shared by every clock instance: each firing is
/// handled by one of them.
pub const CLOCK_TIMER_CONSUMER: &str = "minhu-clock-timers";

/// Durable pull consumer of the clock on the case events: each event makes the clock recompute
/// the case's deadlines and re-arm its timer.
pub const CLOCK_EVENTS_CONSUMER: &str = "minhu-clock-cases";

/// Every unit's feed messages of one case: `minhu.dispatch.*.<case_id>.*`.
pub fn case_dispatch_filter(case_id: &str) -> String {
    format!("minhu.dispatch.*.{case_id}.*")
}

/// Durable pull consumer that delivers one unit's feed to the unit's webhook:
/// `minhu-webhook-<unit_id>` on [`DISPATCH_STREAM`], filtered to [`unit_dispatch_filter`], at
/// most one message in hand at a time (the unit's events arrive in order).
pub const WEBHOOK_CONSUMER_PREFIX: &str = "minhu-webhook-";

/// Name of the webhook consumer of `unit_id`.
pub fn webhook_consumer(unit_id: &str) -> String {
    format!("{WEBHOOK_CONSUMER_PREFIX}{unit_id}")
}

/// Stream of what could not be delivered, kept for an operator: nothing is dropped.
pub const DEAD_LETTER_STREAM: &str = "MINHU_DEAD_LETTER";
pub const DEAD_LETTER_SUBJECTS: &str = "minhu.dead.>";

/// `minhu.dead.webhook.<unit_id>.<case_id>.<n>`: a unit event its webhook never accepted; the
/// payload is the `UnitEvent` as on the feed, the headers say why (written once).
pub fn webhook_dead_letter_subject(unit_id: &str, case_id: &str, number: u64) -> String {
    format!("minhu.dead.webhook.{unit_id}.{case_id}.{number}")
}

/// KV bucket of webhook delivery states (`WebhookDelivery`), key
/// `<case_id>.<unit_id>.<n>`: case first, so one case's deliveries are one key filter.
pub const WEBHOOK_DELIVERIES_BUCKET: &str = "minhu_webhook_deliveries";

/// Key of one delivery in [`WEBHOOK_DELIVERIES_BUCKET`].
pub fn webhook_delivery_key(case_id: &str, unit_id: &str, number: u64) -> String {
    format!("{case_id}.{unit_id}.{number}")
}

/// 领导下访接访: the reception sessions, key = session id, value `ReceptionSession` (with its
/// registrations: a registration is a compare-and-set on the session's revision, so two triage
/// instances never overbook it).
pub const RECEPTION_SESSIONS_BUCKET: &str = "minhu_reception_sessions";

/// Stream of the reception announcements (公告, 更正, 取消), kept as a record.
pub const RECEPTION_STREAM: &str = "MINHU_RECEPTION";
pub const RECEPTION_SUBJECTS: &str = "minhu.reception.>";

/// `minhu.reception.announce.<session_id>.<n>`: announcement `n` of a session, written once.
pub fn announcement_subject(session_id: &str, number: u32) -> String {
    format!("minhu.reception.announce.{session_id}.{number}")
}

/// Every announcement of every session: what portals and broadcasters subscribe to.
pub const ANNOUNCEMENTS_FILTER: &str = "minhu.reception.announce.>";

/// `minhu.timer.reception.set.<session_id>` (stream [`TIMERS_STREAM`]): the schedule holding a
/// session's next announcement instant, one per session like a case's timer.
pub fn reception_timer_subject(session_id: &str) -> String {
    format!("minhu.timer.reception.set.{session_id}")
}

/// `minhu.timer.reception.fired.<session_id>`: where a session's timer is published when due.
pub fn reception_timer_fired_subject(session_id: &str) -> String {
    format!("minhu.timer.reception.fired.{session_id}")
}

/// Every fired session timer: the filter of [`RECEPTION_TIMER_CONSUMER`] (apart from the case
/// timers' [`TIMER_FIRED_FILTER`], as the work-queue stream requires).
pub const RECEPTION_TIMER_FIRED_FILTER: &str = "minhu.timer.reception.fired.>";

/// Durable pull consumer on the fired session timers, shared by every dispatch instance.
pub const RECEPTION_TIMER_CONSUMER: &str = "minhu-reception-timers";

/// Pull connectors (the connector role): per connector id, `cursor.<id>` (`ConnectorCursor`,
/// where the next poll starts), `lease.<id>` (`ConnectorLease`, the one instance polling the
/// source) and `health.<id>` (`ConnectorHealth`, read by QueueHealth).
pub const CONNECTORS_BUCKET: &str = "minhu_connectors";

/// Key of a connector's cursor in [`CONNECTORS_BUCKET`].
pub fn connector_cursor_key(connector_id: &str) -> String {
    format!("cursor.{connector_id}")
}

/// Key of a connector's lease in [`CONNECTORS_BUCKET`].
pub fn connector_lease_key(connector_id: &str) -> String {
    format!("lease.{connector_id}")
}

/// Key of a connector's health in [`CONNECTORS_BUCKET`].
pub fn connector_health_key(connector_id: &str) -> String {
    format!("health.{connector_id}")
}
