//! No endpoint can stall the node: beside an honest devnet endpoint, an
//! endpoint that answers one byte at a time, one that accepts connections
//! and never answers, one that answers 64 MiB, and one that claims a head
//! far ahead and serves nothing above the real one. Each run syncs a chain
//! of 1,500 transactions to its head, every transaction stored once, in at
//! most twice the time the honest endpoint alone takes in the same test.
//!
//! The hostile endpoints are real servers on loopback ports; the first
//! three serve the honest chain through a proxy until they misbehave, so
//! the node has every reason to trust them at first.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::routing::post;
use chain::CryptoSuite;
use devnet::server::SharedDevnet;
use futures_util::StreamExt;
use ingest::{Ingest, IngestConfig, Trust};
use privacy::at_rest::RecordSealer;
use serde_json::{Value, json};
use store::Store;
use testkit::TXS_PER_BLOCK;

mod support;

/// Blocks of the chain: 1,500 transactions.
const BLOCKS: usize = 1_500 / TXS_PER_BLOCK;

/// From this height on, the dripping endpoint answers blocks one byte at a
/// time.
const DRIP_FROM: i64 = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hostile {
    /// Answers `getBlockByNumber` from [`DRIP_FROM`] on one byte every 50 ms.
    Drip,
    /// Accepts connections and never answers.
    Silent,
    /// Answers every call with 64 MiB.
    Huge,
    /// Claims a head 1,000 blocks ahead; serves nothing above the real one.
    AheadOfItself,
}

#[derive(Clone)]
struct Proxy {
    upstream: String,
    kind: Hostile,
    http: reqwest::Client,
}

async fn proxied(State(p): State<Proxy>, body: Bytes) -> axum::response::Response {
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let method = request["method"].as_str().unwrap_or("").to_string();
    if p.kind == Hostile::Huge {
        // 64 chunks of 1 MiB, streamed (no length announced).
        let chunk = Bytes::from(vec![b' '; 1 << 20]);
        let stream = futures_util::stream::iter(
            (0..64).map(move |_| Ok::<_, std::io::Error>(chunk.clone())),
        );
        return axum::response::Response::new(Body::from_stream(stream));
    }
    let answer = p
        .http
        .post(&p.upstream)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    match (p.kind, method.as_str()) {
        (Hostile::AheadOfItself, "getBlockNumber") => {
            let mut v: Value = serde_json::from_slice(&answer).unwrap();
            let head = v["result"].as_i64().unwrap();
            v["result"] = json!(head + 1_000);
            axum::response::Response::new(Body::from(v.to_string()))
        }
        (Hostile::Drip, "getBlockByNumber")
            if request["params"][2].as_i64().unwrap_or(0) >= DRIP_FROM =>
        {
            let bytes: Vec<u8> = answer.to_vec();
            let stream = futures_util::stream::iter(bytes).then(|b| async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Ok::<_, std::io::Error>(Bytes::from(vec![b]))
            });
            axum::response::Response::new(Body::from_stream(stream))
        }
        _ => axum::response::Response::new(Body::from(answer)),
    }
}

