//! Crash safety of `lookthrough run`: a node killed with SIGKILL at random
//! points while it syncs loses and duplicates nothing.
//!
//! A devnet chain is generated and served; one node syncs it in one go (the
//! reference), another is SIGKILLed five times at random heights (watched on
//! `/metrics`) and restarted each time, then finishes. After every kill a
//! copy of the crashed store must hold exactly the blocks up to its
//! checkpoint, at least up to the height the node had reported; at the end
//! both stores must be identical in blocks, transactions, classifications,
//! class counters and decrypted records, with every transaction stored once.
//!
//! The node indexes as it syncs, so the kills land during indexing too:
//! after every kill a copy of the crashed index must open with a checkpoint
//! at or below the store's and hold exactly the transactions up to it, each
//! once; at the end it must hold every stored transaction once.
//!
//! The seed of the kill heights is printed; set `CRASH_TEST_SEED` to replay it.
//!
//! Alert delivery survives the same: a node evaluating the example rules
//! and sending to a slow webhook receiver is killed mid-delivery and
//! restarted; every alert's notification arrives, a repeat carrying the same
//! idempotency id.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeSet, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

mod support;

use support::{Guard, Log, Rng, drain, lookthrough, metric, spawn_drained};

use chain::hexbytes::encode0x;
use indexer::TxIndex;
use privacy::at_rest::RecordSealer;
use privacy::keyring::Keyring;
use store::Store;

const TXS: usize = 3000;
const TXS_PER_BLOCK: usize = 25;
/// The chain's head: heights 0 (genesis, no transactions) to `HEAD`.
const HEAD: i64 = (TXS / TXS_PER_BLOCK) as i64;
const KILLS: usize = 5;
/// Bound of every wait; exceeding it fails the test instead of hanging.
const DEADLINE: Duration = Duration::from_secs(120);
const POLL: Duration = Duration::from_millis(5);

/// `lookthrough_height` from `GET /metrics`.
fn metric_height(addr: SocketAddr) -> Result<i64, String> {
    metric(addr, "lookthrough_height")
}

/// A node's configuration; with `node_key`, the GraphQL API too.
fn write_config(path: &Path, url: &str, key: &Path, data_dir: &Path, node_key: Option<&Path>) {
    let (node, api) = match node_key {
        Some(k) => (
            format!("node = {{ path = {:?} }}\n", k.to_str().unwrap()),
            "\n[api]\nlisten = \"127.0.0.1:0\"\n",
        ),
        None => (String::new(), ""),
    };
    let text = format!(
        r#"[chain]
endpoints = [{url:?}]
group = "group0"
crypto = "sm"
trust = "first-use"

[keys]
regulator = [{{ path = {key:?} }}]
{node}
[storage]
data_dir = {data:?}

[ingest]
in_flight = 4
poll_interval_ms = 50

[server]
metrics_listen = "127.0.0.1:0"
{api}"#,
        key = key.to_str().unwrap(),
        data = data_dir.to_str().unwrap(),
    );
    std::fs::write(path, text).unwrap();
}

/// Adds to the configuration at `path` the example rules and watchlists of
/// `policies/`, then `more` (channels, say).
fn with_example_rules(path: &Path, more: &str) {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let mut text = std::fs::read_to_string(path).unwrap();
    text.push_str(&format!(
        "\n[policies]\nrules_dir = {:?}\nwatchlists_dir = {:?}\n{more}",
        manifest.join("rules").to_str().unwrap(),
        manifest.join("watchlists").to_str().unwrap(),
    ));
    std::fs::write(path, text).unwrap();
}

