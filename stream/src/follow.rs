//! The consumer's side: one chain's subject read through a durable pull
//! consumer named after this node and the chain, each block given to
//! [`ingest::Ingest::offer`] (verified again, then committed) and
//! acknowledged only once it is stored. A redelivered or duplicated
//! message finds its block stored already and is acknowledged again.
//!
//! The store's checkpoint, not the consumer's acknowledgement floor, says
//! where the chain stands: each time the follower (re)starts it finds the
//! message of the store's next height (bisecting the stream's sequences)
//! and anchors its durable consumer there, so neither a floor ahead of the
//! store (a store restored from a backup) nor redeliveries after a broken
//! pull can make it skip a block.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::ErrorCode;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use async_nats::jetstream::stream::ConsumerErrorKind;
use futures_util::StreamExt;
use ingest::{Ingest, Offer, Offered};
use store::Store;

use crate::wire::{self, HEAD_HEADER, HEIGHT_HEADER};
use crate::{Log, LogError, subject_token};

/// Follows one chain's subject into the store.
#[derive(Debug)]
pub struct Follower {
    log: Log,
    ingest: Arc<Ingest>,
    store: Arc<Store>,
    chain: String,
    durable: String,
}

impl Follower {
    /// A follower of chain `chain` for node `node`, storing through `ingest`
    /// into `store` (the chain's log handle).
    pub fn new(log: Log, ingest: Arc<Ingest>, store: Arc<Store>, chain: &str, node: &str) -> Self {
        let durable = format!("lt-{}-{}", subject_token(node), subject_token(chain));
        Self {
            log,
            ingest,
            store,
            chain: chain.to_string(),
            durable,
        }
    }

