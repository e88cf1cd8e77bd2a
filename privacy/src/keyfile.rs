//! SM2 private keys in PKCS#8 files, plain or passphrase-encrypted (PBES2).
//!
//! Read:
//! - `-----BEGIN PRIVATE KEY-----`: PKCS#8 `PrivateKeyInfo` with algorithm
//!   `id-ecPublicKey` and curve `sm2p256v1`, as `openssl genpkey -algorithm SM2`
//!   and GmSSL write it.
//! - `-----BEGIN ENCRYPTED PRIVATE KEY-----`: PKCS#8 `EncryptedPrivateKeyInfo`
//!   with PBES2 = PBKDF2 (PRF `hmacWithSM3` or `hmacWithSHA256`) and SM4-CBC,
//!   AES-128-CBC or AES-256-CBC. That covers GmSSL's national-standard choice
//!   (PBKDF2-HMAC-SM3 with SM4-CBC) and OpenSSL's defaults.
//!
//! Written: plain PKCS#8, or PBES2 with PBKDF2-HMAC-SM3 and SM4-CBC
//! ([`Pbes2Prf::HmacSm3`], the default) or PBKDF2-HMAC-SHA256 and SM4-CBC
//! ([`Pbes2Prf::HmacSha256`], which OpenSSL 3.0 can also read).
//!
//! The PBES2 structures are decoded here rather than by the `pkcs5` crate
//! because that crate knows neither SM4-CBC nor HMAC-SM3.

use std::path::Path;

use der::asn1::{ObjectIdentifier, OctetString, OctetStringRef};
use der::{Decode, Encode, Sequence};
use sm2::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use spki::AlgorithmIdentifierOwned;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::keys::PrivateKey;

/// The largest PBKDF2 iteration count accepted from a file: higher counts are
/// a denial of service, not security.
pub const PBKDF2_ITERATIONS_MAX: u32 = 10_000_000;
/// The iteration count used when writing encrypted keys.
pub const PBKDF2_ITERATIONS_WRITE: u32 = 100_000;

const OID_PBES2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.5.13");
const OID_PBKDF2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.5.12");
const OID_HMAC_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.2.9");
const OID_HMAC_SM3: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.156.10197.1.401.2");
const OID_SM4_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.156.10197.1.104.2");
const OID_AES128_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.2");
const OID_AES256_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.42");

/// The PBKDF2 pseudo-random function used when writing an encrypted key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Pbes2Prf {
    /// PBKDF2-HMAC-SM3 (GmSSL's choice; OpenSSL 3.0 cannot read it).
    #[default]
    HmacSm3,
    /// PBKDF2-HMAC-SHA256 (readable by `openssl pkey`).
    HmacSha256,
}

#[derive(Sequence)]
struct EncryptedPrivateKeyInfo {
    algorithm: AlgorithmIdentifierOwned,
    data: OctetString,
}

#[derive(Sequence)]
struct Pbes2Params {
    kdf: AlgorithmIdentifierOwned,
    scheme: AlgorithmIdentifierOwned,
}

#[derive(Sequence)]
struct Pbkdf2Params {
    salt: OctetString,
    iterations: u32,
    #[asn1(optional = "true")]
    key_length: Option<u16>,
    #[asn1(optional = "true")]
    prf: Option<AlgorithmIdentifierOwned>,
}

fn fmt_err(reason: impl Into<String>) -> Error {
    Error::KeyFormat(reason.into())
}

impl PrivateKey {
    /// Reads a PKCS#8 PEM key. Encrypted keys need `passphrase`.
    pub fn from_pkcs8_pem(pem: &str, passphrase: Option<&[u8]>) -> Result<Self> {
        let (label, der) = der::pem::decode_vec(pem.trim().as_bytes())
            .map_err(|e| fmt_err(format!("not PEM: {e}")))?;
        let der = Zeroizing::new(der);
        match label {
            "PRIVATE KEY" => Self::from_pkcs8_der(&der),
            "ENCRYPTED PRIVATE KEY" => {
                let passphrase = passphrase
                    .ok_or_else(|| fmt_err("the key is encrypted and no passphrase was given"))?;
                Self::from_encrypted_pkcs8_der(&der, passphrase)
            }
            "EC PRIVATE KEY" => Err(fmt_err(
                "SEC1 'EC PRIVATE KEY' is not supported; convert with `openssl pkcs8 -topk8 -nocrypt`",
            )),
            other => Err(fmt_err(format!(
                "PEM label '{other}' is not a PKCS#8 private key"
            ))),
        }
    }

