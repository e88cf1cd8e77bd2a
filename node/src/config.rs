//! `lookthrough.toml`: the node's configuration, with environment
//! overrides (`LOOKTHROUGH_<SECTION>__<KEY>`, e.g.
//! `LOOKTHROUGH_CHAIN__ENDPOINTS='["http://10.0.0.5:20200"]'`).
//!
//! Every key is documented in `lookthrough.example.toml`. Unknown keys and
//! values of the wrong type are errors naming the key and where it came
//! from; checks that span keys are made by [`Config::validate`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chain::CryptoSuite;
use chain::hexbytes::Hash;
use chain::verify::{Sealer, parse_sealer_list};
use figment::Figment;
use figment::providers::{Env, Format, Toml};
use ingest::{IngestConfig, Trust};
use serde::Deserialize;

/// A configuration that cannot be used: the message names the key (or the
/// file) and what was wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file is not there.
    #[error("config file {} does not exist (see lookthrough.example.toml)", .0.display())]
    Missing(PathBuf),
    /// The file or the environment overrides do not parse: unknown keys,
    /// values of the wrong type, missing sections (figment names each).
    #[error("bad configuration: {0}")]
    Parse(String),
    /// A value is out of range or contradicts another.
    #[error("{key}: {message}")]
    Invalid {
        /// The key, e.g. `ingest.in_flight`.
        key: String,
        /// What is wrong with its value.
        message: String,
    },
    /// A file the configuration names cannot be read.
    #[error("{key}: cannot read {}: {source}", path.display())]
    Read {
        /// The key naming the file.
        key: String,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

type Result<T, E = ConfigError> = std::result::Result<T, E>;

/// A [`ConfigError::Invalid`] for `key`.
fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

/// Returns a [`ConfigError::Invalid`] for a key and a formatted message.
macro_rules! bad {
    ($key:expr, $($message:tt)+) => {
        return Err(invalid($key, format!($($message)+)))
    };
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The chains followed: one `[chain]` table or several `[[chain]]`
    /// entries, each with its own id.
    #[serde(rename = "chain", deserialize_with = "one_or_many")]
    pub chains: Vec<ChainSection>,
    /// The regulator's keys.
    pub keys: KeysSection,
    /// Where data lives.
    pub storage: StorageSection,
    /// Pipeline tuning.
    #[serde(default)]
    pub ingest: IngestSection,
    /// Search index tuning.
    #[serde(default)]
    pub index: IndexSection,
    /// Listen addresses.
    #[serde(default)]
    pub server: ServerSection,
    /// The regulators' GraphQL API.
    #[serde(default)]
    pub api: ApiSection,
    /// Alert rules and watchlists.
    #[serde(default)]
    pub policies: PoliciesSection,
    /// Contract ABIs (`[[abi]]`), registered at start (a new version when
    /// a file's text changed).
    #[serde(default)]
    pub abi: Vec<AbiEntry>,
    /// Business mappings (`[[mapping]]`): which decoded arguments or event
    /// fields are payer, payee, amount, currency, reference and memo, and
    /// which carry the record; saved at start (replacing the stored one for
    /// the same contract and method or event).
    #[serde(default)]
    pub mapping: Vec<records::mapping::MappingSpec>,
    /// How blocks travel between observers and consumers: `embedded` (one
    /// process, the default) or `nats` (`[stream]`, see `docs/operations.md`).
    #[serde(default)]
    pub stream: stream::LogConfig,
}

/// `[[abi]]`: a contract's JSON ABI from a file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AbiEntry {
    /// The contract's address (`0x` and 40 hex digits).
    pub address: String,
    /// The chain (id) it is registered for; absent: every chain.
    #[serde(default)]
    pub chain: Option<String>,
    /// Its JSON ABI (solc's `--abi` output, or an artifact with an `abi`
    /// field).
    pub file: PathBuf,
}

/// `[policies]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PoliciesSection {
    /// The rules directory (`*.toml`); the built-in supervision rules run
    /// whether or not it is set.
    pub rules_dir: Option<PathBuf>,
    /// The watchlists directory (`NAME.txt`, `NAME.csv`), read again when a
    /// file changes.
    pub watchlists_dir: Option<PathBuf>,
    /// Where alerts are sent (`[[policies.channel]]`).
    pub channel: Vec<policies::deliver::ChannelConfig>,
    /// Rule windows (one per rule and group key) kept at most; when a new
    /// key finds them all live, the one closest to expiry makes room.
    pub max_windows: usize,
}

impl Default for PoliciesSection {
    fn default() -> Self {
        Self {
            rules_dir: None,
            watchlists_dir: None,
            channel: Vec::new(),
            max_windows: policies::window::DEFAULT_MAX_WINDOWS,
        }
    }
}

/// `chain`: one `[chain]` table or an array of `[[chain]]` tables (errors
/// still name the key that is wrong).
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<ChainSection>, D::Error> {
    struct Visit;
    impl<'de> serde::de::Visitor<'de> for Visit {
        type Value = Vec<ChainSection>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a [chain] table or [[chain]] entries")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            let one = ChainSection::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
            Ok(vec![one])
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            Vec::<ChainSection>::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
        }
    }
    d.deserialize_any(Visit)
}

/// The id a single chain gets when its entry names none.
pub const DEFAULT_CHAIN_ID: &str = "main";

/// At most this many chains in one node.
pub const MAX_CHAINS: usize = 128;

