//! `/metrics`: the node's Prometheus registry as a router of its own, for
//! a node that serves metrics without the API, and the metrics every
//! follower of the store shares ([`StageCollector`]).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use ingest::metrics::render;
use prometheus_client::registry::Registry;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use store::follow::Progress;

use crate::NodeError;

/// The followers of the store (`stage` label: `index`, `rules`,
/// `sender:NAME`), read from their [`Progress`] at each scrape: checkpoint,
/// lag behind the chain log, steps taken, waits for new work.
#[derive(Debug)]
pub struct StageCollector {
    stages: Vec<Arc<Progress>>,
}

impl StageCollector {
    /// A collector over `stages`.
    pub fn new(stages: Vec<Arc<Progress>>) -> Self {
        Self { stages }
    }
}

impl Collector for StageCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        type Read = fn(&Progress) -> Option<i64>;
        let gauges: [(&str, &str, Read); 2] = [
            (
                "lookthrough_stage_checkpoint",
                "The last height a follower of the store has handled (-1: none)",
                |p| Some(p.checkpoint()),
            ),
            (
                "lookthrough_stage_lag_blocks",
                "Blocks of the chain log a follower has still to handle, as of its last step",
                |p| {
                    (p.checkpoint() >= 0 || p.head() >= 0)
                        .then(|| (p.head() - p.checkpoint()).max(0))
                },
            ),
        ];
        for (name, help, read) in gauges {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for p in &self.stages {
                if p.name().starts_with("sender:") {
                    // Senders follow their outbox, not heights.
                    continue;
                }
                if let Some(v) = read(p) {
                    let g = ConstGauge::new(v);
                    g.encode(family.encode_family(&[("stage", p.name())])?)?;
                }
            }
        }
        type Count = fn(&Progress) -> u64;
        let counters: [(&str, &str, Count); 2] = [
            (
                "lookthrough_stage_steps",
                "Steps a follower of the store has taken",
                Progress::steps,
            ),
            (
                "lookthrough_stage_waits",
                "Times a follower caught up and waited for new work (woken by the change feed)",
                Progress::waits,
            ),
        ];
        for (name, help, read) in counters {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for p in &self.stages {
                let c = ConstCounter::new(read(p));
                c.encode(family.encode_family(&[("stage", p.name())])?)?;
            }
        }
        Ok(())
    }
}

/// The disk faults (`store::disk`): how many directories cannot be
/// written, and since when each.
#[derive(Debug)]
pub struct DiskCollector {
    disk: Arc<store::disk::Disk>,
}

impl DiskCollector {
    /// The collector of `disk`'s faults.
    pub fn new(disk: Arc<store::disk::Disk>) -> Self {
        Self { disk }
    }
}

impl Collector for DiskCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let faults = self.disk.faults();
        let n = ConstGauge::new(i64::try_from(faults.len()).unwrap_or(i64::MAX));
        n.encode(encoder.encode_descriptor(
            "lookthrough_disk_faults",
            "Directories the node cannot write (full, read-only or failing disk): writing is paused until they take writes again",
            None,
            MetricType::Gauge,
        )?)?;
        let mut family = encoder.encode_descriptor(
            "lookthrough_disk_fault_since_seconds",
            "When a directory's disk fault began (Unix seconds), per directory at fault",
            None,
            MetricType::Gauge,
        )?;
        for f in &faults {
            let dir = f.dir.display().to_string();
            let g = ConstGauge::new(f.since_ms / 1000);
            g.encode(family.encode_family(&[("dir", dir.as_str())])?)?;
        }
        Ok(())
    }
}

/// An observer's part in the distributed mode ([`stream::observe`]), per
/// chain: whether it holds the lease, the height the log holds, what it
/// appended.
#[derive(Debug)]
pub struct StreamCollector {
    observed: Vec<stream::observe::Observed>,
}

impl StreamCollector {
    /// The collector of `observed`.
    pub fn new(observed: Vec<stream::observe::Observed>) -> Self {
        Self { observed }
    }
}

impl Collector for StreamCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use std::sync::atomic::Ordering::Relaxed;
        type Read = fn(&stream::observe::Observed) -> i64;
        let gauges: [(&str, &str, Read); 2] = [
            (
                "lookthrough_stream_lease_held",
                "1 while this observer holds the chain's lease (follows and publishes it)",
                |o| i64::from(o.holding.load(Relaxed)),
            ),
            (
                "lookthrough_stream_published_height",
                "The highest height of the chain the log holds, as this observer last saw it (-1: none)",
                |o| o.stats.published.load(Relaxed),
            ),
        ];
        for (name, help, read) in gauges {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for o in &self.observed {
                ConstGauge::new(read(o))
                    .encode(family.encode_family(&[("chain", o.chain.as_str())])?)?;
            }
        }
        type Count = fn(&stream::observe::Observed) -> u64;
        let counters: [(&str, &str, Count); 3] = [
            (
                "lookthrough_stream_published_blocks",
                "Blocks this observer appended to the log",
                |o| o.stats.blocks.load(Relaxed),
            ),
            (
                "lookthrough_stream_published_bytes",
                "Compressed bytes of block messages this observer appended to the log",
                |o| o.stats.bytes.load(Relaxed),
            ),
            (
                "lookthrough_stream_publish_retries",
                "Appends that failed or found the log moved, then resumed from the log's tail",
                |o| o.stats.retries.load(Relaxed),
            ),
        ];
        for (name, help, read) in counters {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for o in &self.observed {
                ConstCounter::new(read(o))
                    .encode(family.encode_family(&[("chain", o.chain.as_str())])?)?;
            }
        }
        Ok(())
    }
}

/// `GET /metrics` over `registry`.
pub fn router(registry: Registry) -> Router {
    let registry = Arc::new(registry);
    Router::new().route(
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
    )
}

/// Serves [`router`] on `addr` (`server.metrics_listen`); returns the
/// bound address.
pub async fn serve(addr: SocketAddr, registry: Registry) -> Result<SocketAddr, NodeError> {
    let listen = |source| NodeError::Listen {
        what: "server.metrics_listen",
        addr,
        source,
    };
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(listen)?;
    let bound = listener.local_addr().map_err(listen)?;
    let app = router(registry);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "metrics server failed");
        }
    });
    Ok(bound)
}
