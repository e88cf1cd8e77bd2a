//! Latency percentiles, computed one way for every benchmark: an HDR
//! histogram (`hdrhistogram`, three significant digits) of nanoseconds, so
//! that p50 and p99 mean the same thing in every table of
//! `docs/PERFORMANCE.md`.

use std::time::Duration;

use hdrhistogram::Histogram;

/// The `q`th percentile (0 to 100) of `nanos`, in nanoseconds; `None` when
/// there are no samples.
fn nanos_at(nanos: impl Iterator<Item = u64>, q: f64) -> Option<u64> {
    // Three significant digits, growing to whatever the samples reach.
    let mut h = Histogram::<u64>::new(3).ok()?;
    for n in nanos {
        // `record` grows the histogram's range; past what it can hold, the
        // sample counts at its top.
        if h.record(n.max(1)).is_err() {
            h.saturating_record(n.max(1));
        }
    }
    (!h.is_empty()).then(|| h.value_at_quantile((q / 100.0).clamp(0.0, 1.0)))
}

/// The `q`th percentile (0 to 100) of samples in seconds; NaN when empty.
pub fn secs(samples: &[f64], q: f64) -> f64 {
    nanos_at(samples.iter().map(|s| (s.max(0.0) * 1e9) as u64), q)
        .map_or(f64::NAN, |n| n as f64 / 1e9)
}

/// The `q`th percentile (0 to 100) of samples in milliseconds; NaN when empty.
pub fn ms(samples: &[f64], q: f64) -> f64 {
    nanos_at(samples.iter().map(|s| (s.max(0.0) * 1e6) as u64), q)
        .map_or(f64::NAN, |n| n as f64 / 1e6)
}

/// The `q`th percentile (0 to 100) of durations; zero when empty.
pub fn duration(samples: &[Duration], q: f64) -> Duration {
    nanos_at(
        samples
            .iter()
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
        q,
    )
    .map_or(Duration::ZERO, Duration::from_nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_known_samples() {
        // 1 ms to 100 ms: p50 is 50 ms, p99 is 99 ms, within the histogram's
        // three significant digits.
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert!((ms(&v, 50.0) - 50.0).abs() < 0.1, "{}", ms(&v, 50.0));
        assert!((ms(&v, 99.0) - 99.0).abs() < 0.1, "{}", ms(&v, 99.0));
        assert!((ms(&v, 100.0) - 100.0).abs() < 0.1);
        let s: Vec<f64> = v.iter().map(|m| m / 1e3).collect();
        assert!((secs(&s, 50.0) - 0.050).abs() < 1e-4);
        let d: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let p = duration(&d, 99.0).as_secs_f64() * 1e3;
        assert!((p - 99.0).abs() < 0.1, "{p}");
        assert!(ms(&[], 50.0).is_nan());
        assert_eq!(duration(&[], 50.0), Duration::ZERO);
    }
}
