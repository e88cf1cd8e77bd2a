//! Opening and classification (`docs/envelope.md` §7).

use std::fmt;

use zeroize::Zeroizing;

use super::{DATA_KEY_LEN, DataKey, Envelope, ParseError, TxContext, key_commitment};
use crate::error::Error;
use crate::keyring::Keyring;
use crate::keys::KeyId;
use crate::symmetric::gcm_open;

/// The class of a payload, without its details: what the store indexes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// Not an envelope: a public payload.
    NotEnvelope,
    /// Opened with one of our keys.
    Opened,
    /// An envelope with no wrap for any of our keys.
    NotForUs,
    /// Claims to be an envelope but breaks the spec.
    Malformed,
    /// Made for another transaction.
    WrongContext,
    /// Names our key but does not decrypt with it.
    WrongKey,
    /// Our data key is not the one the envelope commits to.
    Inconsistent,
}

impl Class {
    /// Every class, in a stable order.
    pub const ALL: [Class; 7] = [
        Class::NotEnvelope,
        Class::Opened,
        Class::NotForUs,
        Class::Malformed,
        Class::WrongContext,
        Class::WrongKey,
        Class::Inconsistent,
    ];

    /// The kebab-case name used in the spec, the vectors and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::NotEnvelope => "not-envelope",
            Class::Opened => "opened",
            Class::NotForUs => "not-for-us",
            Class::Malformed => "malformed",
            Class::WrongContext => "wrong-context",
            Class::WrongKey => "wrong-key",
            Class::Inconsistent => "inconsistent",
        }
    }

    /// Parses [`Class::as_str`] output.
    pub fn parse(s: &str) -> Option<Class> {
        Class::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An opened envelope.
pub struct Opened {
    /// The payload. Zeroized on drop; never printed by `Debug`.
    pub payload: Zeroizing<Vec<u8>>,
    /// The key of ours that opened it.
    pub key_id: KeyId,
    /// Every recipient of the envelope.
    pub recipients: Vec<KeyId>,
    /// Whether the data key came from the cache (no SM2 decryption).
    pub from_cache: bool,
}

impl fmt::Debug for Opened {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Opened")
            .field("payload_len", &self.payload.len())
            .field("key_id", &self.key_id)
            .field("recipients", &self.recipients.len())
            .field("from_cache", &self.from_cache)
            .finish()
    }
}

/// What a payload turned out to be. Every payload has exactly one outcome.
#[derive(Debug)]
pub enum Outcome {
    /// Not an envelope.
    NotEnvelope,
    /// Opened.
    Opened(Opened),
    /// An envelope for other keys only.
    NotForUs {
        /// Its recipients.
        recipients: Vec<KeyId>,
    },
    /// Breaks the spec.
    Malformed {
        /// Which field, and how.
        reason: String,
    },
    /// Bound to another transaction.
    WrongContext {
        /// The envelope's `contextDigest`.
        declared: [u8; 32],
        /// The digest of the transaction it arrived in.
        actual: [u8; 32],
    },
    /// A wrap named our key but did not decrypt with it.
    WrongKey {
        /// Our key.
        key_id: KeyId,
    },
    /// The sender gave us a different data key from the committed one.
    Inconsistent {
        /// Our key.
        key_id: KeyId,
    },
}

impl Outcome {
    /// The outcome's [`Class`].
    pub fn class(&self) -> Class {
        match self {
            Outcome::NotEnvelope => Class::NotEnvelope,
            Outcome::Opened(_) => Class::Opened,
            Outcome::NotForUs { .. } => Class::NotForUs,
            Outcome::Malformed { .. } => Class::Malformed,
            Outcome::WrongContext { .. } => Class::WrongContext,
            Outcome::WrongKey { .. } => Class::WrongKey,
            Outcome::Inconsistent { .. } => Class::Inconsistent,
        }
    }

