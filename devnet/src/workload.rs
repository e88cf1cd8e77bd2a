//! The business workload: the consortium's organisations, their transactions,
//! and the manifest of what was planted in them.
//!
//! This module owns
//! - the **organisations** of a Greater Bay Area consortium (banks, firms, a
//!   clearing house) and two outside parties on a watchlist, each with an
//!   account key of the chain's suite ([`NodeKey`]) and an SM2 *envelope* key
//!   (envelopes are always SM2, on standard chains too), and the regulator's
//!   envelope key;
//! - the **business scenarios** ([`Scenario`]): supply-chain finance
//!   receivables, cross-border remittance, trade settlement and digital
//!   copyright registration, with JSON payloads ([`Payload`]) carrying Chinese
//!   and English memos, amounts, currencies and counterparties;
//! - the **contract calls** that carry a payload: a public one calls its
//!   scenario's contract with the terms as arguments and the JSON record in
//!   a `bytes` argument, a private one calls `submitPrivate(ref, envelope)`
//!   ([`crate::contracts`]);
//! - the **privacy classes** ([`PrivacyClass`]) a payload is sent under, by
//!   configured shares: public, supervised (an envelope for both parties and the
//!   regulator), private-not-for-the-regulator, and inconsistent (the
//!   regulator's wrap holds another data key than the committed one);
//! - the **business-rule findings** ([`Finding`]) planted in readable traffic:
//!   structuring, round-tripping, payments to listed parties, night-time
//!   bursts;
//! - the **driver** ([`Workload`]) that turns all this into signed
//!   transactions, seals them into [`Devnet`] blocks, and records every
//!   transaction in a [`Manifest`] that tests compare with what the observer
//!   finds; or, without a chain, gives the same business as payloads in the
//!   clear ([`Workload::business_block`]), which is what every benchmark
//!   that needs business data generates.
//!
//! # Reproducibility
//!
//! Every key, amount and choice of the business is drawn from one ChaCha20
//! stream seeded by the caller, the clock of [`Workload::next_timestamp`]
//! from a second one, and envelopes, nonces and import times from a third,
//! so the business of a seed is the same whether or not its transactions
//! are sealed and signed. Only integer arithmetic shapes the data, so a seed
//! and the same sequence of calls give byte-identical chains on any machine.
//!
//! # What the finding tags mean
//!
//! A finding tag on a transaction in the manifest means exactly that the
//! finding's definition below selects it, computed over the transactions the
//! regulator can read (classes `public` and `opened`) in chain order. The
//! generator plants episodes of each finding and keeps ordinary traffic clear
//! of the definitions, so the tagged transactions are the planted ones; the
//! definitions' parameters are in [`FindingRules`] (and in the manifest).
//!
//! - `structuring`: a CNY payment of at least `threshold − band` and below
//!   `threshold` (default 49,000 to 49,999.99 under 50,000), from a payer
//!   that makes at least `min_count` such payments within some time window of
//!   `window_ms` (both ends inclusive).
//! - `round-trip`: a payment A→B and a later payment B→A in the same currency
//!   within `window_ms`, whose amounts differ by at most `tolerance_bp` basis
//!   points of the first; both legs are tagged.
//! - `listed-party`: the payee is on the watchlist.
//! - `night-burst`: a payment made between 01:00 and 04:00 Beijing time
//!   (UTC+8) by a payer that makes at least `night_burst_min` such payments on
//!   the same night.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::OnceLock;

use chain::CryptoSuite;
use chain::crypto::Address;
use privacy::envelope::{Class, DataKey, Envelope, SealingSession, TxContext};
use privacy::keys::{PrivateKey, PublicKey};
use privacy::pke::{CipherFormat, encrypt_with};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::chain::{ChainError, Devnet};
use crate::contracts;
use crate::signer::{NodeKey, SignerError};

/// Milliseconds in an hour.
const HOUR_MS: i64 = 3_600_000;
/// Milliseconds in a day.
const DAY_MS: i64 = 24 * HOUR_MS;
/// Beijing time is UTC+8.
const BEIJING_OFFSET_MS: i64 = 8 * HOUR_MS;
/// Night window start, Beijing local hour.
pub const NIGHT_START_HOUR: i64 = 1;
/// Night window end (exclusive), Beijing local hour.
pub const NIGHT_END_HOUR: i64 = 4;
/// Business day start, Beijing local hour (for [`Workload::next_timestamp`]).
const BUSINESS_START_HOUR: i64 = 9;
/// Business day end, Beijing local hour.
const BUSINESS_END_HOUR: i64 = 18;
/// The currency structuring is defined in.
pub const STRUCTURING_CURRENCY: &str = "CNY";

/// Why the workload could not generate.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    /// The configuration is unusable; the message names the field.
    #[error("workload config: {0}")]
    Config(String),
    /// An account key could not be made or used.
    #[error(transparent)]
    Signer(#[from] SignerError),
    /// An envelope key, a wrap or an envelope could not be made.
    #[error("envelope: {0}")]
    Envelope(#[from] privacy::Error),
    /// The devnet refused a transaction or a block.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// A contract call could not be made.
    #[error(transparent)]
    Contract(#[from] crate::contracts::ContractError),
    /// The devnet is not the chain this workload was made for.
    #[error("devnet mismatch: {0}")]
    Mismatch(String),
    /// A block timestamp earlier than the previous block's.
    #[error("block timestamp {given} ms is before the previous block's {last} ms")]
    TimeWentBack {
        /// The previous block's timestamp.
        last: i64,
        /// The timestamp asked for.
        given: i64,
    },
}

/// The shape of the workload. Every field has a default ([`Default`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkloadConfig {
    /// Share of transactions sent in plaintext (class `public`). Default 0.20.
    pub public_share: f64,
    /// Share of private transactions wrapped for the parties only (class
    /// `not-for-us`). Default 0.03.
    pub not_for_us_share: f64,
    /// Share of envelopes whose regulator wrap holds another data key (class
    /// `inconsistent`). Default 0.02. The rest of the traffic is supervised
    /// (class `opened`).
    pub inconsistent_share: f64,
    /// Share of transactions that belong to planted structuring episodes.
    /// Default 0.02.
    pub structuring_share: f64,
    /// Share of transactions that are legs of planted round trips. Default 0.02.
    pub round_trip_share: f64,
    /// Share of transactions that are planted payments to listed parties.
    /// Default 0.01.
    pub listed_party_share: f64,
    /// Reuse one sealing session (data key and wraps) per (payer, payee,
    /// recipient set) instead of a fresh data key per envelope. Default false.
    pub session_reuse: bool,
    /// Structuring threshold in whole CNY. Default 50,000.
    pub structuring_threshold: u64,
    /// How far under the threshold counts as "just under", in whole CNY.
    /// Default 1,000 (49,000 to 49,999.99).
    pub structuring_band: u64,
    /// Fewest just-under payments from one payer that make structuring.
    /// Default 3.
    pub structuring_min_count: usize,
    /// The window those payments fall in, ms. Default one hour.
    pub structuring_window_ms: i64,
    /// Longest time between the legs of a round trip, ms. Default 10 minutes.
    pub round_trip_window_ms: i64,
    /// Largest difference of the legs' amounts, in basis points of the first
    /// leg. Default 200 (2%).
    pub round_trip_tolerance_bp: u64,
    /// Fewest night payments by one payer that make a night burst. Default 8.
    pub night_burst_min: usize,
    /// Bursts planted in each block whose timestamp falls in the night window
    /// (01:00 to 04:00 Beijing). Default 1; 0 plants none.
    pub night_bursts_per_block: usize,
    /// First timestamp of [`Workload::next_timestamp`], ms since the epoch.
    /// Default 2026-03-02 09:00 Beijing time.
    pub start_ms: i64,
    /// Mean time between business-hour blocks of
    /// [`Workload::next_timestamp`], ms. Default 30 s.
    pub block_interval_ms: i64,
    /// Every this many blocks [`Workload::next_timestamp`] puts one in the
    /// coming night's 01:00 to 04:00 window. Default 8; 0 never does.
    pub night_block_every: usize,
}

impl Default for WorkloadConfig {
    fn default() -> Self {
        Self {
            public_share: 0.20,
            not_for_us_share: 0.03,
            inconsistent_share: 0.02,
            structuring_share: 0.02,
            round_trip_share: 0.02,
            listed_party_share: 0.01,
            session_reuse: false,
            structuring_threshold: 50_000,
            structuring_band: 1_000,
            structuring_min_count: 3,
            structuring_window_ms: HOUR_MS,
            round_trip_window_ms: 10 * 60_000,
            round_trip_tolerance_bp: 200,
            night_burst_min: 8,
            night_bursts_per_block: 1,
            // 2026-03-02T09:00:00+08:00
            start_ms: 1_772_413_200_000,
            block_interval_ms: 30_000,
            night_block_every: 8,
        }
    }
}

impl WorkloadConfig {
    /// This configuration with the clock of [`Workload::next_timestamp`]
    /// fitted so that `blocks` blocks span about `days` days, for runs of
    /// millions of transactions that should cover months, as a real
    /// chain's history does: `night_block_every` becomes the blocks per
    /// day, and the day's business blocks spread over business hours. A
    /// day holds two blocks at least (one by day, one at night), so fewer
    /// blocks than `2 × days` span fewer days.
    pub fn with_span(mut self, blocks: u64, days: u64) -> Self {
        let per_day = (blocks / days.max(1)).max(2);
        self.night_block_every = usize::try_from(per_day).unwrap_or(usize::MAX);
        // Eight of the nine business hours, so that the random intervals
        // rarely run past the day's end.
        let by_day = i64::try_from(per_day - 1).unwrap_or(i64::MAX);
        self.block_interval_ms = (8 * HOUR_MS / by_day).clamp(1_000, HOUR_MS);
        self
    }

    /// Share of supervised (`opened`) transactions: what the other classes
    /// leave.
    pub fn supervised_share(&self) -> f64 {
        1.0 - self.public_share - self.not_for_us_share - self.inconsistent_share
    }

    /// The finding definitions this configuration plants.
    pub fn rules(&self) -> FindingRules {
        FindingRules {
            structuring_currency: STRUCTURING_CURRENCY.into(),
            structuring_threshold: self.structuring_threshold,
            structuring_band: self.structuring_band,
            structuring_min_count: self.structuring_min_count,
            structuring_window_ms: self.structuring_window_ms,
            round_trip_window_ms: self.round_trip_window_ms,
            round_trip_tolerance_bp: self.round_trip_tolerance_bp,
            night_utc_offset_hours: BEIJING_OFFSET_MS / HOUR_MS,
            night_start_hour: NIGHT_START_HOUR,
            night_end_hour: NIGHT_END_HOUR,
            night_burst_min: self.night_burst_min,
        }
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), WorkloadError> {
        let bad = |m: String| Err(WorkloadError::Config(m));
        for (name, v) in [
            ("public_share", self.public_share),
            ("not_for_us_share", self.not_for_us_share),
            ("inconsistent_share", self.inconsistent_share),
            ("structuring_share", self.structuring_share),
            ("round_trip_share", self.round_trip_share),
            ("listed_party_share", self.listed_party_share),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return bad(format!("{name} must be between 0 and 1, got {v}"));
            }
        }
        if self.supervised_share() < -1e-9 {
            return bad(format!(
                "public_share + not_for_us_share + inconsistent_share must be at most 1, got {}",
                1.0 - self.supervised_share()
            ));
        }
        let planted = self.planted_share();
        let readable = self.readable_share();
        if planted >= 1.0 || planted > readable + 1e-9 {
            return bad(format!(
                "the finding shares add up to {planted}, more than the readable share \
                 (public + supervised) of {readable}: findings are planted in readable traffic"
            ));
        }
        if self.structuring_band == 0 || self.structuring_band >= self.structuring_threshold {
            return bad(format!(
                "structuring_band must be between 1 and structuring_threshold - 1, got {}",
                self.structuring_band
            ));
        }
        if self.structuring_threshold > 1_000_000_000 {
            return bad("structuring_threshold must be at most 1,000,000,000".into());
        }
        if self.structuring_min_count < 2 {
            return bad("structuring_min_count must be at least 2".into());
        }
        if self.night_burst_min < 2 {
            return bad("night_burst_min must be at least 2".into());
        }
        if self.round_trip_tolerance_bp < 10 || self.round_trip_tolerance_bp > 5_000 {
            return bad(format!(
                "round_trip_tolerance_bp must be between 10 and 5000, got {}",
                self.round_trip_tolerance_bp
            ));
        }
        for (name, v) in [
            ("structuring_window_ms", self.structuring_window_ms),
            ("round_trip_window_ms", self.round_trip_window_ms),
            ("block_interval_ms", self.block_interval_ms),
        ] {
            if v <= 0 {
                return bad(format!("{name} must be positive, got {v}"));
            }
        }
        if self.block_interval_ms > HOUR_MS {
            return bad("block_interval_ms must be at most an hour".into());
        }
        Ok(())
    }

    fn readable_share(&self) -> f64 {
        self.public_share + self.supervised_share().max(0.0)
    }

    fn planted_share(&self) -> f64 {
        self.structuring_share + self.round_trip_share + self.listed_party_share
    }
}

