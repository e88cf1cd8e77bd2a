//! SM2 signature verification (GB/T 32918.2 §7), fast: fixed-base tables for
//! the generator and for the public keys that sign again and again, and one
//! field inversion per batch of signatures.
//!
//! Verification computes `(x1, y1) = [s]G + [t]P` with `t = r + s mod n`.
//! The crate's `VerifyingKey::verify` does that with a constant-time linear
//! combination of two variable points; here both multiplications are sums of
//! precomputed affine multiples, one per `w`-bit signed digit of the scalar:
//!
//! - `G`'s table (`w = 8`: 33 windows of 128 points, ~300 KB) is built once.
//! - A public key's table (`w = 6`: 43 windows of 32 points, ~99 KB, about as
//!   long to build as five verifications) is built on the key's second
//!   sighting and kept in a bounded LRU: a consortium has few signers (its
//!   sealers and its members' accounts), so nearly every signature hits.
//!   A key seen once is multiplied with the crate's variable-time
//!   multiplication (faster than the crate's constant-time verification),
//!   and tables are built at most one per [`BUILD_COST`] verifications, so
//!   that keys which never come back (a flood of new senders, each key
//!   twice) cost no more than the crate's path.
//! - [`Sm2Verifier::verify_many`] converts the points of a batch to affine
//!   coordinates with one inversion (`BatchNormalize`).
//!
//! Every check of the standard is made exactly: `r` and `s` in `[1, n−1]`,
//! the key a point of the curve other than the identity, `t ≠ 0`, the sum not
//! the identity, and `r = e + x1 mod n` with `e = SM3(Z_A ‖ M)` and the
//! default user id. Only the curve crate's public group operations are used
//! (mixed addition, doubling, negation, batch normalisation, `Reduce`); no
//! field arithmetic of our own. Signatures and keys are public, so the
//! variable time of this path reveals nothing; signing and decryption stay on
//! the crate's constant-time paths.
//!
//! The differential tests (`chain/tests/sm2_fast.rs`) compare every result
//! with `sm2::dsa::VerifyingKey::verify`, and the fuzz target
//! `sm2_verify_fast` does the same on arbitrary bytes.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use lru::LruCache;
use sm2::elliptic_curve::ff::PrimeField;
use sm2::elliptic_curve::group::{Curve, Group};
use sm2::elliptic_curve::ops::{MulVartime, Reduce};
use sm2::elliptic_curve::point::AffineCoordinates;
use sm2::elliptic_curve::sec1::ToSec1Point;
use sm2::{AffinePoint, FieldBytes, ProjectivePoint, PublicKey, Scalar};
use sm3::{Digest, Sm3};

use crate::crypto::{NodeId, SignatureError};

/// The default SM2 user id (GM/T 0009), used by FISCO BCOS for every signature.
const USER_ID: &[u8] = b"1234567812345678";
/// The curve's `a` and `b` (GB/T 32918.5), hashed into `Z_A`.
const CURVE_A: [u8; 32] = hex32("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC");
const CURVE_B: [u8; 32] = hex32("28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93");

/// Window width of a public key's table.
const KEY_W: usize = 6;
/// Window width of the generator's table.
const G_W: usize = 8;

/// How many tables the shared verifier keeps by default (~99 KB each).
pub const DEFAULT_TABLES: usize = 256;
/// How many keys seen once the shared verifier remembers per table slot.
const SEEN_PER_TABLE: usize = 64;
/// How many signatures share one inversion in [`Sm2Verifier::verify_many`].
pub const BATCH: usize = 64;
/// Verifications that pay for one table: a table costs about six
/// verifications of the uncached path and saves about 0.7 of one each time
/// it is used, so building at most one per this many verifications keeps a
/// workload whose keys never come back (each key twice, say) no slower than
/// the crate's path, while the few keys of a consortium get theirs at once.
const BUILD_COST: u64 = 32;
/// The credit a verifier starts with, and the most it saves up: eight tables.
const BUILD_CREDIT: u64 = 8 * BUILD_COST;

const fn hex32(s: &str) -> [u8; 32] {
    let b = s.as_bytes();
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = (nibble(b[2 * i]) << 4) | nibble(b[2 * i + 1]);
        i += 1;
    }
    out
}

const fn nibble(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'A'..=b'F' => c - b'A' + 10,
        _ => panic!("not an upper-case hex digit"),
    }
}

/// A fixed-base table: for each `w`-bit window `i` and each `j` in
/// `1..=2^(w−1)`, the affine point `j · 2^(w·i) · P`.
struct Table {
    w: usize,
    points: Vec<AffinePoint>,
}

impl Table {
    fn windows(w: usize) -> usize {
        // Signed digits carry into one more bit: 257 bits in all.
        257usize.div_ceil(w)
    }

