//! SM2 ciphertext parsing and decryption in all three wire formats.
//!
//! Checks, for every input and every `CipherFormat`:
//! - `Sm2Cipher::parse_candidates`, `Sm2Cipher::parse` and
//!   `PrivateKey::decrypt` (fixed key) never panic;
//! - `parse` returns the first of `parse_candidates`' readings;
//! - each candidate re-encodes in the same format and parses back to itself
//!   (the first reading of the canonical `04`-prefixed encoding);
//! - if `decrypt` succeeds, one of the candidates re-encoded as DER decrypts
//!   to the same plaintext (all formats normalise to the same thing).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use lookthrough_fuzz::{SCALAR_1, key};
use privacy::keys::PrivateKey;
use privacy::pke::{CipherFormat, Sm2Cipher};

static KEY: OnceLock<PrivateKey> = OnceLock::new();

const FORMATS: [CipherFormat; 3] = [
    CipherFormat::Der,
    CipherFormat::C1C3C2,
    CipherFormat::C1C2C3,
];

fuzz_target!(|data: &[u8]| {
    let key = KEY.get_or_init(|| key(&SCALAR_1));
    for fmt in FORMATS {
        let candidates = Sm2Cipher::parse_candidates(data, fmt);
        let first = Sm2Cipher::parse(data, fmt);
        match (&candidates, &first) {
            (Ok(c), Ok(f)) => assert_eq!(
                c.first(),
                Some(f),
                "{fmt:?}: parse is not the first candidate"
            ),
            (Err(_), Err(_)) => {}
            (Ok(c), Err(e)) => assert!(
                c.is_empty(),
                "{fmt:?}: candidates {c:?} but parse failed: {e}"
            ),
            (Err(e), Ok(f)) => {
                panic!("{fmt:?}: parse_candidates failed ({e}) but parse gave {f:?}")
            }
        }
        if let Ok(cands) = &candidates {
            for c in cands {
                let enc = c.encode(fmt);
                let back = Sm2Cipher::parse_candidates(&enc, fmt)
                    .unwrap_or_else(|e| panic!("{fmt:?}: encoding of {c:?} does not parse: {e}"));
                assert_eq!(back.first(), Some(c), "{fmt:?}: encode/parse round trip");
            }
        }
        if let Ok(plain) = key.decrypt(data, fmt) {
            let cands = candidates
                .as_ref()
                .expect("decrypt succeeded on unparseable input");
            let agrees = cands.iter().any(|c| {
                key.decrypt(&c.encode(CipherFormat::Der), CipherFormat::Der)
                    .is_ok_and(|p| *p == *plain)
            });
            assert!(
                agrees,
                "{fmt:?}: no DER re-encoding decrypts to the same plaintext"
            );
        }
    }
});
