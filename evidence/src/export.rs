//! Making packs from a node's store (feature `store`): for each transaction,
//! its header, the transaction, their Merkle proofs, its receipt, the
//! committees back to genesis and, for an opened envelope, the proof of its
//! opening made with the regulator's key; sealed with the node's key.
//!
//! Synchronous: it reads RocksDB and does SM2 work, so async callers run it
//! on the blocking pool.

use std::sync::Arc;

use chain::CryptoSuite;
use chain::hexbytes::{Hash, encode0x};
use chain::model::{BlockTransactions, Receipt, Transaction};
use chain::render::{header_json, receipt_json, transaction_json};
use privacy::envelope::{Class, Envelope, TxContext, key_commitment};
use privacy::keyring::Keyring;
use privacy::keys::PrivateKey;
use privacy::pke::{CipherFormat, Sm2Cipher};
use serde_json::Value;
use store::{Store, StoreError};

use crate::pack::{
    Body, ChainEvidence, CommitteeStep, MAX_COMMITTEE_STEPS, MAX_TRANSACTIONS, Opening, Pack,
    PackError, SealerEntry, Subject, TxEvidence,
};

/// Why a pack could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No chain of the node holds the transaction.
    #[error("transaction {0} is not stored on any chain of this node")]
    UnknownTransaction(String),
    /// A chain named does not exist.
    #[error("no chain '{0}' on this node")]
    UnknownChain(String),
    /// Nothing to put in the pack.
    #[error("a pack needs at least one transaction")]
    Empty,
    /// More than a pack holds.
    #[error("{0} transactions: a pack holds at most {MAX_TRANSACTIONS}")]
    TooMany(usize),
    /// The store lacks something the pack needs.
    #[error("{0}")]
    Missing(String),
    /// A transaction the node opened does not open now.
    #[error(
        "transaction {hash} was opened when stored but does not open with the keyring now: {reason}"
    )]
    NotOpened {
        /// The transaction.
        hash: String,
        /// Why.
        reason: String,
    },
    /// Sealing failed.
    #[error(transparent)]
    Pack(#[from] PackError),
}

/// A chain of the node, as the exporter reads it.
pub struct ChainSource {
    /// Its id.
    pub id: String,
    /// Its group.
    pub group: String,
    /// Its crypto suite.
    pub suite: CryptoSuite,
    /// Its log.
    pub store: Arc<Store>,
}

/// A transaction asked for: its hash, and its chain if known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxRef {
    /// The chain's id; `None` looks on every chain.
    pub chain: Option<String>,
    /// The transaction's hash.
    pub hash: Hash,
}

impl TxRef {
    /// Reads `0xHASH`, or `CHAIN:0xHASH` to name the chain; the error says
    /// what a hash looks like.
    pub fn parse(s: &str) -> Result<TxRef, String> {
        let (chain, hash) = match s.split_once(':') {
            Some((c, h)) => (Some(c.to_string()), h),
            None => (None, s),
        };
        let hash = chain::hexbytes::decode_fixed::<32>("transaction hash", hash.trim())
            .map_err(|e| format!("'{s}' is not a transaction hash (0x and 64 hex digits): {e}"))?;
        Ok(TxRef { chain, hash })
    }
}

/// Makes packs.
pub struct Exporter {
    /// The node's chains.
    pub chains: Vec<ChainSource>,
    /// The regulator's keys (to prove wraps).
    pub keyring: Arc<Keyring>,
    /// The node's key (to seal).
    pub node_key: Arc<PrivateKey>,
}

impl Exporter {
    /// A sealed pack of `txs` (in the order given, each once) made at
    /// `made_at_ms`.
    pub fn export(
        &self,
        subject: Subject,
        txs: &[TxRef],
        made_at_ms: i64,
    ) -> Result<Pack, ExportError> {
        let mut unique: Vec<&TxRef> = Vec::with_capacity(txs.len());
        for t in txs {
            if !unique.iter().any(|u| u.hash == t.hash) {
                unique.push(t);
            }
        }
        if unique.is_empty() {
            return Err(ExportError::Empty);
        }
        if unique.len() > MAX_TRANSACTIONS {
            return Err(ExportError::TooMany(unique.len()));
        }
        let mut items = Vec::with_capacity(unique.len());
        // The highest block of each chain in the pack: its committees go
        // up to there.
        let mut highest: Vec<Option<i64>> = vec![None; self.chains.len()];
        // A store made before the chain registry does not know its group:
        // its transactions tell it.
        let mut groups: Vec<Option<String>> = vec![None; self.chains.len()];
        for t in unique {
            let (k, stored) = self.find(t)?;
            let source = &self.chains[k];
            highest[k] = Some(highest[k].map_or(stored.height, |h| h.max(stored.height)));
            groups[k].get_or_insert_with(|| stored.tx.group_id.clone());
            items.push(self.transaction(source, stored)?);
        }
        let mut chains = Vec::new();
        for ((source, top), group) in self.chains.iter().zip(&highest).zip(&groups) {
            if let Some(top) = top {
                let group = if source.group.is_empty() {
                    group.clone().unwrap_or_default()
                } else {
                    source.group.clone()
                };
                chains.push(self.chain(source, group, *top)?);
            }
        }
        let body = Body {
            made_at: rfc3339(made_at_ms),
            made_by: hex::encode(self.node_key.public_key().to_uncompressed()),
            subject,
            chains,
            transactions: items,
        };
        Ok(Pack::seal(body, &self.node_key)?)
    }

