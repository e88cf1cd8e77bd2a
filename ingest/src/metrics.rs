//! The pipeline's Prometheus metrics, read from [`Stats`] and the store at
//! each scrape (nothing is counted twice, and a restarted node reports the
//! stored totals at once).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use super::Stats;
use crate::health::{Health, State};
use store::Store;

/// Reports the ingest counters on each scrape.
#[derive(Debug)]
pub struct IngestCollector {
    stats: Arc<Stats>,
    store: Arc<Store>,
    health: Option<Arc<Health>>,
}

impl IngestCollector {
    /// A collector over `stats` and `store`.
    pub fn new(stats: Arc<Stats>, store: Arc<Store>) -> Self {
        Self {
            stats,
            store,
            health: None,
        }
    }

    /// The same collector, also reporting each endpoint's health.
    pub fn with_health(mut self, health: Arc<Health>) -> Self {
        self.health = Some(health);
        self
    }

    /// A registry holding only this collector.
    pub fn registry(self) -> Registry {
        let mut r = Registry::default();
        r.register_collector(Box::new(self));
        r
    }
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: i64,
) -> Result<(), std::fmt::Error> {
    let g = ConstGauge::new(value);
    g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)
}

fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let c = ConstCounter::new(value);
    c.encode(encoder.encode_descriptor(name, help, None, c.metric_type())?)
}

impl Collector for IngestCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = &self.stats;
        gauge(
            &mut encoder,
            "lookthrough_height",
            "Highest block height stored (-1 when empty)",
            s.height.load(Ordering::Relaxed),
        )?;
        gauge(
            &mut encoder,
            "lookthrough_chain_head",
            "Highest block height an endpoint reported",
            s.head.load(Ordering::Relaxed),
        )?;
        gauge(
            &mut encoder,
            "lookthrough_lag_blocks",
            "Blocks between the chain head and the stored height",
            s.lag(),
        )?;
        let rate = ConstGauge::new(s.tx_per_second());
        rate.encode(encoder.encode_descriptor(
            "lookthrough_ingest_tx_per_second",
            "Transactions stored per second over the last 10 s",
            None,
            rate.metric_type(),
        )?)?;
        counter(
            &mut encoder,
            "lookthrough_blocks_ingested",
            "Blocks verified and stored by this process",
            s.blocks.load(Ordering::Relaxed),
        )?;
        counter(
            &mut encoder,
            "lookthrough_transactions_ingested",
            "Transactions verified and stored by this process",
            s.txs.load(Ordering::Relaxed),
        )?;
        counter(
            &mut encoder,
            "lookthrough_envelopes_opened",
            "Envelopes opened with the regulator's keys by this process",
            s.opened.load(Ordering::Relaxed),
        )?;
        counter(
            &mut encoder,
            "lookthrough_findings",
            "Blocks that failed verification, recorded by this process",
            s.findings.load(Ordering::Relaxed),
        )?;
        // The SM2 verifier's key tables (shared by every verification of
        // the process).
        let sm2 = chain::sm2verify::shared().stats();
        counter(
            &mut encoder,
            "lookthrough_sm2_key_table_hits",
            "SM2 verifications whose public key had a cached table",
            sm2.hits,
        )?;
        counter(
            &mut encoder,
            "lookthrough_sm2_key_table_misses",
            "SM2 verifications whose public key had no cached table",
            sm2.misses,
        )?;
        counter(
            &mut encoder,
            "lookthrough_sm2_key_tables_built",
            "SM2 key tables built (on a key's second sighting, within the build budget)",
            sm2.built,
        )?;
        counter(
            &mut encoder,
            "lookthrough_sm2_key_tables_evicted",
            "SM2 key tables dropped to make room",
            sm2.evicted,
        )?;
        gauge(
            &mut encoder,
            "lookthrough_sm2_key_table_bytes",
            "Memory held by cached SM2 key tables",
            i64::try_from(sm2.bytes).unwrap_or(i64::MAX),
        )?;
        counter(
            &mut encoder,
            "lookthrough_network_errors",
            "Endpoint requests that failed on the network",
            s.network_errors.load(Ordering::Relaxed),
        )?;
        for (name, help, t) in [
            (
                "lookthrough_ingest_fetch",
                "Time to fetch a block with its receipts from an endpoint",
                &s.fetch_seconds,
            ),
            (
                "lookthrough_ingest_verify",
                "Time to verify a block: hashes, roots, sealer and sender signatures, receipts",
                &s.verify_seconds,
            ),
            (
                "lookthrough_ingest_open",
                "Time to open a block's envelopes with the regulator's keys and seal the records",
                &s.open_seconds,
            ),
            (
                "lookthrough_ingest_commit",
                "Time to commit a block to the store (one synced batch)",
                &s.commit_seconds,
            ),
        ] {
            t.encode(&mut encoder, name, help)?;
        }
        let mut cross = encoder.encode_descriptor(
            "lookthrough_cross_checks",
            "Answers of endpoints asked for a stored block's hash (ingest.confirm): agreed, disagreed (each a finding), unanswered; skipped counts blocks not checked while too many checks ran",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (result, n) in [
            ("agreed", &s.confirmed),
            ("disagreed", &s.disagreed),
            ("unanswered", &s.unconfirmed),
            ("skipped", &s.skipped_checks),
        ] {
            ConstCounter::new(n.load(Ordering::Relaxed))
                .encode(cross.encode_family(&[("result", result)])?)?;
        }
        if let Some(h) = &self.health {
            encode_health(&mut encoder, h)?;
        }
        // Totals over the whole store; a read error leaves them out of this
        // scrape rather than failing it.
        if let Ok(counts) = self.store.class_counts() {
            let mut family = encoder.encode_descriptor(
                "lookthrough_stored_transactions",
                "Transactions in the store, by envelope class",
                None,
                prometheus_client::metrics::MetricType::Gauge,
            )?;
            for (class, n) in counts {
                let labels = [("class", class)];
                ConstGauge::new(n).encode(family.encode_family(&labels)?)?;
            }
        }
        if let Ok(n) = self.store.finding_count() {
            gauge(
                &mut encoder,
                "lookthrough_stored_findings",
                "Findings in the store",
                n,
            )?;
        }
        Ok(())
    }
}

