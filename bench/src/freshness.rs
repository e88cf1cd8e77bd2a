//! `lookthrough-bench freshness`: how long a stored block waits before its
//! transactions are searchable, while blocks arrive at a steady rate (brief
//! §9: within 1 s at 5,000 tx/s).
//!
//! A devnet chain is generated and its envelopes opened up front (the
//! ingest bench measures that work); then its blocks are committed to a
//! fresh store on schedule while the indexer follows, and for each block
//! the time from its store commit to the index's searchable height reaching
//! it is recorded.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chain::CryptoSuite;
use chain::model::BlockTransactions;
use devnet::workload::{Workload, WorkloadConfig};
use devnet::{ChainConfig, Devnet};
use indexer::{Indexer, IndexerConfig, TxIndex};
use ingest::open_all;
use privacy::at_rest::RecordSealer;
use privacy::keyring::Keyring;
use privacy::keys::PrivateKey;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use store::{BlockCommit, Store};

/// Options of `lookthrough-bench freshness`.
#[derive(clap::Args, Debug, Clone)]
pub struct FreshnessBenchOpts {
    /// Arrival rate, transactions per second.
    #[arg(long, default_value_t = 5_000)]
    pub rate: u64,
    /// Transactions per block.
    #[arg(long, default_value_t = 500)]
    pub txs_per_block: usize,
    /// Blocks to time.
    #[arg(long, default_value_t = 120)]
    pub blocks: usize,
    /// The indexer's commit interval, ms.
    #[arg(long, default_value_t = 500)]
    pub commit_interval_ms: u64,
}

/// A generated SM devnet with session-key traffic, and the regulator's
/// keyring and record sealer for it.
pub(crate) struct SessionChain {
    /// The chain (four sealers).
    pub devnet: Devnet,
    /// Its business traffic.
    pub workload: Workload,
    /// The regulator's keys.
    pub keyring: Keyring,
    /// Seals opened records at rest.
    pub sealer: Arc<RecordSealer>,
}

/// A fresh [`SessionChain`]; `seed` fixes its keys and traffic.
pub(crate) fn session_chain(seed: u64) -> Result<SessionChain> {
    let suite = CryptoSuite::Sm;
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let sealers = (0..4)
        .map(|_| devnet::signer::NodeKey::generate(suite, &mut rng))
        .collect::<Result<Vec<_>, _>>()?;
    let config = ChainConfig::new(suite, 4);
    let workload = Workload::new(
        WorkloadConfig {
            session_reuse: true,
            ..WorkloadConfig::default()
        },
        suite,
        &config.chain_id,
        &config.group_id,
        seed + 1,
    )?;
    let devnet = Devnet::new(config, sealers)?;
    let mut keyring = Keyring::new();
    let scalar = workload.regulator_key().to_scalar_bytes();
    keyring.add("regulator", PrivateKey::from_scalar_bytes(&*scalar)?)?;
    let sealer = Arc::new(RecordSealer::from_keyring(&keyring)?);
    Ok(SessionChain {
        devnet,
        workload,
        keyring,
        sealer,
    })
}

impl SessionChain {
    /// Block `h` ready to commit: generated with `txs` transactions (block
    /// 0 is genesis), its envelopes opened and records sealed, as the node
    /// would commit it after verification.
    pub(crate) fn next_commit(&mut self, h: i64, txs: usize) -> Result<BlockCommit> {
        if h > 0 {
            let ts = self.workload.next_timestamp();
            self.workload.generate_block(&mut self.devnet, txs, ts)?;
        }
        let block = self
            .devnet
            .block(h)
            .context("the devnet lost a block it sealed")?
            .clone();
        let senders: Vec<_> = match &block.transactions {
            BlockTransactions::Full(ts) => ts.iter().map(|t| t.claimed_from).collect(),
            _ => Vec::new(),
        };
        let (envelopes, _) = open_all(&block, &senders, &self.keyring, &self.sealer)?;
        Ok(BlockCommit {
            block,
            envelopes,
            committee: if h == 0 {
                Vec::new()
            } else {
                self.devnet.committee()
            },
            receipts: Some(self.devnet.receipts_of(h).to_vec()),
        })
    }
}

