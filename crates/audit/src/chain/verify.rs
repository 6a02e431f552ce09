//! Checking a device's lines (`coffer audit verify`): the chain from line to
//! line, the signatures of marks, the front and the tail.
//!
//! Lines are fed in order (files oldest first); the verifier stops at the
//! first break and names it: the file, the line number and the seq. What it
//! can judge:
//! - every line after the first must continue the previous one
//!   (seq + 1, `prev` = hash of the previous line), except a signed `resume`
//!   line that continues from an earlier mark (a restart after a crash: the
//!   lines between are an unsigned branch, reported as a warning);
//! - the first line must be seq 0 with the genesis `prev`, or a signed mark
//!   (a rotated file, or a log whose older files were removed, starts with one);
//! - every mark's signature must verify with one of the given public keys;
//! - with a trusted checkpoint (from the server or a file), it must be in
//!   the lines: otherwise the tail was cut (or the chain rewritten).
//!
//! Without a public key the order is checked but nothing is authenticated;
//! anyone able to rewrite the file can rebuild an unsigned chain.

use super::{Checkpoint, Digest, GENESIS, hashed_part, key_id, mark_message, signature_ok};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::BufRead;
use std::sync::Arc;

/// How far past a gap the verifier looks for the missing seq, to tell
/// reordered lines from deleted ones.
const LOOKAHEAD: u64 = 10_000;

/// A line: its file, its 1-based number and (when readable) its seq.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Place {
    #[serde(serialize_with = "as_str")]
    pub file: Arc<str>,
    pub line: u64,
    pub seq: Option<u64>,
}

fn as_str<S: serde::Serializer>(v: &Arc<str>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v)
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} line {}", self.file, self.line)?;
        if let Some(s) = self.seq {
            write!(f, " (seq {s})")?;
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Not a JSON object, or a chain/mark member of the wrong shape.
    Malformed,
    /// A line without a chain member.
    NotChained,
    Modified,
    Deleted,
    Inserted,
    Reordered,
    FrontCut,
    TailCut,
    BadSignature,
    /// A warning: lines no signature covers (the tail, or a branch cut off
    /// by a restart after a crash).
    UnsignedLines,
    /// A warning: no public key, so marks were not authenticated.
    Unauthenticated,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    pub kind: Kind,
    pub place: Option<Place>,
    pub message: String,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub lines: u64,
    pub entries: u64,
    pub checkpoints: u64,
    pub resumes: u64,
    pub first: Option<Place>,
    pub last: Option<Place>,
    /// The last mark whose signature verified.
    pub signed_through: Option<Place>,
    /// Lines after `signed_through` (all lines when nothing is signed).
    pub unsigned_tail: u64,
    pub signatures_checked: bool,
    /// Where the trusted checkpoint was found, when one was given.
    pub trusted_checkpoint: Option<Place>,
    pub warnings: Vec<Finding>,
    pub broken: Option<Finding>,
}

impl Report {
    pub fn intact(&self) -> bool {
        self.broken.is_none()
    }
}

#[derive(Deserialize)]
struct Head {
    #[serde(rename = "type")]
    kind: Option<serde_json::Value>,
    time: Option<serde_json::Value>,
    chain: Option<ChainMember>,
    checkpoint: Option<MarkMember>,
    resume: Option<MarkMember>,
}

#[derive(Deserialize)]
struct ChainMember {
    seq: u64,
    prev: Digest,
}

#[derive(Deserialize)]
struct MarkMember {
    seq: Option<u64>,
    head: Option<Digest>,
    key_id: String,
    signature: String,
}

#[derive(Clone)]
struct Seen {
    seq: u64,
    hash: Digest,
    place: Place,
}

/// A gap: seq `want` was expected at `place`; look ahead for it.
struct Pending {
    want: u64,
    got: u64,
    prev: Place,
    place: Place,
    looked: u64,
}

