//! Every check the regulator's node makes on what it is served, as a list of
//! named results.
//!
//! A block is genuine when its header hash is H of its fields, its
//! transactions (and their root) are what the header commits to, and enough
//! of the committee signed that hash: the valid signers' weights reach
//! `total − (total − 1) / 3` (`bcos-pbft/pbft/config/PBFTConfig.cpp`). This
//! is checked on every block, empty ones too. Block 0 carries no signatures;
//! it is trusted by its hash, which the operator configures.

use std::collections::HashSet;
use std::fmt;

use super::crypto::{CryptoSuite, NodeId};
use super::hashing::{header_hash, receipt_hash, transaction_hash};
use super::hexbytes::{Hash, encode0x};
use super::merkle;
use super::model::{Block, BlockTransactions, Receipt, Transaction};

/// One named check and its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The check's name, stable for scripts (`header-hash`, `quorum`, …).
    pub name: String,
    /// Whether it passed.
    pub passed: bool,
    /// What was compared or found.
    pub detail: String,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = if self.passed { "ok  " } else { "FAIL" };
        write!(f, "{mark} {}: {}", self.name, self.detail)
    }
}

/// The results of verifying one object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The checks, in the order they were made.
    pub checks: Vec<Check>,
}

impl Report {
    fn push(&mut self, name: impl Into<String>, passed: bool, detail: impl Into<String>) {
        self.checks.push(Check {
            name: name.into(),
            passed,
            detail: detail.into(),
        });
    }

    fn eq_hash(&mut self, name: impl Into<String>, computed: &Hash, claimed: &Hash) {
        if computed == claimed {
            self.push(name, true, encode0x(computed));
        } else {
            self.push(
                name,
                false,
                format!(
                    "computed {} but served {}",
                    encode0x(computed),
                    encode0x(claimed)
                ),
            );
        }
    }

    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.passed)
    }

    /// The failed checks.
    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| !c.passed)
    }

    fn extend_prefixed(&mut self, prefix: &str, other: Report) {
        for mut c in other.checks {
            c.name = format!("{prefix}{}", c.name);
            self.checks.push(c);
        }
    }
}

/// A consensus node and its voting weight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealer {
    /// Its node id (public key).
    pub node_id: NodeId,
    /// Its weight.
    pub weight: i64,
}

/// The quorum weight required of a committee with these weights.
pub fn required_weight(weights: &[i64]) -> i64 {
    let total: i64 = weights.iter().map(|w| (*w).max(0)).sum();
    if total <= 0 {
        return 1;
    }
    total - (total - 1) / 3
}

