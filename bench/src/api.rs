//! `lookthrough-bench api`: the GraphQL API under load, and its overhead
//! over calling the index directly.
//!
//! A session-key devnet chain of `--txs` transactions is generated, its
//! envelopes opened and its blocks committed to a fresh store, as the node
//! would (verification is measured by `lookthrough-bench ingest`), and indexed. The API
//! is served on loopback with an analyst's token (rate limit lifted) and
//! driven by N client tasks, each over its own keep-alive connection, for
//! `--seconds` per level, with this mix, parameters drawn from the chain:
//!
//! - `search`: `transactions(search: WORD, first: 20)` with hash, height,
//!   time and envelope status; WORD one of 汇款, 货款, 跨境汇款, 运费,
//!   invoice, settlement;
//! - `search+filter`: the same with a currency and an amount range,
//!   largest amount first;
//! - `transaction`: `transaction(hash)` with its block and decrypted payload
//!   (an audited read: one synced append to the audit log);
//! - `account`: `account(address)` with its transaction count and top
//!   five counterparties;
//! - `stats`: `stats` volume per day over the whole chain;
//! - `blocks`: the ten newest blocks.
//!
//! In the same run, the `search` and `search+filter` requests are also
//! made through `Search::search` directly, one at a time; the ratio of the
//! API's single-client p50 to that is the GraphQL overhead (HTTP, parsing,
//! validation, resolvers, the store reads behind each hit).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chain::hexbytes::encode0x;
use chain::model::BlockTransactions;
use indexer::search::{Filter, Range, Search, SearchRequest, Sort, SortBy};
use indexer::{Indexer, IndexerConfig, TxIndex};
use node::api::{ApiOptions, ApiParts};
use privacy::at_rest::RecordSealer;
use privacy::keys::PrivateKey;
use query_api::auth::{Role, create_token};
use query_api::server::Limits;
use serde_json::{Value, json};
use store::Store;

use crate::freshness::session_chain;
use crate::search::parse_count;

/// Options of `lookthrough-bench api`.
#[derive(clap::Args, Debug, Clone)]
pub struct ApiBenchOpts {
    /// Transactions in the chain (`200k`, `1M`).
    #[arg(long, value_parser = parse_count, default_value = "1M")]
    pub txs: u64,
    /// Transactions per block.
    #[arg(long, default_value_t = 500)]
    pub txs_per_block: usize,
    /// Concurrent clients, one level after another.
    #[arg(long, value_delimiter = ',', default_value = "1,4,16")]
    pub clients: Vec<usize>,
    /// Seconds of load per level.
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
}

const KINDS: [&str; 6] = [
    "search",
    "search+filter",
    "transaction",
    "account",
    "stats",
    "blocks",
];
const WORDS: [&str; 6] = ["汇款", "货款", "跨境汇款", "运费", "invoice", "settlement"];
const CURRENCIES: [(&str, &str, &str); 3] = [
    ("CNY", "100000", "10000000"),
    ("USD", "10000", "1000000"),
    ("HKD", "1000", "500000"),
];

/// What requests are made of: hashes and parties drawn from the chain.
pub(crate) struct Samples {
    /// Transaction hashes.
    pub hashes: Vec<String>,
    /// Sender addresses.
    pub parties: Vec<String>,
}

/// One request of the mix: its kind, query and variables.
fn request(kind: usize, i: usize, s: &Samples) -> (&'static str, Value) {
    let word = WORDS[i % WORDS.len()];
    match KINDS[kind] {
        "search" => (
            "query($q: String) { transactions(search: $q, first: 20) { totalCount edges { node { hash height time envelopeStatus } } } }",
            json!({ "q": word }),
        ),
        "search+filter" => {
            let (cur, min, max) = CURRENCIES[i % CURRENCIES.len()];
            (
                "query($q: String, $c: String, $min: String, $max: String) { transactions(search: $q, filter: {currency: $c, amountRange: {min: $min, max: $max}}, order: {field: AMOUNT}, first: 20) { totalCount edges { node { hash height time envelopeStatus } } } }",
                json!({ "q": word, "c": cur, "min": min, "max": max }),
            )
        }
        "transaction" => (
            "query($h: String!) { transaction(hash: $h) { hash height envelopeStatus block { height time } payload { memo amount currency payer payee } } }",
            json!({ "h": s.hashes[i % s.hashes.len()] }),
        ),
        "account" => (
            "query($a: String!) { account(address: $a) { transactionCount counterparties(first: 5) { buckets { key count amount } } } }",
            json!({ "a": s.parties[i % s.parties.len()] }),
        ),
        "stats" => (
            "{ stats { totalCount volume { start count amount } } }",
            json!({}),
        ),
        _ => (
            "{ blocks(first: 10) { edges { node { height hash time signatureCount } } } }",
            json!({}),
        ),
    }
}

