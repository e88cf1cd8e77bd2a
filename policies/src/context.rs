//! What a rule's condition sees: `tx`, one map per transaction, and
//! `lists`, the watchlists.
//!
//! Every field is present on every transaction; a field the payload does
//! not carry (or a private transaction the regulator cannot open) is
//! `null`, and `tx.readable` says whether the business fields were read.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use cel::Value;
use cel::objects::{Key, Map};
use records::TxDoc;

/// The fields of `tx`, with their CEL types, as the rule reference lists
/// them.
pub const FIELDS: &[(&str, &str)] = &[
    ("chain", "string: the chain's id in this node"),
    ("group", "string: the chain's group"),
    ("hash", "string: transaction hash, 0x-hex"),
    ("height", "int: block height"),
    ("index", "int: position in the block"),
    ("time", "int: block time, ms since the epoch"),
    ("hour", "int: hour of the block time in Beijing (0 to 23)"),
    (
        "weekday",
        "int: day of the week in Beijing (1 Monday to 7 Sunday)",
    ),
    ("from", "string: verified sender"),
    ("to", "string: contract called"),
    ("method", "string or null: function selector"),
    ("privacy", "string: public or private"),
    (
        "status",
        "string: envelope status (not-envelope, opened, not-for-us, inconsistent, malformed, wrong-context, wrong-key)",
    ),
    ("readable", "bool: the business fields were read"),
    ("scenario", "string or null"),
    ("action", "string or null"),
    ("reference", "string or null"),
    ("payer", "string or null: the payer's account, else its id"),
    ("payer_account", "string or null"),
    ("payer_id", "string or null"),
    ("payee", "string or null: the payee's account, else its id"),
    ("payee_account", "string or null"),
    ("payee_id", "string or null"),
    ("amount", "double or null: amount in currency units"),
    ("currency", "string or null"),
    ("memo", "string or null"),
    (
        "parties",
        "list of strings: every party (sender, contract, payer and payee ids and accounts)",
    ),
    (
        "call",
        "map: the decoded call: contract, method (null when not decoded), signature, status (decoded, unknown-contract, unknown-selector, malformed, none), abi_version (int or null), args (map of argument name to its value as a string)",
    ),
    (
        "events",
        "list of maps: the decoded events, each with contract, name, signature, status, abi_version and args as for call",
    ),
];

/// The map keys of `tx` and of a decoded call, made once: a rule's `tx` is
/// built for every transaction, and a key is an `Arc<String>`.
static KEYS: LazyLock<HashMap<&'static str, Key>> = LazyLock::new(|| {
    FIELDS
        .iter()
        .map(|(name, _)| *name)
        .chain([
            "contract",
            "method",
            "name",
            "signature",
            "status",
            "abi_version",
            "args",
        ])
        .map(|name| (name, Key::String(Arc::new(name.to_string()))))
        .collect()
});

/// The key `name` (one of [`KEYS`]).
fn key(name: &'static str) -> Key {
    KEYS.get(name)
        .cloned()
        .unwrap_or_else(|| Key::String(Arc::new(name.to_string())))
}

fn map(m: HashMap<Key, Value>) -> Value {
    Value::Map(Map { map: Arc::new(m) })
}

/// A decoded call or event as a map; `None` gives the map of no call.
fn decoded_value(d: Option<&records::decode::Decoded>) -> Value {
    let mut m: HashMap<Key, Value> = HashMap::with_capacity(7);
    let (contract, name, signature, status, version) = match d {
        Some(d) => (
            Some(d.contract.as_str()),
            d.name.as_deref(),
            d.signature.as_deref(),
            d.status.as_str(),
            d.abi_version,
        ),
        None => (None, None, None, "none", None),
    };
    m.insert(key("contract"), text(contract));
    m.insert(key("method"), text(name));
    m.insert(key("name"), text(name));
    m.insert(key("signature"), text(signature));
    m.insert(key("status"), text(Some(status)));
    m.insert(
        key("abi_version"),
        version.map_or(Value::Null, |v| Value::Int(i64::from(v))),
    );
    let args: HashMap<String, Value> = d
        .map(|d| {
            d.args
                .iter()
                .filter(|a| !a.name.is_empty())
                .map(|a| (a.name.clone(), Value::String(Arc::new(a.text()))))
                .collect()
        })
        .unwrap_or_default();
    m.insert(key("args"), Value::from(args));
    map(m)
}

fn text(s: Option<&str>) -> Value {
    match s {
        Some(s) => Value::String(Arc::new(s.to_string())),
        None => Value::Null,
    }
}

