//! A block message: what an observer publishes for each stored block, and
//! what a consumer reads back, checked for shape before the block itself is
//! verified again.
//!
//! The payload is zstd-compressed JSON (version 1):
//!
//! ```text
//! { "v": 1, "chain": ID, "group": G, "height": H, "hash": HEX, "observer": NAME,
//!   "block": {the block with its full transactions, as the RPC renders it},
//!   "receipts": [stored receipt rows] | null,
//!   "envelopes": [{ "class": C, "detail": D, "record": HEX | null }] }
//! ```
//!
//! `record` is the opened payload exactly as the store keeps it: sealed
//! with the record key and bound to its transaction hash, so plaintext never
//! crosses the log. The message id ([`message_id`]) is the SM3 hash of a
//! domain tag, the chain, the group, the height and the block hash: the same
//! block published twice is stored once by JetStream's deduplication.

use chain::hexbytes::Hash;
use chain::model::{Block, BlockTransactions, Receipt};
use chain::render::{BlockDetail, block_json};
use chain::rows::ReceiptRow;
use serde::{Deserialize, Serialize};
use sm3::Digest;

/// The largest decompressed message read (a block of about 100,000
/// transactions); a message claiming more is refused before it is inflated.
pub const MAX_DECOMPRESSED_BYTES: usize = 256 * 1024 * 1024;

/// The header naming a message's height (read without decompressing).
pub const HEIGHT_HEADER: &str = "Lt-Height";

/// The header naming the chain's head as the observer's endpoints told it
/// when it published the message: a consumer whose store reached it is
/// caught up with the chain, not only with the log (the merger's hint).
pub const HEAD_HEADER: &str = "Lt-Head";

/// Why a message is not a block message.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// It does not decompress (or inflates beyond the limit).
    #[error("block message: not zstd within {MAX_DECOMPRESSED_BYTES} bytes: {0}")]
    Compression(String),
    /// Its JSON does not parse as a block message.
    #[error("block message: {0}")]
    Json(String),
    /// A field is not what it should be.
    #[error("block message: {field}: {message}")]
    Field {
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
}

#[derive(Serialize, Deserialize)]
struct Message {
    v: u32,
    chain: String,
    group: String,
    height: i64,
    hash: String,
    observer: String,
    block: serde_json::Value,
    receipts: Option<Vec<ReceiptRow>>,
    envelopes: Vec<EnvelopeRow>,
}

#[derive(Serialize, Deserialize)]
struct EnvelopeRow {
    class: String,
    detail: String,
    record: Option<String>,
}

/// A transaction's class and sealed record, as the observer stored them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The class (`opened`, `not-for-us`, …).
    pub class: String,
    /// Why, in words (never the payload).
    pub detail: String,
    /// The opened payload, sealed with the record key.
    pub sealed_record: Option<Vec<u8>>,
}

/// A block message, decoded.
#[derive(Debug, Clone)]
pub struct BlockMessage {
    /// The chain's id.
    pub chain: String,
    /// Its group.
    pub group: String,
    /// The observer that published it.
    pub observer: String,
    /// The block, with its full transactions.
    pub block: Block,
    /// One entry per transaction, in block order.
    pub envelopes: Vec<Envelope>,
    /// Its receipts, when the observer kept them.
    pub receipts: Option<Vec<Receipt>>,
    /// The block's JSON text (the evidence of a finding against it).
    pub block_text: String,
}

/// The deduplication id of block `hash` at `height` of (`chain`, `group`).
pub fn message_id(chain: &str, group: &str, height: i64, hash: &Hash) -> String {
    let mut h = sm3::Sm3::new();
    h.update(b"lookthrough/block-message/v1\0");
    h.update(chain.as_bytes());
    h.update([0]);
    h.update(group.as_bytes());
    h.update([0]);
    h.update(height.to_be_bytes());
    h.update(hash);
    hex::encode(h.finalize())
}

/// The payload of the message of `block` (with its full transactions),
/// each transaction's envelope and its receipts.
pub fn encode(
    chain: &str,
    group: &str,
    observer: &str,
    block: &Block,
    envelopes: &[Envelope],
    receipts: Option<&[Receipt]>,
) -> Result<Vec<u8>, WireError> {
    let json = encode_json(chain, group, observer, block, envelopes, receipts)?;
    zstd::bulk::compress(&json, 3).map_err(|e| WireError::Compression(e.to_string()))
}

