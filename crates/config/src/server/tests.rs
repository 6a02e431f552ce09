use super::*;

fn hcl(src: &str) -> ServerConfig {
    match parse_str(src, "config.hcl", false) {
        Ok(c) => c,
        Err(e) => panic!("expected a valid config, got: {e}\n{src}"),
    }
}

fn json(src: &str) -> ServerConfig {
    match parse_str(src, "config.json", true) {
        Ok(c) => c,
        Err(e) => panic!("expected a valid config, got: {e}\n{src}"),
    }
}

fn hcl_err(src: &str) -> ConfigError {
    match parse_str(src, "config.hcl", false) {
        Ok(c) => panic!("expected an error, got {c:?}\n{src}"),
        Err(e) => e,
    }
}

fn json_err(src: &str) -> ConfigError {
    match parse_str(src, "config.json", true) {
        Ok(c) => panic!("expected an error, got {c:?}\n{src}"),
        Err(e) => e,
    }
}

/// Storage and a plain-HTTP listener, to which a test appends what it checks.
const BASE: &str = r#"storage "inmem" {}
listener "tcp" { tls_disable = true }
"#;

fn base_err(extra: &str) -> String {
    hcl_err(&format!("{BASE}{extra}")).to_string()
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

// ---------------------------------------------------------------------------
// Valid configs

/// Vault's "Deploy Vault" tutorial config, as published.
#[test]
fn vault_getting_started_config() {
    let c = hcl(r#"
storage "raft" {
  path    = "./vault/data"
  node_id = "node1"
}

listener "tcp" {
  address     = "127.0.0.1:8200"
  tls_disable = "true"
}

api_addr = "http://127.0.0.1:8200"
cluster_addr = "https://127.0.0.1:8201"
ui = true
"#);
    assert_eq!(c.storage.kind, "raft");
    assert_eq!(
        c.storage.options,
        map(&[("path", "./vault/data"), ("node_id", "node1")])
    );
    assert_eq!(c.storage.line, 2);
    assert!(c.storage.retry_join.is_empty());
    assert_eq!(c.listeners.len(), 1);
    let l = &c.listeners[0];
    assert_eq!(l.address, "127.0.0.1:8200");
    assert!(l.tls_disable);
    assert_eq!(l.line, 7);
    assert_eq!(c.api_addr.as_deref(), Some("http://127.0.0.1:8200"));
    assert_eq!(c.cluster_addr.as_deref(), Some("https://127.0.0.1:8201"));
    assert!(c.ui);
}

/// The example at the top of Vault's configuration reference (minus its
/// `telemetry` block's statsite sink, which Coffer does not send to; see below).
#[test]
fn vault_configuration_reference_example() {
    let src = r#"
ui            = true
cluster_addr  = "https://127.0.0.1:8201"
api_addr      = "https://127.0.0.1:8200"
disable_mlock = true

storage "raft" {
  path = "/path/to/raft/data"
  node_id = "raft_node_id"
}

listener "tcp" {
  address       = "127.0.0.1:8200"
  tls_cert_file = "/path/to/full-chain.pem"
  tls_key_file  = "/path/to/private-key.pem"
}
"#;
    let c = hcl(src);
    assert!(c.ui && c.disable_mlock);
    let l = &c.listeners[0];
    assert!(!l.tls_disable);
    assert_eq!(
        l.tls_cert_file.as_deref(),
        Some(Path::new("/path/to/full-chain.pem"))
    );
    assert_eq!(
        l.tls_key_file.as_deref(),
        Some(Path::new("/path/to/private-key.pem"))
    );

    let with_telemetry = format!(
        "{src}\ntelemetry {{\n  statsite_address = \"127.0.0.1:8125\"\n  disable_hostname = true\n}}\n"
    );
    assert_eq!(
        hcl_err(&with_telemetry).to_string(),
        "config.hcl:19: unknown key \"statsite_address\" in telemetry (a Vault option Coffer does not support yet)"
    );
}

/// hvac's own test suite (tests/config_files/vault-tls.hcl in its sdist, as HCL and in
/// the JSON form its ServerManager writes after picking a port): legacy `backend`, a TLS
/// listener without `address` (HCL) or with one (JSON), `disable_mlock`, 768h TTLs.
/// tests/test_hvac_suite.py starts Coffer with exactly this file.
#[test]
fn hvac_test_suite_config() {
    let from_hcl = hcl(
        "backend \"inmem\" {\n}\n\nlistener \"tcp\" {\n  tls_cert_file = \"tests/config_files/server-cert.pem\"\n  tls_key_file  = \"tests/config_files/server-key.pem\"\n}\n\ndisable_mlock = true\n\ndefault_lease_ttl = \"768h\"\nmax_lease_ttl = \"768h\"\n",
    );
    let from_json = json(
        r#"{"backend": {"inmem": {}}, "listener": {"tcp": {"tls_cert_file": "tests/config_files/server-cert.pem", "tls_key_file": "tests/config_files/server-key.pem", "address": "127.0.0.1:44755"}}, "disable_mlock": true, "default_lease_ttl": "768h", "max_lease_ttl": "768h"}"#,
    );
    for c in [&from_hcl, &from_json] {
        assert_eq!(c.storage.kind, "inmem");
        assert!(c.disable_mlock);
        assert_eq!(c.default_lease_ttl, Duration::from_secs(768 * 3600));
        assert_eq!(c.max_lease_ttl, Duration::from_secs(768 * 3600));
        let l = &c.listeners[0];
        assert!(!l.tls_disable);
        assert_eq!(l.tls_cert_file.as_deref(), Some(std::path::Path::new("tests/config_files/server-cert.pem")));
        assert_eq!(l.tls_key_file.as_deref(), Some(std::path::Path::new("tests/config_files/server-key.pem")));
    }
    assert_eq!(from_hcl.listeners[0].address, "127.0.0.1:8200");
    assert_eq!(from_json.listeners[0].address, "127.0.0.1:44755");
}

/// The official Docker image's example, which still uses `backend`.
#[test]
fn vault_docker_json_example() {
    let c = json(
        r#"{"backend": {"file": {"path": "/vault/file"}}, "listener": {"tcp": {"address": "0.0.0.0:8200", "tls_disable": 1}}, "default_lease_ttl": "168h", "max_lease_ttl": "720h", "ui": true}"#,
    );
    assert_eq!(c.storage.kind, "file");
    assert_eq!(c.storage.options, map(&[("path", "/vault/file")]));
    assert_eq!(c.listeners[0].address, "0.0.0.0:8200");
    assert!(c.listeners[0].tls_disable);
    assert_eq!(c.default_lease_ttl, Duration::from_secs(168 * 3600));
    assert_eq!(c.max_lease_ttl, Duration::from_secs(720 * 3600));
    assert!(c.ui);
}

#[test]
fn json_with_listener_list_and_lines() {
    let src = r#"{
  "storage": {
    "file": {
      "path": "/var/lib/coffer"
    }
  },
  "listener": [
    {"tcp": {"address": "127.0.0.1:8200", "tls_disable": "1"}},
    {"tcp": {"address": "10.0.0.5:8200", "tls_cert_file": "/c.pem", "tls_key_file": "/k.pem"}}
  ],
  "log_level": "debug"
}"#;
    let c = json(src);
    assert_eq!(c.storage.line, 3);
    assert_eq!(c.listeners.len(), 2);
    assert_eq!(c.listeners[0].line, 8);
    assert_eq!(c.listeners[1].line, 9);
    assert!(!c.listeners[1].tls_disable);
    assert_eq!(c.log_level, LogLevel::Debug);
}

#[test]
fn defaults() {
    let c = hcl("storage \"inmem\" {}\nlistener \"tcp\" { tls_disable = true }\n");
    assert_eq!(
        c.storage,
        StorageConfig {
            kind: "inmem".into(),
            options: BTreeMap::new(),
            retry_join: vec![],
            line: 1
        }
    );
    assert_eq!(
        c.listeners,
        vec![ListenerConfig {
            kind: "tcp".into(),
            address: "127.0.0.1:8200".into(),
            cluster_address: None,
            tls_disable: true,
            tls_cert_file: None,
            tls_key_file: None,
            tls_min_version: TlsVersion::Tls12,
            max_request_size: Some(33_554_432),
            http_read_header_timeout: Duration::from_secs(10),
            http_read_timeout: Duration::from_secs(30),
            http_idle_timeout: Duration::from_secs(300),
            max_connections: 16_384,
            max_json_depth: 500,
            max_json_string_value_length: Some(1_048_576),
            max_json_object_entry_count: Some(10_000),
            max_json_array_element_count: Some(10_000),
            max_request_json_memory: Some(34_078_720),
            max_request_json_strings: None,
            unauthenticated_metrics_access: false,
            line: 2,
        }]
    );
    assert_eq!(c.seal, None);
    assert_eq!(c.api_addr, None);
    assert_eq!(c.cluster_addr, None);
    assert_eq!(c.cluster_name, None);
    assert_eq!(c.default_lease_ttl, Duration::from_secs(768 * 3600));
    assert_eq!(c.max_lease_ttl, Duration::from_secs(768 * 3600));
    assert_eq!(c.log_level, LogLevel::Info);
    assert_eq!(c.log_format, LogFormat::Standard);
    assert!(!c.disable_mlock && !c.ui && !c.disable_cache);
    assert_eq!(c.pid_file, None);
}

#[test]
fn every_top_level_key() {
    let c = hcl(r#"
storage "file" { path = "/data" }
listener "tcp" {
  address          = "0.0.0.0:8200"
  cluster_address  = "0.0.0.0:8201"
  tls_cert_file    = "/tls/cert.pem"
  tls_key_file     = "/tls/key.pem"
  tls_min_version  = "tls13"
  max_request_size = 1048576
}
seal "shamir" {}
api_addr          = "https://coffer.example:8200"
cluster_addr      = "https://10.0.0.1:8201"
cluster_name      = "hotpass"
default_lease_ttl = "1h"
max_lease_ttl     = 86400
log_level         = "WARNING"
log_format        = "json"
disable_mlock     = "1"
ui                = "t"
pid_file          = "/run/coffer.pid"
disable_cache     = false
"#);
    let l = &c.listeners[0];
    assert_eq!(l.cluster_address.as_deref(), Some("0.0.0.0:8201"));
    assert_eq!(l.tls_min_version, TlsVersion::Tls13);
    assert_eq!(l.max_request_size, Some(1_048_576));
    assert_eq!(
        c.seal,
        Some(SealConfig {
            kind: "shamir".into(),
            line: 11
        })
    );
    assert_eq!(c.cluster_name.as_deref(), Some("hotpass"));
    assert_eq!(c.default_lease_ttl, Duration::from_secs(3600));
    assert_eq!(c.max_lease_ttl, Duration::from_secs(86400));
    assert_eq!(c.log_level, LogLevel::Warn);
    assert_eq!(c.log_format, LogFormat::Json);
    assert!(c.disable_mlock && c.ui && !c.disable_cache);
    assert_eq!(c.pid_file.as_deref(), Some(Path::new("/run/coffer.pid")));
}

#[test]
fn raft_retry_join_hcl_and_json() {
    // From Vault's integrated storage docs.
    let c = hcl(r#"
storage "raft" {
  path    = "/var/raft/"
  node_id = "node3"
  performance_multiplier = 1

  retry_join {
    leader_api_addr = "https://node1.vault.local:8200"
    leader_ca_cert_file = "/path/to/ca1"
    leader_client_cert_file = "/path/to/client/cert1"
    leader_client_key_file = "/path/to/client/key1"
  }
  retry_join {
    leader_api_addr = "https://node2.vault.local:8200"
    leader_ca_cert_file = "/path/to/ca2"
  }
  retry_join {
    auto_join = "provider=aws region=eu-west-1 tag_key=vault tag_value=... access_key_id=... secret_access_key=..."
    auto_join_port = 8200
  }
}
listener "tcp" { tls_disable = true }
"#);
    assert_eq!(
        c.storage.options,
        map(&[
            ("path", "/var/raft/"),
            ("node_id", "node3"),
            ("performance_multiplier", "1")
        ])
    );
    assert_eq!(c.storage.retry_join.len(), 3);
    assert_eq!(
        c.storage.retry_join[0]["leader_api_addr"],
        "https://node1.vault.local:8200"
    );
    assert_eq!(
        c.storage.retry_join[0]["leader_client_key_file"],
        "/path/to/client/key1"
    );
    assert_eq!(
        c.storage.retry_join[1]["leader_ca_cert_file"],
        "/path/to/ca2"
    );
    assert_eq!(c.storage.retry_join[2]["auto_join_port"], "8200");

    let j = json(
        r#"{
  "storage": {"raft": {"path": "/var/raft/", "node_id": "node3",
    "retry_join": [{"leader_api_addr": "https://node1:8200"}, {"leader_api_addr": "https://node2:8200"}]}},
  "listener": {"tcp": {"tls_disable": true}}
}"#,
    );
    assert_eq!(j.storage.retry_join.len(), 2);
    assert_eq!(
        j.storage.retry_join[1]["leader_api_addr"],
        "https://node2:8200"
    );
}

#[test]
fn debug_hides_inline_client_keys() {
    let c = hcl(r#"
storage "raft" {
  retry_join {
    leader_api_addr = "https://node1:8200"
    leader_client_key = "-----BEGIN PRIVATE KEY-----\nSECRETSTUFF\n-----END PRIVATE KEY-----"
  }
}
listener "tcp" { tls_disable = true }
"#);
    assert!(c.storage.retry_join[0]["leader_client_key"].contains("SECRETSTUFF"));
    let shown = format!("{c:?}");
    assert!(!shown.contains("SECRETSTUFF"), "{shown}");
    assert!(shown.contains("[redacted]"));
}

#[test]
fn several_listeners_in_order() {
    let c = hcl(r#"storage "inmem" {}
listener "tcp" {
  address = "127.0.0.1:8200"
  tls_disable = true
}
listener "tcp" {
  address = "[::1]:8300"
  tls_disable = true
  max_request_size = -1
}
"#);
    assert_eq!(c.listeners.len(), 2);
    assert_eq!((c.listeners[0].line, c.listeners[1].line), (2, 6));
    assert_eq!(c.listeners[1].address, "[::1]:8300");
    assert_eq!(c.listeners[1].max_request_size, None);
}

#[test]
fn tls_disable_forms() {
    for (v, want) in [
        ("true", true),
        ("false", false),
        ("1", true),
        ("0", false),
        ("\"true\"", true),
        ("\"1\"", true),
        ("\"false\"", false),
        ("\"0\"", false),
        ("\"T\"", true),
        ("\"FALSE\"", false),
    ] {
        let c = hcl(&format!(
            "storage \"inmem\" {{}}\nlistener \"tcp\" {{\n  tls_disable = {v}\n  tls_cert_file = \"c\"\n  tls_key_file = \"k\"\n}}\n"
        ));
        assert_eq!(c.listeners[0].tls_disable, want, "tls_disable = {v}");
    }
}

#[test]
fn max_request_size_forms() {
    for (v, want) in [
        ("0", Some(DEFAULT_MAX_REQUEST_SIZE)),
        ("-1", None),
        ("1024", Some(1024)),
        ("\"2048\"", Some(2048)),
        ("\"-5\"", None),
    ] {
        let c = hcl(&format!(
            "storage \"inmem\" {{}}\nlistener \"tcp\" {{\n  tls_disable = 1\n  max_request_size = {v}\n}}\n"
        ));
        assert_eq!(
            c.listeners[0].max_request_size, want,
            "max_request_size = {v}"
        );
    }
}

#[test]
fn log_levels() {
    for (v, want) in [
        ("trace", LogLevel::Trace),
        ("debug", LogLevel::Debug),
        ("info", LogLevel::Info),
        ("notice", LogLevel::Info),
        ("warn", LogLevel::Warn),
        ("warning", LogLevel::Warn),
        ("err", LogLevel::Error),
        ("error", LogLevel::Error),
        ("ERROR", LogLevel::Error),
        (" Debug ", LogLevel::Debug),
    ] {
        assert_eq!(
            hcl(&format!("{BASE}log_level = \"{v}\"\n")).log_level,
            want,
            "{v}"
        );
    }
    assert_eq!(LogLevel::Warn.as_str(), "warn");
}

#[test]
fn ttls() {
    let c = hcl(&format!(
        "{BASE}default_lease_ttl = \"1.5h\"\nmax_lease_ttl = \"768h\"\n"
    ));
    assert_eq!(c.default_lease_ttl, Duration::from_secs(5400));
    // Zero means "the default", as in Vault.
    let c = hcl(&format!(
        "{BASE}default_lease_ttl = 0\nmax_lease_ttl = \"0s\"\n"
    ));
    assert_eq!(c.default_lease_ttl, DEFAULT_LEASE_TTL);
    assert_eq!(c.max_lease_ttl, DEFAULT_LEASE_TTL);
    // A short max with a short default is fine.
    let c = hcl(&format!(
        "{BASE}default_lease_ttl = \"10m\"\nmax_lease_ttl = 3600\n"
    ));
    assert_eq!(c.max_lease_ttl, Duration::from_secs(3600));
    // Equal is fine.
    let c = hcl(&format!(
        "{BASE}default_lease_ttl = \"1h\"\nmax_lease_ttl = \"60m\"\n"
    ));
    assert_eq!(c.default_lease_ttl, c.max_lease_ttl);
}

#[test]
fn load_reads_hcl_and_json_by_extension() {
    let dir = tempfile::tempdir().unwrap();
    let h = dir.path().join("server.hcl");
    std::fs::write(&h, BASE).unwrap();
    assert_eq!(load(&h).unwrap().storage.kind, "inmem");

    let j = dir.path().join("server.JSON");
    std::fs::write(
        &j,
        r#"{"storage": {"inmem": {}}, "listener": {"tcp": {"tls_disable": true}}}"#,
    )
    .unwrap();
    assert_eq!(load(&j).unwrap().storage.kind, "inmem");

    // JSON text in a .hcl file is read as JSON, as HCL1 (and Vault) do.
    let hcl_name = dir.path().join("json-inside.hcl");
    let src =
        "\n {\"storage\": {\"inmem\": {}},\n\"listener\": {\"tcp\": {\"tls_dissable\": true}}}";
    std::fs::write(&hcl_name, src).unwrap();
    let err = load(&hcl_name).unwrap_err();
    let want = format!(
        "{}:3: unknown key \"tls_dissable\" in listener \"tcp\"",
        hcl_name.display()
    );
    assert_eq!(err.to_string(), want);

    // HCL in a .json file is a syntax error.
    let json_name = dir.path().join("hcl-inside.json");
    std::fs::write(&json_name, BASE).unwrap();
    assert!(matches!(
        load(&json_name),
        Err(ConfigError::Syntax { line: 1, .. })
    ));

    let missing = dir.path().join("nope.hcl");
    let err = load(&missing).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }));
    assert!(
        err.to_string()
            .starts_with(&format!("{}: ", missing.display())),
        "{err}"
    );
}

// ---------------------------------------------------------------------------
// Errors: each names file, line and key.

#[test]
fn unknown_key_in_listener_example_from_the_brief() {
    let err = hcl_err(
        r#"storage "file" {
  path = "/data"
}

listener "tcp" {
  address  = "127.0.0.1:8200"
  tls_cert = "/tls/cert.pem"
}
"#,
    );
    assert_eq!(
        err.to_string(),
        r#"config.hcl:7: unknown key "tls_cert" in listener "tcp""#
    );
    assert_eq!(err.line(), Some(7));
    assert_eq!(err.key(), Some("tls_cert"));
}