/// `[chain]` or one `[[chain]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainSection {
    /// The chain's id in this node (1 to 32 letters, digits, `-`, `_`):
    /// in the API, the dashboards, alerts and metrics. Needed when there
    /// are several chains; a single chain without one is `main`. Kept for
    /// good: the store registers it with the chain's data.
    #[serde(default)]
    pub id: Option<String>,
    /// JSON-RPC endpoints of the group, in order of preference.
    pub endpoints: Vec<String>,
    /// Group id.
    pub group: String,
    /// Node name in requests (empty: the endpoint's own node).
    #[serde(default)]
    pub node: String,
    /// `sm` or `standard`.
    pub crypto: CryptoMode,
    /// `genesis` (sealers from `sealers` or `sealers_file`) or `first-use`.
    pub trust: TrustMode,
    /// The genesis committee, inline.
    #[serde(default)]
    pub sealers: Vec<SealerEntry>,
    /// The genesis committee as a `getSealerList` response.
    #[serde(default)]
    pub sealers_file: Option<PathBuf>,
    /// The consortium's published genesis block hash (0x hex).
    #[serde(default)]
    pub genesis_hash: Option<String>,
    /// This chain's own ingest limits, over `[ingest]`'s.
    #[serde(default)]
    pub ingest: ChainIngest,
}

impl ChainSection {
    /// The chain's id (`main` for a single chain that names none).
    pub fn id(&self) -> &str {
        self.id.as_deref().unwrap_or(DEFAULT_CHAIN_ID)
    }

    /// The chain's crypto suite.
    pub fn suite(&self) -> CryptoSuite {
        match self.crypto {
            CryptoMode::Sm => CryptoSuite::Sm,
            CryptoMode::Standard => CryptoSuite::Standard,
        }
    }
}

/// `[chain.ingest]`: a chain's own limits; what it leaves out is
/// `[ingest]`'s.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChainIngest {
    /// Blocks fetched and verified at once.
    pub in_flight: Option<usize>,
    /// Head polling interval once caught up, ms.
    pub poll_interval_ms: Option<u64>,
    /// A request's total deadline, ms.
    pub request_timeout_ms: Option<u64>,
    /// Endpoints asked for each stored block's hash.
    pub confirm: Option<usize>,
    /// Receipts requested at once per block; 0 keeps no receipts.
    pub receipt_concurrency: Option<usize>,
}

/// The chain's crypto.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum CryptoMode {
    /// SM3 / SM2.
    Sm,
    /// keccak256 / secp256k1.
    Standard,
}

/// Where the committee comes from.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum TrustMode {
    /// The configured genesis committee.
    Genesis,
    /// The first signed block's sealer list (logged loudly).
    FirstUse,
}

/// One sealer of the genesis committee.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealerEntry {
    /// Its node id: the 64-byte public key, hex.
    pub node_id: String,
    /// Its voting weight.
    pub weight: i64,
}

/// `[keys]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysSection {
    /// The regulator's SM2 keys; the first seals stored records.
    pub regulator: Vec<KeyEntry>,
    /// The node's own SM2 key: signs the audit log's head. Needed to serve
    /// the API.
    #[serde(default)]
    pub node: Option<KeyEntry>,
}

/// One key file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEntry {
    /// PKCS#8 PEM file.
    pub path: PathBuf,
    /// Environment variable holding its passphrase, if encrypted.
    #[serde(default)]
    pub passphrase_env: Option<String>,
}

/// `[storage]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSection {
    /// The data directory (the store lives in `DATA_DIR/store`).
    pub data_dir: PathBuf,
}

/// `[ingest]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestSection {
    /// Blocks fetched and verified at once.
    pub in_flight: usize,
    /// Head polling interval once caught up, ms.
    pub poll_interval_ms: u64,
    /// A request's total deadline (connecting to the last byte), ms.
    pub request_timeout_ms: u64,
    /// First retry delay after a network error, ms.
    pub backoff_initial_ms: u64,
    /// Longest retry delay, ms.
    pub backoff_max_ms: u64,
    /// Consecutive network errors before an endpoint is failing (asked
    /// after the healthy ones).
    pub failover_after: u32,
    /// Whether a slow answer is hedged (the same request sent to the next
    /// endpoint after a delay drawn from the first one's latency).
    pub hedge: bool,
    /// The shortest hedge delay, ms.
    pub hedge_min_ms: u64,
    /// Endpoints asked for each stored block's hash, to cross-check the
    /// endpoint that served it (0: none).
    pub confirm: usize,
    /// Receipts requested at once per block; 0 keeps no receipts.
    pub receipt_concurrency: usize,
    /// SM2 public keys whose verification tables are kept (about 99 KB
    /// each; 0: none, every signature verified without one).
    pub sm2_key_tables: usize,
}

impl Default for IngestSection {
    fn default() -> Self {
        Self {
            in_flight: 8,
            poll_interval_ms: 200,
            request_timeout_ms: 30_000,
            backoff_initial_ms: 100,
            backoff_max_ms: 10_000,
            failover_after: 3,
            hedge: true,
            hedge_min_ms: 20,
            confirm: 0,
            receipt_concurrency: 32,
            sm2_key_tables: chain::sm2verify::DEFAULT_TABLES,
        }
    }
}

/// `[index]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IndexSection {
    /// Longest wait between a block being stored and being searchable, ms.
    pub commit_interval_ms: u64,
    /// Commit at least every this many transactions.
    pub commit_docs: u64,
    /// Indexing threads (0: as many as cores, at most 4).
    pub threads: usize,
    /// Indexing memory, MiB.
    pub memory_mb: usize,
}

