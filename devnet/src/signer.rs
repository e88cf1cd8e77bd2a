//! Node and account keys for both crypto suites, and the signatures FISCO
//! BCOS expects: transactions `r ‖ s ‖ pub` (SM2) or `r ‖ s ‖ v`
//! (secp256k1); sealer signatures on headers `r ‖ s` (SM2) or `r ‖ s ‖ v`.

use chain::CryptoSuite;
use chain::crypto::{Address, NodeId};
use chain::hexbytes::Hash;
use rand_core::{Rng, TryCryptoRng};

/// Why a key could not be made or used.
#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    /// The random source failed or gave no valid key.
    #[error("cannot generate a key: {0}")]
    Generate(String),
    /// Signing failed.
    #[error("signing failed: {0}")]
    Sign(String),
}

/// A key pair of either suite.
#[derive(Clone)]
pub enum NodeKey {
    /// SM2.
    Sm(privacy::keys::PrivateKey),
    /// secp256k1.
    Standard(k256::ecdsa::SigningKey),
}

impl std::fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NodeKey({})", hex::encode(&self.node_id()[..8]))
    }
}

impl NodeKey {
    /// A new key for `suite` from `rng` (seeded in tests and `generate`).
    pub fn generate<R: TryCryptoRng + Rng>(
        suite: CryptoSuite,
        rng: &mut R,
    ) -> Result<Self, SignerError> {
        match suite {
            CryptoSuite::Sm => privacy::keys::PrivateKey::generate_with(rng)
                .map(NodeKey::Sm)
                .map_err(|e| SignerError::Generate(e.to_string())),
            CryptoSuite::Standard => {
                for _ in 0..16 {
                    let mut bytes = [0u8; 32];
                    rng.fill_bytes(&mut bytes);
                    if let Ok(k) = k256::ecdsa::SigningKey::from_slice(&bytes) {
                        return Ok(NodeKey::Standard(k));
                    }
                }
                Err(SignerError::Generate(
                    "no valid secp256k1 scalar in 16 draws".into(),
                ))
            }
        }
    }

    /// The suite of this key.
    pub fn suite(&self) -> CryptoSuite {
        match self {
            NodeKey::Sm(_) => CryptoSuite::Sm,
            NodeKey::Standard(_) => CryptoSuite::Standard,
        }
    }

    /// The 64-byte public key (FISCO node id).
    pub fn node_id(&self) -> NodeId {
        let mut out = [0u8; 64];
        match self {
            NodeKey::Sm(k) => out.copy_from_slice(&k.public_key().to_uncompressed()[1..]),
            NodeKey::Standard(k) => {
                let p = k.verifying_key().to_sec1_point(false);
                out.copy_from_slice(&p.as_bytes()[1..]);
            }
        }
        out
    }

    /// The account address.
    pub fn address(&self) -> Address {
        self.suite().address(&self.node_id())
    }

    fn sign_hash(&self, hash: &Hash) -> Result<Vec<u8>, SignerError> {
        match self {
            NodeKey::Sm(k) => k
                .sign(hash)
                .map(|s| s.to_vec())
                .map_err(|e| SignerError::Sign(e.to_string())),
            NodeKey::Standard(k) => {
                let (sig, recid) = k.sign_prehash_recoverable(hash);
                let mut out = sig.to_bytes().to_vec();
                out.push(recid.to_byte());
                Ok(out)
            }
        }
    }

    /// A transaction signature over `hash`.
    pub fn sign_transaction(&self, hash: &Hash) -> Result<Vec<u8>, SignerError> {
        let mut sig = self.sign_hash(hash)?;
        if let NodeKey::Sm(_) = self {
            sig.extend_from_slice(&self.node_id());
        }
        Ok(sig)
    }

    /// A sealer's signature over a header hash.
    pub fn sign_header(&self, hash: &Hash) -> Result<Vec<u8>, SignerError> {
        self.sign_hash(hash)
    }

    /// The private key as 32 bytes (for saving a devnet to disk).
    pub fn secret_bytes(&self) -> [u8; 32] {
        match self {
            NodeKey::Sm(k) => *k.to_scalar_bytes(),
            NodeKey::Standard(k) => k.to_bytes().into(),
        }
    }

    /// A key from its 32 secret bytes.
    pub fn from_secret_bytes(suite: CryptoSuite, bytes: &[u8]) -> Result<Self, SignerError> {
        match suite {
            CryptoSuite::Sm => privacy::keys::PrivateKey::from_scalar_bytes(bytes)
                .map(NodeKey::Sm)
                .map_err(|e| SignerError::Generate(e.to_string())),
            CryptoSuite::Standard => k256::ecdsa::SigningKey::from_slice(bytes)
                .map(NodeKey::Standard)
                .map_err(|e| SignerError::Generate(e.to_string())),
        }
    }
}
