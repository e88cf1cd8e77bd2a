//! Decoding stored transactions with the catalog: calls and events by the
//! latest ABI version (named), unknown contracts and selectors marked, bad
//! input a named error; the business mapping (arguments, the sender, fixed
//! text, decimals) and the ERC-20 default; mappings kept in the store and
//! the catalog reloaded when the registry changes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use abi::{Contract, Value};
use chain::CryptoSuite;
use chain::model::LogEntry;
use records::Money;
use records::decode::{Catalog, Catalogs, Decoded, Status};
use records::mapping::{self, Item, Mapping, MappingSpec, scaled_amount};

const PAY: &str = r#"[
  {"type":"function","name":"pay","stateMutability":"nonpayable","outputs":[],"inputs":[
    {"name":"ref","type":"bytes32"},{"name":"payee","type":"address"},
    {"name":"amount","type":"uint256"},{"name":"currency","type":"string"},
    {"name":"record","type":"bytes"}]},
  {"type":"event","name":"Transfer","anonymous":false,"inputs":[
    {"name":"from","type":"address","indexed":true},{"name":"to","type":"address","indexed":true},
    {"name":"value","type":"uint256","indexed":false}]}
]"#;

const CONTRACT: [u8; 20] = [0xcc; 20];
const PAYEE: &str = "0x00000000000000000000000000000000000000b2";
const SENDER: &str = "0x00000000000000000000000000000000000000a1";

fn pay_input(suite: CryptoSuite, record: &[u8]) -> Vec<u8> {
    let c = Contract::parse(PAY, suite).unwrap();
    let mut reference = b"RM-2026-0001".to_vec();
    reference.resize(32, 0);
    c.encode_call(
        "pay",
        &[
            Value::Bytes(format!("0x{}", hex::encode(reference))),
            Value::Address(PAYEE.into()),
            Value::Uint("1234567".into()),
            Value::String("hkd".into()),
            Value::Bytes(format!("0x{}", hex::encode(record))),
        ],
    )
    .unwrap()
}

/// A call to `to` with `input` and the receipt's `logs`, decoded.
fn decode(
    c: &Catalog,
    to: [u8; 20],
    input: &[u8],
    logs: &[LogEntry],
) -> (Option<Decoded>, Vec<Decoded>) {
    (
        c.decode_call(&format!("0x{}", hex::encode(to)), input),
        c.decode_events(logs),
    )
}

fn transfer_log(suite: CryptoSuite, value: u64) -> LogEntry {
    let word = |b: &[u8]| {
        let mut w = [0u8; 32];
        w[32 - b.len()..].copy_from_slice(b);
        w
    };
    LogEntry {
        address: hex::encode(CONTRACT),
        topics: vec![
            suite.hash(b"Transfer(address,address,uint256)"),
            word(&hex::decode(&SENDER[2..]).unwrap()),
            word(&hex::decode(&PAYEE[2..]).unwrap()),
        ],
        data: word(&value.to_be_bytes()).to_vec(),
    }
}

fn catalog(suite: CryptoSuite) -> Catalog {
    Catalog::empty(suite).with_contract(CONTRACT, 3, Contract::parse(PAY, suite).unwrap())
}

