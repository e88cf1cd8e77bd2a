//! `lookthrough-bench search`: the transaction search index (tantivy with
//! jieba) next to PostgreSQL, on the same generated records, in one run.
//!
//! For each size in `--txs` the benchmark
//!
//! 1. generates that many transactions deterministically from `--seed` with
//!    devnet's workload, the one business generator of the demo, the tests
//!    and every benchmark ([`Workload::business_block`]: the business a
//!    devnet chain of the same seed carries, without sealing or signing
//!    it): the consortium's organisations, its four scenarios, memos mixing
//!    Chinese and English with rare remarks, invoice and receivable numbers,
//!    CNY/HKD/USD amounts, the planted findings, and the workload's privacy
//!    classes (20% public, 75% opened, the rest envelopes the regulator
//!    cannot read), in blocks of 500 spread over six months (the workload's
//!    clock fitted to the span: business hours by day, one block a night).
//!    Each transaction becomes the document the node indexes: the payload of
//!    a readable class read by `records::doc::read_payload`, as
//!    `records::doc::from_store` reads a stored transaction, and nothing
//!    decrypted for the others; only the hashes and sealers, which need a
//!    chain, are made up. Records are made a block at a time, never all held
//!    at once;
//! 2. indexes them (`indexer::schema::to_document`, as the node does) into a
//!    fresh on-disk [`TxIndex`], committing every ~1M documents and at the
//!    end, and waits for the merges;
//! 3. with `--postgres`, COPYs the same records into one table, then builds
//!    btree indexes on the structured columns, a GIN full-text index on
//!    `to_tsvector('simple', memo || ' ' || text)` and a GIN `gin_trgm_ops`
//!    index on `memo || ' ' || text`, and runs `VACUUM ANALYZE`;
//! 4. runs [`KINDS`] `--queries` times each with varied parameters, timing on
//!    the client the top 20 hits in the asked order plus the total count, and
//!    checks that both sides agree where their semantics are the same.
//!
//! # The queries, and how each side runs them
//!
//! PostgreSQL runs two statements per search (the page of 20, then
//! `count(*)`), prepared once per kind and planned for each run's parameters
//! (`plan_cache_mode = force_custom_plan`), which is what an application
//! would do. `DOC` below is `coalesce(memo, '') || ' ' || payload_text`.
//!
//! | kind | tantivy | PostgreSQL | totals |
//! |---|---|---|---|
//! | `zh-word` | a common 2-character word (汇款, 货款, …), newest first | `DOC ILIKE '%汇款%'` (trigram index), `ORDER BY time_ms DESC` | differ: words vs substrings |
//! | `zh-long+filters` | a ≥3-character word (应收账款, …) + currency + amount range, largest first | `ILIKE` + `currency =` + `amount BETWEEN` | differ |
//! | `en-word` | an English word, stemmed, best match first (BM25) | `to_tsvector('simple', DOC) @@ to_tsquery('simple', 'word:*')` ordered by `ts_rank` | differ: stems vs prefixes |
//! | `tx-hash` | a hash sampled from the records, as typed in the search box | `tx_hash = $1` | must agree |
//! | `reference` | a business reference (invoice, receivable, …) sampled from the records, as typed | `DOC ILIKE '%INV-2026-001234%'` | should agree |
//! | `party+time/amount` | party filter + 30-day range, largest amount first | `(from_addr = $1 OR payer = $1 OR payee = $1) AND time_ms BETWEEN` | must agree |
//! | `time-range` | one day, newest first | `time_ms BETWEEN` | must agree |
//! | `two-words` | a Chinese and an English word, both required, chain order | two `ILIKE`s | differ |
//! | `rare-word` | a rare word (滞纳金, chargeback, …), chain order | `ILIKE` | differ |
//! | `filters/amount` | scenario + currency + status, largest amount first | three equalities | must agree |
//! | `day-histogram` | one party, 30 days, per Beijing day: count and amount sum | `GROUP BY date_trunc('day', …, 'Asia/Shanghai')` | must agree |
//!
//! PostgreSQL's `simple` text-search parser does not segment Chinese: a run
//! of Chinese characters is one token, so full-text search cannot find 汇款
//! inside 跨境汇款; substring search (`ILIKE` with `pg_trgm`) is how
//! PostgreSQL finds Chinese words. A pattern needs 3 characters to give the
//! trigram index anything to look up, so 2-character words fall back to
//! scanning (the plan column of the output shows it).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chain::CryptoSuite;
use devnet::workload::{BusinessTx, PrivacyClass, Scenario, Workload, WorkloadConfig, below};
use indexer::schema::SCHEMA_VERSION;
use indexer::search::{Interval, Range, Search, SearchRequest, Sort, SortBy};
use indexer::{Checkpoint, TxIndex};
use postgres::types::ToSql;
use postgres::{Client, NoTls};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use records::TxDoc;
use records::decode::Decoded;
use records::doc::read_payload;

/// Options of `lookthrough-bench search`.
#[derive(clap::Args, Debug, Clone)]
pub struct SearchBenchOpts {
    /// Sizes to run, in transactions, comma-separated (`20000`, `500k`,
    /// `1M`); each is generated, indexed and queried in turn.
    #[arg(long, value_delimiter = ',', value_parser = parse_count, default_value = "1M,10M")]
    pub txs: Vec<u64>,
    /// Runs of each query kind, each with other words, parties and ranges.
    #[arg(long, default_value_t = 200)]
    pub queries: usize,
    /// PostgreSQL to compare with (libpq `key=value` string or URL); it needs
    /// the `pg_trgm` extension available. Without it only tantivy is measured.
    #[arg(long, value_name = "CONNSTR")]
    pub postgres: Option<String>,
    /// Directory for the tantivy indexes (default: a temporary directory).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Seed of the records and of the query parameters.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// tantivy indexing threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// tantivy indexing memory in MiB, shared by the threads.
    #[arg(long, default_value_t = 1024)]
    pub heap_mb: usize,
    /// Keep each size's index and PostgreSQL table (`bench_txs_<N>`) after the run.
    #[arg(long)]
    pub keep: bool,
    /// Query an index kept by an earlier `--keep` run in `--data` (same
    /// size and seed) instead of building it again; the records are still
    /// generated, for the query parameters, and no indexing rate is given.
    #[arg(long, requires = "data")]
    pub reuse: bool,
    /// Run only these query kinds (names as in the report, comma-separated).
    #[arg(long, value_delimiter = ',', value_parser = parse_kind)]
    pub kinds: Vec<Kind>,
    /// Query time (both sides) after which a kind stops early, per size, in
    /// seconds; at least 10 runs are made. PostgreSQL's substring scans
    /// take seconds each from 1M rows up, so 200 runs of each at 10M would
    /// take hours. 0: no limit.
    #[arg(long, default_value_t = 300)]
    pub budget_secs: u64,
    /// Runs of each kind made whatever the budget. At 10M, PostgreSQL takes
    /// minutes for one substring count of a 2-character word, so a bounded
    /// run there needs a small floor (3).
    #[arg(long, default_value_t = 10)]
    pub min_runs: usize,
    /// Warm-up runs of each kind (not measured; they count in the budget).
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
}

/// A query kind by its report name.
fn parse_kind(s: &str) -> Result<Kind, String> {
    KINDS
        .into_iter()
        .find(|k| k.name() == s.trim())
        .ok_or_else(|| {
            let names: Vec<&str> = KINDS.iter().map(|k| k.name()).collect();
            format!("no query kind {s:?}; the kinds are {}", names.join(", "))
        })
}

/// `20000`, `20_000`, `500k`, `1M`, `1.5M`.
pub(crate) fn parse_count(s: &str) -> Result<u64, String> {
    let t = s.trim().replace('_', "");
    let (num, mult) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1_000.0),
        Some('m' | 'M') => (&t[..t.len() - 1], 1_000_000.0),
        _ => (t.as_str(), 1.0),
    };
    let v: f64 = num.parse().map_err(|_| format!("not a count: {s:?}"))?;
    let n = (v * mult).round();
    if !(1.0..=1e10).contains(&n) {
        return Err(format!("count out of range: {s:?}"));
    }
    Ok(n as u64)
}

// ---- the records ------------------------------------------------------------------

/// Transactions per block.
const TXS_PER_BLOCK: u64 = 500;
/// Days the records span, whatever their number (the workload's clock is
/// fitted to it: business hours by day, one block a night).
const SPAN_DAYS: u64 = 184;
/// The chain suite the records are made for (it shows in the method
/// selector and the copyright digests).
const SUITE: CryptoSuite = CryptoSuite::Sm;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// ISO 8601 in Beijing time.
fn beijing(ms: i64) -> String {
    devnet::workload::beijing_time(ms)
}

fn pick<'a, T>(rng: &mut ChaCha20Rng, from: &'a [T]) -> &'a T {
    &from[below(rng, from.len() as u64) as usize]
}

