//! The AccelByte Extend event handler: gRPC `OnMessage` services for logins, statistic updates
//! and GDPR deletions, feeding the challenge engine and the store's group-commit writer. Also
//! embeddable (the `service` binary serves the same gRPC services in its embedded mode).

pub mod config;
pub mod events;
pub mod grpc;
pub mod maintenance;
pub mod metrics;
pub mod process;
pub mod proto;
pub mod server;

pub use config::Config;
pub use events::{EventContext, EventError, Processed};
pub use server::{Listeners, run};
