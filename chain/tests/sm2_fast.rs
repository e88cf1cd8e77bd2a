//! The verification fast path (`chain::sm2verify`) against the `sm2` crate's
//! own `VerifyingKey::verify`: the same acceptance or refusal on random keys,
//! messages and signatures (valid, and with `r`, `s`, the message or the key
//! changed), through verifiers with no table cache, a two-table cache that
//! evicts all the time, and a large one; on the edge cases of GB/T 32918.2
//! (`r` or `s` = 0, = n, + n, `t = 0`, `[s]G + [t]P = O`, keys off the
//! curve); on the standard's example; and on signatures OpenSSL made.
//!
//! `SM2_DIFF_CASES` sets how many random cases (default 100,000, on two
//! threads); `SM2_DIFF_SEED` replays a run (the seed is printed).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};

use chain::sm2verify::{Sm2Check, Sm2Verifier};
use privacy::keys::PrivateKey;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use sm2::elliptic_curve::ff::{Field, PrimeField};
use sm2::{FieldBytes, Scalar};

/// The group order n, big-endian.
const N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x72, 0x03, 0xdf, 0x6b, 0x21, 0xc6, 0x05, 0x2b, 0x53, 0xbb, 0xf4, 0x09, 0x39, 0xd5, 0x41, 0x23,
];

/// The crate's answer: does `rs` verify over `msg` under `public`?
fn reference(msg: &[u8], rs: &[u8], public: &[u8; 64]) -> bool {
    Sm2Check {
        msg,
        signature: rs,
        public,
    }
    .verify_reference()
}

/// Every verifier agrees with the crate on one case, alone and in a batch;
/// returns the answer.
fn agree(verifiers: &[Sm2Verifier], msg: &[u8], rs: &[u8], public: &[u8; 64], what: &str) -> bool {
    agree_some(verifiers.iter().enumerate(), msg, rs, public, what)
}

fn agree_some<'a>(
    verifiers: impl Iterator<Item = (usize, &'a Sm2Verifier)>,
    msg: &[u8],
    rs: &[u8],
    public: &[u8; 64],
    what: &str,
) -> bool {
    let expected = reference(msg, rs, public);
    for (i, v) in verifiers {
        let got = v.verify(Sm2Check {
            msg,
            signature: rs,
            public,
        });
        assert_eq!(
            got.is_ok(),
            expected,
            "{what}: verifier {i} says {got:?}, the crate says {expected}; msg {} sig {} key {}",
            hex::encode(msg),
            hex::encode(rs),
            hex::encode(public)
        );
    }
    expected
}

fn verifiers() -> Vec<Sm2Verifier> {
    vec![
        Sm2Verifier::new(0),
        Sm2Verifier::new(2),
        Sm2Verifier::new(64),
    ]
}

fn public_of(key: &PrivateKey) -> [u8; 64] {
    let mut p = [0u8; 64];
    p.copy_from_slice(&key.public_key().to_uncompressed()[1..]);
    p
}

fn scalar(be: &[u8; 32]) -> Scalar {
    Option::from(Scalar::from_repr(FieldBytes::from(*be))).expect("below n")
}

fn bytes(k: &Scalar) -> [u8; 32] {
    k.to_repr().into()
}

/// Big-endian `a + b` over 256 bits (panics on overflow).
fn add_be(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in (0..32).rev() {
        let v = a[i] as u16 + b[i] as u16 + carry;
        out[i] = v as u8;
        carry = v >> 8;
    }
    assert_eq!(carry, 0, "sum overflows 256 bits");
    out
}

fn rs(r: &[u8; 32], s: &[u8; 32]) -> [u8; 64] {
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(r);
    out[32..].copy_from_slice(s);
    out
}

/// A message, a signature, a key and whether it verifies.
type Case = (Vec<u8>, [u8; 64], [u8; 64], bool);