impl Default for IndexSection {
    fn default() -> Self {
        let d = indexer::IndexerConfig::default();
        Self {
            commit_interval_ms: u64::try_from(d.commit_interval.as_millis()).unwrap_or(500),
            commit_docs: d.commit_docs,
            threads: 0,
            memory_mb: d.heap_bytes >> 20,
        }
    }
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    /// Where `/metrics` is served; absent: not served.
    pub metrics_listen: Option<SocketAddr>,
}

impl Default for ServerSection {
    fn default() -> Self {
        Self {
            metrics_listen: Some(SocketAddr::from(([127, 0, 0, 1], 9464))),
        }
    }
}

/// `[api]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiSection {
    /// Where `/graphql` and `/healthz` are served; absent: not served.
    pub listen: Option<SocketAddr>,
    /// Requests per second each token may make, on average.
    pub rate_per_second: u32,
    /// Requests a token may make at once before the rate applies.
    pub burst: u32,
    /// Longest a request may run, ms.
    pub timeout_ms: u64,
    /// How often the audit log's head is signed, seconds.
    pub seal_interval_secs: u64,
    /// JWT bearer tokens from an identity provider; absent: API tokens only.
    pub jwt: Option<JwtSection>,
    /// Mark the dashboard's cookies `Secure` (HTTPS only). Absent: yes,
    /// unless `listen` is a loopback address.
    pub secure_cookies: Option<bool>,
}

impl Default for ApiSection {
    fn default() -> Self {
        let l = query_api::server::Limits::default();
        Self {
            listen: None,
            rate_per_second: l.rate_per_second.get(),
            burst: l.burst.get(),
            timeout_ms: u64::try_from(l.timeout.as_millis()).unwrap_or(10_000),
            seal_interval_secs: 60,
            jwt: None,
            secure_cookies: None,
        }
    }
}

/// `[api.jwt]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtSection {
    /// The one algorithm accepted: HS256/384/512, RS256/384/512,
    /// PS256/384/512, ES256/384 or EdDSA.
    pub algorithm: String,
    /// Accepted issuer (`iss`).
    pub issuer: String,
    /// Accepted audience (`aud`).
    pub audience: String,
    /// The identity provider's public key (PEM), for RS, PS, ES and EdDSA.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Environment variable holding the shared secret, for HS.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// The claim naming the role.
    #[serde(default = "default_role_claim")]
    pub role_claim: String,
    /// Clock skew allowed on `exp` and `nbf`, seconds.
    #[serde(default)]
    pub leeway_secs: u64,
}

fn default_role_claim() -> String {
    "roles".into()
}

impl ApiSection {
    /// The request limits.
    pub fn limits(&self) -> Result<query_api::server::Limits> {
        let nz = |name: &str, v: u32| {
            std::num::NonZeroU32::new(v)
                .ok_or_else(|| invalid(format!("api.{name}"), "must be at least 1"))
        };
        Ok(query_api::server::Limits {
            timeout: Duration::from_millis(self.timeout_ms),
            rate_per_second: nz("rate_per_second", self.rate_per_second)?,
            burst: nz("burst", self.burst)?,
        })
    }

    /// The JWT settings, with the key read from its file or environment
    /// variable.
    pub fn jwt_settings(&self) -> Result<Option<query_api::auth::JwtSettings>> {
        let Some(j) = &self.jwt else {
            return Ok(None);
        };
        let key = match (&j.key_file, &j.secret_env) {
            (Some(path), None) => std::fs::read(path).map_err(|source| ConfigError::Read {
                key: "api.jwt.key_file".into(),
                path: path.clone(),
                source,
            })?,
            (None, Some(var)) => std::env::var(var)
                .map_err(|_| {
                    invalid(
                        "api.jwt.secret_env",
                        format!("environment variable {var} is not set"),
                    )
                })?
                .into_bytes(),
            _ => bad!(
                "api.jwt",
                "give key_file (RS, PS, ES, EdDSA) or secret_env (HS), not both"
            ),
        };
        Ok(Some(query_api::auth::JwtSettings {
            algorithm: j.algorithm.clone(),
            key: zeroize::Zeroizing::new(key),
            issuer: j.issuer.clone(),
            audience: j.audience.clone(),
            role_claim: j.role_claim.clone(),
            leeway_secs: j.leeway_secs,
        }))
    }
}

impl Config {
    /// Whether this node reads its blocks from the distributed mode's log.
    pub fn is_consumer(&self) -> bool {
        self.stream.mode == stream::Mode::Nats && self.stream.role == stream::Role::Consumer
    }

    /// Whether this node only follows chains and publishes them to the log.
    pub fn is_observer(&self) -> bool {
        self.stream.mode == stream::Mode::Nats && self.stream.role == stream::Role::Observer
    }

    /// Reads `path`, then the environment overrides, and validates.
    pub fn load(path: &Path) -> Result<Self> {
        if !path.exists() {
            return Err(ConfigError::Missing(path.to_path_buf()));
        }
        let figment = Figment::new().merge(Toml::file_exact(path)).merge(
            Env::prefixed("LOOKTHROUGH_")
                .filter(|k| k.as_str().contains("__"))
                .split("__"),
        );
        Self::from_figment(figment, path.parent().unwrap_or(Path::new(".")))
    }

