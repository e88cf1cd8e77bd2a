//! The follower: a stage of the store ([`store::follow`]) that indexes
//! every block of the store's merged log (every chain's, see
//! [`store::merge`]) in its order and commits near real time (at most
//! `commit_interval` after a block arrives, or every `commit_docs`
//! documents; while more than [`CATCH_UP_LAG`] blocks behind, every
//! `catch_up_commit_interval`), each commit carrying the checkpoint. `rebuild` makes a new
//! index from the store alone.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chain::hexbytes::encode0x;
use privacy::at_rest::RecordSealer;
use store::follow::{Next, Progress, Stage, Step, follow};
use store::{Store, disk};
use tantivy::IndexWriter;

use crate::IndexError;
use crate::index::{Checkpoint, TxIndex};
use crate::schema::{SCHEMA_VERSION, to_document};

/// Blocks behind the chain's head (as ingest last heard it, else the
/// store's) beyond which the follower is catching up and commits by
/// [`IndexerConfig::catch_up_commit_interval`].
pub const CATCH_UP_LAG: i64 = 64;

/// Restarts of a killed index writer from one committed checkpoint (see
/// `Indexer::restarts_writer`) before the indexer stops with the error.
pub const MAX_WRITER_RESTARTS: u32 = 5;

/// How the follower commits.
#[derive(Debug, Clone)]
pub struct IndexerConfig {
    /// Longest time an indexed block waits for its commit.
    pub commit_interval: Duration,
    /// Commit at least every this many documents.
    pub commit_docs: u64,
    /// Longest time between commits while the index is more than
    /// [`CATCH_UP_LAG`] blocks behind the chain (a sync from genesis, a
    /// restart after downtime): fewer, larger segments and fewer merges,
    /// while nobody waits for a block that recent.
    pub catch_up_commit_interval: Duration,
    /// tantivy indexing threads.
    pub threads: usize,
    /// tantivy indexing memory, bytes (shared by the threads).
    pub heap_bytes: usize,
    /// Stop after committing this height (tests, benchmarks).
    pub stop_at: Option<i64>,
    /// The chains' crypto suite: whose hash names functions and events
    /// when calls are decoded (national-standard by default).
    pub suite: chain::CryptoSuite,
    /// The suite of each chain (by number) that differs from `suite`.
    pub chain_suites: std::collections::BTreeMap<u8, chain::CryptoSuite>,
}

impl Default for IndexerConfig {
    fn default() -> Self {
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .clamp(1, 4);
        Self {
            commit_interval: Duration::from_millis(500),
            commit_docs: 50_000,
            catch_up_commit_interval: Duration::from_secs(10),
            threads,
            heap_bytes: 64 << 20,
            stop_at: None,
            suite: chain::CryptoSuite::Sm,
            chain_suites: std::collections::BTreeMap::new(),
        }
    }
}

/// Counters of the follower, shared with metrics and the CLI.
#[derive(Debug, Default)]
pub struct IndexStats {
    /// Last committed height (−1 before the first commit).
    pub height: AtomicI64,
    /// Documents in the index at the last commit.
    pub docs: AtomicU64,
    /// Commits made.
    pub commits: AtomicU64,
    /// Opened records that could not be read back (no key for them).
    pub unreadable_records: AtomicU64,
    /// Time each commit took.
    pub commit_seconds: store::timing::Seconds,
    /// Documents decoded under an older ABI or mapping still to re-decode
    /// (as of the last look).
    pub redecode_pending: AtomicU64,
    /// Documents re-decoded since the start.
    pub redecoded: AtomicU64,
}

/// The follower. Owns the index writer.
pub struct Indexer {
    index: Arc<TxIndex>,
    store: Arc<Store>,
    reader: Arc<records::BlockReader>,
    /// The catalog of each chain every document was last found up to date
    /// with: nothing to re-decode until its registry or the mappings change
    /// again.
    current_with: std::collections::BTreeMap<u8, Arc<records::decode::Catalog>>,
    config: IndexerConfig,
    writer: IndexWriter,
    /// The next position of the merged log to index.
    next: i64,
    /// Documents committed plus those pending.
    docs: u64,
    /// Documents added since the last commit.
    pending: u64,
    /// The checkpoint to commit (the last fully added block).
    pending_checkpoint: Option<Checkpoint>,
    last_commit: Instant,
    /// The committed height at which killed writers were last restarted,
    /// and how many times there.
    writer_restarts: (i64, u32),
    stats: Arc<IndexStats>,
    progress: Arc<Progress>,
}