#[test]
fn bad_duration_example_from_the_brief() {
    let err = hcl_err(
        "storage \"inmem\" {}\nlistener \"tcp\" { tls_disable = true }\nmax_lease_ttl = \"5x\"\n",
    );
    assert_eq!(
        err.to_string(),
        r#"config.hcl:3: max_lease_ttl: invalid duration "5x""#
    );
    assert_eq!(err.key(), Some("max_lease_ttl"));
}

#[test]
fn duration_errors() {
    assert_eq!(
        base_err("default_lease_ttl = \"-1h\""),
        "config.hcl:3: default_lease_ttl: invalid duration \"-1h\": a duration cannot be negative"
    );
    assert_eq!(
        base_err("default_lease_ttl = -5"),
        "config.hcl:3: default_lease_ttl: invalid duration -5: a duration cannot be negative"
    );
    assert_eq!(
        base_err("default_lease_ttl = 1.5"),
        "config.hcl:3: default_lease_ttl: invalid duration 1.5"
    );
    assert_eq!(
        base_err("max_lease_ttl = true"),
        "config.hcl:3: max_lease_ttl: invalid duration true: expected integer seconds or a duration string"
    );
    assert_eq!(
        base_err("max_lease_ttl = [\"1h\"]"),
        "config.hcl:3: max_lease_ttl: expected a duration, found a list"
    );
}

