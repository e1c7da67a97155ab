//! What both binaries run: the shared configuration, the event use-cases (with their
//! accounting), the gRPC adapter of the Extend event services (the `handler` binary serves it,
//! and `service` too on the embedded database), the cleanup job, and telemetry (JSON logs,
//! Prometheus metrics, the shutdown signal). `handler` and `service` are thin binaries over it
//! and never depend on each other.

pub mod calendars;
pub mod cleanup;
pub mod config;
pub mod database;
pub mod error;
pub mod events;
pub mod front_door;
pub mod grpc;
pub mod metrics;
pub mod proto;
pub mod retire;
pub mod start;
pub mod telemetry;

pub use config::Config;
pub use events::{EventContext, EventError, Processed};
pub use grpc::{Listeners, run};
pub use start::{Runtime, ServiceRoles, StartOptions, load_rules};