pub struct Verifier {
    keys: Vec<Vec<u8>>,
    trusted: Option<Checkpoint>,
    last: Option<Seen>,
    before_last: Option<Seen>,
    /// Mark lines by (seq, hash): where a `resume` may continue from, with
    /// the count of lines up to them.
    marks: HashMap<(u64, Digest), (Place, u64)>,
    pending: Option<Pending>,
    done: bool,
    report: Report,
}

impl Verifier {
    /// `keys`: trusted Ed25519 public keys (32 raw bytes each); `trusted`:
    /// the latest checkpoint from somewhere other than the files.
    pub fn new(keys: Vec<Vec<u8>>, trusted: Option<Checkpoint>) -> Verifier {
        let report = Report {
            signatures_checked: !keys.is_empty(),
            ..Default::default()
        };
        Verifier {
            keys,
            trusted,
            last: None,
            before_last: None,
            marks: HashMap::new(),
            pending: None,
            done: false,
            report,
        }
    }

    /// Feed every line of `reader` as file `name`. Returns false once the
    /// chain is broken (later input is not read).
    pub fn read(&mut self, name: &str, mut reader: impl BufRead) -> std::io::Result<bool> {
        let name: Arc<str> = Arc::from(name);
        let mut buf = Vec::new();
        let mut n = 0u64;
        loop {
            buf.clear();
            if reader.read_until(b'\n', &mut buf)? == 0 {
                return Ok(!self.done);
            }
            n += 1;
            if buf.last() == Some(&b'\n') {
                buf.pop();
            }
            if !self.line(&name, n, &buf) {
                return Ok(false);
            }
        }
    }

    /// One line (without its newline). Returns false once the chain is broken.
    pub fn line(&mut self, file: &Arc<str>, lineno: u64, bytes: &[u8]) -> bool {
        if self.done {
            return false;
        }
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return true;
        }
        let mut place = Place {
            file: file.clone(),
            line: lineno,
            seq: None,
        };
        if let Some(p) = &mut self.pending {
            // Only looking for the missing seq now.
            let seq = hashed_part(bytes)
                .and_then(|o| serde_json::from_slice::<Head>(o).ok())
                .and_then(|h| h.chain)
                .map(|c| c.seq);
            p.looked += 1;
            if seq == Some(p.want) {
                place.seq = seq;
                let msg = format!(
                    "lines are out of order: {} has seq {} where seq {} was expected (after {}); seq {} is at {place}",
                    p.place, p.got, p.want, p.prev, p.want
                );
                let at = p.place.clone();
                return self.broken(Kind::Reordered, Some(at), msg);
            }
            if p.looked >= LOOKAHEAD {
                return self.settle_pending();
            }
            return true;
        }
        self.report.lines += 1;
        let Some(obj) = hashed_part(bytes) else {
            return self.broken(
                Kind::Malformed,
                Some(place),
                "not a JSON object: a line was inserted or damaged".into(),
            );
        };
        let head: Head = match serde_json::from_slice(obj) {
            Ok(h) => h,
            Err(e) => {
                return self.broken(
                    Kind::Malformed,
                    Some(place),
                    format!("not a readable entry ({e}): a line was modified or damaged"),
                );
            }
        };
        let Some(chain) = &head.chain else {
            return self.broken(
                Kind::NotChained,
                Some(place),
                "the line has no chain member: it was inserted, or written with chain=\"false\""
                    .into(),
            );
        };
        let (seq, prev) = (chain.seq, chain.prev);
        place.seq = Some(seq);
        let hash = Digest::of(obj);
        if self.report.first.is_none() {
            self.report.first = Some(place.clone());
        }