/// Generates a chain of `txs` transactions under `root/chain` and serves it
/// with `devnet serve`; returns the chain directory, the server and its URL.
fn generate_and_serve(root: &Path, txs: usize) -> (std::path::PathBuf, Guard, String) {
    let chain = root.join("chain");
    let out = lookthrough()
        .args(["devnet", "generate", "--txs", &txs.to_string()])
        .args(["--txs-per-block", &TXS_PER_BLOCK.to_string(), "--out"])
        .arg(&chain)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "devnet generate failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let mut serve = lookthrough()
        .args(["devnet", "serve", "--from"])
        .arg(&chain)
        .args(["--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = serve.stdout.take().unwrap();
    let mut serve = Guard::new("devnet serve", serve);
    let (line_tx, line_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let _ = line_tx.send(lines.next());
        for _ in lines {}
    });
    let first = match line_rx.recv_timeout(DEADLINE) {
        Ok(Some(Ok(line))) => line,
        other => {
            let status = serve.child().try_wait();
            panic!("devnet serve printed no first line ({other:?}, status {status:?})")
        }
    };
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {first:?}"))
        .to_owned();
    (chain, serve, url)
}

/// `lookthrough run --config CONFIG --until-height HEAD`, to completion.
fn run_to_head(config: &Path, name: &'static str) {
    let (mut guard, log, _addr, drainer) = spawn_drained(
        lookthrough()
            .args(["run", "--config"])
            .arg(config)
            .args(["--until-height", &HEAD.to_string()]),
        name,
    );
    let status = guard.wait_until(Instant::now() + DEADLINE, &log);
    drainer.join().unwrap();
    assert!(
        status.success(),
        "{name} failed ({status}):\n{}",
        log.tail()
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Checks a store left by a SIGKILL: it opens, and holds exactly the blocks
/// up to its checkpoint, each with all its transactions counted once.
/// Returns the checkpoint.
fn check_crashed_store(store_dir: &Path, scratch: &Path, reported: i64) -> i64 {
    // A copy, so that the node itself recovers the original on restart.
    let _ = std::fs::remove_dir_all(scratch);
    copy_dir(store_dir, scratch);
    let store = Store::open(scratch).expect("a store killed mid-sync opens");
    let cp = store
        .checkpoint()
        .unwrap()
        .expect("a checkpoint after a kill");
    assert!(
        cp >= reported,
        "the node reported height {reported} on /metrics but only {cp} survived the kill"
    );
    for h in 0..=cp {
        let block = store
            .block(h)
            .unwrap()
            .unwrap_or_else(|| panic!("block {h} missing below the checkpoint {cp}"));
        assert_eq!(
            store.height_of(&block.header.claimed_hash).unwrap(),
            Some(h)
        );
        let expected = if h == 0 { 0 } else { TXS_PER_BLOCK };
        assert_eq!(
            store.transactions_at(h).unwrap().len(),
            expected,
            "transactions of block {h} (checkpoint {cp})"
        );
    }
    assert!(
        store.block(cp + 1).unwrap().is_none(),
        "a block above the checkpoint {cp}"
    );
    assert!(store.transactions_at(cp + 1).unwrap().is_empty());
    let counted: i64 = store.class_counts().unwrap().values().sum();
    assert_eq!(
        counted,
        cp * TXS_PER_BLOCK as i64,
        "class counters after a kill at checkpoint {cp}"
    );
    assert_eq!(store.finding_count().unwrap(), 0);
    drop(store);
    std::fs::remove_dir_all(scratch).unwrap();
    cp
}

/// Every transaction hash in an index, each once (panics on a duplicate),
/// and the index's checkpoint height.
fn indexed_hashes(index_dir: &Path) -> (HashSet<String>, Option<i64>) {
    let index = Arc::new(TxIndex::open(index_dir).expect("an index killed mid-commit opens"));
    let cp = index.checkpoint().unwrap();
    let seen = testkit::indexed_once(&index);
    if let Some(cp) = &cp {
        assert_eq!(cp.docs as usize, seen.len(), "checkpoint's document count");
    }
    (seen, cp.map(|c| c.height))
}

/// Checks an index left by a SIGKILL against the store left with it:
/// exactly the transactions of blocks up to the index's checkpoint, which
/// is not above the store's.
fn check_crashed_index(data_dir: &Path, scratch: &Path, store_checkpoint: i64) -> Option<i64> {
    let _ = std::fs::remove_dir_all(scratch);
    copy_dir(&data_dir.join("index"), &scratch.join("index"));
    copy_dir(&data_dir.join("store"), &scratch.join("store"));
    let (seen, cp) = indexed_hashes(&scratch.join("index"));
    let store = Store::open(&scratch.join("store")).unwrap();
    let upto = cp.unwrap_or(-1);
    assert!(
        upto <= store_checkpoint,
        "index checkpoint {upto} above the store's {store_checkpoint}"
    );
    let want: HashSet<String> = store
        .transactions_from((0, 0), usize::MAX)
        .unwrap()
        .iter()
        .filter(|t| t.height <= upto)
        .map(|t| encode0x(&t.tx.claimed_hash))
        .collect();
    assert_eq!(seen.len(), want.len(), "indexed transactions up to {upto}");
    assert!(
        seen == want,
        "the index holds other transactions than the store up to {upto}"
    );
    drop(store);
    std::fs::remove_dir_all(scratch).unwrap();
    cp
}

struct KillReport {
    target: i64,
    first_seen: i64,
    landed: i64,
    recovered: i64,
}

/// Runs the node without a stop height, watches `/metrics` until it has
/// stored `target`, and SIGKILLs it.
fn run_and_kill(config: &Path, target: i64) -> (i64, i64) {
    let child = lookthrough()
        .args(["run", "--config"])
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut guard = Guard::new("the crash-run node", child);
    let log = Log::default();
    let (addr_rx, drainer) = drain(guard.child().stderr.take().unwrap(), log.clone());
    let deadline = Instant::now() + DEADLINE;
    let addr = loop {
        match addr_rx.recv_timeout(Duration::from_millis(50)) {
            Ok(("metrics", addr)) => break addr,
            Ok(_) => {}
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => panic!(
                "node (pid {}) closed stderr without logging its metrics address:\n{}",
                guard.id(),
                log.tail()
            ),
        }
        if let Some(status) = guard.child().try_wait().unwrap() {
            panic!(
                "node exited ({status}) before serving /metrics:\n{}",
                log.tail()
            );
        }
        assert!(
            Instant::now() < deadline,
            "no metrics address logged within {DEADLINE:?}:\n{}",
            log.tail()
        );
    };
    let mut first_seen = None;
    let landed = loop {
        if let Some(status) = guard.child().try_wait().unwrap() {
            panic!(
                "node exited by itself ({status}) while syncing:\n{}",
                log.tail()
            );
        }
        match metric_height(addr) {
            Ok(h) => {
                first_seen.get_or_insert(h);
                if h >= target {
                    break h;
                }
            }
            Err(e) => assert!(
                Instant::now() < deadline,
                "GET http://{addr}/metrics keeps failing: {e}\n{}",
                log.tail()
            ),
        }
        assert!(
            Instant::now() < deadline,
            "height {target} not reached within {DEADLINE:?}:\n{}",
            log.tail()
        );
        std::thread::sleep(POLL);
    };
    let status = guard.kill();
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            status.signal(),
            Some(9),
            "the node was SIGKILLed, it did not exit by itself ({status})"
        );
    }
    #[cfg(not(unix))]
    let _ = status;
    drainer.join().unwrap();
    (first_seen.unwrap(), landed)
}

/// The reference and crashed stores hold the same chain, each transaction
/// once, with the same classifications and decrypted records.
fn compare_stores(reference: &Path, crashed: &Path, sealer: &RecordSealer) {
    let a = Store::open(reference).unwrap();
    let b = Store::open(crashed).unwrap();
    assert_eq!(a.checkpoint().unwrap(), Some(HEAD), "reference checkpoint");
    assert_eq!(b.checkpoint().unwrap(), Some(HEAD), "crashed checkpoint");
    let mut seen = HashSet::new();
    let (mut total, mut records) = (0usize, 0usize);
    for h in 0..=HEAD {
        let ha = a
            .block_hash(h)
            .unwrap()
            .unwrap_or_else(|| panic!("reference lacks block {h}"));
        let hb = b
            .block_hash(h)
            .unwrap()
            .unwrap_or_else(|| panic!("crashed lacks block {h}"));
        assert_eq!(ha, hb, "block hash at height {h}");
        let ta = a.transactions_at(h).unwrap();
        let tb = b.transactions_at(h).unwrap();
        assert_eq!(ta.len(), tb.len(), "transaction count at height {h}");
        for (x, y) in ta.iter().zip(&tb) {
            let hash = x.tx.claimed_hash;
            let at = format!("height {h} index {}", x.index);
            assert_eq!(hash, y.tx.claimed_hash, "tx hash at {at}");
            assert_eq!(x.index, y.index, "index at {at}");
            assert_eq!((x.height, y.height), (h, h), "height of the tx at {at}");
            assert_eq!(x.class, y.class, "class at {at}");
            assert_eq!(x.detail, y.detail, "detail at {at}");
            assert!(x.tx == y.tx, "transaction body at {at}");
            assert!(seen.insert(hash), "transaction stored twice ({at})");
            let (ra, rb) = (a.record(&hash).unwrap(), b.record(&hash).unwrap());
            assert_eq!(ra.is_some(), rb.is_some(), "record presence at {at}");
            if let (Some(ra), Some(rb)) = (ra, rb) {
                let pa = sealer.open(&hash, &ra).expect("reference record opens");
                let pb = sealer.open(&hash, &rb).expect("crashed record opens");
                assert!(*pa == *pb, "record plaintext at {at}");
                records += 1;
            }
            total += 1;
        }
    }
    assert!(a.block(HEAD + 1).unwrap().is_none());
    assert!(b.block(HEAD + 1).unwrap().is_none());
    assert_eq!(total, TXS, "transactions across heights");
    let (ca, cb) = (a.class_counts().unwrap(), b.class_counts().unwrap());
    assert_eq!(ca, cb, "class counters");
    assert_eq!(
        ca.values().sum::<i64>(),
        TXS as i64,
        "reference class counters"
    );
    assert_eq!(
        cb.values().sum::<i64>(),
        TXS as i64,
        "crashed class counters"
    );
    for (name, s) in [("reference", &a), ("crashed", &b)] {
        assert_eq!(s.finding_count().unwrap(), 0, "{name} findings counter");
        assert!(s.findings().unwrap().is_empty(), "{name} findings");
    }
    assert!(
        records > 0,
        "some payloads were opened and their records compared"
    );
    eprintln!("compared {total} transactions, {records} opened records, classes {ca:?}");
}

#[test]
fn sigkill_during_sync_loses_and_duplicates_nothing() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();

    // 1. The chain, 2. served.
    let (chain, serve, url) = generate_and_serve(&root, TXS);
    eprintln!("generated the chain in {:?}", started.elapsed());

    // 3. One configuration per data directory.
    let key = chain.join("regulator.pem");
    let (ref_dir, crash_dir) = (root.join("ref"), root.join("crash"));
    let (ref_toml, crash_toml) = (root.join("ref.toml"), root.join("crash.toml"));
    write_config(&ref_toml, &url, &key, &ref_dir, None);
    write_config(&crash_toml, &url, &key, &crash_dir, None);

    // 4. The reference: one uninterrupted sync.
    let t = Instant::now();
    run_to_head(&ref_toml, "the reference node");
    eprintln!("reference sync of {HEAD} blocks took {:?}", t.elapsed());

    // 5. Kills at random heights.
    let seed = match std::env::var("CRASH_TEST_SEED") {
        Ok(s) => s.parse().expect("CRASH_TEST_SEED is a u64"),
        Err(_) => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    };
    let mut rng = Rng(seed | 1);
    let mut targets = BTreeSet::new();
    while targets.len() < KILLS {
        targets.insert(1 + (rng.next() % (HEAD as u64 - 3)) as i64);
    }
    eprintln!("seed {seed} (CRASH_TEST_SEED={seed} to replay): kill heights {targets:?}");
    let mut reports: Vec<KillReport> = Vec::new();
    for &target in &targets {
        let (first_seen, landed) = run_and_kill(&crash_toml, target);
        if let Some(prev) = reports.last() {
            // The node loaded the checkpoint the kill left (its height
            // gauge starts there): it resumed rather than started over.
            assert!(
                first_seen >= prev.recovered,
                "after the kill at {} the store held {} but the restarted node reported {first_seen}",
                prev.landed,
                prev.recovered
            );
        }
        let recovered =
            check_crashed_store(&crash_dir.join("store"), &root.join("snapshot"), landed);
        let indexed = check_crashed_index(&crash_dir, &root.join("snapshot"), recovered);
        eprintln!(
            "kill at target {target}: restarted at {first_seen}, last /metrics height {landed}, \
             checkpoint after the kill {recovered}, index checkpoint {indexed:?}"
        );
        reports.push(KillReport {
            target,
            first_seen,
            landed,
            recovered,
        });
    }

    // 6. Finish the crashed node's sync.
    run_to_head(&crash_toml, "the crash-run node's final run");
    drop(serve);

    // 7. Compare.
    let mut keyring = Keyring::new();
    keyring.load_pem_file(&key, None).unwrap();
    let sealer = RecordSealer::from_keyring(&keyring).unwrap();
    compare_stores(&ref_dir.join("store"), &crash_dir.join("store"), &sealer);
    // The crashed node's index holds every stored transaction once.
    let store = Store::open(&crash_dir.join("store")).unwrap();
    let stored: HashSet<String> = store
        .transactions_from((0, 0), usize::MAX)
        .unwrap()
        .iter()
        .map(|t| encode0x(&t.tx.claimed_hash))
        .collect();
    drop(store);
    let (indexed, cp) = indexed_hashes(&crash_dir.join("index"));
    assert_eq!(cp, Some(HEAD), "the index's final checkpoint");
    assert_eq!(indexed.len(), TXS, "documents in the crashed node's index");
    assert!(
        indexed == stored,
        "index and store hold different transactions"
    );
    for r in &reports {
        eprintln!(
            "  target {:>3}: started at {:>3}, killed at /metrics height {:>3}, checkpoint {:>3}",
            r.target, r.first_seen, r.landed, r.recovered
        );
    }
    eprintln!("seed {seed}; passed in {:?}", started.elapsed());
}

