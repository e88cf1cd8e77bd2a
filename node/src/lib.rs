//! `lookthrough run`: the regulator's node, following a chain into the
//! store, with progress, logs and `/metrics`.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use std::future::Future;

use anyhow::{Context, Result};
use axum::Router;
use axum::routing::get;
use indexer::metrics::IndexCollector;
use indexer::{IndexStats, Indexer, IndexerConfig, TxIndex};
use observer_node::ingest::metrics::{IngestCollector, render};
use observer_node::ingest::{Ingest, IngestConfig, Stats};
use observer_node::store::Store;
use privacy::at_rest::RecordSealer;
use privacy::keyring::Keyring;
use prometheus_client::registry::Registry;

use crate::config::{Config, KeyEntry};

/// Loads the regulator's keys.
pub fn open_keyring(keys: &[KeyEntry]) -> Result<Keyring> {
    let mut ring = Keyring::new();
    for (i, k) in keys.iter().enumerate() {
        let id = ring
            .load_pem_file(&k.path, k.passphrase_env.as_deref())
            .with_context(|| format!("keys.regulator[{i}]: {}", k.path.display()))?;
        tracing::info!(key = %id, path = %k.path.display(), "loaded regulator key");
    }
    Ok(ring)
}

/// A node's parts, wired.
pub struct Node {
    /// The store.
    pub store: Arc<Store>,
    /// The pipeline.
    pub ingest: Arc<Ingest>,
    /// The search index (when indexing).
    pub index: Option<Arc<TxIndex>>,
    /// Seals and opens decrypted records at rest.
    pub sealer: Arc<RecordSealer>,
    indexer: Option<Indexer>,
    index_stats: Option<Arc<IndexStats>>,
    policies: Option<policies::Engine>,
    policy_stats: Option<Arc<policies::EngineStats>>,
    senders: Vec<policies::deliver::Sender>,
    sender_stats: Vec<(String, Arc<policies::deliver::SenderStats>)>,
}

impl Node {
    /// Opens the store in `DATA_DIR/store` and builds the pipeline; with
    /// `index`, also the search index in `DATA_DIR/index` and its follower.
    pub fn open(
        config: IngestConfig,
        data_dir: &Path,
        keyring: Keyring,
        index: Option<IndexerConfig>,
    ) -> Result<Self> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
        let path = data_dir.join("store");
        let store = Arc::new(
            Store::open(&path)
                .with_context(|| format!("cannot open the store {}", path.display()))?,
        );
        let sealer = Arc::new(RecordSealer::from_keyring(&keyring)?);
        let ingest = Arc::new(Ingest::new(
            config,
            store.clone(),
            Arc::new(keyring),
            sealer.clone(),
        )?);
        let (index, indexer) = match index {
            None => (None, None),
            Some(ic) => {
                let dir = data_dir.join("index");
                let index = Arc::new(TxIndex::open(&dir)?);
                let indexer = Indexer::new(index.clone(), store.clone(), sealer.clone(), ic)?;
                (Some(index), Some(indexer))
            }
        };
        let index_stats = indexer.as_ref().map(Indexer::stats);
        Ok(Self {
            store,
            ingest,
            index,
            sealer,
            indexer,
            index_stats,
            policies: None,
            policy_stats: None,
            senders: Vec::new(),
            sender_stats: Vec::new(),
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
    ) -> Result<Self> {
        let mut names = Vec::new();
        for c in channels {
            let channel = policies::deliver::Channel::new(c.clone())?;
            names.push(channel.name().to_string());
            let sender = policies::deliver::Sender::new(self.store.clone(), channel);
            self.sender_stats.push((c.name.clone(), sender.stats()));
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
                .stop_at(stop_at);
        self.policy_stats = Some(engine.stats());
        self.policies = Some(engine);
        Ok(self)
    }

    /// The policy engine's counters, when evaluating rules.
    pub fn policy_stats(&self) -> Option<Arc<policies::EngineStats>> {
        self.policy_stats.clone()
    }

    /// The metrics registry of this node.
    pub fn registry(&self) -> Registry {
        let mut r = IngestCollector::new(self.ingest.stats(), self.store.clone()).registry();
        if let Some(s) = &self.index_stats {
            r.register_collector(Box::new(IndexCollector::new(s.clone())));
        }
        if let Some(s) = &self.policy_stats {
            r.register_collector(Box::new(policies::metrics::PolicyCollector::new(
                s.clone(),
                self.sender_stats.clone(),
            )));
        }
        r
    }

    /// The indexer's counters, when indexing.
    pub fn index_stats(&self) -> Option<Arc<IndexStats>> {
        self.index_stats.clone()
    }

    /// Runs the pipeline and the indexer until `shutdown` (or the stop
    /// height of both); the indexer commits what it holds on the way out.
    pub async fn run(&mut self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<()> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stop_tx = Arc::new(stop_tx);
        let signal = tokio::spawn({
            let tx = stop_tx.clone();
            async move {
                shutdown.await;
                let _ = tx.send(true);
            }
        });
        let stops_itself = self.indexer.as_ref().is_some_and(Indexer::has_stop_height);
        let indexer = self
            .indexer
            .take()
            .map(|ix| tokio::spawn(ix.run(stopped(stop_rx.clone()))));
        let policies = self
            .policies
            .take()
            .map(|e| tokio::spawn(e.run(stopped(stop_rx.clone()))));
        let senders: Vec<_> = self
            .senders
            .drain(..)
            .map(|s| tokio::spawn(s.run(stopped(stop_rx.clone()))))
            .collect();
        let result = self.ingest.run(stopped(stop_rx)).await;
        if result.is_err() || !stops_itself {
            let _ = stop_tx.send(true);
        }
        let indexed = match indexer {
            Some(task) => task.await.context("indexer task")?,
            None => Ok(()),
        };
        let evaluated = match policies {
            Some(task) => task.await.context("policy engine task")?,
            None => Ok(()),
        };
        // Senders stop with the node (what they have not sent stays in the
        // outbox for the next start).
        let _ = stop_tx.send(true);
        for s in senders {
            if let Err(e) = s.await.context("sender task")? {
                tracing::error!(error = %e, "sender stopped");
            }
        }
        signal.abort();
        result?;
        indexed?;
        evaluated?;
        Ok(())
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

/// Serves `GET /metrics` on `addr`; returns the bound address.
pub async fn serve_metrics(addr: SocketAddr, registry: Registry) -> Result<SocketAddr> {
    let registry = Arc::new(registry);
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let registry = registry.clone();
            async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    render(&registry),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("server.metrics_listen: cannot listen on {addr}"))?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "metrics server failed");
        }
    });
    Ok(bound)
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

