//! Durations and clock offsets as scenario files and `meridian net`
//! write them: `"250ms"`, `"1.5s"`, `"+300ms"`.

use std::time::Duration;

/// Parses `"250us"`, `"250ms"`, `"10s"`, `"1.5s"`, `"2m"` or `"0"`, rounded
/// to whole microseconds (so `"0.1s"` is exactly 100 ms). The one duration
/// parser of scenario files and `meridian net`; a space before the unit is
/// allowed.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (num, unit) = match t.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => t.split_at(i),
        None if t == "0" => return Ok(Duration::ZERO),
        None => return Err(format!("{text:?} needs a unit: ms, s or m (e.g. 40ms)")),
    };
    let value: f64 = num
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 40ms, 1.5s or 2m"))?;
    let scale = match unit.trim() {
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" => 60.0,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {text:?}; use ms, s or m"
            ));
        }
    };
    let secs = value * scale;
    if !secs.is_finite() || secs > 1e9 {
        return Err(format!("{text:?} is out of range"));
    }
    Ok(Duration::from_micros((secs * 1e6).round() as u64))
}

/// Largest clock offset a region accepts (Admin SetClock): one day.
pub const MAX_SKEW: Duration = Duration::from_secs(86_400);

/// Parses a signed clock offset, `"+300ms"`, `"-1.5s"`, `"300ms"` or `"0"`,
/// into microseconds, within ±[`MAX_SKEW`].
pub fn parse_offset(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let (sign, rest) = match t.strip_prefix('-') {
        Some(r) => (-1, r),
        None => (1, t.strip_prefix('+').unwrap_or(t)),
    };
    let d = parse_duration(rest)?;
    if d > MAX_SKEW {
        return Err(format!(
            "{text} is beyond the limit of ±{} s (one day)",
            MAX_SKEW.as_secs()
        ));
    }
    Ok(sign * d.as_micros() as i64)
}

/// A field's duration, or an error naming the field.
pub(super) fn duration_field(field: &str, text: &str) -> Result<Duration, String> {
    parse_duration(text).map_err(|e| format!("{field}: {e}"))
}