impl std::fmt::Debug for Indexer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Indexer")
            .field("next", &self.next)
            .field("pending", &self.pending)
            .finish_non_exhaustive()
    }
}

impl Indexer {
    /// A follower of `store` into `index`. The index's checkpoint must name
    /// a block of this store (else the index was built from another chain
    /// and must be rebuilt).
    pub fn new(
        index: Arc<TxIndex>,
        store: Arc<Store>,
        sealer: Arc<RecordSealer>,
        config: IndexerConfig,
    ) -> Result<Self, IndexError> {
        let cp = index.checkpoint()?;
        if let Some(cp) = &cp {
            check_belongs(cp, &store, &index)?;
        }
        let writer = index.writer(config.threads, config.heap_bytes)?;
        let stats = Arc::new(IndexStats::default());
        stats
            .height
            .store(cp.as_ref().map_or(-1, |c| c.height), Ordering::Relaxed);
        let docs = cp.as_ref().map_or(0, |c| c.docs);
        stats.docs.store(docs, Ordering::Relaxed);
        let reader = records::BlockReader::alone(sealer, config.suite);
        for (n, s) in &config.chain_suites {
            reader.set_suite(*n, *s);
        }
        Ok(Self {
            next: cp.as_ref().map_or(0, |c| c.height + 1),
            index,
            store,
            reader,
            current_with: std::collections::BTreeMap::new(),
            config,
            writer,
            docs,
            pending: 0,
            pending_checkpoint: None,
            last_commit: Instant::now(),
            writer_restarts: (-1, 0),
            stats,
            progress: Progress::new("index", cp.as_ref().map(|c| c.height)),
        })
    }

    /// Reads blocks through `reader`, shared with the other consumers of
    /// the store (the rules), instead of a reader of its own: each block is
    /// read and opened once for all of them. The reader decodes each chain
    /// with its suite.
    pub fn shared_reader(mut self, reader: Arc<records::BlockReader>) -> Self {
        reader.join();
        self.reader = reader;
        self
    }

    /// The counters.
    pub fn stats(&self) -> Arc<IndexStats> {
        self.stats.clone()
    }

    /// The follower's progress as a stage (`/metrics`).
    pub fn progress(&self) -> Arc<Progress> {
        self.progress.clone()
    }

    /// Whether the follower stops by itself at a height (`stop_at`).
    pub fn has_stop_height(&self) -> bool {
        self.config.stop_at.is_some()
    }

    /// The next position of the merged log to index.
    pub fn next_height(&self) -> i64 {
        self.next
    }

    /// Adds the transactions of the next block of the merged log to the
    /// writer (not yet committed). Returns how many.
    pub fn index_next(&mut self) -> Result<usize, IndexError> {
        let h = self.next;
        let read = self
            .reader
            .read(&self.store, h, &self.stats.unreadable_records)
            .map_err(|e| IndexError::Store(e.to_string()))?;
        let Some(read) = read else {
            return Err(IndexError::Store(format!(
                "position {h} is not in the store's merged log"
            )));
        };
        let fields = *self.index.fields();
        let docs = &read.docs;
        for d in docs {
            self.writer.add_document(to_document(d, &fields))?;
        }
        let n = docs.len() as u64;
        self.docs += n;
        self.pending += n;
        self.pending_checkpoint = Some(Checkpoint {
            version: SCHEMA_VERSION,
            height: h,
            block_hash: read.block_hash.clone(),
            docs: self.docs,
        });
        self.next += 1;
        Ok(docs.len())
    }

