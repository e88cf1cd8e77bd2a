//! The README's main command: `lookthrough demo` runs a chain with a lying
//! endpoint and an honest one, and the node follows it, opening envelopes
//! and reporting the lie as a finding, and indexes every transaction so
//! that a search finds them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

#[test]
fn the_demo_follows_its_chain_and_reports_the_lie() {
    let out = Command::new(env!("CARGO_BIN_EXE_lookthrough"))
        .args([
            "demo",
            "--until-height",
            "6",
            "--interval-ms",
            "50",
            "--txs-per-block",
            "10",
            "--seed",
            "5",
            "--api-listen",
            "127.0.0.1:0",
        ])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    // The final status line: six blocks of ten transactions, most opened.
    let last = stdout
        .lines()
        .rfind(|l| l.trim_start().starts_with("height"))
        .expect("a status line");
    assert!(last.contains("height     6"), "{last}");
    assert!(last.contains("     60 tx"), "{last}");
    let opened: i64 = last
        .split("opened ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("an opened count");
    assert!(opened > 0, "{last}");
    assert!(last.contains("findings 1"), "{last}");
    assert!(last.contains("searchable to 6 (60 tx)"), "{last}");
    // The example rules ran on every block, and some fired (the built-in
    // ones at least, on the not-for-us and inconsistent envelopes).
    assert!(last.ends_with("(rules to 6)"), "{last}");
    let alerts: i64 = last
        .split("alerts ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("an alert count");
    assert!(alerts > 0, "{last}");
    let search = stdout
        .lines()
        .rfind(|l| l.trim_start().starts_with("search    \"跨境汇款\""))
        .expect("a search line");
    assert!(search.contains(" matches; newest in block "), "{search}");
    assert!(
        stdout.contains("finding   block 3 from") && stdout.contains("sealer-signature"),
        "{stdout}"
    );
}

/// `demo --chains 3`: three chains (two national-standard, one standard)
/// in one node; the first one's lie is its finding alone, every chain is
/// stored to the height, and the index and rules cover all three.
#[test]
fn the_demo_follows_three_chains_in_one_node() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let data_s = data.display().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_lookthrough"))
        .args([
            "demo",
            "--chains",
            "3",
            "--until-height",
            "4",
            "--interval-ms",
            "50",
            "--txs-per-block",
            "10",
            "--seed",
            "7",
            "--api-listen",
            "127.0.0.1:0",
            "--data-dir",
            &data_s,
        ])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for (id, kind) in [
        ("sh", "national-standard"),
        ("bj", "national-standard"),
        ("hk", "standard"),
    ] {
        assert!(
            stdout.contains(&format!("chain     {id} ({kind})")),
            "{stdout}"
        );
        let last = stdout
            .lines()
            .rfind(|l| l.trim_start().starts_with(&format!("{id} ")))
            .expect("a status line per chain");
        assert!(last.contains("height     4"), "{last}");
        assert!(last.contains("     40 tx"), "{last}");
        assert!(
            last.contains(if id == "sh" {
                "findings 1"
            } else {
                "findings 0"
            }),
            "{last}"
        );
        // Every chain's blocks merged, indexed and evaluated: 3 × 5 blocks.
        assert!(last.contains("searchable to 14 (120 tx)"), "{last}");
        assert!(last.ends_with("(rules to 14)"), "{last}");
    }
    assert!(stdout.contains("finding   sh block 3 from"), "{stdout}");
    // The configuration it leaves names the three chains, and the search
    // command reads each one's transactions from the one index.
    let config = data.join("lookthrough.toml").display().to_string();
    let hits = search(&config, &["--first", "500"]);
    assert_eq!(hits.len(), 120);
    for id in ["sh", "bj", "hk"] {
        assert_eq!(hits.iter().filter(|h| h["chain"] == id).count(), 40, "{id}");
    }
    assert!(
        hits.iter()
            .all(|h| h["status"].as_str().is_some_and(|s| !s.is_empty()))
    );
}

fn lookthrough(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lookthrough"))
        .args(args)
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The hashes and total of `search --json` hits.
fn search(config: &str, args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["search", "--config", config, "--json"];
    all.extend_from_slice(args);
    let (ok, stdout, stderr) = lookthrough(&all);
    assert!(ok, "{stdout}\n{stderr}");
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_kept_demo_is_searched_and_reindexed_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let data_s = data.to_str().unwrap();
    let (ok, stdout, stderr) = lookthrough(&[
        "demo",
        "--until-height",
        "8",
        "--interval-ms",
        "20",
        "--txs-per-block",
        "30",
        "--seed",
        "9",
        "--fault",
        "none",
        "--data-dir",
        data_s,
        "--api-listen",
        "127.0.0.1:0",
    ]);
    assert!(ok, "{stdout}\n{stderr}");
    let config = data.join("lookthrough.toml");
    let config = config.to_str().unwrap();

    let hits = search(config, &["跨境汇款", "--first", "500", "--sort", "chain"]);
    assert!(!hits.is_empty(), "跨境汇款 found nothing");
    for h in &hits {
        let memo = h["memo"].as_str().unwrap_or("");
        let snippet = h["snippets"].to_string();
        assert!(
            memo.contains("汇款") || snippet.contains("<b>跨境汇款</b>"),
            "{h}"
        );
    }
    // Chain order, newest first.
    let heights: Vec<i64> = hits.iter().map(|h| h["height"].as_i64().unwrap()).collect();
    assert!(heights.windows(2).all(|w| w[0] >= w[1]), "{heights:?}");

    // An exact hash finds its transaction.
    let hash = hits[0]["tx_hash"].as_str().unwrap().to_string();
    let one = search(config, &[&hash.to_uppercase().replacen("0X", "0x", 1)]);
    assert_eq!(one.len(), 1);
    assert_eq!(one[0]["tx_hash"], hash.as_str());

    // Filters and amount order.
    let usd = search(
        config,
        &["--currency", "usd", "--sort", "amount", "--first", "500"],
    );
    assert!(usd.iter().all(|h| h["currency"] == "USD"));
    let amounts: Vec<f64> = usd
        .iter()
        .map(|h| h["amount"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(amounts.windows(2).all(|w| w[0] >= w[1]), "{amounts:?}");

    // Reindexing from the store alone gives the same answers.
    let (ok, stdout, stderr) = lookthrough(&["reindex", "--config", config]);
    assert!(ok, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("reindexed 240 transactions of blocks 0..=8"),
        "{stdout}"
    );
    let again = search(config, &["跨境汇款", "--first", "500", "--sort", "chain"]);
    let hashes = |v: &[serde_json::Value]| -> Vec<String> {
        v.iter().map(|h| h["tx_hash"].to_string()).collect()
    };
    assert_eq!(hashes(&again), hashes(&hits));

    // Bad input is named.
    let (ok, _, stderr) = lookthrough(&["search", "--config", config, "--since", "2026-02-30x"]);
    assert!(!ok);
    assert!(stderr.contains("--since"), "{stderr}");

    // An evidence pack of an opened and a public transaction, made from
    // the store beside nothing else, verifies from the pack alone.
    let all = search(config, &["--first", "500", "--sort", "chain"]);
    let of = |status: &str| {
        all.iter()
            .find(|h| h["status"] == status)
            .map(|h| h["tx_hash"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("no {status} transaction"))
    };
    let (opened, public) = (of("opened"), of("not-envelope"));
    let pack = dir.path().join("case.json");
    let pack_s = pack.to_str().unwrap();
    let (ok, stdout, stderr) = lookthrough(&[
        "evidence", "export", "--config", config, "--tx", &opened, &public, "--out", pack_s,
    ]);
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stderr.contains("2 transactions, 1 opened"), "{stderr}");
    let (ok, stdout, stderr) = lookthrough(&["evidence", "verify", pack_s]);
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.contains("evidence pack holds"), "{stdout}");
    // The demo trusts its configured committee, which the genesis block
    // lists: the anchor is the genesis hash.
    assert!(
        stdout.contains("the first one listed in the genesis block"),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("{opened} block")), "{stdout}");
    assert!(stdout.contains("opened: {"), "{stdout}");
    // A pack is not overwritten.
    let (ok, _, stderr) = lookthrough(&[
        "evidence", "export", "--config", config, "--tx", &opened, "--out", pack_s,
    ]);
    assert!(!ok && stderr.contains("must not exist"), "{stderr}");
    // A changed byte of the plaintext is named.
    let text = std::fs::read_to_string(&pack).unwrap();
    let at = text.find("\"plaintext\": \"").unwrap() + "\"plaintext\": \"".len() + 4;
    let mut bytes = text.into_bytes();
    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
    let bad = dir.path().join("changed.json");
    std::fs::write(&bad, &bytes).unwrap();
    let (ok, stdout, _) = lookthrough(&["evidence", "verify", bad.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        stdout.contains("REFUSED at transactions[0].plaintext"),
        "{stdout}"
    );
    // Unknown transactions are named.
    let unknown = format!("0x{}", "ab".repeat(32));
    let (ok, _, stderr) = lookthrough(&[
        "evidence",
        "export",
        "--config",
        config,
        "--tx",
        &unknown,
        "--out",
        dir.path().join("x.json").to_str().unwrap(),
    ]);
    assert!(
        !ok && stderr.contains("is not stored on any chain"),
        "{stderr}"
    );
    // A backtest of the demo's rules opens, rule for rule, what the demo's
    // engine opened over the same history, and writes nothing.
    let store_dir = data.join("store");
    let live = {
        let store = store::Store::open_read_only(&store_dir).unwrap();
        policies::family::all_alerts(&store).unwrap()
    };
    let rules_file = data.join("policies/rules/aml.toml");
    let (ok, stdout, stderr) = lookthrough(&[
        "rules",
        "backtest",
        rules_file.to_str().unwrap(),
        "--config",
        config,
        "--json",
        "--first",
        "1000",
    ]);
    assert!(ok, "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let mut got: Vec<(String, String, i64)> = report["first_alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["rule"].as_str().unwrap().to_string(),
                a["key"].as_str().unwrap().to_string(),
                a["opened_height"].as_i64().unwrap(),
            )
        })
        .collect();
    let rules: Vec<String> = report["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect();
    let mut want: Vec<(String, String, i64)> = live
        .iter()
        .filter(|a| rules.contains(&a.rule))
        .map(|a| (a.rule.clone(), a.group_key.clone(), a.opened_height))
        .collect();
    got.sort();
    want.sort();
    assert!(!want.is_empty(), "the demo's rules fired");
    assert_eq!(got, want);
    let after = {
        let store = store::Store::open_read_only(&store_dir).unwrap();
        policies::family::all_alerts(&store).unwrap()
    };
    assert_eq!(after.len(), live.len(), "the backtest opened no alert");
    // A bad rule file is named, and nothing runs.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[[rule]]\nid = \"x\"\ncondition = \"tx.amount >\"\n").unwrap();
    let (ok, stdout, stderr) = lookthrough(&[
        "rules",
        "backtest",
        bad.to_str().unwrap(),
        "--config",
        config,
    ]);
    assert!(!ok);
    assert!(
        stdout.contains("ERROR") && stderr.contains("nothing was run"),
        "{stdout}{stderr}"
    );
}
