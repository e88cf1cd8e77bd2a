//! Families a consumer of the store declares for its own records (the
//! policy engine's alerts and outbox, the API's tokens and audit log). The
//! consumer names them as [`Family`] constants in its own crate and gives
//! their keys and values meaning; the store keeps the bytes, writes each
//! batch atomically and synced, wakes the readers that follow a family, and
//! never lets a consumer write into the chain log's own families.
//!
//! A family is created by its first write; reading one that was never
//! written (or that a read-only opener did not find) reads as empty.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use rocksdb::{ColumnFamilyDescriptor, Direction, IteratorMode, Options, WriteBatch, WriteOptions};

use super::{FAMILIES, Store, StoreError};

/// A column family of a consumer's records, declared as a constant by the
/// consumer: `const ALERTS: Family = Family::new("alerts");`. A family is
/// the node's (one for every chain: alerts, tokens, the audit log) or each
/// chain's own (`Family::per_chain`: the chain's ABIs), in which case each
/// chain's handle ([`Store::for_chain`]) reads and writes its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Family {
    name: &'static str,
    per_chain: bool,
}

impl Family {
    /// The node's family named `name` (RocksDB's column family name).
    pub const fn new(name: &'static str) -> Self {
        Self {
            name,
            per_chain: false,
        }
    }

    /// A family each chain has its own of (chain 0's is named `name`,
    /// chain n's `c<n>/name`).
    pub const fn per_chain(name: &'static str) -> Self {
        Self {
            name,
            per_chain: true,
        }
    }

    /// The family's name (chain 0's column family name).
    pub const fn name(self) -> &'static str {
        self.name
    }

    /// Whether each chain has its own.
    pub const fn is_per_chain(self) -> bool {
        self.per_chain
    }
}

/// A key and its value, as scanned.
pub type Entry = (Vec<u8>, Vec<u8>);

/// One write of a consumer's batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Sets `key` to `value`.
    Put(Family, Vec<u8>, Vec<u8>),
    /// Removes `key`.
    Delete(Family, Vec<u8>),
}

impl Op {
    fn family(&self) -> Family {
        match self {
            Op::Put(f, ..) | Op::Delete(f, _) => *f,
        }
    }
}

/// The lock a consumer takes around each read-modify-write of its records
/// ([`Store::write_lock`]); hold it with [`WriteLock::hold`].
#[derive(Debug, Clone, Default)]
pub struct WriteLock(Arc<Mutex<()>>);

impl WriteLock {
    /// Waits for the lock and holds it until the guard drops (a panic of a
    /// previous holder does not poison it: every write is one atomic batch,
    /// so no half-done change is left behind).
    pub fn hold(&self) -> std::sync::MutexGuard<'_, ()> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The store's per-family state: locks and change counters.
#[derive(Debug, Default)]
pub(super) struct Families {
    locks: Mutex<HashMap<String, WriteLock>>,
    feeds: Mutex<HashMap<String, tokio::sync::watch::Sender<u64>>>,
}

impl Families {
    fn feed(&self, cf: &str) -> tokio::sync::watch::Sender<u64> {
        let mut feeds = self.feeds.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(f) = feeds.get(cf) {
            return f.clone();
        }
        feeds
            .entry(cf.to_owned())
            .or_insert_with(|| tokio::sync::watch::channel(0).0)
            .clone()
    }
}

impl Store {
    /// The column family name of `f` for this handle's chain.
    fn family_cf(&self, f: Family) -> Cow<'static, str> {
        if f.per_chain {
            crate::chain_cf(self.chain, f.name)
        } else {
            Cow::Borrowed(f.name)
        }
    }

