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
    assert!(last.ends_with("searchable to 6 (60 tx)"), "{last}");
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
