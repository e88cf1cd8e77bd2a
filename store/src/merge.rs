//! The merged log: the blocks of every chain a node follows, in one order
//! that the consumers (the index, the rules) follow as they once followed
//! one chain's heights. A position of the merged log names a chain and a
//! height; the blocks stay in their chain's log.
//!
//! The order is by block time, then chain number, then height, and it is
//! deterministic for blocks that are already stored: the [`Merger`] appends
//! the earliest next block of the chains, but only while every other chain
//! has its next block stored too, or is caught up with the head its
//! endpoints told (its next block is yet to be made), or has held the others
//! back for longer than the hold limit (an unreachable chain does not stop
//! the rest). So two nodes that sync the same chains from their history
//! merge them alike (a window rule over two chains sees their payments in
//! the same order), and a chain that lags only delays the merge.
//!
//! A block that arrives after later blocks of other chains were merged
//! (a chain catching up after it was excused, a clock running behind) is
//! merged when it arrives: the merged log is append-only.
//!
//! With a single chain (number 0) position and height are the same, so
//! a store made when there was one chain, and its consumers' checkpoints,
//! read unchanged.
//!
//! A store without a merger (one chain, the tests, the tools) merges as it
//! commits: each block takes the next position in the same batch.
//!
//! Kept in the store's own family `merged`: `p` ‖ BE64 position → chain
//! number ‖ BE64 height; `c` ‖ chain number → BE64 last merged height;
//! `n` → BE64 positions taken. Each append is one synced batch.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rocksdb::{WriteBatch, WriteOptions};

use crate::{Store, StoreError, be_i64, corrupt};

/// The family of the merged log (the store's own).
pub(crate) const CF_MERGED: &str = "merged";
const KEY_COUNT: &[u8] = b"n";

/// How long a chain that has not stored its next block may hold the others
/// back, by default.
pub const DEFAULT_HOLD: Duration = Duration::from_secs(30);

/// Entries appended in one batch at most.
pub const MERGE_BATCH: usize = 4096;

/// One position of the merged log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Merged {
    /// The position (from 0).
    pub position: i64,
    /// The chain's number.
    pub chain: u8,
    /// The block's height in its chain.
    pub height: i64,
}

fn position_key(position: i64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = b'p';
    k[1..].copy_from_slice(&position.to_be_bytes());
    k
}

fn chain_key(chain: u8) -> [u8; 2] {
    [b'c', chain]
}

/// `r` ‖ chain ‖ BE64 height: the position a chain's block took.
fn reverse_key(chain: u8, height: i64) -> [u8; 10] {
    let mut k = [0u8; 10];
    k[0] = b'r';
    k[1] = chain;
    k[2..].copy_from_slice(&height.to_be_bytes());
    k
}

impl Store {
    fn merged_read(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let db = self.db();
        match db.cf_handle(CF_MERGED) {
            None => Ok(None),
            Some(cf) => Ok(db.get_cf(&cf, key)?),
        }
    }

    /// The last position of the merged log (`None` while empty).
    pub fn merged_head(&self) -> Result<Option<i64>, StoreError> {
        match self.merged_read(KEY_COUNT)? {
            None => Ok(None),
            Some(v) => Ok(Some(be_i64("merged count", &v)? - 1).filter(|h| *h >= 0)),
        }
    }

    /// The last merged height of chain `chain` (`None`: none yet).
    pub fn merged_height(&self, chain: u8) -> Result<Option<i64>, StoreError> {
        match self.merged_read(&chain_key(chain))? {
            None => Ok(None),
            Some(v) => Ok(Some(be_i64("merged height", &v)?)),
        }
    }

    /// The chain and height at `position`, if merged.
    pub fn merged_at(&self, position: i64) -> Result<Option<Merged>, StoreError> {
        match self.merged_read(&position_key(position))? {
            None => Ok(None),
            Some(v) => decode(position, &v).map(Some),
        }
    }

    /// The position chain `chain`'s block `height` took, if merged.
    pub fn merged_position(&self, chain: u8, height: i64) -> Result<Option<i64>, StoreError> {
        match self.merged_read(&reverse_key(chain, height))? {
            None => Ok(None),
            Some(v) => Ok(Some(be_i64("merged position", &v)?)),
        }
    }

