//! `lookthrough-bench ingest`: the ingest pipeline's throughput over a
//! generated chain served on loopback, next to the machine's SM2-decryption
//! and SM2-verification floors measured on the same cores in the same run.
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
use chain::verify::verify_transaction;
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
    let cached = opts.cache.as_ref().map(|c| {
        c.join(format!(
            "{}-{}-{}",
            shape.dir(),
            opts.txs,
            opts.txs_per_block
        ))
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
    let mut rng = ChaCha20Rng::seed_from_u64(7);
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
        8,
    )?;
    let mut devnet = Devnet::new(config, sealers)?;
    let bar = indicatif::ProgressBar::new(opts.txs as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "generating {msg}: [{bar:40}] {pos}/{len} tx ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(shape.name());
    let mut left = opts.txs;
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

/// Transaction verifications (hash and SM2 signature) per second, on every core.
fn verify_floor(devnet: &Devnet, n: usize) -> f64 {
    let mut txs = Vec::new();
    for h in 1..=devnet.head() {
        if let Some(b) = devnet.block(h)
            && let BlockTransactions::Full(ts) = &b.transactions
        {
            txs.extend(ts.iter().cloned());
        }
        if txs.len() >= 2_000 {
            break;
        }
    }
    if txs.is_empty() {
        return 0.0;
    }
    parallel_rate(n, |i| {
        std::hint::black_box(verify_transaction(CryptoSuite::Sm, &txs[i % txs.len()]).passed());
    })
}

/// Syncs a fresh store from a loopback server of `devnet`; returns tx/s.
async fn ingest_rate(
    devnet: Devnet,
    key: PrivateKey,
    in_flight: usize,
    receipt_concurrency: usize,
    data: &Path,
) -> Result<(f64, u64, Duration)> {
    let head = devnet.head();
    let committee = devnet.committee();
    let txs: usize = (1..=head)
        .filter_map(|h| devnet.block(h))
        .map(|b| match &b.transactions {
            BlockTransactions::Full(t) => t.len(),
            _ => 0,
        })
        .sum();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/", listener.local_addr()?);
    let state = AppState::new(Arc::new(tokio::sync::RwLock::new(devnet)), None);
    tokio::spawn(serve(listener, state, std::future::pending()));
    let mut keyring = Keyring::new();
    keyring.add("bench regulator key", key)?;
    let mut config = IngestConfig::new(
        vec![url],
        "group0",
        CryptoSuite::Sm,
        Trust::Genesis(committee),
    );
    config.in_flight = in_flight;
    config.receipt_concurrency = receipt_concurrency;
    config.stop_at = Some(head);
    let node = Node::open(config, data, keyring, None)?;
    let stats = node.ingest.stats();
    let bar = indicatif::ProgressBar::new(head as u64);
    let progress = {
        let bar = bar.clone();
        let stats = stats.clone();
        tokio::spawn(async move {
            loop {
                bar.set_position(
                    stats
                        .height
                        .load(std::sync::atomic::Ordering::Relaxed)
                        .max(0) as u64,
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    let start = Instant::now();
    node.ingest.run(std::future::pending()).await?;
    let took = start.elapsed();
    progress.abort();
    bar.finish_and_clear();
    if node.store.checkpoint()? != Some(head) {
        bail!("the sync stopped before the head");
    }
    let opened = stats.opened.load(std::sync::atomic::Ordering::Relaxed);
    Ok((txs as f64 / took.as_secs_f64(), opened, took))
}

/// `lookthrough-bench ingest`.
pub fn ingest(opts: &IngestBenchOpts) -> Result<ExitCode> {
    if opts.txs == 0 || opts.txs_per_block == 0 {
        bail!("--txs and --txs-per-block must be positive");
    }
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let mut rows = Vec::new();
    let mut variants = vec![opts.receipt_concurrency];
    if opts.compare_receipts && opts.receipt_concurrency > 0 {
        variants.push(0);
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
        for &receipts in &variants {
            let (devnet, key) = match first.take() {
                Some(c) => c,
                None => chain(shape, opts)?,
            };
            let data = tempfile::Builder::new()
                .prefix("lookthrough-bench-")
                .tempdir()?;
            eprintln!(
                "ingesting the {} chain ({} tx, receipt concurrency {receipts})",
                shape.name(),
                opts.txs
            );
            let (rate, opened, took) = runtime.block_on(ingest_rate(
                devnet,
                key,
                opts.in_flight,
                receipts,
                data.path(),
            ))?;
            rows.push((shape, receipts, rate, opened, took, decrypt, verify));
        }
    }
    println!(
        "| traffic | receipts | tx | ingest tx/s | SM2 decrypt/s | ingest ÷ decrypt | tx verify/s | verify+decrypt floor tx/s | ingest ÷ that floor | opened | time |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for &(shape, receipts, rate, opened, took, decrypt, verify) in &rows {
        // What each transaction must cost at least: its signature check,
        // and for a fresh wrap one SM2 decryption.
        let floor = match shape {
            Shape::Wrap => 1.0 / (1.0 / decrypt + 1.0 / verify),
            Shape::Session => verify,
        };
        println!(
            "| {} | {} | {} | {:.0} | {:.0} | {:.2} | {:.0} | {:.0} | {:.2} | {} | {:.1} s |",
            shape.name(),
            if receipts == 0 {
                "none".to_string()
            } else {
                format!("{receipts} at once")
            },
            opts.txs,
            rate,
            decrypt,
            rate / decrypt,
            verify,
            floor,
            rate / floor,
            opened,
            took.as_secs_f64()
        );
    }
    if opts.compare_receipts {
        for pair in rows.chunks(2) {
            if let [with, without] = pair {
                println!(
                    "{}: with receipts ÷ without = {:.2}",
                    with.0.name(),
                    with.2 / without.2
                );
            }
        }
    }
    // The yardstick of issue 18: OpenSSL's SM2 verification on one core,
    // measured now, on this machine.
    match openssl_sm2_verify_per_second() {
        Ok((rate, version)) => {
            println!(
                "OpenSSL one-core SM2 verify: {rate:.0}/s ({version}, `openssl speed -seconds 3 sm2`)"
            );
            for &(shape, receipts, ingest, ..) in &rows {
                println!(
                    "{} (receipts {}): ingest ÷ OpenSSL one-core verify = {:.2}",
                    shape.name(),
                    if receipts == 0 {
                        "none".to_string()
                    } else {
                        receipts.to_string()
                    },
                    ingest / rate
                );
            }
        }
        Err(e) => println!("OpenSSL one-core SM2 verify: not measured ({e:#})"),
    }
    println!(
        "({} threads; bench ingest --txs {} --txs-per-block {} --in-flight {} --receipt-concurrency {}{})",
        threads(),
        opts.txs,
        opts.txs_per_block,
        opts.in_flight,
        opts.receipt_concurrency,
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
