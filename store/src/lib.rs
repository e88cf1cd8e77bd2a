//! `store`: the system of record. An append-only log of verified blocks
//! in RocksDB, with their transactions, envelope classifications, sealed
//! decrypted records, the sealer-set history, findings and the checkpoint.
//!
//! Each block is written in one atomic, synced write batch that also moves
//! the checkpoint, so after a crash at any instant the store holds exactly
//! the blocks up to its checkpoint. Consumers (indexer, policies) read by
//! height and follow the change feed ([`Store::subscribe`]), keeping their
//! own checkpoints.
//!
//! Column families of the chain log:
//!
//! | family | key | value |
//! |---|---|---|
//! | `meta` | name | checkpoint, chain identity, class counters |
//! | `blocks` | BE64 height | block JSON (header and transaction hashes) |
//! | `block_hashes` | block hash | BE64 height |
//! | `txs` | tx hash | stored transaction (JSON with location and class) |
//! | `tx_positions` | BE64 height ‖ BE32 index | tx hash |
//! | `tx_classes` | class ‖ 0x00 ‖ BE64 height ‖ BE32 index | tx hash |
//! | `records` | tx hash | decrypted payload, sealed by the caller (at rest) |
//! | `committees` | BE64 height | sealer set in force from that height |
//! | `findings` | BE64 sequence | finding JSON |
//! | `receipts` | tx hash | the transaction's verified receipt (JSON) |
//!
//! One database holds several chains ([`chains`]): each has a number, and
//! chain n's log families are named `c<n>/<family>` (chain 0's have the bare
//! names, so a store made for one chain is chain 0's unchanged). A
//! [`Store`] is the handle of one chain's log; every handle of a database
//! shares the rest.
//!
//! Consumers keep their own records beside the log in families they
//! declare themselves ([`family`]): the policy engine's in `policies`, the
//! API's tokens and audit log in `query-api`, each chain's ABIs in
//! `records`. The store does not know them.
//!
//! **Invariant:** the store is the only writer of RocksDB; it writes the
//! chain log's families only in [`Store::commit`], and only blocks that
//! follow its checkpoint.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use rocksdb::{ColumnFamilyDescriptor, MultiThreaded, Options, WriteBatch, WriteOptions};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use chain::hexbytes::{Hash, encode0x};
use chain::model::{Block, BlockTransactions, Receipt, Transaction};
use chain::render::{BlockDetail, block_json, transaction_json};
use chain::verify::Sealer;

pub mod chains;
pub mod disk;
pub mod family;
pub mod follow;
pub mod merge;
pub mod timing;

pub use chain::rows::{LogRow, ReceiptRow};
pub use chains::ChainEntry;
pub use family::{Entry, Family, Op, WriteLock};

/// RocksDB with column families created while open (a consumer's family at
/// its first write).
type DB = rocksdb::DBWithThreadMode<MultiThreaded>;

const CF_META: &str = "meta";
const CF_BLOCKS: &str = "blocks";
const CF_BLOCK_HASHES: &str = "block_hashes";
const CF_TXS: &str = "txs";
const CF_TX_POSITIONS: &str = "tx_positions";
const CF_TX_CLASSES: &str = "tx_classes";
const CF_RECORDS: &str = "records";
const CF_COMMITTEES: &str = "committees";
const CF_FINDINGS: &str = "findings";
const CF_RECEIPTS: &str = "receipts";
/// The registry of chains ([`chains`]), the store's own, of the node.
const CF_CHAINS: &str = "chains";
/// The chain log's families, which only [`Store::commit`] writes.
const FAMILIES: [&str; 10] = [
    CF_META,
    CF_BLOCKS,
    CF_BLOCK_HASHES,
    CF_TXS,
    CF_TX_POSITIONS,
    CF_TX_CLASSES,
    CF_RECORDS,
    CF_COMMITTEES,
    CF_FINDINGS,
    CF_RECEIPTS,
];

/// How long [`Store::recover`] waits for readers of the failed database.
const RECOVER_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

const KEY_CHECKPOINT: &[u8] = b"checkpoint";
const KEY_FORMAT: &[u8] = b"format";
const KEY_FINDING_SEQ: &str = "finding_seq";
const CLASS_COUNT_PREFIX: &str = "class_count/";
/// The on-disk format version (2: the `tx_classes` index).
pub const FORMAT: u32 = 2;
/// The highest chain number: a transaction's chain position keeps the
/// chain in its top byte, below the sign bit.
pub const MAX_CHAIN_NUMBER: u8 = 127;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// RocksDB failed.
    #[error("rocksdb: {0}")]
    Db(#[from] rocksdb::Error),
    /// Stored bytes do not decode: the store is damaged.
    #[error("corrupt store: {what}: {reason}")]
    Corrupt {
        /// Which record.
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// A block was offered out of order.
    #[error("block {got} does not follow the checkpoint {checkpoint:?}")]
    NotNext {
        /// The store's checkpoint.
        checkpoint: Option<i64>,
        /// The offered height.
        got: i64,
    },
    /// A block does not link to the stored parent.
    #[error("block {height} names parent {parent} but the stored block {below} is {stored}")]
    WrongParent {
        /// The offered height.
        height: i64,
        /// The parent it names.
        parent: String,
        /// The height below.
        below: i64,
        /// The stored hash there.
        stored: String,
    },
    /// A write failed because the disk is full, read-only or failing; the
    /// node stops writing until the directory takes writes again.
    #[error("cannot write to {}: {reason}; writing resumes by itself when the disk has room again", dir.display())]
    Disk {
        /// The directory.
        dir: PathBuf,
        /// What the disk said.
        reason: String,
    },
    /// The commit is internally inconsistent (a programming error upstream).
    #[error("invalid commit: {0}")]
    InvalidCommit(String),
    /// A read would return more than its bound.
    #[error("{what}: more than {limit}")]
    TooMany {
        /// What was read.
        what: String,
        /// The bound.
        limit: usize,
    },
}

impl StoreError {
    /// Whether the error is a fault of the disk ([`StoreError::Disk`]),
    /// which passes, rather than of the data.
    pub fn is_disk_fault(&self) -> bool {
        matches!(self, StoreError::Disk { .. })
    }
}

/// How one transaction's payload was classified, and its sealed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxEnvelope {
    /// The class (`privacy::envelope::Class::as_str`).
    pub class: String,
    /// Why, in words (never the payload).
    pub detail: String,
    /// The decrypted payload, already sealed for storage at rest.
    pub sealed_record: Option<Vec<u8>>,
}

