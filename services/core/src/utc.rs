//! Calendar time in UTC for what people read and type: stream labels,
//! restore times. Proleptic Gregorian, days counted from 1970-01-01 (the
//! civil-from-days and days-from-civil algorithms), no time zones.

/// The civil date (year, month 1-12, day 1-31) of a day counted from
/// 1970-01-01 (Howard Hinnant's civil-from-days).
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// Days from 1970-01-01 of a civil date, the inverse of
/// [`civil_from_days`].
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let (y, m) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `micros` (µs since the epoch) as `YYYY-MM-DDTHH:MM:SS.mmm`, UTC, to the
/// millisecond: DynamoDB's stream labels, and RFC 3339 with a `Z` added.
pub fn format_millis(micros: u64) -> String {
    let secs = (micros / 1_000_000) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}",
        rem / 3_600,
        rem / 60 % 60,
        rem % 60,
        micros / 1_000 % 1_000
    )
}

/// Parses RFC 3339 in UTC (`2026-11-23T14:01:00Z`, with any fraction of a
/// second, kept to the µs) into µs since the epoch. `None` for anything
/// else, or a time before 1970.
pub fn parse_rfc3339(text: &str) -> Option<u64> {
    let (date, time) = text.strip_suffix('Z')?.split_once('T')?;
    let num = |s: &str| -> Option<i64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let d: Vec<&str> = date.split('-').collect();
    let t: Vec<&str> = time.split(':').collect();
    if d.len() != 3 || t.len() != 3 {
        return None;
    }
    let (secs, frac) = t[2].split_once('.').unwrap_or((t[2], "0"));
    let (y, m, day) = (num(d[0])?, num(d[1])?, num(d[2])?);
    let (hh, mm, ss) = (num(t[0])?, num(t[1])?, num(secs)?);
    num(frac)?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || hh > 23 || mm > 59 || ss > 59 {
        return None;
    }
    let micros_frac: i64 = format!("{frac:0<6}")[..6].parse().ok()?;
    let days = days_from_civil(y, m, day);
    let micros = (days * 86_400 + hh * 3_600 + mm * 60 + ss) * 1_000_000 + micros_frac;
    u64::try_from(micros).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_and_parse_back() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:01Z"), Some(1_000_000));
        assert_eq!(
            parse_rfc3339("2026-11-23T14:01:00.25Z"),
            Some(1_795_442_460_250_000)
        );
        assert_eq!(
            format_millis(1_795_442_460_250_000),
            "2026-11-23T14:01:00.250"
        );
        for t in [
            "2000-02-29T23:59:59Z",
            "2024-12-31T00:00:00.5Z",
            "1999-01-01T12:30:00Z",
        ] {
            let back = format!("{}Z", format_millis(parse_rfc3339(t).unwrap()));
            assert_eq!(parse_rfc3339(&back), parse_rfc3339(t), "{t}");
        }
        for bad in [
            "yesterday",
            "2026-11-23 14:01:00Z",
            "2026-13-01T00:00:00Z",
            "2026-11-23T14:01:00",
            "2026-11-23T14:01:00.xZ",
            "1969-12-31T23:59:59Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