/// The parameters of the finding definitions (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingRules {
    /// Currency of structuring, `CNY`.
    pub structuring_currency: String,
    /// Threshold, whole units.
    pub structuring_threshold: u64,
    /// Band under the threshold, whole units.
    pub structuring_band: u64,
    /// Fewest payments in the window.
    pub structuring_min_count: usize,
    /// Window, ms, both ends inclusive.
    pub structuring_window_ms: i64,
    /// Longest time between round-trip legs, ms.
    pub round_trip_window_ms: i64,
    /// Largest amount difference, basis points of the first leg.
    pub round_trip_tolerance_bp: u64,
    /// Offset of the night's local time from UTC, hours (8: Beijing).
    pub night_utc_offset_hours: i64,
    /// Night window start, local hour (inclusive).
    pub night_start_hour: i64,
    /// Night window end, local hour (exclusive).
    pub night_end_hour: i64,
    /// Fewest night payments by one payer in one night.
    pub night_burst_min: usize,
}

/// Whether `timestamp_ms` is in the night window, 01:00 to 04:00 Beijing time.
pub fn is_beijing_night(timestamp_ms: i64) -> bool {
    let local = (timestamp_ms + BEIJING_OFFSET_MS).rem_euclid(DAY_MS);
    (NIGHT_START_HOUR * HOUR_MS..NIGHT_END_HOUR * HOUR_MS).contains(&local)
}

/// The Beijing calendar day of `timestamp_ms`, as days since 1970-01-01.
pub fn beijing_day(timestamp_ms: i64) -> i64 {
    (timestamp_ms + BEIJING_OFFSET_MS).div_euclid(DAY_MS)
}

/// `timestamp_ms` as ISO 8601 in Beijing time, e.g. `2026-03-02T09:00:05+08:00`.
pub fn beijing_time(timestamp_ms: i64) -> String {
    let local = timestamp_ms + BEIJING_OFFSET_MS;
    let (y, m, d) = civil_from_days(local.div_euclid(DAY_MS));
    let s = local.rem_euclid(DAY_MS) / 1000;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}+08:00",
        s / 3600,
        (s / 60) % 60,
        s % 60
    )
}

/// Proleptic Gregorian date of a day count (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A line of the consortium's business.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// 供应链金融: receivables transferred, financed and settled.
    SupplyChainFinance,
    /// 跨境汇款: remittances between the mainland and Hong Kong.
    CrossBorderRemittance,
    /// 贸易结算: invoices paid between firms.
    TradeSettlement,
    /// 数字版权登记: registration fees for digital works.
    CopyrightRegistration,
}

impl Scenario {
    /// Every scenario, in a stable order.
    pub const ALL: [Scenario; 4] = [
        Scenario::SupplyChainFinance,
        Scenario::CrossBorderRemittance,
        Scenario::TradeSettlement,
        Scenario::CopyrightRegistration,
    ];

    /// The kebab-case id used in payloads and the manifest.
    pub fn as_str(self) -> &'static str {
        match self {
            Scenario::SupplyChainFinance => "supply-chain-finance",
            Scenario::CrossBorderRemittance => "cross-border-remittance",
            Scenario::TradeSettlement => "trade-settlement",
            Scenario::CopyrightRegistration => "copyright-registration",
        }
    }

    /// The Chinese name.
    pub fn name_zh(self) -> &'static str {
        match self {
            Scenario::SupplyChainFinance => "供应链金融·应收账款",
            Scenario::CrossBorderRemittance => "跨境汇款",
            Scenario::TradeSettlement => "贸易结算",
            Scenario::CopyrightRegistration => "数字版权登记",
        }
    }

    /// The scenario's contract: `0x` and 40 lowercase hex digits, the last
    /// 20 bytes of SM3 of `lookthrough/devnet/contract/<id>`, the same on
    /// every chain.
    pub fn contract_address(self) -> &'static str {
        static ADDRESSES: OnceLock<[String; 4]> = OnceLock::new();
        let all = ADDRESSES.get_or_init(|| {
            Scenario::ALL.map(|s| {
                let id = format!("lookthrough/devnet/contract/{}", s.as_str());
                let h = privacy::hash::sm3(id.as_bytes());
                format!("0x{}", hex::encode(&h[12..]))
            })
        });
        &all[self as usize]
    }

    /// The scenario whose contract is `address` (any case, with or without `0x`).
    pub fn from_contract(address: &str) -> Option<Scenario> {
        let want = address.trim_start_matches("0x").to_ascii_lowercase();
        Scenario::ALL
            .into_iter()
            .find(|s| s.contract_address()[2..] == want)
    }
}

/// How a transaction's payload is sent, as the regulator classifies it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PrivacyClass {
    /// Plaintext JSON in the input.
    #[serde(rename = "public")]
    Public,
    /// Supervised: an envelope for both parties and the regulator.
    #[serde(rename = "opened")]
    Opened,
    /// Private: an envelope for the parties only.
    #[serde(rename = "not-for-us")]
    NotForUs,
    /// An envelope whose regulator wrap holds another data key than the one
    /// it commits to (the parties open it; the regulator cannot).
    #[serde(rename = "inconsistent")]
    Inconsistent,
}

impl PrivacyClass {
    /// Every class, in a stable order.
    pub const ALL: [PrivacyClass; 4] = [
        PrivacyClass::Public,
        PrivacyClass::Opened,
        PrivacyClass::NotForUs,
        PrivacyClass::Inconsistent,
    ];

    /// The name: `public`, `opened`, `not-for-us`, `inconsistent` (the
    /// envelope classes of `docs/envelope.md` §7, with `public` for
    /// `not-envelope`).
    pub fn as_str(self) -> &'static str {
        match self {
            PrivacyClass::Public => "public",
            PrivacyClass::Opened => "opened",
            PrivacyClass::NotForUs => "not-for-us",
            PrivacyClass::Inconsistent => "inconsistent",
        }
    }

    /// Whether the regulator can read the payload.
    pub fn readable(self) -> bool {
        matches!(self, PrivacyClass::Public | PrivacyClass::Opened)
    }

    /// The class the regulator's keyring gives the payload, as the store
    /// keeps it (`not-envelope` for a public payload).
    pub fn envelope_class(self) -> Class {
        match self {
            PrivacyClass::Public => Class::NotEnvelope,
            PrivacyClass::Opened => Class::Opened,
            PrivacyClass::NotForUs => Class::NotForUs,
            PrivacyClass::Inconsistent => Class::Inconsistent,
        }
    }
}

/// A business-rule finding (see the module documentation for definitions).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Finding {
    /// Payments just under a threshold, several from one payer in a window.
    Structuring,
    /// A→B then B→A of nearly the same amount within minutes.
    RoundTrip,
    /// A payment to a party on the watchlist.
    ListedParty,
    /// Many payments from one payer between 01:00 and 04:00 Beijing time.
    NightBurst,
}

impl Finding {
    /// Every finding, in a stable order.
    pub const ALL: [Finding; 4] = [
        Finding::Structuring,
        Finding::RoundTrip,
        Finding::ListedParty,
        Finding::NightBurst,
    ];

    /// The tag: `structuring`, `round-trip`, `listed-party`, `night-burst`.
    pub fn as_str(self) -> &'static str {
        match self {
            Finding::Structuring => "structuring",
            Finding::RoundTrip => "round-trip",
            Finding::ListedParty => "listed-party",
            Finding::NightBurst => "night-burst",
        }
    }
}

/// What an organisation is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OrgKind {
    /// A bank.
    Bank,
    /// A firm.
    Firm,
    /// The clearing house.
    ClearingHouse,
}

/// An organisation and its keys.
#[derive(Debug, Clone)]
pub struct Organisation {
    /// Short id, e.g. `icbc-sz`.
    pub id: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// What it is.
    pub kind: OrgKind,
    /// Whether it is a member of the consortium (listed parties are not).
    pub member: bool,
    /// Its account key, of the chain's suite: it signs its transactions.
    pub account: NodeKey,
    /// Its SM2 envelope key: envelopes to it are wrapped for this key.
    pub envelope_key: PrivateKey,
    /// [`Organisation::address_hex`], made once: every payload names it.
    address_hex: String,
}

