//! Calls and events encoded by independent implementations decode to
//! exactly the values encoded: PyPI's `eth-abi` encodes the arguments and
//! PyPI's `gmssl` hashes the canonical signatures with SM3
//! (`tests/eth_abi_encode.py`). The cases are every type the contracts use
//! and several hundred random types and values (nested arrays and tuples,
//! integers of every width at their extremes, Chinese strings); the seed is
//! printed, and `ABI_TEST_SEED` replays it.
//!
//! CI installs both packages (`.ci/run`); without them the test fails
//! naming them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::{Command, Stdio};

use abi::Contract;
use chain::CryptoSuite;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use serde_json::{Value as J, json};

/// A Solidity type, as generated.
#[derive(Debug, Clone)]
enum T {
    Uint(usize),
    Int(usize),
    Address,
    Bool,
    Fixed(usize),
    Bytes,
    Str,
    Array(Box<T>),
    FixedArray(Box<T>, usize),
    Tuple(Vec<T>),
}

impl T {
    /// The canonical type (`(uint8,bytes)[]`).
    fn canonical(&self) -> String {
        match self {
            T::Uint(b) => format!("uint{b}"),
            T::Int(b) => format!("int{b}"),
            T::Address => "address".into(),
            T::Bool => "bool".into(),
            T::Fixed(n) => format!("bytes{n}"),
            T::Bytes => "bytes".into(),
            T::Str => "string".into(),
            T::Array(t) => format!("{}[]", t.canonical()),
            T::FixedArray(t, n) => format!("{}[{n}]", t.canonical()),
            T::Tuple(ts) => format!(
                "({})",
                ts.iter().map(T::canonical).collect::<Vec<_>>().join(",")
            ),
        }
    }

    /// The JSON ABI parameter named `name` (tuples as `tuple` with
    /// components).
    fn param(&self, name: &str) -> J {
        fn stem(t: &T) -> (String, Option<&[T]>) {
            match t {
                T::Array(inner) => {
                    let (s, c) = stem(inner);
                    (format!("{s}[]"), c)
                }
                T::FixedArray(inner, n) => {
                    let (s, c) = stem(inner);
                    (format!("{s}[{n}]"), c)
                }
                T::Tuple(ts) => ("tuple".into(), Some(ts)),
                other => (other.canonical(), None),
            }
        }
        let (ty, components) = stem(self);
        let mut p = json!({ "name": name, "type": ty });
        if let Some(cs) = components {
            p["components"] = J::Array(
                cs.iter()
                    .enumerate()
                    .map(|(i, c)| c.param(&format!("c{i}")))
                    .collect(),
            );
        }
        p
    }

    /// A value type: indexed, its topic is its word (others are hashed).
    fn is_value(&self) -> bool {
        matches!(
            self,
            T::Uint(_) | T::Int(_) | T::Address | T::Bool | T::Fixed(_)
        )
    }
}

fn pick(rng: &mut ChaCha20Rng, n: usize) -> usize {
    (rng.next_u64() % n as u64) as usize
}

fn gen_type(rng: &mut ChaCha20Rng, depth: usize) -> T {
    let leaves = 7;
    let k = if depth == 0 {
        pick(rng, leaves)
    } else {
        pick(rng, leaves + 3)
    };
    match k {
        0 => T::Uint(8 * (1 + pick(rng, 32))),
        1 => T::Int(8 * (1 + pick(rng, 32))),
        2 => T::Address,
        3 => T::Bool,
        4 => T::Fixed(1 + pick(rng, 32)),
        5 => T::Bytes,
        6 => T::Str,
        7 => T::Array(Box::new(gen_type(rng, depth - 1))),
        8 => T::FixedArray(Box::new(gen_type(rng, depth - 1)), 1 + pick(rng, 3)),
        _ => T::Tuple(
            (0..1 + pick(rng, 3))
                .map(|_| gen_type(rng, depth - 1))
                .collect(),
        ),
    }
}

/// A random `bits`-bit unsigned integer, often at an extreme.
fn gen_uint(rng: &mut ChaCha20Rng, bits: usize) -> num::U {
    let max = (num::U::ONE << bits) - num::U::ONE;
    match pick(rng, 4) {
        0 => num::U::ZERO,
        1 => max,
        _ => {
            let mut w = [0u8; 32];
            rng.fill_bytes(&mut w);
            num::U::from_be_bytes(w) & max
        }
    }
}

