//! The observer's side: each block its ingest stored, read back from its
//! store and appended to the chain's subject, in height order.
//!
//! Each append names the subject's last sequence as a precondition
//! (`Nats-Expected-Last-Subject-Sequence`), so the subject holds heights
//! 0, 1, 2, … once each whoever publishes: a publisher that finds the
//! subject moved (another observer, or its own append whose
//! acknowledgement was lost) reads where the subject stands and goes on
//! from there. Before it goes on it checks that the block the subject ends
//! with is the one its own store holds at that height; if not, it stops
//! with an error (two verified chains disagree: a matter for people).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::LastRawMessageErrorKind;
use bytes::Bytes;
use store::Store;

use crate::wire::{self, HEAD_HEADER, HEIGHT_HEADER};
use crate::{Log, LogError};

/// A publisher's counters, for `/metrics`.
#[derive(Debug)]
pub struct PublishStats {
    /// The highest height the subject holds, as this publisher last saw it
    /// (−1: none).
    pub published: AtomicI64,
    /// Blocks this process appended.
    pub blocks: AtomicU64,
    /// Compressed bytes this process appended.
    pub bytes: AtomicU64,
    /// Appends that found the subject moved or failed, then resumed.
    pub retries: AtomicU64,
}

impl Default for PublishStats {
    fn default() -> Self {
        Self {
            published: AtomicI64::new(-1),
            blocks: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            retries: AtomicU64::new(0),
        }
    }
}

/// Publishes one chain's stored blocks.
#[derive(Debug)]
pub struct Publisher {
    log: Log,
    store: Arc<Store>,
    chain: String,
    group: String,
    observer: String,
    stats: Arc<PublishStats>,
}

/// Where a chain's subject stands.
struct Tail {
    /// The stream sequence of its last message (0: none).
    sequence: u64,
    /// The height of its last block and that message's id (`None`: none).
    last: Option<(i64, String)>,
}

impl Publisher {
    /// A publisher of `store`'s blocks (chain `chain`, group `group`), named
    /// `observer` in its messages.
    pub fn new(log: Log, store: Arc<Store>, chain: &str, group: &str, observer: &str) -> Self {
        Self {
            log,
            store,
            chain: chain.to_string(),
            group: group.to_string(),
            observer: observer.to_string(),
            stats: Arc::new(PublishStats::default()),
        }
    }

    /// Shares counters with an earlier publisher of the same chain.
    pub fn with_stats(mut self, stats: Arc<PublishStats>) -> Self {
        self.stats = stats;
        self
    }

    /// The counters.
    pub fn stats(&self) -> Arc<PublishStats> {
        self.stats.clone()
    }

