use super::*;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::Duration;

fn acl(policies: &[(&str, &str)]) -> Acl {
    let ps: Vec<Arc<Policy>> = policies
        .iter()
        .map(|(n, t)| Arc::new(parse(n, t).unwrap_or_else(|e| panic!("{n}: {e}"))))
        .collect();
    Acl::new(&ps)
}

fn req<'a>(op: Caps, path: &'a str, data: Option<&'a Map<String, Value>>) -> AclRequest<'a> {
    AclRequest { op, path, data, wrap_ttl: None }
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

#[test]
fn caps_names_sorted_and_deny_alone() {
    let c = Caps::UPDATE | Caps::READ | Caps::SUDO | Caps::CREATE;
    assert_eq!(c.names(), vec!["create", "read", "sudo", "update"]);
    assert_eq!((c | Caps::DENY).names(), vec!["deny"]);
    assert!(c.contains(Caps::READ | Caps::SUDO));
    assert!(!c.contains(Caps::LIST));
    assert_eq!(Caps::NONE.names(), Vec::<&str>::new());
    assert_eq!(Caps::from_name("patch"), Some(Caps::PATCH));
    assert_eq!(Caps::from_name("root"), None);
}

#[test]
fn parse_basic_and_legacy() {
    let p = parse(
        "p",
        r#"
path "secret/a" { capabilities = ["read", "list"] }
path "/secret/b" { policy = "write" }
path "secret/c" { policy = "sudo", capabilities = ["patch"] }
path "secret/d" { capabilities = ["read", "deny", "sudo"] }
"#,
    )
    .unwrap();
    let caps: Vec<_> = p.rules.iter().map(|r| (r.pattern.as_str(), r.caps.names(), r.line)).collect();
    assert_eq!(
        caps,
        vec![
            ("secret/a", vec!["list", "read"], 2),
            ("secret/b", vec!["create", "delete", "list", "read", "update"], 3),
            ("secret/c", vec!["create", "delete", "list", "patch", "read", "sudo", "update"], 4),
            ("secret/d", vec!["deny"], 5),
        ]
    );
    assert_eq!(p.rules[3].caps, Caps::DENY);
}

#[test]
fn parse_errors_name_the_line() {
    let cases: &[(&str, usize, &str)] = &[
        ("path \"a\" {\n  capabilities = [\"read\"]\n  capabilites = [\"read\"]\n}", 3, "invalid key \"capabilites\" in path \"a\""),
        ("\n\npaths \"a\" {\n}", 3, "invalid key \"paths\""),
        ("path \"a\" {\n  capabilities = [\n \"read\",\n \"fly\"]\n}", 4, "invalid capability \"fly\""),
        ("path \"a\" {\n  policy = \"admin\"\n}", 2, "invalid policy \"admin\""),
        ("path \"a\" {\n  capabilities = [\"read\"\n}\n", 3, "expected ',' or ']'"),
        ("path \"a\" {\n  capabilities = \"read\"\n}", 2, "must be a list of strings"),
        ("path \"a\" {\n min_wrapping_ttl = \"1h\"\n max_wrapping_ttl = \"1m\"\n}", 1, "max_wrapping_ttl cannot be less than min_wrapping_ttl"),
        ("path \"a\" {\n max_wrapping_ttl = \"soon\"\n}", 2, "max_wrapping_ttl: invalid duration \"soon\""),
        ("path \"a\" {\n capabilities = []\n capabilities = [\"read\"]\n}", 3, "duplicate key \"capabilities\""),
        ("path \"a\" {\n expiration = \"2030-01-01T00:00:00Z\"\n}", 2, "not supported"),
        ("{\n \"path\": {\n  \"a\": {\"capabilites\": [\"read\"]}\n }\n}", 3, "invalid key \"capabilites\""),
        ("path = 3", 1, "expected an object"),
    ];
    for (text, line, msg) in cases {
        let e = parse("p", text).expect_err(text);
        assert_eq!(e.line, *line, "{text}: {e}");
        assert!(e.message.contains(msg), "{text}: {e}");
        let shown = e.to_string();
        assert!(shown.starts_with(&format!("failed to parse policy: line {line}: ")), "{shown}");
    }
    assert_eq!(
        parse("p", "path \"a\" {\n  capabilites = []\n}").unwrap_err().to_string(),
        "failed to parse policy: line 2: invalid key \"capabilites\" in path \"a\""
    );
}

#[test]
fn parse_json_policies() {
    let p = parse(
        "j",
        r#"{"path": {"secret/*": {"capabilities": ["read"]}, "sys/x": {"policy": "deny", "allowed_parameters": {"A": ["x"]}}}}"#,
    )
    .unwrap();
    assert_eq!(p.rules.len(), 2);
    assert_eq!(p.rules[1].caps, Caps::DENY);
    assert_eq!(p.rules[1].allowed_parameters.get("a"), Some(&vec![json!("x")]));
    // HCL1's JSON list-of-objects form
    let p = parse("j", r#"{"path": [{"a": {"capabilities": ["read"]}}, {"b": [{"capabilities": ["list"]}]}]}"#).unwrap();
    assert_eq!(p.rules.iter().map(|r| r.pattern.as_str()).collect::<Vec<_>>(), vec!["a", "b"]);
}

#[test]
fn wrapping_ttl_parse_and_check() {
    let p = parse("w", "path \"w/*\" {\n capabilities = [\"update\"]\n min_wrapping_ttl = 10\n max_wrapping_ttl = \"1m30s\"\n}").unwrap();
    assert_eq!(p.rules[0].min_wrapping_ttl, Some(Duration::from_secs(10)));
    assert_eq!(p.rules[0].max_wrapping_ttl, Some(Duration::from_secs(90)));
    let a = Acl::new(&[Arc::new(p)]);
    let mut r = req(Caps::UPDATE, "w/x", None);
    let res = a.check(&r);
    assert!(!res.allowed);
    assert!(res.wrap_error.as_deref().unwrap().contains("required"));
    r.wrap_ttl = Some(Duration::from_secs(5));
    assert!(a.check(&r).wrap_error.unwrap().contains("below min_wrapping_ttl"));
    r.wrap_ttl = Some(Duration::from_secs(91));
    assert!(a.check(&r).wrap_error.unwrap().contains("above max_wrapping_ttl"));
    r.wrap_ttl = Some(Duration::from_secs(60));
    let ok = a.check(&r);
    assert!(ok.allowed && ok.wrap_error.is_none());
    // merged: the lower non-zero value wins
    let a = acl(&[
        ("p1", "path \"m\" { capabilities = [\"read\"]\n max_wrapping_ttl = \"1h\" }"),
        ("p2", "path \"m\" { capabilities = [\"read\"]\n max_wrapping_ttl = \"10m\" }"),
    ]);
    let mut r = req(Caps::READ, "m", None);
    r.wrap_ttl = Some(Duration::from_secs(1800));
    assert!(!a.check(&r).allowed);
    r.wrap_ttl = Some(Duration::from_secs(600));
    assert!(a.check(&r).allowed);
}

#[test]
fn durations() {
    use crate::parse::parse_duration as d;
    assert_eq!(d("30"), Some(Duration::from_secs(30)));
    assert_eq!(d("1h30m"), Some(Duration::from_secs(5400)));
    assert_eq!(d("1.5h"), Some(Duration::from_secs(5400)));
    assert_eq!(d("2d"), Some(Duration::from_secs(172800)));
    assert_eq!(d("1500ms"), Some(Duration::from_secs(1)));
    assert_eq!(d(""), None);
    assert_eq!(d("h"), None);
    assert_eq!(d("5x"), None);
    assert_eq!(d("-5s"), None);
}

#[test]
fn precedence_and_matching() {
    let a = acl(&[(
        "p",
        r#"
path "secret/*" { capabilities = ["read"] }
path "secret/foo*" { capabilities = ["update"] }
path "secret/foo/bar" { capabilities = ["delete"] }
path "secret/+/bar" { capabilities = ["create"] }
path "secret/+/+" { capabilities = ["list"] }
path "secret/+/bar*" { capabilities = ["patch"] }
path "secret/deny/*" { capabilities = ["deny"] }
path "*" { capabilities = ["sudo"] }
"#,
    )]);
    let cases = [
        ("secret/foo/bar", vec!["delete"]),        // exact wins
        ("secret/zip/bar", vec!["create"]),        // + beats the earlier glob
        ("secret/fooz/bar", vec!["update"]),       // glob at 10 later than + at 7
        ("secret/zip/zap", vec!["list"]),          // +/+ vs secret/*: + at 7 == * at 7; glob loses
        ("secret/zip/barn", vec!["list"]),         // +/+ and +/bar* tie on the first +; the glob loses
        ("secret/a/b/c", vec!["read"]),
        ("secret/deny/x", vec!["deny"]),
        ("secret/deny/", vec!["deny"]),
        ("other", vec!["sudo"]),
        ("", vec!["sudo"]),
    ];
    for (path, want) in cases {
        assert_eq!(a.capabilities(path), want, "{path}");
    }
}

#[test]
fn deny_merges_across_policies_and_identical_patterns_union() {
    let a = acl(&[
        ("p1", "path \"s/*\" { capabilities = [\"read\"] }\npath \"s/x\" { capabilities = [\"read\"] }"),
        ("p2", "path \"s/*\" { capabilities = [\"list\", \"sudo\"] }\npath \"s/x\" { capabilities = [\"deny\"] }"),
        ("p3", "path \"s/x\" { capabilities = [\"update\"] }"),
    ]);
    assert_eq!(a.capabilities("s/y"), vec!["list", "read", "sudo"]);
    assert_eq!(a.capabilities("s/x"), vec!["deny"]);
    let r = a.check(&req(Caps::READ, "s/y", None));
    assert!(r.allowed && r.sudo);
    assert_eq!(r.granting_policies, vec!["p1"]);
    let r = a.check(&req(Caps::LIST, "s/y", None));
    assert_eq!(r.granting_policies, vec!["p2"]);
    let r = a.check(&req(Caps::UPDATE, "s/x", None));
    assert!(!r.allowed && r.caps == Caps::DENY && r.granting_policies.is_empty());
}

#[test]
fn list_uses_trailing_slash_and_exact_without_it() {
    let a = acl(&[(
        "p",
        r#"
path "kv/metadata/*" { capabilities = ["list"] }
path "db/roles" { capabilities = ["list"] }
path "app/" { capabilities = ["list"] }
path "ro/a" { capabilities = ["read"] }
"#,
    )]);
    assert!(a.check(&req(Caps::LIST, "kv/metadata/foo", None)).allowed);
    assert!(a.check(&req(Caps::LIST, "kv/metadata", None)).allowed); // kv/metadata/ matches kv/metadata/*
    assert!(a.check(&req(Caps::LIST, "db/roles", None)).allowed); // exact without '/'
    assert!(a.check(&req(Caps::LIST, "db/roles/", None)).allowed);
    assert!(a.check(&req(Caps::LIST, "app", None)).allowed);
    assert!(!a.check(&req(Caps::READ, "app", None)).allowed);
    assert!(!a.check(&req(Caps::LIST, "ro/a", None)).allowed);
    let long = format!("kv/metadata/{}", "x".repeat(2000));
    assert!(a.check(&req(Caps::LIST, &long, None)).allowed);
}

#[test]
fn root_and_nothing() {
    let r = acl(&[("root", "")]);
    assert!(r.is_root());
    assert_eq!(r.capabilities("anything"), vec!["root"]);
    let res = r.check(&req(Caps::DELETE, "sys/seal", None));
    assert!(res.allowed && res.sudo);
    let none = acl(&[]);
    assert!(!none.is_root());
    assert_eq!(none.capabilities("x"), vec!["deny"]);
    assert!(!none.check(&req(Caps::READ, "x", None)).allowed);
    let empty_caps = acl(&[("e", "path \"x\" { capabilities = [] }")]);
    assert_eq!(empty_caps.capabilities("x"), vec!["deny"]);
}

#[test]
fn default_policy_parses_and_grants_self_service() {
    let a = acl(&[("default", DEFAULT_POLICY)]);
    assert_eq!(a.capabilities("auth/token/lookup-self"), vec!["read"]);
    assert_eq!(a.capabilities("cubbyhole/x"), vec!["create", "delete", "list", "read", "update"]);
    assert_eq!(a.capabilities("identity/oidc/provider/p1/authorize"), vec!["read", "update"]);
    assert_eq!(a.capabilities("sys/tools/hash/sha2-256"), vec!["update"]);
    // templated paths are never matched
    assert_eq!(a.capabilities("identity/entity/id/{{identity.entity.id}}"), vec!["deny"]);
    assert_eq!(a.capabilities("secret/foo"), vec!["deny"]);
    let w = acl(&[("response-wrapping", RESPONSE_WRAPPING_POLICY)]);
    assert_eq!(w.capabilities("cubbyhole/response"), vec!["create", "read"]);
    assert_eq!(w.capabilities("sys/wrapping/unwrap"), vec!["update"]);
}

#[test]
fn allowed_parameters() {
    let a = acl(&[(
        "p",
        r#"
path "a" {
  capabilities = ["create", "update", "read", "delete"]
  allowed_parameters = {
    "foo" = []
    "bar" = ["zip", "zap-*", "*-end", 5]
    "Mixed" = ["x"]
  }
}
path "b" {
  capabilities = ["update"]
  allowed_parameters { "*" = [] }
}
path "c" {
  capabilities = ["update"]
  allowed_parameters = { "*" = [], "k" = ["v"] }
}
"#,
    )]);
    let ok = |path: &str, d: Value| a.check(&req(Caps::UPDATE, path, Some(&obj(d)))).allowed;
    assert!(ok("a", json!({})));
    assert!(ok("a", json!({"foo": "anything", "bar": "zip"})));
    assert!(ok("a", json!({"bar": "zap-1"})));
    assert!(ok("a", json!({"bar": "the-end"})));
    // Vault compares a policy number with a JSON request number by Go type and
    // never matches them (see `vault_deep_eq`); the string "5" is no match either.
    assert!(!ok("a", json!({"bar": 5})));
    assert!(!ok("a", json!({"bar": "5"})));
    assert!(!ok("a", json!({"bar": "zop"})));
    assert!(!ok("a", json!({"baz": 1})));
    assert!(ok("a", json!({"BAR": "zip"}))); // request keys are lowercased
    assert!(ok("a", json!({"mixed": "x"}))); // policy keys are lowercased
    assert!(ok("a", json!({"bar": ["zip", "zap-2"]})));
    assert!(!ok("a", json!({"bar": ["zip", "nope"]})));
    assert!(ok("b", json!({"anything": 1})));
    assert!(ok("c", json!({"other": 1, "k": "v"})));
    assert!(!ok("c", json!({"k": "w"})));
    // DELETE and LIST skip parameter checks
    assert!(a.check(&req(Caps::DELETE, "a", Some(&obj(json!({"baz": 1}))))).allowed);
}

#[test]
fn denied_and_required_parameters() {
    let a = acl(&[(
        "p",
        r#"
path "d" {
  capabilities = ["update"]
  allowed_parameters = { "*" = [] }
  denied_parameters = { "secret" = [], "mode" = ["admin-*", "root"] }
}
path "all" {
  capabilities = ["update"]
  denied_parameters = { "*" = [] }
}
path "r" {
  capabilities = ["create", "update"]
  required_parameters = ["name", "Owner"]
}
path "both" {
  capabilities = ["update"]
  allowed_parameters = { "x" = [] }
  denied_parameters = { "x" = ["bad"] }
}
"#,
    )]);
    let ok = |path: &str, d: Option<Value>| {
        let m = d.map(obj);
        a.check(&req(Caps::UPDATE, path, m.as_ref())).allowed
    };
    assert!(ok("d", Some(json!({"mode": "user"}))));
    assert!(!ok("d", Some(json!({"mode": "admin-x"}))));
    assert!(!ok("d", Some(json!({"mode": "root"}))));
    assert!(!ok("d", Some(json!({"mode": ["user", "root"]}))));
    assert!(!ok("d", Some(json!({"Secret": "s"}))));
    assert!(ok("all", None));
    assert!(ok("all", Some(json!({}))));
    assert!(!ok("all", Some(json!({"a": 1}))));
    assert!(ok("r", Some(json!({"name": "n", "owner": "o"}))));
    assert!(!ok("r", Some(json!({"name": "n"}))));
    assert!(!ok("r", None));
    assert!(ok("both", Some(json!({"x": "good"}))));
    assert!(!ok("both", Some(json!({"x": "bad"}))));
}

#[test]
fn parameter_lists_merge_across_policies() {
    let a = acl(&[
        ("p1", "path \"m\" {\n capabilities = [\"update\"]\n allowed_parameters = { \"k\" = [\"a\"], \"j\" = [\"x\"] }\n}"),
        ("p2", "path \"m\" {\n capabilities = [\"update\"]\n allowed_parameters = { \"k\" = [\"b\"], \"j\" = [] }\n}"),
    ]);
    let ok = |d: Value| a.check(&req(Caps::UPDATE, "m", Some(&obj(d)))).allowed;
    assert!(ok(json!({"k": "a"})));
    assert!(ok(json!({"k": "b"})));
    assert!(!ok(json!({"k": "c"})));
    assert!(ok(json!({"j": "anything"})));
}

#[test]
fn check_ref_matches_check() {
    let a = acl(&[("p", "path \"x/*\" { capabilities = [\"read\", \"sudo\"] }"), ("q", "path \"x/*\" { capabilities = [\"read\"] }")]);
    let r = req(Caps::READ, "x/y", None);
    let d = a.check_ref(&r);
    assert!(d.allowed && d.sudo);
    assert_eq!(d.granting_policies().collect::<Vec<_>>(), vec!["p", "q"]);
    assert_eq!(d.to_owned(), a.check(&r));
}

mod props {
    use super::*;
    use proptest::prelude::*;

    fn policy_soup() -> impl Strategy<Value = String> {
        let tok = prop_oneof![
            Just("path".to_string()),
            Just("\"a/+/b*\"".to_string()),
            Just("{".to_string()),
            Just("}".to_string()),
            Just("capabilities".to_string()),
            Just("policy".to_string()),
            Just("allowed_parameters".to_string()),
            Just("min_wrapping_ttl".to_string()),
            Just("max_wrapping_ttl".to_string()),
            Just("=".to_string()),
            Just("[\"read\", \"deny\"]".to_string()),
            Just("\"write\"".to_string()),
            Just("\"1h\"".to_string()),
            Just("5".to_string()),
            Just("{ \"k\" = [\"v*\"] }".to_string()),
            Just("\n".to_string()),
        ];
        prop::collection::vec(tok, 0..30).prop_map(|v| v.join(" "))
    }

    fn path_strategy() -> impl Strategy<Value = String> {
        prop::collection::vec(prop_oneof![Just("a"), Just("b"), Just("+"), Just(""), Just("ab"), Just("*")], 0..5)
            .prop_map(|v| v.join("/"))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]
        #[test]
        fn parse_never_panics(s in "\\PC*") {
            let _ = parse("p", &s);
        }

        #[test]
        fn parse_never_panics_on_policy_soup(s in policy_soup()) {
            if let Ok(p) = parse("p", &s) {
                let a = Acl::new(&[Arc::new(p)]);
                let _ = a.capabilities("a/x/b");
            }
        }

        /// Any granted capability shows up in `capabilities`, and `check`
        /// never allows what `capabilities` does not list.
        #[test]
        fn check_agrees_with_capabilities(
            pats in prop::collection::vec((path_strategy(), prop::sample::select(vec!["read", "update", "deny", "list"])), 0..6),
            path in path_strategy(),
        ) {
            let text: String = pats.iter().map(|(p, c)| format!("path {p:?} {{ capabilities = [{c:?}] }}\n")).collect();
            let parsed = parse("p", &text);
            prop_assume!(parsed.is_ok()); // "+*" patterns are rejected
            let a = Acl::new(&[Arc::new(parsed.unwrap())]);
            let caps = a.capabilities(&path);
            // capabilities() drops one leading '/', as sys/capabilities does
            let checked = path.strip_prefix('/').unwrap_or(&path);
            if !checked.ends_with('/') {
                for (op, name) in [(Caps::READ, "read"), (Caps::UPDATE, "update")] {
                    let allowed = a.check(&req(op, checked, None)).allowed;
                    prop_assert_eq!(allowed, caps.iter().any(|c| c == name), "{} {} {:?}", path, name, caps);
                }
            }
            // LIST is checked on the path with a trailing '/', the way
            // capabilities() treats it.
            let dir = if checked.ends_with('/') { checked.to_string() } else { format!("{checked}/") };
            let listable = a.capabilities(&format!("/{dir}")).iter().any(|c| c == "list");
            prop_assert_eq!(a.check(&req(Caps::LIST, checked, None)).allowed, listable, "LIST {}", checked);
        }
    }
}

#[test]
fn any_access_under_a_mount() {
    let a = acl(&[
        ("p", r#"path "secret/data/app/*" { capabilities = ["read"] }
                 path "kv/+/x" { capabilities = ["list"] }
                 path "denied/*" { capabilities = ["deny"] }
                 path "exact/one" { capabilities = ["update"] }"#),
    ]);
    assert!(a.has_any_under("secret/"));
    assert!(a.has_any_under("kv/"));
    assert!(a.has_any_under("exact/"));
    assert!(!a.has_any_under("denied/"));
    assert!(!a.has_any_under("other/"));
    assert!(acl(&[("root", "")]).has_any_under("anything/"));
}

/// Vault's `strutil.GlobbedStringsMatch` as documented for parameter lists:
/// a leading and/or trailing `*`; entries shorter than two characters match
/// literally.
#[test]
fn globbed_strings_match_table() {
    use crate::acl::globbed_strings_match as m;
    let table: &[(&str, &str, bool)] = &[
        // literal (no `*`, or shorter than two bytes)
        ("admin", "admin", true),
        ("admin", "Admin", false),
        ("admin", "admins", false),
        ("", "", true),
        ("", "x", false),
        ("*", "*", true),
        ("*", "anything", false),
        ("*", "", false),
        ("a", "a", true),
        // prefix form `x*`
        ("admin-*", "admin-1", true),
        ("admin-*", "admin-", true),
        ("admin-*", "xadmin-1", false),
        ("a*", "a", true),
        // suffix form `*x`
        ("*-end", "the-end", true),
        ("*-end", "-end", true),
        ("*-end", "-end-", false),
        // contains form `*x*`
        ("*admin*", "superadminx", true),
        ("*admin*", "admin", true),
        ("*admin*", "adm", false),
        ("**", "", true),
        ("**", "anything", true),
        ("***", "q*q", true),
        ("***", "q", false),
        ("*a*", "a", true),
        // an inner `*` is literal
        ("a*c", "abc", false),
        ("a*c", "a*c", true),
        ("a**", "a*b", true),
        ("a**", "ab", false),
        ("*é*", "café!", true),
    ];
    for &(pattern, value, want) in table {
        assert_eq!(m(pattern, value), want, "{pattern:?} vs {value:?}");
    }
}

/// How request values meet `allowed_parameters` / `denied_parameters`:
/// Vault 1.21 (per-element matching of lists and comma strings) and OpenBao
/// 2.7 agree on every case here except those marked `vault_1_21`, where
/// OpenBao compares only the whole value. tests/test_acl_params.py sends the
/// same cases to Coffer and to a real OpenBao.
#[test]
fn parameter_value_matching_table() {
    let t = |rule: &str| acl(&[("p", &format!("path \"k/*\" {{\n capabilities = [\"create\", \"update\"]\n {rule}\n}}"))]);
    let table: &[(&str, Value, bool)] = &[
        (r#"denied_parameters = { "role" = ["*admin*"] }"#, json!({"role": "superadminx"}), false),
        (r#"denied_parameters = { "role" = ["*admin*"] }"#, json!({"role": "adm"}), true),
        (r#"denied_parameters = { "y" = ["**"] }"#, json!({"y": ""}), false),
        (r#"denied_parameters = { "y" = ["*"] }"#, json!({"y": "anything"}), true),
        (r#"denied_parameters = { "y" = ["*"] }"#, json!({"y": "*"}), false),
        (r#"allowed_parameters = { "x" = ["*"] }"#, json!({"x": "anything"}), false),
        (r#"allowed_parameters = { "x" = ["*"] }"#, json!({"x": "*"}), true),
        (r#"allowed_parameters = { "x" = ["**"] }"#, json!({"x": "q"}), true),
        (r#"allowed_parameters = { "x" = [] }"#, json!({"x": [1, 2]}), true),
        (r#"allowed_parameters = { "x" = [["a", "b"]] }"#, json!({"x": ["a", "b"]}), true),
        (r#"denied_parameters = { "x" = [["a"]] }"#, json!({"x": ["a"]}), false),
        (r#"denied_parameters = { "x" = ["a"] }"#, json!({"x": {"k": "a"}}), true),
        // numbers: a policy number never matches a JSON number in Vault
        (r#"allowed_parameters = { "n" = [1] }"#, json!({"n": 1}), false),
        (r#"allowed_parameters = { "n" = ["1"] }"#, json!({"n": 1}), false),
        (r#"allowed_parameters = { "n" = [1] }"#, json!({"n": "1"}), false),
        (r#"denied_parameters = { "n" = ["1*"] }"#, json!({"n": 12}), true),
        // ... but Coffer lets a denied number entry deny (Vault: allowed)
        (r#"denied_parameters = { "n" = [1] }"#, json!({"n": 1}), false),
        (r#"denied_parameters = { "n" = [1] }"#, json!({"n": 1.0}), false),
        (r#"denied_parameters = { "n" = [1] }"#, json!({"n": [2, 1]}), false),
        // bools and null compare by type
        (r#"allowed_parameters = { "b" = [true] }"#, json!({"b": true}), true),
        (r#"allowed_parameters = { "b" = [true] }"#, json!({"b": "true"}), false),
        (r#"allowed_parameters = { "b" = ["true"] }"#, json!({"b": true}), false),
        (r#"denied_parameters = { "b" = [false] }"#, json!({"b": false}), false),
        (r#"allowed_parameters = { "z" = ["a"] }"#, json!({"z": null}), false),
        (r#"denied_parameters = { "z" = ["a"] }"#, json!({"z": null}), true),
        (r#"denied_parameters = { "z" = [] }"#, json!({"z": null}), false),
        // the "*" key and empty lists
        (r#"allowed_parameters = { "*" = ["v"] }"#, json!({"q": "1"}), true),
        (r#"allowed_parameters = { "*" = [] "x" = ["a"] }"#, json!({"q": "1", "x": "b"}), false),
        (r#"denied_parameters = { "*" = ["v"] }"#, json!({"q": "1"}), false),
        (r#"denied_parameters = { "x" = [] }"#, json!({"y": "a"}), true),
        // vault_1_21: lists and comma-separated strings are matched per element
        (r#"allowed_parameters = { "x" = ["a", "b"] }"#, json!({"x": ["a"]}), true),
        (r#"allowed_parameters = { "x" = ["a", "b"] }"#, json!({"x": ["a", "c"]}), false),
        (r#"allowed_parameters = { "x" = ["a", "b"] }"#, json!({"x": []}), true),
        (r#"allowed_parameters = { "x" = ["a*"] }"#, json!({"x": ["ab", "ac"]}), true),
        (r#"allowed_parameters = { "x" = ["a", "b"] }"#, json!({"x": "b, a"}), true),
        (r#"allowed_parameters = { "x" = ["a", "b"] }"#, json!({"x": "a,c"}), false),
        (r#"allowed_parameters = { "x" = ["a"] }"#, json!({"x": ""}), true),
        (r#"allowed_parameters = { "x" = ["a"] }"#, json!({"x": "a,"}), false),
        (r#"denied_parameters = { "x" = ["a"] }"#, json!({"x": ["z", "a"]}), false),
        (r#"denied_parameters = { "role" = ["*admin*"] }"#, json!({"role": "user, superadmin"}), false),
        (r#"denied_parameters = { "x" = ["a"] }"#, json!({"x": "z,b"}), true),
    ];
    for (rule, data, want) in table {
        let a = t(rule);
        let got = a.check(&req(Caps::UPDATE, "k/x", Some(&obj(data.clone())))).allowed;
        assert_eq!(got, *want, "{rule} with {data}");
    }
}

// ---- templated policies -------------------------------------------------------------

fn vars() -> TemplateVars {
    let m = |kv: &[(&str, &str)]| kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    TemplateVars {
        entity_id: "ent-1".into(),
        entity_name: "alice".into(),
        entity_metadata: m(&[("team", "blue"), ("a.b", "dotted"), ("empty", ""), ("glob", "x*"), ("plus", "+"), ("slash", "bob/x"), ("dot", ".."), ("braces", "{{identity.entity.id}}")]),
        aliases: [(
            "auth_userpass_1".to_string(),
            AliasVars { id: "al-1".into(), name: "alice-up".into(), metadata: m(&[("role", "dev")]), custom_metadata: m(&[("cost", "c42")]) },
        )]
        .into(),
        groups: [
            ("g-1".to_string(), GroupVars { id: "g-1".into(), name: "eng".into(), metadata: m(&[("site", "ams")]) }),
            ("g-2".to_string(), GroupVars { id: "g-2".into(), name: "ops".into(), metadata: m(&[]) }),
        ]
        .into(),
    }
}

/// An ACL of one policy with one templated rule granting read, rendered for `vars()`.
fn tacl(pattern: &str) -> Acl {
    let p = parse("t", &format!("path {pattern:?} {{ capabilities = [\"read\"] }}")).unwrap_or_else(|e| panic!("{pattern}: {e}"));
    assert!(p.rules[0].templated);
    Acl::for_identity(&[Arc::new(p)], Some(&vars()))
}

fn reads(a: &Acl, path: &str) -> bool {
    a.check(&req(Caps::READ, path, None)).allowed
}

#[test]
fn every_template_parameter_renders() {
    let cases = [
        ("s/{{identity.entity.id}}", "s/ent-1"),
        ("s/{{identity.entity.name}}", "s/alice"),
        ("s/{{identity.entity.metadata.team}}", "s/blue"),
        // the metadata key is everything after `metadata.`
        ("s/{{identity.entity.metadata.a.b}}", "s/dotted"),
        ("s/{{identity.entity.aliases.auth_userpass_1.id}}", "s/al-1"),
        ("s/{{identity.entity.aliases.auth_userpass_1.name}}", "s/alice-up"),
        ("s/{{identity.entity.aliases.auth_userpass_1.metadata.role}}", "s/dev"),
        ("s/{{identity.entity.aliases.auth_userpass_1.custom_metadata.cost}}", "s/c42"),
        ("s/{{identity.groups.ids.g-1.name}}", "s/eng"),
        ("s/{{identity.groups.ids.g-1.metadata.site}}", "s/ams"),
        ("s/{{identity.groups.names.ops.id}}", "s/g-2"),
        ("s/{{identity.groups.names.eng.metadata.site}}", "s/ams"),
        // spaces inside the braces are trimmed; several parameters in one path
        ("s/{{ identity.entity.id }}/{{identity.entity.name}}-x", "s/ent-1/alice-x"),
    ];
    for (pattern, path) in cases {
        let a = tacl(pattern);
        assert!(reads(&a, path), "{pattern} should grant {path}");
        assert!(!reads(&a, "s/other"), "{pattern}");
        assert_eq!(render(pattern, &vars()).as_deref(), Ok(path));
    }
    // A glob written by the policy author stays a glob around the value.
    let a = tacl("s/{{identity.entity.id}}/*");
    assert!(reads(&a, "s/ent-1/deep/er") && !reads(&a, "s/ent-2/x"));
    let a = tacl("s/+/{{identity.entity.name}}");
    assert!(reads(&a, "s/any/alice") && !reads(&a, "s/any/bob"));
}

#[test]
fn a_template_that_cannot_be_resolved_matches_nothing() {
    for pattern in [
        "s/{{identity.entity.metadata.nope}}",
        "s/{{identity.entity.metadata}}",
        "s/{{identity.entity.aliases.auth_other.name}}",
        "s/{{identity.entity.aliases.auth_userpass_1}}",
        "s/{{identity.entity.aliases.auth_userpass_1.metadata.nope}}",
        "s/{{identity.entity.aliases.auth_userpass_1.custom_metadata}}",
        "s/{{identity.entity.aliases.auth_userpass_1.bogus}}",
        "s/{{identity.entity.groups.names}}",
        "s/{{identity.entity.groups.ids}}",
        "s/{{identity.entity.bogus}}",
        "s/{{identity.groups.ids.g-9.name}}",
        "s/{{identity.groups.names.eng.name.x}}",
        "s/{{identity.groups.names.eng}}",
        "s/{{identity.groups.other.eng.id}}",
        "s/{{identity.groups.ids.g-2.metadata.site}}",
        "s/{{time.now}}",
        "s/{{bogus}}",
        "s/{{}}",
    ] {
        let a = tacl(pattern);
        assert_eq!(a.capabilities("s/"), vec!["deny"], "{pattern}");
        assert!(!reads(&a, "s/x") && !reads(&a, "s/") && !reads(&a, pattern), "{pattern}");
        assert_eq!(render(pattern, &vars()), Err(Unrendered::NotFound), "{pattern}");
    }
    // No entity: every templated rule is dropped, the plain ones kept.
    let p = Arc::new(parse("t", "path \"s/{{identity.entity.id}}\" { capabilities = [\"read\"] }\npath \"s/plain\" { capabilities = [\"read\"] }").unwrap());
    for a in [Acl::new(std::slice::from_ref(&p)), Acl::for_identity(std::slice::from_ref(&p), None)] {
        assert!(!reads(&a, "s/ent-1") && !reads(&a, "s/{{identity.entity.id}}") && reads(&a, "s/plain"));
    }
    // An empty id or name does not resolve (Vault's ACL mode).
    let mut v = vars();
    v.entity_name.clear();
    assert_eq!(render("s/{{identity.entity.name}}", &v), Err(Unrendered::NotFound));
}

#[test]
fn a_value_that_would_widen_the_match_drops_the_rule() {
    let mut star = vars();
    star.entity_name = "*".into();
    let mut plus = vars();
    plus.entity_name = "+".into();
    for (v, pattern) in [
        (&star, "s/{{identity.entity.name}}"),
        (&star, "s/{{identity.entity.name}}/x"),
        (&plus, "s/{{identity.entity.name}}/x"),
        (&vars(), "s/{{identity.entity.metadata.glob}}"),
        (&vars(), "s/{{identity.entity.metadata.plus}}/x"),
        // `/` would reach into another identity's subtree (OpenBao's default refusal)
        (&vars(), "s/{{identity.entity.metadata.slash}}/*"),
        // empty before a `*` would be `s/*`
        (&vars(), "s/{{identity.entity.metadata.empty}}*"),
        (&vars(), "s/{{identity.entity.metadata.dot}}/x"),
    ] {
        let p = Arc::new(parse("t", &format!("path {pattern:?} {{ capabilities = [\"read\"] }}")).unwrap());
        let a = Acl::for_identity(&[p], Some(v));
        for path in ["s/x", "s/*", "s/+/x", "s/a/x", "s/bob/x/y", "s/", "s//x", "s/../x", "s/x*"] {
            assert!(!reads(&a, path), "{pattern} granted {path}");
        }
        assert_eq!(a.capabilities("s/x"), vec!["deny"]);
        assert_eq!(render(pattern, v), Err(Unrendered::Widening), "{pattern}");
    }
    // A deny is never dropped for such a value: widened, it still grants nothing.
    let deny = |pattern: &str, v: &TemplateVars| {
        let text = format!("path \"s/*\" {{ capabilities = [\"read\"] }}\npath {pattern:?} {{ capabilities = [\"deny\"] }}");
        Acl::for_identity(&[Arc::new(parse("t", &text).unwrap())], Some(v))
    };
    let a = deny("s/{{identity.entity.name}}", &star);
    assert!(!reads(&a, "s/x") && !reads(&a, "s/*"));
    let a = deny("s/{{identity.entity.metadata.slash}}/k", &vars());
    assert!(!reads(&a, "s/bob/x/k") && reads(&a, "s/bob/k"));
    let a = deny("s/{{identity.entity.metadata.empty}}*", &vars());
    assert!(!reads(&a, "s/x"));
    let a = deny("s/{{identity.entity.name}}*", &plus);
    assert!(!reads(&a, "s/x") && !reads(&a, "s/a/b"));
    // ... but a deny that cannot be resolved is dropped, as in Vault.
    let a = deny("s/{{identity.entity.metadata.nope}}", &vars());
    assert!(reads(&a, "s/x"));
    // A `{{` in a value is literal text, never rendered again.
    let a = tacl("s/{{identity.entity.metadata.braces}}");
    assert!(reads(&a, "s/{{identity.entity.id}}") && !reads(&a, "s/ent-1"));
}

#[test]
fn templates_are_checked_for_balance_at_parse_and_only_that() {
    for bad in ["a/{{identity.entity.id", "a/}}x{{identity.entity.id}}", "a/}}", "a/{{x}}}}", "a/{{x{{y}}"] {
        let e = parse("t", &format!("path {bad:?} {{ capabilities = [\"read\"] }}")).unwrap_err();
        assert_eq!(e.message, format!("path {bad:?}: failed to validate policy templating: unbalanced templating characters"));
    }
    // Unknown parameters are accepted as in Vault and OpenBao (they never render).
    for ok in ["a/{{identity.foo}}", "a/{{ identity.entity.bogus }}", "a/{{}}"] {
        assert!(parse("t", &format!("path {ok:?} {{ capabilities = [\"read\"] }}")).unwrap().rules[0].templated, "{ok}");
    }
    assert!(!parse("t", "path \"a/{x}\" { capabilities = [\"read\"] }").unwrap().rules[0].templated);
    // Parameter lists are not templated (Vault renders only path names).
    let p = parse("t", "path \"k/{{identity.entity.id}}\" { capabilities = [\"update\"]\n allowed_parameters = { \"x\" = [\"{{identity.entity.id}}\"] } }").unwrap();
    let a = Acl::for_identity(&[Arc::new(p)], Some(&vars()));
    let lit = obj(json!({"x": "{{identity.entity.id}}"}));
    let id = obj(json!({"x": "ent-1"}));
    assert!(a.check(&req(Caps::UPDATE, "k/ent-1", Some(&lit))).allowed);
    assert!(!a.check(&req(Caps::UPDATE, "k/ent-1", Some(&id))).allowed);
}

#[test]
fn rendered_rules_merge_with_plain_ones_and_the_default_policy_renders() {
    let a = acl_for_vars(&[("t", "path \"s/{{identity.entity.id}}\" { capabilities = [\"read\"] }"), ("u", "path \"s/ent-1\" { capabilities = [\"update\"] }")]);
    assert_eq!(a.capabilities("s/ent-1"), vec!["read", "update"]);
    let d = acl_for_vars(&[("default", DEFAULT_POLICY)]);
    assert_eq!(d.capabilities("identity/entity/id/ent-1"), vec!["read"]);
    assert_eq!(d.capabilities("identity/entity/name/alice"), vec!["read"]);
    assert_eq!(d.capabilities("identity/entity/id/ent-2"), vec!["deny"]);
    // A rendered deny still wins.
    let a = acl_for_vars(&[("t", "path \"s/*\" { capabilities = [\"read\"] }\npath \"s/{{identity.groups.names.eng.id}}\" { capabilities = [\"deny\"] }")]);
    assert!(reads(&a, "s/x") && !reads(&a, "s/g-1"));
}

fn acl_for_vars(policies: &[(&str, &str)]) -> Acl {
    let ps: Vec<Arc<Policy>> = policies.iter().map(|(n, t)| Arc::new(parse(n, t).unwrap())).collect();
    Acl::for_identity(&ps, Some(&vars()))
}

/// Not an assertion: the compile cost of a templated set, printed with `--nocapture`.
#[test]
fn templated_compile_cost_is_reported() {
    let ps: Vec<Arc<Policy>> = [("default", DEFAULT_POLICY), ("t", "path \"secret/data/{{identity.entity.id}}/*\" { capabilities = [\"read\"] }\npath \"secret/metadata/{{identity.entity.name}}/*\" { capabilities = [\"list\"] }")]
        .iter()
        .map(|(n, t)| Arc::new(parse(n, t).unwrap()))
        .collect();
    let v = vars();
    let n = 2000;
    let t = std::time::Instant::now();
    for _ in 0..n {
        assert!(Acl::for_identity(&ps, Some(&v)).capabilities("secret/data/ent-1/x") == vec!["read"]);
    }
    eprintln!("templated compile (default + 2 templated rules): {:?} per ACL", t.elapsed() / n);
}
