//! Real peers for the sink tests, run with the test venv's Python: socket
//! listeners (`listener.py`) and a moto S3 server (`s3.py` sets up and reads
//! buckets). Every process is killed when its handle drops.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The Python to run the helpers with: `COFFER_TEST_PYTHON` (scripts/test.sh
/// sets it; then a missing module is a failure), else the shared venv. `None`
/// (the caller skips) only when neither exists.
pub fn python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("COFFER_TEST_PYTHON").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let venv = PathBuf::from("/work/.venv-main/bin/python");
    if venv.exists() {
        return Some(venv);
    }
    eprintln!(
        "SKIPPED: no Python for the audit sink tests (set COFFER_TEST_PYTHON to a venv with tests/requirements.txt)"
    );
    None
}

pub fn support_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/support")
        .join(name)
}

/// A fresh, empty temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("coffer-audit-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process, killed (and reaped) on drop.
pub struct Proc(pub Child);

impl Proc {
    pub fn pid(&self) -> i32 {
        self.0.id() as i32
    }
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(ok.success(), "kill -{sig} failed");
    }
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // a stopped process must be continued to die of SIGKILL promptly
        let _ = Command::new("kill")
            .args(["-CONT", &self.pid().to_string()])
            .stderr(Stdio::null())
            .status();
        self.kill();
    }
}

/// A listener from listener.py: `kind` tcp, udp, unix, unixgram or stall.
pub struct Listener {
    pub proc: Proc,
    pub address: String,
    pub out: PathBuf,
}

impl Listener {
    pub fn start(python: &Path, kind: &str, dir: &Path) -> Listener {
        let out = dir.join(format!("{kind}.out"));
        let sock = dir.join(format!("{kind}.sock"));
        let mut child = Command::new(python)
            .arg(support_file("listener.py"))
            .args([kind, out.to_str().unwrap(), sock.to_str().unwrap()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start listener.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let address = line
            .strip_prefix("READY ")
            .unwrap_or_else(|| panic!("listener said {line:?}"))
            .trim()
            .to_string();
        Listener {
            proc: Proc(child),
            address,
            out,
        }
    }

    /// What the listener has received so far, waiting until it holds
    /// `want_lines` lines (or 10 s).
    pub fn received(&self, want_lines: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = std::fs::read_to_string(&self.out).unwrap_or_default();
            if text.lines().count() >= want_lines || Instant::now() > deadline {
                return text;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A moto S3 server on 127.0.0.1.
pub struct Moto {
    pub proc: Proc,
    pub endpoint: String,
    python: PathBuf,
}

impl Moto {
    pub fn start(python: &Path) -> Moto {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(python)
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto.server");
        let proc = Proc(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto did not start (is moto[server] installed in {python:?}?)"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto {
            proc,
            endpoint: format!("http://127.0.0.1:{port}"),
            python: python.to_path_buf(),
        }
    }

    fn s3(&self, args: &[&str]) -> Vec<u8> {
        let out = Command::new(&self.python)
            .arg(support_file("s3.py"))
            .arg(&self.endpoint)
            .args(args)
            .output()
            .expect("run s3.py");
        assert!(
            out.status.success(),
            "s3.py {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    pub fn create_bucket(&self, bucket: &str, lock: bool) {
        let mut args = vec!["create", bucket];
        if lock {
            args.push("lock");
        }
        self.s3(&args);
    }

    pub fn put(&self, bucket: &str, key: &str, text: &str) {
        self.s3(&["put", bucket, key, text]);
    }

    pub fn list(&self, bucket: &str) -> Vec<serde_json::Value> {
        serde_json::from_slice(&self.s3(&["list", bucket])).unwrap()
    }

    pub fn get(&self, bucket: &str, key: &str) -> String {
        String::from_utf8(self.s3(&["get", bucket, key])).unwrap()
    }
}
