//! Backtests: each example rule run over a devnet history opens exactly the
//! alerts the live engine opened for it over the same blocks (key,
//! transactions, heights, block times, the values that explain it), and a
//! backtest leaves the node's policy records (alerts, outbox, windows,
//! links, checkpoint) byte for byte as they were.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;

use policies::backtest::{Backtest, Range};
use policies::{Engine, Watchlists};
use store::Store;

/// Every entry of the engine's families, as stored.
fn policy_records(store: &Store) -> Vec<(String, Vec<u8>, Vec<u8>)> {
    use policies::family::*;
    let mut out = Vec::new();
    for (name, f) in [
        ("state", STATE),
        ("alerts", ALERTS),
        ("alert_keys", ALERT_KEYS),
        ("outbox", OUTBOX),
        ("dead_letters", DEAD_LETTERS),
        ("rule_versions", RULE_VERSIONS),
        ("silences", SILENCES),
    ] {
        for (k, v) in store.scan(f, b"", None, false, usize::MAX).unwrap() {
            out.push((name.to_string(), k.to_vec(), v.to_vec()));
        }
    }
    out
}

/// What an alert says about the history: everything but ids and wall
/// clock times.
fn essence(a: &policies::alert::Alert) -> String {
    format!(
        "{} key={} opened@{} last@{} seen {}..{} txs={:?}+{} values={:?}",
        a.rule,
        a.group_key,
        a.opened_height,
        a.last_height,
        a.first_seen_ms,
        a.last_seen_ms,
        a.transactions,
        a.unlisted,
        a.values
    )
}

#[test]
fn a_backtest_of_each_example_rule_equals_the_live_engine_and_writes_nothing() {
    let chain = testkit::chain(29, 40);
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<Store> = testkit::store(&chain, &dir.path().join("store"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lists = || Watchlists::load(&root.join("watchlists")).unwrap();
    let (rules, errors) = policies::rule::load_dir(&root.join("rules"), Some(&lists().names()));
    assert!(errors.is_empty(), "{errors:?}");
    let mut live = Engine::new(
        store.clone(),
        chain.sealer.clone(),
        rules.clone(),
        lists(),
        vec!["compliance-webhook".into()],
    )
    .unwrap();
    live.catch_up().unwrap();
    drop(live);
    let opened = policies::family::all_alerts(&store).unwrap();
    let before = policy_records(&store);
    assert!(
        before.iter().any(|(f, _, _)| f.contains("outbox")),
        "the live engine queued notifications"
    );

    let mut fired = 0;
    for rule in &rules {
        let id = rule.spec.id.clone();
        let report = Backtest {
            log: store.clone(),
            sealer: chain.sealer.clone(),
            suites: vec![(0, chain::CryptoSuite::Sm)],
            rules: vec![rule.clone()],
            watchlists: lists(),
            range: Range::default(),
        }
        .run(dir.path(), &|done, total| assert!(done <= total))
        .unwrap();
        let want: Vec<String> = opened
            .iter()
            .filter(|a| a.rule == id)
            .map(essence)
            .collect();
        let got: Vec<String> = report.alerts.iter().map(essence).collect();
        assert_eq!(got, want, "rule {id}");
        assert_eq!(
            report.per_day.values().sum::<u64>(),
            want.len() as u64,
            "rule {id}"
        );
        assert!(report.blocks > 0 && report.transactions > 0);
        fired += usize::from(!want.is_empty());
    }
    assert!(
        fired >= 3,
        "only {fired} example rules fired on this history"
    );

    // Nothing of the node's policy records changed, and no scratch store
    // was left behind.
    assert_eq!(policy_records(&store), before);
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(".backtest-"))
        .collect();
    assert!(left.is_empty(), "scratch stores left: {left:?}");
}

#[test]
fn a_date_range_evaluates_only_its_blocks() {
    let chain = testkit::chain(31, 12);
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<Store> = testkit::store(&chain, &dir.path().join("store"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lists = Watchlists::load(&root.join("watchlists")).unwrap();
    let (rules, _) = policies::rule::load_dir(&root.join("rules"), Some(&lists.names()));
    let all = Backtest {
        log: store.clone(),
        sealer: chain.sealer.clone(),
        suites: vec![(0, chain::CryptoSuite::Sm)],
        rules: rules.clone(),
        watchlists: Watchlists::load(&root.join("watchlists")).unwrap(),
        range: Range::default(),
    }
    .run(dir.path(), &|_, _| {})
    .unwrap();
    let (first, last) = (all.first_ms.unwrap(), all.last_ms.unwrap());
    assert!(last > first);
    let middle = first + (last - first) / 2;
    let half = Backtest {
        log: store.clone(),
        sealer: chain.sealer.clone(),
        suites: vec![(0, chain::CryptoSuite::Sm)],
        rules,
        watchlists: lists,
        range: Range {
            from_ms: Some(middle),
            to_ms: None,
        },
    }
    .run(dir.path(), &|_, _| {})
    .unwrap();
    assert!(half.blocks < all.blocks && half.blocks > 0);
    assert!(half.first_ms.unwrap() >= middle);
    assert!(half.alerts.iter().all(|a| a.first_seen_ms >= middle));
}
