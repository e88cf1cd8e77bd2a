//! The two crypto suites of FISCO BCOS 3.x.
//!
//! | | national standard (`sm_crypto`) | standard |
//! |---|---|---|
//! | hash | SM3 | keccak256 |
//! | transaction signature | SM2 `r ‖ s ‖ pub` (128 bytes), user id `1234567812345678` | secp256k1 `r ‖ s ‖ v` (65 bytes), key recovered |
//! | sealer signature | SM2 `r ‖ s` (64 bytes) | secp256k1 `r ‖ s ‖ v` (65 bytes) |
//! | address | last 20 bytes of SM3(pub) | last 20 bytes of keccak256(pub) |
//!
//! Signatures sign the 32-byte hash as the message: SM2 computes
//! `SM3(Z ‖ hash)` with the user id, secp256k1 signs the hash directly.

use sha3::{Digest, Keccak256};

use super::hexbytes::Hash;

/// A 64-byte public key `x ‖ y`, the FISCO BCOS node id.
pub type NodeId = [u8; 64];
/// A 20-byte account address.
pub type Address = [u8; 20];

/// Which crypto a chain uses. The default is the national-standard suite,
/// which the chains a Chinese regulator supervises run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CryptoSuite {
    /// SM3 and SM2 (`sm_crypto=true` in the genesis config).
    #[default]
    Sm,
    /// keccak256 and secp256k1.
    Standard,
}

/// Why a signature was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// Wrong length for the suite.
    #[error("signature is {got} bytes, expected {expected}")]
    Length {
        /// Got.
        got: usize,
        /// Expected.
        expected: usize,
    },
    /// Not a valid signature encoding or public key.
    #[error("malformed signature: {0}")]
    Malformed(String),
    /// Well formed but does not verify (or recovers another key).
    #[error("signature does not verify")]
    Invalid,
}

impl CryptoSuite {
    /// The suite's name as the CLI and docs spell it.
    pub fn name(self) -> &'static str {
        match self {
            CryptoSuite::Sm => "sm",
            CryptoSuite::Standard => "standard",
        }
    }

    /// H over the concatenation of `parts`.
    pub fn hash_parts(self, parts: &[&[u8]]) -> Hash {
        match self {
            CryptoSuite::Sm => privacy::hash::sm3_concat(parts),
            CryptoSuite::Standard => {
                let mut h = Keccak256::new();
                for p in parts {
                    h.update(p);
                }
                h.finalize().into()
            }
        }
    }

    /// H(data).
    pub fn hash(self, data: &[u8]) -> Hash {
        self.hash_parts(&[data])
    }

    /// The address of a public key.
    pub fn address(self, public: &NodeId) -> Address {
        let h = self.hash(public);
        let mut a = [0u8; 20];
        a.copy_from_slice(&h[12..]);
        a
    }

    /// The EIP-55 mixed-case form of a lowercase hex address (no `0x`),
    /// hashed with this suite's H as FISCO BCOS does
    /// (`bcos-crypto/ChecksumAddress.h`): a letter is upper case when the
    /// matching nibble of H(address text) is 8 or more.
    pub fn checksum_address(self, lower_hex: &str) -> String {
        let h = self.hash(lower_hex.as_bytes());
        let mut out = String::with_capacity(lower_hex.len() + 2);
        out.push_str("0x");
        for (i, c) in lower_hex.chars().enumerate() {
            let nibble = (h[i / 2] >> (if i % 2 == 0 { 4 } else { 0 })) & 0x0f;
            if c.is_ascii_alphabetic() && nibble >= 8 {
                out.push(c.to_ascii_uppercase());
            } else {
                out.push(c);
            }
        }
        out
    }

    /// Length of a transaction signature.
    pub fn tx_signature_len(self) -> usize {
        match self {
            CryptoSuite::Sm => 128,
            CryptoSuite::Standard => 65,
        }
    }

    /// Length of a sealer signature.
    pub fn sealer_signature_len(self) -> usize {
        match self {
            CryptoSuite::Sm => 64,
            CryptoSuite::Standard => 65,
        }
    }

    /// Verifies a transaction signature over `hash`; returns the signer's
    /// public key.
    pub fn verify_tx_signature(self, hash: &Hash, sig: &[u8]) -> Result<NodeId, SignatureError> {
        check_len(sig, self.tx_signature_len())?;
        match self {
            CryptoSuite::Sm => {
                let mut public = [0u8; 64];
                public.copy_from_slice(&sig[64..]);
                sm2_verify(hash, &sig[..64], &public)?;
                Ok(public)
            }
            CryptoSuite::Standard => secp256k1_recover(hash, sig),
        }
    }

    /// [`Self::verify_tx_signature`] for many transactions at once: on the
    /// SM suite the points of a batch share one inversion
    /// ([`crate::sm2verify::Sm2Verifier::verify_many`]).
    pub fn verify_tx_signatures(
        self,
        items: &[(&Hash, &[u8])],
    ) -> Vec<Result<NodeId, SignatureError>> {
        match self {
            CryptoSuite::Sm => {
                let mut out: Vec<Result<NodeId, SignatureError>> = Vec::with_capacity(items.len());
                let mut checks = Vec::with_capacity(items.len());
                let mut publics: Vec<(usize, NodeId)> = Vec::with_capacity(items.len());
                for (i, (_, sig)) in items.iter().enumerate() {
                    match check_len(sig, self.tx_signature_len()) {
                        Ok(()) => {
                            let mut public = [0u8; 64];
                            public.copy_from_slice(&sig[64..]);
                            publics.push((i, public));
                            out.push(Ok(public));
                        }
                        Err(e) => out.push(Err(e)),
                    }
                }
                for (i, public) in &publics {
                    let (hash, sig) = items[*i];
                    checks.push(crate::sm2verify::Sm2Check {
                        msg: hash,
                        signature: &sig[..64],
                        public,
                    });
                }
                let results = crate::sm2verify::shared().verify_many(&checks);
                for ((i, _), result) in publics.iter().zip(results) {
                    if let Err(e) = result {
                        out[*i] = Err(e);
                    }
                }
                out
            }
            CryptoSuite::Standard => items
                .iter()
                .map(|(hash, sig)| self.verify_tx_signature(hash, sig))
                .collect(),
        }
    }

    /// Verifies a sealer's signature over a header hash against its node id.
    pub fn verify_sealer_signature(
        self,
        hash: &Hash,
        sig: &[u8],
        node: &NodeId,
    ) -> Result<(), SignatureError> {
        check_len(sig, self.sealer_signature_len())?;
        match self {
            CryptoSuite::Sm => sm2_verify(hash, sig, node),
            CryptoSuite::Standard => {
                if secp256k1_recover(hash, sig)? == *node {
                    Ok(())
                } else {
                    Err(SignatureError::Invalid)
                }
            }
        }
    }
}