#[test]
fn calls_and_events_decode_by_the_named_version_or_say_why_not() {
    for suite in [CryptoSuite::Sm, CryptoSuite::Standard] {
        let c = catalog(suite);
        let input = pay_input(suite, b"{\"memo\":\"x\"}");
        let logs = [transfer_log(suite, 99), transfer_log(suite, 1)];
        let (call, events) = decode(&c, CONTRACT, &input, &logs);
        let call = call.unwrap();
        assert_eq!(call.status, Status::Decoded, "{suite:?}: {:?}", call.error);
        assert_eq!(call.abi_version, Some(3));
        assert_eq!(call.tag, format!("0x{}@3", hex::encode(CONTRACT)));
        assert_eq!(call.name.as_deref(), Some("pay"));
        assert_eq!(call.arg("ref").unwrap().text(), "RM-2026-0001");
        assert_eq!(call.arg("amount").unwrap().text(), "1234567");
        assert_eq!(call.arg("payee").unwrap().text(), PAYEE);
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].name.as_deref(), Some("Transfer"));
        assert_eq!(events[1].arg("value").unwrap().text(), "1");

        // No ABI for the contract: marked, with no version.
        let other = [0xdd; 20];
        let (call, _) = decode(&c, other, &input, &[]);
        let call = call.unwrap();
        assert_eq!(
            (call.status, call.abi_version),
            (Status::UnknownContract, None)
        );
        assert_eq!(call.tag, format!("0x{}@none", hex::encode(other)));
        // A selector the ABI lacks; a truncated call: each named.
        let mut unknown = input.clone();
        unknown[0] ^= 0xff;
        let call = c
            .decode_call(&format!("0x{}", hex::encode(CONTRACT)), &unknown)
            .unwrap();
        assert_eq!(call.status, Status::UnknownItem);
        assert!(call.error.unwrap().contains("selector"));
        let call = c
            .decode_call(&format!("0x{}", hex::encode(CONTRACT)), &input[..70])
            .unwrap();
        assert_eq!(call.status, Status::Malformed);
        assert!(
            call.error.unwrap().contains("pay(bytes32"),
            "names the method"
        );
        // A deploy or an empty input is no call.
        assert!(c.decode_call("", &input).is_none());
        assert!(
            c.decode_call(&format!("0x{}", hex::encode(CONTRACT)), &[])
                .is_none()
        );
    }
}

#[test]
fn mappings_make_business_fields_and_transfer_has_a_default() {
    let suite = CryptoSuite::Sm;
    let spec = MappingSpec {
        contract: Some(format!("0x{}", hex::encode(CONTRACT))),
        method: Some("pay".into()),
        payer: Some("@sender".into()),
        payee: Some("payee".into()),
        amount: Some("amount".into()),
        decimals: 2,
        currency: Some("currency".into()),
        reference: Some("ref".into()),
        memo: Some("=跨境汇款".into()),
        record: vec!["record".into()],
        ..MappingSpec::default()
    };
    let m = Mapping::from_spec(&spec).unwrap();
    assert_eq!(m.spec(), spec, "written back as read");
    let untagged = catalog(suite).tag(&format!("0x{}", hex::encode(CONTRACT)));
    let c = catalog(suite).with_mapping(m);
    let tagged = c.tag(&format!("0x{}", hex::encode(CONTRACT)));
    assert!(tagged.starts_with(&format!("{untagged}+m")), "{tagged}");
    let input = pay_input(suite, b"{\"memo\":\"x\"}");
    let (call, events) = decode(&c, CONTRACT, &input, &[transfer_log(suite, 5)]);
    let call = call.unwrap();
    let b = c.business(Some(SENDER), Some(&call), &events);
    assert_eq!(b.payer.account.as_deref(), Some(SENDER));
    assert_eq!(b.payee.account.as_deref(), Some(PAYEE));
    assert_eq!(b.amount, Some(Money::from_hundredths(1_234_567)));
    assert_eq!(b.currency.as_deref(), Some("HKD"));
    assert_eq!(b.reference.as_deref(), Some("RM-2026-0001"));
    assert_eq!(b.memo.as_deref(), Some("跨境汇款"));
    assert_eq!(c.record_of(&call).unwrap(), b"{\"memo\":\"x\"}");

    // Without a method mapping, the Transfer event's default gives the
    // parties and the value (no decimals).
    let plain = catalog(suite);
    let b = plain.business(Some(SENDER), Some(&call), &events);
    assert_eq!(b.payer.account.as_deref(), Some(SENDER));
    assert_eq!(b.payee.account.as_deref(), Some(PAYEE));
    assert_eq!(b.amount, Some(Money::from_hundredths(500)));
    assert_eq!(b.currency, None);
    assert_eq!(plain.record_of(&call), None);
}

