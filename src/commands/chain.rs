//! `lookthrough chain verify`: is this block (transaction, receipt) genuine?

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use chain::CryptoSuite;
use chain::verify::{Item, Sealer, cross_check, parse_sealer_list};

/// Which crypto suite to assume.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum CryptoArg {
    /// Tell from signature lengths, or from which hash matches.
    Auto,
    /// SM3 / SM2 (national standard).
    Sm,
    /// keccak256 / secp256k1.
    Standard,
}

/// Verifies every file, prints each check, and returns failure if any check
/// failed or any file could not be read.
pub fn verify(files: &[PathBuf], sealers: Option<&PathBuf>, crypto: CryptoArg) -> Result<ExitCode> {
    let committee: Option<Vec<Sealer>> = match sealers {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read sealer list {}", path.display()))?;
            Some(
                parse_sealer_list(&text)
                    .with_context(|| format!("sealer list {}", path.display()))?,
            )
        }
        None => None,
    };
    let suite_of = |item: &Item| match crypto {
        CryptoArg::Auto => item.detect_suite(),
        CryptoArg::Sm => CryptoSuite::Sm,
        CryptoArg::Standard => CryptoSuite::Standard,
    };
    let mut all_passed = true;
    let mut items = Vec::new();
    for path in files {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                println!("{}: cannot read: {e}", path.display());
                all_passed = false;
                continue;
            }
        };
        let item = match Item::parse(&text) {
            Ok(item) => item,
            Err(e) => {
                println!("{}: FAIL parse: {e}", path.display());
                all_passed = false;
                continue;
            }
        };
        let suite = suite_of(&item);
        println!(
            "{}: {} ({} crypto)",
            path.display(),
            item.kind(),
            suite.name()
        );
        let report = item.verify(suite, committee.as_deref());
        if matches!(item, Item::Block(_)) && committee.is_none() {
            println!(
                "  note: signatures checked against the block's own sealer list; pass --sealers to check them against a committee you trust"
            );
        }
        for check in &report.checks {
            println!("  {check}");
        }
        all_passed &= report.passed();
        items.push(item);
    }
    if items.len() > 1 {
        let report = cross_check(suite_of, &items);
        if !report.checks.is_empty() {
            println!("across files:");
            for check in &report.checks {
                println!("  {check}");
            }
        }
        all_passed &= report.passed();
    }
    if all_passed {
        println!("all checks passed");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("some checks FAILED");
        Ok(ExitCode::FAILURE)
    }
}
