//! `file` audit devices: Vault's options `file_path` (a path, or the special
//! `stdout` and `discard`) and `mode` (octal, default `0600`; `0000` leaves
//! the permissions alone). Lines are appended, one per entry, each ending in
//! `\n`; SIGHUP reopens the path (log rotation: rename the file, send
//! SIGHUP, the device starts a new file at the same path).
//!
//! # Why a writer thread
//!
//! A write to a file can block for as long as the disk or the network
//! filesystem likes. The core bounds every device write with a timeout, and
//! that timeout must still fire when the write hangs, so the write cannot
//! run on the async worker that awaits it (a blocking `write(2)` there never
//! yields, the timer never runs). ARCHITECTURE.md keeps tokio's blocking
//! pool for the hashing pool alone (and `tokio::fs` is that pool in
//! disguise), so each file device owns one plain OS thread that does its
//! `open`/`write`/`rename`-safe `reopen` with `std::fs`, and callers hand it
//! lines through a bounded channel and await its answer. Order is kept (one
//! thread, one queue), a hung disk stalls only that thread and the queue
//! behind it (the core's timeout answers the callers), and the other
//! devices carry on.
//!
//! # Group commit
//!
//! The thread writes every line waiting in its queue with one `write(2)`
//! (up to [`BATCH_BYTES`]) and then answers each caller: under load one
//! system call carries many entries. A failed write fails every line of it.

use crate::sink::{Options, Sink, SinkError};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Lines queued for one file device before writers wait (each waits under
/// the core's write timeout).
const QUEUE: usize = 1024;

/// Most bytes the writer thread gathers from its queue into one write.
const BATCH_BYTES: usize = 1 << 20;

pub async fn open(options: &Options) -> Result<Arc<dyn Sink>, SinkError> {
    let path = match options.get("file_path").or_else(|| options.get("path")) {
        Some(p) if !p.is_empty() => p.clone(),
        _ => return Err(SinkError::Options("file_path is required".into())),
    };
    let mode = parse_mode(options.get("mode").map(String::as_str))?;
    if path == "discard" {
        return Ok(Arc::new(Discard));
    }
    let target = if path == "stdout" {
        Target::Stdout
    } else {
        Target::Path(PathBuf::from(&path), mode)
    };
    // Probe: open now, so a bad path is the enable request's 400.
    let file = target.open().map_err(|e| {
        SinkError::Options(format!(
            "sanity check failed; unable to open {path:?} for writing: {e}"
        ))
    })?;
    let (tx, rx) = mpsc::channel(QUEUE);
    std::thread::Builder::new()
        .name("audit-file".into())
        .spawn(move || writer(target, file, rx))
        .map_err(|e| SinkError::Options(format!("cannot start the device's writer thread: {e}")))?;
    Ok(Arc::new(FileSink { tx }))
}

/// `mode` as Vault reads it: octal digits; `None` = 0600; `Some(0)` = do
/// not touch the permissions.
fn parse_mode(v: Option<&str>) -> Result<Option<u32>, SinkError> {
    match v {
        None | Some("") => Ok(Some(0o600)),
        Some(s) => match u32::from_str_radix(s, 8) {
            Ok(0) => Ok(None),
            Ok(m) if m <= 0o7777 => Ok(Some(m)),
            _ => Err(SinkError::Options(format!(
                "invalid mode {s:?}: an octal file mode such as \"0600\""
            ))),
        },
    }
}

enum Target {
    Stdout,
    Path(PathBuf, Option<u32>),
}

impl Target {
    fn open(&self) -> std::io::Result<Option<File>> {
        match self {
            Target::Stdout => Ok(None),
            Target::Path(p, mode) => {
                // As Vault and OpenBao: the directory is created if missing.
                if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::DirBuilder::new()
                        .recursive(true)
                        .mode(0o700)
                        .create(dir)?;
                }
                let f = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode(mode.unwrap_or(0o600))
                    .open(p)?;
                if let Some(m) = mode {
                    // An existing file keeps the mode it was created with: set it, as Vault does.
                    f.set_permissions(std::fs::Permissions::from_mode(*m))?;
                }
                Ok(Some(f))
            }
        }
    }
}

type Reply = oneshot::Sender<Result<(), SinkError>>;

enum Job {
    /// Bytes of one or more whole lines, each ending in `\n`.
    Write(Vec<u8>, Reply),
    Reopen(Reply),
}

