//! The pack verifier: everything a pack claims, checked from the pack alone
//! (no store, no keys), naming the first part that fails.
//!
//! Order (`docs/evidence.md` §5): each chain's genesis and committees, then
//! each transaction (block, transaction, its proof, receipt and its proof,
//! class, and for an opened envelope: envelope, DLEQ proof, data key,
//! plaintext), then the pack's own fields and last the seal, so that a
//! changed byte is named where it is whenever a check covers it, and by the
//! seal otherwise.

use chain::CryptoSuite;
use chain::crypto::Address;
use chain::hexbytes::{Hash, encode0x};
use chain::model::{Block, BlockHeader, BlockTransactions, Receipt, Transaction};
use chain::verify::{Sealer, committee_vouches, required_weight};
use privacy::envelope::{Class, Envelope, TxContext, key_commitment};
use privacy::keys::PublicKey;
use privacy::pke::{CipherFormat, Sm2Cipher};
use serde_json::Value;

use crate::pack::{
    ChainEvidence, CommitteeStep, Opening, Pack, SEAL_ALGORITHM, TxEvidence, seal_message,
};

/// The first part of a pack that failed, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{part}: {detail}")]
pub struct Failure {
    /// The part, as a path into the pack (`transactions[0].dleq`, `seal`).
    pub part: String,
    /// What is wrong.
    pub detail: String,
}

fn fail<T>(part: &str, detail: impl Into<String>) -> Result<T, Failure> {
    Err(Failure {
        part: part.to_string(),
        detail: detail.into(),
    })
}

/// What a verified pack shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// When it was made.
    pub made_at: String,
    /// The key id of the node key that sealed it (SM3 of the public key).
    pub signer_key_id: String,
    /// Per chain: id, genesis hash, trust, committees.
    pub chains: Vec<VerifiedChain>,
    /// Per transaction.
    pub transactions: Vec<VerifiedTx>,
}

/// A chain of a verified pack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedChain {
    /// Its id.
    pub id: String,
    /// Its genesis block's hash (compare it with the consortium's).
    pub genesis_hash: String,
    /// `configured` or `first-use`.
    pub trust: String,
    /// Whether the genesis block lists its sealers and the first committee
    /// is exactly them.
    pub anchored_in_genesis: bool,
    /// How many committees (the first and its changes).
    pub committees: usize,
}

/// A transaction of a verified pack (its `Debug` shows the plaintext's
/// length only).
#[derive(Clone, PartialEq, Eq)]
pub struct VerifiedTx {
    /// Its chain.
    pub chain: String,
    /// Its block.
    pub height: i64,
    /// Its index.
    pub index: u32,
    /// Its hash.
    pub hash: String,
    /// Its sender (from the signature).
    pub sender: String,
    /// The class the node gave it.
    pub class: String,
    /// Whether its receipt was proven.
    pub receipt: bool,
    /// The opened payload, when it is one.
    pub plaintext: Option<Vec<u8>>,
}

impl std::fmt::Debug for VerifiedTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedTx")
            .field("chain", &self.chain)
            .field("height", &self.height)
            .field("index", &self.index)
            .field("hash", &self.hash)
            .field("sender", &self.sender)
            .field("class", &self.class)
            .field("receipt", &self.receipt)
            .field("plaintext_len", &self.plaintext.as_ref().map(Vec::len))
            .finish()
    }
}

/// Reads and verifies a pack. `signer`, when given, is the node key the
/// pack must be sealed by.
pub fn verify_bytes(bytes: &[u8], signer: Option<&PublicKey>) -> Result<Verified, Failure> {
    let pack = Pack::read(bytes).map_err(|e| match e {
        crate::PackError::Malformed { part, detail } => Failure {
            part: part.to_string(),
            detail,
        },
        other => Failure {
            part: "pack".into(),
            detail: other.to_string(),
        },
    })?;
    verify(&pack, signer)
}

