//! The engine: follows the store block by block from its own checkpoint,
//! evaluates every enabled rule on every transaction, and writes what it
//! concludes (alerts, window state, outbox entries) in one batch with the
//! new checkpoint, so a crash at any instant neither loses nor repeats an
//! alert.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use cel::Value;
use privacy::at_rest::RecordSealer;
use records::TxDoc;
use store::follow::{Next, Progress, Stage, Step};
use store::{Op, Store};

use crate::alert::{Alert, AlertState, Delivery, HistoryEntry, OutboxEntry, Silence};
use crate::context::tx_value;
pub use crate::error::EngineError;
use crate::error::corrupt;
use crate::family::{
    RuleVersion, SCAN_PAGE, alerts_from, be_u64, be64, checkpoint, for_each_page, key, keyed,
    latest_rules, position, rule_versions, state_u64, version_op,
};
use crate::rule::{Rule, Trigger};
use crate::watchlist::Watchlists;
use crate::window::{DEFAULT_MAX_WINDOWS, Event, Removed, Window, WindowKey, Windows};

/// The rule the engine raises for blocks the node refused.
pub const BLOCK_RULE: &str = "block-failed-verification";

/// Live counters.
#[derive(Debug, Default)]
pub struct EngineStats {
    /// Transactions evaluated.
    pub transactions: AtomicU64,
    /// Rule evaluations that failed on a transaction (counted as no match).
    pub eval_errors: AtomicU64,
    /// Alerts opened.
    pub alerts_opened: AtomicU64,
    /// Matches added to open alerts.
    pub matches: AtomicU64,
    /// Last height evaluated.
    pub height: std::sync::atomic::AtomicI64,
    /// Rule windows live now.
    pub windows: AtomicU64,
    /// Windows dropped to make room for new group keys (the cap was reached).
    pub windows_evicted: AtomicU64,
    /// Events dropped from windows holding their most.
    pub window_events_dropped: AtomicU64,
    /// Watchlist entries hunted over history ([`crate::retro`]).
    pub retro_entries: AtomicU64,
    /// Transactions those hunts found.
    pub retro_matches: AtomicU64,
    /// Time to evaluate one block: its documents read, every rule run, the
    /// outcome written.
    pub evaluation_seconds: store::timing::Seconds,
}

/// Findings turned into alerts per block at most.
const FINDINGS_PER_BLOCK: usize = 1_000;

/// The store key of a window.
fn window_name(wk: &WindowKey) -> Vec<u8> {
    key::window(&wk.0, &wk.1)
}

/// The store operation removing a window.
fn window_delete(wk: &WindowKey) -> Op {
    Op::Delete(crate::family::STATE, window_name(wk))
}

/// The wall clock, ms since the epoch.
pub use records::time::now_ms;

/// A rule with its stored version.
#[derive(Debug, Clone)]
pub struct Versioned {
    /// The rule.
    pub rule: Rule,
    /// Its version (1 for the first text stored).
    pub version: u32,
}

/// A rule that fired on a transaction of the block being evaluated, kept
/// until the block's alerts are written under the lock.
struct Firing {
    /// The rule's index in the engine's rules.
    rule: usize,
    /// The alert key (group key and sub-key).
    key: String,
    /// The transactions of the match.
    hashes: Vec<String>,
    /// The values that explain it.
    values: BTreeMap<String, String>,
    /// The transaction's index in the block's documents.
    doc: usize,
}

