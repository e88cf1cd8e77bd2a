//! `lookthrough-bench ingest`: the ingest pipeline's throughput over a
//! generated chain served on loopback, next to the machine's SM2-decryption
//! and SM2-verification floors measured on the same cores in the same run,
//! and, after a full sync, the search index's floor (the synced documents
//! indexed alone, one commit): together the rate no pipeline that verifies
//! and indexes every transaction can pass on these cores.
//!
//! Two traffic shapes: every transaction supervised with a fresh data key
//! (one SM2 wrap for the regulator per transaction), and the same traffic
//! with sealing sessions (a data key reused per payer/payee pair, so the
//! keyring's cache answers almost every envelope).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chain::CryptoSuite;
use chain::model::BlockTransactions;
use devnet::server::{AppState, serve};
use devnet::signer::NodeKey;
use devnet::workload::{Workload, WorkloadConfig};
use devnet::{ChainConfig, Devnet, store};
use ingest::{IngestConfig, Trust};
use privacy::keyring::Keyring;
use privacy::keys::PrivateKey;
use privacy::pke::{CipherFormat, encrypt};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use node::Node;

/// Options of `lookthrough-bench ingest`.
#[derive(clap::Args, Debug, Clone)]
pub struct IngestBenchOpts {
    /// Transactions in each generated chain.
    #[arg(long, default_value_t = 200_000)]
    pub txs: usize,
    /// Transactions per block.
    #[arg(long, default_value_t = 500)]
    pub txs_per_block: usize,
    /// Blocks in flight in the pipeline.
    #[arg(long, default_value_t = 8)]
    pub in_flight: usize,
    /// Which traffic to run: `wrap`, `session` or `both`.
    #[arg(long, default_value = "both", value_parser = ["wrap", "session", "both"])]
    pub traffic: String,
    /// Keep generated chains here and reuse them on the next run.
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
    /// Receipts fetched at once per block (0: none kept).
    #[arg(long, default_value_t = 32)]
    pub receipt_concurrency: usize,
    /// Also sync each chain without receipts, in the same run, to give
    /// their cost as a ratio.
    #[arg(long)]
    pub compare_receipts: bool,
    /// What runs: `ingest` (fetch, verify, open, store), `full` (that, the
    /// search index and the built-in alert rules, until all three reach the
    /// head) or `both`, one after the other.
    #[arg(long, default_value = "full", value_parser = ["ingest", "full", "both"])]
    pub pipeline: String,
    /// The search index's indexing memory, MiB (the node's `index.memory_mb`).
    #[arg(long, default_value_t = 64)]
    pub index_memory_mb: usize,
    /// Also sync the same total as this many chains at once (each with
    /// `--txs` ÷ N transactions and its own keys) into one node, in turns
    /// with the one chain, and give the ratio (1: not measured).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=16))]
    pub chains: u8,
}

#[derive(Clone, Copy)]
enum Shape {
    Wrap,
    Session,
}

impl Shape {
    fn name(self) -> &'static str {
        match self {
            Shape::Wrap => "one SM2 wrap per tx",
            Shape::Session => "session keys",
        }
    }
    fn dir(self) -> &'static str {
        match self {
            Shape::Wrap => "wrap",
            Shape::Session => "session",
        }
    }
}

/// Builds (or loads from `cache`) a chain of `txs` supervised transactions.
fn chain(shape: Shape, opts: &IngestBenchOpts) -> Result<(Devnet, PrivateKey)> {
    chain_of(shape, opts, opts.txs, 0)
}

