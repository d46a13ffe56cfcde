//! Duration and timestamp strings as the Inngest server reads and writes them (docs/protocol.md
//! §1.3).

use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

/// Why a time string could not be parsed or applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimeError {
    /// The string is empty.
    #[error("empty duration")]
    Empty,
    /// The string starts with `-`; sleeps and timeouts cannot be negative.
    #[error("negative duration {0:?}")]
    Negative(String),
    /// The string is not a sequence of `<number><unit>` components.
    #[error("invalid duration {0:?}")]
    Syntax(String),
    /// A number is not followed by a unit.
    #[error("missing unit in duration {0:?}")]
    MissingUnit(String),
    /// A unit is not one of `ns us µs ms s m h d w`.
    #[error("unknown unit {unit:?} in duration {input:?}")]
    UnknownUnit {
        /// The unrecognised unit.
        unit: String,
        /// The whole input string.
        input: String,
    },
    /// The value does not fit the server's range (about 292 years), or the resulting instant
    /// is out of range.
    #[error("duration {0:?} is out of range")]
    Overflow(String),
}

/// Formats a duration as a whole-second compound string such as `1m30s` or `1w1d`.
///
/// docs/protocol.md §1.3: components in `w d h m s` order, zero components omitted, `0s` for zero,
/// sub-seconds floored, and any 0 < d < 1 s rounded up to `1s` so a tiny sleep is not sent
/// as "no sleep".
pub fn format_duration(d: Duration) -> String {
    const UNITS: [(u64, char); 5] = [
        (7 * 24 * 3600, 'w'),
        (24 * 3600, 'd'),
        (3600, 'h'),
        (60, 'm'),
        (1, 's'),
    ];
    let mut secs = d.as_secs();
    if secs == 0 {
        return if d.is_zero() { "0s" } else { "1s" }.to_owned();
    }
    let mut out = String::new();
    for (unit_secs, unit) in UNITS {
        let count = secs / unit_secs;
        secs %= unit_secs;
        if count > 0 {
            write!(out, "{count}{unit}").expect("writing to a String cannot fail");
        }
    }
    out
}

/// Parses a Go-style duration string, extended with `d` (24 h) and `w` (168 h).
///
/// docs/protocol.md §1.3: the server uses `go-str2duration`, so this accepts what it accepts:
/// `ns us µs ms s m h d w`, concatenated (`2h45m`, `1w2d`), with decimal fractions (`1.5h`),
/// an optional leading `+`, and the bare string `0`.
///
/// # Errors
///
/// [`TimeError`] for empty or negative input, bad syntax, a missing or unknown unit, or a
/// total above `i64::MAX` nanoseconds (the server's limit).
pub fn parse_duration(s: &str) -> Result<Duration, TimeError> {
    let rest = match s.as_bytes().first() {
        None => return Err(TimeError::Empty),
        Some(b'-') => return Err(TimeError::Negative(s.to_owned())),
        Some(b'+') => &s[1..],
        Some(_) => s,
    };
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(TimeError::Syntax(s.to_owned()));
    }
    let mut total: u64 = 0;
    let mut rest = rest;
    while !rest.is_empty() {
        let (nanos, tail) = parse_component(rest, s)?;
        total = total
            .checked_add(nanos)
            .filter(|t| *t <= MAX_NANOS)
            .ok_or_else(|| TimeError::Overflow(s.to_owned()))?;
        rest = tail;
    }
    Ok(Duration::from_nanos(total))
}