    /// Applies `ops` in one atomic, synced write: after a crash either all
    /// of them hold or none does. Creates a family at its first write and
    /// wakes the followers of every family written
    /// ([`Store::subscribe_family`]). A family of the chain log is refused:
    /// only [`Store::commit`] writes those.
    pub fn write(&self, ops: &[Op]) -> Result<(), StoreError> {
        let mut touched: Vec<Family> = Vec::new();
        for op in ops {
            let f = op.family();
            if !touched.contains(&f) {
                touched.push(f);
            }
        }
        let db = self.writer()?;
        for f in &touched {
            self.create_family(&db, *f)?;
        }
        let mut batch = WriteBatch::default();
        for op in ops {
            match op {
                Op::Put(f, k, v) => batch.put_cf(&crate::cf(&db, &self.family_cf(*f))?, k, v),
                Op::Delete(f, k) => batch.delete_cf(&crate::cf(&db, &self.family_cf(*f))?, k),
            }
        }
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.wrote(db.write_opt(batch, &wo))?;
        for f in touched {
            self.shared
                .families
                .feed(&self.family_cf(f))
                .send_modify(|n| *n = n.wrapping_add(1));
        }
        Ok(())
    }

    fn create_family(&self, db: &crate::DB, f: Family) -> Result<(), StoreError> {
        if FAMILIES.contains(&f.name())
            || [crate::CF_CHAINS, crate::merge::CF_MERGED].contains(&f.name())
        {
            return Err(StoreError::InvalidCommit(format!(
                "family `{}` is the store's own (the chain log, which only a block commit writes, the chain registry or the merged log)",
                f.name()
            )));
        }
        let name = self.family_cf(f);
        if db.cf_handle(&name).is_none() {
            let d = ColumnFamilyDescriptor::new(name.as_ref(), Options::default());
            match db.create_cf(d.name(), &Options::default()) {
                Ok(()) => {}
                // Created by another writer in the meantime.
                Err(_) if db.cf_handle(&name).is_some() => {}
                Err(e) => return self.wrote(Err(e)),
            }
        }
        Ok(())
    }

    /// The value at `key` of family `f`.
    pub fn read(&self, f: Family, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let db = self.db();
        match db.cf_handle(&self.family_cf(f)) {
            None => Ok(None),
            Some(cf) => Ok(db.get_cf(&cf, key)?),
        }
    }