impl Organisation {
    /// The account address.
    pub fn address(&self) -> Address {
        self.account.address()
    }

    /// The account address as `0x` and 40 lowercase hex digits.
    pub fn address_hex(&self) -> &str {
        &self.address_hex
    }

    fn record(&self) -> OrgRecord {
        OrgRecord {
            id: self.id.clone(),
            name_zh: self.name_zh.clone(),
            name_en: self.name_en.clone(),
            kind: self.kind,
            member: self.member,
            address: self.address_hex.clone(),
            envelope_key_id: self.envelope_key.key_id().to_hex(),
        }
    }
}

struct OrgSpec {
    id: &'static str,
    name_zh: &'static str,
    name_en: &'static str,
    kind: OrgKind,
    member: bool,
}

const fn org(
    id: &'static str,
    name_zh: &'static str,
    name_en: &'static str,
    kind: OrgKind,
    member: bool,
) -> OrgSpec {
    OrgSpec {
        id,
        name_zh,
        name_en,
        kind,
        member,
    }
}

// The banks are real institutions; the firms, the clearing house and the
// listed parties are invented.
const ORGS: &[OrgSpec] = &[
    org(
        "icbc-sz",
        "中国工商银行深圳分行",
        "ICBC Shenzhen Branch",
        OrgKind::Bank,
        true,
    ),
    org(
        "cmb",
        "招商银行",
        "China Merchants Bank",
        OrgKind::Bank,
        true,
    ),
    org(
        "boc-hk",
        "中国银行（香港）",
        "Bank of China (Hong Kong)",
        OrgKind::Bank,
        true,
    ),
    org(
        "pengcheng-electronics",
        "深圳鹏程精密电子有限公司",
        "Shenzhen Pengcheng Precision Electronics Co., Ltd.",
        OrgKind::Firm,
        true,
    ),
    org(
        "jinggong-machinery",
        "东莞精工机械制造有限公司",
        "Dongguan Jinggong Machinery Manufacturing Co., Ltd.",
        OrgKind::Firm,
        true,
    ),
    org(
        "shunda-logistics",
        "顺达国际物流有限公司",
        "Shunda International Logistics Co., Ltd.",
        OrgKind::Firm,
        true,
    ),
    org(
        "yuehai-trading",
        "粤海进出口贸易有限公司",
        "Yuehai Import & Export Trading Co., Ltd.",
        OrgKind::Firm,
        true,
    ),
    org(
        "hengtong-hk",
        "恒通电子元件（香港）有限公司",
        "Hang Tung Electronic Components (HK) Ltd.",
        OrgKind::Firm,
        true,
    ),
    org(
        "huawen-copyright",
        "华文数字版权代理有限公司",
        "Huawen Digital Copyright Agency Co., Ltd.",
        OrgKind::Firm,
        true,
    ),
    org(
        "guangying-media",
        "深圳光影文化传媒有限公司",
        "Shenzhen Guangying Culture Media Co., Ltd.",
        OrgKind::Firm,
        true,
    ),
    org(
        "gba-clearing",
        "粤港澳大湾区跨境清算中心",
        "Greater Bay Area Cross-border Clearing House",
        OrgKind::ClearingHouse,
        true,
    ),
    org(
        "ocean-star",
        "远洋星辰贸易有限公司",
        "Ocean Star Trading Ltd.",
        OrgKind::Firm,
        false,
    ),
    org(
        "golden-ear",
        "金穗离岸控股有限公司",
        "Golden Ear Offshore Holdings Ltd.",
        OrgKind::Firm,
        false,
    ),
];

// Indices into ORGS.
const ICBC: usize = 0;
const CMB: usize = 1;
const BOC_HK: usize = 2;
const PENGCHENG: usize = 3;
const JINGGONG: usize = 4;
const SHUNDA: usize = 5;
const YUEHAI: usize = 6;
const HENGTONG: usize = 7;
const HUAWEN: usize = 8;
const GUANGYING: usize = 9;
const CLEARING: usize = 10;
const OCEAN_STAR: usize = 11;
const GOLDEN_EAR: usize = 12;

const MAINLAND_BANKS: &[usize] = &[ICBC, CMB];
const MAKERS: &[usize] = &[PENGCHENG, JINGGONG];
const TRADERS: &[usize] = &[PENGCHENG, JINGGONG, SHUNDA, YUEHAI, GUANGYING];
const MAINLAND_FIRMS: &[usize] = &[PENGCHENG, JINGGONG, SHUNDA, YUEHAI];
const FIRMS_WHO_PAY: &[usize] = &[PENGCHENG, JINGGONG, SHUNDA, YUEHAI, HENGTONG, GUANGYING];

/// Remarks added now and then to an ordinary payment's memo, 1.6% of them
/// in all: (threshold out of 100,000, text). Rare words are what a search
/// for an exception (an urgent payment, a dispute, a frozen account) looks
/// for.
const RARE_REMARKS: &[(u64, &str)] = &[
    (800, " 加急 urgent"),
    (1_100, " 滞纳金 late payment penalty"),
    (1_300, " chargeback dispute"),
    (1_500, " 账户冻结 account frozen pending review"),
    (1_600, " sanctions screening: manual review"),
];

/// The watchlist: (org, list, reason).
const LISTED: &[(usize, &str, &str)] = &[
    (
        OCEAN_STAR,
        "demo-sanctions",
        "制裁名单（演示） / on a demo sanctions list",
    ),
    (
        GOLDEN_EAR,
        "internal",
        "疑似空壳公司 / suspected shell company (internal list)",
    ),
];

/// One entry of the watchlist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchlistEntry {
    /// Organisation id.
    pub org_id: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Account address, `0x` and lowercase hex.
    pub address: String,
    /// Which list it is on.
    pub list: String,
    /// Why.
    pub reason: String,
}

/// A party of a payment as the payload names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartyRef {
    /// Organisation id.
    pub id: String,
    /// Chinese name.
    pub name: String,
    /// English name.
    pub name_en: String,
    /// Account address, `0x` and lowercase hex.
    pub account: String,
}

/// The JSON payload of every workload transaction (plaintext or sealed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    /// [`Scenario::as_str`].
    pub scenario: String,
    /// [`Scenario::name_zh`].
    pub scenario_zh: String,
    /// What happens, e.g. `pay-invoice`, `transfer-receivable`.
    pub action: String,
    /// The business reference: invoice, receivable, remittance or
    /// registration number.
    pub reference: String,
    /// The paying party.
    pub from: PartyRef,
    /// The receiving party.
    pub to: PartyRef,
    /// Decimal amount with two fraction digits, e.g. `49870.00`.
    pub amount: String,
    /// ISO 4217 code: `CNY`, `HKD` or `USD`.
    pub currency: String,
    /// Free text, Chinese and English.
    pub memo: String,
    /// Business time, ISO 8601 in Beijing time.
    pub time: String,
    /// Scenario-specific fields (invoice number, due date, work title, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, String>,
}

/// An organisation as the manifest records it (no secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgRecord {
    /// Id.
    pub id: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Kind.
    pub kind: OrgKind,
    /// Consortium member.
    pub member: bool,
    /// Account address.
    pub address: String,
    /// SM3 key id of its envelope key, hex.
    pub envelope_key_id: String,
}

/// One generated transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxRecord {
    /// Transaction hash, `0x` and lowercase hex.
    pub tx_hash: String,
    /// Block height.
    pub block_height: i64,
    /// Index in the block.
    pub index: usize,
    /// The block's timestamp, ms.
    pub timestamp_ms: i64,
    /// Scenario.
    pub scenario: Scenario,
    /// The payload's action.
    pub action: String,
    /// The payload's business reference.
    pub reference: String,
    /// Privacy class.
    pub class: PrivacyClass,
    /// Finding tags (empty for most transactions).
    pub findings: Vec<Finding>,
    /// Decimal amount, as in the payload.
    pub amount: String,
    /// The amount in hundredths.
    pub amount_cents: u64,
    /// Currency.
    pub currency: String,
    /// Paying organisation id.
    pub payer: String,
    /// Receiving organisation id.
    pub payee: String,
    /// Memo, as in the payload.
    pub memo: String,
    /// Transaction sender (the payer's account), `0x` and lowercase hex.
    pub sender: String,
    /// Contract called.
    pub contract: String,
}

/// One generated block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockRecord {
    /// Height.
    pub height: i64,
    /// Block hash, `0x` and lowercase hex.
    pub hash: String,
    /// Timestamp, ms.
    pub timestamp_ms: i64,
    /// Number of transactions.
    pub txs: usize,
}

/// Counts over the manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Blocks generated.
    pub blocks: usize,
    /// Transactions generated.
    pub transactions: usize,
    /// Transactions per privacy class (every class present, zeros too).
    pub classes: BTreeMap<String, usize>,
    /// Transactions carrying each finding tag (every tag present).
    pub findings: BTreeMap<String, usize>,
}

/// Everything the workload generated, for tests and the demo to compare with
/// what the observer finds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version, 1.
    pub version: u32,
    /// The seed.
    pub seed: u64,
    /// Chain suite, `sm` or `standard`.
    pub suite: String,
    /// Chain id.
    pub chain_id: String,
    /// Group id.
    pub group_id: String,
    /// The regulator's envelope key id (SM3 of its public key), hex.
    pub regulator_key_id: String,
    /// The configuration.
    pub config: WorkloadConfig,
    /// The finding definitions.
    pub rules: FindingRules,
    /// Scenario → contract address.
    pub contracts: BTreeMap<String, String>,
    /// The organisations (members and listed parties).
    pub organisations: Vec<OrgRecord>,
    /// The watchlist.
    pub watchlist: Vec<WatchlistEntry>,
    /// Counts.
    pub summary: Summary,
    /// Every block, in order.
    pub blocks: Vec<BlockRecord>,
    /// Every transaction, in chain order.
    pub transactions: Vec<TxRecord>,
}

impl Manifest {
    /// The record of the transaction with this hash (`0x` hex, any case).
    pub fn transaction(&self, tx_hash: &str) -> Option<&TxRecord> {
        let want = tx_hash.to_ascii_lowercase();
        self.transactions.iter().find(|t| t.tx_hash == want)
    }
}

