//! `token_bound_cidrs`: parse the addresses and CIDR blocks a user may log in
//! from, render them as Vault does (a single-host block is shown as the bare
//! address), and match a client address against them.

use coffer_core::{Error, Result};
use std::net::IpAddr;

/// One parsed entry: an address and a prefix length (32/128 for a single host).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

fn max_prefix(addr: &IpAddr) -> u8 {
    if addr.is_ipv4() { 32 } else { 128 }
}

impl Cidr {
    /// `10.0.0.0/8`, `1.2.3.4`, `::1/128`, `fd00::/8`. `field` names the
    /// input in error messages (addresses are not secret, so they are quoted).
    pub(crate) fn parse(field: &str, s: &str) -> Result<Cidr> {
        let bad = || Error::invalid(format!("{field}: error parsing address {s:?}: not an IP address or CIDR block"));
        let (ip, prefix) = match s.split_once('/') {
            Some((ip, p)) => (ip, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = ip.trim().parse().map_err(|_| bad())?;
        let max = max_prefix(&addr);
        let prefix = match prefix {
            None => max,
            Some(p) => match p.trim().parse::<u8>() {
                Ok(n) if n <= max && !p.trim().starts_with('+') => n,
                _ => return Err(bad()),
            },
        };
        Ok(Cidr { addr, prefix })
    }

    /// Does `ip` fall inside this block? IPv4-mapped IPv6 clients
    /// (`::ffff:1.2.3.4`) are compared as IPv4.
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => masked_eq(&net.octets(), &ip.octets(), self.prefix),
            (IpAddr::V6(net), IpAddr::V6(ip)) => masked_eq(&net.octets(), &ip.octets(), self.prefix),
            _ => false,
        }
    }
}

fn masked_eq(a: &[u8], b: &[u8], prefix: u8) -> bool {
    let mut bits = u32::from(prefix);
    for (x, y) in a.iter().zip(b) {
        if bits == 0 {
            return true;
        }
        let take = bits.min(8);
        let mask = !(0xffu8.checked_shr(take).unwrap_or(0));
        if (x & mask) != (y & mask) {
            return false;
        }
        bits -= take;
    }
    true
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.prefix == max_prefix(&self.addr) {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.prefix)
        }
    }
}

/// Parse a list from the request and return it in its stored (display) form.
pub(crate) fn normalize(field: &str, items: &[String]) -> Result<Vec<String>> {
    items.iter().map(|s| Cidr::parse(field, s).map(|c| c.to_string())).collect()
}

/// Is a login from `remote` allowed by `bound`? An empty list allows
/// everything; with a list, an unknown client address is refused.
pub(crate) fn allows(bound: &[String], remote: Option<IpAddr>) -> bool {
    if bound.is_empty() {
        return true;
    }
    let Some(ip) = remote else { return false };
    // Stored entries were validated on write; one that no longer parses denies.
    bound.iter().filter_map(|s| Cidr::parse("token_bound_cidrs", s).ok()).any(|c| c.contains(ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn renders_like_vault() {
        let v: Vec<String> = ["10.0.0.0/8", " 1.2.3.4/32", "::1/128", "fd00::/8", "10.1.2.3/8", "5.6.7.8"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(normalize("token_bound_cidrs", &v).unwrap(), ["10.0.0.0/8", "1.2.3.4", "::1", "fd00::/8", "10.1.2.3/8", "5.6.7.8"]);
    }

    #[test]
    fn rejects_garbage_naming_the_field() {
        for bad in ["bad", "1.2.3.4/33", "::1/129", "1.2.3.4/", "1.2.3.4/x", "1.2.3.4/+8", "/8", ""] {
            let e = Cidr::parse("token_bound_cidrs", bad).unwrap_err().to_string();
            assert!(e.starts_with("token_bound_cidrs: error parsing address"), "{bad}: {e}");
        }
    }

    #[test]
    fn matching() {
        let b = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(allows(&[], None));
        assert!(!allows(&b(&["127.0.0.1"]), None));
        assert!(allows(&b(&["127.0.0.1"]), Some(ip("127.0.0.1"))));
        assert!(!allows(&b(&["127.0.0.1"]), Some(ip("127.0.0.2"))));
        assert!(allows(&b(&["10.0.0.0/8"]), Some(ip("10.255.1.2"))));
        assert!(!allows(&b(&["10.0.0.0/8"]), Some(ip("11.0.0.1"))));
        assert!(allows(&b(&["10.1.2.3/8"]), Some(ip("10.9.9.9"))));
        assert!(allows(&b(&["192.168.1.0/23"]), Some(ip("192.168.0.7"))));
        assert!(!allows(&b(&["192.168.1.0/24"]), Some(ip("192.168.0.7"))));
        assert!(allows(&b(&["0.0.0.0/0"]), Some(ip("8.8.8.8"))));
        assert!(!allows(&b(&["0.0.0.0/0"]), Some(ip("::2"))));
        assert!(allows(&b(&["fd00::/8"]), Some(ip("fd12::1"))));
        assert!(!allows(&b(&["fd00::/8"]), Some(ip("fe80::1"))));
        assert!(allows(&b(&["127.0.0.1"]), Some(ip("::ffff:127.0.0.1"))));
        assert!(allows(&b(&["::1"]), Some(ip("::1"))));
        assert!(allows(&b(&["1.1.1.1", "127.0.0.0/8"]), Some(ip("127.3.3.3"))));
    }
}
