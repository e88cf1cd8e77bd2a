//! Solidity ABI decoding: whatever bytes a transaction's input or a log
//! carries, and whatever text is offered as a JSON ABI, decoding returns a
//! value or a named error, never panics; what decodes renders as JSON.
//! The first byte picks the chain's hash and what the rest is: a call to
//! one of the fixture ABI's functions (the next byte picks which), a log of
//! one of its events (topics taken from the input), or an ABI to parse.

#![no_main]

use std::sync::OnceLock;

use abi::Contract;
use chain::CryptoSuite;
use libfuzzer_sys::fuzz_target;

/// An ABI with every kind of type the decoder handles.
const FIXTURE: &str = r#"[
 {"type":"function","name":"pay","inputs":[{"name":"to","type":"address"},{"name":"amount","type":"uint256"},{"name":"memo","type":"string"},{"name":"envelope","type":"bytes"}],"outputs":[]},
 {"type":"function","name":"mix","inputs":[{"name":"a","type":"int8"},{"name":"b","type":"uint24"},{"name":"c","type":"bytes3"},{"name":"d","type":"bool"},{"name":"e","type":"int256[2][]"}],"outputs":[]},
 {"type":"function","name":"nest","inputs":[{"name":"t","type":"tuple[]","components":[{"name":"x","type":"uint64"},{"name":"y","type":"bytes32"},{"name":"z","type":"tuple","components":[{"name":"s","type":"string[]"}]}]}],"outputs":[]},
 {"type":"event","name":"Transfer","anonymous":false,"inputs":[{"name":"from","type":"address","indexed":true},{"name":"to","type":"address","indexed":true},{"name":"value","type":"uint256","indexed":false}]},
 {"type":"event","name":"Note","anonymous":false,"inputs":[{"name":"tag","type":"string","indexed":true},{"name":"items","type":"tuple[]","indexed":false,"components":[{"name":"k","type":"bytes"},{"name":"v","type":"int128"}]}]},
 {"type":"event","name":"Raw","anonymous":true,"inputs":[{"name":"who","type":"address","indexed":true},{"name":"data","type":"bytes","indexed":false}]}
]"#;

fn fixture(suite: CryptoSuite) -> &'static Contract {
    static SM: OnceLock<Contract> = OnceLock::new();
    static STANDARD: OnceLock<Contract> = OnceLock::new();
    let cell = match suite {
        CryptoSuite::Sm => &SM,
        CryptoSuite::Standard => &STANDARD,
    };
    cell.get_or_init(|| Contract::parse(FIXTURE, suite).expect("the fixture ABI parses"))
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s.trim_start_matches("0x")).expect("the crate prints hex")
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let suite = if mode & 1 == 0 {
        CryptoSuite::Sm
    } else {
        CryptoSuite::Standard
    };
    match (mode >> 1) % 3 {
        0 => {
            let c = fixture(suite);
            let Some((&pick, args)) = rest.split_first() else {
                return;
            };
            let selectors = c.selectors();
            let (_, selector) = &selectors[pick as usize % selectors.len()];
            let mut input = unhex(selector);
            input.extend_from_slice(args);
            if let Ok(call) = c.decode_call(&input) {
                let _ = call.to_json();
            }
            let _ = c.decode_call(rest);
        }
        1 => {
            let c = fixture(suite);
            let Some((&shape, rest)) = rest.split_first() else {
                return;
            };
            let topics = c.topics();
            let mut all: Vec<[u8; 32]> = Vec::new();
            if shape & 4 == 0 {
                let (_, t0) = &topics[shape as usize % topics.len()];
                all.push(<[u8; 32]>::try_from(unhex(t0).as_slice()).expect("32 bytes"));
            }
            let mut rest = rest;
            for _ in 0..(shape >> 3) % 4 {
                let Some((t, more)) = rest.split_first_chunk::<32>() else {
                    break;
                };
                all.push(*t);
                rest = more;
            }
            if let Ok(log) = c.decode_event(&all, rest) {
                let _ = log.to_json();
            }
        }
        _ => {
            let Ok(text) = std::str::from_utf8(rest) else {
                return;
            };
            if let Ok(c) = Contract::parse(text, suite) {
                let _ = (c.selectors(), c.topics());
                let _ = c.decode_call(&[0, 0, 0, 0]);
                let _ = c.decode_event(&[], &[]);
            }
        }
    }
});