/// Verifies a block. `committee` is the sealer set the verifier trusts (from
/// the chain's history or the operator); `None` checks the signatures against
/// the block's own sealer list, which shows the block is self-consistent but
/// not that its committee is the real one.
pub fn verify_block(suite: CryptoSuite, block: &Block, committee: Option<&[Sealer]>) -> Report {
    let mut r = Report::default();
    let h = &block.header;
    let computed = header_hash(suite, h);
    r.eq_hash("header-hash", &computed, &h.claimed_hash);

    if h.number == 0 {
        r.push(
            "genesis",
            h.signatures.is_empty() && h.parents.is_empty(),
            "block 0 is not signed: trust it by comparing its hash with the consortium's published genesis hash",
        );
    } else {
        let parent_ok = h.parents.len() == 1 && h.parents[0].number == h.number - 1;
        r.push(
            "parent-info",
            parent_ok,
            match h.parents.as_slice() {
                [p] => format!("parent {} at height {}", encode0x(&p.hash), p.number),
                ps => format!(
                    "{} parent entries, expected one at height {}",
                    ps.len(),
                    h.number - 1
                ),
            },
        );
    }

    // The committee the header commits to.
    let weights_ok = h.consensus_weights.len() == h.sealer_list.len();
    r.push(
        "consensus-weights",
        weights_ok,
        format!(
            "{} weights for {} sealers",
            h.consensus_weights.len(),
            h.sealer_list.len()
        ),
    );
    if h.number != 0 {
        let sealer_ok = usize::try_from(h.sealer).is_ok_and(|i| i < h.sealer_list.len());
        r.push(
            "sealer-index",
            sealer_ok,
            format!("proposer {} of {} sealers", h.sealer, h.sealer_list.len()),
        );
    }
    let own: Vec<Sealer> = h
        .sealer_list
        .iter()
        .zip(h.consensus_weights.iter().chain(std::iter::repeat(&0)))
        .map(|(n, w)| Sealer {
            node_id: *n,
            weight: *w,
        })
        .collect();
    let trusted: &[Sealer] = match committee {
        Some(c) => {
            let same = c == own.as_slice();
            r.push(
                "sealer-list",
                same,
                if same {
                    format!(
                        "the block's {} sealers and weights are the trusted committee",
                        c.len()
                    )
                } else {
                    "the block's sealer list or weights differ from the trusted committee"
                        .to_string()
                },
            );
            c
        }
        None => &own,
    };

    if h.number != 0 {
        verify_signatures(suite, &computed, h, trusted, &mut r);
    }

    match &block.transactions {
        BlockTransactions::Absent => {}
        BlockTransactions::Hashes(hashes) => {
            let root = merkle::root(suite, hashes);
            r.eq_hash(
                format!("txs-root ({} transactions)", hashes.len()),
                &root,
                &h.txs_root,
            );
        }
        BlockTransactions::Full(txs) => {
            let mut hashes = Vec::with_capacity(txs.len());
            for (i, t) in txs.iter().enumerate() {
                let tr = verify_transaction(suite, t);
                hashes.push(transaction_hash(suite, t));
                r.extend_prefixed(&format!("tx[{i}] "), tr);
            }
            let root = merkle::root(suite, &hashes);
            r.eq_hash(
                format!("txs-root ({} transactions)", txs.len()),
                &root,
                &h.txs_root,
            );
        }
    }
    r
}

fn verify_signatures(
    suite: CryptoSuite,
    hash: &Hash,
    h: &super::model::BlockHeader,
    committee: &[Sealer],
    r: &mut Report,
) {
    let weights: Vec<i64> = committee.iter().map(|s| s.weight).collect();
    let required = required_weight(&weights);
    let total: i64 = weights.iter().map(|w| (*w).max(0)).sum();
    let mut seen = HashSet::new();
    let mut signed = 0i64;
    for (i, s) in h.signatures.iter().enumerate() {
        let name = format!("sealer-signature[{i}]");
        let Some(sealer) = usize::try_from(s.sealer_index)
            .ok()
            .and_then(|k| committee.get(k))
        else {
            r.push(
                name,
                false,
                format!(
                    "sealer index {} is not in the committee of {}",
                    s.sealer_index,
                    committee.len()
                ),
            );
            continue;
        };
        if !seen.insert(s.sealer_index) {
            r.push(
                name,
                false,
                format!("sealer {} signed twice", s.sealer_index),
            );
            continue;
        }
        match suite.verify_sealer_signature(hash, &s.signature, &sealer.node_id) {
            Ok(()) => {
                signed += sealer.weight.max(0);
                r.push(
                    name,
                    true,
                    format!("sealer {} (weight {})", s.sealer_index, sealer.weight),
                );
            }
            Err(e) => r.push(name, false, format!("sealer {}: {e}", s.sealer_index)),
        }
    }
    r.push(
        "quorum",
        signed >= required,
        format!("valid signatures carry weight {signed} of {total}; {required} required"),
    );
}

/// Verifies a transaction on its own: hash, signature, sender, and the
/// proof's root if a proof was served (the root is reported; the caller
/// compares it with the block's txsRoot).
pub fn verify_transaction(suite: CryptoSuite, t: &Transaction) -> Report {
    let mut r = Report::default();
    let computed = transaction_hash(suite, t);
    r.eq_hash("tx-hash", &computed, &t.claimed_hash);
    match suite.verify_tx_signature(&computed, &t.signature) {
        Ok(public) => {
            let sender = suite.address(&public);
            r.push(
                "tx-signature",
                true,
                format!("signed by {}", encode0x(&sender)),
            );
            if let Some(claimed) = t.claimed_from {
                r.push(
                    "tx-sender",
                    claimed == sender,
                    if claimed == sender {
                        encode0x(&sender)
                    } else {
                        format!(
                            "signature is from {} but served from {}",
                            encode0x(&sender),
                            encode0x(&claimed)
                        )
                    },
                );
            }
        }
        Err(e) => r.push("tx-signature", false, e.to_string()),
    }
    if let Some(proof) = &t.proof {
        push_proof(&mut r, "tx-proof", suite, &computed, proof);
    }
    r
}