/// The direct index request matching an API search request.
fn direct(kind: usize, i: usize) -> SearchRequest {
    let word = WORDS[i % WORDS.len()];
    let mut req = SearchRequest {
        query: Some(word.to_string()),
        first: 20,
        ..Default::default()
    };
    if KINDS[kind] == "search+filter" {
        let (cur, min, max) = CURRENCIES[i % CURRENCIES.len()];
        req.filter = Filter {
            currency: Some(cur.to_string()),
            amount: Range::new(
                records::Money::parse(min).map(records::Money::hundredths),
                records::Money::parse(max).map(records::Money::hundredths),
            ),
            ..Default::default()
        };
        req.sort = Sort {
            by: SortBy::Amount,
            descending: true,
        };
    }
    req
}

pub(crate) fn bar(len: u64, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{what} [{{bar:40}}] {{pos}}/{{len}} (eta {{eta}})"
        ))
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

/// Generates a chain of `txs` transactions into `store` and indexes it;
/// returns its record sealer and samples.
pub(crate) fn build(
    txs: u64,
    txs_per_block: usize,
    store: &Arc<Store>,
    index: &Arc<TxIndex>,
) -> Result<(Arc<RecordSealer>, Samples)> {
    let mut chain = session_chain(7)?;
    let sealer = chain.sealer.clone();
    let blocks = txs.div_ceil(txs_per_block as u64) as i64;
    let progress = bar(blocks as u64, "generating, opening and storing blocks");
    let mut hashes = Vec::new();
    let mut parties = std::collections::BTreeSet::new();
    for h in 0..=blocks {
        let commit = chain.next_commit(h, txs_per_block)?;
        progress.inc(u64::from(h > 0));
        if h % 7 == 1
            && let BlockTransactions::Full(txs) = &commit.block.transactions
        {
            hashes.extend(txs.iter().take(5).map(|t| encode0x(&t.claimed_hash)));
            parties.extend(
                txs.iter()
                    .filter_map(|t| t.claimed_from)
                    .take(3)
                    .map(|a| encode0x(&a)),
            );
        }
        store.commit(&commit)?;
    }
    progress.finish_and_clear();
    let progress = bar(blocks as u64, "indexing");
    let mut ix = Indexer::new(
        index.clone(),
        store.clone(),
        sealer.clone(),
        IndexerConfig {
            threads: 2,
            heap_bytes: 512 << 20,
            ..Default::default()
        },
    )?;
    ix.catch_up(blocks, &mut |h| progress.set_position(h.max(0) as u64))?;
    ix.commit()?;
    progress.finish_and_clear();
    if hashes.is_empty() || parties.is_empty() {
        bail!("the chain is too short to sample from");
    }
    Ok((
        sealer,
        Samples {
            hashes,
            parties: parties.into_iter().collect(),
        },
    ))
}

#[derive(Default)]
struct Level {
    /// Seconds per request, by kind.
    latency: BTreeMap<usize, Vec<f64>>,
    errors: u64,
    wall: f64,
}