        // A mark: check its shape and signature first.
        let kind = head.kind.as_ref().and_then(|k| k.as_str());
        let mark = match (kind, &head.checkpoint, &head.resume) {
            (Some("checkpoint"), Some(m), _) => Some(("checkpoint", m)),
            (Some("resume"), _, Some(m)) => Some(("resume", m)),
            _ => None,
        };
        let mut signed = false;
        if let Some((mkind, m)) = mark {
            if mkind == "checkpoint" && (m.seq.map(|s| s + 1) != Some(seq) || m.head != Some(prev))
            {
                return self.broken(Kind::Modified, Some(place), "the checkpoint's seq/head do not match its chain position: the line was modified".into());
            }
            let time = head.time.as_ref().and_then(|t| t.as_str()).unwrap_or("");
            if !self.keys.is_empty() {
                let Some(key) = self.keys.iter().find(|k| key_id(k) == m.key_id) else {
                    let msg = format!(
                        "the {mkind} is signed by key {:?}, which is not among the given public keys",
                        m.key_id
                    );
                    return self.broken(Kind::BadSignature, Some(place), msg);
                };
                if !signature_ok(
                    key,
                    &mark_message(mkind, &m.key_id, time, seq, &prev),
                    &m.signature,
                ) {
                    return self.broken(Kind::BadSignature, Some(place), format!("the {mkind}'s signature does not verify: the line was modified or forged"));
                }
                signed = true;
            }
        }

        // Its position.
        match self.last.clone() {
            None => {
                if !(seq == 0 && prev == GENESIS) && mark.is_none() {
                    let msg = format!(
                        "the chain starts at seq {seq}, not at seq 0 or at a signed mark: lines before it were cut at the front"
                    );
                    return self.broken(Kind::FrontCut, Some(place), msg);
                }
            }
            Some(last) if seq == last.seq + 1 && prev == last.hash => {}
            Some(last) => {
                // A restart continues from the last mark the server stored,
                // which is always a mark line (the first start stores its
                // `resume` line), never from nothing.
                let fork = match mark {
                    Some(("resume", _)) => seq
                        .checked_sub(1)
                        .and_then(|s| self.marks.get(&(s, prev)))
                        .cloned(),
                    _ => None,
                };
                match fork {
                    Some((from, after)) => {
                        // What came after that mark is a branch no signature covers.
                        let orphaned = self.report.lines - 1 - after;
                        if orphaned > 0 {
                            let from_text = format!("the mark at {from}");
                            self.report.warnings.push(Finding {
                                kind: Kind::UnsignedLines,
                                place: Some(place.clone()),
                                message: format!(
                                    "{orphaned} line(s) after {from_text} and before this restart are covered by no signature (the server stopped without a final checkpoint)"
                                ),
                            });
                        }
                    }
                    None => return self.gap(last, seq, prev, hash, place),
                }
            }
        }

