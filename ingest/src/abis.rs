//! ABIs from the chain: a stage of the store ([`store::follow`]) that
//! registers the ABI of every contract the verified chain touches, so that
//! calls and events decode without an operator uploading them.
//!
//! Per block, in height order from its own checkpoint:
//! - a deploy transaction carries its contract's JSON ABI in its `abi`
//!   field, which the transaction hash covers: verified with the block, it
//!   is registered for the address the receipt names (source
//!   `chain:deploy H/I`);
//! - every other contract the block touches (called, or emitting an event)
//!   and the registry does not know is asked of every endpoint with
//!   `getABI` (FISCO BCOS 3.x); when those that give one give the same, it
//!   is registered (source `chain:getABI URL…`, naming them); when they
//!   differ, none is (a warning names them). What endpoints say here is
//!   not verified (the chain keeps no commitment to an ABI): it only names
//!   fields, and an admin's upload replaces it as a new version.
//!
//! A contract the endpoints have no ABI for is asked again after
//! [`ASK_AGAIN_AFTER`], one no endpoint could be asked about after
//! [`ASK_AGAIN_SOON`] (memory of the asking is bounded: [`MAX_ASKED`]).
//! Registering an ABI changes the registry, which the index notices and
//! re-decodes the contract's documents.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use store::follow::{Next, Progress, Stage, Step};
use store::{Store, StoreError};

use crate::source::Endpoint;

/// Blocks handled per step at most.
pub const STEP_BLOCKS: i64 = 64;
/// How long a contract without an ABI on the chain waits to be asked again.
pub const ASK_AGAIN_AFTER: Duration = Duration::from_secs(3600);
/// How long a contract waits to be asked again when no endpoint answered.
pub const ASK_AGAIN_SOON: Duration = Duration::from_secs(60);
/// Contracts remembered as asked at most.
pub const MAX_ASKED: usize = 100_000;

/// Why the stage stopped.
#[derive(Debug, thiserror::Error)]
pub enum AbiFetchError {
    /// The store failed.
    #[error("ABI fetcher: store: {0}")]
    Store(#[from] StoreError),
    /// The registry failed for another reason than the ABI.
    #[error("ABI fetcher: {0}")]
    Registry(String),
    /// A blocking task panicked.
    #[error("ABI fetcher: a blocking task panicked: {0}")]
    Panicked(String),
}

/// What the fetcher did, for `/metrics`.
#[derive(Debug, Default)]
pub struct AbiFetchStats {
    /// ABIs registered from deploy transactions.
    pub from_deploys: AtomicU64,
    /// ABIs registered from `getABI`.
    pub from_endpoints: AtomicU64,
    /// `getABI` requests made.
    pub asked: AtomicU64,
    /// Answers that were no ABI, or one that does not parse.
    pub missing: AtomicU64,
    /// `getABI` requests that failed (network, malformed answers).
    pub errors: AtomicU64,
}

/// The stage.
pub struct AbiFetcher {
    store: Arc<Store>,
    endpoints: Vec<Endpoint>,
    /// Contracts asked for, when, and how long until they may be again.
    asked: HashMap<[u8; 20], (Instant, Duration)>,
    stats: Arc<AbiFetchStats>,
    progress: Arc<Progress>,
    stop_at: Option<i64>,
}

impl std::fmt::Debug for AbiFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AbiFetcher")
            .field("endpoints", &self.endpoints.len())
            .field("asked", &self.asked.len())
            .finish_non_exhaustive()
    }
}

/// What a block asks of the fetcher.
#[derive(Debug, Default)]
struct Wanted {
    /// (contract, ABI text, source) from deploy transactions.
    deploys: Vec<([u8; 20], String, String)>,
    /// Contracts touched that the registry does not know.
    unknown: BTreeSet<[u8; 20]>,
}

impl AbiFetcher {
    /// A fetcher over `store` asking `endpoints`, stopping after `stop_at`
    /// when given.
    pub fn new(
        store: Arc<Store>,
        endpoints: Vec<Endpoint>,
        stop_at: Option<i64>,
    ) -> Result<Self, AbiFetchError> {
        let checkpoint = read_checkpoint(&store)?;
        Ok(Self {
            store,
            endpoints,
            asked: HashMap::new(),
            stats: Arc::new(AbiFetchStats::default()),
            progress: Progress::new("abis", checkpoint),
            stop_at,
        })
    }

    /// The same fetcher, its stage named `name` in `/metrics` (`abis:ID`
    /// for a chain of several).
    pub fn named(mut self, name: &str) -> Self {
        self.progress = Progress::new(name, Some(self.progress.checkpoint()).filter(|c| *c >= 0));
        self
    }

