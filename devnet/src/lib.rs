//! `devnet`: a local consortium group that produces FISCO BCOS 3.x blocks.
//!
//! It owns the sealers' keys ([`signer`]), the chain they build
//! ([`chain::Devnet`]: genesis, blocks with weighted quorum signatures,
//! receipts, proofs), its EVM ([`evm`]) and business contracts
//! ([`contracts`], installed at genesis), the business workload that calls
//! them ([`workload`]),
//! and the JSON-RPC server that serves it on a real port ([`server`]) with the
//! same methods, positional parameters and errors as a FISCO BCOS node; several
//! servers may serve one chain while a producer ([`server::produce`]) grows it.
//!
//! Blocks are rendered by the chain model's own renderer
//! (`chain::render`), so the verifier reads devnet output
//! through exactly the code path it uses for a real node. Fault modes
//! ([`faults::Fault`]) make one server lie in a chosen way, for tests.

pub mod chain;
pub mod contracts;
pub mod evm;
pub mod faults;
pub mod server;
pub mod signer;
pub mod store;
pub mod workload;

pub use self::chain::{ChainConfig, Devnet};