    /// Appends blocks as they are stored until `stop` completes. Returns an
    /// error when the subject holds a block the store contradicts, or the
    /// store fails; connection trouble is retried.
    pub async fn run(&self, stop: impl Future<Output = ()>) -> Result<(), LogError> {
        tokio::pin!(stop);
        let subject = self.log.config.subject(&self.chain);
        let mut feed = self.store.subscribe();
        let mut delay = Duration::from_millis(100);
        'resume: loop {
            let tail = tokio::select! {
                () = &mut stop => return Ok(()),
                t = self.tail(&subject) => t,
            };
            let tail = match tail {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(chain = %self.chain, error = %e, "cannot read the log's tail; retrying");
                    tokio::select! {
                        () = &mut stop => return Ok(()),
                        () = tokio::time::sleep(delay) => {}
                    }
                    delay = (delay * 2).min(Duration::from_secs(5));
                    continue;
                }
            };
            let mut sequence = tail.sequence;
            let mut next = tail.last.as_ref().map_or(0, |(h, _)| h + 1);
            self.stats.published.store(next - 1, Ordering::Relaxed);
            // The block the subject ends with must be ours.
            if let Some((height, id)) = tail.last {
                loop {
                    let store = self.store.clone();
                    let hash = tokio::task::spawn_blocking(move || store.block_hash(height))
                        .await
                        .map_err(|e| LogError::Worker(e.to_string()))??;
                    match hash {
                        Some(hash) => {
                            if wire::message_id(&self.chain, &self.group, height, &hash) != id {
                                return Err(LogError::Gap {
                                    chain: self.chain.clone(),
                                    message: format!(
                                        "the log's block {height} is not the block this observer verified and stored at that height ({}); not publishing",
                                        chain::hexbytes::encode0x(&hash)
                                    ),
                                });
                            }
                            break;
                        }
                        None => {
                            // Our ingest is behind the log: wait for it.
                            tokio::select! {
                                () = &mut stop => return Ok(()),
                                _ = feed.changed() => {}
                            }
                        }
                    }
                }
            }
            loop {
                let stored = *feed.borrow_and_update();
                if stored.is_none_or(|cp| cp < next) {
                    tokio::select! {
                        () = &mut stop => return Ok(()),
                        changed = feed.changed() => {
                            if changed.is_err() {
                                return Ok(());
                            }
                        }
                    }
                    continue;
                }
                let store = self.store.clone();
                let commit = tokio::task::spawn_blocking(move || store.block_commit(next))
                    .await
                    .map_err(|e| LogError::Worker(e.to_string()))??;
                let Some(commit) = commit else {
                    return Err(LogError::Gap {
                        chain: self.chain.clone(),
                        message: format!("block {next} is below the checkpoint but not stored"),
                    });
                };
                let hash = commit.block.header.claimed_hash;
                let (chain, group, observer) = (
                    self.chain.clone(),
                    self.group.clone(),
                    self.observer.clone(),
                );
                let payload = tokio::task::spawn_blocking(move || {
                    let envelopes: Vec<wire::Envelope> = commit
                        .envelopes
                        .into_iter()
                        .map(|e| wire::Envelope {
                            class: e.class,
                            detail: e.detail,
                            sealed_record: e.sealed_record,
                        })
                        .collect();
                    wire::encode(
                        &chain,
                        &group,
                        &observer,
                        &commit.block,
                        &envelopes,
                        commit.receipts.as_deref(),
                    )
                })
                .await
                .map_err(|e| LogError::Worker(e.to_string()))??;
                let size = payload.len();
                if size > crate::MAX_MESSAGE_BYTES {
                    return Err(LogError::Gap {
                        chain: self.chain.clone(),
                        message: format!(
                            "block {next} makes a message of {size} bytes, more than the {} the stream takes",
                            crate::MAX_MESSAGE_BYTES
                        ),
                    });
                }
                let mut message = PublishMessage::build()
                    .payload(Bytes::from(payload))
                    .message_id(wire::message_id(&self.chain, &self.group, next, &hash))
                    .expected_last_subject_sequence(sequence)
                    .header(HEIGHT_HEADER, next.to_string().as_str());
                // Only a head the endpoints told: right after a restart,
                // before ingest asked, the consumer keeps the one it knows.
                if let Some(head) = self.store.chain_head() {
                    message = message.header(HEAD_HEADER, head.max(next).to_string().as_str());
                }
                let acked = async {
                    self.log
                        .js
                        .send_publish(subject.clone(), message)
                        .await?
                        .await
                };
                let acked = tokio::select! {
                    () = &mut stop => return Ok(()),
                    a = acked => a,
                };
                match acked {
                    Ok(ack) => {
                        sequence = ack.sequence;
                        self.stats.published.store(next, Ordering::Relaxed);
                        if !ack.duplicate {
                            self.stats.blocks.fetch_add(1, Ordering::Relaxed);
                            self.stats.bytes.fetch_add(size as u64, Ordering::Relaxed);
                        }
                        next += 1;
                        delay = Duration::from_millis(100);
                    }
                    Err(e) => {
                        self.stats.retries.fetch_add(1, Ordering::Relaxed);
                        if e.kind() == PublishErrorKind::WrongLastSequence {
                            tracing::info!(chain = %self.chain, height = next, "the log moved; reading where it stands");
                        } else {
                            tracing::warn!(chain = %self.chain, height = next, error = %e, "block not appended; retrying");
                            tokio::select! {
                                () = &mut stop => return Ok(()),
                                () = tokio::time::sleep(delay) => {}
                            }
                            delay = (delay * 2).min(Duration::from_secs(5));
                        }
                        continue 'resume;
                    }
                }
            }
        }
    }

    /// Where the subject stands.
    async fn tail(&self, subject: &str) -> Result<Tail, LogError> {
        let stream = self.log.stream().await?;
        match stream.get_last_raw_message_by_subject(subject).await {
            Ok(m) => {
                let height = m
                    .headers
                    .get(HEIGHT_HEADER)
                    .and_then(|v| v.as_str().parse::<i64>().ok())
                    .ok_or_else(|| LogError::Gap {
                        chain: self.chain.clone(),
                        message: format!("message {} has no {HEIGHT_HEADER} header", m.sequence),
                    })?;
                let id = m
                    .headers
                    .get("Nats-Msg-Id")
                    .map(|v| v.as_str().to_string())
                    .unwrap_or_default();
                Ok(Tail {
                    sequence: m.sequence,
                    last: Some((height, id)),
                })
            }
            Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(Tail {
                sequence: 0,
                last: None,
            }),
            Err(e) => Err(LogError::js(format!("last message of {subject}"), e)),
        }
    }
}
