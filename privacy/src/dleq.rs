//! Evidence that an SM2 wrap opens to a data key, without the private key.
//!
//! An SM2 ciphertext (C1, C3, C2) for public key `P = [d]G` is opened with the
//! shared point `S = [d]C1`: the KDF of `S` unmasks C2 and C3 checks the
//! result. Revealing `S` lets anyone open this one ciphertext, and nothing
//! else; a Chaum–Pedersen proof (a proof of equality of discrete logarithms,
//! DLEQ) shows that `S` was computed with the key whose public half is `P`:
//! `log_G(P) = log_C1(S)`, so `S` is the only point the key's holder could
//! have revealed.
//!
//! The proof is non-interactive (Fiat–Shamir) with SM3 for the challenge:
//!
//! ```text
//! prover:   w random in [1, n−1];  A1 = [w]G;  A2 = [w]C1
//!           c = SM3("lookthrough/evidence/v1/dleq" ‖ G ‖ P ‖ C1 ‖ S ‖ A1 ‖ A2) mod n
//!           z = w + c·d mod n                          proof = (c, z)
//! verifier: A1 = [z]G − [c]P;  A2 = [z]C1 − [c]S;  accept iff c equals the hash again
//! ```
//!
//! Points are hashed as their 65-byte uncompressed SEC 1 encodings (`04 ‖ x ‖ y`);
//! `c` and `z` are 32-byte big-endian integers below `n`. `docs/evidence.md`
//! states this for independent verifiers. Only the curve crate's group
//! operations are used; the prover's multiplications by `w` and `d` are its
//! constant-time ones, and `w`, `c·d` and the shared point are zeroized.

use sm2::elliptic_curve::Generate;
use sm2::elliptic_curve::ff::PrimeField;
use sm2::elliptic_curve::ops::Reduce;
use sm2::elliptic_curve::sec1::{Coordinates, FromSec1Point, ToSec1Point};
use sm2::{AffinePoint, FieldBytes, ProjectivePoint, Scalar};
use zeroize::{Zeroize, Zeroizing};

use crate::keys::{PrivateKey, PublicKey};
use crate::pke::{Sm2Cipher, unwrap_with_shared_point};

/// The domain tag of the challenge hash (the 28 ASCII bytes).
pub const DLEQ_DOMAIN: &[u8] = b"lookthrough/evidence/v1/dleq";

/// The length of an uncompressed point encoding.
pub const POINT_LEN: usize = 65;

/// A revealed shared point with its proof.
#[derive(Clone, PartialEq, Eq)]
pub struct WrapProof {
    /// `S = [d]C1`, uncompressed (`04 ‖ x ‖ y`).
    pub shared: [u8; POINT_LEN],
    /// The challenge `c`.
    pub c: [u8; 32],
    /// The response `z`.
    pub z: [u8; 32],
}

impl std::fmt::Debug for WrapProof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The shared point opens one ciphertext: not printed.
        f.debug_struct("WrapProof")
            .field("c", &hex::encode(self.c))
            .finish_non_exhaustive()
    }
}

/// Why a wrap proof was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WrapProofError {
    /// A point is not on the curve or is the identity.
    #[error("{what} is not a point of the SM2 curve other than the identity")]
    BadPoint {
        /// Which point (`C1`, `the shared point`, `the public key`).
        what: &'static str,
    },
    /// `c` or `z` is not below the group order.
    #[error("the proof's {what} is not an integer below the group order")]
    BadScalar {
        /// `c` or `z`.
        what: &'static str,
    },
    /// The proof does not show `log_G(P) = log_C1(S)`.
    #[error("the DLEQ proof does not verify: the shared point was not computed with this key")]
    ProofFails,
    /// The shared point does not open the ciphertext (C3 fails).
    #[error("the shared point does not open the wrap (C3 does not match)")]
    DoesNotOpen,
    /// The key could not open the wrap (making a proof).
    #[error("the wrap does not decrypt with this key")]
    WrongKey,
    /// The random source failed (making a proof).
    #[error("random number generator failed")]
    Rng,
}

fn encode(p: &AffinePoint) -> Option<[u8; POINT_LEN]> {
    let sec1 = p.to_sec1_point(false);
    let mut out = [0u8; POINT_LEN];
    match sec1.coordinates() {
        Coordinates::Uncompressed { x, y } => {
            out[0] = 0x04;
            out[1..33].copy_from_slice(x);
            out[33..].copy_from_slice(y);
            Some(out)
        }
        _ => None,
    }
}

