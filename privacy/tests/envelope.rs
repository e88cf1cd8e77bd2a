//! Behaviour of sealing and opening: round trips, session reuse and the cache,
//! key rotation, every classification, and property tests over payload sizes,
//! recipient counts, bit flips and truncations.

#![allow(clippy::unwrap_used)]

use std::sync::OnceLock;

use privacy::envelope::{Class, Envelope, Outcome, SealingSession, TxContext, seal};
use privacy::keyring::Keyring;
use privacy::keys::{PrivateKey, PublicKey};
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// Eight keys, made once from a fixed seed.
fn keys() -> &'static [PrivateKey] {
    static KEYS: OnceLock<Vec<PrivateKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut rng = ChaCha20Rng::from_seed([7; 32]);
        (0..8)
            .map(|_| PrivateKey::generate_with(&mut rng).unwrap())
            .collect()
    })
}

fn publics(ks: &[PrivateKey]) -> Vec<PublicKey> {
    ks.iter().map(|k| k.public_key().clone()).collect()
}

fn ctx() -> TxContext {
    TxContext::parse("chain0/group0/0x5b38da6a701c568545dcfcb03fcb875f56beddc4").unwrap()
}

fn keyring_of(ks: &[&PrivateKey]) -> Keyring {
    let mut kr = Keyring::new();
    for (i, k) in ks.iter().enumerate() {
        kr.add(format!("key{i}"), (*k).clone()).unwrap();
    }
    kr
}

#[test]
fn every_recipient_opens_the_same_payload() {
    let ks = keys();
    let payload = "跨境汇款 1,250,000.00 CNY".as_bytes();
    let envelope = seal(&publics(&ks[..3]), &ctx(), payload).unwrap();
    for k in &ks[..3] {
        let out = keyring_of(&[k]).open(&envelope, &ctx());
        assert_eq!(out.payload(), Some(payload), "{}", out.describe());
    }
    let outsider = keyring_of(&[&ks[5]]).open(&envelope, &ctx());
    match outsider {
        Outcome::NotForUs { recipients } => assert_eq!(recipients.len(), 3),
        other => panic!("expected not-for-us, got {}", other.describe()),
    }
}

#[test]
fn session_reuse_hits_the_cache_and_keeps_nonces_fresh() {
    let ks = keys();
    let mut session = SealingSession::new(&publics(&ks[..2])).unwrap();
    let a = session.seal(&ctx(), b"first").unwrap();
    let b = session.seal(&ctx(), b"first").unwrap();
    assert_ne!(a, b, "a fresh nonce makes equal payloads differ");
    let (ea, eb) = (Envelope::parse(&a).unwrap(), Envelope::parse(&b).unwrap());
    assert_ne!(ea.nonce, eb.nonce);
    assert_eq!(ea.recipients, eb.recipients, "the wraps are reused");

    let kr = keyring_of(&[&ks[1]]);
    let Outcome::Opened(first) = kr.open(&a, &ctx()) else {
        panic!("a opens")
    };
    assert!(!first.from_cache);
    let Outcome::Opened(second) = kr.open(&b, &ctx()) else {
        panic!("b opens")
    };
    assert!(
        second.from_cache,
        "the second envelope of the session skips SM2"
    );
    assert_eq!(kr.cached_data_keys(), 1);

    // A keyring without a cache still opens, always the slow way.
    let mut uncached = Keyring::with_cache_capacity(0);
    uncached.add("k", ks[1].clone()).unwrap();
    for env in [&a, &b] {
        let Outcome::Opened(o) = uncached.open(env, &ctx()) else {
            panic!("opens")
        };
        assert!(!o.from_cache);
    }
    assert_eq!(uncached.cached_data_keys(), 0);
}

#[test]
fn the_cache_is_bounded() {
    let ks = keys();
    let mut kr = Keyring::with_cache_capacity(2);
    kr.add("k", ks[0].clone()).unwrap();
    for i in 0..5u8 {
        let env = seal(&publics(&ks[..1]), &ctx(), &[i]).unwrap();
        assert_eq!(kr.open(&env, &ctx()).payload(), Some(&[i][..]));
    }
    assert_eq!(kr.cached_data_keys(), 2);
}

#[test]
fn a_rotated_keyring_opens_old_and_new_envelopes() {
    let ks = keys();
    let (old, new) = (&ks[6], &ks[7]);
    let kr = keyring_of(&[new, old]);
    for k in [old, new] {
        let env = seal(&publics(std::slice::from_ref(k)), &ctx(), b"x").unwrap();
        let Outcome::Opened(o) = kr.open(&env, &ctx()) else {
            panic!("opens")
        };
        assert_eq!(o.key_id, k.key_id());
    }
    // The same key twice is refused, naming where it came from.
    let mut dup = keyring_of(&[old]);
    let err = dup.add("again", old.clone()).unwrap_err().to_string();
    assert!(err.contains("already loaded"), "{err}");
}