/// Verifies a receipt on its own: its hash, and the proof's root if served.
pub fn verify_receipt(suite: CryptoSuite, rc: &Receipt) -> Report {
    let mut r = Report::default();
    let computed = receipt_hash(suite, rc);
    r.eq_hash("receipt-hash", &computed, &rc.claimed_hash);
    if let Some(proof) = &rc.proof {
        push_proof(&mut r, "receipt-proof", suite, &computed, proof);
    }
    r
}

/// The root a proof leads to, for comparison with a header.
pub fn proof_root(
    suite: CryptoSuite,
    leaf: &Hash,
    proof: &[Vec<u8>],
) -> Result<Hash, merkle::ProofError> {
    merkle::fold_proof(suite, leaf, proof)
}

fn push_proof(r: &mut Report, name: &str, suite: CryptoSuite, leaf: &Hash, proof: &[Vec<u8>]) {
    match proof_root(suite, leaf, proof) {
        Ok(root) => r.push(
            name,
            true,
            format!(
                "folds to root {} (compare with the block header)",
                encode0x(&root)
            ),
        ),
        Err(e) => r.push(name, false, e.to_string()),
    }
}

/// A parsed document, ready to verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A block.
    Block(Block),
    /// A transaction (from `getTransaction` or a signed TARS payload).
    Transaction(Transaction),
    /// A receipt.
    Receipt(Receipt),
}

impl Item {
    /// Parses any document [`super::rpc::parse_document`] recognises.
    pub fn parse(text: &str) -> Result<Self, super::ChainError> {
        use super::rpc::Document;
        Ok(match super::rpc::parse_document(text)? {
            Document::Block(v) => Item::Block(Block::from_json(&v)?),
            Document::Transaction(v) => Item::Transaction(Transaction::from_json(&v)?),
            Document::Receipt(v) => Item::Receipt(Receipt::from_json(&v)?),
            Document::SignedTransactionHex(h) => {
                Item::Transaction(super::tars::decode_transaction(&h)?)
            }
        })
    }

    /// The kind, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Item::Block(_) => "block",
            Item::Transaction(_) => "transaction",
            Item::Receipt(_) => "receipt",
        }
    }

    /// The crypto suite the data was made with. Signature lengths tell
    /// (SM2: 64/128 bytes, secp256k1: 65); without signatures, the suite
    /// whose hash matches the claimed one is taken (a forger gains nothing:
    /// the data must still hash to the claimed value under that suite).
    pub fn detect_suite(&self) -> CryptoSuite {
        let by_len = |len: usize, sm: usize| match len {
            65 => Some(CryptoSuite::Standard),
            l if l == sm => Some(CryptoSuite::Sm),
            _ => None,
        };
        let by_hash = |f: &dyn Fn(CryptoSuite) -> bool| {
            if f(CryptoSuite::Standard) && !f(CryptoSuite::Sm) {
                CryptoSuite::Standard
            } else {
                CryptoSuite::Sm
            }
        };
        match self {
            Item::Block(b) => b
                .header
                .signatures
                .first()
                .and_then(|s| by_len(s.signature.len(), 64))
                .unwrap_or_else(|| {
                    by_hash(&|s| header_hash(s, &b.header) == b.header.claimed_hash)
                }),
            Item::Transaction(t) => by_len(t.signature.len(), 128)
                .unwrap_or_else(|| by_hash(&|s| transaction_hash(s, t) == t.claimed_hash)),
            Item::Receipt(rc) => by_hash(&|s| receipt_hash(s, rc) == rc.claimed_hash),
        }
    }

    /// Runs every check that the item alone allows.
    pub fn verify(&self, suite: CryptoSuite, committee: Option<&[Sealer]>) -> Report {
        match self {
            Item::Block(b) => verify_block(suite, b, committee),
            Item::Transaction(t) => verify_transaction(suite, t),
            Item::Receipt(rc) => verify_receipt(suite, rc),
        }
    }
}