/// Verifies a read pack (see [`verify_bytes`]).
pub fn verify(pack: &Pack, signer: Option<&PublicKey>) -> Result<Verified, Failure> {
    let body = &pack.body;
    let mut chains = Vec::with_capacity(body.chains.len());
    let mut states = Vec::with_capacity(body.chains.len());
    for (i, c) in body.chains.iter().enumerate() {
        if body.chains[..i].iter().any(|o| o.id == c.id) {
            return fail(
                &format!("chains[{i}]"),
                format!("chain {} appears twice", c.id),
            );
        }
        let (summary, state) = verify_chain(&format!("chains[{i}]"), c)?;
        chains.push(summary);
        states.push(state);
    }
    let mut transactions = Vec::with_capacity(body.transactions.len());
    for (j, t) in body.transactions.iter().enumerate() {
        let part = format!("transactions[{j}]");
        let Some(k) = body.chains.iter().position(|c| c.id == t.chain) else {
            return fail(
                &part,
                format!("its chain {} is not among the pack's chains", t.chain),
            );
        };
        transactions.push(verify_tx(&part, &body.chains[k], &states[k], t)?);
    }
    if time::OffsetDateTime::parse(
        &body.made_at,
        &time::format_description::well_known::Rfc3339,
    )
    .is_err()
    {
        return fail(
            "made_at",
            format!("'{}' is not an RFC 3339 time", body.made_at),
        );
    }
    match (body.subject.kind.as_str(), &body.subject.alert) {
        ("transactions", None) | ("alert", Some(_)) => {}
        (kind, _) => {
            return fail(
                "subject",
                format!(
                    "kind '{kind}' with{} an alert",
                    if body.subject.alert.is_some() {
                        ""
                    } else {
                        "out"
                    }
                ),
            );
        }
    }
    let made_by =
        PublicKey::from_bytes(&hex_bytes("seal", "made_by", &body.made_by)?).map_err(|e| {
            Failure {
                part: "seal".into(),
                detail: format!("made_by: {e}"),
            }
        })?;
    if pack.seal.algorithm != SEAL_ALGORITHM {
        return fail(
            "seal",
            format!(
                "algorithm '{}' is not {SEAL_ALGORITHM}",
                pack.seal.algorithm
            ),
        );
    }
    let signature = hex_bytes("seal", "signature", &pack.seal.signature)?;
    if made_by
        .verify(&seal_message(&pack.canonical_body), &signature)
        .is_err()
    {
        return fail(
            "seal",
            "the node's signature does not cover this pack: a byte of it changed after sealing",
        );
    }
    if let Some(want) = signer
        && want.to_uncompressed() != made_by.to_uncompressed()
    {
        return fail(
            "seal",
            format!(
                "sealed by key {}, not by the expected node key {}",
                made_by.key_id(),
                want.key_id()
            ),
        );
    }
    Ok(Verified {
        made_at: body.made_at.clone(),
        signer_key_id: made_by.key_id().to_hex(),
        chains,
        transactions,
    })
}

/// A chain's verified committees.
struct ChainState {
    suite: CryptoSuite,
    /// (first height, members) in height order.
    committees: Vec<(i64, Vec<Sealer>)>,
}

impl ChainState {
    fn in_force(&self, height: i64) -> Option<&[Sealer]> {
        self.committees
            .iter()
            .rev()
            .find(|(from, _)| *from <= height)
            .map(|(_, c)| c.as_slice())
    }
}

fn suite_of(part: &str, name: &str) -> Result<CryptoSuite, Failure> {
    match name {
        "sm" => Ok(CryptoSuite::Sm),
        "standard" => Ok(CryptoSuite::Standard),
        other => fail(part, format!("suite '{other}' is neither sm nor standard")),
    }
}

