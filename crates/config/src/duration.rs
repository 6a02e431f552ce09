//! Durations the way Vault reads and writes them.
//!
//! Vault accepts a TTL either as integer seconds (`3600`, `"3600"`) or as a Go
//! duration string (`"768h"`, `"1h30m"`, `"1.5h"`, `"500ms"`), plus a whole
//! number of days (`"7d"`). It answers with Go's `time.Duration.String()` form
//! (`"768h0m0s"`). This module does both directions so every crate parses TTLs
//! the same way.
//!
//! Differences from Vault, on purpose:
//! - negative durations are rejected (Vault lets some through, then misbehaves);
//! - a duration longer than Go's maximum (`2562047h47m16.854775807s`, the
//!   largest `time.Duration`) is an error instead of wrapping around;
//! - a fraction is applied with exact integer arithmetic rather than Go's
//!   float64, so `"1.000000001s"` is exactly 1 000 000 001 ns.

use std::fmt;
use std::time::Duration;

/// The largest duration Go (and so Vault) can represent: `i64::MAX` nanoseconds.
pub const MAX: Duration = Duration::from_nanos(i64::MAX as u64);

/// Longest piece of the offending input quoted back in an error message.
const MAX_QUOTED: usize = 64;

/// Why a duration was refused. Its `Display` names the input:
/// `invalid duration "5x"`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {shown}{}", self.kind.suffix())]
pub struct DurationError {
    shown: String,
    kind: DurationErrorKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurationErrorKind {
    /// Not integer seconds, `<n>d`, nor a Go duration string.
    Syntax,
    /// Below zero.
    Negative,
    /// Longer than [`MAX`].
    TooLarge,
    /// A JSON value that is neither a string nor an integer.
    WrongType,
}

impl DurationErrorKind {
    fn suffix(self) -> &'static str {
        match self {
            DurationErrorKind::Syntax => "",
            DurationErrorKind::Negative => ": a duration cannot be negative",
            DurationErrorKind::TooLarge => ": longer than the maximum, 2562047h47m16.854775807s",
            DurationErrorKind::WrongType => ": expected integer seconds or a duration string",
        }
    }
}

impl DurationError {
    fn new(input: &str, kind: DurationErrorKind) -> Self {
        let shown = if input.chars().count() > MAX_QUOTED {
            let cut: String = input.chars().take(MAX_QUOTED).collect();
            format!("{cut:?}...")
        } else {
            format!("{input:?}")
        };
        DurationError { shown, kind }
    }

    fn json(value: &serde_json::Value, kind: DurationErrorKind) -> Self {
        let mut shown = value.to_string();
        if shown.chars().count() > MAX_QUOTED {
            shown = shown.chars().take(MAX_QUOTED).collect::<String>() + "...";
        }
        DurationError { shown, kind }
    }

    pub fn kind(&self) -> DurationErrorKind {
        self.kind
    }
}

const NANOS_PER_SEC: u128 = 1_000_000_000;
const MAX_NANOS: u128 = i64::MAX as u128;

/// Parse a duration as Vault does for TTL fields.
///
/// Accepts `""` (zero, as Vault does), integer seconds (`"3600"`), whole days
/// (`"7d"`), and Go duration strings (`"768h"`, `"1h30m"`, `"1.5h"`,
/// `"500ms"`, `"0"`; units `ns us µs ms s m h`).
pub fn parse(s: &str) -> Result<Duration, DurationError> {
    if s.is_empty() {
        return Ok(Duration::ZERO);
    }
    // Plain integer seconds, like Go's strconv.ParseInt (optional sign).
    if let Some((neg, mag)) = parse_int(s) {
        return checked(s, neg, mag.checked_mul(NANOS_PER_SEC));
    }
    if let Some(days) = s.strip_suffix('d') {
        return match parse_int(days) {
            Some((neg, mag)) => checked(s, neg, mag.checked_mul(86_400 * NANOS_PER_SEC)),
            None => Err(DurationError::new(s, DurationErrorKind::Syntax)),
        };
    }
    parse_go(s)
}

/// Parse a JSON TTL value: an integer (seconds), a string (see [`parse`]), or
/// `null` (zero, as Vault treats a missing value).
pub fn from_json(v: &serde_json::Value) -> Result<Duration, DurationError> {
    use serde_json::Value;
    match v {
        Value::Null => Ok(Duration::ZERO),
        Value::String(s) => parse(s),
        Value::Number(n) => {
            if let Some(secs) = n.as_u64() {
                checked_secs(v, u128::from(secs))
            } else if n.as_i64().is_some() {
                Err(DurationError::json(v, DurationErrorKind::Negative))
            } else {
                // Vault reads numbers as text and then fails on "1.5" (no unit).
                Err(DurationError::json(v, DurationErrorKind::Syntax))
            }
        }
        _ => Err(DurationError::json(v, DurationErrorKind::WrongType)),
    }
}