    /// Commits what was added, if anything.
    pub fn commit(&mut self) -> Result<(), IndexError> {
        let Some(cp) = self.pending_checkpoint.take() else {
            return Ok(());
        };
        let started = Instant::now();
        self.index.commit(&mut self.writer, &cp)?;
        self.stats.commit_seconds.since(started);
        self.pending = 0;
        self.last_commit = Instant::now();
        self.stats.height.store(cp.height, Ordering::Relaxed);
        self.stats.docs.store(cp.docs, Ordering::Relaxed);
        self.stats.commits.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(height = cp.height, docs = cp.docs, "index commit");
        Ok(())
    }

    /// Whether the commit policy calls for a commit now, `behind` the
    /// chain's head by that many blocks.
    fn commit_due(&self, behind: i64) -> bool {
        let interval = if behind > CATCH_UP_LAG {
            self.config
                .catch_up_commit_interval
                .max(self.config.commit_interval)
        } else {
            self.config.commit_interval
        };
        self.pending_checkpoint.is_some()
            && (self.pending >= self.config.commit_docs || self.last_commit.elapsed() >= interval)
    }

    /// Indexes every merged block up to position `until` (inclusive),
    /// committing by the policy and at the end; `progress` sees each
    /// position.
    pub fn catch_up(
        &mut self,
        until: i64,
        progress: &mut dyn FnMut(i64),
    ) -> Result<(), IndexError> {
        while self.next <= until {
            self.index_next()?;
            progress(self.next - 1);
            if self.commit_due(until - self.next) {
                self.commit()?;
            }
        }
        self.commit()
    }

    /// Follows the store until `shutdown` completes (or `stop_at` is
    /// committed), committing near real time; a last commit on the way out.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), IndexError> {
        let store = self.store.clone();
        follow(self, &store, shutdown).await
    }

    /// Indexes up to [`STEP_BLOCKS`] blocks towards `head` (committing by
    /// the policy), and says what comes next: more now, the stop height
    /// reached (committed), or a wait until the commit deadline of what is
    /// pending.
    fn step_blocking(&mut self, head: Option<i64>) -> Result<Step, IndexError> {
        let mut target = head.unwrap_or(-1);
        if let Some(s) = self.config.stop_at {
            target = target.min(s);
        }
        // Behind the chain, not only the store: while the node syncs history
        // the store is barely ahead of the index, but nobody waits for
        // those blocks to be searchable within the second.
        let unstored = self.store.unstored_blocks();
        let chain = target.saturating_add(unstored);
        for _ in 0..STEP_BLOCKS {
            if self.next > target {
                break;
            }
            self.index_next()?;
            if self.commit_due(chain - self.next) {
                self.commit()?;
            }
        }
        let stats = self.stats.clone();
        let committed = || Some(stats.height.load(Ordering::Relaxed)).filter(|h| *h >= 0);
        if self.config.stop_at.is_some_and(|s| self.next > s) {
            self.commit()?;
            return Ok(Step {
                checkpoint: committed(),
                next: Next::Done,
            });
        }
        if self.next <= target {
            return Ok(Step {
                checkpoint: committed(),
                next: Next::Now,
            });
        }
        // Caught up: commit what is due, else wait for a new block or the
        // commit deadline.
        let interval = if chain - self.next > CATCH_UP_LAG {
            self.config
                .catch_up_commit_interval
                .max(self.config.commit_interval)
        } else {
            self.config.commit_interval
        };
        let mut deadline = self
            .pending_checkpoint
            .as_ref()
            .and_then(|_| self.last_commit.checked_add(interval));
        if deadline.is_some_and(|d| Instant::now() >= d) {
            self.commit()?;
            deadline = None;
        }
        // Everything committed: documents decoded under an ABI or mapping
        // that changed since are decoded again, a batch a step.
        if self.pending_checkpoint.is_none() && self.redecode_batch()? > 0 {
            return Ok(Step {
                checkpoint: committed(),
                next: Next::Now,
            });
        }
        Ok(Step {
            checkpoint: committed(),
            next: Next::Wait(deadline),
        })
    }
}

