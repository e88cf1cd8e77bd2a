//! The audit log: one entry per request that read decrypted data (who,
//! when, the query and its variables, which transactions' payloads were
//! read and which private transactions a plaintext search matched).
//!
//! Entries are appended to the store's `audit` family and chained: each
//! holds the SM3 digest of the one before, and its own digest is
//! `SM3("lookthrough-audit-v1" ‖ prev ‖ entry)`, where `entry` is the
//! entry's JSON exactly as stored. Changing, removing or reordering any
//! entry breaks the chain from there on. The head is sealed from time to
//! time ([`AuditLog::seal`]): the node signs `(sequence, head digest)` with
//! its SM2 key, so rewriting the whole chain after an entry is caught at
//! the next seal. [`verify`] checks all of it and names the first broken
//! entry.
//!
//! Stored value: `prev (32 bytes) ‖ digest (32 bytes) ‖ entry JSON`.

use std::io::Write;
use std::sync::{Arc, Mutex};

use privacy::keys::{PrivateKey, PublicKey};
use serde::{Deserialize, Serialize};
use store::{Store, StoreError};

use crate::auth::{Credential, Role};

const DOMAIN: &[u8] = b"lookthrough-audit-v1";
const SEAL_DOMAIN: &[u8] = b"lookthrough-audit-seal-v1";
const DIGEST: usize = 32;
/// Longest query text kept in an entry, bytes (a longer one is cut, and
/// the entry says so).
pub const MAX_QUERY: usize = 16 * 1024;
/// Entries read per batch when verifying or exporting.
const BATCH: usize = 4096;

/// Who made the request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// Token or JWT.
    pub credential: Credential,
    /// The token id, or the JWT subject.
    pub id: String,
    /// The token's name, or the JWT subject.
    pub name: String,
    /// The role it acted in.
    pub role: Role,
}

impl From<&crate::auth::Principal> for Actor {
    fn from(p: &crate::auth::Principal) -> Self {
        Self {
            credential: p.credential,
            id: p.id.clone(),
            name: p.name.clone(),
            role: p.role,
        }
    }
}

/// One audited request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the log, from 0.
    pub seq: u64,
    /// When (ms since the epoch).
    pub at_ms: i64,
    /// Who.
    pub actor: Actor,
    /// The GraphQL operation name, if given.
    pub operation: Option<String>,
    /// The GraphQL document (cut at [`MAX_QUERY`] bytes).
    pub query: String,
    /// Whether `query` was cut.
    pub query_truncated: bool,
    /// The request's variables.
    pub variables: serde_json::Value,
    /// Transactions whose decrypted payload was returned.
    pub read: Vec<String>,
    /// Private transactions returned by a search over decrypted fields
    /// (their plaintext decided the match or the order).
    pub matched: Vec<String>,
    /// Whether aggregates over decrypted fields (amount sums, payload
    /// parties) were returned.
    #[serde(default)]
    pub aggregated: bool,
}

/// What a request read, before it becomes an entry.
#[derive(Clone, Debug, Default)]
pub struct Reads {
    /// Payloads returned.
    pub read: Vec<String>,
    /// Private transactions matched through their plaintext.
    pub matched: Vec<String>,
    /// Aggregates over decrypted fields were returned.
    pub aggregated: bool,
}

impl Reads {
    /// Nothing decrypted was read.
    pub fn is_empty(&self) -> bool {
        self.read.is_empty() && self.matched.is_empty() && !self.aggregated
    }
}

/// A signed statement of the log's head.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seal {
    /// The last entry covered.
    pub seq: u64,
    /// Its digest, hex.
    pub head: String,
    /// When it was signed (ms since the epoch).
    pub at_ms: i64,
    /// The signing key's id (SM3 of its public key), hex.
    pub key_id: String,
    /// SM2 signature (`r ‖ s`, hex) over the seal message.
    pub signature: String,
}

fn seal_message(seq: u64, head: &[u8; DIGEST]) -> Vec<u8> {
    let mut m = Vec::with_capacity(SEAL_DOMAIN.len() + 8 + DIGEST);
    m.extend_from_slice(SEAL_DOMAIN);
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(head);
    m
}

