//! The operator commands beside the server: `service migrate`, `service claims list|resolve`
//! and `service replay`. Each opens the database itself and prints for a terminal; the logic
//! they share with the server is in `crate::usecases`.

pub mod backfill;
pub mod claims;
pub mod migrate;
pub mod replay;