/// Formats an instant as RFC 3339 in UTC with a `Z` suffix, e.g. `2026-01-02T03:04:05Z`.
///
/// Whole seconds print without a fraction; sub-second instants keep millisecond, microsecond
/// or nanosecond precision as needed, so no information is lost.
pub fn format_rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Resolves a sleep target or timeout that is either an RFC 3339 instant or a duration
/// relative to `now`.
///
/// docs/protocol.md §1.3: sleeps and `waitForEvent`/`invoke` timeouts may be absolute timestamps.
/// A string of at least 10 characters that parses as RFC 3339 is an instant; anything else
/// is parsed with [`parse_duration`] and added to `now`.
///
/// # Errors
///
/// The [`parse_duration`] error when the string is not an instant, or
/// [`TimeError::Overflow`] when `now` plus the duration is not representable.
pub fn parse_time_or_duration(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, TimeError> {
    if s.len() >= 10 {
        if let Ok(instant) = DateTime::parse_from_rfc3339(s) {
            return Ok(instant.with_timezone(&Utc));
        }
    }
    let duration = parse_duration(s)?;
    chrono::Duration::from_std(duration)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .ok_or_else(|| TimeError::Overflow(s.to_owned()))
}

/// Go's limit: durations are `i64` nanoseconds.
const MAX_NANOS: u64 = i64::MAX as u64;

/// Parses one `<number><unit>` component from the start of `s`; returns its nanoseconds and
/// the unparsed rest. `input` is the whole string, for error messages.
fn parse_component<'a>(s: &'a str, input: &str) -> Result<(u64, &'a str), TimeError> {
    let overflow = || TimeError::Overflow(input.to_owned());
    let (whole, had_whole, s) = leading_int(s).ok_or_else(overflow)?;
    let (fraction, scale, had_fraction, s) = match s.strip_prefix('.') {
        Some(after_dot) => {
            let (fraction, scale, tail) = leading_fraction(after_dot);
            (fraction, scale, tail.len() != after_dot.len(), tail)
        }
        None => (0, 1.0, false, s),
    };
    if !had_whole && !had_fraction {
        return Err(TimeError::Syntax(input.to_owned()));
    }
    let unit_len = s
        .find(|c: char| c == '.' || c.is_ascii_digit())
        .unwrap_or(s.len());
    if unit_len == 0 {
        return Err(TimeError::MissingUnit(input.to_owned()));
    }
    let (unit, tail) = s.split_at(unit_len);
    let unit_nanos = unit_nanos(unit).ok_or_else(|| TimeError::UnknownUnit {
        unit: unit.to_owned(),
        input: input.to_owned(),
    })?;
    let mut nanos = whole.checked_mul(unit_nanos).ok_or_else(overflow)?;
    if fraction > 0 {
        // Go does the same float scaling; precision loss is below a nanosecond per unit.
        let fraction_nanos = (fraction as f64 * (unit_nanos as f64 / scale)) as u64;
        nanos = nanos.checked_add(fraction_nanos).ok_or_else(overflow)?;
    }
    if nanos > MAX_NANOS {
        return Err(overflow());
    }
    Ok((nanos, tail))
}

/// Consumes leading ASCII digits; returns the value, whether any digit was present, and the
/// rest. `None` on overflow.
fn leading_int(s: &str) -> Option<(u64, bool, &str)> {
    let len = s.bytes().take_while(u8::is_ascii_digit).count();
    let mut value: u64 = 0;
    for digit in s.bytes().take(len) {
        value = value
            .checked_mul(10)?
            .checked_add(u64::from(digit - b'0'))?;
    }
    Some((value, len > 0, &s[len..]))
}

/// Consumes the digits after a decimal point; returns the digits as an integer, the power of
/// ten that divides it, and the rest. Digits beyond `u64` precision are skipped, as Go does.
fn leading_fraction(s: &str) -> (u64, f64, &str) {
    let len = s.bytes().take_while(u8::is_ascii_digit).count();
    let mut value: u64 = 0;
    let mut scale = 1.0;
    for digit in s.bytes().take(len) {
        let Some(next) = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(digit - b'0')))
        else {
            break;
        };
        value = next;
        scale *= 10.0;
    }
    (value, scale, &s[len..])
}