#[test]
fn default_longer_than_max() {
    assert_eq!(
        base_err("default_lease_ttl = \"2h\"\nmax_lease_ttl = \"1h\"\n"),
        "config.hcl:3: default_lease_ttl: 2h0m0s is longer than max_lease_ttl (1h0m0s)"
    );
    assert_eq!(
        base_err("max_lease_ttl = \"1h\"\n"),
        "config.hcl:3: default_lease_ttl: the default, 768h0m0s, is longer than max_lease_ttl (1h0m0s); set default_lease_ttl too"
    );
    assert_eq!(
        base_err("default_lease_ttl = \"800h\"\n"),
        "config.hcl:3: default_lease_ttl: 800h0m0s is longer than max_lease_ttl (768h0m0s)"
    );
}

#[test]
fn unknown_top_level_key() {
    let err = hcl_err(&format!("{BASE}listner \"tcp\" {{}}\n"));
    assert_eq!(err.to_string(), "config.hcl:3: unknown key \"listner\"");
    assert_eq!(
        base_err("plugin_directory = \"/plugins\""),
        "config.hcl:3: unknown key \"plugin_directory\" (a Vault option Coffer does not support yet)"
    );
}

#[test]
fn ha_storage_is_rejected() {
    assert_eq!(
        base_err("ha_storage \"consul\" {\n  address = \"127.0.0.1:8500\"\n}\n"),
        "config.hcl:3: ha_storage is not supported: use storage \"raft\", which provides high availability itself"
    );
    assert_eq!(
        base_err("ha_backend \"consul\" {}\n"),
        "config.hcl:3: ha_backend is not supported: use storage \"raft\", which provides high availability itself"
    );
}

