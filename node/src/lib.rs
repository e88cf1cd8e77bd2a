//! The node's wiring, written once: the configuration (`lookthrough.toml`),
//! the store, the ingest pipeline, the search index and its follower, the
//! rule engine and its senders ([`Node`]), the GraphQL API with the
//! dashboards beside it ([`api::ApiParts`], whose `app()` is the one
//! `Router`), and `/metrics`.
//!
//! `lookthrough run`, `lookthrough demo`, the benchmarks and the tests all
//! build a node through this crate, so what they run is what ships.

pub mod api;
pub mod config;
pub mod keys;
pub mod metrics;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use indexer::metrics::IndexCollector;
use indexer::{IndexError, IndexStats, Indexer, IndexerConfig, TxIndex};
use ingest::metrics::IngestCollector;
use ingest::{Ingest, IngestConfig, IngestError};
use privacy::at_rest::RecordSealer;
use privacy::keyring::Keyring;
use prometheus_client::registry::Registry;
use store::{Store, StoreError};

pub use config::{Config, ConfigError};

/// Why a node could not be built or stopped with an error. Each variant
/// names what failed (a file, a directory, a component).
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The configuration is not usable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A key file could not be read, decrypted or written.
    #[error("{what}: {}: {source}", path.display())]
    Key {
        /// Which key (`keys.regulator[0]`, `keys.node`, ...).
        what: String,
        /// Its file.
        path: PathBuf,
        /// Why.
        source: privacy::Error,
    },
    /// A private key file could not be created.
    #[error("cannot write private key file {}: {source}", path.display())]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The record sealer could not be derived from the keyring.
    #[error("cannot derive the record key: {0}")]
    Sealer(privacy::Error),
    /// The data directory could not be created.
    #[error("cannot create the data directory {}: {source}", path.display())]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The store could not be opened or read.
    #[error("store {}: {source}", path.display())]
    Store {
        /// The store's directory.
        path: PathBuf,
        /// Why.
        source: StoreError,
    },
    /// The search index failed.
    #[error("index: {0}")]
    Index(#[from] IndexError),
    /// The fetcher of contract ABIs could not start.
    #[error("ABI fetcher: {0}")]
    AbiFetcher(String),
    /// The ingest pipeline failed.
    #[error("ingest: {0}")]
    Ingest(#[from] IngestError),
    /// A notification channel is misconfigured.
    #[error("policies.channel: {0}")]
    Channel(#[from] policies::deliver::ChannelError),
    /// The watchlists could not be read.
    #[error("policies.watchlists_dir: {0}")]
    Watchlists(#[from] policies::watchlist::WatchlistError),
    /// The rule engine failed.
    #[error("rule engine: {0}")]
    Engine(#[from] policies::EngineError),
    /// The audit log could not be opened.
    #[error("audit log: {0}")]
    Audit(#[from] query_api::audit::AuditError),
    /// The JWT settings are not usable.
    #[error("api.jwt: {0}")]
    Jwt(#[from] query_api::auth::AuthError),
    /// A server could not listen.
    #[error("{what}: cannot listen on {addr}: {source}")]
    Listen {
        /// The setting (`api.listen`, `server.metrics_listen`).
        what: &'static str,
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A configured ABI could not be read or registered.
    #[error("abi {}: {reason}", path.display())]
    Abi {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A configured business mapping could not be saved.
    #[error("mapping[{index}]: {reason}")]
    Mapping {
        /// Its position in the configuration.
        index: usize,
        /// Why.
        reason: String,
    },
    /// The distributed mode's log failed.
    #[error("stream: {0}")]
    Stream(#[from] stream::LogError),
    /// A component's task panicked: a bug, reported as one.
    #[error("the {task} task panicked: {source}")]
    Panicked {
        /// Which component.
        task: &'static str,
        /// The join error.
        source: tokio::task::JoinError,
    },
}

/// One chain a node follows: its id, its log in the store and the pipeline
/// that fills it.
pub struct ChainParts {
    /// The chain's id (`[[chain]] id`).
    pub id: String,
    /// Its group.
    pub group: String,
    /// Its log's handle.
    pub store: Arc<Store>,
    /// Its pipeline.
    pub ingest: Arc<Ingest>,
    /// Its crypto suite.
    pub suite: chain::CryptoSuite,
    abi_fetcher: Option<ingest::abis::AbiFetcher>,
}

/// A chain to open: its id and its pipeline's configuration.
#[derive(Debug, Clone)]
pub struct ChainSpec {
    /// The chain's id.
    pub id: String,
    /// Its pipeline's configuration.
    pub ingest: IngestConfig,
}

/// A node's parts, wired: the store, the pipelines that fill it (one per
/// chain), and the consumers that follow every chain through the store's
/// merged log (the index, the rule engine, the senders).
pub struct Node {
    /// The store, as the first chain's handle (every handle reads the
    /// node's own records alike).
    pub store: Arc<Store>,
    /// The first chain's pipeline.
    pub ingest: Arc<Ingest>,
    /// Every chain followed, the first first.
    pub chains: Vec<ChainParts>,
    /// The search index (when indexing).
    pub index: Option<Arc<TxIndex>>,
    /// Seals and opens decrypted records at rest.
    pub sealer: Arc<RecordSealer>,
    /// The regulator's keys (ingest opens envelopes with them; evidence
    /// packs prove wraps with them).
    pub keyring: Arc<Keyring>,
    /// The chain's crypto suite.
    pub suite: chain::CryptoSuite,
    /// Reads each stored block once for the index and the rules.
    reader: Arc<records::BlockReader>,
    /// Merges the chains' logs when there are several.
    merger: Option<store::merge::Merger>,
    fetches_abis: bool,
    indexer: Option<Indexer>,
    index_stats: Option<Arc<IndexStats>>,
    policies: Option<policies::Engine>,
    policy_stats: Option<Arc<policies::EngineStats>>,
    senders: Vec<policies::deliver::Sender>,
    sender_stats: Vec<(String, Arc<policies::deliver::SenderStats>)>,
    /// Every follower's progress, for `/metrics`.
    stages: Vec<Arc<store::follow::Progress>>,
    /// The distributed mode's settings and role, when not embedded.
    stream: Option<StreamParts>,
}

/// One chain's run in the distributed mode: its observer's or its
/// follower's loop.
type LogRun = std::pin::Pin<Box<dyn Future<Output = Result<(), stream::LogError>> + Send>>;

/// A node's part in the distributed mode ([`stream`]).
struct StreamParts {
    config: stream::LogConfig,
    /// As an observer, each chain's lease and publisher state.
    observed: Vec<stream::observe::Observed>,
}

impl Node {
    /// The node a configuration describes: its keys, its store and index in
    /// `storage.data_dir`, its rules, watchlists and channels. With
    /// `until_height`, ingest, the index and the rules stop at that height.
    pub fn build(config: &Config, until_height: Option<i64>) -> Result<Self, NodeError> {
        chain::sm2verify::shared().set_capacity(config.ingest.sm2_key_tables);
        let mut specs = Vec::new();
        for c in &config.chains {
            let mut ingest = config.chain_ingest_config(c)?;
            ingest.stop_at = until_height;
            specs.push(ChainSpec {
                id: c.id().to_owned(),
                ingest,
            });
        }
        let mut index_config = config.indexer_config();
        // Every chain's blocks up to the height, in the merged log.
        index_config.stop_at = until_height.map(|h| (h + 1) * specs.len() as i64 - 1);
        let keyring = keys::open_keyring(&config.keys.regulator)?;
        if config.is_observer() {
            // An observer follows and publishes; consumers index, evaluate
            // and serve.
            let node = Self::open_chains(specs, &config.storage.data_dir, keyring, None)?;
            return Ok(node.observing(&config.stream));
        }
        let mut node =
            Self::open_chains(specs, &config.storage.data_dir, keyring, Some(index_config))?;
        if config.is_consumer() {
            node = node.consuming(&config.stream);
        }
        node.register_abis(&config.abi)?;
        node.save_mappings(&config.mapping)?;
        node.with_policies(
            config.policies.rules_dir.as_deref(),
            config.policies.watchlists_dir.as_deref(),
            &config.policies.channel,
            until_height.map(|h| (h + 1) * config.chains.len() as i64 - 1),
        )?
        .with_max_windows(config.policies.max_windows)
    }

    /// Makes this node an observer of the distributed mode: each chain is
    /// followed, and its blocks published to the log, only while this node
    /// holds the chain's lease ([`stream::observe`]).
    pub fn observing(mut self, config: &stream::LogConfig) -> Self {
        let observed = self
            .chains
            .iter()
            .map(|c| {
                stream::observe::Observed::new(&c.id, &c.group, c.ingest.clone(), c.store.clone())
            })
            .collect();
        // Contract ABIs are the consumers' business.
        for c in &mut self.chains {
            c.abi_fetcher = None;
        }
        self.stages.clear();
        self.stream = Some(StreamParts {
            config: config.clone(),
            observed,
        });
        self
    }

    /// Makes this node a consumer of the distributed mode: each chain's
    /// blocks come from the log ([`stream::follow`]), verified again before
    /// they are stored; the chains' endpoints serve contract ABIs only.
    pub fn consuming(mut self, config: &stream::LogConfig) -> Self {
        self.stream = Some(StreamParts {
            config: config.clone(),
            observed: Vec::new(),
        });
        self
    }

    /// Saves the configured business mappings (`[[mapping]]`).
    pub fn save_mappings(&self, specs: &[records::mapping::MappingSpec]) -> Result<(), NodeError> {
        for (i, spec) in specs.iter().enumerate() {
            let err = |e: records::mapping::MappingError| NodeError::Mapping {
                index: i,
                reason: e.to_string(),
            };
            let m = records::mapping::Mapping::from_spec(spec).map_err(err)?;
            records::mapping::save(&self.store, &m).map_err(err)?;
        }
        if !specs.is_empty() {
            tracing::info!(mappings = specs.len(), "business mappings saved");
        }
        Ok(())
    }

    /// Registers the configured ABIs (`[[abi]]`): a new version of a
    /// contract's ABI when its file's text changed.
    pub fn register_abis(&self, entries: &[config::AbiEntry]) -> Result<(), NodeError> {
        for a in entries {
            let err = |reason: String| NodeError::Abi {
                path: a.file.clone(),
                reason,
            };
            let address =
                records::abis::parse_address(&a.address).map_err(|e| err(e.to_string()))?;
            let len = std::fs::metadata(&a.file)
                .map_err(|e| err(e.to_string()))?
                .len();
            if len > abi::MAX_ABI_BYTES as u64 {
                return Err(err(format!(
                    "{len} bytes, more than the {} an ABI may have",
                    abi::MAX_ABI_BYTES
                )));
            }
            let text = std::fs::read_to_string(&a.file).map_err(|e| err(e.to_string()))?;
            let source = format!("file:{}", a.file.display());
            for c in self
                .chains
                .iter()
                .filter(|c| a.chain.as_ref().is_none_or(|id| *id == c.id))
            {
                let saved = records::abis::save(
                    &c.store,
                    &address,
                    &text,
                    &source,
                    records::time::now_ms(),
                )
                .map_err(|e| err(e.to_string()))?;
                if let records::abis::Saved::Added(version) = saved {
                    tracing::info!(chain = %c.id, contract = %a.address, version, file = %a.file.display(), "ABI registered");
                }
            }
        }
        Ok(())
    }

    /// Opens the store in `DATA_DIR/store` and builds the pipeline of one
    /// chain (`main`); with `index`, also the search index in
    /// `DATA_DIR/index` and its follower.
    pub fn open(
        config: IngestConfig,
        data_dir: &Path,
        keyring: Keyring,
        index: Option<IndexerConfig>,
    ) -> Result<Self, NodeError> {
        let spec = ChainSpec {
            id: config::DEFAULT_CHAIN_ID.to_owned(),
            ingest: config,
        };
        Self::open_chains(vec![spec], data_dir, keyring, index)
    }

    /// Opens the store in `DATA_DIR/store` with a log for each chain of
    /// `chains` (registered at their first opening) and builds each one's
    /// pipeline; with `index`, also the search index in `DATA_DIR/index`
    /// and its follower. With several chains a merger orders their blocks
    /// for the consumers ([`store::merge`]).
    pub fn open_chains(
        chains: Vec<ChainSpec>,
        data_dir: &Path,
        keyring: Keyring,
        index: Option<IndexerConfig>,
    ) -> Result<Self, NodeError> {
        std::fs::create_dir_all(data_dir).map_err(|source| NodeError::DataDir {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let path = data_dir.join("store");
        let store_err = |source| NodeError::Store {
            path: path.clone(),
            source,
        };
        let root = Store::open(&path).map_err(store_err)?;
        let sealer = Arc::new(RecordSealer::from_keyring(&keyring).map_err(NodeError::Sealer)?);
        let keyring = Arc::new(keyring);
        let suite = chains
            .first()
            .map_or(chain::CryptoSuite::Sm, |c| c.ingest.suite);
        let reader = Arc::new(records::BlockReader::new(sealer.clone(), suite));
        let several = chains.len() > 1;
        let mut parts = Vec::with_capacity(chains.len());
        for spec in chains {
            let config = spec.ingest;
            let store = Arc::new(
                root.open_chain(&spec.id, &config.group)
                    .map_err(store_err)?,
            );
            reader.set_suite(store.chain_number(), config.suite);
            let endpoints = config
                .endpoints
                .iter()
                .map(|url| {
                    ingest::source::Endpoint::new(
                        url,
                        &config.group,
                        &config.node,
                        config.request_timeout,
                    )
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| NodeError::AbiFetcher(e.to_string()))?;
            let mut abi_fetcher =
                ingest::abis::AbiFetcher::new(store.clone(), endpoints, config.stop_at)
                    .map_err(|e| NodeError::AbiFetcher(e.to_string()))?;
            if several {
                abi_fetcher = abi_fetcher.named(&format!("abis:{}", spec.id));
            }
            let suite = config.suite;
            let group = config.group.clone();
            let ingest = Arc::new(Ingest::new(
                config,
                store.clone(),
                keyring.clone(),
                sealer.clone(),
            )?);
            parts.push(ChainParts {
                id: spec.id,
                group,
                store,
                ingest,
                suite,
                abi_fetcher: Some(abi_fetcher),
            });
        }
        let first = parts.first().ok_or_else(|| ConfigError::Invalid {
            key: "chain".into(),
            message: "at least one chain is needed".into(),
        })?;
        let (store, ingest) = (first.store.clone(), first.ingest.clone());
        let merger = several.then(|| {
            store::merge::Merger::new(
                parts.iter().map(|c| c.store.clone()).collect(),
                store::merge::DEFAULT_HOLD,
            )
        });
        let (index, indexer) = match index {
            None => (None, None),
            Some(ic) => {
                let dir = data_dir.join("index");
                let index = match TxIndex::open(&dir) {
                    Err(IndexError::SchemaChanged { .. }) => {
                        // The index is a view of the store: an index of an
                        // older schema is dropped and built again.
                        tracing::warn!(index = %dir.display(), "the index was made by an older version; rebuilding it from the store (searches see it grow)");
                        std::fs::remove_dir_all(&dir).map_err(|e| IndexError::io(&dir, e))?;
                        TxIndex::open(&dir)?
                    }
                    opened => opened?,
                };
                let index = Arc::new(index);
                let indexer = Indexer::new(index.clone(), store.clone(), sealer.clone(), ic)?
                    .shared_reader(reader.clone());
                (Some(index), Some(indexer))
            }
        };
        let index_stats = indexer.as_ref().map(Indexer::stats);
        let mut stages: Vec<_> = indexer.iter().map(Indexer::progress).collect();
        for c in &parts {
            if let Some(f) = &c.abi_fetcher {
                stages.push(store::follow::Stage::progress(f));
            }
        }
        Ok(Self {
            store,
            ingest,
            chains: parts,
            index,
            sealer,
            keyring,
            suite,
            reader,
            merger,
            fetches_abis: true,
            indexer,
            index_stats,
            policies: None,
            policy_stats: None,
            senders: Vec::new(),
            sender_stats: Vec::new(),
            stages,
            stream: None,
        })
    }

    /// Evaluates alert rules on every stored block: the built-in
    /// supervision rules, those of `rules_dir`, over the lists of
    /// `watchlists_dir`. A rule that does not compile is reported and left
    /// out; the others run.
    pub fn with_policies(
        mut self,
        rules_dir: Option<&Path>,
        watchlists_dir: Option<&Path>,
        channels: &[policies::deliver::ChannelConfig],
        stop_at: Option<i64>,
    ) -> Result<Self, NodeError> {
        let mut names = Vec::new();
        for c in channels {
            let channel = policies::deliver::Channel::new(c.clone())?;
            names.push(channel.name().to_string());
            let sender = policies::deliver::Sender::new(self.store.clone(), channel);
            self.sender_stats.push((c.name.clone(), sender.stats()));
            self.stages.push(sender.progress());
            self.senders.push(sender);
        }
        let lists = match watchlists_dir {
            Some(d) => policies::Watchlists::load(d)?,
            None => policies::Watchlists::empty(),
        };
        let mut rules = policies::rule::builtin();
        if let Some(dir) = rules_dir {
            let (loaded, errors) = policies::rule::load_dir(dir, Some(&lists.names()));
            for e in &errors {
                tracing::error!(error = %e, "rule left out");
            }
            for r in &loaded {
                for n in r.spec.notify.iter().filter(|n| !names.contains(n)) {
                    tracing::warn!(rule = %r.spec.id, channel = %n, "rule notifies a channel that is not configured; its alerts are kept but not sent there");
                }
            }
            rules.extend(loaded);
            policies::rule::dedupe_ids(&mut rules, &mut Vec::new());
        }
        tracing::info!(
            rules = rules.len(),
            lists = ?lists.sizes(),
            "alert rules loaded"
        );
        let engine =
            policies::Engine::new(self.store.clone(), self.sealer.clone(), rules, lists, names)?
                .shared_reader(self.reader.clone())
                .wait_for_abis(self.fetches_abis)
                .stop_at(stop_at);
        let engine = match &self.index {
            Some(index) => engine.party_index(Arc::new(IndexParties(
                indexer::search::Search::new(index.clone()),
            ))),
            None => engine,
        };
        self.policy_stats = Some(engine.stats());
        self.stages.push(engine.progress());
        self.policies = Some(engine);
        Ok(self)
    }

    /// Keeps at most `max` rule windows live (`[policies] max_windows`).
    pub fn with_max_windows(mut self, max: usize) -> Result<Self, NodeError> {
        if let Some(engine) = self.policies.take() {
            self.policies = Some(engine.max_windows(max)?);
        }
        Ok(self)
    }

    /// The policy engine's counters, when evaluating rules.
    pub fn policy_stats(&self) -> Option<Arc<policies::EngineStats>> {
        self.policy_stats.clone()
    }

    /// The indexer's counters, when indexing.
    pub fn index_stats(&self) -> Option<Arc<IndexStats>> {
        self.index_stats.clone()
    }

    /// The health of the endpoints ingest follows the first chain through,
    /// for the API ([`api::ApiOptions::endpoints`]).
    pub fn endpoint_health(&self) -> Arc<dyn query_api::EndpointHealth> {
        Arc::new(EndpointHealthOf(self.ingest.health()))
    }

    /// What the API needs of each chain: its suite and its endpoints'
    /// health ([`api::ApiOptions::chains`]).
    pub fn api_chains(&self) -> Vec<query_api::ChainOptions> {
        self.chains
            .iter()
            .map(|c| query_api::ChainOptions {
                id: c.id.clone(),
                suite: c.suite,
                endpoints: Some(Arc::new(EndpointHealthOf(c.ingest.health())) as Arc<_>),
            })
            .collect()
    }

    /// The metrics registry of this node (with several chains, each
    /// chain's ingest metrics carry a `chain` label).
    pub fn registry(&self) -> Registry {
        let ingest = if self.chains.len() > 1 {
            IngestCollector::for_chains(
                self.chains
                    .iter()
                    .map(|c| {
                        (
                            c.id.clone(),
                            c.ingest.stats(),
                            c.store.clone(),
                            c.ingest.health(),
                        )
                    })
                    .collect(),
            )
        } else {
            IngestCollector::new(self.ingest.stats(), self.store.clone())
                .with_health(self.ingest.health())
        };
        let mut r = ingest.registry();
        if let Some(s) = &self.index_stats {
            r.register_collector(Box::new(IndexCollector::new(s.clone())));
        }
        if let Some(s) = &self.policy_stats {
            r.register_collector(Box::new(policies::metrics::PolicyCollector::new(
                s.clone(),
                self.sender_stats.clone(),
            )));
        }
        r.register_collector(Box::new(metrics::StageCollector::new(self.stages.clone())));
        r.register_collector(Box::new(metrics::DiskCollector::new(self.store.disk())));
        if let Some(parts) = self.stream.as_ref().filter(|p| !p.observed.is_empty()) {
            r.register_collector(Box::new(metrics::StreamCollector::new(
                parts.observed.clone(),
            )));
        }
        r
    }

    /// Runs the pipeline, the indexer, the rule engine and the senders until
    /// `shutdown` (or the stop height of all of them); the indexer commits
    /// what it holds on the way out, and what the senders have not sent
    /// stays in the outbox for the next start.
    pub async fn run(
        &mut self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), NodeError> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stop_tx = Arc::new(stop_tx);
        let signal = tokio::spawn({
            let tx = stop_tx.clone();
            async move {
                shutdown.await;
                let _ = tx.send(true);
            }
        });
        // A write that fails for the disk pauses its writer; this task
        // probes the directory and resumes them when it takes writes again.
        let disk = tokio::spawn(store::disk::supervise(
            self.store.clone(),
            stopped(stop_rx.clone()),
        ));
        let stops_itself = self.indexer.as_ref().is_some_and(Indexer::has_stop_height);
        let abis: Vec<_> = self
            .chains
            .iter_mut()
            .filter_map(|c| c.abi_fetcher.take())
            .map(|f| tokio::spawn(f.run(stopped(stop_rx.clone()))))
            .collect();
        let merger = self
            .merger
            .take()
            .map(|m| tokio::spawn(reported("merger", m.run(stopped(stop_rx.clone())))));
        let indexer = self
            .indexer
            .take()
            .map(|ix| tokio::spawn(reported("indexer", ix.run(stopped(stop_rx.clone())))));
        let policies = self
            .policies
            .take()
            .map(|e| tokio::spawn(reported("rule engine", e.run(stopped(stop_rx.clone())))));
        let senders: Vec<_> = self
            .senders
            .drain(..)
            .map(|s| tokio::spawn(s.run(stopped(stop_rx.clone()))))
            .collect();
        // The distributed mode's log, when there is one.
        let log = match &self.stream {
            None => None,
            Some(parts) => {
                let connecting = stream::Log::connect(&parts.config);
                tokio::select! {
                    log = connecting => Some(log),
                    () = stopped(stop_rx.clone()) => None,
                }
            }
        };
        let log = match log {
            Some(Err(e)) => {
                let _ = stop_tx.send(true);
                Some(Err(e))
            }
            other => other,
        };
        // Every chain's pipeline (embedded), its lease-holding observer, or
        // its follower of the log; the first error stops the node.
        let mut ingests: Vec<tokio::task::JoinHandle<Result<(), NodeError>>> = Vec::new();
        let mut connect_error = None;
        match log {
            Some(Err(e)) => connect_error = Some(e),
            None if self.stream.is_some() => {}
            None => {
                for c in &self.chains {
                    let ingest = c.ingest.clone();
                    let id = c.id.clone();
                    let stop = stopped(stop_rx.clone());
                    let stop_tx = stop_tx.clone();
                    ingests.push(tokio::spawn(async move {
                        let r = ingest.run(stop).await;
                        if let Err(e) = &r {
                            tracing::error!(chain = %id, error = %e, "ingest stopped with an error; stopping the node");
                            let _ = stop_tx.send(true);
                        }
                        Ok(r?)
                    }));
                }
            }
            Some(Ok(log)) => {
                let parts = self
                    .stream
                    .as_ref()
                    .map(|p| (p.config.node_name(), p.observed.clone()));
                let (name, observed) = parts.unwrap_or_default();
                let runs: Vec<(String, LogRun)> = if observed.is_empty() {
                    self.chains
                        .iter()
                        .map(|c| {
                            let f = stream::follow::Follower::new(
                                log.clone(),
                                c.ingest.clone(),
                                c.store.clone(),
                                &c.id,
                                &name,
                            );
                            let stop = stopped(stop_rx.clone());
                            (
                                c.id.clone(),
                                Box::pin(async move { f.run(stop).await }) as _,
                            )
                        })
                        .collect()
                } else {
                    observed
                        .into_iter()
                        .map(|o| {
                            let id = o.chain.clone();
                            let run = stream::observe::observe(
                                log.clone(),
                                o,
                                name.clone(),
                                stopped(stop_rx.clone()),
                            );
                            (id, Box::pin(run) as _)
                        })
                        .collect()
                };
                for (id, run) in runs {
                    let stop_tx = stop_tx.clone();
                    ingests.push(tokio::spawn(async move {
                        let r = run.await;
                        if let Err(e) = &r {
                            tracing::error!(chain = %id, error = %e, "the chain's log stopped with an error; stopping the node");
                            let _ = stop_tx.send(true);
                        }
                        Ok(r?)
                    }));
                }
            }
        }
        let mut result = match connect_error {
            Some(e) => Err(NodeError::Stream(e)),
            None => Ok(()),
        };
        for task in ingests {
            let r = task.await.map_err(|source| NodeError::Panicked {
                task: "ingest",
                source,
            })?;
            if result.is_ok() {
                result = r;
            }
        }
        if result.is_err() || !stops_itself {
            let _ = stop_tx.send(true);
        }
        let indexed = joined("indexer", indexer).await?;
        let evaluated = joined("rule engine", policies).await?;
        let _ = stop_tx.send(true);
        for task in abis {
            match task.await {
                Ok(Err(e)) => tracing::error!(error = %e, "ABI fetcher stopped"),
                Err(e) => tracing::error!(error = %e, "ABI fetcher panicked"),
                Ok(Ok(())) => {}
            }
        }
        let merged = joined("merger", merger).await?;
        for s in senders {
            let sent = s.await.map_err(|source| NodeError::Panicked {
                task: "sender",
                source,
            })?;
            if let Err(e) = sent {
                tracing::error!(error = %e, "sender stopped");
            }
        }
        signal.abort();
        disk.abort();
        // Awaited, so that nothing of the node (the store's handle the disk
        // supervisor holds) outlives `run`.
        let _ = signal.await;
        let _ = disk.await;
        result?;
        merged.map_err(|source| NodeError::Store {
            path: self.store.path().to_path_buf(),
            source,
        })?;
        indexed?;
        evaluated?;
        Ok(())
    }
}

/// The API's view of ingest's endpoint health.
/// The search index as the rule engine's retro-hunts look parties up in
/// it ([`policies::retro`]).
pub struct IndexParties(pub indexer::search::Search);

impl policies::retro::PartyIndex for IndexParties {
    fn covered(&self) -> Result<Option<i64>, String> {
        self.0
            .index()
            .checkpoint()
            .map(|c| c.map(|c| c.height))
            .map_err(|e| e.to_string())
    }

    fn with_party(&self, entry: &str, up_to: i64) -> Result<Vec<(String, i64)>, String> {
        self.0.with_party(entry, up_to).map_err(|e| e.to_string())
    }
}

struct EndpointHealthOf(Arc<ingest::health::Health>);

impl query_api::EndpointHealth for EndpointHealthOf {
    fn endpoints(&self) -> Vec<query_api::EndpointReport> {
        self.0
            .reports()
            .into_iter()
            .map(|r| query_api::EndpointReport {
                url: r.url,
                state: r.state.as_str().to_string(),
                latency_ms: r.latency.map(|d| d.as_secs_f64() * 1000.0),
                errors: r.errors,
                findings: r.findings,
                head: r.head,
                benched_for_ms: r
                    .benched_for
                    .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            })
            .collect()
    }
}

/// The outcome of an optional task, `Ok` when there is none; a panic is
/// [`NodeError::Panicked`] naming `task`.
async fn joined<E>(
    task: &'static str,
    handle: Option<tokio::task::JoinHandle<Result<(), E>>>,
) -> Result<Result<(), E>, NodeError> {
    match handle {
        Some(h) => h
            .await
            .map_err(|source| NodeError::Panicked { task, source }),
        None => Ok(Ok(())),
    }
}

/// Completes once `rx` holds `true`.
async fn stopped(mut rx: tokio::sync::watch::Receiver<bool>) {
    loop {
        if *rx.borrow_and_update() {
            return;
        }
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = term => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `task`'s future, logging its error the moment it stops with one (the
/// node reports it again when it shuts down), so that a follower that
/// stopped is not silent while ingest goes on.
async fn reported<E: std::fmt::Display>(
    task: &'static str,
    run: impl Future<Output = Result<(), E>>,
) -> Result<(), E> {
    let result = run.await;
    if let Err(e) = &result {
        tracing::error!(task, error = %e, "stopped with an error; the node goes on without it until restarted");
    }
    result
}