/// One delivery as the receiver got it.
#[derive(Clone, Debug)]
struct Arrival {
    id: String,
    timestamp: String,
    signature: String,
    body: String,
    alert: u64,
}

/// What the webhook receiver of the delivery test got, in arrival order.
type Arrivals = Arc<Mutex<Vec<Arrival>>>;

const HOOK_SECRET: &str = "whsec_ZGVsaXZlcnkgY3Jhc2ggdGVzdCBzZWNyZXQ=";

/// A webhook receiver on loopback that takes 20 ms per delivery (so that a
/// kill lands mid-delivery); returns its URL.
fn slow_receiver(runtime: &tokio::runtime::Runtime, got: Arrivals) -> String {
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let got = got.clone();
                async move {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    let h = |n: &str| {
                        headers
                            .get(n)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_string()
                    };
                    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                    got.lock().unwrap().push(Arrival {
                        id: h("webhook-id"),
                        timestamp: h("webhook-timestamp"),
                        signature: h("webhook-signature"),
                        body: String::from_utf8_lossy(&body).into_owned(),
                        alert: v["data"]["alert_id"].as_u64().unwrap_or(0),
                    });
                    "ok"
                }
            },
        ),
    );
    runtime.spawn(async move { axum::serve(listener, app).await });
    url
}

