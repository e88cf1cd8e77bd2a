//! Typed FISCO BCOS 3.x blocks, transactions and receipts, built from the
//! JSON-RPC values (or a TARS-encoded signed transaction) with errors that
//! name the field. The `claimed_*` fields are what the serving node said;
//! [`super::verify`] recomputes them.

use serde_json::Value;

use super::crypto::{Address, NodeId};
use super::error::ChainError;
use super::hexbytes::{self, Hash};
use super::rpc::Fields;

/// One `parentInfo` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentInfo {
    /// The parent's number.
    pub number: i64,
    /// The parent's hash.
    pub hash: Hash,
}

/// A sealer's signature on a block header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealerSignature {
    /// Index into the header's sealer list.
    pub sealer_index: i64,
    /// The signature bytes.
    pub signature: Vec<u8>,
}

/// A block header with its signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockHeader {
    /// Block (compatibility) version, e.g. `0x03030000` for 3.3.
    pub version: u32,
    /// The parent(s).
    pub parents: Vec<ParentInfo>,
    /// Root of the transaction hashes.
    pub txs_root: Hash,
    /// Root of the receipt hashes.
    pub receipts_root: Hash,
    /// State root.
    pub state_root: Hash,
    /// Height.
    pub number: i64,
    /// Gas used, as the decimal string the node stores.
    pub gas_used: String,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    /// Index of the sealer that proposed the block.
    pub sealer: i64,
    /// The consensus committee's node ids, in order.
    pub sealer_list: Vec<NodeId>,
    /// Extra data (the genesis config in block 0).
    pub extra_data: Vec<u8>,
    /// The committee's voting weights, in sealer-list order.
    pub consensus_weights: Vec<i64>,
    /// The hash the node claimed.
    pub claimed_hash: Hash,
    /// The sealers' signatures (not part of the hash).
    pub signatures: Vec<SealerSignature>,
}

/// A block's transactions as served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockTransactions {
    /// Only the header was served.
    Absent,
    /// Transaction hashes only.
    Hashes(Vec<Hash>),
    /// Full transactions.
    Full(Vec<Transaction>),
}

/// A block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// Its header.
    pub header: BlockHeader,
    /// Its transactions.
    pub transactions: BlockTransactions,
}

/// A signed transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    /// Transaction version (0, 1 or 2).
    pub version: i32,
    /// Chain id.
    pub chain_id: String,
    /// Group id.
    pub group_id: String,
    /// Last block that may include it.
    pub block_limit: i64,
    /// The nonce as printed by the node: the client's string (3.0–3.2) or the
    /// hex of its bytes (3.3+). See [`Transaction::nonce_candidates`].
    pub nonce_printed: String,
    /// Whether `nonce_printed` is already the raw string (TARS input).
    pub nonce_is_raw: bool,
    /// Recipient as the client sent it (`0x…`, or empty for a deployment).
    pub to: String,
    /// Call data.
    pub input: Vec<u8>,
    /// ABI JSON of a deployment.
    pub abi: String,
    /// v1+: value (hex string as sent).
    pub value: String,
    /// v1+: gas price.
    pub gas_price: String,
    /// v1+: gas limit.
    pub gas_limit: i64,
    /// v1+: max fee per gas.
    pub max_fee_per_gas: String,
    /// v1+: max priority fee per gas.
    pub max_priority_fee_per_gas: String,
    /// v2+: extension bytes.
    pub extension: Vec<u8>,
    /// The hash the node claimed.
    pub claimed_hash: Hash,
    /// Signature (`r‖s‖pub` for SM2, `r‖s‖v` for secp256k1).
    pub signature: Vec<u8>,
    /// The sender the node claimed, if it printed one.
    pub claimed_from: Option<Address>,
    /// When the node received it (ms; not hashed).
    pub import_time: i64,
    /// The Merkle proof to the block's txsRoot, if served (`txProof`).
    pub proof: Option<Vec<Vec<u8>>>,
}