#[test]
fn an_envelope_is_bound_to_chain_group_and_sender() {
    let ks = keys();
    let env = seal(&publics(&ks[..1]), &ctx(), b"bound").unwrap();
    let kr = keyring_of(&[&ks[0]]);
    let base = ctx();
    let others = [
        TxContext::new("chain1", &base.group_id, base.sender).unwrap(),
        TxContext::new(&base.chain_id, "group1", base.sender).unwrap(),
        TxContext::new(&base.chain_id, &base.group_id, [0; 20]).unwrap(),
    ];
    for other in &others {
        assert_eq!(kr.open(&env, other).class(), Class::WrongContext, "{other}");
    }
    // Lying about the context digest does not help: the AAD still binds it.
    let mut lifted = Envelope::parse(&env).unwrap();
    lifted.context_digest = others[0].digest();
    let lifted = lifted.encode().unwrap();
    assert_eq!(kr.open(&lifted, &others[0]).class(), Class::Malformed);
}

#[test]
fn removing_a_recipient_breaks_authentication() {
    let ks = keys();
    let env = seal(&publics(&ks[..2]), &ctx(), b"two recipients").unwrap();
    let mut parsed = Envelope::parse(&env).unwrap();
    let keep = parsed
        .recipients
        .iter()
        .position(|r| r.rid == ks[0].key_id())
        .unwrap();
    parsed.recipients = vec![parsed.recipients[keep].clone()];
    let stripped = parsed.encode().unwrap();
    let out = keyring_of(&[&ks[0]]).open(&stripped, &ctx());
    assert_eq!(out.class(), Class::Malformed, "{}", out.describe());
}

#[test]
fn sealing_limits_are_enforced() {
    let ks = keys();
    assert!(seal(&[], &ctx(), b"x").is_err());
    let same = [ks[0].public_key().clone(), ks[0].public_key().clone()];
    assert!(
        seal(&same, &ctx(), b"x")
            .unwrap_err()
            .to_string()
            .contains("twice")
    );
    let too_big = vec![0u8; privacy::envelope::PAYLOAD_LEN_MAX + 1];
    assert!(seal(&publics(&ks[..1]), &ctx(), &too_big).is_err());
    assert!(TxContext::parse("chain0/group0").is_err());
    assert!(TxContext::parse("chain0/group0/0x1234").is_err());
    assert!(TxContext::new("", "g", [0; 20]).is_err());
}

#[test]
fn public_payloads_are_not_envelopes() {
    let kr = keyring_of(&[&keys()[0]]);
    for p in [
        &b""[..],
        b"{}",
        b"\x30\x03\x02\x01\x01",
        &[0xa9, 0x05, 0x9c, 0xbb, 0, 0],
    ] {
        assert_eq!(kr.open(p, &ctx()).class(), Class::NotEnvelope, "{p:02x?}");
    }
}

/// One envelope per recipient count, sealed once, shared by the properties.
fn sealed_fixture() -> &'static (Vec<u8>, Vec<u8>) {
    static F: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    F.get_or_init(|| {
        let payload = b"supervised payload: 0x5b38 pays 0xdcc4 1,000 CNY".to_vec();
        let env = seal(&publics(&keys()[..3]), &ctx(), &payload).unwrap();
        (env, payload)
    })
}

fn shared_keyring() -> &'static Keyring {
    static K: OnceLock<Keyring> = OnceLock::new();
    K.get_or_init(|| keyring_of(&[&keys()[2]]))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn seal_open_round_trip(
        payload in prop::collection::vec(any::<u8>(), 0..=65_536),
        n in 1usize..=8,
        opener in 0usize..8,
    ) {
        let ks = keys();
        let env = seal(&publics(&ks[..n]), &ctx(), &payload).unwrap();
        let out = keyring_of(&[&ks[opener]]).open(&env, &ctx());
        if opener < n {
            prop_assert_eq!(out.payload(), Some(&payload[..]));
        } else {
            prop_assert_eq!(out.class(), Class::NotForUs);
        }
    }
}

/// Exhaustive over every bit of a three-recipient envelope: every byte is
/// either checked structurally or covered by the GCM tag (the AAD includes the
/// context, the commitment and every RecipientInfo), so no flip opens.
#[test]
fn no_single_bit_flip_opens() {
    let (env, _) = sealed_fixture();
    let kr = shared_keyring();
    let mut classes = std::collections::BTreeMap::new();
    for bit in 0..env.len() * 8 {
        let mut bad = env.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        let out = kr.open(&bad, &ctx());
        assert_ne!(
            out.class(),
            Class::Opened,
            "bit {bit} opened: {}",
            out.describe()
        );
        *classes.entry(out.class()).or_insert(0usize) += 1;
    }
    // The flips land in every part of the envelope, so several classes appear.
    for c in [
        Class::Malformed,
        Class::WrongContext,
        Class::NotForUs,
        Class::WrongKey,
    ] {
        assert!(classes.contains_key(&c), "no flip gave {c}: {classes:?}");
    }
}

/// Exhaustive over every proper prefix.
#[test]
fn no_truncation_opens() {
    let (env, _) = sealed_fixture();
    let kr = shared_keyring();
    for len in 0..env.len() {
        let out = kr.open(&env[..len], &ctx());
        // Past the envelope's header and OID it is always recognised as one.
        let expected = if len >= 16 {
            Class::Malformed
        } else {
            Class::NotEnvelope
        };
        assert_eq!(
            out.class(),
            expected,
            "prefix of {len} bytes: {}",
            out.describe()
        );
    }
}
