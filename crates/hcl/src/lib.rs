//! A parser for HCL version 1, the dialect Vault uses for server config files
//! and ACL policies, keeping line numbers so errors can name the line.
//!
//! No crate does this: hcl-rs implements HCL2 and rejects HCL1 forms Vault
//! accepts (comma-separated attributes, `key { ... }` object blocks), and it
//! drops positions. The tree keeps duplicate keys in order (repeated `path`
//! blocks), and [`Node::to_json`] merges them the way HCL1's decoder does.
//!
//! API (stable; other crates build against it):
//! - [`parse`]`(src) -> Result<Node, Error>`: the whole file as an object node.
//! - A block `a "b" "c" { body }` is represented as key `a` whose value is
//!   an object with key `b` whose value is an object with key `c` = body.
//! - `a = value` and `a { body }` (no labels) both give key `a` -> value/body.
//! - [`parse_json`]`(src)`: a JSON document into the same tree (with
//!   positions), for Vault's "HCL or JSON" inputs; [`parse_any`] picks one.
//!
//! # Accepted syntax
//! - Comments: `# ...`, `// ...` to end of line, `/* ... */` (not nested).
//! - Object lists (a file body, a block body, an object literal `{ ... }`):
//!   a sequence of items, each optionally followed by one `,`. Items need no
//!   newline between them (`{ a = 1, b = 2 }`, `{ a = 1 b = 2 }`).
//! - Item: one or more keys (bare identifiers or quoted strings) then either
//!   `= value` (exactly one key) or `{ body }` (any number of keys/labels).
//! - Identifiers: a letter or `_`, then letters, digits, `_`, `-`, `.`.
//! - Values: `"strings"` with escapes `\n \t \r \" \\ \a \b \f \v \/`,
//!   `\uXXXX`, `\UXXXXXXXX` (surrogate pairs combined); heredocs `<<EOF` and
//!   `<<-EOF` (see below); integers (decimal, `0x` hex, optional sign);
//!   floats (`1.5`, `-2e3`); `true`/`false`; lists `[a, b,]` (trailing comma
//!   allowed, commas required between elements); objects `{ ... }`.
//! - Heredoc: `<<ID` then a newline; the body runs until a line that holds
//!   only `ID` (surrounding spaces allowed). The value keeps the newline of
//!   every body line, like HCL1 (`"a\nb\n"`). With `<<-ID` every body line
//!   loses the indentation of the closing marker line, if all non-empty lines
//!   carry at least that indentation (otherwise the body is left unchanged,
//!   as HCL1 does).
//! - Strings may not contain a raw newline. `${...}` is kept literally.
//!
//! Nesting deeper than [`MAX_DEPTH`] is an error rather than a stack overflow.

/// Maximum nesting of objects/lists accepted.
pub const MAX_DEPTH: usize = 128;

/// A value with the 1-based line and column where it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub value: Value,
    pub line: usize,
    pub col: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    String(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    List(Vec<Node>),
    /// Entries in source order; keys may repeat.
    Object(Vec<Entry>),
}

/// One `key = value` or block inside an object, with the key's position.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub key: String,
    pub line: usize,
    pub col: usize,
    pub value: Node,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}, column {col}: {message}")]
pub struct Error {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

/// Parse an HCL1 document. The result is an object node at line 1, column 1.
pub fn parse(src: &str) -> Result<Node, Error> {
    let mut p = Parser::new(src, false);
    p.file()
}

/// Parse a JSON document (whose top level must be an object) into the same
/// tree, with positions. Duplicate keys are kept, like in HCL.
/// JSON `null` is rejected (HCL1 has no null).
pub fn parse_json(src: &str) -> Result<Node, Error> {
    let mut p = Parser::new(src, true);
    p.json_file()
}

/// JSON if the first non-space, non-comment character is `{`, else HCL1.
/// This is how Vault tells policy/config formats apart.
pub fn parse_any(src: &str) -> Result<Node, Error> {
    if src.trim_start().starts_with('{') {
        parse_json(src)
    } else {
        parse(src)
    }
}

impl Value {
    /// A short name of the value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::String(_) => "string",
            Value::Int(_) => "integer",
            Value::Float(_) => "float",
            Value::Bool(_) => "bool",
            Value::List(_) => "list",
            Value::Object(_) => "object",
        }
    }
}

