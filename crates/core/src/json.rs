//! Bounded JSON: the one place that decides how complex a JSON document may
//! be, for request bodies (the listener's `max_json_*` / `max_request_json_*`
//! options) and for the records Coffer reads back from storage.
//!
//! [`check`] is a byte-level pre-scan: one pass over the input, no allocation
//! beyond a stack of one counter per open container (bounded by the depth
//! limit). It validates the JSON grammar exactly as `serde_json` does (so what
//! it accepts, `serde_json` parses) and refuses the document as soon as a
//! limit is crossed, before `serde_json` builds a single value. A 30 MB
//! `[0,0,...]` costs ~40x its size as a `serde_json::Value`; after the
//! pre-scan it costs nothing.
//!
//! Depth is the number of nested containers (`{}` and `[]`): `{"a":"x"}` is 1,
//! `{"data":{"a":"x"}}` is 2. The edge accepts at most
//! [`coffer_config::MAX_JSON_DEPTH_CEILING`] however it is configured, and
//! storage readers ([`from_stored`]) accept that plus
//! [`STORED_RECORD_HEADROOM`]: the most levels any record adds around what a
//! request carried (kv-v2 version record, a wrapped response). So whatever the
//! edge accepted can always be read back, by construction.

use serde::de::DeserializeOwned;
use serde_json::Value;
use std::fmt;

pub use coffer_config::MAX_JSON_DEPTH_CEILING;

/// Levels a stored record may add around request data: a response-wrapped
/// kv-v2 read stores `{"response":{"data":{"data":<request data>}}}`-like
/// shapes; 16 is several times what any record adds today.
pub const STORED_RECORD_HEADROOM: usize = 16;

/// The deepest document storage readers accept.
pub const STORED_MAX_DEPTH: usize = MAX_JSON_DEPTH_CEILING + STORED_RECORD_HEADROOM;

/// Limits on one JSON document. `None` = unlimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JsonLimits {
    /// `max_json_depth`: nested containers.
    pub max_depth: usize,
    /// `max_json_string_value_length`: bytes of one string (key or value), as sent.
    pub max_string_length: Option<usize>,
    /// `max_json_object_entry_count`: entries of one object.
    pub max_object_entries: Option<usize>,
    /// `max_json_array_element_count`: elements of one array.
    pub max_array_elements: Option<usize>,
    /// `max_request_json_strings`: keys and string values in the whole document.
    pub max_strings: Option<usize>,
    /// `max_request_json_memory`: estimated bytes of the parsed document.
    pub max_memory: Option<usize>,
}

impl JsonLimits {
    /// Depth only (what storage readers apply).
    pub const fn depth_only(max_depth: usize) -> JsonLimits {
        JsonLimits {
            max_depth,
            max_string_length: None,
            max_object_entries: None,
            max_array_elements: None,
            max_strings: None,
            max_memory: None,
        }
    }
}

/// Why a document was refused. Messages name the limit, never the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JsonError {
    /// Not JSON; the byte offset where the scan stopped.
    Syntax(usize),
    Depth(usize),
    StringLength(usize),
    ObjectEntries(usize),
    ArrayElements(usize),
    Strings(usize),
    Memory(usize),
}

impl JsonError {
    /// A refusal because of a limit (as opposed to malformed input).
    pub fn is_limit(&self) -> bool {
        !matches!(self, JsonError::Syntax(_))
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonError::Syntax(at) => write!(f, "invalid JSON at byte {at}"),
            // Vault's wording, with the limit in force.
            JsonError::Depth(n) => write!(f, "JSON input exceeds allowed nesting depth of {n}"),
            JsonError::StringLength(n) => write!(f, "JSON string value exceeds allowed length of {n} bytes"),
            JsonError::ObjectEntries(n) => write!(f, "JSON object exceeds allowed entry count of {n}"),
            JsonError::ArrayElements(n) => write!(f, "JSON array exceeds allowed element count of {n}"),
            // OpenBao's wording for its two limits.
            JsonError::Strings(_) => f.write_str("exceeded maximum number of strings"),
            JsonError::Memory(_) => f.write_str("exceeded maximum estimated memory limits"),
        }
    }
}

