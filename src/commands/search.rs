//! `lookthrough search` (hits from the command line, beside a running node)
//! and `lookthrough reindex` (rebuild the index from the store alone).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use indexer::TxIndex;
use indexer::search::{Filter, Range, Search, SearchRequest, Sort, SortBy, payload_in_clear};
use privacy::at_rest::RecordSealer;
use records::Money;
use records::doc::read_payload;
use store::Store;

use node::Config;
use node::keys::open_keyring;

/// Sort keys on the command line.
#[derive(clap::ValueEnum, Debug, Clone, Copy)]
pub enum SortArg {
    /// Best match first.
    Relevance,
    /// Block time.
    Time,
    /// Chain order.
    Chain,
    /// Amount.
    Amount,
}

/// Options of `lookthrough search`.
#[derive(clap::Args, Debug, Clone)]
pub struct SearchOpts {
    /// The node's configuration file (keys and data directory).
    #[arg(long)]
    pub config: PathBuf,
    /// Words (Chinese or English), a hash or an address; tantivy syntax
    /// works too (`memo:汇款 AND currency:cny`). Empty: everything.
    #[arg(default_value = "")]
    pub query: String,
    /// Hits to print.
    #[arg(long, default_value_t = 20)]
    pub first: usize,
    /// Continue after this cursor (printed after a page).
    #[arg(long)]
    pub after: Option<String>,
    /// Sort order.
    #[arg(long, value_enum, default_value = "relevance")]
    pub sort: SortArg,
    /// Ascending instead of descending.
    #[arg(long)]
    pub asc: bool,
    /// Any party: sender, contract, payer or payee (address or id).
    #[arg(long)]
    pub party: Option<String>,
    /// Currency code.
    #[arg(long)]
    pub currency: Option<String>,
    /// Envelope status: not-envelope, opened, not-for-us, malformed, wrong-context, wrong-key, inconsistent.
    #[arg(long)]
    pub status: Option<String>,
    /// Privacy class: public or private.
    #[arg(long)]
    pub privacy: Option<String>,
    /// Scenario.
    #[arg(long)]
    pub scenario: Option<String>,
    /// Smallest amount (decimal, e.g. 50000 or 49999.99).
    #[arg(long)]
    pub min_amount: Option<String>,
    /// Largest amount (decimal).
    #[arg(long)]
    pub max_amount: Option<String>,
    /// From this day (YYYY-MM-DD, Beijing time) or time (ms since the epoch).
    #[arg(long)]
    pub since: Option<String>,
    /// Up to this day (inclusive) or time.
    #[arg(long)]
    pub until: Option<String>,
    /// Print hits as JSON lines.
    #[arg(long)]
    pub json: bool,
}

/// `YYYY-MM-DD` (Beijing midnight; `end`: the day's last millisecond) or
/// milliseconds since the epoch.
fn parse_time(flag: &str, s: &str, end: bool) -> Result<i64> {
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    records::time::beijing_day_ms(s, end).map_err(|e| {
        anyhow::anyhow!("--{flag}: {e} (give YYYY-MM-DD or milliseconds since the epoch)")
    })
}

fn parse_amount(flag: &str, s: &Option<String>) -> Result<Option<i64>> {
    s.as_deref()
        .map(|a| {
            Money::parse(a).map(Money::hundredths).with_context(|| {
                format!("--{flag}: '{a}' is not an amount with at most two decimals")
            })
        })
        .transpose()
}