fn run(seed: u64, cases: usize) -> (usize, usize) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let keys: Vec<PrivateKey> = (0..24)
        .map(|_| PrivateKey::generate_with(&mut rng).unwrap())
        .collect();
    let publics: Vec<[u8; 64]> = keys.iter().map(public_of).collect();
    let vs = verifiers();
    let (mut accepted, mut refused) = (0, 0);
    let mut batch: Vec<Case> = Vec::new();
    for i in 0..cases {
        // Mostly the pool's keys (tables are built and evicted); one case in
        // eight a fresh key, seen once.
        let fresh;
        let (key, public) = if rng.next_u32() % 8 == 0 {
            fresh = PrivateKey::generate_with(&mut rng).unwrap();
            (&fresh, public_of(&fresh))
        } else {
            let k = i % keys.len();
            (&keys[k], publics[k])
        };
        let mut msg = vec![0u8; 32 + (rng.next_u32() as usize % 3) * 40];
        rng.fill_bytes(&mut msg);
        let mut sig = key.sign(&msg).unwrap();
        let mut public = public;
        match rng.next_u32() % 10 {
            0 => sig[rng.next_u32() as usize % 32] ^= 1 << (rng.next_u32() % 8),
            1 => sig[32 + rng.next_u32() as usize % 32] ^= 1 << (rng.next_u32() % 8),
            2 => {
                let at = rng.next_u32() as usize % msg.len();
                msg[at] ^= 1 << (rng.next_u32() % 8);
            }
            3 => public = publics[(i + 1) % publics.len()],
            4 => rng.fill_bytes(&mut sig),
            _ => {}
        }
        let what = format!("seed {seed} case {i}");
        // Every case through the caching verifier; one in four through the
        // one without tables, one in sixteen through the two-table one (it
        // rebuilds a table, about five verifications, at nearly every call).
        let ok = match i % 16 {
            0 => agree(&vs, &msg, &sig, &public, &what),
            4 | 8 | 12 => agree_some(
                [(0, &vs[0]), (2, &vs[2])].into_iter(),
                &msg,
                &sig,
                &public,
                &what,
            ),
            _ => agree_some([(2, &vs[2])].into_iter(), &msg, &sig, &public, &what),
        };
        if ok {
            accepted += 1;
        } else {
            refused += 1;
        }
        batch.push((msg, sig, public, ok));
        if batch.len() == 100 {
            // The same cases in one batch (shared inversions) give the same answers.
            let checks: Vec<Sm2Check> = batch
                .iter()
                .map(|(m, s, p, _)| Sm2Check {
                    msg: m,
                    signature: s,
                    public: p,
                })
                .collect();
            for v in [&vs[2]] {
                let got = v.verify_many(&checks);
                for (j, (g, (_, _, _, want))) in got.iter().zip(&batch).enumerate() {
                    assert_eq!(g.is_ok(), *want, "{what}: batch entry {j}: {g:?}");
                }
            }
            batch.clear();
        }
    }
    let stats = vs[2].stats();
    assert!(
        stats.built >= keys.len() as u64,
        "the pool's keys earned tables: {stats:?}"
    );
    assert!(stats.hit_rate() > 0.5, "the pool's keys hit: {stats:?}");
    assert!(vs[1].stats().tables <= 2 && vs[1].stats().evicted > 0);
    assert_eq!(
        vs[0].stats().built,
        0,
        "a verifier without tables built one"
    );
    (accepted, refused)
}

#[test]
fn fast_verification_agrees_with_the_crate_on_random_cases() {
    let cases: usize = std::env::var("SM2_DIFF_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let seed: u64 = std::env::var("SM2_DIFF_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("SM2_DIFF_SEED={seed} SM2_DIFF_CASES={cases}");
    let threads = 2;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let n = cases / threads + usize::from(t < cases % threads);
            std::thread::spawn(move || run(seed.wrapping_add(t as u64), n))
        })
        .collect();
    let (mut accepted, mut refused) = (0, 0);
    for h in handles {
        let (a, r) = h.join().unwrap();
        accepted += a;
        refused += r;
    }
    assert_eq!(accepted + refused, cases);
    println!("{accepted} accepted, {refused} refused by both");
    assert!(accepted > cases / 3 && refused > cases / 5);
}

