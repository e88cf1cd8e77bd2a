//! Sliding windows: the matching transactions of one rule and group key in
//! the last `window` of block time, kept in the store so that a restart
//! forgets nothing.
//!
//! Group keys come from chain data (often from decrypted payloads), so the
//! participants decide how many there are. [`Windows`] bounds them: a window
//! whose newest event has left its span is swept by block time whether or
//! not its key comes back, the number of live windows has a cap (the one
//! closest to expiry makes room, counted), and a window keeps at most
//! [`MAX_EVENTS_PER_WINDOW`] events (the oldest go first, counted).

use std::collections::{BTreeSet, HashMap, VecDeque};

use records::Money;
use serde::{Deserialize, Serialize};

use crate::rule::Trigger;

/// One matching transaction, as a window keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Block time, ms.
    pub t: i64,
    /// Transaction hash.
    pub hash: String,
    /// Amount in hundredths (0 when unknown); see [`Event::amount`].
    pub cents: i64,
    /// Payer.
    pub payer: String,
    /// Payee.
    pub payee: String,
    /// Currency.
    pub currency: String,
}

impl Event {
    /// The amount.
    pub fn amount(&self) -> Money {
        Money::from_hundredths(self.cents)
    }
}

/// Whether `back` is within `tolerance_bp` basis points of `out`, in exact
/// integers (amounts come from payloads: any i64 is possible, none overflows).
fn within(out: i64, back: i64, tolerance_bp: u64) -> bool {
    let diff = (i128::from(back) - i128::from(out)).unsigned_abs();
    diff * 10_000 <= i128::from(out).unsigned_abs() * u128::from(tolerance_bp)
}

/// Events one window keeps at most; past it the oldest are dropped (and
/// counted): a window grouped by currency at thousands of payments per
/// second would otherwise hold every payment of its span.
pub const MAX_EVENTS_PER_WINDOW: usize = 100_000;

/// Live windows kept at most by default (`[policies] max_windows`).
pub const DEFAULT_MAX_WINDOWS: usize = 100_000;

/// A window's identity: (rule id, group key).
pub type WindowKey = (String, String);

/// Every live window, bounded in number and swept by block time.
#[derive(Debug)]
pub struct Windows {
    live: HashMap<WindowKey, (Window, i64)>,
    /// (expiry, key): the block time after which a window holds nothing.
    by_expiry: BTreeSet<(i64, WindowKey)>,
    max: usize,
}

/// What a change to the windows removed, for the store and the metrics.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Removed {
    /// Windows taken out to make room for a new key (the closest to expiry).
    pub evicted: Vec<WindowKey>,
    /// Windows whose span had passed.
    pub expired: Vec<WindowKey>,
    /// Events dropped from full windows.
    pub events_dropped: u64,
}

impl Windows {
    /// No windows; at most `max` live at once (at least 1).
    pub fn new(max: usize) -> Self {
        Self {
            live: HashMap::new(),
            by_expiry: BTreeSet::new(),
            max: max.max(1),
        }
    }

    /// The most windows live at once.
    pub fn cap(&self) -> usize {
        self.max
    }

    /// How many windows are live.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// The window of `key`, if live.
    pub fn get(&self, key: &WindowKey) -> Option<&Window> {
        self.live.get(key).map(|(w, _)| w)
    }

    /// Puts back a window read from the store (at start), spanning `window_ms`.
    pub fn restore(
        &mut self,
        key: WindowKey,
        window: Window,
        window_ms: i64,
        removed: &mut Removed,
    ) {
        self.make_room(&key, removed);
        let expiry = expiry_of(&window, window_ms);
        self.by_expiry.insert((expiry, key.clone()));
        if let Some((_, old)) = self.live.insert(key.clone(), (window, expiry)) {
            self.by_expiry.remove(&(old, key));
        }
    }

    /// Adds event `e` to the window of `key` (made if new), spanning
    /// `window_ms`, and says whether `trigger` now holds.
    pub fn push(
        &mut self,
        key: &WindowKey,
        e: Event,
        window_ms: i64,
        trigger: Trigger,
        removed: &mut Removed,
    ) -> Option<Fired> {
        if !self.live.contains_key(key) {
            self.make_room(key, removed);
        }
        let (window, expiry) = self
            .live
            .entry(key.clone())
            .or_insert_with(|| (Window::default(), i64::MIN));
        let fired = window.push(e, window_ms, trigger);
        removed.events_dropped += window.trim(MAX_EVENTS_PER_WINDOW);
        let new = expiry_of(window, window_ms);
        if new != *expiry {
            // A new window has no entry in the expiry order yet.
            self.by_expiry.remove(&(*expiry, key.clone()));
            self.by_expiry.insert((new, key.clone()));
            *expiry = new;
        }
        fired
    }