fn digest(prev: &[u8; DIGEST], entry: &[u8]) -> [u8; DIGEST] {
    privacy::hash::sm3_concat(&[DOMAIN, prev, entry])
}

/// Why the audit log could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An entry or seal could not be encoded or decoded.
    #[error("audit entry {seq}: {reason}")]
    Encoding {
        /// Which entry.
        seq: u64,
        /// What failed.
        reason: String,
    },
    /// Signing a seal failed.
    #[error("signing the audit seal failed: {0}")]
    Sign(String),
    /// Writing an export failed.
    #[error("writing the export: {0}")]
    Io(#[from] std::io::Error),
}

struct Tail {
    next: u64,
    head: [u8; DIGEST],
    sealed: Option<u64>,
    /// A write failed: whether it reached the store is read back before
    /// the next entry (a failed sync may still have landed).
    stale: bool,
}

impl Tail {
    /// The tail of the log `store` holds.
    fn read(store: &Store) -> Result<Self, AuditError> {
        Ok(match crate::records::last_audit(store)? {
            None => Tail {
                next: 0,
                head: [0u8; DIGEST],
                sealed: None,
                stale: false,
            },
            Some((seq, bytes)) => {
                let (_, own, _) = split_stored(seq, &bytes)
                    .map_err(|reason| AuditError::Encoding { seq, reason })?;
                Tail {
                    next: seq + 1,
                    head: own,
                    sealed: crate::records::last_audit_seal(store)?.map(|(s, _)| s),
                    stale: false,
                }
            }
        })
    }
}

/// The log, appended to by the API.
pub struct AuditLog {
    store: Arc<Store>,
    tail: Mutex<Tail>,
    signer: Option<Arc<PrivateKey>>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("signs", &self.signer.is_some())
            .finish_non_exhaustive()
    }
}

/// A stored value's parts: the previous digest, its own, the entry JSON.
type Parts<'a> = ([u8; DIGEST], [u8; DIGEST], &'a [u8]);

fn split_stored(seq: u64, bytes: &[u8]) -> Result<Parts<'_>, String> {
    if bytes.len() < 2 * DIGEST {
        return Err(format!(
            "{} bytes, shorter than its two digests (entry {seq})",
            bytes.len()
        ));
    }
    let mut prev = [0u8; DIGEST];
    let mut own = [0u8; DIGEST];
    prev.copy_from_slice(&bytes[..DIGEST]);
    own.copy_from_slice(&bytes[DIGEST..2 * DIGEST]);
    Ok((prev, own, &bytes[2 * DIGEST..]))
}

impl AuditLog {
    /// The log in `store`, continuing after its last entry. Seals are
    /// signed with `signer` (the node's SM2 key); without one the log is
    /// still chained but never sealed.
    pub fn open(store: Arc<Store>, signer: Option<Arc<PrivateKey>>) -> Result<Self, AuditError> {
        let tail = Tail::read(&store)?;
        Ok(Self {
            store,
            tail: Mutex::new(tail),
            signer,
        })
    }

    /// Appends one entry (synced) and returns its sequence number. Call
    /// before the response leaves: a read that cannot be logged is not
    /// answered.
    pub fn append(
        &self,
        actor: Actor,
        at_ms: i64,
        operation: Option<String>,
        query: &str,
        variables: serde_json::Value,
        reads: Reads,
    ) -> Result<u64, AuditError> {
        let (query, query_truncated) = if query.len() > MAX_QUERY {
            let mut end = MAX_QUERY;
            while !query.is_char_boundary(end) {
                end -= 1;
            }
            (query[..end].to_string(), true)
        } else {
            (query.to_string(), false)
        };
        let mut tail = self.tail.lock().unwrap_or_else(|p| p.into_inner());
        if tail.stale {
            *tail = Tail::read(&self.store)?;
        }
        let entry = AuditEntry {
            seq: tail.next,
            at_ms,
            actor,
            operation,
            query,
            query_truncated,
            variables,
            read: reads.read,
            matched: reads.matched,
            aggregated: reads.aggregated,
        };
        let json = serde_json::to_vec(&entry).map_err(|e| AuditError::Encoding {
            seq: entry.seq,
            reason: e.to_string(),
        })?;
        let own = digest(&tail.head, &json);
        let mut value = Vec::with_capacity(2 * DIGEST + json.len());
        value.extend_from_slice(&tail.head);
        value.extend_from_slice(&own);
        value.extend_from_slice(&json);
        if let Err(e) = crate::records::append_audit(&self.store, entry.seq, &value) {
            tail.stale = true;
            return Err(e.into());
        }
        tail.next += 1;
        tail.head = own;
        Ok(entry.seq)
    }