    fn find(&self, t: &TxRef) -> Result<(usize, store::StoredTx), ExportError> {
        let hash = encode0x(&t.hash);
        if let Some(id) = &t.chain {
            let k = self
                .chains
                .iter()
                .position(|c| &c.id == id)
                .ok_or_else(|| ExportError::UnknownChain(id.clone()))?;
            let stored = self.chains[k]
                .store
                .transaction(&t.hash)?
                .ok_or(ExportError::UnknownTransaction(hash))?;
            return Ok((k, stored));
        }
        for (k, c) in self.chains.iter().enumerate() {
            if let Some(stored) = c.store.transaction(&t.hash)? {
                return Ok((k, stored));
            }
        }
        Err(ExportError::UnknownTransaction(hash))
    }

    fn chain(
        &self,
        source: &ChainSource,
        group: String,
        top: i64,
    ) -> Result<ChainEvidence, ExportError> {
        let genesis = source.store.block(0)?.ok_or_else(|| {
            ExportError::Missing(format!("chain {}: block 0 is not stored", source.id))
        })?;
        let changes = source.store.committee_changes(top, MAX_COMMITTEE_STEPS)?;
        let mut committees = Vec::with_capacity(changes.len());
        let mut trust = None;
        for (height, sealers) in changes {
            if sealers.is_empty() && committees.is_empty() {
                // Trusted on first use: no committee before the first
                // signed block.
                continue;
            }
            let first = committees.is_empty();
            if first {
                trust = Some(if height == 0 {
                    "configured"
                } else {
                    "first-use"
                });
            }
            let header = if first && height == 0 {
                None
            } else {
                let block = source.store.block(height)?.ok_or_else(|| {
                    ExportError::Missing(format!(
                        "chain {}: block {height} is not stored",
                        source.id
                    ))
                })?;
                Some(header_json(&block.header))
            };
            committees.push(CommitteeStep {
                height,
                sealers: sealers
                    .iter()
                    .map(|s| SealerEntry {
                        node_id: hex::encode(s.node_id),
                        weight: s.weight,
                    })
                    .collect(),
                header,
            });
        }
        let trust = trust.ok_or_else(|| {
            ExportError::Missing(format!(
                "chain {}: no committee is stored up to block {top}",
                source.id
            ))
        })?;
        Ok(ChainEvidence {
            id: source.id.clone(),
            group,
            suite: source.suite.name().into(),
            genesis: header_json(&genesis.header),
            trust: trust.into(),
            committees,
        })
    }

