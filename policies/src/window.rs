//! Sliding windows: the matching transactions of one rule and group key in
//! the last `window` of block time, kept in the store so that a restart
//! forgets nothing.

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::rule::Trigger;

/// One matching transaction, as a window keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Block time, ms.
    pub t: i64,
    /// Transaction hash.
    pub hash: String,
    /// Amount in hundredths (0 when unknown).
    pub cents: i64,
    /// Payer.
    pub payer: String,
    /// Payee.
    pub payee: String,
    /// Currency.
    pub currency: String,
}

/// The events of one (rule, key).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Window {
    /// In block-time order.
    pub events: VecDeque<Event>,
    /// For round trips: the events in the window going each way
    /// (`payer`, `payee`, `currency`), by sequence number, so a payment's
    /// reverse legs are found without scanning the window (a window grouped
    /// by currency holds every payment of minutes). Built from `events` on
    /// first use, so it is not stored.
    #[serde(skip)]
    pairs: Option<HashMap<String, VecDeque<u64>>>,
    /// The sequence number of `events[0]` (counted from when `pairs` was
    /// built).
    #[serde(skip)]
    base: u64,
}

impl PartialEq for Window {
    fn eq(&self, other: &Self) -> bool {
        self.events == other.events
    }
}

impl Eq for Window {}

fn pair_key(payer: &str, payee: &str, currency: &str) -> String {
    format!("{payer}\0{payee}\0{currency}")
}

/// What a window's new event made true.
#[derive(Debug, Clone, PartialEq)]
pub struct Fired {
    /// The transactions that make the threshold, in chain order.
    pub hashes: Vec<String>,
    /// The figures that made it: count, sum, legs.
    pub values: Vec<(String, String)>,
    /// A key narrower than the group's (a round trip's pair).
    pub sub_key: Option<String>,
}

impl Window {
    /// Adds `e` (the newest), drops what fell out of `window_ms` before it
    /// (both ends inclusive), and says whether `trigger` now holds.
    pub fn push(&mut self, e: Event, window_ms: i64, trigger: Trigger) -> Option<Fired> {
        self.expire(e.t, window_ms);
        let fired = match trigger {
            Trigger::Each => None,
            Trigger::Count(n) => {
                let count = self.events.len() as u64 + 1;
                (count >= n).then(|| Fired {
                    hashes: self.hashes_with(&e),
                    values: vec![
                        ("count".into(), count.to_string()),
                        ("threshold".into(), format!("count ≥ {n}")),
                    ],
                    sub_key: None,
                })
            }
            Trigger::Sum(s) => {
                let cents: i64 = self.events.iter().map(|x| x.cents).sum::<i64>() + e.cents;
                let sum = cents as f64 / 100.0;
                (sum >= s).then(|| Fired {
                    hashes: self.hashes_with(&e),
                    values: vec![
                        ("sum".into(), format!("{}.{:02}", cents / 100, cents % 100)),
                        ("count".into(), (self.events.len() + 1).to_string()),
                        ("threshold".into(), format!("sum ≥ {s}")),
                    ],
                    sub_key: None,
                })
            }
            Trigger::RoundTrip(bp) => {
                let events = &self.events;
                let base = &mut self.base;
                let pairs = self.pairs.get_or_insert_with(|| {
                    *base = 0;
                    let mut m: HashMap<String, VecDeque<u64>> = HashMap::new();
                    for (i, x) in events.iter().enumerate() {
                        m.entry(pair_key(&x.payer, &x.payee, &x.currency))
                            .or_default()
                            .push_back(i as u64);
                    }
                    m
                });
                let legs: Vec<&Event> = pairs
                    .get(&pair_key(&e.payee, &e.payer, &e.currency))
                    .into_iter()
                    .flatten()
                    .filter_map(|seq| events.get((seq - self.base) as usize))
                    .filter(|x| {
                        // The key names the pair; checked again, whatever
                        // the parties' names hold.
                        x.payer == e.payee
                            && x.payee == e.payer
                            && x.currency == e.currency
                            && !x.payer.is_empty()
                            && (e.cents - x.cents).unsigned_abs() * 10_000
                                <= x.cents.unsigned_abs() * bp
                    })
                    .collect();
                (!legs.is_empty()).then(|| {
                    let mut hashes: Vec<String> = legs.iter().map(|x| x.hash.clone()).collect();
                    hashes.push(e.hash.clone());
                    let first = legs[0];
                    let mut pair = [e.payer.clone(), e.payee.clone()];
                    pair.sort();
                    Fired {
                        hashes,
                        values: vec![
                            (
                                "out".into(),
                                format!(
                                    "{} → {} {} {}",
                                    first.payer,
                                    first.payee,
                                    first.cents as f64 / 100.0,
                                    first.currency
                                ),
                            ),
                            (
                                "back".into(),
                                format!(
                                    "{} → {} {} {}",
                                    e.payer,
                                    e.payee,
                                    e.cents as f64 / 100.0,
                                    e.currency
                                ),
                            ),
                            ("tolerance".into(), format!("{bp} bp")),
                        ],
                        sub_key: Some(pair.join("↔")),
                    }
                })
            }
        };
        if let Some(pairs) = &mut self.pairs {
            pairs
                .entry(pair_key(&e.payer, &e.payee, &e.currency))
                .or_default()
                .push_back(self.base + self.events.len() as u64);
        }
        self.events.push_back(e);
        fired
    }

