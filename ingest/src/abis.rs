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
//!   and the registry does not know is asked of the endpoints with
//!   `getABI` (FISCO BCOS 3.x); a non-empty answer that parses is
//!   registered (source `chain:getABI URL`). What an endpoint says here is
//!   not verified (the chain keeps no commitment to an ABI): it only names
//!   fields, and an admin's upload replaces it as a new version.
//!
//! A contract the endpoints have no ABI for is asked again after
//! [`ASK_AGAIN_AFTER`] (memory of the asking is bounded: [`MAX_ASKED`]).
//! Registering an ABI changes the registry, which the index notices and
//! re-decodes the contract's documents.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use store::follow::{Next, Progress, Stage, Step};
use store::{Family, Op, Store, StoreError};

use crate::source::Endpoint;

/// The stage's family: its checkpoint.
pub const ABI_FETCH: Family = Family::new("abi_fetch");
const CHECKPOINT: &[u8] = b"checkpoint";
/// Blocks handled per step at most.
pub const STEP_BLOCKS: i64 = 64;
/// How long a contract without an ABI on the chain waits to be asked again.
pub const ASK_AGAIN_AFTER: Duration = Duration::from_secs(3600);
/// Contracts remembered as asked at most (the oldest is forgotten first).
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
    asked: HashMap<[u8; 20], Instant>,
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
                .is_some_and(|at| now.duration_since(*at) < ASK_AGAIN_AFTER)
            {
                continue;
            }
            self.remember(address, now);
            let name = format!("0x{}", hex::encode(address));
            if let Some((abi, url)) = self.ask(&name).await {
                let store = self.store.clone();
                let source = format!("chain:getABI {url}");
                let saved = blocking(move || save(&store, &address, &abi, &source)).await?;
                if saved {
                    self.stats.from_endpoints.fetch_add(1, Ordering::Relaxed);
                } else {
                    self.stats.missing.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        Ok(())
    }

    /// The first ABI an endpoint gives for `address`, and the endpoint.
    async fn ask(&self, address: &str) -> Option<(String, String)> {
        for e in &self.endpoints {
            self.stats.asked.fetch_add(1, Ordering::Relaxed);
            match e.abi(address).await {
                Ok(Some(abi)) => return Some((abi, e.url().to_string())),
                Ok(None) => {
                    self.stats.missing.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(
                        contract = address,
                        endpoint = e.url(),
                        "no ABI on the chain"
                    );
                    return None;
                }
                Err(err) => {
                    self.stats.errors.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(contract = address, endpoint = e.url(), error = %err, "getABI failed");
                }
            }
        }
        None
    }

    fn remember(&mut self, address: [u8; 20], at: Instant) {
        if self.asked.len() >= MAX_ASKED
            && let Some(oldest) = self.asked.iter().min_by_key(|(_, t)| **t).map(|(a, _)| *a)
        {
            self.asked.remove(&oldest);
        }
        self.asked.insert(address, at);
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
                    store.write(&[Op::Put(
                        ABI_FETCH,
                        CHECKPOINT.to_vec(),
                        last.to_be_bytes().to_vec(),
                    )])?;
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
    Ok(store
        .read(ABI_FETCH, CHECKPOINT)?
        .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
        .map(i64::from_be_bytes))
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
