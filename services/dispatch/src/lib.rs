//! The dispatch role: what happens to a case after triage.
//!
//! - [`workflow`]: the unit workflow as a pure decision (sign for, return, reply, extend, close;
//!   reassign, designate; rate, review).

pub mod workflow;
