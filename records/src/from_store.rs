//! Reading a stored block in the clear: its transactions as [`TxDoc`]s, each
//! opened record decrypted with the record sealer. A record that does not
//! open with the configured keys is counted and read without its decrypted
//! fields; it never stops the block. [`BlockReader`] reads the blocks of the
//! store's merged log (every chain's, in one order) by position, once for
//! the consumers that all read them (the index and the rules), each chain's
//! decoded with its own suite and ABIs.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use chain::CryptoSuite;
use chain::hexbytes::encode0x;
use privacy::at_rest::RecordSealer;
use store::{Store, StoreError};

use crate::ChainLabel;
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

/// The label of `store`'s chain, from the store's registry (a chain never
/// registered has an empty group, and the id `main` for chain 0, which a
/// store made for one chain holds, else its number).
pub fn chain_label(store: &Store) -> Result<ChainLabel, StoreError> {
    let number = store.chain_number();
    Ok(store
        .chains()?
        .into_iter()
        .find(|e| e.number == number)
        .map_or(
            ChainLabel {
                number,
                id: if number == 0 {
                    crate::UNREGISTERED_CHAIN.to_owned()
                } else {
                    number.to_string()
                },
                group: String::new(),
            },
            |e| ChainLabel {
                number,
                id: e.id,
                group: e.group,
            },
        ))
}