#[test]
fn storage_errors() {
    let listener = "listener \"tcp\" { tls_disable = true }\n";
    let e = hcl_err(listener);
    assert!(matches!(e, ConfigError::Missing { .. }));
    assert_eq!(
        e.to_string(),
        "config.hcl: no storage block: exactly one is required, e.g. storage \"file\" { path = \"/var/lib/coffer\" }"
    );
    assert_eq!(
        base_err("storage \"file\" { path = \"/d\" }\n"),
        "config.hcl:3: storage: only one storage block is allowed (another is at line 1)"
    );
    assert_eq!(
        hcl_err(&format!(
            "{listener}storage \"consul\" {{\n  address = \"x\"\n}}\n"
        ))
        .to_string(),
        "config.hcl:2: storage type \"consul\" is not supported (supported: inmem, file, raft)"
    );
    assert_eq!(
        hcl_err(&format!("{listener}storage \"file\" {{\n}}\n")).to_string(),
        "config.hcl:2: storage \"file\": path is required (the directory to keep data in)"
    );
    assert_eq!(
        hcl_err(&format!(
            "{listener}storage \"file\" {{\n  path = \"\"\n}}\n"
        ))
        .to_string(),
        "config.hcl:3: storage \"file\": path: must not be empty"
    );
    assert_eq!(
        hcl_err(&format!("{listener}storage \"file\" {{\n  path = 5\n}}\n")).to_string(),
        "config.hcl:3: storage \"file\": path: expected a string, found an integer"
    );
    assert_eq!(
        hcl_err(&format!(
            "{listener}storage \"file\" {{\n  path = \"/d\"\n  paht = \"/e\"\n}}\n"
        ))
        .to_string(),
        "config.hcl:4: unknown key \"paht\" in storage \"file\""
    );
    assert_eq!(
        hcl_err(&format!(
            "{listener}storage \"inmem\" {{\n  path = \"/d\"\n}}\n"
        ))
        .to_string(),
        "config.hcl:3: unknown key \"path\" in storage \"inmem\""
    );
    assert_eq!(
        hcl_err(&format!("{listener}storage = \"file\"\n")).to_string(),
        "config.hcl:2: storage: expected a block such as storage \"file\" { ... }"
    );
    assert_eq!(
        hcl_err(&format!("{listener}storage {{}}\n")).to_string(),
        "config.hcl:2: storage: expected a block such as storage \"file\" { ... }"
    );
}

