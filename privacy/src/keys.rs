//! SM2 key types: [`PublicKey`], [`PrivateKey`] and the [`KeyId`] that names a
//! public key in envelopes and logs.
//!
//! A private key never appears in `Debug` output, and its scalar is zeroized
//! when the key is dropped (the `sm2` crate's `SecretKey` does that).

use std::fmt;

use sm2::elliptic_curve::sec1::ToSec1Point;
use sm2::pkcs8::{DecodePublicKey, EncodePublicKey, LineEnding};

use crate::error::{Error, Result};
use crate::hash::sm3;

/// Length of an uncompressed SEC1 public key: `04 ‖ x ‖ y`.
pub const PUBLIC_KEY_LEN: usize = 65;

/// The identifier of an SM2 public key: SM3 of its 65-byte uncompressed SEC1
/// encoding. Envelopes name their recipients by it (`docs/envelope.md`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; 32]);

impl KeyId {
    /// The key id as lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", &self.to_hex()[..16])
    }
}

/// An SM2 public key on the recommended curve `sm2p256v1`.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    inner: sm2::PublicKey,
}

impl PublicKey {
    /// Parses a public key from SEC1 bytes: 65 bytes `04 ‖ x ‖ y`, 33 bytes
    /// compressed, or the 64 bytes `x ‖ y` that FISCO BCOS uses as a node id.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let inner = if bytes.len() == 64 {
            let mut sec1 = [0u8; PUBLIC_KEY_LEN];
            sec1[0] = 0x04;
            sec1[1..].copy_from_slice(bytes);
            sm2::PublicKey::from_sec1_bytes(&sec1)
        } else {
            sm2::PublicKey::from_sec1_bytes(bytes)
        }
        .map_err(|_| {
            Error::InvalidPublicKey(format!(
                "{} bytes that are not a point on sm2p256v1",
                bytes.len()
            ))
        })?;
        Ok(Self { inner })
    }

    /// The 65-byte uncompressed SEC1 encoding `04 ‖ x ‖ y`.
    pub fn to_uncompressed(&self) -> [u8; PUBLIC_KEY_LEN] {
        let point = self.inner.as_affine().to_sec1_point(false);
        let mut out = [0u8; PUBLIC_KEY_LEN];
        out.copy_from_slice(point.as_bytes());
        out
    }

    /// This key's [`KeyId`].
    pub fn key_id(&self) -> KeyId {
        KeyId(sm3(&self.to_uncompressed()))
    }

    /// Parses a SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`), as
    /// written by `openssl pkey -pubout`.
    pub fn from_spki_pem(pem: &str) -> Result<Self> {
        let inner = sm2::PublicKey::from_public_key_pem(pem).map_err(|e| {
            Error::InvalidPublicKey(format!("not an SM2 SubjectPublicKeyInfo PEM: {e}"))
        })?;
        Ok(Self { inner })
    }

    /// Parses a SubjectPublicKeyInfo DER.
    pub fn from_spki_der(der: &[u8]) -> Result<Self> {
        let inner = sm2::PublicKey::from_public_key_der(der).map_err(|e| {
            Error::InvalidPublicKey(format!("not an SM2 SubjectPublicKeyInfo: {e}"))
        })?;
        Ok(Self { inner })
    }

    /// Writes the key as a SubjectPublicKeyInfo PEM that `openssl pkeyutl
    /// -encrypt -pubin` accepts.
    pub fn to_spki_pem(&self) -> Result<String> {
        self.inner
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| Error::KeyFormat(format!("cannot encode public key: {e}")))
    }

    pub(crate) fn inner(&self) -> &sm2::PublicKey {
        &self.inner
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PublicKey").field(&self.key_id()).finish()
    }
}

/// An SM2 private key. Zeroized on drop; `Debug` shows only its key id.
///
/// Besides the scalar it keeps the `sm2` crate's decrypting and signing keys
/// ready, because building them costs a scalar multiplication (about 20% of
/// an SM2 decryption). Those types do not zeroize themselves, so they are held
/// in [`Overwritten`], which replaces them with the key for scalar 1 on drop.
#[derive(Clone)]
pub struct PrivateKey {
    secret: sm2::SecretKey,
    public: PublicKey,
    decrypting: Overwritten<sm2::pke::DecryptingKey>,
    /// For the default user id; `None` only if the `sm2` crate refused to
    /// build it, in which case signing builds a key per call.
    signing: Option<Overwritten<sm2::dsa::SigningKey>>,
}