/// Documents re-decoded per step at most.
pub const REDECODE_BATCH: usize = 1_000;

impl Indexer {
    /// Re-decodes up to [`REDECODE_BATCH`] committed documents whose
    /// contract's tag in the current catalog (ABI version, mappings) is not
    /// the one they were decoded under, and commits them with the
    /// checkpoint they had. Returns how many; 0 when every document is up
    /// to date with the catalog (remembered until it changes).
    fn redecode_batch(&mut self) -> Result<usize, IndexError> {
        let mut chains: Vec<u8> = self
            .store
            .chains()
            .map_err(store_error)?
            .iter()
            .map(|e| e.number)
            .collect();
        if chains.is_empty() {
            chains.push(self.store.chain_number());
        }
        let mut done = 0;
        for chain in chains {
            done += self.redecode_chain(chain)?;
            if done > 0 {
                break;
            }
        }
        Ok(done)
    }

    /// [`Indexer::redecode_batch`] for chain `chain`'s documents.
    fn redecode_chain(&mut self, chain: u8) -> Result<usize, IndexError> {
        use std::ops::Bound;
        use tantivy::collector::{Count, TopDocs};
        use tantivy::query::{BooleanQuery, Occur, Query, RangeQuery, TermQuery};
        use tantivy::schema::{IndexRecordOption, Value};
        use tantivy::{TantivyDocument, Term};
        let catalog = self
            .reader
            .catalog(&self.store, chain)
            .map_err(|e| IndexError::Store(e.to_string()))?;
        if self
            .current_with
            .get(&chain)
            .is_some_and(|c| Arc::ptr_eq(c, &catalog))
        {
            return Ok(0);
        }
        let Some(cp) = self.index.checkpoint()? else {
            self.current_with.insert(chain, catalog);
            return Ok(0);
        };
        let f = *self.index.fields();
        let searcher = self.index.searcher();
        let mut contracts: Vec<[u8; 20]> = catalog
            .versions()
            .map(|(a, _)| a)
            .chain(catalog.mapped_contracts())
            .collect();
        contracts.sort_unstable();
        contracts.dedup();
        let mut stale: Vec<(i64, u32, i64)> = Vec::new();
        let mut pending = 0u64;
        let lo = Term::from_field_u64(f.seq, records::seq_in(chain, 0, 0));
        let hi = Term::from_field_u64(
            f.seq,
            records::seq_in(chain, records::MAX_SEQ_HEIGHT, u32::MAX),
        );
        for a in contracts {
            let name = format!("0x{}", hex::encode(a));
            let tag = catalog.tag(&name);
            let q: Box<dyn Query> = Box::new(BooleanQuery::new(vec![
                (
                    Occur::Must,
                    Box::new(TermQuery::new(
                        Term::from_field_text(f.contract, &name),
                        IndexRecordOption::Basic,
                    )) as Box<dyn Query>,
                ),
                (
                    Occur::Must,
                    Box::new(RangeQuery::new(
                        Bound::Included(lo.clone()),
                        Bound::Included(hi.clone()),
                    )),
                ),
                (
                    Occur::MustNot,
                    Box::new(TermQuery::new(
                        Term::from_field_text(f.abi, &tag.to_lowercase()),
                        IndexRecordOption::Basic,
                    )),
                ),
            ]));
            let room = REDECODE_BATCH.saturating_sub(stale.len());
            let (count, hits) = if room == 0 {
                (searcher.search(&q, &Count)?, Vec::new())
            } else {
                searcher.search(&q, &(Count, TopDocs::with_limit(room).order_by_score()))?
            };
            pending += count as u64;
            if count > 0 {
                tracing::info!(chain, contract = %name, tag = %tag, documents = count, "re-decoding documents decoded under an older ABI or mapping");
            }
            for (_, address) in hits {
                let doc: TantivyDocument = searcher.doc(address)?;
                let height = doc.get_first(f.height).and_then(|v| v.as_i64());
                let index = doc.get_first(f.index).and_then(|v| v.as_u64());
                let pos = doc.get_first(f.pos).and_then(|v| v.as_i64()).unwrap_or(-1);
                if let (Some(h), Some(i)) = (height, index.and_then(|i| u32::try_from(i).ok())) {
                    stale.push((h, i, pos));
                }
            }
        }
        self.stats
            .redecode_pending
            .store(pending, Ordering::Relaxed);
        if stale.is_empty() {
            self.current_with.insert(chain, catalog);
            return Ok(0);
        }
        stale.sort_unstable();
        stale.dedup();
        let mut done = 0;
        let mut at = 0;
        // Records that do not open were counted when first indexed.
        let uncounted = AtomicU64::new(0);
        while at < stale.len() {
            let h = stale[at].0;
            let docs = self
                .reader
                .read_block(&self.store, chain, h, &uncounted)
                .map_err(|e| IndexError::Store(e.to_string()))?;
            let docs = docs.as_ref().map(|d| &d.docs[..]).unwrap_or_default();
            while at < stale.len() && stale[at].0 == h {
                let (_, i, pos) = stale[at];
                if let Some(d) = docs.iter().find(|d| d.index == i) {
                    self.writer
                        .delete_term(Term::from_field_text(f.tx_hash, &d.tx_hash));
                    // In the place the block has in the merged log.
                    let mut d = d.clone();
                    d.position = pos;
                    self.writer.add_document(to_document(&d, &f))?;
                    done += 1;
                }
                at += 1;
            }
        }
        if done == 0 {
            // Stale documents whose transactions the store no longer gives:
            // nothing to do for them until the catalog changes again.
            tracing::warn!(
                chain,
                documents = stale.len(),
                "documents to re-decode are not in the store; left as they are"
            );
            self.current_with.insert(chain, catalog);
            return Ok(0);
        }
        // The same checkpoint: the documents changed, not how far the index
        // follows the chain.
        self.pending_checkpoint = Some(cp);
        self.commit()?;
        self.stats
            .redecoded
            .fetch_add(done as u64, Ordering::Relaxed);
        self.stats
            .redecode_pending
            .store(pending.saturating_sub(done as u64), Ordering::Relaxed);
        Ok(done)
    }

