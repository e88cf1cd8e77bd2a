//! The SM2 verification fast path (`chain::sm2verify`) beside the `sm2`
//! crate's own `VerifyingKey::verify`: for any bytes read as `r ‖ s`, a
//! public key and a message, both accept or both refuse, and neither panics.
//! Each input is verified three times by a verifier with a table cache (the
//! key seen once, then with its table) and once by one without tables, alone
//! and in a batch. The first byte, when odd, turns the input into a real
//! signature by the fixture key over the rest, with one byte of `r ‖ s ‖ key`
//! changed where the input says (or none), so that the paths are also
//! compared near valid signatures.
#![no_main]

use std::sync::LazyLock;

use chain::sm2verify::{Sm2Check, Sm2Verifier};
use libfuzzer_sys::fuzz_target;
use lookthrough_fuzz::{SCALAR_1, key};
use privacy::keys::PrivateKey;

static KEY: LazyLock<PrivateKey> = LazyLock::new(|| key(&SCALAR_1));
static CACHED: LazyLock<Sm2Verifier> = LazyLock::new(|| Sm2Verifier::new(8));
static PLAIN: LazyLock<Sm2Verifier> = LazyLock::new(|| Sm2Verifier::new(0));

fn reference(msg: &[u8], rs: &[u8], public: &[u8; 64]) -> bool {
    Sm2Check {
        msg,
        signature: rs,
        public,
    }
    .verify_reference()
}

fn compare(msg: &[u8], rs: &[u8], public: &[u8; 64]) {
    let expected = reference(msg, rs, public);
    let check = Sm2Check {
        msg,
        signature: rs,
        public,
    };
    for round in 0..3 {
        let got = CACHED.verify(check);
        assert_eq!(
            got.is_ok(),
            expected,
            "cached verifier, round {round}: {got:?}"
        );
    }
    let got = PLAIN.verify(check);
    assert_eq!(got.is_ok(), expected, "verifier without tables: {got:?}");
    let batch = CACHED.verify_many(&[check, check]);
    assert!(
        batch.iter().all(|r| r.is_ok() == expected),
        "batch: {batch:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let key = &*KEY;
    let mut own = [0u8; 64];
    own.copy_from_slice(&key.public_key().to_uncompressed()[1..]);
    if let Some((&first, rest)) = data.split_first()
        && first & 1 == 1
        && rest.len() >= 2
    {
        let (at, msg) = rest.split_at(2);
        let Ok(sig) = key.sign(msg) else { return };
        let mut bytes = [0u8; 128];
        bytes[..64].copy_from_slice(&sig);
        bytes[64..].copy_from_slice(&own);
        let i = usize::from(u16::from_be_bytes([at[0], at[1]]));
        if i < bytes.len() {
            bytes[i] ^= first;
        }
        let mut public = [0u8; 64];
        public.copy_from_slice(&bytes[64..]);
        compare(msg, &bytes[..64], &public);
        return;
    }
    // r ‖ s, then a key (or the fixture key when the input is short), then the message.
    if data.len() < 65 {
        return;
    }
    let rs = &data[1..65];
    let rest = &data[65..];
    let (public, msg) = if rest.len() >= 64 && data[0] & 2 == 2 {
        let mut p = [0u8; 64];
        p.copy_from_slice(&rest[..64]);
        (p, &rest[64..])
    } else {
        (own, rest)
    };
    compare(msg, rs, &public);
});