fn check_len(sig: &[u8], expected: usize) -> Result<(), SignatureError> {
    if sig.len() == expected {
        Ok(())
    } else {
        Err(SignatureError::Length {
            got: sig.len(),
            expected,
        })
    }
}

fn sm2_verify(hash: &Hash, rs: &[u8], public: &NodeId) -> Result<(), SignatureError> {
    crate::sm2verify::shared().verify(crate::sm2verify::Sm2Check {
        msg: hash,
        signature: rs,
        public,
    })
}

/// Recovers the secp256k1 public key that made `r ‖ s ‖ v` over `hash`.
/// FISCO BCOS does not require low `s`, so a high `s` is normalised (and
/// the recovery id flipped) rather than rejected.
fn secp256k1_recover(hash: &Hash, sig: &[u8]) -> Result<NodeId, SignatureError> {
    use k256::ecdsa::{RecoveryId, Signature, VerifyingKey};
    let v = sig[64];
    let v = match v {
        0 | 1 => v,
        27 | 28 => v - 27,
        other => {
            return Err(SignatureError::Malformed(format!(
                "recovery id v = {other}"
            )));
        }
    };
    let signature = Signature::from_slice(&sig[..64])
        .map_err(|_| SignatureError::Malformed("r or s out of range".into()))?;
    use k256::elliptic_curve::scalar::IsHigh;
    let (signature, v) = if bool::from(signature.s().is_high()) {
        (signature.normalize_s(), v ^ 1)
    } else {
        (signature, v)
    };
    let recid = RecoveryId::from_byte(v)
        .ok_or_else(|| SignatureError::Malformed(format!("recovery id {v}")))?;
    let key = VerifyingKey::recover_from_prehash(hash, &signature, recid)
        .map_err(|_| SignatureError::Invalid)?;
    let point = key.to_sec1_point(false);
    let mut out = [0u8; 64];
    out.copy_from_slice(&point.as_bytes()[1..]);
    Ok(out)
}
