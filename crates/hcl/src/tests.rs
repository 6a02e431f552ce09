use super::*;
use serde_json::json;

fn j(src: &str) -> serde_json::Value {
    match parse(src) {
        Ok(n) => n.to_json(),
        Err(e) => panic!("parse failed: {e}\n{src}"),
    }
}

fn err(src: &str) -> Error {
    match parse(src) {
        Ok(n) => panic!("expected an error, got {:?}", n.to_json()),
        Err(e) => e,
    }
}

#[test]
fn vault_docs_policy() {
    let src = r#"
# Dev servers have version 2 of KV secrets engine mounted by default, so will
# need these paths to grant permissions:
path "secret/data/*" {
  capabilities = ["create", "update"]
}

path "secret/data/foo" {
  capabilities = ["read"]
}

// a C++ style comment
/* a block
   comment */
path "sys/mounts" { capabilities = ["read", "list",] }
"#;
    assert_eq!(
        j(src),
        json!({"path": [
            {"secret/data/*": {"capabilities": ["create", "update"]}},
            {"secret/data/foo": {"capabilities": ["read"]}},
            {"sys/mounts": {"capabilities": ["read", "list"]}},
        ]})
    );
}

#[test]
fn parameters_and_comma_separated_attributes() {
    let src = r#"path "secret/foo" { capabilities = ["read"], policy = "read" }
path "secret/bar" {
  capabilities = ["create"]
  allowed_parameters = {
    "foo" = []
    "bar" = ["zip", "zap"], "*" = []
  }
  denied_parameters { "baz" = ["x-*"] }
  min_wrapping_ttl = "1s"
  max_wrapping_ttl = 90
}"#;
    assert_eq!(
        j(src),
        json!({"path": [
            {"secret/foo": {"capabilities": ["read"], "policy": "read"}},
            {"secret/bar": {
                "capabilities": ["create"],
                "allowed_parameters": {"foo": [], "bar": ["zip", "zap"], "*": []},
                "denied_parameters": {"baz": ["x-*"]},
                "min_wrapping_ttl": "1s",
                "max_wrapping_ttl": 90
            }}
        ]})
    );
}

#[test]
fn server_config() {
    let src = r#"
ui = true
cluster_addr  = "https://127.0.0.1:8201"
api_addr      = "https://127.0.0.1:8200"
disable_mlock = true
default_lease_ttl = "768h"
max_lease_ttl = -1

storage "raft" {
  path = "/opt/vault/data"
  node_id = "node1"
  retry_join {
    leader_api_addr = "http://127.0.0.2:8200"
  }
  retry_join {
    leader_api_addr = "http://127.0.0.3:8200"
  }
}

listener "tcp" {
  address       = "0.0.0.0:8200"
  tls_disable   = 1
  x_forwarded_for_reject_not_present = false
}

seal "transit" {
  address = "https://vault:8200"
  key_name = "autounseal"
  mount_path = "transit/"
}

telemetry {
  prometheus_retention_time = "30s",
  disable_hostname = true
}
ratio = 0.5
"#;
    let v = j(src);
    assert_eq!(v["ui"], json!(true));
    assert_eq!(v["max_lease_ttl"], json!(-1));
    assert_eq!(v["ratio"], json!(0.5));
    assert_eq!(v["storage"]["raft"]["path"], json!("/opt/vault/data"));
    assert_eq!(
        v["storage"]["raft"]["retry_join"],
        json!([{"leader_api_addr": "http://127.0.0.2:8200"}, {"leader_api_addr": "http://127.0.0.3:8200"}])
    );
    assert_eq!(v["listener"]["tcp"]["tls_disable"], json!(1));
    assert_eq!(v["seal"]["transit"]["mount_path"], json!("transit/"));
    assert_eq!(v["telemetry"]["disable_hostname"], json!(true));
}

#[test]
fn two_labels_nest() {
    let n = parse("a \"b\" c {\n  x = 1\n}").unwrap();
    assert_eq!(n.to_json(), json!({"a": {"b": {"c": {"x": 1}}}}));
    let Value::Object(top) = &n.value else { panic!() };
    assert_eq!((top[0].key.as_str(), top[0].line, top[0].col), ("a", 1, 1));
    let b = &top[0].value;
    assert_eq!((b.line, b.col), (1, 3));
    let Value::Object(be) = &b.value else { panic!() };
    let Value::Object(ce) = &be[0].value.value else { panic!() };
    assert_eq!((ce[0].key.as_str(), ce[0].line, ce[0].col), ("c", 1, 7));
    let body = &ce[0].value;
    assert_eq!((body.line, body.col), (1, 9));
    let Value::Object(x) = &body.value else { panic!() };
    assert_eq!((x[0].line, x[0].col), (2, 3));
}