/// Runs `tests/graphql-client/verify-webhooks.mjs` on `got` (installing the
/// npm packages on first use); returns its verdicts.
fn verify_with_standardwebhooks(got: &[Arrival]) -> Vec<serde_json::Value> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/graphql-client");
    if !dir.join("node_modules/standardwebhooks").is_dir() {
        let out = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .output()
            .expect("npm (Node.js 18 or later) runs the webhook verifier");
        assert!(
            out.status.success(),
            "npm ci failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let input = serde_json::json!({
        "secret": HOOK_SECRET,
        "deliveries": got.iter().map(|a| serde_json::json!({
            "id": a.id, "timestamp": a.timestamp, "signature": a.signature, "body": a.body,
        })).collect::<Vec<_>>(),
    });
    let mut child = Command::new("node")
        .arg("verify-webhooks.mjs")
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs the webhook verifier");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The engine's checkpoint and the outbox's length, read beside the
/// running node.
fn policy_progress(store_dir: &Path) -> Option<(Option<i64>, usize)> {
    let store = Store::open_read_only(store_dir).ok()?;
    let cp = policies::family::checkpoint(&store).ok()?;
    let pending = policies::family::outbox(&store, "compliance-webhook")
        .ok()?
        .len();
    Some((cp, pending))
}

