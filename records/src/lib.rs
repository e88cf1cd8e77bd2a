//! A stored transaction in the clear: what the search index and the rule
//! engine both read, written once.
//!
//! - [`doc`]: [`TxDoc`], one transaction with its block, its envelope class
//!   and its payload's business fields and full text ([`doc::read_payload`]
//!   reads any payload without failing).
//! - [`decode`]: a transaction's call and its receipt's events decoded by
//!   the ABIs of a [`decode::Catalog`] (the registry's latest versions and
//!   the mappings), each naming the ABI version used or why it did not
//!   decode, and the business fields the mappings take from them.
//! - [`mapping`]: the business mapping (which arguments or event fields are
//!   payer, payee, amount with decimals, currency, reference, memo, and
//!   which carry the record), kept in the store's `mappings` family.
//! - [`money`]: [`Money`], amounts in exact hundredths, printed one way.
//! - [`seq`], [`seq_in`]: a transaction's position in chain order as one
//!   number (the chain in its top byte); [`ChainLabel`]: whose it is.
//! - [`time`]: the clock and Beijing time (hours, weekdays, days, RFC 3339).
//! - [`block_docs`] (feature `store`): the documents of one stored block,
//!   with the decrypted records opened by the record sealer; [`BlockReader`]
//!   reads each block once for all the consumers that read it.
//! - [`abis`] (feature `store`): the ABI registry, each contract's JSON ABI
//!   with every version kept, which decoding reads.
//!
//! The crate does no indexing and evaluates no rule; it knows the store only
//! through its readers, and never logs payload contents.

pub mod decode;
pub mod doc;
pub mod mapping;
pub mod money;
pub mod time;

pub use doc::{Business, Party, TxDoc};
pub use money::Money;

#[cfg(feature = "store")]
pub mod abis;
#[cfg(feature = "store")]
mod from_store;
#[cfg(feature = "store")]
pub use from_store::{
    BlockDocs, BlockReader, ReadError, RecordsError, SHARED_BLOCKS, block_docs, chain_label,
};

/// Transactions per block at most, for [`seq`]: FISCO BCOS blocks hold a
/// few thousand transactions at most, far below this.
pub const MAX_TXS_PER_BLOCK: u64 = 1 << 24;

/// Heights a [`seq`] holds: below 2^32 (FISCO BCOS makes a block a
/// second at most; 136 years).
pub const MAX_SEQ_HEIGHT: i64 = (1 << 32) - 1;

/// A transaction's position in chain order as one number: `height << 24 |
/// index` (chain 0's; [`seq_in`] for others). Unique per transaction, it
/// orders ties and makes cursors total.
pub fn seq(height: i64, index: u32) -> u64 {
    seq_in(0, height, index)
}

/// The position of transaction `index` of block `height` of chain number
/// `chain`: `chain << 56 | height << 24 | index`, unique across the chains
/// of a node (chain 0's is [`seq`]'s).
pub fn seq_in(chain: u8, height: i64, index: u32) -> u64 {
    (u64::from(chain & 0x7f) << 56)
        | ((u64::try_from(height.clamp(0, MAX_SEQ_HEIGHT)).unwrap_or(0)) << 24)
        | (u64::from(index) & (MAX_TXS_PER_BLOCK - 1))
}

/// The (height, index) of a [`seq`] (of any chain).
pub fn unseq(seq: u64) -> (i64, u32) {
    let (_, h, i) = unseq_in(seq);
    (h, i)
}

/// The (chain, height, index) of a [`seq_in`].
pub fn unseq_in(seq: u64) -> (u8, i64, u32) {
    (
        u8::try_from((seq >> 56) & 0x7f).unwrap_or(0),
        i64::try_from((seq >> 24) & 0xffff_ffff).unwrap_or(0),
        u32::try_from(seq & (MAX_TXS_PER_BLOCK - 1)).unwrap_or(0),
    )
}

/// The id of chain 0 of a store that registered none (one made for one
/// chain, before chains had ids; the tests' stores): the id a single chain
/// without one gets in the configuration.
pub const UNREGISTERED_CHAIN: &str = "main";

/// Which chain a document belongs to: the node's number for it (the top
/// byte of its [`seq_in`]), its configured id and its group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainLabel {
    /// The chain's number in the store.
    pub number: u8,
    /// Its id (`[[chain]] id`; empty for a store whose chain was never
    /// registered, as in tests).
    pub id: String,
    /// Its group.
    pub group: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_orders_by_height_then_index_and_round_trips() {
        assert!(seq(1, 5) < seq(2, 0));
        assert!(seq(2, 0) < seq(2, 1));
        for (h, i) in [(0, 0), (1, 7), (123_456, 4_095), (1 << 30, 16_777_215)] {
            assert_eq!(unseq(seq(h, i)), (h, i));
        }
    }

    #[test]
    fn seq_in_keeps_chains_apart_and_chain_zero_is_seq() {
        assert_eq!(seq_in(0, 5, 3), seq(5, 3));
        assert!(seq_in(0, MAX_SEQ_HEIGHT, 16_777_215) < seq_in(1, 0, 0));
        for (c, h, i) in [(0, 0, 0), (1, 7, 2), (127, MAX_SEQ_HEIGHT, 16_777_215)] {
            assert_eq!(unseq_in(seq_in(c, h, i)), (c, h, i));
        }
        assert!(i64::try_from(seq_in(127, MAX_SEQ_HEIGHT, 16_777_215)).is_ok());
    }
}
