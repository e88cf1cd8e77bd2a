//! `lookthrough-bench policies`: how fast rules are evaluated (the example set, and 100
//! rules), and how long an alert takes from its block being stored to a
//! webhook receiver holding it, at a steady transaction rate.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use policies::deliver::{Channel, ChannelConfig, ChannelKind, Sender};
use policies::{Engine, Rule, Watchlists};
use store::{BlockCommit, Store};

use crate::freshness::session_chain;

/// Options of `lookthrough-bench policies`.
#[derive(clap::Args, Debug, Clone)]
pub struct PoliciesBenchOpts {
    /// Blocks generated.
    #[arg(long, default_value_t = 60)]
    pub blocks: usize,
    /// Transactions per block.
    #[arg(long, default_value_t = 500)]
    pub txs_per_block: usize,
    /// Transactions per second stored in the latency run.
    #[arg(long, default_value_t = 5_000)]
    pub rate: usize,
    /// Copies of the example rules in the large rule set (5 each).
    #[arg(long, default_value_t = 20)]
    pub copies: usize,
}

/// The example rules (and the built-in ones), as the demo loads them.
pub(crate) fn example_rules(dir: &std::path::Path) -> Result<(Vec<Rule>, Watchlists)> {
    let (rules_dir, lists_dir) = policies::write_examples(dir)?;
    let lists = Watchlists::load(&lists_dir)?;
    let (mut rules, errors) = policies::rule::load_dir(&rules_dir, Some(&lists.names()));
    if let Some(e) = errors.first() {
        bail!("example rule: {e}");
    }
    rules.extend(policies::rule::builtin());
    Ok((rules, lists))
}

/// `copies` of each example rule, each with its own id and thresholds a
/// little apart, so none is a duplicate of another.
fn many_rules(lists: &Watchlists, copies: usize) -> Result<Vec<Rule>> {
    let mut rules = Vec::new();
    for i in 0..copies {
        for (_, text) in policies::EXAMPLE_RULES {
            let text = text
                .replace("id = \"", &format!("id = \"c{i}-"))
                .replace("15000000.0", &format!("{}.0", 15_000_000 + i * 1_000))
                .replace("count = 3", &format!("count = {}", 3 + i % 3));
            let (r, errors) = policies::rule::parse_file(
                std::path::Path::new("(bench)"),
                &text,
                Some(&lists.names()),
            );
            if let Some(e) = errors.first() {
                bail!("bench rule: {e}");
            }
            rules.extend(r);
        }
    }
    Ok(rules)
}

fn store_with(dir: &std::path::Path, name: &str, commits: &[BlockCommit]) -> Result<Arc<Store>> {
    let store = Arc::new(Store::open(&dir.join(name))?);
    for c in commits {
        store.commit(c)?;
    }
    Ok(store)
}

