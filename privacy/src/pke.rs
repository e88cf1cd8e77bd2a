//! SM2 public-key encryption (GB/T 32918.4) in the wire formats of the GM world.
//!
//! | format | layout | who writes it |
//! |---|---|---|
//! | [`CipherFormat::Der`] | GM/T 0009 `SM2Cipher ::= SEQUENCE { x INTEGER, y INTEGER, hash OCTET STRING, ciphertext OCTET STRING }` | OpenSSL, GmSSL, the envelope |
//! | [`CipherFormat::C1C3C2`] | `04 ‖ x ‖ y ‖ C3 ‖ C2` | GB/T 32918-2016, most SDKs |
//! | [`CipherFormat::C1C2C3`] | `04 ‖ x ‖ y ‖ C2 ‖ C3` | the 2010 draft, old Java and JS SDKs |
//!
//! Reading is lenient where real producers are sloppy: raw forms may omit the
//! `04` prefix, and DER integers may be 33 bytes (leading `00`), shorter than
//! 32 bytes, or missing the sign byte. Everything is normalised to the
//! canonical C1C3C2 layout before the `sm2` crate decrypts it. Writing is
//! always canonical.

use sm2::pke::{EncryptingKey, Mode};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::keys::{PrivateKey, PublicKey};

/// Length of C3, the SM3 check value.
const C3_LEN: usize = 32;
/// Length of a coordinate on sm2p256v1.
const COORD_LEN: usize = 32;

/// The wire format of an SM2 ciphertext.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CipherFormat {
    /// GM/T 0009 DER `SM2Cipher` (C1, C3, C2 order inside the SEQUENCE).
    Der,
    /// Raw `[04] ‖ x ‖ y ‖ C3 ‖ C2` (the current standard order).
    C1C3C2,
    /// Raw `[04] ‖ x ‖ y ‖ C2 ‖ C3` (the legacy order).
    C1C2C3,
}

impl CipherFormat {
    fn name(self) -> &'static str {
        match self {
            CipherFormat::Der => "GM/T 0009 DER",
            CipherFormat::C1C3C2 => "C1C3C2",
            CipherFormat::C1C2C3 => "C1C2C3",
        }
    }
}

/// The three parts of an SM2 ciphertext, normalised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sm2Cipher {
    /// C1 = kG, as 32-byte big-endian x and y.
    pub x: [u8; COORD_LEN],
    /// See `x`.
    pub y: [u8; COORD_LEN],
    /// C3 = SM3(x2 ‖ M ‖ y2).
    pub c3: [u8; C3_LEN],
    /// C2 = M ⊕ KDF(x2 ‖ y2).
    pub c2: Vec<u8>,
}

impl Sm2Cipher {
    /// Canonical raw C1C3C2 with the `04` prefix: what the `sm2` crate reads.
    fn to_c1c3c2(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + 2 * COORD_LEN + C3_LEN + self.c2.len());
        out.push(0x04);
        out.extend_from_slice(&self.x);
        out.extend_from_slice(&self.y);
        out.extend_from_slice(&self.c3);
        out.extend_from_slice(&self.c2);
        out
    }

    /// Encodes in `format` (raw forms with the `04` prefix; DER minimal).
    pub fn encode(&self, format: CipherFormat) -> Vec<u8> {
        match format {
            CipherFormat::C1C3C2 => self.to_c1c3c2(),
            CipherFormat::C1C2C3 => {
                let mut out = Vec::with_capacity(1 + 2 * COORD_LEN + C3_LEN + self.c2.len());
                out.push(0x04);
                out.extend_from_slice(&self.x);
                out.extend_from_slice(&self.y);
                out.extend_from_slice(&self.c2);
                out.extend_from_slice(&self.c3);
                out
            }
            CipherFormat::Der => encode_der(self),
        }
    }

    /// Parses `bytes` as DER, or as raw bytes in the given order. For raw
    /// input without the `04` prefix see [`Sm2Cipher::parse_candidates`].
    pub fn parse(bytes: &[u8], format: CipherFormat) -> Result<Self> {
        Self::parse_candidates(bytes, format)?
            .into_iter()
            .next()
            .ok_or_else(|| malformed(format, "too short".into()))
    }

    /// Every reading of `bytes` that is structurally possible. Raw ciphertexts
    /// carry no marker saying whether the `04` prefix is present, so a raw
    /// input starting with `04` has two readings; the C3 check tells which
    /// one is right.
    pub fn parse_candidates(bytes: &[u8], format: CipherFormat) -> Result<Vec<Self>> {
        match format {
            CipherFormat::Der => Ok(vec![parse_der(bytes)?]),
            CipherFormat::C1C3C2 | CipherFormat::C1C2C3 => {
                let mut out = Vec::with_capacity(2);
                if bytes.first() == Some(&0x04)
                    && let Some(c) = split_raw(&bytes[1..], format)
                {
                    out.push(c);
                }
                if let Some(c) = split_raw(bytes, format) {
                    out.push(c);
                }
                if out.is_empty() {
                    return Err(malformed(
                        format,
                        format!(
                            "{} bytes is shorter than C1 (64) + C3 (32) + at least one byte of C2",
                            bytes.len()
                        ),
                    ));
                }
                Ok(out)
            }
        }
    }
}

