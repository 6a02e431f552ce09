//! Hash chains and signed checkpoints: tamper evidence for one device's lines.
//!
//! Every line a chained device writes carries one extra top-level member,
//! `"chain":{"seq":N,"prev":"sha256:<hex>"}`: its position in the device's
//! chain and the SHA-256 of the previous line. The hashed bytes of a line are
//! exactly the bytes written, from its first `{` to its last byte (the final
//! `}`), chain member included; anything before the first `{` (the device's
//! `prefix` option) and the newline the sink adds are not hashed. The first
//! line of a chain has seq 0 and `prev` = [`GENESIS`] (`sha256:` and 64 zeros).
//!
//! Besides entries the device writes *marks*, signed with the device's
//! Ed25519 key:
//! - `{"type":"checkpoint","time":T,"checkpoint":{"seq":N,"head":H,"key_id":K,"signature":S},"chain":{"seq":N+1,"prev":H}}`
//!   every `checkpoint_entries` entries, every `checkpoint_interval` when
//!   entries are unsigned, on SIGHUP (so a rotated file starts with one) and
//!   on close: "the line at seq N hashes to H".
//! - `{"type":"resume","time":T,"resume":{"key_id":K,"signature":S},"chain":{"seq":M,"prev":P}}`
//!   as the first line after every start (enable, unseal, restart): it
//!   continues after the last mark the server stored ([`ResumePoint`]), or
//!   starts a new chain at seq 0. After a crash the lines written since that
//!   mark are an unsigned branch the verifier reports as such.
//!
//! The signed bytes ([`mark_message`]) name the mark line's own chain
//! position, so a signature covers everything before the mark:
//! `coffer-audit-chain-v1\n{kind}\n{key_id}\n{time}\n{seq}\n{prev}\n`.
//!
//! [`verify`] checks files of such lines.

pub mod verify;

use crate::sink::{Options, SinkError};
use aws_lc_rs::digest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use zeroize::Zeroizing;

/// `prev` of a chain's first line.
pub const GENESIS: Digest = Digest([0; 32]);
pub const DEFAULT_CHECKPOINT_ENTRIES: u64 = 1000;
pub const DEFAULT_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(60);
/// Larger values would leave most entries unsigned for long; smaller
/// intervals than a second only add lines.
const MAX_CHECKPOINT_ENTRIES: u64 = 1_000_000;
const MIN_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);

/// A SHA-256 value, written `sha256:<64 lowercase hex>`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    pub fn of(bytes: &[u8]) -> Digest {
        let d = digest::digest(&digest::SHA256, bytes);
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        Digest(out)
    }

    /// Append `sha256:<hex>` to `out` (no allocation beyond `out`'s growth).
    pub fn write_to(&self, out: &mut Vec<u8>) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        out.extend_from_slice(b"sha256:");
        for b in self.0 {
            out.push(HEX[(b >> 4) as usize]);
            out.push(HEX[(b & 15) as usize]);
        }
    }

    pub fn parse(s: &str) -> Option<Digest> {
        let hex = s.strip_prefix("sha256:")?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(hex, &mut out).ok()?;
        Some(Digest(out))
    }
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sha256:{}", hex::encode(self.0))
    }
}

impl std::fmt::Debug for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Digest, D::Error> {
        let s = String::deserialize(d)?;
        Digest::parse(&s).ok_or_else(|| serde::de::Error::custom("expected sha256:<64 hex digits>"))
    }
}

/// The part of a line that is hashed: from its first `{` on (a `prefix`
/// before it is not). `None` when the line holds no JSON object.
pub fn hashed_part(line: &[u8]) -> Option<&[u8]> {
    let start = line.iter().position(|&b| b == b'{')?;
    Some(&line[start..])
}

/// The key id of an Ed25519 public key: the first 16 hex digits of the
/// SHA-256 of its 32 raw bytes.
pub fn key_id(public_key: &[u8]) -> String {
    hex::encode(&Digest::of(public_key).0[..8])
}

