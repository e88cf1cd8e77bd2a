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

use super::crypto::{Address, CryptoSuite, NodeId};
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
    verify_block_senders(suite, block, committee).0
}

/// [`verify_block`], also returning the sender each full transaction's
/// signature recovers to (`None` where the signature does not verify), so a
/// caller that needs senders pays for each signature once.
pub fn verify_block_senders(
    suite: CryptoSuite,
    block: &Block,
    committee: Option<&[Sealer]>,
) -> (Report, Vec<Option<Address>>) {
    let mut senders = Vec::new();
    let mut r = Report::default();
    let h = &block.header;
    let computed = header_hash(suite, h);
    r.eq_hash("header-hash", &computed, &h.claimed_hash);

    if h.number == 0 {
        // The genesis hash skips the roots and gasUsed (the node never sets
        // them); what it prints for them must then be the defaults.
        let defaults = h.txs_root == [0; 32]
            && h.receipts_root == [0; 32]
            && h.state_root == [0; 32]
            && h.gas_used == "0";
        r.push(
            "genesis-defaults",
            defaults,
            if defaults {
                "roots are zero and gasUsed is 0, as the node prints an unset genesis"
            } else {
                "block 0 prints non-default roots or gasUsed, which its hash does not cover"
            },
        );
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
            senders.reserve(txs.len());
            // Signatures dominate (an SM2 verification each): checked in
            // parallel on rayon's pool, reported in block order.
            // A chunk's signatures share one inversion.
            let checked: Vec<_> = {
                use rayon::prelude::*;
                txs.par_chunks(crate::sm2verify::BATCH)
                    .flat_map_iter(|chunk| verify_transactions(suite, chunk))
                    .collect()
            };
            for (i, (tr, hash, sender)) in checked.into_iter().enumerate() {
                hashes.push(hash);
                senders.push(sender);
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
    (r, senders)
}

/// Checks that the signatures of `h` (whose hash is `hash`) reach a quorum
/// of `committee`, by node id: a signer counts with its weight in
/// `committee` whatever its index in the block. This is how a committee
/// change is accepted: the committee in force vouches for the block that
/// brings the new one.
pub fn committee_vouches(
    suite: CryptoSuite,
    h: &super::model::BlockHeader,
    committee: &[Sealer],
) -> Check {
    let hash = header_hash(suite, h);
    let weights: Vec<i64> = committee.iter().map(|s| s.weight).collect();
    let required = required_weight(&weights);
    let mut seen = HashSet::new();
    let mut signed = 0i64;
    for s in &h.signatures {
        let Some(node_id) = usize::try_from(s.sealer_index)
            .ok()
            .and_then(|k| h.sealer_list.get(k))
        else {
            continue;
        };
        let Some(member) = committee.iter().find(|m| &m.node_id == node_id) else {
            continue;
        };
        if !seen.insert(*node_id) {
            continue;
        }
        if suite
            .verify_sealer_signature(&hash, &s.signature, node_id)
            .is_ok()
        {
            signed += member.weight.max(0);
        }
    }
    Check {
        name: "committee-change".into(),
        passed: signed >= required,
        detail: format!(
            "members of the committee in force signed with weight {signed}; {required} required to accept a new sealer list"
        ),
    }
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
    verify_transaction_inner(suite, t).0
}

/// The report, the recomputed hash and the recovered sender.
fn verify_transaction_inner(
    suite: CryptoSuite,
    t: &Transaction,
) -> (Report, Hash, Option<Address>) {
    let computed = transaction_hash(suite, t);
    let signature = suite.verify_tx_signature(&computed, &t.signature);
    transaction_report(suite, t, computed, signature)
}

/// [`verify_transaction_inner`] for consecutive transactions, their
/// signatures verified together.
fn verify_transactions(
    suite: CryptoSuite,
    txs: &[Transaction],
) -> Vec<(Report, Hash, Option<Address>)> {
    let hashes: Vec<Hash> = txs.iter().map(|t| transaction_hash(suite, t)).collect();
    let items: Vec<(&Hash, &[u8])> = hashes
        .iter()
        .zip(txs)
        .map(|(h, t)| (h, t.signature.as_slice()))
        .collect();
    let signatures = suite.verify_tx_signatures(&items);
    txs.iter()
        .zip(hashes)
        .zip(signatures)
        .map(|((t, h), s)| transaction_report(suite, t, h, s))
        .collect()
}

fn transaction_report(
    suite: CryptoSuite,
    t: &Transaction,
    computed: Hash,
    signature: Result<crate::crypto::NodeId, crate::crypto::SignatureError>,
) -> (Report, Hash, Option<Address>) {
    let mut r = Report::default();
    r.eq_hash("tx-hash", &computed, &t.claimed_hash);
    let mut recovered = None;
    match signature {
        Ok(public) => {
            let sender = suite.address(&public);
            recovered = Some(sender);
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
    (r, computed, recovered)
}

/// Verifies the receipts of a verified block, one per transaction in block
/// order: each receipt's hash is recomputed, names its transaction and the
/// block, repeats the transaction's fields truly (`from` as `senders`
/// recovered), and the recomputed hashes fold to the header's receiptsRoot.
/// This binds each receipt to its position, so a receipt cannot be swapped
/// for another transaction's or altered and re-hashed.
pub fn verify_block_receipts(
    suite: CryptoSuite,
    block: &Block,
    senders: &[Option<Address>],
    receipts: &[Receipt],
) -> Report {
    let mut r = Report::default();
    let h = &block.header;
    let txs: &[Transaction] = match &block.transactions {
        BlockTransactions::Full(ts) => ts,
        _ => &[],
    };
    if receipts.len() != txs.len() {
        r.push(
            "receipts",
            false,
            format!("{} receipts for {} transactions", receipts.len(), txs.len()),
        );
        return r;
    }
    let mut computed = Vec::with_capacity(receipts.len());
    for (i, (rc, t)) in receipts.iter().zip(txs).enumerate() {
        let hash = receipt_hash(suite, rc);
        if hash != rc.claimed_hash {
            r.eq_hash(
                format!("receipt[{i}] receipt-hash"),
                &hash,
                &rc.claimed_hash,
            );
        }
        computed.push(hash);
        if rc.transaction_hash != t.claimed_hash {
            r.push(
                format!("receipt[{i}] transaction"),
                false,
                format!(
                    "names transaction {} but the block has {} there",
                    encode0x(&rc.transaction_hash),
                    encode0x(&t.claimed_hash)
                ),
            );
        }
        if rc.block_number != h.number {
            r.push(
                format!("receipt[{i}] block-number"),
                false,
                format!("names block {} in block {}", rc.block_number, h.number),
            );
        }
        let f = &rc.tx_fields;
        let mut diffs = Vec::new();
        if f.from.is_some() && f.from != senders.get(i).copied().flatten() {
            diffs.push("from");
        }
        if f.to
            .as_ref()
            .is_some_and(|to| !to.eq_ignore_ascii_case(&t.to))
        {
            diffs.push("to");
        }
        if f.input.as_ref().is_some_and(|input| *input != t.input) {
            diffs.push("input");
        }
        if !diffs.is_empty() {
            r.push(
                format!("receipt[{i}] transaction-fields"),
                false,
                format!("differs from its transaction in {}", diffs.join(", ")),
            );
        }
    }
    if !txs.is_empty() {
        let root = merkle::root(suite, &computed);
        r.eq_hash("receipts-root", &root, &h.receipts_root);
    }
    if r.passed() {
        r.push(
            "receipts",
            true,
            format!(
                "{} receipts recomputed and bound to their transactions",
                receipts.len()
            ),
        );
    }
    r
}

/// Verifies a receipt on its own: its hash, and the proof's root if served.
pub fn verify_receipt(suite: CryptoSuite, rc: &Receipt) -> Report {
    let mut r = Report::default();
    let computed = receipt_hash(suite, rc);
    r.eq_hash("receipt-hash", &computed, &rc.claimed_hash);
    if let Some(printed) = &rc.checksum_contract_address {
        let expected = suite.checksum_address(&rc.contract_address);
        r.push(
            "checksum-address",
            *printed == expected,
            if *printed == expected {
                expected
            } else {
                format!("served {printed}, expected {expected}")
            },
        );
    }
    if let Some(proof) = &rc.proof {
        push_proof(&mut r, "receipt-proof", suite, &computed, proof);
    }
    if let Some(proof) = &rc.tx_proof {
        push_proof(
            &mut r,
            "receipt-tx-proof",
            suite,
            &rc.transaction_hash,
            proof,
        );
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

/// Checks across several items served for the same chain: a receipt or a
/// transaction against the block it claims to be in (by number for
/// receipts, by listed hash for transactions), and their proofs against that
/// block's roots.
pub fn cross_check(suite_of: impl Fn(&Item) -> CryptoSuite, items: &[Item]) -> Report {
    let mut r = Report::default();
    let blocks: Vec<&Block> = items
        .iter()
        .filter_map(|i| match i {
            Item::Block(b) => Some(b),
            _ => None,
        })
        .collect();
    let listed = |b: &Block, h: &Hash| -> Option<bool> {
        match &b.transactions {
            BlockTransactions::Absent => None,
            BlockTransactions::Hashes(hs) => Some(hs.contains(h)),
            BlockTransactions::Full(ts) => Some(ts.iter().any(|t| &t.claimed_hash == h)),
        }
    };
    for item in items {
        let suite = suite_of(item);
        match item {
            Item::Receipt(rc) => {
                let tag = encode0x(&rc.transaction_hash[..4]);
                let tx = items.iter().find_map(|i| match i {
                    Item::Transaction(t) if t.claimed_hash == rc.transaction_hash => Some(t),
                    _ => None,
                });
                if let Some(t) = tx {
                    let sender = suite
                        .verify_tx_signature(&transaction_hash(suite, t), &t.signature)
                        .ok()
                        .map(|p| suite.address(&p));
                    let f = &rc.tx_fields;
                    let mut diffs = Vec::new();
                    if f.from.is_some() && f.from != sender {
                        diffs.push("from");
                    }
                    if f.to.as_ref().is_some_and(|to| *to != t.to) {
                        diffs.push("to");
                    }
                    if f.input.as_ref().is_some_and(|input| *input != t.input) {
                        diffs.push("input");
                    }
                    r.push(
                        format!("receipt {tag}… matches its transaction"),
                        diffs.is_empty(),
                        if diffs.is_empty() {
                            "from, to and input agree".to_string()
                        } else {
                            format!("differs in {}", diffs.join(", "))
                        },
                    );
                }
                let Some(b) = blocks.iter().find(|b| b.header.number == rc.block_number) else {
                    continue;
                };
                if let Some(found) = listed(b, &rc.transaction_hash) {
                    r.push(
                        format!("receipt {tag}… in block {}", b.header.number),
                        found,
                        if found {
                            "its transaction is listed in the block"
                        } else {
                            "its transaction is not in the block"
                        },
                    );
                }
                if let Some(proof) = &rc.proof {
                    let leaf = receipt_hash(suite, rc);
                    let ok = proof_root(suite, &leaf, proof)
                        .is_ok_and(|root| root == b.header.receipts_root);
                    r.push(
                        format!("receipt {tag}… proof to block {}", b.header.number),
                        ok,
                        if ok {
                            "folds to the block's receiptsRoot"
                        } else {
                            "does not fold to the block's receiptsRoot"
                        },
                    );
                    if let Some(tp) = &rc.tx_proof {
                        let ok = proof_root(suite, &rc.transaction_hash, tp)
                            .is_ok_and(|root| root == b.header.txs_root);
                        r.push(
                            format!(
                                "receipt {tag}… transaction proof to block {}",
                                b.header.number
                            ),
                            ok,
                            if ok {
                                "its transaction folds to the block's txsRoot"
                            } else {
                                "its transaction does not fold to the block's txsRoot"
                            },
                        );
                    }
                    // A transaction proven into the same block at the same
                    // position is this receipt's transaction, and no other.
                    if ok && let Ok(Some(at)) = merkle::proof_index(suite, &leaf, proof) {
                        for t in items.iter().filter_map(|i| match i {
                            Item::Transaction(t) => Some(t),
                            _ => None,
                        }) {
                            let Some(tp) = &t.proof else { continue };
                            let th = transaction_hash(suite, t);
                            if merkle::fold_proof(suite, &th, tp).ok() != Some(b.header.txs_root) {
                                continue;
                            }
                            let Ok(Some(t_at)) = merkle::proof_index(suite, &th, tp) else {
                                continue;
                            };
                            let same_position = t_at == at;
                            let same_hash = th == rc.transaction_hash;
                            if same_position || same_hash {
                                r.push(
                                    format!("receipt {tag}… position in block {}", b.header.number),
                                    same_position && same_hash,
                                    format!(
                                        "receipt at index {at}, transaction {} at index {t_at}",
                                        encode0x(&th[..4])
                                    ),
                                );
                            }
                        }
                    }
                }
            }
            Item::Transaction(t) => {
                let tag = encode0x(&t.claimed_hash[..4]);
                let leaf = transaction_hash(suite, t);
                let root = t.proof.as_ref().map(|p| proof_root(suite, &leaf, p));
                // The block the transaction is in: one that lists it, one a
                // served receipt of it names, or one its proof folds to.
                let in_receipt = items.iter().find_map(|i| match i {
                    Item::Receipt(rc) if rc.transaction_hash == t.claimed_hash => {
                        Some(rc.block_number)
                    }
                    _ => None,
                });
                let placed = blocks
                    .iter()
                    .find(|b| listed(b, &t.claimed_hash) == Some(true))
                    .map(|b| (b, "listed in the block"))
                    .or_else(|| {
                        let n = in_receipt?;
                        let b = blocks.iter().find(|b| b.header.number == n)?;
                        Some((b, "its receipt names this block"))
                    })
                    .or_else(|| {
                        let Some(Ok(root)) = &root else { return None };
                        let b = blocks.iter().find(|b| b.header.txs_root == *root)?;
                        Some((b, "its proof folds to this block's txsRoot"))
                    });
                let Some((b, why)) = placed else { continue };
                r.push(format!("tx {tag}… in block {}", b.header.number), true, why);
                if let Some(root) = root {
                    let ok = root.is_ok_and(|root| root == b.header.txs_root);
                    r.push(
                        format!("tx {tag}… proof to block {}", b.header.number),
                        ok,
                        if ok {
                            "folds to the block's txsRoot"
                        } else {
                            "does not fold to the block's txsRoot"
                        },
                    );
                }
            }
            Item::Block(_) => {}
        }
    }
    r
}

/// Parses a `getSealerList` response (with or without the JSON-RPC
/// envelope): `[{nodeID, weight}]`.
pub fn parse_sealer_list(text: &str) -> Result<Vec<Sealer>, super::ChainError> {
    use super::ChainError;
    let v: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| ChainError::NotRecognised(format!("not JSON: {e}")))?;
    let list = v.get("result").unwrap_or(&v);
    let items = list.as_array().ok_or_else(|| {
        ChainError::NotRecognised("a sealer list is a JSON array of {nodeID, weight}".into())
    })?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let path = format!("[{i}]");
        let f = super::rpc::Fields::new(item, &path)?;
        out.push(Sealer {
            node_id: super::hexbytes::decode_fixed(&f.name("nodeID"), f.str("nodeID")?)?,
            weight: f.int("weight")?,
        });
    }
    Ok(out)
}
