//! The merged log of several chains: block-time order, deterministic for
//! stored blocks whatever the step size; a lagging chain holds the others
//! back until it is caught up or the hold ends; one chain merges as its
//! heights.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use chain::CryptoSuite;
use chain::model::BlockTransactions;
use devnet::signer::NodeKey;
use devnet::{ChainConfig, Devnet};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use store::merge::{Merged, Merger};
use store::{BlockCommit, Store, TxEnvelope};

/// A chain whose blocks carry the block times `times`.
fn chain(seed: u8, times: &[i64]) -> Devnet {
    let mut rng = ChaCha20Rng::from_seed([seed; 32]);
    let sealers = (0..4)
        .map(|_| NodeKey::generate(CryptoSuite::Sm, &mut rng).unwrap())
        .collect();
    let mut d = Devnet::new(ChainConfig::new(CryptoSuite::Sm, 4), sealers).unwrap();
    for t in times {
        d.seal_block(Vec::new(), *t).unwrap();
    }
    d
}

fn store_all(store: &Store, d: &Devnet) {
    for h in 0..=d.head() {
        let block = d.block(h).unwrap().clone();
        assert!(matches!(&block.transactions, BlockTransactions::Full(t) if t.is_empty()));
        store
            .commit(&BlockCommit {
                block,
                envelopes: Vec::<TxEnvelope>::new(),
                committee: if h == 0 { Vec::new() } else { d.committee() },
                receipts: None,
            })
            .unwrap();
    }
}

fn order(store: &Store) -> Vec<(u8, i64)> {
    store
        .merged_from(0, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|m| (m.chain, m.height))
        .collect()
}

/// Two chains' stored blocks, both caught up with their heads, and their
/// merger (made before the blocks are stored, as a node makes it).
fn two(dir: &std::path::Path) -> (Arc<Store>, Arc<Store>, Merger) {
    let root = Store::open(dir).unwrap();
    let a = Arc::new(root.open_chain("a", "group0").unwrap());
    let b = Arc::new(root.open_chain("b", "group0").unwrap());
    let m = Merger::new(vec![a.clone(), b.clone()], Duration::from_secs(3600));
    // Genesis blocks carry time 0 (devnet's genesis); then interleaved,
    // with a tie between a's 3 and b's 2 (chain number decides).
    store_all(&a, &chain(1, &[10, 20, 30, 50]));
    store_all(&b, &chain(2, &[15, 30, 40]));
    assert_eq!(a.merged_head().unwrap(), None, "left to the merger");
    (a, b, m)
}

#[test]
fn stored_chains_merge_in_block_time_order_whatever_the_step() {
    let expected = {
        let d = chain(1, &[10, 20, 30, 50]);
        let e = chain(2, &[15, 30, 40]);
        let mut keys: Vec<(i64, u8, i64)> = (0..=d.head())
            .map(|h| (d.block(h).unwrap().header.timestamp, 0, h))
            .chain((0..=e.head()).map(|h| (e.block(h).unwrap().header.timestamp, 1, h)))
            .collect();
        keys.sort();
        keys.into_iter().map(|(_, c, h)| (c, h)).collect::<Vec<_>>()
    };
    let mut orders = Vec::new();
    for limit in [1, 3, 4096] {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, mut m) = two(dir.path());
        a.note_chain_head(a.checkpoint().unwrap().unwrap());
        b.note_chain_head(b.checkpoint().unwrap().unwrap());
        let mut feed = a.subscribe_merged();
        while m.step(limit).unwrap().appended > 0 {}
        assert_eq!(*feed.borrow_and_update(), Some(8), "nine positions");
        orders.push(order(&a));
        assert_eq!(
            a.merged_at(8).unwrap(),
            Some(Merged {
                position: 8,
                chain: 0,
                height: 4
            })
        );
        assert_eq!(b.merged_height(1).unwrap(), Some(3));
        assert_eq!(a.merged_at(9).unwrap(), None);
        // The merged log is the store's: consumers cannot write it.
        let f = store::Family::new("merged");
        assert!(
            a.write(&[store::Op::Put(f, b"n".to_vec(), vec![0; 8])])
                .is_err()
        );
    }
    assert_eq!(orders[0], expected);
    assert!(orders.iter().all(|o| *o == expected), "{orders:?}");
    // Ties in block time go by chain number.
    let pos = |c, h| expected.iter().position(|e| *e == (c, h)).unwrap();
    assert!(pos(0, 3) < pos(1, 2));
}

