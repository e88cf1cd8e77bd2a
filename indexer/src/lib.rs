//! `indexer`: every verified transaction, decrypted fields included, in a
//! tantivy search index that understands Chinese.
//!
//! It owns, in the order data flows through them:
//!
//! - [`schema`]: one document per transaction in the clear (a
//!   [`records::TxDoc`], read from the store by the `records` crate); exact fields for hashes,
//!   addresses and codes, fast columns for ranges, sorting and aggregations,
//!   and full text read with jieba (Chinese words), lowercasing and English
//!   stemming.
//! - [`jieba`]: the word segmenter, jieba with a lexicon of payments, trade
//!   finance and supervision words.
//! - [`index`]: the index on disk; its commit payload is the checkpoint
//!   (last indexed height and block hash), so documents and checkpoint move
//!   together.
//! - [`follow`]: the follower of the store's change feed (near-real-time
//!   commits, catch-up after restart) and `rebuild` from the store alone.
//! - [`search`]: the search API the GraphQL layer and the CLI call: lenient
//!   user queries, filters, sorts, stable cursors, snippets, aggregations.
//!
//! The index is a view: deleting it loses nothing, the store rebuilds it.

#[cfg(feature = "store")]
pub mod follow;
pub mod index;
pub mod jieba;
#[cfg(feature = "store")]
pub mod metrics;
pub mod schema;
pub mod search;

use std::path::{Path, PathBuf};

#[cfg(feature = "store")]
pub use follow::{IndexStats, Indexer, IndexerConfig, rebuild};
pub use index::{Checkpoint, TxIndex};
pub use search::{Search, SearchError, SearchPage, SearchRequest};

/// What can go wrong while indexing.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The index directory could not be used.
    #[error("index at {}: {detail}", path.display())]
    Open {
        /// The directory.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// A file operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Another process (or writer) holds the index.
    #[error("index at {} is in use by another process", path.display())]
    Locked {
        /// The directory.
        path: PathBuf,
    },
    /// The index was built with another schema.
    #[error("index at {} was built by another version of lookthrough; run `lookthrough reindex`", path.display())]
    SchemaChanged {
        /// The directory.
        path: PathBuf,
    },
    /// The index was built from another chain (or a store since reset).
    #[error(
        "index at {} was built from another chain: it holds block {height} as {indexed}, the store has {}; run `lookthrough reindex`",
        path.display(),
        stored.as_deref().unwrap_or("no such block")
    )]
    Foreign {
        /// The directory.
        path: PathBuf,
        /// The index's checkpoint height.
        height: i64,
        /// The block hash the index recorded.
        indexed: String,
        /// The store's block hash at that height.
        stored: Option<String>,
    },
    /// The store failed.
    #[error("store: {0}")]
    Store(String),
    /// The index is unreadable.
    #[error("index corrupt: {0}")]
    Corrupt(String),
    /// tantivy failed.
    #[error("tantivy: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
}

impl IndexError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        IndexError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
