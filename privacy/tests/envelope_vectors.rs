//! `docs/envelope-vectors.json` is current, and every vector gives its expected
//! outcome.

#![allow(clippy::unwrap_used)]

#[path = "support/vectors.rs"]
#[allow(dead_code)]
mod vectors;

use privacy::envelope::Class;
use privacy::keyring::Keyring;
use privacy::keys::PrivateKey;

const COMMITTED: &str = include_str!("../../docs/envelope-vectors.json");

#[test]
fn committed_vectors_are_what_the_generator_writes() {
    let generated = vectors::render(&vectors::generate());
    assert!(
        generated == COMMITTED,
        "docs/envelope-vectors.json is stale: regenerate it with \
         `cargo run -p privacy --example envelope_vectors > docs/envelope-vectors.json`"
    );
}

#[test]
fn every_vector_gives_its_expected_outcome() {
    let file: vectors::VectorFile = serde_json::from_str(COMMITTED).unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for v in &file.vectors {
        let mut keyring = Keyring::new();
        for name in &v.open_with {
            let k = file.keys.iter().find(|k| &k.name == name).unwrap();
            let key = PrivateKey::from_scalar_bytes(&hex::decode(&k.private_key).unwrap()).unwrap();
            assert_eq!(
                key.key_id().to_hex(),
                k.key_id,
                "{}: key id of {name}",
                v.name
            );
            keyring.add(name.clone(), key).unwrap();
        }
        let envelope = hex::decode(&v.envelope).unwrap();
        let outcome = keyring.open(&envelope, &v.context.to_tx());
        let expected = Class::parse(&v.expected).unwrap();
        assert_eq!(
            outcome.class(),
            expected,
            "{}: {}",
            v.name,
            outcome.describe()
        );
        let payload = v.payload.as_ref().map(|p| hex::decode(p).unwrap());
        assert_eq!(outcome.payload().map(<[u8]>::to_vec), payload, "{}", v.name);
        seen.insert(expected);
    }
    // The vectors exercise every class of the spec.
    assert_eq!(seen.len(), Class::ALL.len(), "classes covered: {seen:?}");
}
