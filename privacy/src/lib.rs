//! `privacy`: the national-standard cryptography of lookthrough.
//!
//! It owns SM2 (signatures, public-key encryption in every wire format seen in
//! the GM world), SM3, SM4 (GCM, CBC, CTR), the *supervised envelope* that
//! carries a private transaction's payload to its parties and to the regulator
//! (`docs/envelope.md`), the regulator keyring that opens it, and the sealing
//! at rest of the records it decrypts ([`at_rest`]).
//!
//! It does no network I/O, reads only key files, and never logs or prints key
//! material: private keys and data keys are zeroized when dropped and show only
//! their key id in `Debug`.

pub mod at_rest;
pub mod dleq;
pub mod envelope;
pub mod error;
pub mod hash;
pub mod keyfile;
pub mod keyring;
pub mod keys;
pub mod pke;
pub mod sign;
pub mod symmetric;

pub use error::{Error, Result};