    /// The highest height of chain `chain` merged at or before `position`
    /// (what a consumer at that position has seen of the chain).
    pub fn merged_height_at(&self, chain: u8, position: i64) -> Result<Option<i64>, StoreError> {
        let Some(top) = self.merged_height(chain)? else {
            return Ok(None);
        };
        // Positions grow with heights: the last height at or before it.
        let (mut lo, mut hi) = (0i64, top);
        let mut best = None;
        while lo <= hi {
            let mid = lo + (hi - lo) / 2;
            match self.merged_position(chain, mid)? {
                Some(p) if p <= position => {
                    best = Some(mid);
                    lo = mid + 1;
                }
                Some(_) => hi = mid - 1,
                // Merged before positions were kept per height: a store
                // made for one chain, whose positions are its heights.
                None => return Ok(Some(position.min(top)).filter(|h| *h >= 0)),
            }
        }
        Ok(best)
    }

    /// Up to `limit` positions from `from` on, in order.
    pub fn merged_from(&self, from: i64, limit: usize) -> Result<Vec<Merged>, StoreError> {
        let db = self.db();
        let Some(cf) = db.cf_handle(CF_MERGED) else {
            return Ok(Vec::new());
        };
        let start = position_key(from.max(0));
        let mode = rocksdb::IteratorMode::From(&start, rocksdb::Direction::Forward);
        let mut out = Vec::new();
        for item in db.iterator_cf(&cf, mode) {
            if out.len() >= limit {
                break;
            }
            let (k, v) = item?;
            if k.first() != Some(&b'p') {
                break;
            }
            let position = be_i64("merged position", &k[1..])?;
            out.push(decode(position, &v)?);
        }
        Ok(out)
    }

    /// A receiver of the merged log's last position: the consumers that
    /// follow every chain wait on it.
    pub fn subscribe_merged(&self) -> tokio::sync::watch::Receiver<Option<i64>> {
        self.shared.merged.subscribe()
    }

    /// The handle of the chain a merged position names.
    pub fn chain_of(&self, m: &Merged) -> Result<Store, StoreError> {
        if m.chain == self.chain {
            Ok(self.handle())
        } else {
            self.for_chain(m.chain)
        }
    }

    /// Appends `entries` (chain, height, in order) at the end of the merged
    /// log, in one synced batch. Each must be its chain's next height.
    fn merge_append(&self, entries: &[(u8, i64)]) -> Result<Option<i64>, StoreError> {
        let _held = self
            .shared
            .merging
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let db = self.writer()?;
        let mut batch = WriteBatch::default();
        let head = self.merge_into(&db, &mut batch, entries)?;
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.wrote(db.write_opt(batch, &wo))?;
        self.shared.merged.send_replace(head);
        Ok(head)
    }

    /// Puts `entries` (chain, height, in order) at the end of the merged log
    /// into `batch`, and returns the last position they take. The caller
    /// holds the merging lock until the batch is written.
    pub(crate) fn merge_into(
        &self,
        db: &crate::DB,
        batch: &mut WriteBatch,
        entries: &[(u8, i64)],
    ) -> Result<Option<i64>, StoreError> {
        if db.cf_handle(CF_MERGED).is_none() {
            match db.create_cf(CF_MERGED, &rocksdb::Options::default()) {
                Ok(()) => {}
                Err(_) if db.cf_handle(CF_MERGED).is_some() => {}
                Err(e) => self.wrote(Err(e))?,
            }
        }
        let mut next = self.merged_head()?.map_or(0, |h| h + 1);
        let mut heights: BTreeMap<u8, i64> = BTreeMap::new();
        let cf = crate::cf(db, CF_MERGED)?;
        for &(chain, height) in entries {
            let last = match heights.get(&chain) {
                Some(h) => Some(*h),
                None => self.merged_height(chain)?,
            };
            if height != last.map_or(0, |h| h + 1) {
                return Err(StoreError::InvalidCommit(format!(
                    "merging height {height} of chain {chain} after {last:?}"
                )));
            }
            heights.insert(chain, height);
            let mut v = [0u8; 9];
            v[0] = chain;
            v[1..].copy_from_slice(&height.to_be_bytes());
            batch.put_cf(&cf, position_key(next), v);
            batch.put_cf(&cf, reverse_key(chain, height), next.to_be_bytes());
            next += 1;
        }
        for (chain, h) in &heights {
            batch.put_cf(&cf, chain_key(*chain), h.to_be_bytes());
        }
        batch.put_cf(&cf, KEY_COUNT, next.to_be_bytes());
        Ok(Some(next - 1).filter(|h| *h >= 0))
    }