/// Builds (or loads from `cache`) chain number `n` (its own keys and
/// traffic; 0 is [`chain`]'s) of `txs` supervised transactions.
fn chain_of(
    shape: Shape,
    opts: &IngestBenchOpts,
    txs: usize,
    n: u64,
) -> Result<(Devnet, PrivateKey)> {
    let cached = opts.cache.as_ref().map(|c| {
        let base = format!("{}-{}-{}", shape.dir(), txs, opts.txs_per_block);
        c.join(if n == 0 { base } else { format!("{base}-c{n}") })
    });
    if let Some(dir) = &cached
        && dir.join("devnet.json").exists()
    {
        eprintln!("loading the {} chain from {}", shape.name(), dir.display());
        let devnet = store::load(dir)?;
        let key = PrivateKey::from_pem_file(&dir.join("regulator.pem"), None)?;
        return Ok((devnet, key));
    }
    let suite = CryptoSuite::Sm;
    let mut rng = ChaCha20Rng::seed_from_u64(7 + n * 1_000);
    let sealers = (0..4)
        .map(|_| NodeKey::generate(suite, &mut rng))
        .collect::<Result<Vec<_>, _>>()?;
    let config = ChainConfig::new(suite, 4);
    let workload_config = WorkloadConfig {
        public_share: 0.0,
        not_for_us_share: 0.0,
        inconsistent_share: 0.0,
        session_reuse: matches!(shape, Shape::Session),
        ..WorkloadConfig::default()
    };
    let mut workload = Workload::new(
        workload_config,
        suite,
        &config.chain_id,
        &config.group_id,
        8 + n * 1_000,
    )?;
    let mut devnet = Devnet::new(config, sealers)?;
    let bar = indicatif::ProgressBar::new(txs as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "generating {msg}: [{bar:40}] {pos}/{len} tx ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(shape.name());
    let mut left = txs;
    while left > 0 {
        let n = left.min(opts.txs_per_block);
        let ts = workload.next_timestamp();
        workload.generate_block(&mut devnet, n, ts)?;
        left -= n;
        bar.inc(n as u64);
    }
    bar.finish_and_clear();
    let scalar = workload.regulator_key().to_scalar_bytes();
    let key = PrivateKey::from_scalar_bytes(&*scalar)?;
    if let Some(dir) = &cached {
        store::save(&devnet, dir)?;
        node::keys::write_private(&dir.join("regulator.pem"), key.to_pkcs8_pem()?.as_bytes())?;
    }
    Ok((devnet, key))
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Runs `work(i)` for i in 0..n on every core; returns operations per second.
fn parallel_rate(n: usize, work: impl Fn(usize) + Sync) -> f64 {
    let t = threads();
    let start = Instant::now();
    std::thread::scope(|s| {
        for k in 0..t {
            let work = &work;
            s.spawn(move || {
                let mut i = k;
                while i < n {
                    work(i);
                    i += t;
                }
            });
        }
    });
    n as f64 / start.elapsed().as_secs_f64()
}

/// SM2 decryptions of a 16-byte data key per second, on every core.
fn decrypt_floor(key: &PrivateKey, n: usize) -> Result<f64> {
    let wraps = (0..n.min(2_000))
        .map(|i| {
            encrypt(
                key.public_key(),
                &(i as u128).to_be_bytes(),
                CipherFormat::Der,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(parallel_rate(n, |i| {
        let ok = key
            .decrypt(&wraps[i % wraps.len()], CipherFormat::Der)
            .is_ok();
        std::hint::black_box(ok);
    }))
}

/// Transaction verifications per second, on every core.
#[derive(Clone, Copy)]
struct VerifyFloor {
    /// Hash and signature as ingest checks them: 64 at a time
    /// (`CryptoSuite::verify_tx_signatures`, the fast path).
    fast: f64,
    /// Hash and the `sm2` crate's own `VerifyingKey::verify`, the path
    /// before the fast one.
    crate_path: f64,
}

fn verify_floor(devnet: &Devnet, n: usize) -> VerifyFloor {
    let mut txs = Vec::new();
    for h in 1..=devnet.head() {
        if let Some(b) = devnet.block(h)
            && let BlockTransactions::Full(ts) = &b.transactions
        {
            txs.extend(ts.iter().cloned());
        }
        if txs.len() >= 2_048 {
            break;
        }
    }
    if txs.is_empty() {
        return VerifyFloor {
            fast: 0.0,
            crate_path: 0.0,
        };
    }
    let suite = CryptoSuite::Sm;
    let chunks: Vec<&[chain::model::Transaction]> = txs.chunks(chain::sm2verify::BATCH).collect();
    let batches = n.div_ceil(chain::sm2verify::BATCH);
    let fast = parallel_rate(batches, |i| {
        let chunk = chunks[i % chunks.len()];
        let hashes: Vec<_> = chunk
            .iter()
            .map(|t| chain::hashing::transaction_hash(suite, t))
            .collect();
        let items: Vec<(&[u8; 32], &[u8])> = hashes
            .iter()
            .zip(chunk)
            .map(|(h, t)| (h, t.signature.as_slice()))
            .collect();
        let ok = suite.verify_tx_signatures(&items).iter().all(Result::is_ok);
        std::hint::black_box(ok);
    }) * chain::sm2verify::BATCH as f64;
    let crate_path = parallel_rate(n / 4, |i| {
        let t = &txs[i % txs.len()];
        let hash = chain::hashing::transaction_hash(suite, t);
        let public: Option<&[u8; 64]> = t.signature.get(64..).and_then(|p| p.try_into().ok());
        let ok = public.is_some_and(|public| {
            chain::sm2verify::Sm2Check {
                msg: &hash,
                signature: &t.signature[..64],
                public,
            }
            .verify_reference()
        });
        std::hint::black_box(ok);
    });
    VerifyFloor { fast, crate_path }
}

/// One measured sync.
struct Row {
    shape: Shape,
    full: bool,
    receipts: usize,
    sync: Synced,
    decrypt: f64,
    verify: VerifyFloor,
}

/// Syncs a fresh store from a loopback server of each chain of `chains`
/// (one, or several at once into one node: each followed by its own
/// pipeline, the index and the rules over all of them); with `full`, the
/// index and the rule engine too, until every one of them has reached the
/// heads. Returns tx/s, the envelopes opened and the time.
async fn ingest_rate_of(
    chains: Vec<(Devnet, PrivateKey)>,
    in_flight: usize,
    receipt_concurrency: usize,
    full: bool,
    index_memory_mb: usize,
    data: &Path,
) -> Result<Synced> {
    let several = chains.len() > 1;
    let heads: Vec<i64> = chains.iter().map(|(d, _)| d.head()).collect();
    let positions: i64 = heads.iter().map(|h| h + 1).sum::<i64>() - 1;
    let txs: usize = chains
        .iter()
        .map(|(devnet, _)| {
            (1..=devnet.head())
                .filter_map(|h| devnet.block(h))
                .map(|b| match &b.transactions {
                    BlockTransactions::Full(t) => t.len(),
                    _ => 0,
                })
                .sum::<usize>()
        })
        .sum();
    // The chain's server runs on threads of its own, so that what the node
    // itself spends can be told apart (a real chain node is another machine).
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(SERVER_THREADS)
        .enable_all()
        .build()
        .context("cannot start the chain server's runtime")?;
    let mut keyring = Keyring::new();
    let mut specs = Vec::new();
    for (i, (devnet, key)) in chains.into_iter().enumerate() {
        let head = devnet.head();
        let committee = devnet.committee();
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let url = format!("http://{}/", listener.local_addr()?);
        let state = AppState::new(Arc::new(tokio::sync::RwLock::new(devnet)), None);
        server.spawn(async move {
            match tokio::net::TcpListener::from_std(listener) {
                Ok(l) => {
                    if let Err(e) = serve(l, state, std::future::pending()).await {
                        eprintln!("the chain server stopped: {e}");
                    }
                }
                Err(e) => eprintln!("the chain server cannot listen: {e}"),
            }
        });
        keyring.add(format!("bench regulator key {i}"), key)?;
        let mut config = IngestConfig::new(
            vec![url],
            "group0",
            CryptoSuite::Sm,
            Trust::Genesis(committee),
        );
        config.in_flight = in_flight;
        config.receipt_concurrency = receipt_concurrency;
        config.stop_at = Some(head);
        specs.push(node::ChainSpec {
            id: if several {
                format!("c{i}")
            } else {
                node::config::DEFAULT_CHAIN_ID.to_owned()
            },
            ingest: config,
        });
    }
    let index = full.then(|| indexer::IndexerConfig {
        stop_at: Some(positions),
        heap_bytes: index_memory_mb << 20,
        ..indexer::IndexerConfig::default()
    });
    let mut node = Node::open_chains(specs, data, keyring, index)?;
    if full {
        node = node.with_policies(None, None, &[], Some(positions))?;
    }
    let index_stats = node.index_stats();
    let policy_stats = node.policy_stats();
    let all_stats: Vec<_> = node.chains.iter().map(|c| c.ingest.stats()).collect();
    let bar = indicatif::ProgressBar::new(heads.iter().map(|h| *h as u64).sum());
    let progress = {
        let bar = bar.clone();
        let all_stats = all_stats.clone();
        tokio::spawn(async move {
            loop {
                bar.set_position(
                    all_stats
                        .iter()
                        .map(|s| s.height.load(std::sync::atomic::Ordering::Relaxed).max(0) as u64)
                        .sum(),
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    let (cpu_before, server_before) = cpu_seconds(SERVER_THREADS);
    let start = Instant::now();
    if full {
        node.run(std::future::pending()).await?;
    } else {
        let runs = node
            .chains
            .iter()
            .map(|c| c.ingest.run(std::future::pending()));
        for r in futures_util::future::join_all(runs).await {
            r?;
        }
    }
    let took = start.elapsed();
    let (cpu_after, server_after) = cpu_seconds(SERVER_THREADS);
    server.shutdown_background();
    let server_cpu = server_after - server_before;
    let node_cpu = (cpu_after - cpu_before - server_cpu).max(0.0);
    progress.abort();
    bar.finish_and_clear();
    for (c, head) in node.chains.iter().zip(&heads) {
        if c.store.checkpoint()? != Some(*head) {
            bail!("the sync of chain {} stopped before the head", c.id);
        }
    }
    if let Some(ix) = &index_stats {
        let docs = ix.docs.load(std::sync::atomic::Ordering::Relaxed);
        if docs != txs as u64 {
            bail!("the index holds {docs} documents of {txs} transactions");
        }
    }
    if let Some(p) = &policy_stats {
        let evaluated = p.transactions.load(std::sync::atomic::Ordering::Relaxed);
        if evaluated != txs as u64 {
            bail!("the rules saw {evaluated} of {txs} transactions");
        }
    }
    let opened = all_stats
        .iter()
        .map(|s| s.opened.load(std::sync::atomic::Ordering::Relaxed))
        .sum();
    let index_floor = if full {
        let floor = index_floor(&node, positions, index_memory_mb << 20)?;
        if floor.docs != txs as u64 {
            bail!(
                "the index floor read {} documents of {txs} transactions",
                floor.docs
            );
        }
        Some(floor)
    } else {
        None
    };
    Ok(Synced {
        index_floor,
        rate: txs as f64 / took.as_secs_f64(),
        opened,
        took,
        node_cpu_us: node_cpu * 1e6 / txs.max(1) as f64,
        server_cpu_us: server_cpu * 1e6 / txs.max(1) as f64,
    })
}

/// What one sync measured.
struct Synced {
    rate: f64,
    opened: u64,
    took: Duration,
    /// CPU the node spent per transaction (all its threads), µs.
    node_cpu_us: f64,
    /// CPU the chain's server spent per transaction, µs.
    server_cpu_us: f64,
    /// The search index alone over the same documents (full pipeline only).
    index_floor: Option<IndexFloor>,
}

/// The search index's floor: what indexing alone costs at its best.
struct IndexFloor {
    docs: u64,
    /// Documents per second on every core.
    rate: f64,
    /// CPU per document (all threads), µs.
    cpu_us: f64,
}

/// Indexes the documents of `node`'s synced store (read, opened and
/// decoded beforehand, not timed) into a new index, on every core, with the
/// node's schema and indexing memory and one commit at the end: no fetching,
/// verification, store writes or rules, and no commits or merges on the
/// way. The documents' building from the stored records is timed, as the
/// indexer does it too.
fn index_floor(node: &Node, positions: i64, heap_bytes: usize) -> Result<IndexFloor> {
    let reader = records::BlockReader::alone(node.sealer.clone(), node.suite);
    let unreadable = std::sync::atomic::AtomicU64::new(0);
    let mut docs = Vec::new();
    for p in 0..=positions {
        if let Some(b) = reader.read(&node.store, p, &unreadable)? {
            docs.extend(b.docs.iter().cloned());
        }
    }
    let dir = tempfile::Builder::new()
        .prefix("lookthrough-bench-index-floor-")
        .tempdir()?;
    let index = indexer::TxIndex::open(dir.path())?;
    let fields = *index.fields();
    let (cpu_before, _) = cpu_seconds(SERVER_THREADS);
    let start = Instant::now();
    let mut writer = index.writer(threads(), heap_bytes)?;
    for d in &docs {
        writer.add_document(indexer::schema::to_document(d, &fields))?;
    }
    writer.commit()?;
    writer.wait_merging_threads()?;
    let took = start.elapsed();
    let (cpu_after, _) = cpu_seconds(SERVER_THREADS);
    let n = docs.len().max(1) as f64;
    Ok(IndexFloor {
        docs: docs.len() as u64,
        rate: n / took.as_secs_f64(),
        cpu_us: (cpu_after - cpu_before) * 1e6 / n,
    })
}

/// The name of the chain server's threads.
const SERVER_THREADS: &str = "devnet-server";

/// CPU seconds (user + system) this process has used, and those of its
/// live threads whose name starts with `prefix`, from `/proc` (Linux; zero
/// elsewhere). Clock ticks are taken as 100 per second (Linux's USER_HZ).
fn cpu_seconds(prefix: &str) -> (f64, f64) {
    fn ticks(stat: &str) -> Option<(String, u64)> {
        let open = stat.find('(')?;
        let close = stat.rfind(')')?;
        let name = stat.get(open + 1..close)?.to_string();
        let rest: Vec<&str> = stat.get(close + 2..)?.split(' ').collect();
        // Fields 14 and 15 (utime, stime), counted from 1 with the name as 2.
        let utime: u64 = rest.get(11)?.parse().ok()?;
        let stime: u64 = rest.get(12)?.parse().ok()?;
        Some((name, utime + stime))
    }
    let total = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| ticks(&s))
        .map_or(0, |(_, t)| t);
    let mut matching = 0;
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for t in tasks.flatten() {
            if let Some((name, t)) = std::fs::read_to_string(t.path().join("stat"))
                .ok()
                .and_then(|s| ticks(&s))
                && name.starts_with(prefix)
            {
                matching += t;
            }
        }
    }
    (total as f64 / 100.0, matching as f64 / 100.0)
}

/// `lookthrough-bench ingest`.
pub fn ingest(opts: &IngestBenchOpts) -> Result<ExitCode> {
    if opts.txs == 0 || opts.txs_per_block == 0 {
        bail!("--txs and --txs-per-block must be positive");
    }
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let mut rows = Vec::new();
    let pipelines: Vec<bool> = match opts.pipeline.as_str() {
        "ingest" => vec![false],
        "full" => vec![true],
        _ => vec![false, true],
    };
    let mut variants = Vec::new();
    for &full in &pipelines {
        variants.push((full, opts.receipt_concurrency));
        if opts.compare_receipts && opts.receipt_concurrency > 0 {
            variants.push((full, 0));
        }
    }
    for shape in [Shape::Wrap, Shape::Session] {
        if opts.traffic != "both" && opts.traffic != shape.dir() {
            continue;
        }
        let (devnet, key) = chain(shape, opts)?;
        eprintln!("measuring floors on {} threads", threads());
        let decrypt = decrypt_floor(&key, 20_000)?;
        let verify = verify_floor(&devnet, 20_000);
        let mut first = Some((devnet, key));
        for &(full, receipts) in &variants {
            let (devnet, key) = match first.take() {
                Some(c) => c,
                None => chain(shape, opts)?,
            };
            let data = tempfile::Builder::new()
                .prefix("lookthrough-bench-")
                .tempdir()?;
            eprintln!(
                "{} the {} chain ({} tx, receipt concurrency {receipts})",
                if full {
                    "syncing, indexing and evaluating"
                } else {
                    "ingesting"
                },
                shape.name(),
                opts.txs
            );
            let sync = runtime.block_on(ingest_rate_of(
                vec![(devnet, key)],
                opts.in_flight,
                receipts,
                full,
                opts.index_memory_mb,
                data.path(),
            ))?;
            rows.push(Row {
                shape,
                full,
                receipts,
                sync,
                decrypt,
                verify,
            });
        }
    }
    // The same total as several chains at once, in turns with one chain.
    let mut several = Vec::new();
    if opts.chains > 1 {
        let n = usize::from(opts.chains);
        for shape in [Shape::Wrap, Shape::Session] {
            if opts.traffic != "both" && opts.traffic != shape.dir() {
                continue;
            }
            for round in 0..2 {
                for multi in [false, true] {
                    let chains = if multi {
                        (0..n)
                            .map(|i| chain_of(shape, opts, opts.txs / n, i as u64 + 1))
                            .collect::<Result<Vec<_>>>()?
                    } else {
                        vec![chain(shape, opts)?]
                    };
                    let data = tempfile::Builder::new()
                        .prefix("lookthrough-bench-")
                        .tempdir()?;
                    eprintln!(
                        "round {}: {} of the {} traffic, full pipeline",
                        round + 1,
                        if multi {
                            format!("{n} chains of {} tx", opts.txs / n)
                        } else {
                            format!("one chain of {} tx", opts.txs)
                        },
                        shape.name()
                    );
                    let sync = runtime.block_on(ingest_rate_of(
                        chains,
                        opts.in_flight,
                        opts.receipt_concurrency,
                        true,
                        opts.index_memory_mb,
                        data.path(),
                    ))?;
                    several.push((shape, round, multi, sync));
                }
            }
        }
    }
    // The yardstick of issue 18: OpenSSL's SM2 verification on one core,
    // measured now, on this machine.
    let openssl = openssl_sm2_verify_per_second();
    match &openssl {
        Ok((rate, version)) => println!(
            "OpenSSL one-core SM2 verify: {rate:.0}/s ({version}, `openssl speed -seconds 3 sm2`)"
        ),
        Err(e) => println!("OpenSSL one-core SM2 verify: not measured ({e:#})"),
    }
    println!(
        "| traffic | pipeline | receipts | tx | tx/s | ÷ OpenSSL one-core verify | tx verify/s (crate's verify) | SM2 decrypt/s | verify+decrypt floor tx/s | ÷ that floor | node CPU µs/tx | server CPU µs/tx | opened | time |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        // What each transaction must cost at least: its signature check,
        // and for a fresh wrap one SM2 decryption.
        let floor = match r.shape {
            Shape::Wrap => 1.0 / (1.0 / r.decrypt + 1.0 / r.verify.fast),
            Shape::Session => r.verify.fast,
        };
        println!(
            "| {} | {} | {} | {} | {:.0} | {} | {:.0} ({:.0}) | {:.0} | {:.0} | {:.2} | {:.0} | {:.0} | {} | {:.1} s |",
            r.shape.name(),
            if r.full {
                "verify, open, store, index, rules"
            } else {
                "verify, open, store"
            },
            if r.receipts == 0 {
                "none".to_string()
            } else {
                format!("{} at once", r.receipts)
            },
            opts.txs,
            r.sync.rate,
            match &openssl {
                Ok((one_core, _)) => format!("{:.2}", r.sync.rate / one_core),
                Err(_) => "–".into(),
            },
            r.verify.fast,
            r.verify.crate_path,
            r.decrypt,
            floor,
            r.sync.rate / floor,
            r.sync.node_cpu_us,
            r.sync.server_cpu_us,
            r.sync.opened,
            r.sync.took.as_secs_f64()
        );
    }
    // The floors together: what verification (and for a fresh wrap one
    // decryption) and the index alone cost each transaction on these cores,
    // and so the rate no pipeline that does both can pass here.
    for r in rows
        .iter()
        .filter(|r| r.receipts == opts.receipt_concurrency)
    {
        let Some(ix) = &r.sync.index_floor else {
            continue;
        };
        let cores = threads() as f64;
        let crypto_us = match r.shape {
            Shape::Wrap => cores * 1e6 * (1.0 / r.decrypt + 1.0 / r.verify.fast),
            Shape::Session => cores * 1e6 / r.verify.fast,
        };
        let ceiling = cores * 1e6 / (crypto_us + ix.cpu_us);
        println!(
            "{}: index floor {:.0} docs/s ({:.0} µs of CPU a document, {} documents, one commit); with the crypto floor ({:.0} µs a transaction) the floors alone allow {:.0} tx/s on {} cores{}; the pipeline reached {:.2} of that and spent {:.0} µs a transaction beyond them",
            r.shape.name(),
            ix.rate,
            ix.cpu_us,
            ix.docs,
            crypto_us,
            ceiling,
            threads(),
            match &openssl {
                Ok((one_core, _)) =>
                    format!(" ({:.2}× OpenSSL's one-core verify)", ceiling / one_core),
                Err(_) => String::new(),
            },
            r.sync.rate / ceiling,
            (r.sync.node_cpu_us - crypto_us - ix.cpu_us).max(0.0),
        );
    }
    if opts.compare_receipts {
        for pair in rows.chunks(2) {
            if let [with, without] = pair {
                println!(
                    "{} ({}): with receipts ÷ without = {:.2}; a receipt costs the node {:.0} µs of CPU and the server {:.0} µs",
                    with.shape.name(),
                    if with.full { "full" } else { "ingest" },
                    with.sync.rate / without.sync.rate,
                    with.sync.node_cpu_us - without.sync.node_cpu_us,
                    with.sync.server_cpu_us - without.sync.server_cpu_us,
                );
            }
        }
    }
    if !several.is_empty() {
        println!(
            "\n| traffic | round | chains | tx | tx/s | node CPU µs/tx | time | {} chains ÷ one |",
            opts.chains
        );
        println!("|---|---|---|---|---|---|---|---|");
        for pair in several.chunks(2) {
            if let [(shape, round, _, one), (_, _, _, many)] = pair {
                for (chains, s) in [(1, one), (opts.chains, many)] {
                    println!(
                        "| {} | {} | {chains} | {} | {:.0} | {:.0} | {:.1} s | {} |",
                        shape.name(),
                        round + 1,
                        opts.txs,
                        s.rate,
                        s.node_cpu_us,
                        s.took.as_secs_f64(),
                        if chains == 1 {
                            String::new()
                        } else {
                            format!("{:.2}", many.rate / one.rate)
                        }
                    );
                }
            }
        }
    }
    let cache = chain::sm2verify::shared().stats();
    println!(
        "SM2 key tables: hit rate {:.4} ({} hits, {} misses), {} built, {} evicted, {} held in {:.1} MB",
        cache.hit_rate(),
        cache.hits,
        cache.misses,
        cache.built,
        cache.evicted,
        cache.tables,
        cache.bytes as f64 / 1e6
    );
    println!(
        "({} threads; bench ingest --txs {} --txs-per-block {} --in-flight {} --receipt-concurrency {} --pipeline {} --index-memory-mb {} --chains {}{})",
        threads(),
        opts.txs,
        opts.txs_per_block,
        opts.in_flight,
        opts.receipt_concurrency,
        opts.pipeline,
        opts.index_memory_mb,
        opts.chains,
        if opts.compare_receipts {
            " --compare-receipts"
        } else {
            ""
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// OpenSSL's SM2 verifications per second on one core (`openssl speed`),
/// and its version.
fn openssl_sm2_verify_per_second() -> Result<(f64, String)> {
    let out = std::process::Command::new("openssl")
        .args(["speed", "-seconds", "3", "sm2"])
        .output()
        .context("cannot run openssl")?;
    if !out.status.success() {
        bail!(
            "openssl speed failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    parse_openssl_speed(&text).context("no SM2 line in openssl speed's output")
}

/// The verify/s of the SM2 line of `openssl speed sm2`'s table, and the
/// version line.
fn parse_openssl_speed(text: &str) -> Option<(f64, String)> {
    let version = text
        .lines()
        .find(|l| l.starts_with("version:") || l.starts_with("OpenSSL"))
        .unwrap_or("OpenSSL")
        .trim()
        .to_string();
    let line = text.lines().find(|l| l.contains("SM2 ("))?;
    let rate = line.split_whitespace().last()?.parse::<f64>().ok()?;
    Some((rate, version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openssl_speed_output_is_read() {
        let text = "version: 3.0.19\nbuilt on: ...\n                              sign    verify    sign/s verify/s\n 256 bits SM2 (CurveSM2)   0.0003s   0.0003s   2927.6   3129.0\n";
        let (rate, version) = parse_openssl_speed(text).unwrap();
        assert_eq!(rate, 3129.0);
        assert_eq!(version, "version: 3.0.19");
        assert!(parse_openssl_speed("nothing").is_none());
    }
}