/// A heap-held value from the `sm2` crate that holds a secret scalar but does
/// not zeroize it: on drop it is overwritten in place with a harmless value
/// (the key for scalar 1) before the memory is freed. `black_box` keeps the
/// compiler from discarding the overwrite as a dead store (best effort, as
/// any zeroization in safe Rust).
pub(crate) struct Overwritten<T> {
    inner: Box<T>,
    blank: fn() -> Option<T>,
}

impl<T: Clone> Clone for Overwritten<T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            blank: self.blank,
        }
    }
}

impl<T> Overwritten<T> {
    pub(crate) fn get(&self) -> &T {
        &self.inner
    }
}

impl<T> Drop for Overwritten<T> {
    fn drop(&mut self) {
        if let Some(blank) = (self.blank)() {
            *self.inner = blank;
        }
        std::hint::black_box(&*self.inner);
    }
}

fn scalar_one() -> Option<sm2::NonZeroScalar> {
    sm2::NonZeroScalar::new(sm2::Scalar::ONE).into_option()
}

fn blank_decrypting() -> Option<sm2::pke::DecryptingKey> {
    Some(sm2::pke::DecryptingKey::new_with_mode(
        scalar_one()?,
        sm2::pke::Mode::C1C3C2,
    ))
}

fn blank_signing() -> Option<sm2::dsa::SigningKey> {
    sm2::dsa::SigningKey::from_nonzero_scalar(crate::sign::DEFAULT_USER_ID, scalar_one()?).ok()
}

impl PrivateKey {
    /// Generates a fresh key from the operating system's random source.
    pub fn generate() -> Result<Self> {
        let mut rng = getrandom::SysRng;
        Self::generate_with(&mut rng)
    }

    /// Generates a key from `rng` (a seeded RNG makes reproducible test keys).
    pub fn generate_with<R: rand_core::TryCryptoRng + ?Sized>(rng: &mut R) -> Result<Self> {
        use sm2::elliptic_curve::Generate;
        let secret = sm2::SecretKey::try_generate_from_rng(rng).map_err(|_| Error::Rng)?;
        Ok(Self::from_secret(secret))
    }

    /// Parses the 32-byte big-endian private scalar `d`.
    pub fn from_scalar_bytes(bytes: &[u8]) -> Result<Self> {
        let secret = sm2::SecretKey::from_slice(bytes).map_err(|_| {
            Error::InvalidPrivateKey(format!(
                "{} bytes that are not a scalar in [1, n-1]",
                bytes.len()
            ))
        })?;
        Ok(Self::from_secret(secret))
    }

    pub(crate) fn from_secret(secret: sm2::SecretKey) -> Self {
        let public = PublicKey {
            inner: secret.public_key(),
        };
        let scalar = secret.to_nonzero_scalar();
        let decrypting = Overwritten {
            inner: Box::new(sm2::pke::DecryptingKey::new_with_mode(
                scalar,
                sm2::pke::Mode::C1C3C2,
            )),
            blank: blank_decrypting,
        };
        let signing = sm2::dsa::SigningKey::new(crate::sign::DEFAULT_USER_ID, &secret)
            .ok()
            .map(|k| Overwritten {
                inner: Box::new(k),
                blank: blank_signing,
            });
        Self {
            secret,
            public,
            decrypting,
            signing,
        }
    }

    /// The 32-byte private scalar. Handle with care: it is the key.
    pub fn to_scalar_bytes(&self) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new(self.secret.to_bytes().into())
    }

    /// The matching public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// The key id of the matching public key.
    pub fn key_id(&self) -> KeyId {
        self.public.key_id()
    }

    pub(crate) fn secret(&self) -> &sm2::SecretKey {
        &self.secret
    }

    pub(crate) fn decrypting_key(&self) -> &sm2::pke::DecryptingKey {
        self.decrypting.get()
    }

    /// The signing key for the default user id, if prepared.
    pub(crate) fn default_signing_key(&self) -> Option<&sm2::dsa::SigningKey> {
        self.signing.as_ref().map(Overwritten::get)
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("key_id", &self.key_id())
            .finish_non_exhaustive()
    }
}