        if let Some((mkind, _)) = mark {
            self.marks
                .insert((seq, hash), (place.clone(), self.report.lines));
            if mkind == "checkpoint" {
                self.report.checkpoints += 1;
                if let (Some(t), Some((_, m))) = (&self.trusted, mark)
                    && m.seq == Some(t.seq)
                    && m.head == Some(t.head)
                    && m.signature == t.signature
                {
                    self.report.trusted_checkpoint = Some(place.clone());
                }
            } else {
                self.report.resumes += 1;
            }
        } else {
            self.report.entries += 1;
        }
        if signed {
            self.report.signed_through = Some(place.clone());
            self.report.unsigned_tail = 0;
        } else {
            self.report.unsigned_tail += 1;
        }
        self.report.last = Some(place.clone());
        self.before_last = self.last.replace(Seen { seq, hash, place });
        true
    }

    /// The line at `place` does not continue `last`: say why.
    fn gap(&mut self, last: Seen, seq: u64, prev: Digest, hash: Digest, place: Place) -> bool {
        let want = last.seq + 1;
        if seq == want {
            let msg = format!(
                "{} was modified: {place} names a different hash for it",
                last.place
            );
            return self.broken(Kind::Modified, Some(last.place), msg);
        }
        if prev == last.hash {
            return self.broken(
                Kind::Modified,
                Some(place),
                format!(
                    "the line's seq was changed: it continues seq {} but says {seq}",
                    last.seq
                ),
            );
        }
        if hash == last.hash {
            return self.broken(
                Kind::Inserted,
                Some(place.clone()),
                format!("the line is a copy of {}", last.place),
            );
        }
        if let Some(bl) = &self.before_last
            && seq == bl.seq + 1
            && prev == bl.hash
        {
            let msg = format!(
                "{} was inserted: {place} continues the chain from {}",
                last.place, bl.place
            );
            return self.broken(Kind::Inserted, Some(last.place), msg);
        }
        if seq > want {
            self.pending = Some(Pending {
                want,
                got: seq,
                prev: last.place,
                place,
                looked: 0,
            });
            return true;
        }
        let msg = format!(
            "{place} has seq {seq}, which does not follow seq {} at {}: a line was inserted or lines were reordered",
            last.seq, last.place
        );
        self.broken(Kind::Reordered, Some(place), msg)
    }

    fn settle_pending(&mut self) -> bool {
        let Some(p) = self.pending.take() else {
            return !self.done;
        };
        let msg = if p.got == p.want + 1 {
            format!(
                "seq {} is missing between {} and {}: a line was deleted",
                p.want, p.prev, p.place
            )
        } else {
            format!(
                "seq {}..{} are missing between {} and {}: lines were deleted",
                p.want,
                p.got - 1,
                p.prev,
                p.place
            )
        };
        self.broken(Kind::Deleted, Some(p.place), msg)
    }

    fn broken(&mut self, kind: Kind, place: Option<Place>, message: String) -> bool {
        if self.report.broken.is_none() {
            self.report.broken = Some(Finding {
                kind,
                place,
                message,
            });
        }
        self.pending = None;
        self.done = true;
        false
    }

    /// The end of the input: judge the tail and return the report.
    pub fn finish(mut self) -> Report {
        self.settle_pending();
        if self.report.broken.is_none() && self.report.lines == 0 {
            self.broken(Kind::Malformed, None, "no audit lines were read".into());
        }
        if let (None, Some(t)) = (&self.report.broken, self.trusted.clone()) {
            if !self.keys.is_empty() && !self.keys.iter().any(|k| t.signature_ok(k)) {
                self.broken(Kind::BadSignature, None, format!("the given checkpoint (seq {}) is not signed by any of the given public keys", t.seq));
            } else if self.report.trusted_checkpoint.is_none() {
                let end = self.last.as_ref().map(|l| l.seq).unwrap_or(0);
                let place = self.report.last.clone();
                if end <= t.seq {
                    let msg = format!(
                        "the latest signed checkpoint (seq {}, {}) is not in the files: they end at seq {end}; lines after it were cut at the tail",
                        t.seq, t.time
                    );
                    self.broken(Kind::TailCut, place, msg);
                } else {
                    let msg = format!(
                        "the latest signed checkpoint (seq {}, {}) is not in the files although they reach seq {end}: the chain was rewritten",
                        t.seq, t.time
                    );
                    self.broken(Kind::Modified, place, msg);
                }
            }
        }
        if self.report.broken.is_none() {
            if !self.report.signatures_checked {
                self.report.warnings.push(Finding {
                    kind: Kind::Unauthenticated,
                    place: None,
                    message: "no public key given: the order of the lines was checked, no signature was (anyone able to rewrite the files could rebuild the chain)".into(),
                });
            } else if self.report.unsigned_tail > 0 {
                let after = self
                    .report
                    .signed_through
                    .as_ref()
                    .map(|p| format!("after {p}"))
                    .unwrap_or_else(|| "in all".into());
                let judged = if self.trusted.is_some() {
                    ""
                } else {
                    "; without -checkpoint or -address a cut at the tail cannot be judged"
                };
                self.report.warnings.push(Finding {
                    kind: Kind::UnsignedLines,
                    place: self.report.last.clone(),
                    message: format!("the last {} line(s) {after} are not yet covered by a checkpoint signature{judged}", self.report.unsigned_tail),
                });
            }
        }
        self.report
    }
}