/// splitmix64's finaliser: a bijection of u64.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// 32 bytes determined by (seed, domain, n), distinct for distinct `n`: the
/// hashes of a chain that is not built.
fn hash_bytes(seed: u64, domain: u64, n: u64) -> [u8; 32] {
    let mut x = mix(mix(seed) ^ mix(domain.wrapping_mul(0x1000_0000_01B3) ^ n));
    let mut out = [0u8; 32];
    for chunk in out.chunks_mut(8) {
        x = mix(x);
        chunk.copy_from_slice(&x.to_be_bytes());
    }
    out
}

fn hash_hex(seed: u64, domain: u64, n: u64) -> String {
    format!("0x{}", hex::encode(hash_bytes(seed, domain, n)))
}

const DOMAIN_TX: u64 = 1;
const DOMAIN_BLOCK: u64 = 4;
const DOMAIN_SEALER: u64 = 5;

/// The workload configuration of a run of `total` transactions: devnet's
/// defaults, the clock fitted to [`SPAN_DAYS`].
fn workload_config(total: u64) -> WorkloadConfig {
    WorkloadConfig::default().with_span(total.div_ceil(TXS_PER_BLOCK), SPAN_DAYS)
}

/// A uniform sample of a stream of strings (Algorithm R), drawn with its
/// own generator so that sampling never moves the records' streams.
struct Reservoir {
    items: Vec<String>,
    seen: u64,
    rng: ChaCha20Rng,
}

/// Items each [`Reservoir`] keeps.
const RESERVOIR: usize = 4_096;

impl Reservoir {
    fn new(seed: u64) -> Self {
        Self {
            items: Vec::with_capacity(RESERVOIR),
            seen: 0,
            rng: ChaCha20Rng::seed_from_u64(seed),
        }
    }

    fn offer(&mut self, item: &str) {
        self.seen += 1;
        if self.items.len() < RESERVOIR {
            self.items.push(item.to_string());
            return;
        }
        let j = below(&mut self.rng, self.seen) as usize;
        if let Some(slot) = self.items.get_mut(j) {
            item.clone_into(slot);
        }
    }
}

/// The records of a run: devnet's workload ([`Workload::business_block`],
/// the business a chain of the same seed carries), each transaction read
/// as the node reads a stored one. A block at a time, in bounded memory.
struct Records {
    workload: Workload,
    seed: u64,
    total: u64,
    produced: u64,
    height: i64,
    sealers: Vec<String>,
    /// Every block's time, for query windows that hold something.
    block_times: Vec<i64>,
    hashes: Reservoir,
    references: Reservoir,
}

impl Records {
    fn new(seed: u64, total: u64) -> Result<Self> {
        let mut workload = Workload::new(workload_config(total), SUITE, "chain0", "group0", seed)
            .context("cannot make the workload")?;
        workload.keep_records(false);
        let sealers = (0..4u64)
            .map(|i| {
                let a = hex::encode(hash_bytes(seed, DOMAIN_SEALER, 2 * i));
                let b = hex::encode(hash_bytes(seed, DOMAIN_SEALER, 2 * i + 1));
                a + &b
            })
            .collect();
        Ok(Self {
            workload,
            seed,
            total,
            produced: 0,
            height: 0,
            sealers,
            block_times: Vec::new(),
            hashes: Reservoir::new(seed ^ 0x7265_7365_7276_0001),
            references: Reservoir::new(seed ^ 0x7265_7365_7276_0002),
        })
    }

    /// The document the node makes of `tx` (`records::doc::from_store`):
    /// the payload of a readable class in the clear, read by
    /// `records::doc::read_payload`; nothing decrypted for the others.
    fn doc(&self, tx: &BusinessTx, n: u64, block: (i64, i64, &str, &str), index: u32) -> TxDoc {
        let (height, time_ms, block_hash, sealer) = block;
        let (business, text) = if tx.class.readable() {
            read_payload(&tx.payload)
        } else {
            Default::default()
        };
        let payer = self.workload.organisations().get(tx.payer);
        TxDoc {
            // One chain: its blocks' positions are their heights.
            position: height,
            chain: 0,
            chain_id: String::new(),
            group: String::new(),
            tx_hash: hash_hex(self.seed, DOMAIN_TX, n),
            block_hash: block_hash.to_string(),
            height,
            index,
            time_ms,
            from: payer.map(|o| o.address_hex().to_string()),
            to: tx.scenario.contract_address().to_string(),
            sealer: Some(sealer.to_string()),
            method: devnet::contracts::selector(
                SUITE,
                tx.scenario,
                tx.class == PrivacyClass::Public,
            )
            .ok(),
            status: tx.class.envelope_class().as_str().to_string(),
            business,
            text,
            // As a node without the contracts' ABIs reads them: every
            // contract emits one event per call.
            call: Some(Decoded::unknown(tx.scenario.contract_address())),
            events: vec![Decoded::unknown(tx.scenario.contract_address())],
        }
    }

    /// The next block's documents into `out` (cleared first); false when
    /// every record has been made.
    fn next_block(&mut self, out: &mut Vec<TxDoc>) -> Result<bool> {
        out.clear();
        if self.produced >= self.total {
            return Ok(false);
        }
        let size = TXS_PER_BLOCK.min(self.total - self.produced);
        let time_ms = self.workload.next_timestamp();
        let business = self
            .workload
            .business_block(size as usize, time_ms)
            .context("the workload failed")?;
        self.height += 1;
        self.block_times.push(time_ms);
        let block_hash = hash_hex(self.seed, DOMAIN_BLOCK, self.height as u64);
        let sealer = self.sealers[(self.height % 4) as usize].clone();
        for (i, tx) in business.iter().enumerate() {
            let block = (self.height, time_ms, block_hash.as_str(), sealer.as_str());
            let d = self.doc(tx, self.produced + i as u64, block, i as u32);
            self.hashes.offer(&d.tx_hash);
            if let Some(r) = &d.business.reference {
                self.references.offer(r);
            }
            out.push(d);
        }
        self.produced += size;
        Ok(true)
    }
}

// ---- the queries --------------------------------------------------------------

/// Common 2-character Chinese words of the memos and names.
#[rustfmt::skip]
const ZH_SHORT: &[&str] = &["汇款", "货款", "运费", "融资", "清算", "回款", "结汇", "尾款", "发票", "版权"];
/// Chinese words of 3 characters or more.
#[rustfmt::skip]
const ZH_LONG: &[&str] = &[
    "跨境汇款", "应收账款", "保理融资", "采购货款", "数字版权", "集装箱", "锂电池", "预付款", "质保金", "服务费",
];
#[rustfmt::skip]
const EN_WORDS: &[&str] = &[
    "invoice", "freight", "factoring", "remittance", "receivable", "consulting", "settlement",
    "payment", "proceeds", "registration", "discounting", "retention", "components", "supplier",
];
#[rustfmt::skip]
const PAIRS: &[(&str, &str)] = &[
    ("货款", "components"), ("跨境汇款", "supplier"), ("保理融资", "factoring"), ("运费", "freight"),
    ("发票", "settlement"), ("锂电池", "invoice"), ("服务费", "consulting"), ("应收账款", "assignment"),
];
const RARE: &[&str] = &["加急", "滞纳金", "退汇", "chargeback", "冻结", "sanctions"];

/// What [`QueryGen::words_of`] draws from.
#[derive(Clone, Copy)]
enum Sample {
    Hashes,
    References,
}

/// Whether both sides must find the same documents.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Agreement {
    /// Same filters: totals and pages must be equal.
    Exact,
    /// Same intent, other text semantics: totals are shown side by side.
    Text,
}

/// A kind of query.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    ZhWord,
    ZhLongFiltered,
    EnWord,
    TxHash,
    Reference,
    PartyTimeByAmount,
    TimeRange,
    TwoWords,
    RareWord,
    Filters,
    DayHistogram,
}

/// Every kind, in the order they run and print.
const KINDS: [Kind; 11] = [
    Kind::ZhWord,
    Kind::ZhLongFiltered,
    Kind::EnWord,
    Kind::TxHash,
    Kind::Reference,
    Kind::PartyTimeByAmount,
    Kind::TimeRange,
    Kind::TwoWords,
    Kind::RareWord,
    Kind::Filters,
    Kind::DayHistogram,
];

