//! The indexer's Prometheus metrics, read from [`IndexStats`] at each
//! scrape.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::follow::IndexStats;

/// Exposes the follower's counters.
#[derive(Debug)]
pub struct IndexCollector {
    stats: Arc<IndexStats>,
}

impl IndexCollector {
    /// A collector over `stats`.
    pub fn new(stats: Arc<IndexStats>) -> Self {
        Self { stats }
    }
}

impl Collector for IndexCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = &self.stats;
        let g = ConstGauge::new(s.height.load(Ordering::Relaxed));
        g.encode(encoder.encode_descriptor(
            "lookthrough_index_height",
            "Highest block height searchable (-1 when empty)",
            None,
            g.metric_type(),
        )?)?;
        let g = ConstGauge::new(i64::try_from(s.docs.load(Ordering::Relaxed)).unwrap_or(i64::MAX));
        g.encode(encoder.encode_descriptor(
            "lookthrough_index_documents",
            "Transactions searchable",
            None,
            g.metric_type(),
        )?)?;
        for (name, help, v) in [
            (
                "lookthrough_index_commits",
                "Index commits made by this process",
                &s.commits,
            ),
            (
                "lookthrough_index_unreadable_records",
                "Stored records the configured keys could not open (indexed without decrypted fields)",
                &s.unreadable_records,
            ),
            (
                "lookthrough_index_redecoded",
                "Documents decoded again after their contract's ABI or mapping changed",
                &s.redecoded,
            ),
        ] {
            let c = ConstCounter::new(v.load(Ordering::Relaxed));
            c.encode(encoder.encode_descriptor(name, help, None, c.metric_type())?)?;
        }
        let g = ConstGauge::new(
            i64::try_from(s.redecode_pending.load(Ordering::Relaxed)).unwrap_or(i64::MAX),
        );
        g.encode(encoder.encode_descriptor(
            "lookthrough_index_redecode_pending",
            "Documents decoded under an older ABI or mapping, still to decode again",
            None,
            g.metric_type(),
        )?)?;
        s.commit_seconds.encode(
            &mut encoder,
            "lookthrough_index_commit",
            "Time an index commit took (documents written, made searchable)",
        )?;
        Ok(())
    }
}
