//! `lookthrough demo`: a local consortium chain and the regulator's node
//! following it, in one process on localhost, with fresh keys and a
//! temporary data directory.
//!
//! The chain is served by two JSON-RPC endpoints: the first lies about one
//! block (a forged sealer signature, by default), the second is honest. The
//! node catches the lie, records it as a finding, moves to the honest
//! endpoint and goes on, opening every envelope wrapped for the regulator.
//! The GraphQL API serves what it stores, with a fresh admin token printed
//! at the start. With `--chains 3` the node follows three such chains at
//! once (two national-standard, one standard; the first one's endpoint
//! lies), in one store, index, rule engine and dashboard.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use std::path::Path;

use anyhow::{Context, Result};
use devnet::faults::Fault;
use devnet::server::{AppState, produce, serve};
use indexer::IndexStats;
use indexer::search::{Search, SearchRequest};
use ingest::{IngestConfig, Trust};
use privacy::keyring::Keyring;
use privacy::keys::PrivateKey;

use node::api::{ApiOptions, ApiParts, seal};
use node::config::ApiSection;
use node::{Node, shutdown_signal};

use super::devnet::{Crypto, NewChain, build};

/// Options of `lookthrough demo`.
#[derive(clap::Args, Debug, Clone)]
pub struct DemoOpts {
    /// Milliseconds between new blocks.
    #[arg(long, default_value_t = 500)]
    pub interval_ms: u64,
    /// Transactions in each new block.
    #[arg(long, default_value_t = 40)]
    pub txs_per_block: usize,
    /// How the first endpoint lies (KIND@HEIGHT), or `none`.
    #[arg(long, default_value = "forged-signature@3")]
    pub fault: String,
    /// Seed of the chain's keys and traffic (default: from the clock).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Stop once this height is stored (default: run until Ctrl-C).
    #[arg(long)]
    pub until_height: Option<i64>,
    /// Keep the store, index, keys and a config for `lookthrough search`,
    /// `token` and `audit` in this new (or empty) directory instead of a
    /// temporary one.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<std::path::PathBuf>,
    /// Where the GraphQL API listens (`127.0.0.1:0`: any free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub api_listen: std::net::SocketAddr,
    /// Chains followed at once: 1, or up to 3 (sh and bj national-standard,
    /// hk standard), each with its own keys and traffic.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=3))]
    pub chains: u8,
}

/// The demo's chains when there are several: id and crypto.
const CHAINS: [(&str, Crypto); 3] = [
    ("sh", Crypto::Sm),
    ("bj", Crypto::Sm),
    ("hk", Crypto::Standard),
];

/// One of the demo's chains, built.
struct DemoChain {
    id: String,
    crypto: Crypto,
    devnet: devnet::Devnet,
    workload: devnet::workload::Workload,
}