    /// Parses a configuration from TOML text (relative paths against `base`).
    #[cfg(test)]
    pub fn from_toml(text: &str, base: &Path) -> Result<Self> {
        Self::from_figment(Figment::new().merge(Toml::string(text)), base)
    }

    fn from_figment(figment: Figment, base: &Path) -> Result<Self> {
        let mut config: Config = figment.extract().map_err(|e| {
            let msgs: Vec<String> = e.into_iter().map(|e| e.to_string()).collect();
            ConfigError::Parse(msgs.join("; "))
        })?;
        config.resolve_paths(base);
        config.validate()?;
        Ok(config)
    }

    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.storage.data_dir);
        for k in &mut self.keys.regulator {
            fix(&mut k.path);
        }
        if let Some(k) = &mut self.keys.node {
            fix(&mut k.path);
        }
        if let Some(p) = self.api.jwt.as_mut().and_then(|j| j.key_file.as_mut()) {
            fix(p);
        }
        for c in &mut self.chains {
            if let Some(p) = &mut c.sealers_file {
                fix(p);
            }
        }
        if let Some(p) = &mut self.policies.rules_dir {
            fix(p);
        }
        if let Some(p) = &mut self.policies.watchlists_dir {
            fix(p);
        }
        for a in &mut self.abi {
            fix(&mut a.file);
        }
        let st = &mut self.stream;
        for p in [
            &mut st.credentials,
            &mut st.password_file,
            &mut st.tls_ca,
            &mut st.tls_cert,
            &mut st.tls_key,
        ]
        .into_iter()
        .flatten()
        {
            fix(p);
        }
    }

    /// Checks that span keys.
    pub fn validate(&self) -> Result<()> {
        match self.stream.validate() {
            Err(stream::LogError::Config { key, message }) => {
                bad!(format!("stream.{key}"), "{message}")
            }
            Err(e) => bad!("stream", "{e}"),
            Ok(()) => {}
        }
        for (i, m) in self.mapping.iter().enumerate() {
            if let Err(e) = records::mapping::Mapping::from_spec(m) {
                bad!(format!("mapping[{i}]"), "{e}");
            }
        }
        for (i, a) in self.abi.iter().enumerate() {
            if let Some(id) = &a.chain
                && !self.chains.iter().any(|c| c.id() == id)
            {
                bad!(
                    format!("abi[{i}].chain"),
                    "{id:?} is not a configured chain's id"
                );
            }
            if records::abis::parse_address(&a.address).is_err() {
                bad!(
                    format!("abi[{i}].address"),
                    "{:?} is not a contract address (0x and 40 hex digits)",
                    a.address
                );
            }
        }
        if self.chains.is_empty() {
            bad!("chain", "at least one chain is needed");
        }
        if self.chains.len() > MAX_CHAINS {
            bad!(
                "chain",
                "{} chains; one node follows at most {MAX_CHAINS}",
                self.chains.len()
            );
        }
        let several = self.chains.len() > 1;
        for (n, c) in self.chains.iter().enumerate() {
            self.validate_chain(&chain_key(several, n), several, c)?;
            if let Some(m) = self.chains[..n].iter().position(|o| o.id() == c.id()) {
                bad!(
                    format!("{}.id", chain_key(several, n)),
                    "{:?} is also the id of chain[{m}]",
                    c.id()
                );
            }
        }
        if self.keys.regulator.is_empty() {
            bad!(
                "keys.regulator",
                "at least one key is needed to open envelopes"
            );
        }
        let i = &self.ingest;
        if i.in_flight == 0 || i.in_flight > 256 {
            bad!("ingest.in_flight", "must be 1 to 256, got {}", i.in_flight);
        }
        if i.receipt_concurrency > 1024 {
            bad!(
                "ingest.receipt_concurrency",
                "must be 0 (no receipts) to 1024, got {}",
                i.receipt_concurrency
            );
        }
        if i.failover_after == 0 {
            bad!("ingest.failover_after", "must be at least 1");
        }
        if i.sm2_key_tables > 65_536 {
            bad!(
                "ingest.sm2_key_tables",
                "must be 0 to 65536 (about 99 KB each), got {}",
                i.sm2_key_tables
            );
        }
        if !(1..=i.request_timeout_ms).contains(&i.hedge_min_ms) {
            bad!(
                "ingest.hedge_min_ms",
                "must be 1 to request_timeout_ms ({}), got {}",
                i.request_timeout_ms,
                i.hedge_min_ms
            );
        }
        let x = &self.index;
        if !(10..=60_000).contains(&x.commit_interval_ms) {
            bad!(
                "index.commit_interval_ms",
                "must be 10 to 60000, got {}",
                x.commit_interval_ms
            );
        }
        if x.commit_docs == 0 {
            bad!("index.commit_docs", "must be at least 1");
        }
        if x.threads > 64 {
            bad!("index.threads", "must be 0 to 64, got {}", x.threads);
        }
        if !(16..=16_384).contains(&x.memory_mb) {
            bad!(
                "index.memory_mb",
                "must be 16 to 16384, got {}",
                x.memory_mb
            );
        }
        let p = &self.policies;
        if !(1..=10_000_000).contains(&p.max_windows) {
            bad!(
                "policies.max_windows",
                "must be 1 to 10000000, got {}",
                p.max_windows
            );
        }
        let a = &self.api;
        a.limits()?;
        if !(100..=600_000).contains(&a.timeout_ms) {
            bad!(
                "api.timeout_ms",
                "must be 100 to 600000, got {}",
                a.timeout_ms
            );
        }
        if a.seal_interval_secs == 0 {
            bad!("api.seal_interval_secs", "must be at least 1");
        }
        if a.listen.is_some() && self.keys.node.is_none() {
            bad!(
                "api.listen",
                "set, but keys.node is not: the node's SM2 key seals the audit log (make one with `lookthrough keygen --out keys/node.pem`)"
            );
        }
        if let Some(j) = &a.jwt {
            if j.key_file.is_some() == j.secret_env.is_some() {
                bad!(
                    "api.jwt",
                    "give key_file (RS, PS, ES, EdDSA) or secret_env (HS), not both"
                );
            }
            if j.issuer.is_empty() || j.audience.is_empty() {
                bad!("api.jwt", "issuer and audience must both be set");
            }
        }
        Ok(())
    }

    /// Checks one chain's entry (`k`: its key in errors).
    fn validate_chain(&self, k: &str, several: bool, c: &ChainSection) -> Result<()> {
        match &c.id {
            None if several => bad!(format!("{k}.id"), "needed when there are several chains"),
            Some(id) if !store::chains::valid_id(id) => bad!(
                format!("{k}.id"),
                "{id:?} is not 1 to 32 letters, digits, '-' or '_'"
            ),
            _ => {}
        }
        // A consumer reads blocks from the log; its endpoints (optional)
        // only serve contract ABIs.
        if c.endpoints.is_empty() && !self.is_consumer() {
            bad!(format!("{k}.endpoints"), "at least one endpoint is needed");
        }
        for (i, e) in c.endpoints.iter().enumerate() {
            if !(e.starts_with("http://") || e.starts_with("https://")) {
                bad!(
                    format!("{k}.endpoints[{i}]"),
                    "'{e}' is not an http:// or https:// URL"
                );
            }
        }
        if c.group.is_empty() {
            bad!(format!("{k}.group"), "must not be empty");
        }
        match (c.trust, c.sealers.is_empty(), &c.sealers_file) {
            (TrustMode::Genesis, true, None) => bad!(
                format!("{k}.trust"),
                "\"genesis\" needs {k}.sealers or {k}.sealers_file (or set {k}.trust = \"first-use\")"
            ),
            (TrustMode::Genesis, false, Some(_)) => {
                bad!(
                    format!("{k}.sealers and {k}.sealers_file"),
                    "give one, not both"
                )
            }
            (TrustMode::FirstUse, false, _) | (TrustMode::FirstUse, _, Some(_)) => bad!(
                format!("{k}.sealers/sealers_file"),
                "set, but {k}.trust = \"first-use\" would ignore them"
            ),
            _ => {}
        }
        if let Some(h) = &c.genesis_hash {
            parse_hash(&format!("{k}.genesis_hash"), h)?;
        }
        for (i, s) in c.sealers.iter().enumerate() {
            sealer(&format!("{k}.sealers[{i}]"), s)?;
        }
        let i = self.ingest_for(c);
        if i.in_flight == 0 || i.in_flight > 256 {
            bad!(
                format!("{k}.ingest.in_flight"),
                "must be 1 to 256, got {}",
                i.in_flight
            );
        }
        if i.receipt_concurrency > 1024 {
            bad!(
                format!("{k}.ingest.receipt_concurrency"),
                "must be 0 (no receipts) to 1024, got {}",
                i.receipt_concurrency
            );
        }
        if i.poll_interval_ms == 0 || i.request_timeout_ms == 0 {
            bad!(
                format!("{k}.ingest"),
                "poll_interval_ms and request_timeout_ms must be at least 1"
            );
        }
        if i.confirm > c.endpoints.len() {
            bad!(
                "ingest.confirm",
                "asks {} endpoints for each block's hash but {k}.endpoints names {}",
                i.confirm,
                c.endpoints.len()
            );
        }
        Ok(())
    }

    /// `[ingest]` with chain `c`'s own limits over it.
    pub fn ingest_for(&self, c: &ChainSection) -> IngestSection {
        let mut i = self.ingest.clone();
        let o = &c.ingest;
        i.in_flight = o.in_flight.unwrap_or(i.in_flight);
        i.poll_interval_ms = o.poll_interval_ms.unwrap_or(i.poll_interval_ms);
        i.request_timeout_ms = o.request_timeout_ms.unwrap_or(i.request_timeout_ms);
        i.confirm = o.confirm.unwrap_or(i.confirm);
        i.receipt_concurrency = o.receipt_concurrency.unwrap_or(i.receipt_concurrency);
        i
    }

    /// The index directory: `DATA_DIR/index`.
    pub fn index_dir(&self) -> PathBuf {
        self.storage.data_dir.join("index")
    }

    /// The store directory: `DATA_DIR/store`.
    pub fn store_dir(&self) -> PathBuf {
        self.storage.data_dir.join("store")
    }

    /// The first chain's crypto suite.
    pub fn suite(&self) -> CryptoSuite {
        self.chains
            .first()
            .map_or(CryptoSuite::Sm, ChainSection::suite)
    }

    /// The follower's configuration.
    pub fn indexer_config(&self) -> indexer::IndexerConfig {
        let x = &self.index;
        let mut c = indexer::IndexerConfig {
            commit_interval: Duration::from_millis(x.commit_interval_ms),
            commit_docs: x.commit_docs,
            heap_bytes: x.memory_mb << 20,
            suite: self.suite(),
            ..Default::default()
        };
        if x.threads > 0 {
            c.threads = x.threads;
        }
        c
    }

    /// The first chain's pipeline configuration (reads `sealers_file`).
    pub fn ingest_config(&self) -> Result<IngestConfig> {
        let c = self
            .chains
            .first()
            .ok_or_else(|| invalid("chain", "at least one chain is needed"))?;
        self.chain_ingest_config(c)
    }

    /// Chain `c`'s pipeline configuration (reads `sealers_file`).
    pub fn chain_ingest_config(&self, c: &ChainSection) -> Result<IngestConfig> {
        let trust = match c.trust {
            TrustMode::FirstUse => Trust::FirstUse,
            TrustMode::Genesis => match &c.sealers_file {
                Some(path) => {
                    let text =
                        std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                            key: format!("chain {}: sealers_file", c.id()),
                            path: path.clone(),
                            source,
                        })?;
                    Trust::Genesis(parse_sealer_list(&text).map_err(|e| {
                        invalid(
                            format!("chain {}: sealers_file", c.id()),
                            format!("{}: {e}", path.display()),
                        )
                    })?)
                }
                None => Trust::Genesis(
                    c.sealers
                        .iter()
                        .enumerate()
                        .map(|(i, s)| sealer(&format!("chain {}: sealers[{i}]", c.id()), s))
                        .collect::<Result<Vec<_>>>()?,
                ),
            },
        };
        let suite = c.suite();
        let mut ic = IngestConfig::new(c.endpoints.clone(), &c.group, suite, trust);
        ic.node.clone_from(&c.node);
        ic.genesis_hash = c
            .genesis_hash
            .as_deref()
            .map(|h| parse_hash(&format!("chain {}: genesis_hash", c.id()), h))
            .transpose()?;
        let i = &self.ingest_for(c);
        ic.in_flight = i.in_flight;
        ic.poll_interval = Duration::from_millis(i.poll_interval_ms);
        ic.request_timeout = Duration::from_millis(i.request_timeout_ms);
        ic.backoff_initial = Duration::from_millis(i.backoff_initial_ms);
        ic.backoff_max = Duration::from_millis(i.backoff_max_ms);
        ic.failover_after = i.failover_after;
        ic.hedge = i.hedge;
        ic.hedge_min = Duration::from_millis(i.hedge_min_ms);
        ic.confirm = i.confirm;
        ic.receipt_concurrency = i.receipt_concurrency;
        Ok(ic)
    }
}