/// The device's thread: owns the file, ends when the sink is dropped.
fn writer(target: Target, mut file: Option<File>, mut rx: mpsc::Receiver<Job>) {
    // `None` with a path target: the last reopen failed; every write tries again.
    let mut broken = false;
    // A job taken from the queue behind a batch, served next.
    let mut next: Option<Job> = None;
    while let Some(job) = next.take().or_else(|| rx.blocking_recv()) {
        match job {
            Job::Write(mut line, reply) => {
                // Gather what else is waiting into the same write.
                let mut replies = vec![reply];
                while line.len() < BATCH_BYTES {
                    match rx.try_recv() {
                        Ok(Job::Write(more, r)) => {
                            line.extend_from_slice(&more);
                            replies.push(r);
                        }
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                let r = match &target {
                    Target::Stdout => {
                        let mut out = std::io::stdout().lock();
                        out.write_all(&line).and_then(|_| out.flush())
                    }
                    Target::Path(..) => {
                        if broken {
                            match target.open() {
                                Ok(f) => {
                                    file = f;
                                    broken = false;
                                }
                                Err(e) => {
                                    let e = format!("audit file cannot be opened: {e}");
                                    for reply in replies {
                                        let _ = reply.send(Err(SinkError::Write(e.clone())));
                                    }
                                    continue;
                                }
                            }
                        }
                        match file.as_mut() {
                            Some(f) => f.write_all(&line),
                            None => Err(std::io::Error::other("audit file is not open")),
                        }
                    }
                };
                let r = r.map_err(|e| format!("audit file write failed: {e}"));
                for reply in replies {
                    let _ = reply.send(r.clone().map_err(SinkError::Write));
                }
            }
            Job::Reopen(reply) => {
                let r = match target.open() {
                    Ok(f) => {
                        file = f;
                        broken = false;
                        Ok(())
                    }
                    Err(e) => {
                        // The old file is closed either way: what follows must go to the
                        // path, or fail (and count against fail-closed), not to a renamed file.
                        file = None;
                        broken = true;
                        Err(SinkError::Write(format!(
                            "audit file cannot be reopened: {e}"
                        )))
                    }
                };
                let _ = reply.send(r);
            }
        }
    }
}

struct FileSink {
    tx: mpsc::Sender<Job>,
}

impl FileSink {
    async fn ask(
        &self,
        job: impl FnOnce(oneshot::Sender<Result<(), SinkError>>) -> Job,
    ) -> Result<(), SinkError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(job(reply))
            .await
            .map_err(|_| SinkError::Write("audit file writer stopped".into()))?;
        answer
            .await
            .map_err(|_| SinkError::Write("audit file writer stopped".into()))?
    }
}

#[async_trait::async_trait]
impl Sink for FileSink {
    async fn write(&self, line: &[u8]) -> Result<(), SinkError> {
        let mut framed = Vec::with_capacity(line.len() + 1);
        framed.extend_from_slice(line);
        framed.push(b'\n');
        self.ask(|r| Job::Write(framed, r)).await
    }

    async fn write_batch(&self, lines: &[Vec<u8>]) -> Result<(), SinkError> {
        let mut framed = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
        for l in lines {
            framed.extend_from_slice(l);
            framed.push(b'\n');
        }
        self.ask(|r| Job::Write(framed, r)).await
    }

    async fn reopen(&self) -> Result<(), SinkError> {
        self.ask(Job::Reopen).await
    }
}

/// `file_path = "discard"`: entries are formatted (and count as written) but go nowhere.
struct Discard;

#[async_trait::async_trait]
impl Sink for Discard {
    async fn write(&self, _line: &[u8]) -> Result<(), SinkError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::options as opts;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_and_batches_each_land_once_as_whole_lines() {
        let dir = std::env::temp_dir().join(format!("coffer-audit-batch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("b.log");
        let s = open(&opts(&[("file_path", p.to_str().unwrap())])).await.unwrap();
        let mut tasks = Vec::new();
        for t in 0..16 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..50 {
                    s.write(format!("{{\"t\":{t},\"i\":{i}}}").as_bytes()).await.unwrap();
                }
                let batch: Vec<Vec<u8>> = (0..3).map(|i| format!("{{\"t\":{t},\"b\":{i}}}").into_bytes()).collect();
                s.write_batch(&batch).await.unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let text = std::fs::read_to_string(&p).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 16 * 53);
        lines.sort_unstable();
        lines.dedup();
        assert_eq!(lines.len(), 16 * 53, "a line was written twice");
        // One writer's lines keep their order, and a batch stays together.
        let t3: Vec<&str> = text.lines().filter(|l| l.starts_with("{\"t\":3,")).collect();
        assert!(t3[..50].iter().enumerate().all(|(i, l)| l.ends_with(&format!("\"i\":{i}}}"))));
        assert_eq!(t3[50..], ["{\"t\":3,\"b\":0}", "{\"t\":3,\"b\":1}", "{\"t\":3,\"b\":2}"]);
        let all: Vec<&str> = text.lines().collect();
        let at = all.iter().position(|l| *l == "{\"t\":3,\"b\":0}").unwrap();
        assert_eq!(all[at + 1..at + 3], ["{\"t\":3,\"b\":1}", "{\"t\":3,\"b\":2}"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn appends_lines_sets_mode_and_reopens_after_rename() {
        let dir = std::env::temp_dir().join(format!("coffer-audit-file-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("a.log");
        let s = open(&opts(&[("file_path", p.to_str().unwrap())]))
            .await
            .unwrap();
        s.write(b"{\"a\":1}").await.unwrap();
        s.write(b"{\"a\":2}").await.unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "{\"a\":1}\n{\"a\":2}\n"
        );
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o7777,
            0o600
        );
        std::fs::rename(&p, dir.join("a.log.1")).unwrap();
        s.write(b"{\"a\":3}").await.unwrap();
        s.reopen().await.unwrap();
        s.write(b"{\"a\":4}").await.unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("a.log.1"))
                .unwrap()
                .lines()
                .count(),
            3
        );
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "{\"a\":4}\n");
        // The directory is replaced by a file: reopen fails and so does every write after it.
        std::fs::remove_dir_all(&dir).unwrap();
        std::fs::write(&dir, b"not a directory").unwrap();
        assert!(s.reopen().await.is_err());
        assert!(s.write(b"{}").await.is_err());
        std::fs::remove_file(&dir).unwrap();
        // A missing directory is created again (as Vault), and writes resume.
        s.write(b"{\"a\":5}").await.unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "{\"a\":5}\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn bad_options_are_refused() {
        assert!(matches!(open(&opts(&[])).await, Err(SinkError::Options(_))));
        assert!(matches!(
            open(&opts(&[("file_path", "/dev/null/x/a.log")])).await,
            Err(SinkError::Options(_))
        ));
        assert!(matches!(
            open(&opts(&[("file_path", "discard"), ("mode", "999")])).await,
            Err(SinkError::Options(_))
        ));
        assert!(open(&opts(&[("file_path", "discard")])).await.is_ok());
    }
}
