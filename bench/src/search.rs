//! `lookthrough-bench search`: the transaction search index (tantivy with
//! jieba) next to PostgreSQL, on the same generated records, in one run.
//!
//! For each size in `--txs` the benchmark
//!
//! 1. generates that many transactions deterministically (ChaCha20 from
//!    `--seed`): ~35 organisations of a Greater Bay Area consortium, five
//!    business scenarios, memos mixing Chinese and English, invoice and
//!    receivable numbers, CNY/HKD/USD amounts, blocks of ~500 transactions
//!    spread over six months (busier in business hours, quieter at night, at
//!    weekends and in the October golden week); 30% public, 60% opened,
//!    the rest envelopes the regulator cannot read. Records are made a block
//!    at a time, never all held at once;
//! 2. indexes them into a fresh on-disk [`TxIndex`], committing every ~1M
//!    documents and at the end, and waits for the merges;
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
//! | `tx-hash` | the hash as typed in the search box | `tx_hash = $1` | must agree |
//! | `reference` | an invoice or receivable number as typed | `DOC ILIKE '%INV-2025-001234%'` | should agree |
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

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use indexer::schema::SCHEMA_VERSION;
use indexer::search::{Interval, Range, Search, SearchRequest, Sort, SortBy};
use indexer::{Checkpoint, TxIndex};
use postgres::types::ToSql;
use postgres::{Client, NoTls};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use records::TxDoc;
use records::{Business, Money, Party};

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

// ---- time -------------------------------------------------------------------

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
const BEIJING_MS: i64 = 8 * HOUR_MS;
/// 2025-07-01 00:00 Beijing time (a Tuesday).
const START_MS: i64 = 1_751_299_200_000;
/// The records cover this many days from [`START_MS`], whatever their number.
const SPAN_DAYS: i64 = 184;
/// The first day of the October golden week, as days after [`START_MS`].
const GOLDEN_WEEK: i64 = 92;

/// Block times: the span is cut into hours, each weighted by how busy the
/// chain is then, and a block at a fraction `f` of the records is placed at
/// the fraction `f` of the total weight.
struct Clock {
    /// Weight of each hour.
    weight: Vec<u64>,
    /// `cum[h]`: total weight of the hours before `h`, in weight × ms.
    cum: Vec<u128>,
}

impl Clock {
    fn new() -> Self {
        let hours = SPAN_DAYS * 24;
        let mut weight = Vec::with_capacity(hours as usize);
        for h in 0..hours {
            let day = h / 24;
            let hour = h % 24;
            // Monday = 0; START_MS is a Tuesday.
            let dow = (day + 1) % 7;
            let weekend = dow >= 5;
            let holiday = (GOLDEN_WEEK..GOLDEN_WEEK + 7).contains(&day);
            let w = match (weekend || holiday, hour) {
                (false, 9..=17) => 20,
                (false, 7..=8 | 18..=21) => 6,
                (true, 9..=19) => 3,
                _ => 1,
            };
            weight.push(w);
        }
        let mut cum = Vec::with_capacity(weight.len() + 1);
        let mut acc: u128 = 0;
        cum.push(0);
        for w in &weight {
            acc += u128::from(*w) * HOUR_MS as u128;
            cum.push(acc);
        }
        Self { weight, cum }
    }

    /// The time at fraction `num / den` of the span's weight.
    fn at(&self, num: u64, den: u64) -> i64 {
        let total = self.cum[self.cum.len() - 1];
        let target = total * u128::from(num) / u128::from(den.max(1));
        let h = self
            .cum
            .partition_point(|&c| c <= target)
            .saturating_sub(1)
            .min(self.weight.len() - 1);
        let within = (target - self.cum[h]) / u128::from(self.weight[h]);
        START_MS + h as i64 * HOUR_MS + within as i64
    }
}

/// ISO 8601 in Beijing time.
fn beijing(ms: i64) -> String {
    devnet::workload::beijing_time(ms)
}

fn local_hour(ms: i64) -> i64 {
    (ms + BEIJING_MS).rem_euclid(DAY_MS) / HOUR_MS
}

// ---- randomness and hashes --------------------------------------------------

use devnet::workload::below;

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

