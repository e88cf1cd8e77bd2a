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
