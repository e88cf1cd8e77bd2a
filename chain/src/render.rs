//! The model rendered back to the JSON-RPC shapes a FISCO BCOS 3.3+ node
//! prints (`bcos-rpc/jsonrpc/JsonRpcImpl_2_0.cpp::toJsonResp`), so that a
//! FISCO-compatible server (the devnet) answers exactly as a node does and
//! the verifier reads its output through the same parser as a real node's.

use serde_json::{Value, json};

use super::crypto::{Address, CryptoSuite};
use super::hexbytes::encode0x;
use super::model::{Block, BlockHeader, BlockTransactions, Receipt, Transaction};

/// How much of a block to print (`getBlockByNumber`'s two flags).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockDetail {
    /// `onlyHeader = true`.
    Header,
    /// `onlyTxHash = true`: transaction hashes.
    TxHashes,
    /// Full transactions.
    Full,
}

/// A header's fields.
pub fn header_json(h: &BlockHeader) -> Value {
    json!({
        "consensusWeights": h.consensus_weights,
        "extraData": encode0x(&h.extra_data),
        "gasUsed": h.gas_used,
        "hash": encode0x(&h.claimed_hash),
        "number": h.number,
        "parentInfo": h.parents.iter().map(|p| json!({
            "blockHash": encode0x(&p.hash),
            "blockNumber": p.number,
        })).collect::<Vec<_>>(),
        "receiptsRoot": encode0x(&h.receipts_root),
        "sealer": h.sealer,
        "sealerList": h.sealer_list.iter().map(|s| encode0x(s)).collect::<Vec<_>>(),
        "signatureList": h.signatures.iter().map(|s| json!({
            "sealerIndex": s.sealer_index,
            "signature": encode0x(&s.signature),
        })).collect::<Vec<_>>(),
        "stateRoot": encode0x(&h.state_root),
        "timestamp": h.timestamp,
        "txsRoot": encode0x(&h.txs_root),
        "version": h.version,
    })
}

/// A block at the given detail.
pub fn block_json(b: &Block, detail: BlockDetail) -> Value {
    let mut v = header_json(&b.header);
    let txs = match (&b.transactions, detail) {
        (_, BlockDetail::Header) => None,
        (BlockTransactions::Full(ts), BlockDetail::Full) => {
            Some(ts.iter().map(transaction_json).collect::<Vec<_>>())
        }
        (BlockTransactions::Full(ts), BlockDetail::TxHashes) => Some(
            ts.iter()
                .map(|t| Value::String(encode0x(&t.claimed_hash)))
                .collect(),
        ),
        (BlockTransactions::Hashes(hs), _) => {
            Some(hs.iter().map(|h| Value::String(encode0x(h))).collect())
        }
        (BlockTransactions::Absent, _) => None,
    };
    if let (Some(txs), Some(obj)) = (txs, v.as_object_mut()) {
        obj.insert("transactions".into(), Value::Array(txs));
    }
    v
}

/// The nonce as 3.3+ nodes print it: hex of the client's string.
fn nonce_display(t: &Transaction) -> String {
    if t.nonce_is_raw {
        hex::encode(t.nonce_printed.as_bytes())
    } else {
        t.nonce_printed.clone()
    }
}

/// A transaction (`getTransaction`), without proof.
pub fn transaction_json(t: &Transaction) -> Value {
    let mut v = json!({
        "abi": t.abi,
        "blockLimit": t.block_limit,
        "chainID": t.chain_id,
        "extraData": "",
        "from": t.claimed_from.map(|a| encode0x(&a)).unwrap_or_default(),
        "groupID": t.group_id,
        "hash": encode0x(&t.claimed_hash),
        "importTime": t.import_time,
        "input": encode0x(&t.input),
        "nonce": nonce_display(t),
        "signature": encode0x(&t.signature),
        "to": t.to,
        "version": t.version,
    });
    if let Some(obj) = v.as_object_mut() {
        if t.version >= 1 {
            obj.insert("value".into(), t.value.clone().into());
            obj.insert("gasPrice".into(), t.gas_price.clone().into());
            obj.insert("gasLimit".into(), t.gas_limit.into());
            obj.insert("maxFeePerGas".into(), t.max_fee_per_gas.clone().into());
            obj.insert(
                "maxPriorityFeePerGas".into(),
                t.max_priority_fee_per_gas.clone().into(),
            );
        }
        if t.version >= 2 {
            obj.insert("extension".into(), encode0x(&t.extension).into());
        }
    }
    v
}

/// A receipt (`getTransactionReceipt`), merged with its transaction's
/// fields as the node does, without proofs.
pub fn receipt_json(suite: CryptoSuite, r: &Receipt, tx: Option<&Transaction>) -> Value {
    let from: Option<Address> = tx.and_then(|t| t.claimed_from);
    json!({
        "blockNumber": r.block_number,
        "checksumContractAddress": if r.contract_address.is_empty() {
            String::new()
        } else {
            suite.checksum_address(&r.contract_address)
        },
        "contractAddress": if r.contract_address.is_empty() {
            String::new()
        } else {
            format!("0x{}", r.contract_address)
        },
        "extraData": "",
        "from": from.map(|a| encode0x(&a)).unwrap_or_default(),
        "gasUsed": r.gas_used,
        "hash": encode0x(&r.claimed_hash),
        "input": tx.map(|t| encode0x(&t.input)).unwrap_or_else(|| "0x".into()),
        "logEntries": r.logs.iter().map(|l| json!({
            "address": l.address,
            "data": encode0x(&l.data),
            "topics": l.topics.iter().map(|t| encode0x(t)).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "message": "",
        "output": encode0x(&r.output),
        "status": r.status,
        "to": tx.map(|t| t.to.clone()).unwrap_or_default(),
        "transactionHash": encode0x(&r.transaction_hash),
        "version": r.version,
    })
}

/// Adds a proof under `key` (entries as hex without `0x`, as nodes print).
pub fn with_proof(mut v: Value, key: &str, proof: &[[u8; 32]]) -> Value {
    if let Some(obj) = v.as_object_mut() {
        obj.insert(
            key.into(),
            proof.iter().map(hex::encode).collect::<Vec<_>>().into(),
        );
    }
    v
}
