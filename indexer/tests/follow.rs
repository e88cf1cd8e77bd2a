//! The follower over a real store filled from a devnet chain: every stored
//! transaction indexed once, the checkpoint in the commit, catch-up after a
//! restart, new blocks searchable as they commit, aggregations equal to
//! counts computed from the store, and a rebuild from the store alone.

#![allow(clippy::unwrap_used)]

use testkit as common;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chain::hexbytes::encode0x;
use indexer::search::{Filter, Interval, Search, SearchRequest, TermField, TermOrder};
use indexer::{IndexError, Indexer, IndexerConfig, TxIndex};
use records::doc::read_payload;
use store::Store;

const DAY: i64 = 86_400_000;
const BEIJING: i64 = 8 * 3_600_000;

fn config() -> IndexerConfig {
    IndexerConfig {
        commit_interval: Duration::from_millis(50),
        commit_docs: 100,
        threads: 1,
        heap_bytes: 20_000_000,
        stop_at: None,
        ..IndexerConfig::default()
    }
}

/// Every tx hash in the index, with how many documents carry it.
fn indexed_arc(index: &Arc<TxIndex>) -> HashMap<String, usize> {
    let s = Search::new(index.clone());
    let mut out = HashMap::new();
    let mut after = None;
    loop {
        let page = s
            .search(&SearchRequest {
                first: 500,
                after,
                ..Default::default()
            })
            .unwrap();
        for h in &page.hits {
            *out.entry(h.tx_hash.clone()).or_default() += 1;
        }
        if !page.has_next {
            return out;
        }
        after = page.hits.last().map(|h| h.cursor.clone());
    }
}

/// Every stored transaction's hash.
fn stored(store: &Store) -> Vec<String> {
    store
        .transactions_from((0, 0), usize::MAX)
        .unwrap()
        .iter()
        .map(|t| encode0x(&t.tx.claimed_hash))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_the_store_resumes_after_restart_and_indexes_each_tx_once() {
    let chain = common::chain(21, 30);
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("store")).unwrap());
    common::commit(&chain, &store, 0, 10);
    let index_dir = dir.path().join("index");
    {
        let index = Arc::new(TxIndex::open(&index_dir).unwrap());
        let mut cfg = config();
        cfg.stop_at = Some(10);
        let ix = Indexer::new(index.clone(), store.clone(), chain.sealer.clone(), cfg).unwrap();
        tokio::time::timeout(Duration::from_secs(60), ix.run(std::future::pending()))
            .await
            .unwrap()
            .unwrap();
        let cp = index.checkpoint().unwrap().unwrap();
        assert_eq!(cp.height, 10);
        assert_eq!(
            Some(cp.block_hash),
            store.block_hash(10).unwrap().map(|h| encode0x(&h))
        );
    }
    // Restart: the follower resumes at 11 and follows blocks as they are
    // stored, each searchable once committed.
    let index = Arc::new(TxIndex::open(&index_dir).unwrap());
    let ix = Indexer::new(index.clone(), store.clone(), chain.sealer.clone(), config()).unwrap();
    assert_eq!(ix.next_height(), 11);
    let stats = ix.stats();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(ix.run(async {
        let _ = stop_rx.await;
    }));
    let search = Search::new(index.clone());
    for h in 11..=chain.devnet.head() {
        common::commit(&chain, &store, h, h);
        let want = store.transactions_at(h).unwrap();
        let last = encode0x(&want.last().unwrap().tx.claimed_hash);
        // Wait on the condition: the block's last transaction is found.
        tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                let page = search
                    .search(&SearchRequest {
                        query: Some(last.clone()),
                        first: 1,
                        ..Default::default()
                    })
                    .unwrap();
                if page.total == 1 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("block {h} not searchable within 30 s"));
    }
    stop_tx.send(()).unwrap();
    running.await.unwrap().unwrap();
    assert_eq!(
        stats.height.load(std::sync::atomic::Ordering::Relaxed),
        chain.devnet.head()
    );
    let got = indexed_arc(&index);
    let want = stored(&store);
    assert_eq!(got.len(), want.len());
    assert!(got.values().all(|n| *n == 1), "a transaction indexed twice");
    assert!(
        want.iter().all(|h| got.contains_key(h)),
        "a transaction not indexed"
    );
    assert_eq!(index.num_docs() as usize, want.len());
}