    /// Whether `e` is a fault of the index's disk (full, read-only,
    /// failing) rather than of the data: told by the error itself, or, for
    /// an error tantivy reports from its own threads, by a probe of the
    /// directory.
    fn is_disk_fault(&self, e: &IndexError) -> bool {
        let Some(dir) = self.index.path() else {
            return false;
        };
        match e {
            IndexError::Io { source, .. } => disk::is_disk_error(source),
            IndexError::Tantivy(tantivy::TantivyError::IoError(io)) if disk::is_disk_error(io) => {
                true
            }
            IndexError::Tantivy(t) => {
                disk::mentions_disk_error(&t.to_string())
                    || disk::probe(dir).is_err_and(|p| disk::is_disk_error(&p))
            }
            _ => false,
        }
    }

    /// Whether `e` says tantivy's writer was killed (a worker thread failed,
    /// most likely writing a segment to a full disk, whose room may be back
    /// by the time the next operation sees it) and the writer may be
    /// restarted from the last commit, as after a disk fault: at most
    /// [`MAX_WRITER_RESTARTS`] times from the same committed checkpoint, so
    /// that a worker failing for another reason stops the indexer with its
    /// error instead of looping.
    fn restarts_writer(&mut self, e: &IndexError) -> bool {
        if !matches!(
            e,
            IndexError::Tantivy(tantivy::TantivyError::ErrorInThread(_))
        ) {
            return false;
        }
        let at = self.stats.height.load(Ordering::Relaxed);
        if self.writer_restarts.0 != at {
            self.writer_restarts = (at, 0);
        }
        if self.writer_restarts.1 >= MAX_WRITER_RESTARTS {
            return false;
        }
        self.writer_restarts.1 += 1;
        true
    }