    /// Signs the head if entries were added since the last seal; returns
    /// the new seal.
    pub fn seal(&self, at_ms: i64) -> Result<Option<Seal>, AuditError> {
        let Some(key) = &self.signer else {
            return Ok(None);
        };
        let mut tail = self.tail.lock().unwrap_or_else(|p| p.into_inner());
        if tail.stale {
            *tail = Tail::read(&self.store)?;
        }
        if tail.next == 0 || tail.sealed == Some(tail.next - 1) {
            return Ok(None);
        }
        let seq = tail.next - 1;
        let signature = key
            .sign(&seal_message(seq, &tail.head))
            .map_err(|e| AuditError::Sign(e.to_string()))?;
        let seal = Seal {
            seq,
            head: hex::encode(tail.head),
            at_ms,
            key_id: key.key_id().to_hex(),
            signature: hex::encode(signature),
        };
        let bytes = serde_json::to_vec(&seal).map_err(|e| AuditError::Encoding {
            seq,
            reason: e.to_string(),
        })?;
        if let Err(e) = crate::records::put_audit_seal(&self.store, seq, &bytes) {
            tail.stale = true;
            return Err(e.into());
        }
        tail.sealed = Some(seq);
        Ok(Some(seal))
    }

    /// Entries from `from`, at most `limit`, newest last.
    pub fn entries(&self, from: u64, limit: usize) -> Result<Vec<AuditEntry>, AuditError> {
        read_entries(&self.store, from, limit)
    }

    /// How many entries the log holds.
    pub fn len(&self) -> u64 {
        self.tail.lock().unwrap_or_else(|p| p.into_inner()).next
    }

    /// Whether the log is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn read_entries(store: &Store, from: u64, limit: usize) -> Result<Vec<AuditEntry>, AuditError> {
    crate::records::audit_entries(store, from, limit)?
        .into_iter()
        .map(|(seq, bytes)| {
            let (_, _, json) =
                split_stored(seq, &bytes).map_err(|reason| AuditError::Encoding { seq, reason })?;
            serde_json::from_slice(json).map_err(|e| AuditError::Encoding {
                seq,
                reason: e.to_string(),
            })
        })
        .collect()
}

/// The first place the log is broken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Broken {
    /// The entry (or, for a seal, the entry it covers).
    pub seq: u64,
    /// What is wrong.
    pub reason: String,
}

/// What [`verify`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verification {
    /// Entries read.
    pub entries: u64,
    /// Seals whose signature and head were checked.
    pub seals_checked: usize,
    /// The last entry a valid seal covers.
    pub sealed_to: Option<u64>,
    /// The first break, if any.
    pub broken: Option<Broken>,
}

/// Checks the whole log: sequence numbers without gaps, each entry's link
/// and digest, each entry's own sequence number, and every seal's head and
/// signature (when `key` is given; seals by another key are breaks). Reads
/// entries and seals a page at a time, side by side, so its memory does not
/// grow with the log.
pub fn verify(store: &Store, key: Option<&PublicKey>) -> Result<Verification, AuditError> {
    verify_in_pages(store, key, BATCH)
}

