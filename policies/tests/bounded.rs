//! The rule engine's state stays bounded whatever the chain carries: a
//! workload of a million distinct group keys (as a participant could put in
//! decrypted payloads) keeps the live windows, in memory and in the store,
//! under the cap; what left is counted, and a restart reads back no more
//! than the cap.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use policies::{Engine, Watchlists};
use privacy::at_rest::RecordSealer;
use privacy::keyring::Keyring;
use privacy::keys::PrivateKey;
use records::{Business, Money, Party, TxDoc};
use store::Store;

const RULES: &str = r#"
[[rule]]
id = "velocity"
title = "Velocity"
severity = "medium"
condition = "tx.readable && tx.payer != null"
group_by = "tx.payer"
window = "1h"
threshold = { count = 3 }
"#;

const CAP: usize = 5_000;
const KEYS: u64 = 1_000_000;
const PER_BLOCK: u64 = 10_000;

fn engine(store: &Arc<Store>, sealer: &Arc<RecordSealer>) -> Engine {
    let (rules, errors) = policies::rule::parse_file(Path::new("velocity.toml"), RULES, None);
    assert!(errors.is_empty(), "{errors:?}");
    Engine::new(
        store.clone(),
        sealer.clone(),
        rules,
        Watchlists::empty(),
        Vec::new(),
    )
    .unwrap()
    .max_windows(CAP)
    .unwrap()
}

/// Transaction `n`: a payment from its own payer, one a millisecond.
fn doc(n: u64) -> TxDoc {
    let height = (n / PER_BLOCK) as i64;
    TxDoc {
        tx_hash: format!("0x{n:064x}"),
        height,
        index: (n % PER_BLOCK) as u32,
        time_ms: 1_767_225_600_000 + n as i64,
        status: "opened".into(),
        business: Business {
            payer: Party {
                id: Some(format!("payer-{n}")),
                account: None,
            },
            amount: Some(Money::from_hundredths(100)),
            currency: Some("CNY".into()),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn stored_windows(store: &Store) -> usize {
    store
        .scan(policies::family::STATE, b"w/", None, false, usize::MAX)
        .unwrap()
        .len()
}

#[test]
fn a_million_group_keys_keep_window_state_under_its_cap() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let mut ring = Keyring::new();
    ring.add("test", PrivateKey::generate().unwrap()).unwrap();
    let sealer = Arc::new(RecordSealer::from_keyring(&ring).unwrap());
    let mut e = engine(&store, &sealer);
    let stats = e.stats();
    let blocks = KEYS / PER_BLOCK;
    for h in 0..blocks {
        let docs: Vec<TxDoc> = (h * PER_BLOCK..(h + 1) * PER_BLOCK).map(doc).collect();
        e.process_docs(h as i64, &docs).unwrap();
        let live = stats.windows.load(Ordering::Relaxed) as usize;
        assert!(live <= CAP, "block {h}: {live} windows live");
    }
    assert_eq!(stats.transactions.load(Ordering::Relaxed), KEYS);
    // Every key was seen once in an hour's window: the cap, not time, bounds
    // them, so the table is full and the rest was evicted, counted.
    assert_eq!(stats.windows.load(Ordering::Relaxed) as usize, CAP);
    assert_eq!(
        stats.windows_evicted.load(Ordering::Relaxed),
        KEYS - CAP as u64
    );
    assert_eq!(stored_windows(&store), CAP);

    drop(e);

    // A smaller cap after a restart reads back no more than it allows, and
    // the store follows.
    let (rules, _) = policies::rule::parse_file(Path::new("velocity.toml"), RULES, None);
    let mut e = Engine::new(
        store.clone(),
        sealer,
        rules,
        Watchlists::empty(),
        Vec::new(),
    )
    .unwrap()
    .max_windows(100)
    .unwrap();
    let stats = e.stats();
    assert_eq!(stats.windows.load(Ordering::Relaxed), 100);
    assert_eq!(stored_windows(&store), 100);

    // An hour later every window has passed, and the next block sweeps them
    // all, touched or not.
    let later = TxDoc {
        time_ms: 1_767_225_600_000 + KEYS as i64 + 3_600_001,
        ..doc(KEYS)
    };
    e.process_docs(blocks as i64, &[later]).unwrap();
    assert_eq!(stats.windows.load(Ordering::Relaxed), 1);
    assert_eq!(stored_windows(&store), 1);
}
