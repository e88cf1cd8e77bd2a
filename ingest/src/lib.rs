//! `ingest`: the observer's pipeline, fetch → verify → open envelopes →
//! store. [`source`] is the JSON-RPC client of a node's endpoints.
//!
//! ```text
//!  endpoints (failover) ──fetch h, h+1, … h+k (k blocks in flight)──┐
//!                                                                   │ blocking pool, in parallel:
//!                                      verify the block (hashes, tx signatures, root, quorum
//!                                      against its own sealer list), open every payload
//!                                                                   │
//!                          in height order: parent link, committee in force, commit (one
//!                          synced batch with the checkpoint) ──► store ──► change feed
//! ```
//!
//! What is checked where: everything that needs only the block is checked
//! in parallel; what needs the chain so far (the parent hash, the committee
//! in force) is checked in height order just before the commit. A committee
//! change is accepted when a quorum of the committee in force signed the
//! block that brings the new sealer list (see `docs/chain-compat.md`).
//!
//! A block that fails any check is never stored. It becomes a [`Finding`]
//! (the check, the endpoint, the served text as evidence) and the pipeline
//! moves to the next endpoint. Network errors are retried with exponential
//! backoff and jitter, then also move to the next endpoint.

pub mod abis;
pub mod health;
pub mod metrics;
pub mod source;

use std::collections::{HashSet, VecDeque};

use rayon::prelude::*;
use std::future::Future;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use privacy::at_rest::RecordSealer;
use privacy::envelope::TxContext;
use privacy::keyring::Keyring;

use crate::health::{Call, Health};
use crate::source::{Endpoint, LEDGER_BLOCK_NOT_FOUND, Served, SourceError};
use chain::CryptoSuite;
use chain::hexbytes::{Hash, encode0x};
use chain::model::{Block, BlockTransactions, Receipt};
use chain::verify::{
    Report, Sealer, committee_vouches, verify_block_receipts, verify_block_senders,
};
use retry::Backoff;
use store::timing::Seconds;
use store::{BlockCommit, Finding, Store, StoreError, TxEnvelope};

/// Where the sealer set comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// The consortium's published genesis committee.
    Genesis(Vec<Sealer>),
    /// The sealer list of the first signed block served (logged loudly).
    FirstUse,
}

/// How the pipeline runs.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// JSON-RPC endpoints of the group (asked by health, see [`health`];
    /// at first in this order).
    pub endpoints: Vec<String>,
    /// The group id.
    pub group: String,
    /// The node name in requests (empty: the endpoint's own node).
    pub node: String,
    /// The chain's crypto suite.
    pub suite: CryptoSuite,
    /// Where the committee comes from.
    pub trust: Trust,
    /// The genesis block hash the consortium published, if configured.
    pub genesis_hash: Option<Hash>,
    /// Blocks fetched and processed at once.
    pub in_flight: usize,
    /// How often to ask for the head once caught up.
    pub poll_interval: Duration,
    /// A request's total deadline, from connecting to the last byte.
    pub request_timeout: Duration,
    /// First retry delay after a network error.
    pub backoff_initial: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
    /// Consecutive network errors before an endpoint is failing (asked
    /// after every healthy one).
    pub failover_after: u32,
    /// Whether a slow answer is hedged: the same request sent to the next
    /// endpoint after a delay drawn from the first one's latency.
    pub hedge: bool,
    /// The shortest hedge delay.
    pub hedge_min: Duration,
    /// Endpoints asked for each stored block's hash (`getBlockHashByNumber`,
    /// the first in health order); an answer that differs is a finding:
    /// `equivocation` when that endpoint's block carries the committee's
    /// quorum too, `lying-endpoint` otherwise. 0: no cross-check.
    pub confirm: usize,
    /// Stop once this height is stored.
    pub stop_at: Option<i64>,
    /// Receipts fetched at once per block (`getTransactionReceipt`, one
    /// call each); 0 keeps no receipts.
    pub receipt_concurrency: usize,
}

impl IngestConfig {
    /// A configuration with defaults for everything but the chain.
    pub fn new(endpoints: Vec<String>, group: &str, suite: CryptoSuite, trust: Trust) -> Self {
        Self {
            endpoints,
            group: group.to_string(),
            node: String::new(),
            suite,
            trust,
            genesis_hash: None,
            in_flight: 8,
            poll_interval: Duration::from_millis(200),
            request_timeout: Duration::from_secs(30),
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(10),
            failover_after: 3,
            hedge: true,
            hedge_min: Duration::from_millis(20),
            confirm: 0,
            stop_at: None,
            receipt_concurrency: 32,
        }
    }
}

/// Why the pipeline stopped.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The configuration cannot work.
    #[error("ingest configuration: {0}")]
    Config(String),
    /// The store failed: the node stops rather than skip a block.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A worker task died.
    #[error("ingest worker failed: {0}")]
    Worker(String),
}

/// Live counters, for progress lines and `/metrics`.
#[derive(Debug)]
pub struct Stats {
    /// The stored height (−1: nothing stored).
    pub height: AtomicI64,
    /// The highest head an endpoint reported.
    pub head: AtomicI64,
    /// Blocks committed by this process.
    pub blocks: AtomicU64,
    /// Transactions committed by this process.
    pub txs: AtomicU64,
    /// Payloads opened by this process.
    pub opened: AtomicU64,
    /// Findings recorded by this process.
    pub findings: AtomicU64,
    /// Network errors seen.
    pub network_errors: AtomicU64,
    /// Cross-check answers that named the stored hash.
    pub confirmed: AtomicU64,
    /// Cross-check answers that named another hash (each a finding).
    pub disagreed: AtomicU64,
    /// Cross-check questions not answered (network, no such block yet).
    pub unconfirmed: AtomicU64,
    /// Blocks not cross-checked because [`MAX_CROSS_CHECKS`] were running.
    pub skipped_checks: AtomicU64,
    /// Time to fetch a block with its receipts from an endpoint.
    pub fetch_seconds: Seconds,
    /// Time to verify a block (hashes, roots, signatures, receipts).
    pub verify_seconds: Seconds,
    /// Time to open a block's envelopes and seal the records.
    pub open_seconds: Seconds,
    /// Time to commit a block to the store (synced).
    pub commit_seconds: Seconds,
    /// The endpoint in use.
    pub endpoint: Mutex<String>,
    rate: Mutex<VecDeque<(Instant, u64)>>,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            height: AtomicI64::new(-1),
            head: AtomicI64::new(-1),
            blocks: AtomicU64::new(0),
            txs: AtomicU64::new(0),
            opened: AtomicU64::new(0),
            findings: AtomicU64::new(0),
            network_errors: AtomicU64::new(0),
            confirmed: AtomicU64::new(0),
            disagreed: AtomicU64::new(0),
            unconfirmed: AtomicU64::new(0),
            skipped_checks: AtomicU64::new(0),
            fetch_seconds: Seconds::default(),
            verify_seconds: Seconds::default(),
            open_seconds: Seconds::default(),
            commit_seconds: Seconds::default(),
            endpoint: Mutex::new(String::new()),
            rate: Mutex::new(VecDeque::new()),
        }
    }
}

