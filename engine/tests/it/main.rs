//! Engine integration tests: one binary, one module per area.
#![allow(clippy::expect_used, clippy::unwrap_used)] // test helpers fail loudly by design

mod backfill;
mod calendar;
mod corpus;
mod legacy;
mod progress;
mod progress_fields;
mod reload;
mod replay;
mod rewards;
mod rotation;
mod routing;
mod schema;
mod streak;
mod support;
mod support_actions;