fn malformed(format: CipherFormat, reason: String) -> Error {
    Error::MalformedSm2Ciphertext {
        format: format.name(),
        reason,
    }
}

/// Splits `x ‖ y ‖ …` (no prefix) into the parts, or `None` if too short.
fn split_raw(body: &[u8], format: CipherFormat) -> Option<Sm2Cipher> {
    if body.len() <= 2 * COORD_LEN + C3_LEN {
        return None;
    }
    let (x, rest) = body.split_at(COORD_LEN);
    let (y, rest) = rest.split_at(COORD_LEN);
    let (c3, c2) = match format {
        CipherFormat::C1C2C3 => {
            let (c2, c3) = rest.split_at(rest.len() - C3_LEN);
            (c3, c2)
        }
        _ => rest.split_at(C3_LEN),
    };
    Some(Sm2Cipher {
        x: x.try_into().ok()?,
        y: y.try_into().ok()?,
        c3: c3.try_into().ok()?,
        c2: c2.to_vec(),
    })
}

/// Normalises a DER INTEGER's content octets to a 32-byte big-endian
/// coordinate: strips sign/padding zeros, left-pads short values.
fn coordinate(content: &[u8], which: &str) -> Result<[u8; COORD_LEN]> {
    let start = content
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(content.len());
    let digits = &content[start..];
    if digits.len() > COORD_LEN {
        return Err(malformed(
            CipherFormat::Der,
            format!(
                "{which} is {} bytes, longer than a coordinate",
                digits.len()
            ),
        ));
    }
    let mut out = [0u8; COORD_LEN];
    out[COORD_LEN - digits.len()..].copy_from_slice(digits);
    Ok(out)
}

fn parse_der(bytes: &[u8]) -> Result<Sm2Cipher> {
    use der::{Decode, Reader, SliceReader, Tag, Tagged, asn1::AnyRef};

    let err = |e: der::Error| malformed(CipherFormat::Der, e.to_string());
    let outer = AnyRef::from_der(bytes).map_err(err)?;
    if outer.tag() != Tag::Sequence {
        return Err(malformed(
            CipherFormat::Der,
            format!("expected a SEQUENCE, found {}", outer.tag()),
        ));
    }
    let mut reader = SliceReader::new(outer.value()).map_err(err)?;
    let mut field = |name: &str, tag: Tag| -> Result<&[u8]> {
        let any: AnyRef<'_> = reader
            .decode()
            .map_err(|e| malformed(CipherFormat::Der, format!("{name}: {e}")))?;
        if any.tag() != tag {
            return Err(malformed(
                CipherFormat::Der,
                format!("{name}: expected {tag}, found {}", any.tag()),
            ));
        }
        Ok(any.value())
    };
    let x = coordinate(field("x", Tag::Integer)?, "x")?;
    let y = coordinate(field("y", Tag::Integer)?, "y")?;
    let c3_bytes = field("hash (C3)", Tag::OctetString)?;
    let c3: [u8; C3_LEN] = c3_bytes.try_into().map_err(|_| {
        malformed(
            CipherFormat::Der,
            format!("hash (C3) is {} bytes, expected 32", c3_bytes.len()),
        )
    })?;
    let c2 = field("ciphertext (C2)", Tag::OctetString)?.to_vec();
    if c2.is_empty() {
        return Err(malformed(
            CipherFormat::Der,
            "ciphertext (C2) is empty".into(),
        ));
    }
    if !reader.is_finished() {
        return Err(malformed(
            CipherFormat::Der,
            "trailing data inside SM2Cipher".into(),
        ));
    }
    Ok(Sm2Cipher { x, y, c3, c2 })
}

