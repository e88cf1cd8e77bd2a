//! Ways a devnet server can lie, for tests of the observer's verification.
//!
//! Each fault affects one height and only the answers of the server it is
//! set on, so a test can run one lying endpoint beside an honest one.

use std::fmt;
use std::str::FromStr;

use chain::hashing::{header_hash, receipt_hash};
use chain::hexbytes::Hash;
use chain::model::{Block, BlockTransactions, Receipt, SealerSignature};
use chain::verify::required_weight;

use crate::chain::Devnet;

/// A fault and the height it applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// What goes wrong.
    pub kind: FaultKind,
    /// At which block.
    pub height: i64,
}

/// The kinds of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// The block carries signatures of less than a quorum.
    LowQuorum,
    /// One sealer signature is forged (a byte changed).
    ForgedSignature,
    /// The block names a parent that is not the previous block; its header
    /// hash is recomputed and it is re-signed by a quorum, as colluding
    /// sealers would, so only the chain linkage reveals it.
    WrongParent,
    /// A transaction's input is altered after sealing.
    TamperedTransaction,
    /// The block is withheld: asked for, the server says it has no such
    /// block although its head is past it.
    WithheldBlock,
    /// The answer for the block is not JSON.
    GarbageJson,
    /// The block is honest, but the receipt of its first transaction
    /// reports failure instead of success; the receipt's hash is recomputed
    /// (and a proof, if asked for, is the honest one), so only the block's
    /// receiptsRoot reveals it.
    TamperedReceipt,
    /// The block is honest, but asked for the hash at its height
    /// (`getBlockHashByNumber`) the server names another: a lie only
    /// cross-checking (`ingest.confirm`) reveals.
    WrongHash,
}

impl FaultKind {
    /// Every kind, with its CLI name.
    pub const ALL: [(FaultKind, &'static str); 8] = [
        (FaultKind::LowQuorum, "low-quorum"),
        (FaultKind::ForgedSignature, "forged-signature"),
        (FaultKind::WrongParent, "wrong-parent"),
        (FaultKind::TamperedTransaction, "tampered-transaction"),
        (FaultKind::WithheldBlock, "withheld-block"),
        (FaultKind::GarbageJson, "garbage-json"),
        (FaultKind::TamperedReceipt, "tampered-receipt"),
        (FaultKind::WrongHash, "wrong-hash"),
    ];

    /// The CLI name.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(k, _)| *k == self)
            .map(|(_, n)| *n)
            .unwrap_or("unknown")
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.kind.name(), self.height)
    }
}

impl FromStr for Fault {
    type Err = String;

    /// `KIND@HEIGHT`, e.g. `forged-signature@5`.
    fn from_str(s: &str) -> Result<Self, String> {
        let names: Vec<&str> = FaultKind::ALL.iter().map(|(_, n)| *n).collect();
        let (kind, height) = s.split_once('@').ok_or_else(|| {
            format!(
                "fault '{s}' is not KIND@HEIGHT (kinds: {})",
                names.join(", ")
            )
        })?;
        let kind = FaultKind::ALL
            .iter()
            .find(|(_, n)| *n == kind)
            .map(|(k, _)| *k)
            .ok_or_else(|| format!("unknown fault '{kind}' (kinds: {})", names.join(", ")))?;
        let height: i64 = height
            .parse()
            .ok()
            .filter(|h| *h > 0)
            .ok_or_else(|| format!("fault height '{height}' is not a positive block number"))?;
        Ok(Fault { kind, height })
    }
}

/// What a faulty server answers for a block.
pub enum Served {
    /// This block (possibly altered).
    Block(Box<Block>),
    /// "No such block" although the head is past it.
    Withheld,
    /// A body that is not JSON.
    Garbage,
}

/// The block a server with `fault` serves at `height`.
pub fn serve_block(devnet: &Devnet, block: &Block, fault: Option<Fault>) -> Served {
    let Some(fault) = fault.filter(|f| f.height == block.header.number) else {
        return Served::Block(Box::new(block.clone()));
    };
    let mut b = block.clone();
    match fault.kind {
        FaultKind::LowQuorum => {
            let weights = &devnet.config().weights;
            let required = required_weight(weights);
            // Keep the lightest signers whose weight stays below the quorum.
            let mut kept: Vec<SealerSignature> = Vec::new();
            let mut weight = 0;
            for s in &b.header.signatures {
                let w = weights.get(s.sealer_index as usize).copied().unwrap_or(0);
                if weight + w < required {
                    weight += w;
                    kept.push(s.clone());
                }
            }
            b.header.signatures = kept;
        }
        FaultKind::ForgedSignature => {
            if let Some(s) = b.header.signatures.first_mut()
                && let Some(byte) = s.signature.get_mut(10)
            {
                *byte ^= 0x5a;
            }
        }
        FaultKind::WrongParent => {
            if let Some(p) = b.header.parents.first_mut() {
                p.hash[0] ^= 0xff;
            }
            let hash = header_hash(devnet.suite(), &b.header);
            b.header.claimed_hash = hash;
            for s in b.header.signatures.iter_mut() {
                if let Some(k) = devnet.sealer_keys().get(s.sealer_index as usize)
                    && let Ok(sig) = k.sign_header(&hash)
                {
                    s.signature = sig;
                }
            }
        }
        FaultKind::TamperedTransaction => {
            if let BlockTransactions::Full(ts) = &mut b.transactions
                && let Some(t) = ts.first_mut()
            {
                t.input.push(0x01);
            }
        }
        FaultKind::WithheldBlock => return Served::Withheld,
        FaultKind::GarbageJson => return Served::Garbage,
        FaultKind::TamperedReceipt | FaultKind::WrongHash => {}
    }
    Served::Block(Box::new(b))
}

/// The hash a server with `fault` names at `block`'s height: the hash of
/// the block it serves there, or another under [`FaultKind::WrongHash`].
pub fn serve_hash(devnet: &Devnet, block: &Block, fault: Option<Fault>) -> Option<Hash> {
    match serve_block(devnet, block, fault) {
        Served::Block(b) => {
            let mut hash = b.header.claimed_hash;
            if fault.is_some_and(|f| f.kind == FaultKind::WrongHash && f.height == b.header.number)
            {
                hash[31] ^= 0x01;
            }
            Some(hash)
        }
        Served::Withheld | Served::Garbage => None,
    }
}

/// The receipt a server with `fault` serves for `receipt`.
pub fn serve_receipt(devnet: &Devnet, receipt: &Receipt, fault: Option<Fault>) -> Receipt {
    let mut r = receipt.clone();
    let first_of_block = devnet
        .receipts_of(receipt.block_number)
        .first()
        .is_some_and(|f| f.transaction_hash == receipt.transaction_hash);
    if let Some(f) = fault
        && f.kind == FaultKind::TamperedReceipt
        && f.height == receipt.block_number
        && first_of_block
    {
        r.status = if r.status == 0 { 16 } else { 0 };
        r.claimed_hash = receipt_hash(devnet.suite(), &r);
    }
    r
}
