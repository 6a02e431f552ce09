//! Bound CIDRs: the client addresses a token (or a login) is limited to.
//!
//! Parsing and matching are `ipnet`'s; this module adds Vault's conventions
//! on top: a bare address is a single-host block and is shown bare again
//! (`1.2.3.4/32` reads back as `1.2.3.4`), host bits are kept as written
//! (`10.1.2.3/8` stays so, and matches like `10.0.0.0/8`), IPv4-mapped IPv6
//! (`::ffff:10.0.0.0/104`) is IPv4 (`10.0.0.0/8`), and an IPv4 client never
//! matches an IPv6 block nor the other way round.

use crate::error::{Error, Result};
use crate::logical::Data;
use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::net::IpAddr;

/// One parsed block. Serialised as its display form, so stored records read
/// like Vault's answers.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct BoundCidr(IpNet);

/// Why a string is not an address or a block. Addresses are not secret, so
/// the text quotes the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("error parsing address {0:?}: not an IP address or CIDR block")]
pub struct ParseError(pub String);

impl BoundCidr {
    /// `10.0.0.0/8`, `1.2.3.4`, `::1/128`, `fd00::/8`; surrounding spaces are ignored.
    pub fn parse(s: &str) -> std::result::Result<BoundCidr, ParseError> {
        let t = s.trim();
        let bad = || ParseError(t.to_string());
        let net = if t.contains('/') {
            t.parse::<IpNet>().map_err(|_| bad())?
        } else {
            IpNet::from(t.parse::<IpAddr>().map_err(|_| bad())?)
        };
        Ok(BoundCidr(canonical(net)))
    }

    /// Is `ip` inside this block? An IPv4-mapped IPv6 client counts as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.contains(&ip.to_canonical())
    }
}

/// `::ffff:a.b.c.d/n` (n ≥ 96) is the IPv4 block `a.b.c.d/(n-96)`.
fn canonical(net: IpNet) -> IpNet {
    if let IpNet::V6(v6) = net
        && let Some(v4) = v6.addr().to_ipv4_mapped()
        && v6.prefix_len() >= 96
        && let Ok(n) = IpNet::new(IpAddr::V4(v4), v6.prefix_len() - 96)
    {
        return n;
    }
    net
}

impl std::fmt::Display for BoundCidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.prefix_len() == self.0.max_prefix_len() {
            write!(f, "{}", self.0.addr())
        } else {
            write!(f, "{}", self.0)
        }
    }
}

