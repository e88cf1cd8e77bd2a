//! Policies: alert rules evaluated on every verified transaction as it
//! arrives.
//!
//! - [`rule`]: the rule files (TOML), compiled CEL conditions and group
//!   keys, windows and thresholds; errors name the file, rule and position.
//! - [`context`]: what a condition sees (`tx`, `lists`).
//! - [`watchlist`]: the lists, reloaded when their files change.
//! - [`window`]: sliding windows per rule and key (count, sum, round trip).
//! - [`alert`]: alerts, their lifecycle and history, silences, the outbox.
//! - [`engine`]: follows the store from its own checkpoint and writes the
//!   alerts, window state and outbox entries of each block in one batch
//!   with the checkpoint.
//! - [`manage`]: the lifecycle of alerts (acknowledge, assign, note,
//!   resolve, dismiss, reopen), silences, and rule versions saved through
//!   the API.
//! - [`deliver`]: one sender per channel (webhook with Standard Webhooks
//!   signatures, DingTalk, WeCom) takes its outbox in order, at least once.
//! - [`family`]: the policy records in the store (families, keys, codecs,
//!   readers), which the others share; [`error`]: why they stop.
//!
//! Data flow: store (verified blocks, sealed records) →
//! `records::block_docs` (each transaction in the clear, as the index reads
//! it too) → every enabled rule → alerts and outbox entries → the policy
//! families ([`family`]) → senders → receivers.

pub mod alert;
pub mod backtest;
pub mod context;
pub mod deliver;
pub mod engine;
pub mod error;
pub mod family;
pub mod manage;
pub mod metrics;
pub mod retro;
pub mod rule;
pub mod watchlist;
pub mod window;

pub use engine::{Engine, EngineError, EngineStats};
pub use rule::{Rule, RuleError, RuleSpec, Severity};
pub use watchlist::Watchlists;

/// The example rules shipped in `policies/rules/` (file name, text).
pub const EXAMPLE_RULES: &[(&str, &str)] = &[("aml.toml", include_str!("../rules/aml.toml"))];

/// The example watchlists shipped in `policies/watchlists/`.
pub const EXAMPLE_WATCHLISTS: &[(&str, &str)] = &[
    (
        "demo_sanctions.csv",
        include_str!("../watchlists/demo_sanctions.csv"),
    ),
    ("internal.csv", include_str!("../watchlists/internal.csv")),
];

/// Writes the example rules and watchlists under `dir` (as `rules/` and
/// `watchlists/`, kept if already there so edits survive); returns both
/// directories.
pub fn write_examples(
    dir: &std::path::Path,
) -> std::io::Result<(std::path::PathBuf, std::path::PathBuf)> {
    let rules = dir.join("rules");
    let lists = dir.join("watchlists");
    for (d, files) in [(&rules, EXAMPLE_RULES), (&lists, EXAMPLE_WATCHLISTS)] {
        std::fs::create_dir_all(d)?;
        for (name, text) in files {
            let path = d.join(name);
            if !path.exists() {
                std::fs::write(path, text)?;
            }
        }
    }
    Ok((rules, lists))
}