    /// The counters.
    pub fn stats(&self) -> Arc<AbiFetchStats> {
        self.stats.clone()
    }

    /// Follows the store until `shutdown` (or the stop height).
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), AbiFetchError> {
        let store = self.store.clone();
        store::follow::follow(self, &store, shutdown).await
    }

    /// Registers what the deploys carry; asks the endpoints for the rest.
    async fn register(&mut self, wanted: Wanted) -> Result<(), AbiFetchError> {
        let store = self.store.clone();
        let stats = self.stats.clone();
        let deploys = wanted.deploys;
        let unknown: Vec<[u8; 20]> = blocking(move || {
            for (address, abi, source) in deploys {
                if save(&store, &address, &abi, &source)? {
                    stats.from_deploys.fetch_add(1, Ordering::Relaxed);
                }
            }
            // Known by now (a deploy above, an upload, another step)?
            let mut still = Vec::new();
            for a in wanted.unknown {
                if records::abis::latest(&store, &a)
                    .map_err(registry_error)?
                    .is_none()
                {
                    still.push(a);
                }
            }
            Ok(still)
        })
        .await?;
        let now = Instant::now();
        for address in unknown {
            if self
                .asked
                .get(&address)
                .is_some_and(|(at, wait)| now.duration_since(*at) < *wait)
            {
                continue;
            }
            let name = format!("0x{}", hex::encode(address));
            match self.ask(&name).await {
                Ok((abi, urls)) => {
                    let store = self.store.clone();
                    let source = format!("chain:getABI {urls}");
                    let saved = blocking(move || save(&store, &address, &abi, &source)).await?;
                    if saved {
                        self.stats.from_endpoints.fetch_add(1, Ordering::Relaxed);
                    } else {
                        self.stats.missing.fetch_add(1, Ordering::Relaxed);
                        self.remember(address, now, ASK_AGAIN_AFTER);
                    }
                }
                Err(unreachable) => {
                    let wait = if unreachable {
                        ASK_AGAIN_SOON
                    } else {
                        ASK_AGAIN_AFTER
                    };
                    self.remember(address, now, wait);
                }
            }
        }
        Ok(())
    }

    /// What the endpoints say of `address`'s ABI: every endpoint is asked;
    /// the ABI if those that give one agree (with the endpoints that gave
    /// it), `Err(true)` when none could be asked (ask again soon),
    /// `Err(false)` when none has one or they disagree (logged).
    async fn ask(&self, address: &str) -> Result<(String, String), bool> {
        let mut answers: Vec<(String, String)> = Vec::new();
        let mut failed = 0;
        for e in &self.endpoints {
            self.stats.asked.fetch_add(1, Ordering::Relaxed);
            match e.abi(address).await {
                Ok(Some(abi)) => answers.push((abi, e.url().to_string())),
                Ok(None) => {
                    tracing::debug!(
                        contract = address,
                        endpoint = e.url(),
                        "no ABI on the chain"
                    );
                }
                Err(err) => {
                    failed += 1;
                    self.stats.errors.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(contract = address, endpoint = e.url(), error = %err, "getABI failed");
                }
            }
        }
        let Some((first, _)) = answers.first() else {
            if failed == self.endpoints.len() && failed > 0 {
                return Err(true);
            }
            self.stats.missing.fetch_add(1, Ordering::Relaxed);
            return Err(false);
        };
        if answers.iter().any(|(abi, _)| abi != first) {
            self.stats.missing.fetch_add(1, Ordering::Relaxed);
            let endpoints: Vec<&str> = answers.iter().map(|(_, u)| u.as_str()).collect();
            tracing::warn!(
                contract = address,
                ?endpoints,
                "the endpoints give different ABIs for the contract; none registered"
            );
            return Err(false);
        }
        let urls: Vec<String> = answers.iter().map(|(_, u)| u.clone()).collect();
        Ok((first.clone(), urls.join(" ")))
    }

    fn remember(&mut self, address: [u8; 20], at: Instant, wait: Duration) {
        if self.asked.len() >= MAX_ASKED {
            // Forget what may be asked again anyway; if that is not enough,
            // everything (each is asked again once more, no worse).
            self.asked.retain(|_, (t, w)| at.duration_since(*t) < *w);
            if self.asked.len() >= MAX_ASKED {
                self.asked.clear();
            }
        }
        self.asked.insert(address, (at, wait));
    }
}

impl Stage for AbiFetcher {
    type Error = AbiFetchError;

    fn progress(&self) -> Arc<Progress> {
        self.progress.clone()
    }