/// 32 bytes determined by (seed, domain, n), distinct for distinct `n`:
/// transaction hashes can be recomputed for lookups without keeping them.
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
const DOMAIN_ACCOUNT: u64 = 2;
const DOMAIN_CONTRACT: u64 = 3;
const DOMAIN_BLOCK: u64 = 4;
const DOMAIN_SEALER: u64 = 5;

// ---- the business ---------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum OrgKind {
    Bank,
    HkBank,
    Maker,
    Logistics,
    Trader,
    HkTrader,
    Media,
    Registry,
    Clearing,
    Offshore,
}

use OrgKind::*;

/// id, Chinese name, English name, kind.
#[rustfmt::skip]
const ORGS: &[(&str, &str, &str, OrgKind)] = &[
    ("icbc-sz", "中国工商银行深圳分行", "ICBC Shenzhen Branch", Bank),
    ("cmb-sz", "招商银行深圳分行", "China Merchants Bank Shenzhen", Bank),
    ("ccb-gz", "中国建设银行广州分行", "China Construction Bank Guangzhou", Bank),
    ("pab", "平安银行", "Ping An Bank", Bank),
    ("cgb", "广发银行", "China Guangfa Bank", Bank),
    ("boc-hk", "中国银行(香港)", "Bank of China (Hong Kong)", HkBank),
    ("hsbc-hk", "香港上海汇丰银行", "HSBC Hong Kong", HkBank),
    ("scb-hk", "渣打银行(香港)", "Standard Chartered Hong Kong", HkBank),
    ("jinggong", "深圳精工电子有限公司", "Shenzhen Jinggong Electronics Co., Ltd.", Maker),
    ("shunda", "东莞顺达机械制造", "Dongguan Shunda Machinery", Maker),
    ("yuehai", "粤海新能源科技", "Yuehai New Energy Technology", Maker),
    ("meida", "佛山美达家电", "Foshan Meida Home Appliances", Maker),
    ("haiyu", "珠海海宇半导体", "Zhuhai Haiyu Semiconductor", Maker),
    ("guangming", "惠州光明电池", "Huizhou Guangming Battery", Maker),
    ("huafeng", "中山华丰照明", "Zhongshan Huafeng Lighting", Maker),
    ("hengli", "江门恒力五金", "Jiangmen Hengli Hardware", Maker),
    ("yict", "盐田国际集装箱码头", "Yantian International Container Terminals", Logistics),
    ("sf", "顺丰速运", "SF Express", Logistics),
    ("nansha", "南沙港物流", "Nansha Port Logistics", Logistics),
    ("orient-ocean", "东方远洋海运", "Orient Ocean Shipping", Logistics),
    ("sunhung", "新鸿供应链管理", "Sun Hung Supply Chain Management", Trader),
    ("qianhai-ec", "前海跨境电商", "Qianhai Cross-border E-commerce", Trader),
    ("nanyue", "南粤进出口", "Nanyue Import & Export", Trader),
    ("hengtong", "恒通贸易(香港)有限公司", "Hengtong Trading (HK) Ltd", HkTrader),
    ("ocean-star", "海星国际贸易", "Ocean Star International Trading", HkTrader),
    ("golden-ear", "金穗进出口", "Golden Ear Import & Export", HkTrader),
    ("lianfeng", "澳门联丰贸易", "Macau Lianfeng Trading", HkTrader),
    ("guangying", "光影文化传媒", "Guangying Culture & Media", Media),
    ("pengcheng", "鹏城数字出版", "Pengcheng Digital Publishing", Media),
    ("lingnan", "岭南音像出版社", "Lingnan Audio-Visual Press", Media),
    ("tengyun", "腾云软件", "Tengyun Software", Media),
    ("huawen", "华文版权登记中心", "Huawen Copyright Registration Centre", Registry),
    ("gba-clearing", "大湾区清算所", "Greater Bay Area Clearing House", Clearing),
    ("faraway", "远帆咨询(塞舌尔)", "Faraway Sail Consulting (Seychelles)", Offshore),
    ("blue-ocean", "蓝海控股(开曼)", "Blue Ocean Holdings (Cayman)", Offshore),
];

/// Scenario id, its Chinese name.
const SCENARIOS: [(&str, &str); 5] = [
    ("trade-settlement", "贸易结算"),
    ("cross-border-remittance", "跨境汇款"),
    ("supply-chain-finance", "供应链金融"),
    ("copyright-registration", "数字版权登记"),
    ("interbank-clearing", "同业清算"),
];
const TRADE: usize = 0;
const REMIT: usize = 1;
const SCF: usize = 2;
const COPYRIGHT: usize = 3;
const CLEARING: usize = 4;