/// The bytes a mark's signature covers: the mark's kind, key, time and its
/// own chain position (`seq`, `prev`).
pub fn mark_message(kind: &str, key_id: &str, time: &str, seq: u64, prev: &Digest) -> Vec<u8> {
    format!("coffer-audit-chain-v1\n{kind}\n{key_id}\n{time}\n{seq}\n{prev}\n").into_bytes()
}

/// Whether `signature` (`ed25519:<base64>`) by `public_key` covers `message`.
pub fn signature_ok(public_key: &[u8], message: &[u8], signature: &str) -> bool {
    let Some(b64) = signature.strip_prefix("ed25519:") else {
        return false;
    };
    let Ok(sig) = B64.decode(b64) else {
        return false;
    };
    UnparsedPublicKey::new(&ED25519, public_key)
        .verify(message, &sig)
        .is_ok()
}

/// A device's Ed25519 signing key. The key pair lives in aws-lc's memory
/// (freed and cleansed on drop); its PKCS#8 form only passes through
/// [`Zeroizing`] buffers.
pub struct SigningKey {
    pair: Ed25519KeyPair,
    key_id: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.key_id)
    }
}

impl SigningKey {
    /// A fresh key and its PKCS#8 (v1) document, to store under the barrier.
    pub fn generate() -> Result<(SigningKey, Zeroizing<Vec<u8>>), String> {
        let doc = Ed25519KeyPair::generate_pkcs8v1(&SystemRandom::new())
            .map_err(|_| "cannot generate an Ed25519 key".to_string())?;
        let pkcs8 = Zeroizing::new(doc.as_ref().to_vec());
        Ok((SigningKey::from_pkcs8(&pkcs8)?, pkcs8))
    }

    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<SigningKey, String> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
            .map_err(|e| format!("bad audit signing key: {e}"))?;
        let key_id = key_id(pair.public_key().as_ref());
        Ok(SigningKey { pair, key_id })
    }

    pub fn public_key(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// `ed25519:<base64>` of the signature of `message`.
    pub fn sign(&self, message: &[u8]) -> String {
        format!("ed25519:{}", B64.encode(self.pair.sign(message).as_ref()))
    }
}

/// The latest checkpoint a device wrote, as published at
/// `sys/audit-checkpoint/:path`: "the line at `seq` hashes to `head`".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub seq: u64,
    pub head: Digest,
    pub time: String,
    pub key_id: String,
    pub signature: String,
}

impl Checkpoint {
    /// The message its signature covers (the checkpoint line sits at
    /// `seq + 1` with `prev` = `head`).
    pub fn message(&self) -> Vec<u8> {
        mark_message(
            "checkpoint",
            &self.key_id,
            &self.time,
            self.seq + 1,
            &self.head,
        )
    }

    pub fn signature_ok(&self, public_key: &[u8]) -> bool {
        self.key_id == key_id(public_key)
            && signature_ok(public_key, &self.message(), &self.signature)
    }
}

/// Where a device's chain continues after a restart: the position after the
/// last mark line it wrote, and the latest checkpoint. Stored under the
/// barrier each time a mark is written (never per entry).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResumePoint {
    pub next_seq: u64,
    pub prev: Digest,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<Checkpoint>,
}

impl ResumePoint {
    /// A chain that has not written a line yet.
    pub fn genesis() -> ResumePoint {
        ResumePoint {
            next_seq: 0,
            prev: GENESIS,
            checkpoint: None,
        }
    }
}

/// Where a device keeps its [`ResumePoint`] (core: under the barrier).
#[async_trait::async_trait]
pub trait CheckpointStore: Send + Sync + 'static {
    /// Called with the device's lock held, after each mark line reached the
    /// sink. An error is logged and counted; the chain goes on (the line is
    /// written; a restart would resume from the previous mark).
    async fn save(&self, point: &ResumePoint) -> Result<(), String>;
}

/// The chain settings of a device, from its options: `chain` (default
/// true), `checkpoint_entries` (default 1000), `checkpoint_interval`
/// (default 60s; seconds or a number with s/m/h).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChainOptions {
    pub enabled: bool,
    pub checkpoint_entries: u64,
    pub checkpoint_interval: Duration,
}

