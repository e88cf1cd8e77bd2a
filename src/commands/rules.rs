//! `lookthrough rules check`: compile a rules directory and name every
//! error.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use policies::Watchlists;
use policies::rule::{Trigger, load_dir};

/// Checks `dir`; with `watchlists`, also that every `lists.NAME` exists.
pub fn check(dir: &Path, watchlists: Option<&Path>) -> Result<ExitCode> {
    let lists = watchlists.map(Watchlists::load).transpose()?;
    let (rules, errors) = load_dir(dir, lists.as_ref().map(|l| l.names()).as_ref());
    for r in &rules {
        let window = r
            .spec
            .window
            .as_ref()
            .map(|w| w.get_ref().trim().to_string())
            .unwrap_or_default();
        let how = match r.trigger {
            Trigger::Each => "each match".to_string(),
            Trigger::Count(n) => format!("≥ {n} in {window}"),
            Trigger::Sum(s) => format!("sum ≥ {s} in {window}"),
            Trigger::RoundTrip(bp) => format!("round trip within {bp} bp in {window}"),
        };
        println!(
            "ok    {} ({}, {how}{})",
            r.spec.id,
            r.spec.severity.as_str(),
            if r.spec.enabled { "" } else { ", disabled" }
        );
    }
    for e in &errors {
        println!("ERROR {e}");
    }
    println!("{} rules compile, {} errors", rules.len(), errors.len());
    Ok(if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `lookthrough rules backtest`: runs the rules of `file` over the stored
/// history (beside a running node: the store is read-only) and reports
/// what they would have opened; writes no alert and sends nothing.
pub fn backtest(
    config: &Path,
    file: &Path,
    from: Option<&str>,
    to: Option<&str>,
    first: usize,
    json: bool,
) -> Result<ExitCode> {
    use std::sync::Arc;

    use anyhow::Context;
    use privacy::at_rest::RecordSealer;
    use records::time::{beijing_day_ms, format_ms};

    let config = node::Config::load(config)?;
    let lists = match &config.policies.watchlists_dir {
        Some(dir) => Watchlists::load(dir)?,
        None => Watchlists::default(),
    };
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read the rules file {}", file.display()))?;
    let (rules, errors) = policies::rule::parse_file(file, &text, Some(&lists.names()));
    if !errors.is_empty() {
        for e in &errors {
            println!("ERROR {e}");
        }
        anyhow::bail!(
            "{} errors in {}: nothing was run",
            errors.len(),
            file.display()
        );
    }
    if rules.is_empty() {
        anyhow::bail!("{} holds no [[rule]]", file.display());
    }
    let range = policies::backtest::Range {
        from_ms: from
            .map(|d| beijing_day_ms(d, false).map_err(anyhow::Error::msg))
            .transpose()
            .context("--from")?,
        to_ms: to
            .map(|d| beijing_day_ms(d, true).map_err(anyhow::Error::msg))
            .transpose()
            .context("--to")?,
    };
    let keyring = node::keys::open_keyring(&config.keys.regulator)?;
    let sealer = Arc::new(RecordSealer::from_keyring(&keyring)?);
    let path = config.store_dir();
    let store = Arc::new(
        store::Store::open_read_only(&path)
            .with_context(|| format!("cannot open the store {}", path.display()))?,
    );
    let registered = store.chains()?;
    let suites: Vec<(u8, chain::CryptoSuite)> = config
        .chains
        .iter()
        .filter_map(|c| {
            registered
                .iter()
                .find(|e| e.id == c.id())
                .map(|e| (e.number, c.suite()))
        })
        .collect();
    let suites = if suites.is_empty() {
        vec![(0, config.suite())]
    } else {
        suites
    };
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} backtesting [{bar:40}] block {pos}/{len} of the merged log ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let report = policies::backtest::Backtest {
        log: store,
        sealer,
        suites,
        rules,
        watchlists: lists,
        range,
    }
    .run(&config.storage.data_dir, &|done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })?;
    bar.finish_and_clear();
    if json {
        let alerts: Vec<serde_json::Value> = report
            .alerts
            .iter()
            .take(first)
            .map(|a| {
                serde_json::json!({
                    "rule": a.rule,
                    "key": a.group_key,
                    "first_seen": format_ms(a.first_seen_ms),
                    "opened_height": a.opened_height,
                    "transactions": a.transactions,
                    "more_transactions": a.unlisted,
                    "values": a.values,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "rules": report.rules,
                "blocks": report.blocks,
                "transactions": report.transactions,
                "alerts": report.alerts.len(),
                "per_day": report.per_day,
                "first_alerts": alerts,
            })
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "backtest of {} over {} blocks ({} transactions{}): {} alerts would have opened; none was written, nothing was sent",
        report.rules.join(", "),
        report.blocks,
        report.transactions,
        match (report.first_ms, report.last_ms) {
            (Some(a), Some(b)) => format!(", {} to {}", format_ms(a), format_ms(b)),
            _ => String::new(),
        },
        report.alerts.len()
    );
    for (day, n) in &report.per_day {
        println!("  {day}  {n}");
    }
    for a in report.alerts.iter().take(first) {
        let why: Vec<String> = a.values.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!(
            "{} [{}] at block {} ({}): {} transactions; {}",
            a.rule,
            a.group_key,
            a.opened_height,
            format_ms(a.first_seen_ms),
            a.count(),
            why.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}