fn encode_der(cipher: &Sm2Cipher) -> Vec<u8> {
    use der::{
        Encode,
        asn1::{OctetStringRef, UintRef},
    };
    // Building these cannot fail for in-range lengths; a failure here is a
    // programming error, so it is reported as an empty output that no reader
    // accepts rather than a panic.
    let encode = || -> der::Result<Vec<u8>> {
        let parts = (
            UintRef::new(&cipher.x)?,
            UintRef::new(&cipher.y)?,
            OctetStringRef::new(&cipher.c3)?,
            OctetStringRef::new(&cipher.c2)?,
        );
        let mut body = Vec::new();
        parts.0.encode_to_vec(&mut body)?;
        parts.1.encode_to_vec(&mut body)?;
        parts.2.encode_to_vec(&mut body)?;
        parts.3.encode_to_vec(&mut body)?;
        let mut out = Vec::with_capacity(body.len() + 4);
        der::Header::new(der::Tag::Sequence, der::Length::try_from(body.len())?)
            .encode_to_vec(&mut out)?;
        out.extend_from_slice(&body);
        Ok(out)
    };
    encode().unwrap_or_default()
}

/// Encrypts `msg` to `recipient`, drawing the ephemeral `k` from `rng`.
pub fn encrypt_with<R: rand_core::TryCryptoRng>(
    recipient: &PublicKey,
    rng: &mut R,
    msg: &[u8],
    format: CipherFormat,
) -> Result<Vec<u8>> {
    if msg.is_empty() {
        return Err(Error::Sm2EncryptFailed("the message is empty"));
    }
    let key = EncryptingKey::new_with_mode(*recipient.inner(), Mode::C1C3C2);
    let raw = key
        .encrypt(rng, msg)
        .map_err(|_| Error::Sm2EncryptFailed("the random number generator failed"))?;
    let cipher = Sm2Cipher::parse(&raw, CipherFormat::C1C3C2)?;
    Ok(cipher.encode(format))
}

/// Encrypts `msg` to `recipient` with the operating system's randomness.
pub fn encrypt(recipient: &PublicKey, msg: &[u8], format: CipherFormat) -> Result<Vec<u8>> {
    encrypt_with(recipient, &mut getrandom::SysRng, msg, format)
}

