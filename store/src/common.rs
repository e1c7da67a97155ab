//! What each backend holds besides its pool, the same on both.

use std::sync::Arc;

/// A backend's shared parts.
#[derive(Debug, Clone, Default)]
pub(crate) struct Common {
    /// The reward ledger's HMAC secret, read (or created) on first use.
    pub(crate) ledger_secret: Arc<tokio::sync::OnceCell<String>>,
    /// Whether the legacy dedup table is still read (`dedup.rs`).
    pub(crate) legacy_dedup: Arc<crate::dedup::Legacy>,
    /// Times every call; on PostgreSQL, the read cache of answers (`probe.rs`).
    pub(crate) probe: crate::Probe,
    /// The rule sets this process has recorded (`archive.rs`).
    pub(crate) rule_sets: Arc<crate::archive::RecordedRuleSets>,
}

/// A backend: its [`Common`] parts.
pub(crate) trait Backend: Send + Sync + 'static {
    fn common(&self) -> &Common;
}

/// Implements [`Backend`] for `$store` (whose [`Common`] is its field `common`) and its
/// `with_probe`.
macro_rules! backend {
    ($store:ty) => {
        impl $crate::common::Backend for $store {
            fn common(&self) -> &$crate::common::Common {
                &self.common
            }
        }

        impl $store {
            /// The same store, reporting its calls to `probe` (and reading answers through its
            /// cache).
            pub fn with_probe(mut self, probe: $crate::Probe) -> Self {
                self.common.probe = probe;
                self
            }
        }
    };
}

pub(crate) use backend;
