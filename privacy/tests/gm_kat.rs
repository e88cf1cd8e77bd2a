//! Every known-answer vector in `tests/data/gm-kat.json` (GB/T 32918, 32905,
//! 32907, RFC 8998) checked against the `privacy` crate.

#![allow(clippy::unwrap_used)]

use privacy::hash::sm3;
use privacy::keys::PrivateKey;
use privacy::pke::{CipherFormat, Sm2Cipher, encrypt_with};
use privacy::symmetric;
use rand_core::{TryCryptoRng, TryRng};
use serde_json::Value;

fn kat() -> Value {
    let text = include_str!("data/gm-kat.json");
    serde_json::from_str(text).expect("gm-kat.json is JSON")
}

fn hex_field(v: &Value, key: &str) -> Vec<u8> {
    let s = v[key].as_str().unwrap_or_else(|| panic!("{key} missing"));
    hex::decode(s).unwrap_or_else(|e| panic!("{key}: {e}"))
}

/// An RNG that yields one fixed value: the standard's ephemeral `k`.
struct FixedK(Vec<u8>);

impl TryRng for FixedK {
    type Error = std::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        unreachable!("SM2 draws k with fill_bytes")
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        unreachable!("SM2 draws k with fill_bytes")
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        assert_eq!(dst.len(), self.0.len(), "k is drawn as 32 bytes");
        dst.copy_from_slice(&self.0);
        Ok(())
    }
}
impl TryCryptoRng for FixedK {}

#[test]
fn sm2_encryption_example_decrypts_and_reproduces() {
    let v = &kat()["sm2_encrypt"];
    let key = PrivateKey::from_scalar_bytes(&hex_field(v, "private_key_d")).unwrap();
    assert_eq!(
        key.public_key().to_uncompressed().to_vec(),
        hex_field(v, "public_key_uncompressed"),
        "public key derived from d"
    );
    let der = hex_field(v, "ciphertext_der_gmt0009");
    let plain = v["plaintext_ascii"].as_str().unwrap().as_bytes();

    // The published ciphertext (its y is a 33-byte INTEGER) opens.
    assert_eq!(
        key.decrypt(&der, CipherFormat::Der).unwrap().as_slice(),
        plain
    );

    // With the standard's k the same ciphertext comes out, in every format.
    let k = hex_field(v, "ephemeral_k");
    let ours = encrypt_with(
        key.public_key(),
        &mut FixedK(k.clone()),
        plain,
        CipherFormat::Der,
    )
    .unwrap();
    let published = Sm2Cipher::parse(&der, CipherFormat::Der).unwrap();
    assert_eq!(
        Sm2Cipher::parse(&ours, CipherFormat::Der).unwrap(),
        published
    );
    // Our DER is minimal, so it equals the published DER byte for byte.
    assert_eq!(ours, der);

    for format in [CipherFormat::C1C3C2, CipherFormat::C1C2C3] {
        let raw = encrypt_with(key.public_key(), &mut FixedK(k.clone()), plain, format).unwrap();
        assert_eq!(raw, published.encode(format));
        assert_eq!(key.decrypt(&raw, format).unwrap().as_slice(), plain);
        // Without the 04 prefix.
        assert_eq!(key.decrypt(&raw[1..], format).unwrap().as_slice(), plain);
    }
    // The raw C1C3C2 layout is 04 || x || y || C3 || C2 as the vector says.
    let raw = published.encode(CipherFormat::C1C3C2);
    assert_eq!(raw[0], 0x04);
    assert_eq!(&raw[65..97], &published.c3);
}

#[test]
fn sm2_signature_example_verifies() {
    let v = &kat()["sm2_sign"];
    let key = PrivateKey::from_scalar_bytes(&hex_field(v, "private_key_d")).unwrap();
    let msg = v["message_ascii"].as_str().unwrap().as_bytes();
    let user_id = v["user_id_ascii"].as_str().unwrap();
    let mut sig = hex_field(v, "r");
    sig.extend(hex_field(v, "s"));
    key.public_key().verify_with_id(user_id, msg, &sig).unwrap();
    // The default user id is the standard's.
    key.public_key().verify(msg, &sig).unwrap();
    // The `sm2` crate derives k by RFC 6979 and takes no caller k, so the
    // published (r, s) cannot be reproduced; our own signature must verify.
    let ours = key.sign(msg).unwrap();
    key.public_key().verify(msg, &ours).unwrap();
    // A different message or user id does not verify.
    assert!(key.public_key().verify(b"message digesT", &sig).is_err());
    assert!(
        key.public_key()
            .verify_with_id("1234567812345679", msg, &sig)
            .is_err()
    );
}

#[test]
fn sm3_examples() {
    for v in kat()["sm3"].as_array().unwrap() {
        let msg = if let Some(m) = v["message_ascii"].as_str() {
            m.as_bytes().to_vec()
        } else {
            let r = &v["message_ascii_repeat"];
            r["text"]
                .as_str()
                .unwrap()
                .repeat(r["times"].as_u64().unwrap() as usize)
                .into_bytes()
        };
        assert_eq!(
            sm3(&msg).to_vec(),
            hex_field(v, "digest"),
            "{}",
            v["source"]
        );
    }
}

#[test]
fn sm4_block_examples() {
    for v in kat()["sm4_block"].as_array().unwrap() {
        let key: [u8; 16] = hex_field(v, "key").try_into().unwrap();
        let mut block: [u8; 16] = hex_field(v, "plaintext").try_into().unwrap();
        let iterations = v["iterations"].as_u64().unwrap_or(1);
        for _ in 0..iterations {
            symmetric::encrypt_block(&key, &mut block);
        }
        assert_eq!(
            block.to_vec(),
            hex_field(v, "ciphertext"),
            "{}",
            v["source"]
        );
    }
}

#[test]
fn sm4_gcm_rfc8998() {
    for v in kat()["sm4_gcm"].as_array().unwrap() {
        let (key, iv, aad) = (hex_field(v, "key"), hex_field(v, "iv"), hex_field(v, "aad"));
        let pt = hex_field(v, "plaintext");
        let mut expected = hex_field(v, "ciphertext");
        expected.extend(hex_field(v, "tag"));
        assert_eq!(symmetric::gcm_seal(&key, &iv, &aad, &pt).unwrap(), expected);
        assert_eq!(symmetric::gcm_open(&key, &iv, &aad, &expected).unwrap(), pt);
        let mut bad = expected.clone();
        bad[0] ^= 1;
        assert!(symmetric::gcm_open(&key, &iv, &aad, &bad).is_err());
        assert!(symmetric::gcm_open(&key, &iv, b"other aad", &expected).is_err());
    }
}