fn verify_chain(part: &str, c: &ChainEvidence) -> Result<(VerifiedChain, ChainState), Failure> {
    let suite = suite_of(part, &c.suite)?;
    let genesis = header(part, suite, &c.genesis)?;
    if genesis.number != 0 {
        return fail(
            part,
            format!("the genesis header is block {}", genesis.number),
        );
    }
    let genesis_sealers = genesis_committee(&genesis.extra_data);
    let mut committees: Vec<(i64, Vec<Sealer>)> = Vec::with_capacity(c.committees.len());
    let mut anchored = false;
    for (k, step) in c.committees.iter().enumerate() {
        let part = format!("{part}.committees[{k}]");
        let sealers = sealers(&part, step)?;
        if sealers.is_empty() {
            return fail(&part, "a committee with no members");
        }
        match committees.last() {
            None => match c.trust.as_str() {
                "configured" => {
                    if step.height != 0 || step.header.is_some() {
                        return fail(
                            &part,
                            "a configured committee is in force from block 0 and has no header",
                        );
                    }
                    if let Some(listed) = &genesis_sealers {
                        if !same_members(listed, &sealers) {
                            return fail(
                                &part,
                                "the configured committee is not the one the genesis block lists",
                            );
                        }
                        anchored = true;
                    }
                }
                "first-use" => {
                    let h = step_header(&part, suite, step, &sealers)?;
                    let check = committee_vouches(suite, &h, &sealers);
                    if !check.passed {
                        return fail(
                            &part,
                            format!("signed by its own members: {}", check.detail),
                        );
                    }
                }
                other => {
                    return fail(
                        &format!("{part}.trust"),
                        format!("'{other}' is neither configured nor first-use"),
                    );
                }
            },
            Some((from, previous)) => {
                if step.height <= *from {
                    return fail(
                        &part,
                        format!(
                            "height {} does not follow the previous change at {from}",
                            step.height
                        ),
                    );
                }
                let h = step_header(&part, suite, step, &sealers)?;
                let check = committee_vouches(suite, &h, previous);
                if !check.passed {
                    return fail(&part, check.detail);
                }
            }
        }
        committees.push((step.height, sealers));
    }
    if committees.is_empty() {
        return fail(part, "no committee");
    }
    Ok((
        VerifiedChain {
            id: c.id.clone(),
            genesis_hash: encode0x(&genesis.claimed_hash),
            trust: c.trust.clone(),
            anchored_in_genesis: anchored,
            committees: committees.len(),
        },
        ChainState { suite, committees },
    ))
}

/// The sealers a genesis block lists in its configuration text, as FISCO
/// BCOS writes it (`node.N:NODE_ID,WEIGHT` lines); `None` when it lists none.
pub fn genesis_committee(extra_data: &[u8]) -> Option<Vec<Sealer>> {
    let text = std::str::from_utf8(extra_data).ok()?;
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.trim().strip_prefix("node.") else {
            continue;
        };
        let (_, entry) = rest.split_once(':')?;
        let (id, weight) = entry.split_once(',')?;
        let node_id = chain::hexbytes::decode_fixed::<64>("node", id.trim()).ok()?;
        let weight = weight.trim().parse().ok()?;
        out.push(Sealer { node_id, weight });
    }
    (!out.is_empty()).then_some(out)
}

fn same_members(a: &[Sealer], b: &[Sealer]) -> bool {
    let key = |s: &Sealer| (s.node_id, s.weight);
    let mut a: Vec<_> = a.iter().map(key).collect();
    let mut b: Vec<_> = b.iter().map(key).collect();
    a.sort();
    b.sort();
    a == b
}

fn sealers(part: &str, step: &CommitteeStep) -> Result<Vec<Sealer>, Failure> {
    let mut out = Vec::with_capacity(step.sealers.len());
    for (i, s) in step.sealers.iter().enumerate() {
        let bytes = hex_bytes(part, &format!("sealers[{i}].node_id"), &s.node_id)?;
        let node_id: [u8; 64] = bytes.try_into().map_err(|_| Failure {
            part: part.into(),
            detail: format!("sealers[{i}].node_id is not 64 bytes"),
        })?;
        out.push(Sealer {
            node_id,
            weight: s.weight,
        });
    }
    Ok(out)
}

/// The header that brought a committee: its hash, height and member list.
fn step_header(
    part: &str,
    suite: CryptoSuite,
    step: &CommitteeStep,
    sealers: &[Sealer],
) -> Result<BlockHeader, Failure> {
    let Some(v) = &step.header else {
        return fail(part, "the header of the block that brought it is missing");
    };
    let h = header(part, suite, v)?;
    if h.number != step.height {
        return fail(
            part,
            format!("the header is block {}, not {}", h.number, step.height),
        );
    }
    if own_committee(&h) != sealers {
        return fail(
            part,
            "the header's sealer list and weights are not the committee's",
        );
    }
    Ok(h)
}

