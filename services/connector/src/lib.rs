//! The connector role: pull connectors for channels that can only be polled over HTTP (older
//! mailbox and forum systems).
//!
//! Its contract: every item of a source becomes exactly one petition of the connector's
//! channel, through the same intake as gRPC `Submit` (validation, the idempotent durable
//! write, the receipt), with the item's id in the source as the channel message id. Polling
//! again, a restart, an outage of the source or of NATS never stores an item twice and never
//! loses one; an item the intake refuses is counted and skipped, never retried forever.
//!
//! Pure cores:
//! - [`mapping`]: a JSON page → petitions, by the configured JSON pointers;
//! - [`paging`]: the cursor or page number of each request, and where the next poll starts;
//! - [`backoff`]: the waits after failed polls;
//! - [`lease`]: which instance polls a source;
//! - [`refusals`]: items refused on the page being read, counted once;
//! - [`health`]: what ops sees of each connector.
//!
//! Edges:
//! - [`source`]: the HTTP GET (reqwest);
//! - [`store`]: cursor, lease and health in KV bucket minhu_connectors;
//! - [`worker`]: the role's loop, handing items to the gateway's [`minhu_gateway::intake::Intake`].

pub mod backoff;
pub mod health;
pub mod lease;
pub mod mapping;
pub mod paging;
pub mod refusals;
pub mod source;
pub mod store;
pub mod worker;

pub use worker::ConnectorRole;
