//! Criterion benchmarks of the `privacy` crate: sealing, opening with a fresh
//! wrap and with a cached data key, SM2 decryption alone, SM4-GCM throughput.
//!
//! Run: `cargo bench -p privacy`. Results are recorded in `docs/PERFORMANCE.md`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use privacy::envelope::{SealingSession, TxContext};
use privacy::keyring::Keyring;
use privacy::keys::PrivateKey;
use privacy::pke::{CipherFormat, encrypt};
use privacy::symmetric::{gcm_open, gcm_seal};
use std::hint::black_box;

const PAYLOAD: usize = 512;

fn ctx() -> TxContext {
    TxContext::new("chain0", "group0", [0x5b; 20]).expect("valid context")
}

fn bench(c: &mut Criterion) {
    let regulator = PrivateKey::generate().expect("key");
    let party = PrivateKey::generate().expect("key");
    let recipients = [party.public_key().clone(), regulator.public_key().clone()];
    let payload = vec![0x42u8; PAYLOAD];
    let ctx = ctx();

    let mut g = c.benchmark_group("envelope");
    g.bench_function("seal_2_recipients_fresh_key", |b| {
        b.iter(|| {
            let mut s = SealingSession::new(&recipients).expect("session");
            black_box(s.seal(&ctx, &payload).expect("seal"))
        })
    });
    let mut session = SealingSession::new(&recipients).expect("session");
    g.bench_function("seal_session_key_reused", |b| {
        b.iter(|| black_box(session.seal(&ctx, &payload).expect("seal")))
    });

    // A keyring without a cache pays the SM2 decryption on every open.
    let mut fresh = Keyring::with_cache_capacity(0);
    fresh.add("regulator", regulator.clone()).expect("add");
    let envelope = session.seal(&ctx, &payload).expect("seal");
    g.bench_function("open_fresh_wrap", |b| {
        b.iter(|| black_box(fresh.open(&envelope, &ctx)))
    });
    let mut cached = Keyring::new();
    cached.add("regulator", regulator.clone()).expect("add");
    assert!(cached.open(&envelope, &ctx).payload().is_some());
    g.bench_function("open_cached_data_key", |b| {
        b.iter(|| black_box(cached.open(&envelope, &ctx)))
    });
    g.finish();

    let wrap = encrypt(regulator.public_key(), &[7u8; 16], CipherFormat::Der).expect("wrap");
    c.bench_function("sm2_decrypt_16_bytes", |b| {
        b.iter(|| {
            black_box(
                regulator
                    .decrypt(&wrap, CipherFormat::Der)
                    .expect("decrypt"),
            )
        })
    });

    // The same decryption with the `sm2` crate's DecryptingKey kept alive:
    // the difference is what building the key per call costs (privacy does
    // that because DecryptingKey does not zeroize its scalar).
    let raw = privacy::pke::Sm2Cipher::parse(&wrap, CipherFormat::Der)
        .expect("parse")
        .encode(CipherFormat::C1C3C2);
    let scalar = sm2::NonZeroScalar::try_from(&regulator.to_scalar_bytes()[..]).expect("scalar");
    let long_lived = sm2::pke::DecryptingKey::new_with_mode(scalar, sm2::pke::Mode::C1C3C2);
    c.bench_function("sm2_decrypt_16_bytes_key_kept", |b| {
        b.iter(|| black_box(long_lived.decrypt(&raw).expect("decrypt")))
    });

    // The decryption fast path against the crate's own, on one parsed
    // ciphertext, in the same run.
    let parsed = privacy::pke::Sm2Cipher::parse(&wrap, CipherFormat::Der).expect("parse");
    let mut g = c.benchmark_group("sm2_decrypt_path");
    g.bench_function("fast", |b| {
        b.iter(|| black_box(regulator.decrypt_cipher(&parsed).expect("decrypt")))
    });
    g.bench_function("crate", |b| {
        b.iter(|| {
            black_box(
                regulator
                    .decrypt_cipher_reference(&parsed)
                    .expect("decrypt"),
            )
        })
    });
    g.finish();

    let mut g = c.benchmark_group("sm4_gcm");
    let key = [1u8; 16];
    let nonce = [2u8; 12];
    for size in [1024usize, 64 * 1024] {
        let data = vec![3u8; size];
        let sealed = gcm_seal(&key, &nonce, b"aad", &data).expect("seal");
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::new("seal", size), &data, |b, d| {
            b.iter(|| black_box(gcm_seal(&key, &nonce, b"aad", d).expect("seal")))
        });
        g.bench_with_input(BenchmarkId::new("open", size), &sealed, |b, s| {
            b.iter(|| black_box(gcm_open(&key, &nonce, b"aad", s).expect("open")))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
