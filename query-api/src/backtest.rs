//! `backtestRule`: a rule, new or changed, run over the stored history
//! before it is saved (analysts and admins; `policies::backtest`). It
//! writes no alert and sends nothing; what it returns comes from decrypted
//! fields, so the transactions of the alerts it returns are reads in the
//! audit log.

use std::path::PathBuf;

use async_graphql::{Context, Object, Result, SimpleObject};

use crate::alerts::KeyValue;
use crate::auth::Role;
use crate::context::{blocking, read_log, require, state};
use crate::error::{bad_input, internal};

/// The most alerts a backtest returns in full.
pub const MAX_BACKTEST_ALERTS: usize = 200;

/// What a backtest found.
#[derive(SimpleObject)]
pub struct BacktestReport {
    /// The rules run.
    pub rules: Vec<String>,
    /// Blocks evaluated.
    pub blocks: i64,
    /// Transactions evaluated.
    pub transactions: i64,
    /// The first block time evaluated (RFC 3339).
    pub from: Option<String>,
    /// The last.
    pub to: Option<String>,
    /// Alerts it would have opened.
    pub alert_count: i64,
    /// Alerts per Beijing day of their first match.
    pub per_day: Vec<DayCount>,
    /// The first alerts (at most `first`), oldest first.
    pub alerts: Vec<BacktestAlert>,
}

/// Alerts of one day.
#[derive(SimpleObject)]
pub struct DayCount {
    /// `YYYY-MM-DD`, Beijing time.
    pub day: String,
    /// Alerts first matched that day.
    pub alerts: i64,
}

/// An alert a backtest would have opened.
#[derive(SimpleObject)]
pub struct BacktestAlert {
    /// Its rule.
    pub rule: String,
    /// Its group key.
    pub key: String,
    /// Block time of its first match.
    pub first_seen: String,
    /// Of its last.
    pub last_seen: String,
    /// The block (merged position) that opened it.
    pub height: i64,
    /// Its transactions (the first thousand).
    pub transactions: Vec<String>,
    /// How many in all.
    pub transaction_count: i64,
    /// Why it fired.
    pub values: Vec<KeyValue>,
}

/// Where a backtest finds what it needs beyond the API's state.
#[derive(Clone, Debug, Default)]
pub struct BacktestOptions {
    /// The watchlists the rules read (`lists.NAME`).
    pub watchlists_dir: Option<PathBuf>,
}

/// The mutation.
#[derive(Default)]
pub struct BacktestMutation;

#[Object]
impl BacktestMutation {
    /// Runs `text` (one or more `[[rule]]` tables) over the stored history
    /// between the Beijing days `from` and `to` (YYYY-MM-DD, both
    /// inclusive; all history when absent) and reports what it would have
    /// opened (analysts and admins). Nothing is written or sent.
    async fn backtest_rule(
        &self,
        ctx: &Context<'_>,
        text: String,
        from: Option<String>,
        to: Option<String>,
        #[graphql(default = 20)] first: i32,
    ) -> Result<BacktestReport> {
        require(
            ctx,
            Role::reads_plaintext,
            "backtests (they evaluate decrypted payloads)",
        )?;
        let st = state(ctx)?.clone();
        let first = usize::try_from(first)
            .ok()
            .filter(|f| *f <= MAX_BACKTEST_ALERTS)
            .ok_or_else(|| bad_input(format!("first: 0 to {MAX_BACKTEST_ALERTS}")))?;
        let day = |d: Option<String>, end: bool, what: &str| {
            d.map(|d| {
                records::time::beijing_day_ms(&d, end)
                    .map_err(|e| bad_input(format!("{what}: {e}")))
            })
            .transpose()
        };
        let range = policies::backtest::Range {
            from_ms: day(from, false, "from")?,
            to_ms: day(to, true, "to")?,
        };
        let reads = read_log(ctx);
        let (report, alerts, read) = blocking(move || {
            let lists = match &st.backtest.watchlists_dir {
                Some(dir) => policies::Watchlists::load(dir).map_err(internal)?,
                None => policies::Watchlists::default(),
            };
            let (rules, errors) = policies::rule::parse_file(
                std::path::Path::new("(backtest)"),
                &text,
                Some(&lists.names()),
            );
            if let Some(e) = errors.first() {
                return Err(bad_input(e.to_string()));
            }
            if rules.is_empty() {
                return Err(bad_input("the text holds no [[rule]]"));
            }
            let suites: Vec<(u8, chain::CryptoSuite)> = st
                .chains
                .all()
                .iter()
                .map(|c| (c.number, c.suite))
                .collect();
            let parent = st
                .store
                .path()
                .parent()
                .map(std::path::Path::to_path_buf)
                .unwrap_or_else(std::env::temp_dir);
            let report = policies::backtest::Backtest {
                log: st.store.clone(),
                sealer: st.sealer.clone(),
                suites,
                rules,
                watchlists: lists,
                range,
            }
            .run(&parent, &|_, _| {})
            .map_err(internal)?;
            let mut read = Vec::new();
            let alerts: Vec<BacktestAlert> = report
                .alerts
                .iter()
                .take(first)
                .map(|a| {
                    read.extend(a.transactions.iter().cloned());
                    BacktestAlert {
                        rule: a.rule.clone(),
                        key: a.group_key.clone(),
                        first_seen: records::time::format_ms(a.first_seen_ms),
                        last_seen: records::time::format_ms(a.last_seen_ms),
                        height: a.opened_height,
                        transactions: a.transactions.clone(),
                        transaction_count: i64::try_from(a.count()).unwrap_or(i64::MAX),
                        values: a
                            .values
                            .iter()
                            .map(|(k, v)| KeyValue {
                                key: k.clone(),
                                value: v.clone(),
                            })
                            .collect(),
                    }
                })
                .collect();
            Ok((report, alerts, read))
        })
        .await?;
        if let Some(log) = reads {
            for tx in read {
                log.read(tx);
            }
        }
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        Ok(BacktestReport {
            rules: report.rules,
            blocks: n(report.blocks),
            transactions: n(report.transactions),
            from: report.first_ms.map(records::time::format_ms),
            to: report.last_ms.map(records::time::format_ms),
            alert_count: i64::try_from(report.alerts.len()).unwrap_or(i64::MAX),
            per_day: report
                .per_day
                .into_iter()
                .map(|(day, alerts)| DayCount {
                    day,
                    alerts: n(alerts),
                })
                .collect(),
            alerts,
        })
    }
}