/// One transaction's business, as [`Workload::business_block`] draws it:
/// what a chain built from the same seed carries, in the clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessTx {
    /// How it would be sent; the regulator reads the payload of the
    /// [readable](PrivacyClass::readable) classes only.
    pub class: PrivacyClass,
    /// Its scenario (the contract it calls).
    pub scenario: Scenario,
    /// The paying organisation (the sender), an index into
    /// [`Workload::organisations`].
    pub payer: usize,
    /// The receiving organisation, an index into
    /// [`Workload::organisations`].
    pub payee: usize,
    /// The JSON payload ([`Payload`]) in the clear: what the input carries
    /// for a public transaction, and what the envelope seals otherwise.
    pub payload: Vec<u8>,
}

/// A transaction fully specified, before it is sealed and signed.
#[derive(Debug, Clone)]
struct Spec {
    scenario: Scenario,
    action: &'static str,
    reference: String,
    payer: usize,
    payee: usize,
    amount: u64,
    currency: &'static str,
    memo: String,
    details: BTreeMap<String, String>,
    role: Role,
}

/// What part a transaction plays, for keeping it clear of the definitions
/// it is not meant to meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Ordinary traffic, or a planted listed-party or night payment: its
    /// amount may move to stay clear of structuring and round trips.
    Free,
    /// A structuring part: its amount stays in the band.
    Structuring,
    /// The first leg of round trip `id`.
    First(u64),
    /// The second leg of round trip `id`, `fee_bp` under the first.
    Second {
        /// Round trip.
        id: u64,
        /// Basis points kept back.
        fee_bp: u64,
    },
}

/// A slot of a block.
#[derive(Debug, Clone)]
enum Plan {
    /// Ordinary traffic, drawn in its turn.
    Regular,
    /// A planted transaction; sent in a readable class.
    Planted(Spec),
}

/// A round trip's second leg waiting for a later block.
#[derive(Debug, Clone)]
struct PendingReturn {
    first_ms: i64,
    spec: Spec,
}

/// One transaction of a block as drawn: its business and its class, before
/// it is sealed and signed (if it ever is).
#[derive(Debug)]
struct Drawn {
    spec: Spec,
    class: PrivacyClass,
}

/// A readable transaction kept for the round-trip definition.
#[derive(Debug, Clone)]
struct Recent {
    ts: i64,
    payer: usize,
    payee: usize,
    currency: &'static str,
    amount: u64,
    idx: usize,
}

/// The generator and driver.
#[derive(Debug)]
pub struct Workload {
    config: WorkloadConfig,
    suite: CryptoSuite,
    chain_id: String,
    group_id: String,
    /// The business: parties, amounts, memos, classes, planted findings.
    rng: ChaCha20Rng,
    /// The block clock of [`Workload::next_timestamp`].
    clock_rng: ChaCha20Rng,
    /// Emission: envelopes, nonces and import times. Kept apart so that the
    /// business stream is the same whether or not a chain is built.
    seal_rng: ChaCha20Rng,
    /// Transactions emitted so far (the low bits of each nonce).
    sealed: u64,
    orgs: Vec<Organisation>,
    regulator: PrivateKey,
    watchlist: Vec<WatchlistEntry>,
    /// Cumulative thresholds of the regular class draw.
    regular_classes: [f64; 4],
    sessions: HashMap<(usize, usize, bool), SealingSession>,
    pending: Vec<PendingReturn>,
    /// Final first-leg amounts of round trips whose second leg is to come.
    trip_amounts: HashMap<u64, u64>,
    manifest: Manifest,
    /// Whether the manifest keeps a record of every block and transaction.
    keep_records: bool,
    seq: u64,
    last_block_ms: Option<i64>,
    clock_last: Option<i64>,
    clock_blocks: u64,
    // Tagging state (readable transactions only).
    recent: VecDeque<Recent>,
    in_band: HashMap<usize, VecDeque<(i64, usize)>>,
    night_day: i64,
    night_groups: HashMap<usize, Vec<usize>>,
}

impl Workload {
    /// A workload for a chain of `suite` with these ids, every random choice
    /// drawn from `seed`; the regulator's envelope key is generated too.
    pub fn new(
        config: WorkloadConfig,
        suite: CryptoSuite,
        chain_id: &str,
        group_id: &str,
        seed: u64,
    ) -> Result<Self, WorkloadError> {
        Self::build(config, suite, chain_id, group_id, seed, None)
    }

    /// As [`Workload::new`], with the regulator's envelope key given.
    pub fn with_regulator_key(
        config: WorkloadConfig,
        suite: CryptoSuite,
        chain_id: &str,
        group_id: &str,
        seed: u64,
        regulator: PrivateKey,
    ) -> Result<Self, WorkloadError> {
        Self::build(config, suite, chain_id, group_id, seed, Some(regulator))
    }

