//! `service` integration tests: one binary, one module per area.
#![allow(clippy::expect_used, clippy::unwrap_used)] // test helpers fail loudly by design

mod api;
mod backfill;
mod backfill_resume;
mod claims;
mod deploy;
mod docs;
mod edges;
mod fake_ags;
mod grpc_auth;
mod jwt;
mod lint;
mod migrate;
mod notifications;
mod notifications_calendar;
mod read_cache;
mod replay;
mod replicas;
mod replicas_bundles;
mod retire;
mod rewards;
mod roles;
mod simulate;
mod support;
mod timeline;
mod tokens;
