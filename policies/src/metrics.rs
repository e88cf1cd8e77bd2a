//! The policy engine's and senders' Prometheus metrics, read at each
//! scrape.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::deliver::SenderStats;
use crate::engine::EngineStats;

/// Exposes the engine's counters and each channel's delivery counters.
#[derive(Debug)]
pub struct PolicyCollector {
    engine: Arc<EngineStats>,
    senders: Vec<(String, Arc<SenderStats>)>,
}

impl PolicyCollector {
    /// A collector over the engine's and the senders' (by channel) counters.
    pub fn new(engine: Arc<EngineStats>, senders: Vec<(String, Arc<SenderStats>)>) -> Self {
        Self { engine, senders }
    }
}

impl Collector for PolicyCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = &self.engine;
        let g = ConstGauge::new(s.height.load(Ordering::Relaxed));
        g.encode(encoder.encode_descriptor(
            "lookthrough_policy_height",
            "Highest block height the alert rules were evaluated on",
            None,
            g.metric_type(),
        )?)?;
        let g = ConstGauge::new(s.windows.load(Ordering::Relaxed) as i64);
        g.encode(encoder.encode_descriptor(
            "lookthrough_policy_windows",
            "Rule windows (one per rule and group key) live now",
            None,
            g.metric_type(),
        )?)?;
        for (name, help, v) in [
            (
                "lookthrough_policy_windows_evicted",
                "Rule windows dropped to make room for new group keys (policies.max_windows reached)",
                &s.windows_evicted,
            ),
            (
                "lookthrough_policy_window_events_dropped",
                "Events dropped from rule windows holding their most",
                &s.window_events_dropped,
            ),
            (
                "lookthrough_policy_transactions",
                "Transactions the rules were evaluated on by this process",
                &s.transactions,
            ),
            (
                "lookthrough_policy_eval_errors",
                "Rule evaluations that failed on a transaction (counted as no match)",
                &s.eval_errors,
            ),
            (
                "lookthrough_alerts_opened",
                "Alerts opened by this process",
                &s.alerts_opened,
            ),
            (
                "lookthrough_alert_matches",
                "Matches added to alerts already open",
                &s.matches,
            ),
            (
                "lookthrough_retro_hunt_entries",
                "New watchlist entries looked up over the history already evaluated",
                &s.retro_entries,
            ),
            (
                "lookthrough_retro_hunt_matches",
                "Transactions those retro-hunts found",
                &s.retro_matches,
            ),
        ] {
            let c = ConstCounter::new(v.load(Ordering::Relaxed));
            c.encode(encoder.encode_descriptor(name, help, None, c.metric_type())?)?;
        }
        for (name, help, pick) in [
            (
                "lookthrough_notifications_delivered",
                "Notifications a receiver accepted, by channel",
                (|x: &SenderStats| x.delivered.load(Ordering::Relaxed)) as fn(&SenderStats) -> u64,
            ),
            (
                "lookthrough_notification_failures",
                "Delivery attempts that failed (retried), by channel",
                |x: &SenderStats| x.failures.load(Ordering::Relaxed),
            ),
            (
                "lookthrough_notifications_dead",
                "Notifications given up on (dead letters), by channel",
                |x: &SenderStats| x.dead.load(Ordering::Relaxed),
            ),
        ] {
            let mut family = encoder.encode_descriptor(
                name,
                help,
                None,
                prometheus_client::metrics::MetricType::Counter,
            )?;
            for (channel, stats) in &self.senders {
                let c = ConstCounter::new(pick(stats));
                let labels = [("channel", channel.as_str())];
                c.encode(family.encode_family(&labels)?)?;
            }
        }
        s.evaluation_seconds.encode(
            &mut encoder,
            "lookthrough_rule_evaluation",
            "Time to evaluate one block: its documents read, every rule run, the outcome written",
        )?;
        Ok(())
    }
}