    fn hashes_with(&self, e: &Event) -> Vec<String> {
        self.events
            .iter()
            .map(|x| x.hash.clone())
            .chain(std::iter::once(e.hash.clone()))
            .collect()
    }

    /// Drops what is older than `window_ms` before block time `now`.
    pub fn expire(&mut self, now: i64, window_ms: i64) {
        while self.events.front().is_some_and(|x| x.t < now - window_ms) {
            let Some(x) = self.events.pop_front() else {
                break;
            };
            if let Some(pairs) = &mut self.pairs {
                // The oldest event of its pair, as it is the oldest of all.
                let k = pair_key(&x.payer, &x.payee, &x.currency);
                if let Some(q) = pairs.get_mut(&k) {
                    q.pop_front();
                    if q.is_empty() {
                        pairs.remove(&k);
                    }
                }
                self.base += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(t: i64, hash: &str, cents: i64, payer: &str, payee: &str) -> Event {
        Event {
            t,
            hash: hash.into(),
            cents,
            payer: payer.into(),
            payee: payee.into(),
            currency: "CNY".into(),
        }
    }

    #[test]
    fn count_fires_with_every_event_in_the_window_both_ends_inclusive() {
        let mut w = Window::default();
        assert!(
            w.push(ev(0, "a", 1, "p", "q"), 100, Trigger::Count(3))
                .is_none()
        );
        assert!(
            w.push(ev(50, "b", 1, "p", "q"), 100, Trigger::Count(3))
                .is_none()
        );
        let f = w
            .push(ev(100, "c", 1, "p", "q"), 100, Trigger::Count(3))
            .unwrap();
        assert_eq!(f.hashes, ["a", "b", "c"]);
        // "a" falls out at 101.
        assert!(
            w.push(ev(101, "d", 1, "p", "q"), 100, Trigger::Count(4))
                .is_none()
        );
        assert_eq!(w.events.len(), 3);
    }

    #[test]
    fn sum_and_round_trip() {
        let mut w = Window::default();
        assert!(
            w.push(ev(0, "a", 6_000, "p", "q"), 10, Trigger::Sum(100.0))
                .is_none()
        );
        let f = w
            .push(ev(1, "b", 4_000, "p", "q"), 10, Trigger::Sum(100.0))
            .unwrap();
        assert_eq!(f.values[0], ("sum".into(), "100.00".into()));

        let mut w = Window::default();
        let rt = Trigger::RoundTrip(100);
        assert!(w.push(ev(0, "out", 1_000_000, "a", "b"), 600, rt).is_none());
        // Another pair, and a reverse leg 1.5% off: no.
        assert!(w.push(ev(1, "x", 1_000_000, "c", "a"), 600, rt).is_none());
        assert!(w.push(ev(2, "far", 985_000, "b", "a"), 600, rt).is_none());
        // 1% off: yes, with the first leg.
        let f = w.push(ev(3, "back", 990_000, "b", "a"), 600, rt).unwrap();
        assert_eq!(f.hashes, ["out", "back"]);
        assert_eq!(f.sub_key.as_deref(), Some("a↔b"));

        // Read back from the store (no pair counts yet), the window finds
        // its legs; once "out" expires, the reverse leg finds none.
        let mut w: Window = serde_json::from_slice(&serde_json::to_vec(&w).unwrap()).unwrap();
        let f = w
            .push(ev(4, "again", 1_000_000, "b", "a"), 600, rt)
            .unwrap();
        assert_eq!(f.hashes, ["out", "again"]);
        assert!(
            w.push(ev(601, "late", 1_000_000, "b", "a"), 600, rt)
                .is_none()
        );
    }
}