    fn build(p: ProjectivePoint, w: usize) -> Table {
        let half = 1usize << (w - 1);
        let windows = Self::windows(w);
        let mut projective = Vec::with_capacity(windows * half);
        let mut base = p;
        for _ in 0..windows {
            let mut acc = base;
            projective.push(acc);
            for _ in 1..half {
                acc += &base;
                projective.push(acc);
            }
            for _ in 0..w {
                base = base.double();
            }
        }
        let mut points = vec![AffinePoint::IDENTITY; projective.len()];
        ProjectivePoint::batch_normalize(&projective, &mut points);
        Table { w, points }
    }

    /// Adds `k · P` to `acc`.
    fn mul_add(&self, k: &Scalar, acc: &mut ProjectivePoint) {
        let half = 1usize << (self.w - 1);
        for (i, d) in signed_digits(k, self.w).into_iter().enumerate() {
            if d == 0 {
                continue;
            }
            let point = &self.points[i * half + d.unsigned_abs() as usize - 1];
            if d > 0 {
                *acc += point;
            } else {
                *acc += &-*point;
            }
        }
    }

    fn bytes(&self) -> usize {
        self.points.len() * std::mem::size_of::<AffinePoint>()
    }
}

/// The scalar's digits in base `2^w`, each in `[−2^(w−1), 2^(w−1)]`, least
/// significant first: `k = Σ d_i · 2^(w·i)`.
fn signed_digits(k: &Scalar, w: usize) -> Vec<i16> {
    let be = k.to_repr();
    let mut limbs = [0u64; 5];
    for (i, chunk) in be.rchunks(8).enumerate() {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        limbs[i] = u64::from_be_bytes(b);
    }
    let windows = Table::windows(w);
    let mask = (1u64 << w) - 1;
    let mut out = Vec::with_capacity(windows);
    let mut carry = 0u64;
    for i in 0..windows {
        let bit = i * w;
        let (limb, shift) = (bit / 64, bit % 64);
        let mut v = limbs[limb] >> shift;
        if shift + w > 64 {
            v |= limbs[limb + 1] << (64 - shift);
        }
        let v = (v & mask) + carry;
        if v > (1 << (w - 1)) {
            out.push(v as i16 - (1i16 << w));
            carry = 1;
        } else {
            out.push(v as i16);
            carry = 0;
        }
    }
    debug_assert_eq!(carry, 0, "a scalar below n fits {windows} signed windows");
    out
}

static G_TABLE: LazyLock<Table> = LazyLock::new(|| Table::build(ProjectivePoint::generator(), G_W));

/// `SM3(ENTL ‖ ID ‖ a ‖ b ‖ xG ‖ yG)`, the key-independent start of `Z_A`.
static Z_PREFIX: LazyLock<Sm3> = LazyLock::new(|| {
    let g = AffinePoint::GENERATOR.to_sec1_point(false);
    let mut h = Sm3::new();
    h.update(((USER_ID.len() * 8) as u16).to_be_bytes());
    h.update(USER_ID);
    h.update(CURVE_A);
    h.update(CURVE_B);
    h.update(&g.as_bytes()[1..]);
    h
});

/// A public key ready to verify with: its point and `Z_A`, and its table
/// once it has earned one.
struct Key {
    point: AffinePoint,
    za: [u8; 32],
    table: Option<Table>,
}

impl Key {
    fn parse(public: &NodeId) -> Result<Key, SignatureError> {
        let mut sec1 = [0u8; 65];
        sec1[0] = 4;
        sec1[1..].copy_from_slice(public);
        let pk = PublicKey::from_sec1_bytes(&sec1).map_err(|_| {
            SignatureError::Malformed("public key is not a point of the SM2 curve".into())
        })?;
        let mut h = Z_PREFIX.clone();
        h.update(public);
        Ok(Key {
            point: *pk.as_affine(),
            za: h.finalize().into(),
            table: None,
        })
    }
}

/// What the cache did, since the verifier was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Signatures whose key had a table.
    pub hits: u64,
    /// Signatures whose key had none.
    pub misses: u64,
    /// Tables built.
    pub built: u64,
    /// Tables dropped to make room.
    pub evicted: u64,
    /// Second sightings that built no table: the build budget was spent.
    pub deferred: u64,
    /// Tables held now.
    pub tables: usize,
    /// Their memory, in bytes.
    pub bytes: usize,
}

impl CacheStats {
    /// Hits over all lookups (0 when there were none).
    pub fn hit_rate(&self) -> f64 {
        let all = self.hits + self.misses;
        if all == 0 {
            0.0
        } else {
            self.hits as f64 / all as f64
        }
    }
}

struct Cache {
    tables: LruCache<NodeId, Arc<Key>>,
    /// Keys seen once, with their parsed form (no table yet).
    seen: LruCache<NodeId, Arc<Key>>,
}

