//! Structure-aware mutation of valid envelopes.
//!
//! Four envelopes are sealed once, deterministically, to the fixture keys in
//! the fixture context (`lookthrough_fuzz::bases`). The input picks one
//! (first byte) and is then read as a mutation program of 4-byte records
//! `op, offset_lo, offset_hi, value` (xor / set / insert / delete /
//! truncate, see `lookthrough_fuzz::apply_mutations`).
//!
//! Checks: opening the mutated envelope never panics, and if it opens, the
//! payload is exactly the one sealed: a modified envelope never opens to a
//! different plaintext. Stronger (docs/envelope.md §8, "no byte of an
//! envelope can change without every recipient noticing"): a mutated envelope
//! that still opens differs from the original only in what the reader
//! ignores (unknown attributes), i.e. it re-encodes to the original bytes.
//! The unmodified envelopes must open.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use lookthrough_fuzz::{Base, apply_mutations, bases, context, keyring};
use privacy::envelope::{Envelope, Outcome, TxContext};
use privacy::keyring::Keyring;

struct Fixture {
    keyring: Keyring,
    ctx: TxContext,
    bases: Vec<Base>,
}

static FIXTURE: OnceLock<Fixture> = OnceLock::new();

fn fixture() -> &'static Fixture {
    FIXTURE.get_or_init(|| {
        let f = Fixture {
            keyring: keyring(64),
            ctx: context(),
            bases: bases(),
        };
        for b in &f.bases {
            match f.keyring.open(&b.envelope, &f.ctx) {
                Outcome::Opened(o) => assert_eq!(&*o.payload, b.payload, "base {}", b.name),
                other => panic!(
                    "base envelope {} does not open: {}",
                    b.name,
                    other.describe()
                ),
            }
        }
        f
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let Some((&pick, ops)) = data.split_first() else {
        return;
    };
    let base = &f.bases[usize::from(pick) % f.bases.len()];
    let mut env = base.envelope.clone();
    apply_mutations(&mut env, ops);

    let outcome = f.keyring.open(&env, &f.ctx);
    let _ = outcome.describe();
    if let Outcome::Opened(o) = &outcome {
        assert_eq!(
            &*o.payload, base.payload,
            "a mutated envelope (base {}) opened to a different payload",
            base.name
        );
        let canonical = Envelope::parse(&env)
            .expect("an envelope that opens parses")
            .encode()
            .expect("a parsed envelope must encode");
        assert!(
            canonical == base.envelope,
            "a mutated envelope (base {}) still opens but re-encodes to different bytes",
            base.name
        );
    }
    // The parser on its own, and the encoder on whatever it accepts.
    if let Ok(parsed) = Envelope::parse(&env) {
        let enc = parsed.encode().expect("a parsed envelope must encode");
        assert_eq!(Envelope::parse(&enc).as_ref(), Ok(&parsed), "round trip");
    }
});