#[test]
fn sigkill_mid_delivery_loses_no_alert() {
    const ALERT_TXS: usize = 1_000;
    let head = (ALERT_TXS / TXS_PER_BLOCK) as i64;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let (chain, serve, url) = generate_and_serve(&root, ALERT_TXS);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let got: Arrivals = Arc::default();
    let hook = slow_receiver(&runtime, got.clone());

    let data = root.join("data");
    let config = root.join("node.toml");
    write_config(&config, &url, &chain.join("regulator.pem"), &data, None);
    with_example_rules(
        &config,
        &format!(
            "\n[[policies.channel]]\nname = \"compliance-webhook\"\nkind = \"webhook\"\nurl = {hook:?}\nsecret_envs = [\"LT_HOOK_SECRET\"]\nbackoff_initial_ms = 50\nbackoff_max_ms = 500\n"
        ),
    );
    let start = |name: &'static str| {
        let (guard, log, addr, drainer) = spawn_drained(
            lookthrough()
                .args(["run", "--config"])
                .arg(&config)
                .env("LT_HOOK_SECRET", HOOK_SECRET),
            name,
        );
        (guard, log, drainer, addr)
    };
    let wait = |what: &str, log: &Log, mut done: Box<dyn FnMut() -> bool + '_>| {
        let deadline = Instant::now() + DEADLINE;
        while !done() {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}:\n{}",
                log.tail()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };

    // Killed after some deliveries, while others are under way.
    let (mut node, log, drainer, _) = start("the node");
    wait(
        "ten deliveries",
        &log,
        Box::new(|| got.lock().unwrap().len() >= 10),
    );
    node.kill();
    drainer.join().unwrap();
    let at_kill = got.lock().unwrap().len();

    // Restarted: it finishes evaluating and delivering.
    let store_dir = data.join("store");
    let (mut node, log, drainer, addr) = start("the restarted node");
    wait(
        "every block evaluated and the outbox empty",
        &log,
        Box::new(|| matches!(policy_progress(&store_dir), Some((Some(cp), 0)) if cp >= head)),
    );
    // /metrics shows the engine's height and the channel's deliveries.
    let (_, addr) = addr.recv_timeout(DEADLINE).expect("the metrics address");
    assert_eq!(metric(addr, "lookthrough_policy_height"), Ok(head));
    // ... and the engine and the sender as followers of the store.
    assert_eq!(
        metric(addr, "lookthrough_stage_checkpoint{stage=\"rules\"}"),
        Ok(head)
    );
    assert_eq!(
        metric(addr, "lookthrough_stage_lag_blocks{stage=\"rules\"}"),
        Ok(0)
    );
    assert!(
        metric(
            addr,
            "lookthrough_stage_steps_total{stage=\"sender:compliance-webhook\"}"
        )
        .is_ok_and(|n| n > 0)
    );
    // ... and the endpoint's health: healthy, with answers timed.
    assert_eq!(
        metric(
            addr,
            &format!("lookthrough_endpoint_state{{endpoint=\"{url}\",state=\"healthy\"}}")
        ),
        Ok(1)
    );
    assert!(
        metric(
            addr,
            &format!("lookthrough_endpoint_latency_seconds_count{{endpoint=\"{url}\"}}")
        )
        .is_ok_and(|n| n > 0)
    );
    let delivered = metric(
        addr,
        "lookthrough_notifications_delivered_total{channel=\"compliance-webhook\"}",
    )
    .unwrap();
    assert!(delivered > 0, "{delivered}");
    node.kill();
    drainer.join().unwrap();
    drop(serve);

    let store = Store::open(&store_dir).unwrap();
    let alerts = policies::family::all_alerts(&store).unwrap();
    let queued: BTreeSet<String> = alerts
        .iter()
        .flat_map(|a| a.deliveries.iter().map(|d| d.message_id.clone()))
        .collect();
    assert!(
        alerts
            .iter()
            .flat_map(|a| a.deliveries.iter())
            .all(|d| d.status == "delivered"),
        "every notification delivered"
    );
    let got = got.lock().unwrap().clone();
    let received: BTreeSet<String> = got.iter().map(|a| a.id.clone()).collect();
    assert_eq!(received, queued, "every alert's notification arrived");
    // A duplicate is the same message again: same id, same alert.
    for a in &got {
        assert!(a.id.starts_with(&format!("alert-{}-", a.alert)), "{a:?}");
    }
    // The Standard Webhooks reference library (npm's standardwebhooks)
    // accepts every delivery as received and refuses each with a changed
    // body.
    let verdicts = verify_with_standardwebhooks(&got);
    assert_eq!(verdicts.len(), got.len());
    for (v, a) in verdicts.iter().zip(&got) {
        assert_eq!(v["id"], a.id.as_str());
        assert_eq!(v["genuine"], true, "{a:?}");
        assert_eq!(v["tampered"], false, "{a:?}");
    }
    eprintln!(
        "{} alerts notified; {at_kill} arrived before the kill; {} deliveries in all ({} duplicates)",
        queued.len(),
        got.len(),
        got.len() - received.len()
    );
}

