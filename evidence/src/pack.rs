//! The evidence pack's format (`docs/evidence.md`): its types, its reader
//! and its writer.
//!
//! A pack is a JSON object `{"format", "body", "seal"}`. The seal is an SM2
//! signature (user id `1234567812345678`) by the node's key, named in the
//! body, over `SEAL_DOMAIN ‖ canonical(body)` ([`crate::canonical`]). The
//! reader is bounded ([`MAX_PACK_BYTES`], [`MAX_TRANSACTIONS`],
//! [`MAX_COMMITTEE_STEPS`]) and strict: a repeated key, an unknown field or a
//! fractional number is an error naming where it is.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::canonical::{self, Strict};

/// The `format` of version 1.
pub const FORMAT: &str = "lookthrough-evidence/1";
/// The domain tag of the seal's message (the 28 ASCII bytes).
pub const SEAL_DOMAIN: &[u8] = b"lookthrough/evidence/v1/seal";
/// The seal's algorithm name.
pub const SEAL_ALGORITHM: &str = "sm2-sm3";
/// A pack's size at most.
pub const MAX_PACK_BYTES: usize = 64 << 20;
/// Transactions in one pack at most.
pub const MAX_TRANSACTIONS: usize = 1_000;
/// Committee steps of one chain at most (the anchor and its changes).
pub const MAX_COMMITTEE_STEPS: usize = 1_000;

/// Why a pack could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    /// The bytes are not a pack of this format; `part` says where.
    #[error("{part}: {detail}")]
    Malformed {
        /// The part (`pack`, `format`, `body`, `seal`).
        part: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// Signing failed.
    #[error("signing the pack failed: {0}")]
    Sign(String),
}

fn malformed(part: &'static str, detail: impl Into<String>) -> PackError {
    PackError::Malformed {
        part,
        detail: detail.into(),
    }
}

/// A pack as read: its body both as the value the seal covers and typed.
#[derive(Debug, Clone)]
pub struct Pack {
    /// The body, typed.
    pub body: Body,
    /// The body's canonical bytes (what the seal signs, after the domain).
    pub canonical_body: Vec<u8>,
    /// The seal.
    pub seal: Seal,
}

/// The seal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seal {
    /// [`SEAL_ALGORITHM`].
    pub algorithm: String,
    /// `r ‖ s`, 64 bytes, hex.
    pub signature: String,
}

/// What the pack shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Body {
    /// When the node made it (RFC 3339, UTC, milliseconds).
    pub made_at: String,
    /// The node's SM2 public key that seals it (`04 ‖ x ‖ y`, hex).
    pub made_by: String,
    /// Why it was made.
    pub subject: Subject,
    /// The chains its transactions are on.
    pub chains: Vec<ChainEvidence>,
    /// The transactions.
    pub transactions: Vec<TxEvidence>,
}

/// Why a pack was made: transactions asked for by hash, or an alert's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subject {
    /// `transactions` or `alert`.
    pub kind: String,
    /// The alert, for `alert`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<AlertSubject>,
}

/// The alert a pack was made for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSubject {
    /// Its id.
    pub id: String,
    /// Its rule.
    pub rule: String,
    /// The rule's title.
    pub title: String,
    /// Its severity.
    pub severity: String,
    /// When it was opened (RFC 3339).
    pub opened_at: String,
}

/// A chain: its genesis and the committees that sealed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainEvidence {
    /// The chain's id in the node's configuration.
    pub id: String,
    /// Its group.
    pub group: String,
    /// `sm` or `standard`.
    pub suite: String,
    /// Block 0's header (`getBlockByNumber` without transactions).
    pub genesis: Value,
    /// Where the first committee comes from: `configured` (the consortium's
    /// published genesis committee) or `first-use` (the first signed block's).
    pub trust: String,
    /// The committee the chain started with, then each change, in height
    /// order, up to the last block of the pack on this chain.
    pub committees: Vec<CommitteeStep>,
}

/// A committee in force from `height` on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitteeStep {
    /// The first height it signs.
    pub height: i64,
    /// Its members, in the block's order.
    pub sealers: Vec<SealerEntry>,
    /// The header of the block at `height` that brought it (signed by a
    /// quorum of the previous committee; for a first-use anchor, by its
    /// own); absent for a configured anchor at height 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<Value>,
}

/// A sealer and its weight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealerEntry {
    /// Its node id (64-byte public key), hex.
    pub node_id: String,
    /// Its weight.
    pub weight: i64,
}

/// One transaction's evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TxEvidence {
    /// The chain's id (one of `chains`).
    pub chain: String,
    /// The block's header (`getBlockByNumber` without transactions).
    pub block: Value,
    /// The transaction (`getTransaction` without proof).
    pub transaction: Value,
    /// Its index in the block.
    pub index: u32,
    /// Its Merkle proof to the header's `txsRoot` (entries, hex).
    pub tx_proof: Vec<String>,
    /// Its receipt (`getTransactionReceipt` without proofs), when the node
    /// keeps receipts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<Value>,
    /// The receipt's Merkle proof to `receiptsRoot`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_proof: Option<Vec<String>>,
    /// How the node classified the payload (`opened`, `not-envelope`,
    /// `not-for-us`, …).
    pub class: String,
    /// For an opened envelope: the proof of its opening.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opening: Option<Opening>,
}

