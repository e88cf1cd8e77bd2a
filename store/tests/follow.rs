//! The follower shape: a stage steps towards the chain log's head, is
//! woken by commits (no polling), stops at its height or at shutdown, and
//! finishes once either way.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chain::CryptoSuite;
use devnet::signer::NodeKey;
use devnet::{ChainConfig, Devnet};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use store::follow::{Next, Progress, Stage, Step, follow};
use store::{BlockCommit, Store};

/// `n` empty blocks of a devnet chain.
fn empty_chain(n: i64) -> Vec<BlockCommit> {
    let mut rng = ChaCha20Rng::from_seed([7; 32]);
    let sealers = (0..4)
        .map(|_| NodeKey::generate(CryptoSuite::Sm, &mut rng).unwrap())
        .collect();
    let mut d = Devnet::new(ChainConfig::new(CryptoSuite::Sm, 4), sealers).unwrap();
    for b in 1..n {
        d.seal_block(Vec::new(), b * 1000).unwrap();
    }
    (0..n)
        .map(|h| BlockCommit {
            block: d.block(h).unwrap().clone(),
            envelopes: Vec::new(),
            committee: if h == 0 { Vec::new() } else { d.committee() },
            receipts: None,
        })
        .collect()
}

/// A stage that counts to the head, a few heights a step.
struct Counter {
    at: Option<i64>,
    stop_at: Option<i64>,
    progress: Arc<Progress>,
    finished: Arc<AtomicU64>,
    /// The heights the stage has reached, for the test to wait on.
    seen: tokio::sync::watch::Sender<Option<i64>>,
}

impl Stage for Counter {
    type Error = String;
    fn progress(&self) -> Arc<Progress> {
        self.progress.clone()
    }
    async fn step(mut self, head: Option<i64>) -> Result<(Self, Step), String> {
        let Some(head) = head else {
            let wait = Step {
                checkpoint: None,
                next: Next::Wait(None),
            };
            return Ok((self, wait));
        };
        let target = self.stop_at.map_or(head, |s| s.min(head));
        let next = self.at.map_or(0, |a| a + 1);
        if next <= target {
            self.at = Some((next + 2).min(target));
        }
        let at = self.at;
        self.seen.send_replace(at);
        let next = if self.stop_at.is_some_and(|s| at >= Some(s)) {
            Next::Done
        } else if at < Some(target) {
            Next::Now
        } else {
            Next::Wait(None)
        };
        Ok((
            self,
            Step {
                checkpoint: at,
                next,
            },
        ))
    }
    async fn finish(self) -> Result<(), String> {
        self.finished.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

fn commit_blocks(store: &Store, blocks: &[BlockCommit]) {
    for b in blocks {
        store.commit(b).expect("commit");
    }
}

#[tokio::test]
async fn a_stage_is_woken_by_commits_and_stops_at_its_height() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(Store::open(dir.path()).expect("store"));
    let progress = Progress::new("count", None);
    let finished = Arc::new(AtomicU64::new(0));
    let (seen, mut reached) = tokio::sync::watch::channel(None);
    let stage = Counter {
        at: None,
        stop_at: Some(9),
        progress: progress.clone(),
        finished: finished.clone(),
        seen,
    };
    let task = tokio::spawn({
        let store = store.clone();
        async move { follow(stage, &store, std::future::pending()).await }
    });
    let blocks = empty_chain(10);
    for chunk in blocks.chunks(4) {
        commit_blocks(&store, chunk);
        let want = chunk
            .last()
            .map(|b| b.block.header.number)
            .unwrap_or(0)
            .min(9);
        // Waits for the stage to reach the height (bounded, so that a
        // stage that is never woken fails the test instead of hanging it).
        let bound = std::time::Duration::from_secs(60);
        tokio::time::timeout(bound, reached.wait_for(|h| *h >= Some(want)))
            .await
            .unwrap_or_else(|_| panic!("the stage never reached {want}"))
            .expect("the stage is alive");
    }
    task.await.expect("join").expect("follow");
    assert_eq!(progress.checkpoint(), 9);
    assert_eq!(finished.load(Ordering::Relaxed), 1, "finished once");
    assert!(progress.waits() >= 1, "it waited for commits");
}

#[tokio::test]
async fn shutdown_stops_a_waiting_stage_and_lets_it_finish() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    let finished = Arc::new(AtomicU64::new(0));
    let stage = Counter {
        at: None,
        stop_at: None,
        progress: Progress::new("count", None),
        finished: finished.clone(),
        seen: tokio::sync::watch::channel(None).0,
    };
    follow(stage, &store, async {}).await.expect("follow");
    assert_eq!(finished.load(Ordering::Relaxed), 1);
}
