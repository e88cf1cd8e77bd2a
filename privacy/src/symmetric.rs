//! SM4 (GB/T 32907-2016) in the modes lookthrough needs.
//!
//! - SM4-GCM as in RFC 8998 (12-byte nonce, 16-byte tag appended to the
//!   ciphertext), built from the generic `aes_gcm::AesGcm<Sm4, U12>`.
//! - SM4-CBC with PKCS#7 padding, the convention of FISCO BCOS/WeDPR data and
//!   of `openssl enc -sm4-cbc`.
//! - SM4-CTR with a 128-bit big-endian counter, as `openssl enc -sm4-ctr`.

use aes_gcm::{
    AesGcm,
    aead::{Aead, KeyInit, Payload, consts::U12},
};
use cbc::cipher::{
    BlockModeDecrypt, BlockModeEncrypt, KeyIvInit, StreamCipher, block_padding::Pkcs7,
};
use sm4::Sm4;

use crate::error::{Error, Result};

/// SM4 key length in bytes.
pub const SM4_KEY_LEN: usize = 16;
/// SM4 block (and CBC/CTR IV) length in bytes.
pub const SM4_BLOCK_LEN: usize = 16;
/// SM4-GCM nonce length in bytes (RFC 8998).
pub const GCM_NONCE_LEN: usize = 12;
/// SM4-GCM tag length in bytes (RFC 8998).
pub const GCM_TAG_LEN: usize = 16;

type Sm4Gcm = AesGcm<Sm4, U12>;

fn check_len(what: &'static str, got: &[u8], expected: usize) -> Result<()> {
    if got.len() == expected {
        Ok(())
    } else {
        Err(Error::BadLength {
            what,
            expected,
            got: got.len(),
        })
    }
}

fn gcm(key: &[u8], nonce: &[u8]) -> Result<Sm4Gcm> {
    check_len("SM4 key", key, SM4_KEY_LEN)?;
    check_len("SM4-GCM nonce", nonce, GCM_NONCE_LEN)?;
    Sm4Gcm::new_from_slice(key).map_err(|_| Error::BadLength {
        what: "SM4 key",
        expected: SM4_KEY_LEN,
        got: key.len(),
    })
}

fn gcm_nonce(nonce: &[u8]) -> Result<aes_gcm::Nonce<U12>> {
    aes_gcm::Nonce::<U12>::try_from(nonce).map_err(|_| Error::BadLength {
        what: "SM4-GCM nonce",
        expected: GCM_NONCE_LEN,
        got: nonce.len(),
    })
}

/// SM4-GCM encryption: returns `ciphertext ‖ tag`.
pub fn gcm_seal(key: &[u8], nonce: &[u8], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
    let cipher = gcm(key, nonce)?;
    cipher
        .encrypt(
            &gcm_nonce(nonce)?,
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| Error::Seal("SM4-GCM input too long".into()))
}

/// SM4-GCM decryption of `ciphertext ‖ tag`; fails unless the tag verifies.
pub fn gcm_open(key: &[u8], nonce: &[u8], aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>> {
    let cipher = gcm(key, nonce)?;
    if sealed.len() < GCM_TAG_LEN {
        return Err(Error::Sm4DecryptFailed {
            mode: "GCM",
            reason: "shorter than the 16-byte tag",
        });
    }
    cipher
        .decrypt(&gcm_nonce(nonce)?, Payload { msg: sealed, aad })
        .map_err(|_| Error::Sm4DecryptFailed {
            mode: "GCM",
            reason: "authentication tag does not match",
        })
}

/// SM4-CBC encryption with PKCS#7 padding.
pub fn cbc_encrypt(key: &[u8], iv: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
    check_len("SM4 key", key, SM4_KEY_LEN)?;
    check_len("SM4-CBC IV", iv, SM4_BLOCK_LEN)?;
    let enc = cbc::Encryptor::<Sm4>::new_from_slices(key, iv).map_err(|_| Error::BadLength {
        what: "SM4 key",
        expected: SM4_KEY_LEN,
        got: key.len(),
    })?;
    Ok(enc.encrypt_padded_vec::<Pkcs7>(plaintext))
}

/// SM4-CBC decryption, removing and checking PKCS#7 padding.
pub fn cbc_decrypt(key: &[u8], iv: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>> {
    check_len("SM4 key", key, SM4_KEY_LEN)?;
    check_len("SM4-CBC IV", iv, SM4_BLOCK_LEN)?;
    if ciphertext.is_empty() || !ciphertext.len().is_multiple_of(SM4_BLOCK_LEN) {
        return Err(Error::Sm4DecryptFailed {
            mode: "CBC",
            reason: "ciphertext is not a positive multiple of 16 bytes",
        });
    }
    let dec = cbc::Decryptor::<Sm4>::new_from_slices(key, iv).map_err(|_| Error::BadLength {
        what: "SM4 key",
        expected: SM4_KEY_LEN,
        got: key.len(),
    })?;
    dec.decrypt_padded_vec::<Pkcs7>(ciphertext)
        .map_err(|_| Error::Sm4DecryptFailed {
            mode: "CBC",
            reason: "bad PKCS#7 padding (wrong key or corrupt data)",
        })
}

/// SM4-CTR keystream applied to `data` (encryption and decryption are the same).
pub fn ctr_apply(key: &[u8], iv: &[u8], data: &[u8]) -> Result<Vec<u8>> {
    check_len("SM4 key", key, SM4_KEY_LEN)?;
    check_len("SM4-CTR IV", iv, SM4_BLOCK_LEN)?;
    let mut cipher =
        ctr::Ctr128BE::<Sm4>::new_from_slices(key, iv).map_err(|_| Error::BadLength {
            what: "SM4 key",
            expected: SM4_KEY_LEN,
            got: key.len(),
        })?;
    let mut out = data.to_vec();
    cipher.apply_keystream(&mut out);
    Ok(out)
}

/// One SM4 block encryption (ECB of a single block); for known-answer tests
/// and nothing else.
pub fn encrypt_block(key: &[u8; SM4_KEY_LEN], block: &mut [u8; SM4_BLOCK_LEN]) {
    use sm4::cipher::BlockCipherEncrypt;
    let cipher = Sm4::new(key.into());
    cipher.encrypt_block(block.into());
}
