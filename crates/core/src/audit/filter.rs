//! A device's `filter` option: which entries it keeps. The grammar is the
//! subset of Vault Enterprise's bexpr filters that its audit filters use:
//!
//! ```text
//! expr    := or
//! or      := and ("or" and)*
//! and     := unary ("and" unary)*
//! unary   := "not" unary | "(" expr ")" | test
//! test    := FIELD ("==" | "!=") STRING
//!          | FIELD ("matches" | "not matches") STRING     (regular expression)
//! FIELD   := mount_point | mount_type | namespace | operation | path
//! STRING  := "..." (double quotes; \" and \\ escape)
//! ```
//!
//! Example: `operation != "read" or path matches "^secret/"`. An invalid
//! expression is the enable request's 400. At most [`MAX_LEN`] bytes and
//! [`MAX_DEPTH`] nested levels (the enable request is sudo-only, the limits
//! keep a typo from costing much).

use regex::Regex;

pub(crate) const MAX_LEN: usize = 4096;
pub(crate) const MAX_DEPTH: usize = 32;

#[derive(Debug)]
pub(crate) enum Filter {
    Or(Box<Filter>, Box<Filter>),
    And(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Eq(Field, String),
    Ne(Field, String),
    Matches(Field, Regex),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Field {
    MountPoint,
    MountType,
    Namespace,
    Operation,
    Path,
}

/// What a filter sees of a request.
pub(crate) struct Subject<'a> {
    pub mount_point: &'a str,
    pub mount_type: &'a str,
    pub namespace: &'a str,
    pub operation: &'a str,
    pub path: &'a str,
}

impl Filter {
    pub(crate) fn parse(s: &str) -> Result<Filter, String> {
        if s.len() > MAX_LEN {
            return Err(format!("filter is longer than {MAX_LEN} bytes"));
        }
        let toks = lex(s)?;
        let mut p = Parser {
            toks,
            pos: 0,
            depth: 0,
        };
        let f = p.or()?;
        if p.pos != p.toks.len() {
            return Err(format!("unexpected {:?} in filter", p.toks[p.pos]));
        }
        Ok(f)
    }

