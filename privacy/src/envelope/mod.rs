//! The supervised envelope v1 (`docs/envelope.md`): its ASN.1, sealing and
//! opening.
//!
//! - [`TxContext`] is the transaction an envelope is bound to.
//! - [`Envelope`] is the parsed form, borrowed from the payload bytes, and
//!   encodes back to DER; [`Envelope::parse`] enforces every limit of §9.
//! - [`seal`] and [`SealingSession`] write envelopes (§6, §8 session reuse).
//! - [`crate::keyring::Keyring::open`] classifies any payload (§7) as an
//!   [`Outcome`].

mod der_util;
mod open;
mod seal;

use std::fmt;

use der::asn1::{ObjectIdentifier, OctetStringRef, Utf8StringRef};
use der::{Encode, Tag};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::hash::{sm3, sm3_concat};
use crate::keys::KeyId;

pub use open::{Class, Opened, Outcome};
pub(crate) use open::{UnwrapError, to_data_key};
pub use seal::{SealingSession, seal};

use der_util::tlv;

/// `id-envelopedData` (GM/T 0010).
pub const OID_ENVELOPED_DATA: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.156.10197.6.1.4.2.3");
/// `id-data` (GM/T 0010).
pub const OID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.156.10197.6.1.4.2.1");
/// `id-sm2encrypt` as written (GM/T 0006).
pub const OID_SM2_ENCRYPT: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.156.10197.1.301.3");
/// `id-sm2encrypt` as GmSSL 3 writes it; accepted when reading.
pub const OID_SM2_ENCRYPT_GMSSL: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.156.10197.1.301.2");
/// `id-sm4-gcm` (GM/T 0006).
pub const OID_SM4_GCM: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.156.10197.1.104.8");
/// Content octets of `id-lt-envelopeParams`,
/// 2.25.71940167362147260146832537420117211727.1. The UUID arc does not fit
/// the `u32` arcs of `der`'s OID type, so it is compared as bytes.
pub const OID_LT_ENVELOPE_PARAMS: &[u8] = &[
    0x69, 0xec, 0x9f, 0x96, 0x86, 0x98, 0x8b, 0xe2, 0xb2, 0xfb, 0xa1, 0xad, 0x84, 0x8a, 0xe3, 0xc6,
    0xd9, 0xf4, 0x4f, 0x01,
];

/// `EnvelopedData.version` and `RecipientInfo.version`.
pub const CMS_VERSION: u8 = 2;
/// `EnvelopeParams.profile`: the version of `docs/envelope.md` implemented.
pub const PROFILE_V1: u8 = 1;
/// Domain-separation label of the key commitment.
pub const KEY_COMMITMENT_LABEL: &[u8] = b"lookthrough/envelope/v1/key-commitment";

/// Largest envelope accepted, in bytes.
pub const ENVELOPE_LEN_MAX: usize = 1_114_112;
/// Largest payload sealed or opened, in bytes.
pub const PAYLOAD_LEN_MAX: usize = 1_048_576;
/// Most recipients in one envelope.
pub const RECIPIENTS_MAX: usize = 16;
/// Largest `encryptedKey`, in bytes.
pub const WRAP_LEN_MAX: usize = 160;
/// Longest chain or group id, in bytes.
pub const ID_LEN_MAX: usize = 64;
/// Length of a sender address.
pub const SENDER_LEN: usize = 20;
/// Length of the SM4 data key.
pub const DATA_KEY_LEN: usize = 16;
/// Length of the GCM nonce.
pub const NONCE_LEN: usize = 12;

/// The transaction an envelope is bound to (`TxContext` in the spec).
#[derive(Clone, PartialEq, Eq)]
pub struct TxContext {
    /// FISCO BCOS chain id, e.g. `chain0`.
    pub chain_id: String,
    /// Group id, e.g. `group0`.
    pub group_id: String,
    /// The sender's 20-byte address.
    pub sender: [u8; SENDER_LEN],
}

impl TxContext {
    /// Builds a context, checking the limits of the spec.
    pub fn new(chain_id: &str, group_id: &str, sender: [u8; SENDER_LEN]) -> Result<Self> {
        for (what, id) in [("chain id", chain_id), ("group id", group_id)] {
            if id.is_empty() || id.len() > ID_LEN_MAX {
                return Err(Error::Seal(format!(
                    "{what} must be 1 to {ID_LEN_MAX} bytes, got {}",
                    id.len()
                )));
            }
        }
        Ok(Self {
            chain_id: chain_id.to_string(),
            group_id: group_id.to_string(),
            sender,
        })
    }