impl Node {
    /// Convert to JSON as HCL1's decoder would: repeated keys become an array
    /// of their values (in order); a single occurrence stays a plain value.
    ///
    /// Exactly:
    /// - strings, bools, ints, floats map to the JSON scalar (a non-finite
    ///   float, which the parser never produces, becomes `null`);
    /// - lists map to arrays, element by element;
    /// - an object maps to a JSON object whose keys are in order of first
    ///   occurrence. A key that occurs once maps to its value. A key that
    ///   occurs n > 1 times maps to an array of its n values in source order
    ///   (values are not merged, and a repeated key whose values are lists
    ///   gives an array of arrays). So `path "a" {..} path "b" {..}` gives
    ///   `{"path": [{"a": {..}}, {"b": {..}}]}`.
    ///
    /// Unlike HCL1's `map[string]interface{}` decoding, single objects are
    /// not wrapped in one-element lists.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::String(s) => J::String(s.clone()),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map(J::Number).unwrap_or(J::Null),
            Value::Bool(b) => J::Bool(*b),
            Value::List(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Object(entries) => {
                let mut counts: std::collections::HashMap<&str, usize> = Default::default();
                for e in entries {
                    *counts.entry(e.key.as_str()).or_default() += 1;
                }
                let mut map = serde_json::Map::new();
                for e in entries {
                    let v = e.value.to_json();
                    if counts[e.key.as_str()] > 1 {
                        match map.entry(e.key.clone()).or_insert_with(|| J::Array(Vec::new())) {
                            J::Array(a) => a.push(v),
                            _ => unreachable!("repeated keys always hold arrays"),
                        }
                    } else {
                        map.insert(e.key.clone(), v);
                    }
                }
                J::Object(map)
            }
        }
    }

    /// The entries if this is an object.
    pub fn as_object(&self) -> Option<&[Entry]> {
        match &self.value {
            Value::Object(e) => Some(e),
            _ => None,
        }
    }

    /// The string if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------
// Lexer

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Heredoc(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
    Assign, // '='
    Colon,  // ':' (JSON only)
    Comma,
    LBrace,
    RBrace,
    LBrack,
    RBrack,
    Eof,
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(s) => format!("identifier {s:?}"),
        Tok::Str(s) => format!("string {s:?}"),
        Tok::Heredoc(_) => "heredoc".into(),
        Tok::Int(i) => format!("number {i}"),
        Tok::Float(f) => format!("number {f}"),
        Tok::Bool(b) => format!("{b}"),
        Tok::Null => "null".into(),
        Tok::Assign => "'='".into(),
        Tok::Colon => "':'".into(),
        Tok::Comma => "','".into(),
        Tok::LBrace => "'{'".into(),
        Tok::RBrace => "'}'".into(),
        Tok::LBrack => "'['".into(),
        Tok::RBrack => "']'".into(),
        Tok::Eof => "end of input".into(),
    }
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize, // byte offset
    line: usize,
    col: usize,
    json: bool,
}

impl<'a> Lexer<'a> {
    fn peek_char(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }
    fn peek_at(&self, n: usize) -> Option<char> {
        self.src[self.pos..].chars().nth(n)
    }
    fn bump(&mut self) -> Option<char> {
        let c = self.peek_char()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }
    fn err<T>(&self, line: usize, col: usize, msg: impl Into<String>) -> Result<T, Error> {
        Err(Error { line, col, message: msg.into() })
    }

