//! Endpoint health: which of a group's endpoints to ask, and when to ask
//! another one too.
//!
//! Each endpoint is scored by what it did recently: how long its answers
//! took (a smoothed latency, and the latest samples for a percentile),
//! network errors in a row, and findings (a block that failed a check, a
//! malformed answer). Requests go to the endpoints in [`Health::order`]:
//! healthy ones by latency, then failing ones, then benched ones. A slow
//! answer is hedged ("The Tail at Scale", Dean and Barroso, 2013): the
//! same request goes to the next endpoint after [`Health::hedge_delay`],
//! drawn from the first endpoint's observed latency, and the first good
//! answer wins. A request abandoned because another won counts as a sample
//! of at least the time it ran, so a stalling endpoint falls down the order
//! by itself.
//!
//! An endpoint that served something wrong is benched: asked only when no
//! other endpoint is left, for [`BENCH_FIRST`], doubling with each offence
//! up to [`BENCH_LONGEST`]. Its return is logged.
//!
//! The state sits behind a std mutex held for a few field updates at a
//! time, never across an await or any I/O.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;

/// How long an endpoint is benched at its first offence.
pub const BENCH_FIRST: Duration = Duration::from_secs(30);

/// The longest bench (offences double it up to this).
pub const BENCH_LONGEST: Duration = Duration::from_secs(30 * 60);

/// An endpoint is slow when its latency is over this many times the best
/// endpoint's…
const SLOW_FACTOR: f64 = 4.0;

/// …and over this many milliseconds.
const SLOW_FLOOR_MS: f64 = 50.0;

/// Requests lost in a row (another endpoint answered first) that make an
/// endpoint slow.
const LOST_SLOW: u32 = 3;

/// Latency samples kept per endpoint and kind of request.
const SAMPLES: usize = 32;

/// The hedge delay before an endpoint has answered anything.
const UNKNOWN_HEDGE: Duration = Duration::from_millis(250);

/// Bounds of the latency histogram in `/metrics`, seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// What an endpoint is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// `getBlockNumber`.
    Head,
    /// A block with its receipts.
    Block,
}

/// An endpoint's state, as `/metrics` and the sync status show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    /// Answering, and not much slower than the best.
    Healthy,
    /// Answering, but its latency for heads or for blocks is over four
    /// times the best endpoint's (and over 50 ms): asked after the healthy
    /// ones.
    Slow,
    /// As many network errors in a row as `failover_after`: asked after
    /// every healthy endpoint.
    Failing,
    /// Served something wrong: asked only when no other endpoint is left.
    Benched,
}

impl State {
    /// Every state, in order.
    pub const ALL: [State; 4] = [State::Healthy, State::Slow, State::Failing, State::Benched];

    /// The name in `/metrics`, the API and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Healthy => "healthy",
            State::Slow => "slow",
            State::Failing => "failing",
            State::Benched => "benched",
        }
    }
}

/// One endpoint's health, as reported.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The endpoint's URL.
    pub url: String,
    /// Its state.
    pub state: State,
    /// Smoothed latency of its block requests, if any answered.
    pub latency: Option<Duration>,
    /// Network errors, in all.
    pub errors: u64,
    /// Findings against it, in all.
    pub findings: u64,
    /// The head it last reported.
    pub head: Option<i64>,
    /// How long its bench still lasts.
    pub benched_for: Option<Duration>,
}

#[derive(Debug, Default)]
struct Samples {
    ewma_ms: Option<f64>,
    recent: VecDeque<f64>,
}

impl Samples {
    /// An answer that took `ms`.
    fn add(&mut self, ms: f64) {
        self.smooth(ms);
        if self.recent.len() == SAMPLES {
            self.recent.pop_front();
        }
        self.recent.push_back(ms);
    }

