//! The API's Prometheus metrics: requests by outcome, request latency and
//! the audit log's length. [`ApiMetrics::register`] adds them to a
//! registry (the node's, so `/metrics` shows everything in one scrape).

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::audit::AuditLog;

/// How a request ended.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Answered (GraphQL errors included).
    Answered,
    /// Refused with 401.
    Unauthenticated,
    /// Refused with 429.
    RateLimited,
    /// Stopped at the timeout.
    TimedOut,
    /// Withheld because its reads could not be audited.
    Withheld,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Answered => "answered",
            Outcome::Unauthenticated => "unauthenticated",
            Outcome::RateLimited => "rate_limited",
            Outcome::TimedOut => "timed_out",
            Outcome::Withheld => "withheld",
        }
    }
}

type Labels = Vec<(String, String)>;

/// The API's counters.
#[derive(Debug)]
pub struct ApiMetrics {
    requests: Family<Labels, Counter>,
    latency: Histogram,
    audit: Arc<AuditLog>,
}

impl ApiMetrics {
    /// Metrics of an API whose audit log is `audit`.
    pub fn new(audit: Arc<AuditLog>) -> Self {
        Self {
            requests: Family::default(),
            // 1 ms to about 16 s.
            latency: Histogram::new(exponential_buckets(0.001, 2.0, 15)),
            audit,
        }
    }

    /// Counts one request and its duration.
    pub fn record(&self, outcome: Outcome, elapsed: Duration) {
        self.requests
            .get_or_create(&vec![("outcome".to_string(), outcome.label().to_string())])
            .inc();
        self.latency.observe(elapsed.as_secs_f64());
    }

    /// Adds the metrics to `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "lookthrough_api_requests",
            "GraphQL requests, by how they ended",
            self.requests.clone(),
        );
        registry.register(
            "lookthrough_api_request_seconds",
            "Time to answer a GraphQL request (queries and mutations)",
            self.latency.clone(),
        );
        registry.register_collector(Box::new(AuditCollector(self.audit.clone())));
    }
}

#[derive(Debug)]
struct AuditCollector(Arc<AuditLog>);

impl Collector for AuditCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let g = ConstGauge::new(i64::try_from(self.0.len()).unwrap_or(i64::MAX));
        g.encode(encoder.encode_descriptor(
            "lookthrough_audit_entries",
            "Entries in the audit log of decrypted reads",
            None,
            g.metric_type(),
        )?)?;
        Ok(())
    }
}
