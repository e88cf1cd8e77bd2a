//! The one shape of every consumer of the store (a stage, as reth calls
//! them): the indexer, the rule engine and the notification senders each
//! keep their own checkpoint, and [`follow`] drives them all the same way.
//!
//! A [`Stage`] does one bounded [`Stage::step`] of work from its own
//! checkpoint towards the chain log's head and says what comes next: more
//! work at once, a wait (for the store's change feed, a family's feed, or a
//! deadline of its own), or the end (its stop height). Between steps the
//! driver looks at the shutdown signal, so a stage is stopped within one
//! step. A stage whose write failed for a full or read-only disk says so
//! ([`Next::DiskFault`]) and waits until the disk takes writes again.
//! Nothing polls: a waiting stage wakes when the store commits a
//! block, when a family it follows is written, or at its deadline. Each
//! step is counted in the stage's [`Progress`], which `/metrics` shows.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Instant;

use crate::{Family, Store};

/// What a stage does after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// There is more work now: step again (after a look at shutdown).
    Now,
    /// Caught up: wait for the change feeds, or until the instant given.
    Wait(Option<Instant>),
    /// Reached its stop height: finish and return.
    Done,
    /// A write failed for a disk fault ([`crate::disk`]) and the stage has
    /// put its state back to what is stored: wait until the disks take
    /// writes again, then step again.
    DiskFault,
}

/// A step's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// The stage's checkpoint after the step (the last height it has fully
    /// handled), for stages that follow heights.
    pub checkpoint: Option<i64>,
    /// What comes next.
    pub next: Next,
}

impl Step {
    /// The step of a stage whose write failed for the disk, back at
    /// `checkpoint` (what is stored): [`Next::DiskFault`].
    pub fn disk_fault(checkpoint: Option<i64>) -> Self {
        Self {
            checkpoint,
            next: Next::DiskFault,
        }
    }
}

/// A consumer of the store, driven by [`follow`].
pub trait Stage: Send + Sized + 'static {
    /// Why a step failed (the stage stops with it).
    type Error: Send + 'static;

    /// The stage's counters, shared with `/metrics`.
    fn progress(&self) -> Arc<Progress>;

    /// Families whose writes wake the stage besides the chain log (the
    /// senders' outbox; the ABI registry and mappings for the indexer). A
    /// family each chain has its own of wakes the stage for every chain.
    fn wakes_on(&self) -> Vec<Family> {
        Vec::new()
    }

    /// Whether the stage follows the store's merged log (every chain's
    /// blocks, [`crate::merge`]) rather than one chain's: its `head` and
    /// checkpoints are then positions of the merged log.
    fn follows_merged(&self) -> bool {
        false
    }

    /// The directory the stage writes, which a [`Next::DiskFault`] waits
    /// for; `None`: the store's.
    fn disk_dir(&self) -> Option<std::path::PathBuf> {
        None
    }

    /// One bounded step of work towards `head` (the chain log's checkpoint,
    /// `None` while empty). Work that blocks (RocksDB, tantivy, SM2) runs
    /// on the blocking pool, which is why the stage is moved in and handed
    /// back; a stage that fails is not handed back (it stops).
    fn step(
        self,
        head: Option<i64>,
    ) -> impl Future<Output = Result<(Self, Step), Self::Error>> + Send;

    /// Finishes pending work on the way out (the indexer commits).
    fn finish(self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        async { Ok(()) }
    }
}

/// A stage's counters.
#[derive(Debug)]
pub struct Progress {
    name: String,
    checkpoint: AtomicI64,
    head: AtomicI64,
    steps: AtomicU64,
    waits: AtomicU64,
}

impl Progress {
    /// The counters of the stage named `name` (`index`, `rules`,
    /// `sender:NAME`), starting at checkpoint `checkpoint`.
    pub fn new(name: impl Into<String>, checkpoint: Option<i64>) -> Arc<Self> {
        Arc::new(Self {
            name: name.into(),
            checkpoint: AtomicI64::new(checkpoint.unwrap_or(-1)),
            head: AtomicI64::new(-1),
            steps: AtomicU64::new(0),
            waits: AtomicU64::new(0),
        })
    }