fn gen_value(rng: &mut ChaCha20Rng, t: &T) -> J {
    const TEXT: [&str; 5] = ["", "a", "付款方 上海银行", "memo: 应收账款 #42", "é∑😀"];
    match t {
        T::Uint(b) => J::String(gen_uint(rng, *b).to_string()),
        T::Int(b) => {
            // Two's complement of a random (bits)-bit pattern, sign-extended.
            let u = gen_uint(rng, *b);
            let half = num::U::ONE << (b - 1);
            let v = if u >= half {
                format!("-{}", (num::U::ONE << *b) - u)
            } else {
                u.to_string()
            };
            J::String(v)
        }
        T::Address => {
            let mut a = [0u8; 20];
            rng.fill_bytes(&mut a);
            J::String(format!("0x{}", hex::encode(a)))
        }
        T::Bool => J::Bool(pick(rng, 2) == 1),
        T::Fixed(n) => {
            let mut b = vec![0u8; *n];
            rng.fill_bytes(&mut b);
            J::String(format!("0x{}", hex::encode(b)))
        }
        T::Bytes => {
            let mut b = vec![0u8; pick(rng, 70)];
            rng.fill_bytes(&mut b);
            J::String(format!("0x{}", hex::encode(b)))
        }
        T::Str => J::String(TEXT[pick(rng, TEXT.len())].to_string()),
        T::Array(inner) => J::Array((0..pick(rng, 4)).map(|_| gen_value(rng, inner)).collect()),
        T::FixedArray(inner, n) => J::Array((0..*n).map(|_| gen_value(rng, inner)).collect()),
        T::Tuple(ts) => J::Array(ts.iter().map(|t| gen_value(rng, t)).collect()),
    }
}

/// 256-bit unsigned arithmetic for the generator (alloy's, through `abi`'s
/// own dependency).
mod num {
    pub type U = alloy_primitives::U256;
}

/// One case: a function `f` over `types`, and an event `E` whose first
/// fields of a value type (up to three) are indexed.
struct Case {
    types: Vec<T>,
    values: Vec<J>,
}

impl Case {
    fn abi(&self) -> String {
        let inputs: Vec<J> = self
            .types
            .iter()
            .enumerate()
            .map(|(i, t)| t.param(&format!("a{i}")))
            .collect();
        let indexed = self.indexed();
        let event_inputs: Vec<J> = self
            .types
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let mut p = t.param(&format!("a{i}"));
                p["indexed"] = J::Bool(indexed.contains(&i));
                p
            })
            .collect();
        json!([
            { "type": "function", "name": "f", "inputs": inputs, "outputs": [], "stateMutability": "nonpayable" },
            { "type": "event", "name": "E", "inputs": event_inputs, "anonymous": false },
        ])
        .to_string()
    }

    fn signature(&self, name: &str) -> String {
        format!(
            "{name}({})",
            self.types
                .iter()
                .map(T::canonical)
                .collect::<Vec<_>>()
                .join(",")
        )
    }

    /// The fields the event indexes: the first three of a value type.
    fn indexed(&self) -> Vec<usize> {
        (0..self.types.len())
            .filter(|i| self.types[*i].is_value())
            .take(3)
            .collect()
    }
}

fn encode_with_eth_abi(requests: &[J]) -> Vec<J> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/eth_abi_encode.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let input = serde_json::to_vec(requests).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    // A script that died early closed its input: its stderr (below) says why.
    let written = writer.join().unwrap();
    assert!(
        out.status.success(),
        "eth-abi and gmssl must be installed (`python3 -m pip install eth-abi==6.0.0 gmssl==3.2.2`, as .ci/run does): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    written.unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s.trim_start_matches("0x")).unwrap()
}

