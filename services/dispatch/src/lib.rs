//! The dispatch role: what happens to a case after triage.
//!
//! - [`workflow`]: the unit workflow as a pure decision (sign for, return, reply, extend, close;
//!   reassign, designate; rate, review).
//! - [`service`]: `CaseService`, the gRPC edge of the workflow, and `Subscribe`.
//! - [`lists`]: 三张清单 and 任期盘点, computed from a unit's cases.
//! - [`feed`]: each unit's feed on the bus and the unit index, from the case events.
//! - [`webhook`]: each feed POSTed to its unit's webhook, signed, retried, dead-lettered.

pub mod feed;
pub mod lists;
pub mod service;
pub mod webhook;
pub mod workflow;