#[test]
fn repeated_keys_keep_order_in_tree() {
    let n = parse("k = 1\nj = 2\nk = 3").unwrap();
    let Value::Object(e) = &n.value else { panic!() };
    let keys: Vec<_> = e.iter().map(|e| (e.key.as_str(), e.line)).collect();
    assert_eq!(keys, vec![("k", 1), ("j", 2), ("k", 3)]);
    assert_eq!(n.to_json(), json!({"k": [1, 3], "j": 2}));
    // a repeated key whose values are lists gives an array of arrays
    assert_eq!(j("a = [1]\na = [2]"), json!({"a": [[1], [2]]}));
}

#[test]
fn strings_and_escapes() {
    assert_eq!(
        j(r#"a = "x\ny\t\"q\"\\ \u00e9 \U0001F600 \ud83d\ude00 ${var.x}""#),
        json!({"a": "x\ny\t\"q\"\\ é 😀 😀 ${var.x}"})
    );
    assert_eq!(j(r#""quoted key" = "v""#), json!({"quoted key": "v"}));
    assert_eq!(j("a-b.c_d = \"v\""), json!({"a-b.c_d": "v"}));
    assert_eq!(j("a = \"\""), json!({"a": ""}));
}

#[test]
fn numbers() {
    assert_eq!(
        j("a = 1\nb = -42\nc = 1.5\nd = -0.25\ne = 1e3\nf = 0x1F\ng = 2.5E-1"),
        json!({"a": 1, "b": -42, "c": 1.5, "d": -0.25, "e": 1000.0, "f": 31, "g": 0.25})
    );
    assert!(err("a = 99999999999999999999").message.contains("out of range"));
    assert!(err("a = 12ab").message.contains("invalid number"));
}

#[test]
fn heredocs() {
    let src = "policy = <<EOF\npath \"a\" {\n  capabilities = [\"read\"]\n}\nEOF\nafter = 1\n";
    assert_eq!(
        j(src),
        json!({"policy": "path \"a\" {\n  capabilities = [\"read\"]\n}\n", "after": 1})
    );
    let src = "x {\n  p = <<-EOT\n    one\n      two\n\n    three\n    EOT\n}\n";
    assert_eq!(j(src), json!({"x": {"p": "one\n  two\n\nthree\n"}}));
    // Closing marker less indented than a line of the body: kept unchanged.
    let src = "p = <<-EOT\n  one\n two\n  EOT";
    assert_eq!(j(src), json!({"p": "  one\n two\n"}));
    // At end of input without trailing newline
    assert_eq!(j("p = <<A\nx\nA"), json!({"p": "x\n"}));
    // Empty heredoc
    assert_eq!(j("p = <<A\nA\n"), json!({"p": ""}));
    let e = err("p = <<EOF\nno end\n");
    assert_eq!((e.line, e.col), (1, 5));
    assert!(e.message.contains("heredoc not terminated"), "{e}");
}

#[test]
fn lists_of_objects_and_nesting() {
    assert_eq!(
        j("l = [{a = 1}, {b = [true, false]},]\nm = [[1,2],[]]\no = { x { y = 1 } }"),
        json!({"l": [{"a": 1}, {"b": [true, false]}], "m": [[1, 2], []], "o": {"x": {"y": 1}}})
    );
    // items without any separators (HCL1 accepts it)
    assert_eq!(j("\n"), json!({}));
    assert_eq!(j("o = { a = 1 b = 2 }"), json!({"o": {"a": 1, "b": 2}}));
    assert_eq!(j(""), json!({}));
    assert_eq!(j("  # only a comment"), json!({}));
}

#[test]
fn errors_have_positions() {
    let e = err("path \"a\" {\n  capabilities = [\"read\"\n}\n");
    assert_eq!((e.line, e.col), (3, 1));
    assert!(e.message.contains("expected ',' or ']'"), "{e}");

    let e = err("a = \"unterminated\nb = 1");
    assert_eq!((e.line, e.col), (1, 5));
    assert!(e.message.contains("string not terminated"), "{e}");

    let e = err("a = 1\n\n  b = bare");
    assert_eq!((e.line, e.col), (3, 7));
    assert!(e.message.contains("strings must be quoted"), "{e}");

    let e = err("path \"x\" \"y\" = 1");
    assert_eq!(e.line, 1);
    assert!(e.message.contains("must have a '{' block"), "{e}");

    let e = err("a {\n b = 1\n");
    assert_eq!(e.line, 3);
    assert!(e.message.contains("expected '}'"), "{e}");

    let e = err("/* never closed\n a = 1");
    assert_eq!((e.line, e.col), (1, 1));
    assert!(e.message.contains("comment not terminated"), "{e}");

    let e = err("a = \"bad \\q escape\"");
    assert_eq!((e.line, e.col), (1, 10));
    assert!(e.message.contains("invalid escape"), "{e}");

    let e = err("}");
    assert!(e.message.contains("unexpected '}'"), "{e}");
    let e = err("a = 1 = 2");
    assert!(e.message.contains("expected a key"), "{e}");
    let e = err("a");
    assert!(e.message.contains("expected '=' or '{'"), "{e}");
    assert_eq!(e.to_string(), "line 1, column 2: expected '=' or '{' after key \"a\", found end of input");

    // Columns count characters, not bytes
    let e = err("é = ?");
    assert_eq!((e.line, e.col), (1, 5));
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let src = format!("a = {}1{}", "[".repeat(10_000), "]".repeat(10_000));
    assert!(err(&src).message.contains("nesting deeper"));
    let src = format!("{}{}", "a {".repeat(10_000), "}".repeat(10_000));
    assert!(err(&src).message.contains("nesting deeper"));
    let src = format!("{{\"a\":{}1{}}}", "[".repeat(10_000), "]".repeat(10_000));
    assert!(parse_json(&src).unwrap_err().message.contains("nesting deeper"));
}

#[test]
fn json_documents() {
    let src = "{\n  \"path\": {\n    \"secret/*\": {\"capabilities\": [\"read\", \"list\"]},\n    \"sys/x\": {\"capabilities\": [\"deny\"], \"max_wrapping_ttl\": 1.5}\n  }\n}";
    let n = parse_any(src).unwrap();
    assert_eq!(
        n.to_json(),
        json!({"path": {"secret/*": {"capabilities": ["read", "list"]}, "sys/x": {"capabilities": ["deny"], "max_wrapping_ttl": 1.5}}})
    );
    let Value::Object(top) = &n.value else { panic!() };
    let Value::Object(paths) = &top[0].value.value else { panic!() };
    assert_eq!((paths[1].key.as_str(), paths[1].line, paths[1].col), ("sys/x", 4, 5));

    let e = parse_json("{\n\"a\": [1,]\n}").unwrap_err();
    assert_eq!(e.line, 2);
    let e = parse_json("{\"a\": null}").unwrap_err();
    assert!(e.message.contains("null"));
    assert!(parse_json("{\"a\": 1} x").is_err());
    assert!(parse_json("[1]").is_err());
    assert!(parse_json("{\"a\" = 1}").is_err());
}

#[test]
fn parse_any_picks_hcl() {
    assert_eq!(parse_any("a = 1").unwrap().to_json(), json!({"a": 1}));
}

mod props {
    use super::*;
    use proptest::prelude::*;

    fn hcl_tokens() -> impl Strategy<Value = String> {
        let tok = prop_oneof![
            Just("path".to_string()),
            Just("\"secret/*\"".to_string()),
            Just("=".to_string()),
            Just("{".to_string()),
            Just("}".to_string()),
            Just("[".to_string()),
            Just("]".to_string()),
            Just(",".to_string()),
            Just("\n".to_string()),
            Just("<<EOF\n".to_string()),
            Just("<<-EOF\n".to_string()),
            Just("EOF".to_string()),
            Just("# c\n".to_string()),
            Just("/*".to_string()),
            Just("*/".to_string()),
            Just("\"\\u12".to_string()),
            Just("-1.5e".to_string()),
            Just("0x".to_string()),
            Just("true".to_string()),
            Just("\"".to_string()),
            Just(":".to_string()),
            "[a-z0-9 ]{0,4}",
        ];
        prop::collection::vec(tok, 0..40).prop_map(|v| v.join(" "))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn parse_never_panics_on_arbitrary_input(s in "\\PC*") {
            let _ = parse(&s);
            let _ = parse_json(&s);
        }

        #[test]
        fn parse_never_panics_on_token_soup(s in hcl_tokens()) {
            if let Ok(n) = parse(&s) { let _ = n.to_json(); }
            let _ = parse_json(&s);
        }

        #[test]
        fn strings_round_trip(s in "\\PC*", key in "[a-z_][a-z0-9_.-]{0,10}") {
            let quoted = serde_json::to_string(&s).unwrap();
            let src = format!("{key} = {quoted}");
            let n = parse(&src).unwrap();
            prop_assert_eq!(n.to_json(), serde_json::json!({key: s}));
        }

        #[test]
        fn ints_round_trip(i in any::<i64>()) {
            prop_assume!(i != i64::MIN); // "-9223372036854775808" parses, but keep simple
            let n = parse(&format!("a = {i}")).unwrap();
            prop_assert_eq!(n.to_json(), serde_json::json!({"a": i}));
        }
    }
}
