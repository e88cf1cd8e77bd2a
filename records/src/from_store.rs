//! Reading a stored block in the clear: its transactions as [`TxDoc`]s, each
//! opened record decrypted with the record sealer. A record that does not
//! open with the configured keys is counted and read without its decrypted
//! fields; it never stops the block.

use std::sync::atomic::{AtomicU64, Ordering};

use chain::hexbytes::encode0x;
use privacy::at_rest::RecordSealer;
use store::{Store, StoreError};

use crate::decode::Catalog;
use crate::doc::{TxDoc, from_store};

/// The store could not be read.
#[derive(Debug, thiserror::Error)]
#[error("reading block {height} from the store: {source}")]
pub struct RecordsError {
    /// The block.
    pub height: i64,
    /// Why.
    pub source: StoreError,
}

/// The documents of block `height` and its hash, `None` if it is not
/// stored, their calls and events decoded by `catalog`. Records that do
/// not open add one to `unreadable` each.
pub fn block_docs(
    store: &Store,
    sealer: &RecordSealer,
    catalog: &Catalog,
    height: i64,
    unreadable: &AtomicU64,
) -> Result<Option<(String, Vec<TxDoc>)>, RecordsError> {
    let fail = |source| RecordsError { height, source };
    let Some(block) = store.block(height).map_err(fail)? else {
        return Ok(None);
    };
    let txs = store.transactions_at(height).map_err(fail)?;
    let mut docs = Vec::with_capacity(txs.len());
    for tx in &txs {
        let hash = tx.tx.claimed_hash;
        let plain = match store.record(&hash).map_err(fail)? {
            None => None,
            Some(sealed) => match sealer.open(&hash, &sealed) {
                Ok(p) => Some(p),
                Err(e) => {
                    unreadable.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        tx = %encode0x(&hash),
                        error = %e,
                        "stored record cannot be opened with the configured keys; read without its decrypted fields"
                    );
                    None
                }
            },
        };
        let receipt = store.receipt(&hash).map_err(fail)?;
        docs.push(from_store(
            &block,
            tx,
            receipt.as_ref(),
            plain.as_deref().map(|p| &p[..]),
            catalog,
        ));
    }
    Ok(Some((encode0x(&block.header.claimed_hash), docs)))
}