impl Transaction {
    /// The byte strings the nonce may have been, most likely first. 3.0–3.2
    /// nodes print the client's string (decimal digits); 3.3+ print the hex
    /// of its bytes. A printed nonce that is even-length hex decoding to
    /// ASCII digits is taken as the newer form, the literal as the fallback.
    pub fn nonce_candidates(&self) -> Vec<Vec<u8>> {
        let literal = self.nonce_printed.as_bytes().to_vec();
        if self.nonce_is_raw {
            return vec![literal];
        }
        match hex::decode(&self.nonce_printed) {
            Ok(decoded) if !decoded.is_empty() && decoded.iter().all(u8::is_ascii_digit) => {
                vec![decoded, literal]
            }
            _ => vec![literal],
        }
    }
}

/// A log entry of a receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Emitting contract, lowercase hex without `0x` (as hashed).
    pub address: String,
    /// Topics.
    pub topics: Vec<Hash>,
    /// Data.
    pub data: Vec<u8>,
}

/// A transaction receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// Receipt version.
    pub version: i32,
    /// Gas used, decimal string.
    pub gas_used: String,
    /// Deployed contract, lowercase hex without `0x`, or empty.
    pub contract_address: String,
    /// Status (0 = success).
    pub status: i32,
    /// Output.
    pub output: Vec<u8>,
    /// v1+: effective gas price.
    pub effective_gas_price: String,
    /// Logs.
    pub logs: Vec<LogEntry>,
    /// The block it is in.
    pub block_number: i64,
    /// The hash the node claimed.
    pub claimed_hash: Hash,
    /// The transaction it belongs to.
    pub transaction_hash: Hash,
    /// The Merkle proof to the block's receiptsRoot, if served.
    pub proof: Option<Vec<Vec<u8>>>,
    /// The transaction's proof to the block's txsRoot, which 3.1+ nodes
    /// copy into the receipt (`txProof`).
    pub tx_proof: Option<Vec<Vec<u8>>>,
    /// The EIP-55 form of the contract address the node printed, if any.
    pub checksum_contract_address: Option<String>,
    /// Fields the node copies in from the transaction (not in the receipt
    /// hash; checked against the transaction when it is served too).
    pub tx_fields: ReceiptTxFields,
}

/// The transaction's fields a `getTransactionReceipt` response repeats.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReceiptTxFields {
    /// `from`.
    pub from: Option<Address>,
    /// `to`, as printed.
    pub to: Option<String>,
    /// `input`.
    pub input: Option<Vec<u8>>,
}

fn i32_field(f: &Fields<'_>, name: &str, v: i64) -> Result<i32, ChainError> {
    i32::try_from(v).map_err(|_| ChainError::field(f.name(name), format!("{v} is out of range")))
}

fn proof(f: &Fields<'_>, name: &str) -> Result<Option<Vec<Vec<u8>>>, ChainError> {
    let Some(items) = f.array_opt(name)? else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let field = format!("{}[{i}]", f.name(name));
        let s = item
            .as_str()
            .ok_or_else(|| ChainError::field(&field, "not a hex string (a 3.0 legacy proof?)"))?;
        out.push(hexbytes::decode(&field, s)?);
    }
    Ok(Some(out))
}

