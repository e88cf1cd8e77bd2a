//! The ingest pipeline against real devnet servers on real ports, with a
//! real RocksDB in a temporary directory: it follows the chain to its head
//! (and on, as blocks arrive), classifies every payload as the generator's
//! manifest says, and for each way a server can lie, finds the lie, names
//! it, does not store the bad block and completes from an honest endpoint.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chain::CryptoSuite;
use chain::hexbytes::encode0x;
use devnet::faults::{Fault, FaultKind};
use devnet::server::SharedDevnet;
use devnet::workload::Workload;
use ingest::{Ingest, IngestConfig, Trust};
use privacy::at_rest::RecordSealer;
use privacy::keyring::Keyring;
use store::Store;
use testkit::TXS_PER_BLOCK;

struct Chain {
    devnet: SharedDevnet,
    workload: Workload,
    committee: Vec<chain::verify::Sealer>,
}

/// A chain of `blocks` workload blocks, generated as every test fixture
/// generates it (`testkit`), shared with a devnet server.
fn new_chain(seed: u64, blocks: usize) -> Chain {
    let c = testkit::chain(seed, blocks);
    let committee = c.devnet.committee();
    Chain {
        devnet: Arc::new(tokio::sync::RwLock::new(c.devnet)),
        workload: c.workload,
        committee,
    }
}

fn keyring(w: &Workload) -> Keyring {
    testkit::keyring(w)
}

mod support;

/// Serves `devnet` on a fresh port; the server stops when the test ends.
async fn server(devnet: &SharedDevnet, fault: Option<Fault>) -> String {
    support::serve_devnet(devnet, fault).await
}

fn ingest(
    endpoints: Vec<String>,
    chain: &Chain,
    store: Arc<Store>,
    stop_at: i64,
) -> (Ingest, RecordSealer) {
    ingest_with(endpoints, chain, store, stop_at, |_| {})
}

/// [`ingest`] with the configuration changed by `tweak`.
fn ingest_with(
    endpoints: Vec<String>,
    chain: &Chain,
    store: Arc<Store>,
    stop_at: i64,
    tweak: impl FnOnce(&mut IngestConfig),
) -> (Ingest, RecordSealer) {
    let ring = keyring(&chain.workload);
    let sealer = RecordSealer::from_keyring(&ring).unwrap();
    let mut config = IngestConfig::new(
        endpoints,
        "group0",
        CryptoSuite::Sm,
        Trust::Genesis(chain.committee.clone()),
    );
    config.stop_at = Some(stop_at);
    config.in_flight = 4;
    config.poll_interval = Duration::from_millis(20);
    config.backoff_initial = Duration::from_millis(10);
    config.backoff_max = Duration::from_millis(200);
    config.failover_after = 2;
    tweak(&mut config);
    let ingest = Ingest::new(config, store, Arc::new(ring), Arc::new(sealer.clone())).unwrap();
    (ingest, sealer)
}

/// Runs `ingest` to its stop height, failing the test after a deadline
/// instead of hanging.
async fn run_to_end(ingest: &Ingest) {
    tokio::time::timeout(Duration::from_secs(120), ingest.run(std::future::pending()))
        .await
        .expect("sync did not reach the stop height within 120 s")
        .unwrap();
}

