//! Decoded contract data end to end: the real binary runs the demo (its
//! chain made of calls to Solidity contracts executed by the devnet's EVM,
//! their ABIs fetched from the chain); a search by decoded arguments finds
//! exactly the calls whose decoded arguments say so, a rule written on
//! `tx.call` and `tx.events` (saved through the API) opens alerts on such
//! calls only, and the dashboard's transaction page shows the decoded call
//! and events with the raw input a click away.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod support;
use support::{Demo, post};

const RULE: &str = r#"[[rule]]
id = "usd-remittance-call"
title = "Cross-border payment in USD (decoded call)"
severity = "high"
condition = '''tx.call.method == "pay" && tx.call.args.currency == "USD"
  && tx.events.exists(e, e.name == "PaymentSent" && e.args.amount == tx.call.args.amount)'''
"#;

/// `GET path` with `cookie`; the status, the headers (lowercased) and the
/// body.
fn get(addr: &str, path: &str, cookie: Option<&str>) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let cookie = cookie.map_or(String::new(), |c| format!("Cookie: {c}\r\n"));
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{cookie}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head.to_ascii_lowercase(), body.to_string())
}

fn arg<'a>(call: &'a Value, name: &str) -> Option<&'a str> {
    call["args"]
        .as_array()?
        .iter()
        .find(|a| a["name"] == name)
        .and_then(|a| a["value"].as_str())
}

#[test]
fn decoded_calls_are_searched_alerted_on_and_shown() {
    let dir = tempfile::tempdir().unwrap();
    let mut demo = Demo::start(&dir.path().join("demo"), 11, 40);
    let addr = demo.api_addr();
    let token = demo.admin_token();
    let link = demo.line("dashboard");

    // A rule on decoded fields, saved through the API.
    let (status, v) = post(
        &addr,
        &token,
        "mutation($t: String!) { saveRule(text: $t) { version source } }",
        json!({ "t": RULE }),
    );
    assert_eq!(status, 200, "{v}");
    assert!(v["errors"].is_null(), "the rule compiles: {v}");

    // Wait until the chain holds decoded USD payments and the rule fired.
    let usd = r#"{
        calls: transactions(filter: { method: "pay", event: "PaymentSent" }, first: 100, order: { field: CHAIN, direction: ASC }) {
            nodes { hash height input call { contract abiVersion status method args { name type value } } events { name args { name value } } }
        }
        usd: transactions(search: "arg:\"currency=usd\"", filter: { method: "pay" }, first: 100, order: { field: CHAIN, direction: ASC }) {
            totalCount indexedHeight
            nodes { hash }
        }
        alerts(filter: { rules: ["usd-remittance-call"] }, first: 20) { nodes { id transactions } }
    }"#;
    let deadline = Instant::now() + Duration::from_secs(240);
    let v = loop {
        let (status, v) = post(&addr, &token, usd, json!({}));
        assert_eq!(status, 200, "{v}");
        assert!(v["errors"].is_null(), "{v}");
        let d = &v["data"];
        let decoded = d["calls"]["nodes"]
            .as_array()
            .is_some_and(|n| n.iter().all(|t| t["call"]["status"] == "DECODED"));
        let ready = decoded
            && d["usd"]["totalCount"].as_u64().unwrap_or(0) >= 2
            && d["alerts"]["nodes"]
                .as_array()
                .is_some_and(|a| !a.is_empty());
        if ready {
            break v;
        }
        assert!(
            Instant::now() < deadline,
            "no decoded USD payments and alerts yet: {v}"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    let d = &v["data"];

    // Every decoded `pay` names its ABI version and carries the
    // PaymentSent event with the same amount.
    let calls = d["calls"]["nodes"].as_array().unwrap();
    assert!(!calls.is_empty());
    let searched_to = d["usd"]["indexedHeight"].as_i64().unwrap();
    let mut usd_by_decoding = std::collections::BTreeSet::new();
    for t in calls {
        let call = &t["call"];
        assert_eq!(call["method"], "pay");
        assert!(
            call["abiVersion"].as_u64().is_some_and(|v| v >= 1),
            "{call}"
        );
        let sent = t["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "PaymentSent")
            .unwrap();
        assert_eq!(arg(sent, "amount"), arg(call, "amount"), "{t}");
        assert_eq!(arg(sent, "payee"), arg(call, "payee"), "{t}");
        if arg(call, "currency") == Some("USD") && t["height"].as_i64().unwrap() <= searched_to {
            usd_by_decoding.insert(t["hash"].as_str().unwrap().to_string());
        }
        // The raw call data is the encoding of what was decoded.
        assert!(t["input"].as_str().unwrap().len() > 10 + 5 * 64);
    }

    // Search by a decoded argument: exactly the payments whose decoded
    // currency is USD (over the same transactions: the first 100 in chain
    // order, up to the height the search saw).
    let by_search: std::collections::BTreeSet<String> = d["usd"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["hash"].as_str().unwrap().to_string())
        .collect();
    let listed: std::collections::BTreeSet<String> = calls
        .iter()
        .filter(|t| t["height"].as_i64().unwrap() <= searched_to)
        .map(|t| t["hash"].as_str().unwrap().to_string())
        .collect();
    let in_listed: std::collections::BTreeSet<String> =
        by_search.intersection(&listed).cloned().collect();
    assert_eq!(in_listed, usd_by_decoding, "search by arg:currency=usd");

    // The rule's alerts are on decoded USD payments only.
    let alerts = d["alerts"]["nodes"].as_array().unwrap();
    let mut alerted = Vec::new();
    for a in alerts {
        for h in a["transactions"].as_array().unwrap() {
            let (_, t) = post(
                &addr,
                &token,
                "query($h: String!) { transaction(hash: $h) { call { method args { name value } } } }",
                json!({ "h": h }),
            );
            let call = &t["data"]["transaction"]["call"];
            assert_eq!(call["method"], "pay", "{t}");
            assert_eq!(arg(call, "currency"), Some("USD"), "{t}");
            alerted.push(h.as_str().unwrap().to_string());
        }
    }
    assert!(!alerted.is_empty());

    // The dashboard's transaction page: the decoded call and events, the
    // ABI version, and the raw input one click away.
    let path = link.split(&format!("http://{addr}")).nth(1).unwrap();
    let path = path.split_whitespace().next().unwrap();
    let (status, head, _) = get(&addr, path, None);
    assert!(status == 303 || status == 302, "{status} {head}");
    let session = head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_string();
    let hash = &alerted[0];
    let (status, _, page) = get(&addr, &format!("/tx/{hash}"), Some(&session));
    assert_eq!(status, 200, "{page}");
    let t = calls.iter().find(|t| t["hash"] == hash.as_str());
    for needle in ["pay", "PaymentSent", "currency", "USD", "ABI v", "<details"] {
        assert!(page.contains(needle), "the page lacks {needle:?}");
    }
    if let Some(t) = t {
        let input = t["input"].as_str().unwrap();
        assert!(page.contains(input), "the raw input is on the page");
        let amount = arg(&t["call"], "amount").unwrap();
        assert!(page.contains(amount));
    }
    demo.stop();
}