    /// A one-line human explanation, safe to log (no payload, no key).
    pub fn describe(&self) -> String {
        match self {
            Outcome::NotEnvelope => "not an envelope (public payload)".into(),
            Outcome::Opened(o) => {
                format!("opened with key {} ({} bytes)", o.key_id, o.payload.len())
            }
            Outcome::NotForUs { recipients } => format!(
                "private, wrapped for {} recipient(s), none of them our keys",
                recipients.len()
            ),
            Outcome::Malformed { reason } => format!("malformed envelope: {reason}"),
            Outcome::WrongContext { declared, actual } => format!(
                "envelope bound to another transaction (context digest {} != {})",
                hex::encode(&declared[..8]),
                hex::encode(&actual[..8])
            ),
            Outcome::WrongKey { key_id } => {
                format!("the wrap for our key {key_id} does not decrypt with it")
            }
            Outcome::Inconsistent { key_id } => format!(
                "inconsistent envelope: the data key wrapped for {key_id} is not the committed one"
            ),
        }
    }

    /// The payload if opened.
    pub fn payload(&self) -> Option<&[u8]> {
        match self {
            Outcome::Opened(o) => Some(&o.payload),
            _ => None,
        }
    }
}

impl Keyring {
    /// Classifies `payload`, carried by transaction `ctx`, and opens it if it
    /// is an envelope for one of our keys. Never panics, whatever the bytes.
    pub fn open(&self, payload: &[u8], ctx: &TxContext) -> Outcome {
        let env = match Envelope::parse(payload) {
            Ok(env) => env,
            Err(ParseError::NotEnvelope) => return Outcome::NotEnvelope,
            Err(ParseError::Malformed(reason)) => return Outcome::Malformed { reason },
        };
        let actual = ctx.digest();
        if env.context_digest != actual {
            return Outcome::WrongContext {
                declared: env.context_digest,
                actual,
            };
        }
        let recipients: Vec<KeyId> = env.recipients.iter().map(|r| r.rid).collect();
        let ours: Vec<_> = env
            .recipients
            .iter()
            .filter(|r| self.contains(&r.rid))
            .collect();
        if ours.is_empty() {
            return Outcome::NotForUs { recipients };
        }
        let aad = env.aad(ctx);
        let mut last = Outcome::NotForUs {
            recipients: recipients.clone(),
        };
        for r in ours {
            let (data_key, from_cache) = match self.unwrap_data_key(&r.rid, r.wrap) {
                Ok(found) => found,
                Err(UnwrapError::WrongKey) => {
                    last = Outcome::WrongKey { key_id: r.rid };
                    continue;
                }
                Err(UnwrapError::BadLength(n)) => {
                    last = Outcome::Malformed {
                        reason: format!(
                            "the wrapped data key is {n} bytes, expected {DATA_KEY_LEN}"
                        ),
                    };
                    continue;
                }
            };
            if key_commitment(&*data_key) != env.key_commitment {
                last = Outcome::Inconsistent { key_id: r.rid };
                continue;
            }
            match gcm_open(&*data_key, &env.nonce, &aad, env.ciphertext) {
                Ok(plain) => {
                    return Outcome::Opened(Opened {
                        payload: Zeroizing::new(plain),
                        key_id: r.rid,
                        recipients,
                        from_cache,
                    });
                }
                Err(_) => {
                    last = Outcome::Malformed {
                        reason: "content failed authentication (SM4-GCM tag mismatch)".into(),
                    };
                }
            }
        }
        last
    }
}

/// Why a wrap did not give a data key.
pub(crate) enum UnwrapError {
    /// SM2 decryption failed (or the wrap is not a DER SM2Cipher).
    WrongKey,
    /// It decrypted to this many bytes instead of 16.
    BadLength(usize),
}

impl From<Error> for UnwrapError {
    fn from(_: Error) -> Self {
        UnwrapError::WrongKey
    }
}

pub(crate) fn to_data_key(plain: &[u8]) -> Result<DataKey, UnwrapError> {
    let arr: [u8; DATA_KEY_LEN] = plain
        .try_into()
        .map_err(|_| UnwrapError::BadLength(plain.len()))?;
    Ok(Zeroizing::new(arr))
}