/// Each endpoint's latency histogram, errors, findings, head and state.
fn encode_health(encoder: &mut DescriptorEncoder, h: &Health) -> Result<(), std::fmt::Error> {
    use prometheus_client::metrics::MetricType;
    h.latency_histograms().encode(encoder.encode_descriptor(
        "lookthrough_endpoint_latency_seconds",
        "Time an endpoint took to answer (abandoned requests count the time they ran)",
        None,
        MetricType::Histogram,
    )?)?;
    let reports = h.reports();
    let mut errors = encoder.encode_descriptor(
        "lookthrough_endpoint_errors",
        "Requests to an endpoint that failed on the network or passed their deadline",
        None,
        MetricType::Counter,
    )?;
    for r in &reports {
        ConstCounter::new(r.errors)
            .encode(errors.encode_family(&[("endpoint", r.url.as_str())])?)?;
    }
    let mut findings = encoder.encode_descriptor(
        "lookthrough_endpoint_findings",
        "Answers of an endpoint that failed a check (each benches it)",
        None,
        MetricType::Counter,
    )?;
    for r in &reports {
        ConstCounter::new(r.findings)
            .encode(findings.encode_family(&[("endpoint", r.url.as_str())])?)?;
    }
    let mut heads = encoder.encode_descriptor(
        "lookthrough_endpoint_head",
        "The head an endpoint last reported (-1: none yet)",
        None,
        MetricType::Gauge,
    )?;
    for r in &reports {
        ConstGauge::new(r.head.unwrap_or(-1))
            .encode(heads.encode_family(&[("endpoint", r.url.as_str())])?)?;
    }
    let mut states = encoder.encode_descriptor(
        "lookthrough_endpoint_state",
        "1 for an endpoint's current state (healthy, slow, failing, benched), 0 for the others",
        None,
        MetricType::Gauge,
    )?;
    for r in &reports {
        for s in State::ALL {
            let labels = [("endpoint", r.url.as_str()), ("state", s.as_str())];
            ConstGauge::new(i64::from(r.state == s)).encode(states.encode_family(&labels)?)?;
        }
    }
    Ok(())
}

/// Renders `registry` in the Prometheus text format.
pub fn render(registry: &Registry) -> String {
    let mut out = String::new();
    if prometheus_client::encoding::prometheus_text::encode(&mut out, registry).is_err() {
        out.clear();
    }
    out
}