    /// A store made before the merged log: chain 0's stored blocks take the
    /// positions of their heights (so its consumers' checkpoints read as
    /// they were), in batches.
    pub(crate) fn merge_legacy(&self) -> Result<(), StoreError> {
        if self.merged_read(KEY_COUNT)?.is_some() {
            return Ok(());
        }
        let root = self.for_chain(0)?;
        let Some(cp) = root.checkpoint()? else {
            return Ok(());
        };
        let mut from = 0;
        while from <= cp {
            let to = cp.min(from + MERGE_BATCH as i64 - 1);
            let entries: Vec<(u8, i64)> = (from..=to).map(|h| (0, h)).collect();
            root.merge_append(&entries)?;
            from = to + 1;
        }
        tracing::info!(
            blocks = cp + 1,
            "the stored blocks were given their places in the merged log"
        );
        Ok(())
    }
}

fn decode(position: i64, v: &[u8]) -> Result<Merged, StoreError> {
    if v.len() != 9 {
        return Err(corrupt(
            format!("merged position {position}"),
            format!("{} bytes where 9 were expected", v.len()),
        ));
    }
    Ok(Merged {
        position,
        chain: v[0],
        height: be_i64("merged height", &v[1..])?,
    })
}

/// What a merge step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MergeStep {
    /// Positions appended.
    pub appended: usize,
    /// Whether more can be merged now.
    pub more: bool,
    /// When a chain that holds the others back is excused, if one does.
    pub hold_until: Option<Instant>,
}

/// Merges the chains' logs into the merged log (see the module's text).
pub struct Merger {
    chains: Vec<Arc<Store>>,
    hold: Duration,
    /// Since when a chain without its next block has held the others back.
    held_since: Option<Instant>,
    /// The block time of each chain's next block, once read.
    times: BTreeMap<u8, (i64, i64)>,
}

impl std::fmt::Debug for Merger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Merger")
            .field("chains", &self.chains.len())
            .field("hold", &self.hold)
            .finish_non_exhaustive()
    }
}

impl Merger {
    /// A merger of `chains` (their handles, of one store), holding for at
    /// most `hold`. From now on the store's commits leave the merged log to
    /// it.
    pub fn new(chains: Vec<Arc<Store>>, hold: Duration) -> Self {
        if let Some(c) = chains.first() {
            c.shared
                .auto_merge
                .store(false, std::sync::atomic::Ordering::Release);
        }
        Self {
            chains,
            hold,
            held_since: None,
            times: BTreeMap::new(),
        }
    }

    /// A merger of every chain registered in `root`'s store (chain 0 alone
    /// when none is), that never holds: for offline work on a store no
    /// node is filling (a rebuild of the index).
    pub fn for_store(root: &Store) -> Result<Self, StoreError> {
        let mut chains = Vec::new();
        for e in root.chains()? {
            chains.push(Arc::new(root.for_chain(e.number)?));
        }
        if chains.is_empty() {
            chains.push(Arc::new(root.for_chain(0)?));
        }
        Ok(Self::new(chains, Duration::ZERO))
    }

    /// Steps until nothing more merges now; returns the positions added.
    pub fn catch_up(&mut self) -> Result<usize, StoreError> {
        let mut total = 0;
        loop {
            let s = self.step(MERGE_BATCH)?;
            total += s.appended;
            if !s.more {
                return Ok(total);
            }
        }
    }