fn own_committee(h: &BlockHeader) -> Vec<Sealer> {
    h.sealer_list
        .iter()
        .zip(h.consensus_weights.iter().chain(std::iter::repeat(&0)))
        .map(|(n, w)| Sealer {
            node_id: *n,
            weight: *w,
        })
        .collect()
}

/// Parses a header (no transactions allowed) and checks its hash.
fn header(part: &str, suite: CryptoSuite, v: &Value) -> Result<BlockHeader, Failure> {
    if v.get("transactions").is_some() {
        return fail(part, "a header in a pack carries no transactions");
    }
    let block = Block::from_json(v).map_err(|e| Failure {
        part: part.into(),
        detail: format!("not a block header: {e}"),
    })?;
    debug_assert!(matches!(block.transactions, BlockTransactions::Absent));
    let h = block.header;
    let computed = chain::hashing::header_hash(suite, &h);
    if computed != h.claimed_hash {
        return fail(
            part,
            format!(
                "block {} hashes to {}, not the {} it claims",
                h.number,
                encode0x(&computed),
                encode0x(&h.claimed_hash)
            ),
        );
    }
    Ok(h)
}

fn hex_bytes(part: &str, what: &str, s: &str) -> Result<Vec<u8>, Failure> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        return fail(part, format!("{what} is not lowercase hex"));
    }
    hex::decode(s).map_err(|e| Failure {
        part: part.into(),
        detail: format!("{what} is not hex: {e}"),
    })
}

fn proof_entries(part: &str, entries: &[String]) -> Result<Vec<Vec<u8>>, Failure> {
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| hex_bytes(part, &format!("entry {i}"), e))
        .collect()
}

fn check_proof(
    part: &str,
    suite: CryptoSuite,
    leaf: &Hash,
    entries: &[String],
    root: &Hash,
    index: u32,
    what: &str,
) -> Result<(), Failure> {
    let proof = proof_entries(part, entries)?;
    let folded = chain::merkle::fold_proof(suite, leaf, &proof).map_err(|e| Failure {
        part: part.into(),
        detail: format!("does not fold: {e}"),
    })?;
    if folded != *root {
        return fail(
            part,
            format!(
                "folds to {}, not the header's {what} {}",
                encode0x(&folded),
                encode0x(root)
            ),
        );
    }
    match chain::merkle::proof_index(suite, leaf, &proof) {
        Ok(Some(at)) if at != u64::from(index) => fail(
            part,
            format!("proves position {at}, not the transaction's index {index}"),
        ),
        _ => Ok(()),
    }
}