/// Nanoseconds per unit, or `None` for an unknown unit.
fn unit_nanos(unit: &str) -> Option<u64> {
    const SECOND: u64 = 1_000_000_000;
    Some(match unit {
        "ns" => 1,
        // Go accepts both the micro sign (U+00B5) and the Greek mu (U+03BC).
        "us" | "µs" | "μs" => 1_000,
        "ms" => 1_000_000,
        "s" => SECOND,
        "m" => 60 * SECOND,
        "h" => 3_600 * SECOND,
        "d" => 86_400 * SECOND,
        "w" => 604_800 * SECOND,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn instant(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
            .single()
            .expect("valid test date")
    }

    #[test]
    fn durations_format_as_compound_whole_seconds() {
        let cases = [
            (secs(2), "2s"),
            (secs(10), "10s"),
            (secs(90), "1m30s"),
            (secs(3_600), "1h"),
            (secs(5_400), "1h30m"),
            (secs(86_400), "1d"),
            (secs(48 * 3_600), "2d"),
            (secs(8 * 86_400), "1w1d"),
            (secs(604_800 + 3_661), "1w1h1m1s"),
        ];
        for (duration, expected) in cases {
            assert_eq!(format_duration(duration), expected, "{duration:?}");
        }
    }

    #[test]
    fn zero_duration_formats_as_0s() {
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn sub_second_durations_round_up_to_1s() {
        assert_eq!(format_duration(Duration::from_nanos(1)), "1s");
        assert_eq!(format_duration(Duration::from_millis(999)), "1s");
    }

    #[test]
    fn fractional_seconds_above_one_are_floored() {
        assert_eq!(format_duration(Duration::from_millis(2_999)), "2s");
    }

    #[test]
    fn go_units_and_day_week_extensions_parse() {
        let cases = [
            ("0", Duration::ZERO),
            ("0s", Duration::ZERO),
            ("2s", secs(2)),
            ("+5m", secs(300)),
            ("2h45m", secs(2 * 3_600 + 45 * 60)),
            ("1d", secs(86_400)),
            ("1w2d", secs(9 * 86_400)),
            ("1.5h", secs(5_400)),
            (".5s", Duration::from_millis(500)),
            ("1.s", secs(1)),
            ("300ms", Duration::from_millis(300)),
            ("7us", Duration::from_micros(7)),
            ("7µs", Duration::from_micros(7)),
            ("7μs", Duration::from_micros(7)),
            ("9ns", Duration::from_nanos(9)),
            ("1h1m1s1ms", Duration::from_millis(3_661_001)),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_duration(input), Ok(expected), "{input:?}");
        }
    }

    #[test]
    fn formatted_durations_parse_back() {
        for n in [1, 59, 61, 3_599, 86_401, 700_000] {
            assert_eq!(parse_duration(&format_duration(secs(n))), Ok(secs(n)));
        }
    }

    #[test]
    fn empty_negative_and_malformed_durations_are_rejected() {
        assert_eq!(parse_duration(""), Err(TimeError::Empty));
        assert!(matches!(parse_duration("-1s"), Err(TimeError::Negative(_))));
        for input in ["+", "s", ".s", "abc", " 1s"] {
            assert!(
                matches!(parse_duration(input), Err(TimeError::Syntax(_))),
                "{input:?}"
            );
        }
        assert!(matches!(
            parse_duration("10"),
            Err(TimeError::MissingUnit(_))
        ));
        assert!(matches!(
            parse_duration("1s2"),
            Err(TimeError::MissingUnit(_))
        ));
        assert!(matches!(
            parse_duration("1..5s"),
            Err(TimeError::MissingUnit(_))
        ));
    }

    #[test]
    fn unknown_units_are_rejected() {
        for input in ["1y", "1sec", "5S", "1 s"] {
            assert!(
                matches!(parse_duration(input), Err(TimeError::UnknownUnit { .. })),
                "{input:?}"
            );
        }
    }

    #[test]
    fn durations_beyond_the_go_range_overflow() {
        for input in [
            "99999999999999999999s",
            "15251w",
            "9223372036854775807ns1ns",
            "2562048h",
        ] {
            assert!(
                matches!(parse_duration(input), Err(TimeError::Overflow(_))),
                "{input:?}"
            );
        }
        assert_eq!(
            parse_duration("9223372036854775807ns"),
            Ok(Duration::from_nanos(i64::MAX as u64))
        );
    }

    #[test]
    fn rfc3339_uses_z_and_only_needed_precision() {
        let t = instant(2026, 1, 2, 3, 4, 5);
        assert_eq!(format_rfc3339(t), "2026-01-02T03:04:05Z");
        let with_millis = t + chrono::Duration::milliseconds(250);
        assert_eq!(format_rfc3339(with_millis), "2026-01-02T03:04:05.250Z");
    }

    #[test]
    fn rfc3339_strings_are_absolute_instants() {
        let now = instant(2026, 1, 1, 0, 0, 0);
        assert_eq!(
            parse_time_or_duration("2026-01-02T03:04:05Z", now),
            Ok(instant(2026, 1, 2, 3, 4, 5))
        );
        assert_eq!(
            parse_time_or_duration("2026-01-02T05:04:05+02:00", now),
            Ok(instant(2026, 1, 2, 3, 4, 5))
        );
    }

    #[test]
    fn duration_strings_are_relative_to_now() {
        let now = instant(2026, 1, 1, 0, 0, 0);
        assert_eq!(
            parse_time_or_duration("1d2h", now),
            Ok(instant(2026, 1, 2, 2, 0, 0))
        );
        assert_eq!(
            parse_time_or_duration("1000000000ns", now),
            Ok(instant(2026, 1, 1, 0, 0, 1))
        );
    }

    #[test]
    fn neither_instant_nor_duration_is_an_error() {
        let now = instant(2026, 1, 1, 0, 0, 0);
        assert!(parse_time_or_duration("tomorrow-ish", now).is_err());
        assert!(parse_time_or_duration("", now).is_err());
    }

    #[test]
    fn instant_beyond_chrono_range_is_an_overflow() {
        let now = DateTime::<Utc>::MAX_UTC;
        assert!(matches!(
            parse_time_or_duration("1s", now),
            Err(TimeError::Overflow(_))
        ));
    }
}
