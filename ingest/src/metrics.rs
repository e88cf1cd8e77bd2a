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

/// Reports the ingest counters on each scrape: of one chain (unlabelled),
/// or of several, each metric once with a `chain` label per chain.
#[derive(Debug)]
pub struct IngestCollector {
    chains: Vec<Source>,
}

/// A chain of [`IngestCollector::for_chains`]: its id, counters, log and
/// endpoints' health.
pub type ChainSource = (String, Arc<Stats>, Arc<Store>, Arc<Health>);

/// One chain's counters, log and endpoints.
#[derive(Debug)]
struct Source {
    /// The chain's id; `None` for the one chain of an unlabelled collector.
    id: Option<String>,
    stats: Arc<Stats>,
    store: Arc<Store>,
    health: Option<Arc<Health>>,
}

impl IngestCollector {
    /// A collector over one chain's `stats` and `store`.
    pub fn new(stats: Arc<Stats>, store: Arc<Store>) -> Self {
        Self {
            chains: vec![Source {
                id: None,
                stats,
                store,
                health: None,
            }],
        }
    }

    /// A collector over several chains, each one's metrics labelled with
    /// its id.
    pub fn for_chains(chains: Vec<ChainSource>) -> Self {
        Self {
            chains: chains
                .into_iter()
                .map(|(id, stats, store, health)| Source {
                    id: Some(id),
                    stats,
                    store,
                    health: Some(health),
                })
                .collect(),
        }
    }

    /// The same collector, also reporting each endpoint's health (of the
    /// one chain of [`IngestCollector::new`]).
    pub fn with_health(mut self, health: Arc<Health>) -> Self {
        if let Some(c) = self.chains.last_mut() {
            c.health = Some(health);
        }
        self
    }

    /// A registry holding only this collector.
    pub fn registry(self) -> Registry {
        let mut r = Registry::default();
        r.register_collector(Box::new(self));
        r
    }
}

/// `extra` labels, after the chain's when it has an id.
fn labels<'a>(c: &'a Source, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut v = Vec::with_capacity(extra.len() + 1);
    if let Some(id) = &c.id {
        v.push(("chain", id.as_str()));
    }
    v.extend_from_slice(extra);
    v
}