#[rustfmt::skip]
const GOODS: &[(&str, &str)] = &[
    ("PCB 主板", "PCB mainboards"),
    ("数控机床配件", "CNC machine parts"),
    ("集装箱运输", "container freight"),
    ("LED 显示模组", "LED display modules"),
    ("锂电池组", "lithium battery packs"),
    ("光伏组件", "solar PV modules"),
    ("注塑模具", "injection moulds"),
    ("不锈钢卷板", "stainless steel coils"),
];

#[rustfmt::skip]
const WORKS: &[(&str, &str)] = &[
    ("《珠江晨曦》摄影集", "Pearl River Dawn (photo book)"),
    ("《岭南古建筑》纪录片", "Lingnan Architecture (documentary)"),
    ("《粤语童谣》有声书", "Cantonese Nursery Rhymes (audiobook)"),
    ("工业设计图纸 HX-220", "industrial design drawings HX-220"),
    ("软件著作权 物流调度系统 V2.1", "software copyright: logistics dispatch system V2.1"),
    ("《早茶时光》短视频", "Dim Sum Mornings (video series)"),
    ("品牌视觉识别手册", "brand identity manual"),
];

const PURPOSES: &[&str] = &[
    "货物贸易 / trade in goods",
    "服务贸易 / trade in services",
    "运费 / freight",
    "投资收益 / investment income",
];

/// Envelope classes in the store, per mille.
const STATUSES: &[(&str, u64)] = &[
    ("not-envelope", 300),
    ("opened", 600),
    ("not-for-us", 60),
    ("malformed", 10),
    ("wrong-context", 10),
    ("wrong-key", 10),
    ("inconsistent", 10),
];

/// Scenario weights (percent).
const SCENARIO_WEIGHTS: [u64; 5] = [40, 25, 20, 8, 7];

/// Rare remarks appended to memos: (threshold out of 100,000, text).
const RARE_REMARKS: &[(u64, &str)] = &[
    (1_000, " 加急 urgent"),
    (1_200, " 滞纳金 late payment penalty"),
    (1_300, " chargeback dispute"),
    (1_350, " 账户冻结 account frozen pending review"),
    (1_370, " sanctions screening: manual review"),
];

struct Org {
    id: &'static str,
    zh: &'static str,
    en: &'static str,
    account: String,
}

/// What one payment is, before it becomes a document.
struct Spec {
    scenario: usize,
    action: &'static str,
    reference: String,
    payer: usize,
    payee: usize,
    amount: i64,
    currency: &'static str,
    memo: String,
    details: Vec<String>,
}

/// The deterministic record generator: the same seed and size give the
/// same records, a block at a time.
struct Generator {
    rng: ChaCha20Rng,
    seed: u64,
    orgs: Vec<Org>,
    by_kind: BTreeMap<&'static str, Vec<usize>>,
    contracts: Vec<String>,
    sealers: Vec<String>,
    clock: Clock,
    total: u64,
    produced: u64,
    height: i64,
    invoice_pool: u64,
    receivable_pool: u64,
    serial: u64,
    /// Every block's time, for query windows that hold something.
    block_times: Vec<i64>,
}

fn kind_key(k: OrgKind) -> &'static str {
    match k {
        Bank => "bank",
        HkBank => "hk-bank",
        Maker => "maker",
        Logistics => "logistics",
        Trader => "trader",
        HkTrader => "hk-trader",
        Media => "media",
        Registry => "registry",
        Clearing => "clearing",
        Offshore => "offshore",
    }
}

fn amount_text(cents: i64) -> String {
    Money::from_hundredths(cents).to_string()
}

