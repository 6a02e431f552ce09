//! `socket` and `syslog` sinks against real Python listeners (tcp, udp,
//! unix stream, unix datagram), including a listener that goes away and one
//! that stops reading.

mod support;

use coffer_audit::{SinkError, open_sink};
use std::time::{Duration, Instant};
use support::{Listener, TempDir, python};

use coffer_audit::options as opts;

#[tokio::test]
async fn socket_lines_arrive_over_tcp_udp_and_unix() {
    let Some(py) = python() else { return };
    let dir = TempDir::new("socket");
    for kind in ["tcp", "udp", "unix"] {
        let listener = Listener::start(&py, kind, dir.path());
        let sink = open_sink(
            "socket",
            &opts(&[("address", &listener.address), ("socket_type", kind)]),
        )
        .await
        .unwrap_or_else(|e| panic!("{kind}: {e}"));
        for i in 0..3 {
            sink.write(format!("{{\"type\":\"request\",\"n\":{i}}}").as_bytes())
                .await
                .unwrap();
        }
        let got = listener.received(3);
        assert_eq!(
            got,
            "{\"type\":\"request\",\"n\":0}\n{\"type\":\"request\",\"n\":1}\n{\"type\":\"request\",\"n\":2}\n",
            "{kind}"
        );
        sink.close().await;
    }
}

#[tokio::test]
async fn socket_reconnects_once_and_fails_when_the_listener_is_gone() {
    let Some(py) = python() else { return };
    let dir = TempDir::new("socket-gone");
    for kind in ["tcp", "unix"] {
        let mut listener = Listener::start(&py, kind, dir.path());
        let sink = open_sink(
            "socket",
            &opts(&[("address", &listener.address), ("socket_type", kind)]),
        )
        .await
        .unwrap();
        sink.write(b"{\"n\":1}").await.unwrap();
        assert_eq!(listener.received(1), "{\"n\":1}\n");

        // the listener goes away: the next write must fail, not vanish
        listener.proc.kill();
        std::thread::sleep(Duration::from_millis(100));
        match sink.write(b"{\"n\":2}").await {
            Err(SinkError::Write(text)) => {
                assert!(text.contains(&listener.address), "{kind}: {text}")
            }
            other => panic!("{kind}: write to a vanished listener gave {other:?}"),
        }

        // a listener back on the same unix path: the device reconnects by itself
        if kind == "unix" {
            let back = Listener::start(&py, kind, dir.path());
            sink.write(b"{\"n\":3}").await.unwrap();
            assert_eq!(back.received(1), "{\"n\":3}\n");
        }
    }
}

#[tokio::test]
async fn socket_write_that_cannot_finish_in_time_is_an_error() {
    let Some(py) = python() else { return };
    let dir = TempDir::new("socket-stall");
    // accepts, never reads: the kernel buffers fill and the write blocks
    let listener = Listener::start(&py, "stall", dir.path());
    let sink = open_sink(
        "socket",
        &opts(&[("address", &listener.address), ("write_timeout", "300ms")]),
    )
    .await
    .unwrap();
    let big = vec![b'x'; 32 << 20];
    let started = Instant::now();
    match sink.write(&big).await {
        Err(SinkError::Write(text)) => assert!(text.contains("timed out"), "{text}"),
        other => panic!("a stalled write gave {other:?}"),
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "took {took:?}"
    );
}

#[tokio::test]
async fn syslog_sends_rfc3164_datagrams_to_the_local_socket() {
    let Some(py) = python() else { return };
    let dir = TempDir::new("syslog");
    let listener = Listener::start(&py, "unixgram", dir.path());
    let entry = br#"{"type":"response","auth":{"client_token":"hmac-sha256:ab"}}"#;

    let sink = open_sink("syslog", &opts(&[("socket_path", &listener.address)]))
        .await
        .unwrap();
    sink.write(entry).await.unwrap();
    let sink = open_sink(
        "syslog",
        &opts(&[
            ("socket_path", &listener.address),
            ("facility", "local0"),
            ("tag", "vault"),
        ]),
    )
    .await
    .unwrap();
    sink.write(entry).await.unwrap();

    // datagrams carry no newline: wait for both to land
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = String::new();
    while Instant::now() < deadline {
        got = std::fs::read_to_string(&listener.out).unwrap();
        if got.matches(": {").count() >= 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = std::process::id();
    let body = std::str::from_utf8(entry).unwrap();
    // <facility*8 + info(6)>: AUTH is 4 -> 38, LOCAL0 is 16 -> 134
    let (first, second) = got.split_at(got.find("<134>").expect("no LOCAL0 message"));
    for (message, pri, tag) in [(first, "<38>", "coffer"), (second, "<134>", "vault")] {
        let rest = message
            .strip_prefix(pri)
            .unwrap_or_else(|| panic!("{message:?}"));
        // "Mmm dd hh:mm:ss " is 16 characters
        let (stamp, rest) = rest.split_at(16);
        assert!(
            chrono::NaiveTime::parse_from_str(&stamp[7..15], "%H:%M:%S").is_ok(),
            "stamp {stamp:?}"
        );
        assert_eq!(rest, format!("{tag}[{pid}]: {body}"));
    }
}

#[tokio::test]
async fn syslog_without_a_daemon_fails_to_open() {
    let dir = TempDir::new("syslog-none");
    let missing = dir.path().join("no-daemon");
    match open_sink(
        "syslog",
        &opts(&[("socket_path", missing.to_str().unwrap())]),
    )
    .await
    {
        Err(SinkError::Options(text)) => assert!(text.contains("cannot send to"), "{text}"),
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("opened a syslog device with no daemon"),
    }
}
