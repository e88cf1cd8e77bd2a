//! Fixtures shared by the fuzz targets and the seed generator
//! (`examples/seed.rs`): fixed keys, the transaction context, and the
//! deterministic envelopes that `envelope_mutate` starts from.
//!
//! Everything here is deterministic (fixed scalars, a seeded ChaCha20 stream),
//! so a crashing input saved under `regressions/` reproduces on any machine.

use privacy::envelope::{SealingSession, TxContext};
use privacy::keyring::Keyring;
use privacy::keys::{PrivateKey, PublicKey};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// Private scalar of the first keyring key.
pub const SCALAR_1: [u8; 32] = [0x11; 32];
/// Private scalar of the second keyring key.
pub const SCALAR_2: [u8; 32] = [0x22; 32];
/// Private scalar of a key that is *not* in the keyring (not-for-us and
/// wrong-key seeds). `sm2_cipher_parse` decrypts with [`SCALAR_1`].
pub const SCALAR_OUTSIDER: [u8; 32] = [0x33; 32];

/// The chain id of the fixture context.
pub const CHAIN_ID: &str = "chain0";
/// The group id of the fixture context.
pub const GROUP_ID: &str = "group0";
/// The sender of the fixture context.
pub const SENDER: [u8; 20] = [0x11; 20];

/// The passphrase `key_pem` decrypts with.
pub const PASSPHRASE: &[u8] = b"pass";

/// A key from one of the scalars above.
pub fn key(scalar: &[u8; 32]) -> PrivateKey {
    PrivateKey::from_scalar_bytes(scalar).expect("fixture scalar is a valid SM2 key")
}

/// `chain0/group0/0x1111…11`.
pub fn context() -> TxContext {
    TxContext::new(CHAIN_ID, GROUP_ID, SENDER).expect("fixture context is valid")
}

/// A keyring holding the keys of [`SCALAR_1`] and [`SCALAR_2`], with
/// `cache` data-key cache entries (0 disables the cache).
pub fn keyring(cache: usize) -> Keyring {
    let mut kr = Keyring::with_cache_capacity(cache);
    kr.add("fuzz-key-1", key(&SCALAR_1)).expect("add key 1");
    kr.add("fuzz-key-2", key(&SCALAR_2)).expect("add key 2");
    kr
}

/// A deterministic RNG for sealing fixtures.
pub fn rng(label: &str) -> ChaCha20Rng {
    let mut seed = [0u8; 32];
    for (i, b) in label.bytes().enumerate() {
        seed[i % 32] ^= b;
    }
    ChaCha20Rng::from_seed(seed)
}

/// One base envelope of `envelope_mutate`.
pub struct Base {
    /// What it is, for messages.
    pub name: &'static str,
    /// The sealed envelope.
    pub envelope: Vec<u8>,
    /// The payload it was sealed over.
    pub payload: &'static [u8],
}

fn seal(name: &'static str, recipients: &[PublicKey], payload: &'static [u8]) -> Base {
    let ctx = context();
    let mut rng = rng(name);
    let mut session = SealingSession::new_with(&mut rng, recipients).expect("session");
    let envelope = session.seal_with(&mut rng, &ctx, payload).expect("seal");
    Base {
        name,
        envelope,
        payload,
    }
}

/// The envelopes `envelope_mutate` mutates, all sealed in [`context`]:
/// 0. to both keyring keys, payload `b"payload"`;
/// 1. to key 1 and the outsider, a longer payload;
/// 2. to key 2 only, empty payload;
/// 3. to the outsider, key 1 and key 2 (so a mutated rid can fall through to
///    another recipient).
pub fn bases() -> Vec<Base> {
    let k1 = key(&SCALAR_1).public_key().clone();
    let k2 = key(&SCALAR_2).public_key().clone();
    let out = key(&SCALAR_OUTSIDER).public_key().clone();
    vec![
        seal("both-keys", &[k1.clone(), k2.clone()], b"payload"),
        seal(
            "key1-and-outsider",
            &[k1.clone(), out.clone()],
            b"{\"transfer\":{\"to\":\"0x01\",\"amount\":5},\"memo\":\"fuzz base 1\"}",
        ),
        seal("key2-empty", std::slice::from_ref(&k2), b""),
        seal("three", &[out, k1, k2], b"three recipients"),
    ]
}

/// Applies the mutation program `ops` to `buf` (see `envelope_mutate.rs` and
/// `docs/fuzzing.md`): 4-byte records `op, offset_lo, offset_hi, value`.
///
/// - `op % 5 == 0`: `buf[off] ^= value`
/// - `op % 5 == 1`: `buf[off] = value`
/// - `op % 5 == 2`: insert `value` before `buf[off]` (or at the end)
/// - `op % 5 == 3`: delete `buf[off]`
/// - `op % 5 == 4`: truncate to `u16(offset) % (len + 1)` bytes
///
/// Offsets are taken modulo the current length (`len + 1` for insert). A
/// trailing partial record is ignored.
pub fn apply_mutations(buf: &mut Vec<u8>, ops: &[u8]) {
    for rec in ops.chunks_exact(4) {
        let (op, off, value) = (
            rec[0],
            usize::from(u16::from_le_bytes([rec[1], rec[2]])),
            rec[3],
        );
        match op % 5 {
            0 | 1 | 3 if buf.is_empty() => {}
            0 => {
                let i = off % buf.len();
                buf[i] ^= value;
            }
            1 => {
                let i = off % buf.len();
                buf[i] = value;
            }
            2 => {
                let i = off % (buf.len() + 1);
                buf.insert(i, value);
            }
            3 => {
                let i = off % buf.len();
                buf.remove(i);
            }
            _ => {
                let n = off % (buf.len() + 1);
                buf.truncate(n);
            }
        }
    }
}
