//! Selectors per chain hash, a known ERC-20 call and event, and every way
//! bytes or an ABI can be wrong, each named.

#![allow(clippy::unwrap_used)]

use abi::{AbiError, Contract, DecodeError, Value};
use chain::CryptoSuite;
use serde_json::json;

const ERC20: &str = r#"[
  {"type":"function","name":"transfer","stateMutability":"nonpayable",
   "inputs":[{"name":"to","type":"address"},{"name":"amount","type":"uint256"}],
   "outputs":[{"name":"","type":"bool"}]},
  {"type":"function","name":"setLimit","stateMutability":"nonpayable",
   "inputs":[{"name":"small","type":"uint8"},{"name":"tag","type":"bytes4"}],"outputs":[]},
  {"type":"event","name":"Transfer","anonymous":false,
   "inputs":[{"name":"from","type":"address","indexed":true},
             {"name":"to","type":"address","indexed":true},
             {"name":"value","type":"uint256","indexed":false}]},
  {"type":"event","name":"Memo","anonymous":false,
   "inputs":[{"name":"text","type":"string","indexed":true},
             {"name":"note","type":"string","indexed":false}]}
]"#;

fn word(bytes: &[u8]) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[32 - bytes.len()..].copy_from_slice(bytes);
    w
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

#[test]
fn selectors_and_topics_follow_the_chain_hash() {
    let standard = Contract::parse(ERC20, CryptoSuite::Standard).unwrap();
    let sm = Contract::parse(ERC20, CryptoSuite::Sm).unwrap();
    let sel =
        |c: &Contract, sig: &str| c.selectors().into_iter().find(|(s, _)| s == sig).unwrap().1;
    let topic = |c: &Contract, sig: &str| c.topics().into_iter().find(|(s, _)| s == sig).unwrap().1;
    // keccak256, as on Ethereum.
    assert_eq!(sel(&standard, "transfer(address,uint256)"), "0xa9059cbb");
    assert_eq!(
        topic(&standard, "Transfer(address,address,uint256)"),
        "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
    );
    // SM3 (values from PyPI's gmssl; tests/third_party.rs checks every case).
    assert_eq!(sel(&sm, "transfer(address,uint256)"), "0x6904e965");
    assert_eq!(
        topic(&sm, "Transfer(address,address,uint256)"),
        "0x18f84334255a242551aa98c68047b5da8063eab9fbeaec1eddeea280044b9ff1"
    );
}

#[test]
fn a_transfer_and_its_event_decode_to_their_values() {
    let c = Contract::parse(ERC20, CryptoSuite::Standard).unwrap();
    let to = [0x11u8; 20];
    let mut input = unhex("a9059cbb");
    input.extend(word(&to));
    input.extend(word(&[0x01, 0x00]));
    let call = c.decode_call(&input).unwrap();
    assert_eq!(
        call.to_json(),
        json!({
            "method": "transfer",
            "signature": "transfer(address,uint256)",
            "selector": "0xa9059cbb",
            "args": [
                {"name": "to", "type": "address", "value": format!("0x{}", hex::encode(to))},
                {"name": "amount", "type": "uint256", "value": "256"},
            ]
        })
    );
    let from = [0x22u8; 20];
    let topics = [
        <[u8; 32]>::try_from(unhex(
            "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef",
        ))
        .unwrap(),
        word(&from),
        word(&to),
    ];
    let max = [0xffu8; 32];
    let log = c.decode_event(&topics, &max).unwrap();
    assert_eq!(log.event, "Transfer");
    assert_eq!(
        log.args[0].value,
        Value::Address(format!("0x{}", hex::encode(from)))
    );
    assert!(log.args[0].indexed && log.args[1].indexed && !log.args[2].indexed);
    assert_eq!(
        log.args[2].value,
        Value::Uint(
            "115792089237316195423570985008687907853269984665640564039457584007913129639935".into()
        )
    );
}

#[test]
fn an_indexed_string_is_its_hash() {
    let c = Contract::parse(ERC20, CryptoSuite::Sm).unwrap();
    let t0 = c
        .topics()
        .into_iter()
        .find(|(s, _)| s == "Memo(string,string)")
        .unwrap()
        .1;
    let topics = [<[u8; 32]>::try_from(unhex(&t0[2..])).unwrap(), [0xabu8; 32]];
    // The body: one string, "hi".
    let mut data = word(&[0x20]).to_vec();
    data.extend(word(&[2]));
    let mut text = [0u8; 32];
    text[..2].copy_from_slice(b"hi");
    data.extend(text);
    let log = c.decode_event(&topics, &data).unwrap();
    assert_eq!(
        log.args[0].value,
        Value::Hashed(format!("0x{}", "ab".repeat(32)))
    );
    assert_eq!(
        log.args[0].value.to_json(),
        json!({ "hash": format!("0x{}", "ab".repeat(32)) })
    );
    assert_eq!(log.args[1].value, Value::String("hi".into()));
}