    /// The block time of chain `i`'s block `height` (cached for the next
    /// height only).
    fn time_of(&mut self, i: usize, height: i64) -> Result<i64, StoreError> {
        let c = &self.chains[i];
        if let Some((h, t)) = self.times.get(&c.chain)
            && *h == height
        {
            return Ok(*t);
        }
        let b = c.block(height)?.ok_or_else(|| {
            corrupt(
                format!("block {height}"),
                "below the checkpoint but missing",
            )
        })?;
        self.times.insert(c.chain, (height, b.header.timestamp));
        Ok(b.header.timestamp)
    }

    /// Appends up to `limit` positions in the merge order.
    pub fn step(&mut self, limit: usize) -> Result<MergeStep, StoreError> {
        let Some(root) = self.chains.first().cloned() else {
            return Ok(MergeStep {
                appended: 0,
                more: false,
                hold_until: None,
            });
        };
        let mut next: Vec<i64> = Vec::with_capacity(self.chains.len());
        let mut stored: Vec<Option<i64>> = Vec::with_capacity(self.chains.len());
        for c in &self.chains {
            next.push(root.merged_height(c.chain)?.map_or(0, |h| h + 1));
            stored.push(c.checkpoint()?);
        }
        let mut entries = Vec::new();
        let mut hold_until = None;
        while entries.len() < limit {
            let mut best: Option<((i64, u8, i64), usize)> = None;
            let mut waiting = false;
            for i in 0..self.chains.len() {
                let h = next[i];
                if stored[i].is_some_and(|cp| cp >= h) {
                    let key = (self.time_of(i, h)?, self.chains[i].chain, h);
                    if best.is_none_or(|(b, _)| key < b) {
                        best = Some((key, i));
                    }
                } else {
                    let c = &self.chains[i];
                    let caught_up = c.chain_head().is_some_and(|head| h > head);
                    waiting |= !caught_up;
                }
            }
            let Some((_, i)) = best else { break };
            if waiting {
                let since = *self.held_since.get_or_insert_with(Instant::now);
                if since.elapsed() < self.hold {
                    hold_until = Some(since + self.hold);
                    break;
                }
            } else {
                self.held_since = None;
            }
            entries.push((self.chains[i].chain, next[i]));
            next[i] += 1;
        }
        if !entries.is_empty() {
            root.merge_append(&entries)?;
        }
        let more = entries.len() >= limit;
        Ok(MergeStep {
            appended: entries.len(),
            more,
            hold_until: if more { None } else { hold_until },
        })
    }

    /// Merges until `shutdown`, woken by every chain's change feed and by
    /// the hold's end. Store work runs on the blocking pool.
    pub async fn run(
        mut self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), StoreError> {
        tokio::pin!(shutdown);
        let mut feeds: Vec<_> = self.chains.iter().map(|c| c.subscribe()).collect();
        let Some(root) = self.chains.first().cloned() else {
            return Ok(());
        };
        // A chain reaching its head excuses it without a commit.
        let mut heads = root.subscribe_heads();
        let disk = root.disk();
        loop {
            for f in &mut feeds {
                f.borrow_and_update();
            }
            heads.borrow_and_update();
            let (back, step) = tokio::task::spawn_blocking(move || {
                let step = self.step(MERGE_BATCH);
                (self, step)
            })
            .await
            .map_err(|e| StoreError::InvalidCommit(format!("the merger panicked: {e}")))?;
            self = back;
            let step = match step {
                Ok(s) => s,
                Err(e) if e.is_disk_fault() => {
                    tokio::select! {
                        () = &mut shutdown => return Ok(()),
                        () = disk.writable() => continue,
                    }
                }
                Err(e) => return Err(e),
            };
            if step.more {
                continue;
            }
            let timer = async {
                match step.hold_until {
                    Some(t) => tokio::time::sleep_until(t.into()).await,
                    None => std::future::pending().await,
                }
            };
            let changed = async {
                let waits: Vec<_> = feeds
                    .iter_mut()
                    .map(|f| {
                        Box::pin(async move {
                            if f.changed().await.is_err() {
                                std::future::pending::<()>().await;
                            }
                        })
                    })
                    .collect();
                futures_util::future::select_all(waits).await;
            };
            tokio::select! {
                () = &mut shutdown => return Ok(()),
                () = changed => {}
                () = timer => {}
                _ = heads.changed(), if step.hold_until.is_some() => {}
            }
        }
    }
}