#[test]
fn bad_mappings_are_refused_by_name() {
    let base = MappingSpec {
        method: Some("pay".into()),
        ..MappingSpec::default()
    };
    for (spec, needle) in [
        (
            MappingSpec {
                method: None,
                ..base.clone()
            },
            "name a method or an event",
        ),
        (
            MappingSpec {
                event: Some("Paid".into()),
                ..base.clone()
            },
            "not both",
        ),
        (
            MappingSpec {
                contract: Some("0x12".into()),
                ..base.clone()
            },
            "0x12",
        ),
        (
            MappingSpec {
                payee: Some("to do".into()),
                ..base.clone()
            },
            "payee",
        ),
        (
            MappingSpec {
                amount: Some("@sender".into()),
                ..base.clone()
            },
            "amount",
        ),
        (
            MappingSpec {
                decimals: 99,
                ..base.clone()
            },
            "decimals",
        ),
        (
            MappingSpec {
                method: Some("pay()".into()),
                ..base.clone()
            },
            "Solidity name",
        ),
    ] {
        let e = Mapping::from_spec(&spec).unwrap_err().to_string();
        assert!(e.contains(needle), "{e} lacks {needle}");
    }
}

#[test]
fn amounts_scale_exactly_or_not_at_all() {
    let h = |n| Some(Money::from_hundredths(n));
    assert_eq!(scaled_amount("1234567", 2), h(1_234_567));
    assert_eq!(scaled_amount("5", 0), h(500));
    assert_eq!(scaled_amount("5", 2), h(5));
    assert_eq!(scaled_amount("50", 3), h(5));
    assert_eq!(scaled_amount("1000000000000000000", 18), h(100));
    assert_eq!(scaled_amount("-250", 2), h(-250));
    // A third decimal that is not zero, overflow, not a number: no amount.
    assert_eq!(scaled_amount("1", 3), None);
    assert_eq!(scaled_amount(&"9".repeat(30), 0), None);
    assert_eq!(scaled_amount("0x10", 0), None);
    assert_eq!(scaled_amount("", 2), None);
}

#[test]
fn mappings_are_kept_and_the_catalog_follows_the_registry() {
    let dir = tempfile::tempdir().unwrap();
    let store = store::Store::open(dir.path()).unwrap();
    let catalogs = Catalogs::new(CryptoSuite::Sm);
    let first = catalogs.current(&store).unwrap();
    assert_eq!(first.version_of(&CONTRACT), None);
    assert!(std::sync::Arc::ptr_eq(
        &first,
        &catalogs.current(&store).unwrap()
    ));

    records::abis::save(&store, &CONTRACT, PAY, "file:pay.json", 1).unwrap();
    let m = Mapping::from_spec(&MappingSpec {
        contract: Some(format!("0x{}", hex::encode(CONTRACT))),
        method: Some("pay".into()),
        payee: Some("payee".into()),
        ..MappingSpec::default()
    })
    .unwrap();
    mapping::save(&store, &m).unwrap();
    let now = catalogs.current(&store).unwrap();
    assert_eq!(now.version_of(&CONTRACT), Some(1));
    assert_eq!(
        now.mapping(Some(CONTRACT), &Item::Method("pay".into())),
        Some(m.clone())
    );
    // Saved again: replaced, not added.
    mapping::save(&store, &m).unwrap();
    assert_eq!(mapping::all(&store).unwrap(), vec![m.clone()]);
    assert!(mapping::remove(&store, Some(CONTRACT), &Item::Method("pay".into())).unwrap());
    assert!(!mapping::remove(&store, Some(CONTRACT), &Item::Method("pay".into())).unwrap());
    assert_eq!(
        catalogs
            .current(&store)
            .unwrap()
            .mapping(Some(CONTRACT), &Item::Method("pay".into())),
        None
    );
}
