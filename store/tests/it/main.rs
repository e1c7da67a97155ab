//! Store conformance suite: the same cases against PostgreSQL and SQLite.
#![allow(clippy::expect_used, clippy::unwrap_used)] // test helpers fail loudly by design

mod conformance;
mod outage;
mod support;