/// A chain's key in errors: `chain` when there is one, `chain[n]` when
/// there are several.
fn chain_key(several: bool, n: usize) -> String {
    if several {
        format!("chain[{n}]")
    } else {
        "chain".to_owned()
    }
}

fn parse_hash(key: &str, text: &str) -> Result<Hash> {
    chain::hexbytes::decode_fixed::<32>("hash", text).map_err(|e| invalid(key, e.to_string()))
}

fn sealer(key: &str, s: &SealerEntry) -> Result<Sealer> {
    let node_id = chain::hexbytes::decode_fixed::<64>("node_id", &s.node_id)
        .map_err(|e| invalid(key, e.to_string()))?;
    if s.weight <= 0 {
        bad!(key, "weight must be positive, got {}", s.weight);
    }
    Ok(Sealer {
        node_id,
        weight: s.weight,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[chain]
endpoints = ["http://127.0.0.1:20200"]
group = "group0"
crypto = "sm"
trust = "first-use"

[keys]
regulator = [{ path = "keys/regulator.pem" }]

[storage]
data_dir = "data"
"#;

    fn err(text: &str) -> String {
        format!(
            "{:#}",
            Config::from_toml(text, Path::new("/etc/lt")).unwrap_err()
        )
    }

    #[test]
    fn minimal_config_has_defaults_and_resolved_paths() {
        let c = Config::from_toml(GOOD, Path::new("/etc/lt")).unwrap();
        assert_eq!(c.ingest.in_flight, 8);
        assert_eq!(c.storage.data_dir, Path::new("/etc/lt/data"));
        assert_eq!(
            c.keys.regulator[0].path,
            Path::new("/etc/lt/keys/regulator.pem")
        );
        assert!(c.server.metrics_listen.is_some());
    }

    #[test]
    fn abis_are_listed_with_their_files_and_checked_addresses() {
        let text = format!(
            "{GOOD}\n[[abi]]\naddress = \"0x{}\"\nfile = \"abi/token.json\"\n",
            "ab".repeat(20)
        );
        let c = Config::from_toml(&text, Path::new("/etc/lt")).unwrap();
        assert_eq!(c.abi.len(), 1);
        assert_eq!(c.abi[0].file, Path::new("/etc/lt/abi/token.json"));
        let e = err(&text.replace(&"ab".repeat(20), "abcd"));
        assert!(e.contains("abi[0].address"), "{e}");
        let e = err(&format!("{text}path = \"x\"\n"));
        assert!(e.contains("path"), "{e}");
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = err(&GOOD.replace("group = \"group0\"", "group = \"group0\"\ngroupp = 1"));
        assert!(e.contains("groupp"), "{e}");
        let e = err(&format!("{GOOD}\n[ingest]\ninflight = 3\n"));
        assert!(e.contains("inflight") && e.contains("ingest"), "{e}");
    }

    #[test]
    fn bad_values_are_named() {
        let e = err(&GOOD.replace("crypto = \"sm\"", "crypto = \"rsa\""));
        assert!(e.contains("crypto") && e.contains("rsa"), "{e}");
        let e = err(&format!("{GOOD}\n[ingest]\nin_flight = \"many\"\n"));
        assert!(e.contains("in_flight"), "{e}");
        let e = err(&format!("{GOOD}\n[ingest]\nin_flight = 0\n"));
        assert!(e.contains("ingest.in_flight"), "{e}");
        let e = err(&GOOD.replace("http://127.0.0.1:20200", "127.0.0.1:20200"));
        assert!(e.contains("chain.endpoints[0]"), "{e}");
        let e = err(&GOOD.replace("first-use", "genesis"));
        assert!(e.contains("chain.sealers"), "{e}");
        let e = err(&GOOD.replace(
            "trust = \"first-use\"",
            "trust = \"first-use\"\ngenesis_hash = \"0x12\"",
        ));
        assert!(e.contains("chain.genesis_hash"), "{e}");
        let e = err(&GOOD.replace(
            "trust = \"first-use\"",
            "trust = \"genesis\"\nsealers = [{ node_id = \"00\", weight = 1 }]",
        ));
        assert!(e.contains("chain.sealers[0]"), "{e}");
    }

    #[test]
    fn the_api_needs_a_node_key_and_sane_limits() {
        let with_api = format!("{GOOD}\n[api]\nlisten = \"127.0.0.1:8080\"\n");
        let e = err(&with_api);
        assert!(e.contains("keys.node"), "{e}");
        let keyed = with_api.replace(
            "regulator = [{ path = \"keys/regulator.pem\" }]",
            "regulator = [{ path = \"keys/regulator.pem\" }]\nnode = { path = \"keys/node.pem\" }",
        );
        let c = Config::from_toml(&keyed, Path::new("/etc/lt")).unwrap();
        assert_eq!(
            c.keys.node.unwrap().path,
            Path::new("/etc/lt/keys/node.pem")
        );
        let e = err(&format!("{keyed}burst = 0\n"));
        assert!(e.contains("api.burst"), "{e}");
        let e = err(&format!(
            "{keyed}[api.jwt]\nalgorithm = \"RS256\"\nissuer = \"i\"\naudience = \"a\"\n"
        ));
        assert!(e.contains("api.jwt: give key_file"), "{e}");
        let e = err(&format!(
            "{keyed}[api.jwt]\nalgorithm = \"RS256\"\nissuer = \"i\"\n"
        ));
        assert!(e.contains("audience"), "{e}");
    }

    #[test]
    fn missing_sections_are_named() {
        let text = GOOD.replace("[storage]\ndata_dir = \"data\"\n", "");
        let e = err(&text);
        assert!(e.contains("storage"), "{e}");
    }

    #[test]
    fn the_example_config_parses() {
        let text = include_str!("../../lookthrough.example.toml");
        let dir = tempfile::tempdir().unwrap();
        let id = "ab".repeat(64);
        std::fs::write(
            dir.path().join("sealers.json"),
            format!(r#"{{"jsonrpc":"2.0","id":1,"result":[{{"nodeID":"{id}","weight":2}}]}}"#),
        )
        .unwrap();
        let c = Config::from_toml(text, dir.path()).unwrap();
        let ic = c.ingest_config().unwrap();
        assert_eq!(ic.endpoints.len(), 2);
        assert_eq!(ic.receipt_concurrency, 32);
        // The commented-out channel, as an operator would enable it.
        let enable = |from: &str, until: &str| -> String {
            text.lines()
                .skip_while(|l| !l.starts_with(from))
                .take_while(|l| !l.starts_with(until))
                .map(|l| l.strip_prefix("# ").unwrap_or(l))
                .map(|l| format!("{}\n", l.split("  #").next().unwrap_or(l)))
                .collect()
        };
        let enabled = enable("# [[policies.channel]]", "# The distributed mode");
        let c = Config::from_toml(&format!("{text}\n{enabled}"), dir.path()).unwrap();
        assert_eq!(c.policies.channel.len(), 1);
        assert_eq!(
            c.policies.channel[0].kind,
            policies::deliver::ChannelKind::Webhook
        );
        // The commented-out distributed mode, with one way to log in.
        let stream = enable("# [stream]", "# The end")
            .lines()
            .filter(|l| !l.starts_with("user ") && !l.starts_with("password_file"))
            .collect::<Vec<_>>()
            .join("\n");
        let c = Config::from_toml(&format!("{text}\n{stream}\n"), dir.path()).unwrap();
        assert!(c.is_observer());
        assert_eq!(c.stream.servers.len(), 3);
        assert_eq!(c.stream.replicas, 3);
        assert_eq!(
            c.stream.credentials.as_deref(),
            Some(Path::new("/etc/lookthrough/observer.creds"))
        );
        assert_eq!(c.stream.subject("bsn-sh"), "lt.blocks.bsn-sh");
        match ic.trust {
            Trust::Genesis(s) => assert_eq!((s.len(), s[0].weight), (1, 2)),
            Trust::FirstUse => panic!("the example trusts the genesis committee"),
        }
    }

    #[test]
    fn the_stream_section_is_checked_naming_its_keys() {
        let with = |stream: &str| err(&format!("{GOOD}\n[stream]\n{stream}\n"));
        assert!(with("mode = \"nats\"").contains("stream.servers"));
        let e = with("mode = \"nats\"\nservers = [\"nats://a:4222\"]\nreplicas = 2");
        assert!(e.contains("stream.replicas"), "{e}");
        let e = with("mode = \"nats\"\nservers = [\"nats://a:4222\"]\nsubject_prefix = \"lt.>\"");
        assert!(e.contains("stream.subject_prefix"), "{e}");
        let e = with("mode = \"nats\"\nservers = [\"nats://a:4222\"]\ntls_cert = \"c.pem\"");
        assert!(e.contains("stream.tls_cert"), "{e}");
        let e = with("mode = \"nats\"\nservers = [\"nats://a:4222\"]\nname = \"a b\"");
        assert!(e.contains("stream.name"), "{e}");
        let e = with("mode = \"kafka\"");
        assert!(e.contains("mode"), "{e}");
        // An embedded node needs no server; a consumer needs no endpoint.
        let c = Config::from_toml(
            &format!("{GOOD}\n[stream]\nmode = \"embedded\"\n"),
            Path::new("/etc/lt"),
        )
        .unwrap();
        assert!(!c.is_observer() && !c.is_consumer());
        let consumer = GOOD.replace("endpoints = [\"http://127.0.0.1:20200\"]", "endpoints = []");
        assert!(err(&consumer).contains("endpoints"));
        let c = Config::from_toml(
            &format!("{consumer}\n[stream]\nmode = \"nats\"\nrole = \"consumer\"\nservers = [\"nats://a:4222\"]\npassword_file = \"pw\"\nuser = \"q\"\n"),
            Path::new("/etc/lt"),
        )
        .unwrap();
        assert!(c.is_consumer());
        assert_eq!(
            c.stream.password_file.as_deref(),
            Some(Path::new("/etc/lt/pw"))
        );
    }

    /// `GOOD` with its `[chain]` turned into `[[chain]]` entries.
    fn chains(entries: &[&str]) -> String {
        let (_, rest) = GOOD.split_once("[keys]").unwrap();
        let mut out = String::new();
        for e in entries {
            out.push_str(&format!(
                "[[chain]]\nendpoints = [\"http://127.0.0.1:20200\"]\ngroup = \"group0\"\ncrypto = \"sm\"\ntrust = \"first-use\"\n{e}\n\n"
            ));
        }
        format!("{out}[keys]{rest}")
    }

    #[test]
    fn several_chains_each_with_an_id_and_their_own_limits() {
        let one = Config::from_toml(GOOD, Path::new("/etc/lt")).unwrap();
        assert_eq!(one.chains.len(), 1);
        assert_eq!(one.chains[0].id(), "main");
        let c = Config::from_toml(
            &chains(&[
                "id = \"bsn-sh\"",
                "id = \"bsn-bj\"\ncrypto = \"standard\"\n[chain.ingest]\nin_flight = 2",
            ])
            .replace(
                "crypto = \"sm\"\ntrust = \"first-use\"\nid = \"bsn-bj\"\ncrypto = \"standard\"",
                "trust = \"first-use\"\nid = \"bsn-bj\"\ncrypto = \"standard\"",
            ),
            Path::new("/etc/lt"),
        )
        .unwrap();
        let ids: Vec<&str> = c.chains.iter().map(ChainSection::id).collect();
        assert_eq!(ids, ["bsn-sh", "bsn-bj"]);
        assert_eq!(c.chains[1].suite(), CryptoSuite::Standard);
        assert_eq!(c.chain_ingest_config(&c.chains[0]).unwrap().in_flight, 8);
        assert_eq!(c.chain_ingest_config(&c.chains[1]).unwrap().in_flight, 2);
        // Each entry is checked, and the error names it.
        let e = err(&chains(&["id = \"a\"", ""]));
        assert!(e.contains("chain[1].id") && e.contains("several"), "{e}");
        let e = err(&chains(&["id = \"a\"", "id = \"a\""]));
        assert!(e.contains("chain[1].id") && e.contains("chain[0]"), "{e}");
        let e = err(&chains(&["id = \"a b\"", "id = \"c\""]));
        assert!(e.contains("chain[0].id"), "{e}");
        let e = err(&chains(&[
            "id = \"a\"",
            "id = \"b\"\n[chain.ingest]\nin_flight = 0",
        ]));
        assert!(e.contains("chain[1].ingest.in_flight"), "{e}");
        let e = err(&chains(&["id = \"a\"", "id = \"b\"\nsurprise = 1"]));
        assert!(e.contains("surprise"), "{e}");
        let e = err(&chains(&["id = \"a\"\nendpoints = []"])
            .replace("endpoints = [\"http://127.0.0.1:20200\"]\n", ""));
        assert!(e.contains("chain.endpoints"), "{e}");
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API returns its own large error
    fn environment_overrides_the_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("lookthrough.toml", GOOD)?;
            jail.set_env("LOOKTHROUGH_CHAIN__GROUP", "group7");
            jail.set_env("LOOKTHROUGH_INGEST__IN_FLIGHT", "3");
            jail.set_env("LOOKTHROUGH_KEY_PASSPHRASE", "not a config key");
            let c = Config::load(Path::new("lookthrough.toml")).map_err(|e| e.to_string())?;
            assert_eq!(c.chains[0].group, "group7");
            assert_eq!(c.ingest.in_flight, 3);
            jail.set_env("LOOKTHROUGH_INGEST__NOPE", "3");
            let e = Config::load(Path::new("lookthrough.toml")).unwrap_err();
            assert!(format!("{e:#}").contains("nope"), "{e:#}");
            Ok(())
        });
    }
}