/// One verified block and what the pipeline learned about it.
#[derive(Debug, Clone)]
pub struct BlockCommit {
    /// The block, with full transactions.
    pub block: Block,
    /// One entry per transaction, in block order.
    pub envelopes: Vec<TxEnvelope>,
    /// The committee that signed it; stored when it differs from the one
    /// in force.
    pub committee: Vec<Sealer>,
    /// One verified receipt per transaction, in block order, when the
    /// node fetches receipts.
    pub receipts: Option<Vec<Receipt>>,
}

/// A transaction as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTx {
    /// The transaction.
    pub tx: Transaction,
    /// Its block.
    pub height: i64,
    /// Its index in the block.
    pub index: u32,
    /// Its classification.
    pub class: String,
    /// Why.
    pub detail: String,
}

/// Something the node found wrong, kept as evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// When it was found (ms since the epoch).
    pub at_ms: i64,
    /// The height concerned, if any.
    pub height: Option<i64>,
    /// The endpoint that served it.
    pub endpoint: String,
    /// The failed check (`quorum`, `sealer-signature[0]`, `parent`, …).
    pub check: String,
    /// The detail.
    pub detail: String,
    /// The raw bytes served (evidence), as text.
    pub evidence: String,
}

#[derive(Serialize, Deserialize)]
struct TxRow {
    tx: Value,
    height: i64,
    index: u32,
    class: String,
    detail: String,
}

#[derive(Serialize, Deserialize)]
struct CommitteeRow {
    node_ids: Vec<String>,
    weights: Vec<i64>,
}

/// A stored committee row read back.
fn committee_row(v: &[u8]) -> Result<Vec<Sealer>, StoreError> {
    let row: CommitteeRow = serde_json::from_slice(v).map_err(|e| corrupt("committee", e))?;
    if row.node_ids.len() != row.weights.len() {
        return Err(corrupt(
            "committee",
            "node ids and weights differ in number",
        ));
    }
    let mut out = Vec::with_capacity(row.node_ids.len());
    for (id, w) in row.node_ids.iter().zip(&row.weights) {
        let node_id = chain::hexbytes::decode_fixed::<64>("committee", id)
            .map_err(|e| corrupt("committee", e))?;
        out.push(Sealer {
            node_id,
            weight: *w,
        });
    }
    Ok(out)
}

/// What every chain's handle of one database shares: the database itself,
/// its directory, the consumers' family state and the disk faults.
struct Shared {
    /// The database; replaced only by [`Store::recover`] (RocksDB refuses
    /// every write after a failed one until it is reopened).
    db: RwLock<Arc<DB>>,
    path: PathBuf,
    families: family::Families,
    disk: Arc<disk::Disk>,
    /// Held while [`Store::recover`] runs: one reopening at a time.
    recovering: Mutex<()>,
    /// Each chain's change feed and head hint, by chain number: every
    /// handle of a chain shares them.
    logs: Mutex<BTreeMap<u8, Arc<Log>>>,
    /// Whether the database was opened for writing.
    writable: bool,
    /// The merged log's last position ([`merge`]).
    merged: tokio::sync::watch::Sender<Option<i64>>,
    /// Held while the merged log is appended to.
    merging: Mutex<()>,
    /// Whether each commit appends its block to the merged log (until a
    /// [`merge::Merger`] takes the merging over).
    auto_merge: std::sync::atomic::AtomicBool,
    /// Moves whenever a chain's told head changes ([`Store::note_chain_head`]).
    heads: tokio::sync::watch::Sender<u64>,
}

/// One chain's in-memory state: the feed of its checkpoints and the head
/// its endpoints last told.
struct Log {
    feed: tokio::sync::watch::Sender<Option<i64>>,
    /// The head the chain's endpoints last told (in memory only; -1: none
    /// yet): how far behind the chain the log and its consumers are.
    chain_head: std::sync::atomic::AtomicI64,
}

impl Default for Log {
    fn default() -> Self {
        Self {
            feed: tokio::sync::watch::channel(None).0,
            chain_head: std::sync::atomic::AtomicI64::new(-1),
        }
    }
}