/// Seconds given as a number (an HCL or JSON integer).
pub fn from_secs_i64(secs: i64) -> Result<Duration, DurationError> {
    if secs < 0 {
        return Err(DurationError::new(
            &secs.to_string(),
            DurationErrorKind::Negative,
        ));
    }
    checked_secs(&serde_json::Value::from(secs), secs as u128)
}

fn checked_secs(shown: &serde_json::Value, secs: u128) -> Result<Duration, DurationError> {
    let nanos = secs * NANOS_PER_SEC;
    if nanos > MAX_NANOS {
        return Err(DurationError::json(shown, DurationErrorKind::TooLarge));
    }
    Ok(Duration::from_nanos(nanos as u64))
}

fn checked(input: &str, neg: bool, nanos: Option<u128>) -> Result<Duration, DurationError> {
    match nanos {
        Some(n) if n > MAX_NANOS => Err(DurationError::new(input, DurationErrorKind::TooLarge)),
        Some(n) if neg && n > 0 => Err(DurationError::new(input, DurationErrorKind::Negative)),
        Some(n) => Ok(Duration::from_nanos(n as u64)),
        None => Err(DurationError::new(input, DurationErrorKind::TooLarge)),
    }
}

/// `[+-]digits`, as strconv.ParseInt base 10 reads it; the magnitude is
/// returned unbounded by i64 (the caller range-checks).
fn parse_int(s: &str) -> Option<(bool, u128)> {
    let (neg, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut v: u128 = 0;
    for b in digits.bytes() {
        v = v.checked_mul(10)?.checked_add(u128::from(b - b'0'))?;
        if v > MAX_NANOS {
            // Too many seconds anyway; keep the number small enough to multiply.
            v = MAX_NANOS + 1;
        }
    }
    Some((neg, v))
}

fn unit_nanos(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
        "ms" => 1_000_000,
        "s" => NANOS_PER_SEC,
        "m" => 60 * NANOS_PER_SEC,
        "h" => 3_600 * NANOS_PER_SEC,
        _ => return None,
    })
}

/// Go's time.ParseDuration, without negative results.
fn parse_go(input: &str) -> Result<Duration, DurationError> {
    let syntax = || DurationError::new(input, DurationErrorKind::Syntax);
    let too_large = || DurationError::new(input, DurationErrorKind::TooLarge);

    let mut s = input;
    let mut neg = false;
    if let Some(rest) = s.strip_prefix('-') {
        neg = true;
        s = rest;
    } else if let Some(rest) = s.strip_prefix('+') {
        s = rest;
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(syntax());
    }
    let mut total: u128 = 0;
    while !s.is_empty() {
        let first = s.as_bytes()[0];
        if !(first == b'.' || first.is_ascii_digit()) {
            return Err(syntax());
        }
        // Integer part.
        let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
        let mut whole: u128 = 0;
        for b in s[..int_len].bytes() {
            whole = whole * 10 + u128::from(b - b'0');
            if whole > MAX_NANOS {
                return Err(too_large());
            }
        }
        s = &s[int_len..];
        // Fraction part: keep at most 24 digits, which is below a nanosecond
        // even for hours; Go also drops digits it cannot hold.
        let mut frac: u128 = 0;
        let mut scale: u128 = 1;
        let mut frac_len = 0;
        if let Some(rest) = s.strip_prefix('.') {
            frac_len = rest.bytes().take_while(u8::is_ascii_digit).count();
            for b in rest[..frac_len].bytes().take(24) {
                frac = frac * 10 + u128::from(b - b'0');
                scale *= 10;
            }
            s = &rest[frac_len..];
        } else if int_len == 0 {
            return Err(syntax());
        }
        if int_len == 0 && frac_len == 0 {
            return Err(syntax());
        }
        // Unit: everything up to the next digit or dot.
        let unit_len = s
            .bytes()
            .position(|b| b == b'.' || b.is_ascii_digit())
            .unwrap_or(s.len());
        if unit_len == 0 {
            return Err(syntax()); // missing unit
        }
        let unit = unit_nanos(&s[..unit_len]).ok_or_else(syntax)?;
        s = &s[unit_len..];
        total += whole * unit + frac * unit / scale;
        if total > MAX_NANOS {
            return Err(too_large());
        }
    }
    if neg && total > 0 {
        return Err(DurationError::new(input, DurationErrorKind::Negative));
    }
    Ok(Duration::from_nanos(total as u64))
}

