//! The RocksDB store: blocks in order, atomically with the checkpoint,
//! readable by height and hash, surviving a reopen; out-of-order and
//! mislinked blocks refused.

#![allow(clippy::unwrap_used)]

use chain::CryptoSuite;
use chain::model::BlockTransactions;
use devnet::signer::NodeKey;
use devnet::{ChainConfig, Devnet};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use store::{BlockCommit, Finding, Store, StoreError, TxEnvelope};

fn chain(blocks: u8) -> Devnet {
    let mut rng = ChaCha20Rng::from_seed([4; 32]);
    let sealers = (0..4)
        .map(|_| NodeKey::generate(CryptoSuite::Sm, &mut rng).unwrap())
        .collect();
    let user = NodeKey::generate(CryptoSuite::Sm, &mut rng).unwrap();
    let mut d = Devnet::new(ChainConfig::new(CryptoSuite::Sm, 4), sealers).unwrap();
    for b in 0..blocks {
        let txs = (0..(b % 4))
            .map(|i| {
                d.make_transaction(
                    &user,
                    "0x5555555555555555555555555555555555555555",
                    vec![b, i],
                    format!("{b}:{i}"),
                    9,
                )
                .unwrap()
            })
            .collect();
        d.seal_block(txs, i64::from(b) * 1000).unwrap();
    }
    d
}

fn commit_of(d: &Devnet, h: i64) -> BlockCommit {
    let block = d.block(h).unwrap().clone();
    let n = match &block.transactions {
        BlockTransactions::Full(ts) => ts.len(),
        _ => 0,
    };
    let envelopes = (0..n)
        .map(|i| TxEnvelope {
            class: if i % 2 == 0 {
                "opened".into()
            } else {
                "not-envelope".into()
            },
            detail: "test".into(),
            sealed_record: (i % 2 == 0).then(|| vec![i as u8; 8]),
        })
        .collect();
    BlockCommit {
        block,
        envelopes,
        committee: if h == 0 { Vec::new() } else { d.committee() },
        receipts: Some(d.receipts_of(h).to_vec()),
    }
}

#[test]
fn blocks_are_stored_in_order_and_survive_a_reopen() {
    let d = chain(8);
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.checkpoint().unwrap(), None);
        let mut feed = store.subscribe();
        for h in 0..=d.head() {
            store.commit(&commit_of(&d, h)).unwrap();
            assert!(feed.has_changed().unwrap());
            assert_eq!(*feed.borrow_and_update(), Some(h));
        }
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.checkpoint().unwrap(), Some(d.head()));
    let mut total = 0;
    for h in 0..=d.head() {
        let b = store.block(h).unwrap().unwrap();
        assert_eq!(b.header, d.block(h).unwrap().header);
        assert_eq!(store.height_of(&b.header.claimed_hash).unwrap(), Some(h));
        let txs = store.transactions_at(h).unwrap();
        let BlockTransactions::Full(expected) = &d.block(h).unwrap().transactions else {
            panic!()
        };
        assert_eq!(txs.len(), expected.len());
        for (i, (s, t)) in txs.iter().zip(expected).enumerate() {
            assert_eq!(s.tx.claimed_hash, t.claimed_hash);
            assert_eq!((s.height, s.index as usize), (h, i));
            let by_hash = store.transaction(&t.claimed_hash).unwrap().unwrap();
            assert_eq!(by_hash.tx.input, t.input);
            assert_eq!(store.record(&t.claimed_hash).unwrap().is_some(), i % 2 == 0);
            total += 1;
        }
    }
    let counts = store.class_counts().unwrap();
    assert_eq!(counts.values().sum::<i64>(), total);
    assert_eq!(
        store.committee_at(d.head()).unwrap().unwrap(),
        d.committee()
    );
    assert_eq!(store.committee_at(0).unwrap(), None.or(Some(Vec::new())));
}

