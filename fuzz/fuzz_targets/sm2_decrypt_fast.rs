//! The SM2 decryption fast path beside the `sm2` crate's own decryption:
//! for any bytes read as a ciphertext (each reading of each wire format),
//! `PrivateKey::decrypt_cipher` and `decrypt_cipher_reference` give the
//! same plaintext or both refuse, and neither panics. The first byte, when
//! odd, turns the input into a real ciphertext for the key (its message the
//! rest of the input) with one byte changed at a place the input picks, so
//! that the paths are also compared near valid ciphertexts.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use lookthrough_fuzz::{SCALAR_1, key};
use privacy::keys::PrivateKey;
use privacy::pke::{CipherFormat, Sm2Cipher, encrypt_with};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

static KEY: OnceLock<PrivateKey> = OnceLock::new();

fn compare(key: &PrivateKey, c: &Sm2Cipher) {
    let fast = key.decrypt_cipher(c).map(|p| p.to_vec());
    let reference = key.decrypt_cipher_reference(c).map(|p| p.to_vec());
    match (&fast, &reference) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "different plaintexts"),
        (Err(_), Err(_)) => {}
        _ => panic!("the paths disagree: fast {fast:?}, crate {reference:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let key = KEY.get_or_init(|| key(&SCALAR_1));
    if let Some((&first, rest)) = data.split_first()
        && first & 1 == 1
        && rest.len() >= 3
    {
        let (at, msg) = rest.split_at(2);
        let mut rng = ChaCha20Rng::seed_from_u64(u64::from(first));
        let Ok(raw) = encrypt_with(key.public_key(), &mut rng, msg, CipherFormat::C1C3C2) else {
            return;
        };
        let mut raw = raw;
        let i = usize::from(u16::from_be_bytes([at[0], at[1]])) % raw.len();
        raw[i] ^= first | 1;
        for c in Sm2Cipher::parse_candidates(&raw, CipherFormat::C1C3C2).unwrap_or_default() {
            compare(key, &c);
        }
        return;
    }
    for fmt in [CipherFormat::Der, CipherFormat::C1C3C2, CipherFormat::C1C2C3] {
        for c in Sm2Cipher::parse_candidates(data, fmt).unwrap_or_default() {
            compare(key, &c);
        }
    }
});
