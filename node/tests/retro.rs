//! Retro-hunts: entries added to a watchlist are looked up over the
//! history already evaluated, in the search index where it covers the
//! history and block by block past it, and find exactly the transactions a
//! scan of every block finds; each entry's matches are one alert of the
//! built-in `retro-hunt` rule, marked retrospective and explained with the
//! list, the entry and when it was added. Entries are hunted once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use policies::{Engine, Watchlists};

/// Every stored transaction's parties (lowercase) by hash, in chain order.
fn parties_by_tx(
    store: &Arc<store::Store>,
    sealer: &Arc<privacy::at_rest::RecordSealer>,
) -> Vec<(String, BTreeSet<String>)> {
    let reader = records::BlockReader::alone(sealer.clone(), chain::CryptoSuite::Sm);
    let unreadable = AtomicU64::new(0);
    let mut out = Vec::new();
    for h in 0..=store.checkpoint().unwrap().unwrap() {
        let docs = reader
            .read_block(store, 0, h, &unreadable)
            .unwrap()
            .unwrap();
        for d in docs.docs.iter() {
            let parties = d.parties().iter().map(|p| p.to_lowercase()).collect();
            out.push((d.tx_hash.clone(), parties));
        }
    }
    out
}

fn write_list(dir: &std::path::Path, entries: &[String]) {
    let mut text = String::from("id,reason\n");
    for e in entries {
        text.push_str(&format!("{e},test\n"));
    }
    std::fs::write(dir.join("hunt.csv"), text).unwrap();
}

/// An engine with no rules, the watchlists of `lists` (one entry no
/// transaction has, the baseline) and `index` for its hunts.
fn hunting_engine(
    store: &Arc<store::Store>,
    chain: &testkit::Chain,
    lists: &std::path::Path,
    index: Arc<indexer::TxIndex>,
) -> Engine {
    std::fs::create_dir_all(lists).unwrap();
    write_list(lists, &["nobody-at-all".to_string()]);
    Engine::new(
        store.clone(),
        chain.sealer.clone(),
        Vec::new(),
        Watchlists::load(lists).unwrap(),
        Vec::new(),
    )
    .unwrap()
    .party_index(Arc::new(node::IndexParties(indexer::search::Search::new(
        index,
    ))))
}

#[test]
fn new_watchlist_entries_are_hunted_once_over_history_and_find_what_a_scan_finds() {
    let chain = testkit::chain(41, 24);
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(store::Store::open(&dir.path().join("store")).unwrap());
    // The index covers the first 16 blocks; the engine evaluates all 24,
    // so a hunt reads the rest block by block.
    testkit::commit(&chain, &store, 0, 16);
    let (index, _indexer) = testkit::index(&store, &chain.sealer, &dir.path().join("index"));
    testkit::commit(&chain, &store, 17, chain.devnet.head());

    let lists = dir.path().join("lists");
    let mut engine = hunting_engine(&store, &chain, &lists, index.clone());
    // The lists in force at the first run are the baseline: not hunted.
    engine.catch_up().unwrap();
    assert_eq!(engine.checkpoint().unwrap(), Some(chain.devnet.head()));
    assert!(policies::family::all_alerts(&store).unwrap().is_empty());

    // Pick parties of the history: a sender seen in the index's part and
    // past it, a business party id, and one nobody has.
    let all = parties_by_tx(&store, &chain.sealer);
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, ps) in &all {
        for p in ps {
            *counts.entry(p.as_str()).or_default() += 1;
        }
    }
    let address = counts
        .iter()
        .filter(|(p, n)| p.starts_with("0x") && **n >= 3)
        .map(|(p, _)| *p)
        .next()
        .expect("a sender or contract seen several times");
    let id = counts
        .keys()
        .copied()
        .find(|p| !p.starts_with("0x"))
        .expect("a business party id");
    let picked = [address, id, "still-nobody"];
    // Entries are compared in lowercase whatever the file says.
    let mut entries = vec!["nobody-at-all".to_string()];
    entries.extend(picked.iter().map(|p| p.to_uppercase()));
    write_list(&lists, &entries);
    let found = engine.retro_hunt().unwrap();

    let alerts = policies::family::all_alerts(&store).unwrap();
    let mut want_total = 0;
    for entry in picked {
        let want: Vec<String> = all
            .iter()
            .filter(|(_, ps)| ps.contains(entry))
            .map(|(h, _)| h.clone())
            .collect();
        want_total += want.len();
        let got = alerts
            .iter()
            .find(|a| a.group_key == format!("hunt:{entry}"));
        match got {
            None => assert!(
                want.is_empty(),
                "{entry}: no alert for {} matches",
                want.len()
            ),
            Some(a) => {
                assert_eq!(a.rule, policies::retro::RETRO_RULE);
                let mut listed = a.transactions.clone();
                listed.sort();
                let mut want = want.clone();
                want.sort();
                assert_eq!(listed, want, "{entry}: the hunt finds what a scan finds");
                assert_eq!(
                    a.labels.get("retrospective").map(String::as_str),
                    Some("true")
                );
                assert_eq!(a.values.get("list").map(String::as_str), Some("hunt"));
                assert_eq!(a.values.get("entry").map(String::as_str), Some(entry));
                assert!(a.values.contains_key("added"));
            }
        }
    }
    assert!(
        want_total > 3,
        "the picked parties have matches: {want_total}"
    );
    assert_eq!(found, want_total);
    let stats = engine.stats();
    assert_eq!(
        stats
            .retro_matches
            .load(std::sync::atomic::Ordering::Relaxed),
        found as u64
    );
    assert_eq!(
        stats
            .retro_entries
            .load(std::sync::atomic::Ordering::Relaxed),
        3
    );
    let n_alerts = alerts.len();

    // Hunted once: again, nothing new; a new entry alone is hunted next.
    assert_eq!(engine.retro_hunt().unwrap(), 0);
    assert_eq!(
        policies::family::all_alerts(&store).unwrap().len(),
        n_alerts
    );
}

/// Waits (a minute at most) until `check` holds, looking every 50 ms.
async fn wait_until(what: &str, check: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !check() {
        assert!(
            std::time::Instant::now() < deadline,
            "waited 60 s for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A caught-up engine following the store notices a watchlist file that
/// gains an entry without any new block, and hunts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_following_engine_hunts_an_entry_added_while_no_block_arrives() {
    let chain = testkit::chain(43, 8);
    let dir = tempfile::tempdir().unwrap();
    let store = testkit::store(&chain, &dir.path().join("store"));
    let (index, _indexer) = testkit::index(&store, &chain.sealer, &dir.path().join("index"));
    let lists = dir.path().join("lists");
    let engine = hunting_engine(&store, &chain, &lists, index);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(engine.run(async {
        let _ = stopped.await;
    }));
    let head = chain.devnet.head();
    wait_until("the engine to catch up", || {
        policies::family::checkpoint(&store).unwrap() == Some(head)
    })
    .await;
    let sender = parties_by_tx(&store, &chain.sealer)
        .into_iter()
        .flat_map(|(_, ps)| ps)
        .find(|p| p.starts_with("0x"))
        .unwrap();
    write_list(&lists, &["nobody-at-all".to_string(), sender.clone()]);
    wait_until("the hunt's alert", || {
        policies::family::all_alerts(&store)
            .unwrap()
            .iter()
            .any(|a| a.group_key == format!("hunt:{sender}") && !a.transactions.is_empty())
    })
    .await;
    stop.send(()).unwrap();
    run.await.unwrap().unwrap();
}
