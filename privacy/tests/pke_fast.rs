//! The decryption fast path (`PrivateKey::decrypt_cipher`) against the
//! `sm2` crate's own decryption (`decrypt_cipher_reference`): the same
//! plaintext or the same refusal, on random keys, messages and ciphertexts
//! (valid, and with C1, C3 or C2 changed), and on the edge cases: a C1 off
//! the curve, a C1 coordinate at or above the field prime, the point at
//! infinity's coordinates, a C3 or C2 changed in one bit, C2 of every length
//! around the SM3 block. The GB/T 32918 example and OpenSSL's ciphertexts go
//! through `PrivateKey::decrypt`, which is the fast path (`gm_kat.rs`,
//! `openssl_interop.rs`).
//!
//! `PKE_DIFF_CASES` sets how many random cases (default 100,000, run on two
//! threads); `PKE_DIFF_SEED` replays a run (the seed is printed).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use privacy::keys::PrivateKey;
use privacy::pke::{CipherFormat, Sm2Cipher, encrypt_with};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

/// sm2p256v1's field prime p, big-endian.
const P: [u8; 32] = [
    0xff, 0xff, 0xff, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
];

/// Both paths agree on `c`: the same plaintext, or both refuse. Returns
/// whether it decrypted.
fn agree(key: &PrivateKey, c: &Sm2Cipher, what: &str) -> bool {
    let fast = key.decrypt_cipher(c).map(|p| p.to_vec());
    let reference = key.decrypt_cipher_reference(c).map(|p| p.to_vec());
    match (&fast, &reference) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b, "{what}: different plaintexts");
            true
        }
        (Err(_), Err(_)) => false,
        _ => panic!("{what}: fast {fast:?}, reference {reference:?}"),
    }
}

fn cipher(key: &PrivateKey, rng: &mut ChaCha20Rng, msg: &[u8]) -> Sm2Cipher {
    let raw = encrypt_with(key.public_key(), rng, msg, CipherFormat::C1C3C2).unwrap();
    Sm2Cipher::parse(&raw, CipherFormat::C1C3C2).unwrap()
}

fn run(seed: u64, cases: usize) -> (usize, usize) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let keys: Vec<PrivateKey> = (0..16)
        .map(|_| PrivateKey::generate_with(&mut rng).unwrap())
        .collect();
    let (mut opened, mut refused) = (0, 0);
    for i in 0..cases {
        let key = &keys[i % keys.len()];
        let len = 1 + (rng.next_u32() as usize % 200);
        let mut msg = vec![0u8; len];
        rng.fill_bytes(&mut msg);
        let mut c = cipher(key, &mut rng, &msg);
        // Half valid; the rest changed in one part.
        match rng.next_u32() % 8 {
            0 => {
                let b = rng.next_u32() as usize % 32;
                c.c3[b] ^= 1 << (rng.next_u32() % 8);
            }
            1 => {
                let b = rng.next_u32() as usize % c.c2.len();
                c.c2[b] ^= 1 << (rng.next_u32() % 8);
            }
            2 => {
                let b = rng.next_u32() as usize % 32;
                c.y[b] ^= 1 << (rng.next_u32() % 8);
            }
            3 => {
                // Another key's ciphertext.
                let other = &keys[(i + 1) % keys.len()];
                c = cipher(other, &mut rng, &msg);
            }
            _ => {}
        }
        if agree(key, &c, &format!("seed {seed} case {i}")) {
            opened += 1;
        } else {
            refused += 1;
        }
    }
    (opened, refused)
}

#[test]
fn the_fast_path_decrypts_exactly_as_the_crate_on_random_cases() {
    let cases: usize = std::env::var("PKE_DIFF_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let seed: u64 = std::env::var("PKE_DIFF_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(7, |d| d.as_nanos() as u64)
        });
    println!("seed {seed} (PKE_DIFF_SEED={seed} to replay), {cases} cases");
    let halves = std::thread::scope(|s| {
        let a = s.spawn(|| run(seed, cases / 2));
        let b = s.spawn(|| run(seed ^ 0x5eed, cases - cases / 2));
        [a.join().unwrap(), b.join().unwrap()]
    });
    let opened: usize = halves.iter().map(|h| h.0).sum();
    let refused: usize = halves.iter().map(|h| h.1).sum();
    assert_eq!(opened + refused, cases);
    // About half are valid, and a one-bit change is always refused.
    assert!(
        opened > cases * 4 / 10 && refused > cases * 4 / 10,
        "{opened} / {refused}"
    );
}

#[test]
fn edge_cases_are_refused_or_opened_alike() {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let key = PrivateKey::generate_with(&mut rng).unwrap();
    // C2 of every length around the SM3 block: all open.
    for len in [1usize, 31, 32, 33, 63, 64, 65, 1000] {
        let msg = vec![0xa5; len];
        let c = cipher(&key, &mut rng, &msg);
        assert!(agree(&key, &c, &format!("length {len}")));
        assert_eq!(key.decrypt_cipher(&c).unwrap().as_slice(), msg);
    }
    let good = cipher(&key, &mut rng, b"data key");
    let mut cases: Vec<(&str, Sm2Cipher)> = Vec::new();
    let mut off = good.clone();
    off.y[31] ^= 1;
    cases.push(("C1 off the curve", off));
    let mut zero = good.clone();
    zero.x = [0; 32];
    zero.y = [0; 32];
    cases.push(("C1 the infinity's coordinates", zero));
    let mut big = good.clone();
    big.x = P;
    cases.push(("C1 x = p", big));
    let mut big = good.clone();
    big.y = [0xff; 32];
    cases.push(("C1 y above p", big));
    let mut c3 = good.clone();
    c3.c3[0] ^= 0x80;
    cases.push(("C3 changed", c3));
    let mut c2 = good.clone();
    c2.c2[0] ^= 1;
    cases.push(("C2 changed", c2));
    let mut swapped = good.clone();
    std::mem::swap(&mut swapped.x, &mut swapped.y);
    cases.push(("C1 coordinates swapped", swapped));
    for (what, c) in &cases {
        assert!(!agree(&key, c, what), "{what} opened");
    }
    assert!(agree(&key, &good, "the unchanged ciphertext"));
}