/// [`verify`], reading `page` entries and seals at a time.
fn verify_in_pages(
    store: &Store,
    key: Option<&PublicKey>,
    page: usize,
) -> Result<Verification, AuditError> {
    let page = page.max(1);
    let mut expect_seq = 0u64;
    let mut prev_digest = [0u8; DIGEST];
    let broken = |seq, reason: String| Broken { seq, reason };
    let mut result = Verification {
        entries: 0,
        seals_checked: 0,
        sealed_to: None,
        broken: None,
    };
    // Seals come in seq order beside the entries; a seal that fails stops
    // the seal checks, and the entries are still read to count them (an
    // entry break later is not reported over the earlier seal's).
    let mut seals = Seals::new(store, key.is_some(), page);
    let mut seal_broken: Option<Broken> = None;
    'outer: loop {
        let batch = crate::records::audit_entries(store, expect_seq, page)?;
        if batch.is_empty() {
            break;
        }
        for (seq, bytes) in batch {
            if seq != expect_seq {
                result.broken = Some(broken(
                    expect_seq,
                    format!("entry {expect_seq} is missing (the next one stored is {seq})"),
                ));
                break 'outer;
            }
            let (prev, own, json) = match split_stored(seq, &bytes) {
                Ok(parts) => parts,
                Err(reason) => {
                    result.broken = Some(broken(seq, reason));
                    break 'outer;
                }
            };
            if prev != prev_digest {
                result.broken = Some(broken(
                    seq,
                    "its link does not match the digest of the entry before it".into(),
                ));
                break 'outer;
            }
            if digest(&prev, json) != own {
                result.broken = Some(broken(
                    seq,
                    "its contents do not match its digest (the entry was changed)".into(),
                ));
                break 'outer;
            }
            match serde_json::from_slice::<AuditEntry>(json) {
                Ok(e) if e.seq == seq => {}
                Ok(e) => {
                    result.broken = Some(broken(
                        seq,
                        format!("it says it is entry {}, stored as {seq}", e.seq),
                    ));
                    break 'outer;
                }
                Err(e) => {
                    result.broken = Some(broken(seq, format!("it does not decode: {e}")));
                    break 'outer;
                }
            }
            if let (Some(key), None) = (key, &seal_broken)
                && let Some(bytes) = seals.take(seq)?
            {
                match check_seal(key, seq, &own, &bytes) {
                    Ok(()) => {
                        result.seals_checked += 1;
                        result.sealed_to = Some(seq);
                    }
                    Err(reason) => seal_broken = Some(seal_break(seq, reason)),
                }
            }
            prev_digest = own;
            expect_seq += 1;
            result.entries += 1;
        }
    }
    if seal_broken.is_none() && result.broken.is_none() {
        // A seal past the last entry covers an entry the log does not hold.
        if let Some(seq) = seals.first_from(expect_seq)? {
            seal_broken = Some(seal_break(
                seq,
                "covers an entry the log does not hold".into(),
            ));
        }
    }
    if seal_broken.is_some() {
        result.broken = seal_broken;
    }
    Ok(result)
}

fn seal_break(seq: u64, reason: String) -> Broken {
    Broken {
        seq,
        reason: format!("the seal over entry {seq}: {reason}"),
    }
}

/// Checks the seal `bytes` stored over entry `seq`, whose digest is `head`.
fn check_seal(key: &PublicKey, seq: u64, head: &[u8; DIGEST], bytes: &[u8]) -> Result<(), String> {
    let seal: Seal = serde_json::from_slice(bytes).map_err(|e| format!("does not decode: {e}"))?;
    if seal.seq != seq || seal.head != hex::encode(head) {
        return Err(
            "names a head the chain does not have (entries up to it were rewritten)".into(),
        );
    }
    let signature = hex::decode(&seal.signature).unwrap_or_default();
    if key.verify(&seal_message(seq, head), &signature).is_err() {
        return Err(format!(
            "its signature does not verify with the node key {}",
            key.key_id().to_hex()
        ));
    }
    Ok(())
}