impl Generator {
    fn new(seed: u64, total: u64) -> Self {
        let orgs: Vec<Org> = ORGS
            .iter()
            .enumerate()
            .map(|(i, &(id, zh, en, _))| Org {
                id,
                zh,
                en,
                account: hash_hex(seed, DOMAIN_ACCOUNT, i as u64)[..42].to_string(),
            })
            .collect();
        let mut by_kind: BTreeMap<&'static str, Vec<usize>> = BTreeMap::new();
        for (i, (_, _, _, k)) in ORGS.iter().enumerate() {
            by_kind.entry(kind_key(*k)).or_default().push(i);
        }
        let contracts = (0..SCENARIOS.len() as u64)
            .map(|i| hash_hex(seed, DOMAIN_CONTRACT, i)[..42].to_string())
            .collect();
        let sealers = (0..4u64)
            .map(|i| {
                let a = hex::encode(hash_bytes(seed, DOMAIN_SEALER, 2 * i));
                let b = hex::encode(hash_bytes(seed, DOMAIN_SEALER, 2 * i + 1));
                a + &b
            })
            .collect();
        Self {
            rng: ChaCha20Rng::seed_from_u64(seed),
            seed,
            orgs,
            by_kind,
            contracts,
            sealers,
            clock: Clock::new(),
            total,
            produced: 0,
            height: 0,
            invoice_pool: (total / 3).max(1_000),
            receivable_pool: (total / 20).max(500),
            serial: 0,
            block_times: Vec::new(),
        }
    }

    fn chance(&mut self, per_mille: u64) -> bool {
        below(&mut self.rng, 1_000) < per_mille
    }

    fn of(&mut self, kinds: &[OrgKind]) -> usize {
        let mut all = Vec::new();
        for k in kinds {
            if let Some(v) = self.by_kind.get(kind_key(*k)) {
                all.extend_from_slice(v);
            }
        }
        *pick(&mut self.rng, &all)
    }

    fn other_of(&mut self, kinds: &[OrgKind], not: usize) -> usize {
        loop {
            let o = self.of(kinds);
            if o != not {
                return o;
            }
        }
    }

    fn is(&self, org: usize, kind: OrgKind) -> bool {
        ORGS[org].3 == kind
    }

    /// An amount in hundredths between `lo` and `hi` whole units, spread
    /// evenly over the decades between them; most are whole units.
    fn amount(&mut self, lo: i64, hi: i64) -> i64 {
        let mut decades = Vec::new();
        let mut d = 1i64;
        while d * 10 <= lo {
            d *= 10;
        }
        while d < hi {
            decades.push((lo.max(d), hi.min(d * 10)));
            d *= 10;
        }
        let (a, b) = *pick(&mut self.rng, &decades);
        let units = a + below(&mut self.rng, (b - a).max(1) as u64) as i64;
        let cents = if self.chance(700) {
            0
        } else {
            below(&mut self.rng, 100) as i64
        };
        units * 100 + cents
    }

    fn next_serial(&mut self) -> u64 {
        self.serial += 1;
        self.serial
    }

    fn invoice(&mut self) -> (String, u64) {
        let n = below(&mut self.rng, self.invoice_pool);
        (format!("INV-2025-{n:06}"), n)
    }

    fn receivable(&mut self) -> String {
        let n = below(&mut self.rng, self.receivable_pool);
        format!("AR-2025-{n:06}")
    }

