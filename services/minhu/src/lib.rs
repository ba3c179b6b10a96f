//! The `minhu` application: one binary, many roles.
//!
//! - [`roles`]: the roles and how a `--roles` list parses.
//! - [`app`]: build everything, then run the roles until stopped.
//! - [`bench`]: benchmark commands that print figures.
//! - [`channels_cli`]: `minhu channels ...`, the channel registry through ChannelAdmin.
//! - [`classify_cli`]: `minhu train`, `minhu eval classify`, `minhu bench classify`.
//! - [`managed_nats`]: the local nats-server `minhu serve` starts when no NATS URL is given.
//! - [`client`]: the small gRPC client behind `minhu submit` and `minhu track`.
//! - [`listener`]: the gRPC listener's connections: TLS, and deadlines against stalling clients.
//! - [`replay`]: `minhu replay`, routing past intake again with the catalogue in force.
//! - [`telemetry`]: structured logs, set up once.
//! - [`top`]: `minhu top`, the live terminal view of the queue health.
//! - [`web`]: browser portals: gRPC-Web, CORS and the demo portal on the gRPC listener.

pub mod app;
pub mod bench;
pub mod channels_cli;
pub mod classify_cli;
pub mod client;
pub mod listener;
pub mod managed_nats;
pub mod replay;
pub mod roles;
pub mod telemetry;
pub mod top;
pub mod web;

pub use app::App;
pub use roles::Role;