fn decode(bytes: &[u8; POINT_LEN], what: &'static str) -> Result<AffinePoint, WrapProofError> {
    let bad = WrapProofError::BadPoint { what };
    let point = sm2::Sec1Point::from_bytes(bytes).map_err(|_| bad.clone())?;
    let affine: AffinePoint =
        Option::from(AffinePoint::from_sec1_point(&point)).ok_or_else(|| bad.clone())?;
    if bool::from(affine.is_identity()) {
        return Err(bad);
    }
    Ok(affine)
}

fn c1_of(cipher: &Sm2Cipher) -> [u8; POINT_LEN] {
    let mut out = [0u8; POINT_LEN];
    out[0] = 0x04;
    out[1..33].copy_from_slice(&cipher.x);
    out[33..].copy_from_slice(&cipher.y);
    out
}

fn scalar(bytes: &[u8; 32], what: &'static str) -> Result<Scalar, WrapProofError> {
    Option::from(Scalar::from_repr(FieldBytes::from(*bytes)))
        .ok_or(WrapProofError::BadScalar { what })
}

/// The challenge over the six points, reduced modulo `n`.
fn challenge(points: [&[u8; POINT_LEN]; 6]) -> Scalar {
    use sm3::Digest as _;
    let mut h = sm3::Sm3::new();
    h.update(DLEQ_DOMAIN);
    for p in points {
        h.update(p);
    }
    let digest: [u8; 32] = h.finalize().into();
    <Scalar as Reduce<FieldBytes>>::reduce(&FieldBytes::from(digest))
}

fn generator() -> [u8; POINT_LEN] {
    // The generator always encodes (it is not the identity).
    encode(&AffinePoint::GENERATOR).unwrap_or([0u8; POINT_LEN])
}

/// The 64 bytes `x2 ‖ y2` of an uncompressed point.
fn xy(point: &[u8; POINT_LEN]) -> Zeroizing<[u8; 64]> {
    let mut out = Zeroizing::new([0u8; 64]);
    out.copy_from_slice(&point[1..]);
    out
}

impl PrivateKey {
    /// Opens `cipher` and proves it: the shared point `[d]C1`, a DLEQ proof
    /// that it was computed with this key, and the plaintext (zeroized on
    /// drop). Fails if the wrap does not decrypt with this key.
    pub fn prove_wrap(
        &self,
        cipher: &Sm2Cipher,
    ) -> Result<(WrapProof, Zeroizing<Vec<u8>>), WrapProofError> {
        let c1_bytes = c1_of(cipher);
        let c1 = decode(&c1_bytes, "C1")?;
        let d = self.decrypting_key().as_nonzero_scalar();
        let mut shared_point = (ProjectivePoint::from(c1) * d.as_ref()).to_affine();
        let shared = encode(&shared_point).ok_or(WrapProofError::WrongKey)?;
        shared_point.zeroize();
        let plain =
            unwrap_with_shared_point(&xy(&shared), cipher).map_err(|_| WrapProofError::WrongKey)?;

        let mut rng = getrandom::SysRng;
        let nonce =
            sm2::SecretKey::try_generate_from_rng(&mut rng).map_err(|_| WrapProofError::Rng)?;
        let w = nonce.to_nonzero_scalar();
        let a1 = encode(&(ProjectivePoint::GENERATOR * w.as_ref()).to_affine())
            .ok_or(WrapProofError::Rng)?;
        let a2 = encode(&(ProjectivePoint::from(c1) * w.as_ref()).to_affine())
            .ok_or(WrapProofError::Rng)?;
        let public = self.public_key().to_uncompressed();
        let c = challenge([&generator(), &public, &c1_bytes, &shared, &a1, &a2]);
        let mut cd = c * d.as_ref();
        let z = *w.as_ref() + cd;
        cd.zeroize();
        drop(nonce);
        let proof = WrapProof {
            shared,
            c: c.to_repr().into(),
            z: z.to_repr().into(),
        };
        Ok((proof, plain))
    }
}

/// Checks `proof` for `cipher` wrapped to `public` and returns the plaintext
/// the shared point opens (zeroized on drop): the points are on the curve and
/// not the identity, `c` and `z` are below `n`, the DLEQ equation holds, and
/// C3 matches.
pub fn verify_wrap(
    public: &PublicKey,
    cipher: &Sm2Cipher,
    proof: &WrapProof,
) -> Result<Zeroizing<Vec<u8>>, WrapProofError> {
    verify_dleq(public, &c1_of(cipher), proof)?;
    unwrap_with_shared_point(&xy(&proof.shared), cipher).map_err(|_| WrapProofError::DoesNotOpen)
}

