//! The API's own records, kept in the store beside the chain log in
//! families this crate declares: access tokens, the audit log and the
//! signed seals of its head. The store keeps their bytes; [`auth`] and
//! [`audit`] give them meaning. The audit log is append-only here: an
//! entry is written only at the sequence number after the last one.
//!
//! | family | key | value |
//! |---|---|---|
//! | `tokens` | token id (UTF-8) | token record |
//! | `audit` | BE64 sequence | audit entry |
//! | `audit_seals` | BE64 sequence | signed seal of the log up to that entry |
//!
//! [`auth`]: crate::auth
//! [`audit`]: crate::audit

use store::{Family, Op, Store, StoreError};

/// Access tokens by id.
pub const TOKENS: Family = Family::new("tokens");
/// The audit log by sequence number.
pub const AUDIT: Family = Family::new("audit");
/// Seals of the audit log's head by the sequence number they cover.
pub const AUDIT_SEALS: Family = Family::new("audit_seals");

fn seq_of(what: &str, key: &[u8]) -> Result<u64, StoreError> {
    let b: [u8; 8] = key.try_into().map_err(|_| StoreError::Corrupt {
        what: what.into(),
        reason: format!("key of {} bytes, not 8", key.len()),
    })?;
    Ok(u64::from_be_bytes(b))
}

fn with_seqs(what: &str, entries: Vec<store::Entry>) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
    entries
        .into_iter()
        .map(|(k, v)| Ok((seq_of(what, &k)?, v)))
        .collect()
}

/// Appends audit entry `seq` (synced). `seq` must be one past the last
/// entry (0 for the first); the caller serialises its appends.
pub fn append_audit(store: &Store, seq: u64, entry: &[u8]) -> Result<(), StoreError> {
    let next = last_audit(store)?.map_or(0, |(s, _)| s + 1);
    if seq != next {
        return Err(StoreError::InvalidCommit(format!(
            "audit entry {seq} offered, but the next one is {next}: the log is append-only"
        )));
    }
    store.write(&[Op::Put(AUDIT, seq.to_be_bytes().to_vec(), entry.to_vec())])
}

/// The last audit entry, if any.
pub fn last_audit(store: &Store) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
    Ok(with_seqs("audit entry", store.scan(AUDIT, b"", None, true, 1)?)?.pop())
}

/// Up to `limit` audit entries from sequence `from` on, in order, with
/// their sequence numbers as stored (a gap shows as a jump).
pub fn audit_entries(
    store: &Store,
    from: u64,
    limit: usize,
) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
    from_seq(store, AUDIT, "audit entry", from, limit)
}

/// Up to `limit` records of `family` (keyed by BE64 sequence numbers) from
/// `from` on, with their sequence numbers.
fn from_seq(
    store: &Store,
    family: Family,
    what: &str,
    from: u64,
    limit: usize,
) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
    let start = from.to_be_bytes();
    with_seqs(what, store.scan(family, b"", Some(&start), false, limit)?)
}

/// Stores the seal of the audit log up to entry `seq` (synced).
pub fn put_audit_seal(store: &Store, seq: u64, seal: &[u8]) -> Result<(), StoreError> {
    store.write(&[Op::Put(
        AUDIT_SEALS,
        seq.to_be_bytes().to_vec(),
        seal.to_vec(),
    )])
}

/// The last seal, if any.
pub fn last_audit_seal(store: &Store) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
    Ok(with_seqs("audit seal", store.scan(AUDIT_SEALS, b"", None, true, 1)?)?.pop())
}

/// Writes a token record (synced), replacing any with the same id.
pub fn put_token(store: &Store, id: &str, record: &[u8]) -> Result<(), StoreError> {
    store.write(&[Op::Put(TOKENS, id.as_bytes().to_vec(), record.to_vec())])
}

/// The record of token `id`.
pub fn token(store: &Store, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
    store.read(TOKENS, id.as_bytes())
}

/// Most token records kept, revoked ones included (they stay so that the
/// audit log's names resolve): tokens are made by hand, so a store near
/// this bound is a mistake to stop, not a load to carry.
pub const MAX_TOKENS: usize = 10_000;

/// Every token record, by id, at most `limit` of them.
pub fn tokens(store: &Store, limit: usize) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    Ok(store
        .scan(TOKENS, b"", None, false, limit)?
        .into_iter()
        .map(|(k, v)| (String::from_utf8_lossy(&k).into_owned(), v))
        .collect())
}

/// At most `limit` audit seals from the one over entry `from` on, oldest
/// first.
pub fn audit_seals_from(
    store: &Store,
    from: u64,
    limit: usize,
) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
    from_seq(store, AUDIT_SEALS, "audit seal", from, limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        (dir, store)
    }

    #[test]
    fn the_audit_log_only_grows_at_its_end() -> Result<(), StoreError> {
        let (dir, store) = store();
        assert_eq!(last_audit(&store)?, None);
        append_audit(&store, 0, b"a")?;
        append_audit(&store, 1, b"b")?;
        for seq in [0, 1, 3] {
            let err = append_audit(&store, seq, b"x").expect_err("not next");
            assert!(err.to_string().contains("the next one is 2"), "{err}");
        }
        assert_eq!(last_audit(&store)?, Some((1, b"b".to_vec())));
        assert_eq!(
            audit_entries(&store, 1, 10)?,
            vec![(1, b"b".to_vec())],
            "entries from 1"
        );
        assert_eq!(audit_entries(&store, 0, 1)?.len(), 1, "limit");
        put_audit_seal(&store, 0, b"s0")?;
        put_audit_seal(&store, 1, b"s1")?;
        assert_eq!(last_audit_seal(&store)?, Some((1, b"s1".to_vec())));
        drop(store);
        // Kept across a reopen.
        let store = Store::open(dir.path())?;
        assert_eq!(audit_entries(&store, 0, 10)?.len(), 2);
        assert_eq!(audit_seals_from(&store, 0, 10)?.len(), 2);
        assert_eq!(
            audit_seals_from(&store, 1, 10)?,
            vec![(1, b"s1".to_vec())],
            "seals from 1"
        );
        Ok(())
    }

    #[test]
    fn token_records_are_kept_by_id() -> Result<(), StoreError> {
        let (_dir, store) = store();
        put_token(&store, "b", b"2")?;
        put_token(&store, "a", b"1")?;
        put_token(&store, "a", b"3")?;
        assert_eq!(token(&store, "a")?, Some(b"3".to_vec()));
        assert_eq!(token(&store, "c")?, None);
        let ids: Vec<String> = tokens(&store, MAX_TOKENS)?
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(ids, ["a", "b"]);
        Ok(())
    }
}
