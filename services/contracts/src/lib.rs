//! minhu's public contracts.
//!
//! - [`v1`]: the generated `minhu.v1` types: the gRPC services and every payload on the bus.
//! - [`bus`]: the one place that names NATS subjects, streams and KV buckets.
//!
//! Subscribers in other languages generate their clients from `proto/` alone; this crate is the
//! Rust view of the same files.

pub mod bus;

#[allow(clippy::all, clippy::pedantic)]
pub mod v1 {
    tonic::include_proto!("minhu.v1");
}

/// Encoded file descriptor set of `minhu.v1` (with its imports), for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("minhu_descriptor");
