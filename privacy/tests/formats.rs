//! Key files and SM2 ciphertext formats: what real producers write, including
//! their sloppy variants, and clear errors for what cannot be read.

#![allow(clippy::unwrap_used)]

use privacy::Error;
use privacy::keyfile::Pbes2Prf;
use privacy::keys::{PrivateKey, PublicKey};
use privacy::pke::{CipherFormat, Sm2Cipher, encrypt};

/// DER TLV with a short-form length (all test values are < 128 bytes).
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    assert!(content.len() < 128);
    let mut v = vec![tag, content.len() as u8];
    v.extend_from_slice(content);
    v
}

/// An SM2Cipher DER with the coordinates' INTEGER content given verbatim.
fn sm2_der(x: &[u8], y: &[u8], c: &Sm2Cipher) -> Vec<u8> {
    let mut body = tlv(0x02, x);
    body.extend(tlv(0x02, y));
    body.extend(tlv(0x04, &c.c3));
    body.extend(tlv(0x04, &c.c2));
    tlv(0x30, &body)
}

#[test]
fn der_integers_are_normalised() {
    let key = PrivateKey::generate().unwrap();
    let msg = b"0123456789abcdef";
    // Find ciphertexts whose coordinates exercise the cases: a high bit (a
    // canonical encoder adds 00) and a leading zero byte (one byte shorter).
    let mut seen_high = false;
    let mut seen_short = false;
    for _ in 0..2000 {
        let c = Sm2Cipher::parse(
            &encrypt(key.public_key(), msg, CipherFormat::Der).unwrap(),
            CipherFormat::Der,
        )
        .unwrap();
        // Non-minimal: always a leading 00, 33 bytes, even when not needed.
        let padded = |v: &[u8; 32]| [&[0u8][..], v].concat();
        let der = sm2_der(&padded(&c.x), &padded(&c.y), &c);
        assert_eq!(
            key.decrypt(&der, CipherFormat::Der).unwrap().as_slice(),
            msg
        );
        // No sign byte even when the high bit is set (a "negative" INTEGER).
        let der = sm2_der(&c.x, &c.y, &c);
        assert_eq!(
            key.decrypt(&der, CipherFormat::Der).unwrap().as_slice(),
            msg
        );
        seen_high |= c.x[0] >= 0x80 || c.y[0] >= 0x80;
        if c.x[0] == 0 {
            // Short: leading zero bytes stripped, as minimal DER requires.
            let start = c.x.iter().position(|&b| b != 0).unwrap();
            let der = sm2_der(&c.x[start..], &c.y, &c);
            assert_eq!(
                key.decrypt(&der, CipherFormat::Der).unwrap().as_slice(),
                msg
            );
            seen_short = true;
        }
        if seen_high && seen_short {
            return;
        }
    }
    panic!("2000 ciphertexts without a short coordinate: high={seen_high} short={seen_short}");
}

#[test]
fn raw_formats_with_and_without_prefix() {
    let key = PrivateKey::generate().unwrap();
    for format in [CipherFormat::C1C3C2, CipherFormat::C1C2C3] {
        for _ in 0..20 {
            let ct = encrypt(key.public_key(), b"data key 16bytes", format).unwrap();
            assert_eq!(ct[0], 0x04);
            assert_eq!(
                key.decrypt(&ct, format).unwrap().as_slice(),
                b"data key 16bytes"
            );
            assert_eq!(
                key.decrypt(&ct[1..], format).unwrap().as_slice(),
                b"data key 16bytes"
            );
        }
        // The other order does not open (C3 check), it does not misdecrypt.
        let ct = encrypt(key.public_key(), b"data key 16bytes", format).unwrap();
        let other = if format == CipherFormat::C1C3C2 {
            CipherFormat::C1C2C3
        } else {
            CipherFormat::C1C3C2
        };
        assert!(matches!(
            key.decrypt(&ct, other),
            Err(Error::Sm2DecryptFailed)
        ));
    }
}

#[test]
fn sm2_errors_are_named() {
    let key = PrivateKey::generate().unwrap();
    let other = PrivateKey::generate().unwrap();
    let ct = encrypt(key.public_key(), b"x", CipherFormat::Der).unwrap();
    assert!(matches!(
        other.decrypt(&ct, CipherFormat::Der),
        Err(Error::Sm2DecryptFailed)
    ));
    let err = key
        .decrypt(&ct[..ct.len() - 1], CipherFormat::Der)
        .unwrap_err();
    assert!(matches!(err, Error::MalformedSm2Ciphertext { .. }), "{err}");
    let err = key.decrypt(&[0x04; 40], CipherFormat::C1C3C2).unwrap_err();
    assert!(err.to_string().contains("shorter than"), "{err}");
    assert!(encrypt(key.public_key(), b"", CipherFormat::Der).is_err());
}

