//! The `service` binary's library: the player REST service (to come) and the `lint` command.

pub mod lint;
pub mod migrate;
