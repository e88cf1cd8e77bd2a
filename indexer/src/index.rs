//! The tantivy index on disk and its checkpoint.
//!
//! The checkpoint (the last indexed position of the store's merged log and
//! that block's hash) is the payload of the tantivy commit, so documents and
//! checkpoint move together: after a crash the index is exactly as of its
//! last commit, which holds whole blocks only, and the follower resumes at
//! the next position.

use std::path::{Path, PathBuf};
use std::sync::RwLock;

use serde::{Deserialize, Serialize};
use tantivy::directory::MmapDirectory;
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, TantivyDocument};

use crate::IndexError;
use crate::schema::{self, Fields, SCHEMA_VERSION};

/// The last block whose transactions are all in the index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Schema version.
    pub version: u32,
    /// The block's position in the store's merged log (its height when the
    /// store holds one chain).
    pub height: i64,
    /// That block's hash, `0x` + hex: an index built from another chain is
    /// recognised by it.
    pub block_hash: String,
    /// Documents in the index at this commit.
    pub docs: u64,
}

/// The transaction index: schema, analyzers, a reader that follows commits.
pub struct TxIndex {
    index: Index,
    fields: Fields,
    reader: IndexReader,
    path: Option<PathBuf>,
    /// The checkpoint of the commit searches see (read at each reload, not
    /// at each search).
    visible: RwLock<Option<Checkpoint>>,
}

impl std::fmt::Debug for TxIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TxIndex")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl TxIndex {
    /// Opens the index in `dir`, creating it (and `dir`) if there is none.
    /// An index of another schema is an error that asks for a rebuild.
    pub fn open(dir: &Path) -> Result<Self, IndexError> {
        std::fs::create_dir_all(dir).map_err(|e| IndexError::io(dir, e))?;
        let directory = MmapDirectory::open(dir).map_err(|e| IndexError::Open {
            path: dir.to_path_buf(),
            detail: e.to_string(),
        })?;
        let (schema, fields) = schema::build();
        let exists = Index::exists(&directory).map_err(|e| IndexError::Open {
            path: dir.to_path_buf(),
            detail: e.to_string(),
        })?;
        let index = if exists {
            let index = Index::open(directory)?;
            if index.schema() != schema {
                return Err(IndexError::SchemaChanged {
                    path: dir.to_path_buf(),
                });
            }
            index
        } else {
            Index::create(directory, schema, tantivy::IndexSettings::default())?
        };
        let mut me = Self::with_index(index, fields)?;
        me.path = Some(dir.to_path_buf());
        if let Some(cp) = me.checkpoint()?
            && cp.version != SCHEMA_VERSION
        {
            return Err(IndexError::SchemaChanged {
                path: dir.to_path_buf(),
            });
        }
        Ok(me)
    }

    /// Opens an existing index for searching (beside a node that may be
    /// writing it); an error if there is none.
    pub fn open_existing(dir: &Path) -> Result<Self, IndexError> {
        if !dir.join("meta.json").is_file() {
            return Err(IndexError::Open {
                path: dir.to_path_buf(),
                detail: "no index here (the node builds it as it follows the chain; `lookthrough reindex` builds it from the store)".into(),
            });
        }
        Self::open(dir)
    }

    /// A new index in memory (tests, benchmarks).
    pub fn in_memory() -> Result<Self, IndexError> {
        let (schema, fields) = schema::build();
        Self::with_index(Index::create_in_ram(schema), fields)
    }

    fn with_index(mut index: Index, fields: Fields) -> Result<Self, IndexError> {
        schema::register(index.tokenizers());
        // Segments are searched in parallel, one thread per core: a query's
        // latency, not only the server's throughput, scales with the cores.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        if threads > 1 {
            index.set_multithread_executor(threads)?;
        }
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let me = Self {
            index,
            fields,
            reader,
            path: None,
            visible: RwLock::new(None),
        };
        *me.visible.write().unwrap_or_else(|p| p.into_inner()) = me.checkpoint()?;
        Ok(me)
    }

    /// The directory, if on disk.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The fields.
    pub fn fields(&self) -> &Fields {
        &self.fields
    }

    /// The tantivy index.
    pub fn tantivy(&self) -> &Index {
        &self.index
    }

    /// The checkpoint of the last commit, if any.
    pub fn checkpoint(&self) -> Result<Option<Checkpoint>, IndexError> {
        let metas = self.index.load_metas()?;
        match metas.payload {
            None => Ok(None),
            Some(p) => serde_json::from_str(&p)
                .map(Some)
                .map_err(|e| IndexError::Corrupt(format!("checkpoint {p:?}: {e}"))),
        }
    }

    /// A writer with `heap_bytes` of indexing memory and `threads` indexing
    /// threads. Only one may exist per index (tantivy locks the directory).
    pub fn writer(&self, threads: usize, heap_bytes: usize) -> Result<IndexWriter, IndexError> {
        let w = self
            .index
            .writer_with_num_threads(threads.max(1), heap_bytes.max(threads.max(1) * 15_000_000))
            .map_err(|e| match e {
                tantivy::TantivyError::LockFailure(_, _) => IndexError::Locked {
                    path: self.path.clone().unwrap_or_default(),
                },
                other => IndexError::Tantivy(other),
            })?;
        Ok(w)
    }

    /// Makes the last commit visible to searches.
    pub fn reload(&self) -> Result<(), IndexError> {
        let cp = self.checkpoint()?;
        self.reader.reload()?;
        *self.visible.write().unwrap_or_else(|p| p.into_inner()) = cp;
        Ok(())
    }

    /// The checkpoint of the commit searches see (as of the last reload).
    pub fn visible_checkpoint(&self) -> Option<Checkpoint> {
        self.visible
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// A searcher over the last loaded commit.
    pub fn searcher(&self) -> Searcher {
        self.reader.searcher()
    }

    /// Documents visible to searches.
    pub fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Commits `writer` with `checkpoint` as the payload, then reloads the
    /// reader.
    pub fn commit(
        &self,
        writer: &mut IndexWriter,
        checkpoint: &Checkpoint,
    ) -> Result<(), IndexError> {
        let payload = serde_json::to_string(checkpoint)
            .map_err(|e| IndexError::Corrupt(format!("checkpoint: {e}")))?;
        let mut prepared = writer.prepare_commit()?;
        prepared.set_payload(&payload);
        prepared.commit()?;
        self.reload()
    }

    /// The stored transaction hash of a document.
    pub(crate) fn stored_hash(&self, doc: &TantivyDocument) -> Option<String> {
        use tantivy::schema::Value;
        doc.get_first(self.fields.tx_hash)
            .and_then(|v| v.as_str())
            .map(str::to_string)
    }
}