    fn build(
        config: WorkloadConfig,
        suite: CryptoSuite,
        chain_id: &str,
        group_id: &str,
        seed: u64,
        regulator: Option<PrivateKey>,
    ) -> Result<Self, WorkloadError> {
        config.validate()?;
        // Checks the ids against the envelope limits once, up front.
        TxContext::new(chain_id, group_id, [0; 20])?;
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let clock_rng = ChaCha20Rng::seed_from_u64(seed ^ 0x6c6f_6f6b_636c_6f63);
        let seal_rng = ChaCha20Rng::seed_from_u64(seed ^ 0x6c6f_6f6b_7365_616c);
        let mut orgs = Vec::with_capacity(ORGS.len());
        for spec in ORGS {
            let account = NodeKey::generate(suite, &mut rng)?;
            let envelope_key = PrivateKey::generate_with(&mut rng)?;
            let address_hex = format!("0x{}", hex::encode(account.address()));
            orgs.push(Organisation {
                id: spec.id.into(),
                name_zh: spec.name_zh.into(),
                name_en: spec.name_en.into(),
                kind: spec.kind,
                member: spec.member,
                account,
                envelope_key,
                address_hex,
            });
        }
        let regulator = match regulator {
            Some(k) => k,
            None => PrivateKey::generate_with(&mut rng)?,
        };
        let watchlist: Vec<WatchlistEntry> = LISTED
            .iter()
            .map(|&(i, list, reason)| WatchlistEntry {
                org_id: orgs[i].id.clone(),
                name_zh: orgs[i].name_zh.clone(),
                name_en: orgs[i].name_en.clone(),
                address: orgs[i].address_hex.clone(),
                list: list.into(),
                reason: reason.into(),
            })
            .collect();

        // Planted transactions are readable; draw ordinary traffic so that
        // the overall shares come out as configured.
        let planted = config.planted_share();
        let readable = config.readable_share();
        let keep = if readable > 0.0 {
            1.0 - planted / readable
        } else {
            1.0
        };
        let rest = 1.0 - planted;
        let p = [
            config.public_share * keep / rest,
            config.supervised_share().max(0.0) * keep / rest,
            config.not_for_us_share / rest,
            config.inconsistent_share / rest,
        ];
        let regular_classes = [p[0], p[0] + p[1], p[0] + p[1] + p[2], 2.0];

        let summary = Summary {
            blocks: 0,
            transactions: 0,
            classes: PrivacyClass::ALL
                .iter()
                .map(|c| (c.as_str().to_string(), 0))
                .collect(),
            findings: Finding::ALL
                .iter()
                .map(|f| (f.as_str().to_string(), 0))
                .collect(),
        };
        let manifest = Manifest {
            version: 1,
            seed,
            suite: suite.name().into(),
            chain_id: chain_id.into(),
            group_id: group_id.into(),
            regulator_key_id: regulator.key_id().to_hex(),
            rules: config.rules(),
            config: config.clone(),
            contracts: Scenario::ALL
                .iter()
                .map(|s| (s.as_str().to_string(), s.contract_address().to_string()))
                .collect(),
            organisations: orgs.iter().map(Organisation::record).collect(),
            watchlist: watchlist.clone(),
            summary,
            blocks: Vec::new(),
            transactions: Vec::new(),
        };
        Ok(Self {
            config,
            suite,
            chain_id: chain_id.into(),
            group_id: group_id.into(),
            rng,
            clock_rng,
            seal_rng,
            sealed: 0,
            orgs,
            regulator,
            watchlist,
            regular_classes,
            sessions: HashMap::new(),
            pending: Vec::new(),
            trip_amounts: HashMap::new(),
            manifest,
            keep_records: true,
            seq: 0,
            last_block_ms: None,
            clock_last: None,
            clock_blocks: 0,
            recent: VecDeque::new(),
            in_band: HashMap::new(),
            night_day: i64::MIN,
            night_groups: HashMap::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &WorkloadConfig {
        &self.config
    }

    /// The regulator's SM2 envelope key: load it into a
    /// [`privacy::keyring::Keyring`] to open the supervised envelopes.
    pub fn regulator_key(&self) -> &PrivateKey {
        &self.regulator
    }

    /// Every organisation: the consortium members, then the listed parties.
    pub fn organisations(&self) -> &[Organisation] {
        &self.orgs
    }

    /// The organisation with this id.
    pub fn organisation(&self, id: &str) -> Option<&Organisation> {
        self.orgs.iter().find(|o| o.id == id)
    }

    /// The watchlist.
    pub fn watchlist(&self) -> &[WatchlistEntry] {
        &self.watchlist
    }

    /// The manifest so far.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The manifest, consuming the workload.
    pub fn into_manifest(self) -> Manifest {
        self.manifest
    }

    /// Whether the manifest keeps a record of every block and transaction
    /// from now on (the default). Without records a workload runs in
    /// bounded memory for millions of transactions: the summary still counts
    /// blocks, transactions and classes, but no finding tags, and
    /// [`Workload::generate_block`] returns no records.
    pub fn keep_records(&mut self, keep: bool) {
        self.keep_records = keep;
    }

    /// The next block timestamp of the workload's business clock: the first
    /// call gives `start_ms`; then blocks come every `block_interval_ms` or so
    /// during business hours (09:00 to 18:00 Beijing), and every
    /// `night_block_every`-th block falls in the coming night's 01:00 to 04:00
    /// window, after which the clock resumes at 09:00.
    pub fn next_timestamp(&mut self) -> i64 {
        self.clock_blocks += 1;
        let Some(last) = self.clock_last else {
            self.clock_last = Some(self.config.start_ms);
            return self.config.start_ms;
        };
        let local = last + BEIJING_OFFSET_MS;
        let day = local.div_euclid(DAY_MS);
        let hour_ms = local.rem_euclid(DAY_MS);
        let every = self.config.night_block_every as u64;
        let ts = if every > 0 && self.clock_blocks.is_multiple_of(every) {
            let night_day = if hour_ms < NIGHT_START_HOUR * HOUR_MS {
                day
            } else {
                day + 1
            };
            let span = (NIGHT_END_HOUR - NIGHT_START_HOUR) * HOUR_MS - 10 * 60_000;
            night_day * DAY_MS + NIGHT_START_HOUR * HOUR_MS - BEIJING_OFFSET_MS
                + 5 * 60_000
                + below(&mut self.clock_rng, span as u64) as i64
        } else if hour_ms < BUSINESS_START_HOUR * HOUR_MS {
            day * DAY_MS + BUSINESS_START_HOUR * HOUR_MS - BEIJING_OFFSET_MS
                + below(&mut self.clock_rng, 600_000) as i64
        } else {
            let interval = self.config.block_interval_ms;
            let next = last + interval / 2 + below(&mut self.clock_rng, interval as u64) as i64 + 1;
            if (next + BEIJING_OFFSET_MS).rem_euclid(DAY_MS) >= BUSINESS_END_HOUR * HOUR_MS {
                (day + 1) * DAY_MS + BUSINESS_START_HOUR * HOUR_MS - BEIJING_OFFSET_MS
                    + below(&mut self.clock_rng, 600_000) as i64
            } else {
                next
            }
        };
        let ts = ts.max(last + 1);
        self.clock_last = Some(ts);
        ts
    }

    /// Generates `blocks` blocks of `txs_per_block` transactions at the
    /// times of [`Workload::next_timestamp`].
    pub fn generate(
        &mut self,
        devnet: &mut Devnet,
        blocks: usize,
        txs_per_block: usize,
    ) -> Result<(), WorkloadError> {
        for _ in 0..blocks {
            let ts = self.next_timestamp();
            self.generate_block(devnet, txs_per_block, ts)?;
        }
        Ok(())
    }

    /// Creates `txs` transactions, seals them into the next block of
    /// `devnet` at `timestamp_ms`, and records them in the manifest. Returns
    /// the new records (none without [`Workload::keep_records`]); a later
    /// block may add a tag to them (the second leg of a round trip, more
    /// night payments by the same payer).
    ///
    /// A block whose timestamp falls between 01:00 and 04:00 Beijing time
    /// carries `night_bursts_per_block` planted night bursts. Timestamps must
    /// not go back. On error the devnet is unchanged, but the workload's
    /// random stream has moved on.
    pub fn generate_block(
        &mut self,
        devnet: &mut Devnet,
        txs: usize,
        timestamp_ms: i64,
    ) -> Result<&[TxRecord], WorkloadError> {
        self.check_devnet(devnet)?;
        let drawn = self.draw_block(txs, timestamp_ms)?;
        let mut sealed = Vec::with_capacity(drawn.len());
        for d in &drawn {
            sealed.push(self.emit(devnet, &d.spec, d.class, timestamp_ms)?);
        }
        let hashes: Vec<String> = sealed
            .iter()
            .map(|t| format!("0x{}", hex::encode(t.claimed_hash)))
            .collect();
        let block = devnet.seal_block(sealed, timestamp_ms)?;
        let height = block.header.number;
        let hash = block.header.claimed_hash;
        let first = self.manifest.transactions.len();
        self.record_block(BlockRecord {
            height,
            hash: format!("0x{}", hex::encode(hash)),
            timestamp_ms,
            txs: drawn.len(),
        });
        for (index, (d, tx_hash)) in drawn.into_iter().zip(hashes).enumerate() {
            self.commit(d, tx_hash, height, index, timestamp_ms);
        }
        Ok(&self.manifest.transactions[first..])
    }

    /// The business of the next block, without a chain: exactly the
    /// transactions [`Workload::generate_block`] would seal at
    /// `timestamp_ms` (same classes, same payloads in the clear, same
    /// planted findings), for benchmarks that need the business data and
    /// not the chain. The manifest records them as a block of height one
    /// more than the blocks so far, with empty hashes.
    ///
    /// A workload may mix the two (the random streams of the business and
    /// of the envelopes are separate), but a chain built by
    /// `generate_block` then lacks the blocks made here.
    pub fn business_block(
        &mut self,
        txs: usize,
        timestamp_ms: i64,
    ) -> Result<Vec<BusinessTx>, WorkloadError> {
        let drawn = self.draw_block(txs, timestamp_ms)?;
        let business = drawn
            .iter()
            .map(|d| BusinessTx {
                class: d.class,
                scenario: d.spec.scenario,
                payer: d.spec.payer,
                payee: d.spec.payee,
                payload: self.payload(&d.spec, timestamp_ms),
            })
            .collect();
        let height = i64::try_from(self.manifest.summary.blocks)
            .unwrap_or(i64::MAX)
            .saturating_add(1);
        self.record_block(BlockRecord {
            height,
            hash: String::new(),
            timestamp_ms,
            txs: drawn.len(),
        });
        for (index, d) in drawn.into_iter().enumerate() {
            self.commit(d, String::new(), height, index, timestamp_ms);
        }
        Ok(business)
    }

    fn record_block(&mut self, block: BlockRecord) {
        self.last_block_ms = Some(block.timestamp_ms);
        self.manifest.summary.blocks += 1;
        if self.keep_records {
            self.manifest.blocks.push(block);
        }
    }

    /// The business of the next block at `timestamp_ms`: the plan (planted
    /// episodes and ordinary traffic), each transaction's class, and the
    /// final specs, steered clear of accidental findings. Nothing is sealed
    /// or recorded yet.
    fn draw_block(&mut self, txs: usize, timestamp_ms: i64) -> Result<Vec<Drawn>, WorkloadError> {
        if let Some(last) = self.last_block_ms
            && timestamp_ms < last
        {
            return Err(WorkloadError::TimeWentBack {
                last,
                given: timestamp_ms,
            });
        }
        let plans = self.plan_block(txs, timestamp_ms);
        let mut drawn: Vec<Drawn> = Vec::with_capacity(plans.len());
        for plan in plans {
            let (spec, readable_only) = match plan {
                Plan::Regular => (None, false),
                Plan::Planted(spec) => (Some(spec), true),
            };
            let class = self.draw_class(readable_only);
            let spec = match spec {
                Some(s) => self.settle_planted(s, timestamp_ms, &drawn),
                None => self.regular_spec(timestamp_ms, &drawn),
            };
            drawn.push(Drawn { spec, class });
        }
        Ok(drawn)
    }

    fn check_devnet(&self, devnet: &Devnet) -> Result<(), WorkloadError> {
        let c = devnet.config();
        if c.suite != self.suite || c.chain_id != self.chain_id || c.group_id != self.group_id {
            return Err(WorkloadError::Mismatch(format!(
                "the workload is for {}/{}/{}, the devnet is {}/{}/{}",
                self.suite.name(),
                self.chain_id,
                self.group_id,
                c.suite.name(),
                c.chain_id,
                c.group_id
            )));
        }
        Ok(())
    }

    // ---- planning -------------------------------------------------------

    fn plan_block(&mut self, txs: usize, ts: i64) -> Vec<Plan> {
        let mut body: Vec<Plan> = Vec::with_capacity(txs);
        let mut tail: Vec<Plan> = Vec::new();

        // Second legs of round trips begun in earlier blocks.
        let window = self.config.round_trip_window_ms;
        let pending = std::mem::take(&mut self.pending);
        for p in pending {
            if ts - p.first_ms > window {
                // Too late: the first leg stays an ordinary payment.
                if let Role::Second { id, .. } = p.spec.role {
                    self.trip_amounts.remove(&id);
                }
                continue;
            }
            if body.len() < txs {
                body.push(Plan::Planted(p.spec));
            } else {
                self.pending.push(p);
            }
        }

        if is_beijing_night(ts) {
            for _ in 0..self.config.night_bursts_per_block {
                let room = txs - body.len();
                if room == 0 {
                    break;
                }
                let k = (self.config.night_burst_min + below(&mut self.rng, 4) as usize).min(room);
                body.extend(self.night_burst(k, ts).into_iter().map(Plan::Planted));
            }
        }

        let min = self.config.structuring_min_count;
        let avg_structuring = min as f64 + 1.0;
        let p_struct = self.config.structuring_share / avg_structuring;
        let p_round = self.config.round_trip_share / 2.0;
        let p_listed = self.config.listed_party_share;
        while body.len() + tail.len() < txs {
            let room = txs - body.len() - tail.len();
            let u = unit(&mut self.rng);
            if u < p_struct {
                if room >= min {
                    let k = (min + below(&mut self.rng, 3) as usize).min(room);
                    body.extend(self.structuring(k, ts).into_iter().map(Plan::Planted));
                    continue;
                }
            } else if u < p_struct + p_round {
                if room >= 2 || self.chance(0.5) {
                    let (first, second) = self.round_trip(ts);
                    body.push(Plan::Planted(first));
                    if room >= 2 && self.chance(0.3) {
                        tail.push(Plan::Planted(second));
                    } else {
                        self.pending.push(PendingReturn {
                            first_ms: ts,
                            spec: second,
                        });
                    }
                    continue;
                }
            } else if u < p_struct + p_round + p_listed {
                body.push(Plan::Planted(self.listed_payment(ts)));
                continue;
            }
            body.push(Plan::Regular);
        }
        // Interleave; second legs planted in this block go after their
        // first legs, at the end.
        for i in (1..body.len()).rev() {
            let j = below(&mut self.rng, i as u64 + 1) as usize;
            body.swap(i, j);
        }
        body.extend(tail);
        body
    }

    fn draw_class(&mut self, readable_only: bool) -> PrivacyClass {
        if readable_only {
            let public = self.config.public_share;
            let readable = self.config.readable_share();
            return if readable > 0.0 && unit(&mut self.rng) * readable < public {
                PrivacyClass::Public
            } else {
                PrivacyClass::Opened
            };
        }
        let u = unit(&mut self.rng);
        let c = &self.regular_classes;
        if u < c[0] {
            PrivacyClass::Public
        } else if u < c[1] {
            PrivacyClass::Opened
        } else if u < c[2] {
            PrivacyClass::NotForUs
        } else {
            PrivacyClass::Inconsistent
        }
    }

    // ---- the business ---------------------------------------------------

    fn pick(&mut self, from: &[usize]) -> usize {
        from[below(&mut self.rng, from.len() as u64) as usize]
    }

    fn pick_other(&mut self, from: &[usize], not: usize) -> usize {
        let others: Vec<usize> = from.iter().copied().filter(|&i| i != not).collect();
        self.pick(&others)
    }

    fn chance(&mut self, p: f64) -> bool {
        unit(&mut self.rng) < p
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// An amount in hundredths between `lo` and `hi` whole units: a decade
    /// chosen uniformly, then a value in it, often rounded.
    fn amount(&mut self, lo: u64, hi: u64) -> u64 {
        let lo = lo.max(1);
        let hi = hi.max(lo);
        let mut decades = Vec::new();
        let mut d = 1u64;
        while d * 10 <= lo {
            d *= 10;
        }
        while d <= hi {
            decades.push(d);
            d = d.saturating_mul(10);
        }
        let base = self.pick_u64(&decades);
        let a = lo.max(base);
        let b = hi.min(base.saturating_mul(10) - 1);
        let mut units = a + below(&mut self.rng, b - a + 1);
        match below(&mut self.rng, 3) {
            0 if units >= 10_000 => units = units / 1000 * 1000,
            1 if units >= 1_000 => units = units / 100 * 100,
            _ => {}
        }
        let units = units.clamp(lo, hi);
        let cents = if below(&mut self.rng, 4) == 0 {
            below(&mut self.rng, 100)
        } else {
            0
        };
        units * 100 + cents
    }

    fn pick_u64(&mut self, from: &[u64]) -> u64 {
        if from.is_empty() {
            return 1;
        }
        from[below(&mut self.rng, from.len() as u64) as usize]
    }

    /// Whether a CNY amount is in the structuring band.
    fn in_band(&self, currency: &str, cents: u64) -> bool {
        let t = self.config.structuring_threshold * 100;
        let lo = (self.config.structuring_threshold - self.config.structuring_band) * 100;
        currency == STRUCTURING_CURRENCY && (lo..t).contains(&cents)
    }

    /// An invoice number and its short form. The pool is wide (a million
    /// numbers) so that an invoice stays rare in a benchmark's millions of
    /// transactions, as a reference search expects.
    fn invoice(&mut self) -> (String, String) {
        let n = 100 + self.next_seq() % 999_900;
        (format!("INV-2026-{n:06}"), format!("2026-{n}"))
    }

    fn trade_spec(&mut self, payer: usize, payee: usize, lo: u64, hi: u64) -> Spec {
        let (invoice_no, short) = self.invoice();
        let currency = if payee == HENGTONG || payer == HENGTONG {
            if self.chance(0.5) { "HKD" } else { "USD" }
        } else if self.chance(0.85) {
            "CNY"
        } else {
            "USD"
        };
        let amount = self.amount(lo, hi);
        let memo = match below(&mut self.rng, 6) {
            // Every fiftieth invoice, a counterparty's memo carrying markup:
            // chain-supplied text is untrusted, and readers must show it as
            // text (the draw above is kept, so the traffic is otherwise
            // unchanged).
            _ if short.ends_with("50") || short.ends_with("00") => {
                format!("<script>alert('货款')</script> 货款 invoice {short}")
            }
            0 => format!("货款 invoice {short}"),
            1 => format!("Payment for invoice {invoice_no}"),
            2 => format!("运费 freight invoice {short}"),
            3 => format!("采购货款 PO-{} 尾款", 8_000 + self.next_seq() % 2_000),
            4 => format!("Settlement of goods, 发票号 {invoice_no}"),
            _ => format!(
                "质保金 retention money released, contract HT-2026-{:04}",
                self.next_seq() % 10_000
            ),
        };
        let mut details = BTreeMap::new();
        details.insert("invoice_no".into(), invoice_no.clone());
        details.insert(
            "goods".into(),
            self.pick_str(&[
                "PCB 主板 / PCB mainboards",
                "数控机床配件 / CNC machine parts",
                "集装箱运输 / container freight",
                "LED 显示模组 / LED display modules",
                "锂电池组 / lithium battery packs",
            ]),
        );
        Spec {
            scenario: Scenario::TradeSettlement,
            action: "pay-invoice",
            reference: invoice_no,
            payer,
            payee,
            amount,
            currency,
            memo,
            details,
            role: Role::Free,
        }
    }

    fn pick_str(&mut self, from: &[&str]) -> String {
        from[below(&mut self.rng, from.len() as u64) as usize].to_string()
    }

    fn remittance_spec(&mut self, payer: usize, payee: usize, lo: u64, hi: u64) -> Spec {
        let currency = match below(&mut self.rng, 20) {
            0..=7 => "HKD",
            8..=14 => "USD",
            _ => "CNY",
        };
        let amount = self.amount(lo, hi);
        let seq = self.next_seq();
        let reference = format!("RMT-2026-{:06}", seq % 1_000_000);
        let to_hk = matches!(payee, HENGTONG | BOC_HK | OCEAN_STAR | GOLDEN_EAR);
        let memo = if to_hk {
            match below(&mut self.rng, 4) {
                0 => "跨境汇款 to HK supplier".to_string(),
                1 => format!("Cross-border payment for components, 货款 {reference}"),
                2 => "服务费 consulting fee Q1".to_string(),
                _ => format!("跨境汇款 货款 invoice 2026-{}", 100 + seq % 900),
            }
        } else {
            match below(&mut self.rng, 4) {
                0 => "跨境汇款 from HK buyer, 货款".to_string(),
                1 => format!("Inbound remittance {reference}"),
                2 => format!("外汇结汇 FX settlement of export proceeds {reference}"),
                _ => "回款 sales proceeds from Hong Kong".to_string(),
            }
        };
        // Now and then the beneficiary's bank sends the money back.
        let memo = if self.chance(0.003) {
            format!("退汇 returned remittance, beneficiary account closed {reference}")
        } else {
            memo
        };
        let bank = if to_hk {
            BOC_HK
        } else {
            self.pick(MAINLAND_BANKS)
        };
        let mut details = BTreeMap::new();
        details.insert(
            "beneficiary_bank".into(),
            format!("{} / {}", self.orgs[bank].name_zh, self.orgs[bank].name_en),
        );
        details.insert(
            "purpose".into(),
            self.pick_str(&[
                "货物贸易 / trade in goods",
                "服务贸易 / trade in services",
                "运费 / freight",
            ]),
        );
        Spec {
            scenario: Scenario::CrossBorderRemittance,
            action: "remit",
            reference,
            payer,
            payee,
            amount,
            currency,
            memo,
            details,
            role: Role::Free,
        }
    }

    fn receivable_spec(&mut self) -> Spec {
        let seq = self.next_seq();
        let receivable = format!("AR-2026-{:05}", seq % 100_000);
        let debtor = self.pick(MAKERS);
        let due = format!(
            "2026-{:02}-{:02}",
            4 + below(&mut self.rng, 9),
            1 + below(&mut self.rng, 28)
        );
        let (action, payer, payee, memo) = match below(&mut self.rng, 20) {
            0..=9 => {
                let payer = self.pick(&[JINGGONG, SHUNDA, YUEHAI]);
                let payee = self.pick_other(MAINLAND_FIRMS, payer);
                let memo = if self.chance(0.5) {
                    format!("应收账款转让 {receivable}")
                } else {
                    format!("Receivable assignment {receivable} as payment")
                };
                ("transfer-receivable", payer, payee, memo)
            }
            10..=15 => {
                let payer = self.pick(MAINLAND_BANKS);
                let payee = self.pick(&[JINGGONG, SHUNDA, YUEHAI]);
                let memo = if self.chance(0.5) {
                    format!("保理融资 factoring advance on {receivable}")
                } else {
                    format!("应收账款融资放款 {receivable}")
                };
                ("finance-receivable", payer, payee, memo)
            }
            16..=17 => {
                // A bank discounts a commercial bill drawn on the debtor.
                let payer = self.pick(MAINLAND_BANKS);
                let payee = self.pick(&[JINGGONG, SHUNDA, YUEHAI]);
                let memo = format!("票据贴现 bill discounting, 商业汇票 {receivable}");
                ("discount-bill", payer, payee, memo)
            }
            _ => {
                let payee = self.pick_other(&[ICBC, CMB, JINGGONG, SHUNDA, YUEHAI], debtor);
                let memo = format!("到期兑付 settlement of {receivable} due {due}");
                ("settle-receivable", debtor, payee, memo)
            }
        };
        let amount = self.amount(100_000, 20_000_000);
        let mut details = BTreeMap::new();
        details.insert("receivable_id".into(), receivable.clone());
        details.insert(
            "debtor".into(),
            format!(
                "{} / {}",
                self.orgs[debtor].name_zh, self.orgs[debtor].name_en
            ),
        );
        details.insert("due_date".into(), due);
        if action == "finance-receivable" || action == "discount-bill" {
            details.insert(
                "discount_rate".into(),
                format!(
                    "{}.{:02}%",
                    3 + below(&mut self.rng, 3),
                    below(&mut self.rng, 100)
                ),
            );
        }
        Spec {
            scenario: Scenario::SupplyChainFinance,
            action,
            reference: receivable,
            payer,
            payee,
            amount,
            currency: "CNY",
            memo,
            details,
            role: Role::Free,
        }
    }

    fn copyright_spec(&mut self) -> Spec {
        const WORKS: &[(&str, &str)] = &[
            ("《湾区夜色》摄影集", "Bay Area Nights (photo collection)"),
            ("《深圳制造》纪录片", "Made in Shenzhen (documentary)"),
            ("工业设计图纸 PCB-A17", "industrial design drawing PCB-A17"),
            (
                "《潮汕味道》美食短视频",
                "Flavours of Chaoshan (video series)",
            ),
            ("品牌标识 Logo v3", "brand logo v3"),
            (
                "软件著作权 仓储管理系统 V3.2",
                "software copyright: warehouse system V3.2",
            ),
        ];
        let payer = self.pick(&[GUANGYING, GUANGYING, PENGCHENG, JINGGONG]);
        let (zh, en) = WORKS[below(&mut self.rng, WORKS.len() as u64) as usize];
        let seq = self.next_seq();
        let reference = format!("CR-2026-{:06}", seq % 1_000_000);
        let digest = self.suite.hash(format!("{zh}/{seq}").as_bytes());
        let amount = self.amount(300, 5_000);
        let memo = if self.chance(0.5) {
            format!("数字版权登记 {zh}")
        } else {
            format!("Copyright registration fee: {en}")
        };
        let mut details = BTreeMap::new();
        details.insert("work_title".into(), format!("{zh} / {en}"));
        details.insert("work_digest".into(), hex::encode(digest));
        details.insert("registration_no".into(), reference.clone());
        Spec {
            scenario: Scenario::CopyrightRegistration,
            action: "register-work",
            reference,
            payer,
            payee: HUAWEN,
            amount,
            currency: "CNY",
            memo,
            details,
            role: Role::Free,
        }
    }

    /// One ordinary payment of any scenario.
    fn ordinary(&mut self) -> Spec {
        match below(&mut self.rng, 20) {
            0..=5 => self.receivable_spec(),
            6..=10 => {
                let (payer, payee) = if self.chance(0.7) {
                    let payer = self.pick(&[PENGCHENG, JINGGONG, YUEHAI, SHUNDA, ICBC, CMB]);
                    (payer, self.pick(&[HENGTONG, BOC_HK]))
                } else {
                    let payer = self.pick(&[HENGTONG, BOC_HK]);
                    (payer, self.pick(&[PENGCHENG, YUEHAI, JINGGONG]))
                };
                self.remittance_spec(payer, payee, 5_000, 2_000_000)
            }
            11..=17 => {
                if self.chance(0.15) {
                    let payer = self.pick(TRADERS);
                    let mut s = self.trade_spec(payer, CLEARING, 50_000, 5_000_000);
                    s.action = "net-settlement";
                    s.memo = format!("清算 net settlement batch {}", s.reference);
                    s
                } else if self.chance(0.1) {
                    let payee = self.pick(MAINLAND_FIRMS);
                    let mut s = self.trade_spec(CLEARING, payee, 50_000, 5_000_000);
                    s.action = "net-settlement";
                    s.memo = format!("清算分配 clearing payout {}", s.reference);
                    s
                } else {
                    let payer = self.pick(TRADERS);
                    let payee =
                        self.pick_other(&[PENGCHENG, JINGGONG, SHUNDA, YUEHAI, HENGTONG], payer);
                    self.trade_spec(payer, payee, 10_000, 5_000_000)
                }
            }
            _ => self.copyright_spec(),
        }
    }

    /// An ordinary payment kept clear of every finding definition.
    fn regular_spec(&mut self, ts: i64, drawn: &[Drawn]) -> Spec {
        let night = is_beijing_night(ts);
        let cap = self.config.night_burst_min.saturating_sub(1);
        let mut spec = self.ordinary();
        for _ in 0..16 {
            if !night || self.night_count(spec.payer, ts, drawn) < cap {
                break;
            }
            spec = self.ordinary();
        }
        self.steer_clear(&mut spec, ts, drawn);
        let r = below(&mut self.rng, 100_000);
        if let Some((_, remark)) = RARE_REMARKS.iter().find(|&&(t, _)| r < t) {
            spec.memo.push_str(remark);
        }
        spec
    }

    /// Moves a free amount out of the structuring band and away from any
    /// earlier payment it would make a round trip with.
    fn steer_clear(&mut self, spec: &mut Spec, ts: i64, drawn: &[Drawn]) {
        for _ in 0..16 {
            let bad_band = self.in_band(spec.currency, spec.amount);
            let bad_trip = self.reverse_match(spec, ts, drawn);
            if !bad_band && !bad_trip {
                break;
            }
            // Move the amount well away: up by a third and then some.
            spec.amount = spec.amount + spec.amount / 3 + 100 * (1 + below(&mut self.rng, 997));
        }
    }

    /// Final amounts of planted transactions, now that the earlier traffic
    /// is known: free ones and first legs steer clear of accidental
    /// findings; second legs follow their first leg's final amount.
    fn settle_planted(&mut self, mut spec: Spec, ts: i64, drawn: &[Drawn]) -> Spec {
        match spec.role {
            Role::Free => self.steer_clear(&mut spec, ts, drawn),
            Role::Structuring => {}
            Role::First(id) => {
                self.steer_clear(&mut spec, ts, drawn);
                self.trip_amounts.insert(id, spec.amount);
            }
            Role::Second { id, fee_bp } => {
                if let Some(first) = self.trip_amounts.remove(&id) {
                    spec.amount = first - first * fee_bp / 10_000;
                }
            }
        }
        spec
    }

    /// Readable night payments by `payer` on `ts`'s night so far.
    fn night_count(&self, payer: usize, ts: i64, drawn: &[Drawn]) -> usize {
        let earlier = if beijing_day(ts) == self.night_day {
            self.night_groups.get(&payer).map_or(0, Vec::len)
        } else {
            0
        };
        earlier
            + drawn
                .iter()
                .filter(|e| e.class.readable() && e.spec.payer == payer)
                .count()
    }

    /// Whether an earlier payment in the other direction is within the
    /// round-trip definition of `spec`.
    fn reverse_match(&self, spec: &Spec, ts: i64, drawn: &[Drawn]) -> bool {
        let window = self.config.round_trip_window_ms;
        let tol = self.config.round_trip_tolerance_bp;
        let hit = |payer: usize, payee: usize, currency: &str, amount: u64| {
            payer == spec.payee
                && payee == spec.payer
                && currency == spec.currency
                && amounts_close(amount, spec.amount, tol)
        };
        self.recent
            .iter()
            .any(|r| ts - r.ts <= window && hit(r.payer, r.payee, r.currency, r.amount))
            || drawn
                .iter()
                .any(|e| hit(e.spec.payer, e.spec.payee, e.spec.currency, e.spec.amount))
    }

    fn structuring(&mut self, k: usize, _ts: i64) -> Vec<Spec> {
        // Payees never structure, so two episodes never pay each other back.
        let payer = self.pick(&[YUEHAI, JINGGONG, PENGCHENG, GUANGYING]);
        let payee = self.pick(&[SHUNDA, CLEARING]);
        let lo = self.config.structuring_threshold - self.config.structuring_band;
        (0..k)
            .map(|_| {
                let mut s = self.trade_spec(payer, payee, 1, 2);
                s.currency = STRUCTURING_CURRENCY;
                let units = lo + below(&mut self.rng, self.config.structuring_band);
                s.amount = units * 100 + below(&mut self.rng, 100) * u64::from(self.chance(0.3));
                s.role = Role::Structuring;
                s
            })
            .collect()
    }

    fn round_trip(&mut self, _ts: i64) -> (Spec, Spec) {
        let a = self.pick(FIRMS_WHO_PAY);
        let b = self.pick_other(FIRMS_WHO_PAY, a);
        let contract = format!("HT-2026-{:04}", self.next_seq() % 10_000);
        let mut first = if !crosses_border(a, b) || self.chance(0.5) {
            self.trade_spec(a, b, 60_000, 3_000_000)
        } else {
            self.remittance_spec(a, b, 60_000, 3_000_000)
        };
        // Far from the structuring band in any currency.
        first.amount = first.amount.max(60_000 * 100);
        first.action = "advance-payment";
        first.memo = if self.chance(0.5) {
            format!("预付款 advance payment, contract {contract}")
        } else {
            format!("Prepayment under contract {contract} 预付货款")
        };
        first.details.insert("contract_no".into(), contract.clone());
        let id = self.next_seq();
        first.role = Role::First(id);
        let max_fee = (self.config.round_trip_tolerance_bp / 2).max(1);
        let fee_bp = 1 + below(&mut self.rng, max_fee);
        let mut second = first.clone();
        second.role = Role::Second { id, fee_bp };
        second.payer = b;
        second.payee = a;
        second.amount = first.amount - first.amount * fee_bp / 10_000;
        second.action = "refund";
        second.reference = format!("{}-R", first.reference);
        second.memo = if self.chance(0.5) {
            format!("退款 refund of advance, contract {contract}, less fees")
        } else {
            format!("合同取消退回预付款 {contract}")
        };
        (first, second)
    }

    fn listed_payment(&mut self, _ts: i64) -> Spec {
        let payee = self.pick(&[OCEAN_STAR, GOLDEN_EAR]);
        let payer = self.pick(&[PENGCHENG, JINGGONG, YUEHAI, SHUNDA, ICBC, CMB]);
        let mut s = if self.chance(0.6) {
            self.remittance_spec(payer, payee, 20_000, 1_500_000)
        } else {
            self.trade_spec(payer, payee, 20_000, 1_500_000)
        };
        if self.chance(0.5) {
            s.memo = "服务费 consulting fee, offshore advisory".into();
        }
        s
    }

    fn night_burst(&mut self, k: usize, _ts: i64) -> Vec<Spec> {
        let payer = self.pick(FIRMS_WHO_PAY);
        (0..k)
            .map(|_| {
                let payee =
                    self.pick_other(&[PENGCHENG, JINGGONG, SHUNDA, YUEHAI, HENGTONG], payer);
                if crosses_border(payer, payee) && self.chance(0.7) {
                    self.remittance_spec(payer, payee, 5_000, 300_000)
                } else {
                    self.trade_spec(payer, payee, 5_000, 300_000)
                }
            })
            .collect()
    }

    // ---- emission ---------------------------------------------------------

    fn party(&self, i: usize) -> PartyRef {
        let o = &self.orgs[i];
        PartyRef {
            id: o.id.clone(),
            name: o.name_zh.clone(),
            name_en: o.name_en.clone(),
            account: o.address_hex.clone(),
        }
    }

    fn payload(&self, spec: &Spec, ts: i64) -> Vec<u8> {
        let p = Payload {
            scenario: spec.scenario.as_str().into(),
            scenario_zh: spec.scenario.name_zh().into(),
            action: spec.action.into(),
            reference: spec.reference.clone(),
            from: self.party(spec.payer),
            to: self.party(spec.payee),
            amount: format_amount(spec.amount),
            currency: spec.currency.into(),
            memo: spec.memo.clone(),
            time: beijing_time(ts),
            details: spec.details.clone(),
        };
        // Serialising plain strings and maps cannot fail.
        serde_json::to_vec(&p).unwrap_or_default()
    }

    fn emit(
        &mut self,
        devnet: &Devnet,
        spec: &Spec,
        class: PrivacyClass,
        ts: i64,
    ) -> Result<chain::model::Transaction, WorkloadError> {
        let payload = self.payload(spec, ts);
        let sender = self.orgs[spec.payer].address();
        let ctx = TxContext::new(&self.chain_id, &self.group_id, sender)?;
        let body = match class {
            PrivacyClass::Public => payload,
            PrivacyClass::Opened => self.seal(spec.payer, spec.payee, true, &ctx, &payload)?,
            PrivacyClass::NotForUs => self.seal(spec.payer, spec.payee, false, &ctx, &payload)?,
            PrivacyClass::Inconsistent => self.seal_inconsistent(spec, &ctx, &payload)?,
        };
        let input = match class {
            PrivacyClass::Public => contracts::public_call(
                self.suite,
                spec.scenario,
                &contracts::Terms {
                    reference: &spec.reference,
                    payee: self.orgs[spec.payee].address(),
                    amount_minor: spec.amount,
                    currency: spec.currency,
                    record: &body,
                },
            )?,
            _ => {
                // An opaque reference: nothing of the business in the clear.
                let mut reference = [0u8; 32];
                self.seal_rng.fill_bytes(&mut reference);
                contracts::private_call(self.suite, spec.scenario, reference, &body)?
            }
        };
        self.sealed += 1;
        let nonce = (u128::from(self.seal_rng.next_u64()) << 32 | u128::from(self.sealed as u32))
            .to_string();
        let import_time = ts - 50 - below(&mut self.seal_rng, 2_000) as i64;
        let tx = devnet.make_transaction(
            &self.orgs[spec.payer].account,
            spec.scenario.contract_address(),
            input,
            nonce,
            import_time,
        )?;
        Ok(tx)
    }

    fn recipients(&self, payer: usize, payee: usize, regulator: bool) -> Vec<PublicKey> {
        let mut r = vec![
            self.orgs[payer].envelope_key.public_key().clone(),
            self.orgs[payee].envelope_key.public_key().clone(),
        ];
        if regulator {
            r.push(self.regulator.public_key().clone());
        }
        r
    }

    fn seal(
        &mut self,
        payer: usize,
        payee: usize,
        regulator: bool,
        ctx: &TxContext,
        payload: &[u8],
    ) -> Result<Vec<u8>, WorkloadError> {
        let recipients = self.recipients(payer, payee, regulator);
        if !self.config.session_reuse {
            let mut s = SealingSession::new_with(&mut self.seal_rng, &recipients)?;
            return Ok(s.seal_with(&mut self.seal_rng, ctx, payload)?);
        }
        let key = (payer, payee, regulator);
        if !self.sessions.contains_key(&key) {
            let s = SealingSession::new_with(&mut self.seal_rng, &recipients)?;
            self.sessions.insert(key, s);
        }
        match self.sessions.get_mut(&key) {
            Some(s) => Ok(s.seal_with(&mut self.seal_rng, ctx, payload)?),
            None => Err(WorkloadError::Config("sealing session vanished".into())),
        }
    }

    /// An envelope the parties open but whose regulator wrap holds another
    /// data key: sealed honestly for payer, payee and regulator, then the
    /// regulator's wrap is replaced and the content re-encrypted under the
    /// new recipient list, so only the regulator's check fails.
    fn seal_inconsistent(
        &mut self,
        spec: &Spec,
        ctx: &TxContext,
        payload: &[u8],
    ) -> Result<Vec<u8>, WorkloadError> {
        let recipients = self.recipients(spec.payer, spec.payee, true);
        let mut data_key = DataKey::new([0u8; 16]);
        self.seal_rng.fill_bytes(&mut *data_key);
        let mut other = [0u8; 16];
        self.seal_rng.fill_bytes(&mut other);
        if other == *data_key {
            other[0] ^= 0xff;
        }
        let mut session =
            SealingSession::with_data_key(&mut self.seal_rng, data_key.clone(), &recipients)?;
        let honest = session.seal_with(&mut self.seal_rng, ctx, payload)?;
        let forged = encrypt_with(
            self.regulator.public_key(),
            &mut self.seal_rng,
            &other,
            CipherFormat::Der,
        )?;
        other.fill(0);
        let reg_id = self.regulator.key_id();
        let mut env = Envelope::parse(&honest).map_err(|e| {
            WorkloadError::Envelope(privacy::Error::Seal(format!(
                "cannot re-read a sealed envelope: {e:?}"
            )))
        })?;
        for r in env.recipients.iter_mut() {
            if r.rid == reg_id {
                r.wrap = &forged;
            }
        }
        let aad = env.aad(ctx);
        let content = privacy::symmetric::gcm_seal(&*data_key, &env.nonce, &aad, payload)?;
        env.ciphertext = &content;
        Ok(env.encode()?)
    }

    // ---- recording ----------------------------------------------------------

    fn tag(&mut self, idx: usize, finding: Finding) {
        let Some(rec) = self.manifest.transactions.get_mut(idx) else {
            return;
        };
        if rec.findings.contains(&finding) {
            return;
        }
        rec.findings.push(finding);
        rec.findings.sort();
        *self
            .manifest
            .summary
            .findings
            .entry(finding.as_str().to_string())
            .or_insert(0) += 1;
    }

    fn commit(&mut self, d: Drawn, tx_hash: String, height: i64, index: usize, ts: i64) {
        let Drawn { spec, class } = d;
        let idx = self.manifest.transactions.len();
        if self.keep_records {
            self.manifest.transactions.push(TxRecord {
                tx_hash,
                block_height: height,
                index,
                timestamp_ms: ts,
                scenario: spec.scenario,
                action: spec.action.into(),
                reference: spec.reference.clone(),
                class,
                findings: Vec::new(),
                amount: format_amount(spec.amount),
                amount_cents: spec.amount,
                currency: spec.currency.into(),
                payer: self.orgs[spec.payer].id.clone(),
                payee: self.orgs[spec.payee].id.clone(),
                memo: spec.memo.clone(),
                sender: self.orgs[spec.payer].address_hex.clone(),
                contract: spec.scenario.contract_address().to_string(),
            });
        }
        let summary = &mut self.manifest.summary;
        summary.transactions += 1;
        *summary
            .classes
            .entry(class.as_str().to_string())
            .or_insert(0) += 1;
        if !class.readable() {
            return;
        }

        if LISTED.iter().any(|&(i, _, _)| i == spec.payee) {
            self.tag(idx, Finding::ListedParty);
        }

        if self.in_band(spec.currency, spec.amount) {
            let window = self.config.structuring_window_ms;
            let min = self.config.structuring_min_count;
            let list = self.in_band.entry(spec.payer).or_default();
            while list.front().is_some_and(|&(t, _)| t < ts - window) {
                list.pop_front();
            }
            list.push_back((ts, idx));
            if list.len() >= min {
                let hits: Vec<usize> = list.iter().map(|&(_, i)| i).collect();
                for i in hits {
                    self.tag(i, Finding::Structuring);
                }
            }
        }

        let window = self.config.round_trip_window_ms;
        while self.recent.front().is_some_and(|r| r.ts < ts - window) {
            self.recent.pop_front();
        }
        let tol = self.config.round_trip_tolerance_bp;
        let firsts: Vec<usize> = self
            .recent
            .iter()
            .filter(|r| {
                r.payer == spec.payee
                    && r.payee == spec.payer
                    && r.currency == spec.currency
                    && amounts_close(r.amount, spec.amount, tol)
            })
            .map(|r| r.idx)
            .collect();
        if !firsts.is_empty() {
            for i in firsts {
                self.tag(i, Finding::RoundTrip);
            }
            self.tag(idx, Finding::RoundTrip);
        }
        self.recent.push_back(Recent {
            ts,
            payer: spec.payer,
            payee: spec.payee,
            currency: spec.currency,
            amount: spec.amount,
            idx,
        });

        if is_beijing_night(ts) {
            let day = beijing_day(ts);
            if day != self.night_day {
                self.night_day = day;
                self.night_groups.clear();
            }
            let group = self.night_groups.entry(spec.payer).or_default();
            group.push(idx);
            if group.len() >= self.config.night_burst_min {
                let hits = group.clone();
                for i in hits {
                    self.tag(i, Finding::NightBurst);
                }
            }
        }
    }
}

/// Whether a payment between these two crosses the Hong Kong border.
fn crosses_border(a: usize, b: usize) -> bool {
    let hk = |i| matches!(i, HENGTONG | BOC_HK | OCEAN_STAR | GOLDEN_EAR);
    hk(a) != hk(b)
}

/// Whether `second` is within `tol_bp` basis points of `first`.
fn amounts_close(first: u64, second: u64, tol_bp: u64) -> bool {
    u128::from(first.abs_diff(second)) * 10_000 <= u128::from(first) * u128::from(tol_bp)
}

/// Hundredths as a decimal with two fraction digits, as the node prints
/// amounts (`records::Money`).
fn format_amount(cents: u64) -> String {
    records::Money::from_hundredths(i64::try_from(cents).unwrap_or(i64::MAX)).to_string()
}

/// A uniform integer below `n` (0 if `n` is 0), without modulo bias.
pub fn below(rng: &mut ChaCha20Rng, n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    let zone = n.wrapping_neg() % n;
    loop {
        let v = rng.next_u64();
        if v >= zone {
            return v % n;
        }
    }
}

/// A uniform number in [0, 1) with 53 bits.
fn unit(rng: &mut ChaCha20Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(beijing_time(1_772_413_200_000), "2026-03-02T09:00:00+08:00");
        assert_eq!(beijing_time(951_782_400_000), "2000-02-29T08:00:00+08:00");
        assert!(is_beijing_night(1_772_413_200_000 - 7 * HOUR_MS));
        assert!(!is_beijing_night(1_772_413_200_000 - 5 * HOUR_MS));
        assert!(is_beijing_night(1_772_413_200_000 - 8 * HOUR_MS));
        assert!(!is_beijing_night(1_772_413_200_000 - 8 * HOUR_MS - 1));
        assert!(!is_beijing_night(1_772_413_200_000 - 5 * HOUR_MS));
        assert!(is_beijing_night(1_772_413_200_000 - 5 * HOUR_MS - 1));
        assert_eq!(
            beijing_day(1_772_413_200_000 - 9 * HOUR_MS),
            beijing_day(1_772_413_200_000)
        );
        assert_eq!(
            beijing_day(1_772_413_200_000 - 9 * HOUR_MS - 1) + 1,
            beijing_day(1_772_413_200_000)
        );
    }

    #[test]
    fn a_span_fits_the_clock_to_the_blocks() {
        for (blocks, days) in [(20_000u64, 184i64), (2_000, 100), (50, 100)] {
            let config = WorkloadConfig::default().with_span(blocks, days as u64);
            let mut w = Workload::new(config, CryptoSuite::Sm, "chain0", "group0", 1).unwrap();
            let times: Vec<i64> = (0..blocks).map(|_| w.next_timestamp()).collect();
            assert!(times.windows(2).all(|p| p[0] < p[1]));
            let span = beijing_day(times[times.len() - 1]) - beijing_day(times[0]);
            // Fewer than two blocks a day cannot span the days asked for.
            let want = days.min(blocks as i64 / 2);
            assert!(
                (span - want).abs() <= want / 20 + 1,
                "{blocks} blocks over {days} days span {span} days"
            );
            let nights = times.iter().filter(|&&t| is_beijing_night(t)).count() as i64;
            assert!(
                (nights - span).abs() <= 2,
                "{nights} night blocks in {span} days"
            );
        }
    }

    #[test]
    fn amount_closeness() {
        assert!(amounts_close(10_000, 9_800, 200));
        assert!(!amounts_close(10_000, 9_799, 200));
        assert!(amounts_close(10_000, 10_200, 200));
        assert_eq!(format_amount(4_987_005), "49870.05");
    }
}
