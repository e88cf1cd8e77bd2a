//! The business mapping: whatever text is offered as a mapping (from the
//! configuration or GraphQL) is checked into a mapping or refused by name,
//! never a panic; a checked mapping applied to whatever a call decodes to
//! (arguments of every kind, a sender, an amount with any decimals) gives
//! business fields without failing, and amounts scale exactly or not at
//! all. The first byte splits the input: the mapping's JSON, then the call
//! data decoded with a fixture ABI.

#![no_main]

use std::sync::OnceLock;

use abi::Contract;
use chain::CryptoSuite;
use libfuzzer_sys::fuzz_target;
use records::decode::Catalog;
use records::mapping::{Mapping, MappingSpec, scaled_amount};

const FIXTURE: &str = r#"[
 {"type":"function","name":"pay","inputs":[{"name":"ref","type":"bytes32"},{"name":"payee","type":"address"},{"name":"amount","type":"uint256"},{"name":"currency","type":"string"},{"name":"record","type":"bytes"}],"outputs":[]},
 {"type":"function","name":"odd","inputs":[{"name":"amount","type":"int8"},{"name":"payee","type":"string[]"},{"name":"record","type":"tuple","components":[{"name":"x","type":"bytes"}]}],"outputs":[]}
]"#;

const CONTRACT: [u8; 20] = [0xcc; 20];

fn catalog() -> &'static Catalog {
    static C: OnceLock<Catalog> = OnceLock::new();
    C.get_or_init(|| {
        let abi = Contract::parse(FIXTURE, CryptoSuite::Sm).expect("the fixture parses");
        Catalog::empty(CryptoSuite::Sm).with_contract(CONTRACT, 1, abi)
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let at = usize::from(split).min(rest.len());
    let (spec_bytes, input) = rest.split_at(at);
    if let Ok(text) = std::str::from_utf8(spec_bytes) {
        // Amounts: exact or none, whatever the text and decimals. With two
        // decimals the hundredths are the integer itself.
        for d in [0u32, 2, 18, u32::from(split)] {
            let m = scaled_amount(text, d);
            if d == 2
                && let Some(m) = m
            {
                assert_eq!(text.trim().parse::<i64>().ok(), Some(m.hundredths()), "{text:?}");
            }
        }
    }
    let Ok(spec) = serde_json::from_slice::<MappingSpec>(spec_bytes) else {
        return;
    };
    let Ok(mapping) = Mapping::from_spec(&spec) else {
        return;
    };
    // A checked mapping reads back as written (normalised) and checks again.
    assert!(Mapping::from_spec(&mapping.spec()).is_ok());
    let contract = format!("0x{}", hex::encode(CONTRACT));
    let c = catalog().clone().with_mapping(mapping);
    if let Some(call) = c.decode_call(&contract, input) {
        let b = c.business(Some("0x00000000000000000000000000000000000000a1"), Some(&call), &[]);
        let _ = (b.amount, b.payer.key(), b.payee.key());
        let _ = c.record_of(&call);
        assert!(!c.tag(&contract).is_empty());
    }
});