impl Block {
    /// Builds a block from a `getBlockBy*` result.
    pub fn from_json(value: &Value) -> Result<Self, ChainError> {
        let f = Fields::new(value, "")?;
        let version_raw = f.int("version")?;
        let version = u32::try_from(version_raw)
            .map_err(|_| ChainError::field("version", format!("{version_raw} is out of range")))?;
        let mut parents = Vec::new();
        for (i, p) in f.array("parentInfo")?.iter().enumerate() {
            let path = format!("parentInfo[{i}]");
            let pf = Fields::new(p, &path)?;
            parents.push(ParentInfo {
                number: pf.int("blockNumber")?,
                hash: pf.hash("blockHash")?,
            });
        }
        let mut sealer_list = Vec::new();
        for (i, s) in f.array("sealerList")?.iter().enumerate() {
            let field = format!("sealerList[{i}]");
            let s = s
                .as_str()
                .ok_or_else(|| ChainError::field(&field, "not a string"))?;
            sealer_list.push(hexbytes::decode_fixed::<64>(&field, s)?);
        }
        let mut consensus_weights = Vec::new();
        for (i, w) in f.array("consensusWeights")?.iter().enumerate() {
            consensus_weights.push(super::rpc::int_value(w, &format!("consensusWeights[{i}]"))?);
        }
        let mut signatures = Vec::new();
        for (i, s) in f
            .array_opt("signatureList")?
            .into_iter()
            .flatten()
            .enumerate()
        {
            let path = format!("signatureList[{i}]");
            let sf = Fields::new(s, &path)?;
            signatures.push(SealerSignature {
                sealer_index: sf.int("sealerIndex")?,
                signature: sf.bytes("signature")?,
            });
        }
        let header = BlockHeader {
            version,
            parents,
            txs_root: f.hash("txsRoot")?,
            receipts_root: f.hash("receiptsRoot")?,
            state_root: f.hash("stateRoot")?,
            number: f.int("number")?,
            gas_used: gas_string(&f, "gasUsed")?,
            timestamp: f.int("timestamp")?,
            sealer: f.int("sealer")?,
            sealer_list,
            extra_data: f.bytes_or_empty("extraData")?,
            consensus_weights,
            claimed_hash: f.hash("hash")?,
            signatures,
        };
        let transactions = match f.array_opt("transactions")? {
            None => BlockTransactions::Absent,
            // An empty list is the same block whichever flag was asked.
            Some(items) if items.is_empty() => BlockTransactions::Full(Vec::new()),
            Some(items) if items.iter().all(Value::is_string) => {
                let mut hashes = Vec::with_capacity(items.len());
                for (i, h) in items.iter().enumerate() {
                    let field = format!("transactions[{i}]");
                    hashes.push(hexbytes::decode_fixed(
                        &field,
                        h.as_str().unwrap_or_default(),
                    )?);
                }
                BlockTransactions::Hashes(hashes)
            }
            Some(items) => {
                let mut txs = Vec::with_capacity(items.len());
                for (i, t) in items.iter().enumerate() {
                    txs.push(Transaction::from_json_at(t, &format!("transactions[{i}]"))?);
                }
                BlockTransactions::Full(txs)
            }
        };
        Ok(Block {
            header,
            transactions,
        })
    }
}

/// gasUsed is a decimal string; some tools print a number.
fn gas_string(f: &Fields<'_>, name: &str) -> Result<String, ChainError> {
    match f.get(name) {
        None => Err(ChainError::field(f.name(name), "missing")),
        Some(Value::String(s)) => {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ChainError::field(
                    f.name(name),
                    format!("'{s}' is not a decimal number"),
                ));
            }
            Ok(s.clone())
        }
        Some(Value::Number(n)) => n
            .as_u64()
            .map(|v| v.to_string())
            .ok_or_else(|| ChainError::field(f.name(name), "not a non-negative integer")),
        Some(_) => Err(ChainError::field(f.name(name), "not a decimal string")),
    }
}

impl Transaction {
    /// Builds a transaction from a `getTransaction` result.
    pub fn from_json(value: &Value) -> Result<Self, ChainError> {
        Self::from_json_at(value, "")
    }

