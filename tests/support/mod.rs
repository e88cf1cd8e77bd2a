//! What the end-to-end tests share: the demo as a child process, a plain
//! HTTP/1.1 GraphQL client, and the npm packages of the Node.js clients.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Decodes a `Transfer-Encoding: chunked` body.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    loop {
        let Some((size, rest)) = body.split_once("\r\n") else {
            return out;
        };
        let n = usize::from_str_radix(size.trim(), 16).unwrap();
        if n == 0 {
            return out;
        }
        out.push_str(&rest[..n]);
        body = &rest[n + 2..];
    }
}

/// POSTs a GraphQL query over a plain HTTP/1.1 connection.
pub fn post(addr: &str, token: &str, query: &str, variables: Value) -> (u16, Value) {
    let body = json!({ "query": query, "variables": variables }).to_string();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "POST /graphql HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status: u16 = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, serde_json::from_str(&body).unwrap())
}

pub struct Demo {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Demo {
    /// Starts `lookthrough demo` (no fault) with `seed`, keeping its data
    /// in `data`.
    pub fn start(data: &Path, seed: u64, txs_per_block: u32) -> Self {
        let seed = seed.to_string();
        let txs = txs_per_block.to_string();
        let mut child = Command::new(env!("CARGO_BIN_EXE_lookthrough"))
            .args([
                "demo",
                "--interval-ms",
                "50",
                "--txs-per-block",
                &txs,
                "--seed",
                &seed,
                "--fault",
                "none",
                "--api-listen",
                "127.0.0.1:0",
                "--data-dir",
                data.to_str().unwrap(),
            ])
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The first printed line starting with `prefix` (after trimming).
    pub fn line(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(l) = self
                .seen
                .iter()
                .find(|l| l.trim_start().starts_with(prefix))
            {
                return l.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => self.seen.push(l),
                Err(e) => panic!("no {prefix:?} line ({e}); saw {:#?}", self.seen),
            }
        }
    }

    /// The API's address (`127.0.0.1:PORT`), from the `graphql` line.
    pub fn api_addr(&mut self) -> String {
        let graphql = self.line("graphql");
        graphql
            .split("http://")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .unwrap()
            .to_string()
    }

    /// The admin token the demo printed.
    pub fn admin_token(&mut self) -> String {
        let line = self.line("token");
        line.split("Bearer ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap()
            .to_string()
    }

    /// Stops the demo with SIGTERM, as Ctrl-C would, and waits for it.
    pub fn stop(mut self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let status = self.child.wait().unwrap();
        assert!(status.success(), "demo exited with {status}");
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// Installs the npm packages of the Node.js project in `dir` (once).
pub fn npm_ci(dir: &Path) {
    if dir.join("node_modules").is_dir() {
        return;
    }
    let out = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .output()
        .expect("npm (Node.js 18 or later) runs the Node.js clients of the tests");
    assert!(
        out.status.success(),
        "npm ci failed in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The metric names the Grafana dashboard (`deploy/grafana/lookthrough.json`)
/// queries, as written in its expressions (`_total`, `_bucket` included).
pub fn grafana_metrics() -> std::collections::BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/grafana/lookthrough.json");
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut exprs = Vec::new();
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    if let (true, Some(s)) = (k == "expr" || k == "definition", v.as_str()) {
                        out.push(s.to_string());
                    }
                    walk(v, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    walk(&dashboard, &mut exprs);
    let mut names = std::collections::BTreeSet::new();
    for e in &exprs {
        let mut rest = e.as_str();
        while let Some(at) = rest.find("lookthrough_") {
            let tail = &rest[at..];
            let end = tail
                .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
                .unwrap_or(tail.len());
            names.insert(tail[..end].to_string());
            rest = &tail[end..];
        }
    }
    names
}

/// The dashboard's metrics that a Prometheus text exposition does not
/// serve with the type the query needs: a counter queried as `_total`, a
/// histogram's `_bucket`, `_sum` or `_count`, a gauge by its name. A family
/// without samples (no channel configured, say) counts by its `# TYPE`.
pub fn grafana_metrics_missing_from(exposition: &str) -> Vec<String> {
    let types: std::collections::BTreeMap<&str, &str> = exposition
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .collect();
    grafana_metrics()
        .into_iter()
        .filter(|m| {
            let (base, want) = if let Some(b) = m.strip_suffix("_total") {
                (b, "counter")
            } else if let Some(b) = m
                .strip_suffix("_bucket")
                .or_else(|| m.strip_suffix("_sum"))
                .or_else(|| m.strip_suffix("_count"))
            {
                (b, "histogram")
            } else {
                (m.as_str(), "gauge")
            };
            // Counters are typed by their `_total` name or by their base.
            types.get(base) != Some(&want) && types.get(m.as_str()) != Some(&want)
        })
        .collect()
}