/// The store, as the handle of one chain's log ([`Store::chain_number`];
/// [`Store::open`] gives chain 0's, [`Store::for_chain`] another's). Every
/// handle of a database shares the consumers' families, the disk faults and
/// the database itself, so a batch of a consumer's records spans chains.
/// Cheap to share behind an `Arc`: RocksDB is thread-safe.
pub struct Store {
    shared: Arc<Shared>,
    chain: u8,
    log: Arc<Log>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.shared.path)
            .field("chain", &self.chain)
            .finish_non_exhaustive()
    }
}

/// The column family name of family `base` of chain `chain`: chain 0's
/// are the bare names (a store made before there were several chains is
/// chain 0's, unchanged), chain n's are `c<n>/<base>`.
pub(crate) fn chain_cf(chain: u8, base: &'static str) -> std::borrow::Cow<'static, str> {
    if chain == 0 {
        std::borrow::Cow::Borrowed(base)
    } else {
        std::borrow::Cow::Owned(format!("c{chain}/{base}"))
    }
}

/// A family's handle in `db`.
fn cf<'a>(db: &'a DB, name: &str) -> Result<Arc<rocksdb::BoundColumnFamily<'a>>, StoreError> {
    db.cf_handle(name)
        .ok_or_else(|| corrupt(name, "column family missing"))
}

fn be64(v: i64) -> [u8; 8] {
    v.to_be_bytes()
}

fn position(height: i64, index: u32) -> [u8; 12] {
    let mut pos = [0u8; 12];
    pos[..8].copy_from_slice(&be64(height));
    pos[8..].copy_from_slice(&index.to_be_bytes());
    pos
}

fn class_key(class: &str, pos: &[u8; 12]) -> Vec<u8> {
    let mut k = Vec::with_capacity(class.len() + 13);
    k.extend_from_slice(class.as_bytes());
    k.push(0);
    k.extend_from_slice(pos);
    k
}

fn corrupt(what: impl Into<String>, reason: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        what: what.into(),
        reason: reason.to_string(),
    }
}

/// A stored big-endian `i64` (heights, counters, sequence numbers); `what`
/// names the record in the error when it is not 8 bytes.
pub fn be_i64(what: impl Into<String>, bytes: &[u8]) -> Result<i64, StoreError> {
    <[u8; 8]>::try_from(bytes)
        .map(i64::from_be_bytes)
        .map_err(|_| corrupt(what, format!("{} bytes where 8 were expected", bytes.len())))
}

