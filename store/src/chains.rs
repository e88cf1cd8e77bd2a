//! The chains a store holds: each chain's id (as configured), number (the
//! top byte of its transactions' chain positions and the prefix of its
//! families) and group, registered once and never renumbered.
//!
//! The first chain registered is number 0, whose families have the bare
//! names: a store made before there were several chains holds chain 0's
//! log, and the first chain the node registers adopts it.

use rocksdb::{WriteBatch, WriteOptions};
use serde::{Deserialize, Serialize};

use crate::{CF_CHAINS, MAX_CHAIN_NUMBER, Store, StoreError, corrupt};

/// The longest chain id.
pub const MAX_CHAIN_ID: usize = 32;

/// One registered chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainEntry {
    /// Its id, as configured (`[[chain]] id`).
    pub id: String,
    /// Its number (0 to [`MAX_CHAIN_NUMBER`]).
    pub number: u8,
    /// The group it follows.
    pub group: String,
    /// When it was registered (ms since the epoch).
    pub added_ms: i64,
}

/// Whether `id` is a valid chain id: 1 to 32 ASCII letters, digits, `-`
/// and `_` (it appears in URLs, metric labels and file names).
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_CHAIN_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Store {
    /// Every registered chain, by number.
    pub fn chains(&self) -> Result<Vec<ChainEntry>, StoreError> {
        let db = self.db();
        let Some(cf) = db.cf_handle(CF_CHAINS) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for item in db.iterator_cf(&cf, rocksdb::IteratorMode::Start) {
            let (k, v) = item?;
            let e: ChainEntry = serde_json::from_slice(&v)
                .map_err(|e| corrupt(format!("chain {}", String::from_utf8_lossy(&k)), e))?;
            out.push(e);
        }
        out.sort_by_key(|e| e.number);
        Ok(out)
    }

    /// Registers chain `id` following `group`, or returns its entry when
    /// it is registered already. A registered chain keeps its number for
    /// good; one registered for another group is refused (its log is that
    /// group's: a new group needs a new id).
    pub fn register_chain(&self, id: &str, group: &str) -> Result<ChainEntry, StoreError> {
        if !valid_id(id) {
            return Err(StoreError::InvalidCommit(format!(
                "chain id {id:?} is not 1 to {MAX_CHAIN_ID} letters, digits, '-' or '_'"
            )));
        }
        let lock = self.write_lock(crate::Family::new(CF_CHAINS));
        let _held = lock.hold();
        let known = self.chains()?;
        if let Some(e) = known.iter().find(|e| e.id == id) {
            if e.group != group {
                return Err(StoreError::InvalidCommit(format!(
                    "chain {id:?} was registered for group {:?}; its log cannot follow group \
                     {group:?} (give that group its own chain id)",
                    e.group
                )));
            }
            return Ok(e.clone());
        }
        let number = match known.iter().map(|e| e.number).max() {
            None => 0,
            Some(n) if n < MAX_CHAIN_NUMBER => n + 1,
            Some(_) => {
                return Err(StoreError::InvalidCommit(format!(
                    "a store holds at most {} chains",
                    u32::from(MAX_CHAIN_NUMBER) + 1
                )));
            }
        };
        let entry = ChainEntry {
            id: id.to_owned(),
            number,
            group: group.to_owned(),
            added_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
                .unwrap_or(0),
        };
        let db = self.writer()?;
        if db.cf_handle(CF_CHAINS).is_none() {
            match db.create_cf(CF_CHAINS, &rocksdb::Options::default()) {
                Ok(()) => {}
                Err(_) if db.cf_handle(CF_CHAINS).is_some() => {}
                Err(e) => self.wrote(Err(e))?,
            }
        }
        let mut batch = WriteBatch::default();
        let row =
            serde_json::to_vec(&entry).map_err(|e| StoreError::InvalidCommit(e.to_string()))?;
        batch.put_cf(&crate::cf(&db, CF_CHAINS)?, id.as_bytes(), row);
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.wrote(db.write_opt(batch, &wo))?;
        Ok(entry)
    }

    /// The handle of chain `id`'s log, registering it (following `group`)
    /// when it is new.
    pub fn open_chain(&self, id: &str, group: &str) -> Result<Store, StoreError> {
        let e = self.register_chain(id, group)?;
        self.for_chain(e.number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_are_short_and_plain() {
        assert!(valid_id("bsn-shanghai_1"));
        for bad in ["", "a b", "a/b", "链", &"x".repeat(33)] {
            assert!(!valid_id(bad), "{bad:?}");
        }
    }
}
