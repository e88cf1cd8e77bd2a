//! SM2 verification: the crate's `VerifyingKey::verify` (today's path before
//! the fast one) against `chain::sm2verify` with a key's table cached, with a
//! key seen once (no table), a table's construction, and a block's 64
//! signatures verified one by one or in one batch (one inversion); and the
//! cache's worst cases, 100,000 senders each signing once or twice.
//!
//! Run: `cargo bench -p chain --bench sm2_verify`. Results are recorded in
//! `docs/PERFORMANCE.md`.

use chain::sm2verify::{Sm2Check, Sm2Verifier};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use privacy::keys::PrivateKey;
use std::hint::black_box;

fn public_of(key: &PrivateKey) -> [u8; 64] {
    let mut p = [0u8; 64];
    p.copy_from_slice(&key.public_key().to_uncompressed()[1..]);
    p
}

fn bench(c: &mut Criterion) {
    let key = PrivateKey::generate().expect("key");
    let public = public_of(&key);
    let msg = [0x42u8; 32];
    let sig = key.sign(&msg).expect("sign");

    let check = Sm2Check {
        msg: &msg,
        signature: &sig,
        public: &public,
    };
    let mut g = c.benchmark_group("sm2_verify");
    g.bench_function("crate", |b| b.iter(|| black_box(check.verify_reference())));
    let cached = Sm2Verifier::new(16);
    for _ in 0..2 {
        assert!(cached.verify(check).is_ok());
    }
    assert_eq!(cached.stats().tables, 1);
    g.bench_function("fast_cached_key", |b| {
        b.iter(|| black_box(cached.verify(check).is_ok()))
    });
    let uncached = Sm2Verifier::new(0);
    g.bench_function("fast_key_seen_once", |b| {
        b.iter(|| black_box(uncached.verify(check).is_ok()))
    });
    // Two sightings of a new key: the second builds its table.
    g.bench_function("fast_table_build", |b| {
        b.iter_batched(
            || Sm2Verifier::new(1),
            |v| {
                v.verify(check).ok();
                black_box(v.verify(check).is_ok())
            },
            criterion::BatchSize::SmallInput,
        )
    });
    g.finish();

    let keys: Vec<PrivateKey> = (0..4)
        .map(|_| PrivateKey::generate().expect("key"))
        .collect();
    let block: Vec<([u8; 32], [u8; 64], [u8; 64])> = (0..64u8)
        .map(|i| {
            let k = &keys[i as usize % keys.len()];
            let m = [i; 32];
            (m, k.sign(&m).expect("sign"), public_of(k))
        })
        .collect();
    let checks: Vec<Sm2Check> = block
        .iter()
        .map(|(m, s, p)| Sm2Check {
            msg: m,
            signature: s,
            public: p,
        })
        .collect();
    let v = Sm2Verifier::new(16);
    for _ in 0..2 {
        assert!(v.verify_many(&checks).iter().all(Result::is_ok));
    }
    let mut g = c.benchmark_group("sm2_verify_block_64");
    g.throughput(Throughput::Elements(64));
    g.bench_function("one_by_one", |b| {
        b.iter(|| black_box(checks.iter().filter(|c| v.verify(**c).is_ok()).count()))
    });
    g.bench_function("batched", |b| {
        b.iter(|| black_box(v.verify_many(&checks).iter().filter(|r| r.is_ok()).count()))
    });
    g.finish();
}

/// The worst cases of the cache: 100,000 senders, each signing once, or
/// each twice in a row (the second sighting earns a table that is never used
/// again), against the crate's verification of the same signatures.
fn distinct_senders(c: &mut Criterion) {
    const SENDERS: usize = 100_000;
    eprintln!("signing with {SENDERS} keys");
    let items: Vec<([u8; 32], [u8; 64], [u8; 64])> = (0..SENDERS)
        .map(|i| {
            let k = PrivateKey::generate().expect("key");
            let m = [(i % 251) as u8; 32];
            (m, k.sign(&m).expect("sign"), public_of(&k))
        })
        .collect();
    let check = |i: usize| {
        let (m, s, p) = &items[i % SENDERS];
        Sm2Check {
            msg: m,
            signature: s,
            public: p,
        }
    };
    // Machines drift over seconds; the paths are timed in turns of 2,000
    // signatures over the same items, and compared as ratios of the sums.
    let crate_verify = |i: usize| check(i).verify_reference();
    let once = Sm2Verifier::new(chain::sm2verify::DEFAULT_TABLES);
    let twice = Sm2Verifier::new(chain::sm2verify::DEFAULT_TABLES);
    let (mut t_crate, mut t_once, mut t_twice) = (0f64, 0f64, 0f64);
    const TURN: usize = 2_000;
    let turns = 2 * SENDERS / TURN;
    for turn in 0..turns {
        let base = turn * TURN;
        let start = std::time::Instant::now();
        for i in base..base + TURN {
            assert!(black_box(crate_verify(i / 2)));
        }
        t_crate += start.elapsed().as_secs_f64();
        let start = std::time::Instant::now();
        for i in base..base + TURN {
            // Each key once per pass over the 100,000.
            assert!(black_box(once.verify(check(i)).is_ok()));
        }
        t_once += start.elapsed().as_secs_f64();
        let start = std::time::Instant::now();
        for i in base..base + TURN {
            // Each key twice in a row: the second sighting may build a table.
            assert!(black_box(twice.verify(check(i / 2)).is_ok()));
        }
        t_twice += start.elapsed().as_secs_f64();
    }
    let n = (turns * TURN) as f64;
    let (o, t) = (once.stats(), twice.stats());
    println!(
        "sm2_verify_100k_senders ({} signatures per path, in turns of {TURN}):",
        turns * TURN
    );
    println!("  crate: {:.1} µs/signature", t_crate / n * 1e6);
    println!(
        "  fast, each key once: {:.1} µs/signature, {:.2}x the crate (hit rate {:.4}, {} tables built, {} held in {:.1} MB)",
        t_once / n * 1e6,
        t_crate / t_once,
        o.hit_rate(),
        o.built,
        o.tables,
        o.bytes as f64 / 1e6
    );
    println!(
        "  fast, each key twice in a row: {:.1} µs/signature, {:.2}x the crate (hit rate {:.4}, {} built, {} deferred, {} evicted, {} held in {:.1} MB)",
        t_twice / n * 1e6,
        t_crate / t_twice,
        t.hit_rate(),
        t.built,
        t.deferred,
        t.evicted,
        t.tables,
        t.bytes as f64 / 1e6
    );
    let _ = c;
}

criterion_group!(benches, bench, distinct_senders);
criterion_main!(benches);