#[test]
fn edge_cases_of_the_standard() {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let key = PrivateKey::generate_with(&mut rng).unwrap();
    let public = public_of(&key);
    let vs = verifiers();
    let msg = [0x5au8; 32];
    let good = key.sign(&msg).unwrap();
    let r: [u8; 32] = good[..32].try_into().unwrap();
    let s: [u8; 32] = good[32..].try_into().unwrap();
    // Twice, so that the caching verifiers answer from their tables too.
    for round in 0..3 {
        let what = |w: &str| format!("round {round}: {w}");
        assert!(agree(&vs, &msg, &good, &public, &what("valid")));
        let zero = [0u8; 32];
        assert!(!agree(&vs, &msg, &rs(&zero, &s), &public, &what("r = 0")));
        assert!(!agree(&vs, &msg, &rs(&r, &zero), &public, &what("s = 0")));
        assert!(!agree(&vs, &msg, &rs(&N, &s), &public, &what("r = n")));
        assert!(!agree(&vs, &msg, &rs(&r, &N), &public, &what("s = n")));
        // r + n and s + n: the same residues, not the same integers. Made
        // from small values so that the sum fits 32 bytes.
        let mut small = [0u8; 32];
        small[31] = 5;
        let r_small = Scalar::from(5u64);
        let s_any = Scalar::random(&mut rng);
        let sig_rn = rs(&add_be(&small, &N), &bytes(&s_any));
        assert!(!agree(&vs, &msg, &sig_rn, &public, &what("r + n")));
        let sig_sn = rs(&bytes(&s_any), &add_be(&small, &N));
        assert!(!agree(&vs, &msg, &sig_sn, &public, &what("s + n")));
        // t = r + s = 0: s = n − r.
        let t_zero = rs(&r, &bytes(&-scalar(&r)));
        assert!(!agree(&vs, &msg, &t_zero, &public, &what("t = 0")));
        // [s]G + [t]P = O with P = [d]G: s + (r + s)·d = 0, so
        // s = −r·d / (1 + d).
        let d = scalar(&key.to_scalar_bytes());
        let s_o = -(r_small * d) * (Scalar::ONE + d).invert().unwrap();
        let at_infinity = rs(&small, &bytes(&s_o));
        assert!(!agree(
            &vs,
            &msg,
            &at_infinity,
            &public,
            &what("[s]G + [t]P = O")
        ));
        // Keys off the curve, the identity's coordinates, a coordinate ≥ p.
        let mut off = public;
        off[63] ^= 1;
        assert!(!agree(&vs, &msg, &good, &off, &what("key off the curve")));
        assert!(!agree(&vs, &msg, &good, &[0u8; 64], &what("zero key")));
        assert!(!agree(&vs, &msg, &good, &[0xffu8; 64], &what("key ≥ p")));
        // Wrong length.
        for v in &vs {
            assert!(
                v.verify(Sm2Check {
                    msg: &msg,
                    signature: &good[..63],
                    public: &public
                })
                .is_err()
            );
        }
    }
}

#[test]
fn the_standards_example_verifies() {
    let kat: serde_json::Value =
        serde_json::from_str(include_str!("../../privacy/tests/data/gm-kat.json")).unwrap();
    let v = &kat["sm2_sign"];
    let field = |k: &str| hex::decode(v[k].as_str().unwrap()).unwrap();
    assert_eq!(v["user_id_ascii"], "1234567812345678");
    let key = PrivateKey::from_scalar_bytes(&field("private_key_d")).unwrap();
    let public = public_of(&key);
    let msg = v["message_ascii"].as_str().unwrap().as_bytes();
    let mut sig = field("r");
    sig.extend(field("s"));
    let vs = verifiers();
    for _ in 0..3 {
        assert!(agree(&vs, msg, &sig, &public, "GB/T 32918.5 example"));
        let mut tampered = sig.clone();
        tampered[63] ^= 1;
        assert!(!agree(
            &vs,
            msg,
            &tampered,
            &public,
            "GB/T example, s changed"
        ));
        assert!(!agree(
            &vs,
            b"message digesT",
            &sig,
            &public,
            "GB/T example, message changed"
        ));
    }
}

fn openssl(args: &[&str]) -> Vec<u8> {
    let bin = std::env::var("OPENSSL_BIN").unwrap_or_else(|_| "openssl".into());
    let out = Command::new(&bin)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run `{bin}` ({e}): the OpenSSL 3 command line is needed")
        });
    assert!(
        out.status.success(),
        "`openssl {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn openssl_signatures_verify_on_the_fast_path() {
    let dir = tempfile::TempDir::new().unwrap();
    let path = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let key_path = path("k.pem");
    openssl(&["genpkey", "-algorithm", "SM2", "-out", &key_path]);
    let der = openssl(&["pkey", "-in", &key_path, "-pubout", "-outform", "DER"]);
    // The SPKI's last 65 bytes are the uncompressed point.
    let mut public = [0u8; 64];
    public.copy_from_slice(&der[der.len() - 64..]);
    let vs = verifiers();
    for i in 0..24u8 {
        let msg = vec![i; 32];
        std::fs::write(path("m"), &msg).unwrap();
        openssl(&[
            "dgst",
            "-sm3",
            "-sign",
            &key_path,
            "-sigopt",
            "distid:1234567812345678",
            "-out",
            &path("s"),
            &path("m"),
        ]);
        let sig = privacy::sign::parse_signature(&std::fs::read(path("s")).unwrap()).unwrap();
        let sig = sig.to_bytes();
        assert!(
            agree(&vs, &msg, &sig, &public, &format!("openssl signature {i}")),
            "openssl signature {i} does not verify"
        );
        let mut other = msg.clone();
        other[0] ^= 0x80;
        assert!(!agree(
            &vs,
            &other,
            &sig,
            &public,
            &format!("openssl signature {i}, message changed")
        ));
    }
    assert!(vs[2].stats().hits > 0, "the key's table was used");
}