    /// Drops the events of `key`'s window older than `window_ms` before
    /// `now`; a window left empty is removed. Returns the window if it
    /// still holds events.
    pub fn expire(&mut self, key: &WindowKey, now: i64, window_ms: i64) -> Option<&Window> {
        let (w, _) = self.live.get_mut(key)?;
        w.expire(now, window_ms);
        if w.events.is_empty() {
            if let Some((_, expiry)) = self.live.remove(key) {
                self.by_expiry.remove(&(expiry, key.clone()));
            }
            return None;
        }
        self.get(key)
    }

    /// Removes every window whose span ended before block time `now`.
    pub fn sweep(&mut self, now: i64, removed: &mut Removed) {
        while let Some((expiry, _)) = self.by_expiry.first() {
            if *expiry >= now {
                break;
            }
            let Some((_, key)) = self.by_expiry.pop_first() else {
                break;
            };
            self.live.remove(&key);
            removed.expired.push(key);
        }
    }

    /// Makes room for `key` if it is new and the table is full.
    fn make_room(&mut self, key: &WindowKey, removed: &mut Removed) {
        if self.live.contains_key(key) {
            return;
        }
        while self.live.len() >= self.max {
            let Some((_, victim)) = self.by_expiry.pop_first() else {
                break;
            };
            self.live.remove(&victim);
            removed.evicted.push(victim);
        }
    }
}