    pub(crate) fn eval(&self, s: &Subject<'_>) -> bool {
        let get = |f: &Field| match f {
            Field::MountPoint => s.mount_point,
            Field::MountType => s.mount_type,
            Field::Namespace => s.namespace,
            Field::Operation => s.operation,
            Field::Path => s.path,
        };
        match self {
            Filter::Or(a, b) => a.eval(s) || b.eval(s),
            Filter::And(a, b) => a.eval(s) && b.eval(s),
            Filter::Not(a) => !a.eval(s),
            Filter::Eq(f, v) => get(f) == v,
            Filter::Ne(f, v) => get(f) != v,
            Filter::Matches(f, r) => r.is_match(get(f)),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    EqEq,
    NotEq,
    LParen,
    RParen,
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut it = s.chars().peekable();
    while let Some(&c) = it.peek() {
        match c {
            c if c.is_whitespace() => {
                it.next();
            }
            '(' => {
                it.next();
                out.push(Tok::LParen);
            }
            ')' => {
                it.next();
                out.push(Tok::RParen);
            }
            '=' | '!' => {
                it.next();
                if it.next() != Some('=') {
                    return Err(format!("expected \"{c}=\" in filter"));
                }
                out.push(if c == '=' { Tok::EqEq } else { Tok::NotEq });
            }
            '"' => {
                it.next();
                let mut v = String::new();
                loop {
                    match it.next() {
                        None => return Err("unterminated string in filter".into()),
                        Some('"') => break,
                        Some('\\') => match it.next() {
                            Some(e @ ('"' | '\\')) => v.push(e),
                            _ => {
                                return Err(
                                    "bad escape in filter string (only \\\" and \\\\)".into()
                                );
                            }
                        },
                        Some(ch) => v.push(ch),
                    }
                }
                out.push(Tok::Str(v));
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let mut v = String::new();
                while let Some(&ch) = it.peek() {
                    if ch.is_ascii_alphanumeric() || ch == '_' {
                        v.push(ch);
                        it.next();
                    } else {
                        break;
                    }
                }
                out.push(Tok::Ident(v));
            }
            other => return Err(format!("unexpected character {other:?} in filter")),
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn peek_ident(&self, word: &str) -> bool {
        matches!(self.toks.get(self.pos), Some(Tok::Ident(w)) if w == word)
    }

    fn or(&mut self) -> Result<Filter, String> {
        let mut left = self.and()?;
        while self.peek_ident("or") {
            self.pos += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, String> {
        let mut left = self.unary()?;
        while self.peek_ident("and") {
            self.pos += 1;
            left = Filter::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!("filter nests deeper than {MAX_DEPTH} levels"));
        }
        let r = if self.peek_ident("not") {
            self.pos += 1;
            self.unary().map(|f| Filter::Not(Box::new(f)))
        } else if self.toks.get(self.pos) == Some(&Tok::LParen) {
            self.pos += 1;
            let f = self.or()?;
            if self.toks.get(self.pos) != Some(&Tok::RParen) {
                return Err("missing \")\" in filter".into());
            }
            self.pos += 1;
            Ok(f)
        } else {
            self.test()
        };
        self.depth -= 1;
        r
    }

    fn test(&mut self) -> Result<Filter, String> {
        let field = match self.toks.get(self.pos) {
            Some(Tok::Ident(w)) => match w.as_str() {
                "mount_point" => Field::MountPoint,
                "mount_type" => Field::MountType,
                "namespace" => Field::Namespace,
                "operation" => Field::Operation,
                "path" => Field::Path,
                other => {
                    return Err(format!(
                        "unknown filter field {other:?} (one of mount_point, mount_type, namespace, operation, path)"
                    ));
                }
            },
            Some(t) => return Err(format!("expected a field name in filter, found {t:?}")),
            None => return Err("filter ends where a field name was expected".into()),
        };
        self.pos += 1;
        let negated_match = if self.peek_ident("not") {
            self.pos += 1;
            if !self.peek_ident("matches") {
                return Err("expected \"matches\" after \"not\" in filter".into());
            }
            true
        } else {
            false
        };
        let op = self.toks.get(self.pos).cloned();
        self.pos += 1;
        let value = match self.toks.get(self.pos) {
            Some(Tok::Str(v)) => v.clone(),
            _ => return Err("expected a double-quoted string in filter".into()),
        };
        self.pos += 1;
        match op {
            Some(Tok::EqEq) => Ok(Filter::Eq(field, value)),
            Some(Tok::NotEq) => Ok(Filter::Ne(field, value)),
            Some(Tok::Ident(w)) if w == "matches" => {
                let re = regex::RegexBuilder::new(&value)
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| format!("bad regular expression in filter: {e}"))?;
                let m = Filter::Matches(field, re);
                Ok(if negated_match {
                    Filter::Not(Box::new(m))
                } else {
                    m
                })
            }
            _ => Err("expected ==, != or matches in filter".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subj<'a>(op: &'a str, path: &'a str) -> Subject<'a> {
        Subject {
            mount_point: "auth/token/",
            mount_type: "token",
            namespace: "",
            operation: op,
            path,
        }
    }

    #[test]
    fn grammar() {
        let f = Filter::parse(
            r#"not (path == "auth/token/lookup-self" or path matches "renew-self$")"#,
        )
        .unwrap();
        assert!(!f.eval(&subj("read", "auth/token/lookup-self")));
        assert!(!f.eval(&subj("update", "auth/token/renew-self")));
        assert!(f.eval(&subj("update", "auth/token/create")));
        let f = Filter::parse(r#"mount_type == "token" and operation != "read""#).unwrap();
        assert!(f.eval(&subj("update", "x")));
        assert!(!f.eval(&subj("read", "x")));
        let f = Filter::parse(r#"path not matches "^auth/" or namespace == "ns1/""#).unwrap();
        assert!(!f.eval(&subj("read", "auth/x")));
        assert!(f.eval(&subj("read", "secret/x")));
    }

    #[test]
    fn errors() {
        for bad in [
            "",
            "path",
            "path ==",
            r#"path = "x""#,
            r#"color == "x""#,
            r#"path == "x" and"#,
            r#"(path == "x""#,
            r#"path matches "(""#,
            r#"path == "unterminated"#,
            r#"path == "x" path == "y""#,
        ] {
            assert!(Filter::parse(bad).is_err(), "{bad:?}");
        }
        assert!(
            Filter::parse(&format!(
                "{}path == \"x\"{}",
                "(".repeat(40),
                ")".repeat(40)
            ))
            .is_err()
        );
        assert!(Filter::parse(&"x".repeat(MAX_LEN + 1)).is_err());
    }
}