    /// A request left after `ms`: the smoothed latency only (the hedge
    /// delay follows real answers, or a stalling endpoint would push it
    /// up without end).
    fn smooth(&mut self, ms: f64) {
        self.ewma_ms = Some(match self.ewma_ms {
            None => ms,
            Some(e) => 0.7 * e + 0.3 * ms,
        });
    }

    /// The 90th percentile of the recent samples.
    fn p90(&self) -> Option<f64> {
        if self.recent.is_empty() {
            return None;
        }
        let mut v: Vec<f64> = self.recent.iter().copied().collect();
        v.sort_by(f64::total_cmp);
        let i = ((v.len() as f64 * 0.9).ceil() as usize).clamp(1, v.len()) - 1;
        Some(v[i])
    }
}

#[derive(Debug, Default)]
struct Entry {
    head_calls: Samples,
    block_calls: Samples,
    errors: u64,
    errors_in_a_row: u32,
    /// Requests left unanswered in a row because another endpoint won.
    lost_in_a_row: u32,
    findings: u64,
    offences: u32,
    benched_until: Option<Instant>,
    head: Option<i64>,
}

/// The lowest smoothed latencies of the endpoints not benched, for heads
/// and for blocks.
fn best_latency(entries: &[Entry], now: Instant) -> (f64, f64) {
    let best = |f: fn(&Entry) -> Option<f64>| {
        entries
            .iter()
            .filter(|e| e.benched_until.is_none_or(|t| t <= now))
            .filter_map(f)
            .fold(f64::INFINITY, f64::min)
    };
    (
        best(|e| e.head_calls.ewma_ms),
        best(|e| e.block_calls.ewma_ms),
    )
}

/// The `endpoint` label of the per-endpoint metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabel {
    /// The endpoint's URL.
    pub endpoint: String,
}

/// The health of a group's endpoints.
#[derive(Debug)]
pub struct Health {
    urls: Vec<String>,
    entries: Mutex<Vec<Entry>>,
    failover_after: u32,
    hedge_min: Duration,
    hedge_max: Duration,
    latency: Family<EndpointLabel, Histogram>,
}

