//! End-to-end tests: the real minhu app against real nats-server processes, driven through
//! gRPC like a channel and through NATS like a unit system. One binary, one link step.

mod auth;
mod channels;
mod clock;
mod cluster;
mod connector;
mod dedup;
mod faults;
mod feeds;
mod grpc_web;
mod hostile;
mod identity;
mod intake;
mod lists;
mod ops;
mod portal;
mod processes;
mod reception;
mod security;
mod tls;
mod triage;
mod validation;
mod webhooks;
mod workflow;