/// An envelope opened, proven without the regulator's private key. Its
/// `Debug` shows neither the data key, the shared point nor the plaintext.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Opening {
    /// Where the envelope starts in the transaction's input (bytes).
    pub envelope_offset: usize,
    /// Its length (bytes).
    pub envelope_length: usize,
    /// The regulator's public key the wrap is for (`04 ‖ x ‖ y`, hex).
    pub regulator_key: String,
    /// `S = [d]C1` of the regulator's wrap (`04 ‖ x ‖ y`, hex).
    pub shared_point: String,
    /// The DLEQ proof's challenge `c` (32 bytes, hex).
    pub dleq_c: String,
    /// Its response `z` (32 bytes, hex).
    pub dleq_z: String,
    /// The data key the wrap opens to (16 bytes, hex).
    pub data_key: String,
    /// The payload the envelope decrypts to (hex).
    pub plaintext: String,
}

impl std::fmt::Debug for Opening {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opening")
            .field("envelope_offset", &self.envelope_offset)
            .field("envelope_length", &self.envelope_length)
            .field("regulator_key", &self.regulator_key)
            .field("plaintext_len", &(self.plaintext.len() / 2))
            .finish_non_exhaustive()
    }
}

/// The message the seal signs: the domain, then the canonical body.
pub fn seal_message(canonical_body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(SEAL_DOMAIN.len() + canonical_body.len());
    m.extend_from_slice(SEAL_DOMAIN);
    m.extend_from_slice(canonical_body);
    m
}

impl Pack {
    /// Reads a pack: size, JSON (strict), format, body and seal shapes. The
    /// seal and the contents are checked by [`crate::verify`].
    pub fn read(bytes: &[u8]) -> Result<Pack, PackError> {
        if bytes.len() > MAX_PACK_BYTES {
            return Err(malformed(
                "pack",
                format!(
                    "{} bytes, more than the {} a pack may have",
                    bytes.len(),
                    MAX_PACK_BYTES
                ),
            ));
        }
        let Strict(v) = serde_json::from_slice(bytes)
            .map_err(|e| malformed("pack", format!("not a JSON pack: {e}")))?;
        let Value::Object(mut top) = v else {
            return Err(malformed("pack", "not a JSON object"));
        };
        if let Some(k) = top
            .keys()
            .find(|k| !matches!(k.as_str(), "format" | "body" | "seal"))
        {
            return Err(malformed("pack", format!("unknown member \"{k}\"")));
        }
        match top.remove("format") {
            Some(Value::String(f)) if f == FORMAT => {}
            Some(other) => {
                return Err(malformed(
                    "format",
                    format!("{other} is not {FORMAT} (this build reads version 1 only)"),
                ));
            }
            None => return Err(malformed("format", "missing")),
        }
        let body_value = top
            .remove("body")
            .ok_or_else(|| malformed("body", "missing"))?;
        let canonical_body = canonical::to_bytes(&body_value).map_err(|e| malformed("body", e))?;
        let body: Body =
            serde_json::from_value(body_value).map_err(|e| malformed("body", e.to_string()))?;
        if body.transactions.len() > MAX_TRANSACTIONS {
            return Err(malformed(
                "body",
                format!("more than {MAX_TRANSACTIONS} transactions"),
            ));
        }
        if let Some(c) = body
            .chains
            .iter()
            .find(|c| c.committees.len() > MAX_COMMITTEE_STEPS)
        {
            return Err(malformed(
                "body",
                format!(
                    "chain {} has more than {MAX_COMMITTEE_STEPS} committees",
                    c.id
                ),
            ));
        }
        let seal: Seal = serde_json::from_value(
            top.remove("seal")
                .ok_or_else(|| malformed("seal", "missing"))?,
        )
        .map_err(|e| malformed("seal", e.to_string()))?;
        Ok(Pack {
            body,
            canonical_body,
            seal,
        })
    }

    /// Seals `body` with the node's key.
    pub fn seal(body: Body, key: &privacy::keys::PrivateKey) -> Result<Pack, PackError> {
        let value = serde_json::to_value(&body).map_err(|e| PackError::Sign(e.to_string()))?;
        let canonical_body = canonical::to_bytes(&value).map_err(PackError::Sign)?;
        let signature = key
            .sign(&seal_message(&canonical_body))
            .map_err(|e| PackError::Sign(e.to_string()))?;
        Ok(Pack {
            body,
            canonical_body,
            seal: Seal {
                algorithm: SEAL_ALGORITHM.into(),
                signature: hex::encode(signature),
            },
        })
    }

    /// The file: pretty-printed JSON, members in the order of the types.
    pub fn to_bytes(&self) -> Result<Vec<u8>, PackError> {
        #[derive(Serialize)]
        struct File<'a> {
            format: &'a str,
            body: &'a Body,
            seal: &'a Seal,
        }
        let mut out = serde_json::to_vec_pretty(&File {
            format: FORMAT,
            body: &self.body,
            seal: &self.seal,
        })
        .map_err(|e| PackError::Sign(e.to_string()))?;
        out.push(b'\n');
        if out.len() > MAX_PACK_BYTES {
            return Err(malformed(
                "pack",
                format!(
                    "it would be {} bytes, more than the {MAX_PACK_BYTES} a pack may have: make it of fewer transactions",
                    out.len()
                ),
            ));
        }
        Ok(out)
    }
}
