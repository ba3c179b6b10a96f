//! What every minhu role shares.
//!
//! - [`config`]: settings with embedded defaults, a file and environment overrides.
//! - [`channels`]: the channel registry in KV, its live index and the watch that keeps it.
//! - [`consumer`]: the loop of every durable pull consumer.
//! - [`grpc`]: how every gRPC API refuses a request that breaks its rules.
//! - [`credentials`]: bearer tokens held as digests.
//! - [`domain`]: types that parse on construction (channel and unit ids, division codes,
//!   tracking numbers).
//! - [`deadlines`]: the statutory limits a case starts with.
//! - [`metrics`]: every exported metric, named in one place.
//! - [`privacy`]: sealing petitioner identity, keyed person hashes, query codes.
//! - [`reception`]: 领导下访接访 settings, and what reception events mean for a case.
//! - [`connectors`]: `[[connectors]]`, the pull connectors' settings and their checks.
//! - [`case`]: a case as the fold of its events, and the store that appends and folds them.
//! - [`bus`]: connecting to NATS and provisioning the streams and buckets of the bus layout.

pub mod bus;
pub mod case;
pub mod channels;
pub mod config;
pub mod connectors;
pub mod consumer;
pub mod credentials;
pub mod deadlines;
pub mod domain;
pub mod grpc;
pub mod metrics;
pub mod privacy;
pub mod reception;