#[test]
fn aggregations_equal_counts_computed_from_the_store() {
    let chain = common::chain(33, 40);
    let dir = tempfile::tempdir().unwrap();
    let store = common::store(&chain, &dir.path().join("store"));
    let index = Arc::new(TxIndex::open(&dir.path().join("index")).unwrap());
    let mut ix =
        Indexer::new(index.clone(), store.clone(), chain.sealer.clone(), config()).unwrap();
    ix.catch_up(store.checkpoint().unwrap().unwrap(), &mut |_| {})
        .unwrap();
    let s = Search::new(index.clone());

    // From the store: per class, per Beijing day, per payer, per currency.
    let mut by_class: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_day: BTreeMap<i64, (u64, i64)> = BTreeMap::new();
    let mut by_payer: BTreeMap<String, (u64, i64)> = BTreeMap::new();
    let mut by_currency: BTreeMap<String, (u64, i64)> = BTreeMap::new();
    let mut huikuan = 0u64;
    for t in store.transactions_from((0, 0), usize::MAX).unwrap() {
        *by_class.entry(t.class.clone()).or_default() += 1;
        let block = store.block(t.height).unwrap().unwrap();
        let hash = encode0x(&t.tx.claimed_hash);
        let plain = indexer::search::payload_in_clear(&store, &chain.sealer, &hash);
        let (b, text) = plain
            .as_deref()
            .map(|p| read_payload(p))
            .unwrap_or_default();
        let amount = b.amount.map_or(0, records::Money::hundredths);
        let day = (block.header.timestamp + BEIJING).div_euclid(DAY) * DAY - BEIJING;
        let e = by_day.entry(day).or_default();
        e.0 += 1;
        e.1 += amount;
        if let Some(p) = b.payer.key() {
            let e = by_payer.entry(p.to_string()).or_default();
            e.0 += 1;
            e.1 += amount;
        }
        if let Some(c) = &b.currency {
            let e = by_currency.entry(c.clone()).or_default();
            e.0 += 1;
            e.1 += amount;
        }
        if text.contains("汇款") {
            huikuan += 1;
        }
    }
    let store_classes: BTreeMap<String, u64> = store
        .class_counts()
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k, v as u64))
        .collect();
    assert_eq!(by_class, store_classes);
    assert_eq!(
        s.counts_by(None, &Filter::default(), TermField::Status)
            .unwrap(),
        by_class
    );

    let hist = s
        .histogram(None, &Filter::default(), Interval::Day, 480)
        .unwrap();
    let got: BTreeMap<i64, (u64, i64)> = hist
        .iter()
        .filter(|b| b.count > 0)
        .map(|b| (b.start_ms, (b.count, b.amount)))
        .collect();
    assert_eq!(got, by_day);

    let top = s
        .top_terms(
            None,
            &Filter::default(),
            TermField::Payer,
            5,
            TermOrder::Count,
        )
        .unwrap();
    assert_eq!(top.error_bound, 0);
    let mut want: Vec<(String, (u64, i64))> = by_payer.clone().into_iter().collect();
    want.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.0.cmp(&b.0)));
    for b in &top.buckets {
        assert_eq!(
            by_payer.get(&b.key),
            Some(&(b.count, b.amount)),
            "{}",
            b.key
        );
    }
    assert_eq!(
        top.buckets.iter().map(|b| b.count).collect::<Vec<_>>(),
        want.iter().take(5).map(|w| w.1.0).collect::<Vec<_>>()
    );
    let top_amount = s
        .top_terms(
            None,
            &Filter::default(),
            TermField::Payer,
            3,
            TermOrder::Amount,
        )
        .unwrap();
    let mut by_volume: Vec<i64> = by_payer.values().map(|v| v.1).collect();
    by_volume.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(
        top_amount
            .buckets
            .iter()
            .map(|b| b.amount)
            .collect::<Vec<_>>(),
        by_volume[..3].to_vec()
    );

    let currencies = s
        .top_terms(
            None,
            &Filter::default(),
            TermField::Currency,
            10,
            TermOrder::Count,
        )
        .unwrap();
    let got: BTreeMap<String, (u64, i64)> = currencies
        .buckets
        .into_iter()
        .map(|b| (b.key, (b.count, b.amount)))
        .collect();
    assert_eq!(got, by_currency);

    // A word search counts what the store's payloads say.
    assert!(huikuan > 0);
    assert_eq!(s.count(Some("汇款"), &Filter::default()).unwrap(), huikuan);
}