/// The text both sides search: `memo || ' ' || text`.
const DOC: &str = "(coalesce(memo, '') || ' ' || payload_text)";
const FTS: &str = "to_tsvector('simple', (coalesce(memo, '') || ' ' || payload_text))";
const COLUMNS: &str = "tx_hash, height, idx, time_ms";

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::ZhWord => "zh-word",
            Kind::ZhLongFiltered => "zh-long+filters",
            Kind::EnWord => "en-word",
            Kind::TxHash => "tx-hash",
            Kind::Reference => "reference",
            Kind::PartyTimeByAmount => "party+time/amount",
            Kind::TimeRange => "time-range",
            Kind::TwoWords => "two-words",
            Kind::RareWord => "rare-word",
            Kind::Filters => "filters/amount",
            Kind::DayHistogram => "day-histogram",
        }
    }

    fn about(self) -> &'static str {
        match self {
            Kind::ZhWord => {
                "a common 2-char Chinese word (汇款, 货款, …), newest first; PG: ILIKE '%w%' on the trigram-indexed memo||text"
            }
            Kind::ZhLongFiltered => {
                "a ≥3-char Chinese word + currency + amount range, largest amount first; PG: ILIKE + currency = + amount BETWEEN"
            }
            Kind::EnWord => {
                "an English word, best match first (tantivy: stemmed, BM25; PG: to_tsquery('simple', 'w:*'), ts_rank)"
            }
            Kind::TxHash => "a transaction hash as typed in the search box; PG: tx_hash = $1",
            Kind::Reference => {
                "a business reference (invoice, receivable, remittance, registration) as typed; PG: ILIKE '%INV-2026-001234%'"
            }
            Kind::PartyTimeByAmount => {
                "one organisation's account + 30-day range, largest amount first; PG: (from_addr OR payer OR payee) = $1"
            }
            Kind::TimeRange => "one day, newest first",
            Kind::TwoWords => {
                "a Chinese and an English word, both required, chain order; PG: two ILIKEs"
            }
            Kind::RareWord => "a rare word (加急, 滞纳金, chargeback, …), chain order; PG: ILIKE",
            Kind::Filters => "scenario + currency + status, largest amount first (no text)",
            Kind::DayHistogram => {
                "one party's transactions and amounts per Beijing day over 30 days; PG: GROUP BY date_trunc('day', …, 'Asia/Shanghai')"
            }
        }
    }

    fn agreement(self) -> Agreement {
        match self {
            Kind::TxHash
            | Kind::PartyTimeByAmount
            | Kind::TimeRange
            | Kind::Filters
            | Kind::DayHistogram => Agreement::Exact,
            _ => Agreement::Text,
        }
    }

    /// The WHERE clause and the ORDER BY of the PostgreSQL side.
    fn pg_where_order(self) -> (String, &'static str) {
        let party = "(from_addr = $1 OR payer = $1 OR payee = $1)";
        match self {
            Kind::ZhWord => (format!("{DOC} ILIKE $1"), "time_ms DESC, seq DESC"),
            Kind::ZhLongFiltered => (
                format!("{DOC} ILIKE $1 AND currency = $2 AND amount BETWEEN $3 AND $4"),
                "amount DESC NULLS LAST, seq DESC",
            ),
            Kind::EnWord => (
                format!("{FTS} @@ to_tsquery('simple', $1)"),
                "ts_rank(to_tsvector('simple', (coalesce(memo, '') || ' ' || payload_text)), to_tsquery('simple', $1)) DESC, seq DESC",
            ),
            Kind::TxHash => ("tx_hash = $1".to_string(), "seq DESC"),
            Kind::Reference => (format!("{DOC} ILIKE $1"), "seq DESC"),
            Kind::PartyTimeByAmount | Kind::DayHistogram => (
                format!("{party} AND time_ms BETWEEN $2 AND $3"),
                "amount DESC NULLS LAST, seq DESC",
            ),
            Kind::TimeRange => (
                "time_ms BETWEEN $1 AND $2".to_string(),
                "time_ms DESC, seq DESC",
            ),
            Kind::TwoWords => (format!("{DOC} ILIKE $1 AND {DOC} ILIKE $2"), "seq DESC"),
            Kind::RareWord => (format!("{DOC} ILIKE $1"), "seq DESC"),
            Kind::Filters => (
                "scenario = $1 AND currency = $2 AND status = $3".to_string(),
                "amount DESC NULLS LAST, seq DESC",
            ),
        }
    }

    /// The statements: (page, count) or, for the histogram, (buckets, none).
    fn pg_sql(self, table: &str) -> (String, Option<String>) {
        let (filter, order) = self.pg_where_order();
        if self == Kind::DayHistogram {
            return (
                format!(
                    "SELECT (extract(epoch FROM date_trunc('day', to_timestamp(time_ms / 1000.0), 'Asia/Shanghai')) * 1000)::bigint AS day, \
                     count(*), coalesce(sum(amount), 0)::bigint FROM {table} WHERE {filter} GROUP BY day ORDER BY day"
                ),
                None,
            );
        }
        (
            format!("SELECT {COLUMNS} FROM {table} WHERE {filter} ORDER BY {order} LIMIT {PAGE}"),
            Some(format!("SELECT count(*) FROM {table} WHERE {filter}")),
        )
    }
}

/// Hits per page, both sides.
const PAGE: usize = 20;

/// A PostgreSQL parameter.
enum Param {
    I(i64),
    S(String),
}

fn refs(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| match p {
            Param::I(v) => v as &(dyn ToSql + Sync),
            Param::S(s) => s as &(dyn ToSql + Sync),
        })
        .collect()
}

/// One query, as both sides run it.
struct Instance {
    describe: String,
    req: SearchRequest,
    pg: Vec<Param>,
}

/// Draws the queries' parameters: words of the workload's vocabulary, and
/// parties, times, hashes and references of the records themselves.
struct QueryGen {
    rng: ChaCha20Rng,
    block_times: Vec<i64>,
    accounts: Vec<String>,
    hashes: Vec<String>,
    references: Vec<String>,
}

impl QueryGen {
    fn new(seed: u64, r: &Records) -> Self {
        Self {
            rng: ChaCha20Rng::seed_from_u64(seed ^ 0x5EA2_C4B3_0000_0001),
            block_times: r.block_times.clone(),
            // The consortium's members: the listed parties pay and are paid
            // too seldom for a month of their transactions to mean much.
            accounts: r
                .workload
                .organisations()
                .iter()
                .filter(|o| o.member)
                .map(|o| o.address_hex().to_string())
                .collect(),
            hashes: r.hashes.items.clone(),
            references: r.references.items.clone(),
        }
    }

    /// A window of `len` ms around a random block, so that it holds some.
    fn window(&mut self, len: i64) -> (i64, i64) {
        let t = match self.block_times.len() {
            0 => WorkloadConfig::default().start_ms,
            n => self.block_times[below(&mut self.rng, n as u64) as usize],
        };
        let start = t - below(&mut self.rng, len.max(1) as u64) as i64;
        (start, start + len - 1)
    }

    fn words(&mut self, from: &[&str]) -> String {
        (*pick(&mut self.rng, from)).to_string()
    }

    /// One of the sampled hashes or references (`0x` if there are none).
    fn words_of(&mut self, sample: Sample) -> String {
        let from = match sample {
            Sample::Hashes => &self.hashes,
            Sample::References => &self.references,
        };
        if from.is_empty() {
            return "0x".into();
        }
        from[below(&mut self.rng, from.len() as u64) as usize].clone()
    }

