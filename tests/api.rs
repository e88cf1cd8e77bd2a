//! The API as a newcomer meets it: `lookthrough demo` serves GraphQL and
//! prints a ready admin token, which a third-party client (npm's
//! graphql-request and graphql-ws) uses for a query and a subscription; reads of decrypted data land in the audit
//! log; `lookthrough audit verify` finds the log intact and sealed, and
//! names the entry an intruder changed in RocksDB; `lookthrough token`
//! manages tokens on a stopped node.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod support;
use support::{Demo, npm_ci, post};

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

/// Runs `tests/graphql-client/client.mjs` (installing its npm packages on
/// first use) against the API at `addr`; returns what it printed.
fn third_party_client(addr: &str, token: &str) -> Value {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/graphql-client");
    npm_ci(&dir);
    let out = Command::new("node")
        .arg("client.mjs")
        .current_dir(&dir)
        .env("LOOKTHROUGH_URL", format!("http://{addr}/graphql"))
        .env("LOOKTHROUGH_TOKEN", token)
        .env("BLOCKS", "3")
        .output()
        .expect("node runs the third-party client test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap()
}

#[test]
fn the_demo_serves_the_api_and_its_audit_log_shows_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let mut demo = Demo::start(&data, 21, 20);
    let addr = demo.api_addr();
    let token = demo.admin_token();
    assert!(demo.line("try").contains(&token));

    // The printed token is an admin's; wait until a few blocks are searchable.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, v) = post(
            &addr,
            &token,
            "{ me { role } chain { indexedHeight } }",
            json!({}),
        );
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["data"]["me"]["role"], "ADMIN");
        if v["data"]["chain"]["indexedHeight"].as_i64().unwrap_or(-1) >= 4 {
            break;
        }
        assert!(Instant::now() < deadline, "the demo did not index 4 blocks");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, _) = post(
        &addr,
        "lt_0000000000000000_wrong",
        "{ me { role } }",
        json!({}),
    );
    assert_eq!(status, 401);

    // A third-party client: npm's graphql-request for a query and
    // graphql-ws for a subscription to the blocks that commit next.
    let client = third_party_client(&addr, &token);
    assert_eq!(client["query"]["me"]["role"], "ADMIN", "{client}");
    assert_eq!(client["refused"], 401, "{client}");
    let store = store::Store::open_read_only(&data.join("store")).unwrap();
    let want: Vec<String> = store
        .transactions_from((0, 0), 5)
        .unwrap()
        .iter()
        .map(|t| chain::hexbytes::encode0x(&t.tx.claimed_hash))
        .collect();
    let got: Vec<&str> = client["query"]["transactions"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["hash"].as_str().unwrap())
        .collect();
    assert_eq!(got, want, "the first five transactions in chain order");
    let from = client["from"].as_i64().unwrap();
    let blocks = client["blocks"].as_array().unwrap();
    assert_eq!(blocks.len(), 3, "{client}");
    drop(store);
    let store = store::Store::open_read_only(&data.join("store")).unwrap();
    for (i, b) in blocks.iter().enumerate() {
        let h = from + i as i64;
        assert_eq!(b["height"], h, "{client}");
        let stored = store.block(h).unwrap().expect("pushed blocks are stored");
        assert_eq!(
            b["hash"],
            chain::hexbytes::encode0x(&stored.header.claimed_hash)
        );
    }
    drop(store);

    // Two reads of decrypted payloads: two audit entries.
    let read = "{ transactions(first: 3, filter: {envelopeStatus: OPENED}) { edges { node { hash payload { memo } } } } }";
    let mut read_hashes = Vec::new();
    for _ in 0..2 {
        let (status, v) = post(&addr, &token, read, json!({}));
        assert_eq!(status, 200, "{v}");
        let edges = v["data"]["transactions"]["edges"].as_array().unwrap();
        assert!(!edges.is_empty(), "{v}");
        assert!(
            edges
                .iter()
                .all(|e| e["node"]["payload"]["memo"].is_string())
        );
        read_hashes.push(
            edges
                .iter()
                .map(|e| e["node"]["hash"].as_str().unwrap().to_string())
                .collect::<Vec<_>>(),
        );
    }
    demo.stop();

    let config = data.join("lookthrough.toml");
    let config = config.to_str().unwrap();
    let (ok, stdout, stderr) = lookthrough(&["audit", "verify", "--config", config]);
    assert!(ok, "{stdout}\n{stderr}");
    // Sealed when the demo stopped, if not before.
    assert!(
        stdout.contains("audit log intact: 2 entries chained;")
            && stdout.contains("seals verified with node key")
            && stdout.contains("the last covering entry 1"),
        "{stdout}"
    );
    let (ok, stdout, stderr) = lookthrough(&["audit", "export", "--config", config]);
    assert!(ok, "{stdout}\n{stderr}");
    let entries: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(entries.len(), 2);
    for (e, hashes) in entries.iter().zip(&read_hashes) {
        assert_eq!(e["actor"]["name"], "demo admin");
        assert_eq!(e["actor"]["role"], "admin");
        let mut want = hashes.clone();
        want.sort();
        assert_eq!(e["read"], json!(want));
        assert!(
            e["query"]
                .as_str()
                .unwrap()
                .contains("envelopeStatus: OPENED")
        );
    }

    // An intruder with write access to RocksDB rewrites who read entry 0.
    let store = data.join("store");
    {
        let cfs = rocksdb::DB::list_cf(&rocksdb::Options::default(), &store).unwrap();
        let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), &store, &cfs).unwrap();
        let cf = db.cf_handle("audit").unwrap();
        let key = 0u64.to_be_bytes();
        let mut value = db.get_cf(&cf, key).unwrap().unwrap();
        let text = String::from_utf8_lossy(&value[64..]).into_owned();
        let at = 64 + text.find("demo admin").unwrap();
        value[at..at + 10].copy_from_slice(b"somebody!!");
        db.put_cf(&cf, key, value).unwrap();
    }
    let (ok, stdout, _) = lookthrough(&["audit", "verify", "--config", config]);
    assert!(!ok, "a changed entry must fail verification: {stdout}");
    assert!(
        stdout.contains("BROKEN at entry 0") && stdout.contains("do not match its digest"),
        "{stdout}"
    );

    // Tokens on the stopped node: create (printed once), list, revoke.
    let (ok, stdout, stderr) = lookthrough(&[
        "token", "create", "--config", config, "--name", "li.na", "--role", "auditor",
    ]);
    assert!(ok, "{stdout}\n{stderr}");
    let made = stdout.trim().to_string();
    assert!(made.starts_with("lt_"), "{made}");
    let id = made[3..19].to_string();
    let (ok, stdout, _) = lookthrough(&["token", "list", "--config", config]);
    assert!(
        ok && stdout.contains(&id) && stdout.contains("auditor"),
        "{stdout}"
    );
    assert!(!stdout.contains(&made), "the list never shows a secret");
    let (ok, stdout, _) = lookthrough(&["token", "revoke", "--config", config, &id]);
    assert!(ok && stdout.contains("revoked"), "{stdout}");
    let (ok, stdout, _) = lookthrough(&["token", "list", "--config", config]);
    assert!(ok && stdout.contains("REVOKED"), "{stdout}");
    let (ok, _, stderr) = lookthrough(&[
        "token", "create", "--config", config, "--name", "x", "--role", "root",
    ]);
    assert!(!ok && stderr.contains("unknown role \"root\""), "{stderr}");
}