#[test]
fn bytes_that_do_not_decode_are_named() {
    let c = Contract::parse(ERC20, CryptoSuite::Standard).unwrap();
    assert_eq!(
        c.decode_call(&[0xa9, 0x05]),
        Err(DecodeError::NoSelector(2))
    );
    assert_eq!(
        c.decode_call(&unhex("deadbeef")),
        Err(DecodeError::UnknownSelector("deadbeef".into()))
    );
    // Truncated: the amount is missing.
    let mut short = unhex("a9059cbb");
    short.extend(word(&[0x11; 20]));
    match c.decode_call(&short) {
        Err(DecodeError::Malformed { item, .. }) => assert_eq!(item, "transfer(address,uint256)"),
        other => panic!("{other:?}"),
    }
    // A uint8 word holding 256, and a bytes4 with bytes past its length.
    let set_limit = c
        .selectors()
        .into_iter()
        .find(|(s, _)| s == "setLimit(uint8,bytes4)")
        .unwrap()
        .1;
    let mut over = unhex(&set_limit[2..]);
    over.extend(word(&[0x01, 0x00]));
    over.extend([0u8; 32]);
    let e = c.decode_call(&over).unwrap_err().to_string();
    assert!(
        e.contains("256 does not fit uint8") && e.contains("small"),
        "{e}"
    );
    let mut dirty = unhex(&set_limit[2..]);
    dirty.extend(word(&[7]));
    let mut tag = [0u8; 32];
    tag[..5].copy_from_slice(b"abcde");
    dirty.extend(tag);
    let e = c.decode_call(&dirty).unwrap_err().to_string();
    assert!(e.contains("bytes4 has bytes set past its length"), "{e}");
    // Events: an unknown topic, no topic, a topic missing.
    assert_eq!(
        c.decode_event(&[[7u8; 32]], &[]),
        Err(DecodeError::UnknownEvent("07".repeat(32)))
    );
    assert_eq!(c.decode_event(&[], &[]), Err(DecodeError::NoTopic));
    let transfer = <[u8; 32]>::try_from(unhex(
        "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef",
    ))
    .unwrap();
    match c.decode_event(&[transfer, word(&[1])], &[0u8; 32]) {
        Err(DecodeError::Malformed { item, .. }) => {
            assert_eq!(item, "Transfer(address,address,uint256)");
        }
        other => panic!("{other:?}"),
    }
    // Too much.
    let huge = vec![0u8; abi::MAX_PAYLOAD_BYTES + 1];
    assert_eq!(
        c.decode_call(&huge),
        Err(DecodeError::TooLarge(abi::MAX_PAYLOAD_BYTES + 1))
    );
}

#[test]
fn abis_that_cannot_be_read_are_named() {
    assert!(matches!(
        Contract::parse("{not json", CryptoSuite::Sm),
        Err(AbiError::Json(_))
    ));
    let bad_type =
        r#"[{"type":"function","name":"f","inputs":[{"name":"x","type":"uint7"}],"outputs":[]}]"#;
    match Contract::parse(bad_type, CryptoSuite::Sm) {
        Err(AbiError::Type { item, .. }) => assert_eq!(item, "f(uint7)"),
        other => panic!("{other:?}"),
    }
    let deep = format!(
        r#"[{{"type":"function","name":"f","inputs":[{{"name":"x","type":"uint8{}"}}],"outputs":[]}}]"#,
        "[]".repeat(abi::MAX_TYPE_DEPTH + 1)
    );
    let e = Contract::parse(&deep, CryptoSuite::Sm)
        .unwrap_err()
        .to_string();
    assert!(e.contains("nests deeper"), "{e}");
    let big = " ".repeat(abi::MAX_ABI_BYTES + 1);
    assert!(matches!(
        Contract::parse(&big, CryptoSuite::Sm),
        Err(AbiError::TooLarge(_))
    ));
    // A build artifact holding the ABI under "abi" reads too.
    let artifact = format!(r#"{{"contractName":"Token","abi":{ERC20}}}"#);
    assert_eq!(
        Contract::parse(&artifact, CryptoSuite::Sm)
            .unwrap()
            .selectors()
            .len(),
        2
    );
}

/// Encoding is decoding's inverse, and refuses values that do not fit.
#[test]
fn calls_encode_back_to_what_decodes() {
    let abi = r#"[{"type":"function","name":"f","inputs":[
        {"name":"r","type":"bytes32"},{"name":"to","type":"address"},
        {"name":"n","type":"uint8"},{"name":"d","type":"int16"},
        {"name":"s","type":"string"},{"name":"b","type":"bytes"},
        {"name":"xs","type":"uint64[]"},{"name":"t","type":"tuple","components":[
            {"name":"ok","type":"bool"},{"name":"w","type":"bytes4[2]"}]}],
        "outputs":[],"stateMutability":"nonpayable"}]"#;
    for suite in [CryptoSuite::Sm, CryptoSuite::Standard] {
        let c = Contract::parse(abi, suite).unwrap();
        let args = vec![
            Value::Bytes(format!("0x{}", "ab".repeat(32))),
            Value::Address(format!("0x{}", "12".repeat(20))),
            Value::Uint("255".into()),
            Value::Int("-32768".into()),
            Value::String("跨境 payment".into()),
            Value::Bytes("0x00ff".into()),
            Value::Array(vec![
                Value::Uint("1".into()),
                Value::Uint("18446744073709551615".into()),
            ]),
            Value::Tuple(vec![
                Value::Bool(true),
                Value::Array(vec![
                    Value::Bytes("0xdeadbeef".into()),
                    Value::Bytes("0x01020304".into()),
                ]),
            ]),
        ];
        let input = c.encode_call("f", &args).unwrap();
        let call = c.decode_call(&input).unwrap();
        assert_eq!(call.method, "f");
        let got: Vec<Value> = call.args.into_iter().map(|a| a.value).collect();
        assert_eq!(got, args, "{suite:?}");
        let mut wide = args.clone();
        wide[2] = Value::Uint("256".into());
        let e = c.encode_call("f", &wide).unwrap_err().to_string();
        assert!(e.contains("uint8") && e.contains("256"), "{e}");
        let mut wrong = args.clone();
        wrong[1] = Value::String("bank".into());
        let e = c.encode_call("f", &wrong).unwrap_err().to_string();
        assert!(e.contains("to:"), "{e}");
        assert!(c.encode_call("g", &args).is_err());
        assert!(c.encode_call("f", &args[..3]).is_err());
    }
}