    /// Parses `CHAIN/GROUP/SENDER`, the sender as 40 hex digits with or
    /// without `0x`.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |why: &str| {
            Error::Seal(format!(
                "context '{text}': {why} (expected CHAIN/GROUP/0xSENDER)"
            ))
        };
        let mut parts = text.split('/');
        let (Some(chain), Some(group), Some(sender), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("not three parts separated by '/'"));
        };
        let hex_part = sender.strip_prefix("0x").unwrap_or(sender);
        let bytes = hex::decode(hex_part).map_err(|_| bad("sender is not hex"))?;
        let sender: [u8; SENDER_LEN] = bytes
            .try_into()
            .map_err(|_| bad("sender is not a 20-byte address"))?;
        Self::new(chain, group, sender).map_err(|e| bad(&e.to_string()))
    }

    /// `DER(TxContext)`.
    pub fn to_der(&self) -> Vec<u8> {
        let build = || -> der::Result<Vec<u8>> {
            let mut body = Vec::new();
            Utf8StringRef::new(&self.chain_id)?.encode_to_vec(&mut body)?;
            Utf8StringRef::new(&self.group_id)?.encode_to_vec(&mut body)?;
            OctetStringRef::new(&self.sender)?.encode_to_vec(&mut body)?;
            tlv(Tag::Sequence, &body)
        };
        // Lengths are bounded by `new`, so encoding cannot fail.
        build().unwrap_or_default()
    }

    /// `SM3(DER(TxContext))`, the envelope's `contextDigest`.
    pub fn digest(&self) -> [u8; 32] {
        sm3(&self.to_der())
    }
}

impl fmt::Display for TxContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/0x{}",
            self.chain_id,
            self.group_id,
            hex::encode(self.sender)
        )
    }
}

impl fmt::Debug for TxContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TxContext({self})")
    }
}

/// The key commitment of a data key.
pub fn key_commitment(data_key: &[u8]) -> [u8; 32] {
    sm3_concat(&[KEY_COMMITMENT_LABEL, data_key])
}

/// One `RecipientInfo`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipient<'a> {
    /// The recipient's key id.
    pub rid: KeyId,
    /// `keyEncryptionAlgorithm` OID content octets (sm2encrypt).
    pub algorithm: ObjectIdentifier,
    /// DER SM2Cipher of the data key.
    pub wrap: &'a [u8],
}

/// A parsed envelope, borrowing from the payload bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope<'a> {
    /// The recipients in the order they appear.
    pub recipients: Vec<Recipient<'a>>,
    /// SM4-GCM nonce.
    pub nonce: [u8; NONCE_LEN],
    /// SM4-GCM ciphertext ‖ tag.
    pub ciphertext: &'a [u8],
    /// `EnvelopeParams.profile`.
    pub profile: u8,
    /// `EnvelopeParams.contextDigest`.
    pub context_digest: [u8; 32],
    /// `EnvelopeParams.keyCommitment`.
    pub key_commitment: [u8; 32],
}

/// Why a payload did not parse as an envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// The payload does not start like an envelope at all.
    NotEnvelope,
    /// It starts like one but breaks the spec; the reason says where.
    Malformed(String),
}

impl<'a> Envelope<'a> {
    /// Parses `bytes` strictly per `docs/envelope.md` §4 and §9.
    pub fn parse(bytes: &'a [u8]) -> std::result::Result<Self, ParseError> {
        der_util::parse_envelope(bytes)
    }

    /// `DER(EnvelopeAad)` for this envelope in transaction `ctx`.
    pub fn aad(&self, ctx: &TxContext) -> Vec<u8> {
        der_util::encode_aad(ctx, &self.key_commitment, &self.recipients)
    }

    /// Encodes the envelope as DER (`ContentInfo`).
    pub fn encode(&self) -> Result<Vec<u8>> {
        der_util::encode_envelope(self)
            .map_err(|e| Error::Seal(format!("cannot encode envelope: {e}")))
    }
}

/// An SM4 data key, zeroized on drop.
pub type DataKey = Zeroizing<[u8; DATA_KEY_LEN]>;