#[test]
fn out_of_order_and_mislinked_blocks_are_refused_and_change_nothing() {
    let d = chain(4);
    let other = {
        // Another chain: same heights, different blocks.
        let mut rng = ChaCha20Rng::from_seed([8; 32]);
        let sealers = (0..4)
            .map(|_| NodeKey::generate(CryptoSuite::Sm, &mut rng).unwrap())
            .collect();
        let mut o = Devnet::new(ChainConfig::new(CryptoSuite::Sm, 4), sealers).unwrap();
        for b in 0..4 {
            o.seal_block(Vec::new(), b * 7).unwrap();
        }
        o
    };
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert!(matches!(
        store.commit(&commit_of(&d, 1)),
        Err(StoreError::NotNext {
            checkpoint: None,
            got: 1
        })
    ));
    store.commit(&commit_of(&d, 0)).unwrap();
    store.commit(&commit_of(&d, 1)).unwrap();
    assert!(matches!(
        store.commit(&commit_of(&d, 1)),
        Err(StoreError::NotNext { .. })
    ));
    let err = store.commit(&commit_of(&other, 2)).unwrap_err();
    assert!(
        matches!(err, StoreError::WrongParent { height: 2, .. }),
        "{err}"
    );
    assert_eq!(store.checkpoint().unwrap(), Some(1));
    assert!(store.block(2).unwrap().is_none());

    let mut bad = commit_of(&d, 2);
    bad.envelopes.pop();
    if !bad.envelopes.is_empty()
        || matches!(&bad.block.transactions, BlockTransactions::Full(t) if !t.is_empty())
    {
        assert!(matches!(
            store.commit(&bad),
            Err(StoreError::InvalidCommit(_))
        ));
    }
    store.commit(&commit_of(&d, 2)).unwrap();
}

#[test]
fn findings_are_kept_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for i in 0..3 {
        let seq = store
            .add_finding(&Finding {
                at_ms: i,
                height: Some(i),
                endpoint: "http://127.0.0.1:1/".into(),
                check: "quorum".into(),
                detail: format!("finding {i}"),
                evidence: "{}".into(),
            })
            .unwrap();
        assert_eq!(seq, i as u64);
    }
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    let f = store.findings().unwrap();
    assert_eq!(
        f.iter().map(|f| f.detail.as_str()).collect::<Vec<_>>(),
        ["finding 0", "finding 1", "finding 2"]
    );
    assert_eq!(
        store.checkpoint().unwrap(),
        None,
        "findings do not move the checkpoint"
    );
}

