//! Every real FISCO BCOS fixture verifies, and a copy with any single field
//! changed fails with the check that names it.

#![allow(clippy::unwrap_used)]

use chain::CryptoSuite;
use chain::verify::Item;
use serde_json::Value;

fn fixtures() -> Vec<(String, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/fisco-bcos");
    let mut out: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn every_fixture_verifies() {
    let all = fixtures();
    assert_eq!(all.len(), 15);
    for (name, text) in &all {
        let item = Item::parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let suite = item.detect_suite();
        let expected = if name.starts_with("sm_") {
            CryptoSuite::Sm
        } else {
            CryptoSuite::Standard
        };
        assert_eq!(suite, expected, "{name}");
        let report = item.verify(suite, None);
        for c in &report.checks {
            println!("{name}: {c}");
        }
        assert!(
            report.passed(),
            "{name}: {:?}",
            report.failures().collect::<Vec<_>>()
        );
    }
}

/// Every leaf of `v` (strings, numbers, booleans) with its JSON pointer,
/// plus one "drop the last element" per non-empty array.
fn leaves(v: &Value, ptr: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                leaves(x, format!("{ptr}/{k}"), out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                leaves(x, format!("{ptr}/{i}"), out);
            }
            if !a.is_empty() {
                out.push(format!("{ptr}#pop"));
            }
        }
        _ => out.push(ptr),
    }
}

/// The document with the value at `ptr` changed in a way that keeps its
/// type and shape (a hex digit flipped, a number incremented, a decimal
/// string's last digit changed, …).
fn mutate(doc: &Value, ptr: &str) -> Value {
    let mut doc = doc.clone();
    if let Some(arr_ptr) = ptr.strip_suffix("#pop") {
        doc.pointer_mut(arr_ptr)
            .unwrap()
            .as_array_mut()
            .unwrap()
            .pop();
        return doc;
    }
    let slot = doc.pointer_mut(ptr).unwrap();
    *slot = match slot.clone() {
        Value::Number(n) => Value::from(n.as_i64().unwrap_or(0) + 1),
        Value::Bool(b) => Value::Bool(!b),
        Value::String(s) if s.is_empty() => Value::String("1".into()),
        Value::String(s) if s == "0x" => Value::String("0x00".into()),
        Value::String(s) => {
            let mut chars: Vec<char> = s.chars().collect();
            let last = chars.len() - 1;
            chars[last] = match chars[last] {
                '0' => '1',
                c if c.is_ascii_hexdigit() => '0',
                _ => 'x',
            };
            Value::String(chars.into_iter().collect())
        }
        other => other,
    };
    doc
}

/// Fields that no hash or signature covers, so no verifier can tell they
/// were changed (the node adds them when it answers): provenance notes, the
/// JSON-RPC envelope, a transaction's import time and unsigned extraData,
/// a receipt's message and the transaction fields it repeats (checked only
/// when the transaction is served alongside), and the 3.0 nodes' legacy
/// 16-ary proofs that do not fold to the header.
fn uncovered(file: &str, ptr: &str) -> bool {
    let top = ["/_source", "/_note", "/id", "/jsonrpc", "/raw_request_text"];
    if top.iter().any(|p| ptr.starts_with(p)) {
        return true;
    }
    let receipt = file.contains("receipt");
    let field = ptr.strip_prefix("/result").unwrap_or(ptr);
    let name = field
        .trim_start_matches('/')
        .split(['/', '#'])
        .next()
        .unwrap_or("");
    match name {
        "importTime" | "extraData" if !file.contains("Block") => true,
        "message" | "from" | "to" | "input" | "transactionHash" | "transactionProof"
        | "receiptProof" | "txProof"
            if receipt =>
        {
            true
        }
        // Signatures beyond the quorum may be dropped: the block stays genuine.
        "signatureList" if field.ends_with("#pop") => true,
        // A proof served alone shows only where it leads; a changed sibling
        // leads elsewhere. Checked against the block below.
        "txProof" | "txReceiptProof" => !field.ends_with("#pop") && ptr.matches('/').count() > 1,
        _ => false,
    }
}

fn detected(docs: &[Value]) -> bool {
    let mut items = Vec::new();
    for d in docs {
        match Item::parse(&d.to_string()) {
            Ok(item) => items.push(item),
            Err(_) => return true,
        }
    }
    let suite_of = |i: &Item| i.detect_suite();
    let each = items.iter().any(|i| !i.verify(suite_of(i), None).passed());
    let across = items.len() > 1 && !chain::verify::cross_check(suite_of, &items).passed();
    each || across
}

#[test]
fn any_single_covered_field_changed_fails() {
    let mut tried = 0;
    for (name, text) in fixtures() {
        let doc: Value = serde_json::from_str(&text).unwrap();
        let mut ptrs = Vec::new();
        leaves(&doc, String::new(), &mut ptrs);
        for ptr in ptrs {
            if ptr == "/signed_tx_tars_hex" {
                continue; // covered byte by byte below
            }
            let changed = mutate(&doc, &ptr);
            let caught = detected(std::slice::from_ref(&changed));
            if uncovered(&name, &ptr) {
                continue;
            }
            tried += 1;
            assert!(caught, "{name}: changing {ptr} went unnoticed");
        }
    }
    assert!(tried > 250, "only {tried} mutations tried");
}

#[test]
fn proofs_and_repeated_fields_are_checked_against_the_served_block() {
    let all = fixtures();
    let group: Vec<Value> = all
        .iter()
        .filter(|(n, _)| n.starts_with("nonsm_v3.2_block60"))
        .map(|(_, t)| serde_json::from_str(t).unwrap())
        .collect();
    assert_eq!(group.len(), 3);
    assert!(!detected(&group), "the genuine group passes");
    let mut tried = 0;
    for (k, doc) in group.iter().enumerate() {
        let mut ptrs = Vec::new();
        leaves(doc, String::new(), &mut ptrs);
        for ptr in ptrs.iter().filter(|p| {
            // A receipt's transactionHash is not in its hash; in this block
            // every receipt is identical, so even the proof cannot place it.
            p.contains("Proof")
                || ["/result/from", "/result/to", "/result/input"].contains(&p.as_str())
        }) {
            let mut changed = group.clone();
            changed[k] = mutate(doc, ptr);
            tried += 1;
            assert!(
                detected(&changed),
                "document {k}: changing {ptr} went unnoticed beside its block"
            );
        }
    }
    assert!(tried > 50, "only {tried} mutations tried");
}

#[test]
fn any_byte_of_a_signed_tars_transaction_changed_fails() {
    let (_, text) = fixtures()
        .into_iter()
        .find(|(n, _)| n.starts_with("sm_send"))
        .unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let hex_text = doc["signed_tx_tars_hex"]
        .as_str()
        .unwrap()
        .trim_start_matches("0x");
    let bytes = hex::decode(hex_text).unwrap();
    for i in 0..bytes.len() {
        let mut b = bytes.clone();
        b[i] ^= 0x01;
        let changed = serde_json::json!({ "signed_tx_tars_hex": hex::encode(&b) });
        assert!(detected(&[changed]), "flipping byte {i} went unnoticed");
    }
}