/// One metric family over every chain: `value` of each, labelled by chain
/// unless the collector has one unlabelled chain.
fn each<M: EncodeMetric>(
    encoder: &mut DescriptorEncoder,
    chains: &[Source],
    name: &str,
    help: &str,
    value: impl Fn(&Source) -> M,
) -> Result<(), std::fmt::Error> {
    let Some(first) = chains.first() else {
        return Ok(());
    };
    let ty = value(first).metric_type();
    let mut family = encoder.encode_descriptor(name, help, None, ty)?;
    if first.id.is_none() {
        return value(first).encode(family);
    }
    for c in chains {
        value(c).encode(family.encode_family(&labels(c, &[]))?)?;
    }
    Ok(())
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
        let cs = &self.chains;
        let g = |f: fn(&Stats) -> i64| move |c: &Source| ConstGauge::new(f(&c.stats));
        let n = |f: fn(&Stats) -> u64| move |c: &Source| ConstCounter::new(f(&c.stats));
        each(
            &mut encoder,
            cs,
            "lookthrough_height",
            "Highest block height stored (-1 when empty)",
            g(|s| s.height.load(Ordering::Relaxed)),
        )?;
        each(
            &mut encoder,
            cs,
            "lookthrough_chain_head",
            "Highest block height an endpoint reported",
            g(|s| s.head.load(Ordering::Relaxed)),
        )?;
        each(
            &mut encoder,
            cs,
            "lookthrough_lag_blocks",
            "Blocks between the chain head and the stored height",
            g(Stats::lag),
        )?;
        each(
            &mut encoder,
            cs,
            "lookthrough_ingest_tx_per_second",
            "Transactions stored per second over the last 10 s",
            |c: &Source| ConstGauge::new(c.stats.tx_per_second()),
        )?;
        each(
            &mut encoder,
            cs,
            "lookthrough_blocks_ingested",
            "Blocks verified and stored by this process",
            n(|s| s.blocks.load(Ordering::Relaxed)),
        )?;
        each(
            &mut encoder,
            cs,
            "lookthrough_transactions_ingested",
            "Transactions verified and stored by this process",
            n(|s| s.txs.load(Ordering::Relaxed)),
        )?;
        each(
            &mut encoder,
            cs,
            "lookthrough_envelopes_opened",
            "Envelopes opened with the regulator's keys by this process",
            n(|s| s.opened.load(Ordering::Relaxed)),
        )?;
        each(
            &mut encoder,
            cs,
            "lookthrough_findings",
            "Blocks that failed verification, recorded by this process",
            n(|s| s.findings.load(Ordering::Relaxed)),
        )?;
        // The SM2 verifier's key tables (shared by every verification of
        // the process, whatever the chain).
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
        each(
            &mut encoder,
            cs,
            "lookthrough_network_errors",
            "Endpoint requests that failed on the network",
            n(|s| s.network_errors.load(Ordering::Relaxed)),
        )?;
        type Pick = fn(&Stats) -> &store::timing::Seconds;
        let timings: [(&str, &str, Pick); 4] = [
            (
                "lookthrough_ingest_fetch",
                "Time to fetch a block with its receipts from an endpoint",
                |s| &s.fetch_seconds,
            ),
            (
                "lookthrough_ingest_verify",
                "Time to verify a block: hashes, roots, sealer and sender signatures, receipts",
                |s| &s.verify_seconds,
            ),
            (
                "lookthrough_ingest_open",
                "Time to open a block's envelopes with the regulator's keys and seal the records",
                |s| &s.open_seconds,
            ),
            (
                "lookthrough_ingest_commit",
                "Time to commit a block to the store (one synced batch)",
                |s| &s.commit_seconds,
            ),
        ];
        for (name, help, pick) in timings {
            match cs.as_slice() {
                [one] if one.id.is_none() => pick(&one.stats).encode(&mut encoder, name, help)?,
                _ => {
                    let mut family = encoder.encode_descriptor(
                        name,
                        help,
                        Some(&prometheus_client::registry::Unit::Seconds),
                        prometheus_client::metrics::MetricType::Histogram,
                    )?;
                    for c in cs {
                        pick(&c.stats)
                            .histogram()
                            .encode(family.encode_family(&labels(c, &[]))?)?;
                    }
                }
            }
        }
        let mut cross = encoder.encode_descriptor(
            "lookthrough_cross_checks",
            "Answers of endpoints asked for a stored block's hash (ingest.confirm): agreed, disagreed (each a finding), unanswered; skipped counts blocks not checked while too many checks ran",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for c in cs {
            let s = &c.stats;
            for (result, n) in [
                ("agreed", &s.confirmed),
                ("disagreed", &s.disagreed),
                ("unanswered", &s.unconfirmed),
                ("skipped", &s.skipped_checks),
            ] {
                ConstCounter::new(n.load(Ordering::Relaxed))
                    .encode(cross.encode_family(&labels(c, &[("result", result)]))?)?;
            }
        }
        encode_health(&mut encoder, cs)?;
        // Totals over the whole store; a read error leaves them out of this
        // scrape rather than failing it.
        let mut family = encoder.encode_descriptor(
            "lookthrough_stored_transactions",
            "Transactions in the store, by envelope class",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for c in cs {
            if let Ok(counts) = c.store.class_counts() {
                for (class, n) in counts {
                    ConstGauge::new(n)
                        .encode(family.encode_family(&labels(c, &[("class", class.as_str())]))?)?;
                }
            }
        }
        let found: Vec<i64> = cs
            .iter()
            .map(|c| c.store.finding_count())
            .collect::<Result<_, _>>()
            .unwrap_or_default();
        if found.len() == cs.len() {
            each(
                &mut encoder,
                cs,
                "lookthrough_stored_findings",
                "Findings in the store",
                |c: &Source| {
                    let i = cs
                        .iter()
                        .position(|x| std::ptr::eq(x, c))
                        .unwrap_or_default();
                    ConstGauge::new(found.get(i).copied().unwrap_or_default())
                },
            )?;
        }
        Ok(())
    }
}

/// Each endpoint's latency histogram, errors, findings, head and state, of
/// every chain (labelled with the chain when there are several).
fn encode_health(encoder: &mut DescriptorEncoder, cs: &[Source]) -> Result<(), std::fmt::Error> {
    use prometheus_client::metrics::MetricType;
    let healths: Vec<(&Source, &Health, Vec<crate::health::Report>)> = cs
        .iter()
        .filter_map(|c| c.health.as_deref().map(|h| (c, h, h.reports())))
        .collect();
    if healths.is_empty() {
        return Ok(());
    }
    let mut latency = encoder.encode_descriptor(
        "lookthrough_endpoint_latency_seconds",
        "Time an endpoint took to answer (abandoned requests count the time they ran)",
        None,
        MetricType::Histogram,
    )?;
    for (c, h, reports) in &healths {
        for r in reports {
            let hist = h
                .latency_histograms()
                .get_or_create(&crate::health::EndpointLabel {
                    endpoint: r.url.clone(),
                });
            hist.encode(latency.encode_family(&labels(c, &[("endpoint", r.url.as_str())]))?)?;
        }
    }
    let mut errors = encoder.encode_descriptor(
        "lookthrough_endpoint_errors",
        "Requests to an endpoint that failed on the network or passed their deadline",
        None,
        MetricType::Counter,
    )?;
    for (c, _, reports) in &healths {
        for r in reports {
            ConstCounter::new(r.errors)
                .encode(errors.encode_family(&labels(c, &[("endpoint", r.url.as_str())]))?)?;
        }
    }
    let mut findings = encoder.encode_descriptor(
        "lookthrough_endpoint_findings",
        "Answers of an endpoint that failed a check (each benches it)",
        None,
        MetricType::Counter,
    )?;
    for (c, _, reports) in &healths {
        for r in reports {
            ConstCounter::new(r.findings)
                .encode(findings.encode_family(&labels(c, &[("endpoint", r.url.as_str())]))?)?;
        }
    }
    let mut heads = encoder.encode_descriptor(
        "lookthrough_endpoint_head",
        "The head an endpoint last reported (-1: none yet)",
        None,
        MetricType::Gauge,
    )?;
    for (c, _, reports) in &healths {
        for r in reports {
            ConstGauge::new(r.head.unwrap_or(-1))
                .encode(heads.encode_family(&labels(c, &[("endpoint", r.url.as_str())]))?)?;
        }
    }
    let mut states = encoder.encode_descriptor(
        "lookthrough_endpoint_state",
        "1 for an endpoint's current state (healthy, slow, failing, benched), 0 for the others",
        None,
        MetricType::Gauge,
    )?;
    for (c, _, reports) in &healths {
        for r in reports {
            for s in State::ALL {
                let l = labels(c, &[("endpoint", r.url.as_str()), ("state", s.as_str())]);
                ConstGauge::new(i64::from(r.state == s)).encode(states.encode_family(&l)?)?;
            }
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
