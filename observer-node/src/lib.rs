//! `observer-node`: the regulator's view of a FISCO BCOS 3.x group.
//!
//! It owns, in the order data flows through them:
//!
//! - [`backoff`]: retry delays (exponential, with jitter), for every retry
//!   loop of the node.
//! - [`chain`]: the chain model. The JSON-RPC shapes of blocks, transactions
//!   and receipts, their hashes recomputed from their fields, the Merkle roots
//!   and proofs, transaction signatures and the weighted PBFT quorum of sealer
//!   signatures, for national-standard (SM3/SM2) and standard
//!   (keccak256/secp256k1) chains. Nothing served by a node is trusted: every
//!   check is recomputed here, and every failure names the check. The rules,
//!   with the FISCO BCOS source each comes from, are in `docs/chain-compat.md`.
//! - `source` (feature `node`): the JSON-RPC client of a node's endpoints.
//! - `ingest` (feature `node`): fetch → verify → open envelopes → commit, with
//!   several blocks in flight, failover, findings and metrics.
//! - `store` (feature `store`): the RocksDB system of record that later
//!   crates read by height, hash, range and class, and follow by its change
//!   feed.

pub mod backoff;
pub mod chain;
#[cfg(feature = "node")]
pub mod ingest;
#[cfg(feature = "node")]
pub mod source;
#[cfg(feature = "store")]
pub mod store;
