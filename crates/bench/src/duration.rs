//! Go-style duration strings (`10s`, `1m30s`, `250ms`, `1.5h`), as Vault's own flags take them.
//! A bare number means seconds.

use std::time::Duration;

/// Parse a duration such as `10s`, `1m30s`, `500ms`, `1.5s`, `2h`, `100us`, or `30` (seconds).
pub fn parse_duration(input: &str) -> Result<Duration, String> {
    let s = input.trim();
    if s.is_empty() {
        return Err("duration: empty".to_string());
    }
    if s.starts_with('-') {
        return Err(format!("duration: negative value {input:?}"));
    }
    if let Ok(secs) = s.parse::<f64>() {
        return finite(secs, input);
    }
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut total = 0f64;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
            i += 1;
        }
        if start == i {
            return Err(format!("duration: invalid {input:?} (expected a number at {:?})", &s[start..]));
        }
        let number: f64 = s[start..i]
            .parse()
            .map_err(|_| format!("duration: invalid number {:?} in {input:?}", &s[start..i]))?;
        let unit_start = i;
        // The unit runs to the next number; stopping only at ASCII keeps `i` on a char
        // boundary, so the micro sign (`µs`, as Go accepts) slices cleanly.
        while i < bytes.len() && !bytes[i].is_ascii_digit() && bytes[i] != b'.' {
            i += 1;
        }
        let unit = &s[unit_start..i];
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => return Err(format!("duration: missing unit in {input:?} (use ms, s, m or h)")),
            other => return Err(format!("duration: unknown unit {other:?} in {input:?}")),
        };
        total += number * scale;
    }
    finite(total, input)
}

fn finite(secs: f64, input: &str) -> Result<Duration, String> {
    Duration::try_from_secs_f64(secs).map_err(|_| format!("duration: out of range {input:?}"))
}

/// Human form used in reports: `850µs`, `12.3ms`, `1.204s`.
pub fn format_micros(us: u64) -> String {
    if us < 1_000 {
        format!("{us}µs")
    } else if us < 1_000_000 {
        format!("{:.2}ms", us as f64 / 1_000.0)
    } else {
        format!("{:.3}s", us as f64 / 1_000_000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_units() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("100us").unwrap(), Duration::from_micros(100));
        assert_eq!(parse_duration("100µs").unwrap(), Duration::from_micros(100));
        assert_eq!(parse_duration("5ns").unwrap(), Duration::from_nanos(5));
    }

    #[test]
    fn compound_and_fractional() {
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1h2m3s").unwrap(), Duration::from_secs(3723));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration(" 2s ").unwrap(), Duration::from_secs(2));
    }

    #[test]
    fn bare_number_is_seconds() {
        assert_eq!(parse_duration("30").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("0.5").unwrap(), Duration::from_millis(500));
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "s", "5x", "-3s", "1m30", "abc", "1..2s", "ms5"] {
            let err = parse_duration(bad).unwrap_err();
            assert!(err.starts_with("duration:"), "{bad:?} -> {err}");
        }
        assert!(parse_duration("5x").unwrap_err().contains("\"x\""));
    }

    #[test]
    fn formats_latencies() {
        assert_eq!(format_micros(850), "850µs");
        assert_eq!(format_micros(12_345), "12.35ms");
        assert_eq!(format_micros(1_204_000), "1.204s");
    }
}