/// `lookthrough search`.
pub fn search(opts: &SearchOpts) -> Result<ExitCode> {
    let config = Config::load(&opts.config)?;
    let keyring = open_keyring(&config.keys.regulator)?;
    let sealer = RecordSealer::from_keyring(&keyring)?;
    let store_dir = config.store_dir();
    let store = Store::open_read_only(&store_dir)
        .with_context(|| format!("cannot read the store {}", store_dir.display()))?;
    let index = Arc::new(TxIndex::open_existing(&config.index_dir())?);
    let search = Search::new(index);
    let filter = Filter {
        party: opts.party.clone(),
        currency: opts.currency.clone(),
        status: opts.status.clone(),
        privacy: opts.privacy.clone(),
        scenario: opts.scenario.clone(),
        amount: Range::new(
            parse_amount("min-amount", &opts.min_amount)?,
            parse_amount("max-amount", &opts.max_amount)?,
        ),
        time_ms: Range::new(
            opts.since
                .as_deref()
                .map(|s| parse_time("since", s, false))
                .transpose()?,
            opts.until
                .as_deref()
                .map(|s| parse_time("until", s, true))
                .transpose()?,
        ),
        ..Default::default()
    };
    let by = match opts.sort {
        SortArg::Relevance => SortBy::Relevance,
        SortArg::Time => SortBy::Time,
        SortArg::Chain => SortBy::Chain,
        SortArg::Amount => SortBy::Amount,
    };
    let started = Instant::now();
    let page = search.search(&SearchRequest {
        query: Some(opts.query.clone()),
        filter,
        sort: Sort {
            by,
            descending: !opts.asc,
        },
        first: opts.first,
        after: opts.after.clone(),
    })?;
    let took = started.elapsed();
    for w in &page.warnings {
        eprintln!("note: part of the query was not understood and was ignored: {w}");
    }
    let labels: std::collections::BTreeMap<u8, String> = store
        .chains()?
        .into_iter()
        .map(|e| (e.number, e.id))
        .collect();
    for hit in &page.hits {
        // The hit's chain's log.
        let store = store.for_chain(hit.chain)?;
        let plain = payload_in_clear(&store, &sealer, &hit.tx_hash);
        let (business, _) = plain
            .as_deref()
            .map(|p| read_payload(p))
            .unwrap_or_default();
        let class = chain::hexbytes::decode_fixed::<32>("tx", &hit.tx_hash)
            .ok()
            .and_then(|h| store.transaction(&h).ok().flatten())
            .map(|t| t.class)
            .unwrap_or_default();
        let snippets = if opts.query.trim().is_empty() {
            Vec::new()
        } else {
            plain
                .as_deref()
                .map(|p| search.snippets(&opts.query, p))
                .transpose()?
                .unwrap_or_default()
        };
        let amount = business.amount.map(|a| a.to_string());
        if opts.json {
            let v = serde_json::json!({
                "chain": labels.get(&hit.chain).map_or(records::UNREGISTERED_CHAIN, String::as_str),
                "tx_hash": hit.tx_hash,
                "height": hit.height,
                "index": hit.index,
                "time_ms": hit.time_ms,
                "status": class,
                "scenario": business.scenario,
                "amount": amount,
                "currency": business.currency,
                "payer": business.payer.key(),
                "payee": business.payee.key(),
                "memo": business.memo,
                "snippets": snippets.iter().map(|s| serde_json::json!({"field": s.field, "html": s.to_html()})).collect::<Vec<_>>(),
                "cursor": hit.cursor,
            });
            println!("{v}");
            continue;
        }
        println!(
            "{:>8}.{:<4} {}  {:<13} {:>14} {:<3}  {}",
            hit.height,
            hit.index,
            devnet::workload::beijing_time(hit.time_ms),
            class,
            amount.unwrap_or_default(),
            business.currency.unwrap_or_default(),
            hit.tx_hash,
        );
        if let (Some(a), Some(b)) = (business.payer.key(), business.payee.key()) {
            println!("{:14}{a} → {b}", "");
        }
        match snippets.first() {
            Some(s) => println!("{:14}{}", "", highlight_terminal(s)),
            None => {
                if let Some(m) = &business.memo {
                    println!("{:14}{m}", "");
                }
            }
        }
    }
    if !opts.json {
        println!(
            "{} of {} matches (index covers blocks to {}) in {:.1} ms{}",
            page.hits.len(),
            page.total,
            page.indexed_height
                .map_or("none".to_string(), |h| h.to_string()),
            took.as_secs_f64() * 1e3,
            if page.has_next {
                page.hits
                    .last()
                    .map(|h| format!("; more with --after {}", h.cursor))
                    .unwrap_or_default()
            } else {
                String::new()
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A snippet with its matches marked `[like this]`.
fn highlight_terminal(s: &indexer::search::Snippet) -> String {
    let mut out = String::new();
    let mut at = 0;
    for r in &s.highlighted {
        out.push_str(&s.fragment[at..r.start]);
        out.push('[');
        out.push_str(&s.fragment[r.clone()]);
        out.push(']');
        at = r.end;
    }
    out.push_str(&s.fragment[at..]);
    out.replace('\n', " / ")
}

/// `lookthrough reindex`: rebuilds `DATA_DIR/index` from `DATA_DIR/store`.
/// The node must be stopped (the store is opened for writing to hold it).
pub fn reindex(config_path: &Path) -> Result<ExitCode> {
    let config = Config::load(config_path)?;
    let keyring = open_keyring(&config.keys.regulator)?;
    let sealer = Arc::new(RecordSealer::from_keyring(&keyring)?);
    let store_dir = config.store_dir();
    let store = Arc::new(Store::open(&store_dir).with_context(|| {
        format!(
            "cannot open the store {} (stop the node first: reindex needs it alone)",
            store_dir.display()
        )
    })?);
    // The configured chains, as the node registers them, each decoded
    // with its suite.
    let mut index_config = config.indexer_config();
    for c in &config.chains {
        let number = store
            .open_chain(c.id(), &c.group)
            .with_context(|| format!("chain {}", c.id()))?
            .chain_number();
        index_config.chain_suites.insert(number, c.suite());
    }
    let head = store.merged_head()?.max(store.checkpoint()?);
    let bar = indicatif::ProgressBar::new(head.map_or(0, |h| h as u64 + 1));
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} reindexing [{bar:40}] block {pos}/{len} of every chain ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let cp = indexer::rebuild(
        &config.index_dir(),
        store,
        sealer,
        index_config,
        &mut |h, _| bar.set_position(h as u64 + 1),
    )?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    match cp {
        Some(cp) => println!(
            "reindexed {} transactions of blocks 0..={} in {secs:.1} s ({:.0} tx/s) into {}",
            cp.docs,
            cp.height,
            cp.docs as f64 / secs.max(1e-9),
            config.index_dir().display()
        ),
        None => println!("the store is empty; an empty index was made"),
    }
    Ok(ExitCode::SUCCESS)
}