    fn transaction(
        &self,
        source: &ChainSource,
        stored: store::StoredTx,
    ) -> Result<TxEvidence, ExportError> {
        let suite = source.suite;
        let tx = stored.tx;
        let hash = encode0x(&tx.claimed_hash);
        let block = source.store.block(stored.height)?.ok_or_else(|| {
            ExportError::Missing(format!(
                "block {} of transaction {hash} is not stored",
                stored.height
            ))
        })?;
        let BlockTransactions::Hashes(hashes) = &block.transactions else {
            return Err(ExportError::Missing(format!(
                "block {} is stored without its transaction list",
                stored.height
            )));
        };
        let index = stored.index as usize;
        let tx_proof = chain::merkle::proof(suite, hashes, index).ok_or_else(|| {
            ExportError::Missing(format!(
                "transaction {hash} is not at index {index} of its block"
            ))
        })?;
        let (receipt, receipt_proof) = match source.store.receipt(&tx.claimed_hash)? {
            None => (None, None),
            Some(r) => {
                let mut leaves = Vec::with_capacity(hashes.len());
                for h in hashes {
                    let other = source.store.receipt(h)?.ok_or_else(|| {
                        ExportError::Missing(format!(
                            "a receipt of block {} is not stored",
                            stored.height
                        ))
                    })?;
                    leaves.push(other.claimed_hash);
                }
                let proof = chain::merkle::proof(suite, &leaves, index).ok_or_else(|| {
                    ExportError::Missing(format!("no receipt proof for index {index}"))
                })?;
                (
                    Some(receipt_value(suite, &r, &tx)),
                    Some(proof.iter().map(hex::encode).collect()),
                )
            }
        };
        let opening = if stored.class == Class::Opened.as_str() {
            Some(self.opening(suite, &tx)?)
        } else {
            None
        };
        Ok(TxEvidence {
            chain: source.id.clone(),
            block: header_json(&block.header),
            transaction: transaction_json(&tx),
            index: stored.index,
            tx_proof: tx_proof.iter().map(hex::encode).collect(),
            receipt,
            receipt_proof,
            class: stored.class,
            opening,
        })
    }

    /// Opens the envelope again and proves the regulator's wrap.
    fn opening(&self, suite: CryptoSuite, tx: &Transaction) -> Result<Opening, ExportError> {
        let hash = encode0x(&tx.claimed_hash);
        let not_opened = |reason: String| ExportError::NotOpened {
            hash: hash.clone(),
            reason,
        };
        let public = suite
            .verify_tx_signature(&tx.claimed_hash, &tx.signature)
            .map_err(|e| not_opened(format!("its signature: {e}")))?;
        let sender = suite.address(&public);
        let ctx = TxContext::new(&tx.chain_id, &tx.group_id, sender)
            .map_err(|e| not_opened(format!("its context: {e}")))?;
        let mut candidates = chain::payload::envelope_candidates(&tx.input);
        if candidates.is_empty() {
            candidates.push(&tx.input);
        }
        let mut last = "no envelope in its input".to_string();
        for bytes in candidates {
            let Ok(envelope) = Envelope::parse(bytes) else {
                continue;
            };
            for recipient in &envelope.recipients {
                let Some(regulator) = self
                    .keyring
                    .keys()
                    .find(|k| k.key.key_id() == recipient.rid)
                else {
                    continue;
                };
                let Ok(cipher) = Sm2Cipher::parse(recipient.wrap, CipherFormat::Der) else {
                    last = "the regulator's wrap is malformed".into();
                    continue;
                };
                let (proof, data_key) = match regulator.key.prove_wrap(&cipher) {
                    Ok(p) => p,
                    Err(e) => {
                        last = e.to_string();
                        continue;
                    }
                };
                if data_key.len() != 16 || key_commitment(&data_key) != envelope.key_commitment {
                    last = "the wrap opens to a data key the envelope does not commit to".into();
                    continue;
                }
                let plaintext = match privacy::symmetric::gcm_open(
                    &data_key,
                    &envelope.nonce,
                    &envelope.aad(&ctx),
                    envelope.ciphertext,
                ) {
                    Ok(p) => zeroize::Zeroizing::new(p),
                    Err(e) => {
                        last = e.to_string();
                        continue;
                    }
                };
                let offset = chain::payload::offset_in(&tx.input, bytes)
                    .ok_or_else(|| not_opened("the envelope is not inside the input".into()))?;
                return Ok(Opening {
                    envelope_offset: offset,
                    envelope_length: bytes.len(),
                    regulator_key: hex::encode(regulator.key.public_key().to_uncompressed()),
                    shared_point: hex::encode(proof.shared),
                    dleq_c: hex::encode(proof.c),
                    dleq_z: hex::encode(proof.z),
                    data_key: hex::encode(&data_key[..]),
                    plaintext: hex::encode(&plaintext[..]),
                });
            }
        }
        Err(not_opened(last))
    }
}

/// A receipt as a pack holds it: `getTransactionReceipt`'s shape, with the
/// effective gas price that version 1 receipts hash.
fn receipt_value(suite: CryptoSuite, r: &Receipt, tx: &Transaction) -> Value {
    let mut v = receipt_json(suite, r, Some(tx));
    if !r.effective_gas_price.is_empty()
        && let Some(obj) = v.as_object_mut()
    {
        obj.insert(
            "effectiveGasPrice".into(),
            r.effective_gas_price.clone().into(),
        );
    }
    v
}

/// `ms` since the epoch as RFC 3339 in UTC.
pub fn rfc3339(ms: i64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
}