fn verify_tx(
    part: &str,
    chain: &ChainEvidence,
    state: &ChainState,
    t: &TxEvidence,
) -> Result<VerifiedTx, Failure> {
    let suite = state.suite;
    // The block: its hash, the committee in force, a quorum of signatures.
    let block_part = format!("{part}.block");
    let h = header(&block_part, suite, &t.block)?;
    if h.number < 1 {
        return fail(
            &block_part,
            "transactions are in signed blocks, not the genesis block",
        );
    }
    let Some(committee) = state.in_force(h.number) else {
        return fail(
            &block_part,
            format!("no committee of the pack is in force at block {}", h.number),
        );
    };
    if own_committee(&h) != committee {
        return fail(
            &block_part,
            format!(
                "the block's sealer list and weights are not the committee in force at block {}",
                h.number
            ),
        );
    }
    let mut seen = std::collections::HashSet::new();
    let mut signed = 0i64;
    for (i, s) in h.signatures.iter().enumerate() {
        let Some(member) = usize::try_from(s.sealer_index)
            .ok()
            .and_then(|k| committee.get(k))
        else {
            return fail(
                &block_part,
                format!(
                    "signature {i} names sealer {}, not in the committee",
                    s.sealer_index
                ),
            );
        };
        if !seen.insert(s.sealer_index) {
            return fail(
                &block_part,
                format!("sealer {} signed twice", s.sealer_index),
            );
        }
        if suite
            .verify_sealer_signature(&h.claimed_hash, &s.signature, &member.node_id)
            .is_err()
        {
            return fail(
                &block_part,
                format!("signature {i} (sealer {}) does not verify", s.sealer_index),
            );
        }
        signed += member.weight.max(0);
    }
    let weights: Vec<i64> = committee.iter().map(|s| s.weight).collect();
    let required = required_weight(&weights);
    if signed < required {
        return fail(
            &block_part,
            format!("signed with weight {signed}; the quorum is {required}"),
        );
    }

    // The transaction: its hash and signature, which give the sender.
    let tx_part = format!("{part}.transaction");
    let tx = Transaction::from_json(&t.transaction).map_err(|e| Failure {
        part: tx_part.clone(),
        detail: format!("not a transaction: {e}"),
    })?;
    let computed = chain::hashing::transaction_hash(suite, &tx);
    if computed != tx.claimed_hash {
        return fail(
            &tx_part,
            format!(
                "hashes to {}, not the {} it claims",
                encode0x(&computed),
                encode0x(&tx.claimed_hash)
            ),
        );
    }
    let public = suite
        .verify_tx_signature(&tx.claimed_hash, &tx.signature)
        .map_err(|e| Failure {
            part: tx_part.clone(),
            detail: format!("its signature: {e}"),
        })?;
    let sender: Address = suite.address(&public);
    if let Some(from) = tx.claimed_from
        && from != sender
    {
        return fail(
            &tx_part,
            format!(
                "it claims sender {} but was signed by {}",
                encode0x(&from),
                encode0x(&sender)
            ),
        );
    }
    if tx.group_id != chain.group {
        return fail(
            &tx_part,
            format!(
                "its group {} is not the chain's {}",
                tx.group_id, chain.group
            ),
        );
    }
    check_proof(
        &format!("{part}.tx_proof"),
        suite,
        &tx.claimed_hash,
        &t.tx_proof,
        &h.txs_root,
        t.index,
        "txsRoot",
    )?;

    // The receipt and its proof.
    let receipt = match (&t.receipt, &t.receipt_proof) {
        (None, None) => false,
        (Some(v), Some(proof)) => {
            let r_part = format!("{part}.receipt");
            let r = Receipt::from_json(v).map_err(|e| Failure {
                part: r_part.clone(),
                detail: format!("not a receipt: {e}"),
            })?;
            let computed = chain::hashing::receipt_hash(suite, &r);
            if computed != r.claimed_hash {
                return fail(
                    &r_part,
                    format!(
                        "hashes to {}, not the {} it claims",
                        encode0x(&computed),
                        encode0x(&r.claimed_hash)
                    ),
                );
            }
            if r.transaction_hash != tx.claimed_hash || r.block_number != h.number {
                return fail(
                    &r_part,
                    "it is another transaction's or another block's receipt",
                );
            }
            check_proof(
                &format!("{part}.receipt_proof"),
                suite,
                &r.claimed_hash,
                proof,
                &h.receipts_root,
                t.index,
                "receiptsRoot",
            )?;
            true
        }
        _ => return fail(&format!("{part}.receipt"), "a receipt comes with its proof"),
    };

    // The class, and the opening of an opened envelope.
    let class_part = format!("{part}.class");
    let Some(class) = Class::parse(&t.class) else {
        return fail(
            &class_part,
            format!("'{}' is not a class of payload", t.class),
        );
    };
    let plaintext = match (class, &t.opening) {
        (Class::Opened, Some(o)) => Some(verify_opening(part, &tx, sender, o)?),
        (Class::Opened, None) => {
            return fail(&class_part, "an opened payload comes with its opening");
        }
        (_, Some(_)) => return fail(&class_part, format!("a {} payload has no opening", t.class)),
        (_, None) => None,
    };
    Ok(VerifiedTx {
        chain: chain.id.clone(),
        height: h.number,
        index: t.index,
        hash: encode0x(&tx.claimed_hash),
        sender: encode0x(&sender),
        class: t.class.clone(),
        receipt,
        plaintext,
    })
}

