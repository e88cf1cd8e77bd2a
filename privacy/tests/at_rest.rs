//! Sealing of decrypted records at rest: round trips, random nonces, binding
//! to the transaction, every bit flip and truncation, key rotation, unknown
//! keys and deterministic derivation.

#![allow(clippy::unwrap_used)]

use privacy::Error;
use privacy::at_rest::{MIN_SEALED_LEN, RecordKey, RecordSealer};
use privacy::keyring::Keyring;
use privacy::keys::PrivateKey;
use proptest::prelude::*;

const OLD: [u8; 32] = [0x11; 32];
const NEW: [u8; 32] = [0x22; 32];
const OTHER: [u8; 32] = [0x33; 32];
const TX: &[u8] = b"0x5f0e4f2c9d1b7a3e8c6d4b2a19f7e5d3c1b9a7f5e3d1c9b7a5f3e1d9c7b5a3f1";

fn key(scalar: &[u8; 32]) -> PrivateKey {
    PrivateKey::from_scalar_bytes(scalar).unwrap()
}

/// A keyring holding `scalars` in order (the first is the primary).
fn keyring(scalars: &[&[u8; 32]]) -> Keyring {
    let mut ring = Keyring::new();
    for (i, s) in scalars.iter().enumerate() {
        ring.add(format!("key{i}"), key(s)).unwrap();
    }
    ring
}

fn sealer(scalars: &[&[u8; 32]]) -> RecordSealer {
    RecordSealer::from_keyring(&keyring(scalars)).unwrap()
}

#[test]
fn round_trip() {
    let s = sealer(&[&OLD]);
    for plain in [&b""[..], b"x", b"a private transaction's payload"] {
        let sealed = s.seal(TX, plain).unwrap();
        assert_eq!(sealed.len(), MIN_SEALED_LEN + plain.len());
        assert_eq!(sealed[0], 1);
        assert_eq!(&sealed[1..33], &key(&OLD).key_id().0);
        assert_eq!(s.open(TX, &sealed).unwrap().as_slice(), plain);
    }
}

#[test]
fn two_seals_differ() {
    let s = sealer(&[&OLD]);
    let a = s.seal(TX, b"same plaintext").unwrap();
    let b = s.seal(TX, b"same plaintext").unwrap();
    assert_ne!(a, b);
    assert_ne!(a[33..45], b[33..45], "nonces must differ");
}

#[test]
fn wrong_aad_fails() {
    let s = sealer(&[&OLD]);
    let sealed = s.seal(TX, b"payload").unwrap();
    for aad in [&b""[..], b"0x00", &TX[..TX.len() - 1]] {
        let err = s.open(aad, &sealed).unwrap_err();
        assert!(matches!(err, Error::RecordAuth), "{err}");
        assert!(err.to_string().contains("another transaction"), "{err}");
    }
}

#[test]
fn every_bit_flip_fails() {
    let s = sealer(&[&OLD]);
    let sealed = s.seal(TX, b"tiny").unwrap();
    for byte in 0..sealed.len() {
        for bit in 0..8 {
            let mut bad = sealed.clone();
            bad[byte] ^= 1 << bit;
            let err = s.open(TX, &bad).unwrap_err();
            match byte {
                0 => assert!(matches!(err, Error::RecordVersion(v) if v == 1 ^ (1 << bit))),
                1..33 => assert!(matches!(err, Error::RecordUnknownKey(_)), "{err}"),
                _ => assert!(matches!(err, Error::RecordAuth), "{err}"),
            }
        }
    }
}

#[test]
fn every_truncation_fails() {
    let s = sealer(&[&OLD]);
    let sealed = s.seal(TX, b"tiny").unwrap();
    for len in 0..sealed.len() {
        let err = s.open(TX, &sealed[..len]).unwrap_err();
        if len < MIN_SEALED_LEN {
            assert!(
                matches!(err, Error::RecordTruncated { len: l, .. } if l == len),
                "{len}: {err}"
            );
            assert!(err.to_string().contains(&format!("{len} bytes")), "{err}");
        } else {
            assert!(matches!(err, Error::RecordAuth), "{len}: {err}");
        }
    }
}

