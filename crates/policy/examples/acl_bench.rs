//! Micro benchmark for `Acl::check` / `check_ref` (no criterion; prints
//! ns/check). Run: `cargo run -p coffer-policy --example acl_bench`
//! (add `--release` for representative numbers). Nothing here asserts a
//! duration.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use coffer_policy::{parse, Acl, AclRequest, Caps, DEFAULT_POLICY};

fn main() {
    // 3 policies, ~600 rules: exact paths, prefixes and `+` rules, like a
    // platform with many teams.
    let mut team = String::new();
    for i in 0..200 {
        team.push_str(&format!("path \"secret/data/team{i}/app\" {{ capabilities = [\"read\"] }}\n"));
        team.push_str(&format!("path \"secret/data/team{i}/*\" {{ capabilities = [\"read\", \"list\"] }}\n"));
        team.push_str(&format!("path \"secret/+/team{i}/+/config\" {{ capabilities = [\"update\"] }}\n"));
    }
    let ps = vec![
        Arc::new(parse("default", DEFAULT_POLICY).unwrap()),
        Arc::new(parse("teams", &team).unwrap()),
        Arc::new(parse("ops", "path \"sys/*\" { capabilities = [\"read\", \"sudo\"] }\npath \"+/metadata/*\" { capabilities = [\"list\"] }").unwrap()),
    ];
    let acl = Acl::new(&ps);
    let reqs = [
        ("exact", Caps::READ, "secret/data/team150/app"),
        ("prefix", Caps::READ, "secret/data/team150/app2/x"),
        ("plus", Caps::UPDATE, "secret/x/team7/y/config"),
        ("list", Caps::LIST, "kv/metadata/foo"),
        ("denied", Caps::DELETE, "nothing/here/at/all"),
    ];
    let n = 1_000_000u32;
    for (name, op, path) in reqs {
        let r = AclRequest { op, path, data: None, wrap_ttl: None };
        let t = Instant::now();
        let mut allowed = 0u32;
        for _ in 0..n {
            allowed += black_box(&acl).check_ref(black_box(&r)).allowed as u32;
        }
        let ns_ref = t.elapsed().as_nanos() as f64 / n as f64;
        let t = Instant::now();
        for _ in 0..n {
            allowed += black_box(&acl).check(black_box(&r)).allowed as u32;
        }
        let ns_owned = t.elapsed().as_nanos() as f64 / n as f64;
        println!("{name:>7}: check_ref {ns_ref:6.1} ns/check, check {ns_owned:6.1} ns/check (allowed {allowed}/{})", 2 * n);
    }
}
