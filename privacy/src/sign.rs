//! SM2 signatures (GB/T 32918.2) with a distinguishing user id.
//!
//! The default user id is `1234567812345678` (GM/T 0009), which FISCO BCOS
//! uses for every transaction and consensus signature. Signatures are 64 bytes
//! `r ‖ s`; DER `SEQUENCE { r, s }` is read too.

use sm2::dsa::signature::{Signer, Verifier};
use sm2::dsa::{Signature, SigningKey, VerifyingKey};

use crate::error::{Error, Result};
use crate::keys::{PrivateKey, PublicKey};

/// The default SM2 user id (GM/T 0009-2012 §10, and FISCO BCOS).
pub const DEFAULT_USER_ID: &str = "1234567812345678";

/// Length of an `r ‖ s` signature.
pub const SIGNATURE_LEN: usize = 64;

impl PrivateKey {
    /// Signs `msg` with the default user id; returns `r ‖ s`.
    pub fn sign(&self, msg: &[u8]) -> Result<[u8; SIGNATURE_LEN]> {
        match self.default_signing_key() {
            Some(key) => sign_with(key, msg),
            None => self.sign_with_id(DEFAULT_USER_ID, msg),
        }
    }

    /// Signs `msg` with the given user id; returns `r ‖ s`. The nonce is
    /// derived as in RFC 6979, so equal inputs give equal signatures.
    pub fn sign_with_id(&self, user_id: &str, msg: &[u8]) -> Result<[u8; SIGNATURE_LEN]> {
        let key = SigningKey::new(user_id, self.secret()).map_err(|_| {
            Error::InvalidPrivateKey("cannot make a signing key (user id too long?)".into())
        })?;
        sign_with(&key, msg)
    }
}

fn sign_with(key: &SigningKey, msg: &[u8]) -> Result<[u8; SIGNATURE_LEN]> {
    let sig: Signature = key
        .try_sign(msg)
        .map_err(|_| Error::InvalidPrivateKey("signing failed".into()))?;
    Ok(sig.to_bytes().into())
}

impl PublicKey {
    /// Verifies a signature over `msg` with the default user id. `signature`
    /// is 64 bytes `r ‖ s` or DER.
    pub fn verify(&self, msg: &[u8], signature: &[u8]) -> Result<()> {
        self.verify_with_id(DEFAULT_USER_ID, msg, signature)
    }

    /// Verifies a signature over `msg` with the given user id.
    pub fn verify_with_id(&self, user_id: &str, msg: &[u8], signature: &[u8]) -> Result<()> {
        let sig = parse_signature(signature)?;
        let key = VerifyingKey::new(user_id, *self.inner()).map_err(|_| {
            Error::InvalidPublicKey("cannot make a verifying key (user id too long?)".into())
        })?;
        key.verify(msg, &sig).map_err(|_| Error::BadSignature)
    }
}

/// Parses `r ‖ s` (64 bytes) or a DER `SEQUENCE { r INTEGER, s INTEGER }`.
pub fn parse_signature(bytes: &[u8]) -> Result<Signature> {
    if bytes.len() == SIGNATURE_LEN {
        return Signature::from_slice(bytes).map_err(|_| {
            Error::MalformedSignature("r or s is zero or not below the group order".into())
        });
    }
    Signature::from_der(bytes).map_err(|_| {
        Error::MalformedSignature(format!(
            "{} bytes that are neither r||s (64 bytes) nor DER",
            bytes.len()
        ))
    })
}
