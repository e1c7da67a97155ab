//! Store conformance suite: the same cases against PostgreSQL and SQLite.
#![allow(clippy::expect_used, clippy::unwrap_used)] // test helpers fail loudly by design

/// Runs each named case against a fresh PostgreSQL database and a fresh SQLite file.
macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let db = crate::support::TestDb::postgres().await;
                    super::$case(&db).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let db = crate::support::TestDb::sqlite().await;
                    super::$case(&db).await;
                }
            )*
        }
    };
}

mod archive;
mod audit;
mod audit_retention;
mod auto_rows;
mod claim_ledger;
mod claims;
mod cleanup;
mod conformance;
mod dedup;
mod held;
mod outage;
mod outbox;
mod replay;
mod retention;
mod rotation_calendars;
mod rule_sets;
mod schema;
mod sharding;
mod supervision;
mod support;
