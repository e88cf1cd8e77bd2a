//! The dashboards in a real browser: the real binary runs the demo (a
//! devnet chain, the node, the API and the dashboards); once its store
//! holds what the pages need (matches for 汇款, private transactions, open
//! alerts, a memo carrying `<script>`), `tests/browser/dashboard.mjs`
//! drives Debian's Chromium through Playwright: sign-in, search with
//! highlights, sorting, CSV export, a decrypted memo and the same page as a
//! viewer, an evidence pack downloaded from a transaction page, markup
//! shown as text, an alert acknowledged and resolved, CSRF refusals, the
//! overview's charts, a backtest of a rule from the rules page, the
//! language switch. Screenshots of
//! each page are left in `$CARGO_TARGET_TMPDIR/dashboard-screenshots`.
//!
//! Chromium is found at `LT_CHROMIUM` or `/usr/bin/chromium` (`.ci/run`
//! installs Debian's).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod support;
use support::{Demo, npm_ci, post};

/// Waits until the demo's index holds what the browser test reads.
fn wait_for_content(addr: &str, token: &str) {
    let deadline = Instant::now() + Duration::from_secs(240);
    let query = r#"{
        markup: transactions(search: "script") { totalCount }
        remit: transactions(search: "汇款", filter: { privacyClass: PRIVATE }) { totalCount }
        alerts(filter: { states: [OPEN] }, first: 1) { nodes { id } }
    }"#;
    loop {
        let (status, v) = post(addr, token, query, json!({}));
        assert_eq!(status, 200, "{v}");
        let ready = v["data"]["markup"]["totalCount"].as_i64().unwrap_or(0) >= 1
            && v["data"]["remit"]["totalCount"].as_i64().unwrap_or(0) >= 1
            && !v["data"]["alerts"]["nodes"]
                .as_array()
                .is_none_or(Vec::is_empty);
        if ready {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the demo's chain has not yet what the pages need: {v}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn compliance_officers_work_in_a_real_browser() {
    let chromium = std::env::var("LT_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "Chromium is needed at {chromium} (Debian: apt-get install chromium; .ci/run does)"
    );
    let dir = tempfile::tempdir().unwrap();
    let mut demo = Demo::start(&dir.path().join("demo"), 8, 40);
    let addr = demo.api_addr();
    let token = demo.admin_token();
    let link_line = demo.line("dashboard");
    let link = link_line
        .split_whitespace()
        .nth(1)
        .and_then(|u| u.split_once(addr.as_str()))
        .map(|(_, path)| path.to_string())
        .expect("the demo prints a sign-in link on the dashboard line");
    assert!(link.starts_with("/login/link?code="), "{link}");
    wait_for_content(&addr, &token);

    let (status, v) = post(
        &addr,
        &token,
        "mutation { createToken(name: \"browser viewer\", role: VIEWER) { token } }",
        json!({}),
    );
    assert_eq!(status, 200, "{v}");
    let viewer = v["data"]["createToken"]["token"]
        .as_str()
        .unwrap()
        .to_string();

    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).unwrap();
    let browser = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    npm_ci(&browser);
    let out = Command::new("node")
        .arg("dashboard.mjs")
        .current_dir(&browser)
        .env("LT_BASE", format!("http://{addr}"))
        .env("LT_LINK", &link)
        .env("LT_VIEWER_TOKEN", &viewer)
        .env("LT_SHOTS", &shots)
        .env("LT_CHROMIUM", &chromium)
        .output()
        .expect("node runs the browser test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or(Value::Null);
    assert!(
        out.status.success() && report["ok"] == true,
        "the browser test failed at {}: {}\nstdout: {stdout}\nstderr: {}",
        report["step"],
        report["error"],
        String::from_utf8_lossy(&out.stderr)
    );
    for page in [
        "overview",
        "search",
        "transaction",
        "transaction-markup",
        "account",
        "alerts",
        "alert",
        "rules",
        "search-zh",
        "transaction-viewer",
        "login-refused",
    ] {
        let png = shots.join(format!("{page}.png"));
        let bytes = std::fs::read(&png).unwrap_or_default();
        assert!(
            bytes.starts_with(b"\x89PNG") && bytes.len() > 5_000,
            "screenshot {} missing or empty",
            png.display()
        );
    }

    // What the browser did is in the audit log: the admin's reads of
    // decrypted data, and the export.
    let (status, v) = post(
        &addr,
        &token,
        "{ auditLog(first: 200) { nodes { actorName operation read } } }",
        json!({}),
    );
    assert_eq!(status, 200, "{v}");
    let entries = v["data"]["auditLog"]["nodes"].as_array().unwrap();
    let ops: Vec<&str> = entries
        .iter()
        .filter(|e| e["actorName"] == "demo admin")
        .filter_map(|e| e["operation"].as_str())
        .collect();
    for op in [
        "DashboardSearch",
        "DashboardTransaction",
        "DashboardAlertValues",
    ] {
        assert!(ops.contains(&op), "{op} audited: {ops:?}");
    }
    assert!(
        !entries.iter().any(|e| e["actorName"] == "browser viewer"
            && e["read"].as_array().is_some_and(|r| !r.is_empty())),
        "the viewer read no decrypted data"
    );
    demo.stop();
}
