//! Vault's TTL arithmetic and the time formats token lookups use.

use crate::error::{Error, Result};
use std::time::Duration;

/// Inputs of [`calculate_ttl`], all in whole seconds (Vault truncates to the
/// second before computing).
#[derive(Clone, Copy, Debug, Default)]
pub struct TtlInput {
    /// Requested increment (renewals); 0 = none.
    pub increment: u64,
    /// TTL the backend proposes (the requested `ttl`, or the current lease TTL).
    pub backend_ttl: u64,
    pub period: u64,
    /// A backend-specific max (role); 0 = none.
    pub backend_max: u64,
    pub explicit_max: u64,
    /// Mount effective default / max lease TTL.
    pub mount_default: u64,
    pub mount_max: u64,
    /// Unix seconds the lease was issued, and now.
    pub start: i64,
    pub now: i64,
}

/// Vault's `framework.CalculateTTL`: the TTL to grant and the warnings to
/// show (e.g. `TTL of "2h" exceeded the effective max_ttl of "1h"; TTL value
/// is capped accordingly`).
pub fn calculate_ttl(i: TtlInput) -> Result<(u64, Vec<String>)> {
    let mut warnings = Vec::new();
    let mut max = i.mount_max;
    if i.backend_max > 0 && i.backend_max < max {
        max = i.backend_max;
    }
    if i.explicit_max > 0 && i.explicit_max < max {
        max = i.explicit_max;
    }
    if max == 0 {
        return Err(Error::internal("max TTL must be greater than zero"));
    }
    let (mut ttl, max_valid_at) = if i.period > 0 {
        let mut period = i.period;
        if period > max {
            warnings.push(format!(
                "period of {:?} exceeded the effective max_ttl of {:?}; period value is capped accordingly",
                human_duration(secs(period)),
                human_duration(secs(max))
            ));
            period = max;
        }
        (period, (i.explicit_max > 0).then(|| i.start + i.explicit_max as i64))
    } else {
        let ttl = if i.increment > 0 {
            i.increment
        } else if i.backend_ttl > 0 {
            i.backend_ttl
        } else {
            i.mount_default
        };
        (ttl, Some(i.start + max as i64))
    };
    if let Some(at) = max_valid_at {
        let max_valid = at - i.now;
        if max_valid <= 0 {
            return Err(Error::invalid("past the max TTL, cannot renew"));
        }
        let max_valid = max_valid as u64;
        if ttl > max_valid {
            warnings.push(format!(
                "TTL of {:?} exceeded the effective max_ttl of {:?}; TTL value is capped accordingly",
                human_duration(secs(ttl)),
                human_duration(secs(max_valid))
            ));
            ttl = max_valid;
        }
    }
    Ok((ttl, warnings))
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Vault's `humanDuration`: Go's duration string without zero minute and
/// second parts (`768h`, `1h30m`, `59m59s`).
pub fn human_duration(d: Duration) -> String {
    if d.is_zero() {
        return "0s".into();
    }
    let mut s = coffer_config::duration::format_go(d);
    if s.ends_with("m0s") {
        s.truncate(s.len() - 2);
    }
    if let Some(idx) = s.find("h0m")
        && idx > 0
    {
        s.replace_range(idx + 1..idx + 3, "");
    }
    s
}

/// Go's `time.RFC3339Nano` in UTC: fractional seconds without trailing zeros.
pub fn format_rfc3339_nano(unix_ns: i64) -> String {
    crate::util::rfc3339_ns(unix_ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> TtlInput {
        TtlInput { mount_default: 2_764_800, mount_max: 2_764_800, start: 1000, now: 1000, ..Default::default() }
    }

    #[test]
    fn default_and_requested_ttl() {
        assert_eq!(calculate_ttl(base()).unwrap(), (2_764_800, vec![]));
        assert_eq!(calculate_ttl(TtlInput { backend_ttl: 60, ..base() }).unwrap().0, 60);
        assert_eq!(calculate_ttl(TtlInput { backend_ttl: 60, increment: 90, ..base() }).unwrap().0, 90);
    }

    #[test]
    fn capped_by_explicit_and_mount_max_with_vault_warnings() {
        let (ttl, w) = calculate_ttl(TtlInput { backend_ttl: 7200, explicit_max: 3600, ..base() }).unwrap();
        assert_eq!(ttl, 3600);
        assert_eq!(w, vec![r#"TTL of "2h" exceeded the effective max_ttl of "1h"; TTL value is capped accordingly"#]);
        let (ttl, w) = calculate_ttl(TtlInput { backend_ttl: 36_000_000, ..base() }).unwrap();
        assert_eq!(ttl, 2_764_800);
        assert!(w[0].contains(r#"effective max_ttl of "768h""#), "{w:?}");
        // Renewal one second after issue: the remaining max is 59m59s.
        let (ttl, w) = calculate_ttl(TtlInput { increment: 18000, explicit_max: 3600, now: 1001, ..base() }).unwrap();
        assert_eq!(ttl, 3599);
        assert!(w[0].contains(r#"TTL of "5h" exceeded the effective max_ttl of "59m59s""#), "{w:?}");
    }

    #[test]
    fn periodic() {
        let (ttl, w) = calculate_ttl(TtlInput { period: 1800, increment: 99999, ..base() }).unwrap();
        assert_eq!((ttl, w.len()), (1800, 0));
        let (ttl, w) = calculate_ttl(TtlInput { period: 3600, explicit_max: 1800, ..base() }).unwrap();
        assert_eq!(ttl, 1800);
        assert_eq!(w, vec![r#"period of "1h" exceeded the effective max_ttl of "30m"; period value is capped accordingly"#]);
        assert!(calculate_ttl(TtlInput { period: 60, explicit_max: 10, now: 1011, ..base() }).is_err());
    }

    #[test]
    fn human_and_rfc3339() {
        assert_eq!(human_duration(Duration::from_secs(2_764_800)), "768h");
        assert_eq!(human_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(human_duration(Duration::from_secs(7205)), "2h5s");
        assert_eq!(human_duration(Duration::from_secs(3599)), "59m59s");
        assert_eq!(format_rfc3339_nano(1_795_893_525_943_046_955), "2026-11-28T19:18:45.943046955Z");
        assert_eq!(format_rfc3339_nano(1_795_893_525_500_000_000), "2026-11-28T19:18:45.5Z");
        assert_eq!(format_rfc3339_nano(1_795_893_525_000_000_000), "2026-11-28T19:18:45Z");
    }
}
