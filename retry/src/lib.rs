//! Retry delays, written once for every retry loop of the node (ingest's
//! endpoints, the notification senders): exponential backoff from an
//! initial delay, doubling to a maximum, with ±25% jitter so that retries
//! of many callers do not fall in step.

use std::time::Duration;

/// Exponential backoff with jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
}

impl Backoff {
    /// From `initial` (the first retry's delay), doubling up to `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max: max.max(initial),
        }
    }

    /// The delay before retry number `attempt` (1 for the first): the
    /// initial delay doubled `attempt - 1` times, at most the maximum, then
    /// spread by ±25%.
    pub fn delay(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(30);
        let base = self
            .initial
            .checked_mul(1u32 << doublings)
            .unwrap_or(self.max)
            .min(self.max);
        let mut b = [0u8; 2];
        let r = getrandom::fill(&mut b).map_or(u16::MAX / 2, |()| u16::from_le_bytes(b));
        // 0.75 to 1.25 of the base.
        base.mul_f64(0.75 + 0.5 * f64::from(r) / f64::from(u16::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_to_the_maximum_within_a_quarter() {
        let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
        for attempt in 0..64 {
            let d = b.delay(attempt);
            let base = (100u64 << attempt.saturating_sub(1).min(30)).min(10_000);
            let ms = d.as_secs_f64() * 1e3;
            assert!(
                ms >= base as f64 * 0.75 - 1e-6 && ms <= base as f64 * 1.25 + 1e-6,
                "attempt {attempt}: {ms} ms for a base of {base} ms"
            );
        }
        // A maximum below the initial delay is the initial delay.
        let b = Backoff::new(Duration::from_secs(1), Duration::ZERO);
        assert!(b.delay(5) <= Duration::from_millis(1_250));
    }

    #[test]
    fn the_jitter_spreads_retries() {
        let b = Backoff::new(Duration::from_secs(1), Duration::from_secs(1));
        let delays: std::collections::BTreeSet<Duration> = (0..50).map(|_| b.delay(1)).collect();
        assert!(delays.len() > 10, "{delays:?}");
    }
}
