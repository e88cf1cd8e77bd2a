//! The compact row form of a receipt, as the store keeps it and the
//! distributed mode's log carries it: every field the receipt's hash covers
//! and the hashes, in hex; read back into a [`Receipt`] with an error naming
//! the field that is not what it should be.

use serde::{Deserialize, Serialize};

use crate::hexbytes::Hash;
use crate::model::{LogEntry, Receipt};

/// A receipt as the store keeps it and the distributed mode's log carries
/// it: every field its hash covers, and the hashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptRow {
    version: i32,
    gas_used: String,
    contract_address: String,
    status: i32,
    output: String,
    effective_gas_price: String,
    logs: Vec<LogRow>,
    block_number: i64,
    hash: String,
    transaction_hash: String,
}

/// A receipt's event log as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRow {
    address: String,
    topics: Vec<String>,
    data: String,
}

impl ReceiptRow {
    /// The stored form of `r`.
    pub fn of(r: &Receipt) -> Self {
        Self {
            version: r.version,
            gas_used: r.gas_used.clone(),
            contract_address: r.contract_address.clone(),
            status: r.status,
            output: hex::encode(&r.output),
            effective_gas_price: r.effective_gas_price.clone(),
            logs: r
                .logs
                .iter()
                .map(|l| LogRow {
                    address: l.address.clone(),
                    topics: l.topics.iter().map(hex::encode).collect(),
                    data: hex::encode(&l.data),
                })
                .collect(),
            block_number: r.block_number,
            hash: hex::encode(r.claimed_hash),
            transaction_hash: hex::encode(r.transaction_hash),
        }
    }

    /// The receipt again; an error names the field that is not what it
    /// should be.
    pub fn into_receipt(self) -> Result<Receipt, String> {
        fn hash(what: &str, s: &str) -> Result<Hash, String> {
            let v = hex::decode(s).map_err(|e| format!("{what}: {e}"))?;
            v.try_into().map_err(|_| format!("{what}: not 32 bytes"))
        }
        let mut logs = Vec::with_capacity(self.logs.len());
        for (i, l) in self.logs.into_iter().enumerate() {
            logs.push(LogEntry {
                address: l.address,
                topics: l
                    .topics
                    .iter()
                    .map(|t| hash(&format!("logs[{i}].topics"), t))
                    .collect::<Result<_, _>>()?,
                data: hex::decode(&l.data).map_err(|e| format!("logs[{i}].data: {e}"))?,
            });
        }
        Ok(Receipt {
            version: self.version,
            gas_used: self.gas_used,
            contract_address: self.contract_address,
            status: self.status,
            output: hex::decode(&self.output).map_err(|e| format!("output: {e}"))?,
            effective_gas_price: self.effective_gas_price,
            logs,
            block_number: self.block_number,
            claimed_hash: hash("hash", &self.hash)?,
            transaction_hash: hash("transaction_hash", &self.transaction_hash)?,
            proof: None,
            tx_proof: None,
            checksum_contract_address: None,
            tx_fields: Default::default(),
        })
    }
}
