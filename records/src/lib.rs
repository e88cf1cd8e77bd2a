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
//! - [`seq`]: a transaction's position in chain order as one number.
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
pub use from_store::{BlockDocs, BlockReader, ReadError, RecordsError, SHARED_BLOCKS, block_docs};

/// Transactions per block at most, for [`seq`]: FISCO BCOS blocks hold a
/// few thousand transactions at most, far below this.
pub const MAX_TXS_PER_BLOCK: u64 = 1 << 24;

/// A transaction's position in chain order as one number: `height << 24 |
/// index`. Unique per transaction, it orders ties and makes cursors total.
pub fn seq(height: i64, index: u32) -> u64 {
    (u64::try_from(height).unwrap_or(0) << 24) | (u64::from(index) & (MAX_TXS_PER_BLOCK - 1))
}

/// The (height, index) of a [`seq`].
pub fn unseq(seq: u64) -> (i64, u32) {
    (
        i64::try_from(seq >> 24).unwrap_or(i64::MAX),
        u32::try_from(seq & (MAX_TXS_PER_BLOCK - 1)).unwrap_or(0),
    )
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
}
