//! The observer's loop for one chain: wait for the chain's lease, then,
//! while holding it, follow the chain into the local store (the ingest
//! pipeline of the embedded mode) and publish what is stored; when the
//! lease is lost, stop both and wait for it again. Ingest is idle while
//! another observer holds the lease: the local store is only this
//! observer's buffer and proof of what it verified.

use std::future::Future;
use std::sync::Arc;

use ingest::Ingest;
use store::Store;

use crate::lease::{Lease, Renewal};
use crate::publish::{PublishStats, Publisher};
use crate::{Log, LogError};

/// One chain an observer may follow.
#[derive(Debug, Clone)]
pub struct Observed {
    /// The chain's id.
    pub chain: String,
    /// Its group.
    pub group: String,
    /// Its pipeline.
    pub ingest: Arc<Ingest>,
    /// Its log handle in the observer's store.
    pub store: Arc<Store>,
    /// The publisher's counters.
    pub stats: Arc<PublishStats>,
    /// Whether this observer holds the chain's lease now.
    pub holding: Arc<std::sync::atomic::AtomicBool>,
}

impl Observed {
    /// A chain with fresh counters.
    pub fn new(chain: &str, group: &str, ingest: Arc<Ingest>, store: Arc<Store>) -> Self {
        Self {
            chain: chain.to_string(),
            group: group.to_string(),
            ingest,
            store,
            stats: Arc::new(PublishStats::default()),
            holding: Arc::default(),
        }
    }
}

/// Follows and publishes `c` whenever this observer (`name`) holds its
/// lease, until `stop` completes. Returns an error when ingest or the
/// publisher cannot go on safely (the store failed, the log contradicts
/// the store).
pub async fn observe(
    log: Log,
    c: Observed,
    name: String,
    stop: impl Future<Output = ()>,
) -> Result<(), LogError> {
    use std::sync::atomic::Ordering;
    tokio::pin!(stop);
    let heartbeat = log.config.heartbeat();
    loop {
        let lease = match Lease::try_take(&log, &c.chain, &name).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(chain = %c.chain, error = %e, "cannot ask for the lease; retrying");
                None
            }
        };
        let Some(mut lease) = lease else {
            tokio::select! {
                () = &mut stop => return Ok(()),
                () = tokio::time::sleep(heartbeat) => continue,
            }
        };
        c.holding.store(true, Ordering::Relaxed);
        let (held_tx, held_rx) = tokio::sync::watch::channel(false);
        let released = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|v| *v).await;
        };
        let mut tasks = tokio::task::JoinSet::new();
        {
            let (i, rx) = (c.ingest.clone(), held_rx.clone());
            tasks.spawn(async move { i.run(released(rx)).await.map_err(LogError::from) });
        }
        let publisher = Publisher::new(log.clone(), c.store.clone(), &c.chain, &c.group, &name)
            .with_stats(c.stats.clone());
        tasks.spawn(async move { publisher.run(released(held_rx)).await });
        let mut tick = tokio::time::interval(heartbeat);
        tick.tick().await;
        // Why the lease is left: `None` for the node stopping, an error for
        // ingest or the publisher failing, `Ok` for the lease lost.
        let left: Option<Result<(), LogError>> = loop {
            tokio::select! {
                () = &mut stop => break None,
                _ = tick.tick() => {
                    if let Renewal::Lost(why) = lease.renew().await {
                        tracing::warn!(chain = %c.chain, why, "lease lost; no longer following the chain");
                        break Some(Ok(()));
                    }
                }
                Some(done) = tasks.join_next() => match done {
                    // Ingest reached its stop height: the publisher goes on.
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => break Some(Err(e)),
                    Err(e) => break Some(Err(LogError::Worker(e.to_string()))),
                },
            }
        };
        let _ = held_tx.send(true);
        while tasks.join_next().await.is_some() {}
        c.holding.store(false, Ordering::Relaxed);
        match left {
            None => {
                lease.release().await;
                return Ok(());
            }
            Some(Err(e)) => {
                lease.release().await;
                return Err(e);
            }
            Some(Ok(())) => {}
        }
    }
}