impl Store {
    /// Opens (or creates) a store in directory `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = Self::open_writable(path)?;
        Self::with_db(db, path, true)
    }

    /// This handle's chain number (0 for the first registered chain, and
    /// for every store made before there were several).
    pub fn chain_number(&self) -> u8 {
        self.chain
    }

    /// The handle of chain `number`'s log in the same database, its
    /// families created when missing (a read-only opener reads a chain
    /// whose families are missing as an error naming the family).
    pub fn for_chain(&self, number: u8) -> Result<Store, StoreError> {
        if number > MAX_CHAIN_NUMBER {
            return Err(StoreError::InvalidCommit(format!(
                "chain number {number} is above {MAX_CHAIN_NUMBER}"
            )));
        }
        if self.shared.writable {
            let db = self.writer()?;
            for base in FAMILIES {
                let name = chain_cf(number, base);
                if db.cf_handle(&name).is_none() {
                    match db.create_cf(name.as_ref(), &Options::default()) {
                        Ok(()) => {}
                        Err(_) if db.cf_handle(&name).is_some() => {}
                        Err(e) => self.wrote(Err(e))?,
                    }
                }
            }
        }
        let (log, new) = {
            let mut logs = self
                .shared
                .logs
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let new = !logs.contains_key(&number);
            (logs.entry(number).or_default().clone(), new)
        };
        let store = Store {
            shared: self.shared.clone(),
            chain: number,
            log,
        };
        if new {
            let cp = store.checkpoint()?;
            store.log.feed.send_replace(cp);
        }
        Ok(store)
    }

    fn open_writable(path: &Path) -> Result<DB, StoreError> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
        // Every family on disk is opened (RocksDB requires it), the
        // consumers' among them; the chain log's are created when missing.
        let existing = DB::list_cf(&Options::default(), path).unwrap_or_default();
        Ok(DB::open_cf_descriptors(
            &opts,
            path,
            Self::families(&existing),
        )?)
    }

    /// Opens an existing store for reading only, beside a node that may be
    /// writing it (RocksDB allows any number of read-only openers). The view
    /// is the store as of opening; the change feed never moves.
    /// Families a store made by an older version lacks are not opened;
    /// reading them is an error naming the family.
    pub fn open_read_only(path: &Path) -> Result<Self, StoreError> {
        let db = Self::open_reader(path)?;
        Self::with_db(db, path, false)
    }

    fn open_reader(path: &Path) -> Result<DB, StoreError> {
        let existing = DB::list_cf(&Options::default(), path)?;
        let families = Self::families(&existing).filter(|d| existing.iter().any(|e| e == d.name()));
        Ok(DB::open_cf_descriptors_read_only(
            &Options::default(),
            path,
            families,
            false,
        )?)
    }

    /// The chain log's families and every other family in `existing`.
    fn families(existing: &[String]) -> impl Iterator<Item = ColumnFamilyDescriptor> {
        let others = existing
            .iter()
            .filter(|e| e.as_str() != "default" && !FAMILIES.contains(&e.as_str()))
            .cloned();
        FAMILIES
            .iter()
            .map(|n| (*n).to_owned())
            .chain(others)
            .map(|n| ColumnFamilyDescriptor::new(n, Options::default()))
    }

    /// Checks (or, when `writable` and new, writes) the format, and primes
    /// the change feed with the checkpoint.
    fn with_db(db: DB, path: &Path, writable: bool) -> Result<Self, StoreError> {
        let log = Arc::new(Log::default());
        let store = Self {
            shared: Arc::new(Shared {
                db: RwLock::new(Arc::new(db)),
                path: path.to_path_buf(),
                families: family::Families::default(),
                disk: Arc::default(),
                recovering: Mutex::new(()),
                logs: Mutex::new(BTreeMap::from([(0, log.clone())])),
                writable,
                merged: tokio::sync::watch::channel(None).0,
                merging: Mutex::new(()),
                auto_merge: std::sync::atomic::AtomicBool::new(true),
                heads: tokio::sync::watch::channel(0).0,
            }),
            chain: 0,
            log,
        };
        match store.get(CF_META, KEY_FORMAT)? {
            None if writable => {
                let db = store.db();
                let put = db.put_cf(&cf(&db, CF_META)?, KEY_FORMAT, FORMAT.to_be_bytes());
                store.wrote(put)?;
            }
            Some(v) if v == FORMAT.to_be_bytes() => {}
            v => {
                return Err(corrupt(
                    "format",
                    format!("store format {v:?} is not {FORMAT}"),
                ));
            }
        }
        let cp = store.checkpoint()?;
        store.log.feed.send_replace(cp);
        if writable {
            store.merge_legacy()?;
        }
        store.shared.merged.send_replace(store.merged_head()?);
        Ok(store)
    }

    /// Another handle of this chain.
    fn handle(&self) -> Store {
        Store {
            shared: self.shared.clone(),
            chain: self.chain,
            log: self.log.clone(),
        }
    }

    /// The database now (a reader keeps it for one operation).
    fn db(&self) -> Arc<DB> {
        self.shared
            .db
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The store's directory.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// The disk faults of this node: the store reports its own, the other
    /// writers (the index) theirs.
    pub fn disk(&self) -> Arc<disk::Disk> {
        self.shared.disk.clone()
    }

    /// Checks a write's outcome: a failure of the disk (RocksDB's I/O
    /// errors saying the disk is full, read-only or failing) is reported as
    /// a fault of the store's directory and returned as
    /// [`StoreError::Disk`].
    fn wrote(&self, r: Result<(), rocksdb::Error>) -> Result<(), StoreError> {
        r.map_err(|e| {
            // An error while the directory is at fault (a write that met the
            // read-only view of `recover`) is the fault's too.
            let disk =
                e.kind() == rocksdb::ErrorKind::IOError && disk::mentions_disk_error(e.as_ref());
            if disk || self.shared.disk.fault(&self.shared.path).is_some() {
                let reason = e.to_string();
                self.shared.disk.report(&self.shared.path, &reason);
                StoreError::Disk {
                    dir: self.shared.path.clone(),
                    reason,
                }
            } else {
                e.into()
            }
        })
    }

    /// The database to write to, or the fault of the store's directory
    /// (the database refuses writes anyway until [`Store::recover`] reopens
    /// it). The fault is looked at under the lock [`Store::recover`] swaps
    /// the database under, and is cleared only once the writable database
    /// is back: a writer never gets the read-only view.
    fn writer(&self) -> Result<Arc<DB>, StoreError> {
        let db = self
            .shared
            .db
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        match self.shared.disk.fault(&self.shared.path) {
            Some(f) => Err(StoreError::Disk {
                dir: f.dir,
                reason: f.error,
            }),
            None => Ok(db.clone()),
        }
    }

    /// Probes every faulted directory ([`disk::probe`]); when the store's
    /// own passes, reopens the database ([`Store::recover`]). Returns
    /// whether every directory is writable now.
    pub fn recover_disks(&self) -> bool {
        for f in self.shared.disk.faults() {
            if f.dir == self.shared.path {
                match self.recover() {
                    Ok(_) => {}
                    Err(e) => self.shared.disk.report(&self.shared.path, &e.to_string()),
                }
            } else {
                match disk::probe(&f.dir) {
                    Ok(()) => self.shared.disk.clear(&f.dir),
                    Err(e) => self.shared.disk.report(&f.dir, &e.to_string()),
                }
            }
        }
        self.shared.disk.faults().is_empty()
    }

    /// After a disk fault of the store's directory: when a probe of the
    /// directory passes, reopens the database and clears the fault. Reads
    /// go on meanwhile (against a read-only view while the writer is
    /// reopened). What the failed write left is RocksDB's to recover: its
    /// log ends at the last whole batch. Returns whether the store takes
    /// writes again.
    pub fn recover(&self) -> Result<bool, StoreError> {
        let _one = self
            .shared
            .recovering
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if self.shared.disk.fault(&self.shared.path).is_none() {
            return Ok(true);
        }
        if let Err(e) = disk::probe(&self.shared.path) {
            self.shared
                .disk
                .report(&self.shared.path, &format!("still not writable: {e}"));
            return Ok(false);
        }
        let reader = Arc::new(Self::open_reader(&self.shared.path)?);
        let mut failed = std::mem::replace(
            &mut *self
                .shared
                .db
                .write()
                .unwrap_or_else(PoisonError::into_inner),
            reader,
        );
        // Readers that took the failed database finish their operation.
        let waited = std::time::Instant::now();
        let failed = loop {
            match Arc::try_unwrap(failed) {
                Ok(db) => break db,
                Err(shared) if waited.elapsed() < RECOVER_WAIT => {
                    failed = shared;
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(_) => {
                    return Err(StoreError::Disk {
                        dir: self.shared.path.clone(),
                        reason: "the failed database is still in use; retrying".into(),
                    });
                }
            }
        };
        drop(failed);
        let db = Self::open_writable(&self.shared.path)?;
        *self
            .shared
            .db
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(db);
        // A write reported failed may have reached a log after all.
        for handle in self.handles() {
            handle.log.feed.send_replace(handle.checkpoint()?);
        }
        self.shared.merged.send_replace(self.merged_head()?);
        self.shared.disk.clear(&self.shared.path);
        Ok(true)
    }

    fn get(&self, family: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let db = self.db();
        Ok(db.get_cf(&self.log_cf(&db, family)?, key)?)
    }

    /// The handle of this chain's log family `base` in `db`.
    fn log_cf<'a>(
        &self,
        db: &'a DB,
        base: &'static str,
    ) -> Result<Arc<rocksdb::BoundColumnFamily<'a>>, StoreError> {
        cf(db, &chain_cf(self.chain, base))
    }

    /// The highest stored height, or `None` when empty.
    pub fn checkpoint(&self) -> Result<Option<i64>, StoreError> {
        match self.get(CF_META, KEY_CHECKPOINT)? {
            None => Ok(None),
            Some(v) => Ok(Some(be_i64("checkpoint", &v)?)),
        }
    }

    /// Notes the head the chain's endpoints last told (ingest calls it each
    /// round). Kept in memory only: a hint for consumers' batching and for
    /// the merger (a chain at its head holds no other back), never data, so
    /// an endpoint that lies about it changes how often consumers commit and
    /// how long the merger waits, and only until the next round's answer.
    pub fn note_chain_head(&self, height: i64) {
        let before = self
            .log
            .chain_head
            .swap(height, std::sync::atomic::Ordering::Relaxed);
        if before != height {
            self.shared.heads.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// A counter that moves whenever a chain's told head changes (the
    /// merger waits on it for a lagging chain to reach its head).
    pub fn subscribe_heads(&self) -> tokio::sync::watch::Receiver<u64> {
        self.shared.heads.subscribe()
    }

    /// The chain head last noted since opening, if any: a consumer
    /// further behind it than the store's checkpoint is catching up with
    /// the chain's history, not following its head, and may batch more.
    pub fn chain_head(&self) -> Option<i64> {
        Some(
            self.log
                .chain_head
                .load(std::sync::atomic::Ordering::Relaxed),
        )
        .filter(|h| *h >= 0)
    }

    /// Blocks the chains of this store's handles have told of but not
    /// stored yet, summed over the chains (a hint, as
    /// [`Store::chain_head`]): how far the consumers of the merged log are
    /// from the chains' heads, beyond the merged log's own head.
    pub fn unstored_blocks(&self) -> i64 {
        let mut total = 0i64;
        for handle in self.handles() {
            let Some(head) = handle.chain_head() else {
                continue;
            };
            let stored = handle.checkpoint().ok().flatten().unwrap_or(-1);
            total = total.saturating_add((head - stored).max(0));
        }
        total
    }

    /// A handle of every chain some handle of this database was made for.
    fn handles(&self) -> Vec<Store> {
        self.shared
            .logs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(n, l)| Store {
                shared: self.shared.clone(),
                chain: *n,
                log: l.clone(),
            })
            .collect()
    }

    /// A receiver of new checkpoints: consumers wait on it for new heights.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<Option<i64>> {
        self.log.feed.subscribe()
    }

    /// Appends one verified block, atomically and durably (synced), with its
    /// transactions, classifications, records, committee change and the new
    /// checkpoint.
    pub fn commit(&self, c: &BlockCommit) -> Result<(), StoreError> {
        let db = self.writer()?;
        let h = &c.block.header;
        let checkpoint = self.checkpoint()?;
        let expected = checkpoint.map_or(0, |cp| cp + 1);
        if h.number != expected {
            return Err(StoreError::NotNext {
                checkpoint,
                got: h.number,
            });
        }
        if let Some(cp) = checkpoint {
            let stored = self
                .block_hash(cp)?
                .ok_or_else(|| corrupt(format!("block {cp}"), "missing below the checkpoint"))?;
            let parent = h.parents.first().map(|p| p.hash);
            if parent != Some(stored) {
                return Err(StoreError::WrongParent {
                    height: h.number,
                    parent: parent.map(|p| encode0x(&p)).unwrap_or_default(),
                    below: cp,
                    stored: encode0x(&stored),
                });
            }
        }
        let BlockTransactions::Full(txs) = &c.block.transactions else {
            return Err(StoreError::InvalidCommit(
                "a block is stored with its full transactions".into(),
            ));
        };
        if txs.len() != c.envelopes.len() {
            return Err(StoreError::InvalidCommit(format!(
                "{} envelopes for {} transactions",
                c.envelopes.len(),
                txs.len()
            )));
        }
        if let Some(receipts) = &c.receipts {
            if receipts.len() != txs.len() {
                return Err(StoreError::InvalidCommit(format!(
                    "{} receipts for {} transactions",
                    receipts.len(),
                    txs.len()
                )));
            }
            if let Some((i, _)) = receipts
                .iter()
                .zip(txs)
                .enumerate()
                .find(|(_, (r, t))| r.transaction_hash != t.claimed_hash)
            {
                return Err(StoreError::InvalidCommit(format!(
                    "receipt {i} is not its transaction's"
                )));
            }
        }
        let mut batch = WriteBatch::default();
        let height = be64(h.number);
        let block_text = serde_json::to_vec(&block_json(&c.block, BlockDetail::TxHashes))
            .map_err(|e| StoreError::InvalidCommit(e.to_string()))?;
        batch.put_cf(&self.log_cf(&db, CF_BLOCKS)?, height, block_text);
        batch.put_cf(&self.log_cf(&db, CF_BLOCK_HASHES)?, h.claimed_hash, height);
        let mut counts: BTreeMap<String, i64> = BTreeMap::new();
        for (i, (t, e)) in txs.iter().zip(&c.envelopes).enumerate() {
            let index = u32::try_from(i)
                .map_err(|_| StoreError::InvalidCommit("too many transactions".into()))?;
            let row = TxRow {
                tx: transaction_json(t),
                height: h.number,
                index,
                class: e.class.clone(),
                detail: e.detail.clone(),
            };
            let row =
                serde_json::to_vec(&row).map_err(|e| StoreError::InvalidCommit(e.to_string()))?;
            batch.put_cf(&self.log_cf(&db, CF_TXS)?, t.claimed_hash, row);
            let pos = position(h.number, index);
            batch.put_cf(&self.log_cf(&db, CF_TX_POSITIONS)?, pos, t.claimed_hash);
            batch.put_cf(
                &self.log_cf(&db, CF_TX_CLASSES)?,
                class_key(&e.class, &pos),
                t.claimed_hash,
            );
            if let Some(record) = &e.sealed_record {
                batch.put_cf(&self.log_cf(&db, CF_RECORDS)?, t.claimed_hash, record);
            }
            if let Some(r) = c.receipts.as_ref().and_then(|rs| rs.get(i)) {
                let row = serde_json::to_vec(&ReceiptRow::of(r))
                    .map_err(|e| StoreError::InvalidCommit(e.to_string()))?;
                batch.put_cf(&self.log_cf(&db, CF_RECEIPTS)?, t.claimed_hash, row);
            }
            *counts.entry(e.class.clone()).or_default() += 1;
        }
        for (class, n) in counts {
            let key = format!("{CLASS_COUNT_PREFIX}{class}");
            let now = self.counter(&key)?;
            batch.put_cf(
                &self.log_cf(&db, CF_META)?,
                key.as_bytes(),
                (now + n).to_be_bytes(),
            );
        }
        if self.committee_at(h.number)?.as_deref() != Some(c.committee.as_slice()) {
            let row = CommitteeRow {
                node_ids: c.committee.iter().map(|s| hex::encode(s.node_id)).collect(),
                weights: c.committee.iter().map(|s| s.weight).collect(),
            };
            let row =
                serde_json::to_vec(&row).map_err(|e| StoreError::InvalidCommit(e.to_string()))?;
            batch.put_cf(&self.log_cf(&db, CF_COMMITTEES)?, height, row);
        }
        batch.put_cf(&self.log_cf(&db, CF_META)?, KEY_CHECKPOINT, height);
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        if self
            .shared
            .auto_merge
            .load(std::sync::atomic::Ordering::Acquire)
        {
            // No merger: the block takes the merged log's next position in
            // the same batch (in the order blocks are stored).
            let merging = self
                .shared
                .merging
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            // With the chain's blocks a merger left unmerged first.
            let from = self.merged_height(self.chain)?.map_or(0, |m| m + 1);
            let entries: Vec<(u8, i64)> = (from..=h.number).map(|x| (self.chain, x)).collect();
            let position = self.merge_into(&db, &mut batch, &entries)?;
            self.wrote(db.write_opt(batch, &wo))?;
            drop(merging);
            self.log.feed.send_replace(Some(h.number));
            self.shared.merged.send_replace(position);
        } else {
            self.wrote(db.write_opt(batch, &wo))?;
            self.log.feed.send_replace(Some(h.number));
        }
        Ok(())
    }

    fn counter(&self, key: &str) -> Result<i64, StoreError> {
        match self.get(CF_META, key.as_bytes())? {
            None => Ok(0),
            Some(v) => be_i64(key, &v),
        }
    }

    /// Transactions per class, over the whole store.
    pub fn class_counts(&self) -> Result<BTreeMap<String, i64>, StoreError> {
        let db = self.db();
        let mut out = BTreeMap::new();
        let iter =
            db.prefix_iterator_cf(&self.log_cf(&db, CF_META)?, CLASS_COUNT_PREFIX.as_bytes());
        for item in iter {
            let (k, v) = item?;
            let Some(class) = k.strip_prefix(CLASS_COUNT_PREFIX.as_bytes()) else {
                break;
            };
            out.insert(
                String::from_utf8_lossy(class).into_owned(),
                be_i64("class count", &v)?,
            );
        }
        Ok(out)
    }

    /// The block at `height` (header and transaction hashes).
    pub fn block(&self, height: i64) -> Result<Option<Block>, StoreError> {
        let Some(bytes) = self.get(CF_BLOCKS, &be64(height))? else {
            return Ok(None);
        };
        let v: Value =
            serde_json::from_slice(&bytes).map_err(|e| corrupt(format!("block {height}"), e))?;
        let b = Block::from_json(&v).map_err(|e| corrupt(format!("block {height}"), e))?;
        if b.header.number != height {
            return Err(corrupt(
                format!("block {height}"),
                format!("holds block {}", b.header.number),
            ));
        }
        Ok(Some(b))
    }

    /// The hash of the block at `height`.
    pub fn block_hash(&self, height: i64) -> Result<Option<Hash>, StoreError> {
        Ok(self.block(height)?.map(|b| b.header.claimed_hash))
    }

    /// The height of the block with this hash.
    pub fn height_of(&self, hash: &Hash) -> Result<Option<i64>, StoreError> {
        match self.get(CF_BLOCK_HASHES, hash)? {
            None => Ok(None),
            Some(v) => Ok(Some(be_i64("block hash index", &v)?)),
        }
    }

    /// A transaction by hash.
    pub fn transaction(&self, hash: &Hash) -> Result<Option<StoredTx>, StoreError> {
        let Some(bytes) = self.get(CF_TXS, hash)? else {
            return Ok(None);
        };
        let what = || format!("transaction {}", encode0x(hash));
        let row: TxRow = serde_json::from_slice(&bytes).map_err(|e| corrupt(what(), e))?;
        let tx = Transaction::from_json(&row.tx).map_err(|e| corrupt(what(), e))?;
        if tx.claimed_hash != *hash {
            return Err(corrupt(what(), "holds another transaction"));
        }
        Ok(Some(StoredTx {
            tx,
            height: row.height,
            index: row.index,
            class: row.class,
            detail: row.detail,
        }))
    }

    /// A transaction's verified receipt, if the node fetched it (a store
    /// made before receipts were kept has none).
    pub fn receipt(&self, hash: &Hash) -> Result<Option<Receipt>, StoreError> {
        let db = self.db();
        let Some(cf) = db.cf_handle(&chain_cf(self.chain, CF_RECEIPTS)) else {
            return Ok(None);
        };
        let Some(bytes) = db.get_cf(&cf, hash)? else {
            return Ok(None);
        };
        let what = || format!("receipt of {}", encode0x(hash));
        let row: ReceiptRow = serde_json::from_slice(&bytes).map_err(|e| corrupt(what(), e))?;
        let r = row.into_receipt().map_err(|e| corrupt(what(), e))?;
        if r.transaction_hash != *hash {
            return Err(corrupt(what(), "holds another transaction's receipt"));
        }
        Ok(Some(r))
    }

    /// The transactions of block `height`, in order.
    pub fn transactions_at(&self, height: i64) -> Result<Vec<StoredTx>, StoreError> {
        let db = self.db();
        let prefix = be64(height);
        let mut out = Vec::new();
        for item in db.prefix_iterator_cf(&self.log_cf(&db, CF_TX_POSITIONS)?, prefix) {
            let (k, v) = item?;
            if !k.starts_with(&prefix) {
                break;
            }
            let hash: Hash = v
                .as_ref()
                .try_into()
                .map_err(|_| corrupt("tx position", "not 32 bytes"))?;
            let tx = self.transaction(&hash)?.ok_or_else(|| {
                corrupt(format!("block {height}"), "a listed transaction is missing")
            })?;
            out.push(tx);
        }
        Ok(out)
    }

    /// Up to `limit` transactions in chain order, starting at `from`
    /// (height, index) inclusive: a range scan for consumers catching up.
    pub fn transactions_from(
        &self,
        from: (i64, u32),
        limit: usize,
    ) -> Result<Vec<StoredTx>, StoreError> {
        let db = self.db();
        let start = position(from.0, from.1);
        let mut out = Vec::new();
        for item in db.iterator_cf(
            &self.log_cf(&db, CF_TX_POSITIONS)?,
            rocksdb::IteratorMode::From(&start, rocksdb::Direction::Forward),
        ) {
            if out.len() >= limit {
                break;
            }
            let (_, v) = item?;
            out.push(self.listed(&v)?);
        }
        Ok(out)
    }

    /// Up to `limit` transactions of envelope class `class` (e.g.
    /// `not-for-us`) in chain order, starting at `from` (height, index)
    /// inclusive.
    pub fn transactions_of_class(
        &self,
        class: &str,
        from: (i64, u32),
        limit: usize,
    ) -> Result<Vec<StoredTx>, StoreError> {
        let db = self.db();
        let mut prefix = class.as_bytes().to_vec();
        prefix.push(0);
        let start = class_key(class, &position(from.0, from.1));
        let mut out = Vec::new();
        for item in db.iterator_cf(
            &self.log_cf(&db, CF_TX_CLASSES)?,
            rocksdb::IteratorMode::From(&start, rocksdb::Direction::Forward),
        ) {
            let (k, v) = item?;
            if !k.starts_with(&prefix) || out.len() >= limit {
                break;
            }
            out.push(self.listed(&v)?);
        }
        Ok(out)
    }

    /// The transaction an index entry points to.
    fn listed(&self, hash: &[u8]) -> Result<StoredTx, StoreError> {
        let hash: Hash = hash
            .try_into()
            .map_err(|_| corrupt("tx index", "not 32 bytes"))?;
        self.transaction(&hash)?.ok_or_else(|| {
            corrupt(
                format!("transaction {}", encode0x(&hash)),
                "indexed but missing",
            )
        })
    }

    /// Block `height` as it was committed: the block with its full
    /// transactions, each one's class and sealed record, its receipts (when
    /// every one was stored) and the committee in force. What an observer
    /// publishes in the distributed mode.
    pub fn block_commit(&self, height: i64) -> Result<Option<BlockCommit>, StoreError> {
        let Some(mut block) = self.block(height)? else {
            return Ok(None);
        };
        let stored = self.transactions_at(height)?;
        let mut txs = Vec::with_capacity(stored.len());
        let mut envelopes = Vec::with_capacity(stored.len());
        let mut receipts = Some(Vec::with_capacity(stored.len()));
        for s in stored {
            let hash = s.tx.claimed_hash;
            envelopes.push(TxEnvelope {
                class: s.class,
                detail: s.detail,
                sealed_record: self.record(&hash)?,
            });
            receipts = match (receipts, self.receipt(&hash)?) {
                (Some(mut rs), Some(r)) => {
                    rs.push(r);
                    Some(rs)
                }
                _ => None,
            };
            txs.push(s.tx);
        }
        if let BlockTransactions::Hashes(hashes) = &block.transactions
            && (hashes.len() != txs.len()
                || hashes.iter().zip(&txs).any(|(h, t)| *h != t.claimed_hash))
        {
            return Err(corrupt(
                format!("block {height}"),
                "its transactions are not the ones it lists",
            ));
        }
        block.transactions = BlockTransactions::Full(txs);
        Ok(Some(BlockCommit {
            block,
            envelopes,
            committee: self.committee_at(height)?.unwrap_or_default(),
            receipts,
        }))
    }

    /// The sealed decrypted record of a transaction.
    pub fn record(&self, hash: &Hash) -> Result<Option<Vec<u8>>, StoreError> {
        self.get(CF_RECORDS, hash)
    }

    /// The committee in force at `height` (the last change at or below it).
    pub fn committee_at(&self, height: i64) -> Result<Option<Vec<Sealer>>, StoreError> {
        let db = self.db();
        let mut iter = db.iterator_cf(
            &self.log_cf(&db, CF_COMMITTEES)?,
            rocksdb::IteratorMode::From(&be64(height), rocksdb::Direction::Reverse),
        );
        let Some(item) = iter.next() else {
            return Ok(None);
        };
        let (_, v) = item?;
        Ok(Some(committee_row(&v)?))
    }

    /// Every change of the committee at or below `height`, oldest first:
    /// the heights where a new sealer set came into force (the first is
    /// the committee the chain started with: the configured one at height
    /// 0, or, trusted on first use, the first signed block's). At most
    /// `limit`; more is an error naming the bound.
    pub fn committee_changes(
        &self,
        height: i64,
        limit: usize,
    ) -> Result<Vec<(i64, Vec<Sealer>)>, StoreError> {
        let db = self.db();
        let mut out = Vec::new();
        for item in db.iterator_cf(
            &self.log_cf(&db, CF_COMMITTEES)?,
            rocksdb::IteratorMode::Start,
        ) {
            let (k, v) = item?;
            let at = be_i64("committee height", &k)?;
            if at > height {
                break;
            }
            if out.len() == limit {
                return Err(StoreError::TooMany {
                    what: format!("committee changes up to height {height}"),
                    limit,
                });
            }
            out.push((at, committee_row(&v)?));
        }
        Ok(out)
    }

    /// Records a finding (its own synced write; the checkpoint does not move).
    pub fn add_finding(&self, f: &Finding) -> Result<u64, StoreError> {
        let db = self.writer()?;
        let seq = self.counter(KEY_FINDING_SEQ)?;
        let mut batch = WriteBatch::default();
        let row = serde_json::to_vec(f).map_err(|e| StoreError::InvalidCommit(e.to_string()))?;
        batch.put_cf(&self.log_cf(&db, CF_FINDINGS)?, seq.to_be_bytes(), row);
        batch.put_cf(
            &self.log_cf(&db, CF_META)?,
            KEY_FINDING_SEQ.as_bytes(),
            (seq + 1).to_be_bytes(),
        );
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.wrote(db.write_opt(batch, &wo))?;
        Ok(seq as u64)
    }

    /// How many findings are stored.
    pub fn finding_count(&self) -> Result<i64, StoreError> {
        self.counter(KEY_FINDING_SEQ)
    }

    /// Every finding, oldest first (tests and small stores; readers that
    /// follow the findings use [`Store::findings_from`]).
    pub fn findings(&self) -> Result<Vec<Finding>, StoreError> {
        Ok(self
            .findings_from(0, usize::MAX)?
            .into_iter()
            .map(|(_, f)| f)
            .collect())
    }

    /// At most `limit` findings from sequence number `first` on, oldest
    /// first, each with its sequence number (findings are numbered from 0
    /// in the order they were recorded).
    pub fn findings_from(
        &self,
        first: u64,
        limit: usize,
    ) -> Result<Vec<(u64, Finding)>, StoreError> {
        let db = self.db();
        let start = i64::try_from(first).unwrap_or(i64::MAX).to_be_bytes();
        let mode = rocksdb::IteratorMode::From(&start, rocksdb::Direction::Forward);
        let mut out = Vec::new();
        for item in db
            .iterator_cf(&self.log_cf(&db, CF_FINDINGS)?, mode)
            .take(limit)
        {
            let (k, v) = item?;
            let seq = be_i64("finding key", &k)?;
            let f = serde_json::from_slice(&v).map_err(|e| corrupt("finding", e))?;
            out.push((u64::try_from(seq).unwrap_or(0), f));
        }
        Ok(out)
    }
}
