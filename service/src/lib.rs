//! The `service` binary's library: the player REST service (routes, use-cases, auth, rewards)
//! and the designers' `lint` command (the `challenge-lint` crate).

pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod error;
pub mod json;
pub mod notify;
pub mod rewards;
mod routes;
pub mod usecases;