#[test]
fn raft_errors() {
    let listener = "listener \"tcp\" { tls_disable = true }\n";
    assert_eq!(
        hcl_err(&format!(
            "{listener}storage \"raft\" {{\n  path = \"/r\"\n  node = \"n1\"\n}}\n"
        ))
        .to_string(),
        "config.hcl:4: unknown key \"node\" in storage \"raft\""
    );
    assert_eq!(
        hcl_err(&format!(
            "{listener}storage \"raft\" {{\n  retry_join {{\n    leader_addr = \"x\"\n  }}\n}}\n"
        ))
        .to_string(),
        "config.hcl:4: unknown key \"leader_addr\" in storage \"raft\" retry_join"
    );
    assert_eq!(
        hcl_err(&format!("{listener}storage \"raft\" {{\n  retry_join {{\n    leader_ca_cert_file = \"/ca\"\n  }}\n}}\n")).to_string(),
        "config.hcl:3: storage \"raft\" retry_join: one of leader_api_addr or auto_join is required"
    );
    assert_eq!(
        hcl_err(&format!(
            "{listener}storage \"raft\" {{\n  path = [\"/r\"]\n}}\n"
        ))
        .to_string(),
        "config.hcl:3: storage \"raft\": path: expected a single value, found a list"
    );
    assert_eq!(
        hcl_err(&format!(
            "{listener}storage \"raft\" {{\n  retry_join = \"https://n1:8200\"\n}}\n"
        ))
        .to_string(),
        "config.hcl:3: storage \"raft\": retry_join: expected a block: retry_join { leader_api_addr = \"...\" }"
    );
}

