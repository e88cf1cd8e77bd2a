//! Encryption at rest of decrypted records.
//!
//! A record lookthrough has opened (a private transaction's plaintext) is
//! stored sealed under SM4-GCM with a [`RecordKey`] derived from a regulator
//! private key, so no extra key file exists: whoever can read the records
//! holds the regulator key anyway.
//!
//! ```text
//! record key = first 16 bytes of HMAC-SM3(key = d, message = "lookthrough/at-rest/v1")
//! ```
//!
//! where `d` is the 32-byte big-endian private scalar. A [`RecordSealer`]
//! holds the record key of every key in a [`Keyring`]: it seals with the
//! keyring's primary key (the first added) and opens with whichever key a
//! sealed record names, so after a key rotation old records still open.
//!
//! # Sealed format (version 1)
//!
//! | bytes        | content                                                    |
//! |--------------|------------------------------------------------------------|
//! | `0`          | format version, `1`                                        |
//! | `1..33`      | [`KeyId`] of the regulator key the record key derives from |
//! | `33..45`     | 12-byte random SM4-GCM nonce                               |
//! | `45..len-16` | SM4-GCM ciphertext (as long as the plaintext)              |
//! | `len-16..`   | 16-byte SM4-GCM tag                                        |
//!
//! The GCM associated data is `version ‖ key id ‖ aad`, where `aad` is the
//! caller's context (the transaction hash in practice): a record moved to
//! another transaction's slot, or re-labelled with another key id, fails to
//! open. Nonces are random, so one record key should seal fewer than 2³²
//! records (NIST SP 800-38D); rotate the regulator key long before that.

use std::collections::HashMap;
use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sm3::Sm3;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::keyring::Keyring;
use crate::keys::{KeyId, PrivateKey};
use crate::symmetric::{GCM_NONCE_LEN, GCM_TAG_LEN, SM4_KEY_LEN, gcm_open, gcm_seal};

/// The format version this build writes and reads.
pub const VERSION: u8 = 1;
/// The HMAC-SM3 message the record key is derived with.
pub const DERIVATION_LABEL: &[u8] = b"lookthrough/at-rest/v1";
/// Length of the header: version, key id and nonce.
pub const HEADER_LEN: usize = 1 + 32 + GCM_NONCE_LEN;
/// Length of the shortest sealed record (an empty plaintext).
pub const MIN_SEALED_LEN: usize = HEADER_LEN + GCM_TAG_LEN;

/// HMAC block size of SM3: keys up to this length are zero-padded to it.
const SM3_BLOCK_LEN: usize = 64;

/// An SM4 key for sealing stored records, derived from a regulator private
/// key. Zeroized on drop; `Debug` shows only the regulator key's id.
#[derive(Clone)]
pub struct RecordKey {
    key: Zeroizing<[u8; SM4_KEY_LEN]>,
    key_id: KeyId,
}

impl RecordKey {
    /// Derives the record key of `key`: the first 16 bytes of
    /// HMAC-SM3(`key`'s private scalar, [`DERIVATION_LABEL`]).
    pub fn derive(key: &PrivateKey) -> Self {
        // HMAC zero-pads a key shorter than the hash's block to the block
        // length, so the 32-byte scalar padded to 64 bytes is the same key,
        // and `KeyInit::new` on a full block cannot fail.
        let mut padded = Zeroizing::new([0u8; SM3_BLOCK_LEN]);
        padded[..32].copy_from_slice(key.to_scalar_bytes().as_slice());
        let mut mac = <Hmac<Sm3> as KeyInit>::new(&(*padded).into());
        mac.update(DERIVATION_LABEL);
        let full = Zeroizing::new(<[u8; 32]>::from(mac.finalize().into_bytes()));
        let mut record_key = Zeroizing::new([0u8; SM4_KEY_LEN]);
        record_key.copy_from_slice(&full[..SM4_KEY_LEN]);
        Self {
            key: record_key,
            key_id: key.key_id(),
        }
    }

    /// The id of the regulator key this record key was derived from.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }
}