/// Bytes the disk-fault test leaves the node: about a third of what the
/// sync needs (the store's log takes ~15 MiB for `TXS` transactions).
const ROOM: u64 = 6 << 20;

/// `GET /healthz` as JSON.
fn healthz(addr: SocketAddr) -> serde_json::Value {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET /healthz HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    serde_json::from_str(body).unwrap()
}

/// Polls `check` every `POLL` until it holds, panicking with `what` and the
/// node's last log lines at the deadline or if the node exits.
fn wait_for(guard: &mut Guard, log: &Log, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !check() {
        if let Some(status) = guard.child().try_wait().unwrap() {
            panic!("the node exited ({status}) before {what}:\n{}", log.tail());
        }
        assert!(
            Instant::now() < deadline,
            "not within {DEADLINE:?}: {what}\n{}",
            log.tail()
        );
        std::thread::sleep(POLL);
    }
}

/// The disk fills mid-sync (a small tmpfs under the data directory, which
/// the test mounts as root; skipped with the reason printed otherwise):
/// the node stops writing with the directory named in its log, on
/// `/healthz` and `/metrics`; the store and the index it leaves open and
/// hold whole blocks; the API answers reads and withholds the decrypted
/// ones it cannot audit. Once the disk has room again the node resumes by
/// itself and ends with every transaction stored and indexed once, the
/// rules at the head and the audit log whole.
#[test]
fn a_full_disk_mid_sync_pauses_the_node_which_resumes_with_every_transaction_once() {
    let fs = match testkit::tmpfs::Tmpfs::mount(96 << 20) {
        Ok(fs) => fs,
        Err(reason) => {
            eprintln!("skipped: {reason}");
            return;
        }
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let (chain, serve, url) = generate_and_serve(&root, TXS);
    let node_key = root.join("node.pem");
    let out = lookthrough()
        .args(["keygen", "--out"])
        .arg(&node_key)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let data = fs.path().join("data");
    let config = root.join("disk.toml");
    write_config(
        &config,
        &url,
        &chain.join("regulator.pem"),
        &data,
        Some(&node_key),
    );
    with_example_rules(&config, "");

    // An officer's token (the store is made here, on the small disk), then
    // the disk filled but for `ROOM`.
    let out = lookthrough()
        .args(["token", "create", "--config"])
        .arg(&config)
        .args(["--name", "officer", "--role", "analyst"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let filler = fs.fill();
    let len = std::fs::metadata(&filler).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&filler)
        .unwrap()
        .set_len(len - ROOM)
        .unwrap();

    let child = lookthrough()
        .args(["run", "--config"])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut guard = Guard::new("the node on a small disk", child);
    let log = Log::default();
    let (addr_rx, drainer) = drain(guard.child().stderr.take().unwrap(), log.clone());
    let (mut metrics, mut api) = (None, None);
    while metrics.is_none() || api.is_none() {
        match addr_rx.recv_timeout(DEADLINE) {
            Ok(("metrics", a)) => metrics = Some(a),
            Ok((_, a)) => api = Some(a),
            Err(e) => panic!("no addresses logged ({e}):\n{}", log.tail()),
        }
    }
    let (metrics, api) = (metrics.unwrap(), api.unwrap());
    let api_url = api.to_string();

    // 1. The disk fills mid-sync: writing stops, the directory is named.
    wait_for(&mut guard, &log, "a disk fault on /metrics", || {
        metric(metrics, "lookthrough_disk_faults").is_ok_and(|n| n >= 1)
    });
    let store_dir = data.join("store");
    let named = format!("cannot write to {}", data.display());
    wait_for(
        &mut guard,
        &log,
        "the fault logged with its directory",
        || log.tail().contains(&named),
    );
    let health = healthz(api);
    assert_eq!(health["status"], "disk-fault", "{health}");
    assert!(health["diskFaults"].as_u64() >= Some(1), "{health}");
    let (status, v) = support::post(
        &api_url,
        &token,
        "{ chain { diskFaults { dir error } } }",
        serde_json::json!({}),
    );
    assert_eq!(status, 200, "{v}");
    let fault = &v["data"]["chain"]["diskFaults"][0];
    let dir = fault["dir"].as_str().unwrap();
    assert!(dir.starts_with(&data.display().to_string()), "{v}");
    assert!(
        fault["error"]
            .as_str()
            .unwrap()
            .contains("No space left on device"),
        "{v}"
    );
    let stopped = metric_height(metrics).unwrap();
    assert!(
        stopped > 0 && stopped < HEAD,
        "not mid-sync: stopped at {stopped} of {HEAD}"
    );

    // 2. Reads are answered; a decrypted read, which cannot be audited, is
    // withheld.
    let (status, v) = support::post(
        &api_url,
        &token,
        "{ chain { head indexedHeight } }",
        serde_json::json!({}),
    );
    assert_eq!(status, 200, "{v}");
    let head = v["data"]["chain"]["head"].as_i64().unwrap();
    assert!(head >= stopped && head < HEAD, "{v}");
    // Block 1 is stored (read from the store, not the index, which may not
    // have committed before the disk filled); its opened payloads are
    // decrypted reads.
    let read = "{ block(height: 1) { transactions { hash envelopeStatus payload { memo } } } }";
    let (_, v) = support::post(&api_url, &token, read, serde_json::json!({}));
    assert!(v["data"].is_null(), "an unaudited read was answered: {v}");
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("audit log"),
        "{v}"
    );

    // 3. Nothing is corrupt: copies of the store and the index open and
    // hold whole blocks, the index none past the store.
    let recovered = check_crashed_store(&store_dir, &root.join("snapshot"), stopped);
    assert_eq!(recovered, head, "the store's checkpoint and the API's head");
    let indexed = check_crashed_index(&data, &root.join("snapshot"), recovered);
    assert_eq!(
        metric_height(metrics).unwrap(),
        recovered,
        "nothing stored while full"
    );
    eprintln!("disk full at height {recovered} of {HEAD} (index at {indexed:?})");

    // 4. Room again: the node resumes by itself and catches up.
    std::fs::remove_file(&filler).unwrap();
    let at_head = |name: &str| metric(metrics, name).is_ok_and(|h| h == HEAD);
    wait_for(
        &mut guard,
        &log,
        "the store, index and rules at the head",
        || {
            at_head("lookthrough_height")
                && at_head("lookthrough_stage_checkpoint{stage=\"index\"}")
                && at_head("lookthrough_stage_checkpoint{stage=\"rules\"}")
        },
    );
    assert_eq!(metric(metrics, "lookthrough_disk_faults").unwrap(), 0);
    assert_eq!(healthz(api)["status"], "ok");
    let (status, v) = support::post(&api_url, &token, read, serde_json::json!({}));
    assert_eq!(status, 200, "{v}");
    let opened = v["data"]["block"]["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["envelopeStatus"] == "OPENED")
        .inspect(|t| assert!(t["payload"]["memo"].is_string(), "{t}"))
        .count();
    assert!(opened > 0, "block 1 holds opened payloads: {v}");

    // Every metric the Grafana dashboard queries is served, with its type.
    let mut conn = TcpStream::connect_timeout(&api, Duration::from_secs(5)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        conn,
        "GET /metrics HTTP/1.0\r\nHost: {api}\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    .unwrap();
    let mut exposition = String::new();
    conn.read_to_string(&mut exposition).unwrap();
    assert!(exposition.starts_with("HTTP/1.0 200") || exposition.starts_with("HTTP/1.1 200"));
    let missing = support::grafana_metrics_missing_from(&exposition);
    assert!(missing.is_empty(), "not served: {missing:?}");

    // 5. Stopped cleanly, then checked whole.
    let term = Command::new("kill")
        .args(["-TERM", &guard.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let status = guard.wait_until(Instant::now() + DEADLINE, &log);
    drainer.join().unwrap();
    assert!(
        status.success(),
        "the node's exit ({status}):\n{}",
        log.tail()
    );
    drop(serve);
    assert_eq!(
        check_crashed_store(&store_dir, &root.join("snapshot"), HEAD),
        HEAD
    );
    let (seen, cp) = indexed_hashes(&data.join("index"));
    assert_eq!(
        (seen.len(), cp),
        (TXS, Some(HEAD)),
        "every transaction indexed once"
    );
    let out = lookthrough()
        .args(["audit", "verify", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "audit verify: {said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The one read answered, once: the withheld one left no entry.
    assert!(
        said.contains("audit log intact: 1 entries chained"),
        "{said}"
    );
}
