//! The policy crate's error: why the engine (or a reader of the policy
//! records) stopped, each variant naming what failed.

use store::StoreError;

/// Why the engine stopped.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// A stored policy record cannot be read.
    #[error("corrupt policy record {what}: {reason}")]
    Corrupt {
        /// Which record.
        what: String,
        /// Why.
        reason: String,
    },
    /// Reading a block's documents failed.
    #[error("reading block {height}: {reason}")]
    Read {
        /// The block.
        height: i64,
        /// Why.
        reason: String,
    },
    /// A read would pass a bound of the records (they grow with the chain).
    #[error("more than {limit} {what}: narrow the request")]
    TooMany {
        /// What was counted.
        what: String,
        /// The bound.
        limit: usize,
    },
    /// The engine's evaluation panicked: a bug of the engine, not of the
    /// data; nothing of the block was written.
    #[error("bug: the rule engine panicked ({0}); the block was not evaluated, please report it")]
    Panicked(String),
    /// A backtest's scratch store could not be made or removed.
    #[error("backtest scratch store: {0}")]
    Scratch(String),
}

impl EngineError {
    /// Whether the error is a disk fault ([`store::disk`]), which passes.
    pub fn is_disk_fault(&self) -> bool {
        matches!(self, EngineError::Store(e) if e.is_disk_fault())
    }
}

pub(crate) fn corrupt(what: impl Into<String>, reason: impl std::fmt::Display) -> EngineError {
    EngineError::Corrupt {
        what: what.into(),
        reason: reason.to_string(),
    }
}