#[test]
fn unknown_version_is_named() {
    let s = sealer(&[&OLD]);
    let mut sealed = s.seal(TX, b"payload").unwrap();
    sealed[0] = 2;
    let err = s.open(TX, &sealed).unwrap_err();
    assert!(matches!(err, Error::RecordVersion(2)));
    assert!(err.to_string().contains("version 2"), "{err}");
}

#[test]
fn rotation_opens_old_and_new_records() {
    let before = sealer(&[&OLD]);
    let old_record = before.seal(TX, b"sealed before rotation").unwrap();

    let after = sealer(&[&NEW, &OLD]);
    assert_eq!(after.primary_key_id(), key(&NEW).key_id());
    let new_record = after.seal(TX, b"sealed after rotation").unwrap();
    assert_eq!(&new_record[1..33], &key(&NEW).key_id().0);

    assert_eq!(
        after.open(TX, &old_record).unwrap().as_slice(),
        b"sealed before rotation"
    );
    assert_eq!(
        after.open(TX, &new_record).unwrap().as_slice(),
        b"sealed after rotation"
    );
}

#[test]
fn unknown_key_is_named() {
    let sealed = sealer(&[&OLD]).seal(TX, b"payload").unwrap();
    let err = sealer(&[&NEW, &OTHER]).open(TX, &sealed).unwrap_err();
    let id = key(&OLD).key_id();
    assert!(
        matches!(err, Error::RecordUnknownKey(k) if k == id),
        "{err}"
    );
    assert!(err.to_string().contains(&id.to_hex()), "{err}");
}

#[test]
fn empty_keyring_is_an_error() {
    let err = RecordSealer::from_keyring(&Keyring::new()).unwrap_err();
    assert!(matches!(err, Error::NoRecordKey));
    assert!(err.to_string().contains("no regulator key loaded"), "{err}");
}

#[test]
fn primary_is_the_first_key_added() {
    let ring = keyring(&[&NEW, &OLD, &OTHER]);
    assert_eq!(ring.primary().unwrap().key.key_id(), key(&NEW).key_id());
    assert!(Keyring::new().primary().is_none());
    // A duplicate add is refused and does not change the primary.
    let mut ring = keyring(&[&OLD]);
    ring.add("again", key(&OLD)).unwrap_err();
    ring.add("new", key(&NEW)).unwrap();
    assert_eq!(ring.primary().unwrap().key.key_id(), key(&OLD).key_id());
}

#[test]
fn derivation_is_deterministic() {
    let generated = PrivateKey::from_scalar_bytes(&OTHER).unwrap();
    let mut ring = Keyring::new();
    ring.add("first", generated).unwrap();
    let sealed = RecordSealer::from_keyring(&ring)
        .unwrap()
        .seal(TX, b"payload")
        .unwrap();

    // A fresh keyring holding the same key, reloaded from its scalar bytes.
    let scalar = ring.primary().unwrap().key.to_scalar_bytes();
    let mut fresh = Keyring::new();
    fresh
        .add(
            "reloaded",
            PrivateKey::from_scalar_bytes(scalar.as_slice()).unwrap(),
        )
        .unwrap();
    let opened = RecordSealer::from_keyring(&fresh)
        .unwrap()
        .open(TX, &sealed)
        .unwrap();
    assert_eq!(opened.as_slice(), b"payload");
}

#[test]
fn debug_shows_no_key_material() {
    let k = key(&OLD);
    let record = RecordKey::derive(&k);
    assert_eq!(record.key_id(), k.key_id());
    let debug = format!("{record:?} {:?}", sealer(&[&OLD]));
    assert!(debug.contains("KeyId("), "{debug}");
    assert!(!debug.contains("1111"), "{debug}");
}

proptest! {
    #[test]
    fn round_trip_arbitrary(
        plain in proptest::collection::vec(any::<u8>(), 0..4096),
        aad in proptest::collection::vec(any::<u8>(), 0..128),
    ) {
        let s = sealer(&[&OLD]);
        let sealed = s.seal(&aad, &plain).unwrap();
        prop_assert_eq!(sealed.len(), MIN_SEALED_LEN + plain.len());
        let opened = s.open(&aad, &sealed).unwrap();
        prop_assert_eq!(opened.as_slice(), plain.as_slice());
    }

    #[test]
    fn open_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = sealer(&[&OLD]).open(TX, &bytes);
    }
}
