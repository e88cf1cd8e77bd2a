//! The policy engine's records, kept beside the chain data: its checkpoint
//! and window state, alerts, the outbox of notifications, dead letters, rule
//! versions and silences. The store keeps their bytes and writes each batch
//! atomically and synced; `policies` gives them meaning.
//!
//! | family | key | value |
//! |---|---|---|
//! | `policy_state` | name | checkpoint, window state, sequences |
//! | `alerts` | BE64 alert id | alert record |
//! | `alert_keys` | rule ‖ 0x00 ‖ group key | BE64 id of the rule's live alert for the key |
//! | `outbox` | channel ‖ 0x00 ‖ BE64 sequence | notification still to deliver |
//! | `dead_letters` | channel ‖ 0x00 ‖ BE64 sequence | notification given up on |
//! | `rule_versions` | rule id ‖ 0x00 ‖ BE32 version | rule text |
//! | `silences` | BE64 silence id | silence record |

use rocksdb::{Direction, IteratorMode, WriteBatch, WriteOptions};

use super::{Store, StoreError};

/// The families the policy engine writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyFamily {
    /// Checkpoint, window state, sequences.
    State,
    /// Alerts by id.
    Alerts,
    /// The live alert of each (rule, group key).
    AlertKeys,
    /// Notifications to deliver, per channel in order.
    Outbox,
    /// Notifications given up on, per channel.
    DeadLetters,
    /// Every version of every rule.
    RuleVersions,
    /// Silences.
    Silences,
}

impl PolicyFamily {
    pub(super) const ALL: [PolicyFamily; 7] = [
        PolicyFamily::State,
        PolicyFamily::Alerts,
        PolicyFamily::AlertKeys,
        PolicyFamily::Outbox,
        PolicyFamily::DeadLetters,
        PolicyFamily::RuleVersions,
        PolicyFamily::Silences,
    ];

    /// The column family's name.
    pub fn name(self) -> &'static str {
        match self {
            PolicyFamily::State => "policy_state",
            PolicyFamily::Alerts => "alerts",
            PolicyFamily::AlertKeys => "alert_keys",
            PolicyFamily::Outbox => "outbox",
            PolicyFamily::DeadLetters => "dead_letters",
            PolicyFamily::RuleVersions => "rule_versions",
            PolicyFamily::Silences => "silences",
        }
    }
}

/// A key and its value, as scanned.
pub type Entry = (Vec<u8>, Vec<u8>);

/// One write of a policy batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyOp {
    /// Sets `key` to `value`.
    Put(PolicyFamily, Vec<u8>, Vec<u8>),
    /// Removes `key`.
    Delete(PolicyFamily, Vec<u8>),
}

impl Store {
    /// Applies `ops` in one atomic, synced write: after a crash either all
    /// of them hold or none does. Wakes [`Store::subscribe_policy`].
    pub fn policy_write(&self, ops: &[PolicyOp]) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        for op in ops {
            match op {
                PolicyOp::Put(f, k, v) => batch.put_cf(self.cf(f.name())?, k, v),
                PolicyOp::Delete(f, k) => batch.delete_cf(self.cf(f.name())?, k),
            }
        }
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db.write_opt(batch, &wo)?;
        self.policy_feed.send_modify(|n| *n += 1);
        Ok(())
    }

    /// A value of a policy family.
    pub fn policy_get(&self, f: PolicyFamily, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        match self.db.cf_handle(f.name()) {
            None => Ok(None),
            Some(cf) => Ok(self.db.get_cf(cf, key)?),
        }
    }

    /// Up to `limit` entries of `f` whose keys start with `prefix`, from
    /// key `from` on (inclusive; `None`: the first), in key order, or in
    /// reverse key order from `from` down when `reverse`.
    pub fn policy_scan(
        &self,
        f: PolicyFamily,
        prefix: &[u8],
        from: Option<&[u8]>,
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        let Some(cf) = self.db.cf_handle(f.name()) else {
            return Ok(Vec::new());
        };
        let mut upper = prefix.to_vec();
        let mode = match (from, reverse) {
            (Some(k), false) => IteratorMode::From(k, Direction::Forward),
            (Some(k), true) => IteratorMode::From(k, Direction::Reverse),
            (None, false) => IteratorMode::From(prefix, Direction::Forward),
            (None, true) => {
                // The last key with the prefix: seek below the next prefix.
                if increment(&mut upper) {
                    IteratorMode::From(&upper, Direction::Reverse)
                } else {
                    IteratorMode::End
                }
            }
        };
        let mut out = Vec::new();
        for item in self.db.iterator_cf(cf, mode) {
            if out.len() >= limit {
                break;
            }
            let (k, v) = item?;
            if !k.starts_with(prefix) {
                if reverse && k.as_ref() >= prefix {
                    // At the next prefix itself (the seek is inclusive).
                    continue;
                }
                break;
            }
            out.push((k.into_vec(), v.into_vec()));
        }
        Ok(out)
    }

    /// The lock every read-modify-write of a policy record takes (the
    /// engine per block, senders per delivery, lifecycle changes), so that
    /// none overwrites another's change.
    pub fn policy_lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.policy_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A counter that moves on every policy write, for senders and
    /// subscriptions to wake on.
    pub fn subscribe_policy(&self) -> tokio::sync::watch::Receiver<u64> {
        self.policy_feed.subscribe()
    }
}

/// The next byte string of the same length in lexicographic order;
/// `false` when there is none (all 0xff).
fn increment(key: &mut Vec<u8>) -> bool {
    while let Some(last) = key.last_mut() {
        if *last == 0xff {
            key.pop();
        } else {
            *last += 1;
            return true;
        }
    }
    false
}