/// Runs the demo.
pub fn demo(opts: &DemoOpts) -> Result<ExitCode> {
    let fault: Option<Fault> = match opts.fault.as_str() {
        "none" => None,
        f => Some(
            f.parse()
                .map_err(|e: String| anyhow::anyhow!("--fault: {e}"))?,
        ),
    };
    let seed = opts.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
    let several = opts.chains > 1;
    let mut chains = Vec::new();
    for (i, (id, crypto)) in CHAINS.iter().take(usize::from(opts.chains)).enumerate() {
        let crypto = if several { *crypto } else { Crypto::Sm };
        let (devnet, workload) = build(&NewChain {
            sealers: 4,
            crypto,
            seed: seed.wrapping_add(i as u64 * 1_000),
            session_reuse: false,
        })?;
        chains.push(DemoChain {
            id: if several {
                (*id).to_owned()
            } else {
                node::config::DEFAULT_CHAIN_ID.to_owned()
            },
            crypto,
            devnet,
            workload,
        });
    }
    // One regulator, one key per chain's traffic (the keyring opens each).
    let mut keyring = Keyring::new();
    let mut regulator_pems = Vec::new();
    for c in &chains {
        let scalar = c.workload.regulator_key().to_scalar_bytes();
        let regulator = PrivateKey::from_scalar_bytes(&*scalar)?;
        regulator_pems.push(regulator.to_pkcs8_pem()?);
        keyring.add(format!("demo regulator key ({})", c.id), regulator)?;
    }
    let temp;
    let data: &Path = match &opts.data_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("--data-dir: cannot create {}", dir.display()))?;
            if std::fs::read_dir(dir)
                .with_context(|| format!("--data-dir: cannot read {}", dir.display()))?
                .next()
                .is_some()
            {
                anyhow::bail!("--data-dir: {} is not empty", dir.display());
            }
            dir
        }
        None => {
            temp = tempfile::Builder::new()
                .prefix("lookthrough-demo-")
                .tempdir()
                .context("cannot create a temporary data directory")?;
            temp.path()
        }
    };

    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let mut specs = Vec::new();
        let mut served = Vec::new();
        let mut producers = Vec::new();
        for (i, c) in chains.into_iter().enumerate() {
            let committee = c.devnet.committee();
            let genesis_hash = c.devnet.block(0).map(|b| b.header.claimed_hash);
            let suite = c.devnet.suite();
            let shared = Arc::new(tokio::sync::RwLock::new(c.devnet));
            // The first chain's first endpoint lies.
            let lies = if i == 0 { fault } else { None };
            let mut urls = Vec::new();
            for f in [lies, None] {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .context("cannot listen on 127.0.0.1")?;
                urls.push(format!("http://{}/", listener.local_addr()?));
                let state = AppState::new(shared.clone(), f);
                tokio::spawn(serve(listener, state, std::future::pending()));
                if lies.is_none() {
                    break;
                }
            }
            producers.push(tokio::spawn(produce(
                shared.clone(),
                c.workload,
                Duration::from_millis(opts.interval_ms.max(1)),
                opts.txs_per_block,
            )));
            let mut config =
                IngestConfig::new(urls.clone(), "group0", suite, Trust::Genesis(committee));
            config.genesis_hash = genesis_hash;
            config.poll_interval = Duration::from_millis(100);
            config.backoff_initial = Duration::from_millis(50);
            config.backoff_max = Duration::from_secs(1);
            config.stop_at = opts.until_height;
            specs.push(node::ChainSpec {
                id: c.id.clone(),
                ingest: config,
            });
            served.push((c.id, c.crypto, urls, lies));
        }
        let n = specs.len() as i64;
        // Every chain's blocks up to the height, in the merged log.
        let merged_stop = opts.until_height.map(|h| (h + 1) * n - 1);
        let mut index_config = indexer::IndexerConfig {
            stop_at: merged_stop,
            ..Default::default()
        };
        index_config.threads = index_config.threads.min(2);
        let (rules_dir, lists_dir) = policies::write_examples(&data.join("policies"))
            .context("cannot write the example rules")?;
        let mut node = Node::open_chains(specs, data, keyring, Some(index_config))?
            .with_policies(Some(&rules_dir), Some(&lists_dir), &[], merged_stop)?;
        // How the devnet's contracts carry their business; their ABIs come
        // from the chain itself (getABI), as they would from a FISCO BCOS
        // node.
        node.save_mappings(&devnet::contracts::mappings())?;
        let metrics = node::metrics::serve("127.0.0.1:0".parse()?, node.registry()).await?;
        let node_key = Arc::new(PrivateKey::generate()?);
        let search_config = write_search_config(data, &regulator_pems, &node_key, &served, (&rules_dir, &lists_dir))?;
        let (_, admin_token) = query_api::auth::create_token(
            &node.store,
            "demo admin",
            query_api::auth::Role::Admin,
            records::time::now_ms(),
        )?;
        let index = node
            .index
            .clone()
            .context("the demo node indexes")?;
        let section = ApiSection::default();
        let api = ApiParts::build(
            node.store.clone(),
            Arc::new(Search::new(index)),
            node.sealer.clone(),
            Some(node_key),
            ApiOptions {
                endpoints: Some(node.endpoint_health()),
                suite: node.suite,
                chains: node.api_chains(),
                keyring: Some(node.keyring.clone()),
                watchlists_dir: Some(lists_dir.clone()),
                ..ApiOptions::from_section(&section, opts.api_listen)?
            },
            Some(node.registry()),
        )?;
        let bound = api
            .serve(
                opts.api_listen,
                Duration::from_secs(section.seal_interval_secs),
            )
            .await
            .with_context(|| {
                format!(
                    "--api-listen {}: (pass --api-listen 127.0.0.1:0 to take any free port)",
                    opts.api_listen
                )
            })?;

        println!("lookthrough demo");
        for (id, crypto, urls, lies) in &served {
            let (sealers, name) = match crypto {
                Crypto::Sm => ("4 SM2 sealers", "national-standard"),
                Crypto::Standard => ("4 secp256k1 sealers", "standard"),
            };
            let label = if several {
                format!("  chain     {id} ({name}): {sealers}, group0;")
            } else {
                format!("  chain     {sealers}, group0;")
            };
            match lies {
                Some(f) => println!(
                    "{label} JSON-RPC at {} (lies: {f}) and {} (honest)",
                    urls[0], urls[1]
                ),
                None => println!("{label} JSON-RPC at {}", urls[0]),
            }
        }
        println!(
            "  node      store and index in {}{}",
            data.display(),
            if opts.data_dir.is_some() {
                ""
            } else {
                " (deleted on exit)"
            }
        );
        println!(
            "  rules     {} (edit them; `lookthrough rules check {}`)",
            rules_dir.display(),
            rules_dir.display()
        );
        println!(
            "  dashboard http://{}{}   (signs you in as the demo admin; works once)",
            bound,
            api.dashboards.sign_in_link(admin_token.as_str())
        );
        println!("  metrics   http://{metrics}/metrics");
        println!(
            "  graphql   http://{}/graphql   (GraphiQL in a browser; add the header below)",
            bound
        );
        println!(
            "  token     Authorization: Bearer {}   (admin)",
            admin_token.as_str()
        );
        println!(
            "  try       curl -s http://{}/graphql -H 'Authorization: Bearer {}' -H 'Content-Type: application/json' -d '{{\"query\":\"{{ chain {{ head indexedHeight }} }}\"}}'",
            bound,
            admin_token.as_str()
        );
        println!(
            "  search    lookthrough search --config {} \"跨境汇款\"   (from another terminal)",
            search_config.display()
        );
        println!("  Ctrl-C to stop");

        let status = tokio::spawn(print_status(
            node.chains
                .iter()
                .map(|c| (c.id.clone(), c.store.clone(), c.ingest.stats()))
                .collect(),
            node.index_stats(),
            node.policy_stats(),
            node.index.clone().map(|i| Arc::new(Search::new(i))),
        ));
        let result = node.run(shutdown_signal()).await;
        status.abort();
        // A producer busy sealing a block stops after it: waited for, so
        // that none outlives the runtime.
        for p in &producers {
            p.abort();
        }
        for p in producers {
            let _ = p.await;
        }
        seal(&api.audit).await;
        result?;
        let search = node.index.clone().map(Search::new);
        for c in &node.chains {
            print_line(
                several.then_some(c.id.as_str()),
                &c.store,
                &c.ingest.stats(),
                node.index_stats().as_deref(),
                node.policy_stats().as_deref(),
                search.as_ref(),
            );
        }
        if let Some(search) = &search {
            print_search(search, &node.store);
        }
        for c in &node.chains {
            for f in c.store.findings()? {
                println!(
                    "  finding   {}block {} from {}: {}: {}",
                    if several { format!("{} ", c.id) } else { String::new() },
                    f.height.unwrap_or(-1),
                    f.endpoint,
                    f.check,
                    f.detail
                );
            }
        }
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Writes a configuration beside the demo's data (with its regulator key,
/// readable by the owner only) so `lookthrough search --config` can read
/// the running demo's store and index.
fn write_search_config(
    data: &Path,
    regulator_pems: &[zeroize::Zeroizing<String>],
    node_key: &PrivateKey,
    chains: &[(String, Crypto, Vec<String>, Option<Fault>)],
    policies: (&Path, &Path),
) -> Result<std::path::PathBuf> {
    let mut keys = Vec::new();
    for (i, pem) in regulator_pems.iter().enumerate() {
        let key = if i == 0 {
            data.join("regulator.pem")
        } else {
            data.join(format!("regulator-{i}.pem"))
        };
        node::keys::write_private(&key, pem.as_bytes())?;
        keys.push(format!("{{ path = {:?} }}", key.display().to_string()));
    }
    let node_pem = data.join("node.pem");
    node::keys::write_private(&node_pem, node_key.to_pkcs8_pem()?.as_bytes())?;
    let several = chains.len() > 1;
    let mut text = String::from(
        "# Written by `lookthrough demo` for `lookthrough search`, `reindex`, `token`, `audit`,\n# `evidence` and `rules backtest`.\n",
    );
    for (id, crypto, urls, _) in chains {
        let endpoints: Vec<String> = urls.iter().map(|u| format!("{u:?}")).collect();
        let crypto = match crypto {
            Crypto::Sm => "sm",
            Crypto::Standard => "standard",
        };
        if several {
            text.push_str(&format!("[[chain]]\nid = {id:?}\n"));
        } else {
            text.push_str("[chain]\n");
        }
        text.push_str(&format!(
            "endpoints = [{}]\ngroup = \"group0\"\ncrypto = \"{crypto}\"\ntrust = \"first-use\"\n\n",
            endpoints.join(", ")
        ));
    }
    text.push_str(&format!(
        "[keys]\nregulator = [{}]\nnode = {{ path = {:?} }}\n\n\
         [storage]\ndata_dir = {:?}\n\n[server]\nmetrics_listen = \"127.0.0.1:0\"\n\n\
         [policies]\nrules_dir = {:?}\nwatchlists_dir = {:?}\n",
        keys.join(", "),
        node_pem.display().to_string(),
        data.display().to_string(),
        policies.0.display().to_string(),
        policies.1.display().to_string(),
    ));
    let path = data.join("lookthrough.toml");
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

fn print_line(
    chain: Option<&str>,
    store: &store::Store,
    stats: &ingest::Stats,
    index: Option<&IndexStats>,
    policy: Option<&policies::EngineStats>,
    search: Option<&Search>,
) {
    let counts = store.class_counts().unwrap_or_default();
    let n = |c: &str| counts.get(c).copied().unwrap_or(0);
    let total: i64 = counts.values().sum();
    let indexed = index.map_or(String::new(), |s| {
        format!(
            " | searchable to {} ({} tx)",
            s.height.load(Ordering::Relaxed),
            s.docs.load(Ordering::Relaxed)
        )
    });
    let alerts = policy.map_or(String::new(), |p| {
        format!(
            " | alerts {} (rules to {})",
            p.alerts_opened.load(Ordering::Relaxed),
            p.height.load(Ordering::Relaxed)
        )
    });
    let abis = records::abis::contracts(store).map_or(0, |c| c.len());
    // The decoded calls searchable so far, by method.
    let calls = search
        .and_then(|s| {
            s.top_terms(
                None,
                &indexer::search::Filter::default(),
                indexer::search::TermField::Call,
                5,
                indexer::search::TermOrder::Count,
            )
            .ok()
        })
        .map_or(String::new(), |t| {
            let parts: Vec<String> = t
                .buckets
                .iter()
                .map(|b| format!("{} {}", b.key, b.count))
                .collect();
            if parts.is_empty() {
                String::new()
            } else {
                format!(" | calls {}", parts.join(" · "))
            }
        });
    println!(
        "  {}height {:>5} | {:>7} tx | {:>6.0} tx/s | public {} | opened {} | not-for-us {} | inconsistent {} | findings {} | contract ABIs {abis}{calls}{indexed}{alerts}",
        chain.map_or(String::new(), |c| format!("{c:<3} ")),
        stats.height.load(Ordering::Relaxed),
        total,
        stats.tx_per_second(),
        n("not-envelope"),
        n("opened"),
        n("not-for-us"),
        n("inconsistent"),
        store.finding_count().unwrap_or(0),
    );
}

/// One sample search, as a compliance officer would type it.
fn print_search(search: &Search, store: &store::Store) {
    const QUERY: &str = "跨境汇款";
    let newest = |filter: indexer::search::Filter| {
        search.search(&SearchRequest {
            query: Some(QUERY.into()),
            filter,
            first: 1,
            sort: indexer::search::Sort {
                by: indexer::search::SortBy::Chain,
                descending: true,
            },
            ..Default::default()
        })
    };
    let Ok(page) = newest(indexer::search::Filter::default()) else {
        return;
    };
    let Some(hit) = page.hits.first() else {
        println!("  search    \"{QUERY}\": no matches yet");
        return;
    };
    let class = chain::hexbytes::decode_fixed::<32>("tx", &hit.tx_hash)
        .ok()
        .and_then(|h| store.transaction(&h).ok().flatten())
        .map(|t| t.class)
        .unwrap_or_default();
    println!(
        "  search    \"{QUERY}\": {} matches; newest in block {} ({class}) {}",
        page.total, hit.height, hit.tx_hash
    );
    // The newest public payment among them, decoded.
    let pay = indexer::search::Filter {
        method: Some("pay".into()),
        ..Default::default()
    };
    if let Some(line) = newest(pay)
        .ok()
        .and_then(|p| p.hits.first().cloned())
        .and_then(|h| decoded_line(store, &h.tx_hash))
    {
        println!("            {line}");
    }
}

/// The newest decoded call of `tx_hash` as one line: the contract's method
/// with its arguments and what the mapping makes of them.
fn decoded_line(store: &store::Store, tx_hash: &str) -> Option<String> {
    let hash = chain::hexbytes::decode_fixed::<32>("tx", tx_hash).ok()?;
    let tx = store.transaction(&hash).ok()??;
    let catalog = records::decode::Catalog::load(store, chain::CryptoSuite::Sm).ok()?;
    let call = catalog.decode_call(&tx.tx.to, &tx.tx.input)?;
    let name = call.name.as_deref()?;
    let args: Vec<String> = call
        .args
        .iter()
        .filter(|a| a.ty != "bytes")
        .map(|a| format!("{}={}", a.name, a.text()))
        .collect();
    let from = tx.tx.claimed_from.map(|a| chain::hexbytes::encode0x(&a));
    let b = catalog.business(from.as_deref(), Some(&call), &[]);
    let money = match (b.amount, b.currency) {
        (Some(a), Some(c)) => format!(" → {a} {c}"),
        (Some(a), None) => format!(" → {a}"),
        _ => String::new(),
    };
    Some(format!(
        "decoded   {name}({}) by ABI v{}{money}",
        args.join(", "),
        call.abi_version.unwrap_or(0)
    ))
}

async fn print_status(
    chains: Vec<(String, Arc<store::Store>, Arc<ingest::Stats>)>,
    index: Option<Arc<IndexStats>>,
    policy: Option<Arc<policies::EngineStats>>,
    search: Option<Arc<Search>>,
) {
    let several = chains.len() > 1;
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    let mut seen_findings = vec![0usize; chains.len()];
    let mut ticks = 0u64;
    loop {
        tick.tick().await;
        ticks += 1;
        // The store and the index are read on the blocking pool.
        let (chains, index, policy, search, mut seen_all) = (
            chains.clone(),
            index.clone(),
            policy.clone(),
            search.clone(),
            seen_findings.clone(),
        );
        let printed = tokio::task::spawn_blocking(move || {
            for ((id, store, stats), seen) in chains.iter().zip(seen_all.iter_mut()) {
                if let Ok(findings) = store.findings_from(*seen as u64, 1_000) {
                    for (seq, f) in &findings {
                        println!(
                            "  FINDING   {}block {} from {}: {} ({}); not stored, switched endpoint",
                            if several { format!("{id} ") } else { String::new() },
                            f.height.unwrap_or(-1),
                            f.endpoint,
                            f.check,
                            f.detail
                        );
                        *seen = *seq as usize + 1;
                    }
                }
                print_line(
                    several.then_some(id.as_str()),
                    store,
                    stats,
                    index.as_deref(),
                    policy.as_deref(),
                    search.as_deref(),
                );
            }
            if ticks.is_multiple_of(5)
                && let (Some(s), Some((_, store, _))) = (&search, chains.first())
            {
                print_search(s, store);
            }
            seen_all
        })
        .await;
        match printed {
            Ok(seen) => seen_findings = seen,
            Err(e) => tracing::error!(error = %e, "the status printer failed"),
        }
    }
}