/// The JSON inside a message (see [`encode`]).
pub fn encode_json(
    chain: &str,
    group: &str,
    observer: &str,
    block: &Block,
    envelopes: &[Envelope],
    receipts: Option<&[Receipt]>,
) -> Result<Vec<u8>, WireError> {
    let h = &block.header;
    let m = Message {
        v: 1,
        chain: chain.to_string(),
        group: group.to_string(),
        height: h.number,
        hash: hex::encode(h.claimed_hash),
        observer: observer.to_string(),
        block: block_json(block, BlockDetail::Full),
        receipts: receipts.map(|rs| rs.iter().map(ReceiptRow::of).collect()),
        envelopes: envelopes
            .iter()
            .map(|e| EnvelopeRow {
                class: e.class.clone(),
                detail: e.detail.clone(),
                record: e.sealed_record.as_ref().map(hex::encode),
            })
            .collect(),
    };
    serde_json::to_vec(&m).map_err(|e| WireError::Json(e.to_string()))
}

/// Reads a message of chain `chain`; the block inside is not verified yet
/// (that is the consumer's ingest's job, `Ingest::offer`), only the
/// message's shape.
pub fn decode(chain: &str, payload: &[u8]) -> Result<BlockMessage, WireError> {
    let json = zstd::bulk::decompress(payload, MAX_DECOMPRESSED_BYTES)
        .map_err(|e| WireError::Compression(e.to_string()))?;
    decode_json(chain, &json)
}

/// Reads a message's JSON, once decompressed (see [`decode`]).
pub fn decode_json(chain: &str, json: &[u8]) -> Result<BlockMessage, WireError> {
    let m: Message = serde_json::from_slice(json).map_err(|e| WireError::Json(e.to_string()))?;
    let field = |field, message: String| WireError::Field { field, message };
    if m.v != 1 {
        return Err(field("v", format!("version {} (this node reads 1)", m.v)));
    }
    if m.chain != chain {
        return Err(field(
            "chain",
            format!("{:?} on the subject of chain {chain:?}", m.chain),
        ));
    }
    let block_text = m.block.to_string();
    let block = Block::from_json(&m.block).map_err(|e| field("block", e.to_string()))?;
    if block.header.number != m.height {
        return Err(field(
            "height",
            format!("{} but the block is {}", m.height, block.header.number),
        ));
    }
    if hex::encode(block.header.claimed_hash) != m.hash.trim_start_matches("0x") {
        return Err(field("hash", format!("{} is not the block's", m.hash)));
    }
    let txs = match &block.transactions {
        BlockTransactions::Full(t) => t.len(),
        BlockTransactions::Absent | BlockTransactions::Hashes(_) if m.envelopes.is_empty() => 0,
        _ => return Err(field("block", "without its full transactions".into())),
    };
    if m.envelopes.len() != txs {
        return Err(field(
            "envelopes",
            format!("{} for {txs} transactions", m.envelopes.len()),
        ));
    }
    let mut envelopes = Vec::with_capacity(txs);
    for (i, e) in m.envelopes.into_iter().enumerate() {
        let sealed_record = match e.record {
            None => None,
            Some(r) => Some(
                hex::decode(&r)
                    .map_err(|err| field("envelopes", format!("[{i}].record: {err}")))?,
            ),
        };
        envelopes.push(Envelope {
            class: e.class,
            detail: e.detail,
            sealed_record,
        });
    }
    let receipts = match m.receipts {
        None => None,
        Some(rows) => {
            if rows.len() != txs {
                return Err(field(
                    "receipts",
                    format!("{} for {txs} transactions", rows.len()),
                ));
            }
            let mut out = Vec::with_capacity(rows.len());
            for (i, r) in rows.into_iter().enumerate() {
                out.push(
                    r.into_receipt()
                        .map_err(|err| field("receipts", format!("[{i}]: {err}")))?,
                );
            }
            Some(out)
        }
    };
    Ok(BlockMessage {
        chain: m.chain,
        group: m.group,
        observer: m.observer,
        block,
        envelopes,
        receipts,
        block_text,
    })
}