    async fn step(mut self, head: Option<i64>) -> Result<(Self, Step), AbiFetchError> {
        let store = self.store.clone();
        let checkpoint = blocking(move || read_checkpoint(&store)).await?;
        let mut target = head.unwrap_or(-1);
        if let Some(s) = self.stop_at {
            target = target.min(s);
        }
        let first = checkpoint.map_or(0, |c| c + 1);
        if first > target {
            let done = self
                .stop_at
                .is_some_and(|s| checkpoint.is_some_and(|c| c >= s));
            let next = if done { Next::Done } else { Next::Wait(None) };
            return Ok((self, Step { checkpoint, next }));
        }
        let last = target.min(first + STEP_BLOCKS - 1);
        let store = self.store.clone();
        let wanted = blocking(move || wanted(&store, first, last)).await?;
        let result = self.register(wanted).await;
        let store = self.store.clone();
        let written = match result {
            Ok(()) => {
                blocking(move || {
                    store.write(&[records::abis::fetched_to_op(last)])?;
                    Ok(())
                })
                .await
            }
            Err(e) => Err(e),
        };
        match written {
            Ok(()) => {
                let next = if last < target {
                    Next::Now
                } else if self.stop_at.is_some_and(|s| last >= s) {
                    Next::Done
                } else {
                    Next::Wait(None)
                };
                Ok((
                    self,
                    Step {
                        checkpoint: Some(last),
                        next,
                    },
                ))
            }
            Err(AbiFetchError::Store(e)) if e.is_disk_fault() => {
                tracing::warn!(error = %e, "ABI fetcher paused until the disk takes writes again");
                Ok((self, Step::disk_fault(checkpoint)))
            }
            Err(e) => Err(e),
        }
    }
}

/// What blocks `first..=last` ask: deploys' ABIs, and the contracts they
/// touch that the registry does not know.
fn wanted(store: &Store, first: i64, last: i64) -> Result<Wanted, AbiFetchError> {
    let mut w = Wanted::default();
    let mut seen: BTreeSet<[u8; 20]> = BTreeSet::new();
    for h in first..=last {
        for stored in store.transactions_at(h)? {
            let (t, i) = (&stored.tx, stored.index);
            let receipt = store.receipt(&t.claimed_hash)?;
            if t.to.trim().is_empty() {
                let created = receipt.as_ref().and_then(|r| address(&r.contract_address));
                if let Some(a) = created
                    && !t.abi.trim().is_empty()
                {
                    w.deploys
                        .push((a, t.abi.clone(), format!("chain:deploy {h}/{i}")));
                    seen.insert(a);
                }
                continue;
            }
            let touched = address(&t.to).into_iter().chain(
                receipt
                    .iter()
                    .flat_map(|r| r.logs.iter().filter_map(|l| address(&l.address))),
            );
            for a in touched {
                if seen.insert(a)
                    && records::abis::latest(store, &a)
                        .map_err(registry_error)?
                        .is_none()
                {
                    w.unknown.insert(a);
                }
            }
        }
    }
    Ok(w)
}

/// Registers `abi` for `address`; `false` when it does not parse (logged)
/// or was there already.
fn save(store: &Store, address: &[u8; 20], abi: &str, source: &str) -> Result<bool, AbiFetchError> {
    match records::abis::save(store, address, abi, source, records::time::now_ms()) {
        Ok(records::abis::Saved::Added(version)) => {
            tracing::info!(contract = %format!("0x{}", hex::encode(address)), version, source, "ABI registered from the chain");
            Ok(true)
        }
        Ok(records::abis::Saved::Unchanged(_)) => Ok(false),
        Err(records::abis::AbiRegistryError::Store(e)) => Err(AbiFetchError::Store(e)),
        Err(e) => {
            tracing::warn!(contract = %format!("0x{}", hex::encode(address)), source, error = %e, "an ABI from the chain was not registered");
            Ok(false)
        }
    }
}

fn registry_error(e: records::abis::AbiRegistryError) -> AbiFetchError {
    match e {
        records::abis::AbiRegistryError::Store(s) => AbiFetchError::Store(s),
        e => AbiFetchError::Registry(e.to_string()),
    }
}

fn read_checkpoint(store: &Store) -> Result<Option<i64>, AbiFetchError> {
    Ok(records::abis::fetched_to(store)?)
}

fn address(text: &str) -> Option<[u8; 20]> {
    let t = text.trim();
    let digits = t.strip_prefix("0x").unwrap_or(t);
    let mut out = [0u8; 20];
    hex::decode_to_slice(digits, &mut out).ok()?;
    Some(out)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, AbiFetchError> + Send + 'static,
) -> Result<T, AbiFetchError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AbiFetchError::Panicked(e.to_string()))?
}