#[test]
fn range_scans_follow_chain_order_and_class_indexes() {
    let d = chain(12);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for h in 0..=d.head() {
        store.commit(&commit_of(&d, h)).unwrap();
    }
    // Every transaction, in (height, index) order, paged by 4.
    let mut all = Vec::new();
    for h in 0..=d.head() {
        all.extend(store.transactions_at(h).unwrap());
    }
    assert!(all.len() > 8);
    let mut paged = Vec::new();
    let mut from = (0i64, 0u32);
    loop {
        let page = store.transactions_from(from, 4).unwrap();
        if page.is_empty() {
            break;
        }
        let last = page.last().unwrap();
        from = (last.height, last.index + 1);
        paged.extend(page);
    }
    assert_eq!(paged, all);
    // The class index lists exactly the transactions of that class, in order.
    for class in ["opened", "not-envelope"] {
        let want: Vec<_> = all.iter().filter(|t| t.class == class).cloned().collect();
        assert!(!want.is_empty());
        assert_eq!(
            store
                .transactions_of_class(class, (0, 0), usize::MAX)
                .unwrap(),
            want
        );
        let (h, i) = (want[1].height, want[1].index);
        assert_eq!(
            store.transactions_of_class(class, (h, i), 1).unwrap(),
            want[1..2]
        );
    }
    assert!(
        store
            .transactions_of_class("wrong-key", (0, 0), 10)
            .unwrap()
            .is_empty()
    );
    // A class name that is a prefix of another does not leak into it.
    assert!(
        store
            .transactions_of_class("open", (0, 0), 10)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_reader_opens_the_store_beside_its_writer() {
    let d = chain(6);
    let dir = tempfile::tempdir().unwrap();
    let writer = Store::open(dir.path()).unwrap();
    for h in 0..=3 {
        writer.commit(&commit_of(&d, h)).unwrap();
    }
    // The writer holds RocksDB's lock; a second writer is refused, a reader
    // is not, and sees the store as of its opening.
    assert!(Store::open(dir.path()).is_err());
    let reader = Store::open_read_only(dir.path()).unwrap();
    assert_eq!(reader.checkpoint().unwrap(), Some(3));
    assert_eq!(reader.block_hash(3).unwrap(), writer.block_hash(3).unwrap());
    assert_eq!(
        reader.transactions_at(3).unwrap(),
        writer.transactions_at(3).unwrap()
    );
    writer.commit(&commit_of(&d, 4)).unwrap();
    assert_eq!(reader.checkpoint().unwrap(), Some(3));
    assert!(Store::open_read_only(&dir.path().join("none")).is_err());
}

/// Several chains in one store: each chain's log, findings and per-chain
/// families are its own; the node's families are shared; numbers are
/// kept across a reopen; a store made before there were several chains is
/// chain 0's, adopted by the first chain registered.
#[test]
fn chains_in_one_store_keep_their_logs_apart() {
    const NODE: store::Family = store::Family::new("test_node");
    const OWN: store::Family = store::Family::per_chain("test_own");
    let (a, b) = (chain(6), chain(3));
    let dir = tempfile::tempdir().unwrap();
    {
        // An old single-chain store: chain 0's log under the bare names.
        let old = Store::open(dir.path()).unwrap();
        for h in 0..=a.head() {
            old.commit(&commit_of(&a, h)).unwrap();
        }
    }
    let root = Store::open(dir.path()).unwrap();
    assert!(root.chains().unwrap().is_empty());
    let first = root.open_chain("first", "group0").unwrap();
    assert_eq!(first.chain_number(), 0);
    assert_eq!(first.checkpoint().unwrap(), Some(a.head()), "adopted");
    let second = root.open_chain("second", "group0").unwrap();
    assert_eq!(second.chain_number(), 1);
    assert_eq!(second.checkpoint().unwrap(), None);
    let mut feed = second.subscribe();
    let mut first_feed = first.subscribe();
    first_feed.borrow_and_update();
    for h in 0..=b.head() {
        second.commit(&commit_of(&b, h)).unwrap();
    }
    assert_eq!(*feed.borrow_and_update(), Some(b.head()));
    assert!(!first_feed.has_changed().unwrap(), "another chain's feed");
    // The same block heights hold each chain's own blocks.
    assert_eq!(
        second.block_hash(1).unwrap(),
        Some(b.block(1).unwrap().header.claimed_hash)
    );
    assert_eq!(
        first.block_hash(1).unwrap(),
        Some(a.block(1).unwrap().header.claimed_hash)
    );
    let tx_b = second.transactions_at(2).unwrap();
    assert!(!tx_b.is_empty());
    // Both devnets sign with the same keys and payloads; what chain 1 has
    // is read from chain 1's families.
    assert_eq!(second.transactions_from((0, 0), 100).unwrap().len(), 3);
    second
        .add_finding(&Finding {
            at_ms: 1,
            height: Some(2),
            endpoint: "http://b".into(),
            check: "quorum".into(),
            detail: "d".into(),
            evidence: "e".into(),
        })
        .unwrap();
    assert_eq!(second.finding_count().unwrap(), 1);
    assert_eq!(
        first.finding_count().unwrap(),
        0,
        "a finding is its chain's"
    );
    // Families: the node's are shared, per-chain ones apart.
    first
        .write(&[
            store::Op::Put(NODE, b"k".to_vec(), b"node".to_vec()),
            store::Op::Put(OWN, b"k".to_vec(), b"first".to_vec()),
        ])
        .unwrap();
    assert_eq!(second.read(NODE, b"k").unwrap(), Some(b"node".to_vec()));
    assert_eq!(second.read(OWN, b"k").unwrap(), None);
    // A chain id cannot change its group, nor be anything but plain.
    let e = root.open_chain("second", "group1").unwrap_err().to_string();
    assert!(e.contains("group1") && e.contains("second"), "{e}");
    assert!(root.open_chain("a/b", "g").is_err());
    drop((root, first, second));
    let root = Store::open(dir.path()).unwrap();
    let ids: Vec<(String, u8)> = root
        .chains()
        .unwrap()
        .into_iter()
        .map(|e| (e.id, e.number))
        .collect();
    assert_eq!(ids, vec![("first".into(), 0), ("second".into(), 1)]);
    let second = root.open_chain("second", "group0").unwrap();
    assert_eq!(second.checkpoint().unwrap(), Some(b.head()));
    assert_eq!(second.read(OWN, b"k").unwrap(), None);
    let ro = Store::open_read_only(dir.path()).unwrap();
    assert_eq!(
        ro.for_chain(1).unwrap().checkpoint().unwrap(),
        Some(b.head())
    );
    assert_eq!(ro.chains().unwrap().len(), 2);
}
