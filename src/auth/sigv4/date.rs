//! The two request-time formats SigV4 accepts: `X-Amz-Date` (`YYYYMMDDTHHMMSSZ`, ISO 8601 basic,
//! UTC) and, in the header form only, the HTTP `Date` header (RFC 7231 IMF-fixdate, the RFC 1123
//! form: `Sun, 06 Nov 1994 08:49:37 GMT`). Parsers are strict, allocation-free and never panic.

use crate::time::civil_from_days;

/// Formats a Unix time (seconds) as `YYYYMMDDTHHMMSSZ`.
pub fn amz_date(unix_secs: u64) -> String {
    let (y, m, d) = civil_from_days((unix_secs / 86_400) as i64);
    let secs = unix_secs % 86_400;
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// [`amz_date`] of now.
pub fn amz_date_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    amz_date(secs)
}

/// [`amz_date`] of a time that may be negative (shown as the epoch).
pub(crate) fn amz_date_i64(unix_secs: i64) -> String {
    amz_date(u64::try_from(unix_secs).unwrap_or(0))
}

/// Parses `YYYYMMDDTHHMMSSZ` (years 1970–9999) to Unix seconds.
pub(crate) fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let y = digits(&b[0..4])?;
    let mo = digits(&b[4..6])?;
    let d = digits(&b[6..8])?;
    let h = digits(&b[9..11])?;
    let mi = digits(&b[11..13])?;
    let sec = digits(&b[13..15])?;
    to_unix(y, mo, d, h, mi, sec)
}

/// Parses an IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`, to Unix seconds. The day name is
/// checked for form only, as HTTP servers read it.
pub(crate) fn parse_http_date(s: &str) -> Option<i64> {
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    const DAYS: [&[u8; 3]; 7] = [b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun"];
    let b = s.as_bytes();
    if b.len() != 29
        || &b[3..5] != b", "
        || b[7] != b' '
        || b[11] != b' '
        || b[16] != b' '
        || b[19] != b':'
        || b[22] != b':'
        || &b[25..] != b" GMT"
        || !DAYS.iter().any(|d| &b[0..3] == *d)
    {
        return None;
    }
    let d = digits(&b[5..7])?;
    let mo = MONTHS.iter().position(|m| &b[8..11] == *m)? as u32 + 1;
    let y = digits(&b[12..16])?;
    let h = digits(&b[17..19])?;
    let mi = digits(&b[20..22])?;
    let sec = digits(&b[23..25])?;
    to_unix(y, mo, d, h, mi, sec)
}

fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

fn to_unix(y: u32, mo: u32, d: u32, h: u32, mi: u32, sec: u32) -> Option<i64> {
    if y < 1970 || !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) {
        return None;
    }
    if h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let days = days_from_civil(i64::from(y), mo, d);
    Some(days * 86_400 + i64::from(h * 3600 + mi * 60 + sec))
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        2 if y.is_multiple_of(4) && (!y.is_multiple_of(100) || y.is_multiple_of(400)) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`, the
/// inverse of [`civil_from_days`]).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_date_formats_utc() {
        assert_eq!(amz_date(1_440_938_160), "20150830T123600Z");
        assert_eq!(amz_date(0), "19700101T000000Z");
        assert_eq!(amz_date(951_782_400), "20000229T000000Z");
    }

    #[test]
    fn amz_date_round_trips() {
        for t in [0, 1_440_938_160, 951_782_400, 4_102_444_799, 1_769_422_272] {
            assert_eq!(parse_amz_date(&amz_date(t as u64)), Some(t), "{t}");
        }
    }

    #[test]
    fn bad_amz_dates_are_refused() {
        for s in [
            "",
            "20150830T123600",
            "20150830t123600Z",
            "20150230T123600Z",
            "20150830T243600Z",
            "20150830T126000Z",
            "19690830T123600Z",
            "2015083OT123600Z",
            "+0150830T123600Z",
            "20150830T123600Zx",
            "２015830T123600Z",
        ] {
            assert_eq!(parse_amz_date(s), None, "{s}");
        }
        assert_eq!(parse_amz_date("20000229T000000Z"), Some(951_782_400));
        assert_eq!(parse_amz_date("19000229T000000Z"), None);
    }

    #[test]
    fn http_dates() {
        assert_eq!(
            parse_http_date("Sun, 30 Aug 2015 12:36:00 GMT"),
            Some(1_440_938_160)
        );
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        for s in [
            "Sun, 30 Aug 2015 12:36:00 UTC",
            "Sunday, 30-Aug-15 12:36:00 GMT",
            "Sun Aug 30 12:36:00 2015",
            "Xyz, 30 Aug 2015 12:36:00 GMT",
            "Sun, 31 Sep 2015 12:36:00 GMT",
            "Sun, 30 Aug 2015 12:36:00 GMT ",
        ] {
            assert_eq!(parse_http_date(s), None, "{s}");
        }
    }
}