async fn drive(
    url: &str,
    token: &str,
    clients: usize,
    seconds: u64,
    samples: &Arc<Samples>,
) -> Level {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let url = url.to_string();
        let auth = format!("Bearer {token}");
        let samples = samples.clone();
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut out: Vec<(usize, f64, bool)> = Vec::new();
            let mut i = c * 7919;
            while Instant::now() < deadline {
                let kind = i % KINDS.len();
                let (query, variables) = request(kind, i / KINDS.len(), &samples);
                let t = Instant::now();
                let ok = match http
                    .post(&url)
                    .header("authorization", &auth)
                    .json(&json!({ "query": query, "variables": variables }))
                    .send()
                    .await
                {
                    Ok(resp) if resp.status().is_success() => resp
                        .json::<Value>()
                        .await
                        .is_ok_and(|v| v["errors"].is_null() && !v["data"].is_null()),
                    _ => false,
                };
                out.push((kind, t.elapsed().as_secs_f64(), ok));
                i += 1;
            }
            out
        }));
    }
    let mut level = Level::default();
    for t in tasks {
        for (kind, secs, ok) in t.await.unwrap_or_default() {
            level.latency.entry(kind).or_default().push(secs);
            if !ok {
                level.errors += 1;
            }
        }
    }
    level.wall = started.elapsed().as_secs_f64();
    level
}

pub(crate) fn ms(v: f64) -> String {
    if v.is_nan() {
        "–".into()
    } else if v < 0.01 {
        format!("{:.2} ms", v * 1e3)
    } else {
        format!("{:.1} ms", v * 1e3)
    }
}

/// A generated chain, stored and indexed in a temporary directory.
pub(crate) struct FreshChain {
    /// Removed when dropped.
    pub dir: tempfile::TempDir,
    /// The store.
    pub store: Arc<Store>,
    /// The index.
    pub index: Arc<TxIndex>,
    /// Its record sealer.
    pub sealer: Arc<RecordSealer>,
    /// Hashes and parties to ask for.
    pub samples: Samples,
    /// Seconds it took to build.
    pub build_secs: f64,
}

/// Builds a chain of `txs` transactions in a new temporary directory named
/// from `prefix`.
pub(crate) fn fresh_chain(prefix: &str, txs: u64, txs_per_block: usize) -> Result<FreshChain> {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .context("cannot create a temporary directory")?;
    let store = Arc::new(Store::open(&dir.path().join("store"))?);
    let index = Arc::new(TxIndex::open(&dir.path().join("index"))?);
    let t = Instant::now();
    let (sealer, samples) = build(txs, txs_per_block, &store, &index)?;
    Ok(FreshChain {
        dir,
        store,
        index,
        sealer,
        samples,
        build_secs: t.elapsed().as_secs_f64(),
    })
}

/// The API and the dashboards over `store` and `search` as the node wires
/// them (`node::api::ApiParts`), with a fresh node key, the rate limit
/// lifted, and a token of `role`.
pub(crate) fn bench_server(
    store: &Arc<Store>,
    search: Arc<Search>,
    sealer: Arc<RecordSealer>,
    role: Role,
) -> Result<(ApiParts, zeroize::Zeroizing<String>)> {
    let node_key = Arc::new(PrivateKey::generate()?);
    let (_, token) = create_token(store, &format!("bench {role}"), role, 0)?;
    let options = ApiOptions {
        suite: chain::CryptoSuite::Sm,
        chains: Vec::new(),
        limits: Limits {
            rate_per_second: std::num::NonZeroU32::MAX,
            burst: std::num::NonZeroU32::MAX,
            ..Limits::default()
        },
        jwt: None,
        dashboards: dashboards::Settings {
            secure_cookies: false,
            ..Default::default()
        },
        endpoints: None,
        keyring: None,
        watchlists_dir: None,
    };
    let parts = ApiParts::build(store.clone(), search, sealer, Some(node_key), options, None)?;
    Ok((parts, zeroize::Zeroizing::new(token.as_str().to_string())))
}