impl fmt::Debug for RecordKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// Seals records with the primary regulator key's [`RecordKey`] and opens
/// them with the record key of whichever regulator key they name.
#[derive(Clone)]
pub struct RecordSealer {
    keys: HashMap<KeyId, RecordKey>,
    primary: KeyId,
}

impl fmt::Debug for RecordSealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ids: Vec<&KeyId> = self.keys.keys().collect();
        ids.sort();
        f.debug_struct("RecordSealer")
            .field("primary", &self.primary)
            .field("keys", &ids)
            .finish()
    }
}

impl RecordSealer {
    /// Derives the record key of every key in `keyring`; new records are
    /// sealed with the keyring's [primary](Keyring::primary) key. An empty
    /// keyring is [`Error::NoRecordKey`].
    pub fn from_keyring(keyring: &Keyring) -> Result<Self> {
        let primary = keyring.primary().ok_or(Error::NoRecordKey)?.key.key_id();
        let keys = keyring
            .keys()
            .map(|k| (k.key.key_id(), RecordKey::derive(&k.key)))
            .collect();
        Ok(Self { keys, primary })
    }

    /// The id of the regulator key new records are sealed with.
    pub fn primary_key_id(&self) -> KeyId {
        self.primary
    }

    /// Seals `plaintext` bound to the context `aad` (the transaction hash):
    /// see the [module documentation](self) for the format.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
        let key = self.keys.get(&self.primary).ok_or(Error::NoRecordKey)?;
        let mut nonce = [0u8; GCM_NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| Error::Rng)?;
        let body = gcm_seal(
            key.key.as_slice(),
            &nonce,
            &full_aad(&key.key_id, aad),
            plaintext,
        )?;
        let mut out = Vec::with_capacity(HEADER_LEN + body.len());
        out.push(VERSION);
        out.extend_from_slice(&key.key_id.0);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Opens a record sealed by [`RecordSealer::seal`] with the same `aad`.
    ///
    /// Fails with [`Error::RecordTruncated`], [`Error::RecordVersion`],
    /// [`Error::RecordUnknownKey`] (the record's key is not in the keyring)
    /// or [`Error::RecordAuth`] (another `aad`, or the record was altered).
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let truncated = || Error::RecordTruncated {
            len: sealed.len(),
            min: MIN_SEALED_LEN,
        };
        let (&version, rest) = sealed.split_first().ok_or_else(truncated)?;
        if version != VERSION {
            return Err(Error::RecordVersion(version));
        }
        if sealed.len() < MIN_SEALED_LEN {
            return Err(truncated());
        }
        let (id, rest) = rest.split_at_checked(32).ok_or_else(truncated)?;
        let (nonce, body) = rest.split_at_checked(GCM_NONCE_LEN).ok_or_else(truncated)?;
        let id = KeyId(<[u8; 32]>::try_from(id).map_err(|_| truncated())?);
        let key = self.keys.get(&id).ok_or(Error::RecordUnknownKey(id))?;
        gcm_open(key.key.as_slice(), nonce, &full_aad(&id, aad), body)
            .map(Zeroizing::new)
            .map_err(|e| match e {
                Error::Sm4DecryptFailed { .. } => Error::RecordAuth,
                other => other,
            })
    }
}

/// The GCM associated data: `version ‖ key id ‖ aad`.
fn full_aad(key_id: &KeyId, aad: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + 32 + aad.len());
    out.push(VERSION);
    out.extend_from_slice(&key_id.0);
    out.extend_from_slice(aad);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Checked against `openssl mac -digest SM3 -macopt hexkey:0102…20 HMAC`
    /// over `lookthrough/at-rest/v1`, whose first 16 bytes these are.
    #[test]
    fn derivation_matches_openssl_hmac_sm3() {
        let scalar: Vec<u8> = (1..=32).collect();
        let key = PrivateKey::from_scalar_bytes(&scalar).unwrap();
        let record = RecordKey::derive(&key);
        assert_eq!(
            hex::encode(record.key.as_slice()),
            "581c83496d99ceacb4fe08fc9be3d89c"
        );
        assert_eq!(record.key_id(), key.key_id());
        let debug = format!("{record:?}");
        assert!(!debug.contains("581c8349"), "{debug}");
    }
}