    /// After a disk fault: reports the index's directory, drops what was
    /// added since the last commit (the writer rolls back to it) and goes
    /// back to the committed checkpoint. Returns that checkpoint's height.
    fn after_disk_fault(&mut self, e: &IndexError) -> Result<Option<i64>, IndexError> {
        let dir = self.index.path().map(Path::to_path_buf).unwrap_or_default();
        self.store.disk().report(&dir, &e.to_string());
        tracing::warn!(error = %e, "indexer paused until the disk takes writes again");
        self.writer.rollback()?;
        let cp = self.index.checkpoint()?;
        self.next = cp.as_ref().map_or(0, |c| c.height + 1);
        self.docs = cp.as_ref().map_or(0, |c| c.docs);
        self.pending = 0;
        self.pending_checkpoint = None;
        Ok(cp.map(|c| c.height))
    }
}

/// Blocks one step of the follower indexes at most, so that a shutdown is
/// seen between steps even while catching up.
pub const STEP_BLOCKS: usize = 64;

impl Stage for Indexer {
    type Error = IndexError;

    fn progress(&self) -> Arc<Progress> {
        self.progress.clone()
    }

    fn disk_dir(&self) -> Option<PathBuf> {
        self.index.path().map(Path::to_path_buf)
    }

    fn wakes_on(&self) -> Vec<store::Family> {
        vec![records::abis::ABIS, records::mapping::MAPPINGS]
    }

    fn follows_merged(&self) -> bool {
        true
    }

    async fn step(mut self, head: Option<i64>) -> Result<(Self, Step), IndexError> {
        tokio::task::spawn_blocking(move || match self.step_blocking(head) {
            Ok(step) => Ok((self, step)),
            Err(e) if self.is_disk_fault(&e) || self.restarts_writer(&e) => {
                let checkpoint = self.after_disk_fault(&e)?;
                Ok((self, Step::disk_fault(checkpoint)))
            }
            Err(e) => Err(e),
        })
        .await
        .map_err(|e| IndexError::Store(format!("indexer task: {e}")))?
    }

    async fn finish(mut self) -> Result<(), IndexError> {
        tokio::task::spawn_blocking(move || match self.commit() {
            // What was not committed is indexed again at the next start.
            Err(e) if self.is_disk_fault(&e) => {
                tracing::warn!(error = %e, "the last index commit failed for the disk; the next start indexes from the last commit");
                Ok(())
            }
            done => done,
        })
            .await
            .map_err(|e| IndexError::Store(format!("indexer task: {e}")))?
    }
}

fn store_error(e: store::StoreError) -> IndexError {
    IndexError::Store(e.to_string())
}

/// Refuses an index whose checkpoint is not a block of `store`'s merged
/// log.
fn check_belongs(cp: &Checkpoint, store: &Store, index: &TxIndex) -> Result<(), IndexError> {
    let stored = match store.merged_at(cp.height).map_err(store_error)? {
        Some(m) => store
            .chain_of(&m)
            .and_then(|c| c.block_hash(m.height))
            .map_err(store_error)?,
        None => None,
    };
    if stored.map(|h| encode0x(&h)).as_deref() != Some(cp.block_hash.as_str()) {
        return Err(IndexError::Foreign {
            path: index.path().map(Path::to_path_buf).unwrap_or_default(),
            height: cp.height,
            indexed: cp.block_hash.clone(),
            stored: stored.map(|h| encode0x(&h)),
        });
    }
    Ok(())
}

