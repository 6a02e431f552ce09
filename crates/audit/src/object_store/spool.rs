//! The spool directory of an object-store device: the segment being written
//! and the sealed segments waiting for upload, plus the segment counter.
//!
//! ```text
//! spool_dir/
//!   counter                                   next segment number (decimal)
//!   0000000042-20261207T154700Z.jsonl.open    the current segment
//!   0000000041-20261207T154200Z.jsonl         sealed, waiting for upload
//! ```
//!
//! A segment's name carries its counter and its start time (UTC), which
//! make its object key. Everything here is blocking file I/O: the caller
//! runs it on a blocking thread, under one mutex.
//!
//! Durability: a line is appended with one `write` (handed to the OS, like
//! the file device: it survives a crash of the process, not of the host).
//! A segment is `fsync`ed when it is sealed, and the counter file whenever
//! it changes, so what is sealed and how far the counter went survive a
//! host crash. Syncing every line would cost a disk flush per request.

use chrono::{DateTime, NaiveDateTime, Utc};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const COUNTER_FILE: &str = "counter";
const SEALED_SUFFIX: &str = ".jsonl";
const OPEN_SUFFIX: &str = ".jsonl.open";
const STAMP_FORMAT: &str = "%Y%m%dT%H%M%SZ";

/// How large and how old segments grow, and how much the spool may hold.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub segment_max_bytes: u64,
    pub segment_max_age: Duration,
    pub spool_max_bytes: u64,
}

/// A sealed segment, ready to upload.
#[derive(Clone, Debug)]
pub(crate) struct Sealed {
    pub counter: u64,
    pub started: DateTime<Utc>,
    pub path: PathBuf,
    pub bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum SpoolError {
    #[error(
        "spool full: {held} bytes wait for upload and spool_max_bytes is {max} (is the object store reachable?)"
    )]
    Full { held: u64, max: u64 },
    #[error("spool: {0}")]
    Io(#[from] io::Error),
}

struct Current {
    file: File,
    counter: u64,
    started: DateTime<Utc>,
    opened: Instant,
    bytes: u64,
}

pub(crate) struct Spool {
    dir: PathBuf,
    limits: Limits,
    next_counter: u64,
    current: Option<Current>,
    /// Bytes of every segment file, current and sealed.
    bytes: u64,
    /// Number of segment files, current and sealed.
    segments: u64,
}