#[test]
fn an_index_of_another_chain_is_refused_and_rebuild_replaces_it() {
    let a = common::chain(41, 4);
    let b = common::chain(42, 6);
    let dir = tempfile::tempdir().unwrap();
    let store_a = common::store(&a, &dir.path().join("a"));
    let store_b = common::store(&b, &dir.path().join("b"));
    let index_dir = dir.path().join("index");
    {
        let index = Arc::new(TxIndex::open(&index_dir).unwrap());
        let mut ix = Indexer::new(index, store_a.clone(), a.sealer.clone(), config()).unwrap();
        ix.catch_up(4, &mut |_| {}).unwrap();
    }
    let index = Arc::new(TxIndex::open(&index_dir).unwrap());
    let err = Indexer::new(index.clone(), store_b.clone(), b.sealer.clone(), config()).unwrap_err();
    assert!(
        matches!(err, IndexError::Foreign { height: 4, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("lookthrough reindex"));
    drop(index);

    let mut seen = Vec::new();
    let cp = indexer::rebuild(
        &index_dir,
        store_b.clone(),
        b.sealer.clone(),
        config(),
        &mut |h, head| seen.push((h, head)),
    )
    .unwrap()
    .unwrap();
    assert_eq!(cp.height, 6);
    assert_eq!(seen.last(), Some(&(6, 6)));
    let index = Arc::new(TxIndex::open(&index_dir).unwrap());
    let got = indexed_arc(&index);
    let want = stored(&store_b);
    assert_eq!(got.len(), want.len());
    assert!(want.iter().all(|h| got.get(h) == Some(&1)));
    assert!(Indexer::new(index, store_b, b.sealer.clone(), config()).is_ok());
}

/// The index and the rules read the same blocks: a shared reader reads and
/// opens each once for both (the second gets the very same documents), lets
/// go of a block once both took it, reads again when the catalog changed in
/// between, and a consumer far ahead of the other reads alone.
#[test]
fn a_shared_reader_reads_each_block_once_for_its_consumers() {
    use records::{BlockReader, SHARED_BLOCKS};
    use std::sync::atomic::{AtomicU64, Ordering};
    let chain = common::chain(31, SHARED_BLOCKS + 8);
    let dir = tempfile::tempdir().unwrap();
    let store = common::store(&chain, &dir.path().join("store"));
    let reader = BlockReader::new(chain.sealer.clone(), chain::CryptoSuite::Sm);
    reader.join();
    reader.join();
    let (a, b) = (AtomicU64::new(0), AtomicU64::new(0));
    let first = reader.read(&store, 1, &a).unwrap().unwrap();
    assert_eq!(reader.held(), 1, "held for the second consumer");
    let second = reader.read(&store, 1, &b).unwrap().unwrap();
    assert!(
        Arc::ptr_eq(&first, &second),
        "the second consumer read again"
    );
    assert_eq!(reader.held(), 0, "kept after both took it");
    assert_eq!(first.docs.len(), common::TXS_PER_BLOCK);
    assert_eq!(
        a.load(Ordering::Relaxed),
        b.load(Ordering::Relaxed),
        "each consumer counts the unreadable records"
    );
    // The documents are those a reader of its own gives.
    let alone = records::block_docs(
        &store,
        &records::chain_label(&store).unwrap(),
        &chain.sealer,
        &first.catalog,
        1,
        &AtomicU64::new(0),
    )
    .unwrap()
    .unwrap();
    assert_eq!(alone.0, first.block_hash);
    let hashes = |d: &[records::TxDoc]| d.iter().map(|d| d.tx_hash.clone()).collect::<Vec<_>>();
    assert_eq!(hashes(&alone.1), hashes(&first.docs));

    // An ABI saved between the two reads: the second decodes with it.
    let first = reader.read(&store, 2, &a).unwrap().unwrap();
    records::abis::save(&store, &[0x42; 20], "[]", "file:test.json", 0).unwrap();
    let second = reader.read(&store, 2, &b).unwrap().unwrap();
    assert!(!Arc::ptr_eq(&first, &second), "read with the old catalog");
    assert!(!Arc::ptr_eq(&first.catalog, &second.catalog));
    assert_eq!(reader.held(), 0);

    // One consumer far ahead: at most SHARED_BLOCKS blocks wait for the
    // other, which reads the oldest again by itself.
    let head = store.checkpoint().unwrap().unwrap();
    let early = reader.read(&store, 3, &a).unwrap().unwrap();
    for h in 4..=head {
        reader.read(&store, h, &a).unwrap();
    }
    assert_eq!(reader.held(), SHARED_BLOCKS);
    let late = reader.read(&store, 3, &b).unwrap().unwrap();
    assert!(!Arc::ptr_eq(&early, &late), "block 3 was let go");
    assert_eq!(hashes(&early.docs), hashes(&late.docs));
    let last = reader.read(&store, head, &b).unwrap().unwrap();
    assert_eq!(last.docs.len(), common::TXS_PER_BLOCK);
    assert_eq!(reader.held(), SHARED_BLOCKS - 1);
    assert!(
        reader.read(&store, head + 1, &a).unwrap().is_none(),
        "not stored"
    );
    assert_eq!(reader.held(), SHARED_BLOCKS - 1);
}
