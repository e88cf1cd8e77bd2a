//! `lookthrough-bench dashboards`: how long each dashboard page takes to
//! answer over a large store.
//!
//! A session-key devnet chain of `--txs` transactions is generated, opened,
//! stored and indexed as `lookthrough-bench api` does, and the example alert rules are
//! evaluated over it, as the demo's node would. The API and the dashboards
//! are served on loopback; one client asks for each page in turn, with an
//! admin's bearer token (the session cookie path adds one in-memory lookup),
//! parameters drawn from the chain, and the page's time is request to the
//! whole HTML body received. `/healthz` in the same run is the floor of an
//! HTTP round trip on this machine.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use indexer::search::Search;
use query_api::auth::Role;
use serde_json::{Value, json};

use crate::api::{bench_server, fresh_chain, ms};
use crate::rules::example_rules;
use crate::search::parse_count;

/// Options of `lookthrough-bench dashboards`.
#[derive(clap::Args, Debug, Clone)]
pub struct DashboardsBenchOpts {
    /// Transactions in the chain (`200k`, `1M`).
    #[arg(long, value_parser = parse_count, default_value = "1M")]
    pub txs: u64,
    /// Transactions per block.
    #[arg(long, default_value_t = 500)]
    pub txs_per_block: usize,
    /// Requests per page (after three to warm up).
    #[arg(long, default_value_t = 40)]
    pub requests: usize,
}

/// Each page and how to ask for its `i`th request.
fn pages(
    height: i64,
    hashes: &[String],
    parties: &[String],
    alerts: &[i64],
) -> Vec<(&'static str, Vec<String>)> {
    let words = ["汇款", "货款", "跨境汇款", "运费", "invoice", "settlement"];
    let enc = dashboards::pages::urlencode;
    let n = 16;
    vec![
        ("overview", vec!["/".to_string()]),
        (
            "search (word)",
            words
                .iter()
                .map(|w| format!("/search?q={}&upto={height}", enc(w)))
                .collect(),
        ),
        (
            "search (word, private, amount range)",
            words
                .iter()
                .map(|w| {
                    format!(
                        "/search?q={}&privacy=private&min=10000&max=5000000&upto={height}",
                        enc(w)
                    )
                })
                .collect(),
        ),
        (
            "search (word, largest first)",
            words
                .iter()
                .map(|w| format!("/search?q={}&sort=amount&dir=desc&upto={height}", enc(w)))
                .collect(),
        ),
        (
            "search (party, no words)",
            parties
                .iter()
                .take(n)
                .map(|p| format!("/search?party={}&upto={height}", enc(p)))
                .collect(),
        ),
        (
            "search (rule hit, no words)",
            [
                "large-transfer",
                "structuring",
                "round-trip",
                "not-wrapped-for-regulator",
            ]
            .iter()
            .map(|r| format!("/search?rule={r}&upto={height}"))
            .collect(),
        ),
        (
            "transaction",
            hashes.iter().take(n).map(|h| format!("/tx/{h}")).collect(),
        ),
        (
            "account",
            parties
                .iter()
                .take(n)
                .map(|p| format!("/account/{}", enc(p)))
                .collect(),
        ),
        ("alert inbox", vec!["/alerts".to_string()]),
        (
            "alert inbox (open, high)",
            vec!["/alerts?state=OPEN&severity=HIGH".to_string()],
        ),
        (
            "alert",
            alerts
                .iter()
                .take(n)
                .map(|a| format!("/alerts/{a}"))
                .collect(),
        ),
        ("rules", vec!["/rules".to_string()]),
        ("/healthz (HTTP floor)", vec!["/healthz".to_string()]),
    ]
}