impl Serialize for BoundCidr {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for BoundCidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        BoundCidr::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// May a request from `remote` use something bound to `bound`? An empty list
/// binds nothing; with a list, an unknown client address is refused.
pub fn allows(bound: &[BoundCidr], remote: Option<IpAddr>) -> bool {
    if bound.is_empty() {
        return true;
    }
    remote.is_some_and(|ip| bound.iter().any(|c| c.contains(ip)))
}

/// The display forms, for reads and lookups.
pub fn to_strings(bound: &[BoundCidr]) -> Vec<String> {
    bound.iter().map(|c| c.to_string()).collect()
}

/// A CIDR list field of a request: `None` when absent, `Some(vec![])` to
/// clear. Accepts a JSON list or a comma-separated string, like every list
/// field, but an empty item is an error (as in Vault) rather than dropped.
/// Errors are `ParseError`s for the caller to frame, or a type error.
pub fn get_list(data: &Data, key: &str) -> Result<Option<std::result::Result<Vec<BoundCidr>, ParseError>>> {
    let items: Vec<String> = match data.get(key) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Vec::new(),
        Some(Value::String(s)) => s.split(',').map(str::to_string).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                _ => Err(Error::invalid(format!("{key}: expected a list of strings"))),
            })
            .collect::<Result<_>>()?,
        Some(Value::Number(n)) => vec![n.to_string()],
        Some(_) => return Err(Error::invalid(format!("{key}: expected a list of strings"))),
    };
    Ok(Some(items.iter().map(|s| BoundCidr::parse(s)).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn list(xs: &[&str]) -> Vec<BoundCidr> {
        xs.iter().map(|s| BoundCidr::parse(s).unwrap()).collect()
    }

    #[test]
    fn renders_like_vault() {
        let v = list(&["10.0.0.0/8", " 1.2.3.4/32", "::1/128", "fd00::/8", "10.1.2.3/8", "5.6.7.8", "::ffff:127.0.0.1", "::ffff:10.0.0.0/104", "fd00::1/8", "0.0.0.0/0"]);
        assert_eq!(
            to_strings(&v),
            ["10.0.0.0/8", "1.2.3.4", "::1", "fd00::/8", "10.1.2.3/8", "5.6.7.8", "127.0.0.1", "10.0.0.0/8", "fd00::1/8", "0.0.0.0/0"]
        );
    }

    #[test]
    fn rejects_what_is_not_an_address() {
        for bad in ["bad", "1.2.3.4/33", "::1/129", "1.2.3.4/", "1.2.3.4/x", "/8", "", "10.0.0.0/8/8", "1.2.3", "5"] {
            let e = BoundCidr::parse(bad).unwrap_err();
            assert_eq!(e.to_string(), format!("error parsing address {bad:?}: not an IP address or CIDR block"));
        }
    }

    #[test]
    fn matching_ipv4_ipv6_and_single_addresses() {
        assert!(allows(&[], None));
        assert!(allows(&[], Some(ip("8.8.8.8"))));
        let one = list(&["127.0.0.1"]);
        assert!(!allows(&one, None), "no client address: refused");
        assert!(allows(&one, Some(ip("127.0.0.1"))));
        assert!(!allows(&one, Some(ip("127.0.0.2"))));
        assert!(allows(&one, Some(ip("::ffff:127.0.0.1"))), "IPv4-mapped client");
        assert!(allows(&list(&["10.0.0.0/8"]), Some(ip("10.255.1.2"))));
        assert!(!allows(&list(&["10.0.0.0/8"]), Some(ip("11.0.0.1"))));
        assert!(!allows(&list(&["10.0.0.0/8"]), Some(ip("127.0.0.1"))));
        assert!(allows(&list(&["10.1.2.3/8"]), Some(ip("10.9.9.9"))), "host bits are ignored for matching");
        assert!(allows(&list(&["192.168.1.0/23"]), Some(ip("192.168.0.7"))));
        assert!(!allows(&list(&["192.168.1.0/24"]), Some(ip("192.168.0.7"))));
        assert!(allows(&list(&["0.0.0.0/0"]), Some(ip("8.8.8.8"))));
        assert!(!allows(&list(&["0.0.0.0/0"]), Some(ip("::2"))), "an IPv4 block never matches IPv6");
        assert!(allows(&list(&["fd00::/8"]), Some(ip("fd12::1"))));
        assert!(!allows(&list(&["fd00::/8"]), Some(ip("fe80::1"))));
        assert!(allows(&list(&["::1"]), Some(ip("::1"))));
        assert!(!allows(&list(&["::1"]), Some(ip("127.0.0.1"))), "::1 is not 127.0.0.1");
        assert!(!allows(&list(&["::/0"]), Some(ip("127.0.0.1"))));
        assert!(allows(&list(&["::ffff:10.0.0.0/104"]), Some(ip("10.1.1.1"))));
        assert!(allows(&list(&["1.1.1.1", "fd00::/8", "127.0.0.0/8"]), Some(ip("127.3.3.3"))));
    }

    #[test]
    fn serde_uses_the_display_form() {
        let v = list(&["10.0.0.0/8", "1.2.3.4/32", "fd00::/8"]);
        let s = serde_json::to_value(&v).unwrap();
        assert_eq!(s, json!(["10.0.0.0/8", "1.2.3.4", "fd00::/8"]));
        assert_eq!(serde_json::from_value::<Vec<BoundCidr>>(s).unwrap(), v);
        assert!(serde_json::from_value::<Vec<BoundCidr>>(json!(["nope"])).is_err());
    }

    #[test]
    fn request_fields() {
        let d = |v: Value| json!({ "f": v }).as_object().unwrap().clone();
        assert!(get_list(&d(json!(null)), "f").unwrap().is_none());
        assert!(get_list(&Data::new(), "f").unwrap().is_none());
        assert_eq!(get_list(&d(json!([])), "f").unwrap().unwrap().unwrap(), vec![]);
        assert_eq!(get_list(&d(json!("")), "f").unwrap().unwrap().unwrap(), vec![]);
        assert_eq!(get_list(&d(json!("10.0.0.0/8, ::1")), "f").unwrap().unwrap().unwrap(), list(&["10.0.0.0/8", "::1"]));
        assert_eq!(get_list(&d(json!(["127.0.0.1/32"])), "f").unwrap().unwrap().unwrap(), list(&["127.0.0.1"]));
        assert_eq!(get_list(&d(json!("1.2.3.4, , 5.6.7.8")), "f").unwrap().unwrap().unwrap_err(), ParseError("".into()));
        assert_eq!(get_list(&d(json!(5)), "f").unwrap().unwrap().unwrap_err(), ParseError("5".into()));
        assert!(get_list(&d(json!({"a": 1})), "f").is_err());
        assert!(get_list(&d(json!([true])), "f").is_err());
    }
}