fn fixed<const N: usize>(part: &str, what: &str, s: &str) -> Result<[u8; N], Failure> {
    hex_bytes(part, what, s)?.try_into().map_err(|_| Failure {
        part: part.into(),
        detail: format!("{what} is not {N} bytes"),
    })
}

fn verify_opening(
    part: &str,
    tx: &Transaction,
    sender: Address,
    o: &Opening,
) -> Result<Vec<u8>, Failure> {
    // The envelope: where it is in the signed input, and bound to this
    // transaction.
    let env_part = format!("{part}.envelope");
    let Some(bytes) = o
        .envelope_offset
        .checked_add(o.envelope_length)
        .and_then(|end| tx.input.get(o.envelope_offset..end))
    else {
        return fail(
            &env_part,
            format!(
                "{} bytes at {} are past the input's {}",
                o.envelope_length,
                o.envelope_offset,
                tx.input.len()
            ),
        );
    };
    let envelope = Envelope::parse(bytes).map_err(|e| Failure {
        part: env_part.clone(),
        detail: format!("not an envelope: {e:?}"),
    })?;
    let ctx = TxContext::new(&tx.chain_id, &tx.group_id, sender).map_err(|e| Failure {
        part: env_part.clone(),
        detail: format!("the transaction's context: {e}"),
    })?;
    if ctx.digest() != envelope.context_digest {
        return fail(
            &env_part,
            "the envelope was made for another transaction (context digest)",
        );
    }

    // The regulator's wrap and the proof of its opening.
    let dleq_part = format!("{part}.dleq");
    let key = PublicKey::from_bytes(&hex_bytes(&dleq_part, "regulator_key", &o.regulator_key)?)
        .map_err(|e| Failure {
            part: dleq_part.clone(),
            detail: format!("regulator_key: {e}"),
        })?;
    let Some(recipient) = envelope.recipients.iter().find(|r| r.rid == key.key_id()) else {
        return fail(
            &dleq_part,
            format!(
                "the regulator key {} is not a recipient of the envelope",
                key.key_id()
            ),
        );
    };
    let cipher = Sm2Cipher::parse(recipient.wrap, CipherFormat::Der).map_err(|e| Failure {
        part: dleq_part.clone(),
        detail: format!("the regulator's wrap: {e}"),
    })?;
    let proof = privacy::dleq::WrapProof {
        shared: fixed(&dleq_part, "shared_point", &o.shared_point)?,
        c: fixed(&dleq_part, "dleq_c", &o.dleq_c)?,
        z: fixed(&dleq_part, "dleq_z", &o.dleq_z)?,
    };
    let unwrapped = privacy::dleq::verify_wrap(&key, &cipher, &proof).map_err(|e| Failure {
        part: dleq_part.clone(),
        detail: e.to_string(),
    })?;

    // The data key it unwraps to, which the envelope commits to.
    let dk_part = format!("{part}.data_key");
    let data_key: [u8; 16] = fixed(&dk_part, "data_key", &o.data_key)?;
    if unwrapped[..] != data_key[..] {
        return fail(&dk_part, "the wrap opens to another data key");
    }
    if key_commitment(&data_key) != envelope.key_commitment {
        return fail(&dk_part, "the envelope commits to another data key");
    }

    // The plaintext the envelope decrypts to.
    let pt_part = format!("{part}.plaintext");
    let claimed = hex_bytes(&pt_part, "plaintext", &o.plaintext)?;
    let opened = privacy::symmetric::gcm_open(
        &data_key,
        &envelope.nonce,
        &envelope.aad(&ctx),
        envelope.ciphertext,
    )
    .map_err(|e| Failure {
        part: pt_part.clone(),
        detail: format!("the envelope does not decrypt with the data key: {e}"),
    })?;
    if opened != claimed {
        return fail(&pt_part, "the envelope decrypts to another plaintext");
    }
    Ok(opened)
}
