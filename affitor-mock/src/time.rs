//! Wall-clock helpers: epoch milliseconds and ISO 8601 timestamps, without a date crate.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub(crate) const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// Milliseconds since the Unix epoch (0 before it).
pub(crate) fn epoch_millis(time: SystemTime) -> u128 {
    time.duration_since(UNIX_EPOCH)
        .map(|since| since.as_millis())
        .unwrap_or(0)
}

/// `time` minus `days` whole days, clamped at the Unix epoch.
pub(crate) fn days_before(time: SystemTime, days: u32) -> SystemTime {
    DAY.checked_mul(days)
        .and_then(|back| time.checked_sub(back))
        .filter(|earlier| *earlier >= UNIX_EPOCH)
        .unwrap_or(UNIX_EPOCH)
}

/// Whole days from `earlier` to `later` (0 if `earlier` is later).
pub(crate) fn whole_days_between(earlier: SystemTime, later: SystemTime) -> u64 {
    later
        .duration_since(earlier)
        .map(|elapsed| elapsed.as_secs() / DAY.as_secs())
        .unwrap_or(0)
}

/// `time` as `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC), the form the API uses.
pub(crate) fn iso8601(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since.as_secs();
    let days = seconds / DAY.as_secs();
    let of_day = seconds % DAY.as_secs();
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60,
        since.subsec_millis()
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(iso8601(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let instant = UNIX_EPOCH + Duration::from_millis(1_714_000_000_123);
        assert_eq!(iso8601(instant), "2024-04-24T23:06:40.123Z");
        let leap_day = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(iso8601(leap_day), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn counts_whole_days() {
        let now = UNIX_EPOCH + Duration::from_secs(100 * DAY.as_secs() + 5);
        assert_eq!(whole_days_between(days_before(now, 61), now), 61);
        assert_eq!(whole_days_between(now, days_before(now, 3)), 0);
        assert_eq!(days_before(now, u32::MAX), UNIX_EPOCH);
    }
}
