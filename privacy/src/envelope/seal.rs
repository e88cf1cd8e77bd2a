//! Sealing (`docs/envelope.md` §6), one-shot or with a reused session key (§8).

use zeroize::Zeroizing;

use super::der_util::recipient_info_der;
use super::{
    DATA_KEY_LEN, DataKey, Envelope, NONCE_LEN, OID_SM2_ENCRYPT, PAYLOAD_LEN_MAX, PROFILE_V1,
    RECIPIENTS_MAX, Recipient, TxContext, key_commitment,
};
use crate::error::{Error, Result};
use crate::keys::{KeyId, PublicKey};
use crate::pke::{CipherFormat, encrypt_with};
use crate::symmetric::gcm_seal;

/// Most envelopes sealed under one data key (the random-nonce bound of GCM).
pub const SESSION_ENVELOPES_MAX: u64 = 1 << 32;

/// A sender's data key, wrapped once for a fixed set of recipients and reused
/// for a session of transactions with a fresh nonce each time.
pub struct SealingSession {
    data_key: DataKey,
    commitment: [u8; 32],
    /// `(rid, wrap)` in DER SET OF order.
    wraps: Vec<(KeyId, Vec<u8>)>,
    sealed: u64,
}

impl std::fmt::Debug for SealingSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealingSession")
            .field(
                "recipients",
                &self.wraps.iter().map(|w| w.0).collect::<Vec<_>>(),
            )
            .field("sealed", &self.sealed)
            .finish_non_exhaustive()
    }
}

impl SealingSession {
    /// A new session for `recipients` with a fresh data key from the OS.
    pub fn new(recipients: &[PublicKey]) -> Result<Self> {
        Self::new_with(&mut getrandom::SysRng, recipients)
    }

    /// A new session drawing its data key and SM2 nonces from `rng`.
    pub fn new_with<R: rand_core::TryCryptoRng>(
        rng: &mut R,
        recipients: &[PublicKey],
    ) -> Result<Self> {
        let mut data_key: DataKey = Zeroizing::new([0u8; DATA_KEY_LEN]);
        rng.try_fill_bytes(&mut *data_key).map_err(|_| Error::Rng)?;
        Self::with_data_key(rng, data_key, recipients)
    }

    /// A session over a given data key. Used to build test vectors; a sender
    /// should let [`SealingSession::new`] draw the key.
    pub fn with_data_key<R: rand_core::TryCryptoRng>(
        rng: &mut R,
        data_key: DataKey,
        recipients: &[PublicKey],
    ) -> Result<Self> {
        if recipients.is_empty() || recipients.len() > RECIPIENTS_MAX {
            return Err(Error::Seal(format!(
                "an envelope has 1 to {RECIPIENTS_MAX} recipients, got {}",
                recipients.len()
            )));
        }
        let mut wraps: Vec<(KeyId, Vec<u8>)> = Vec::with_capacity(recipients.len());
        for pk in recipients {
            let rid = pk.key_id();
            if wraps.iter().any(|(r, _)| *r == rid) {
                return Err(Error::Seal(format!("recipient {rid} is listed twice")));
            }
            let wrap = encrypt_with(pk, rng, &*data_key, CipherFormat::Der)?;
            wraps.push((rid, wrap));
        }
        // DER SET OF order: sorted by the encoded RecipientInfo.
        let mut keyed = Vec::with_capacity(wraps.len());
        for (rid, wrap) in wraps {
            let der = recipient_info_der(&Recipient {
                rid,
                algorithm: OID_SM2_ENCRYPT,
                wrap: &wrap,
            })
            .map_err(|e| Error::Seal(format!("cannot encode recipient: {e}")))?;
            keyed.push((der, (rid, wrap)));
        }
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        let commitment = key_commitment(&*data_key);
        Ok(Self {
            data_key,
            commitment,
            wraps: keyed.into_iter().map(|(_, w)| w).collect(),
            sealed: 0,
        })
    }

    /// The recipients' key ids, in envelope order.
    pub fn recipients(&self) -> impl Iterator<Item = &KeyId> {
        self.wraps.iter().map(|(rid, _)| rid)
    }

    /// Seals `payload` for transaction `ctx` with a fresh OS nonce.
    pub fn seal(&mut self, ctx: &TxContext, payload: &[u8]) -> Result<Vec<u8>> {
        self.seal_with(&mut getrandom::SysRng, ctx, payload)
    }

    /// Seals `payload` for transaction `ctx`, drawing the nonce from `rng`.
    pub fn seal_with<R: rand_core::TryCryptoRng>(
        &mut self,
        rng: &mut R,
        ctx: &TxContext,
        payload: &[u8],
    ) -> Result<Vec<u8>> {
        if payload.len() > PAYLOAD_LEN_MAX {
            return Err(Error::Seal(format!(
                "payload is {} bytes, more than the limit of {PAYLOAD_LEN_MAX}",
                payload.len()
            )));
        }
        if self.sealed >= SESSION_ENVELOPES_MAX {
            return Err(Error::Seal(
                "this session key has sealed 2^32 envelopes; start a new session".into(),
            ));
        }
        let mut nonce = [0u8; NONCE_LEN];
        rng.try_fill_bytes(&mut nonce).map_err(|_| Error::Rng)?;
        let mut env = Envelope {
            recipients: self
                .wraps
                .iter()
                .map(|(rid, wrap)| Recipient {
                    rid: *rid,
                    algorithm: OID_SM2_ENCRYPT,
                    wrap,
                })
                .collect(),
            nonce,
            ciphertext: &[],
            profile: PROFILE_V1,
            context_digest: ctx.digest(),
            key_commitment: self.commitment,
        };
        let sealed = gcm_seal(&*self.data_key, &nonce, &env.aad(ctx), payload)?;
        env.ciphertext = &sealed;
        let out = env.encode()?;
        self.sealed += 1;
        Ok(out)
    }
}

/// Seals `payload` for `recipients` in transaction `ctx` with a fresh data key.
pub fn seal(recipients: &[PublicKey], ctx: &TxContext, payload: &[u8]) -> Result<Vec<u8>> {
    SealingSession::new(recipients)?.seal(ctx, payload)
}