/// A hostile endpoint in front of `upstream`, on a fresh port.
async fn hostile(kind: Hostile, upstream: &str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    if kind == Hostile::Silent {
        // Accepts every connection and holds it, reading and writing nothing.
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        return url;
    }
    let app = axum::Router::new()
        .route("/", post(proxied))
        .with_state(Proxy {
            upstream: upstream.to_string(),
            kind,
            http: reqwest::Client::new(),
        });
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// What the tests keep of the chain the devnet serves.
struct Chain {
    workload: devnet::workload::Workload,
    committee: Vec<chain::verify::Sealer>,
    hashes: Vec<chain::hexbytes::Hash>,
}

/// Syncs the chain from `endpoints` into a fresh store until it holds the
/// head (no stop height: a claimed head above it must not matter); returns
/// the time taken and the store.
async fn sync(
    endpoints: Vec<String>,
    chain: &Chain,
    head: i64,
) -> (Duration, Arc<Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let ring = testkit::keyring(&chain.workload);
    let sealer = RecordSealer::from_keyring(&ring).unwrap();
    let mut config = IngestConfig::new(
        endpoints,
        "group0",
        CryptoSuite::Sm,
        Trust::Genesis(chain.committee.clone()),
    );
    config.request_timeout = Duration::from_secs(3);
    config.poll_interval = Duration::from_millis(20);
    config.backoff_initial = Duration::from_millis(10);
    config.backoff_max = Duration::from_millis(200);
    // Every stored block's hash is asked of both endpoints too: the
    // cross-check must not let a hostile endpoint slow the sync either.
    config.confirm = 2;
    let ingest = Ingest::new(config, store.clone(), Arc::new(ring), Arc::new(sealer)).unwrap();
    let mut stored = store.subscribe();
    let started = Instant::now();
    let (took_tx, took_rx) = tokio::sync::oneshot::channel();
    let done = async move {
        stored.wait_for(|h| *h >= Some(head)).await.unwrap();
        let _ = took_tx.send(started.elapsed());
    };
    // The run ends after the last cross-checks, each within the request
    // deadline; the sync's time is the time to the head.
    tokio::time::timeout(Duration::from_secs(300), ingest.run(done))
        .await
        .expect("the sync did not reach the head within 300 s")
        .unwrap();
    (took_rx.await.unwrap(), store, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_endpoint_stalls_the_sync() {
    let made = testkit::chain(21, BLOCKS);
    let head = made.devnet.head();
    let chain = Chain {
        workload: made.workload,
        committee: made.devnet.committee(),
        hashes: (0..=head)
            .map(|h| made.devnet.block(h).unwrap().header.claimed_hash)
            .collect(),
    };
    let devnet: SharedDevnet = Arc::new(tokio::sync::RwLock::new(made.devnet));
    let honest = support::serve_devnet(&devnet, None).await;

    // The honest endpoint alone: once to warm the caches, then the median
    // of three runs (the machine is shared; one run can be unlucky).
    let _ = sync(vec![honest.clone()], &chain, head).await;
    let mut runs = Vec::new();
    for _ in 0..3 {
        runs.push(sync(vec![honest.clone()], &chain, head).await.0);
    }
    runs.sort();
    let alone = runs[1];

    for kind in [
        Hostile::Drip,
        Hostile::Silent,
        Hostile::Huge,
        Hostile::AheadOfItself,
    ] {
        let bad = hostile(kind, &honest).await;
        let (took, store, _dir) = sync(vec![bad.clone(), honest.clone()], &chain, head).await;
        // Every transaction once, the honest chain's blocks.
        assert_eq!(store.checkpoint().unwrap(), Some(head), "{kind:?}");
        let stored: i64 = store.class_counts().unwrap().values().sum();
        assert_eq!(stored as usize, head as usize * TXS_PER_BLOCK, "{kind:?}");
        assert_eq!(stored, 1_500 - (1_500 % TXS_PER_BLOCK as i64), "{kind:?}");
        for h in [0, head / 2, head] {
            assert_eq!(
                store.block_hash(h).unwrap(),
                Some(chain.hashes[h as usize]),
                "{kind:?}: block {h}"
            );
        }
        // What the lying endpoints did is on record; the slow ones are not
        // findings (slowness is not a lie).
        let findings = store.findings().unwrap();
        match kind {
            Hostile::Drip | Hostile::Silent => {
                assert!(findings.is_empty(), "{kind:?}: {findings:?}");
            }
            Hostile::Huge => {
                assert!(
                    findings
                        .iter()
                        .all(|f| f.endpoint == bad && f.detail.contains("exceeds")),
                    "{kind:?}: {findings:?}"
                );
                assert!(!findings.is_empty(), "{kind:?}");
            }
            Hostile::AheadOfItself => {
                assert!(
                    findings
                        .iter()
                        .all(|f| f.endpoint == bad && f.check == "withheld-block"),
                    "{kind:?}: {findings:?}"
                );
            }
        }
        let ratio = took.as_secs_f64() / alone.as_secs_f64();
        println!(
            "{kind:?}: {:.2} s against {:.2} s honest alone: {ratio:.2}×",
            took.as_secs_f64(),
            alone.as_secs_f64()
        );
        assert!(
            ratio <= 2.0,
            "{kind:?}: {took:?} against {alone:?} with the honest endpoint alone ({ratio:.2}×)"
        );
    }
}