#[test]
fn listener_errors() {
    let storage = "storage \"inmem\" {}\n";
    let e = hcl_err(storage);
    assert_eq!(
        e.to_string(),
        "config.hcl: no listener block: at least one is required, e.g. listener \"tcp\" { address = \"127.0.0.1:8200\" }"
    );
    assert_eq!(
        hcl_err(&format!(
            "{storage}listener \"unix\" {{\n  address = \"/run/coffer.sock\"\n}}\n"
        ))
        .to_string(),
        "config.hcl:2: listener type \"unix\" is not supported yet (only \"tcp\")"
    );
    assert_eq!(
        hcl_err(&format!(
            "{storage}listener \"tcp\" {{\n  address = \"0.0.0.0:8200\"\n}}\n"
        ))
        .to_string(),
        "config.hcl:2: listener \"tcp\": TLS is on (tls_disable is false), so tls_cert_file and tls_key_file are both required; missing tls_cert_file and tls_key_file"
    );
    let e = hcl_err(&format!(
        "{storage}listener \"tcp\" {{\n  tls_cert_file = \"/c.pem\"\n}}\n"
    ));
    assert_eq!(
        e.to_string(),
        "config.hcl:2: listener \"tcp\": TLS is on (tls_disable is false), so tls_cert_file and tls_key_file are both required; missing tls_key_file"
    );
    assert_eq!(e.key(), Some("tls_key_file"));
    assert_eq!(
        hcl_err(&format!("{storage}listener \"tcp\" {{\n  tls_disable = \"false\"\n  tls_key_file = \"/k.pem\"\n}}\n")).to_string(),
        "config.hcl:2: listener \"tcp\": TLS is on (tls_disable is false), so tls_cert_file and tls_key_file are both required; missing tls_cert_file"
    );
    let listener = |body: &str| {
        hcl_err(&format!(
            "{storage}listener \"tcp\" {{\n  tls_disable = true\n  {body}\n}}\n"
        ))
        .to_string()
    };
    assert_eq!(
        listener("tls_disable = 1"),
        "config.hcl:4: listener \"tcp\": tls_disable: set more than once (first at line 3)"
    );
    assert_eq!(
        hcl_err(&format!(
            "{storage}listener \"tcp\" {{\n  tls_disable = \"maybe\"\n}}\n"
        ))
        .to_string(),
        "config.hcl:3: listener \"tcp\": tls_disable: expected true or false, found \"maybe\""
    );
    assert_eq!(
        hcl_err(&format!(
            "{storage}listener \"tcp\" {{\n  tls_disable = 2\n}}\n"
        ))
        .to_string(),
        "config.hcl:3: listener \"tcp\": tls_disable: expected true or false, found 2"
    );
    assert_eq!(
        listener("address = \"8200\""),
        "config.hcl:4: listener \"tcp\": address: expected host:port (e.g. \"127.0.0.1:8200\"), found \"8200\""
    );
    assert_eq!(
        listener("address = \"::1:8200\""),
        "config.hcl:4: listener \"tcp\": address: expected host:port (e.g. \"127.0.0.1:8200\"), found \"::1:8200\""
    );
    assert_eq!(
        listener("cluster_address = \"host:99999\""),
        "config.hcl:4: listener \"tcp\": cluster_address: expected host:port (e.g. \"127.0.0.1:8200\"), found \"host:99999\""
    );
    assert_eq!(
        listener("tls_min_version = \"tls10\""),
        "config.hcl:4: listener \"tcp\": tls_min_version: \"tls10\" is not supported; use \"tls12\" or \"tls13\""
    );
    assert_eq!(
        listener("tls_min_version = \"1.2\""),
        "config.hcl:4: listener \"tcp\": tls_min_version: expected \"tls12\" or \"tls13\", found \"1.2\""
    );
    assert_eq!(
        listener("max_request_size = \"32MB\""),
        "config.hcl:4: listener \"tcp\": max_request_size: expected an integer number of bytes, found \"32MB\""
    );
    assert_eq!(
        listener("max_request_size = 1.5"),
        "config.hcl:4: listener \"tcp\": max_request_size: expected an integer number of bytes, found a float"
    );
    assert_eq!(
        listener("tls_client_ca_file = \"/ca.pem\""),
        "config.hcl:4: unknown key \"tls_client_ca_file\" in listener \"tcp\" (a Vault option Coffer does not support yet)"
    );
    assert_eq!(
        listener("address = 8200"),
        "config.hcl:4: listener \"tcp\": address: expected a string, found an integer"
    );
}