/// The `tx` value of a document.
pub fn tx_value(d: &TxDoc) -> Value {
    let b = &d.business;
    let readable = b.scenario.is_some()
        || b.amount.is_some()
        || b.payer.key().is_some()
        || b.payee.key().is_some();
    let (hour, weekday) = records::time::hour_weekday(d.time_ms);
    let mut m: HashMap<Key, Value> = HashMap::with_capacity(FIELDS.len());
    m.insert(key("chain"), text(Some(&d.chain_id)));
    m.insert(key("group"), text(Some(&d.group)));
    m.insert(key("hash"), text(Some(&d.tx_hash)));
    m.insert(key("height"), Value::Int(d.height));
    m.insert(key("index"), Value::Int(i64::from(d.index)));
    m.insert(key("time"), Value::Int(d.time_ms));
    m.insert(key("hour"), Value::Int(hour));
    m.insert(key("weekday"), Value::Int(weekday));
    m.insert(key("from"), text(d.from.as_deref()));
    m.insert(key("to"), text(Some(&d.to)));
    m.insert(key("method"), text(d.method.as_deref()));
    m.insert(key("privacy"), text(Some(d.privacy())));
    m.insert(key("status"), text(Some(&d.status)));
    m.insert(key("readable"), Value::Bool(readable));
    m.insert(key("scenario"), text(b.scenario.as_deref()));
    m.insert(key("action"), text(b.action.as_deref()));
    m.insert(key("reference"), text(b.reference.as_deref()));
    m.insert(key("payer"), text(b.payer.key()));
    m.insert(key("payer_account"), text(b.payer.account.as_deref()));
    m.insert(key("payer_id"), text(b.payer.id.as_deref()));
    m.insert(key("payee"), text(b.payee.key()));
    m.insert(key("payee_account"), text(b.payee.account.as_deref()));
    m.insert(key("payee_id"), text(b.payee.id.as_deref()));
    m.insert(
        key("amount"),
        match b.amount {
            Some(c) => Value::Float(c.units_f64()),
            None => Value::Null,
        },
    );
    m.insert(key("currency"), text(b.currency.as_deref()));
    m.insert(key("memo"), text(b.memo.as_deref()));
    m.insert(
        key("parties"),
        Value::List(Arc::new(
            d.parties()
                .into_iter()
                .map(|p| Value::String(Arc::new(p.to_string())))
                .collect(),
        )),
    );
    m.insert(key("call"), decoded_value(d.call.as_ref()));
    m.insert(
        key("events"),
        Value::List(Arc::new(
            d.events.iter().map(|e| decoded_value(Some(e))).collect(),
        )),
    );
    map(m)
}

/// A readable transaction with every field set, on which a new rule is
/// tried to find type errors before it runs on the chain.
pub fn probe() -> TxDoc {
    let mut d = TxDoc {
        chain_id: "main".into(),
        group: "group0".into(),
        tx_hash: format!("0x{}", "ab".repeat(32)),
        block_hash: format!("0x{}", "cd".repeat(32)),
        height: 7,
        index: 0,
        time_ms: 1_700_000_000_000,
        from: Some(format!("0x{}", "11".repeat(20))),
        to: format!("0x{}", "22".repeat(20)),
        sealer: None,
        method: Some("0x12345678".into()),
        status: "opened".into(),
        ..Default::default()
    };
    let b = &mut d.business;
    b.scenario = Some("remittance".into());
    b.action = Some("remit".into());
    b.reference = Some("RM-1".into());
    b.payer.account = Some(format!("0x{}", "33".repeat(20)));
    b.payer.id = Some("org-a".into());
    b.payee.account = Some(format!("0x{}", "44".repeat(20)));
    b.payee.id = Some("org-b".into());
    b.amount = Some(records::Money::from_hundredths(123_456));
    b.currency = Some("CNY".into());
    b.memo = Some("跨境汇款 remittance".into());
    let arg = |name: &str, ty: &str, value: abi::Value| records::decode::DecodedArg {
        name: name.into(),
        ty: ty.into(),
        value,
        indexed: false,
    };
    let decoded = |name: &str, args| records::decode::Decoded {
        contract: d.to.clone(),
        abi_version: Some(1),
        status: records::decode::Status::Decoded,
        name: Some(name.into()),
        signature: Some(format!("{name}(address,uint256)")),
        args,
        error: None,
        tag: format!("{}@1", d.to),
    };
    let payee = abi::Value::Address(format!("0x{}", "44".repeat(20)));
    d.call = Some(decoded(
        "pay",
        vec![
            arg("payee", "address", payee.clone()),
            arg("amount", "uint256", abi::Value::Uint("123456".into())),
        ],
    ));
    d.events = vec![decoded(
        "Transfer",
        vec![
            arg("to", "address", payee),
            arg("value", "uint256", abi::Value::Uint("123456".into())),
        ],
    )];
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beijing_hour_and_weekday() {
        // 2026-11-25 00:30 UTC is 08:30 on a Wednesday in Beijing.
        let ms = 1_795_566_600_000;
        let at = |ms: i64| {
            let v = tx_value(&TxDoc {
                time_ms: ms,
                ..Default::default()
            });
            match v {
                Value::Map(m) => (
                    m.get(&cel::objects::Key::from("hour".to_string())).cloned(),
                    m.get(&cel::objects::Key::from("weekday".to_string()))
                        .cloned(),
                ),
                _ => (None, None),
            }
        };
        assert_eq!(at(ms), (Some(Value::Int(8)), Some(Value::Int(3))));
        // 17:00 UTC on Tuesday is 01:00 Wednesday in Beijing.
        assert_eq!(
            at(ms - 7 * 3_600_000 - 1_800_000),
            (Some(Value::Int(1)), Some(Value::Int(3)))
        );
        // A block time at the edge of i64 does not overflow.
        assert!(matches!(at(i64::MAX).0, Some(Value::Int(0..=23))));
    }

    #[test]
    fn every_field_is_set() {
        let Value::Map(m) = tx_value(&probe()) else {
            panic!("a map")
        };
        assert_eq!(m.map.len(), FIELDS.len());
    }
}
