//! Retro-hunts: when a watchlist gains entries, the new entries are looked
//! up over all the history the engine has already evaluated, at once, in
//! the search index (not by replaying every block), and each match opens
//! an alert of the built-in rule `retro-hunt`, marked retrospective
//! (`labels.retrospective = "true"`) and explained with the list, the entry
//! and when it was added. Matches of one entry are one alert (its dedup
//! spans any history).
//!
//! The index is reached through [`PartyIndex`] (the node implements it over
//! `indexer`, which this crate does not depend on). Positions the index
//! does not cover yet (it may lag the engine) are scanned block by block,
//! so a hunt finds exactly what a scan of every evaluated block finds:
//! the transactions with the entry among their parties (sender, contract,
//! payer and payee, account or id; `records::TxDoc::parties`).
//!
//! The entries already hunted are kept in the engine's records
//! (`key::list_entry`), written in the same batch as the alerts. The first
//! time the engine keeps them, the lists in force are the baseline: they
//! were in force for every block evaluated from then on (a fresh engine
//! evaluates all history with them), so only later additions are hunted.

/// The search index, as a hunt needs it.
pub trait PartyIndex: Send + Sync {
    /// The merged position the index covers (its checkpoint), if any.
    fn covered(&self) -> Result<Option<i64>, String>;
    /// The transactions at merged positions up to `up_to` with `entry`
    /// (lowercase) among their parties: (hash, merged position).
    fn with_party(&self, entry: &str, up_to: i64) -> Result<Vec<(String, i64)>, String>;
}

/// The built-in rule of retro-hunt alerts.
pub const RETRO_RULE: &str = "retro-hunt";

/// Entries hunted at once at most (a list that gains more is hunted over
/// several steps).
pub const MAX_ENTRIES_PER_HUNT: usize = 1_000;

/// Matches written in one batch at most.
pub const MATCHES_PER_BATCH: usize = 10_000;

/// One transaction a hunt found.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RetroMatch {
    /// Its merged position.
    pub position: i64,
    /// Its hash.
    pub hash: String,
    /// The list.
    pub list: String,
    /// The entry.
    pub entry: String,
}