#[test]
fn a_lagging_chain_holds_the_others_until_caught_up_or_the_hold_ends() {
    let dir = tempfile::tempdir().unwrap();
    let root = Store::open(dir.path()).unwrap();
    let a = Arc::new(root.open_chain("a", "group0").unwrap());
    let b = Arc::new(root.open_chain("b", "group0").unwrap());
    let mut m = Merger::new(vec![a.clone(), b.clone()], Duration::from_secs(3600));
    store_all(&a, &chain(1, &[10, 20]));
    a.note_chain_head(2);
    // b has told no head and stored nothing: it may still hold earlier
    // blocks, so nothing is merged.
    let s = m.step(100).unwrap();
    assert_eq!(s.appended, 0);
    assert!(s.hold_until.is_some());
    // b is behind its head: still held.
    b.note_chain_head(5);
    assert_eq!(m.step(100).unwrap().appended, 0);
    // b at its head (its next block is not made yet): a goes on.
    b.note_chain_head(-1);
    let d = chain(2, &[5]);
    store_all(&b, &d);
    b.note_chain_head(1);
    let s = m.step(100).unwrap();
    assert_eq!(s.appended, 5);
    assert_eq!(order(&a), vec![(0, 0), (1, 0), (1, 1), (0, 1), (0, 2)]);
    // With no hold, a chain that never answers does not stop the others.
    let dir = tempfile::tempdir().unwrap();
    let root = Store::open(dir.path()).unwrap();
    let a = Arc::new(root.open_chain("a", "group0").unwrap());
    let b = Arc::new(root.open_chain("b", "group0").unwrap());
    let mut m = Merger::new(vec![a.clone(), b], Duration::ZERO);
    store_all(&a, &chain(1, &[10]));
    assert_eq!(m.step(100).unwrap().appended, 2);
}

#[test]
fn without_a_merger_blocks_merge_as_they_are_stored() {
    let dir = tempfile::tempdir().unwrap();
    {
        let a = Store::open(dir.path()).unwrap();
        let mut feed = a.subscribe_merged();
        store_all(&a, &chain(1, &[10, 20, 30]));
        assert_eq!(*feed.borrow_and_update(), Some(3));
        for p in 0..4 {
            let e = a.merged_at(p).unwrap().unwrap();
            assert_eq!(
                (e.chain, e.height),
                (0, p),
                "one chain: positions are heights"
            );
        }
        assert_eq!(a.open_chain("a", "group0").unwrap().chain_number(), 0);
        let b = a.open_chain("b", "group0").unwrap();
        store_all(&b, &chain(2, &[5]));
        assert_eq!(a.merged_head().unwrap(), Some(5));
        assert_eq!(order(&a)[4..], [(1, 0), (1, 1)], "in the order stored");
    }
    // A merger's blocks left unmerged at a stop are merged by the next
    // commit of their chain when no merger runs.
    let root = Store::open(dir.path()).unwrap();
    let a = Arc::new(root.open_chain("a", "group0").unwrap());
    let b = Arc::new(root.open_chain("b", "group0").unwrap());
    let m = Merger::new(vec![a.clone(), b.clone()], Duration::from_secs(3600));
    let more = chain(1, &[10, 20, 30, 40, 50]);
    for h in 4..=5 {
        a.commit(&BlockCommit {
            block: more.block(h).unwrap().clone(),
            envelopes: Vec::new(),
            committee: more.committee(),
            receipts: None,
        })
        .unwrap();
    }
    assert_eq!(root.merged_head().unwrap(), Some(5), "left to the merger");
    drop((m, root, a, b));
    let root = Store::open(dir.path()).unwrap();
    let more = chain(1, &[10, 20, 30, 40, 50, 60]);
    root.commit(&BlockCommit {
        block: more.block(6).unwrap().clone(),
        envelopes: Vec::new(),
        committee: more.committee(),
        receipts: None,
    })
    .unwrap();
    assert_eq!(order(&root)[6..], [(0, 4), (0, 5), (0, 6)]);
}

#[test]
fn a_store_made_before_the_merged_log_gets_its_heights_as_positions() {
    let dir = tempfile::tempdir().unwrap();
    {
        let a = Store::open(dir.path()).unwrap();
        // As an older version left it: blocks and no merged log.
        let m = Merger::new(vec![Arc::new(a.for_chain(0).unwrap())], Duration::ZERO);
        store_all(&a, &chain(1, &[10, 20, 30]));
        drop(m);
        assert_eq!(a.merged_head().unwrap(), None);
    }
    let a = Store::open(dir.path()).unwrap();
    assert_eq!(*a.subscribe_merged().borrow(), Some(3), "merged at opening");
    assert_eq!(order(&a), vec![(0, 0), (0, 1), (0, 2), (0, 3)]);
}