/// Format like Go's `time.Duration.String()`: `"768h0m0s"`, `"1m30s"`,
/// `"1.5s"`, `"500ms"`, `"0s"`. Vault uses this form in responses.
pub fn format_go(d: Duration) -> String {
    GoDuration(d).to_string()
}

/// A [`Duration`] that displays in Go's format (see [`format_go`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct GoDuration(pub Duration);

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let u = self.0.as_nanos();
        if u == 0 {
            return f.write_str("0s");
        }
        if u < NANOS_PER_SEC {
            let (unit, prec) = if u < 1_000 {
                ("ns", 0)
            } else if u < 1_000_000 {
                ("\u{b5}s", 3)
            } else {
                ("ms", 6)
            };
            let (int, frac) = split_frac(u, prec);
            return write!(f, "{int}{frac}{unit}");
        }
        let (secs, frac) = split_frac(u, 9);
        let (mins, s) = (secs / 60, secs % 60);
        if mins == 0 {
            return write!(f, "{s}{frac}s");
        }
        let (hours, m) = (mins / 60, mins % 60);
        if hours == 0 {
            return write!(f, "{m}m{s}{frac}s");
        }
        write!(f, "{hours}h{m}m{s}{frac}s")
    }
}

/// Split `v` into `v / 10^prec` and the fraction as ".ddd" without trailing
/// zeros (empty when the fraction is zero).
fn split_frac(v: u128, prec: u32) -> (u128, String) {
    let p = 10u128.pow(prec);
    let (int, frac) = (v / p, v % p);
    if frac == 0 {
        return (int, String::new());
    }
    let digits = format!("{frac:0width$}", width = prec as usize);
    (int, format!(".{}", digits.trim_end_matches('0')))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn parses_go_duration_strings() {
        assert_eq!(parse("768h").unwrap(), secs(768 * 3600));
        assert_eq!(parse("1h30m").unwrap(), secs(5400));
        assert_eq!(parse("90s").unwrap(), secs(90));
        assert_eq!(parse("1.5h").unwrap(), secs(5400));
        assert_eq!(parse("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse("0").unwrap(), Duration::ZERO);
        assert_eq!(parse("0s").unwrap(), Duration::ZERO);
        assert_eq!(parse("+5s").unwrap(), secs(5));
        assert_eq!(parse(".5s").unwrap(), Duration::from_millis(500));
        assert_eq!(parse("5.s").unwrap(), secs(5));
        assert_eq!(
            parse("1h1m1s1ms1us1ns").unwrap(),
            Duration::new(3661, 1_001_001)
        );
        assert_eq!(parse("2\u{b5}s").unwrap(), Duration::from_micros(2));
        assert_eq!(parse("2\u{3bc}s").unwrap(), Duration::from_micros(2));
        assert_eq!(parse("1.000000001s").unwrap(), Duration::new(1, 1));
        assert_eq!(parse("2562047h47m16.854775807s").unwrap(), MAX);
    }

    #[test]
    fn parses_plain_seconds_days_and_empty() {
        assert_eq!(parse("3600").unwrap(), secs(3600));
        assert_eq!(parse("+60").unwrap(), secs(60));
        assert_eq!(parse("-0").unwrap(), Duration::ZERO);
        assert_eq!(parse("7d").unwrap(), secs(7 * 86_400));
        assert_eq!(parse("").unwrap(), Duration::ZERO);
    }

    #[test]
    fn rejects_bad_input_naming_it() {
        for bad in [
            "5x", "h", "abc", "1.5.5s", ".s", "1d2h", "1.5d", "d", " 5s", "5s ", "5 s", "1hh", "-",
            "+", "s5", "5m3d",
        ] {
            let err = parse(bad).unwrap_err();
            assert_eq!(err.kind(), DurationErrorKind::Syntax, "{bad:?}");
            assert!(
                err.to_string()
                    .starts_with(&format!("invalid duration {bad:?}")),
                "{err}"
            );
        }
        assert_eq!(
            parse("5x").unwrap_err().to_string(),
            r#"invalid duration "5x""#
        );
    }

    #[test]
    fn rejects_negative() {
        for bad in ["-5s", "-1", "-1h30m", "-7d"] {
            let err = parse(bad).unwrap_err();
            assert_eq!(err.kind(), DurationErrorKind::Negative, "{bad}");
            assert_eq!(
                err.to_string(),
                format!("invalid duration {bad:?}: a duration cannot be negative")
            );
        }
        assert_eq!(parse("-0s").unwrap(), Duration::ZERO);
    }

    #[test]
    fn rejects_too_large() {
        for bad in [
            "2562047h47m16.854775808s",
            "2562048h",
            "9223372037",
            "106752d",
            "99999999999999999999999999999999999999999999h",
            "999999999999999999999999999999999999999999999",
        ] {
            assert_eq!(
                parse(bad).unwrap_err().kind(),
                DurationErrorKind::TooLarge,
                "{bad}"
            );
        }
    }

    #[test]
    fn long_input_is_cut_in_the_message() {
        let long = "x".repeat(1000);
        let msg = parse(&long).unwrap_err().to_string();
        assert!(msg.len() < 100, "{msg}");
        assert!(msg.ends_with("..."));
    }

    #[test]
    fn from_json_accepts_integers_and_strings() {
        assert_eq!(from_json(&json!(3600)).unwrap(), secs(3600));
        assert_eq!(from_json(&json!("1h")).unwrap(), secs(3600));
        assert_eq!(from_json(&json!("3600")).unwrap(), secs(3600));
        assert_eq!(from_json(&json!(null)).unwrap(), Duration::ZERO);
        assert_eq!(from_json(&json!(0)).unwrap(), Duration::ZERO);
    }

    #[test]
    fn from_json_rejects_other_values() {
        assert_eq!(
            from_json(&json!(-5)).unwrap_err().kind(),
            DurationErrorKind::Negative
        );
        assert_eq!(
            from_json(&json!(1.5)).unwrap_err().to_string(),
            "invalid duration 1.5"
        );
        assert_eq!(
            from_json(&json!(true)).unwrap_err().to_string(),
            "invalid duration true: expected integer seconds or a duration string"
        );
        assert_eq!(
            from_json(&json!([1])).unwrap_err().kind(),
            DurationErrorKind::WrongType
        );
        assert_eq!(
            from_json(&json!("5x")).unwrap_err().to_string(),
            r#"invalid duration "5x""#
        );
        assert_eq!(
            from_json(&json!(u64::MAX)).unwrap_err().kind(),
            DurationErrorKind::TooLarge
        );
    }

    #[test]
    fn from_secs_i64_checks_range() {
        assert_eq!(from_secs_i64(90).unwrap(), secs(90));
        assert_eq!(
            from_secs_i64(-1).unwrap_err().to_string(),
            "invalid duration \"-1\": a duration cannot be negative"
        );
        assert_eq!(
            from_secs_i64(i64::MAX).unwrap_err().kind(),
            DurationErrorKind::TooLarge
        );
    }

    #[test]
    fn formats_like_go() {
        // Expected strings are what Go's time.Duration.String() prints.
        let cases: &[(Duration, &str)] = &[
            (Duration::ZERO, "0s"),
            (secs(768 * 3600), "768h0m0s"),
            (secs(90), "1m30s"),
            (secs(59), "59s"),
            (secs(3600), "1h0m0s"),
            (secs(3661), "1h1m1s"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::from_millis(500), "500ms"),
            (Duration::from_micros(1500), "1.5ms"),
            (Duration::from_micros(2), "2\u{b5}s"),
            (Duration::from_nanos(1), "1ns"),
            (Duration::from_nanos(999), "999ns"),
            (Duration::from_nanos(1001), "1.001\u{b5}s"),
            (Duration::new(1, 1), "1.000000001s"),
            (Duration::new(3600, 100_000_000), "1h0m0.1s"),
            (MAX, "2562047h47m16.854775807s"),
        ];
        for (d, want) in cases {
            assert_eq!(format_go(*d), *want, "{d:?}");
        }
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(nanos in 0u64..=i64::MAX as u64) {
            let d = Duration::from_nanos(nanos);
            prop_assert_eq!(parse(&format_go(d)).unwrap(), d);
        }

        #[test]
        fn whole_seconds_round_trip(s in 0u64..=9_223_372_036u64) {
            let d = Duration::from_secs(s);
            prop_assert_eq!(parse(&format_go(d)).unwrap(), d);
            prop_assert_eq!(parse(&s.to_string()).unwrap(), d);
            prop_assert_eq!(from_json(&json!(s)).unwrap(), d);
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,24}") {
            let _ = parse(&s);
        }

        #[test]
        fn parse_never_panics_on_duration_like(s in "[-+]?[0-9.]{0,30}(ns|us|ms|s|m|h|d|x)?([0-9.]{0,30}(ns|us|ms|s|m|h))*") {
            let _ = parse(&s);
        }
    }
}
