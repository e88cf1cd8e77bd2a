//! Key parsing: PKCS#8 PEM (plain and PBES2-encrypted), PKCS#8 DER,
//! EncryptedPrivateKeyInfo DER, SubjectPublicKeyInfo DER and PEM, raw SEC1
//! public keys and raw scalars.
//!
//! Checks: nothing panics; every key that parses re-encodes (PKCS#8 PEM /
//! SPKI PEM) and parses back to the same key.
//!
//! The passphrase is the fixed `b"pass"`. PBKDF2 iteration counts up to
//! `PBKDF2_ITERATIONS_MAX` (10,000,000) are honoured, so an input naming a
//! large count is slow (seconds): that is the library's documented cap, not a
//! hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lookthrough_fuzz::PASSPHRASE;
use privacy::keys::{PrivateKey, PublicKey};

fn private_round_trip(k: &PrivateKey) {
    let pem = k.to_pkcs8_pem().expect("a parsed private key must encode");
    let back = PrivateKey::from_pkcs8_pem(&pem, None).expect("an encoded private key must parse");
    assert_eq!(
        *back.to_scalar_bytes(),
        *k.to_scalar_bytes(),
        "private key round trip"
    );
    assert_eq!(back.public_key(), k.public_key());
}

fn public_round_trip(k: &PublicKey) {
    let pem = k.to_spki_pem().expect("a parsed public key must encode");
    let back = PublicKey::from_spki_pem(&pem).expect("an encoded public key must parse");
    assert_eq!(&back, k, "public key round trip");
    let raw = PublicKey::from_bytes(&k.to_uncompressed()).expect("uncompressed SEC1");
    assert_eq!(&raw, k, "SEC1 round trip");
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(k) = PrivateKey::from_pkcs8_pem(&text, Some(PASSPHRASE)) {
        private_round_trip(&k);
    }
    let _ = PrivateKey::from_pkcs8_pem(&text, None);
    if let Ok(k) = PrivateKey::from_encrypted_pkcs8_der(data, PASSPHRASE) {
        private_round_trip(&k);
    }
    if let Ok(k) = PrivateKey::from_pkcs8_der(data) {
        private_round_trip(&k);
    }
    if let Ok(k) = PrivateKey::from_scalar_bytes(data) {
        private_round_trip(&k);
    }
    if let Ok(k) = PublicKey::from_spki_der(data) {
        public_round_trip(&k);
    }
    if let Ok(k) = PublicKey::from_spki_pem(&text) {
        public_round_trip(&k);
    }
    if let Ok(k) = PublicKey::from_bytes(data) {
        public_round_trip(&k);
    }
});