#[test]
fn seal_errors() {
    assert_eq!(
        base_err(
            "seal \"awskms\" {\n  region = \"us-east-1\"\n  kms_key_id = \"alias/coffer\"\n}\n"
        ),
        "config.hcl:3: seal type \"awskms\" is not supported yet (only \"shamir\")"
    );
    assert_eq!(
        base_err("seal \"shamir\" {\n  secret_shares = 5\n}\n"),
        "config.hcl:4: unknown key \"secret_shares\" in seal \"shamir\""
    );
    assert_eq!(
        base_err("seal \"shamir\" {}\nseal \"shamir\" {}\n"),
        "config.hcl:4: seal: only one seal block is supported (another is at line 3)"
    );
}

#[test]
fn scalar_errors() {
    assert_eq!(
        base_err("api_addr = 8200"),
        "config.hcl:3: api_addr: expected a string, found an integer"
    );
    assert_eq!(
        base_err("cluster_name = { a = 1 }"),
        "config.hcl:3: cluster_name: expected a string, found an object"
    );
    assert_eq!(
        base_err("ui = \"yes\""),
        "config.hcl:3: ui: expected true or false, found \"yes\""
    );
    assert_eq!(
        base_err("disable_mlock = [true]"),
        "config.hcl:3: disable_mlock: expected true or false, found a list"
    );
    assert_eq!(
        base_err("log_level = \"loud\""),
        "config.hcl:3: log_level: expected one of trace, debug, info, warn, error; found \"loud\""
    );
    assert_eq!(
        base_err("log_format = \"xml\""),
        "config.hcl:3: log_format: expected \"standard\" or \"json\", found \"xml\""
    );
    assert_eq!(
        base_err("ui = true\nui = false"),
        "config.hcl:4: ui: set more than once (first at line 3)"
    );
}

#[test]
fn syntax_errors_carry_line_and_column() {
    let e = hcl_err("storage \"inmem\" {}\nlistener \"tcp\" {\n  address = \n}\n");
    assert!(matches!(e, ConfigError::Syntax { .. }), "{e:?}");
    assert!(e.to_string().starts_with("config.hcl:"), "{e}");
    let e = json_err("{\n  \"storage\": {\"inmem\": {}},\n  \"listener\": \n}");
    assert!(matches!(e, ConfigError::Syntax { line: 4, .. }), "{e:?}");
    assert!(e.to_string().starts_with("config.json:4:"), "{e}");
    let e = json_err("[1, 2]");
    assert!(matches!(e, ConfigError::Syntax { line: 1, .. }), "{e:?}");
}

#[test]
fn json_errors_name_the_line() {
    let src = r#"{
  "storage": {"file": {"path": "/d"}},
  "listener": [
    {"tcp": {
      "address": "127.0.0.1:8200",
      "tls_disable": true,
      "tls_cert": "/c.pem"
    }}
  ],
  "max_lease_ttl": "5x"
}"#;
    assert_eq!(
        json_err(src).to_string(),
        r#"config.json:7: unknown key "tls_cert" in listener "tcp""#
    );
    let src = "{\n  \"storage\": {\"inmem\": {}},\n  \"listener\": {\"tcp\": {\"tls_disable\": true}},\n  \"max_lease_ttl\": \"5x\"\n}";
    assert_eq!(
        json_err(src).to_string(),
        r#"config.json:4: max_lease_ttl: invalid duration "5x""#
    );
    let src = "{\n  \"storage\": {\"inmem\": {}},\n  \"listener\": {\"tcp\": {\"tls_disable\": true}},\n  \"ha_storage\": {\"raft\": {}}\n}";
    assert_eq!(json_err(src).key(), Some("ha_storage"));
    assert_eq!(json_err(src).line(), Some(4));
    let src = "{\n  \"storage\": {\"inmem\": {}},\n  \"listener\": \"tcp\"\n}";
    assert_eq!(
        json_err(src).to_string(),
        "config.json:3: listener: expected a block such as listener \"tcp\" { ... }"
    );
    let src = "{\"storage\": {\"inmem\": {}}, \"listener\": {\"tcp\": {\"tls_disable\": null}}}";
    assert!(matches!(json_err(src), ConfigError::Syntax { .. }));
}

// ---------------------------------------------------------------------------
// Properties: any shape of input gives Ok or an error naming the file, never
// a panic.

mod props {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value as J;

    const KEYS: &[&str] = &[
        "storage",
        "backend",
        "listener",
        "seal",
        "ha_storage",
        "tcp",
        "file",
        "raft",
        "inmem",
        "shamir",
        "path",
        "node_id",
        "retry_join",
        "leader_api_addr",
        "address",
        "tls_disable",
        "tls_cert_file",
        "tls_key_file",
        "tls_min_version",
        "max_request_size",
        "api_addr",
        "default_lease_ttl",
        "max_lease_ttl",
        "log_level",
        "log_format",
        "ui",
        "other",
    ];