/// The store's class names for the manifest's.
fn store_class(manifest_class: &str) -> &str {
    match manifest_class {
        "public" => "not-envelope",
        other => other,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_the_devnet_and_classifies_like_the_manifest() {
    let mut chain = new_chain(11, 20);
    let url = server(&chain.devnet, None).await;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    // The node starts at height 20 and must follow the chain to 30 as the
    // blocks are sealed.
    let (ingest, sealer) = ingest(vec![url], &chain, store.clone(), 30);
    let ingest = Arc::new(ingest);
    let running = tokio::spawn({
        let ingest = ingest.clone();
        async move { run_to_end(&ingest).await }
    });
    let mut feed = store.subscribe();
    feed.wait_for(|h| *h == Some(20)).await.unwrap();
    for _ in 0..10 {
        let mut d = chain.devnet.write().await;
        let ts = chain.workload.next_timestamp();
        chain
            .workload
            .generate_block(&mut d, TXS_PER_BLOCK, ts)
            .unwrap();
    }
    running.await.unwrap();
    let manifest = chain.workload.into_manifest();

    assert_eq!(store.checkpoint().unwrap(), Some(30));
    assert!(store.findings().unwrap().is_empty());
    let mut want: BTreeMap<String, i64> = BTreeMap::new();
    for (class, n) in &manifest.summary.classes {
        if *n > 0 {
            want.insert(store_class(class).to_string(), *n as i64);
        }
    }
    assert_eq!(store.class_counts().unwrap(), want);
    assert_eq!(manifest.transactions.len(), 30 * TXS_PER_BLOCK);
    for t in &manifest.transactions {
        let hash = chain::hexbytes::decode_fixed::<32>("tx", &t.tx_hash).unwrap();
        let stored = store.transaction(&hash).unwrap().expect("every tx stored");
        assert_eq!(
            (stored.height, stored.index as usize),
            (t.block_height, t.index)
        );
        let class = serde_json::to_value(t.class).unwrap();
        assert_eq!(
            stored.class,
            store_class(class.as_str().unwrap()),
            "{}",
            t.tx_hash
        );
        let record = store.record(&hash).unwrap();
        if stored.class == "opened" {
            // The record is sealed at rest and opens to the payload.
            let sealed = record.expect("an opened payload has a record");
            assert!(!contains(&sealed, t.reference.as_bytes()));
            let plain = sealer.open(&hash, &sealed).unwrap();
            let payload: serde_json::Value = serde_json::from_slice(&plain).unwrap();
            assert!(payload.to_string().contains(&t.reference), "{}", t.tx_hash);
            // Bound to its transaction: another slot does not open it.
            assert!(sealer.open(&[0u8; 32], &sealed).is_err());
        } else {
            assert!(record.is_none());
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_lie_is_found_named_and_not_stored() {
    let chain = new_chain(12, 10);
    let honest = server(&chain.devnet, None).await;
    let head = chain.devnet.read().await.head();
    let bad_height = 5;
    for (kind, name) in FaultKind::ALL {
        if kind == FaultKind::WrongHash {
            // Serves only honest blocks: cross-checking tells it (below).
            continue;
        }
        let liar = server(
            &chain.devnet,
            Some(Fault {
                kind,
                height: bad_height,
            }),
        )
        .await;
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        // Without hedging every block is asked of the liar first and its
        // answer examined: with it, a liar slowed by a loaded machine can
        // lose the race to the honest endpoint, and an answer never read
        // shows no lie (hedging is tried in `hostile.rs`).
        let (ingest, _) = ingest_with(
            vec![liar.clone(), honest.clone()],
            &chain,
            store.clone(),
            head,
            |c| c.hedge = false,
        );
        run_to_end(&ingest).await;

        assert_eq!(store.checkpoint().unwrap(), Some(head), "{name}");
        let findings = store.findings().unwrap();
        assert_eq!(findings.len(), 1, "{name}: {findings:?}");
        let f = &findings[0];
        assert_eq!(f.height, Some(bad_height), "{name}");
        assert_eq!(f.endpoint, liar, "{name}");
        let expected_check = match kind {
            FaultKind::LowQuorum => "quorum",
            FaultKind::ForgedSignature => "sealer-signature[",
            FaultKind::WrongParent => "parent",
            FaultKind::TamperedTransaction => "tx[0] tx-hash",
            FaultKind::WithheldBlock => "withheld-block",
            FaultKind::GarbageJson => "malformed-answer",
            FaultKind::TamperedReceipt => "receipts-root",
            FaultKind::WrongHash => unreachable!("skipped above"),
        };
        assert!(
            f.check.starts_with(expected_check),
            "{name}: check {} ({})",
            f.check,
            f.detail
        );
        if !matches!(kind, FaultKind::WithheldBlock) {
            assert!(!f.evidence.is_empty(), "{name}: the served bytes are kept");
        }
        // What is stored at the height is the honest block.
        let d = chain.devnet.read().await;
        for h in 0..=head {
            assert_eq!(
                store.block_hash(h).unwrap().map(|x| encode0x(&x)),
                d.block(h).map(|b| encode0x(&b.header.claimed_hash)),
                "{name}: block {h}"
            );
        }
        let stored: i64 = store.class_counts().unwrap().values().sum();
        assert_eq!(stored as usize, head as usize * TXS_PER_BLOCK, "{name}");
        // And so are the receipts, each the honest one.
        for h in 1..=head {
            for r in d.receipts_of(h) {
                assert_eq!(
                    store.receipt(&r.transaction_hash).unwrap().as_ref(),
                    Some(r),
                    "{name}: a receipt of block {h}"
                );
            }
        }
    }
}

/// Cross-checking (`confirm`): every endpoint is asked for each stored
/// block's hash. One that names a hash other than the block it serves is a
/// lying endpoint; one whose block at the height is another, sealed by the
/// committee in force, shows an equivocation. Each is one finding naming
/// the endpoint; the chain stored is the honest one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_checking_names_a_lying_endpoint_and_an_equivocation() {
    let chain = new_chain(16, 10);
    let head = chain.devnet.read().await.head();
    let honest = server(&chain.devnet, None).await;
    let liar = server(
        &chain.devnet,
        Some(Fault {
            kind: FaultKind::WrongHash,
            height: 4,
        }),
    )
    .await;
    // Sealed again by a quorum over another parent: colluding sealers.
    let fork = server(
        &chain.devnet,
        Some(Fault {
            kind: FaultKind::WrongParent,
            height: 7,
        }),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let (ingest, _) = ingest_with(
        vec![honest.clone(), liar.clone(), fork.clone()],
        &chain,
        store.clone(),
        head,
        |c| {
            c.confirm = 3;
            // Blocks come from the honest endpoint only: what the others
            // say is learnt by the cross-check alone.
            c.hedge = false;
        },
    );
    run_to_end(&ingest).await;

    let d = chain.devnet.read().await;
    for h in 0..=head {
        assert_eq!(
            store.block_hash(h).unwrap().map(|x| encode0x(&x)),
            d.block(h).map(|b| encode0x(&b.header.claimed_hash)),
            "block {h}"
        );
    }
    let mut findings: Vec<_> = store
        .findings()
        .unwrap()
        .into_iter()
        .map(|f| (f.endpoint.clone(), f.height, f.check.clone(), f))
        .collect();
    findings.sort_by_key(|(_, h, _, _)| *h);
    let got: Vec<_> = findings
        .iter()
        .map(|(e, h, c, _)| (e.as_str(), *h, c.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (liar.as_str(), Some(4), "lying-endpoint"),
            (fork.as_str(), Some(7), "equivocation")
        ],
        "{:?}",
        findings.iter().map(|(.., f)| &f.detail).collect::<Vec<_>>()
    );
    let lie = &findings[0].3;
    let stored4 = encode0x(&d.block(4).unwrap().header.claimed_hash);
    assert!(
        lie.detail
            .contains(&format!("serves the stored block {stored4}")),
        "{}",
        lie.detail
    );
    // The evidence of the equivocation is the other block, with its seals.
    let other = &findings[1].3;
    let evidence: serde_json::Value = serde_json::from_str(&other.evidence).unwrap();
    let result = evidence.get("result").unwrap_or(&evidence);
    assert_eq!(result["number"], 7, "{}", other.evidence);
    assert_ne!(
        result["hash"].as_str(),
        Some(encode0x(&d.block(7).unwrap().header.claimed_hash).as_str())
    );
    assert!(!result["signatureList"].as_array().unwrap().is_empty());
    let stats = ingest.stats();
    assert_eq!(
        stats.disagreed.load(std::sync::atomic::Ordering::Relaxed),
        2
    );
    // The liar, benched at 4, is not asked again; the others answer for
    // every block.
    let confirmed = stats.confirmed.load(std::sync::atomic::Ordering::Relaxed);
    assert!(confirmed >= 2 * (head as u64 + 1) - 1, "{confirmed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_endpoint_is_retried_then_left() {
    let chain = new_chain(13, 4);
    let honest = server(&chain.devnet, None).await;
    // A port nobody listens on.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/", l.local_addr().unwrap())
    };
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let (ingest, _) = ingest(vec![dead, honest], &chain, store.clone(), 4);
    run_to_end(&ingest).await;
    assert_eq!(store.checkpoint().unwrap(), Some(4));
    assert!(
        store.findings().unwrap().is_empty(),
        "a network error is not a finding"
    );
    let stats = ingest.stats();
    assert!(
        stats
            .network_errors
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_signed_by_another_committee_is_refused() {
    let chain = new_chain(14, 3);
    let honest = server(&chain.devnet, None).await;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    // The operator's genesis committee is another chain's.
    let other = new_chain(15, 0);
    let ring = keyring(&chain.workload);
    let sealer = RecordSealer::from_keyring(&ring).unwrap();
    let mut config = IngestConfig::new(
        vec![honest],
        "group0",
        CryptoSuite::Sm,
        Trust::Genesis(other.committee.clone()),
    );
    config.stop_at = Some(3);
    config.backoff_initial = Duration::from_millis(5);
    config.backoff_max = Duration::from_millis(20);
    let ingest = Ingest::new(config, store.clone(), Arc::new(ring), Arc::new(sealer)).unwrap();
    // It never gets past genesis; stop once the finding is recorded.
    let mut feed = store.subscribe();
    let store2 = store.clone();
    let stop = async move {
        loop {
            if store2.finding_count().unwrap() > 0 {
                return;
            }
            // Findings have no feed of their own: poll the store.
            let _ = tokio::time::timeout(Duration::from_millis(10), feed.changed()).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), ingest.run(stop))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(store.checkpoint().unwrap(), Some(0));
    let f = &store.findings().unwrap()[0];
    assert_eq!(
        (f.height, f.check.as_str()),
        (Some(1), "committee-change"),
        "{f:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committee_change_vouched_for_by_the_committee_in_force_is_followed() {
    let chain = new_chain(16, 3);
    let honest = server(&chain.devnet, None).await;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    // The genesis committee is the three sealers that signed block 1; the
    // chain's blocks list all four, so block 1 brings a new sealer list,
    // vouched for by the committee in force.
    let genesis: Vec<_> = {
        let d = chain.devnet.read().await;
        let signers = &d.block(1).unwrap().header.signatures;
        assert_eq!(signers.len(), 3);
        signers
            .iter()
            .map(|s| chain.committee[s.sealer_index as usize].clone())
            .collect()
    };
    let ring = keyring(&chain.workload);
    let sealer = RecordSealer::from_keyring(&ring).unwrap();
    let mut config = IngestConfig::new(
        vec![honest],
        "group0",
        CryptoSuite::Sm,
        Trust::Genesis(genesis.clone()),
    );
    config.stop_at = Some(3);
    config.backoff_max = Duration::from_millis(50);
    let ingest = Ingest::new(config, store.clone(), Arc::new(ring), Arc::new(sealer)).unwrap();
    run_to_end(&ingest).await;
    assert_eq!(store.checkpoint().unwrap(), Some(3));
    assert!(store.findings().unwrap().is_empty());
    assert_eq!(store.committee_at(0).unwrap(), Some(genesis));
    assert_eq!(
        store.committee_at(1).unwrap(),
        Some(chain.committee.clone())
    );
    assert_eq!(
        store.committee_at(3).unwrap(),
        Some(chain.committee.clone())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_answer_is_refused_unread() {
    use axum::routing::post;
    // An endpoint answering every call with 200 KiB of JSON whitespace.
    let app = axum::Router::new().route(
        "/",
        post(|| async { format!("{}{{\"result\":1}}", " ".repeat(200 << 10)) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let endpoint = ingest::source::Endpoint::new(&url, "group0", "", Duration::from_secs(10))
        .unwrap()
        .with_max_answer(100 << 10);
    let err = endpoint.block_number().await.unwrap_err();
    assert!(!err.is_network(), "{err}");
    assert!(err.to_string().contains("exceeds 102400 bytes"), "{err}");
    // Under the limit the same answer is read.
    let endpoint = ingest::source::Endpoint::new(&url, "group0", "", Duration::from_secs(10))
        .unwrap()
        .with_max_answer(4 << 20);
    assert_eq!(endpoint.block_number().await.unwrap(), 1);
}

#[tokio::test]
async fn receipts_are_bound_to_their_transactions_and_the_receipts_root() {
    use chain::model::BlockTransactions;
    use chain::verify::verify_block_receipts;
    let chain = new_chain(21, 4);
    let d = chain.devnet.read().await;
    let block = d.block(3).unwrap().clone();
    let BlockTransactions::Full(txs) = &block.transactions else {
        panic!("full transactions");
    };
    let senders: Vec<_> = txs.iter().map(|t| t.claimed_from).collect();
    let honest = d.receipts_of(3).to_vec();
    let failures = |receipts: &[chain::model::Receipt]| -> Vec<String> {
        verify_block_receipts(CryptoSuite::Sm, &block, &senders, receipts)
            .failures()
            .map(|c| c.name.clone())
            .collect()
    };
    assert!(failures(&honest).is_empty());
    // Two receipts exchanged: each names the other's transaction, and the
    // root no longer folds.
    let mut swapped = honest.clone();
    swapped.swap(0, 1);
    let f = failures(&swapped);
    assert!(f.contains(&"receipt[0] transaction".to_string()), "{f:?}");
    assert!(f.contains(&"receipts-root".to_string()), "{f:?}");
    // One left out.
    assert_eq!(failures(&honest[1..]), vec!["receipts".to_string()]);
    // A changed output without a new hash.
    let mut changed = honest.clone();
    changed[2].output = vec![1, 2, 3];
    assert_eq!(
        failures(&changed),
        vec![
            "receipt[2] receipt-hash".to_string(),
            "receipts-root".to_string()
        ]
    );
    // A receipt of another block.
    let mut moved = honest.clone();
    moved[4] = d.receipts_of(2)[4].clone();
    let f = failures(&moved);
    assert!(f.contains(&"receipt[4] block-number".to_string()), "{f:?}");
}

/// An envelope is found in any dynamic argument of a call, and a decoy (a
/// broken envelope, or another argument) placed before the regulator's
/// envelope does not hide it: the one that opens wins.
#[test]
fn a_decoy_before_the_envelope_does_not_hide_it() {
    use chain::model::{Block, BlockTransactions};
    let chain = testkit::chain(31, 12);
    let manifest = chain.workload.manifest();
    let rec = manifest
        .transactions
        .iter()
        .find(|t| t.class == devnet::workload::PrivacyClass::Opened)
        .expect("an opened transaction");
    let hash = chain::hexbytes::decode_fixed::<32>("tx", &rec.tx_hash).unwrap();
    let (tx, height, _) = chain.devnet.transaction(&hash).unwrap();
    let envelope = devnet::contracts::carried(&tx.input).unwrap().to_vec();
    let decoy = envelope[..envelope.len() / 2].to_vec();
    let abi = r#"[{"type":"function","name":"submit","inputs":[
        {"name":"memo","type":"string"},{"name":"decoy","type":"bytes"},
        {"name":"amount","type":"uint256"},{"name":"envelope","type":"bytes"}],"outputs":[]}]"#;
    let c = abi::Contract::parse(abi, CryptoSuite::Sm).unwrap();
    // `submit("x", first, amount, second)`.
    let submit = |first: &[u8], amount: &str, second: &[u8]| {
        c.encode_call(
            "submit",
            &[
                abi::Value::String("x".into()),
                abi::Value::Bytes(format!("0x{}", hex::encode(first))),
                abi::Value::Uint(amount.into()),
                abi::Value::Bytes(format!("0x{}", hex::encode(second))),
            ],
        )
        .unwrap()
    };
    let input = submit(&decoy, "64", &envelope);
    let mut t = tx.clone();
    t.input = input;
    let block = Block {
        header: chain.devnet.block(height).unwrap().header.clone(),
        transactions: BlockTransactions::Full(vec![t]),
    };
    let (envelopes, opened) =
        ingest::open_all(&block, &[tx.claimed_from], &chain.keyring, &chain.sealer).unwrap();
    assert_eq!(opened, 1, "{:?}", envelopes[0].detail);
    assert_eq!(envelopes[0].class, "opened");
    // A well-formed envelope not for the regulator first: the one that
    // opens still wins.
    let other = manifest
        .transactions
        .iter()
        .find(|t| t.class == devnet::workload::PrivacyClass::NotForUs)
        .expect("a private transaction not for the regulator");
    let other_hash = chain::hexbytes::decode_fixed::<32>("tx", &other.tx_hash).unwrap();
    let (other_tx, _, _) = chain.devnet.transaction(&other_hash).unwrap();
    let not_ours = devnet::contracts::carried(&other_tx.input)
        .unwrap()
        .to_vec();
    let mut both = tx.clone();
    both.input = submit(&not_ours, "7", &envelope);
    let block = Block {
        transactions: BlockTransactions::Full(vec![both]),
        ..block
    };
    let (envelopes, opened) =
        ingest::open_all(&block, &[tx.claimed_from], &chain.keyring, &chain.sealer).unwrap();
    assert_eq!((opened, envelopes[0].class.as_str()), (1, "opened"));
    // The decoy alone is malformed.
    let mut alone = tx.clone();
    alone.input = submit(&decoy, "1", &[0]);
    let block = Block {
        transactions: BlockTransactions::Full(vec![alone]),
        ..block
    };
    let (envelopes, opened) =
        ingest::open_all(&block, &[tx.claimed_from], &chain.keyring, &chain.sealer).unwrap();
    assert_eq!((opened, envelopes[0].class.as_str()), (0, "malformed"));
}
