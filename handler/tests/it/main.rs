//! Handler integration tests: the real server (in-process, or the binary for signals) on free
//! ports against real PostgreSQL, called through a real gRPC client.
#![allow(clippy::expect_used, clippy::unwrap_used)] // test helpers fail loudly by design

mod cache;
mod events;
mod lifecycle;
mod maintenance;
mod support;