impl Default for ChainOptions {
    fn default() -> Self {
        ChainOptions {
            enabled: true,
            checkpoint_entries: DEFAULT_CHECKPOINT_ENTRIES,
            checkpoint_interval: DEFAULT_CHECKPOINT_INTERVAL,
        }
    }
}

impl ChainOptions {
    pub fn from_options(o: &Options) -> Result<ChainOptions, SinkError> {
        let mut c = ChainOptions::default();
        if let Some(v) = o.get("chain") {
            c.enabled = parse_bool(v).ok_or_else(|| {
                SinkError::Options(format!("chain: expected a boolean, got {v:?}"))
            })?;
        }
        if let Some(v) = o.get("checkpoint_entries") {
            c.checkpoint_entries = v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| (1..=MAX_CHECKPOINT_ENTRIES).contains(n))
                .ok_or_else(|| {
                    SinkError::Options(format!(
                        "checkpoint_entries: expected an integer from 1 to {MAX_CHECKPOINT_ENTRIES}"
                    ))
                })?;
        }
        if let Some(v) = o.get("checkpoint_interval") {
            c.checkpoint_interval = parse_duration(v)
                .filter(|d| *d >= MIN_CHECKPOINT_INTERVAL)
                .ok_or_else(|| SinkError::Options("checkpoint_interval: expected a duration of at least 1s (\"60s\", \"5m\", \"1h\")".into()))?;
        }
        // A chain member can only be spliced into a JSON object.
        if c.enabled && o.get("format").is_some_and(|f| f == "jsonx") {
            return Err(SinkError::Options("format \"jsonx\" cannot carry a hash chain: set chain=\"false\" or format=\"json\"".into()));
        }
        Ok(c)
    }
}

/// Go's strconv.ParseBool, which Vault uses for device options.
fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

