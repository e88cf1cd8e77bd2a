//! Which observer follows a chain: a lease in the replicated key-value
//! bucket `lease_bucket`, one key per chain, whose value is the holder's
//! name.
//!
//! - Taking it: `create` succeeds only when the key does not exist (no
//!   holder, or the last one's entry aged out of the bucket). An observer
//!   restarted under the same name finds its own name there and renews it.
//! - Keeping it: every heartbeat (a third of `lease_ttl_ms`) the holder
//!   writes its name again at the revision it last wrote; the bucket drops
//!   an entry older than `lease_ttl_ms`, so a holder that stops beating
//!   loses the lease within that time.
//! - Losing it: a renewal refused for its revision means another observer
//!   holds the lease; a holder that could not renew for a whole time to
//!   live stops as well. Either way the holder stops following the chain
//!   before another can have taken it for long, and the log's per-subject
//!   sequence precondition keeps the stream right even if two publish at
//!   once ([`crate::publish`]).

use std::time::Duration;

use async_nats::jetstream::kv;
use bytes::Bytes;
use tokio::time::Instant;

use crate::{Log, LogError, subject_token};

/// A lease held.
#[derive(Debug)]
pub struct Lease {
    bucket: kv::Store,
    key: String,
    name: String,
    revision: u64,
    renewed: Instant,
    ttl: Duration,
}

/// What a renewal found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Renewal {
    /// Still held.
    Held,
    /// Another observer holds it, or it could not be renewed in time.
    Lost(String),
}

impl Lease {
    /// Takes chain `chain`'s lease for `name` if it is free (or already
    /// `name`'s); `None` while another observer holds it.
    pub async fn try_take(log: &Log, chain: &str, name: &str) -> Result<Option<Self>, LogError> {
        let bucket = log
            .js
            .get_key_value(&log.config.lease_bucket)
            .await
            .map_err(|e| LogError::js(format!("bucket {}", log.config.lease_bucket), e))?;
        let key = subject_token(chain);
        let value = Bytes::from(name.to_string());
        let revision = match bucket.create(&key, value.clone()).await {
            Ok(rev) => rev,
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                let entry = bucket
                    .entry(&key)
                    .await
                    .map_err(|e| LogError::js(format!("lease {key}"), e))?;
                match entry {
                    Some(en) if en.operation == kv::Operation::Put && en.value == value => {
                        match bucket.update(&key, value, en.revision).await {
                            Ok(rev) => rev,
                            // Someone else wrote it meanwhile.
                            Err(_) => return Ok(None),
                        }
                    }
                    _ => return Ok(None),
                }
            }
            Err(e) => return Err(LogError::js(format!("lease {key}"), e)),
        };
        tracing::info!(chain, holder = name, revision, "lease taken");
        Ok(Some(Self {
            bucket,
            key,
            name: name.to_string(),
            revision,
            renewed: Instant::now(),
            ttl: Duration::from_millis(log.config.lease_ttl_ms),
        }))
    }

    /// Writes the holder's name again at the revision last written.
    pub async fn renew(&mut self) -> Renewal {
        match self
            .bucket
            .update(&self.key, Bytes::from(self.name.clone()), self.revision)
            .await
        {
            Ok(rev) => {
                self.revision = rev;
                self.renewed = Instant::now();
                Renewal::Held
            }
            Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                Renewal::Lost(format!("another observer holds it ({e})"))
            }
            Err(e) if self.renewed.elapsed() >= self.ttl => {
                Renewal::Lost(format!("not renewed for {} ms ({e})", self.ttl.as_millis()))
            }
            Err(e) => {
                tracing::warn!(lease = %self.key, error = %e, "lease not renewed; retrying");
                Renewal::Held
            }
        }
    }

    /// Gives the lease up (on shutdown), so that another observer need not
    /// wait for it to age out.
    pub async fn release(self) {
        if let Err(e) = self
            .bucket
            .delete_expect_revision(&self.key, Some(self.revision))
            .await
        {
            tracing::debug!(lease = %self.key, error = %e, "lease not released; it ages out");
        }
    }
}
