//! Header, transaction and receipt hashes, recomputed from their fields
//! exactly as FISCO BCOS 3.x does (`bcos-tars-protocol/impl/TarsHashable.h`):
//! H over the plain concatenation of the field values, integers as signed
//! big-endian, strings as their raw bytes, no length framing.

use super::crypto::CryptoSuite;
use super::hexbytes::Hash;
use super::model::{BlockHeader, Receipt, Transaction};

/// The header hash. Block 0 hashes its roots and gasUsed as empty strings:
/// the node never sets them in the genesis block, although the RPC prints
/// them as zeros.
pub fn header_hash(suite: CryptoSuite, h: &BlockHeader) -> Hash {
    let genesis = h.number == 0;
    let version = h.version.to_be_bytes();
    let number = h.number.to_be_bytes();
    let timestamp = h.timestamp.to_be_bytes();
    let sealer = h.sealer.to_be_bytes();
    let parents: Vec<[u8; 40]> = h
        .parents
        .iter()
        .map(|p| {
            let mut b = [0u8; 40];
            b[..8].copy_from_slice(&p.number.to_be_bytes());
            b[8..].copy_from_slice(&p.hash);
            b
        })
        .collect();
    let weights: Vec<[u8; 8]> = h
        .consensus_weights
        .iter()
        .map(|w| w.to_be_bytes())
        .collect();
    let empty: &[u8] = &[];
    let (txs_root, receipts_root, state_root, gas_used): (&[u8], &[u8], &[u8], &[u8]) = if genesis {
        (empty, empty, empty, empty)
    } else {
        (
            &h.txs_root,
            &h.receipts_root,
            &h.state_root,
            h.gas_used.as_bytes(),
        )
    };
    let mut parts: Vec<&[u8]> =
        Vec::with_capacity(12 + parents.len() + h.sealer_list.len() + weights.len());
    parts.push(&version);
    parts.extend(parents.iter().map(|p| &p[..]));
    parts.extend([
        txs_root,
        receipts_root,
        state_root,
        &number[..],
        gas_used,
        &timestamp[..],
        &sealer[..],
    ]);
    parts.extend(h.sealer_list.iter().map(|s| &s[..]));
    parts.push(&h.extra_data);
    parts.extend(weights.iter().map(|w| &w[..]));
    suite.hash_parts(&parts)
}

/// The transaction hash with a given nonce byte string (see
/// [`Transaction::nonce_candidates`]).
pub fn transaction_hash_with_nonce(suite: CryptoSuite, t: &Transaction, nonce: &[u8]) -> Hash {
    let version = t.version.to_be_bytes();
    let block_limit = t.block_limit.to_be_bytes();
    let gas_limit = t.gas_limit.to_be_bytes();
    let mut parts: Vec<&[u8]> = vec![
        &version,
        t.chain_id.as_bytes(),
        t.group_id.as_bytes(),
        &block_limit,
        nonce,
        t.to.as_bytes(),
        &t.input,
        t.abi.as_bytes(),
    ];
    if t.version >= 1 {
        parts.extend([
            t.value.as_bytes(),
            t.gas_price.as_bytes(),
            &gas_limit[..],
            t.max_fee_per_gas.as_bytes(),
            t.max_priority_fee_per_gas.as_bytes(),
        ]);
    }
    if t.version >= 2 {
        parts.push(&t.extension);
    }
    suite.hash_parts(&parts)
}

/// The transaction hash: the first nonce reading whose hash equals the
/// claimed one, or (if none does) the hash under the most likely reading.
pub fn transaction_hash(suite: CryptoSuite, t: &Transaction) -> Hash {
    let candidates = t.nonce_candidates();
    let mut first = None;
    for nonce in &candidates {
        let h = transaction_hash_with_nonce(suite, t, nonce);
        if h == t.claimed_hash {
            return h;
        }
        first.get_or_insert(h);
    }
    first.unwrap_or_else(|| transaction_hash_with_nonce(suite, t, t.nonce_printed.as_bytes()))
}

/// The receipt hash.
pub fn receipt_hash(suite: CryptoSuite, r: &Receipt) -> Hash {
    let version = r.version.to_be_bytes();
    let status = r.status.to_be_bytes();
    let block_number = r.block_number.to_be_bytes();
    let mut parts: Vec<&[u8]> = vec![
        &version,
        r.gas_used.as_bytes(),
        r.contract_address.as_bytes(),
        &status,
        &r.output,
    ];
    if r.version >= 1 {
        parts.push(r.effective_gas_price.as_bytes());
    }
    for log in &r.logs {
        parts.push(log.address.as_bytes());
        parts.extend(log.topics.iter().map(|t| &t[..]));
        parts.push(&log.data);
    }
    parts.push(&block_number);
    suite.hash_parts(&parts)
}