/// Logs progress every `every`, and draws a bar while catching up when
/// stderr is a terminal.
pub async fn report_progress(stats: Arc<Stats>, every: Duration) {
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} catching up [{bar:40}] block {pos}/{len} ({msg})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut last_log = std::time::Instant::now();
    loop {
        tick.tick().await;
        let height = stats.height.load(Ordering::Relaxed);
        let head = stats.head.load(Ordering::Relaxed);
        let rate = stats.tx_per_second();
        if stats.lag() > 0 {
            bar.set_length(head.max(0) as u64);
            bar.set_position(height.max(0) as u64);
            bar.set_message(format!("{rate:.0} tx/s"));
        }
        if last_log.elapsed() >= every {
            last_log = std::time::Instant::now();
            tracing::info!(
                height,
                head,
                lag = stats.lag(),
                tx_per_s = rate.round(),
                txs = stats.txs.load(Ordering::Relaxed),
                opened = stats.opened.load(Ordering::Relaxed),
                findings = stats.findings.load(Ordering::Relaxed),
                "progress"
            );
        }
    }
}

/// `lookthrough run`.
pub fn run(config_path: &Path, until_height: Option<i64>) -> Result<ExitCode> {
    let config = Config::load(config_path)?;
    let mut ingest_config = config.ingest_config()?;
    ingest_config.stop_at = until_height;
    let mut index_config = config.indexer_config();
    index_config.stop_at = until_height;
    let keyring = open_keyring(&config.keys.regulator)?;
    let node_key = config
        .keys
        .node
        .as_ref()
        .map(super::api::load_node_key)
        .transpose()?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let mut node = Node::open(
            ingest_config,
            &config.storage.data_dir,
            keyring,
            Some(index_config),
        )?
        .with_policies(
            config.policies.rules_dir.as_deref(),
            config.policies.watchlists_dir.as_deref(),
            &config.policies.channel,
            until_height,
        )?;
        if let Some(addr) = config.server.metrics_listen {
            let bound = serve_metrics(addr, node.registry()).await?;
            tracing::info!(%bound, "metrics at http://{bound}/metrics");
        }
        let api = match (config.api.listen, node_key, &node.index) {
            (Some(listen), Some(key), Some(index)) => {
                let api = super::api::serve_api(
                    listen,
                    &config.api,
                    node.store.clone(),
                    index.clone(),
                    node.sealer.clone(),
                    key,
                    node.registry(),
                )
                .await?;
                tracing::info!(bound = %api.bound, "GraphQL API at http://{}/graphql", api.bound);
                Some(api)
            }
            _ => None,
        };
        tracing::info!(
            store = %config.storage.data_dir.join("store").display(),
            checkpoint = ?node.store.checkpoint()?,
            endpoints = ?config.chain.endpoints,
            "following the chain"
        );
        let progress = tokio::spawn(report_progress(
            node.ingest.stats(),
            Duration::from_secs(10),
        ));
        let result = node.run(shutdown_signal()).await;
        progress.abort();
        if let Some(api) = &api {
            super::api::seal(&api.audit).await;
        }
        result?;
        tracing::info!(
            checkpoint = ?node.store.checkpoint()?,
            indexed = ?node.index.as_ref().map(|i| i.checkpoint()).transpose()?.flatten().map(|c| c.height),
            "stopped"
        );
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}