    fn skip_trivia(&mut self) -> Result<(), Error> {
        loop {
            match self.peek_char() {
                Some(c) if c.is_whitespace() => {
                    self.bump();
                }
                Some('#') if !self.json => self.skip_line(),
                Some('/') if self.peek_at(1) == Some('/') && !self.json => self.skip_line(),
                Some('/') if self.peek_at(1) == Some('*') && !self.json => {
                    let (l, c) = (self.line, self.col);
                    self.bump();
                    self.bump();
                    loop {
                        match self.bump() {
                            None => return self.err(l, c, "comment not terminated (missing \"*/\")"),
                            Some('*') if self.peek_char() == Some('/') => {
                                self.bump();
                                break;
                            }
                            _ => {}
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn skip_line(&mut self) {
        while let Some(c) = self.peek_char() {
            if c == '\n' {
                break;
            }
            self.bump();
        }
    }

    /// Next token and the line/column where it starts.
    fn next(&mut self) -> Result<(Tok, usize, usize), Error> {
        self.skip_trivia()?;
        let (line, col) = (self.line, self.col);
        let Some(c) = self.peek_char() else {
            return Ok((Tok::Eof, line, col));
        };
        let simple = match c {
            '=' if !self.json => Some(Tok::Assign),
            ':' if self.json => Some(Tok::Colon),
            ',' => Some(Tok::Comma),
            '{' => Some(Tok::LBrace),
            '}' => Some(Tok::RBrace),
            '[' => Some(Tok::LBrack),
            ']' => Some(Tok::RBrack),
            _ => None,
        };
        if let Some(t) = simple {
            self.bump();
            return Ok((t, line, col));
        }
        if c == '"' {
            return Ok((Tok::Str(self.string()?), line, col));
        }
        if c == '<' && self.peek_at(1) == Some('<') && !self.json {
            return Ok((Tok::Heredoc(self.heredoc()?), line, col));
        }
        if c.is_ascii_digit() || ((c == '-' || (c == '+' && !self.json)) && self.peek_at(1).is_some_and(|d| d.is_ascii_digit())) {
            return Ok((self.number()?, line, col));
        }
        if c.is_alphabetic() || c == '_' {
            let start = self.pos;
            while let Some(c) = self.peek_char() {
                if c.is_alphanumeric() || c == '_' || ((c == '-' || c == '.') && !self.json) {
                    self.bump();
                } else {
                    break;
                }
            }
            let word = &self.src[start..self.pos];
            let tok = match word {
                "true" => Tok::Bool(true),
                "false" => Tok::Bool(false),
                "null" if self.json => Tok::Null,
                _ if self.json => return self.err(line, col, format!("invalid JSON literal {word:?}")),
                _ => Tok::Ident(word.to_string()),
            };
            return Ok((tok, line, col));
        }
        self.err(line, col, format!("unexpected character {c:?}"))
    }

    fn number(&mut self) -> Result<Tok, Error> {
        let (line, col) = (self.line, self.col);
        let start = self.pos;
        if matches!(self.peek_char(), Some('-' | '+')) {
            self.bump();
        }
        // hex
        if self.peek_char() == Some('0') && matches!(self.peek_at(1), Some('x' | 'X')) && !self.json {
            self.bump();
            self.bump();
            let hs = self.pos;
            while self.peek_char().is_some_and(|c| c.is_ascii_hexdigit()) {
                self.bump();
            }
            let digits = &self.src[hs..self.pos];
            let neg = self.src[start..].starts_with('-');
            return match i64::from_str_radix(digits, 16) {
                Ok(v) => Ok(Tok::Int(if neg { -v } else { v })),
                Err(_) => self.err(line, col, format!("invalid hex number {:?}", &self.src[start..self.pos])),
            };
        }
        let mut float = false;
        while let Some(c) = self.peek_char() {
            if c.is_ascii_digit() {
                self.bump();
            } else if c == '.' && !float && self.peek_at(1).is_some_and(|d| d.is_ascii_digit()) {
                float = true;
                self.bump();
            } else if (c == 'e' || c == 'E')
                && (self.peek_at(1).is_some_and(|d| d.is_ascii_digit())
                    || (matches!(self.peek_at(1), Some('+' | '-')) && self.peek_at(2).is_some_and(|d| d.is_ascii_digit())))
            {
                float = true;
                self.bump();
                if matches!(self.peek_char(), Some('+' | '-')) {
                    self.bump();
                }
            } else {
                break;
            }
        }
        // A number glued to identifier characters ("12ab") is an error.
        if let Some(c) = self.peek_char()
            && (c.is_alphanumeric() || c == '_' || c == '.')
        {
            return self.err(line, col, format!("invalid number {:?}", &self.src[start..self.pos + c.len_utf8()]));
        }
        let text = self.src[start..self.pos].trim_start_matches('+');
        if float {
            match text.parse::<f64>() {
                Ok(f) if f.is_finite() => Ok(Tok::Float(f)),
                _ => self.err(line, col, format!("invalid number {text:?}")),
            }
        } else {
            match text.parse::<i64>() {
                Ok(i) => Ok(Tok::Int(i)),
                Err(_) => self.err(line, col, format!("number {text} out of range for a 64-bit integer")),
            }
        }
    }

    fn hex_escape(&mut self, n: usize, line: usize, col: usize) -> Result<u32, Error> {
        let mut v = 0u32;
        for _ in 0..n {
            match self.peek_char().and_then(|c| c.to_digit(16)) {
                Some(d) => {
                    self.bump();
                    v = v * 16 + d;
                }
                None => return self.err(line, col, format!("invalid escape: expected {n} hex digits")),
            }
        }
        Ok(v)
    }

    fn string(&mut self) -> Result<String, Error> {
        let (sl, sc) = (self.line, self.col);
        self.bump(); // opening quote
        let mut out = String::new();
        loop {
            let (el, ec) = (self.line, self.col);
            match self.bump() {
                None => return self.err(sl, sc, "string not terminated (missing '\"')"),
                Some('\n') => return self.err(sl, sc, "string not terminated before end of line"),
                Some('"') => return Ok(out),
                Some('\\') => {
                    let Some(e) = self.bump() else {
                        return self.err(sl, sc, "string not terminated (missing '\"')");
                    };
                    match e {
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        '"' => out.push('"'),
                        '\\' => out.push('\\'),
                        '/' => out.push('/'),
                        'a' if !self.json => out.push('\u{7}'),
                        'b' => out.push('\u{8}'),
                        'f' => out.push('\u{c}'),
                        'v' if !self.json => out.push('\u{b}'),
                        'u' | 'U' => {
                            let n = if e == 'u' { 4 } else { 8 };
                            if e == 'U' && self.json {
                                return self.err(el, ec, "invalid escape \"\\U\"");
                            }
                            let mut v = self.hex_escape(n, el, ec)?;
                            if (0xD800..0xDC00).contains(&v) && self.src[self.pos..].starts_with("\\u") {
                                let save = (self.pos, self.line, self.col);
                                self.bump();
                                self.bump();
                                let lo = self.hex_escape(4, el, ec)?;
                                if (0xDC00..0xE000).contains(&lo) {
                                    v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
                                } else {
                                    (self.pos, self.line, self.col) = save;
                                }
                            }
                            match char::from_u32(v) {
                                Some(c) => out.push(c),
                                None => return self.err(el, ec, format!("invalid unicode escape: U+{v:X} is not a character")),
                            }
                        }
                        other => return self.err(el, ec, format!("invalid escape sequence \"\\{other}\"")),
                    }
                }
                Some(c) => out.push(c),
            }
        }
    }

    fn heredoc(&mut self) -> Result<String, Error> {
        let (sl, sc) = (self.line, self.col);
        self.bump();
        self.bump();
        let indent = if self.peek_char() == Some('-') {
            self.bump();
            true
        } else {
            false
        };
        let is = self.pos;
        while self.peek_char().is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-') {
            self.bump();
        }
        let anchor = self.src[is..self.pos].to_string();
        if anchor.is_empty() {
            return self.err(sl, sc, "heredoc anchor expected after \"<<\"");
        }
        // Allow trailing spaces / '\r' after the anchor, then require newline.
        while matches!(self.peek_char(), Some(' ' | '\t' | '\r')) {
            self.bump();
        }
        if self.bump() != Some('\n') {
            return self.err(sl, sc, format!("heredoc anchor {anchor:?} must be followed by a newline"));
        }
        let mut lines: Vec<&str> = Vec::new();
        loop {
            if self.pos >= self.src.len() {
                return self.err(sl, sc, format!("heredoc not terminated (missing closing {anchor:?})"));
            }
            let rest = &self.src[self.pos..];
            let end = rest.find('\n').unwrap_or(rest.len());
            let line = &rest[..end];
            let line_nocr = line.strip_suffix('\r').unwrap_or(line);
            // consume the line (and its newline)
            let target = self.pos + end;
            while self.pos < target {
                self.bump();
            }
            if line_nocr.trim() == anchor {
                let marker_indent = line_nocr.len() - line_nocr.trim_start().len();
                let marker_prefix = &line_nocr[..marker_indent];
                let mut out = String::new();
                let can_unindent = indent
                    && lines
                        .iter()
                        .all(|l| l.trim().is_empty() || l.starts_with(marker_prefix));
                for l in &lines {
                    if can_unindent {
                        out.push_str(l.strip_prefix(marker_prefix).unwrap_or(l.trim_start()));
                    } else {
                        out.push_str(l);
                    }
                    out.push('\n');
                }
                return Ok(out);
            }
            lines.push(line);
            if self.pos < self.src.len() {
                self.bump(); // '\n'
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Parser

struct Parser<'a> {
    lx: Lexer<'a>,
    tok: Tok,
    line: usize,
    col: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str, json: bool) -> Self {
        let src = src.strip_prefix('\u{feff}').unwrap_or(src);
        Parser {
            lx: Lexer { src, pos: 0, line: 1, col: 1, json },
            tok: Tok::Eof,
            line: 1,
            col: 1,
            depth: 0,
        }
    }

    fn advance(&mut self) -> Result<(), Error> {
        let (t, l, c) = self.lx.next()?;
        self.tok = t;
        self.line = l;
        self.col = c;
        Ok(())
    }

    fn err<T>(&self, msg: impl Into<String>) -> Result<T, Error> {
        Err(Error { line: self.line, col: self.col, message: msg.into() })
    }

    fn enter(&mut self) -> Result<(), Error> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.err(format!("nesting deeper than {MAX_DEPTH} levels"));
        }
        Ok(())
    }

    fn file(&mut self) -> Result<Node, Error> {
        self.advance()?;
        let entries = self.object_list(true)?;
        Ok(Node { value: Value::Object(entries), line: 1, col: 1 })
    }

    /// Items until `}` (not consumed) or, at top level, end of input.
    fn object_list(&mut self, top: bool) -> Result<Vec<Entry>, Error> {
        let mut entries = Vec::new();
        loop {
            match &self.tok {
                Tok::Eof if top => return Ok(entries),
                Tok::Eof => return self.err("expected '}' to close object, found end of input"),
                Tok::RBrace if !top => return Ok(entries),
                Tok::RBrace => return self.err("unexpected '}' (no object to close)"),
                _ => {}
            }
            entries.push(self.item()?);
            if self.tok == Tok::Comma {
                self.advance()?;
            }
        }
    }

    fn key(&mut self) -> Option<(String, usize, usize)> {
        match &self.tok {
            Tok::Ident(s) | Tok::Str(s) => Some((s.clone(), self.line, self.col)),
            _ => None,
        }
    }

    fn item(&mut self) -> Result<Entry, Error> {
        let mut keys = Vec::new();
        while let Some(k) = self.key() {
            keys.push(k);
            self.advance()?;
        }
        if keys.is_empty() {
            return self.err(format!("expected a key (identifier or string), found {}", describe(&self.tok)));
        }
        let value = match self.tok {
            Tok::Assign => {
                if keys.len() > 1 {
                    return self.err(format!(
                        "key {:?} followed by {} label(s) must have a '{{' block, not '='",
                        keys[0].0,
                        keys.len() - 1
                    ));
                }
                self.advance()?;
                self.value()?
            }
            Tok::LBrace => self.object()?,
            _ => {
                return self.err(format!(
                    "expected '=' or '{{' after key {:?}, found {}",
                    keys.last().map(|k| k.0.as_str()).unwrap_or(""),
                    describe(&self.tok)
                ));
            }
        };
        // Fold labels from the innermost outwards.
        let mut value = value;
        while keys.len() > 1 {
            let (k, l, c) = keys.pop().expect("len > 1");
            value = Node {
                value: Value::Object(vec![Entry { key: k, line: l, col: c, value }]),
                line: l,
                col: c,
            };
        }
        let (k, l, c) = keys.pop().expect("one key");
        Ok(Entry { key: k, line: l, col: c, value })
    }

    /// `{ object_list }` starting at '{'.
    fn object(&mut self) -> Result<Node, Error> {
        let (line, col) = (self.line, self.col);
        self.enter()?;
        self.advance()?;
        let entries = self.object_list(false)?;
        // at '}'
        self.advance()?;
        self.depth -= 1;
        Ok(Node { value: Value::Object(entries), line, col })
    }

    fn value(&mut self) -> Result<Node, Error> {
        let (line, col) = (self.line, self.col);
        let v = match std::mem::replace(&mut self.tok, Tok::Eof) {
            Tok::Str(s) | Tok::Heredoc(s) => Value::String(s),
            Tok::Int(i) => Value::Int(i),
            Tok::Float(f) => Value::Float(f),
            Tok::Bool(b) => Value::Bool(b),
            Tok::LBrace => {
                self.tok = Tok::LBrace;
                return self.object();
            }
            Tok::LBrack => {
                self.tok = Tok::LBrack;
                return self.list();
            }
            other => {
                self.tok = other;
                let hint = if matches!(self.tok, Tok::Ident(_)) { " (strings must be quoted)" } else { "" };
                return self.err(format!("expected a value, found {}{hint}", describe(&self.tok)));
            }
        };
        self.advance()?;
        Ok(Node { value: v, line, col })
    }

    fn list(&mut self) -> Result<Node, Error> {
        let (line, col) = (self.line, self.col);
        self.enter()?;
        self.advance()?;
        let mut items = Vec::new();
        loop {
            if self.tok == Tok::RBrack {
                break;
            }
            items.push(self.value()?);
            match self.tok {
                Tok::Comma => self.advance()?,
                Tok::RBrack => break,
                _ => return self.err(format!("expected ',' or ']' in list, found {}", describe(&self.tok))),
            }
        }
        self.advance()?;
        self.depth -= 1;
        Ok(Node { value: Value::List(items), line, col })
    }

    // ---- JSON ----

    fn json_file(&mut self) -> Result<Node, Error> {
        self.advance()?;
        if self.tok != Tok::LBrace {
            return self.err(format!("expected a JSON object, found {}", describe(&self.tok)));
        }
        let node = self.json_value()?;
        if self.tok != Tok::Eof {
            return self.err(format!("unexpected {} after the JSON document", describe(&self.tok)));
        }
        Ok(node)
    }

    fn json_value(&mut self) -> Result<Node, Error> {
        let (line, col) = (self.line, self.col);
        match std::mem::replace(&mut self.tok, Tok::Eof) {
            Tok::LBrace => {
                self.enter()?;
                self.advance()?;
                let mut entries = Vec::new();
                if self.tok != Tok::RBrace {
                    loop {
                        let (key, kl, kc) = match &self.tok {
                            Tok::Str(s) => (s.clone(), self.line, self.col),
                            t => return self.err(format!("expected a string key, found {}", describe(t))),
                        };
                        self.advance()?;
                        if self.tok != Tok::Colon {
                            return self.err(format!("expected ':' after key {key:?}, found {}", describe(&self.tok)));
                        }
                        self.advance()?;
                        let value = self.json_value()?;
                        entries.push(Entry { key, line: kl, col: kc, value });
                        match self.tok {
                            Tok::Comma => self.advance()?,
                            Tok::RBrace => break,
                            _ => return self.err(format!("expected ',' or '}}' in object, found {}", describe(&self.tok))),
                        }
                    }
                }
                self.advance()?;
                self.depth -= 1;
                Ok(Node { value: Value::Object(entries), line, col })
            }
            Tok::LBrack => {
                self.enter()?;
                self.advance()?;
                let mut items = Vec::new();
                if self.tok != Tok::RBrack {
                    loop {
                        items.push(self.json_value()?);
                        match self.tok {
                            Tok::Comma => self.advance()?,
                            Tok::RBrack => break,
                            _ => return self.err(format!("expected ',' or ']' in array, found {}", describe(&self.tok))),
                        }
                    }
                }
                self.advance()?;
                self.depth -= 1;
                Ok(Node { value: Value::List(items), line, col })
            }
            Tok::Str(s) => {
                self.advance()?;
                Ok(Node { value: Value::String(s), line, col })
            }
            Tok::Int(i) => {
                self.advance()?;
                Ok(Node { value: Value::Int(i), line, col })
            }
            Tok::Float(f) => {
                self.advance()?;
                Ok(Node { value: Value::Float(f), line, col })
            }
            Tok::Bool(b) => {
                self.advance()?;
                Ok(Node { value: Value::Bool(b), line, col })
            }
            Tok::Null => {
                self.tok = Tok::Null;
                self.err("null is not supported")
            }
            other => {
                self.tok = other;
                self.err(format!("expected a JSON value, found {}", describe(&self.tok)))
            }
        }
    }
}

#[cfg(test)]
mod tests;
