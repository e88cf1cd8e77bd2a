//! Backtests: a rule, new or changed, run over the stored history before it
//! goes live, reporting what it would have opened.
//!
//! A backtest is the live engine itself ([`Engine::scratch`]) reading the
//! node's merged log, with every record of its own (rule versions, windows,
//! alerts, links, checkpoint) in a scratch store in a temporary directory
//! that is deleted afterwards. It therefore opens exactly the alerts the
//! live engine would have opened over the same blocks (same conditions,
//! windows, dedup and keys), and by construction writes nothing to the
//! node's alerts or outbox: it notifies no channel and its store is not the
//! node's. Blocks outside the date range are not evaluated (a window starts
//! empty at `from`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use privacy::at_rest::RecordSealer;
use store::Store;

use crate::alert::Alert;
use crate::engine::{Engine, EngineError};
use crate::rule::Rule;
use crate::watchlist::Watchlists;

/// What to run over which history.
#[derive(Debug, Clone, Default)]
pub struct Range {
    /// Evaluate blocks from this block time on (ms), inclusive.
    pub from_ms: Option<i64>,
    /// Up to this block time (ms), inclusive.
    pub to_ms: Option<i64>,
}

impl Range {
    fn holds(&self, t: i64) -> bool {
        self.from_ms.is_none_or(|f| t >= f) && self.to_ms.is_none_or(|e| t <= e)
    }
}

/// What a backtest found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The rules run (ids).
    pub rules: Vec<String>,
    /// Blocks evaluated (those in the range with transactions).
    pub blocks: u64,
    /// Transactions evaluated.
    pub transactions: u64,
    /// The first and last block time evaluated (ms).
    pub first_ms: Option<i64>,
    /// See `first_ms`.
    pub last_ms: Option<i64>,
    /// Every alert it would have opened, oldest first.
    pub alerts: Vec<Alert>,
    /// Alerts per Beijing day of their first match (`YYYY-MM-DD`).
    pub per_day: BTreeMap<String, u64>,
}

/// A backtest to run.
pub struct Backtest {
    /// The node's store (read only).
    pub log: Arc<Store>,
    /// Opens the stored records.
    pub sealer: Arc<RecordSealer>,
    /// Each chain's crypto suite (by chain number), for decoding.
    pub suites: Vec<(u8, chain::CryptoSuite)>,
    /// The rules to run.
    pub rules: Vec<Rule>,
    /// The watchlists they read.
    pub watchlists: Watchlists,
    /// Which blocks.
    pub range: Range,
}

impl Backtest {
    /// Runs it with the engine's records in a scratch store under
    /// `scratch_parent` (deleted when done). `progress(done, total)` is
    /// called as positions are read; blocking (RocksDB, CEL), so async
    /// callers run it on the blocking pool.
    pub fn run(
        self,
        scratch_parent: &Path,
        progress: &dyn Fn(u64, u64),
    ) -> Result<Report, EngineError> {
        let Backtest {
            log,
            sealer,
            suites,
            rules,
            watchlists,
            range,
        } = self;
        let dir = tempfile::Builder::new()
            .prefix(".backtest-")
            .tempdir_in(scratch_parent)
            .map_err(|e| EngineError::Scratch(format!("{}: {e}", scratch_parent.display())))?;
        let scratch = Arc::new(Store::open(dir.path())?);
        let first_suite = suites.first().map_or(chain::CryptoSuite::Sm, |(_, s)| *s);
        let reader = records::BlockReader::alone(sealer.clone(), first_suite);
        for (n, s) in &suites {
            reader.set_suite(*n, *s);
        }
        let ids: Vec<String> = rules.iter().map(|r| r.spec.id.clone()).collect();
        let mut engine = Engine::scratch(log.clone(), scratch.clone(), sealer, rules, watchlists)?;
        let mut report = Report {
            rules: ids,
            ..Default::default()
        };
        let Some(head) = log.merged_head()? else {
            return Ok(report);
        };
        let total = u64::try_from(head + 1).unwrap_or(0);
        let unreadable = std::sync::atomic::AtomicU64::new(0);
        for position in 0..=head {
            if position % 64 == 0 {
                progress(u64::try_from(position).unwrap_or(0), total);
            }
            let Some(block) =
                reader
                    .read(&log, position, &unreadable)
                    .map_err(|e| EngineError::Read {
                        height: position,
                        reason: e.to_string(),
                    })?
            else {
                break;
            };
            let Some(t) = block.docs.first().map(|d| d.time_ms) else {
                continue;
            };
            if range.to_ms.is_some_and(|e| t > e) {
                break;
            }
            if !range.holds(t) {
                continue;
            }
            engine.process_docs(position, &block.docs)?;
            report.blocks += 1;
            report.transactions += block.docs.len() as u64;
            report.first_ms.get_or_insert(t);
            report.last_ms = Some(t);
        }
        progress(total, total);
        let mut alerts = crate::family::all_alerts(&scratch)?;
        alerts.sort_by_key(|a| a.id);
        for a in &alerts {
            let day = records::time::beijing(a.first_seen_ms)
                .map(|d| format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()))
                .unwrap_or_default();
            *report.per_day.entry(day).or_default() += 1;
        }
        report.alerts = alerts;
        drop(engine);
        drop(scratch);
        dir.close()
            .map_err(|e| EngineError::Scratch(format!("removing the scratch store: {e}")))?;
        Ok(report)
    }
}