    /// Up to `limit` entries of `f` whose keys start with `prefix`, from
    /// key `from` on (inclusive; `None`: the first), in key order, or in
    /// reverse key order from `from` down when `reverse`.
    pub fn scan(
        &self,
        f: Family,
        prefix: &[u8],
        from: Option<&[u8]>,
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        let db = self.db();
        let Some(cf) = db.cf_handle(&self.family_cf(f)) else {
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
        for item in db.iterator_cf(&cf, mode) {
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

    /// The lock of the records `owner` names: a consumer takes it around
    /// every read-modify-write of its records, so that none of its writers
    /// (the engine per block, senders per delivery, lifecycle changes)
    /// overwrites another's change. One lock per owner family; a consumer
    /// names one family as the owner of all of its records.
    pub fn write_lock(&self, owner: Family) -> WriteLock {
        self.shared
            .families
            .locks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(self.family_cf(owner).into_owned())
            .or_default()
            .clone()
    }

    /// The counter [`Store::subscribe_family`] watches, as it stands: equal
    /// values mean no write to `f` in between (within this process).
    pub fn family_changes(&self, f: Family) -> u64 {
        *self.shared.families.feed(&self.family_cf(f)).borrow()
    }

    /// A counter that moves on every write to family `f`, for followers
    /// (senders, subscriptions) to wake on.
    pub fn subscribe_family(&self, f: Family) -> tokio::sync::watch::Receiver<u64> {
        self.shared.families.feed(&self.family_cf(f)).subscribe()
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

#[cfg(test)]
mod tests {
    use super::*;

    const A: Family = Family::new("test_a");
    const B: Family = Family::new("test_b");

    fn store() -> Result<(tempfile::TempDir, Store), StoreError> {
        let dir = tempfile::tempdir().map_err(|e| super::super::corrupt("tempdir", e))?;
        let store = Store::open(dir.path())?;
        Ok((dir, store))
    }

    #[test]
    fn a_family_is_created_by_its_first_write_and_kept_across_a_reopen() -> Result<(), StoreError> {
        let (dir, store) = store()?;
        assert_eq!(store.read(A, b"k")?, None, "never written reads as empty");
        assert!(store.scan(A, b"", None, false, 10)?.is_empty());
        store.write(&[Op::Put(A, b"k".to_vec(), b"v".to_vec())])?;
        assert_eq!(store.read(A, b"k")?, Some(b"v".to_vec()));
        assert_eq!(store.read(B, b"k")?, None, "families are apart");
        drop(store);
        let store = Store::open(dir.path())?;
        assert_eq!(store.read(A, b"k")?, Some(b"v".to_vec()));
        let ro = Store::open_read_only(dir.path())?;
        assert_eq!(ro.read(A, b"k")?, Some(b"v".to_vec()));
        assert_eq!(ro.read(B, b"k")?, None);
        Ok(())
    }

    #[test]
    fn a_consumer_cannot_write_the_chain_log() -> Result<(), StoreError> {
        let (_dir, store) = store()?;
        for name in FAMILIES {
            let f = Family::new(name);
            let err = store
                .write(&[Op::Put(
                    f,
                    b"checkpoint".to_vec(),
                    7i64.to_be_bytes().to_vec(),
                )])
                .expect_err(name);
            assert!(err.to_string().contains(name), "{err}");
        }
        assert_eq!(store.checkpoint()?, None);
        Ok(())
    }

    #[test]
    fn a_batch_is_atomic_and_wakes_only_the_families_it_wrote() -> Result<(), StoreError> {
        let (_dir, store) = store()?;
        let (mut a, mut b) = (store.subscribe_family(A), store.subscribe_family(B));
        a.borrow_and_update();
        b.borrow_and_update();
        store.write(&[
            Op::Put(A, b"x".to_vec(), b"1".to_vec()),
            Op::Put(A, b"y".to_vec(), b"2".to_vec()),
        ])?;
        assert!(a.has_changed().unwrap_or(false));
        assert!(!b.has_changed().unwrap_or(true));
        store.write(&[
            Op::Delete(A, b"x".to_vec()),
            Op::Put(B, b"z".to_vec(), b"3".to_vec()),
        ])?;
        assert_eq!(store.read(A, b"x")?, None);
        assert_eq!(store.read(B, b"z")?, Some(b"3".to_vec()));
        assert!(b.has_changed().unwrap_or(false));
        Ok(())
    }

    #[test]
    fn scans_keep_to_the_prefix_both_ways() -> Result<(), StoreError> {
        let (_dir, store) = store()?;
        let ops: Vec<Op> = [&b"a\x00"[..], b"a\x01", b"a\xff", b"b", b"\xff\xff"]
            .iter()
            .map(|k| Op::Put(A, k.to_vec(), k.to_vec()))
            .collect();
        store.write(&ops)?;
        let keys = |v: Vec<Entry>| v.into_iter().map(|(k, _)| k).collect::<Vec<_>>();
        assert_eq!(
            keys(store.scan(A, b"a", None, false, 10)?),
            [b"a\x00".to_vec(), b"a\x01".to_vec(), b"a\xff".to_vec()]
        );
        assert_eq!(
            keys(store.scan(A, b"a", None, true, 2)?),
            [b"a\xff".to_vec(), b"a\x01".to_vec()]
        );
        assert_eq!(
            keys(store.scan(A, b"\xff", None, true, 10)?),
            [b"\xff\xff".to_vec()]
        );
        assert_eq!(
            keys(store.scan(A, b"a", Some(b"a\x01"), false, 10)?),
            [b"a\x01".to_vec(), b"a\xff".to_vec()]
        );
        Ok(())
    }

    #[test]
    fn one_lock_per_owner() -> Result<(), StoreError> {
        let (_dir, store) = store()?;
        let (a1, a2, b) = (
            store.write_lock(A),
            store.write_lock(A),
            store.write_lock(B),
        );
        let held = a1.hold();
        assert!(a2.0.try_lock().is_err(), "the same owner's lock is taken");
        assert!(b.0.try_lock().is_ok(), "another owner's is free");
        drop(held);
        assert!(a2.0.try_lock().is_ok());
        Ok(())
    }
}