/// The engine.
pub struct Engine {
    /// The chain data: the merged log, each chain's blocks and findings.
    store: Arc<Store>,
    /// Where the engine keeps its records (rules, windows, alerts, outbox,
    /// checkpoint): the same store, or a scratch store for a backtest
    /// ([`Engine::scratch`]), which then leaves the node's alerts and
    /// outbox untouched by construction.
    state: Arc<Store>,
    /// Whether the node's findings open `block-failed-verification` alerts
    /// and new watchlist entries are hunted in history (not in a backtest,
    /// which runs the rules it is given only).
    findings: bool,
    /// The search index, for retro-hunts ([`crate::retro`]); without it a
    /// hunt scans the evaluated blocks.
    party_index: Option<Arc<dyn crate::retro::PartyIndex>>,
    /// The watchlist entries already hunted (read from the records once).
    hunted: Option<BTreeMap<String, std::collections::BTreeSet<String>>>,
    /// Whether the lists may hold entries not hunted yet: set when they are
    /// read again, cleared once every new entry is hunted, so that a step
    /// with unchanged lists costs no look at them.
    lists_changed: bool,
    sealer: Arc<RecordSealer>,
    reader: Arc<records::BlockReader>,
    wait_for_abis: bool,
    rules: Vec<Versioned>,
    file_ids: Vec<String>,
    rules_generation: u64,
    watchlists: Watchlists,
    lists_value: Value,
    windows: Windows,
    /// Whether `windows` holds what the store holds (read at the first
    /// block, or when the cap is set, so that it is read once and with the
    /// cap in force: a read under a smaller default cap would delete the
    /// windows past it).
    windows_loaded: bool,
    silences: Vec<Silence>,
    channels: Vec<String>,
    stats: Arc<EngineStats>,
    unreadable_records: AtomicU64,
    watchlist_error: Option<String>,
    stop_at: Option<i64>,
    progress: Arc<Progress>,
    /// The store's chains and their handles, for the findings of each
    /// (read again at each step).
    chains: Option<Arc<Vec<(records::ChainLabel, Store)>>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("rules", &self.rules.len())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine over `store` with `rules` (each stored as a new version
    /// when its text changed), reading `watchlists`, notifying the
    /// configured `channels`. Window state and silences are loaded from the
    /// store.
    pub fn new(
        store: Arc<Store>,
        sealer: Arc<RecordSealer>,
        rules: Vec<Rule>,
        watchlists: Watchlists,
        channels: Vec<String>,
    ) -> Result<Self, EngineError> {
        Self::build(
            store.clone(),
            store,
            true,
            sealer,
            rules,
            watchlists,
            channels,
        )
    }

    /// An engine reading the chain data of `log` and keeping every record of
    /// its own in `scratch` (an empty store of its own): what a backtest
    /// runs. It evaluates `rules` alone (no findings), notifies no channel,
    /// and writes nothing to `log`.
    pub fn scratch(
        log: Arc<Store>,
        scratch: Arc<Store>,
        sealer: Arc<RecordSealer>,
        rules: Vec<Rule>,
        watchlists: Watchlists,
    ) -> Result<Self, EngineError> {
        Self::build(log, scratch, false, sealer, rules, watchlists, Vec::new())
    }

    fn build(
        store: Arc<Store>,
        state: Arc<Store>,
        findings: bool,
        sealer: Arc<RecordSealer>,
        rules: Vec<Rule>,
        watchlists: Watchlists,
        channels: Vec<String>,
    ) -> Result<Self, EngineError> {
        let mut ops = Vec::new();
        for rule in &rules {
            record_version(&state, rule, &mut ops)?;
        }
        if !ops.is_empty() {
            state.write(&ops)?;
        }
        backfill_rule_links(&state)?;
        backfill_alert_counts(&state)?;
        let file_ids: Vec<String> = rules.iter().map(|r| r.spec.id.clone()).collect();
        let lists_value = watchlists.value();
        let reader = records::BlockReader::alone(sealer.clone(), chain::CryptoSuite::Sm);
        let mut e = Self {
            store,
            state,
            findings,
            party_index: None,
            hunted: None,
            lists_changed: true,
            sealer,
            reader,
            wait_for_abis: false,
            rules: Vec::new(),
            file_ids,
            rules_generation: u64::MAX,
            watchlists,
            lists_value,
            windows: Windows::new(DEFAULT_MAX_WINDOWS),
            windows_loaded: false,
            silences: Vec::new(),
            channels,
            stats: Arc::new(EngineStats::default()),
            unreadable_records: AtomicU64::new(0),
            watchlist_error: None,
            stop_at: None,
            progress: Progress::new("rules", None),
            chains: None,
        };
        e.load_silences()?;
        e.load_rules()?;
        if let Some(c) = e.checkpoint()? {
            e.stats.height.store(c, Ordering::Relaxed);
        }
        e.progress.set_checkpoint(e.checkpoint()?);
        Ok(e)
    }

    /// Decodes calls and events with `suite`'s hash (the chain's;
    /// national-standard by default).
    pub fn suite(mut self, suite: chain::CryptoSuite) -> Self {
        self.reader = records::BlockReader::alone(self.sealer.clone(), suite);
        self
    }

    /// Reads blocks through `reader`, shared with the other consumers of
    /// the store (the index), instead of a reader of its own: each block is
    /// read and opened once for all of them. The reader decodes with its
    /// own suite (this replaces [`Engine::suite`]).
    pub fn shared_reader(mut self, reader: Arc<records::BlockReader>) -> Self {
        reader.join();
        self.reader = reader;
        self
    }

    /// Evaluates no block the ABI fetcher (`ingest::abis`, run beside the
    /// engine by the node) has not handled yet, so that rules on decoded
    /// calls and events see the ABIs the chain gives for their block.
    pub fn wait_for_abis(mut self, wait: bool) -> Self {
        self.wait_for_abis = wait;
        self
    }

    /// Keeps at most `max` windows live (`[policies] max_windows`); when a
    /// new group key finds the table full, the window closest to expiry
    /// makes room (counted in [`EngineStats::windows_evicted`]). The stored
    /// windows are read here, under this cap.
    pub fn max_windows(mut self, max: usize) -> Result<Self, EngineError> {
        self.windows = Windows::new(max);
        self.restore_windows()?;
        Ok(self)
    }

    /// Reads the windows the store holds into the table (evicting past the
    /// cap, and deleting what was evicted from the store).
    fn restore_windows(&mut self) -> Result<(), EngineError> {
        let mut removed = Removed::default();
        let mut windows = Windows::new(self.windows.cap());
        let store = self.state.clone();
        for_each_page(
            &store,
            crate::family::STATE,
            key::WINDOWS,
            SCAN_PAGE,
            |page| {
                for (k, v) in page {
                    let (rule, group) = key::parse_window(&k);
                    let w: Window = serde_json::from_slice(&v)
                        .map_err(|e| corrupt(format!("window {rule}/{group}"), e))?;
                    let window_ms = self.window_ms(&rule);
                    windows.restore((rule, group), w, window_ms, &mut removed);
                }
                Ok(())
            },
        )?;
        self.windows = windows;
        self.windows_loaded = true;
        let ops: Vec<Op> = removed.evicted.iter().map(window_delete).collect();
        if !ops.is_empty() {
            tracing::warn!(
                evicted = ops.len(),
                cap = self.windows.cap(),
                "more rule windows stored than the cap allows; the closest to expiry were dropped"
            );
            self.stats
                .windows_evicted
                .fetch_add(ops.len() as u64, Ordering::Relaxed);
            self.state.write(&ops)?;
        }
        self.stats
            .windows
            .store(self.windows.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// The span of rule `id`'s window (0 for a rule no longer loaded, so
    /// that its windows are swept).
    fn window_ms(&self, id: &str) -> i64 {
        self.rules
            .iter()
            .find(|r| r.rule.spec.id == id)
            .map_or(0, |r| r.rule.window_ms)
    }

    /// Looks new watchlist entries up in `index` ([`crate::retro`]).
    pub fn party_index(mut self, index: Arc<dyn crate::retro::PartyIndex>) -> Self {
        self.party_index = Some(index);
        self
    }

    /// Stops [`Engine::run`] once this height is evaluated.
    pub fn stop_at(mut self, height: Option<i64>) -> Self {
        self.stop_at = height;
        self
    }

    /// The live counters.
    pub fn stats(&self) -> Arc<EngineStats> {
        self.stats.clone()
    }

    /// The engine's progress as a stage (`/metrics`).
    pub fn progress(&self) -> Arc<Progress> {
        self.progress.clone()
    }

    /// The rules and their versions.
    pub fn rules(&self) -> &[Versioned] {
        &self.rules
    }

    /// The rules in force: the latest version of each rule loaded from the
    /// files (or built in), and of each rule made through the API. A version
    /// that no longer compiles (a watchlist it reads is gone) keeps the
    /// previous rule set's copy, or is left out.
    fn load_rules(&mut self) -> Result<(), EngineError> {
        let generation = state_u64(&self.state, key::RULES_GENERATION)?;
        if generation == self.rules_generation {
            return Ok(());
        }
        let latest = latest_rules(&self.state)?;
        let names = self.watchlists.names();
        let mut rules = Vec::new();
        for (id, v) in latest {
            if !self.file_ids.contains(&id) && v.source != "api" {
                continue;
            }
            let source = if v.source == "built-in" {
                "(built-in)".to_string()
            } else {
                format!("({} v{})", v.source, v.version)
            };
            match crate::rule::parse_one(Path::new(&source), &v.text, Some(&names)) {
                Ok(rule) => rules.push(Versioned {
                    rule,
                    version: v.version,
                }),
                Err(errors) => {
                    for e in &errors {
                        tracing::error!(rule = %id, version = v.version, error = %e, "rule version does not compile; keeping the one in force");
                    }
                    if let Some(old) = self.rules.iter().find(|r| r.rule.spec.id == id) {
                        rules.push(old.clone());
                    }
                }
            }
        }
        if self.rules_generation != u64::MAX {
            tracing::info!(rules = rules.len(), "rules reloaded");
        }
        self.rules = rules;
        self.rules_generation = generation;
        Ok(())
    }

    /// The chains of the store (chain 0 alone, unlabelled, when none is
    /// registered).
    /// Read once a step (the registry changes only when a node starts), not
    /// once a block.
    fn chains(&mut self) -> Result<Arc<Vec<(records::ChainLabel, Store)>>, EngineError> {
        if let Some(c) = &self.chains {
            return Ok(c.clone());
        }
        let mut labels: Vec<records::ChainLabel> = self
            .store
            .chains()?
            .into_iter()
            .map(|e| records::ChainLabel {
                number: e.number,
                id: e.id,
                group: e.group,
            })
            .collect();
        if labels.is_empty() {
            labels.push(records::ChainLabel {
                number: 0,
                id: records::UNREGISTERED_CHAIN.to_owned(),
                group: String::new(),
            });
        }
        let mut out = Vec::with_capacity(labels.len());
        for l in labels {
            let handle = self.store.for_chain(l.number)?;
            out.push((l, handle));
        }
        let out = Arc::new(out);
        self.chains = Some(out.clone());
        Ok(out)
    }

    fn load_silences(&mut self) -> Result<(), EngineError> {
        self.silences = crate::family::silences(&self.state, false)?;
        Ok(())
    }

    /// The engine's checkpoint: the last height evaluated.
    pub fn checkpoint(&self) -> Result<Option<i64>, EngineError> {
        checkpoint(&self.state)
    }

    /// Evaluates every merged block past the checkpoint; returns how many.
    pub fn catch_up(&mut self) -> Result<usize, EngineError> {
        self.retro_hunt()?;
        let mut n = 0;
        let head = self.store.merged_head()?;
        while let Some(head) = head {
            let next = self.checkpoint()?.map_or(0, |c| c + 1);
            if next > head {
                break;
            }
            self.process(next)?;
            n += 1;
        }
        Ok(n)
    }

    /// Follows the store until `shutdown` (or the stop height).
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), EngineError> {
        let store = self.store.clone();
        store::follow::follow(self, &store, shutdown).await
    }

    /// Evaluates up to [`STEP_BLOCKS`] blocks of the merged log towards
    /// position `head` and says what comes next.
    fn step_blocking(&mut self, head: Option<i64>) -> Result<Step, EngineError> {
        self.chains = None;
        self.retro_hunt()?;
        let mut target = head.unwrap_or(-1);
        if let Some(s) = self.stop_at {
            target = target.min(s);
        }
        let first = self.checkpoint()?.map_or(0, |c| c + 1);
        let last = target.min(first.saturating_add(STEP_BLOCKS as i64 - 1));
        if last >= first {
            let positions = self.store.merged_from(first, STEP_BLOCKS)?;
            let mut fetched: BTreeMap<u8, i64> = BTreeMap::new();
            for m in positions.iter().take_while(|m| m.position <= last) {
                if self.wait_for_abis {
                    // Not ahead of the chain's ABI fetcher: a call is
                    // evaluated once, with the ABIs the chain gives for its
                    // block.
                    let to = match fetched.get(&m.chain) {
                        Some(t) => *t,
                        None => {
                            let c = self.store.chain_of(m)?;
                            let t = records::abis::fetched_to(&c)?.unwrap_or(-1);
                            fetched.insert(m.chain, t);
                            t
                        }
                    };
                    if m.height > to {
                        target = m.position - 1;
                        break;
                    }
                }
                self.process(m.position)?;
            }
        }
        let checkpoint = self.checkpoint()?;
        let next = if self
            .stop_at
            .is_some_and(|s| checkpoint.is_some_and(|c| c >= s))
        {
            Next::Done
        } else if checkpoint.map_or(0, |c| c + 1) <= target {
            Next::Now
        } else if self.findings && self.watchlists.from_dir() {
            // Watchlist files are looked at again this often when no block
            // arrives, so that new entries are hunted without waiting for one.
            Next::Wait(Some(std::time::Instant::now() + WATCHLIST_POLL))
        } else {
            Next::Wait(None)
        };
        Ok(Step { checkpoint, next })
    }

    /// Reads the watchlists again if a file changed (a directory listing
    /// per block); a bad file is reported once and the lists in force stay.
    fn maybe_reload_watchlists(&mut self) {
        match self.watchlists.reload_if_changed() {
            Ok(true) => {
                self.lists_changed = true;
                self.lists_value = self.watchlists.value();
                self.watchlist_error = None;
                tracing::info!(lists = ?self.watchlists.sizes(), "watchlists reloaded");
            }
            Ok(false) => {}
            Err(e) => {
                let text = e.to_string();
                if self.watchlist_error.as_deref() != Some(text.as_str()) {
                    tracing::warn!(error = %text, "watchlists not reloaded; the lists in force stay");
                    self.watchlist_error = Some(text);
                }
            }
        }
    }

    /// Evaluates the block at position `h` of the merged log (the one after
    /// the checkpoint) and commits the result with the new checkpoint.
    pub fn process(&mut self, h: i64) -> Result<(), EngineError> {
        let started = std::time::Instant::now();
        let Some(read) = self
            .reader
            .read(&self.store, h, &self.unreadable_records)
            .map_err(|e| EngineError::Read {
                height: h,
                reason: e.to_string(),
            })?
        else {
            return Err(EngineError::Read {
                height: h,
                reason: "not stored".into(),
            });
        };
        self.process_docs(h, &read.docs)?;
        self.stats.evaluation_seconds.since(started);
        Ok(())
    }

    /// Evaluates `docs` as the transactions of the block at position `h`
    /// (what [`Engine::process`] does once it has read them from the store)
    /// and commits the result with the new checkpoint.
    pub fn process_docs(&mut self, h: i64, docs: &[TxDoc]) -> Result<(), EngineError> {
        self.maybe_reload_watchlists();
        // Rules, silences and the engine's own windows are read without the
        // lock: every write of them is one atomic batch, and only the engine
        // writes windows.
        self.load_rules()?;
        self.load_silences()?;
        if !self.windows_loaded {
            self.restore_windows()?;
        }
        // Evaluation without the lock: what fires is collected, and the
        // alerts it touches are read and written under the lock below, as
        // they stand then (a person may have acknowledged one meanwhile).
        let mut firings: Vec<Firing> = Vec::new();
        let mut touched: Vec<WindowKey> = Vec::new();
        let mut removed = Removed::default();
        // The standard library and the lists once per block; each
        // transaction in a scope of its own.
        let mut root = cel::Context::default();
        root.add_variable_from_value("lists", self.lists_value.clone());
        for (doc, d) in docs.iter().enumerate() {
            self.stats.transactions.fetch_add(1, Ordering::Relaxed);
            let mut ctx = root.new_inner_scope();
            ctx.add_variable_from_value("tx", tx_value(d));
            for (rule, vr) in self.rules.iter().enumerate() {
                let r = &vr.rule;
                if !r.spec.enabled
                    || (!r.spec.chains.is_empty() && !r.spec.chains.contains(&d.chain_id))
                {
                    continue;
                }
                match r.condition.execute(&ctx) {
                    Ok(Value::Bool(true)) => {}
                    Ok(_) => continue,
                    Err(_) => {
                        self.stats.eval_errors.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                }
                let key = match &r.group_by {
                    None if r.trigger == Trigger::Each => d.tx_hash.clone(),
                    None => String::new(),
                    Some(g) => match g.execute(&ctx) {
                        Ok(Value::String(s)) => s.to_string(),
                        Ok(Value::Int(i)) => i.to_string(),
                        Ok(Value::UInt(i)) => i.to_string(),
                        Ok(Value::Null) => continue,
                        Ok(_) | Err(_) => {
                            self.stats.eval_errors.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                    },
                };
                let (hashes, values, alert_key) = if r.trigger == Trigger::Each {
                    (vec![d.tx_hash.clone()], explain(d), key.clone())
                } else {
                    let wk = (r.spec.id.clone(), key.clone());
                    let fired =
                        self.windows
                            .push(&wk, event(d), r.window_ms, r.trigger, &mut removed);
                    touched.push(wk);
                    let Some(f) = fired else { continue };
                    let alert_key = match &f.sub_key {
                        Some(s) if key.is_empty() => s.clone(),
                        Some(s) => format!("{key}/{s}"),
                        None => key.clone(),
                    };
                    let mut values: BTreeMap<String, String> = f.values.into_iter().collect();
                    values.extend(explain(d));
                    (f.hashes, values, alert_key)
                };
                firings.push(Firing {
                    rule,
                    key: alert_key,
                    hashes,
                    values,
                    doc,
                });
            }
        }
        let chains = if self.findings {
            self.chains()?
        } else {
            Arc::new(Vec::new())
        };
        let state = self.state.clone();
        let lock = crate::family::lock(&state);
        let _held = lock.hold();
        let mut batch = Batch::new(&self.state, &self.store)?;
        let now = now_ms();
        for f in firings {
            batch.fire(
                &self.rules[f.rule],
                &f.key,
                &f.hashes,
                f.values,
                &docs[f.doc],
                now,
                &self.silences,
                &self.channels,
            )?;
        }
        // Findings the node recorded since the last block, on every chain:
        // one alert each, read from where the last block left off (at most
        // a page a block and chain; the rest follow with the next blocks).
        for (chain, handle) in chains.iter() {
            let seen_key = key::findings_seen(chain.number);
            let seen = batch.counter(&seen_key)?;
            let findings = handle.findings_from(seen, FINDINGS_PER_BLOCK)?;
            let Some((last, _)) = findings.last() else {
                continue;
            };
            let next_seen = last + 1;
            for (_, f) in &findings {
                let rule = block_rule();
                let mut values = BTreeMap::new();
                values.insert("check".into(), f.check.clone());
                values.insert("detail".into(), f.detail.chars().take(500).collect());
                values.insert("endpoint".into(), f.endpoint.clone());
                if !chain.id.is_empty() {
                    values.insert("chain".into(), chain.id.clone());
                }
                // Chain 0's keys are as they were before there were several.
                let key = if chain.number == 0 {
                    format!("{}@{}", f.endpoint, f.height.unwrap_or(-1))
                } else {
                    format!("{}:{}@{}", chain.id, f.endpoint, f.height.unwrap_or(-1))
                };
                let doc = TxDoc {
                    chain: chain.number,
                    chain_id: chain.id.clone(),
                    group: chain.group.clone(),
                    height: f.height.unwrap_or(-1),
                    time_ms: f.at_ms,
                    ..Default::default()
                };
                batch.fire(
                    &rule,
                    &key,
                    &[],
                    values,
                    &doc,
                    now,
                    &self.silences,
                    &self.channels,
                )?;
            }
            batch.set_counter(&seen_key, next_seen);
        }
        // Window state of the keys this block touched, and windows that
        // expired.
        touched.sort();
        touched.dedup();
        let last_t = docs.last().map(|d| d.time_ms);
        for wk in touched {
            let kept = match last_t {
                Some(t) => {
                    let window_ms = self.window_ms(&wk.0);
                    self.windows.expire(&wk, t, window_ms)
                }
                None => self.windows.get(&wk),
            };
            match kept {
                Some(w) => {
                    let v = serde_json::to_vec(w).map_err(|e| corrupt("window", e))?;
                    batch
                        .ops
                        .push(Op::Put(crate::family::STATE, window_name(&wk), v));
                }
                None => batch.ops.push(window_delete(&wk)),
            }
        }
        // Windows whose span has passed, touched or not, and those that made
        // room for new keys, leave the store with this block.
        if let Some(t) = last_t {
            self.windows.sweep(t, &mut removed);
        }
        for wk in removed.evicted.iter().chain(&removed.expired) {
            // A key evicted and then seen again in this block is live, and
            // its window was written above.
            if self.windows.get(wk).is_none() {
                batch.ops.push(window_delete(wk));
            }
        }
        if !removed.evicted.is_empty() {
            tracing::warn!(
                evicted = removed.evicted.len(),
                cap = self.windows.cap(),
                height = h,
                "rule windows at their cap: the closest to expiry made room for new group keys"
            );
        }
        let opened = batch.opened;
        let matched = batch.matched;
        let mut ops = batch.finish()?;
        ops.push(Op::Put(
            crate::family::STATE,
            key::CHECKPOINT.to_vec(),
            h.to_be_bytes().to_vec(),
        ));
        self.state.write(&ops)?;
        self.stats
            .alerts_opened
            .fetch_add(opened, Ordering::Relaxed);
        self.stats.matches.fetch_add(matched, Ordering::Relaxed);
        self.stats
            .windows
            .store(self.windows.len() as u64, Ordering::Relaxed);
        self.stats
            .windows_evicted
            .fetch_add(removed.evicted.len() as u64, Ordering::Relaxed);
        self.stats
            .window_events_dropped
            .fetch_add(removed.events_dropped, Ordering::Relaxed);
        self.stats.height.store(h, Ordering::Relaxed);
        Ok(())
    }
}

fn block_rule() -> Versioned {
    let spec_text = format!(
        "[[rule]]\nid = \"{BLOCK_RULE}\"\ntitle = \"区块验证失败 Block failed verification\"\nseverity = \"critical\"\ncondition = \"false\"\nlabels = {{ category = \"supervision\" }}\n"
    );
    let (mut rules, _) = crate::rule::parse_file(Path::new("(built-in)"), &spec_text, None);
    Versioned {
        rule: rules.remove(0),
        version: 1,
    }
}

/// Blocks one step of the engine evaluates at most, so that a shutdown is
/// seen between steps even while catching up.
pub const STEP_BLOCKS: usize = 64;

/// How often a caught-up engine looks at its watchlist files.
pub const WATCHLIST_POLL: std::time::Duration = std::time::Duration::from_secs(2);

fn retro_rule() -> Versioned {
    let spec_text = format!(
        "[[rule]]\nid = \"{}\"\ntitle = \"回溯命中 Watchlist entry found in history\"\nseverity = \"high\"\ncondition = \"false\"\nlabels = {{ category = \"watchlist\", retrospective = \"true\" }}\n",
        crate::retro::RETRO_RULE
    );
    let (mut rules, _) = crate::rule::parse_file(Path::new("(built-in)"), &spec_text, None);
    let mut rule = rules.remove(0);
    // All the matches of one entry are one alert, however far apart.
    rule.dedup_ms = i64::MAX;
    Versioned { rule, version: 1 }
}

impl Engine {
    /// Hunts the watchlist entries added since the last hunt over the
    /// history already evaluated ([`crate::retro`]); returns the matches.
    /// Each opens (or joins) an alert of the built-in rule `retro-hunt`,
    /// written in one batch with the entries hunted.
    pub fn retro_hunt(&mut self) -> Result<usize, EngineError> {
        use crate::retro::{MAX_ENTRIES_PER_HUNT, RetroMatch};
        if !self.findings {
            return Ok(0);
        }
        self.maybe_reload_watchlists();
        if !self.lists_changed {
            return Ok(0);
        }
        if self.hunted.is_none() {
            let mut hunted: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
            for_each_page(
                &self.state,
                crate::family::STATE,
                key::LIST_ENTRIES,
                SCAN_PAGE,
                |page| {
                    for (k, _) in page {
                        let (list, entry) = key::parse_list_entry(&k);
                        hunted.entry(list).or_default().insert(entry);
                    }
                    Ok(())
                },
            )?;
            self.hunted = Some(hunted);
        }
        let now = now_ms();
        let baseline = self
            .state
            .read(crate::family::STATE, key::LISTS_BASELINE)?
            .is_none();
        let mut fresh: Vec<(String, String)> = Vec::new();
        if let Some(hunted) = &self.hunted {
            'lists: for (list, entries) in self.watchlists.lists() {
                for e in entries {
                    if !hunted.get(list).is_some_and(|h| h.contains(e)) {
                        if !baseline && fresh.len() == MAX_ENTRIES_PER_HUNT {
                            break 'lists;
                        }
                        fresh.push((list.clone(), e.clone()));
                    }
                }
            }
        }
        let mut ops: Vec<Op> = fresh
            .iter()
            .map(|(l, e)| {
                Op::Put(
                    crate::family::STATE,
                    key::list_entry(l, e),
                    be64(now as u64).to_vec(),
                )
            })
            .collect();
        // More than a hunt takes at once: the rest with the next step.
        let more = !baseline && fresh.len() == MAX_ENTRIES_PER_HUNT;
        let checkpoint = self.checkpoint()?;
        if baseline || checkpoint.is_none() {
            // The lists in force are the baseline: every block from here
            // on is evaluated with them.
            if baseline {
                ops.push(Op::Put(
                    crate::family::STATE,
                    key::LISTS_BASELINE.to_vec(),
                    vec![1],
                ));
            }
            if !ops.is_empty() {
                self.state.write(&ops)?;
            }
            self.hunted_now(&fresh, more);
            return Ok(0);
        }
        if fresh.is_empty() {
            self.lists_changed = false;
            return Ok(0);
        }
        let up_to = checkpoint.unwrap_or(-1);
        // The index for what it covers, a scan of the evaluated blocks
        // past it.
        let mut matches: Vec<RetroMatch> = Vec::new();
        let mut scan_from = 0;
        if let Some(index) = &self.party_index {
            let covered = index
                .covered()
                .map_err(|reason| EngineError::Read {
                    height: up_to,
                    reason,
                })?
                .unwrap_or(-1)
                .min(up_to);
            for (list, entry) in &fresh {
                if covered < 0 {
                    break;
                }
                for (hash, position) in
                    index
                        .with_party(entry, covered)
                        .map_err(|reason| EngineError::Read {
                            height: covered,
                            reason,
                        })?
                {
                    matches.push(RetroMatch {
                        position,
                        hash,
                        list: list.clone(),
                        entry: entry.clone(),
                    });
                }
            }
            scan_from = covered + 1;
        }
        for position in scan_from..=up_to {
            // Read alone, not through the node's shared reader: these
            // blocks were handed out already.
            let Some(m) = self.store.merged_at(position)? else {
                break;
            };
            let Some(block) = self
                .reader
                .read_block(&self.store, m.chain, m.height, &self.unreadable_records)
                .map_err(|e| EngineError::Read {
                    height: position,
                    reason: e.to_string(),
                })?
            else {
                break;
            };
            for d in block.docs.iter() {
                let parties = d.parties();
                for (list, entry) in &fresh {
                    if parties.iter().any(|p| p.to_lowercase() == *entry) {
                        matches.push(RetroMatch {
                            position,
                            hash: d.tx_hash.clone(),
                            list: list.clone(),
                            entry: entry.clone(),
                        });
                    }
                }
            }
        }
        matches.sort();
        matches.dedup();
        let found = matches.len();
        let rule = retro_rule();
        let chains = self.chains()?;
        let lock = crate::family::lock(&self.state);
        let _held = lock.hold();
        let mut docs: BTreeMap<i64, TxDoc> = BTreeMap::new();
        // Written a chunk at a time; the entries are recorded with the last
        // chunk, so a hunt cut short is done again, and joins the alerts it
        // opened (a transaction already listed is not added twice).
        let chunks: Vec<&[RetroMatch]> = if matches.is_empty() {
            vec![&[]]
        } else {
            matches.chunks(crate::retro::MATCHES_PER_BATCH).collect()
        };
        let last = chunks.len() - 1;
        for (n, chunk) in chunks.into_iter().enumerate() {
            let mut batch = Batch::new(&self.state, &self.store)?;
            for m in chunk {
                let mut d = match docs.entry(m.position) {
                    std::collections::btree_map::Entry::Occupied(e) => e.get().clone(),
                    std::collections::btree_map::Entry::Vacant(e) => {
                        e.insert(self.match_doc(&chains, m.position)?).clone()
                    }
                };
                d.tx_hash = m.hash.clone();
                let mut values = BTreeMap::new();
                values.insert("retrospective".to_string(), "true".to_string());
                values.insert("list".to_string(), m.list.clone());
                values.insert("entry".to_string(), m.entry.clone());
                values.insert("added".to_string(), records::time::format_ms(now));
                values.insert("tx".to_string(), m.hash.clone());
                if !d.chain_id.is_empty() {
                    values.insert("chain".to_string(), d.chain_id.clone());
                }
                batch.fire(
                    &rule,
                    &format!("{}:{}", m.list, m.entry),
                    std::slice::from_ref(&m.hash),
                    values,
                    &d,
                    now,
                    &self.silences,
                    &self.channels,
                )?;
            }
            let mut all = batch.finish()?;
            if n == last {
                all.append(&mut ops);
            }
            self.state.write(&all)?;
            docs.clear();
        }
        self.hunted_now(&fresh, more);
        self.stats
            .retro_entries
            .fetch_add(fresh.len() as u64, Ordering::Relaxed);
        self.stats
            .retro_matches
            .fetch_add(found as u64, Ordering::Relaxed);
        tracing::info!(
            entries = fresh.len(),
            matches = found,
            up_to,
            "retro-hunt of new watchlist entries"
        );
        Ok(found)
    }

    /// Notes `fresh` as hunted (their records are written); the lists stay
    /// to be looked at when `more` entries wait.
    fn hunted_now(&mut self, fresh: &[(String, String)], more: bool) {
        if let Some(h) = &mut self.hunted {
            for (l, e) in fresh {
                h.entry(l.clone()).or_default().insert(e.clone());
            }
        }
        self.lists_changed = more;
    }

    /// What a match's alert needs of its block: chain, height, block time.
    fn match_doc(
        &self,
        chains: &[(records::ChainLabel, Store)],
        position: i64,
    ) -> Result<TxDoc, EngineError> {
        let Some(m) = self.store.merged_at(position)? else {
            return Err(EngineError::Read {
                height: position,
                reason: "not merged".into(),
            });
        };
        let (label, handle) = chains
            .iter()
            .find(|(l, _)| l.number == m.chain)
            .ok_or_else(|| EngineError::Read {
                height: position,
                reason: format!("chain {} unknown", m.chain),
            })?;
        let block = handle.block(m.height)?.ok_or_else(|| EngineError::Read {
            height: position,
            reason: "block not stored".into(),
        })?;
        Ok(TxDoc {
            chain: label.number,
            chain_id: label.id.clone(),
            group: label.group.clone(),
            height: m.height,
            position,
            time_ms: block.header.timestamp,
            ..Default::default()
        })
    }
}

impl Stage for Engine {
    type Error = EngineError;

    fn progress(&self) -> Arc<Progress> {
        self.progress.clone()
    }

    fn wakes_on(&self) -> Vec<store::Family> {
        if self.wait_for_abis {
            vec![records::abis::ABI_FETCH]
        } else {
            Vec::new()
        }
    }

    fn follows_merged(&self) -> bool {
        true
    }

    async fn step(mut self, head: Option<i64>) -> Result<(Self, Step), EngineError> {
        tokio::task::spawn_blocking(move || match self.step_blocking(head) {
            Ok(step) => Ok((self, step)),
            Err(e) if e.is_disk_fault() => {
                // Nothing of the block was written (one batch); the windows
                // it moved in memory are read again from the store.
                tracing::warn!(error = %e, "rule engine paused until the disk takes writes again");
                self.windows_loaded = false;
                let checkpoint = self.checkpoint()?;
                Ok((self, Step::disk_fault(checkpoint)))
            }
            Err(e) => Err(e),
        })
        .await
        .map_err(|e| EngineError::Panicked(e.to_string()))?
    }
}

/// Stores `rule`'s text as a new version when it differs from the last
/// version loaded from a file (a version saved through the API stays in
/// force until the file itself changes).
fn record_version(store: &Store, rule: &Rule, ops: &mut Vec<Op>) -> Result<(), EngineError> {
    let versions = rule_versions(store, &rule.spec.id)?;
    let last_file = versions.iter().rev().find(|v| v.source != "api");
    if last_file.is_some_and(|v| v.text == rule.text) {
        return Ok(());
    }
    if versions.len() >= crate::family::MAX_RULE_VERSIONS {
        return Err(EngineError::TooMany {
            what: format!("versions of rule {}", rule.spec.id),
            limit: crate::family::MAX_RULE_VERSIONS,
        });
    }
    let v = RuleVersion {
        id: rule.spec.id.clone(),
        version: versions.last().map_or(1, |v| v.version + 1),
        text: rule.text.clone(),
        source: if rule.source.starts_with("(built-in)") {
            "built-in".into()
        } else {
            "file".into()
        },
        author: "policies".into(),
        at_ms: now_ms(),
    };
    ops.push(version_op(&v)?);
    Ok(())
}

/// The fields that explain a match.
fn explain(d: &TxDoc) -> BTreeMap<String, String> {
    let b = &d.business;
    let mut v = BTreeMap::new();
    v.insert("tx".into(), d.tx_hash.clone());
    v.insert("status".into(), d.status.clone());
    // Which chain (and group) the transaction that fired is on.
    v.insert("chain".into(), d.chain_id.clone());
    if !d.group.is_empty() {
        v.insert("group".into(), d.group.clone());
    }
    if let Some(a) = b.amount {
        v.insert("amount".into(), a.to_string());
    }
    for (k, x) in [
        ("currency", b.currency.as_deref()),
        ("payer", b.payer.key()),
        ("payee", b.payee.key()),
        ("scenario", b.scenario.as_deref()),
    ] {
        if let Some(x) = x {
            v.insert(k.into(), x.to_string());
        }
    }
    v
}

fn event(d: &TxDoc) -> Event {
    let b = &d.business;
    Event {
        t: d.time_ms,
        hash: d.tx_hash.clone(),
        cents: b.amount.map_or(0, records::Money::hundredths),
        payer: b.payer.key().unwrap_or_default().to_string(),
        payee: b.payee.key().unwrap_or_default().to_string(),
        currency: b.currency.clone().unwrap_or_default(),
    }
}

/// What one block writes: alerts changed in it (read once, written once),
/// outbox entries and counters.
struct Batch<'s> {
    /// The engine's records.
    store: &'s Store,
    /// The chain data (transaction positions).
    log: &'s Store,
    alerts: BTreeMap<u64, Alert>,
    keys: BTreeMap<Vec<u8>, Option<u64>>,
    counters: BTreeMap<Vec<u8>, u64>,
    /// Transaction links written in this block: key → alert id.
    linked: std::collections::HashMap<Vec<u8>, u64>,
    ops: Vec<Op>,
    opened: u64,
    matched: u64,
}

impl<'s> Batch<'s> {
    fn new(store: &'s Store, log: &'s Store) -> Result<Self, EngineError> {
        Ok(Self {
            store,
            log,
            alerts: BTreeMap::new(),
            keys: BTreeMap::new(),
            counters: BTreeMap::new(),
            linked: std::collections::HashMap::new(),
            ops: Vec::new(),
            opened: 0,
            matched: 0,
        })
    }

    fn counter(&mut self, name: &[u8]) -> Result<u64, EngineError> {
        if let Some(v) = self.counters.get(name) {
            return Ok(*v);
        }
        let v = state_u64(self.store, name)?;
        self.counters.insert(name.to_vec(), v);
        Ok(v)
    }

    fn set_counter(&mut self, name: &[u8], v: u64) {
        self.counters.insert(name.to_vec(), v);
    }

    /// Adds `n` to counter `name`; returns the new value.
    fn add(&mut self, name: &[u8], n: u64) -> Result<u64, EngineError> {
        let v = self.counter(name)?.saturating_add(n);
        self.set_counter(name, v);
        Ok(v)
    }

    /// The next number of sequence `name`.
    fn next(&mut self, name: &[u8]) -> Result<u64, EngineError> {
        self.add(name, 1)
    }

    /// Lists `fresh` (transactions new to alert `a`) on it, links them, and
    /// counts them as the rule's hits; returns how many.
    fn add_members(
        &mut self,
        a: &mut Alert,
        fresh: Vec<String>,
        d: &TxDoc,
    ) -> Result<usize, EngineError> {
        let added = fresh.len();
        self.link(a, &fresh, d)?;
        self.add(&key::hits(&a.rule), added as u64)?;
        a.add_transactions(fresh);
        Ok(added)
    }

    fn live_alert(&mut self, key: &[u8]) -> Result<Option<Alert>, EngineError> {
        let id = match self.keys.get(key) {
            Some(id) => *id,
            None => match self.store.read(crate::family::ALERT_KEYS, key)? {
                None => None,
                Some(b) => Some(be_u64("alert key", &b)?),
            },
        };
        let Some(id) = id else { return Ok(None) };
        // Taken out of the batch (the caller puts it back), not cloned: a
        // long-lived alert lists up to a thousand transactions.
        if let Some(a) = self.alerts.remove(&id) {
            return Ok(Some(a));
        }
        match self.store.read(crate::family::ALERTS, &be64(id))? {
            None => Ok(None),
            Some(b) => Ok(Some(
                serde_json::from_slice(&b).map_err(|e| corrupt(format!("alert {id}"), e))?,
            )),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn fire(
        &mut self,
        vr: &Versioned,
        key: &str,
        hashes: &[String],
        values: BTreeMap<String, String>,
        d: &TxDoc,
        now: i64,
        silences: &[Silence],
        channels: &[String],
    ) -> Result<(), EngineError> {
        let r = &vr.rule;
        let akey = keyed(&r.spec.id, key);
        if let Some(mut a) = self.live_alert(&akey)? {
            if !(a.state.is_live() && d.time_ms - a.last_seen_ms <= r.dedup_ms) {
                // Not for this match: a new alert opens below.
                self.alerts.insert(a.id, a);
            } else {
                let fresh = self.new_members(&a, hashes)?;
                let added = self.add_members(&mut a, fresh, d)?;
                a.last_seen_ms = a.last_seen_ms.max(d.time_ms);
                a.last_height = d.height;
                a.updated_ms = now;
                if added > 0 {
                    self.matched += 1;
                    a.values = values;
                    let detail = format!("{} transactions in all", a.count());
                    if a.history.last().is_some_and(|h| h.action == "matched") {
                        if let Some(h) = a.history.last_mut() {
                            h.at_ms = now;
                            h.detail = detail;
                        }
                    } else {
                        a.history.push(HistoryEntry {
                            at_ms: now,
                            actor: "policies".into(),
                            action: "matched".into(),
                            detail,
                        });
                    }
                }
                self.alerts.insert(a.id, a);
                return Ok(());
            }
        }
        let id = self.next(key::ALERT_SEQ)?;
        let silenced_by = silences
            .iter()
            .find(|s| s.mutes(&r.spec.id, key, now))
            .map(|s| s.id);
        let mut a = Alert {
            id,
            rule: r.spec.id.clone(),
            rule_version: vr.version,
            title: r.spec.title.clone(),
            severity: r.spec.severity,
            group_key: key.to_string(),
            labels: r.spec.labels.clone(),
            state: AlertState::Open,
            silenced_by,
            created_ms: now,
            updated_ms: now,
            first_seen_ms: d.time_ms,
            last_seen_ms: d.time_ms,
            last_height: d.height,
            opened_height: d.height,
            transactions: Vec::new(),
            unlisted: 0,
            values,
            assignee: None,
            history: vec![HistoryEntry {
                at_ms: now,
                actor: "policies".into(),
                action: "opened".into(),
                detail: format!("rule {} v{} at block {}", r.spec.id, vr.version, d.height),
            }],
            deliveries: Vec::new(),
        };
        let fresh = a.unlisted_of(hashes);
        self.add_members(&mut a, fresh, d)?;
        if let Some(s) = silenced_by {
            a.history.push(HistoryEntry {
                at_ms: now,
                actor: "policies".into(),
                action: "silenced".into(),
                detail: format!("notifications muted by silence {s}"),
            });
        } else {
            for ch in r.spec.notify.iter().filter(|c| channels.contains(c)) {
                let seq = self.next(key::OUTBOX_SEQ)?;
                let entry = OutboxEntry {
                    message_id: format!("alert-{id}-opened-{ch}"),
                    alert_id: id,
                    event: "alert.opened".into(),
                    created_ms: now,
                    attempts: 0,
                    next_attempt_ms: now,
                    last_error: None,
                };
                a.deliveries.push(Delivery {
                    channel: ch.clone(),
                    message_id: entry.message_id.clone(),
                    at_ms: now,
                    status: "queued".into(),
                    attempt: 0,
                    detail: String::new(),
                });
                let mut k = keyed(ch, "");
                k.extend_from_slice(&be64(seq));
                let v = serde_json::to_vec(&entry).map_err(|e| corrupt("outbox entry", e))?;
                self.ops.push(Op::Put(crate::family::OUTBOX, k, v));
            }
        }
        self.add(&key::alerts_opened(&r.spec.id), 1)?;
        self.keys.insert(akey, Some(id));
        self.alerts.insert(id, a);
        self.opened += 1;
        Ok(())
    }

    /// Indexes alert `a` by the transactions it lists (`t/HASH\0RULE`) and
    /// by the parties of the match that fired it (`p/PARTY\0ID`), for the
    /// API's transaction and account views.
    /// Those of `hashes` new to alert `a`. Past the listed thousand, a
    /// transaction is new unless it is already linked to `a` (in the store,
    /// or earlier in this block), so a window's repeated members are not
    /// counted again.
    fn new_members(&self, a: &Alert, hashes: &[String]) -> Result<Vec<String>, EngineError> {
        let fresh = a.unlisted_of(hashes);
        if a.transactions.len() < crate::alert::MAX_LISTED {
            return Ok(fresh);
        }
        let id = be64(a.id);
        let mut out = Vec::with_capacity(fresh.len());
        for h in fresh {
            let k = key::tx_link(&h, &a.rule);
            let linked = match self.linked.get(&k) {
                Some(v) => *v == a.id,
                None => self
                    .store
                    .read(crate::family::STATE, &k)?
                    .is_some_and(|v| v == id),
            };
            if !linked {
                out.push(h);
            }
        }
        Ok(out)
    }

    fn link(&mut self, a: &Alert, hashes: &[String], d: &TxDoc) -> Result<(), EngineError> {
        let id = be64(a.id).to_vec();
        for h in hashes {
            let k = key::tx_link(h, &a.rule);
            self.linked.insert(k.clone(), a.id);
            self.ops.push(Op::Put(crate::family::STATE, k, id.clone()));
            // The by-rule link holds the transaction's chain position too,
            // which the index filters on far faster than on hashes.
            let seq = if *h == d.tx_hash {
                Some(d.seq())
            } else {
                position(self.log, h)?
            };
            let mut v = id.clone();
            if let Some(seq) = seq {
                v.extend_from_slice(&seq.to_be_bytes());
            }
            self.ops
                .push(Op::Put(crate::family::STATE, key::rule_link(&a.rule, h), v));
        }
        // Every party of the match but the contract called (which every
        // transaction to it shares).
        let mut parties: Vec<String> = d
            .parties()
            .into_iter()
            .filter(|p| *p != d.to)
            .map(str::to_lowercase)
            .collect();
        parties.sort();
        parties.dedup();
        for p in parties {
            self.ops.push(Op::Put(
                crate::family::STATE,
                key::party_alert(&p, a.id),
                Vec::new(),
            ));
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Vec<Op>, EngineError> {
        for (id, a) in &self.alerts {
            let v = serde_json::to_vec(a).map_err(|e| corrupt(format!("alert {id}"), e))?;
            self.ops
                .push(Op::Put(crate::family::ALERTS, be64(*id).to_vec(), v));
        }
        for (k, id) in &self.keys {
            match id {
                Some(id) => self.ops.push(Op::Put(
                    crate::family::ALERT_KEYS,
                    k.clone(),
                    be64(*id).to_vec(),
                )),
                None => self
                    .ops
                    .push(Op::Delete(crate::family::ALERT_KEYS, k.clone())),
            }
        }
        for (k, v) in &self.counters {
            self.ops
                .push(Op::Put(crate::family::STATE, k.clone(), be64(*v).to_vec()));
        }
        Ok(self.ops)
    }
}

/// Fills in the by-rule links from the by-transaction ones in a store whose
/// engine wrote only those (once; a marker records it).
fn backfill_rule_links(store: &Store) -> Result<(), EngineError> {
    if store
        .read(crate::family::STATE, key::RULE_LINKS_FILLED)?
        .is_some()
    {
        return Ok(());
    }
    let mut filled = 0usize;
    // A page of links at a time, each page one write (a crash redoes the
    // same writes: the marker is written last).
    for_each_page(
        store,
        crate::family::STATE,
        key::TX_LINKS,
        SCAN_PAGE,
        |page| {
            let mut ops = Vec::with_capacity(page.len());
            for (k, v) in page {
                let Some((hash, rule)) = key::parse_tx_link(&k) else {
                    continue;
                };
                let mut v = v;
                if let Some(seq) = position(store, &hash)? {
                    v.extend_from_slice(&seq.to_be_bytes());
                }
                ops.push(Op::Put(
                    crate::family::STATE,
                    key::rule_link(&rule, &hash),
                    v,
                ));
            }
            filled += ops.len();
            Ok(store.write(&ops)?)
        },
    )?;
    store.write(&[Op::Put(
        crate::family::STATE,
        key::RULE_LINKS_FILLED.to_vec(),
        Vec::new(),
    )])?;
    if filled > 0 {
        tracing::info!(
            links = filled,
            "filled in the alert rules' transaction links"
        );
    }
    Ok(())
}

/// Counts the alerts of each rule in a store whose engine did not (once;
/// a marker records it).
fn backfill_alert_counts(store: &Store) -> Result<(), EngineError> {
    if store
        .read(crate::family::STATE, key::ALERT_COUNTS_FILLED)?
        .is_some()
    {
        return Ok(());
    }
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut from = Some(0);
    while let Some(first) = from {
        let page = alerts_from(store, Some(first), false, SCAN_PAGE)?;
        from = page
            .last()
            .filter(|_| page.len() == SCAN_PAGE)
            .map(|a| a.id + 1);
        for a in page {
            *counts.entry(a.rule).or_default() += 1;
        }
    }
    let mut ops: Vec<Op> = counts
        .iter()
        .map(|(rule, n)| {
            Op::Put(
                crate::family::STATE,
                key::alerts_opened(rule),
                be64(*n).to_vec(),
            )
        })
        .collect();
    ops.push(Op::Put(
        crate::family::STATE,
        key::ALERT_COUNTS_FILLED.to_vec(),
        Vec::new(),
    ));
    store.write(&ops)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::family::{alerts_opened, all_alerts, rule_transactions};

    fn hashes(range: std::ops::Range<u32>) -> Vec<String> {
        range.map(|i| format!("0x{i:064x}")).collect()
    }

    /// One block's evaluation of `windows`, each a firing of the rule.
    fn block(store: &Store, vr: &Versioned, height: i64, windows: &[Vec<String>]) {
        let mut batch = Batch::new(store, store).unwrap();
        let d = TxDoc {
            height,
            time_ms: height * 1_000,
            ..Default::default()
        };
        for w in windows {
            batch
                .fire(vr, "payer", w, BTreeMap::new(), &d, 0, &[], &[])
                .unwrap();
        }
        store.write(&batch.finish().unwrap()).unwrap();
    }

    #[test]
    fn a_window_past_the_listed_thousand_counts_each_transaction_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let rule = crate::rule::parse_one(
            Path::new("t.toml"),
            "[[rule]]\nid = \"w\"\ntitle = \"w\"\nseverity = \"high\"\ncondition = \"true\"\ngroup_by = \"tx.payer\"\nwindow = \"1h\"\nthreshold = { count = 2 }\n",
            None,
        )
        .unwrap();
        let vr = Versioned { rule, version: 1 };
        block(&store, &vr, 1, &[hashes(0..1_200)]);
        let a = &all_alerts(&store).unwrap()[0];
        assert_eq!((a.transactions.len(), a.unlisted), (1_000, 200));
        // The window slides on: earlier members repeat, in this block and
        // across blocks, and only the new ones count.
        block(
            &store,
            &vr,
            2,
            &[hashes(1..1_201), hashes(1_150..1_202), hashes(0..1_202)],
        );
        let all = all_alerts(&store).unwrap();
        assert_eq!(all.len(), 1, "one alert, deduplicated");
        assert_eq!(all[0].count(), 1_202);
        assert_eq!(all[0].transactions, hashes(0..1_000));
        assert_eq!(alerts_opened(&store, "w").unwrap(), 1);
        // The rule's transactions, the unlisted ones included.
        assert_eq!(rule_transactions(&store, "w").unwrap(), hashes(0..1_202));
        assert!(rule_transactions(&store, "other").unwrap().is_empty());
    }

    #[test]
    fn a_store_with_transaction_links_only_gets_its_rule_links_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        // As an engine before by-rule links wrote them.
        let ops: Vec<Op> = hashes(0..3)
            .iter()
            .map(|h| {
                Op::Put(
                    crate::family::STATE,
                    key::tx_link(h, "old-rule"),
                    be64(7).to_vec(),
                )
            })
            .collect();
        store.write(&ops).unwrap();
        assert!(rule_transactions(&store, "old-rule").unwrap().is_empty());
        backfill_rule_links(&store).unwrap();
        assert_eq!(rule_transactions(&store, "old-rule").unwrap(), hashes(0..3));
        // Done once: a link removed afterwards is not filled in again.
        store
            .write(&[Op::Delete(
                crate::family::STATE,
                key::rule_link("old-rule", &hashes(0..1)[0]),
            )])
            .unwrap();
        backfill_rule_links(&store).unwrap();
        assert_eq!(rule_transactions(&store, "old-rule").unwrap(), hashes(1..3));
    }
}