    /// Reads and stores blocks until `stop` completes. Returns an error when
    /// a block fails verification (recorded as a finding against the
    /// observer that published it: the chain cannot go on past it), when
    /// the stream no longer holds a block the store needs, or when the
    /// store fails; connection trouble is retried.
    pub async fn run(&self, stop: impl Future<Output = ()>) -> Result<(), LogError> {
        tokio::pin!(stop);
        let mut delay = Duration::from_millis(100);
        loop {
            let outcome = tokio::select! {
                () = &mut stop => return Ok(()),
                o = self.follow() => o,
            };
            match outcome {
                Ok(Pause::Done) => return Ok(()),
                // Read again from the store's next height.
                Ok(Pause::Ahead) => delay = Duration::from_millis(100),
                Err(Retry(Some(fatal))) => return Err(fatal),
                Err(Retry(None)) => {
                    tokio::select! {
                        () = &mut stop => return Ok(()),
                        () = tokio::time::sleep(delay) => {}
                    }
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// Where the durable consumer starts: the message of chain height
    /// `height`, found by bisecting the stream's sequences (a subject holds
    /// its heights in order), or the next message appended when the subject
    /// does not reach it yet. An error when the subject starts above it (its
    /// retention dropped blocks this store needs).
    async fn start_at(
        &self,
        stream: &async_nats::jetstream::stream::Stream,
        subject: &str,
        height: i64,
    ) -> Result<DeliverPolicy, Retry> {
        use async_nats::jetstream::stream::RawMessageErrorKind;
        let transient = |e: &dyn std::fmt::Display| {
            tracing::warn!(chain = %self.chain, error = %e, "cannot read the stream; retrying");
            Retry(None)
        };
        let state = stream.get_info().await.map_err(|e| transient(&e))?.state;
        // The first message on the subject at or after sequence `seq`, with
        // its height.
        let probe = |seq: u64| async move {
            match stream
                .raw_message_builder()
                .sequence(seq)
                .next_by_subject(subject.to_string())
                .send()
                .await
            {
                Ok(m) => {
                    let h = m
                        .headers
                        .get(HEIGHT_HEADER)
                        .and_then(|v| v.as_str().parse::<i64>().ok())
                        .ok_or_else(|| {
                            Retry(Some(LogError::Gap {
                                chain: self.chain.clone(),
                                message: format!(
                                    "message {} has no {HEIGHT_HEADER} header",
                                    m.sequence
                                ),
                            }))
                        })?;
                    Ok(Some((m.sequence, h)))
                }
                Err(e) if e.kind() == RawMessageErrorKind::NoMessageFound => Ok(None),
                Err(e) => Err(transient(&e)),
            }
        };
        let (mut lo, mut hi) = (state.first_sequence.max(1), state.last_sequence + 1);
        let mut found: Option<(u64, i64)> = None;
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match probe(mid).await? {
                None => hi = mid,
                Some((seq, h)) if h >= height => {
                    found = Some((seq, h));
                    hi = mid;
                }
                Some((seq, _)) => lo = seq + 1,
            }
        }
        match found {
            Some((seq, h)) if h == height => Ok(DeliverPolicy::ByStartSequence {
                start_sequence: seq,
            }),
            Some((_, h)) => Err(Retry(Some(LogError::Gap {
                chain: self.chain.clone(),
                message: format!(
                    "the stream's first block of this chain after the store's is {h}, not {height}: its retention dropped blocks this store needs (copy the store of an up-to-date node, or keep the stream longer: stream.max_age_days)"
                ),
            }))),
            None => Ok(DeliverPolicy::ByStartSequence {
                start_sequence: state.last_sequence + 1,
            }),
        }
    }

    /// Reads messages until one is above the next block the store needs
    /// (the durable consumer must start again from the stream's start), or
    /// something calls for a retry.
    async fn follow(&self) -> Result<Pause, Retry> {
        let transient = |what: &str, e: &dyn std::fmt::Display| {
            tracing::warn!(chain = %self.chain, error = %e, "{what}; retrying");
            Retry(None)
        };
        let stream = self
            .log
            .stream()
            .await
            .map_err(|e| transient("stream", &e))?;
        let subject = self.log.config.subject(&self.chain);
        let store = self.store.clone();
        let next = tokio::task::spawn_blocking(move || store.checkpoint())
            .await
            .map_err(|e| Retry(Some(LogError::Worker(e.to_string()))))?
            .map_err(|e| Retry(Some(e.into())))?
            .map_or(0, |cp| cp + 1);
        let deliver_policy = self.start_at(&stream, &subject, next).await?;
        // The durable consumer is anchored again at the store's next block:
        // the store's checkpoint, not the consumer's floor, is where the
        // chain stands (a floor ahead of a store restored from a backup, or
        // messages redelivered out of order after a broken pull, cannot
        // skip a block).
        match stream.delete_consumer(&self.durable).await {
            Ok(_) => {}
            Err(e)
                if matches!(e.kind(), ConsumerErrorKind::JetStream(ref j)
                    if j.error_code() == ErrorCode::CONSUMER_NOT_FOUND) => {}
            Err(e) => return Err(transient("cannot reset the durable consumer", &e)),
        }
        let consumer: async_nats::jetstream::consumer::Consumer<pull::Config> = stream
            .create_consumer(pull::Config {
                durable_name: Some(self.durable.clone()),
                description: Some(format!("lookthrough consumer of chain {}", self.chain)),
                filter_subject: subject,
                deliver_policy,
                ack_policy: AckPolicy::Explicit,
                ack_wait: Duration::from_secs(60),
                max_ack_pending: 1024,
                ..Default::default()
            })
            .await
            .map_err(|e| transient("cannot open the durable consumer", &e))?;
        let mut messages = consumer
            .stream()
            .max_messages_per_batch(64)
            .heartbeat(Duration::from_secs(5))
            .expires(Duration::from_secs(30))
            .messages()
            .await
            .map_err(|e| transient("cannot pull", &e))?;
        let stop_at = self.ingest.stop_at();
        loop {
            let next = match messages.next().await {
                None => return Err(transient("the pull ended", &"end of messages")),
                Some(Err(e)) => return Err(transient("pull failed", &e)),
                Some(Ok(m)) => m,
            };
            let header = |name: &str| {
                next.headers
                    .as_ref()
                    .and_then(|h| h.get(name))
                    .and_then(|v| v.as_str().parse::<i64>().ok())
            };
            let (height_hint, told_head) = (header(HEIGHT_HEADER), header(HEAD_HEADER));
            let chain = self.chain.clone();
            let payload = next.payload.clone();
            let decoded = tokio::task::spawn_blocking(move || wire::decode(&chain, &payload))
                .await
                .map_err(|e| Retry(Some(LogError::Worker(e.to_string()))))?;
            let message = match decoded {
                Ok(m) => m,
                Err(e) => {
                    return Err(Retry(Some(LogError::Gap {
                        chain: self.chain.clone(),
                        message: format!(
                            "message at height {} cannot be read: {e}",
                            height_hint.map_or("?".into(), |h| h.to_string())
                        ),
                    })));
                }
            };
            let height = message.block.header.number;
            let offered = self
                .ingest
                .offer(offer_of(message))
                .await
                .map_err(|e| Retry(Some(e.into())))?;
            match offered {
                Offered::Stored | Offered::Known => {
                    // The head the observer's endpoints told (the merger
                    // holds the other chains for this one until it is
                    // reached, as in the embedded mode).
                    if let Some(told) = told_head {
                        let head = told.max(height);
                        self.store.note_chain_head(head);
                        self.ingest
                            .stats()
                            .head
                            .fetch_max(head, std::sync::atomic::Ordering::Relaxed);
                    }
                    if let Err(e) = next.ack().await {
                        // Redelivered later, and then found stored.
                        tracing::debug!(chain = %self.chain, height, error = %e, "ack not sent");
                    }
                    if stop_at.is_some_and(|s| height >= s) {
                        return Ok(Pause::Done);
                    }
                }
                Offered::Ahead { next: want } => {
                    tracing::warn!(chain = %self.chain, height, want, "a message above the next block; reading again from the store's next block");
                    return Ok(Pause::Ahead);
                }
                Offered::Refused(f) => {
                    return Err(Retry(Some(LogError::Gap {
                        chain: self.chain.clone(),
                        message: format!(
                            "block {height} from {} fails {}: {} (recorded as a finding; this chain stops here until an operator looks)",
                            f.endpoint, f.check, f.detail
                        ),
                    })));
                }
            }
        }
    }
}

/// What a block message offers the consumer's ingest.
pub fn offer_of(message: wire::BlockMessage) -> Offer {
    Offer {
        block: message.block,
        raw: message.block_text,
        envelopes: message
            .envelopes
            .into_iter()
            .map(|e| store::TxEnvelope {
                class: e.class,
                detail: e.detail,
                sealed_record: e.sealed_record,
            })
            .collect(),
        receipts: message.receipts,
        source: format!("stream:{}", message.observer),
    }
}

/// Why [`Follower::follow`] stopped reading.
enum Pause {
    /// A message above the next block was read: read again from the
    /// store's next block.
    Ahead,
    /// The stop height is stored.
    Done,
}

/// Try again (`None`), or stop with the error.
struct Retry(Option<LogError>);