/// The window over which [`Stats::tx_per_second`] is measured.
const RATE_WINDOW: Duration = Duration::from_secs(10);

impl Stats {
    fn record_commit(&self, height: i64, txs: u64, opened: u64) {
        self.height.store(height, Ordering::Relaxed);
        self.head.fetch_max(height, Ordering::Relaxed);
        self.blocks.fetch_add(1, Ordering::Relaxed);
        let total = self.txs.fetch_add(txs, Ordering::Relaxed) + txs;
        self.opened.fetch_add(opened, Ordering::Relaxed);
        if let Ok(mut r) = self.rate.lock() {
            let now = Instant::now();
            r.push_back((now, total));
            while r.len() > 2 && r.front().is_some_and(|(t, _)| now - *t > RATE_WINDOW) {
                r.pop_front();
            }
        }
    }

    /// Transactions stored per second over the last ten seconds.
    pub fn tx_per_second(&self) -> f64 {
        let Ok(r) = self.rate.lock() else {
            return 0.0;
        };
        let (Some((t0, n0)), Some((t1, n1))) = (r.front(), r.back()) else {
            return 0.0;
        };
        let now = Instant::now();
        if now - *t1 > RATE_WINDOW {
            return 0.0;
        }
        let dt = now.duration_since(*t0).as_secs_f64();
        if dt <= 0.0 {
            return 0.0;
        }
        (n1 - n0) as f64 / dt
    }

    /// Blocks between the stored height and the highest head seen.
    pub fn lag(&self) -> i64 {
        (self.head.load(Ordering::Relaxed) - self.height.load(Ordering::Relaxed)).max(0)
    }
}

/// A block offered by another node ([`Ingest::offer`]).
#[derive(Debug, Clone)]
pub struct Offer {
    /// The block, with its full transactions.
    pub block: Block,
    /// Its text as it came (kept as evidence when it fails).
    pub raw: String,
    /// Each transaction's class and sealed record, in block order.
    pub envelopes: Vec<TxEnvelope>,
    /// Its receipts, when the other node kept them.
    pub receipts: Option<Vec<Receipt>>,
    /// Who offered it (a finding names it as the endpoint).
    pub source: String,
}

/// What became of an offered block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Offered {
    /// It was the next block; it passed every check and is stored.
    Stored,
    /// The same block is already stored.
    Known,
    /// It is above the next block the chain needs (`next`).
    Ahead {
        /// The height the chain needs next.
        next: i64,
    },
    /// It failed a check (recorded as a finding); nothing was stored.
    Refused(Box<Finding>),
}

/// A block that passed the checks that need only itself.
struct Processed {
    /// The endpoint that served it.
    endpoint: usize,
    served: Served,
    envelopes: Vec<TxEnvelope>,
    receipts: Option<Vec<Receipt>>,
    opened: u64,
    /// How long verifying and opening took.
    verify_time: Duration,
    open_time: Duration,
}

/// Why a block could not be taken from the endpoints.
enum Failure {
    /// No endpoint answered (or none had the block yet): retry.
    Network(SourceError),
    /// Endpoints served something wrong at this height (the findings
    /// travel beside the failure, to be recorded once).
    Bad(Option<i64>),
    /// The node itself failed: stop rather than store less than was read.
    Fatal(String),
}

/// Why one endpoint could not give a block.
enum LegFailure {
    /// It did not answer in time.
    Network(SourceError),
    /// It does not have the block, and never claimed to.
    Miss(SourceError),
    /// It served something wrong.
    Bad(Box<Finding>),
    /// The node itself failed.
    Fatal(String),
}

/// The pipeline. [`Ingest::run`] follows the chain until shut down.
pub struct Ingest {
    config: IngestConfig,
    store: Arc<Store>,
    fetcher: Arc<Fetcher>,
    stats: Arc<Stats>,
    /// The chain as [`Ingest::offer`] last left it (`None`: read it from
    /// the store at the next offer).
    offered: tokio::sync::Mutex<Option<ChainState>>,
}

