//! `evidence`: packs a court can check.
//!
//! An evidence pack is one JSON file (`docs/evidence.md` is its
//! specification) that shows, for each transaction in it, without the
//! regulator's private key and without the node's store:
//! - the block header and the transaction as the chain serves them, whose
//!   hashes anyone recomputes; the block signed by a quorum of the
//!   committee in force, with the chain of committee changes back to the
//!   genesis block;
//! - the Merkle proofs of the transaction and its receipt to the header's
//!   roots;
//! - for a supervised private transaction, the envelope (located in the
//!   transaction's input), the shared point of the regulator's wrap with a
//!   Chaum–Pedersen proof that the regulator's key computed it
//!   ([`privacy::dleq`]), the data key it unwraps to and the plaintext the
//!   envelope decrypts to;
//! - all of it signed by the node's SM2 key and time-stamped.
//!
//! [`pack`] is the format and its reader (bounded, strict: duplicate keys,
//! unknown fields and fractional numbers are refused), [`canonical`] the
//! byte form the seal signs, [`verify`] the verifier, which names the first
//! failing part, and `export` (feature `store`) makes packs from a node's
//! store.

pub mod canonical;
#[cfg(feature = "store")]
pub mod export;
pub mod pack;
pub mod verify;

pub use pack::{Pack, PackError};
pub use verify::{Failure, Verified};