/// An SM2 verifier with a bounded cache of per-key tables. Shared by threads.
pub struct Sm2Verifier {
    cache: Mutex<Cache>,
    tables_on: AtomicBool,
    hits: AtomicU64,
    misses: AtomicU64,
    built: AtomicU64,
    evicted: AtomicU64,
    deferred: AtomicU64,
    /// Verifications not yet spent on tables (at most [`BUILD_CREDIT`]).
    credit: AtomicU64,
}

/// One signature to verify: the message (FISCO BCOS signs a 32-byte hash),
/// `r ‖ s` and the signer's public key `x ‖ y`.
#[derive(Debug, Clone, Copy)]
pub struct Sm2Check<'a> {
    /// The signed message.
    pub msg: &'a [u8],
    /// `r ‖ s`, 64 bytes.
    pub signature: &'a [u8],
    /// The public key.
    pub public: &'a NodeId,
}

impl Sm2Check<'_> {
    /// The `sm2` crate's own answer (`VerifyingKey::verify` with the
    /// default user id): the reference the fast path is tested, fuzzed and
    /// benchmarked against.
    pub fn verify_reference(&self) -> bool {
        use sm2::dsa::signature::Verifier;
        let mut sec1 = [4u8; 65];
        sec1[1..].copy_from_slice(self.public);
        let Ok(key) = sm2::dsa::VerifyingKey::from_sec1_bytes("1234567812345678", &sec1) else {
            return false;
        };
        let Ok(sig) = sm2::dsa::Signature::from_slice(self.signature) else {
            return false;
        };
        key.verify(self.msg, &sig).is_ok()
    }
}

/// The verifier every caller of [`crate::CryptoSuite`] shares.
pub fn shared() -> &'static Sm2Verifier {
    static SHARED: LazyLock<Sm2Verifier> = LazyLock::new(|| Sm2Verifier::new(DEFAULT_TABLES));
    &SHARED
}

fn capacity(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN)
}

impl Sm2Verifier {
    /// A verifier that keeps at most `tables` key tables (0: none, every
    /// signature takes the uncached path).
    pub fn new(tables: usize) -> Sm2Verifier {
        Sm2Verifier {
            cache: Mutex::new(Cache {
                tables: LruCache::new(capacity(tables)),
                seen: LruCache::new(capacity(tables.saturating_mul(SEEN_PER_TABLE))),
            }),
            tables_on: AtomicBool::new(tables > 0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            built: AtomicU64::new(0),
            evicted: AtomicU64::new(0),
            deferred: AtomicU64::new(0),
            credit: AtomicU64::new(BUILD_CREDIT),
        }
    }

    /// One verification's worth of credit towards tables.
    fn earn(&self) {
        let _ = self
            .credit
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| {
                (c < BUILD_CREDIT).then_some(c + 1)
            });
    }