impl std::fmt::Debug for Ingest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest")
            .field("endpoints", &self.config.endpoints)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Ingest {
    /// A pipeline writing to `store`, opening with `keyring` and sealing the
    /// opened payloads at rest with `sealer`.
    pub fn new(
        config: IngestConfig,
        store: Arc<Store>,
        keyring: Arc<Keyring>,
        sealer: Arc<RecordSealer>,
    ) -> Result<Self, IngestError> {
        if config.in_flight == 0 {
            return Err(IngestError::Config("in_flight must be at least 1".into()));
        }
        let endpoints = config
            .endpoints
            .iter()
            .map(|url| {
                Endpoint::new(url, &config.group, &config.node, config.request_timeout)
                    .map(Arc::new)
                    .map_err(|e| IngestError::Config(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let health = Arc::new(Health::new(
            config.endpoints.clone(),
            config.failover_after,
            config.hedge_min,
            config.request_timeout,
        ));
        let stats = Arc::new(Stats::default());
        let fetcher = Arc::new(Fetcher {
            endpoints,
            health,
            stats: stats.clone(),
            hedge: config.hedge,
            confirm: config.confirm,
            suite: config.suite,
            keyring,
            sealer,
            receipt_concurrency: config.receipt_concurrency,
        });
        if let Some(cp) = store.checkpoint()? {
            stats.height.store(cp, Ordering::Relaxed);
            stats.head.store(cp, Ordering::Relaxed);
        }
        Ok(Self {
            config,
            store,
            fetcher,
            stats,
            offered: tokio::sync::Mutex::new(None),
        })
    }

    /// The height after which the pipeline stops, if any.
    pub fn stop_at(&self) -> Option<i64> {
        self.config.stop_at
    }

    /// The live counters.
    pub fn stats(&self) -> Arc<Stats> {
        self.stats.clone()
    }

    /// Takes a block that another node verified and opened (the
    /// distributed mode's log, [`Offer`]) and checks it again as if an
    /// endpoint had served it: the block on its own (hashes, roots,
    /// signatures, receipts), then its parent and the committee in force,
    /// before committing it with the classes and sealed records it came
    /// with. Nothing the offer says is trusted but the classification of
    /// payloads this node cannot open itself. A block that fails is a
    /// finding against `source`, recorded, and never stored.
    pub async fn offer(&self, offer: Offer) -> Result<Offered, IngestError> {
        let mut state = self.offered.lock().await;
        let header = &offer.block.header;
        let (height, hash) = (header.number, header.claimed_hash);
        let cached = state.as_ref().map(|c| c.checkpoint);
        let trust = self.config.trust.clone();
        let (reloaded, stored) = self
            .on_store(
                move |store| {
                    // Read again when not cached, or when another writer of this
                    // chain's log (there should be none) moved it.
                    let reloaded = match cached {
                        Some(cp) if store.checkpoint()? == cp => None,
                        _ => Some(chain_state(store, &trust)?),
                    };
                    let stored = store.block_hash(height)?;
                    Ok((reloaded, stored))
                },
                self.store.clone(),
            )
            .await?;
        if let Some(r) = reloaded {
            *state = Some(r);
        }
        let Some(chain) = state.as_mut() else {
            return Err(IngestError::Worker("the chain state was not read".into()));
        };
        let next = chain.next_height();
        if height < next {
            if stored == Some(hash) {
                return Ok(Offered::Known);
            }
            let f = Finding {
                at_ms: now_ms(),
                height: Some(height),
                endpoint: offer.source.clone(),
                check: "conflicting-block".into(),
                detail: format!(
                    "block {height} offered as {} but {} is stored",
                    encode0x(&hash),
                    stored.map(|h| encode0x(&h)).unwrap_or_default()
                ),
                evidence: offer.raw,
            };
            self.record_offer_finding(&f).await?;
            return Ok(Offered::Refused(Box::new(f)));
        }
        if height > next {
            return Ok(Offered::Ahead { next });
        }
        let suite = self.config.suite;
        let Offer {
            block,
            raw,
            envelopes,
            receipts,
            source,
        } = offer;
        let started = Instant::now();
        let checked = tokio::task::spawn_blocking(move || {
            let served = Served { block, raw };
            if !matches!(served.block.transactions, BlockTransactions::Full(_)) {
                return Err((
                    "transactions".to_string(),
                    "offered without its full transactions".to_string(),
                    served.raw,
                ));
            }
            let (report, senders) = verify_block_senders(suite, &served.block, None);
            let report = match (&receipts, report.passed()) {
                (Some(rs), true) => verify_block_receipts(suite, &served.block, &senders, rs),
                _ => report,
            };
            if !report.passed() {
                let check = report
                    .failures()
                    .next()
                    .map(|c| c.name.clone())
                    .unwrap_or_else(|| "verify".into());
                let detail = report
                    .failures()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ");
                return Err((check, detail, served.raw));
            }
            Ok((served, receipts))
        })
        .await
        .map_err(|e| IngestError::Worker(e.to_string()))?;
        let (served, receipts) = match checked {
            Ok(ok) => ok,
            Err((check, detail, evidence)) => {
                let f = Finding {
                    at_ms: now_ms(),
                    height: Some(height),
                    endpoint: source,
                    check,
                    detail,
                    evidence,
                };
                self.record_offer_finding(&f).await?;
                return Ok(Offered::Refused(Box::new(f)));
            }
        };
        self.stats.verify_seconds.since(started);
        let opened = envelopes
            .iter()
            .filter(|e| e.sealed_record.is_some())
            .count() as u64;
        let p = Processed {
            endpoint: 0,
            served,
            envelopes,
            receipts,
            opened,
            verify_time: Duration::ZERO,
            open_time: Duration::ZERO,
        };
        let accepted = self.accept(chain, p, &source).await;
        match accepted {
            Ok(Ok(())) => Ok(Offered::Stored),
            Ok(Err(f)) => {
                self.record_offer_finding(&f).await?;
                Ok(Offered::Refused(f))
            }
            Err(e) => {
                // The chain state may be ahead of what was stored.
                *state = None;
                Err(e)
            }
        }
    }

    /// Records a finding about an offered block (once per source, height
    /// and check).
    async fn record_offer_finding(&self, f: &Finding) -> Result<(), IngestError> {
        tracing::error!(
            source = %f.endpoint,
            height = ?f.height,
            check = %f.check,
            detail = %f.detail,
            "an offered block fails verification or contradicts the stored chain"
        );
        let f = f.clone();
        let added = self
            .on_store(
                move |store| {
                    let already = store
                        .findings_from(0, usize::MAX)?
                        .into_iter()
                        .any(|(_, g)| {
                            g.endpoint == f.endpoint && g.height == f.height && g.check == f.check
                        });
                    if !already {
                        store.add_finding(&f)?;
                    }
                    Ok(!already)
                },
                self.store.clone(),
            )
            .await?;
        if added {
            self.stats.findings.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Runs `f` on the store on the blocking pool.
    async fn on_store<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
        store: Arc<Store>,
    ) -> Result<T, IngestError> {
        Ok(tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| IngestError::Worker(e.to_string()))??)
    }

    /// Follows the chain until `shutdown` completes (or `stop_at` is stored).
    /// Returns an error only when the node cannot go on safely (the store
    /// failed); misbehaving endpoints are findings, not errors. A disk
    /// fault is not an error either: ingest pauses (nothing of the block
    /// whose write failed is stored), waits until the store takes writes
    /// again ([`store::disk`]) and resumes from the stored checkpoint.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) -> Result<(), IngestError> {
        if self.config.endpoints.is_empty() {
            return Err(IngestError::Config("no endpoint configured".into()));
        }
        tokio::pin!(shutdown);
        // Findings waiting to be written outlive a pause: none is lost to a
        // full disk.
        let mut log = FindingLog::new(MAX_CROSS_CHECKS);
        loop {
            let followed = self.follow_chain(&mut shutdown, &mut log).await;
            // What the cross-checks still running find is written before
            // returning (each is bounded by the request deadline).
            let drained = match &followed {
                Ok(()) => self.finish_cross_checks(&mut log).await,
                Err(_) => Ok(()),
            };
            match followed.and(drained) {
                Err(IngestError::Store(e)) if e.is_disk_fault() => {
                    tracing::warn!(error = %e, "ingest paused until the disk takes writes again");
                    let disk = self.store.disk();
                    tokio::select! {
                        () = &mut shutdown => return Ok(()),
                        () = disk.writable_dir(self.store.path()) => {}
                    }
                    tracing::info!("ingest resumes");
                }
                done => return done,
            }
        }
    }

    async fn follow_chain(
        &self,
        shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
        recorded: &mut FindingLog,
    ) -> Result<(), IngestError> {
        // Rounds since the last block stored in which no endpoint helped
        // (for the backoff's delay).
        let mut retries = 0u32;
        let mut chain = self.load_chain_state()?;

        loop {
            let next = chain.next_height();
            if self.config.stop_at.is_some_and(|s| next > s) {
                return Ok(());
            }
            recorded.forget_below(next);
            let head = tokio::select! {
                () = &mut *shutdown => return Ok(()),
                r = self.fetcher.head() => r,
            };
            let (served_by, head, findings) = match head {
                Ok(h) => h,
                Err((e, findings)) => {
                    self.record(recorded, findings).await?;
                    tracing::warn!(error = %e, "no endpoint told its head");
                    retries = retries.saturating_add(1);
                    if sleep_or_shutdown(self.backoff().delay(retries), shutdown).await {
                        return Ok(());
                    }
                    continue;
                }
            };
            self.record(recorded, findings).await?;
            self.set_endpoint(self.fetcher.url(served_by));
            let stored = chain.checkpoint.unwrap_or(-1);
            self.stats.head.store(head.max(stored), Ordering::Relaxed);
            self.store.note_chain_head(head);
            let last = self.config.stop_at.map_or(head, |s| s.min(head));
            if last < next {
                if sleep_or_shutdown(self.config.poll_interval, shutdown).await {
                    return Ok(());
                }
                continue;
            }

            let mut queue = VecDeque::new();
            let mut h = next;
            let outcome = loop {
                while queue.len() < self.config.in_flight && h <= last {
                    let fetcher = self.fetcher.clone();
                    queue.push_back(tokio::spawn(async move { fetcher.block(h).await }));
                    h += 1;
                }
                let Some(front) = queue.pop_front() else {
                    break None;
                };
                let (result, findings) = tokio::select! {
                    () = &mut *shutdown => {
                        queue.iter().for_each(|t| t.abort());
                        return Ok(());
                    }
                    r = front => r.map_err(|e| IngestError::Worker(e.to_string()))?,
                };
                self.record(recorded, findings).await?;
                let failure = match result {
                    Ok(p) => {
                        let by = p.endpoint;
                        let height = p.served.block.header.number;
                        match self.accept(&mut chain, p, self.fetcher.url(by)).await? {
                            Ok(()) => {
                                retries = 0;
                                if let Some(stored) = chain.last_hash {
                                    self.start_cross_check(recorded, height, stored, &chain);
                                }
                                continue;
                            }
                            Err(finding) => {
                                self.fetcher.health.offended(by);
                                let at = finding.height;
                                self.record(recorded, vec![*finding]).await?;
                                Failure::Bad(at)
                            }
                        }
                    }
                    Err(f) => f,
                };
                queue.iter().for_each(|t| t.abort());
                break Some(failure);
            };
            match outcome {
                None => {}
                Some(Failure::Fatal(e)) => return Err(IngestError::Worker(e)),
                Some(Failure::Network(e)) => {
                    tracing::warn!(error = %e, "no endpoint answered; retrying");
                    retries = retries.saturating_add(1);
                    if sleep_or_shutdown(self.backoff().delay(retries), shutdown).await {
                        return Ok(());
                    }
                }
                Some(Failure::Bad(at)) => {
                    // The findings are recorded. Every endpoint asked served something wrong here (or
                    // the block accepted broke the chain): wait a little
                    // for one of them to be repaired.
                    tracing::error!(
                        height = ?at,
                        "no endpoint served a valid block at this height; trying again"
                    );
                    retries = retries.saturating_add(1);
                    if sleep_or_shutdown(self.backoff().delay(retries), shutdown).await {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Stores the findings not yet recorded by this process (at most one
    /// per endpoint, height and check), with those the cross-checks sent
    /// and those a failed write left, on the blocking pool. What a failed
    /// write did not store stays in `log` for the next call.
    async fn record(
        &self,
        log: &mut FindingLog,
        findings: Vec<Finding>,
    ) -> Result<(), IngestError> {
        let mut fresh = findings;
        while let Ok(more) = log.checked.try_recv() {
            fresh.extend(more);
        }
        for f in fresh {
            if log
                .recorded
                .insert((f.endpoint.clone(), f.height.unwrap_or(-1), f.check.clone()))
            {
                tracing::error!(
                    endpoint = %f.endpoint,
                    height = ?f.height,
                    check = %f.check,
                    detail = %f.detail,
                    "endpoint served something that fails verification or contradicts the stored chain"
                );
                log.pending.push(f);
            }
        }
        if log.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut log.pending);
        let store = self.store.clone();
        let (written, rest, outcome) = tokio::task::spawn_blocking(move || {
            for (written, f) in pending.iter().enumerate() {
                if let Err(e) = store.add_finding(f) {
                    return (written, pending[written..].to_vec(), Err(e));
                }
            }
            (pending.len(), Vec::new(), Ok(()))
        })
        .await
        .map_err(|e| IngestError::Worker(e.to_string()))?;
        log.pending = rest;
        self.stats
            .findings
            .fetch_add(written as u64, Ordering::Relaxed);
        Ok(outcome?)
    }

    /// Cross-checks stored block `height` in the background
    /// ([`IngestConfig::confirm`]): the answering endpoints are asked for
    /// its hash and what they say comes back to `log` as findings. At most
    /// [`MAX_CROSS_CHECKS`] run at once; a block stored while that many
    /// run is not checked (counted as skipped), so that a slow endpoint
    /// never holds ingest back.
    fn start_cross_check(&self, log: &FindingLog, height: i64, stored: Hash, chain: &ChainState) {
        if self.config.confirm == 0 {
            return;
        }
        let Ok(permit) = log.running.clone().try_acquire_owned() else {
            self.stats.skipped_checks.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let (fetcher, tx, committee) = (
            self.fetcher.clone(),
            log.sender.clone(),
            chain.committee.clone(),
        );
        tokio::spawn(async move {
            let answers = fetcher.confirmations(height).await;
            let findings = fetcher
                .cross_check(height, stored, committee, answers)
                .await;
            if !findings.is_empty() {
                let _ = tx.send(findings);
            }
            drop(permit);
        });
    }

    /// Waits for the cross-checks still running and records what they
    /// found.
    async fn finish_cross_checks(&self, log: &mut FindingLog) -> Result<(), IngestError> {
        if self.config.confirm > 0 {
            let all = u32::try_from(MAX_CROSS_CHECKS).unwrap_or(u32::MAX);
            if let Ok(permits) = log.running.clone().acquire_many_owned(all).await {
                drop(permits);
            }
        }
        self.record(log, Vec::new()).await
    }

    /// The endpoints' health.
    pub fn health(&self) -> Arc<Health> {
        self.fetcher.health.clone()
    }

    fn backoff(&self) -> Backoff {
        Backoff::new(self.config.backoff_initial, self.config.backoff_max)
    }

    fn set_endpoint(&self, url: &str) {
        if let Ok(mut e) = self.stats.endpoint.lock()
            && *e != url
        {
            url.clone_into(&mut e);
        }
    }

    fn load_chain_state(&self) -> Result<ChainState, IngestError> {
        Ok(chain_state(&self.store, &self.config.trust)?)
    }

    /// The checks that need the chain so far, then the commit. The outer
    /// `Result` is the store failing; the inner one a finding.
    async fn accept(
        &self,
        chain: &mut ChainState,
        p: Processed,
        endpoint: &str,
    ) -> Result<Result<(), Box<Finding>>, IngestError> {
        let header = &p.served.block.header;
        let height = header.number;
        let finding = |check: &str, detail: String| {
            Box::new(Finding {
                at_ms: now_ms(),
                height: Some(height),
                endpoint: endpoint.to_string(),
                check: check.to_string(),
                detail,
                evidence: p.served.raw.clone(),
            })
        };
        let own: Vec<Sealer> = header
            .sealer_list
            .iter()
            .zip(header.consensus_weights.iter())
            .map(|(n, w)| Sealer {
                node_id: *n,
                weight: *w,
            })
            .collect();
        let committee = if height == 0 {
            match self.config.genesis_hash {
                Some(want) if want != header.claimed_hash => {
                    return Ok(Err(finding(
                        "genesis-hash",
                        format!(
                            "block 0 is {} but the configured genesis is {}",
                            encode0x(&header.claimed_hash),
                            encode0x(&want)
                        ),
                    )));
                }
                Some(_) => {}
                None => tracing::warn!(
                    hash = %encode0x(&header.claimed_hash),
                    endpoint,
                    "no genesis_hash configured: trusting the genesis block on first use"
                ),
            }
            chain.committee.clone().unwrap_or_default()
        } else {
            match chain.last_hash {
                Some(parent) if header.parents.first().map(|p| p.hash) == Some(parent) => {}
                Some(parent) => {
                    return Ok(Err(finding(
                        "parent",
                        format!(
                            "block {height} names parent {} but block {} is {}",
                            header
                                .parents
                                .first()
                                .map(|p| encode0x(&p.hash))
                                .unwrap_or_else(|| "(none)".into()),
                            height - 1,
                            encode0x(&parent)
                        ),
                    )));
                }
                None => {
                    return Err(IngestError::Config(format!(
                        "block {height} offered with no block {} stored",
                        height - 1
                    )));
                }
            }
            match &chain.committee {
                None => {
                    tracing::warn!(
                        height,
                        endpoint,
                        sealers = own.len(),
                        "TRUST ON FIRST USE: adopting the sealer list of this block as the committee; configure genesis sealers to verify it"
                    );
                    own.clone()
                }
                Some(c) if *c == own => own.clone(),
                Some(c) => {
                    let check = committee_vouches(self.config.suite, header, c);
                    if !check.passed {
                        return Ok(Err(finding("committee-change", check.detail)));
                    }
                    tracing::info!(
                        height,
                        from = c.len(),
                        to = own.len(),
                        "sealer set changed, vouched for by the committee in force"
                    );
                    own.clone()
                }
            }
        };
        let txs = p.envelopes.len() as u64;
        let hash = header.claimed_hash;
        let commit = BlockCommit {
            block: p.served.block,
            envelopes: p.envelopes,
            committee: committee.clone(),
            receipts: p.receipts,
        };
        let store = self.store.clone();
        let started = Instant::now();
        tokio::task::spawn_blocking(move || store.commit(&commit))
            .await
            .map_err(|e| IngestError::Worker(e.to_string()))??;
        self.stats.commit_seconds.since(started);
        chain.checkpoint = Some(height);
        chain.last_hash = Some(hash);
        chain.committee = if committee.is_empty() {
            None
        } else {
            Some(committee)
        };
        self.stats.record_commit(height, txs, p.opened);
        tracing::debug!(height, txs, "stored block");
        Ok(Ok(()))
    }
}

/// The chain as stored: its checkpoint, last hash and committee in force
/// (or, before the first block, the trusted one).
fn chain_state(store: &Store, trust: &Trust) -> Result<ChainState, StoreError> {
    let checkpoint = store.checkpoint()?;
    let (last_hash, committee) = match checkpoint {
        None => (
            None,
            match trust {
                Trust::Genesis(c) => Some(c.clone()),
                Trust::FirstUse => None,
            },
        ),
        Some(cp) => {
            let hash = store.block_hash(cp)?;
            let committee = store.committee_at(cp)?.filter(|c| !c.is_empty());
            (hash, committee)
        }
    };
    Ok(ChainState {
        checkpoint,
        last_hash,
        committee,
    })
}

/// Cross-checks running at once at most ([`IngestConfig::confirm`]).
pub const MAX_CROSS_CHECKS: usize = 256;

/// The findings of a run: which were recorded (for the heights in flight),
/// those a failed write left to write, and those the cross-checks send.
struct FindingLog {
    /// (endpoint, height, check) already recorded, for the heights not yet
    /// stored and the cross-checks: the chain only moves forward, so the
    /// set stays as small as the findings of the heights in flight.
    recorded: HashSet<(String, i64, String)>,
    pending: Vec<Finding>,
    sender: tokio::sync::mpsc::UnboundedSender<Vec<Finding>>,
    checked: tokio::sync::mpsc::UnboundedReceiver<Vec<Finding>>,
    running: Arc<tokio::sync::Semaphore>,
}

impl FindingLog {
    fn new(checks: usize) -> Self {
        let (sender, checked) = tokio::sync::mpsc::unbounded_channel();
        Self {
            recorded: HashSet::new(),
            pending: Vec::new(),
            sender,
            checked,
            running: Arc::new(tokio::sync::Semaphore::new(checks)),
        }
    }

    /// Forgets what was recorded below `height` (it cannot repeat).
    fn forget_below(&mut self, height: i64) {
        self.recorded.retain(|(_, at, _)| *at >= height);
    }
}

/// What the sequential stage knows of the chain so far.
struct ChainState {
    checkpoint: Option<i64>,
    last_hash: Option<Hash>,
    /// The committee in force; `None` until known (trust on first use).
    committee: Option<Vec<Sealer>>,
}

impl ChainState {
    fn next_height(&self) -> i64 {
        self.checkpoint.map_or(0, |c| c + 1)
    }
}

/// Sleeps, or returns `true` at once if `shutdown` completes first.
async fn sleep_or_shutdown(
    d: Duration,
    shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
) -> bool {
    tokio::select! {
        () = shutdown => true,
        () = tokio::time::sleep(d) => false,
    }
}

/// What fetches blocks and heads from the endpoints, by health, hedged.
struct Fetcher {
    endpoints: Vec<Arc<Endpoint>>,
    health: Arc<Health>,
    stats: Arc<Stats>,
    hedge: bool,
    /// Endpoints asked for each block's hash ([`IngestConfig::confirm`]).
    confirm: usize,
    suite: CryptoSuite,
    keyring: Arc<Keyring>,
    sealer: Arc<RecordSealer>,
    receipt_concurrency: usize,
}

/// One request to one endpoint.
type Leg<T> = std::pin::Pin<Box<dyn Future<Output = (usize, T)> + Send>>;

/// The requests of one hedged call: those running, and who is next.
struct Legs<T> {
    order: Vec<usize>,
    next: usize,
    futures: futures_util::stream::FuturesUnordered<Leg<T>>,
    started: Vec<(usize, Instant)>,
}

impl<T> Legs<T> {
    /// Starts the next endpoint's request, if any endpoint is left.
    fn launch<F>(&mut self, start: &impl Fn(usize) -> F)
    where
        F: Future<Output = T> + Send + 'static,
    {
        if let Some(&i) = self.order.get(self.next) {
            self.next += 1;
            let f = start(i);
            self.futures.push(Box::pin(async move { (i, f.await) }));
            self.started.push((i, Instant::now()));
        }
    }

    /// How long endpoint `i`'s request ran; it is no longer running.
    fn finish(&mut self, i: usize) -> Duration {
        let took = self
            .started
            .iter()
            .find(|(j, _)| *j == i)
            .map_or(Duration::ZERO, |(_, at)| at.elapsed());
        self.started.retain(|(j, _)| *j != i);
        took
    }
}

impl Fetcher {
    fn url(&self, i: usize) -> &str {
        self.endpoints.get(i).map_or("", |e| e.url())
    }

    /// Asks the endpoints in health order, the next one also when the last
    /// one asked fails or takes longer than its hedge delay; returns the
    /// first answer `take` accepts (`Ok`), with the findings against the
    /// endpoints that answered wrongly. Endpoints still working when
    /// another wins are sampled as abandoned.
    async fn hedged<T, R, F>(
        &self,
        call: Call,
        start: impl Fn(usize) -> F,
        take: impl Fn(usize, T) -> Result<R, LegFailure>,
    ) -> (Result<R, Failure>, Vec<Finding>)
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        use futures_util::StreamExt;
        let mut legs = Legs {
            order: self.health.order(),
            next: 0,
            futures: Default::default(),
            started: Vec::new(),
        };
        let mut findings: Vec<Finding> = Vec::new();
        let mut network: Option<SourceError> = None;
        legs.launch(&start);
        loop {
            let hedge_in = match legs.started.last() {
                Some((i, at)) if self.hedge && legs.next < legs.order.len() => Some(
                    self.health
                        .hedge_delay(*i, call)
                        .saturating_sub(at.elapsed()),
                ),
                _ => None,
            };
            let done = tokio::select! {
                d = legs.futures.next() => d,
                () = sleep_if(hedge_in) => {
                    legs.launch(&start);
                    continue;
                }
            };
            let Some((i, out)) = done else {
                // Every endpoint was asked and none gave a good answer.
                let failure = if findings.is_empty() {
                    Failure::Network(network.unwrap_or_else(|| SourceError::Network {
                        endpoint: String::new(),
                        method: "any",
                        reason: "no endpoint to ask".into(),
                    }))
                } else {
                    Failure::Bad(findings.first().and_then(|f| f.height))
                };
                return (Err(failure), findings);
            };
            let took = legs.finish(i);
            match take(i, out) {
                Ok(r) => {
                    self.health.answered(i, call, took);
                    for (j, at) in legs.started {
                        self.health.abandoned(j, call, at.elapsed());
                    }
                    return (Ok(r), findings);
                }
                Err(LegFailure::Fatal(e)) => return (Err(Failure::Fatal(e)), findings),
                Err(LegFailure::Network(e)) => {
                    self.stats.network_errors.fetch_add(1, Ordering::Relaxed);
                    if self.health.network_error(i) {
                        tracing::warn!(endpoint = self.url(i), error = %e, "endpoint failing");
                    } else {
                        tracing::debug!(endpoint = self.url(i), error = %e, "network error");
                    }
                    network = Some(e);
                }
                Err(LegFailure::Miss(e)) => {
                    network.get_or_insert(e);
                }
                Err(LegFailure::Bad(f)) => {
                    self.health.offended(i);
                    findings.push(*f);
                }
            }
            // This one gave nothing: ask the next at once.
            legs.launch(&start);
        }
    }

    /// The head, from the healthiest endpoint that tells it; with the
    /// endpoint and any findings (a malformed answer benches its endpoint).
    async fn head(&self) -> Result<(usize, i64, Vec<Finding>), (SourceError, Vec<Finding>)> {
        let (r, findings) = self
            .hedged(
                Call::Head,
                |i| {
                    let e = self.endpoints[i].clone();
                    async move { e.block_number().await }
                },
                |i, out| match out {
                    Ok(h) => {
                        self.health.set_head(i, h);
                        Ok((i, h))
                    }
                    Err(e) if e.is_network() => Err(LegFailure::Network(e)),
                    Err(e) => Err(LegFailure::Bad(Box::new(Finding {
                        at_ms: now_ms(),
                        height: None,
                        endpoint: self.url(i).to_string(),
                        check: "malformed-head".into(),
                        detail: e.to_string(),
                        evidence: e.body().unwrap_or_default().to_string(),
                    }))),
                },
            )
            .await;
        match r {
            Ok((i, h)) => Ok((i, h, findings)),
            Err(Failure::Network(e)) => Err((e, findings)),
            Err(Failure::Bad(_) | Failure::Fatal(_)) => Err((
                SourceError::Network {
                    endpoint: String::new(),
                    method: "getBlockNumber",
                    reason: "every endpoint asked answered wrongly".into(),
                },
                findings,
            )),
        }
    }

    /// Block `height`, verified on its own and opened, from the first
    /// endpoint that serves it well; with the findings against the others.
    async fn block(self: Arc<Self>, height: i64) -> (Result<Processed, Failure>, Vec<Finding>) {
        let me = self.clone();
        self.hedged(
            Call::Block,
            move |i| {
                let me = me.clone();
                async move { me.leg(i, height).await }
            },
            |_, out| out,
        )
        .await
    }

    /// Compares the hashes the endpoints asked named at `height`
    /// ([`IngestConfig::confirm`]) with the hash stored there. An endpoint
    /// that names another is asked for its block: one that verifies against
    /// the committee in force is an `equivocation` (the committee sealed two
    /// blocks at one height; the other block is the evidence), anything else
    /// a `lying-endpoint` (and the endpoint is benched). An endpoint that did
    /// not answer is counted, not blamed.
    async fn cross_check(
        self: Arc<Self>,
        height: i64,
        stored: Hash,
        committee: Option<Vec<Sealer>>,
        answers: Vec<(usize, Result<Hash, SourceError>)>,
    ) -> Vec<Finding> {
        let mut out = Vec::new();
        for (i, answer) in answers {
            let named = match answer {
                Ok(h) => h,
                Err(e) => {
                    self.stats.unconfirmed.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(endpoint = %self.url(i), height, error = %e, "no hash to cross-check");
                    continue;
                }
            };
            if named == stored {
                self.stats.confirmed.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            self.stats.disagreed.fetch_add(1, Ordering::Relaxed);
            let endpoint = self.endpoints[i].clone();
            let (named_hex, stored_hex) = (encode0x(&named), encode0x(&stored));
            let finding = |check: &str, detail: String, evidence: String| Finding {
                at_ms: now_ms(),
                height: Some(height),
                endpoint: endpoint.url().to_string(),
                check: check.to_string(),
                detail,
                evidence,
            };
            let lie = |detail: String, evidence: String| {
                self.health.offended(i);
                finding("lying-endpoint", detail, evidence)
            };
            let served = match endpoint.block(height).await {
                Ok(s) => s,
                Err(e) => {
                    out.push(lie(
                        format!("names {named_hex} as block {height} (stored: {stored_hex}) and does not serve it: {e}"),
                        String::new(),
                    ));
                    continue;
                }
            };
            let served_hash = served.block.header.claimed_hash;
            if served_hash == stored {
                out.push(lie(
                    format!("names {named_hex} as block {height} but serves the stored block {stored_hex} there"),
                    served.raw,
                ));
                continue;
            }
            let suite = self.suite;
            let Served { block, raw } = served;
            let committee = committee.clone();
            let report = tokio::task::spawn_blocking(move || {
                committee.map(|c| chain::verify::verify_block(suite, &block, Some(&c)))
            })
            .await;
            out.push(match report {
                Ok(Some(r)) if r.passed() => {
                    tracing::error!(
                        endpoint = %endpoint.url(),
                        height,
                        stored = %stored_hex,
                        other = %encode0x(&served_hash),
                        "EQUIVOCATION: the committee sealed two blocks at one height"
                    );
                    finding(
                        "equivocation",
                        format!(
                            "block {height} is {stored_hex} here, but this endpoint names {named_hex} and serves {}, also sealed by a quorum of the committee in force",
                            encode0x(&served_hash)
                        ),
                        raw,
                    )
                }
                Ok(Some(r)) => {
                    let failed: Vec<String> = r.failures().map(ToString::to_string).collect();
                    lie(
                        format!("names {named_hex} as block {height} (stored: {stored_hex}); its block there, {}, fails verification: {}", encode0x(&served_hash), failed.join("; ")),
                        raw,
                    )
                }
                Ok(None) => lie(
                    format!("names {named_hex} as block {height} (stored: {stored_hex}); no committee to check its block against"),
                    raw,
                ),
                Err(e) => lie(
                    format!("names {named_hex} as block {height} (stored: {stored_hex}); checking its block failed: {e}"),
                    raw,
                ),
            });
        }
        out
    }

    /// The hash at `height` of the first [`IngestConfig::confirm`]
    /// answering endpoints by health, asked at once.
    async fn confirmations(&self, height: i64) -> Vec<(usize, Result<Hash, SourceError>)> {
        // Failing and benched endpoints are not asked: a benched liar would
        // add a finding a block.
        let asked: Vec<usize> = self
            .health
            .answering()
            .into_iter()
            .take(self.confirm)
            .collect();
        let answers = asked.iter().map(|&i| {
            let endpoint = self.endpoints[i].clone();
            async move { (i, endpoint.block_hash(height).await) }
        });
        futures_util::future::join_all(answers).await
    }

    /// Block `height` from endpoint `i`, with its receipts, checked on its
    /// own and opened.
    async fn leg(&self, i: usize, height: i64) -> Result<Processed, LegFailure> {
        let endpoint = self.endpoints[i].clone();
        let url = endpoint.url().to_string();
        let bad = |check: &str, detail: String, evidence: String| {
            LegFailure::Bad(Box::new(Finding {
                at_ms: now_ms(),
                height: Some(height),
                endpoint: url.clone(),
                check: check.to_string(),
                detail,
                evidence,
            }))
        };
        let started = Instant::now();
        let served = match endpoint.block(height).await {
            Ok(s) => s,
            Err(e) if e.is_network() => return Err(LegFailure::Network(e)),
            Err(e @ SourceError::Rpc { code, .. }) if code == LEDGER_BLOCK_NOT_FOUND => {
                // A lie only from an endpoint that claims the block exists:
                // the head it last reported, or, when that is older than
                // the block (another endpoint may have told the head), the
                // head it reports now.
                let head = match self.health.head(i) {
                    Some(head) if head >= height => Some(head),
                    _ => match endpoint.block_number().await {
                        Ok(head) => {
                            self.health.set_head(i, head);
                            // It may have stored the block since it said it
                            // had none (at the tip): a lie only if it still
                            // says so.
                            if head >= height
                                && !matches!(
                                    endpoint.block(height).await,
                                    Err(SourceError::Rpc { code, .. }) if code == LEDGER_BLOCK_NOT_FOUND
                                )
                            {
                                return Err(LegFailure::Miss(e));
                            }
                            Some(head)
                        }
                        Err(_) => None,
                    },
                };
                return match head {
                    Some(head) if head >= height => Err(bad(
                        "withheld-block",
                        format!(
                            "the endpoint reported head {head} but answers block {height}: {e}"
                        ),
                        e.body().unwrap_or_default().to_string(),
                    )),
                    _ => Err(LegFailure::Miss(e)),
                };
            }
            Err(e) => {
                let check = match &e {
                    SourceError::Rpc { .. } => "rpc-error",
                    _ => "malformed-answer",
                };
                let evidence = e.body().unwrap_or_default().to_string();
                return Err(bad(check, e.to_string(), evidence));
            }
        };
        if served.block.header.number != height {
            let detail = format!(
                "asked for block {height}, served block {}",
                served.block.header.number
            );
            return Err(bad("block-number", detail, served.raw));
        }
        if !matches!(served.block.transactions, BlockTransactions::Full(_)) {
            return Err(bad(
                "transactions",
                "the block was served without its full transactions".into(),
                served.raw,
            ));
        }
        let receipts = if self.receipt_concurrency == 0 {
            None
        } else {
            match fetch_receipts(&endpoint, &served.block, self.receipt_concurrency).await {
                Ok(r) => Some(r),
                Err(e) if e.is_network() => return Err(LegFailure::Network(e)),
                Err(e) => {
                    let check = match &e {
                        SourceError::Rpc { .. } => "withheld-receipt",
                        _ => "malformed-receipt",
                    };
                    let evidence = e.body().unwrap_or_default().to_string();
                    return Err(bad(check, e.to_string(), evidence));
                }
            }
        };
        self.stats.fetch_seconds.since(started);
        let (suite, keyring, sealer) = (self.suite, self.keyring.clone(), self.sealer.clone());
        let work = tokio::task::spawn_blocking(move || {
            process(suite, served, receipts, &keyring, &sealer)
        });
        match work.await {
            Ok(Ok(mut p)) => {
                p.endpoint = i;
                self.stats.verify_seconds.observe(p.verify_time);
                self.stats.open_seconds.observe(p.open_time);
                Ok(p)
            }
            Ok(Err(ProcessError::Seal(e))) => Err(LegFailure::Fatal(format!(
                "cannot seal an opened record of block {height}: {e}"
            ))),
            Ok(Err(ProcessError::Verify(report, raw))) => {
                let failures: Vec<String> = report.failures().map(ToString::to_string).collect();
                let check = report
                    .failures()
                    .next()
                    .map(|c| c.name.clone())
                    .unwrap_or_else(|| "verify".into());
                Err(bad(&check, failures.join("; "), raw))
            }
            // A panic is a bug of this node, not evidence against the endpoint:
            // it stops ingest with the block named instead of recording a finding.
            Err(e) => Err(LegFailure::Fatal(format!(
                "bug: verifying block {height} panicked ({e}); nothing of it was stored, please report it"
            ))),
        }
    }
}

/// Sleeps for `d`, or forever when there is nothing to wait for.
async fn sleep_if(d: Option<Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

/// The receipts of every transaction of `block`, in block order, at most
/// `concurrency` requests at once.
async fn fetch_receipts(
    endpoint: &Arc<Endpoint>,
    block: &Block,
    concurrency: usize,
) -> Result<Vec<Receipt>, SourceError> {
    use futures_util::{StreamExt, TryStreamExt};
    let hashes: Vec<Hash> = match &block.transactions {
        BlockTransactions::Full(txs) => txs.iter().map(|t| t.claimed_hash).collect(),
        _ => Vec::new(),
    };
    futures_util::stream::iter(hashes)
        .map(|hash| {
            let endpoint = endpoint.clone();
            async move { endpoint.receipt(&hash).await }
        })
        .buffered(concurrency)
        .try_collect()
        .await
}

/// Why processing a block failed.
enum ProcessError {
    /// The block failed a check: a finding.
    Verify(Report, String),
    /// An opened record could not be sealed: the node must stop.
    Seal(String),
}

/// Verifies the block on its own and opens every payload (CPU work).
fn process(
    suite: CryptoSuite,
    served: Served,
    receipts: Option<Vec<Receipt>>,
    keyring: &Keyring,
    sealer: &RecordSealer,
) -> Result<Processed, ProcessError> {
    let started = Instant::now();
    let (report, senders) = verify_block_senders(suite, &served.block, None);
    if !report.passed() {
        return Err(ProcessError::Verify(report, served.raw));
    }
    if let Some(receipts) = &receipts {
        let report = verify_block_receipts(suite, &served.block, &senders, receipts);
        if !report.passed() {
            return Err(ProcessError::Verify(report, served.raw));
        }
    }
    let verify_time = started.elapsed();
    let started = Instant::now();
    let (envelopes, opened) = open_all(&served.block, &senders, keyring, sealer)
        .map_err(|e| ProcessError::Seal(e.to_string()))?;
    Ok(Processed {
        endpoint: 0,
        served,
        envelopes,
        receipts,
        opened,
        verify_time,
        open_time: started.elapsed(),
    })
}

/// Classifies and opens the payload of every transaction of a verified
/// block (in parallel); opened payloads are sealed for storage at rest,
/// bound to their transaction hash. Fails only if sealing fails (the system
/// random generator), so that no opened payload is stored without its record.
pub fn open_all(
    block: &Block,
    senders: &[Option<chain::crypto::Address>],
    keyring: &Keyring,
    sealer: &RecordSealer,
) -> Result<(Vec<TxEnvelope>, u64), privacy::Error> {
    let BlockTransactions::Full(txs) = &block.transactions else {
        return Ok((Vec::new(), 0));
    };
    let out: Vec<(TxEnvelope, bool)> = txs
        .par_iter()
        .zip(senders.par_iter())
        .map(|(t, sender)| open_one(t, sender.as_ref(), keyring, sealer))
        .collect::<Result<_, _>>()?;
    let opened = out.iter().filter(|(_, o)| *o).count() as u64;
    let out = out.into_iter().map(|(e, _)| e).collect();
    Ok((out, opened))
}

pub use chain::payload::envelope_candidates;

/// Classifies one transaction's payload; `true` when it was opened.
fn open_one(
    t: &chain::model::Transaction,
    sender: Option<&chain::crypto::Address>,
    keyring: &Keyring,
    sealer: &RecordSealer,
) -> Result<(TxEnvelope, bool), privacy::Error> {
    let candidates = envelope_candidates(&t.input);
    let body = candidates.first().copied().unwrap_or(&t.input);
    let Some(sender) = sender else {
        return Ok((
            TxEnvelope {
                class: privacy::envelope::Class::Malformed.as_str().into(),
                detail: "the transaction's sender is unknown".into(),
                sealed_record: None,
            },
            false,
        ));
    };
    let ctx = match TxContext::new(&t.chain_id, &t.group_id, *sender) {
        Ok(c) => c,
        Err(e) => {
            let class = match privacy::envelope::Envelope::parse(body) {
                Err(privacy::envelope::ParseError::NotEnvelope) => {
                    privacy::envelope::Class::NotEnvelope
                }
                _ => privacy::envelope::Class::WrongContext,
            };
            return Ok((
                TxEnvelope {
                    class: class.as_str().into(),
                    detail: format!("transaction context: {e}"),
                    sealed_record: None,
                },
                false,
            ));
        }
    };
    // Of several candidates, the first that opens: a decoy before the
    // regulator's envelope does not hide it.
    let mut outcome = keyring.open(body, &ctx);
    if outcome.payload().is_none() {
        for other in candidates.iter().skip(1) {
            let o = keyring.open(other, &ctx);
            if o.payload().is_some() {
                outcome = o;
                break;
            }
        }
    }
    let class = outcome.class();
    let detail = outcome.describe();
    let sealed_record = match outcome.payload() {
        Some(plain) => Some(sealer.seal(&t.claimed_hash, plain)?),
        None => None,
    };
    let opened = sealed_record.is_some();
    Ok((
        TxEnvelope {
            class: class.as_str().into(),
            detail,
            sealed_record,
        },
        opened,
    ))
}
