//! `lookthrough run`: the regulator's node, built from its configuration by
//! `node::Node::build`, following a chain into the store, with progress,
//! logs, `/metrics` and (with `[api] listen`) the API and the dashboards.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result};
use indexer::search::Search;
use ingest::Stats;
use node::api::{ApiOptions, ApiParts, seal};
use node::{Config, Node, shutdown_signal};

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
    let node_key = config
        .keys
        .node
        .as_ref()
        .map(node::keys::load_node_key)
        .transpose()?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let mut node = Node::build(&config, until_height)?;
        if let Some(addr) = config.server.metrics_listen {
            let bound = node::metrics::serve(addr, node.registry()).await?;
            tracing::info!(%bound, "metrics at http://{bound}/metrics");
        }
        let api = match (config.api.listen, node_key, &node.index) {
            (Some(listen), Some(key), Some(index)) => {
                let api = ApiParts::build(
                    node.store.clone(),
                    Arc::new(Search::new(index.clone())),
                    node.sealer.clone(),
                    Some(key),
                    ApiOptions {
                endpoints: Some(node.endpoint_health()),
                suite: node.suite,
                chains: node.api_chains(),
                keyring: Some(node.keyring.clone()),
                watchlists_dir: config.policies.watchlists_dir.clone(),
                ..ApiOptions::from_section(&config.api, listen)?
            },
                    Some(node.registry()),
                )?;
                let bound = api
                    .serve(listen, Duration::from_secs(config.api.seal_interval_secs))
                    .await?;
                tracing::info!(%bound, "GraphQL API at http://{bound}/graphql");
                Some(api)
            }
            _ => None,
        };
        tracing::info!(
            store = %config.store_dir().display(),
            checkpoint = ?node.store.checkpoint()?,
            chains = ?config.chains.iter().map(|c| c.id()).collect::<Vec<_>>(),
            "following the chain"
        );
        let progress = tokio::spawn(report_progress(
            node.ingest.stats(),
            Duration::from_secs(10),
        ));
        let result = node.run(shutdown_signal()).await;
        progress.abort();
        if let Some(api) = &api {
            seal(&api.audit).await;
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
