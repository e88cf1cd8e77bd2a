//! `Keyring::open` and `Envelope::parse` on arbitrary bytes.
//!
//! Checks, for every input:
//! - `open` never panics, whatever the bytes;
//! - a keyring with the data-key cache and one without it classify the input
//!   the same way, and open it to the same payload;
//! - an `Opened` input re-opens identically (from the cache the second time);
//! - `Envelope::parse` agrees with `open` on "not an envelope";
//! - if `Envelope::parse` accepts the input, `encode` succeeds, the encoding
//!   re-parses to an equal value, encoding again is byte-identical, and
//!   opening the re-encoding gives the same class and payload.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use lookthrough_fuzz::{context, keyring};
use privacy::envelope::{Class, Envelope, Outcome, ParseError, TxContext};
use privacy::keyring::Keyring;

struct Fixture {
    cached: Keyring,
    uncached: Keyring,
    ctx: TxContext,
}

static FIXTURE: OnceLock<Fixture> = OnceLock::new();

fn fixture() -> &'static Fixture {
    FIXTURE.get_or_init(|| Fixture {
        // A small cache keeps the run's memory flat; it still exercises
        // hits, misses and eviction.
        cached: keyring(64),
        uncached: keyring(0),
        ctx: context(),
    })
}

fn same(a: &Outcome, b: &Outcome, what: &str) {
    assert_eq!(
        a.class(),
        b.class(),
        "{what}: classes differ ({} vs {})",
        a.describe(),
        b.describe()
    );
    if let (Outcome::Opened(x), Outcome::Opened(y)) = (a, b) {
        assert_eq!(&*x.payload, &*y.payload, "{what}: payloads differ");
        assert_eq!(x.key_id, y.key_id, "{what}: opened with different keys");
        assert_eq!(x.recipients, y.recipients, "{what}: recipient lists differ");
    }
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();

    let outcome = f.cached.open(data, &f.ctx);
    // Exercise the logging helpers too: they format digests and key ids.
    let _ = outcome.describe();
    let _ = outcome.payload();

    let uncached = f.uncached.open(data, &f.ctx);
    same(&outcome, &uncached, "cached vs uncached keyring");

    if outcome.class() == Class::Opened {
        // Opening is deterministic; the second time the data key comes from
        // the cache.
        let again = f.cached.open(data, &f.ctx);
        same(&outcome, &again, "re-open");
        if let Outcome::Opened(o) = &again {
            assert!(o.from_cache, "re-open did not use the cached data key");
        }
        if let Outcome::Opened(o) = &uncached {
            assert!(!o.from_cache, "the uncached keyring reported a cache hit");
        }
    }

    match Envelope::parse(data) {
        Err(ParseError::NotEnvelope) => {
            assert_eq!(
                outcome.class(),
                Class::NotEnvelope,
                "parse says not-envelope, open says {}",
                outcome.describe()
            );
        }
        Err(ParseError::Malformed(_)) => {
            assert_eq!(
                outcome.class(),
                Class::Malformed,
                "parse says malformed, open says {}",
                outcome.describe()
            );
        }
        Ok(env) => {
            assert!(
                !matches!(outcome.class(), Class::NotEnvelope),
                "parse accepted an input open calls not-an-envelope"
            );
            let encoded = env.encode().expect("a parsed envelope must encode");
            let reparsed = Envelope::parse(&encoded).expect("an encoded envelope must re-parse");
            assert_eq!(env, reparsed, "parse(encode(parse(x))) != parse(x)");
            let encoded2 = reparsed.encode().expect("a re-parsed envelope must encode");
            assert_eq!(encoded, encoded2, "encoding is not stable");
            // Re-encoding drops what the reader ignores (NULL algorithm
            // parameters, unknown attributes) and nothing the opener uses.
            let reopened = f.uncached.open(&encoded, &f.ctx);
            same(&outcome, &reopened, "open(x) vs open(encode(parse(x)))");
        }
    }
});
