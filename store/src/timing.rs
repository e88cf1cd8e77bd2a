//! A latency histogram in seconds with the node's one set of buckets
//! (100 µs to about 26 s, doubling), for the timings every stage of the
//! pipeline shows in `/metrics`: ingest's fetch, verify, open and commit,
//! the index's commit and the rules' evaluation. It lives here, in the
//! crate every stage shares, so that all of them bucket alike and a
//! dashboard can put them side by side.

use std::time::{Duration, Instant};

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

/// The buckets' upper bounds: 0.0001 s doubling 19 times.
fn buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.000_1, 2.0, 19)
}

/// A latency histogram.
#[derive(Debug)]
pub struct Seconds(Histogram);

impl Default for Seconds {
    fn default() -> Self {
        Self(Histogram::new(buckets()))
    }
}

impl Seconds {
    /// Counts one duration.
    pub fn observe(&self, d: Duration) {
        self.0.observe(d.as_secs_f64());
    }

    /// Counts the time since `start`.
    pub fn since(&self, start: Instant) {
        self.observe(start.elapsed());
    }

    /// The histogram itself (to write it as one member of a labelled
    /// family).
    pub fn histogram(&self) -> &prometheus_client::metrics::histogram::Histogram {
        &self.0
    }

    /// Writes the histogram as `name` (with `help`) into a scrape.
    pub fn encode(
        &self,
        encoder: &mut DescriptorEncoder,
        name: &str,
        help: &str,
    ) -> Result<(), std::fmt::Error> {
        self.0.encode(encoder.encode_descriptor(
            name,
            help,
            Some(&prometheus_client::registry::Unit::Seconds),
            self.0.metric_type(),
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_their_buckets() {
        let s = Seconds::default();
        s.observe(Duration::from_micros(50));
        s.observe(Duration::from_millis(3));
        s.observe(Duration::from_secs(100));
        let mut text = String::new();
        let mut r = prometheus_client::registry::Registry::default();
        struct C(Seconds);
        impl std::fmt::Debug for C {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("C")
            }
        }
        impl prometheus_client::collector::Collector for C {
            fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
                self.0.encode(&mut e, "t", "a timing")
            }
        }
        r.register_collector(Box::new(C(s)));
        prometheus_client::encoding::text::encode(&mut text, &r).unwrap_or_default();
        assert!(text.contains("t_seconds_count 3"), "{text}");
        assert!(text.contains("t_seconds_bucket{le=\"0.0001\"} 1"), "{text}");
        assert!(text.contains("t_seconds_bucket{le=\"0.0032\"} 2"), "{text}");
        assert!(text.contains("t_seconds_bucket{le=\"+Inf\"} 3"), "{text}");
    }
}
