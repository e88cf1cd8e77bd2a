//! `chain`: the FISCO BCOS 3.x chain model and its verification. Pure: no
//! I/O, no features, every check recomputed from the served bytes (nothing a
//! node serves is trusted), every failure naming its check. The rules, with
//! the FISCO BCOS source each comes from, are in `docs/chain-compat.md`.
//!
//! - [`rpc`]: the JSON-RPC shapes, parsed leniently (with or without the
//!   JSON-RPC envelope) and never panicking.
//! - [`model`]: typed blocks, transactions and receipts, built from [`rpc`]
//!   values with errors that name the field.
//! - [`crypto`]: the two crypto suites (SM and standard): hashes, transaction
//!   signatures with sender recovery, sealer signatures.
//! - [`sm2verify`]: SM2 verification with cached fixed-base tables and batched
//!   inversions, exact to GB/T 32918.2.
//! - [`hashing`] and [`merkle`]: header/transaction/receipt hashes, roots, proofs.
//! - [`verify`]: every check, as a list of named results.
//! - [`rows`]: the compact row form of a receipt (the store's and the log's).

pub mod crypto;
pub mod error;
pub mod hashing;
pub mod hexbytes;
pub mod merkle;
pub mod model;
pub mod payload;
pub mod render;
pub mod rows;
pub mod rpc;
pub mod sm2verify;
pub mod tars;
pub mod verify;

pub use crypto::CryptoSuite;
pub use error::ChainError;
