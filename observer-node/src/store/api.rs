//! The API's own records, kept beside the chain data: access tokens, the
//! audit log and the signed seals of its head. The store keeps their bytes
//! and the append-only rule; `query-api` gives them meaning.
//!
//! | family | key | value |
//! |---|---|---|
//! | `tokens` | token id (UTF-8) | token record |
//! | `audit` | BE64 sequence | audit entry |
//! | `audit_seals` | BE64 sequence | signed seal of the log up to that entry |

use rocksdb::{IteratorMode, WriteOptions};

use super::{CF_AUDIT, CF_AUDIT_SEALS, CF_TOKENS, Store, StoreError, corrupt};

fn seq_of(what: &str, key: &[u8]) -> Result<u64, StoreError> {
    let b: [u8; 8] = key
        .try_into()
        .map_err(|_| corrupt(what, format!("key of {} bytes, not 8", key.len())))?;
    Ok(u64::from_be_bytes(b))
}

impl Store {
    fn put_synced(&self, cf: &str, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db.put_cf_opt(self.cf(cf)?, key, value, &wo)?;
        Ok(())
    }

    /// Appends audit entry `seq` (synced). The log is append-only: `seq`
    /// must be one past the last entry (0 for the first).
    pub fn append_audit(&self, seq: u64, entry: &[u8]) -> Result<(), StoreError> {
        let next = self.last_audit()?.map_or(0, |(s, _)| s + 1);
        if seq != next {
            return Err(StoreError::InvalidCommit(format!(
                "audit entry {seq} offered, but the next one is {next}: the log is append-only"
            )));
        }
        self.put_synced(CF_AUDIT, &seq.to_be_bytes(), entry)
    }

    /// The last audit entry, if any.
    pub fn last_audit(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        match self
            .db
            .iterator_cf(self.cf(CF_AUDIT)?, IteratorMode::End)
            .next()
        {
            None => Ok(None),
            Some(item) => {
                let (k, v) = item?;
                Ok(Some((seq_of("audit entry", &k)?, v.into_vec())))
            }
        }
    }

    /// Up to `limit` audit entries from sequence `from` on, in order, with
    /// their sequence numbers as stored (a gap shows as a jump).
    pub fn audit_entries(
        &self,
        from: u64,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let start = from.to_be_bytes();
        let mut out = Vec::new();
        for item in self.db.iterator_cf(
            self.cf(CF_AUDIT)?,
            IteratorMode::From(&start, rocksdb::Direction::Forward),
        ) {
            if out.len() >= limit {
                break;
            }
            let (k, v) = item?;
            out.push((seq_of("audit entry", &k)?, v.into_vec()));
        }
        Ok(out)
    }

    /// Stores the seal of the audit log up to entry `seq` (synced).
    pub fn put_audit_seal(&self, seq: u64, seal: &[u8]) -> Result<(), StoreError> {
        self.put_synced(CF_AUDIT_SEALS, &seq.to_be_bytes(), seal)
    }

    /// Every audit seal, oldest first.
    pub fn audit_seals(&self) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let mut out = Vec::new();
        for item in self
            .db
            .iterator_cf(self.cf(CF_AUDIT_SEALS)?, IteratorMode::Start)
        {
            let (k, v) = item?;
            out.push((seq_of("audit seal", &k)?, v.into_vec()));
        }
        Ok(out)
    }

    /// Writes a token record (synced), replacing any with the same id.
    pub fn put_token(&self, id: &str, record: &[u8]) -> Result<(), StoreError> {
        self.put_synced(CF_TOKENS, id.as_bytes(), record)
    }

    /// The record of token `id`.
    pub fn token(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.get(CF_TOKENS, id.as_bytes())
    }

    /// Every token record, by id.
    pub fn tokens(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let mut out = Vec::new();
        for item in self
            .db
            .iterator_cf(self.cf(CF_TOKENS)?, IteratorMode::Start)
        {
            let (k, v) = item?;
            out.push((String::from_utf8_lossy(&k).into_owned(), v.into_vec()));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audit_log_only_grows_at_its_end() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(|e| corrupt("tempdir", e))?;
        let store = Store::open(dir.path())?;
        assert_eq!(store.last_audit()?, None);
        store.append_audit(0, b"a")?;
        store.append_audit(1, b"b")?;
        for seq in [0, 1, 3] {
            let err = store.append_audit(seq, b"x").unwrap_err();
            assert!(err.to_string().contains("the next one is 2"), "{err}");
        }
        assert_eq!(store.last_audit()?, Some((1, b"b".to_vec())));
        assert_eq!(
            store.audit_entries(1, 10)?,
            vec![(1, b"b".to_vec())],
            "entries from 1"
        );
        assert_eq!(store.audit_entries(0, 1)?.len(), 1, "limit");
        drop(store);
        // Kept across a reopen.
        let store = Store::open(dir.path())?;
        assert_eq!(store.audit_entries(0, 10)?.len(), 2);
        Ok(())
    }

    #[test]
    fn token_records_are_kept_by_id() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(|e| corrupt("tempdir", e))?;
        let store = Store::open(dir.path())?;
        store.put_token("b", b"2")?;
        store.put_token("a", b"1")?;
        store.put_token("a", b"3")?;
        assert_eq!(store.token("a")?, Some(b"3".to_vec()));
        assert_eq!(store.token("c")?, None);
        let ids: Vec<String> = store.tokens()?.into_iter().map(|(id, _)| id).collect();
        assert_eq!(ids, ["a", "b"]);
        Ok(())
    }
}
