//! Drives serve-trivial in-process and checks the tool counts exactly what the server saw.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use coffer_bench::client::parse_address;
use coffer_bench::load::{self, Limit, LoadConfig};
use coffer_bench::trivial::TrivialServer;
use coffer_bench::workload::{Targets, parse_mix, prepare};

fn config(addr: std::net::SocketAddr, connections: usize, limit: Limit, rate: Option<f64>) -> Arc<LoadConfig> {
    let targets = Targets { trivial_path: "/v1/secret/data/bench".into(), ..Default::default() };
    let ops = prepare(&parse_mix("trivial-get").unwrap(), &targets).unwrap();
    Arc::new(LoadConfig {
        target: parse_address(&format!("http://{addr}")).unwrap(),
        token: None,
        ops,
        connections,
        limit,
        rate,
        progress: false,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duration_run_counts_match_the_server() {
    let server = TrivialServer::start("127.0.0.1:0", 100).await.unwrap();
    let cfg = config(server.addr, 8, Limit::Duration(Duration::from_millis(300)), None);
    let out = load::run(cfg, Arc::new(AtomicBool::new(false))).await.unwrap();
    let responses = out.total.responses();
    assert!(responses > 100, "only {responses} requests in 300ms");
    assert_eq!(out.total.transport_errors, 0);
    assert_eq!(out.total.errors, 0);
    assert_eq!(out.total.statuses.get(&200), Some(&responses));
    assert_eq!(out.total.hist.len(), responses);
    assert_eq!(server.served(), responses, "client and server disagree on the request count");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_server_counts_match_too() {
    let server = TrivialServer::start_raw("127.0.0.1:0", 100).await.unwrap();
    let cfg = config(server.addr, 8, Limit::Requests(3_000), None);
    let out = load::run(cfg, Arc::new(AtomicBool::new(false))).await.unwrap();
    assert_eq!(out.total.responses(), 3_000);
    assert_eq!(out.total.statuses.get(&200), Some(&3_000));
    assert_eq!(out.total.transport_errors, 0);
    assert_eq!(server.served(), 3_000);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_limit_is_exact() {
    let server = TrivialServer::start("127.0.0.1:0", 100).await.unwrap();
    let cfg = config(server.addr, 16, Limit::Requests(5_000), None);
    let out = load::run(cfg, Arc::new(AtomicBool::new(false))).await.unwrap();
    assert_eq!(out.total.responses(), 5_000);
    assert_eq!(server.served(), 5_000);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_rate_is_respected() {
    let server = TrivialServer::start("127.0.0.1:0", 100).await.unwrap();
    // 400 req/s for 500ms over 4 connections: about 200 requests, far below the ceiling.
    let cfg = config(server.addr, 4, Limit::Duration(Duration::from_millis(500)), Some(400.0));
    let out = load::run(cfg, Arc::new(AtomicBool::new(false))).await.unwrap();
    let n = out.total.responses();
    assert!((150..=204).contains(&n), "expected ~200 requests at 400 req/s for 0.5s, got {n}");
    assert_eq!(server.served(), n);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_get_is_counted_as_an_error_by_status() {
    let server = TrivialServer::start("127.0.0.1:0", 100).await.unwrap();
    // kv1-write POSTs; serve-trivial answers 405, which the workload does not expect.
    let targets = Targets { kv1_mount: "m".into(), keys: 4, value_size: 8, ..Default::default() };
    let ops = prepare(&parse_mix("kv1-write").unwrap(), &targets).unwrap();
    let cfg = Arc::new(LoadConfig {
        target: parse_address(&format!("http://{}", server.addr)).unwrap(),
        token: None,
        ops,
        connections: 2,
        limit: Limit::Requests(50),
        rate: None,
        progress: false,
    });
    let out = load::run(cfg, Arc::new(AtomicBool::new(false))).await.unwrap();
    assert_eq!(out.total.statuses.get(&405), Some(&50));
    assert_eq!(out.total.errors, 50);
    assert_eq!(server.served(), 50);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_listening_is_an_error_not_a_run() {
    // Bind then drop to get a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let cfg = config(port, 2, Limit::Requests(4), None);
    let err = tokio::time::timeout(Duration::from_secs(10), load::run(cfg, Arc::new(AtomicBool::new(false))))
        .await
        .expect("run must end by itself")
        .err()
        .expect("a run with no server must fail");
    assert!(err.to_string().contains("cannot connect"), "{err}");
}