/// Checks the DLEQ proof alone: `proof.shared = [d]C1` for the `d` of
/// `public = [d]G`, with `C1` uncompressed.
pub fn verify_dleq(
    public: &PublicKey,
    c1_bytes: &[u8; POINT_LEN],
    proof: &WrapProof,
) -> Result<(), WrapProofError> {
    let p_bytes = public.to_uncompressed();
    let p = decode(&p_bytes, "the public key")?;
    let c1 = decode(c1_bytes, "C1")?;
    let s = decode(&proof.shared, "the shared point")?;
    let c = scalar(&proof.c, "c")?;
    let z = scalar(&proof.z, "z")?;
    let a1 = (ProjectivePoint::GENERATOR * z - ProjectivePoint::from(p) * c).to_affine();
    let a2 = (ProjectivePoint::from(c1) * z - ProjectivePoint::from(s) * c).to_affine();
    let (Some(a1), Some(a2)) = (encode(&a1), encode(&a2)) else {
        return Err(WrapProofError::ProofFails);
    };
    let again = challenge([&generator(), &p_bytes, c1_bytes, &proof.shared, &a1, &a2]);
    if again != c {
        return Err(WrapProofError::ProofFails);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pke::{CipherFormat, encrypt};

    fn wrap(key: &PrivateKey, msg: &[u8]) -> Sm2Cipher {
        let der = encrypt(key.public_key(), msg, CipherFormat::Der).unwrap();
        Sm2Cipher::parse(&der, CipherFormat::Der).unwrap()
    }

    #[test]
    fn a_proof_opens_the_wrap_for_anyone_and_only_with_its_key() {
        let key = PrivateKey::generate().unwrap();
        let other = PrivateKey::generate().unwrap();
        let cipher = wrap(&key, b"sixteen byte key");
        let (proof, plain) = key.prove_wrap(&cipher).unwrap();
        assert_eq!(&plain[..], b"sixteen byte key");
        let opened = verify_wrap(key.public_key(), &cipher, &proof).unwrap();
        assert_eq!(&opened[..], b"sixteen byte key");
        // Another public key: the proof is about this key only.
        assert_eq!(
            verify_wrap(other.public_key(), &cipher, &proof),
            Err(WrapProofError::ProofFails)
        );
        // The wrong key cannot make one.
        assert_eq!(
            other.prove_wrap(&cipher).map(|_| ()),
            Err(WrapProofError::WrongKey)
        );
    }

    #[test]
    fn every_part_of_the_proof_and_the_wrap_is_bound() {
        let key = PrivateKey::generate().unwrap();
        let cipher = wrap(&key, b"0123456789abcdef");
        let (proof, _) = key.prove_wrap(&cipher).unwrap();
        for i in 0..32 {
            let mut p = proof.clone();
            p.c[i] ^= 1;
            assert!(
                verify_wrap(key.public_key(), &cipher, &p).is_err(),
                "c[{i}]"
            );
            let mut p = proof.clone();
            p.z[i] ^= 0x80;
            assert!(
                verify_wrap(key.public_key(), &cipher, &p).is_err(),
                "z[{i}]"
            );
        }
        for i in 1..POINT_LEN {
            let mut p = proof.clone();
            p.shared[i] ^= 1;
            assert!(
                verify_wrap(key.public_key(), &cipher, &p).is_err(),
                "S[{i}]"
            );
        }
        let mut c = cipher.clone();
        c.c3[0] ^= 1;
        assert_eq!(
            verify_wrap(key.public_key(), &c, &proof),
            Err(WrapProofError::DoesNotOpen)
        );
        let mut c = cipher.clone();
        c.x[31] ^= 1;
        assert!(verify_wrap(key.public_key(), &c, &proof).is_err());
        // c and z at or above n are refused as such.
        let n = hex::decode("fffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54123")
            .unwrap();
        let mut p = proof.clone();
        p.z.copy_from_slice(&n);
        assert_eq!(
            verify_wrap(key.public_key(), &cipher, &p),
            Err(WrapProofError::BadScalar { what: "z" })
        );
        // The identity as the shared point.
        let mut p = proof.clone();
        p.shared = [0u8; POINT_LEN];
        assert_eq!(
            verify_wrap(key.public_key(), &cipher, &p),
            Err(WrapProofError::BadPoint {
                what: "the shared point"
            })
        );
    }

    #[test]
    fn the_shared_point_is_the_one_decryption_uses() {
        // A shared point from another ciphertext of the same key verifies
        // nothing here.
        let key = PrivateKey::generate().unwrap();
        let a = wrap(&key, b"aaaaaaaaaaaaaaaa");
        let b = wrap(&key, b"bbbbbbbbbbbbbbbb");
        let (pa, _) = key.prove_wrap(&a).unwrap();
        assert!(verify_wrap(key.public_key(), &b, &pa).is_err());
    }
}
