//! Time, written once: the clock, and Beijing time (the chains' business
//! time zone, UTC+8 with no daylight saving) by the `time` crate. Shown as
//! RFC 3339 in Beijing time; read in any offset. Block times come from the
//! chain, so every conversion here takes any `i64` without overflowing.

use time::format_description::well_known::Rfc3339;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// Beijing, UTC+8 (no daylight saving).
pub const BEIJING: UtcOffset = match UtcOffset::from_hms(8, 0, 0) {
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

/// `ms` since the epoch in Beijing time; `None` outside the years the
/// `time` crate represents (±9999).
pub fn beijing(ms: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .map(|t| t.to_offset(BEIJING))
}

/// The Beijing hour (0 to 23) and ISO weekday (1 Monday to 7 Sunday) of
/// `ms`; for a time outside the `time` crate's years (a chain may carry
/// any timestamp), the same arithmetic on whole days, without overflow.
pub fn hour_weekday(ms: i64) -> (i64, i64) {
    if let Some(t) = beijing(ms) {
        return (
            i64::from(t.hour()),
            i64::from(t.weekday().number_from_monday()),
        );
    }
    const HOUR_MS: i64 = 3_600_000;
    const DAY_MS: i64 = 24 * HOUR_MS;
    let local = i128::from(ms) + 8 * i128::from(HOUR_MS);
    let day = local.div_euclid(i128::from(DAY_MS));
    let hour = local.rem_euclid(i128::from(DAY_MS)) / i128::from(HOUR_MS);
    // 1970-01-01 was a Thursday (4).
    let weekday = (day + 3).rem_euclid(7) + 1;
    (hour as i64, weekday as i64)
}

/// Beijing midnight of `YYYY-MM-DD` in ms since the epoch (with `end`, the
/// day's last millisecond); the error names what is wrong.
pub fn beijing_day_ms(date: &str, end: bool) -> Result<i64, String> {
    let parts: Vec<&str> = date.trim().split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return Err(format!("{date:?} is not YYYY-MM-DD"));
    };
    let year: i32 = y.parse().map_err(|_| format!("year in {date:?}"))?;
    let month: u8 = m.parse().map_err(|_| format!("month in {date:?}"))?;
    let day: u8 = d.parse().map_err(|_| format!("day in {date:?}"))?;
    let month = Month::try_from(month).map_err(|_| format!("{date:?} has no such month"))?;
    let day = Date::from_calendar_date(year, month, day)
        .map_err(|e| format!("{date:?} is not a date ({e})"))?;
    let time = if end {
        Time::from_hms_milli(23, 59, 59, 999).map_err(|e| e.to_string())?
    } else {
        Time::MIDNIGHT
    };
    let t = PrimitiveDateTime::new(day, time).assume_offset(BEIJING);
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| format!("{date:?} is out of range"))
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

    #[test]
    fn beijing_hours_weekdays_and_days() {
        // 2026-01-01T00:00:00Z is 08:00 on a Thursday in Beijing.
        let ms = 1_767_225_600_000;
        assert_eq!(hour_weekday(ms), (8, 4));
        assert_eq!(hour_weekday(ms - 9 * 3_600_000), (23, 3));
        assert_eq!(beijing_day_ms("2026-01-01", false), Ok(ms - 8 * 3_600_000));
        assert_eq!(
            beijing_day_ms("2026-01-01", true),
            Ok(ms + 16 * 3_600_000 - 1)
        );
        assert!(beijing_day_ms("2026-02-30", false).is_err());
        assert!(beijing_day_ms("2026-13-01", false).is_err());
        assert!(beijing_day_ms("yesterday", false).is_err());
        // Any timestamp a chain may carry: no overflow, and the same answer
        // as the calendar where both apply.
        for ms in [i64::MIN, i64::MIN + 1, -1, 0, i64::MAX - 1, i64::MAX] {
            let (h, w) = hour_weekday(ms);
            assert!((0..24).contains(&h) && (1..=7).contains(&w), "{ms}");
        }
        assert_eq!(hour_weekday(-1), (7, 4));
    }
}