impl PrivateKey {
    /// Decrypts an SM2 ciphertext in `format`; the result is zeroized on drop.
    pub fn decrypt(&self, ciphertext: &[u8], format: CipherFormat) -> Result<Zeroizing<Vec<u8>>> {
        let candidates = Sm2Cipher::parse_candidates(ciphertext, format)?;
        let mut last = Error::Sm2DecryptFailed;
        for candidate in candidates {
            match self.decrypt_cipher(&candidate) {
                Ok(plain) => return Ok(plain),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Decrypts a parsed ciphertext (GB/T 32918.4 §7): C1 must be a point of
    /// the curve other than the identity (the cofactor of sm2p256v1 is 1,
    /// so that is the standard's `[h]C1 ≠ O`), then `(x2, y2) = [d]C1` by the
    /// curve crate's constant-time multiplication, `t = KDF(x2 ‖ y2)` with
    /// SM3, `M = C2 ⊕ t`, and C3 must equal `SM3(x2 ‖ M ‖ y2)`, compared in
    /// constant time. The same steps as the `sm2` crate's own `decrypt`
    /// (which the tests compare it with), without its multiplication of C1
    /// by a scalar to test the cofactor condition, which cost as much as the
    /// decryption itself. The shared point and the plaintext are zeroized.
    pub fn decrypt_cipher(&self, c: &Sm2Cipher) -> Result<Zeroizing<Vec<u8>>> {
        use sm2::elliptic_curve::sec1::{Coordinates, FromSec1Point, ToSec1Point};
        let mut encoded = [0u8; 1 + 2 * COORD_LEN];
        encoded[0] = 0x04;
        encoded[1..=COORD_LEN].copy_from_slice(&c.x);
        encoded[1 + COORD_LEN..].copy_from_slice(&c.y);
        let point = sm2::Sec1Point::from_bytes(encoded).map_err(|_| Error::Sm2DecryptFailed)?;
        let c1: sm2::AffinePoint = Option::from(sm2::AffinePoint::from_sec1_point(&point))
            .ok_or(Error::Sm2DecryptFailed)?;
        if bool::from(c1.is_identity()) {
            return Err(Error::Sm2DecryptFailed);
        }
        let d = self.decrypting_key().as_nonzero_scalar();
        let shared = (sm2::ProjectivePoint::from(c1) * d.as_ref()).to_affine();
        let mut shared = shared.to_sec1_point(false);
        let mut xy = Zeroizing::new([0u8; 2 * COORD_LEN]);
        if let Coordinates::Uncompressed { x, y } = shared.coordinates() {
            xy[..COORD_LEN].copy_from_slice(x);
            xy[COORD_LEN..].copy_from_slice(y);
        }
        zeroize::Zeroize::zeroize(&mut shared);
        unwrap_with_shared_point(&xy, c)
    }

    /// The `sm2` crate's own decryption of a parsed ciphertext: the
    /// reference [`PrivateKey::decrypt_cipher`] is compared with.
    pub fn decrypt_cipher_reference(&self, c: &Sm2Cipher) -> Result<Zeroizing<Vec<u8>>> {
        self.decrypting_key()
            .decrypt(&c.to_c1c3c2())
            .map(Zeroizing::new)
            .map_err(|_| Error::Sm2DecryptFailed)
    }
}

/// The last steps of SM2 decryption (GB/T 32918.4 §7.1 B4–B7), given the
/// shared point `[d]C1 = (x2, y2)` as 64 bytes: `t = KDF(x2 ‖ y2)` with SM3,
/// `M = C2 ⊕ t`, and C3 must equal `SM3(x2 ‖ M ‖ y2)` (compared in constant
/// time). Shared by [`PrivateKey::decrypt_cipher`] and the evidence of a wrap
/// ([`crate::dleq`]), which knows the shared point but not the key.
pub(crate) fn unwrap_with_shared_point(
    xy: &[u8; 2 * COORD_LEN],
    c: &Sm2Cipher,
) -> Result<Zeroizing<Vec<u8>>> {
    use sm3::Digest as _;
    use subtle::ConstantTimeEq as _;
    let (x2, y2) = xy.split_at(COORD_LEN);
    let mut out = Zeroizing::new(c.c2.clone());
    for (i, chunk) in out.chunks_mut(C3_LEN).enumerate() {
        let counter = u32::try_from(i + 1).map_err(|_| Error::Sm2DecryptFailed)?;
        let mut t = Zeroizing::new(
            sm3::Sm3::new()
                .chain_update(x2)
                .chain_update(y2)
                .chain_update(counter.to_be_bytes())
                .finalize(),
        );
        chunk.iter_mut().zip(t.iter()).for_each(|(m, k)| *m ^= k);
        t.iter_mut().for_each(|b| *b = 0);
    }
    let u = sm3::Sm3::new()
        .chain_update(x2)
        .chain_update(&out[..])
        .chain_update(y2)
        .finalize();
    if !bool::from(u.as_slice().ct_eq(&c.c3[..])) {
        return Err(Error::Sm2DecryptFailed);
    }
    Ok(out)
}