/// Runs the benchmark.
pub fn policies(opts: &PoliciesBenchOpts) -> Result<ExitCode> {
    if opts.blocks == 0 || opts.txs_per_block == 0 || opts.rate == 0 {
        bail!("--blocks, --txs-per-block and --rate must be positive");
    }
    let mut chain = session_chain(7)?;
    eprintln!(
        "generating {} blocks of {} transactions",
        opts.blocks, opts.txs_per_block
    );
    let mut commits = Vec::with_capacity(opts.blocks + 1);
    for h in 0..=opts.blocks as i64 {
        commits.push(chain.next_commit(h, opts.txs_per_block)?);
    }
    let txs = (opts.blocks * opts.txs_per_block) as f64;
    let sealer = chain.sealer.clone();
    let dir = tempfile::Builder::new()
        .prefix("lookthrough-bench-policies-")
        .tempdir()
        .context("cannot create a temporary directory")?;
    let (examples, lists) = example_rules(&dir.path().join("policies"))?;
    let many = many_rules(&lists, opts.copies)?;

    // 1. Evaluation rate, each on its own copy of the store.
    let read = {
        let store = store_with(dir.path(), "read", &commits)?;
        let unreadable = std::sync::atomic::AtomicU64::new(0);
        let start = Instant::now();
        let catalog = records::decode::Catalog::load(&store, chain::CryptoSuite::Sm)?;
        for h in 0..=opts.blocks as i64 {
            records::block_docs(
                &store,
                &records::ChainLabel::default(),
                &sealer,
                &catalog,
                h,
                &unreadable,
            )?;
        }
        txs / start.elapsed().as_secs_f64()
    };
    let mut rates = Vec::new();
    for (name, rules) in [("example", examples.clone()), ("many", many)] {
        let n = rules.len();
        let store = store_with(dir.path(), name, &commits)?;
        let mut engine = Engine::new(
            store.clone(),
            sealer.clone(),
            rules,
            lists.clone(),
            Vec::new(),
        )?;
        let start = Instant::now();
        engine.catch_up()?;
        let rate = txs / start.elapsed().as_secs_f64();
        let alerts = policies::family::all_alerts(&store)?.len();
        rates.push((name, n, rate, alerts));
    }

    // 2. Latency at a steady rate: stored → engine → outbox → sender →
    // a webhook receiver on loopback.
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let received: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    {
        let received = received.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |body: axum::body::Bytes| {
                let received = received.clone();
                async move {
                    let at = Instant::now();
                    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body)
                        && let Some(id) = v["data"]["alert_id"].as_u64()
                        && let Ok(mut r) = received.lock()
                    {
                        r.entry(id).or_insert(at);
                    }
                    "ok"
                }
            }),
        );
        runtime.spawn(async move { axum::serve(listener, app).await });
    }
    let store = Arc::new(Store::open(&dir.path().join("latency"))?);
    let engine = Engine::new(
        store.clone(),
        sealer.clone(),
        examples,
        lists,
        vec!["compliance-webhook".into()],
    )?;
    let estats = engine.stats();
    let channel = Channel::with_secrets(
        ChannelConfig {
            name: "compliance-webhook".into(),
            kind: ChannelKind::Webhook,
            url,
            secret_envs: vec!["(bench)".into()],
            backoff_initial_ms: 100,
            backoff_max_ms: 1_000,
            give_up_after_ms: 3_600_000,
            timeout_ms: 5_000,
            link_base: String::new(),
            from: String::new(),
            to: Vec::new(),
            ca_file: None,
            username: None,
        },
        vec![(
            "(bench)".into(),
            zeroize::Zeroizing::new("whsec_YmVuY2ggc2VjcmV0IGJlbmNoIHNlY3JldA==".into()),
        )],
    )?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let engine_task = runtime.spawn(engine.run(stopped(stop_rx.clone())));
    let sender_task = runtime.spawn(Sender::new(store.clone(), channel).run(stopped(stop_rx)));

    store.commit(&commits[0])?;
    let gap = Duration::from_secs_f64(opts.txs_per_block as f64 / opts.rate as f64);
    let mut stored_at = vec![Instant::now(); opts.blocks + 1];
    let start = Instant::now();
    for (h, c) in commits.iter().enumerate().skip(1) {
        let due = start + gap * (h as u32 - 1);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        store.commit(c)?;
        stored_at[h] = Instant::now();
    }
    let fed = start.elapsed();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let evaluated = estats.height.load(Ordering::Relaxed) >= opts.blocks as i64;
        let pending = policies::family::outbox(&store, "compliance-webhook")?.len();
        if evaluated && pending == 0 {
            break;
        }
        if Instant::now() > deadline {
            bail!("alerts not all delivered 60 s after the last block ({pending} pending)");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = stop_tx.send(true);
    runtime.block_on(engine_task)??;
    runtime.block_on(sender_task)??;

    let alerts = policies::family::all_alerts(&store)?;
    let received = received
        .lock()
        .map_err(|_| anyhow::anyhow!("receiver lock"))?;
    let mut lat: Vec<Duration> = alerts
        .iter()
        .filter(|a| !a.deliveries.is_empty())
        .filter_map(|a| {
            let at = received.get(&a.id)?;
            let h = usize::try_from(a.opened_height).ok()?;
            Some(at.saturating_duration_since(*stored_at.get(h)?))
        })
        .collect();
    let notified = alerts.iter().filter(|a| !a.deliveries.is_empty()).count();
    if lat.len() != notified {
        bail!(
            "{} of {notified} notified alerts reached the receiver",
            lat.len()
        );
    }
    lat.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;

    println!(
        "bench policies: {} blocks of {} session-key transactions ({} tx)",
        opts.blocks, opts.txs_per_block, txs
    );
    println!("| rule set | rules | tx/s | ÷ reading alone | alerts |");
    println!("|---|---|---|---|---|");
    println!("| none (reading the block's transactions) | 0 | {read:.0} | 1.00 | 0 |");
    for (name, n, rate, alerts) in rates {
        println!(
            "| {name} | {n} | {rate:.0} | {:.2} | {alerts} |",
            rate / read
        );
    }
    println!(
        "latency at {} tx/s (achieved {:.0}): {} alerts notified; stored → webhook received p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        opts.rate,
        txs / fed.as_secs_f64(),
        lat.len(),
        ms(crate::latency::duration(&lat, 50.0)),
        ms(crate::latency::duration(&lat, 99.0)),
        ms(lat.last().copied().unwrap_or_default())
    );
    println!(
        "(bench policies --blocks {} --txs-per-block {} --rate {} --copies {})",
        opts.blocks, opts.txs_per_block, opts.rate, opts.copies
    );
    Ok(ExitCode::SUCCESS)
}