    /// Reads an unencrypted PKCS#8 DER key.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self> {
        let secret = sm2::SecretKey::from_pkcs8_der(der)
            .map_err(|e| fmt_err(format!("not an SM2 PKCS#8 private key: {e}")))?;
        Ok(Self::from_secret(secret))
    }

    /// Reads a PBES2-encrypted PKCS#8 DER key.
    pub fn from_encrypted_pkcs8_der(der: &[u8], passphrase: &[u8]) -> Result<Self> {
        let info = EncryptedPrivateKeyInfo::from_der(der)
            .map_err(|e| fmt_err(format!("not an EncryptedPrivateKeyInfo: {e}")))?;
        if info.algorithm.oid != OID_PBES2 {
            return Err(fmt_err(format!(
                "encryption algorithm {} is not PBES2",
                info.algorithm.oid
            )));
        }
        let params: Pbes2Params = decode_params(&info.algorithm, "PBES2")?;
        if params.kdf.oid != OID_PBKDF2 {
            return Err(fmt_err(format!(
                "key derivation {} is not PBKDF2",
                params.kdf.oid
            )));
        }
        let kdf: Pbkdf2Params = decode_params(&params.kdf, "PBKDF2")?;
        if kdf.iterations == 0 || kdf.iterations > PBKDF2_ITERATIONS_MAX {
            return Err(fmt_err(format!(
                "PBKDF2 iteration count {} is outside 1..={PBKDF2_ITERATIONS_MAX}",
                kdf.iterations
            )));
        }
        let key_len = match params.scheme.oid {
            o if o == OID_SM4_CBC || o == OID_AES128_CBC => 16,
            o if o == OID_AES256_CBC => 32,
            o => {
                return Err(fmt_err(format!(
                    "encryption scheme {o} is not SM4-CBC, AES-128-CBC or AES-256-CBC"
                )));
            }
        };
        if let Some(len) = kdf.key_length
            && usize::from(len) != key_len
        {
            return Err(fmt_err(format!(
                "PBKDF2 key length {len} does not match the cipher's {key_len}"
            )));
        }
        let iv: OctetString = decode_params(&params.scheme, "cipher IV")?;
        let iv = iv.as_bytes();
        if iv.len() != 16 {
            return Err(fmt_err(format!(
                "cipher IV is {} bytes, expected 16",
                iv.len()
            )));
        }
        let prf = kdf.prf.as_ref().map(|p| p.oid);
        let mut key = Zeroizing::new(vec![0u8; key_len]);
        let salt = kdf.salt.as_bytes();
        match prf {
            Some(o) if o == OID_HMAC_SM3 => {
                pbkdf2::pbkdf2_hmac::<sm3::Sm3>(passphrase, salt, kdf.iterations, &mut key)
            }
            Some(o) if o == OID_HMAC_SHA256 => {
                pbkdf2::pbkdf2_hmac::<sha2::Sha256>(passphrase, salt, kdf.iterations, &mut key)
            }
            Some(o) => {
                return Err(fmt_err(format!(
                    "PBKDF2 PRF {o} is not hmacWithSM3 or hmacWithSHA256"
                )));
            }
            None => {
                return Err(fmt_err(
                    "PBKDF2 PRF hmacWithSHA1 (the default) is not accepted; re-encrypt the key",
                ));
            }
        }
        let plain = Zeroizing::new(cbc_decrypt(
            params.scheme.oid,
            &key,
            iv,
            info.data.as_bytes(),
        )?);
        // A wrong passphrase usually fails the padding check above; when the
        // padding happens to look right the PKCS#8 parse fails here.
        Self::from_pkcs8_der(&plain).map_err(|_| Error::WrongPassphrase)
    }

    /// Writes the key as unencrypted PKCS#8 PEM.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>> {
        self.secret()
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| fmt_err(format!("cannot encode private key: {e}")))
    }

    /// Writes the key as PBES2-encrypted PKCS#8 PEM (SM4-CBC, PBKDF2 with `prf`).
    pub fn to_encrypted_pkcs8_pem(
        &self,
        passphrase: &[u8],
        prf: Pbes2Prf,
    ) -> Result<Zeroizing<String>> {
        let plain = self
            .secret()
            .to_pkcs8_der()
            .map_err(|e| fmt_err(format!("cannot encode private key: {e}")))?;
        let mut salt = [0u8; 16];
        let mut iv = [0u8; 16];
        getrandom::fill(&mut salt).map_err(|_| Error::Rng)?;
        getrandom::fill(&mut iv).map_err(|_| Error::Rng)?;
        let mut key = Zeroizing::new([0u8; 16]);
        let prf_oid = match prf {
            Pbes2Prf::HmacSm3 => {
                pbkdf2::pbkdf2_hmac::<sm3::Sm3>(
                    passphrase,
                    &salt,
                    PBKDF2_ITERATIONS_WRITE,
                    &mut *key,
                );
                OID_HMAC_SM3
            }
            Pbes2Prf::HmacSha256 => {
                pbkdf2::pbkdf2_hmac::<sha2::Sha256>(
                    passphrase,
                    &salt,
                    PBKDF2_ITERATIONS_WRITE,
                    &mut *key,
                );
                OID_HMAC_SHA256
            }
        };
        let data = crate::symmetric::cbc_encrypt(&*key, &iv, plain.as_bytes())?;
        let enc = || -> der::Result<Vec<u8>> {
            let kdf = Pbkdf2Params {
                salt: OctetString::new(salt)?,
                iterations: PBKDF2_ITERATIONS_WRITE,
                key_length: None,
                prf: Some(AlgorithmIdentifierOwned {
                    oid: prf_oid,
                    parameters: Some(der::Any::null()),
                }),
            };
            let params = Pbes2Params {
                kdf: AlgorithmIdentifierOwned {
                    oid: OID_PBKDF2,
                    parameters: Some(der::Any::encode_from(&kdf)?),
                },
                scheme: AlgorithmIdentifierOwned {
                    oid: OID_SM4_CBC,
                    parameters: Some(der::Any::encode_from(&OctetStringRef::new(&iv)?)?),
                },
            };
            EncryptedPrivateKeyInfo {
                algorithm: AlgorithmIdentifierOwned {
                    oid: OID_PBES2,
                    parameters: Some(der::Any::encode_from(&params)?),
                },
                data: OctetString::new(data)?,
            }
            .to_der()
        };
        let der = enc().map_err(|e| fmt_err(format!("cannot encode encrypted key: {e}")))?;
        let pem = der::pem::encode_string("ENCRYPTED PRIVATE KEY", der::pem::LineEnding::LF, &der)
            .map_err(|e| fmt_err(format!("cannot encode PEM: {e}")))?;
        Ok(Zeroizing::new(pem))
    }

    /// Reads a PEM key file. An encrypted key takes its passphrase from the
    /// environment variable `passphrase_env`, which is read only when the key
    /// is encrypted. Errors name the file (and the variable).
    pub fn from_pem_file(path: &Path, passphrase_env: Option<&str>) -> Result<Self> {
        let text = read_key_file(path)?;
        let passphrase = if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
            let var = passphrase_env.ok_or_else(|| Error::KeyFile {
                path: path.to_path_buf(),
                reason: "the key is encrypted and no passphrase variable was given".into(),
            })?;
            Some(passphrase_from_env(var)?)
        } else {
            None
        };
        let source = passphrase_env.map(|v| format!("the passphrase in {v}"));
        Self::parse_key_file(
            path,
            &text,
            passphrase.as_ref().map(|p| p.as_bytes()),
            source,
        )
    }

    /// Reads a PEM key file with a passphrase given directly.
    pub fn from_pem_file_with_passphrase(path: &Path, passphrase: Option<&[u8]>) -> Result<Self> {
        let text = read_key_file(path)?;
        Self::parse_key_file(path, &text, passphrase, None)
    }

    fn parse_key_file(
        path: &Path,
        text: &str,
        passphrase: Option<&[u8]>,
        source: Option<String>,
    ) -> Result<Self> {
        Self::from_pkcs8_pem(text, passphrase).map_err(|e| match e {
            Error::KeyFormat(reason) => Error::KeyFile {
                path: path.to_path_buf(),
                reason,
            },
            Error::WrongPassphrase => Error::KeyFile {
                path: path.to_path_buf(),
                reason: format!(
                    "wrong passphrase ({}), or the encrypted key is corrupt",
                    source.as_deref().unwrap_or("as given")
                ),
            },
            other => other,
        })
    }
}

