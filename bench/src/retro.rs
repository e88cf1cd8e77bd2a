//! `lookthrough-bench retro`: a retro-hunt of new watchlist entries against
//! a full replay of the rules over the same history, timed in one run.
//!
//! A session-key devnet chain of `--txs` transactions is generated, opened,
//! stored and indexed (as `api` and `dashboards` build it). The full replay
//! is the rule engine evaluating the example rules over the whole history
//! (what a retro-hunt would cost without the index); then `--entries`
//! parties of the chain are added to a watchlist and the same engine hunts
//! them (`policies::retro`). The hunt's matches are checked against a scan
//! of the index's documents for the same parties.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::api::fresh_chain;
use crate::rules::example_rules;

/// Options of `lookthrough-bench retro`.
#[derive(Args, Debug)]
pub struct RetroBenchOpts {
    /// Transactions in the chain (`1M` = 1,000,000).
    #[arg(long, default_value = "1M", value_parser = crate::search::parse_count)]
    pub txs: u64,
    /// Transactions per block.
    #[arg(long, default_value_t = 200)]
    pub txs_per_block: usize,
    /// New watchlist entries hunted.
    #[arg(long, default_value_t = 100)]
    pub entries: usize,
}

/// Runs the benchmark.
pub fn retro(opts: &RetroBenchOpts) -> Result<std::process::ExitCode> {
    if opts.entries == 0 || opts.txs_per_block == 0 {
        bail!("--entries and --txs-per-block must be positive");
    }
    let chain = fresh_chain("lookthrough-bench-retro-", opts.txs, opts.txs_per_block)?;
    eprintln!(
        "chain of {} transactions built in {:.1} s",
        opts.txs, chain.build_secs
    );
    let (rules, _) = example_rules(&chain.dir.path().join("policies"))?;
    // The example lists (the rules read them) and an empty one that gains
    // the entries.
    let lists_dir = chain.dir.path().join("policies").join("watchlists");
    std::fs::write(lists_dir.join("sanctions.csv"), "id,reason\n")?;
    let lists = policies::Watchlists::load(&lists_dir)?;
    let mut engine = policies::Engine::new(
        chain.store.clone(),
        chain.sealer.clone(),
        rules,
        lists,
        Vec::new(),
    )?
    .party_index(Arc::new(node::IndexParties(indexer::search::Search::new(
        chain.index.clone(),
    ))));

    // The full replay: every block, every example rule.
    let t = Instant::now();
    let blocks = engine.catch_up()?;
    let replay = t.elapsed().as_secs_f64();
    let alerts = policies::family::all_alerts(&chain.store)?.len();
    eprintln!("full replay: {blocks} blocks in {replay:.1} s, {alerts} alerts");

    // The hunt: `entries` new list entries as a sanctions update looks:
    // up to a tenth are parties of the chain that take part in at most 2% of
    // its transactions (outside parties: the devnet's consortium members are
    // in far more; counted in blocks across the chain, senders and business
    // parties), the rest names with no history.
    let reader = records::BlockReader::alone(chain.sealer.clone(), chain::CryptoSuite::Sm);
    let unreadable = std::sync::atomic::AtomicU64::new(0);
    let head = chain.store.merged_head()?.context("an empty chain")?;
    let mut seen: std::collections::BTreeMap<String, u64> = Default::default();
    let mut sampled = 0u64;
    let stride = (head / 64).max(1);
    let mut h = 0;
    while h <= head {
        if let Some(b) = reader.read_block(&chain.store, 0, h, &unreadable)? {
            for d in b.docs.iter() {
                sampled += 1;
                for p in d.parties() {
                    if !p.eq_ignore_ascii_case(&d.to) {
                        *seen.entry(p.to_lowercase()).or_default() += 1;
                    }
                }
            }
        }
        h += stride;
    }
    let mut parties: Vec<(u64, String)> = seen.into_iter().map(|(p, n)| (n, p)).collect();
    parties.sort();
    let mut picked: Vec<String> = parties
        .iter()
        .filter(|(n, _)| *n * 50 <= sampled)
        .take(opts.entries / 10)
        .map(|(_, p)| p.clone())
        .collect();
    let real = picked.len();
    eprintln!(
        "{real} entries are parties of the chain ({} distinct in {sampled} sampled transactions), {} have no history",
        parties.len(),
        opts.entries - real
    );
    for i in picked.len()..opts.entries {
        picked.push(format!("new-entity-{i:04}"));
    }
    let mut text = String::from("id,reason\n");
    for p in &picked {
        text.push_str(&format!("{p},bench\n"));
    }
    std::fs::write(lists_dir.join("sanctions.csv"), text)?;
    let t = Instant::now();
    let found = engine.retro_hunt()?;
    let hunt = t.elapsed().as_secs_f64();

    // The same parties counted through the index one by one (what a scan
    // of every document for them finds; the tests check the scan itself).
    let search = indexer::search::Search::new(chain.index.clone());
    let mut expected = 0usize;
    for p in &picked {
        expected += search.with_party(p, head)?.len();
    }
    if expected != found {
        bail!("the hunt found {found} matches, the index holds {expected}");
    }
    let ratio = hunt / replay;
    println!("## Retro-hunt at {} transactions\n", opts.txs);
    println!(
        "| what | time | matches | ratio to the full replay |\n|---|---|---|---|\n| full replay of the example rules ({blocks} blocks) | {replay:.1} s | {alerts} alerts | 1 |\n| retro-hunt of {} new entries ({real} with history) | {:.3} s | {found} transactions | {ratio:.4} ({}) |",
        opts.entries,
        hunt,
        if ratio < 0.1 {
            "under a tenth"
        } else {
            "**not under a tenth**"
        }
    );
    println!(
        "\nCommand: `lookthrough-bench retro --txs {} --txs-per-block {} --entries {}`",
        opts.txs, opts.txs_per_block, opts.entries
    );
    Ok(if ratio < 0.1 {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    })
}