/// Runs the benchmark.
pub fn freshness(opts: &FreshnessBenchOpts) -> Result<ExitCode> {
    if opts.rate == 0 || opts.txs_per_block == 0 || opts.blocks == 0 {
        bail!("--rate, --txs-per-block and --blocks must be positive");
    }
    let mut chain = session_chain(3)?;
    let bar = indicatif::ProgressBar::new(opts.blocks as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "generating and opening blocks [{bar:40}] {pos}/{len} (eta {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut commits = Vec::with_capacity(opts.blocks + 1);
    for h in 0..=opts.blocks as i64 {
        commits.push(chain.next_commit(h, opts.txs_per_block)?);
        bar.inc(u64::from(h > 0));
    }
    bar.finish_and_clear();
    let sealer = chain.sealer.clone();

    let dir = tempfile::Builder::new()
        .prefix("lookthrough-bench-freshness-")
        .tempdir()
        .context("cannot create a temporary directory")?;
    let store = Arc::new(Store::open(&dir.path().join("store"))?);
    let index = Arc::new(TxIndex::open(&dir.path().join("index"))?);
    let interval = Duration::from_millis(opts.commit_interval_ms);
    let indexer = Indexer::new(
        index,
        store.clone(),
        sealer,
        IndexerConfig {
            commit_interval: interval,
            ..IndexerConfig::default()
        },
    )?;
    let stats = indexer.stats();
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = runtime.spawn(indexer.run(async {
        let _ = stop_rx.await;
    }));

    // Genesis first, untimed.
    store.commit(&commits[0])?;
    let block_gap = Duration::from_secs_f64(opts.txs_per_block as f64 / opts.rate as f64);
    let n = commits.len() - 1;
    let mut stored_at: Vec<Option<Instant>> = vec![None; n + 1];
    let mut searchable_at: Vec<Option<Instant>> = vec![None; n + 1];
    let start = Instant::now();
    let mut next = 1usize;
    // One thread, in time order: commit each block on schedule, and
    // between commits watch the searchable height.
    let deadline = start + block_gap * n as u32 + Duration::from_secs(30);
    loop {
        let now = Instant::now();
        if next <= n && now >= start + block_gap * (next as u32 - 1) {
            store.commit(&commits[next])?;
            stored_at[next] = Some(Instant::now());
            next += 1;
        }
        let h = stats.height.load(Ordering::Acquire);
        let seen = Instant::now();
        for (i, slot) in searchable_at.iter_mut().enumerate().skip(1) {
            if i as i64 <= h && slot.is_none() {
                *slot = Some(seen);
            }
        }
        if searchable_at[n].is_some() {
            break;
        }
        if now > deadline {
            bail!("block {n} not searchable 30 s after the last block was stored");
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let feed_secs = stored_at[n]
        .map(|t| t.duration_since(start).as_secs_f64())
        .unwrap_or(0.0);
    let _ = stop_tx.send(());
    runtime.block_on(task).context("indexer task")??;

    let mut lat: Vec<Duration> = (1..=n)
        .filter_map(|i| Some(searchable_at[i]?.saturating_duration_since(stored_at[i]?)))
        .collect();
    lat.sort_unstable();
    let commits_made = stats.commits.load(Ordering::Relaxed);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "bench freshness: {n} blocks of {} tx stored at {} tx/s (achieved {:.0} tx/s), commit interval {} ms",
        opts.txs_per_block,
        opts.rate,
        (n * opts.txs_per_block) as f64 / feed_secs.max(1e-9),
        opts.commit_interval_ms
    );
    println!(
        "  stored -> searchable: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms; {} commits ({:.0} tx each)",
        ms(crate::latency::duration(&lat, 50.0)),
        ms(crate::latency::duration(&lat, 99.0)),
        ms(lat.last().copied().unwrap_or_default()),
        commits_made,
        (n * opts.txs_per_block) as f64 / commits_made.max(1) as f64
    );
    Ok(ExitCode::SUCCESS)
}