/// Rebuilds the index in `dir` from `store` alone, up to the store's
/// checkpoint: a fresh index is built beside it and swapped in when
/// complete, so a crash leaves the old index (or none) and never a half one.
/// `progress` sees (height, head).
pub fn rebuild(
    dir: &Path,
    store: Arc<Store>,
    sealer: Arc<RecordSealer>,
    mut config: IndexerConfig,
    progress: &mut dyn FnMut(i64, i64),
) -> Result<Option<Checkpoint>, IndexError> {
    // Blocks stored since the merged log was last appended to (or before
    // it existed) are merged first.
    store::merge::Merger::for_store(&store)
        .and_then(|mut m| m.catch_up())
        .map_err(store_error)?;
    let head = store.merged_head().map_err(store_error)?;
    let fresh = sibling(dir, "rebuild");
    let old = sibling(dir, "old");
    for leftover in [&fresh, &old] {
        if leftover.exists() {
            std::fs::remove_dir_all(leftover).map_err(|e| IndexError::io(leftover, e))?;
        }
    }
    {
        let index = Arc::new(TxIndex::open(&fresh)?);
        // One commit at the end (and every `commit_docs`): no NRT here.
        config.commit_interval = Duration::MAX;
        let mut indexer = Indexer::new(index, store, sealer, config)?;
        if let Some(head) = head {
            indexer.catch_up(head, &mut |h| progress(h, head))?;
        }
        let Indexer { writer, .. } = indexer;
        writer.wait_merging_threads()?;
    }
    if dir.exists() {
        std::fs::rename(dir, &old).map_err(|e| IndexError::io(dir, e))?;
    }
    std::fs::rename(&fresh, dir).map_err(|e| IndexError::io(&fresh, e))?;
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(|e| IndexError::io(&old, e))?;
    }
    TxIndex::open(dir)?.checkpoint()
}

fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{suffix}"));
    dir.with_file_name(name)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The commits a follower makes indexing the whole store in steps, with
    /// a commit due after every block at the head and none while catching
    /// up; `chain_head` is what ingest last heard of the chain's head.
    fn commits_following(chain_head: Option<i64>) -> u64 {
        let chain = testkit::chain(7, 6);
        let dir = tempfile::tempdir().unwrap();
        let store = testkit::store(&chain, &dir.path().join("store"));
        let head = store.checkpoint().unwrap().unwrap();
        if let Some(h) = chain_head {
            store.note_chain_head(h);
        }
        let index = Arc::new(TxIndex::open(&dir.path().join("index")).unwrap());
        let config = IndexerConfig {
            commit_interval: Duration::ZERO,
            catch_up_commit_interval: Duration::from_secs(3600),
            threads: 1,
            heap_bytes: 20_000_000,
            ..IndexerConfig::default()
        };
        let mut indexer = Indexer::new(index, store.clone(), chain.sealer.clone(), config).unwrap();
        let stats = indexer.stats();
        loop {
            let step = indexer.step_blocking(Some(head)).unwrap();
            if !matches!(step.next, Next::Now) {
                break;
            }
        }
        assert_eq!(indexer.next_height(), head + 1, "indexed every block");
        stats.commits.load(Ordering::Relaxed)
    }

    #[test]
    fn a_killed_writer_restarts_a_bounded_number_of_times_per_checkpoint() {
        let chain = testkit::chain(9, 1);
        let dir = tempfile::tempdir().unwrap();
        let store = testkit::store(&chain, &dir.path().join("store"));
        let index = Arc::new(TxIndex::open(&dir.path().join("index")).unwrap());
        let mut indexer = Indexer::new(
            index,
            store,
            chain.sealer.clone(),
            IndexerConfig {
                threads: 1,
                heap_bytes: 20_000_000,
                ..IndexerConfig::default()
            },
        )
        .unwrap();
        let killed = IndexError::Tantivy(tantivy::TantivyError::ErrorInThread(
            "An index writer was killed.".into(),
        ));
        let other = IndexError::Store("something else".into());
        assert!(!indexer.restarts_writer(&other), "only a killed writer");
        for _ in 0..MAX_WRITER_RESTARTS {
            assert!(indexer.restarts_writer(&killed));
        }
        assert!(
            !indexer.restarts_writer(&killed),
            "bounded at one checkpoint"
        );
        // A commit moves the checkpoint: restarts are allowed again.
        indexer.stats.height.store(0, Ordering::Relaxed);
        assert!(indexer.restarts_writer(&killed));
    }

    #[test]
    fn far_behind_the_chain_it_commits_by_the_catch_up_interval() {
        // At the head (the chain's head unknown, or the store's): a commit
        // per block, as freshness asks.
        assert!(commits_following(None) >= 6);
        // The chain far ahead of the store: the index is catching up with
        // history, so nothing is committed before the catch-up interval.
        assert_eq!(commits_following(Some(10_000)), 0);
    }
}