/// The block time after which `w` holds nothing: its newest event plus its span.
fn expiry_of(w: &Window, window_ms: i64) -> i64 {
    w.events
        .back()
        .map_or(i64::MIN, |e| e.t.saturating_add(window_ms))
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
                // A sum past what an i64 of hundredths holds is past every
                // threshold: it fires, and says so.
                let sum = Money::checked_sum(
                    self.events
                        .iter()
                        .map(Event::amount)
                        .chain(std::iter::once(e.amount())),
                );
                let (reached, shown) = match sum {
                    Some(m) => (m.units_f64() >= s, m.to_string()),
                    None => (true, "beyond 92233720368547758.07 (overflow)".to_string()),
                };
                reached.then(|| Fired {
                    hashes: self.hashes_with(&e),
                    values: vec![
                        ("sum".into(), shown),
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
                            && within(x.cents, e.cents, bp)
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
                                    first.amount(),
                                    first.currency
                                ),
                            ),
                            (
                                "back".into(),
                                format!("{} → {} {} {}", e.payer, e.payee, e.amount(), e.currency),
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

    /// Drops the oldest events past `max`; returns how many.
    pub fn trim(&mut self, max: usize) -> u64 {
        let mut dropped = 0;
        while self.events.len() > max {
            self.pop_oldest();
            dropped += 1;
        }
        dropped
    }

    /// Removes the oldest event, keeping the pair index in step.
    fn pop_oldest(&mut self) {
        let Some(x) = self.events.pop_front() else {
            return;
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

    /// Drops what is older than `window_ms` before block time `now`.
    pub fn expire(&mut self, now: i64, window_ms: i64) {
        let oldest = now.saturating_sub(window_ms);
        while self.events.front().is_some_and(|x| x.t < oldest) {
            self.pop_oldest();
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

    #[test]
    fn hostile_amounts_neither_overflow_nor_wrap() {
        // Two payloads at the edge of i64: the sum fires and says it
        // overflowed, instead of wrapping to a small or negative figure.
        let mut w = Window::default();
        assert!(
            w.push(ev(0, "a", i64::MAX, "p", "q"), 10, Trigger::Sum(1e30))
                .is_none()
        );
        let f = w
            .push(ev(1, "b", i64::MAX, "p", "q"), 10, Trigger::Sum(1e30))
            .unwrap();
        assert!(f.values[0].1.contains("overflow"), "{:?}", f.values);

        // A negative sum is printed with its sign.
        let mut w = Window::default();
        w.push(ev(0, "a", -150, "p", "q"), 10, Trigger::Sum(1e30));
        let f = w.push(ev(1, "b", -50, "p", "q"), 10, Trigger::Sum(-3.0));
        assert_eq!(f.unwrap().values[0], ("sum".into(), "-2.00".into()));

        // Round trips between the extremes compare exactly.
        let rt = Trigger::RoundTrip(100);
        let mut w = Window::default();
        assert!(w.push(ev(0, "out", i64::MIN, "a", "b"), 600, rt).is_none());
        assert!(w.push(ev(1, "back", i64::MAX, "b", "a"), 600, rt).is_none());
        let f = w
            .push(ev(2, "again", i64::MIN + 1, "b", "a"), 600, rt)
            .unwrap();
        assert_eq!(f.hashes, ["out", "again"]);
        assert!(
            f.values[0].1.contains("-92233720368547758.08"),
            "{:?}",
            f.values
        );

        // Block times at the edge do not overflow the window's bounds.
        let mut w = Window::default();
        assert!(
            w.push(ev(i64::MIN, "a", 1, "p", "q"), i64::MAX, Trigger::Count(2))
                .is_none()
        );
        assert!(
            w.push(
                ev(i64::MIN + 1, "b", 1, "p", "q"),
                i64::MAX,
                Trigger::Count(2)
            )
            .is_some()
        );
    }

    fn key(i: usize) -> WindowKey {
        ("velocity".to_string(), format!("party-{i}"))
    }

    #[test]
    fn a_million_distinct_keys_stay_under_the_cap() {
        // Each key seen once, one per millisecond, in windows of a second:
        // the table never holds more than the cap, and what leaves is
        // either swept by time or evicted to make room, never lost silently.
        let mut w = Windows::new(10_000);
        let mut removed = Removed::default();
        let mut evicted = 0usize;
        let mut expired = 0usize;
        for i in 0..1_000_000 {
            let t = i as i64;
            w.push(
                &key(i),
                ev(t, "h", 100, "p", "q"),
                1_000,
                Trigger::Count(2),
                &mut removed,
            );
            if i % 1_000 == 999 {
                w.sweep(t, &mut removed);
                evicted += removed.evicted.len();
                expired += removed.expired.len();
                removed = Removed::default();
            }
            assert!(w.len() <= 10_000);
        }
        // Windows of a second at one key a millisecond: about a thousand
        // live at once, so the sweep keeps them far under the cap.
        assert!(w.len() <= 2_000, "{}", w.len());
        assert_eq!(evicted, 0);
        assert_eq!(expired + w.len(), 1_000_000);

        // With windows of a day, the cap is what bounds them: the closest
        // to expiry go first.
        let mut w = Windows::new(1_000);
        let mut removed = Removed::default();
        for i in 0..20_000 {
            w.push(
                &key(i),
                ev(i as i64, "h", 1, "p", "q"),
                86_400_000,
                Trigger::Count(2),
                &mut removed,
            );
        }
        assert_eq!(w.len(), 1_000);
        assert_eq!(removed.evicted.len(), 19_000);
        assert_eq!(removed.evicted[0], key(0));
        assert!(w.get(&key(19_999)).is_some() && w.get(&key(18_999)).is_none());
    }

    #[test]
    fn a_key_that_comes_back_keeps_its_window_and_a_full_window_drops_its_oldest() {
        let mut w = Windows::new(2);
        let mut removed = Removed::default();
        assert!(
            w.push(
                &key(1),
                ev(0, "a", 1, "p", "q"),
                100,
                Trigger::Count(2),
                &mut removed
            )
            .is_none()
        );
        w.push(
            &key(2),
            ev(10, "b", 1, "p", "q"),
            100,
            Trigger::Count(2),
            &mut removed,
        );
        let f = w.push(
            &key(1),
            ev(20, "c", 1, "p", "q"),
            100,
            Trigger::Count(2),
            &mut removed,
        );
        assert_eq!(f.unwrap().hashes, ["a", "c"]);
        assert!(removed.evicted.is_empty());
        // Key 2's window ends at 110, key 1's at 120.
        w.sweep(115, &mut removed);
        assert_eq!(removed.expired, [key(2)]);
        assert_eq!(w.len(), 1);

        let mut one = Window::default();
        for i in 0..10 {
            one.push(
                ev(i, &i.to_string(), 1, "p", "q"),
                1_000,
                Trigger::RoundTrip(100),
            );
        }
        assert_eq!(one.trim(4), 6);
        assert_eq!(one.events.front().unwrap().hash, "6");
        // The pair index follows: a reverse leg still finds the kept events.
        let f = one.push(ev(20, "back", 1, "q", "p"), 1_000, Trigger::RoundTrip(100));
        assert_eq!(f.unwrap().hashes, ["6", "7", "8", "9", "back"]);
    }
}