impl Spool {
    /// Open (creating) the spool in `dir`. Segments left by a previous run
    /// are sealed, so they upload; a torn last line (the process died in
    /// the middle of a write, which therefore never returned) is cut off.
    pub(crate) fn open(dir: &Path, limits: Limits) -> io::Result<Spool> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let mut next_counter = read_counter(dir)?.max(1);
        let (mut bytes, mut segments) = (0, 0);
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some((counter, started, open)) = parse_name(name) else {
                continue;
            };
            next_counter = next_counter.max(counter + 1);
            let mut path = entry.path();
            if open {
                let kept = cut_torn_line(&path)?;
                if kept == 0 {
                    fs::remove_file(&path)?;
                    continue;
                }
                let sealed = dir.join(sealed_name(counter, started));
                fs::rename(&path, &sealed)?;
                path = sealed;
            }
            bytes += fs::metadata(&path)?.len();
            segments += 1;
        }
        sync_dir(dir)?;
        write_counter(dir, next_counter)?;
        Ok(Spool {
            dir: dir.to_path_buf(),
            limits,
            next_counter,
            current: None,
            bytes,
            segments,
        })
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    pub(crate) fn segments(&self) -> u64 {
        self.segments
    }

    /// Append one line (the newline is added here). Returns whether a
    /// segment was sealed on the way (the uploader has work).
    pub(crate) fn append(&mut self, line: &[u8]) -> Result<bool, SpoolError> {
        let framed = line.len() as u64 + 1;
        let mut sealed = false;
        if let Some(cur) = &self.current
            && cur.bytes > 0
            && (cur.bytes + framed > self.limits.segment_max_bytes
                || cur.opened.elapsed() >= self.limits.segment_max_age)
        {
            sealed = self.seal()?;
        }
        if self.bytes + framed > self.limits.spool_max_bytes {
            return Err(SpoolError::Full {
                held: self.bytes,
                max: self.limits.spool_max_bytes,
            });
        }
        let mut cur = match self.current.take() {
            Some(cur) => cur,
            None => self.start_segment()?,
        };
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line);
        buf.push(b'\n');
        let written = cur.file.write_all(&buf);
        if let Err(e) = written {
            // keep the segment whole lines only: drop what got out of this one
            let _ = cur
                .file
                .set_len(cur.bytes)
                .and_then(|()| cur.file.seek(SeekFrom::End(0)).map(drop));
            self.current = Some(cur);
            return Err(e.into());
        }
        cur.bytes += framed;
        self.bytes += framed;
        self.current = Some(cur);
        Ok(sealed)
    }

    /// Seal the current segment if it is older than `segment_max_age`.
    pub(crate) fn seal_if_old(&mut self) -> io::Result<bool> {
        match &self.current {
            Some(cur) if cur.opened.elapsed() >= self.limits.segment_max_age => self.seal(),
            _ => Ok(false),
        }
    }

    /// Seal the current segment (sync it, rename it for upload). Returns
    /// whether there was a non-empty one.
    pub(crate) fn seal(&mut self) -> io::Result<bool> {
        let Some(cur) = self.current.take() else {
            return Ok(false);
        };
        let open = self.dir.join(open_name(cur.counter, cur.started));
        if cur.bytes == 0 {
            drop(cur.file);
            fs::remove_file(&open)?;
            self.segments -= 1;
            return Ok(false);
        }
        let done = cur
            .file
            .sync_all()
            .and_then(|()| fs::rename(&open, self.dir.join(sealed_name(cur.counter, cur.started))));
        if let Err(e) = done {
            self.current = Some(cur);
            return Err(e);
        }
        sync_dir(&self.dir)?;
        Ok(true)
    }

    /// The sealed segments, oldest (lowest counter) first.
    pub(crate) fn sealed(&self) -> io::Result<Vec<Sealed>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some((counter, started, false)) = parse_name(name) {
                out.push(Sealed {
                    counter,
                    started,
                    path: entry.path(),
                    bytes: entry.metadata()?.len(),
                });
            }
        }
        out.sort_by_key(|s| s.counter);
        Ok(out)
    }

    /// An uploaded segment leaves the spool.
    pub(crate) fn remove(&mut self, segment: &Sealed) -> io::Result<()> {
        match fs::remove_file(&segment.path) {
            // a device on this spool just before us (dropped, its task not
            // yet stopped) uploaded and removed it: it is gone all the same
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        self.bytes = self.bytes.saturating_sub(segment.bytes);
        self.segments = self.segments.saturating_sub(1);
        Ok(())
    }

    fn start_segment(&mut self) -> io::Result<Current> {
        let counter = self.next_counter;
        // the counter is on disk before the segment exists: a crash can skip
        // a number, never reuse one
        write_counter(&self.dir, counter + 1)?;
        self.next_counter = counter + 1;
        let started = Utc::now();
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .mode(0o600)
            .open(self.dir.join(open_name(counter, started)))?;
        self.segments += 1;
        Ok(Current {
            file,
            counter,
            started,
            opened: Instant::now(),
            bytes: 0,
        })
    }
}

fn open_name(counter: u64, started: DateTime<Utc>) -> String {
    format!(
        "{counter:010}-{}{OPEN_SUFFIX}",
        started.format(STAMP_FORMAT)
    )
}

fn sealed_name(counter: u64, started: DateTime<Utc>) -> String {
    format!(
        "{counter:010}-{}{SEALED_SUFFIX}",
        started.format(STAMP_FORMAT)
    )
}

/// `(counter, start time, still open)` of a segment file name.
fn parse_name(name: &str) -> Option<(u64, DateTime<Utc>, bool)> {
    let (stem, open) = match name.strip_suffix(OPEN_SUFFIX) {
        Some(stem) => (stem, true),
        None => (name.strip_suffix(SEALED_SUFFIX)?, false),
    };
    let (counter, stamp) = stem.split_once('-')?;
    if counter.len() != 10 || !counter.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let started = NaiveDateTime::parse_from_str(stamp, STAMP_FORMAT)
        .ok()?
        .and_utc();
    Some((counter.parse().ok()?, started, open))
}

