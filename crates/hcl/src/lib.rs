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

pub fn parse(_src: &str) -> Result<Node, Error> {
    todo!("coffer-hcl parser")
}

impl Node {
    /// Convert to JSON as HCL1's decoder would: repeated keys become an array
    /// of their values (in order); a single occurrence stays a plain value.
    pub fn to_json(&self) -> serde_json::Value {
        todo!("coffer-hcl to_json")
    }
}