    fn currency(&mut self, table: &[(&'static str, u64)]) -> &'static str {
        let total: u64 = table.iter().map(|(_, w)| w).sum();
        let mut r = below(&mut self.rng, total);
        for &(c, w) in table {
            if r < w {
                return c;
            }
            r -= w;
        }
        table[0].0
    }

    fn trade(&mut self) -> Spec {
        let payer = self.of(&[Maker, Trader, HkTrader]);
        let mut payee = self.other_of(&[Maker, Trader, HkTrader, Logistics], payer);
        let (invoice, n) = self.invoice();
        let short = format!("2025-{n}");
        let (goods_zh, goods_en) = *pick(&mut self.rng, GOODS);
        let po = 10_000 + below(&mut self.rng, 90_000);
        let template = below(&mut self.rng, 8);
        let (action, memo) = match template {
            0 => ("pay-invoice", format!("货款 invoice {short}")),
            1 => ("pay-invoice", format!("Payment for invoice {invoice}")),
            2 => {
                payee = self.other_of(&[Logistics], payer);
                ("pay-freight", format!("运费 freight charges {invoice}"))
            }
            3 => ("pay-invoice", format!("采购货款 PO-{po} 尾款")),
            4 => (
                "pay-invoice",
                format!("Settlement of goods, 发票号 {invoice}"),
            ),
            5 => (
                "prepay-order",
                format!("预付款 advance payment for order PO-{po}"),
            ),
            6 => (
                "release-retention",
                format!(
                    "质保金 retention money released, contract HT-{}",
                    below(&mut self.rng, 5_000)
                ),
            ),
            _ => (
                "pay-invoice",
                format!(
                    "货款结算 {goods_zh} {} 件",
                    10 * (1 + below(&mut self.rng, 500))
                ),
            ),
        };
        let hk = self.is(payer, HkTrader) || self.is(payee, HkTrader);
        let currency = if hk {
            self.currency(&[("HKD", 1), ("USD", 1)])
        } else {
            self.currency(&[("CNY", 85), ("USD", 15)])
        };
        let amount = if currency == "CNY" && self.chance(20) {
            // Just under the 50,000 CNY reporting threshold.
            4_900_000 + below(&mut self.rng, 100_000) as i64
        } else {
            self.amount(5_000, 3_000_000)
        };
        Spec {
            scenario: TRADE,
            action,
            reference: invoice.clone(),
            payer,
            payee,
            amount,
            currency,
            memo,
            details: vec![
                format!("{goods_zh} / {goods_en}"),
                invoice,
                format!("PO-{po}"),
            ],
        }
    }

    fn remittance(&mut self) -> Spec {
        let serial = self.next_serial();
        let reference = format!("RMT-2025-{serial:08}");
        let outbound = self.chance(600);
        let (payer, payee, memo) = if outbound {
            let payer = self.of(&[Maker, Trader]);
            if self.chance(15) {
                let payee = self.of(&[Offshore]);
                (
                    payer,
                    payee,
                    "服务费 consulting fee, offshore advisory".to_string(),
                )
            } else {
                let payee = self.of(&[HkTrader]);
                let en = self.orgs[payee].en;
                let memo = match below(&mut self.rng, 5) {
                    0 => format!("跨境汇款 to HK supplier {en}"),
                    1 => format!("Cross-border payment for components, 货款 {reference}"),
                    2 => format!("服务费 consulting fee Q{}", 1 + below(&mut self.rng, 4)),
                    3 => {
                        let (invoice, _) = self.invoice();
                        format!("跨境汇款 货款 invoice {invoice}")
                    }
                    _ => format!("进口货款 import payment {reference}"),
                };
                (payer, payee, memo)
            }
        } else {
            let payer = self.of(&[HkTrader]);
            let payee = self.of(&[Maker, Trader]);
            let memo = match below(&mut self.rng, 4) {
                0 => "跨境汇款 from HK buyer, 货款".to_string(),
                1 => format!("Inbound remittance {reference}"),
                2 => "回款 sales proceeds from Hong Kong".to_string(),
                _ => format!("外汇结汇 FX settlement of export proceeds {reference}"),
            };
            (payer, payee, memo)
        };
        let memo = if self.chance(3) {
            format!("退汇 returned remittance, beneficiary account closed {reference}")
        } else {
            memo
        };
        let bank = if outbound {
            self.of(&[HkBank])
        } else {
            self.of(&[Bank])
        };
        let purpose = *pick(&mut self.rng, PURPOSES);
        let currency = self.currency(&[("HKD", 40), ("USD", 35), ("CNY", 25)]);
        let amount = self.amount(10_000, 2_000_000);
        Spec {
            scenario: REMIT,
            action: "remit",
            reference,
            payer,
            payee,
            amount,
            currency,
            memo,
            details: vec![
                format!("{} / {}", self.orgs[bank].zh, self.orgs[bank].en),
                purpose.to_string(),
            ],
        }
    }

    fn supply_chain(&mut self) -> Spec {
        let ar = self.receivable();
        let debtor = self.of(&[Maker]);
        let due = format!(
            "2026-{:02}-{:02}",
            1 + below(&mut self.rng, 12),
            1 + below(&mut self.rng, 28)
        );
        let mut details = vec!["应收账款融资 / receivables finance".to_string()];
        let (action, payer, payee, memo) = match below(&mut self.rng, 20) {
            0..=9 => {
                let payer = self.of(&[Maker]);
                let payee = self.other_of(&[Maker, Trader], payer);
                let memo = if self.chance(500) {
                    format!("应收账款转让 {ar}")
                } else {
                    format!("Receivable assignment {ar} as payment")
                };
                ("transfer-receivable", payer, payee, memo)
            }
            10..=15 => {
                let payer = self.of(&[Bank]);
                let payee = self.of(&[Maker]);
                let memo = if self.chance(500) {
                    format!("保理融资 factoring advance on {ar}")
                } else {
                    format!("应收账款融资放款 {ar}")
                };
                details.push(format!(
                    "{}.{:02}%",
                    2 + below(&mut self.rng, 4),
                    below(&mut self.rng, 100)
                ));
                ("finance-receivable", payer, payee, memo)
            }
            16..=17 => {
                let payer = self.of(&[Bank]);
                let payee = self.of(&[Maker]);
                (
                    "discount-bill",
                    payer,
                    payee,
                    format!("票据贴现 bill discounting, 商业汇票 {ar}"),
                )
            }
            _ => {
                let payee = self.other_of(&[Bank, Maker], debtor);
                (
                    "settle-receivable",
                    debtor,
                    payee,
                    format!("到期兑付 settlement of {ar} due {due}"),
                )
            }
        };
        details.push(format!(
            "{} / {}",
            self.orgs[debtor].zh, self.orgs[debtor].en
        ));
        details.push(due);
        let amount = self.amount(100_000, 20_000_000);
        Spec {
            scenario: SCF,
            action,
            reference: ar,
            payer,
            payee,
            amount,
            currency: "CNY",
            memo,
            details,
        }
    }

    fn copyright(&mut self) -> Spec {
        let serial = self.next_serial();
        let reference = format!("CR-2025-{serial:08}");
        let payer = self.of(&[Media]);
        let (zh, en) = *pick(&mut self.rng, WORKS);
        let (action, payee, memo) = match below(&mut self.rng, 5) {
            0 | 1 => (
                "register-work",
                self.of(&[Registry]),
                format!("数字版权登记 {zh}"),
            ),
            2 | 3 => (
                "register-work",
                self.of(&[Registry]),
                format!("Copyright registration fee: {en}"),
            ),
            _ => (
                "license-work",
                self.other_of(&[Media], payer),
                format!("版权转让 licence transfer of {en}"),
            ),
        };
        let amount = self.amount(300, 5_000);
        Spec {
            scenario: COPYRIGHT,
            action,
            reference: reference.clone(),
            payer,
            payee,
            amount,
            currency: "CNY",
            memo,
            details: vec![format!("{zh} / {en}"), reference],
        }
    }

    fn clearing(&mut self, time_ms: i64) -> Spec {
        let batch = (time_ms - START_MS).div_euclid(DAY_MS);
        let reference = format!("CLR-2025-{batch:05}");
        let house = self.of(&[Clearing]);
        let bank = self.of(&[Bank, HkBank]);
        let (action, payer, payee, memo) = if self.chance(500) {
            (
                "net-settle",
                bank,
                house,
                format!("清算 net settlement batch {reference}"),
            )
        } else {
            (
                "clearing-payout",
                house,
                bank,
                format!("清算分配 clearing payout {reference}"),
            )
        };
        let currency = self.currency(&[("CNY", 70), ("HKD", 30)]);
        let amount = self.amount(1_000_000, 200_000_000);
        Spec {
            scenario: CLEARING,
            action,
            reference,
            payer,
            payee,
            amount,
            currency,
            memo,
            details: Vec::new(),
        }
    }

    fn spec(&mut self, time_ms: i64) -> Spec {
        let mut r = below(&mut self.rng, 100);
        let mut scenario = 0;
        for (i, w) in SCENARIO_WEIGHTS.iter().enumerate() {
            if r < *w {
                scenario = i;
                break;
            }
            r -= w;
        }
        let mut s = match scenario {
            TRADE => self.trade(),
            REMIT => self.remittance(),
            SCF => self.supply_chain(),
            COPYRIGHT => self.copyright(),
            _ => self.clearing(time_ms),
        };
        let r = below(&mut self.rng, 100_000);
        if let Some((_, remark)) = RARE_REMARKS.iter().find(|(t, _)| r < *t) {
            s.memo.push_str(remark);
        }
        // A draw that once tagged night bursts for an index field the node
        // never writes; kept so that a seed generates the same chain as before.
        let _ = (1..4).contains(&local_hour(time_ms)) && self.chance(500);
        s
    }

    fn party_text(&self, org: usize, text: &mut String) {
        let o = &self.orgs[org];
        for v in [o.account.as_str(), o.id, o.zh, o.en] {
            text.push('\n');
            text.push_str(v);
        }
    }

    fn doc(
        &mut self,
        height: i64,
        index: u32,
        time_ms: i64,
        block_hash: &str,
        sealer: &str,
    ) -> TxDoc {
        let n = self.produced + u64::from(index);
        let mut r = below(&mut self.rng, 1_000);
        let mut status = STATUSES[0].0;
        for &(s, w) in STATUSES {
            if r < w {
                status = s;
                break;
            }
            r -= w;
        }
        let spec = self.spec(time_ms);
        let readable = status == "not-envelope" || status == "opened";
        let (business, text) = if readable {
            let (scenario, scenario_zh) = SCENARIOS[spec.scenario];
            let amount = amount_text(spec.amount);
            // Every string of the payload, as the indexer collects it.
            let mut text = String::with_capacity(512);
            text.push_str(spec.action);
            for v in [amount.as_str(), spec.currency] {
                text.push('\n');
                text.push_str(v);
            }
            for d in &spec.details {
                text.push('\n');
                text.push_str(d);
            }
            self.party_text(spec.payer, &mut text);
            for v in [
                spec.memo.as_str(),
                spec.reference.as_str(),
                scenario,
                scenario_zh,
            ] {
                text.push('\n');
                text.push_str(v);
            }
            text.push('\n');
            text.push_str(&beijing(time_ms));
            self.party_text(spec.payee, &mut text);
            let party = |o: &Org| Party {
                account: Some(o.account.clone()),
                id: Some(o.id.to_string()),
            };
            let business = Business {
                scenario: Some(scenario.to_string()),
                action: Some(spec.action.to_string()),
                reference: Some(spec.reference),
                payer: party(&self.orgs[spec.payer]),
                payee: party(&self.orgs[spec.payee]),
                amount: Some(Money::from_hundredths(spec.amount)),
                currency: Some(spec.currency.to_string()),
                memo: Some(spec.memo),
            };
            (business, text)
        } else {
            (Business::default(), String::new())
        };
        TxDoc {
            tx_hash: hash_hex(self.seed, DOMAIN_TX, n),
            block_hash: block_hash.to_string(),
            height,
            index,
            time_ms,
            from: Some(self.orgs[spec.payer].account.clone()),
            to: self.contracts[spec.scenario].clone(),
            sealer: Some(sealer.to_string()),
            method: Some("0x4b2c1f7e".to_string()),
            status: status.to_string(),
            business,
            text,
        }
    }

    /// The next block's documents into `out` (cleared first); false when
    /// every record has been made.
    fn next_block(&mut self, out: &mut Vec<TxDoc>) -> bool {
        out.clear();
        if self.produced >= self.total {
            return false;
        }
        let size = (400 + below(&mut self.rng, 201)).min(self.total - self.produced);
        self.height += 1;
        let time_ms = self.clock.at(2 * self.produced + size, 2 * self.total);
        self.block_times.push(time_ms);
        let block_hash = hash_hex(self.seed, DOMAIN_BLOCK, self.height as u64);
        let sealer = self.sealers[(self.height % 4) as usize].clone();
        for i in 0..size {
            let d = self.doc(self.height, i as u32, time_ms, &block_hash, &sealer);
            out.push(d);
        }
        self.produced += size;
        true
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
    ("发票", "settlement"), ("锂电池", "invoice"), ("汇丰", "remittance"), ("应收账款", "assignment"),
];
const RARE: &[&str] = &["加急", "滞纳金", "退汇", "chargeback", "冻结", "sanctions"];

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
                "an invoice or receivable number as typed; PG: ILIKE '%INV-2025-001234%'"
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

/// Draws the queries' parameters from the generator's vocabulary.
struct QueryGen {
    rng: ChaCha20Rng,
    seed: u64,
    total: u64,
    block_times: Vec<i64>,
    accounts: Vec<String>,
    invoice_pool: u64,
    receivable_pool: u64,
}

impl QueryGen {
    fn new(seed: u64, g: &Generator) -> Self {
        Self {
            rng: ChaCha20Rng::seed_from_u64(seed ^ 0x5EA2_C4B3_0000_0001),
            seed,
            total: g.total,
            block_times: g.block_times.clone(),
            accounts: g
                .orgs
                .iter()
                .enumerate()
                .filter(|(i, _)| ORGS[*i].3 != Offshore)
                .map(|(_, o)| o.account.clone())
                .collect(),
            invoice_pool: g.invoice_pool,
            receivable_pool: g.receivable_pool,
        }
    }

    /// A window of `len` ms around a random block, so that it holds some.
    fn window(&mut self, len: i64) -> (i64, i64) {
        let t = match self.block_times.len() {
            0 => START_MS,
            n => self.block_times[below(&mut self.rng, n as u64) as usize],
        };
        let start = t - below(&mut self.rng, len.max(1) as u64) as i64;
        (start, start + len - 1)
    }

    fn words(&mut self, from: &[&str]) -> String {
        (*pick(&mut self.rng, from)).to_string()
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
                let n = below(&mut self.rng, self.total);
                let h = hash_hex(self.seed, DOMAIN_TX, n);
                req.query = Some(h.clone());
                req.sort = Sort {
                    by: SortBy::Relevance,
                    descending: true,
                };
                (h.clone(), vec![Param::S(h)])
            }
            Kind::Reference => {
                let r = if self.rng.next_u32().is_multiple_of(2) {
                    format!("INV-2025-{:06}", below(&mut self.rng, self.invoice_pool))
                } else {
                    format!("AR-2025-{:06}", below(&mut self.rng, self.receivable_pool))
                };
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
                let (scenario, _) = *pick(&mut self.rng, &SCENARIOS);
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
    let mut g = Generator::new(opts.seed, n);
    let mut docs = Vec::new();
    let mut generating = Duration::ZERO;
    let mut since_commit = 0u64;
    let mut commits = 0;
    let mut last_hash = String::new();
    loop {
        let t = Instant::now();
        let more = g.next_block(&mut docs);
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
    let mut g = Generator::new(opts.seed, n);
    let mut docs = Vec::new();
    while g.next_block(&mut docs) {
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

fn checkpoint(g: &Generator, block_hash: &str) -> Checkpoint {
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
        let mut g = Generator::new(opts.seed, n);
        let mut docs = Vec::new();
        let mut buf = String::with_capacity(1 << 20);
        loop {
            let t = Instant::now();
            let more = g.next_block(&mut docs);
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

    #[test]
    fn beijing_time_and_the_clock() {
        assert_eq!(beijing(START_MS), "2025-07-01T00:00:00+08:00");
        assert_eq!(beijing(START_MS + 92 * DAY_MS), "2025-10-01T00:00:00+08:00");
        let c = Clock::new();
        let mut last = i64::MIN;
        for i in 0..1_000 {
            let t = c.at(2 * i + 1, 2_000);
            assert!(t > last);
            last = t;
        }
        assert!(last < START_MS + SPAN_DAYS * DAY_MS);
        // Business hours are busier than nights.
        let day = (0..1_000)
            .filter(|i| (9..18).contains(&local_hour(c.at(2 * i + 1, 2_000))))
            .count();
        assert!(day > 600, "{day}");
    }

    #[test]
    fn the_generator_is_deterministic_and_streams_blocks() {
        let mut a = Generator::new(7, 2_000);
        let mut b = Generator::new(7, 2_000);
        let (mut da, mut db) = (Vec::new(), Vec::new());
        let mut n = 0;
        let mut hashes = std::collections::HashSet::new();
        while a.next_block(&mut da) {
            assert!(b.next_block(&mut db));
            assert_eq!(da, db);
            for (i, d) in da.iter().enumerate() {
                assert_eq!(d.tx_hash, hash_hex(7, DOMAIN_TX, n + i as u64));
                assert!(hashes.insert(d.tx_hash.clone()));
                assert_eq!(d.tx_hash.len(), 66);
                assert_eq!(d.from.as_deref().map(str::len), Some(42));
            }
            n += da.len() as u64;
        }
        assert_eq!(n, 2_000);
    }

    #[test]
    fn copy_rows_escape_text() {
        let mut g = Generator::new(3, 600);
        let mut docs = Vec::new();
        assert!(g.next_block(&mut docs));
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
        let n = 3_000;
        let index = TxIndex::in_memory().expect("index");
        let mut writer = index.writer(1, 50 << 20).expect("writer");
        let mut g = Generator::new(11, n);
        let mut docs = Vec::new();
        let mut all = Vec::new();
        while g.next_block(&mut docs) {
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
        let search = Search::new(Arc::new(index));
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
