//! The `lookthrough` binary's key, envelope, chain and rules commands, run as a
//! user would.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};

const CTX: &str = "chain0/group0/0x5b38da6a701c568545dcfcb03fcb875f56beddc4";

fn lookthrough(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lookthrough"))
        .current_dir(dir)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn keygen_seal_open_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(lookthrough(
        d,
        &["keygen", "--out", "reg.pem", "--public-out", "reg.pub"],
    ));
    ok(lookthrough(
        d,
        &["keygen", "--out", "bank.pem", "--public-out", "bank.pub"],
    ));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.join("reg.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "private key readable by its owner only"
        );
    }
    std::fs::write(d.join("payload"), "跨境汇款 memo".as_bytes()).unwrap();
    ok(lookthrough(
        d,
        &[
            "envelope",
            "seal",
            "--to",
            "bank.pub",
            "--to",
            "reg.pub",
            "--context",
            CTX,
            "--in",
            "payload",
            "--out",
            "env",
        ],
    ));
    let said = ok(lookthrough(
        d,
        &[
            "envelope",
            "open",
            "--key",
            "reg.pem",
            "--context",
            CTX,
            "--in",
            "env",
            "--out",
            "opened",
        ],
    ));
    assert!(said.starts_with("opened"), "{said}");
    assert_eq!(
        std::fs::read(d.join("opened")).unwrap(),
        "跨境汇款 memo".as_bytes()
    );

    // In another transaction: exit code 2 and the classification.
    let out = lookthrough(
        d,
        &[
            "envelope",
            "open",
            "--key",
            "reg.pem",
            "--context",
            "chain0/group9/0x5b38da6a701c568545dcfcb03fcb875f56beddc4",
            "--in",
            "env",
            "--out",
            "x",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrong-context"));
    assert!(!d.join("x").exists());

    // With a key that is not a recipient: not-for-us.
    ok(lookthrough(d, &["keygen", "--out", "other.pem"]));
    let out = lookthrough(
        d,
        &[
            "envelope",
            "open",
            "--key",
            "other.pem",
            "--context",
            CTX,
            "--in",
            "env",
            "--out",
            "x",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not-for-us"));

    // Key rotation: the new key and the old one together open it.
    let said = ok(lookthrough(
        d,
        &[
            "envelope",
            "open",
            "--key",
            "other.pem",
            "--key",
            "reg.pem",
            "--context",
            CTX,
            "--in",
            "env",
            "--out",
            "opened2",
        ],
    ));
    assert!(said.starts_with("opened"), "{said}");
}

#[test]
fn encrypted_keys_take_the_passphrase_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = |args: &[&str], pass: &str| {
        Command::new(env!("CARGO_BIN_EXE_lookthrough"))
            .current_dir(d)
            .args(args)
            .env("LT_PASS", pass)
            .output()
            .unwrap()
    };
    ok(run(
        &[
            "keygen",
            "--out",
            "reg.pem",
            "--public-out",
            "reg.pub",
            "--passphrase-env",
            "LT_PASS",
        ],
        "s3cret",
    ));
    let pem = std::fs::read_to_string(d.join("reg.pem")).unwrap();
    assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    std::fs::write(d.join("p"), b"x").unwrap();
    ok(run(
        &[
            "envelope",
            "seal",
            "--to",
            "reg.pub",
            "--context",
            CTX,
            "--in",
            "p",
            "--out",
            "env",
        ],
        "",
    ));
    ok(run(
        &[
            "envelope",
            "open",
            "--key",
            "reg.pem",
            "--passphrase-env",
            "LT_PASS",
            "--context",
            CTX,
            "--in",
            "env",
            "--out",
            "o",
        ],
        "s3cret",
    ));

    let out = run(
        &[
            "envelope",
            "open",
            "--key",
            "reg.pem",
            "--passphrase-env",
            "LT_PASS",
            "--context",
            CTX,
            "--in",
            "env",
            "--out",
            "o",
        ],
        "wrong",
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("reg.pem") && err.contains("wrong passphrase") && err.contains("LT_PASS"),
        "{err}"
    );
    assert!(
        !err.contains("wrong\n") && !err.contains("s3cret"),
        "the passphrase is never printed: {err}"
    );

    let out = run(
        &[
            "envelope",
            "open",
            "--key",
            "reg.pem",
            "--context",
            CTX,
            "--in",
            "env",
            "--out",
            "o",
        ],
        "s3cret",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("encrypted"));
}

#[test]
fn errors_name_the_file_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = lookthrough(
        d,
        &[
            "envelope",
            "seal",
            "--to",
            "nope.pub",
            "--context",
            CTX,
            "--in",
            "p",
            "--out",
            "e",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.pub"));

    std::fs::write(d.join("bad.pub"), "not a key").unwrap();
    let out = lookthrough(
        d,
        &[
            "envelope",
            "seal",
            "--to",
            "bad.pub",
            "--context",
            CTX,
            "--in",
            "p",
            "--out",
            "e",
        ],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.pub"));

    ok(lookthrough(
        d,
        &["keygen", "--out", "k.pem", "--public-out", "k.pub"],
    ));
    let out = lookthrough(
        d,
        &[
            "envelope",
            "seal",
            "--to",
            "k.pub",
            "--context",
            "chain0/group0",
            "--in",
            "p",
            "--out",
            "e",
        ],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("CHAIN/GROUP/0xSENDER"));

    // keygen refuses to overwrite a key.
    let out = lookthrough(d, &["keygen", "--out", "k.pem"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("k.pem"));

    // A malformed envelope is classified, not a crash.
    std::fs::write(
        d.join("junk"),
        [
            0x30, 0x82, 0x01, 0x00, 0x06, 0x0a, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x06, 0x01, 0x04,
            0x02, 0x03,
        ],
    )
    .unwrap();
    let out = lookthrough(
        d,
        &[
            "envelope",
            "open",
            "--key",
            "k.pem",
            "--context",
            CTX,
            "--in",
            "junk",
            "--out",
            "o",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("malformed"));
}

fn fixture_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("chain/tests/fixtures/fisco-bcos")
}

#[test]
fn chain_verify_accepts_every_real_fixture() {
    let dir = fixture_dir();
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut args = vec!["chain", "verify"];
    args.extend(files.iter().map(String::as_str));
    let said = ok(lookthrough(&dir, &args));
    assert!(said.contains("all checks passed"), "{said}");
    assert!(!said.contains("FAIL"), "{said}");
    // Cross-file checks ran for the block 60 group.
    assert!(
        said.contains("proof to block 60: folds to the block's txsRoot"),
        "{said}"
    );
}

#[test]
fn chain_verify_names_the_failed_check() {
    let dir = tempfile::tempdir().unwrap();
    let src = fixture_dir().join("sm_block2_getBlockByHash.json");
    let text = std::fs::read_to_string(src).unwrap();
    let cases = [
        (
            "\"gasUsed\": \"24363\"",
            "\"gasUsed\": \"24364\"",
            "FAIL header-hash",
        ),
        ("\"sealerIndex\": 1", "\"sealerIndex\": 0", "signed twice"),
        ("0xbc1c559a", "0xbc1c559b", "FAIL sealer-signature[0]"),
    ];
    for (from, to, expect) in cases {
        assert!(text.contains(from), "fixture has {from}");
        let path = dir.path().join("changed.json");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
        let out = lookthrough(dir.path(), &["chain", "verify", "changed.json"]);
        assert_eq!(out.status.code(), Some(1), "{from} -> {to}");
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            said.contains(expect),
            "{from} -> {to}: expected '{expect}' in\n{said}"
        );
    }
    std::fs::write(
        dir.path().join("garbage.json"),
        "{\"jsonrpc\":\"2.0\",\"result\":[1,2",
    )
    .unwrap();
    let out = lookthrough(dir.path(), &["chain", "verify", "garbage.json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("FAIL parse: not a FISCO BCOS JSON-RPC response: not JSON")
    );

    // A trusted committee that is not the block's own.
    std::fs::write(
        dir.path().join("sealers.json"),
        r#"{"id":1,"jsonrpc":"2.0","result":[{"nodeID":"0055dcaf073a332aa1ad90ff53ef028680d24f9bf2fcbc07ec4bbd4879413f75118a570bcf8001c4526fdb8c1319e51ae63444431ec8ab839465c05e178e7c49","weight":1}]}"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("block.json"), &text).unwrap();
    let out = lookthrough(
        dir.path(),
        &["chain", "verify", "--sealers", "sealers.json", "block.json"],
    );
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("FAIL sealer-list"), "{said}");
}

#[test]
fn devnet_generate_then_serve_then_verify() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let said = ok(lookthrough(
        d,
        &[
            "devnet",
            "generate",
            "--txs",
            "60",
            "--txs-per-block",
            "20",
            "--out",
            "chain",
        ],
    ));
    assert!(
        said.contains("wrote 3 blocks with 60 transactions"),
        "{said}"
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("chain/manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["transactions"].as_array().unwrap().len(), 60);
    assert!(d.join("chain/regulator.pem").exists());

    let mut child = Command::new(env!("CARGO_BIN_EXE_lookthrough"))
        .current_dir(d)
        .args([
            "devnet",
            "serve",
            "--from",
            "chain",
            "--listen",
            "127.0.0.1:0",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The first line names the address it listens on.
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_string();
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    // A plain HTTP/1.1 POST, so the test needs no HTTP client.
    let call = |method: &str, params: serde_json::Value| -> String {
        use std::io::{Read, Write};
        let body =
            serde_json::json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1})
                .to_string();
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        write!(
            s,
            "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut response = String::new();
        s.read_to_string(&mut response).unwrap();
        response.split_once("\r\n\r\n").unwrap().1.to_string()
    };
    let head: serde_json::Value =
        serde_json::from_str(&call("getBlockNumber", serde_json::json!(["group0", ""]))).unwrap();
    assert_eq!(head["result"], serde_json::json!(3));
    std::fs::write(
        d.join("b2.json"),
        call(
            "getBlockByNumber",
            serde_json::json!(["group0", "", 2, false, false]),
        ),
    )
    .unwrap();
    std::fs::write(
        d.join("sealers.json"),
        call("getSealerList", serde_json::json!(["group0", ""])),
    )
    .unwrap();
    child.kill().unwrap();
    let _ = child.wait();
    let said = ok(lookthrough(
        d,
        &["chain", "verify", "--sealers", "sealers.json", "b2.json"],
    ));
    assert!(
        said.contains("all checks passed") && said.contains("txs-root (20 transactions)"),
        "{said}"
    );
}

#[test]
fn rules_check_lists_good_rules_and_names_each_error() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let rules = root.join("rules");
    let lists = root.join("watchlists");
    let out = ok(lookthrough(
        &root,
        &[
            "rules",
            "check",
            rules.to_str().unwrap(),
            "--watchlists",
            lists.to_str().unwrap(),
        ],
    ));
    assert!(out.contains("ok    structuring (high, ≥ 3 in 1h)"), "{out}");
    assert!(
        out.contains("ok    round-trip (high, round trip within 200 bp in 10m)"),
        "{out}"
    );
    assert!(out.contains("5 rules compile, 0 errors"), "{out}");

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("mine.toml"),
        "[[rule]]\nid = \"ok\"\ncondition = \"tx.readable\"\n\n[[rule]]\nid = \"typo\"\ncondition = \"tx.readable && tx.paye == 'x'\"\n",
    )
    .unwrap();
    let out = lookthrough(dir.path(), &["rules", "check", "."]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("ok    ok (medium, each match)"), "{text}");
    // Line 7, at the misspelt field.
    assert!(
        text.lines().any(|l| l.starts_with("ERROR ./mine.toml:7:")
            && l.contains("rule typo")
            && l.contains("unknown field tx.paye")),
        "{text}"
    );
    assert!(text.contains("1 rules compile, 1 errors"), "{text}");
}

/// `abi decode` prints a call and an event as JSON with exact values, and
/// exits non-zero naming what does not decode.
#[test]
fn abi_decode_prints_calls_and_events_and_names_what_does_not_decode() {
    let dir = tempfile::tempdir().unwrap();
    let abi = dir.path().join("token.json");
    std::fs::write(
        &abi,
        r#"[{"type":"function","name":"transfer","stateMutability":"nonpayable","inputs":[{"name":"to","type":"address"},{"name":"amount","type":"uint256"}],"outputs":[{"name":"","type":"bool"}]},
           {"type":"event","name":"Transfer","anonymous":false,"inputs":[{"name":"from","type":"address","indexed":true},{"name":"to","type":"address","indexed":true},{"name":"value","type":"uint256","indexed":false}]}]"#,
    )
    .unwrap();
    let abi = abi.to_str().unwrap();
    let word = |hex: &str| format!("{hex:0>64}");
    // SM3 selector of transfer(address,uint256) (gmssl agrees, see abi's tests).
    let input = format!("0x6904e965{}{}", word(&"11".repeat(20)), word("ff00"));
    let out = ok(lookthrough(
        dir.path(),
        &[
            "abi", "decode", "--abi", abi, "--crypto", "sm", "--input", &input,
        ],
    ));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["method"], "transfer");
    assert_eq!(v["args"][0]["value"], format!("0x{}", "11".repeat(20)));
    assert_eq!(v["args"][1]["type"], "uint256");
    assert_eq!(v["args"][1]["value"], "65280");

    let topics = format!(
        "0x18f84334255a242551aa98c68047b5da8063eab9fbeaec1eddeea280044b9ff1,0x{},0x{}",
        word(&"22".repeat(20)),
        word(&"11".repeat(20))
    );
    let out = ok(lookthrough(
        dir.path(),
        &[
            "abi",
            "decode",
            "--abi",
            abi,
            "--crypto",
            "sm",
            "--topics",
            &topics,
            "--data",
            &format!("0x{}", word("05")),
        ],
    ));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["event"], "Transfer");
    assert_eq!(v["args"][0]["indexed"], true);
    assert_eq!(v["args"][2]["value"], "5");

    // The same selector under keccak256 names no function; a short payload
    // names the function and what is wrong; a bad ABI names the file.
    for (args, says) in [
        (
            vec!["--crypto", "standard", "--input", input.as_str()],
            "no function of the ABI has selector 0x6904e965",
        ),
        (
            vec!["--crypto", "sm", "--input", "0x6904e96500"],
            "transfer(address,uint256)",
        ),
        (
            vec!["--crypto", "sm", "--input", "0xzz"],
            "--input is not hex",
        ),
    ] {
        let mut all = vec!["abi", "decode", "--abi", abi];
        all.extend(args);
        let out = lookthrough(dir.path(), &all);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{err}");
    }
    std::fs::write(dir.path().join("bad.json"), "{").unwrap();
    let out = lookthrough(
        dir.path(),
        &[
            "abi", "decode", "--abi", "bad.json", "--crypto", "sm", "--input", "0x00",
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.json"));
}
