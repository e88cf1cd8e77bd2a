//! Timestamps as the API shows and reads them: RFC 3339. Shown in Beijing
//! time (the chains' business time zone); read in any offset.

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// Beijing, UTC+8 (no daylight saving).
const BEIJING: UtcOffset = match UtcOffset::from_hms(8, 0, 0) {
    Ok(o) => o,
    Err(_) => UtcOffset::UTC,
};

/// `ms` since the epoch as RFC 3339 in Beijing time, to the millisecond.
pub fn format_ms(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map(|t| t.to_offset(BEIJING))
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| ms.to_string())
}

/// An RFC 3339 timestamp (`2026-01-31T09:30:00+08:00`, `…Z`) in ms since
/// the epoch.
pub fn parse_ms(s: &str) -> Result<i64, String> {
    let t = OffsetDateTime::parse(s.trim(), &Rfc3339)
        .map_err(|e| format!("{s:?} is not an RFC 3339 time ({e})"))?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| format!("{s:?} is out of range"))
}

/// Now, in ms since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_in_beijing_time() {
        let ms = 1_767_225_600_123; // 2026-01-01T00:00:00.123Z
        let s = format_ms(ms);
        assert_eq!(s, "2026-01-01T08:00:00.123+08:00");
        assert_eq!(parse_ms(&s), Ok(ms));
        assert_eq!(parse_ms("2026-01-01T00:00:00.123Z"), Ok(ms));
        assert!(parse_ms("yesterday").unwrap_err().contains("RFC 3339"));
    }
}