/// Runs the benchmark.
pub fn dashboards(opts: &DashboardsBenchOpts) -> Result<ExitCode> {
    if opts.txs_per_block == 0 || opts.requests == 0 {
        bail!("--txs-per-block and --requests must be positive");
    }
    let chain = fresh_chain(
        "lookthrough-bench-dashboards-",
        opts.txs,
        opts.txs_per_block,
    )?;
    let (store, index, sealer, samples) = (chain.store, chain.index, chain.sealer, chain.samples);
    let built = chain.build_secs;
    let t = Instant::now();
    let (rules, lists) = example_rules(&chain.dir.path().join("policies"))?;
    let mut engine =
        policies::Engine::new(store.clone(), sealer.clone(), rules, lists, Vec::new())?;
    engine.catch_up()?;
    let evaluated = t.elapsed().as_secs_f64();
    let total: i64 = store.class_counts()?.values().sum();
    let alerts_total = policies::family::all_alerts(&store)?.len();
    eprintln!(
        "{total} transactions stored and indexed in {built:.1} s; {alerts_total} alerts from the example rules in {evaluated:.1} s"
    );

    let (parts, token) = bench_server(&store, Arc::new(Search::new(index)), sealer, Role::Admin)?;
    let app = parts.app();

    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let rows = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, app).await });
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let auth = format!("Bearer {}", token.as_str());
        let answer: Value = http
            .post(format!("{base}/graphql"))
            .header("authorization", &auth)
            .json(&json!({ "query": "{ chain { indexedHeight } alerts(first: 40) { nodes { id } } }" }))
            .send()
            .await?
            .json()
            .await?;
        let height = answer["data"]["chain"]["indexedHeight"]
            .as_i64()
            .context("the index is empty")?;
        let alert_ids: Vec<i64> = answer["data"]["alerts"]["nodes"]
            .as_array()
            .map(|a| a.iter().filter_map(|n| n["id"].as_i64()).collect())
            .unwrap_or_default();
        if alert_ids.is_empty() {
            bail!("the example rules raised no alert");
        }
        let mut rows = Vec::new();
        for (name, paths) in pages(height, &samples.hashes, &samples.parties, &alert_ids) {
            let mut times = Vec::new();
            let mut bytes = 0usize;
            for i in 0..opts.requests + 3 {
                let path = &paths[i % paths.len()];
                let t = Instant::now();
                let resp = http
                    .get(format!("{base}{path}"))
                    .header("authorization", &auth)
                    .send()
                    .await?;
                let status = resp.status();
                let body = resp.bytes().await?;
                let secs = t.elapsed().as_secs_f64();
                if !status.is_success() {
                    bail!(
                        "{path}: HTTP {status}: {}",
                        String::from_utf8_lossy(&body).chars().take(300).collect::<String>()
                    );
                }
                if i >= 3 {
                    times.push(secs);
                    bytes += body.len();
                }
            }
            let n = times.len();
            let max = times.iter().copied().fold(0.0, f64::max);
            let p50 = crate::latency::secs(&times, 50.0);
            let p99 = crate::latency::secs(&times, 99.0);
            rows.push((name, n, bytes / n.max(1), p50, p99, max));
        }
        Ok::<_, anyhow::Error>(rows)
    })?;

    println!("## Dashboards at {total} transactions\n");
    println!(
        "Chain built (generated, opened, stored, indexed) in {built:.1} s; the example rules raised {alerts_total} alerts in {evaluated:.1} s. One client, {} requests per page after 3 to warm up; time from request to the whole page received.\n",
        opts.requests
    );
    println!("| page | requests | page size | p50 | p99 | max | p99 under 300 ms |");
    println!("|---|---|---|---|---|---|---|");
    for (name, n, size, p50, p99, max) in &rows {
        println!(
            "| {name} | {n} | {:.1} KB | {} | {} | {} | {} |",
            *size as f64 / 1024.0,
            ms(*p50),
            ms(*p99),
            ms(*max),
            if *p99 < 0.3 { "yes" } else { "**no**" }
        );
    }
    println!(
        "\nCommand: `lookthrough-bench dashboards --txs {} --txs-per-block {} --requests {}`",
        opts.txs, opts.txs_per_block, opts.requests
    );
    let slow = rows.iter().filter(|r| r.4 >= 0.3).count();
    Ok(if slow == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