fn read_counter(dir: &Path) -> io::Result<u64> {
    match fs::read_to_string(dir.join(COUNTER_FILE)) {
        Ok(text) => text.trim().parse().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} is not a number", dir.join(COUNTER_FILE).display()),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e),
    }
}

/// Replace the counter file atomically (write, sync, rename, sync the dir).
fn write_counter(dir: &Path, next: u64) -> io::Result<()> {
    let tmp = dir.join(format!("{COUNTER_FILE}.tmp"));
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(format!("{next}\n").as_bytes())?;
    file.sync_all()?;
    fs::rename(&tmp, dir.join(COUNTER_FILE))?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Cut a file back to its last newline; returns the length kept.
fn cut_torn_line(path: &Path) -> io::Result<u64> {
    let mut file = OpenOptions::new().read(true).write(true).open(path)?;
    let mut content = Vec::new();
    file.read_to_end(&mut content)?;
    let keep = content
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1) as u64;
    if keep != content.len() as u64 {
        file.set_len(keep)?;
        file.sync_all()?;
    }
    Ok(keep)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(segment_max_bytes: u64, spool_max_bytes: u64) -> Limits {
        Limits {
            segment_max_bytes,
            segment_max_age: Duration::from_secs(3600),
            spool_max_bytes,
        }
    }

    fn tempdir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("coffer-spool-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn rolls_by_size_and_keeps_order() {
        let dir = tempdir("roll");
        let mut spool = Spool::open(&dir, limits(20, 1000)).unwrap();
        for i in 0..5 {
            spool.append(format!("line-{i:04}").as_bytes()).unwrap(); // 10 bytes framed
        }
        spool.seal().unwrap();
        let sealed = spool.sealed().unwrap();
        assert_eq!(
            sealed.iter().map(|s| s.counter).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        let all: String = sealed
            .iter()
            .map(|s| fs::read_to_string(&s.path).unwrap())
            .collect();
        assert_eq!(
            all,
            "line-0000\nline-0001\nline-0002\nline-0003\nline-0004\n"
        );
        assert_eq!(spool.bytes(), 50);
        assert_eq!(spool.segments(), 3);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn full_spool_refuses_and_nothing_is_written() {
        let dir = tempdir("full");
        let mut spool = Spool::open(&dir, limits(1000, 25)).unwrap();
        spool.append(b"0123456789").unwrap();
        spool.append(b"0123456789").unwrap();
        let err = spool.append(b"0123456789").unwrap_err();
        assert!(
            matches!(err, SpoolError::Full { held: 22, max: 25 }),
            "{err}"
        );
        assert_eq!(spool.bytes(), 22);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn reopen_seals_leftovers_cuts_torn_lines_and_continues_the_counter() {
        let dir = tempdir("reopen");
        {
            let mut spool = Spool::open(&dir, limits(1000, 1000)).unwrap();
            spool.append(b"first").unwrap();
            spool.seal().unwrap();
            spool.append(b"second").unwrap();
            // a write torn by a crash: no newline
            let open = fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|p| p.to_string_lossy().ends_with(OPEN_SUFFIX))
                .unwrap();
            OpenOptions::new()
                .append(true)
                .open(open)
                .unwrap()
                .write_all(b"{\"tor")
                .unwrap();
        }
        let mut spool = Spool::open(&dir, limits(1000, 1000)).unwrap();
        let sealed = spool.sealed().unwrap();
        assert_eq!(
            sealed.iter().map(|s| s.counter).collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert_eq!(fs::read_to_string(&sealed[1].path).unwrap(), "second\n");
        assert_eq!(spool.bytes(), 13);
        spool.append(b"third").unwrap();
        spool.seal().unwrap();
        assert_eq!(spool.sealed().unwrap().last().unwrap().counter, 3);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn names_round_trip() {
        let started = NaiveDateTime::parse_from_str("20261207T154700Z", STAMP_FORMAT)
            .unwrap()
            .and_utc();
        assert_eq!(
            parse_name(&sealed_name(42, started)),
            Some((42, started, false))
        );
        assert_eq!(parse_name(&open_name(7, started)), Some((7, started, true)));
        for bad in [
            "counter",
            "42-20261207T154700Z.jsonl",
            "0000000042-nonsense.jsonl",
            "0000000042.jsonl",
        ] {
            assert_eq!(parse_name(bad), None, "{bad}");
        }
    }
}
