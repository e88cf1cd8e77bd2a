//! Reading a stored block in the clear: its transactions as [`TxDoc`]s, each
//! opened record decrypted with the record sealer. A record that does not
//! open with the configured keys is counted and read without its decrypted
//! fields; it never stops the block. [`BlockReader`] reads each block once
//! for the consumers that all read it (the index and the rules).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use chain::CryptoSuite;
use chain::hexbytes::encode0x;
use privacy::at_rest::RecordSealer;
use store::{Store, StoreError};

use crate::decode::{Catalog, CatalogError, Catalogs};
use crate::doc::{TxDoc, from_store};

/// The store could not be read.
#[derive(Debug, thiserror::Error)]
#[error("reading block {height} from the store: {source}")]
pub struct RecordsError {
    /// The block.
    pub height: i64,
    /// Why.
    pub source: StoreError,
}

/// The documents of block `height` and its hash, `None` if it is not
/// stored, their calls and events decoded by `catalog`. Records that do
/// not open add one to `unreadable` each.
pub fn block_docs(
    store: &Store,
    sealer: &RecordSealer,
    catalog: &Catalog,
    height: i64,
    unreadable: &AtomicU64,
) -> Result<Option<(String, Vec<TxDoc>)>, RecordsError> {
    let fail = |source| RecordsError { height, source };
    let Some(block) = store.block(height).map_err(fail)? else {
        return Ok(None);
    };
    let txs = store.transactions_at(height).map_err(fail)?;
    let mut docs = Vec::with_capacity(txs.len());
    for tx in &txs {
        let hash = tx.tx.claimed_hash;
        let plain = match store.record(&hash).map_err(fail)? {
            None => None,
            Some(sealed) => match sealer.open(&hash, &sealed) {
                Ok(p) => Some(p),
                Err(e) => {
                    unreadable.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        tx = %encode0x(&hash),
                        error = %e,
                        "stored record cannot be opened with the configured keys; read without its decrypted fields"
                    );
                    None
                }
            },
        };
        let receipt = store.receipt(&hash).map_err(fail)?;
        docs.push(from_store(
            &block,
            tx,
            receipt.as_ref(),
            plain.as_deref().map(|p| &p[..]),
            catalog,
        ));
    }
    Ok(Some((encode0x(&block.header.claimed_hash), docs)))
}

/// The documents of one stored block, as a [`BlockReader`] hands them out.
#[derive(Debug)]
pub struct BlockDocs {
    /// The block's hash, `0x` + hex.
    pub block_hash: String,
    /// Its transactions in chain order.
    pub docs: Vec<TxDoc>,
    /// The catalog their calls and events were decoded with.
    pub catalog: Arc<Catalog>,
    /// Records of the block that did not open with the configured keys.
    pub unreadable: u64,
}

/// Why a block could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] RecordsError),
    /// The ABI registry or the mappings could not be loaded.
    #[error("loading the ABI catalog: {0}")]
    Catalog(#[from] CatalogError),
}

/// Blocks read but not yet taken by every consumer, at most: a consumer
/// this far ahead of another reads alone, as if nothing were shared.
pub const SHARED_BLOCKS: usize = 32;

/// Reads stored blocks in the clear once for every consumer that joined
/// (the index and the rules read the same blocks in the same order): the
/// first to ask for a block reads it from the store, opens its records and
/// decodes it; the others get the same documents, as long as the catalog
/// (ABIs and mappings) has not changed meanwhile, and the block is dropped
/// once each has taken it. At most [`SHARED_BLOCKS`] blocks are held. The
/// consumers share its catalog ([`BlockReader::catalogs`]).
#[derive(Debug)]
pub struct BlockReader {
    sealer: Arc<RecordSealer>,
    catalogs: Catalogs,
    consumers: AtomicUsize,
    slots: Mutex<BTreeMap<i64, Arc<Slot>>>,
}

/// One block being read or read, and how many consumers took it.
#[derive(Debug, Default)]
struct Slot {
    docs: Mutex<Option<Arc<BlockDocs>>>,
    taken: AtomicUsize,
}

impl BlockReader {
    /// A reader opening records with `sealer` and decoding with `suite`'s
    /// hash, with no consumer yet.
    pub fn new(sealer: Arc<RecordSealer>, suite: CryptoSuite) -> Self {
        Self {
            sealer,
            catalogs: Catalogs::new(suite),
            consumers: AtomicUsize::new(0),
            slots: Mutex::new(BTreeMap::new()),
        }
    }

    /// A reader for one consumer alone (it reads without holding blocks).
    pub fn alone(sealer: Arc<RecordSealer>, suite: CryptoSuite) -> Arc<Self> {
        let r = Arc::new(Self::new(sealer, suite));
        r.join();
        r
    }

    /// Counts one more consumer that reads every block once.
    pub fn join(&self) {
        self.consumers.fetch_add(1, Ordering::Relaxed);
    }

    /// The ABI catalogs the documents are decoded with.
    pub fn catalogs(&self) -> &Catalogs {
        &self.catalogs
    }

    /// The documents of block `height` (`None` if it is not stored),
    /// decoded with the catalog as the store holds it now. Records that do
    /// not open add to `unreadable` for each consumer that reads them.
    /// Blocking: reads the store.
    pub fn read(
        &self,
        store: &Store,
        height: i64,
        unreadable: &AtomicU64,
    ) -> Result<Option<Arc<BlockDocs>>, ReadError> {
        let catalog = self.catalogs.current(store)?;
        if self.consumers.load(Ordering::Relaxed) <= 1 {
            return self.read_now(store, height, catalog, unreadable);
        }
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            let slot = slots.entry(height).or_default().clone();
            while slots.len() > SHARED_BLOCKS {
                slots.pop_first();
            }
            slot
        };
        let docs = {
            // A second consumer waits here while the first reads the block.
            let mut held = slot.docs.lock().unwrap_or_else(PoisonError::into_inner);
            match held.as_ref() {
                Some(d) if Arc::ptr_eq(&d.catalog, &catalog) => {
                    unreadable.fetch_add(d.unreadable, Ordering::Relaxed);
                    Some(d.clone())
                }
                _ => {
                    let read = self.read_now(store, height, catalog, unreadable)?;
                    held.clone_from(&read);
                    read
                }
            }
        };
        let taken = slot.taken.fetch_add(1, Ordering::Relaxed) + 1;
        if docs.is_none() || taken >= self.consumers.load(Ordering::Relaxed) {
            let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            if slots.get(&height).is_some_and(|s| Arc::ptr_eq(s, &slot)) {
                slots.remove(&height);
            }
        }
        Ok(docs)
    }

    /// Blocks held for a consumer that has not taken them yet.
    pub fn held(&self) -> usize {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    fn read_now(
        &self,
        store: &Store,
        height: i64,
        catalog: Arc<Catalog>,
        unreadable: &AtomicU64,
    ) -> Result<Option<Arc<BlockDocs>>, ReadError> {
        let count = AtomicU64::new(0);
        let read = block_docs(store, &self.sealer, &catalog, height, &count)?;
        let n = count.into_inner();
        unreadable.fetch_add(n, Ordering::Relaxed);
        Ok(read.map(|(block_hash, docs)| {
            Arc::new(BlockDocs {
                block_hash,
                docs,
                catalog,
                unreadable: n,
            })
        }))
    }
}
