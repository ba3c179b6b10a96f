//! 领导下访接访 (the 浦江经验): a leader's reception session, announced ahead of the day,
//! petitions pre-registered to it through the normal intake path, each registered matter
//! investigated by its unit before the day, decided on the day, and owned and timed after it.
//!
//! # Layout
//!
//! Pure (no I/O, time as input, table-tested):
//! - [`session`]: create, publish, change, cancel; the areas and topics a session covers.
//! - [`schedule`]: the announcement due at an instant (at each lead time, a correction, a
//!   cancellation) and the next one; the investigation deadline before the day and the
//!   leader's deadline after it, on the working-day calendar.
//! - [`registration`]: window and capacity (in matters, 批次), and the next session for the
//!   same area to offer instead.
//! - [`batch`]: the leader's batch list (a repeat or a cluster once, with its members) and the
//!   session report's arithmetic.
//!
//! Edges:
//! - [`store`]: sessions in KV bucket `minhu_reception_sessions`, every write a compare-and-set
//!   on the session's revision (so two triage instances never overbook a session); the
//!   session timers (JetStream message schedules on `MINHU_TIMERS`, as the clock's).
//! - [`announcer`]: the dispatch role's worker: when a session's timer fires (or a call changed
//!   it) it publishes what is due on `minhu.reception.announce.<session>.<n>`, each number once,
//!   and re-arms the timer; it also keeps the per-session report gauges.
//! - [`register`]: the registration triage runs after its decision.
//! - [`service`]: the gRPC `minhu.v1.ReceptionService`.
//!
//! # What the case carries
//!
//! The reception events (`ReceptionRegistered`, `ReceptionOffered`, `ReceptionChanged`,
//! `FindingsRecorded`, `ReceptionDecided`) are case events like any other: the unit feeds carry
//! them to the lead unit, the clock plans the investigation deadline and the leader's deadline
//! from the view (milestones `investigation` and `reception_assignment`), and a leader-owned
//! case (CaseView.leader) escalates to the leader.

pub mod announcer;
pub mod batch;
pub mod register;
pub mod registration;
pub mod schedule;
pub mod service;
pub mod session;
pub mod store;

pub use announcer::Announcer;
pub use register::Registrar;
pub use service::ReceptionApi;

use time::OffsetDateTime;

/// A protobuf instant as a time, if set.
pub(crate) fn instant(t: Option<prost_types::Timestamp>) -> Option<OffsetDateTime> {
    let t = t?;
    OffsetDateTime::from_unix_timestamp_nanos(
        i128::from(t.seconds) * 1_000_000_000 + i128::from(t.nanos),
    )
    .ok()
}