    fn from_json_at(value: &Value, path: &str) -> Result<Self, ChainError> {
        let f = Fields::new(value, path)?;
        let version = f.int_or_zero("version")?;
        let from = match f.get("from") {
            Some(Value::String(s)) if !s.is_empty() => {
                Some(hexbytes::decode_fixed::<20>(&f.name("from"), s)?)
            }
            _ => None,
        };
        let nonce_printed = match f.get("nonce") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(_) => return Err(ChainError::field(f.name("nonce"), "not a string")),
            None => return Err(ChainError::field(f.name("nonce"), "missing")),
        };
        Ok(Transaction {
            version: i32_field(&f, "version", version)?,
            chain_id: f.str("chainID")?.to_string(),
            group_id: f.str("groupID")?.to_string(),
            block_limit: f.int("blockLimit")?,
            nonce_printed,
            nonce_is_raw: false,
            to: f.str_or_empty("to")?.to_string(),
            input: f.bytes_or_empty("input")?,
            abi: f.str_or_empty("abi")?.to_string(),
            value: f.str_or_empty("value")?.to_string(),
            gas_price: f.str_or_empty("gasPrice")?.to_string(),
            gas_limit: f.int_or_zero("gasLimit")?,
            max_fee_per_gas: f.str_or_empty("maxFeePerGas")?.to_string(),
            max_priority_fee_per_gas: f.str_or_empty("maxPriorityFeePerGas")?.to_string(),
            extension: f.bytes_or_empty("extension")?,
            claimed_hash: f.hash("hash")?,
            signature: f.bytes("signature")?,
            claimed_from: from,
            import_time: f.int_or_zero("importTime")?,
            proof: proof(&f, "txProof")?,
        })
    }
}

impl Receipt {
    /// Builds a receipt from a `getTransactionReceipt` result.
    pub fn from_json(value: &Value) -> Result<Self, ChainError> {
        let f = Fields::new(value, "")?;
        let version = f.int_or_zero("version")?;
        let status = f.int("status")?;
        let mut logs = Vec::new();
        for (i, l) in f.array_opt("logEntries")?.into_iter().flatten().enumerate() {
            let path = format!("logEntries[{i}]");
            let lf = Fields::new(l, &path)?;
            let mut topics = Vec::new();
            for (k, t) in lf.array("topics")?.iter().enumerate() {
                let field = format!("{path}.topics[{k}]");
                let s = t
                    .as_str()
                    .ok_or_else(|| ChainError::field(&field, "not a string"))?;
                topics.push(hexbytes::decode_fixed(&field, s)?);
            }
            logs.push(LogEntry {
                address: bare_address(&lf, "address")?,
                topics,
                data: lf.bytes_or_empty("data")?,
            });
        }
        Ok(Receipt {
            version: i32_field(&f, "version", version)?,
            gas_used: gas_string(&f, "gasUsed")?,
            contract_address: bare_address(&f, "contractAddress")?,
            status: i32_field(&f, "status", status)?,
            output: f.bytes_or_empty("output")?,
            effective_gas_price: f.str_or_empty("effectiveGasPrice")?.to_string(),
            logs,
            block_number: f.int("blockNumber")?,
            claimed_hash: f.hash("hash")?,
            transaction_hash: f.hash("transactionHash")?,
            proof: proof(&f, "txReceiptProof")?,
            tx_proof: proof(&f, "txProof")?,
            checksum_contract_address: f
                .get("checksumContractAddress")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            tx_fields: ReceiptTxFields {
                from: match f.get("from") {
                    Some(Value::String(s)) if !s.is_empty() => {
                        Some(hexbytes::decode_fixed::<20>(&f.name("from"), s)?)
                    }
                    _ => None,
                },
                to: f.get("to").and_then(Value::as_str).map(str::to_string),
                input: match f.get("input") {
                    Some(Value::String(s)) => Some(hexbytes::decode(&f.name("input"), s)?),
                    _ => None,
                },
            },
        })
    }
}

/// An address field as the receipt hash uses it: lowercase hex without `0x`
/// (or empty). The RPC prints contract addresses with `0x` and log addresses
/// without.
fn bare_address(f: &Fields<'_>, name: &str) -> Result<String, ChainError> {
    let s = f.str_or_empty(name)?;
    let bare = s.strip_prefix("0x").unwrap_or(s).to_ascii_lowercase();
    if !bare.is_empty() && (bare.len() != 40 || hex::decode(&bare).is_err()) {
        return Err(ChainError::field(
            f.name(name),
            format!("'{s}' is not a 20-byte hex address"),
        ));
    }
    Ok(bare)
}