/// The stored seals, read a page at a time in seq order.
struct Seals<'a> {
    store: &'a Store,
    size: usize,
    page: std::collections::VecDeque<(u64, Vec<u8>)>,
    /// The seq to read the next page from; `None` when all are read.
    next: Option<u64>,
}

impl<'a> Seals<'a> {
    fn new(store: &'a Store, wanted: bool, size: usize) -> Self {
        Seals {
            store,
            size,
            page: Default::default(),
            next: wanted.then_some(0),
        }
    }

    /// The seal over entry `seq`, if stored (seals over earlier entries
    /// are passed over: the caller asks in increasing seq order).
    fn take(&mut self, seq: u64) -> Result<Option<Vec<u8>>, AuditError> {
        if self.first_from(seq)? == Some(seq) {
            return Ok(self.page.pop_front().map(|(_, bytes)| bytes));
        }
        Ok(None)
    }

    /// The seq of the first stored seal at or after `seq`.
    fn first_from(&mut self, seq: u64) -> Result<Option<u64>, AuditError> {
        loop {
            while self.page.front().is_some_and(|(s, _)| *s < seq) {
                self.page.pop_front();
            }
            if let Some((s, _)) = self.page.front() {
                return Ok(Some(*s));
            }
            let Some(from) = self.next else {
                return Ok(None);
            };
            let page = crate::records::audit_seals_from(self.store, from.max(seq), self.size)?;
            self.next = match page.last() {
                Some((last, _)) if page.len() == self.size => last.checked_add(1),
                _ => None,
            };
            if page.is_empty() {
                return Ok(None);
            }
            self.page.extend(page);
        }
    }
}