fn read_key_file(path: &Path) -> Result<Zeroizing<String>> {
    std::fs::read_to_string(path)
        .map(Zeroizing::new)
        .map_err(|e| Error::KeyFile {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
}

/// Reads a passphrase from the environment variable `var`.
pub fn passphrase_from_env(var: &str) -> Result<Zeroizing<String>> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Ok(Zeroizing::new(v)),
        _ => Err(Error::PassphraseMissing(var.to_string())),
    }
}

fn decode_params<T>(alg: &AlgorithmIdentifierOwned, what: &str) -> Result<T>
where
    T: for<'b> Decode<'b, Error = der::Error>,
{
    let any = alg
        .parameters
        .as_ref()
        .ok_or_else(|| fmt_err(format!("{what} parameters are missing")))?;
    let der = any
        .to_der()
        .map_err(|e| fmt_err(format!("{what} parameters: {e}")))?;
    T::from_der(&der).map_err(|e| fmt_err(format!("{what} parameters: {e}")))
}

fn cbc_decrypt(oid: ObjectIdentifier, key: &[u8], iv: &[u8], data: &[u8]) -> Result<Vec<u8>> {
    use cbc::cipher::{BlockModeDecrypt, KeyIvInit, block_padding::Pkcs7};
    let bad_len = || fmt_err("encrypted key is not a whole number of blocks");
    if data.is_empty() || !data.len().is_multiple_of(16) {
        return Err(bad_len());
    }
    let out = if oid == OID_SM4_CBC {
        return crate::symmetric::cbc_decrypt(key, iv, data).map_err(|_| Error::WrongPassphrase);
    } else if oid == OID_AES128_CBC {
        cbc::Decryptor::<aes::Aes128>::new_from_slices(key, iv)
            .map_err(|_| bad_len())?
            .decrypt_padded_vec::<Pkcs7>(data)
    } else {
        cbc::Decryptor::<aes::Aes256>::new_from_slices(key, iv)
            .map_err(|_| bad_len())?
            .decrypt_padded_vec::<Pkcs7>(data)
    };
    out.map_err(|_| Error::WrongPassphrase)
}
