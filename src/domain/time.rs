//! The one way jitgate shows a time to people: absolute and in UTC.

use time::OffsetDateTime;
use time::macros::format_description;

/// `2026-11-26 18:30 UTC`: absolute, unambiguous for technicians in any time zone.
pub fn utc(ms: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    t.format(format_description!(
        "[year]-[month]-[day] [hour]:[minute] UTC"
    ))
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_are_absolute_utc() {
        assert_eq!(super::utc(1_795_702_971_710), "2026-11-26 14:22 UTC");
    }
}
