//! `testkit`: fixtures for the workspace's tests (a dev-dependency only).
//!
//! A store filled from a generated devnet chain, as the node would fill it:
//! every payload classified and opened with the regulator's key, opened
//! records sealed at rest; and its search index, built by the node's own
//! follower. Fixtures panic on failure, as tests do.

#![allow(clippy::unwrap_used)]

pub mod tmpfs;

use std::path::Path;
use std::sync::Arc;

use chain::CryptoSuite;
use chain::model::BlockTransactions;
use devnet::signer::NodeKey;
use devnet::workload::{Workload, WorkloadConfig};
use devnet::{ChainConfig, Devnet};
use indexer::TxIndex;
use indexer::follow::{Indexer, IndexerConfig};
use ingest::open_all;
use privacy::at_rest::RecordSealer;
use privacy::keyring::Keyring;
use privacy::keys::PrivateKey;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use store::{BlockCommit, Store};

/// Transactions per generated block.
pub const TXS_PER_BLOCK: usize = 12;

/// A generated chain and the regulator's keys for it.
pub struct Chain {
    /// The chain.
    pub devnet: Devnet,
    /// What generated its transactions (and knows which are which).
    pub workload: Workload,
    /// The regulator's keyring.
    pub keyring: Keyring,
    /// The at-rest sealer derived from it.
    pub sealer: Arc<RecordSealer>,
}

/// A chain of `blocks` workload blocks after genesis.
pub fn chain(seed: u64, blocks: usize) -> Chain {
    let (devnet, workload) = generate(CryptoSuite::Sm, seed, blocks, TXS_PER_BLOCK, None);
    let keyring = keyring(&workload);
    let sealer = Arc::new(RecordSealer::from_keyring(&keyring).unwrap());
    Chain {
        devnet,
        workload,
        keyring,
        sealer,
    }
}

/// A devnet chain of `suite` (four sealers from `seed`) with `blocks`
/// workload blocks of `txs` transactions after genesis, its envelopes
/// wrapped for `regulator` (else for a key of the workload's own).
pub fn generate(
    suite: CryptoSuite,
    seed: u64,
    blocks: usize,
    txs: usize,
    regulator: Option<PrivateKey>,
) -> (Devnet, Workload) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let sealers = (0..4)
        .map(|_| NodeKey::generate(suite, &mut rng).unwrap())
        .collect();
    let config = ChainConfig::new(suite, 4);
    let mut workload = match regulator {
        None => Workload::new(
            WorkloadConfig::default(),
            suite,
            &config.chain_id,
            &config.group_id,
            seed + 1,
        ),
        Some(key) => Workload::with_regulator_key(
            WorkloadConfig::default(),
            suite,
            &config.chain_id,
            &config.group_id,
            seed + 1,
            key,
        ),
    }
    .unwrap();
    let mut devnet = Devnet::new(config, sealers).unwrap();
    workload.generate(&mut devnet, blocks, txs).unwrap();
    (devnet, workload)
}

/// The regulator's keyring for a workload's chain.
pub fn keyring(workload: &Workload) -> Keyring {
    let mut keyring = Keyring::new();
    let scalar = workload.regulator_key().to_scalar_bytes();
    keyring
        .add(
            "regulator",
            PrivateKey::from_scalar_bytes(&*scalar).unwrap(),
        )
        .unwrap();
    keyring
}

/// Block `h` of `chain` as the node would store it: every payload
/// classified and opened, with its committee and receipts.
pub fn block_commit(chain: &Chain, h: i64) -> BlockCommit {
    let block = chain.devnet.block(h).unwrap().clone();
    let senders: Vec<_> = match &block.transactions {
        BlockTransactions::Full(ts) => ts.iter().map(|t| t.claimed_from).collect(),
        _ => Vec::new(),
    };
    let (envelopes, _) = open_all(&block, &senders, &chain.keyring, &chain.sealer).unwrap();
    BlockCommit {
        block,
        envelopes,
        committee: if h == 0 {
            Vec::new()
        } else {
            chain.devnet.committee()
        },
        receipts: Some(chain.devnet.receipts_of(h).to_vec()),
    }
}

/// Commits blocks `from..=to` of `chain` into `store`.
pub fn commit(chain: &Chain, store: &Store, from: i64, to: i64) {
    for h in from..=to {
        store.commit(&block_commit(chain, h)).unwrap();
    }
}

/// A store at `dir` holding the whole chain.
pub fn store(chain: &Chain, dir: &Path) -> Arc<Store> {
    let store = Arc::new(Store::open(dir).unwrap());
    commit(chain, &store, 0, chain.devnet.head());
    store
}

/// The search index of `store` in directory `dir`, built as the node builds
/// it (its follower, caught up with the store and committed), and the
/// follower, to index what is committed to the store later
/// ([`index_to`]).
pub fn index(
    store: &Arc<Store>,
    sealer: &Arc<RecordSealer>,
    dir: &Path,
) -> (Arc<TxIndex>, Indexer) {
    let index = Arc::new(TxIndex::open(dir).unwrap());
    let mut indexer = Indexer::new(
        index.clone(),
        store.clone(),
        sealer.clone(),
        IndexerConfig::default(),
    )
    .unwrap();
    if let Some(head) = store.checkpoint().unwrap() {
        index_to(&mut indexer, head);
    }
    (index, indexer)
}

/// Indexes the stored blocks up to `height` and commits them.
pub fn index_to(indexer: &mut Indexer, height: i64) {
    indexer.catch_up(height, &mut |_| {}).unwrap();
    indexer.commit().unwrap();
}

/// Every transaction hash `index` holds, paging through a search of all of
/// them; panics on a hash found twice, or on a document count that differs
/// from the hits.
pub fn indexed_once(index: &Arc<TxIndex>) -> std::collections::HashSet<String> {
    let search = indexer::Search::new(index.clone());
    let mut seen = std::collections::HashSet::new();
    let mut after = None;
    loop {
        let page = search
            .search(&indexer::SearchRequest {
                first: 500,
                after,
                ..Default::default()
            })
            .unwrap();
        for h in &page.hits {
            assert!(
                seen.insert(h.tx_hash.clone()),
                "{} indexed twice",
                h.tx_hash
            );
        }
        if !page.has_next {
            break;
        }
        after = page.hits.last().map(|h| h.cursor.clone());
    }
    assert_eq!(index.num_docs() as usize, seen.len(), "documents vs hits");
    seen
}