    /// Takes a table's worth of credit, if there is that much.
    fn spend(&self) -> bool {
        self.credit
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| {
                c.checked_sub(BUILD_COST)
            })
            .is_ok()
    }

    /// Changes how many tables are kept (dropping the least recently used).
    pub fn set_capacity(&self, tables: usize) {
        let mut c = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        self.tables_on.store(tables > 0, Ordering::Relaxed);
        let before = c.tables.len();
        if tables == 0 {
            c.tables.clear();
            c.seen.clear();
        }
        c.tables.resize(capacity(tables));
        c.seen
            .resize(capacity(tables.saturating_mul(SEEN_PER_TABLE)));
        let dropped = before.saturating_sub(c.tables.len());
        drop(c);
        self.evicted.fetch_add(dropped as u64, Ordering::Relaxed);
    }

    /// The cache's counters and size.
    pub fn stats(&self) -> CacheStats {
        let c = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let tables = c.tables.len();
        let bytes = c
            .tables
            .iter()
            .map(|(_, k)| k.table.as_ref().map_or(0, Table::bytes))
            .sum();
        drop(c);
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            built: self.built.load(Ordering::Relaxed),
            evicted: self.evicted.load(Ordering::Relaxed),
            deferred: self.deferred.load(Ordering::Relaxed),
            tables,
            bytes,
        }
    }

    /// The key's parsed form, with a table when it has one; builds the table
    /// on the key's second sighting.
    fn key(&self, public: &NodeId) -> Result<Arc<Key>, SignatureError> {
        let mut c = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(k) = c.tables.get(public) {
            let k = Arc::clone(k);
            drop(c);
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(k);
        }
        let second = c.seen.pop(public);
        drop(c);
        self.misses.fetch_add(1, Ordering::Relaxed);
        let second = match second {
            Some(seen) if self.tables_on.load(Ordering::Relaxed) && !self.spend() => {
                // No credit: verified without a table, and remembered, so
                // that a later sighting may build one.
                self.deferred.fetch_add(1, Ordering::Relaxed);
                let mut c = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
                c.seen.put(*public, Arc::clone(&seen));
                drop(c);
                return Ok(seen);
            }
            other => other,
        };
        match second {
            Some(seen) if self.tables_on.load(Ordering::Relaxed) => {
                let table = Table::build(ProjectivePoint::from(seen.point), KEY_W);
                self.built.fetch_add(1, Ordering::Relaxed);
                let key = Arc::new(Key {
                    point: seen.point,
                    za: seen.za,
                    table: Some(table),
                });
                let mut c = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some((old, _)) = c.tables.push(*public, Arc::clone(&key))
                    && old != *public
                {
                    self.evicted.fetch_add(1, Ordering::Relaxed);
                }
                drop(c);
                Ok(key)
            }
            Some(seen) => Ok(seen),
            None => {
                let key = Arc::new(Key::parse(public)?);
                if self.tables_on.load(Ordering::Relaxed) {
                    let mut c = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
                    c.seen.put(*public, Arc::clone(&key));
                    drop(c);
                }
                Ok(key)
            }
        }
    }

    /// Verifies one signature.
    pub fn verify(&self, check: Sm2Check<'_>) -> Result<(), SignatureError> {
        self.verify_many(&[check])
            .pop()
            .unwrap_or(Err(SignatureError::Invalid))
    }

    /// Verifies each signature, in order; the points of up to [`BATCH`]
    /// signatures share one inversion.
    pub fn verify_many(&self, checks: &[Sm2Check<'_>]) -> Vec<Result<(), SignatureError>> {
        let mut out = Vec::with_capacity(checks.len());
        for chunk in checks.chunks(BATCH) {
            let mut pending: Vec<(usize, Scalar, ProjectivePoint)> =
                Vec::with_capacity(chunk.len());
            let first = out.len();
            for check in chunk {
                self.earn();
                match self.prepare(check) {
                    Ok((r, point)) => {
                        pending.push((out.len(), r, point));
                        out.push(Ok(()));
                    }
                    Err(e) => out.push(Err(e)),
                }
            }
            let projective: Vec<ProjectivePoint> = pending.iter().map(|(_, _, p)| *p).collect();
            let mut affine = vec![AffinePoint::IDENTITY; projective.len()];
            ProjectivePoint::batch_normalize(&projective, &mut affine);
            for ((i, expected, _), point) in pending.iter().zip(&affine) {
                // `expected` is r − e: r = e + x1 mod n.
                let x1 = <Scalar as Reduce<FieldBytes>>::reduce(&point.x());
                if x1 != *expected {
                    out[*i] = Err(SignatureError::Invalid);
                }
            }
            debug_assert_eq!(out.len(), first + chunk.len());
        }
        out
    }

    /// Checks `r`, `s`, `t` and the key, and computes `[s]G + [t]P`; returns
    /// `r − e` and the point (not the identity).
    fn prepare(&self, check: &Sm2Check<'_>) -> Result<(Scalar, ProjectivePoint), SignatureError> {
        if check.signature.len() != 64 {
            return Err(SignatureError::Length {
                got: check.signature.len(),
                expected: 64,
            });
        }
        let r = scalar_in_range(&check.signature[..32])?;
        let s = scalar_in_range(&check.signature[32..])?;
        let key = self.key(check.public)?;
        let t = r + s;
        if bool::from(t.is_zero()) {
            return Err(SignatureError::Invalid);
        }
        let mut point = ProjectivePoint::identity();
        G_TABLE.mul_add(&s, &mut point);
        match &key.table {
            Some(table) => table.mul_add(&t, &mut point),
            None => point += key.point.mul_vartime(&t),
        }
        if bool::from(point.is_identity()) {
            return Err(SignatureError::Invalid);
        }
        let mut h = Sm3::new();
        h.update(key.za);
        h.update(check.msg);
        let digest: [u8; 32] = h.finalize().into();
        let e = <Scalar as Reduce<FieldBytes>>::reduce(&FieldBytes::from(digest));
        Ok((r - e, point))
    }
}

/// A 32-byte big-endian integer in `[1, n−1]`.
fn scalar_in_range(bytes: &[u8]) -> Result<Scalar, SignatureError> {
    let mut repr = FieldBytes::default();
    repr.copy_from_slice(bytes);
    let k: Option<Scalar> = Scalar::from_repr(repr).into();
    match k {
        Some(k) if !bool::from(k.is_zero()) => Ok(k),
        _ => Err(SignatureError::Malformed(
            "r or s is zero or not below the group order".into(),
        )),
    }
}

impl std::fmt::Debug for Sm2Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sm2Verifier")
            .field("stats", &self.stats())
            .finish()
    }
}