/// The documents of block `height` of `store`'s chain (`label`) and its
/// hash, `None` if it is not stored, their calls and events decoded by
/// `catalog`. Records that do not open add one to `unreadable` each.
pub fn block_docs(
    store: &Store,
    label: &ChainLabel,
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
            label,
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
    /// The block's chain.
    pub chain: u8,
    /// The block's height in its chain.
    pub height: i64,
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

/// Reads the blocks of the store's merged log in the clear, by position,
/// once for every consumer that joined (the index and the rules read the
/// same blocks in the same order): the first to ask for a block reads it
/// from its chain's log, opens its records and decodes it with its chain's
/// catalog; the others get the same documents, as long as that catalog
/// (ABIs and mappings) has not changed meanwhile, and the block is dropped
/// once each has taken it. At most [`SHARED_BLOCKS`] blocks are held. The
/// consumers share its catalogs ([`BlockReader::catalog`]).
#[derive(Debug)]
pub struct BlockReader {
    sealer: Arc<RecordSealer>,
    /// The suite of chains not named in `suites`.
    suite: CryptoSuite,
    suites: Mutex<BTreeMap<u8, CryptoSuite>>,
    chains: Mutex<BTreeMap<u8, Arc<ChainReader>>>,
    consumers: AtomicUsize,
    slots: Mutex<BTreeMap<i64, Arc<Slot>>>,
}

/// What the reader keeps of one chain.
#[derive(Debug)]
struct ChainReader {
    store: Store,
    label: ChainLabel,
    catalogs: Catalogs,
}

/// One block being read or read, and how many consumers took it.
#[derive(Debug, Default)]
struct Slot {
    docs: Mutex<Option<Arc<BlockDocs>>>,
    taken: AtomicUsize,
}

impl BlockReader {
    /// A reader opening records with `sealer` and decoding with `suite`'s
    /// hash (every chain's, unless [`BlockReader::set_suite`] names
    /// another), with no consumer yet.
    pub fn new(sealer: Arc<RecordSealer>, suite: CryptoSuite) -> Self {
        Self {
            sealer,
            suite,
            suites: Mutex::new(BTreeMap::new()),
            chains: Mutex::new(BTreeMap::new()),
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

    /// Decodes chain `chain`'s calls and events with `suite`'s hash (before
    /// its first block is read).
    pub fn set_suite(&self, chain: u8, suite: CryptoSuite) {
        self.suites
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(chain, suite);
    }

    /// Counts one more consumer that reads every block once.
    pub fn join(&self) {
        self.consumers.fetch_add(1, Ordering::Relaxed);
    }

    /// What the reader keeps of chain `number` of `root`'s store.
    fn chain(&self, root: &Store, number: u8) -> Result<Arc<ChainReader>, StoreError> {
        if let Some(c) = self
            .chains
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&number)
        {
            return Ok(c.clone());
        }
        let store = root.for_chain(number)?;
        let label = chain_label(&store)?;
        let suite = self
            .suites
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&number)
            .copied()
            .unwrap_or(self.suite);
        let c = Arc::new(ChainReader {
            store,
            label,
            catalogs: Catalogs::new(suite),
        });
        Ok(self
            .chains
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(number)
            .or_insert(c)
            .clone())
    }

    /// Chain `number`'s catalog as the store holds it now (blocking).
    pub fn catalog(&self, root: &Store, number: u8) -> Result<Arc<Catalog>, ReadError> {
        let c = self
            .chain(root, number)
            .map_err(|source| RecordsError { height: -1, source })?;
        Ok(c.catalogs.current(&c.store)?)
    }

    /// Chain `number`'s label.
    pub fn label(&self, root: &Store, number: u8) -> Result<ChainLabel, StoreError> {
        Ok(self.chain(root, number)?.label.clone())
    }

    /// The documents of chain `number`'s block `height`, read now (no
    /// sharing), decoded with the chain's catalog as it stands; `None` if
    /// it is not stored. Their `position` is unknown (-1).
    pub fn read_block(
        &self,
        root: &Store,
        number: u8,
        height: i64,
        unreadable: &AtomicU64,
    ) -> Result<Option<Arc<BlockDocs>>, ReadError> {
        let c = self
            .chain(root, number)
            .map_err(|source| RecordsError { height, source })?;
        let catalog = c.catalogs.current(&c.store)?;
        self.read_now(&c, height, None, catalog, unreadable)
    }

    /// The documents of the block at `position` of the merged log (`None`
    /// if it is not merged yet), decoded with its chain's catalog as the
    /// store holds it now. Records that do not open add to `unreadable`
    /// for each consumer that reads them. Blocking: reads the store.
    pub fn read(
        &self,
        root: &Store,
        position: i64,
        unreadable: &AtomicU64,
    ) -> Result<Option<Arc<BlockDocs>>, ReadError> {
        let fail = |source| RecordsError {
            height: position,
            source,
        };
        let Some(m) = root.merged_at(position).map_err(fail)? else {
            return Ok(None);
        };
        let c = self.chain(root, m.chain).map_err(fail)?;
        let catalog = c.catalogs.current(&c.store)?;
        if self.consumers.load(Ordering::Relaxed) <= 1 {
            return self.read_now(&c, m.height, Some(position), catalog, unreadable);
        }
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            let slot = slots.entry(position).or_default().clone();
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
                    let read = self.read_now(&c, m.height, Some(position), catalog, unreadable)?;
                    held.clone_from(&read);
                    read
                }
            }
        };
        let taken = slot.taken.fetch_add(1, Ordering::Relaxed) + 1;
        if docs.is_none() || taken >= self.consumers.load(Ordering::Relaxed) {
            let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            if slots.get(&position).is_some_and(|s| Arc::ptr_eq(s, &slot)) {
                slots.remove(&position);
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
        c: &ChainReader,
        height: i64,
        position: Option<i64>,
        catalog: Arc<Catalog>,
        unreadable: &AtomicU64,
    ) -> Result<Option<Arc<BlockDocs>>, ReadError> {
        let count = AtomicU64::new(0);
        let mut read = block_docs(&c.store, &c.label, &self.sealer, &catalog, height, &count)?;
        if let (Some(p), Some((_, docs))) = (position, read.as_mut()) {
            for d in docs {
                d.position = p;
            }
        }
        let n = count.into_inner();
        unreadable.fetch_add(n, Ordering::Relaxed);
        Ok(read.map(|(block_hash, docs)| {
            Arc::new(BlockDocs {
                chain: c.label.number,
                height,
                block_hash,
                docs,
                catalog,
                unreadable: n,
            })
        }))
    }
}