impl std::error::Error for JsonError {}

// What one parsed item costs as a `serde_json::Value` (estimates; the point is
// proportionality, not the exact allocator bill).
const VALUE_COST: usize = std::mem::size_of::<Value>();
// An object entry: the key `String`, the map's entry and index slots.
const ENTRY_COST: usize = std::mem::size_of::<String>() + 2 * std::mem::size_of::<usize>();

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
    lim: &'a JsonLimits,
    strings: usize,
    memory: usize,
}

/// Check `input` against `limits` without building it. `Ok` means
/// `serde_json` will parse it (depth permitting: see [`parse`]).
pub fn check(input: &[u8], limits: &JsonLimits) -> Result<(), JsonError> {
    let mut s = Scanner { b: input, i: 0, lim: limits, strings: 0, memory: 0 };
    s.document()
}

/// The deepest nesting in `input`, assuming it is JSON (for storage reads,
/// which `serde_json` then validates). Stops counting at `stop`.
fn depth_exceeds(input: &[u8], max: usize) -> bool {
    let mut depth = 0usize;
    let mut in_str = false;
    let mut i = 0;
    while i < input.len() {
        let c = input[i];
        if in_str {
            match c {
                b'\\' => i += 1,
                b'"' => in_str = false,
                _ => {}
            }
        } else {
            match c {
                b'"' => in_str = true,
                b'{' | b'[' => {
                    depth += 1;
                    if depth > max {
                        return true;
                    }
                }
                b'}' | b']' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        i += 1;
    }
    false
}

/// Pre-scan, then parse with `serde_json`'s own recursion limit lifted
/// (the scan already bounded the depth, at most [`STORED_MAX_DEPTH`]).
pub fn parse(input: &[u8], limits: &JsonLimits) -> Result<Value, ParseError> {
    check(input, limits).map_err(ParseError::Limit)?;
    from_slice_unbounded(input).map_err(ParseError::Json)
}

/// Either a pre-scan refusal or (should the two ever disagree) serde's error.
#[derive(Debug)]
pub enum ParseError {
    Limit(JsonError),
    Json(serde_json::Error),
}

fn from_slice_unbounded<T: DeserializeOwned>(input: &[u8]) -> Result<T, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(input);
    de.disable_recursion_limit();
    let v = T::deserialize(&mut de)?;
    de.end()?;
    Ok(v)
}

/// Decode a record Coffer stored itself. Accepts up to [`STORED_MAX_DEPTH`]
/// levels, so anything the edge let in reads back.
pub fn from_stored<T: DeserializeOwned>(input: &[u8]) -> crate::Result<T> {
    if depth_exceeds(input, STORED_MAX_DEPTH) {
        return Err(crate::Error::internal(format!("stored record nests deeper than {STORED_MAX_DEPTH} levels")));
    }
    Ok(from_slice_unbounded(input)?)
}

impl Scanner<'_> {
    fn err<T>(&self) -> Result<T, JsonError> {
        Err(JsonError::Syntax(self.i))
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn charge(&mut self, bytes: usize) -> Result<(), JsonError> {
        self.memory = self.memory.saturating_add(bytes);
        match self.lim.max_memory {
            Some(m) if self.memory > m => Err(JsonError::Memory(m)),
            _ => Ok(()),
        }
    }

    fn document(&mut self) -> Result<(), JsonError> {
        self.ws();
        self.value()?;
        self.ws();
        if self.i != self.b.len() {
            return self.err();
        }
        Ok(())
    }

    /// One value, iteratively: `stack` holds, per open container, whether it
    /// is an object and how many items it has so far.
    fn value(&mut self) -> Result<(), JsonError> {
        let mut stack: Vec<(bool, usize)> = Vec::with_capacity(self.lim.max_depth.min(32));
        loop {
            // Parse one value (a scalar, or the opening of a container).
            self.ws();
            self.charge(VALUE_COST)?;
            match self.peek() {
                Some(c @ (b'{' | b'[')) => {
                    if stack.len() >= self.lim.max_depth {
                        return Err(JsonError::Depth(self.lim.max_depth));
                    }
                    self.i += 1;
                    let obj = c == b'{';
                    self.ws();
                    let close = if obj { b'}' } else { b']' };
                    if self.peek() == Some(close) {
                        self.i += 1;
                    } else {
                        stack.push((obj, 0));
                        if obj {
                            self.key(&mut stack)?;
                        } else {
                            self.count(&mut stack)?;
                        }
                        continue;
                    }
                }
                Some(b'"') => {
                    self.string()?;
                }
                Some(b't') => self.literal(b"true")?,
                Some(b'f') => self.literal(b"false")?,
                Some(b'n') => self.literal(b"null")?,
                Some(b'-' | b'0'..=b'9') => self.number()?,
                _ => return self.err(),
            }
            // After a complete value: close containers or move to the next item.
            loop {
                let Some(&(obj, _)) = stack.last() else { return Ok(()) };
                self.ws();
                match self.peek() {
                    Some(b',') => {
                        self.i += 1;
                        if obj {
                            self.key(&mut stack)?;
                        } else {
                            self.count(&mut stack)?;
                        }
                        break;
                    }
                    Some(b'}') if obj => {
                        self.i += 1;
                        stack.pop();
                    }
                    Some(b']') if !obj => {
                        self.i += 1;
                        stack.pop();
                    }
                    _ => return self.err(),
                }
            }
        }
    }

    /// Count one more item in the innermost container against its limit.
    fn count(&mut self, stack: &mut [(bool, usize)]) -> Result<(), JsonError> {
        let Some((obj, n)) = stack.last_mut() else { return self.err() };
        *n += 1;
        let (limit, e): (Option<usize>, fn(usize) -> JsonError) = if *obj {
            (self.lim.max_object_entries, JsonError::ObjectEntries)
        } else {
            (self.lim.max_array_elements, JsonError::ArrayElements)
        };
        match limit {
            Some(l) if *n > l => Err(e(l)),
            _ => Ok(()),
        }
    }

    /// `"key" :` inside an object (the value follows).
    fn key(&mut self, stack: &mut [(bool, usize)]) -> Result<(), JsonError> {
        self.count(stack)?;
        self.ws();
        if self.peek() != Some(b'"') {
            return self.err();
        }
        self.string()?;
        self.charge(ENTRY_COST)?;
        self.ws();
        if self.peek() != Some(b':') {
            return self.err();
        }
        self.i += 1;
        Ok(())
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), JsonError> {
        if self.b.get(self.i..self.i + word.len()) == Some(word) {
            self.i += word.len();
            Ok(())
        } else {
            self.err()
        }
    }

    fn hex4(&mut self) -> Result<u16, JsonError> {
        let Some(h) = self.b.get(self.i..self.i + 4) else { return self.err() };
        let mut n = 0u16;
        for &c in h {
            let d = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                b'A'..=b'F' => c - b'A' + 10,
                _ => return self.err(),
            };
            n = (n << 4) | d as u16;
        }
        self.i += 4;
        Ok(n)
    }

    /// A string starting at `"`: escapes and UTF-8 checked as serde_json
    /// does for owned strings (lone surrogates refused).
    fn string(&mut self) -> Result<(), JsonError> {
        self.i += 1;
        let start = self.i;
        let mut run = self.i;
        loop {
            let Some(c) = self.peek() else { return self.err() };
            match c {
                b'"' => {
                    if std::str::from_utf8(&self.b[run..self.i]).is_err() {
                        return self.err();
                    }
                    let len = self.i - start;
                    self.i += 1;
                    if let Some(m) = self.lim.max_string_length
                        && len > m
                    {
                        return Err(JsonError::StringLength(m));
                    }
                    self.strings += 1;
                    if let Some(m) = self.lim.max_strings
                        && self.strings > m
                    {
                        return Err(JsonError::Strings(m));
                    }
                    return self.charge(len);
                }
                b'\\' => {
                    if std::str::from_utf8(&self.b[run..self.i]).is_err() {
                        return self.err();
                    }
                    self.i += 1;
                    match self.peek() {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.i += 1,
                        Some(b'u') => {
                            self.i += 1;
                            let n = self.hex4()?;
                            match n {
                                0xDC00..=0xDFFF => return self.err(),
                                0xD800..=0xDBFF => {
                                    if self.b.get(self.i..self.i + 2) != Some(b"\\u") {
                                        return self.err();
                                    }
                                    self.i += 2;
                                    if !(0xDC00..=0xDFFF).contains(&self.hex4()?) {
                                        return self.err();
                                    }
                                }
                                _ => {}
                            }
                        }
                        _ => return self.err(),
                    }
                    run = self.i;
                }
                0x00..=0x1F => return self.err(),
                _ => self.i += 1,
            }
            if let Some(m) = self.lim.max_string_length
                && self.i - start > m.saturating_add(6)
            {
                // Refuse a huge string without scanning all of it.
                return Err(JsonError::StringLength(m));
            }
        }
    }

    fn digits(&mut self) -> usize {
        let s = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        self.i - s
    }

    fn number(&mut self) -> Result<(), JsonError> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return self.err(),
        }
        let mut float = false;
        if self.peek() == Some(b'.') {
            self.i += 1;
            float = true;
            if self.digits() == 0 {
                return self.err();
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            float = true;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if self.digits() == 0 {
                return self.err();
            }
        }
        let text = &self.b[start..self.i];
        // serde_json refuses numbers beyond f64's range ("number out of range").
        let fits_int = !float && (std::str::from_utf8(text).ok().and_then(|t| t.parse::<i64>().ok()).is_some()
            || std::str::from_utf8(text).ok().and_then(|t| t.parse::<u64>().ok()).is_some());
        if !fits_int {
            let finite = std::str::from_utf8(text).ok().and_then(|t| t.parse::<f64>().ok()).is_some_and(f64::is_finite);
            if !finite {
                return self.err();
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const OPEN: JsonLimits = JsonLimits::depth_only(STORED_MAX_DEPTH);

    fn nest(n: usize) -> String {
        format!("{}\"x\"{}", "{\"a\":".repeat(n), "}".repeat(n))
    }

    #[test]
    fn depth_counts_containers() {
        let lim = JsonLimits::depth_only(3);
        assert!(check(nest(3).as_bytes(), &lim).is_ok());
        assert_eq!(check(nest(4).as_bytes(), &lim), Err(JsonError::Depth(3)));
        assert!(check(b"[[[]]]", &lim).is_ok());
        assert_eq!(check(b"[[[[]]]]", &lim), Err(JsonError::Depth(3)));
        assert!(check(b"\"[[[[[[\"", &lim).is_ok());
    }

    #[test]
    fn counts_and_sizes() {
        let lim = JsonLimits { max_object_entries: Some(2), max_array_elements: Some(3), ..JsonLimits::depth_only(10) };
        assert!(check(br#"{"a":1,"b":[1,2,3]}"#, &lim).is_ok());
        assert_eq!(check(br#"{"a":1,"b":2,"c":3}"#, &lim), Err(JsonError::ObjectEntries(2)));
        assert_eq!(check(br#"[1,2,3,4]"#, &lim), Err(JsonError::ArrayElements(3)));
        let lim = JsonLimits { max_string_length: Some(3), ..JsonLimits::depth_only(10) };
        assert!(check(br#"{"abc":"xyz"}"#, &lim).is_ok());
        assert_eq!(check(br#"{"a":"wxyz"}"#, &lim), Err(JsonError::StringLength(3)));
        assert_eq!(check(br#"{"abcd":1}"#, &lim), Err(JsonError::StringLength(3)));
        let lim = JsonLimits { max_strings: Some(3), ..JsonLimits::depth_only(10) };
        assert!(check(br#"{"a":"b","c":1}"#, &lim).is_ok());
        assert_eq!(check(br#"{"a":"b","c":"d"}"#, &lim), Err(JsonError::Strings(3)));
        let lim = JsonLimits { max_memory: Some(1 << 20), ..JsonLimits::depth_only(10) };
        let big = format!("[{}0]", "0,".repeat(100_000));
        assert_eq!(check(big.as_bytes(), &lim), Err(JsonError::Memory(1 << 20)));
    }

    #[test]
    fn grammar_edge_cases_match_serde() {
        for s in [
            "", " ", "{", "}", "[1,]", "{\"a\":1,}", "01", "-", "1.", "1e", "1e+", "-0", "0.5e-3", "1E400", "-1e400",
            "1e-400", "18446744073709551615", "18446744073709551616", "-9223372036854775809", "\"\\ud800\"",
            "\"\\udc00\"", "\"\\ud800\\udc00\"", "\"\\ud800\\u0041\"", "\"\\x\"", "\"\t\"", "\"\u{7f}\"", "tru", "true ",
            "nul", "{\"a\" 1}", "[1 2]", "{1:2}", "\"\\u00e9\"", "[\"\\/\"]", "1 2",
        ] {
            let ours = check(s.as_bytes(), &OPEN).is_ok();
            let serde = serde_json::from_slice::<Value>(s.as_bytes()).is_ok();
            assert_eq!(ours, serde, "{s:?}");
        }
        // Invalid UTF-8 inside a string.
        assert!(check(b"\"\xff\"", &OPEN).is_err());
        assert!(serde_json::from_slice::<Value>(b"\"\xff\"").is_err());
    }

    #[test]
    fn stored_records_read_back_at_the_ceiling_plus_headroom() {
        let at = nest(STORED_MAX_DEPTH);
        let v: Value = from_stored(at.as_bytes()).unwrap();
        assert!(v.is_object());
        assert!(from_stored::<Value>(nest(STORED_MAX_DEPTH + 1).as_bytes()).is_err());
        // The edge's ceiling parses too (with serde's own limit of 128 lifted).
        assert!(parse(nest(MAX_JSON_DEPTH_CEILING).as_bytes(), &JsonLimits::depth_only(MAX_JSON_DEPTH_CEILING)).is_ok());
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
            ".{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(6, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((".{0,4}", inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Valid documents, and the same documents with one byte changed or
        /// cut short: the pre-scan accepts exactly what serde_json accepts.
        #[test]
        fn agrees_with_serde(v in arb_json(), pos in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<bool>()) {
            let text = serde_json::to_vec(&v).unwrap();
            prop_assert!(check(&text, &OPEN).is_ok());
            let mut bad = text.clone();
            let i = pos.index(bad.len());
            if cut { bad.truncate(i); } else { bad[i] = byte; }
            let ours = check(&bad, &OPEN).is_ok();
            let serde = serde_json::from_slice::<Value>(&bad).is_ok();
            prop_assert_eq!(ours, serde, "{:?}", String::from_utf8_lossy(&bad));
        }

        /// Arbitrary bytes from a JSON-ish alphabet.
        #[test]
        fn agrees_on_noise(s in "[\\[\\]{}\",:0-9eE.+\\-a-z\\\\ ]{0,24}") {
            let ours = check(s.as_bytes(), &OPEN).is_ok();
            let serde = serde_json::from_slice::<Value>(s.as_bytes()).is_ok();
            prop_assert_eq!(ours, serde, "{:?}", s);
        }

        /// Within limits, the pre-scan never refuses what fits, and refuses
        /// exactly when a limit is crossed.
        #[test]
        fn limits_are_exact(depth in 1usize..40, limit in 1usize..40) {
            let lim = JsonLimits::depth_only(limit);
            let doc = nest(depth);
            prop_assert_eq!(check(doc.as_bytes(), &lim).is_ok(), depth <= limit);
        }
    }
}
