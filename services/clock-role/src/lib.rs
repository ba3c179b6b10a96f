//! The clock role: the NATS edges of the 接诉即办 clock. The deadline arithmetic itself is the
//! pure `minhu-clock` crate; this crate keeps it on the cases and on time.
//!
//! # Layout
//!
//! - [`plan`]: pure — from a case view and an instant, the clock's next step: record the
//!   case's (changed) deadlines, a warning (预警), an overdue milestone (超期) or an escalation
//!   step (督办), or wait until the case's next instant.
//! - [`reception`]: the reception milestones (领导下访接访): the investigation before the
//!   session and the leader's deadline after it, planned from the case view; a case the leader
//!   took on escalates to the leader.
//! - [`timers`]: one JetStream message schedule per case (ADR-51, nats-server 2.12+), armed at
//!   the case's next instant.
//! - [`worker`]: two durable consumers shared by every clock instance — the case events (a
//!   case changed: recompute it) and the fired timers (an instant came: look at the case) —
//!   both ending in [`ClockWorker::reconcile`].
//!
//! # Guarantees
//!
//! - **Durable:** timers are messages in a replicated stream and the server fires them, so they
//!   survive the restart of every process, clock instances and NATS servers alike. A timer that
//!   falls due while no clock instance runs waits in the stream for the next one.
//! - **No special process:** any number of clock instances share the two durable consumers; a
//!   firing goes to one of them, and one that dies with it unacknowledged hands it on after
//!   `clock.ack_wait_secs`.
//! - **Exactly once:** a firing only makes an instance look at the case; what is due is read
//!   from the case view, and every step is appended with the case store's optimistic
//!   concurrency (the event is written only if the case's last event is still the one read).
//!   Two instances looking at once record a step once; the loser re-reads and finds it done.
//! - **Latest state wins:** after arming, an instance checks that the case's last event is
//!   still the one it planned from, and plans again if not. Any instance that planned from an
//!   older view therefore re-arms after seeing the newer one, so the timer left in the stream
//!   always belongs to the latest event, whatever order the instances' writes arrived in.

pub mod plan;
pub mod reception;
pub mod timers;
pub mod worker;

pub use plan::{Rules, Step, Wake};
pub use timers::Timers;
pub use worker::{ClockError, ClockWorker, Reconciled};