    fn next(&mut self, kind: Kind) -> Instance {
        let mut req = SearchRequest {
            first: PAGE,
            ..SearchRequest::default()
        };
        let newest = Sort {
            by: SortBy::Time,
            descending: true,
        };
        let chain = Sort {
            by: SortBy::Chain,
            descending: true,
        };
        let by_amount = Sort {
            by: SortBy::Amount,
            descending: true,
        };
        let like = |w: &str| Param::S(format!("%{w}%"));
        let (describe, pg) = match kind {
            Kind::ZhWord => {
                let w = self.words(ZH_SHORT);
                req.query = Some(w.clone());
                req.sort = newest;
                (w.clone(), vec![like(&w)])
            }
            Kind::ZhLongFiltered => {
                let w = self.words(ZH_LONG);
                let currency = *pick(&mut self.rng, &["CNY", "HKD", "USD"]);
                let (lo, hi) = *pick(
                    &mut self.rng,
                    &[
                        (10_000i64, 100_000i64),
                        (100_000, 1_000_000),
                        (1_000_000, 10_000_000),
                    ],
                );
                req.query = Some(w.clone());
                req.filter.currency = Some(currency.to_string());
                req.filter.amount = Range::new(Some(lo * 100), Some(hi * 100));
                req.sort = by_amount;
                (
                    format!("{w} {currency} {lo}..{hi}"),
                    vec![
                        like(&w),
                        Param::S(currency.to_string()),
                        Param::I(lo * 100),
                        Param::I(hi * 100),
                    ],
                )
            }
            Kind::EnWord => {
                let w = self.words(EN_WORDS);
                req.query = Some(w.clone());
                req.sort = Sort {
                    by: SortBy::Relevance,
                    descending: true,
                };
                (w.clone(), vec![Param::S(format!("{w}:*"))])
            }
            Kind::TxHash => {
                let h = self.words_of(Sample::Hashes);
                req.query = Some(h.clone());
                req.sort = Sort {
                    by: SortBy::Relevance,
                    descending: true,
                };
                (h.clone(), vec![Param::S(h)])
            }
            Kind::Reference => {
                let r = self.words_of(Sample::References);
                req.query = Some(r.clone());
                req.sort = chain;
                (r.clone(), vec![like(&r)])
            }
            Kind::PartyTimeByAmount | Kind::DayHistogram => {
                let a = pick(&mut self.rng, &self.accounts).clone();
                let (t0, t1) = self.window(30 * DAY_MS);
                req.filter.party = Some(a.clone());
                req.filter.time_ms = Range::new(Some(t0), Some(t1));
                req.sort = by_amount;
                (
                    format!("{} {}..{}", &a[..10], beijing(t0), beijing(t1)),
                    vec![Param::S(a), Param::I(t0), Param::I(t1)],
                )
            }
            Kind::TimeRange => {
                let (t0, t1) = self.window(DAY_MS);
                req.filter.time_ms = Range::new(Some(t0), Some(t1));
                req.sort = newest;
                (
                    format!("{}..{}", beijing(t0), beijing(t1)),
                    vec![Param::I(t0), Param::I(t1)],
                )
            }
            Kind::TwoWords => {
                let (a, b) = *pick(&mut self.rng, PAIRS);
                req.query = Some(format!("{a} {b}"));
                req.sort = chain;
                (format!("{a} {b}"), vec![like(a), like(b)])
            }
            Kind::RareWord => {
                let w = self.words(RARE);
                req.query = Some(w.clone());
                req.sort = chain;
                (w.clone(), vec![like(&w)])
            }
            Kind::Filters => {
                let scenario = pick(&mut self.rng, &Scenario::ALL).as_str();
                let currency = *pick(&mut self.rng, &["CNY", "HKD", "USD"]);
                let status = *pick(&mut self.rng, &["not-envelope", "opened"]);
                req.filter.scenario = Some(scenario.to_string());
                req.filter.currency = Some(currency.to_string());
                req.filter.status = Some(status.to_string());
                req.sort = by_amount;
                (
                    format!("{scenario} {currency} {status}"),
                    vec![
                        Param::S(scenario.to_string()),
                        Param::S(currency.to_string()),
                        Param::S(status.to_string()),
                    ],
                )
            }
        };
        Instance { describe, req, pg }
    }
}

/// What one side found.
#[derive(Debug, Default, PartialEq, Eq)]
struct Outcome {
    total: u64,
    hits: Vec<String>,
    buckets: Vec<(i64, u64, i64)>,
}

fn run_tantivy(search: &Search, kind: Kind, q: &Instance) -> Result<Outcome> {
    if kind == Kind::DayHistogram {
        let buckets: Vec<(i64, u64, i64)> = search
            .histogram(None, &q.req.filter, Interval::Day, 480)?
            .into_iter()
            .filter(|b| b.count > 0)
            .map(|b| (b.start_ms, b.count, b.amount))
            .collect();
        return Ok(Outcome {
            total: buckets.iter().map(|b| b.1).sum(),
            hits: Vec::new(),
            buckets,
        });
    }
    let page = search.search(&q.req)?;
    Ok(Outcome {
        total: page.total,
        hits: page.hits.into_iter().map(|h| h.tx_hash).collect(),
        buckets: Vec::new(),
    })
}

struct PgStatements {
    main: postgres::Statement,
    count: Option<postgres::Statement>,
}

fn run_pg(client: &mut Client, kind: Kind, st: &PgStatements, q: &Instance) -> Result<Outcome> {
    let params = refs(&q.pg);
    let rows = client.query(&st.main, &params)?;
    if kind == Kind::DayHistogram {
        let mut buckets: Vec<(i64, u64, i64)> = Vec::with_capacity(rows.len());
        for r in rows {
            let day: i64 = r.try_get(0)?;
            let count: i64 = r.try_get(1)?;
            let amount: i64 = r.try_get(2)?;
            buckets.push((day, count as u64, amount));
        }
        return Ok(Outcome {
            total: buckets.iter().map(|b| b.1).sum(),
            hits: Vec::new(),
            buckets,
        });
    }
    let mut hits = Vec::with_capacity(rows.len());
    for r in rows {
        hits.push(r.try_get::<_, String>(0)?);
    }
    let total: i64 = match &st.count {
        Some(c) => client.query_one(c, &params)?.try_get(0)?,
        None => 0,
    };
    Ok(Outcome {
        total: total as u64,
        hits,
        buckets: Vec::new(),
    })
}

/// The scan nodes of PostgreSQL's plan for `sql`, e.g. `Bitmap Index Scan on
/// bench_txs_trgm`.
fn pg_plan(client: &mut Client, sql: &str, q: &Instance) -> Result<String> {
    let rows = client.query(&format!("EXPLAIN {sql}"), &refs(&q.pg))?;
    let mut nodes: Vec<String> = Vec::new();
    for r in rows {
        let line: String = r.try_get(0)?;
        let node = line.trim().trim_start_matches("->").trim();
        let node = node.split("  (cost").next().unwrap_or(node).trim();
        if node.contains("Scan") {
            let node = node.replace(" using ", " on ");
            let short = match node.split_once(" on ") {
                Some((how, on)) => format!("{how} {}", on.split_whitespace().next().unwrap_or(on)),
                None => node,
            };
            if !nodes.contains(&short) {
                nodes.push(short);
            }
        }
    }
    Ok(nodes.join(", "))
}

// ---- loading --------------------------------------------------------------------

fn bar(len: u64, what: &str) -> indicatif::ProgressBar {
    let b = indicatif::ProgressBar::new(len);
    b.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg}: [{bar:40}] {human_pos}/{human_len} ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    b.set_message(what.to_string());
    b
}

fn spinner(what: &str) -> indicatif::ProgressBar {
    let b = indicatif::ProgressBar::new_spinner();
    b.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    b.set_message(what.to_string());
    b.enable_steady_tick(Duration::from_millis(200));
    b
}

/// Documents between commits.
const COMMIT_EVERY: u64 = 1_000_000;

struct TantivyLoad {
    wall: Duration,
    generating: Duration,
    commits: u32,
    bytes: u64,
    segments: usize,
    search: Search,
    queries: QueryGen,
}

fn tantivy_load(opts: &SearchBenchOpts, n: u64, dir: &Path) -> Result<TantivyLoad> {
    if opts.reuse && dir.exists() {
        return tantivy_reuse(opts, n, dir);
    }
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    let threads = opts.threads.unwrap_or_else(cores).max(1);
    let index = TxIndex::open(dir)
        .with_context(|| format!("cannot create the index in {}", dir.display()))?;
    let progress = bar(n, "tantivy: generating and indexing");
    let start = Instant::now();
    let mut writer = index.writer(threads, opts.heap_mb.max(1) << 20)?;
    let mut g = Records::new(opts.seed, n)?;
    let mut docs = Vec::new();
    let mut generating = Duration::ZERO;
    let mut since_commit = 0u64;
    let mut commits = 0;
    let mut last_hash = String::new();
    loop {
        let t = Instant::now();
        let more = g.next_block(&mut docs)?;
        generating += t.elapsed();
        if !more {
            break;
        }
        let fields = index.fields();
        for d in &docs {
            writer.add_document(indexer::schema::to_document(d, fields))?;
        }
        since_commit += docs.len() as u64;
        progress.inc(docs.len() as u64);
        if let Some(d) = docs.last() {
            last_hash.clone_from(&d.block_hash);
        }
        if since_commit >= COMMIT_EVERY {
            progress.set_message("tantivy: committing");
            index.commit(&mut writer, &checkpoint(&g, &last_hash))?;
            progress.set_message("tantivy: generating and indexing");
            commits += 1;
            since_commit = 0;
        }
    }
    index.commit(&mut writer, &checkpoint(&g, &last_hash))?;
    commits += 1;
    progress.set_message("tantivy: waiting for merges");
    writer
        .wait_merging_threads()
        .context("tantivy merge threads failed")?;
    index.reload()?;
    let wall = start.elapsed();
    progress.finish_and_clear();
    if index.num_docs() != n {
        bail!(
            "the index holds {} documents, {n} were added",
            index.num_docs()
        );
    }
    let segments = index.searcher().segment_readers().len();
    let queries = QueryGen::new(opts.seed, &g);
    Ok(TantivyLoad {
        wall,
        generating,
        commits,
        bytes: dir_size(dir),
        segments,
        search: Search::new(Arc::new(index)),
        queries,
    })
}