/// Every type the demo's contracts use, then random ones.
fn cases(seed: u64, random: usize) -> Vec<Case> {
    let fixed = vec![
        vec![T::Address, T::Uint(256)],
        vec![T::Address, T::Address, T::Uint(256)],
        vec![T::Fixed(32), T::Address, T::Uint(256), T::Str, T::Bytes],
        // The devnet contracts' other functions and events.
        vec![T::Fixed(32), T::Address, T::Uint(256), T::Uint(64), T::Str],
        vec![T::Fixed(32), T::Uint(256), T::Uint(16)],
        vec![T::Address, T::Uint(256), T::Bytes],
        vec![T::Fixed(32), T::Bytes],
        vec![T::Fixed(32), T::Address, T::Fixed(32)],
        vec![T::Fixed(32), T::Address, T::Address, T::Uint(256), T::Str],
        vec![
            T::Uint(64),
            T::Int(256),
            T::Bool,
            T::Array(Box::new(T::Address)),
        ],
        vec![T::Tuple(vec![T::Address, T::Uint(256), T::Str]), T::Bytes],
        vec![T::Array(Box::new(T::Tuple(vec![
            T::Uint(64),
            T::Fixed(32),
        ])))],
    ];
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut out: Vec<Case> = fixed
        .into_iter()
        .map(|types| {
            let values = types.iter().map(|t| gen_value(&mut rng, t)).collect();
            Case { types, values }
        })
        .collect();
    for _ in 0..random {
        let types: Vec<T> = (0..1 + pick(&mut rng, 5))
            .map(|_| gen_type(&mut rng, 3))
            .collect();
        let values = types.iter().map(|t| gen_value(&mut rng, t)).collect();
        out.push(Case { types, values });
    }
    out
}

#[test]
fn calls_and_events_encoded_by_eth_abi_decode_exactly() {
    let seed = std::env::var("ABI_TEST_SEED")
        .ok()
        .map(|s| s.parse().expect("ABI_TEST_SEED is a u64"))
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("seed {seed} (ABI_TEST_SEED={seed} to replay)");
    let cases = cases(seed, 400);
    let mut requests = Vec::new();
    for c in &cases {
        let topics: Vec<J> = c
            .indexed()
            .iter()
            .map(|&i| json!([c.types[i].canonical(), c.values[i]]))
            .collect();
        let body: Vec<usize> = (0..c.types.len())
            .filter(|i| !c.indexed().contains(i))
            .collect();
        requests.push(json!({
            "types": c.types.iter().map(T::canonical).collect::<Vec<_>>(),
            "values": c.values,
            "signature": c.signature("f"),
        }));
        requests.push(json!({
            "types": body.iter().map(|&i| c.types[i].canonical()).collect::<Vec<_>>(),
            "values": body.iter().map(|&i| c.values[i].clone()).collect::<Vec<_>>(),
            "signature": c.signature("E"),
            "topics": topics,
        }));
    }
    let answers = encode_with_eth_abi(&requests);
    assert_eq!(answers.len(), requests.len());
    for (n, c) in cases.iter().enumerate() {
        let (call, event) = (&answers[2 * n], &answers[2 * n + 1]);
        let contract = Contract::parse(&c.abi(), CryptoSuite::Sm).unwrap();
        let at = format!(
            "case {n}: f{:?}",
            c.types.iter().map(T::canonical).collect::<Vec<_>>()
        );

        // The selector is gmssl's SM3 of the signature.
        let sm3_call = unhex(call["sm3"].as_str().unwrap());
        let mut input = sm3_call[..4].to_vec();
        input.extend(unhex(call["encoded"].as_str().unwrap()));
        let decoded = contract
            .decode_call(&input)
            .unwrap_or_else(|e| panic!("{at}: {e}"));
        assert_eq!(decoded.method, "f");
        assert_eq!(
            decoded.selector,
            format!("0x{}", hex::encode(&sm3_call[..4])),
            "{at}"
        );
        let got: Vec<J> = decoded.args.iter().map(|a| a.value.to_json()).collect();
        assert_eq!(got, c.values, "{at}");
        for (a, t) in decoded.args.iter().zip(&c.types) {
            assert_eq!(a.ty, t.canonical(), "{at}");
        }

        // The event: topic 0 is gmssl's SM3, the indexed fields are their
        // eth-abi words, the body eth-abi's encoding.
        let mut topics = vec![<[u8; 32]>::try_from(unhex(event["sm3"].as_str().unwrap())).unwrap()];
        for t in event["topics"].as_array().unwrap() {
            topics.push(<[u8; 32]>::try_from(unhex(t.as_str().unwrap())).unwrap());
        }
        let data = unhex(event["encoded"].as_str().unwrap());
        let log = contract
            .decode_event(&topics, &data)
            .unwrap_or_else(|e| panic!("{at} (event): {e}"));
        assert_eq!(log.event, "E");
        let got: Vec<J> = log.args.iter().map(|a| a.value.to_json()).collect();
        assert_eq!(got, c.values, "{at} (event)");
        let indexed: Vec<usize> = (0..log.args.len())
            .filter(|i| log.args[*i].indexed)
            .collect();
        assert_eq!(indexed, c.indexed(), "{at} (event)");
    }
}