    /// The stage's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The last checkpoint a step reported (-1: none).
    pub fn checkpoint(&self) -> i64 {
        self.checkpoint.load(Ordering::Relaxed)
    }

    /// The chain log's head when the stage last stepped (-1: empty).
    pub fn head(&self) -> i64 {
        self.head.load(Ordering::Relaxed)
    }

    /// Steps taken.
    pub fn steps(&self) -> u64 {
        self.steps.load(Ordering::Relaxed)
    }

    /// Times the stage went to wait, caught up.
    pub fn waits(&self) -> u64 {
        self.waits.load(Ordering::Relaxed)
    }

    /// Records a checkpoint reached outside [`follow`] (a catch-up run).
    pub fn set_checkpoint(&self, checkpoint: Option<i64>) {
        self.checkpoint
            .store(checkpoint.unwrap_or(-1), Ordering::Relaxed);
    }
}

/// Drives `stage` over `store` until it is done or `shutdown` completes,
/// then lets it finish.
pub async fn follow<S: Stage>(
    mut stage: S,
    store: &Store,
    shutdown: impl Future<Output = ()>,
) -> Result<(), S::Error> {
    tokio::pin!(shutdown);
    let progress = stage.progress();
    let mut log = if stage.follows_merged() {
        store.subscribe_merged()
    } else {
        store.subscribe()
    };
    let mut families = Vec::new();
    for f in stage.wakes_on() {
        if f.is_per_chain() && stage.follows_merged() {
            let mut numbers: Vec<u8> = store
                .chains()
                .map(|cs| cs.iter().map(|e| e.number).collect())
                .unwrap_or_default();
            if numbers.is_empty() {
                numbers.push(store.chain_number());
            }
            for n in numbers {
                if let Ok(c) = store.for_chain(n) {
                    families.push(c.subscribe_family(f));
                }
            }
        } else {
            families.push(store.subscribe_family(f));
        }
    }
    loop {
        // Marked seen before the step reads: a write during the step wakes
        // the wait below.
        let head = *log.borrow_and_update();
        for f in &mut families {
            f.borrow_and_update();
        }
        let (s, step) = stage.step(head).await?;
        stage = s;
        progress.steps.fetch_add(1, Ordering::Relaxed);
        progress.head.store(head.unwrap_or(-1), Ordering::Relaxed);
        if step.checkpoint.is_some() {
            progress.set_checkpoint(step.checkpoint);
        }
        match step.next {
            Next::Done => break,
            Next::Now => {
                let stop = tokio::select! {
                    biased;
                    () = &mut shutdown => true,
                    () = std::future::ready(()) => false,
                };
                if stop {
                    break;
                }
            }
            Next::DiskFault => {
                progress.waits.fetch_add(1, Ordering::Relaxed);
                let disk = store.disk();
                let dir = stage
                    .disk_dir()
                    .unwrap_or_else(|| store.path().to_path_buf());
                let stop = tokio::select! {
                    () = &mut shutdown => true,
                    () = disk.writable_dir(&dir) => false,
                };
                if stop {
                    break;
                }
            }
            Next::Wait(deadline) => {
                progress.waits.fetch_add(1, Ordering::Relaxed);
                let timer = async {
                    match deadline {
                        Some(d) => tokio::time::sleep_until(d.into()).await,
                        None => std::future::pending().await,
                    }
                };
                let family_changed = async {
                    let waits = families.iter_mut().map(|f| {
                        Box::pin(async move {
                            if f.changed().await.is_err() {
                                std::future::pending::<()>().await;
                            }
                        })
                    });
                    let waits: Vec<_> = waits.collect();
                    if waits.is_empty() {
                        std::future::pending::<()>().await;
                    } else {
                        futures_util::future::select_all(waits).await;
                    }
                };
                let stop = tokio::select! {
                    () = &mut shutdown => true,
                    // Closed only with the store, which outlives this call.
                    changed = log.changed() => changed.is_err(),
                    () = family_changed => false,
                    () = timer => false,
                };
                if stop {
                    break;
                }
            }
        }
    }
    stage.finish().await
}
