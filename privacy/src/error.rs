//! The one error type of the `privacy` crate.
//!
//! Envelope *classification* is not an error: a payload that fails to open is
//! described by [`crate::envelope::Outcome`]. These are the failures of the
//! primitives, key files and sealing.

use std::path::PathBuf;

/// Everything that can go wrong in `privacy` outside envelope classification.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bytes that should hold an SM2 public key do not.
    #[error("invalid SM2 public key: {0}")]
    InvalidPublicKey(String),
    /// Bytes that should hold an SM2 private key do not.
    #[error("invalid SM2 private key: {0}")]
    InvalidPrivateKey(String),
    /// An SM2 ciphertext could not be parsed in the format it was given as.
    #[error("malformed SM2 ciphertext ({format}): {reason}")]
    MalformedSm2Ciphertext {
        /// The format the caller said the ciphertext was in.
        format: &'static str,
        /// What was wrong with it.
        reason: String,
    },
    /// The SM2 ciphertext is well formed but its C3 check failed: it was made
    /// for another key, or it was altered.
    #[error("SM2 decryption failed: the ciphertext was not made for this key or was altered")]
    Sm2DecryptFailed,
    /// SM2 encryption was asked to encrypt something it cannot (an empty message).
    #[error("SM2 encryption failed: {0}")]
    Sm2EncryptFailed(&'static str),
    /// A signature is not 64 bytes `r‖s` nor a DER `SEQUENCE { r, s }`.
    #[error("malformed SM2 signature: {0}")]
    MalformedSignature(String),
    /// A well-formed signature does not verify under the given key and user id.
    #[error("SM2 signature does not verify")]
    BadSignature,
    /// A symmetric key, nonce or IV has the wrong length.
    #[error("{what} must be {expected} bytes, got {got}")]
    BadLength {
        /// Which parameter.
        what: &'static str,
        /// Its required length.
        expected: usize,
        /// The length it had.
        got: usize,
    },
    /// SM4 decryption failed (GCM tag mismatch, bad CBC padding).
    #[error("SM4-{mode} decryption failed: {reason}")]
    Sm4DecryptFailed {
        /// GCM, CBC or CTR.
        mode: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// A key file could not be read or understood.
    #[error("key file {path}: {reason}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A PEM/DER key could not be understood (no file involved).
    #[error("key: {0}")]
    KeyFormat(String),
    /// An encrypted key needs a passphrase and none was given.
    #[error("environment variable {0} holding the key passphrase is not set or not UTF-8")]
    PassphraseMissing(String),
    /// The passphrase does not decrypt the key.
    #[error("wrong passphrase, or the encrypted key is corrupt")]
    WrongPassphrase,
    /// Sealing was asked for something the envelope format does not allow.
    #[error("cannot seal envelope: {0}")]
    Seal(String),
    /// A [`crate::at_rest::RecordSealer`] was built from an empty keyring.
    #[error("no regulator key loaded: records cannot be sealed at rest")]
    NoRecordKey,
    /// A sealed record is shorter than its header and tag.
    #[error("sealed record is truncated: {len} bytes, a sealed record has at least {min}")]
    RecordTruncated {
        /// The length it had.
        len: usize,
        /// The shortest sealed record (an empty plaintext).
        min: usize,
    },
    /// A sealed record starts with a format version this build does not know.
    #[error("sealed record has unknown format version {0} (this build reads version 1)")]
    RecordVersion(u8),
    /// A sealed record names a regulator key that is not in the keyring.
    #[error("sealed record was sealed with regulator key {0}, which is not in the keyring")]
    RecordUnknownKey(crate::keys::KeyId),
    /// A sealed record's SM4-GCM tag does not verify.
    #[error(
        "sealed record does not authenticate: it belongs to another transaction or was altered"
    )]
    RecordAuth,
    /// The operating system's random number generator failed.
    #[error("random number generator failed")]
    Rng,
    /// Writing a key or envelope to a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