/// A kept index of `n` documents, with the query parameters of its records.
fn tantivy_reuse(opts: &SearchBenchOpts, n: u64, dir: &Path) -> Result<TantivyLoad> {
    let index = TxIndex::open_existing(dir)
        .with_context(|| format!("cannot open the kept index in {}", dir.display()))?;
    if index.num_docs() != n {
        bail!(
            "the kept index in {} holds {} documents, not {n}",
            dir.display(),
            index.num_docs()
        );
    }
    let progress = bar(n, "tantivy: generating the records of the kept index");
    let mut g = Records::new(opts.seed, n)?;
    let mut docs = Vec::new();
    while g.next_block(&mut docs)? {
        progress.inc(docs.len() as u64);
    }
    progress.finish_and_clear();
    let segments = index.searcher().segment_readers().len();
    let queries = QueryGen::new(opts.seed, &g);
    Ok(TantivyLoad {
        wall: Duration::ZERO,
        generating: Duration::ZERO,
        commits: 0,
        bytes: dir_size(dir),
        segments,
        search: Search::new(Arc::new(index)),
        queries,
    })
}

fn checkpoint(g: &Records, block_hash: &str) -> Checkpoint {
    Checkpoint {
        version: SCHEMA_VERSION,
        height: g.height,
        block_hash: block_hash.to_string(),
        docs: g.produced,
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => total += dir_size(&e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

fn copy_escape(out: &mut String, s: &str) {
    if !s
        .bytes()
        .any(|b| matches!(b, b'\\' | b'\t' | b'\n' | b'\r'))
    {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

fn copy_opt(out: &mut String, s: Option<&str>) {
    match s {
        Some(s) => copy_escape(out, s),
        None => out.push_str("\\N"),
    }
}

/// One COPY text-format line of `d`, in [`PG_COLUMNS`] order.
fn copy_row(out: &mut String, d: &TxDoc) {
    use std::fmt::Write as _;
    let b = &d.business;
    let seq = records::seq(d.height, d.index);
    let _ = write!(
        out,
        "{}\t{}\t{}\t{}\t{}\t{}\t",
        d.tx_hash, d.block_hash, d.height, d.index, seq, d.time_ms
    );
    for v in [
        d.from.as_deref(),
        Some(d.to.as_str()),
        d.sealer.as_deref(),
        d.method.as_deref(),
        Some(d.status.as_str()),
        Some(d.privacy()),
        b.scenario.as_deref(),
        b.action.as_deref(),
        b.reference.as_deref(),
        b.payer.key(),
        b.payee.key(),
    ] {
        copy_opt(out, v);
        out.push('\t');
    }
    match b.amount {
        Some(a) => {
            let _ = write!(out, "{a}");
        }
        None => out.push_str("\\N"),
    }
    out.push('\t');
    copy_opt(out, b.currency.as_deref());
    out.push('\t');
    copy_opt(out, b.memo.as_deref());
    out.push('\t');
    copy_escape(out, &d.text);
    out.push('\n');
}

const PG_COLUMNS: &str = "tx_hash, block_hash, height, idx, seq, time_ms, from_addr, to_addr, sealer, method, \
     status, privacy, scenario, action, reference, payer, payee, amount, currency, memo, payload_text";

fn pg_create(table: &str) -> String {
    format!(
        "CREATE TABLE {table} (
            tx_hash text NOT NULL, block_hash text NOT NULL, height bigint NOT NULL,
            idx integer NOT NULL, seq bigint NOT NULL, time_ms bigint NOT NULL,
            from_addr text, to_addr text NOT NULL, sealer text, method text,
            status text NOT NULL, privacy text NOT NULL, scenario text, action text,
            reference text, payer text, payee text, amount bigint, currency text,
            memo text, payload_text text NOT NULL)"
    )
}

/// (suffix, definition) of each index; `{t}` is the table.
const PG_INDEXES: &[(&str, &str)] = &[
    ("height", "btree (height)"),
    ("seq", "btree (seq)"),
    ("time", "btree (time_ms)"),
    ("amount", "btree (amount DESC NULLS LAST)"),
    ("tx_hash", "btree (tx_hash)"),
    ("from", "btree (from_addr)"),
    ("payer", "btree (payer)"),
    ("payee", "btree (payee)"),
    ("currency", "btree (currency)"),
    ("status", "btree (status)"),
    (
        "fts",
        "gin (to_tsvector('simple', (coalesce(memo, '') || ' ' || payload_text)))",
    ),
    (
        "trgm",
        "gin ((coalesce(memo, '') || ' ' || payload_text) gin_trgm_ops)",
    ),
];

struct PgLoad {
    copy: Duration,
    generating: Duration,
    indexes: Vec<(String, Duration)>,
    analyze: Duration,
    table_bytes: i64,
    index_bytes: i64,
}

impl PgLoad {
    fn index_time(&self) -> Duration {
        self.indexes.iter().map(|(_, d)| *d).sum()
    }
    fn wall(&self) -> Duration {
        self.copy + self.index_time() + self.analyze
    }
}

fn pg_load(client: &mut Client, opts: &SearchBenchOpts, n: u64, table: &str) -> Result<PgLoad> {
    client
        .batch_execute(&format!(
            "CREATE EXTENSION IF NOT EXISTS pg_trgm; DROP TABLE IF EXISTS {table}"
        ))
        .context("cannot prepare the PostgreSQL database (is pg_trgm available?)")?;
    let progress = bar(n, "PostgreSQL: generating and COPY");
    let start = Instant::now();
    let mut generating = Duration::ZERO;
    {
        let mut tx = client.transaction()?;
        tx.batch_execute(&pg_create(table))?;
        let mut w = tx.copy_in(&format!("COPY {table} ({PG_COLUMNS}) FROM STDIN"))?;
        let mut g = Records::new(opts.seed, n)?;
        let mut docs = Vec::new();
        let mut buf = String::with_capacity(1 << 20);
        loop {
            let t = Instant::now();
            let more = g.next_block(&mut docs)?;
            generating += t.elapsed();
            if !more {
                break;
            }
            buf.clear();
            for d in &docs {
                copy_row(&mut buf, d);
            }
            std::io::Write::write_all(&mut w, buf.as_bytes()).context("COPY failed")?;
            progress.inc(docs.len() as u64);
        }
        let rows = w.finish().context("COPY failed")?;
        if rows != n {
            bail!("COPY loaded {rows} rows, {n} were sent");
        }
        tx.commit()?;
    }
    let copy = start.elapsed();
    progress.finish_and_clear();
    let mut indexes = Vec::new();
    for (i, (suffix, def)) in PG_INDEXES.iter().enumerate() {
        let name = format!("{table}_{suffix}");
        let s = spinner(&format!(
            "PostgreSQL: building index {name} ({}/{})",
            i + 1,
            PG_INDEXES.len()
        ));
        let t = Instant::now();
        client
            .batch_execute(&format!("CREATE INDEX {name} ON {table} USING {def}"))
            .with_context(|| format!("cannot build {name}"))?;
        indexes.push((name, t.elapsed()));
        s.finish_and_clear();
    }
    let s = spinner("PostgreSQL: VACUUM ANALYZE");
    let t = Instant::now();
    client.batch_execute(&format!("VACUUM ANALYZE {table}"))?;
    let analyze = t.elapsed();
    s.finish_and_clear();
    let row = client.query_one(
        "SELECT pg_table_size($1::text::regclass), pg_indexes_size($1::text::regclass)",
        &[&table],
    )?;
    Ok(PgLoad {
        copy,
        generating,
        indexes,
        analyze,
        table_bytes: row.try_get(0)?,
        index_bytes: row.try_get(1)?,
    })
}

// ---- measuring ------------------------------------------------------------------

#[derive(Default)]
struct KindResult {
    tantivy_ms: Vec<f64>,
    pg_ms: Vec<f64>,
    tantivy_total: u64,
    pg_total: u64,
    runs: u64,
    differing: u64,
    mismatches: Vec<String>,
    zero_tantivy: u64,
    zero_pg: u64,
    plan: String,
    /// The slowest tantivy runs: (ms, parameters, matches).
    slowest: Vec<(f64, String, u64)>,
}

/// Slowest runs of each kind shown in the report.
const SLOWEST: usize = 3;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

fn measure(
    opts: &SearchBenchOpts,
    t: &mut TantivyLoad,
    mut pg: Option<&mut Client>,
    table: &str,
) -> Result<Vec<(Kind, KindResult)>> {
    let kinds: Vec<Kind> = if opts.kinds.is_empty() {
        KINDS.to_vec()
    } else {
        opts.kinds.clone()
    };
    let progress = bar((kinds.len() * opts.queries) as u64, "queries");
    let mut out = Vec::new();
    for kind in kinds {
        progress.set_message(format!("queries: {}", kind.name()));
        let mut res = KindResult::default();
        let statements = match pg.as_deref_mut() {
            Some(c) => {
                let (main, count) = kind.pg_sql(table);
                let st = PgStatements {
                    main: c.prepare(&main)?,
                    count: count.as_deref().map(|s| c.prepare(s)).transpose()?,
                };
                let q = t.queries.next(kind);
                res.plan = pg_plan(c, &main, &q)?;
                if let Some(count) = &count {
                    let p = pg_plan(c, count, &q)?;
                    if p != res.plan {
                        res.plan = format!("page: {}; count: {p}", res.plan);
                    }
                }
                Some(st)
            }
            None => None,
        };
        let mut spent = Duration::ZERO;
        for i in 0..opts.warmup + opts.queries {
            if opts.budget_secs > 0
                && res.runs >= opts.min_runs as u64
                && spent >= Duration::from_secs(opts.budget_secs)
            {
                progress.inc((opts.queries as u64).saturating_sub(res.runs));
                break;
            }
            let q = t.queries.next(kind);
            let start = Instant::now();
            let tv = run_tantivy(&t.search, kind, &q)
                .with_context(|| format!("tantivy {} {}", kind.name(), q.describe))?;
            let tantivy_took = start.elapsed();
            let pv = match (pg.as_deref_mut(), &statements) {
                (Some(c), Some(st)) => {
                    let start = Instant::now();
                    let v = run_pg(c, kind, st, &q)
                        .with_context(|| format!("PostgreSQL {} {}", kind.name(), q.describe))?;
                    Some((v, start.elapsed()))
                }
                _ => None,
            };
            if i < opts.warmup {
                spent += tantivy_took + pv.as_ref().map_or(Duration::ZERO, |(_, d)| *d);
                continue;
            }
            progress.inc(1);
            res.runs += 1;
            spent += tantivy_took + pv.as_ref().map_or(Duration::ZERO, |(_, d)| *d);
            res.tantivy_ms.push(ms(tantivy_took));
            res.slowest
                .push((ms(tantivy_took), q.describe.clone(), tv.total));
            res.slowest.sort_by(|a, b| b.0.total_cmp(&a.0));
            res.slowest.truncate(SLOWEST);
            res.tantivy_total += tv.total;
            res.zero_tantivy += u64::from(tv.total == 0);
            if let Some((pv, took)) = pv {
                res.pg_ms.push(ms(took));
                res.pg_total += pv.total;
                res.zero_pg += u64::from(pv.total == 0);
                if tv.total != pv.total {
                    res.differing += 1;
                }
                if kind.agreement() == Agreement::Exact && tv != pv {
                    let what = if tv.total != pv.total {
                        format!("totals {} vs {}", tv.total, pv.total)
                    } else if tv.buckets != pv.buckets {
                        format!(
                            "day buckets differ: tantivy {:?}… vs PG {:?}…",
                            &tv.buckets[..tv.buckets.len().min(3)],
                            &pv.buckets[..pv.buckets.len().min(3)]
                        )
                    } else {
                        let at = tv
                            .hits
                            .iter()
                            .zip(&pv.hits)
                            .position(|(a, b)| a != b)
                            .unwrap_or(tv.hits.len().min(pv.hits.len()));
                        format!(
                            "pages differ from hit {at} ({} vs {} hits)",
                            tv.hits.len(),
                            pv.hits.len()
                        )
                    };
                    let msg = format!("{} [{}]: {what}", kind.name(), q.describe);
                    progress.suspend(|| eprintln!("MISMATCH {msg}"));
                    if res.mismatches.len() < 3 {
                        res.mismatches.push(msg);
                    }
                }
            }
        }
        out.push((kind, res));
    }
    progress.finish_and_clear();
    Ok(out)
}

fn fmt_ms(v: f64) -> String {
    if v.is_nan() {
        "–".into()
    } else if v >= 1_000.0 {
        format!("{:.2} s", v / 1_000.0)
    } else if v >= 100.0 {
        format!("{v:.0} ms")
    } else if v >= 10.0 {
        format!("{v:.1} ms")
    } else {
        format!("{v:.2} ms")
    }
}

fn fmt_ratio(pg: f64, t: f64) -> String {
    if pg.is_nan() || t.is_nan() || t <= 0.0 {
        "–".into()
    } else if pg / t >= 10.0 {
        format!("{:.0}×", pg / t)
    } else {
        format!("{:.2}×", pg / t)
    }
}

fn fmt_bytes(b: u64) -> String {
    let b = b as f64;
    if b >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2} GiB", b / (1024.0 * 1024.0 * 1024.0))
    } else {
        format!("{:.0} MiB", b / (1024.0 * 1024.0))
    }
}

fn fmt_secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

fn rate(n: u64, d: Duration) -> String {
    if d.is_zero() {
        return "n/a (index reused)".into();
    }
    format!("{:.0}", n as f64 / d.as_secs_f64().max(1e-9))
}

/// What one size gave, for the closing summary.
struct SizeSummary {
    n: u64,
    tantivy_rate: f64,
    pg_rate: Option<f64>,
    p50: (f64, f64),
    p99: (f64, f64),
    mismatches: u64,
}

fn report(
    opts: &SearchBenchOpts,
    n: u64,
    t: &TantivyLoad,
    pg: Option<&PgLoad>,
    results: &mut [(Kind, KindResult)],
) -> SizeSummary {
    let threads = opts.threads.unwrap_or_else(cores).max(1);
    println!("\n## {n} transactions\n");
    println!("### Loading\n");
    println!(
        "| side | wall | of which generating records | load | index build | VACUUM ANALYZE | records/s (wall) | on disk |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| tantivy ({threads} threads, {} MiB heap) | {} | {} | {} (incl. {} commit(s) and the final merges; {} segments) | (included) | – | {} | {} |",
        opts.heap_mb,
        fmt_secs(t.wall),
        fmt_secs(t.generating),
        fmt_secs(t.wall),
        t.commits,
        t.segments,
        rate(n, t.wall),
        fmt_bytes(t.bytes)
    );
    if let Some(p) = pg {
        println!(
            "| PostgreSQL | {} | {} | COPY {} ({} rows/s) | {} | {} | {} | {} (table {}, indexes {}) |",
            fmt_secs(p.wall()),
            fmt_secs(p.generating),
            fmt_secs(p.copy),
            rate(n, p.copy),
            fmt_secs(p.index_time()),
            fmt_secs(p.analyze),
            rate(n, p.wall()),
            fmt_bytes((p.table_bytes + p.index_bytes).max(0) as u64),
            fmt_bytes(p.table_bytes.max(0) as u64),
            fmt_bytes(p.index_bytes.max(0) as u64),
        );
        let each: Vec<String> = p
            .indexes
            .iter()
            .map(|(name, d)| format!("{name} {}", fmt_secs(*d)))
            .collect();
        println!("\nPostgreSQL index builds: {}.", each.join(", "));
    }
    let budget = if opts.budget_secs == 0 {
        String::new()
    } else {
        format!(
            ", a kind stopping after {} s of query time (at least {} runs)",
            opts.budget_secs, opts.min_runs
        )
    };
    println!(
        "\n### Queries (up to {} runs per kind after {} warm-up runs{budget}; client wall time of the top {PAGE} hits + total count)\n",
        opts.queries, opts.warmup
    );
    println!(
        "| query | runs | tantivy p50 | tantivy p99 | PG p50 | PG p99 | PG/tantivy p50 | PG/tantivy p99 | mean total tantivy | mean total PG | totals |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let mut all_t = Vec::new();
    let mut all_p = Vec::new();
    let mut mismatches = 0;
    for (kind, r) in results.iter_mut() {
        all_t.extend_from_slice(&r.tantivy_ms);
        all_p.extend_from_slice(&r.pg_ms);
        let t50 = crate::latency::ms(&r.tantivy_ms, 50.0);
        let t99 = crate::latency::ms(&r.tantivy_ms, 99.0);
        let p50 = crate::latency::ms(&r.pg_ms, 50.0);
        let p99 = crate::latency::ms(&r.pg_ms, 99.0);
        let runs = r.runs.max(1);
        let totals = if pg.is_none() {
            "–".to_string()
        } else if kind.agreement() == Agreement::Exact {
            if r.mismatches.is_empty() {
                "agree (checked, pages too)".to_string()
            } else {
                mismatches += 1;
                format!("**MISMATCH** ({} of {} runs)", r.differing.max(1), r.runs)
            }
        } else if r.differing == 0 {
            "same totals".to_string()
        } else {
            format!("differ in {} of {} runs", r.differing, r.runs)
        };
        let mut zeros = String::new();
        if r.zero_tantivy > 0 || r.zero_pg > 0 {
            zeros = format!(
                " (no hits: tantivy {}, PG {} runs)",
                r.zero_tantivy, r.zero_pg
            );
        }
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {:.1} | {} | {totals}{zeros} |",
            kind.name(),
            r.runs,
            fmt_ms(t50),
            fmt_ms(t99),
            fmt_ms(p50),
            fmt_ms(p99),
            fmt_ratio(p50, t50),
            fmt_ratio(p99, t99),
            r.tantivy_total as f64 / runs as f64,
            if pg.is_some() {
                format!("{:.1}", r.pg_total as f64 / runs as f64)
            } else {
                "–".into()
            },
        );
    }
    let t50 = crate::latency::ms(&all_t, 50.0);
    let t99 = crate::latency::ms(&all_t, 99.0);
    let p50 = crate::latency::ms(&all_p, 50.0);
    let p99 = crate::latency::ms(&all_p, 99.0);
    println!(
        "| **all** | {} | {} | {} | {} | {} | {} | {} | | | |",
        all_t.len(),
        fmt_ms(t50),
        fmt_ms(t99),
        fmt_ms(p50),
        fmt_ms(p99),
        fmt_ratio(p50, t50),
        fmt_ratio(p99, t99),
    );
    println!("\nSlowest tantivy runs of each kind (ms, parameters, matches):\n");
    for (kind, r) in results.iter() {
        let runs: Vec<String> = r
            .slowest
            .iter()
            .map(|(ms, about, total)| format!("{} `{about}` ({total})", fmt_ms(*ms)))
            .collect();
        println!("- {}: {}", kind.name(), runs.join("; "));
    }
    for (_, r) in results.iter() {
        for m in &r.mismatches {
            println!("\n**MISMATCH** {m}");
        }
    }
    if pg.is_some() {
        println!("\nPostgreSQL plans (scan nodes of one run of each kind):\n");
        for (kind, r) in results.iter() {
            println!("- {}: {}", kind.name(), r.plan);
        }
    }
    SizeSummary {
        n,
        tantivy_rate: n as f64 / t.wall.as_secs_f64().max(1e-9),
        pg_rate: pg.map(|p| n as f64 / p.wall().as_secs_f64().max(1e-9)),
        p50: (t50, p50),
        p99: (t99, p99),
        mismatches,
    }
}

fn redact(conn: &str) -> String {
    conn.split_whitespace()
        .map(|kv| {
            if kv.to_ascii_lowercase().starts_with("password=") {
                "password=…".to_string()
            } else {
                kv.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn command_line(opts: &SearchBenchOpts) -> String {
    let sizes: Vec<String> = opts.txs.iter().map(u64::to_string).collect();
    let mut s = format!(
        "lookthrough-bench search --txs {} --queries {} --seed {} --heap-mb {} --budget-secs {} --min-runs {} --warmup {}",
        sizes.join(","),
        opts.queries,
        opts.seed,
        opts.heap_mb,
        opts.budget_secs,
        opts.min_runs,
        opts.warmup
    );
    if let Some(t) = opts.threads {
        s.push_str(&format!(" --threads {t}"));
    }
    if let Some(p) = &opts.postgres {
        s.push_str(&format!(" --postgres '{}'", redact(p)));
    }
    if let Some(d) = &opts.data {
        s.push_str(&format!(" --data {}", d.display()));
    }
    if opts.reuse {
        s.push_str(" --reuse");
    }
    if !opts.kinds.is_empty() {
        let names: Vec<&str> = opts.kinds.iter().map(|k| k.name()).collect();
        s.push_str(&format!(" --kinds {}", names.join(",")));
    }
    s
}

fn pg_settings(client: &mut Client) -> Result<String> {
    let mut out = Vec::new();
    let version: String = client.query_one("SHOW server_version", &[])?.try_get(0)?;
    out.push(format!("PostgreSQL {version}"));
    for name in [
        "shared_buffers",
        "work_mem",
        "maintenance_work_mem",
        "effective_cache_size",
        "max_parallel_workers_per_gather",
        "jit",
        "lc_ctype",
    ] {
        let v: String = client.query_one(&format!("SHOW {name}"), &[])?.try_get(0)?;
        out.push(format!("{name}={v}"));
    }
    Ok(out.join(", "))
}

/// `lookthrough-bench search`.
pub fn search(opts: &SearchBenchOpts) -> Result<ExitCode> {
    if opts.txs.is_empty() || opts.queries == 0 {
        bail!("--txs and --queries must be given and positive");
    }
    let mut client = match &opts.postgres {
        Some(conn) => {
            let mut c = Client::connect(conn, NoTls)
                .with_context(|| format!("cannot connect to PostgreSQL at {:?}", redact(conn)))?;
            c.batch_execute(
                "SET plan_cache_mode = force_custom_plan; SET client_min_messages = warning",
            )?;
            Some(c)
        }
        None => None,
    };
    let settings = client.as_mut().map(pg_settings).transpose()?;
    let temp;
    let data = match &opts.data {
        Some(d) => d.clone(),
        None => {
            temp = tempfile::Builder::new()
                .prefix("lookthrough-bench-search-")
                .tempdir()
                .context("cannot make a temporary directory")?;
            temp.path().to_path_buf()
        }
    };
    println!("# bench search\n");
    println!("Command: `{}`", command_line(opts));
    println!(
        "\nMachine: {} cores. tantivy: {} indexing threads, {} MiB heap, jieba search-mode tokenizer. {}",
        cores(),
        opts.threads.unwrap_or_else(cores).max(1),
        opts.heap_mb,
        settings
            .as_deref()
            .unwrap_or("PostgreSQL: not measured (no --postgres)")
    );
    println!("\nQueries:\n");
    for kind in KINDS {
        let a = match kind.agreement() {
            Agreement::Exact => "results must agree",
            Agreement::Text => "text semantics differ",
        };
        println!("- `{}`: {} ({a})", kind.name(), kind.about());
    }
    println!(
        "\nPostgreSQL's 'simple' text-search parser does not segment Chinese (a run of Chinese characters is one token), \
         so Chinese words are searched as substrings with ILIKE on the pg_trgm-indexed memo||text; \
         a pattern shorter than 3 characters gives the trigram index nothing to look up. \
         tantivy finds jieba words (search mode), PostgreSQL finds substrings, so text totals differ."
    );
    let mut summaries = Vec::new();
    for &n in &opts.txs {
        eprintln!("== {n} transactions");
        let dir = data.join(format!("tantivy-{n}"));
        let mut t = tantivy_load(opts, n, &dir)?;
        eprintln!(
            "tantivy: {n} documents in {:.1} s ({} docs/s)",
            t.wall.as_secs_f64(),
            rate(n, t.wall)
        );
        let table = format!("bench_txs_{n}");
        let pg = match client.as_mut() {
            Some(c) => {
                let l = pg_load(c, opts, n, &table)?;
                eprintln!(
                    "PostgreSQL: {n} rows in {:.1} s ({} rows/s; COPY {:.1} s, indexes {:.1} s, analyze {:.1} s)",
                    l.wall().as_secs_f64(),
                    rate(n, l.wall()),
                    l.copy.as_secs_f64(),
                    l.index_time().as_secs_f64(),
                    l.analyze.as_secs_f64()
                );
                Some(l)
            }
            None => None,
        };
        let mut results = measure(opts, &mut t, client.as_mut(), &table)?;
        summaries.push(report(opts, n, &t, pg.as_ref(), &mut results));
        drop(t);
        if !opts.keep {
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("cannot remove {}", dir.display()))?;
            if let Some(c) = client.as_mut() {
                c.batch_execute(&format!("DROP TABLE IF EXISTS {table}"))?;
            }
        }
    }
    if summaries.len() > 1 {
        println!("\n## Summary\n");
        println!(
            "| transactions | tantivy load rec/s | PG load rec/s (COPY + indexes + analyze) | tantivy p50 / p99 | PG p50 / p99 | PG/tantivy p50 | PG/tantivy p99 |"
        );
        println!("|---|---|---|---|---|---|---|");
        for s in &summaries {
            println!(
                "| {} | {:.0} | {} | {} / {} | {} / {} | {} | {} |",
                s.n,
                s.tantivy_rate,
                s.pg_rate.map_or("–".into(), |r| format!("{r:.0}")),
                fmt_ms(s.p50.0),
                fmt_ms(s.p99.0),
                fmt_ms(s.p50.1),
                fmt_ms(s.p99.1),
                fmt_ratio(s.p50.1, s.p50.0),
                fmt_ratio(s.p99.1, s.p99.0),
            );
        }
    }
    println!("\nCommand: `{}`", command_line(opts));
    if summaries.iter().any(|s| s.mismatches > 0) {
        eprintln!(
            "error: tantivy and PostgreSQL disagree on queries whose semantics are the same (MISMATCH above)"
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_parse_with_suffixes() {
        assert_eq!(parse_count("20000"), Ok(20_000));
        assert_eq!(parse_count("1_000_000"), Ok(1_000_000));
        assert_eq!(parse_count("500k"), Ok(500_000));
        assert_eq!(parse_count("1.5M"), Ok(1_500_000));
        assert!(parse_count("0").is_err());
        assert!(parse_count("many").is_err());
    }

    /// Every document of a run, and the index they make.
    fn indexed(seed: u64, n: u64) -> (Records, Vec<TxDoc>, Search) {
        let index = TxIndex::in_memory().expect("index");
        let mut writer = index.writer(1, 50 << 20).expect("writer");
        let mut g = Records::new(seed, n).expect("records");
        let mut docs = Vec::new();
        let mut all = Vec::new();
        while g.next_block(&mut docs).expect("block") {
            for d in &docs {
                writer
                    .add_document(indexer::schema::to_document(d, index.fields()))
                    .expect("add");
            }
            all.append(&mut docs);
        }
        let last = all.last().map(|d| d.block_hash.clone()).unwrap_or_default();
        index
            .commit(&mut writer, &checkpoint(&g, &last))
            .expect("commit");
        (g, all, Search::new(Arc::new(index)))
    }

    #[test]
    fn the_records_are_deterministic_and_stream_blocks() {
        let mut a = Records::new(7, 2_000).expect("records");
        let mut b = Records::new(7, 2_000).expect("records");
        let (mut da, mut db) = (Vec::new(), Vec::new());
        let mut n = 0;
        let mut hashes = std::collections::HashSet::new();
        let mut statuses = std::collections::BTreeSet::new();
        while a.next_block(&mut da).expect("block") {
            assert!(b.next_block(&mut db).expect("block"));
            assert_eq!(da, db);
            for (i, d) in da.iter().enumerate() {
                assert_eq!(d.tx_hash, hash_hex(7, DOMAIN_TX, n + i as u64));
                assert!(hashes.insert(d.tx_hash.clone()));
                assert_eq!(d.from.as_deref().map(str::len), Some(42));
                let readable = matches!(d.status.as_str(), "not-envelope" | "opened");
                assert_eq!(readable, d.business.scenario.is_some(), "{d:?}");
                assert_eq!(readable, !d.text.is_empty());
                statuses.insert(d.status.clone());
            }
            n += da.len() as u64;
        }
        assert_eq!(n, 2_000);
        assert!(!b.next_block(&mut db).expect("block"));
        let want: std::collections::BTreeSet<String> =
            ["inconsistent", "not-envelope", "not-for-us", "opened"]
                .map(String::from)
                .into();
        assert_eq!(statuses, want);
        assert_eq!(a.hashes.items.len(), RESERVOIR.min(2_000));
        assert!(a.references.items.iter().all(|r| !r.is_empty()));
    }

    /// The documents of a run are those the node makes of the chain the
    /// workload builds from the same seed (`records::doc::from_store` on
    /// the stored transaction and its opened record), but for the hashes and
    /// sealers, which only a chain has.
    #[test]
    fn the_records_are_what_the_node_makes_of_the_same_seeds_chain() {
        use devnet::signer::NodeKey;
        use devnet::{ChainConfig, Devnet};
        use privacy::envelope::TxContext;

        let (seed, n) = (5, 1_200);
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let sealers = (0..4)
            .map(|_| NodeKey::generate(SUITE, &mut rng).expect("key"))
            .collect();
        let mut devnet = Devnet::new(ChainConfig::new(SUITE, 4), sealers).expect("devnet");
        let mut w =
            Workload::new(workload_config(n), SUITE, "chain0", "group0", seed).expect("workload");
        let mut keyring = privacy::keyring::Keyring::new();
        keyring
            .add("regulator", w.regulator_key().clone())
            .expect("key");
        let mut records = Records::new(seed, n).expect("records");
        let mut docs = Vec::new();
        let mut compared = 0;
        while records.next_block(&mut docs).expect("block") {
            let ts = w.next_timestamp();
            let recs = w
                .generate_block(&mut devnet, docs.len(), ts)
                .expect("block")
                .to_vec();
            let block = devnet.block(devnet.head()).expect("the new block").clone();
            for (doc, rec) in docs.iter().zip(&recs) {
                let (tx, height, index) = devnet
                    .transaction(&hash_bytes_of(&rec.tx_hash))
                    .expect("on the chain");
                let stored = store::StoredTx {
                    tx: tx.clone(),
                    height,
                    index: index as u32,
                    class: rec.class.envelope_class().as_str().to_string(),
                    detail: String::new(),
                };
                let payload =
                    devnet::contracts::carried(&tx.input).expect("a record or an envelope");
                let sender = tx.claimed_from.expect("sender");
                let ctx = TxContext::new(&tx.chain_id, &tx.group_id, sender).expect("context");
                let opened = keyring.open(payload, &ctx);
                let plain = (stored.class == "opened").then(|| opened.payload().expect("opens"));
                let receipt = devnet.receipt(&tx.claimed_hash).cloned();
                let mut node = records::doc::from_store(
                    &records::ChainLabel::default(),
                    &block,
                    &stored,
                    receipt.as_ref(),
                    plain,
                    &records::decode::Catalog::empty(SUITE),
                );
                node.tx_hash.clone_from(&doc.tx_hash);
                node.position = doc.position;
                node.block_hash.clone_from(&doc.block_hash);
                node.sealer.clone_from(&doc.sealer);
                assert_eq!(&node, doc);
                compared += 1;
            }
        }
        assert_eq!(compared, n);
    }

    fn hash_bytes_of(hex_hash: &str) -> [u8; 32] {
        let mut out = [0u8; 32];
        hex::decode_to_slice(hex_hash.trim_start_matches("0x"), &mut out).expect("a hash");
        out
    }

    /// Every word, pair, hash and reference the queries draw finds something
    /// in a small run, so no query kind measures empty results.
    #[test]
    fn every_query_word_has_hits() {
        let (g, _, search) = indexed(13, 20_000);
        let hits = |q: &str| {
            let req = SearchRequest {
                query: Some(q.to_string()),
                first: 1,
                ..SearchRequest::default()
            };
            search.search(&req).expect("search").total
        };
        let mut missing = Vec::new();
        let pairs = PAIRS.iter().map(|(a, b)| format!("{a} {b}"));
        let words = ZH_SHORT.iter().chain(ZH_LONG).chain(EN_WORDS).chain(RARE);
        for q in words.map(|w| w.to_string()).chain(pairs) {
            if hits(&q) == 0 {
                missing.push(q);
            }
        }
        assert!(missing.is_empty(), "no hits for {missing:?}");
        let mut q = QueryGen::new(13, &g);
        for kind in [Kind::TxHash, Kind::Reference] {
            for _ in 0..20 {
                let inst = q.next(kind);
                let got = run_tantivy(&search, kind, &inst).expect("search");
                assert!(got.total > 0, "{kind:?} {}", inst.describe);
            }
        }
    }

    #[test]
    fn copy_rows_escape_text() {
        let mut g = Records::new(3, 600).expect("records");
        let mut docs = Vec::new();
        assert!(g.next_block(&mut docs).expect("block"));
        let readable = docs
            .iter()
            .find(|d| d.status == "opened")
            .expect("an opened record");
        let mut line = String::new();
        copy_row(&mut line, readable);
        // One line: the payload text, last, has its newlines escaped.
        assert!(line.ends_with('\n'));
        assert_eq!(line.matches('\n').count(), 1);
        let text = line
            .trim_end_matches('\n')
            .rsplit('\t')
            .next()
            .unwrap_or("");
        assert!(!text.is_empty() && text.contains("\\n"), "{text}");
        assert_eq!(line.split('\t').count(), PG_COLUMNS.split(',').count());
        assert!(line.contains("\\n"));
        let unreadable = docs
            .iter()
            .find(|d| d.status == "not-for-us")
            .expect("a not-for-us record");
        let mut line = String::new();
        copy_row(&mut line, unreadable);
        assert_eq!(line.split('\t').count(), PG_COLUMNS.split(',').count());
    }

    #[test]
    fn exact_queries_agree_with_a_scan_of_the_records() {
        let (g, all, search) = indexed(11, 3_000);
        let mut q = QueryGen::new(11, &g);
        for kind in [
            Kind::TxHash,
            Kind::PartyTimeByAmount,
            Kind::TimeRange,
            Kind::Filters,
        ] {
            for _ in 0..5 {
                let inst = q.next(kind);
                let got = run_tantivy(&search, kind, &inst).expect("search");
                let f = &inst.req.filter;
                let want = all
                    .iter()
                    .filter(|d| match kind {
                        Kind::TxHash => Some(&d.tx_hash) == inst.req.query.as_ref(),
                        Kind::PartyTimeByAmount => {
                            f.party.as_deref().is_some_and(|p| d.parties().contains(&p))
                                && f.time_ms.min.is_some_and(|t| d.time_ms >= t)
                                && f.time_ms.max.is_some_and(|t| d.time_ms <= t)
                        }
                        Kind::TimeRange => {
                            f.time_ms.min.is_some_and(|t| d.time_ms >= t)
                                && f.time_ms.max.is_some_and(|t| d.time_ms <= t)
                        }
                        _ => {
                            d.business.scenario == f.scenario
                                && d.business.currency == f.currency
                                && Some(&d.status) == f.status.as_ref()
                        }
                    })
                    .count() as u64;
                assert_eq!(got.total, want, "{kind:?} {}", inst.describe);
            }
        }
    }
}
