//! What the end-to-end tests share: the demo as a child process, a plain
//! HTTP/1.1 GraphQL client, the npm packages of the Node.js clients, and
//! `lookthrough` children killed with the test ([`Guard`]) whose stderr is
//! kept ([`Log`]) and whose `/metrics` is read ([`metric`]).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
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
    missing_from(exposition, |m| !m.starts_with(OBSERVER_METRICS))
}

/// The distributed mode's observer metrics: an observer serves them, an
/// embedded node or a consumer does not.
pub const OBSERVER_METRICS: &str = "lookthrough_stream_";

/// The observer metrics the Grafana dashboard queries that `exposition` (an
/// observer's `/metrics`) does not serve with their type.
pub fn grafana_observer_metrics_missing_from(exposition: &str) -> Vec<String> {
    missing_from(exposition, |m| m.starts_with(OBSERVER_METRICS))
}

fn missing_from(exposition: &str, which: impl Fn(&str) -> bool) -> Vec<String> {
    let types: std::collections::BTreeMap<&str, &str> = exposition
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .collect();
    grafana_metrics()
        .into_iter()
        .filter(|m| which(m))
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

/// The binary, with a predictable environment: info logs (the metrics
/// address is logged at info), no colours, no configuration overrides
/// inherited from the caller's environment.
pub fn lookthrough() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lookthrough"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("LOOKTHROUGH_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("RUST_LOG", "info").env("NO_COLOR", "1");
    cmd
}

/// A child process killed (and reaped) when dropped, so that a failing test
/// leaves nothing running.
pub struct Guard {
    name: &'static str,
    child: Option<Child>,
}

impl Guard {
    pub fn new(name: &'static str, child: Child) -> Self {
        Self {
            name,
            child: Some(child),
        }
    }

    pub fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("the child is still owned")
    }

    pub fn id(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// SIGKILL (on unix) and reap.
    pub fn kill(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("the child is still owned");
        child
            .kill()
            .unwrap_or_else(|e| panic!("cannot kill {}: {e}", self.name));
        child.wait().unwrap()
    }

    /// Waits for the child to exit by itself, at most until `deadline`.
    pub fn wait_until(&mut self, deadline: Instant, log: &Log) -> ExitStatus {
        loop {
            if let Some(status) = self.child().try_wait().unwrap() {
                self.child = None;
                return status;
            }
            if Instant::now() > deadline {
                panic!(
                    "{} did not finish in time; its stderr ends with:\n{}",
                    self.name,
                    log.tail()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The last lines a child wrote to stderr, for failure messages.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<VecDeque<String>>>);

impl Log {
    pub fn push(&self, line: String) {
        let mut l = self.0.lock().unwrap();
        if l.len() == 200 {
            l.pop_front();
        }
        l.push_back(line);
    }

    pub fn tail(&self) -> String {
        let l = self.0.lock().unwrap();
        let n = l.len().saturating_sub(30);
        l.iter().skip(n).cloned().collect::<Vec<_>>().join("\n")
    }
}

/// Drains `pipe` to its end on a thread (so the child never blocks on a full
/// pipe), keeping the last lines; the first line holding `http://ADDR/metrics`
/// sends `("metrics", ADDR)` on the returned channel, the first holding
/// `http://ADDR/graphql` sends `("graphql", ADDR)`.
pub fn drain(
    pipe: impl Read + Send + 'static,
    log: Log,
) -> (mpsc::Receiver<(&'static str, SocketAddr)>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut buf = Vec::new();
        let mut sent = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let line = String::from_utf8_lossy(&buf).trim_end().to_owned();
            for kind in ["metrics", "graphql"] {
                if !sent.contains(&kind)
                    && let Some(addr) = served_addr(&line, kind)
                {
                    sent.push(kind);
                    let _ = tx.send((kind, addr));
                }
            }
            log.push(line);
        }
    });
    (rx, handle)
}

/// ADDR in a log line containing `http://ADDR/PATH`.
pub fn served_addr(line: &str, path: &str) -> Option<SocketAddr> {
    let start = line.find("http://")? + "http://".len();
    let rest = &line[start..];
    let end = rest.find(&format!("/{path}"))?;
    rest[..end].parse().ok()
}

/// The text of `GET /metrics` at `addr` (its body).
pub fn metrics_text(addr: SocketAddr) -> Result<String, String> {
    let timeout = Duration::from_secs(5);
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    write!(s, "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").map_err(|e| e.to_string())?;
    let mut text = String::new();
    s.read_to_string(&mut text).map_err(|e| e.to_string())?;
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no HTTP header end")?;
    if !head.starts_with("HTTP/1.0 200") && !head.starts_with("HTTP/1.1 200") {
        return Err(format!("unexpected response: {head}"));
    }
    Ok(body.to_string())
}

/// The value of the sample `name` (with its labels, if any) on `/metrics`.
pub fn metric(addr: SocketAddr, name: &str) -> Result<i64, String> {
    metrics_text(addr)?
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .ok_or_else(|| format!("no {name} in /metrics"))?
        .trim()
        .parse()
        .map_err(|e| format!("bad {name}: {e}"))
}

/// xorshift64*: enough to pick kill points reproducibly from a seed.
pub struct Rng(pub u64);

impl Rng {
    /// The next number.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `lo..hi`.
    pub fn between(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo) as u64) as i64
    }
}

/// A child spawned from `cmd` with stdin and stdout closed and stderr
/// drained into a [`Log`] (see [`drain`]): its guard, its log, the
/// addresses it announces, and the draining thread.
pub fn spawn_drained(
    cmd: &mut Command,
    name: &'static str,
) -> (
    Guard,
    Log,
    mpsc::Receiver<(&'static str, SocketAddr)>,
    JoinHandle<()>,
) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
    let log = Log::default();
    let (addrs, drainer) = drain(child.stderr.take().expect("stderr is piped"), log.clone());
    (Guard::new(name, child), log, addrs, drainer)
}