/// Runs the benchmark.
pub fn api(opts: &ApiBenchOpts) -> Result<ExitCode> {
    if opts.txs_per_block == 0 || opts.seconds == 0 || opts.clients.contains(&0) {
        bail!("--txs-per-block, --seconds and --clients must be positive");
    }
    let chain = fresh_chain("lookthrough-bench-api-", opts.txs, opts.txs_per_block)?;
    let (store, index, sealer, samples) = (chain.store, chain.index, chain.sealer, chain.samples);
    let build_secs = chain.build_secs;
    let total: i64 = store.class_counts()?.values().sum();
    eprintln!("{total} transactions stored and indexed in {build_secs:.1} s");

    let search = Arc::new(Search::new(index));
    let (parts, token) = bench_server(&store, search.clone(), sealer, Role::Analyst)?;
    let samples = Arc::new(samples);

    // The index directly: the search kinds, one at a time.
    let mut direct_latency: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
    for round in 0..3 {
        for i in 0..200 {
            for kind in [0, 1] {
                let req = direct(kind, i);
                let t = Instant::now();
                search.search(&req)?;
                if round > 0 {
                    direct_latency
                        .entry(kind)
                        .or_default()
                        .push(t.elapsed().as_secs_f64());
                }
            }
        }
    }

    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let levels = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/graphql", listener.local_addr()?);
        let app = parts.app();
        tokio::spawn(async move { axum::serve(listener, app).await });
        // Warm up: every kind a few times.
        drive(&url, &token, 2, 2, &samples).await;
        let mut levels = Vec::new();
        for &c in &opts.clients {
            eprintln!("{c} client(s) for {} s", opts.seconds);
            levels.push((c, drive(&url, &token, c, opts.seconds, &samples).await));
        }
        Ok::<_, anyhow::Error>(levels)
    })?;

    println!("## GraphQL API at {total} transactions\n");
    println!(
        "Chain built (generated, opened, stored, indexed) in {build_secs:.1} s. Each level runs {} s after a 2 s warm-up; latency is the client's, request to parsed answer.\n",
        opts.seconds
    );
    println!(
        "| clients | requests | errors | requests/s | p50 | p99 | {} |",
        KINDS
            .iter()
            .map(|k| format!("{k} p50 / p99"))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!("|---|---|---|---|---|---|{}", "---|".repeat(KINDS.len()));
    let mut single: BTreeMap<usize, f64> = BTreeMap::new();
    for (c, level) in &levels {
        let all: Vec<f64> = level.latency.values().flatten().copied().collect();
        let n = all.len();
        let p50 = crate::latency::secs(&all, 50.0);
        let p99 = crate::latency::secs(&all, 99.0);
        let mut per = Vec::new();
        for k in 0..KINDS.len() {
            let v = level.latency.get(&k).cloned().unwrap_or_default();
            let k50 = crate::latency::secs(&v, 50.0);
            let k99 = crate::latency::secs(&v, 99.0);
            if *c == 1 {
                single.insert(k, k50);
            }
            per.push(format!("{} / {}", ms(k50), ms(k99)));
        }
        println!(
            "| {c} | {n} | {} | {:.0} | {} | {} | {} |",
            level.errors,
            n as f64 / level.wall,
            ms(p50),
            ms(p99),
            per.join(" | ")
        );
    }
    println!(
        "\n| search kind | index directly, p50 | through GraphQL (1 client), p50 | GraphQL ÷ direct |"
    );
    println!("|---|---|---|---|");
    for (kind, v) in &direct_latency {
        let d = crate::latency::secs(v, 50.0);
        match single.get(kind) {
            Some(g) => println!(
                "| {} | {} | {} | {:.2}× |",
                KINDS[*kind],
                ms(d),
                ms(*g),
                g / d
            ),
            None => println!("| {} | {} | – | – |", KINDS[*kind], ms(d)),
        }
    }
    println!(
        "\n{} audit entries were appended (one per `transaction` request, and per search whose hits included private transactions).",
        parts.audit.len()
    );
    println!(
        "\nCommand: `lookthrough-bench api --txs {} --txs-per-block {} --clients {} --seconds {}`",
        opts.txs,
        opts.txs_per_block,
        opts.clients
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(","),
        opts.seconds
    );
    let errors: u64 = levels.iter().map(|(_, l)| l.errors).sum();
    if errors > 0 {
        eprintln!("{errors} requests failed");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