impl Health {
    /// The health of `urls` (in configured order), an endpoint failing
    /// after `failover_after` network errors in a row, hedge delays kept
    /// within `hedge_min..=hedge_max`.
    pub fn new(
        urls: Vec<String>,
        failover_after: u32,
        hedge_min: Duration,
        hedge_max: Duration,
    ) -> Self {
        let entries = urls.iter().map(|_| Entry::default()).collect();
        Self {
            urls,
            entries: Mutex::new(entries),
            failover_after: failover_after.max(1),
            hedge_min,
            hedge_max: hedge_max.max(hedge_min),
            latency: Family::new_with_constructor(|| Histogram::new(BUCKETS)),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Vec<Entry>) -> T) -> T {
        let mut e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut e)
    }

    /// Endpoint indexes in the order to ask them: healthy ones in
    /// configured order (an operator lists the endpoints it prefers
    /// first), then slow ones by latency, then failing ones, then benched
    /// ones by the end of their bench. A bench that is over is ended here,
    /// and logged.
    pub fn order(&self) -> Vec<usize> {
        self.ranked().into_iter().map(|(_, i)| i).collect()
    }

    /// The endpoints answering now (healthy, then slow), in [`Health::order`].
    pub fn answering(&self) -> Vec<usize> {
        self.ranked()
            .into_iter()
            .filter(|(s, _)| matches!(s, State::Healthy | State::Slow))
            .map(|(_, i)| i)
            .collect()
    }

    /// Each endpoint's state and index, in the order to ask them.
    fn ranked(&self) -> Vec<(State, usize)> {
        let now = Instant::now();
        self.with(|entries| {
            for (i, e) in entries.iter_mut().enumerate() {
                if e.benched_until.is_some_and(|t| t <= now) {
                    e.benched_until = None;
                    tracing::info!(
                        endpoint = %self.urls[i],
                        offences = e.offences,
                        "endpoint back from the bench"
                    );
                }
            }
            let best = best_latency(entries, now);
            let mut keyed: Vec<(State, f64, Duration, usize)> = entries
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    let state = self.state_of(e, best, now);
                    let latency = match state {
                        State::Slow => e.block_calls.ewma_ms.unwrap_or(0.0),
                        _ => 0.0,
                    };
                    let bench = e.benched_until.map_or(Duration::ZERO, |t| t - now);
                    (state, latency, bench, i)
                })
                .collect();
            keyed.sort_by(|a, b| {
                a.0.cmp(&b.0)
                    .then(a.1.total_cmp(&b.1))
                    .then(a.2.cmp(&b.2))
                    .then(a.3.cmp(&b.3))
            });
            keyed.into_iter().map(|k| (k.0, k.3)).collect()
        })
    }

    fn state_of(&self, e: &Entry, best: (f64, f64), now: Instant) -> State {
        let slow = |s: &Samples, best: f64| {
            s.ewma_ms
                .is_some_and(|l| l > SLOW_FACTOR * best && l > SLOW_FLOOR_MS)
        };
        if e.benched_until.is_some_and(|t| t > now) {
            State::Benched
        } else if e.errors_in_a_row >= self.failover_after {
            State::Failing
        } else if e.lost_in_a_row >= LOST_SLOW
            || slow(&e.head_calls, best.0)
            || slow(&e.block_calls, best.1)
        {
            State::Slow
        } else {
            State::Healthy
        }
    }

    /// How long to wait for endpoint `i` before asking the next one too:
    /// twice the 90th percentile of its recent answers of this kind,
    /// within the configured bounds.
    pub fn hedge_delay(&self, i: usize, call: Call) -> Duration {
        let p90 = self.with(|entries| {
            entries.get(i).and_then(|e| match call {
                Call::Head => e.head_calls.p90(),
                Call::Block => e.block_calls.p90(),
            })
        });
        match p90 {
            None => UNKNOWN_HEDGE.clamp(self.hedge_min, self.hedge_max),
            Some(ms) => {
                Duration::from_secs_f64(ms * 2.0 / 1000.0).clamp(self.hedge_min, self.hedge_max)
            }
        }
    }

    /// Endpoint `i` answered a `call` in `took`.
    pub fn answered(&self, i: usize, call: Call, took: Duration) {
        self.sample(i, call, took, true);
        self.with(|entries| {
            if let Some(e) = entries.get_mut(i) {
                e.errors_in_a_row = 0;
                e.lost_in_a_row = 0;
            }
        });
    }

    /// Endpoint `i` was still working on a `call` after `took` when
    /// another endpoint's answer won: a sample of at least that long, which
    /// counts only when it is longer than the endpoint's smoothed latency
    /// (a short one says nothing about how long the answer would have
    /// taken). [`LOST_SLOW`] in a row make the endpoint slow.
    pub fn abandoned(&self, i: usize, call: Call, took: Duration) {
        let ms = took.as_secs_f64() * 1000.0;
        let informative = self.with(|entries| {
            entries.get_mut(i).is_some_and(|e| {
                e.lost_in_a_row = e.lost_in_a_row.saturating_add(1);
                let s = match call {
                    Call::Head => &e.head_calls,
                    Call::Block => &e.block_calls,
                };
                s.ewma_ms.is_none_or(|ewma| ms > ewma)
            })
        });
        if informative {
            self.sample(i, call, took, false);
        }
    }

    fn sample(&self, i: usize, call: Call, took: Duration, answered: bool) {
        let ms = took.as_secs_f64() * 1000.0;
        self.with(|entries| {
            if let Some(e) = entries.get_mut(i) {
                let s = match call {
                    Call::Head => &mut e.head_calls,
                    Call::Block => &mut e.block_calls,
                };
                if answered {
                    s.add(ms);
                } else {
                    s.smooth(ms);
                }
            }
        });
        if let Some(url) = self.urls.get(i) {
            self.latency
                .get_or_create(&EndpointLabel {
                    endpoint: url.clone(),
                })
                .observe(took.as_secs_f64());
        }
    }

    /// Endpoint `i` did not answer (a network error or its deadline).
    /// Returns whether this error made it failing.
    pub fn network_error(&self, i: usize) -> bool {
        self.with(|entries| {
            let Some(e) = entries.get_mut(i) else {
                return false;
            };
            e.errors += 1;
            e.errors_in_a_row = e.errors_in_a_row.saturating_add(1);
            e.errors_in_a_row == self.failover_after
        })
    }

    /// Endpoint `i` served something wrong: counted, and benched for
    /// [`BENCH_FIRST`] doubled per earlier offence, up to
    /// [`BENCH_LONGEST`]. Returns the bench's length.
    pub fn offended(&self, i: usize) -> Duration {
        let now = Instant::now();
        let bench = self.with(|entries| {
            let Some(e) = entries.get_mut(i) else {
                return Duration::ZERO;
            };
            e.findings += 1;
            let bench = BENCH_FIRST
                .saturating_mul(1u32 << e.offences.min(16))
                .min(BENCH_LONGEST);
            // An offence while benched (a block already in flight) does
            // not lengthen the bench again.
            if e.benched_until.is_none_or(|t| t <= now) {
                e.offences = e.offences.saturating_add(1);
                e.benched_until = Some(now + bench);
            }
            bench
        });
        if let Some(url) = self.urls.get(i) {
            tracing::warn!(endpoint = %url, bench_secs = bench.as_secs(), "endpoint benched");
        }
        bench
    }

    /// Endpoint `i` reported `head`.
    pub fn set_head(&self, i: usize, head: i64) {
        self.with(|entries| {
            if let Some(e) = entries.get_mut(i) {
                e.head = Some(head);
            }
        });
    }

    /// The head endpoint `i` last reported.
    pub fn head(&self, i: usize) -> Option<i64> {
        self.with(|entries| entries.get(i).and_then(|e| e.head))
    }

    /// Every endpoint's health, in configured order.
    pub fn reports(&self) -> Vec<Report> {
        let now = Instant::now();
        self.with(|entries| {
            let best = best_latency(entries, now);
            entries
                .iter()
                .zip(&self.urls)
                .map(|(e, url)| Report {
                    url: url.clone(),
                    state: self.state_of(e, best, now),
                    latency: e
                        .block_calls
                        .ewma_ms
                        .map(|ms| Duration::from_secs_f64(ms / 1000.0)),
                    errors: e.errors,
                    findings: e.findings,
                    head: e.head,
                    benched_for: e
                        .benched_until
                        .and_then(|t| t.checked_duration_since(now))
                        .filter(|d| !d.is_zero()),
                })
                .collect()
        })
    }

    /// The latency histograms, by endpoint.
    pub fn latency_histograms(&self) -> &Family<EndpointLabel, Histogram> {
        &self.latency
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health() -> Health {
        Health::new(
            vec!["a".into(), "b".into(), "c".into()],
            2,
            Duration::from_millis(10),
            Duration::from_secs(5),
        )
    }

    #[test]
    fn the_order_follows_latency_errors_and_benches() {
        let h = health();
        assert_eq!(h.order(), vec![0, 1, 2], "configured order at first");
        h.answered(0, Call::Block, Duration::from_millis(300));
        h.answered(1, Call::Block, Duration::from_millis(20));
        h.answered(2, Call::Block, Duration::from_millis(40));
        assert_eq!(h.order(), vec![1, 2, 0], "the slow one after the healthy");
        assert_eq!(h.reports()[0].state, State::Slow, "300 ms against 20");
        assert!(!h.network_error(1));
        assert_eq!(h.order(), vec![1, 2, 0], "one error is not failing");
        assert!(h.network_error(1));
        assert_eq!(h.order(), vec![2, 0, 1], "failing goes after the slow");
        h.answered(1, Call::Block, Duration::from_millis(20));
        assert_eq!(h.order()[0], 1, "an answer ends the run of errors");
        assert_eq!(h.offended(1), BENCH_FIRST);
        assert_eq!(h.order(), vec![2, 0, 1], "benched goes last");
        let r = &h.reports()[1];
        assert_eq!((r.state, r.findings), (State::Benched, 1));
        h.answered(0, Call::Block, Duration::from_millis(30));
        h.answered(0, Call::Block, Duration::from_millis(30));
        h.answered(0, Call::Block, Duration::from_millis(30));
        h.answered(0, Call::Block, Duration::from_millis(30));
        h.answered(0, Call::Block, Duration::from_millis(30));
        assert_eq!(
            h.order(),
            vec![0, 2, 1],
            "healthy ones in configured order, whatever their latency"
        );
    }

    #[test]
    fn benches_double_up_to_their_longest() {
        let h = health();
        let mut lengths = Vec::new();
        for _ in 0..10 {
            // End the bench so the next offence counts as a new one.
            h.with(|e| e[0].benched_until = Some(Instant::now()));
            lengths.push(h.offended(0));
        }
        assert_eq!(lengths[0], BENCH_FIRST);
        assert_eq!(lengths[1], BENCH_FIRST * 2);
        assert_eq!(lengths[2], BENCH_FIRST * 4);
        assert_eq!(*lengths.last().unwrap_or(&Duration::ZERO), BENCH_LONGEST);
        assert_eq!(h.reports()[0].findings, 10);
    }

    #[test]
    fn the_hedge_delay_follows_the_observed_latency() {
        let h = health();
        assert_eq!(h.hedge_delay(0, Call::Block), UNKNOWN_HEDGE);
        for ms in [10, 12, 11, 13, 100] {
            h.answered(0, Call::Block, Duration::from_millis(ms));
        }
        // p90 of five samples is the largest: 100 ms, doubled.
        assert_eq!(h.hedge_delay(0, Call::Block), Duration::from_millis(200));
        assert_eq!(h.hedge_delay(0, Call::Head), UNKNOWN_HEDGE, "kept apart");
        h.answered(1, Call::Block, Duration::from_micros(100));
        assert_eq!(
            h.hedge_delay(1, Call::Block),
            Duration::from_millis(10),
            "the floor"
        );
        h.answered(2, Call::Block, Duration::from_secs(60));
        assert_eq!(
            h.hedge_delay(2, Call::Block),
            Duration::from_secs(5),
            "the ceiling"
        );
    }

    #[test]
    fn requests_lost_to_others_make_an_endpoint_slow() {
        let h = health();
        h.answered(0, Call::Block, Duration::from_millis(10));
        h.answered(1, Call::Block, Duration::from_millis(10));
        // Left unanswered: the hedge delay still follows real answers.
        h.abandoned(0, Call::Block, Duration::from_millis(400));
        assert_eq!(h.hedge_delay(0, Call::Block), Duration::from_millis(20));
        assert_eq!(
            h.reports()[0].state,
            State::Slow,
            "its smoothed latency rose"
        );
        let h = health();
        h.answered(0, Call::Block, Duration::from_millis(10));
        h.answered(1, Call::Block, Duration::from_millis(10));
        for _ in 0..LOST_SLOW {
            assert_eq!(h.order()[0], 0);
            // Lost early: says nothing of its latency, but it lost.
            h.abandoned(0, Call::Block, Duration::from_millis(5));
        }
        assert_eq!(h.reports()[0].state, State::Slow);
        assert_eq!(h.order(), vec![1, 2, 0]);
        h.answered(0, Call::Block, Duration::from_millis(10));
        assert_eq!(h.order()[0], 0, "an answer makes it healthy again");
    }
}