fn parse_duration(v: &str) -> Option<Duration> {
    let v = v.trim();
    let (num, unit) = match v.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => v.split_at(i),
        None => (v, "s"),
    };
    let n: u64 = num.parse().ok()?;
    let secs = match unit {
        "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

/// What a chained device starts from: its key, where to continue, where to
/// store marks, and its options.
pub struct ChainState {
    pub key: SigningKey,
    pub resume: ResumePoint,
    pub store: std::sync::Arc<dyn CheckpointStore>,
    pub options: ChainOptions,
}

/// The running chain of one device (held under the device's lock).
pub(crate) struct Chain {
    key: SigningKey,
    next_seq: u64,
    prev: Digest,
    /// Entries written since the last mark.
    pub(crate) unsigned: u64,
    pub(crate) last_mark: tokio::time::Instant,
    /// Whether the `resume` line of this start was written.
    pub(crate) started: bool,
    checkpoint: Option<Checkpoint>,
    pub(crate) options: ChainOptions,
    pub(crate) store: std::sync::Arc<dyn CheckpointStore>,
    /// The bytes before the first `{` of the latest entry, put before marks
    /// too so every line of the device looks alike.
    prefix: Vec<u8>,
}

/// Room for `,"chain":{"seq":<20 digits>,"prev":"sha256:<64>"}}`.
const CHAIN_MEMBER_MAX: usize = 112;

impl Chain {
    pub(crate) fn new(s: ChainState) -> Chain {
        Chain {
            key: s.key,
            next_seq: s.resume.next_seq,
            prev: s.resume.prev,
            unsigned: 0,
            last_mark: tokio::time::Instant::now(),
            started: false,
            checkpoint: s.resume.checkpoint,
            options: s.options,
            store: s.store,
            prefix: Vec::new(),
        }
    }

    /// Remember the bytes before `entry`'s first `{` (the `prefix` option):
    /// marks are written with them too.
    pub(crate) fn note_prefix(&mut self, entry: &[u8]) {
        let start = entry.iter().position(|&b| b == b'{').unwrap_or(0);
        if self.prefix.as_slice() != &entry[..start] {
            self.prefix.clear();
            self.prefix.extend_from_slice(&entry[..start]);
        }
    }

    /// The line for `entry` (`[prefix]{...}`) with the chain member spliced
    /// before its final `}`: one allocation, the rest of the entry untouched.
    pub(crate) fn splice(&mut self, entry: &[u8]) -> Result<Vec<u8>, SinkError> {
        let not_object =
            || SinkError::Write("audit entry is not a JSON object; it cannot be chained".into());
        let start = entry
            .iter()
            .position(|&b| b == b'{')
            .ok_or_else(not_object)?;
        let end = entry
            .iter()
            .rposition(|b| !b.is_ascii_whitespace())
            .ok_or_else(not_object)?;
        if entry[end] != b'}' || end <= start {
            return Err(not_object());
        }
        self.note_prefix(entry);
        let body = &entry[..end];
        let empty = body[start + 1..].iter().all(|b| b.is_ascii_whitespace());
        let mut line = Vec::with_capacity(body.len() + CHAIN_MEMBER_MAX);
        line.extend_from_slice(body);
        if !empty {
            line.push(b',');
        }
        self.push_member(&mut line);
        line.push(b'}');
        Ok(line)
    }

    /// `"chain":{"seq":N,"prev":"sha256:..."}` at the current position.
    fn push_member(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(br#""chain":{"seq":"#);
        push_u64(out, self.next_seq);
        out.extend_from_slice(br#","prev":""#);
        self.prev.write_to(out);
        out.extend_from_slice(br#""}"#);
    }

    /// Where the chain stands (to go back to if a batch is not written).
    pub(crate) fn position(&self) -> (u64, Digest) {
        (self.next_seq, self.prev)
    }

    pub(crate) fn restore(&mut self, at: (u64, Digest)) {
        (self.next_seq, self.prev) = at;
    }

    /// `line` reached the sink: it is the new head.
    pub(crate) fn advance(&mut self, line: &[u8]) {
        self.prev = Digest::of(hashed_part(line).unwrap_or(line));
        self.next_seq += 1;
    }

    /// A signed mark line at the current position (`checkpoint` or
    /// `resume`), and the checkpoint it publishes.
    pub(crate) fn mark(&self, kind: &'static str, time: &str) -> (Vec<u8>, Option<Checkpoint>) {
        let sig = self.key.sign(&mark_message(
            kind,
            self.key.key_id(),
            time,
            self.next_seq,
            &self.prev,
        ));
        let time_json = serde_json::to_string(time).unwrap_or_else(|_| "\"\"".into());
        let mut line = Vec::with_capacity(self.prefix.len() + 400);
        line.extend_from_slice(&self.prefix);
        line.extend_from_slice(format!(r#"{{"type":"{kind}","time":{time_json},"#).as_bytes());
        let checkpoint = if kind == "checkpoint" {
            // A mark at seq 0 covers nothing: it is only written as `resume`.
            let seq = self.next_seq.saturating_sub(1);
            line.extend_from_slice(
                format!(r#""checkpoint":{{"seq":{seq},"head":"{}","#, self.prev).as_bytes(),
            );
            Some(Checkpoint {
                seq,
                head: self.prev,
                time: time.to_string(),
                key_id: self.key.key_id().to_string(),
                signature: sig.clone(),
            })
        } else {
            line.extend_from_slice(br#""resume":{"#);
            None
        };
        line.extend_from_slice(
            format!(r#""key_id":"{}","signature":"{sig}"}},"#, self.key.key_id()).as_bytes(),
        );
        self.push_member(&mut line);
        line.push(b'}');
        (line, checkpoint)
    }

    /// The mark `line` (with its checkpoint) reached the sink.
    pub(crate) fn marked(&mut self, line: &[u8], checkpoint: Option<Checkpoint>) -> ResumePoint {
        self.advance(line);
        if checkpoint.is_some() {
            self.checkpoint = checkpoint;
        }
        self.unsigned = 0;
        self.last_mark = tokio::time::Instant::now();
        ResumePoint {
            next_seq: self.next_seq,
            prev: self.prev,
            checkpoint: self.checkpoint.clone(),
        }
    }
}

fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// The time marks carry: RFC 3339 UTC with nanoseconds, as audit entries.
pub(crate) fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
