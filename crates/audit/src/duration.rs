//! Durations in device options, written as Vault writes them: Go duration
//! strings (`"2s"`, `"1h30m"`, `"8760h"`, `"250ms"`), whole days (`"7d"`) or a
//! bare number of seconds (`"30"`) — the config crate's parser, the one the
//! server config and TTL fields use, except that an empty option is no
//! duration (it is not Vault's "zero" TTL).

use std::time::Duration;

/// Parse `text` as a duration; `None` if it is not one.
pub(crate) fn parse(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    coffer_config::duration::parse(text).ok()
}

#[cfg(test)]
mod tests {
    use super::parse;
    use std::time::Duration;

    #[test]
    fn go_durations_and_seconds() {
        assert_eq!(parse("2s"), Some(Duration::from_secs(2)));
        assert_eq!(parse("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse("0"), Some(Duration::ZERO));
        assert_eq!(parse("8760h"), Some(Duration::from_secs(8760 * 3600)));
        assert_eq!(parse("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse("1.5s"), Some(Duration::from_millis(1500)));
        for bad in ["", "s", "5x", "-1s", "h5", "1h-"] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