/// Writes every entry as one JSON line, oldest first; returns how many.
pub fn export(store: &Store, out: &mut dyn Write) -> Result<u64, AuditError> {
    let mut from = 0u64;
    let mut n = 0u64;
    loop {
        let batch = read_entries(store, from, BATCH)?;
        let Some(last) = batch.last() else {
            break;
        };
        from = last.seq + 1;
        for e in &batch {
            serde_json::to_writer(&mut *out, e).map_err(|err| AuditError::Encoding {
                seq: e.seq,
                reason: err.to_string(),
            })?;
            out.write_all(b"\n")?;
            n += 1;
        }
    }
    out.flush()?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor() -> Actor {
        Actor {
            credential: Credential::Token,
            id: "00112233".into(),
            name: "alice".into(),
            role: Role::Analyst,
        }
    }

    fn reads(h: &str) -> Reads {
        Reads {
            read: vec![h.to_string()],
            matched: vec![],
            aggregated: false,
        }
    }

    fn fill(log: &AuditLog, n: u64) -> Result<(), AuditError> {
        for i in 0..n {
            log.append(
                actor(),
                i as i64,
                None,
                "{ transaction(hash: $h) { payload { memo } } }",
                serde_json::json!({ "h": format!("0x{i:064x}") }),
                reads(&format!("0x{i:064x}")),
            )?;
        }
        Ok(())
    }

    #[test]
    fn an_untouched_log_verifies_and_survives_a_reopen() -> Result<(), AuditError> {
        let dir = tempfile::tempdir()?;
        let store = Arc::new(Store::open(dir.path())?);
        let key = Arc::new(PrivateKey::generate().map_err(|e| AuditError::Sign(e.to_string()))?);
        let log = AuditLog::open(store.clone(), Some(key.clone()))?;
        fill(&log, 5)?;
        assert!(log.seal(10)?.is_some());
        assert!(log.seal(11)?.is_none(), "nothing new to seal");
        drop(log);
        let log = AuditLog::open(store.clone(), Some(key.clone()))?;
        fill(&log, 3)?;
        assert_eq!(log.len(), 8);
        assert_eq!(log.seal(12)?.map(|s| s.seq), Some(7));
        let v = verify(&store, Some(key.public_key()))?;
        assert_eq!(v.broken, None);
        assert_eq!((v.entries, v.seals_checked, v.sealed_to), (8, 2, Some(7)));
        assert_eq!(log.entries(6, 10)?.len(), 2);
        let mut out = Vec::new();
        assert_eq!(export(&store, &mut out)?, 8);
        assert_eq!(
            out.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count(),
            8
        );
        Ok(())
    }

    #[test]
    fn a_long_query_is_cut_on_a_character_boundary() -> Result<(), AuditError> {
        let dir = tempfile::tempdir()?;
        let store = Arc::new(Store::open(dir.path())?);
        let log = AuditLog::open(store, None)?;
        let query = "汇".repeat(MAX_QUERY);
        log.append(
            actor(),
            0,
            None,
            &query,
            serde_json::Value::Null,
            reads("x"),
        )?;
        let e = &log.entries(0, 1)?[0];
        assert!(e.query_truncated && e.query.len() <= MAX_QUERY && e.query.len() > MAX_QUERY - 3);
        Ok(())
    }

    #[test]
    fn a_seal_by_another_key_is_a_break() -> Result<(), AuditError> {
        let dir = tempfile::tempdir()?;
        let store = Arc::new(Store::open(dir.path())?);
        let key = Arc::new(PrivateKey::generate().map_err(|e| AuditError::Sign(e.to_string()))?);
        let other = PrivateKey::generate().map_err(|e| AuditError::Sign(e.to_string()))?;
        let log = AuditLog::open(store.clone(), Some(key))?;
        fill(&log, 2)?;
        log.seal(1)?;
        let v = verify(&store, Some(other.public_key()))?;
        let b = v.broken.expect("broken");
        assert_eq!(b.seq, 1);
        assert!(b.reason.contains("signature"), "{}", b.reason);
        Ok(())
    }

    /// Seals read a page at a time beside the entries: every seal checked
    /// across page ends, a bad one named while the entries are still
    /// counted, and a seal past the last entry named.
    #[test]
    fn seals_are_checked_a_page_at_a_time() -> Result<(), AuditError> {
        let dir = tempfile::tempdir()?;
        let store = Arc::new(Store::open(dir.path())?);
        let key = Arc::new(PrivateKey::generate().map_err(|e| AuditError::Sign(e.to_string()))?);
        let log = AuditLog::open(store.clone(), Some(key.clone()))?;
        for upto in [2u64, 5, 6, 10] {
            fill(&log, upto - log.len())?;
            assert_eq!(log.seal(0)?.map(|s| s.seq), Some(upto - 1));
        }
        for page in [1, 2, 3, 4096] {
            let v = verify_in_pages(&store, Some(key.public_key()), page)?;
            assert_eq!(v.broken, None, "page {page}");
            assert_eq!(
                (v.entries, v.seals_checked, v.sealed_to),
                (10, 4, Some(9)),
                "page {page}"
            );
        }
        // The seal over entry 5 moved onto entry 4: its head is wrong.
        let seals = crate::records::audit_seals_from(&store, 0, 10)?;
        let (_, over5) = seals
            .iter()
            .find(|(s, _)| *s == 5)
            .cloned()
            .expect("seal 5");
        let (_, over4) = seals
            .iter()
            .find(|(s, _)| *s == 4)
            .cloned()
            .expect("seal 4");
        crate::records::put_audit_seal(&store, 5, &over4)?;
        for page in [1, 2, 4096] {
            let v = verify_in_pages(&store, Some(key.public_key()), page)?;
            let b = v.broken.expect("broken");
            assert_eq!(
                (b.seq, v.entries, v.seals_checked),
                (5, 10, 2),
                "page {page}"
            );
            assert!(b.reason.contains("the seal over entry 5"), "{}", b.reason);
        }
        crate::records::put_audit_seal(&store, 5, &over5)?;
        // A seal over an entry the log does not hold.
        crate::records::put_audit_seal(&store, 12, &over5)?;
        for page in [1, 3, 4096] {
            let v = verify_in_pages(&store, Some(key.public_key()), page)?;
            let b = v.broken.expect("broken");
            assert_eq!((b.seq, v.seals_checked), (12, 4), "page {page}");
            assert!(b.reason.contains("does not hold"), "{}", b.reason);
        }
        Ok(())
    }
}