    fn value() -> impl Strategy<Value = J> {
        let leaf = prop_oneof![
            any::<bool>().prop_map(J::from),
            any::<i64>().prop_map(J::from),
            (-1e6f64..1e6).prop_map(J::from),
            prop::sample::select(vec![
                "",
                "1h",
                "5x",
                "true",
                "127.0.0.1:8200",
                "tls13",
                "-1",
                "debug"
            ])
            .prop_map(J::from),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(J::Array),
                prop::collection::vec((prop::sample::select(KEYS), inner), 0..6).prop_map(|kv| {
                    J::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
                }),
            ]
        })
    }

    proptest! {
        #[test]
        fn json_configs_never_panic(entries in prop::collection::vec((prop::sample::select(KEYS), value()), 0..8)) {
            let obj = J::Object(entries.into_iter().map(|(k, v)| (k.to_string(), v)).collect());
            let src = serde_json::to_string_pretty(&obj).unwrap();
            if let Err(e) = parse_str(&src, "config.json", true) {
                prop_assert!(e.to_string().starts_with("config.json"), "{}", e);
            }
        }

        #[test]
        fn text_never_panics(src in "\\PC{0,200}") {
            let _ = parse_str(&src, "config.hcl", false);
            let _ = parse_str(&src, "config.json", true);
        }
    }
}

#[test]
fn http_read_header_timeout_parsed_and_checked() {
    let c = hcl("storage \"inmem\" {}\nlistener \"tcp\" {\n  tls_disable = true\n  http_read_header_timeout = \"3s\"\n}\n");
    assert_eq!(c.listeners[0].http_read_header_timeout, Duration::from_secs(3));
    let e = hcl_err("storage \"inmem\" {}\nlistener \"tcp\" {\n  tls_disable = true\n  http_read_header_timeout = \"0s\"\n}\n");
    assert!(e.to_string().contains(":4:") && e.to_string().contains("http_read_header_timeout"), "{e}");
}

#[test]
fn connection_timeouts_and_cap_parsed_and_checked() {
    let c = hcl("storage \"inmem\" {}\nlistener \"tcp\" {\n  tls_disable = true\n  http_read_timeout = \"7s\"\n  http_idle_timeout = \"1m\"\n  max_connections = 50\n}\n");
    let l = &c.listeners[0];
    assert_eq!((l.http_read_timeout, l.http_idle_timeout, l.max_connections), (Duration::from_secs(7), Duration::from_secs(60), 50));
    for (key, value) in [("http_read_timeout", "\"0\""), ("http_idle_timeout", "\"0s\""), ("max_connections", "0"), ("max_connections", "-3")] {
        let e = hcl_err(&format!("storage \"inmem\" {{}}\nlistener \"tcp\" {{\n  tls_disable = true\n  {key} = {value}\n}}\n"));
        assert!(e.to_string().contains(":4:") && e.to_string().contains(key), "{e}");
    }
}

#[test]
fn json_limits_parsed_with_vault_semantics() {
    let c = hcl("storage \"inmem\" {}\nlistener \"tcp\" {\n  tls_disable = true\n  max_json_depth = 40\n  max_json_string_value_length = -1\n  max_json_object_entry_count = 0\n  max_json_array_element_count = 12\n  max_request_json_memory = \"4096\"\n  max_request_json_strings = 1000\n}\n");
    let l = &c.listeners[0];
    assert_eq!(l.max_json_depth, 40);
    assert_eq!(l.max_json_string_value_length, None);
    assert_eq!(l.max_json_object_entry_count, Some(10_000));
    assert_eq!(l.max_json_array_element_count, Some(12));
    assert_eq!(l.max_request_json_memory, Some(4096));
    assert_eq!(l.max_request_json_strings, Some(1000));
    // Depth cannot be unlimited nor beyond what storage readers accept.
    for v in ["-1", "501"] {
        let e = hcl_err(&format!("storage \"inmem\" {{}}\nlistener \"tcp\" {{\n  tls_disable = true\n  max_json_depth = {v}\n}}\n"));
        assert!(e.to_string().contains(":4:") && e.to_string().contains("max_json_depth") && e.to_string().contains("500"), "{e}");
    }
    assert_eq!(hcl("storage \"inmem\" {}\nlistener \"tcp\" {\n  tls_disable = true\n  max_json_depth = 500\n}\n").listeners[0].max_json_depth, 500);
}

#[test]
fn a_dev_config_may_leave_out_storage_and_listeners() {
    let src = "audit \"file\" \"file\" {\n  options = { file_path = \"/tmp/a.log\" }\n}\n";
    let c = parse(src, "dev.hcl", false, true).unwrap();
    assert_eq!(c.storage.kind, "inmem");
    assert!(c.listeners.is_empty());
    assert_eq!(c.audit.len(), 1);
    // Outside dev mode the same file is refused.
    assert!(matches!(parse_str(src, "dev.hcl", false), Err(ConfigError::Missing { .. })));
}