#[test]
fn public_keys_in_every_encoding() {
    let key = PrivateKey::generate().unwrap();
    let pk = key.public_key();
    let full = pk.to_uncompressed();
    assert_eq!(&PublicKey::from_bytes(&full).unwrap(), pk);
    assert_eq!(
        &PublicKey::from_bytes(&full[1..]).unwrap(),
        pk,
        "FISCO node id form"
    );
    assert_eq!(
        &PublicKey::from_spki_pem(&pk.to_spki_pem().unwrap()).unwrap(),
        pk
    );
    let mut off_curve = full;
    off_curve[64] ^= 1;
    assert!(PublicKey::from_bytes(&off_curve).is_err());
    assert!(PublicKey::from_bytes(&[4; 10]).is_err());
}

#[test]
fn signatures_round_trip_and_reject_forgeries() {
    let key = PrivateKey::generate().unwrap();
    let sig = key.sign(b"block hash").unwrap();
    key.public_key().verify(b"block hash", &sig).unwrap();
    let mut forged = sig;
    forged[10] ^= 1;
    assert!(key.public_key().verify(b"block hash", &forged).is_err());
    assert!(matches!(
        key.public_key().verify(b"block hash", &sig[..63]),
        Err(Error::MalformedSignature(_))
    ));
    let der = privacy::sign::parse_signature(&sig).unwrap().to_der();
    key.public_key()
        .verify(b"block hash", der.as_bytes())
        .unwrap();
    let other = PrivateKey::generate().unwrap();
    assert!(matches!(
        other.public_key().verify(b"block hash", &sig),
        Err(Error::BadSignature)
    ));
}

#[test]
fn pkcs8_round_trips_plain_and_encrypted() {
    let key = PrivateKey::generate().unwrap();
    let plain = key.to_pkcs8_pem().unwrap();
    assert!(plain.starts_with("-----BEGIN PRIVATE KEY-----"));
    assert_eq!(
        PrivateKey::from_pkcs8_pem(&plain, None).unwrap().key_id(),
        key.key_id()
    );
    for prf in [Pbes2Prf::HmacSm3, Pbes2Prf::HmacSha256] {
        let enc = key.to_encrypted_pkcs8_pem(b"correct horse", prf).unwrap();
        assert!(enc.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
        let back = PrivateKey::from_pkcs8_pem(&enc, Some(b"correct horse")).unwrap();
        assert_eq!(back.key_id(), key.key_id());
        let err = PrivateKey::from_pkcs8_pem(&enc, Some(b"wrong horse")).unwrap_err();
        assert!(matches!(err, Error::WrongPassphrase), "{err}");
        let err = PrivateKey::from_pkcs8_pem(&enc, None).unwrap_err();
        assert!(err.to_string().contains("no passphrase"), "{err}");
    }
}

#[test]
fn key_files_name_the_file_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let key = PrivateKey::generate().unwrap();
    let path = dir.path().join("regulator.pem");
    std::fs::write(
        &path,
        key.to_encrypted_pkcs8_pem(b"s3cret", Pbes2Prf::HmacSm3)
            .unwrap()
            .as_bytes(),
    )
    .unwrap();

    let loaded = PrivateKey::from_pem_file_with_passphrase(&path, Some(b"s3cret")).unwrap();
    assert_eq!(loaded.key_id(), key.key_id());

    let err = PrivateKey::from_pem_file_with_passphrase(&path, Some(b"nope"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("regulator.pem") && err.contains("wrong passphrase"),
        "{err}"
    );

    // The variable is named when it is missing (setting variables is tested
    // through the CLI, in a child process).
    let err = PrivateKey::from_pem_file(&path, Some("LT_TEST_KEYFILE_UNSET"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("LT_TEST_KEYFILE_UNSET"), "{err}");
    let err = PrivateKey::from_pem_file(&path, None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("regulator.pem") && err.contains("encrypted"),
        "{err}"
    );

    let missing = dir.path().join("missing.pem");
    let err = PrivateKey::from_pem_file(&missing, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing.pem"), "{err}");

    let garbage = dir.path().join("garbage.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let err = PrivateKey::from_pem_file(&garbage, None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("garbage.pem") && err.contains("CERTIFICATE"),
        "{err}"
    );
}

#[test]
fn debug_output_never_contains_key_material() {
    let key = PrivateKey::from_scalar_bytes(&[0x11; 32]).unwrap();
    let shown = format!("{key:?} {:?}", key.public_key());
    assert!(!shown.contains("1111111111"), "{shown}");
    assert!(shown.contains(&key.key_id().to_hex()[..16]), "{shown}");
    let mut kr = privacy::keyring::Keyring::new();
    kr.add("reg", key).unwrap();
    let shown = format!("{kr:?}");
    assert!(!shown.contains("1111111111"), "{shown}");
}
