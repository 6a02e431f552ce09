//! Compiled ACLs.
//!
//! Lookup, as in Vault's `ACL.AllowOperation`:
//! 1. exact rules (a `HashMap`); for LIST also the path without its trailing `/`;
//! 2. otherwise the best of: the longest matching `*` prefix rule (a byte
//!    trie, one walk over the path) and every matching `+` rule (a trie over
//!    path segments: only the literal child named by each segment and the
//!    `+` child are visited), ranked by Vault's precedence;
//! 3. for LIST (and `sys/capabilities`) a path ending in `/` is retried
//!    without it, as OpenBao does (see [`Acl::capabilities`]).
//!
//! Identical patterns (from one or several policies) are merged when the ACL
//! is built: capabilities are unioned (deny wins), parameter lists merged,
//! the lowest non-zero wrapping TTLs kept.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value as J};

use crate::{Caps, PathRule, Policy, TemplateVars};

/// One request to authorize.
#[derive(Clone, Copy, Debug)]
pub struct AclRequest<'a> {
    /// The single capability the operation needs: CREATE/READ/UPDATE/PATCH/DELETE/LIST.
    pub op: Caps,
    pub path: &'a str,
    pub data: Option<&'a Map<String, J>>,
    pub wrap_ttl: Option<Duration>,
}

/// Owned result of [`Acl::check`].
#[derive(Clone, Debug, PartialEq)]
pub struct AclResult {
    pub allowed: bool,
    /// The matched rule also grants sudo (root-protected paths need this).
    pub sudo: bool,
    /// Capabilities of the matched rule (empty if nothing matched).
    pub caps: Caps,
    /// Policies whose rule at the matched pattern grants `op`.
    pub granting_policies: Vec<String>,
    /// Set when the request was refused for a min/max_wrapping_ttl
    /// violation. OpenBao 2.7 answers these with 403 "permission denied".
    pub wrap_error: Option<String>,
}

/// Borrowed result of [`Acl::check_ref`]; no allocation.
#[derive(Clone, Copy, Debug)]
pub struct AclDecision<'a> {
    pub allowed: bool,
    pub sudo: bool,
    pub caps: Caps,
    pub wrap_error: Option<&'static str>,
    op: Caps,
    perm: Option<&'a Perm>,
    root: bool,
}

impl<'a> AclDecision<'a> {
    /// Policies whose rule at the matched pattern grants the operation.
    pub fn granting_policies(&self) -> impl Iterator<Item = &'a str> + 'a {
        let op = self.op;
        let root = self.root;
        let perm = self.perm;
        root.then_some("root").into_iter().chain(
            perm.into_iter()
                .flat_map(|p| p.sources.iter())
                .filter(move |(_, c)| !c.contains(Caps::DENY) && c.contains(op))
                .map(|(n, _)| n.as_str()),
        )
    }

    pub fn to_owned(&self) -> AclResult {
        AclResult {
            allowed: self.allowed,
            sudo: self.sudo,
            caps: self.caps,
            granting_policies: if self.allowed { self.granting_policies().map(str::to_string).collect() } else { Vec::new() },
            wrap_error: self.wrap_error.map(str::to_string),
        }
    }
}

/// Merged permissions of one pattern.
#[derive(Debug, Default)]
struct Perm {
    caps: Caps,
    /// `None` = no allowed_parameters at all.
    allowed: Option<HashMap<String, Vec<J>>>,
    denied: Option<HashMap<String, Vec<J>>>,
    required: Vec<String>,
    min_wrap: Duration,
    max_wrap: Duration,
    /// Each contributing policy and what its rule(s) here granted.
    sources: Vec<(String, Caps)>,
    /// Any parameter or wrapping constraint (skip that work when false).
    constrained: bool,
}

impl Perm {
    fn merge(&mut self, policy: &str, r: &PathRule) {
        match self.sources.iter_mut().find(|(n, _)| n == policy) {
            Some((_, c)) => *c |= r.caps,
            None => self.sources.push((policy.to_string(), r.caps)),
        }
        if self.caps.contains(Caps::DENY) {
            return;
        }
        if r.caps.contains(Caps::DENY) {
            self.caps = Caps::DENY;
            return;
        }
        self.caps |= r.caps;
        let min = |a: Duration, b: Option<Duration>| match b {
            Some(b) if !b.is_zero() && (a.is_zero() || b < a) => b,
            _ => a,
        };
        self.min_wrap = min(self.min_wrap, r.min_wrapping_ttl);
        self.max_wrap = min(self.max_wrap, r.max_wrapping_ttl);
        merge_params(&mut self.allowed, &r.allowed_parameters);
        merge_params(&mut self.denied, &r.denied_parameters);
        for p in &r.required_parameters {
            if !self.required.contains(p) {
                self.required.push(p.clone());
            }
        }
        self.constrained = self.allowed.is_some()
            || self.denied.is_some()
            || !self.required.is_empty()
            || !self.min_wrap.is_zero()
            || !self.max_wrap.is_zero();
    }
}

/// An empty value list means "any value" and absorbs lists merged into it.
fn merge_params(into: &mut Option<HashMap<String, Vec<J>>>, from: &HashMap<String, Vec<J>>) {
    if from.is_empty() {
        return;
    }
    let map = into.get_or_insert_with(HashMap::new);
    for (k, v) in from {
        match map.get_mut(k) {
            None => {
                map.insert(k.clone(), v.clone());
            }
            Some(existing) if existing.is_empty() => {}
            Some(existing) if v.is_empty() => existing.clear(),
            Some(existing) => existing.extend(v.iter().cloned()),
        }
    }
}

/// A `+` pattern (may also end in `*`).
#[derive(Debug)]
struct SegRule {
    /// Segments of the pattern without its trailing `*`.
    segs: Vec<Box<str>>,
    is_prefix: bool,
    prio: Prio,
    perm: u32,
}

/// Vault's precedence key; a greater value wins.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Prio {
    /// Byte index of the first `+`, or of the `*` for prefix rules.
    first_wc: usize,
    is_prefix: bool,
    wildcards: usize,
    /// Pattern without its trailing `*`.
    path: Box<str>,
}

impl Ord for Prio {
    fn cmp(&self, o: &Self) -> Ordering {
        self.first_wc
            .cmp(&o.first_wc)
            .then(o.is_prefix.cmp(&self.is_prefix)) // prefix loses
            .then(o.wildcards.cmp(&self.wildcards)) // more `+` loses
            .then(self.path.len().cmp(&o.path.len()))
            .then(self.path.cmp(&o.path))
    }
}
impl PartialOrd for Prio {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

/// Byte trie over `*` prefixes.
#[derive(Debug, Default)]
struct Trie {
    nodes: Vec<TrieNode>,
}
#[derive(Debug, Default)]
struct TrieNode {
    /// Sorted by byte.
    children: Vec<(u8, u32)>,
    perm: Option<u32>,
}

impl Trie {
    fn insert(&mut self, key: &[u8], perm: u32) {
        if self.nodes.is_empty() {
            self.nodes.push(TrieNode::default());
        }
        let mut n = 0usize;
        for &b in key {
            n = match self.nodes[n].children.binary_search_by_key(&b, |c| c.0) {
                Ok(i) => self.nodes[n].children[i].1 as usize,
                Err(i) => {
                    let id = self.nodes.len();
                    self.nodes.push(TrieNode::default());
                    self.nodes[n].children.insert(i, (b, id as u32));
                    id
                }
            };
        }
        self.nodes[n].perm = Some(perm);
    }

    /// Longest stored prefix of `key`: (its length, perm).
    fn longest_prefix(&self, key: &[u8]) -> Option<(usize, u32)> {
        let mut n = self.nodes.first()?;
        let mut best = n.perm.map(|p| (0, p));
        for (i, b) in key.iter().enumerate() {
            match n.children.binary_search_by_key(b, |c| c.0) {
                Ok(j) => n = &self.nodes[n.children[j].1 as usize],
                Err(_) => break,
            }
            if let Some(p) = n.perm {
                best = Some((i + 1, p));
            }
        }
        best
    }
}

/// The compiled permissions of a token's policies.
#[derive(Debug, Default)]
pub struct Acl {
    root: bool,
    perms: Vec<Perm>,
    exact: HashMap<Box<str>, u32>,
    prefix: Trie,
    /// Precedence of each prefix perm (Vault: first glob at the prefix's end).
    prefix_prio: HashMap<u32, Prio>,
    /// `+` rules, in a trie over path segments.
    seg: SegTrie,
    policy_names: Vec<String>,
}

const LIST_BUF: usize = 512;

impl Acl {
    /// Compile. A policy named `root` makes a root ACL (everything allowed,
    /// including sudo). Templated paths are skipped (a token without an
    /// entity: Vault drops a template it cannot resolve).
    pub fn new(policies: &[Arc<Policy>]) -> Acl {
        Acl::for_identity(policies, None)
    }

    /// Compile for a token's identity: templated paths are rendered with
    /// `vars` ([`crate::template::render`]) and kept as the path that results;
    /// a templated path that does not render (unknown parameter, missing
    /// value, a value that would widen the match) is dropped, so it matches
    /// nothing. A `deny` path is the exception for widening values: it is
    /// rendered with them as they are, since a wider deny grants nothing.
    /// `None`: every templated path is dropped.
    pub fn for_identity(policies: &[Arc<Policy>], vars: Option<&TemplateVars>) -> Acl {
        let mut acl = Acl { policy_names: policies.iter().map(|p| p.name.clone()).collect(), ..Acl::default() };
        if policies.iter().any(|p| p.name == "root") {
            acl.root = true;
            return acl;
        }
        #[derive(PartialEq, Eq, Hash)]
        enum Kind {
            Exact,
            Prefix,
            Seg,
        }
        let mut index: HashMap<(Kind, String), u32> = HashMap::new();
        for p in policies {
            for r in &p.rules {
                let rendered;
                let pat = if r.templated {
                    let deny = r.caps.contains(Caps::DENY);
                    let render = if deny { crate::template::render_deny } else { crate::template::render };
                    match vars.map(|v| render(&r.pattern, v)) {
                        // A widened deny may join a `+` and a `*`: read it as the wider `*`.
                        Some(Ok(p)) if deny => {
                            rendered = p.replace("+*", "*");
                            rendered.as_str()
                        }
                        // Grant values hold no `+`/`*`; the joined pattern is checked as at parse time.
                        Some(Ok(p)) if !p.contains("+*") => {
                            rendered = p;
                            rendered.as_str()
                        }
                        _ => continue,
                    }
                } else {
                    r.pattern.as_str()
                };
                let kind = if pat.contains('+') {
                    Kind::Seg
                } else if pat.ends_with('*') {
                    Kind::Prefix
                } else {
                    Kind::Exact
                };
                let next = acl.perms.len() as u32;
                let id = *index.entry((kind, pat.to_string())).or_insert(next);
                if id == next {
                    acl.perms.push(Perm::default());
                }
                acl.perms[id as usize].merge(&p.name, r);
            }
        }
        let mut segs = Vec::new();
        for ((kind, pat), id) in index {
            match kind {
                Kind::Exact => {
                    acl.exact.insert(pat.into(), id);
                }
                Kind::Prefix => {
                    let base = &pat[..pat.len() - 1];
                    acl.prefix.insert(base.as_bytes(), id);
                    acl.prefix_prio.insert(
                        id,
                        Prio { first_wc: base.len(), is_prefix: true, wildcards: 0, path: base.into() },
                    );
                }
                Kind::Seg => {
                    let is_prefix = pat.ends_with('*');
                    let base = if is_prefix { &pat[..pat.len() - 1] } else { &pat[..] };
                    let parts: Vec<Box<str>> = base.split('/').map(Into::into).collect();
                    let prio = Prio {
                        first_wc: pat.find('+').unwrap_or(0),
                        is_prefix,
                        wildcards: parts.iter().filter(|s| &***s == "+").count(),
                        path: base.into(),
                    };
                    segs.push(SegRule { segs: parts, is_prefix, prio, perm: id });
                }
            }
        }
        for r in segs {
            acl.seg.insert(r);
        }
        acl
    }

    pub fn is_root(&self) -> bool {
        self.root
    }

    /// Does any rule grant some capability on `prefix` or below it? Used by
    /// `sys/internal/ui/mounts/<path>`, which Vault allows for a token with
    /// any access under the mount. Rules that only deny do not count.
    pub fn has_any_under(&self, prefix: &str) -> bool {
        if self.root {
            return true;
        }
        let grants = |id: u32| {
            let c = self.perms[id as usize].caps;
            !c.contains(Caps::DENY) && c != Caps::NONE
        };
        // Two path patterns overlap below `prefix` when one is a prefix of the other.
        let overlaps = |base: &str| base.starts_with(prefix) || prefix.starts_with(base);
        if self.exact.iter().any(|(p, &id)| p.starts_with(prefix) && grants(id)) {
            return true;
        }
        if self.prefix_prio.iter().any(|(&id, pr)| overlaps(&pr.path) && grants(id)) {
            return true;
        }
        self.seg.rules.iter().any(|r| {
            // The literal part before the first `+` decides where the rule can match.
            let lit = r.prio.path.split('+').next().unwrap_or("");
            overlaps(lit) && grants(r.perm)
        })
    }

    /// Names of the policies this ACL was built from.
    pub fn policy_names(&self) -> &[String] {
        &self.policy_names
    }

    /// The permissions that apply to `path`. As OpenBao does for LIST
    /// requests and for `sys/capabilities` (`list` = true), a path ending in
    /// `/` is also tried without that one `/`: exact(path), exact(trimmed),
    /// globs(path), globs(trimmed), first hit wins. Other operations use
    /// exact(path) then globs(path) only.
    fn lookup(&self, path: &str, list: bool) -> Option<&Perm> {
        let trimmed = if list { path.strip_suffix('/') } else { None };
        if let Some(&id) = self.exact.get(path) {
            return Some(&self.perms[id as usize]);
        }
        if let Some(&id) = trimmed.and_then(|p| self.exact.get(p)) {
            return Some(&self.perms[id as usize]);
        }
        if let Some(p) = self.lookup_globs(path) {
            return Some(p);
        }
        trimmed.and_then(|p| self.lookup_globs(p))
    }

    /// Best `*` or `+` rule for `path` by Vault's precedence.
    fn lookup_globs(&self, path: &str) -> Option<&Perm> {
        let mut best: Option<(&Prio, u32)> = None;
        if let Some((_, id)) = self.prefix.longest_prefix(path.as_bytes())
            && let Some(p) = self.prefix_prio.get(&id)
        {
            best = Some((p, id));
        }
        if !self.seg.rules.is_empty() {
            self.seg.best(0, path.split('/'), &mut best);
        }
        best.map(|(_, id)| &self.perms[id as usize])
    }

    /// Authorize one request. Allocates only for `granting_policies`; use
    /// [`Acl::check_ref`] on hot paths.
    pub fn check(&self, req: &AclRequest) -> AclResult {
        self.check_ref(req).to_owned()
    }

    /// Authorize one request without allocating (for LIST paths shorter than
    /// 512 bytes without a trailing `/`, the `/` is added in a stack buffer).
    pub fn check_ref<'s>(&'s self, req: &AclRequest) -> AclDecision<'s> {
        let mut d = AclDecision { allowed: false, sudo: false, caps: Caps::NONE, wrap_error: None, op: req.op, perm: None, root: false };
        if self.root {
            d.allowed = true;
            d.sudo = true;
            d.caps = Caps::ALL;
            d.root = true;
            return d;
        }
        let list = req.op == Caps::LIST;
        let perm = if list && !req.path.ends_with('/') {
            let mut buf = [0u8; LIST_BUF];
            let n = req.path.len();
            if n < LIST_BUF {
                buf[..n].copy_from_slice(req.path.as_bytes());
                buf[n] = b'/';
                // Valid UTF-8: a str plus an ASCII byte.
                let p = std::str::from_utf8(&buf[..=n]).unwrap_or(req.path);
                self.lookup(p, true)
            } else {
                self.lookup(&format!("{}/", req.path), true)
            }
        } else {
            self.lookup(req.path, list)
        };
        let Some(perm) = perm else { return d };
        d.perm = Some(perm);
        d.caps = perm.caps;
        d.sudo = perm.caps.contains(Caps::SUDO);
        if perm.caps.contains(Caps::DENY) || req.op.is_empty() || !perm.caps.contains(req.op) {
            return d;
        }
        if perm.constrained {
            if !perm.max_wrap.is_zero() {
                match req.wrap_ttl {
                    None => {
                        d.wrap_error = Some("response wrapping is required by max_wrapping_ttl");
                        return d;
                    }
                    Some(t) if t > perm.max_wrap => {
                        d.wrap_error = Some("requested wrapping TTL is above max_wrapping_ttl");
                        return d;
                    }
                    _ => {}
                }
            }
            if !perm.min_wrap.is_zero() {
                match req.wrap_ttl {
                    None => {
                        d.wrap_error = Some("response wrapping is required by min_wrapping_ttl");
                        return d;
                    }
                    Some(t) if t < perm.min_wrap => {
                        d.wrap_error = Some("requested wrapping TTL is below min_wrapping_ttl");
                        return d;
                    }
                    _ => {}
                }
            }
            if [Caps::READ, Caps::UPDATE, Caps::CREATE, Caps::PATCH].contains(&req.op) && !params_ok(perm, req.data) {
                return d;
            }
        }
        d.allowed = true;
        d
    }

    /// What `sys/capabilities` returns for `path` (one leading `/` is
    /// ignored, and a trailing `/` handled as for LIST, as OpenBao does):
    /// `["root"]` for a root
    /// ACL, `["deny"]` when nothing (or deny) applies, else the sorted names.
    pub fn capabilities(&self, path: &str) -> Vec<String> {
        if self.root {
            return vec!["root".to_string()];
        }
        // sys/capabilities ignores one leading '/' of the path it is given.
        let path = path.strip_prefix('/').unwrap_or(path);
        let caps = self.lookup(path, true).map(|p| p.caps).unwrap_or_default();
        let names = caps.names();
        if names.is_empty() {
            return vec!["deny".to_string()];
        }
        names.into_iter().map(str::to_string).collect()
    }
}

/// `+` rules in a trie keyed by pattern segment, so a lookup visits only
/// the literal child named by each path segment and the `+` child.
///
/// Matching, as Vault does: `+` matches any one segment (even empty), a
/// literal must be equal, and for a pattern ending in `*` the last pattern
/// segment is a prefix of the path's segment there, after which any number
/// of further segments may follow.
#[derive(Debug, Default)]
struct SegTrie {
    nodes: Vec<SegNode>,
    rules: Vec<SegRule>,
}

#[derive(Debug, Default)]
struct SegNode {
    lit: HashMap<Box<str>, u32>,
    plus: Option<u32>,
    /// Rules whose (non-`*`) pattern ends exactly here.
    end: Vec<u32>,
    /// `*` rules whose last segment is matched here: (segment, rule).
    prefix: Vec<(Box<str>, u32)>,
}

impl SegTrie {
    fn insert(&mut self, r: SegRule) {
        if self.nodes.is_empty() {
            self.nodes.push(SegNode::default());
        }
        let n_walk = if r.is_prefix { r.segs.len() - 1 } else { r.segs.len() };
        let mut n = 0usize;
        for seg in &r.segs[..n_walk] {
            let next = if &**seg == "+" { self.nodes[n].plus } else { self.nodes[n].lit.get(seg).copied() };
            n = match next {
                Some(c) => c as usize,
                None => {
                    let c = self.nodes.len() as u32;
                    self.nodes.push(SegNode::default());
                    if &**seg == "+" {
                        self.nodes[n].plus = Some(c);
                    } else {
                        self.nodes[n].lit.insert(seg.clone(), c);
                    }
                    c as usize
                }
            };
        }
        let id = self.rules.len() as u32;
        if r.is_prefix {
            let last = r.segs[r.segs.len() - 1].clone();
            self.nodes[n].prefix.push((last, id));
        } else {
            self.nodes[n].end.push(id);
        }
        self.rules.push(r);
    }

    /// Visit every rule matching the remaining `parts` from `node`, keeping
    /// the highest-priority one in `best`.
    fn best<'a>(&'a self, node: usize, mut parts: std::str::Split<'_, char>, best: &mut Option<(&'a Prio, u32)>) {
        let n = &self.nodes[node];
        let mut consider = |id: u32| {
            let r = &self.rules[id as usize];
            if best.is_none_or(|(b, _)| r.prio > *b) {
                *best = Some((&r.prio, r.perm));
            }
        };
        let Some(part) = parts.next() else {
            n.end.iter().for_each(|&id| consider(id));
            return;
        };
        for (seg, id) in &n.prefix {
            if &**seg == "+" || part.starts_with(&**seg) {
                consider(*id);
            }
        }
        if let Some(&c) = n.lit.get(part) {
            self.best(c as usize, parts.clone(), best);
        }
        if let Some(c) = n.plus {
            self.best(c as usize, parts, best);
        }
    }
}

fn params_ok(perm: &Perm, data: Option<&Map<String, J>>) -> bool {
    let empty = Map::new();
    let data = data.unwrap_or(&empty);
    for r in &perm.required {
        if !data.contains_key(r.to_lowercase().as_str()) {
            return false;
        }
    }
    if data.is_empty() {
        return true;
    }
    if let Some(denied) = &perm.denied {
        if denied.contains_key("*") {
            return false;
        }
        for (k, v) in data {
            if let Some(list) = get_lower(denied, k)
                && denied_value(v, list)
            {
                return false;
            }
        }
    }
    let Some(allowed) = &perm.allowed else { return true };
    let allow_all = allowed.contains_key("*");
    if allowed.len() == 1 && allow_all {
        return true;
    }
    for (k, v) in data {
        match get_lower(allowed, k) {
            None if !allow_all => return false,
            None => {}
            Some(list) if !allowed_value(v, list) => return false,
            Some(_) => {}
        }
    }
    true
}

/// Map lookup by lowercased key, allocating only for non-lowercase keys.
fn get_lower<'m>(m: &'m HashMap<String, Vec<J>>, k: &str) -> Option<&'m Vec<J>> {
    if k.chars().any(char::is_uppercase) { m.get(&k.to_lowercase()) } else { m.get(k) }
}

/// Vault's `strutil.GlobbedStringsMatch`, the matching of one string entry of
/// an `allowed_parameters` / `denied_parameters` list against a string value:
/// an entry shorter than two bytes is literal (`"*"` matches only `*`);
/// otherwise `*x*` means "contains x", `*x` "ends with x", `x*` "starts with
/// x", and anything else is literal (`a*c` matches only `a*c`). So `"**"`
/// matches every string, the empty one included.
pub(crate) fn globbed_strings_match(pattern: &str, value: &str) -> bool {
    let n = pattern.len();
    if n < 2 {
        return pattern == value;
    }
    // `*` is ASCII, so 1 and n - 1 are char boundaries when the ends are `*`.
    match (pattern.starts_with('*'), pattern.ends_with('*')) {
        (true, true) => value.contains(&pattern[1..n - 1]),
        (true, false) => value.ends_with(&pattern[1..]),
        (false, true) => value.starts_with(&pattern[..n - 1]),
        (false, false) => pattern == value,
    }
}

/// Vault's `valueInParameterList` element test: a string entry globs a string
/// value (and matches nothing else); `null` matches `null`; other entries are
/// compared with [`vault_deep_eq`].
fn entry_matches(entry: &J, v: &J) -> bool {
    match (entry, v) {
        (J::String(p), J::String(s)) => globbed_strings_match(p, s),
        (J::String(_), _) => false,
        _ => vault_deep_eq(entry, v),
    }
}

/// Go's `reflect.DeepEqual` between a value from a policy (HCL/JSON decoded
/// to Go ints/floats) and one from a JSON request (decoded with `UseNumber`,
/// so numbers are `json.Number`): numbers never compare equal, which is why
/// `allowed_parameters = { "n" = [1] }` admits no JSON `n` in Vault and
/// OpenBao. Everything else compares structurally.
fn vault_deep_eq(entry: &J, v: &J) -> bool {
    match (entry, v) {
        (J::Null, J::Null) => true,
        (J::Bool(a), J::Bool(b)) => a == b,
        (J::String(a), J::String(b)) => a == b,
        (J::Array(a), J::Array(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| vault_deep_eq(x, y)),
        (J::Object(a), J::Object(b)) => a.len() == b.len() && a.iter().all(|(k, x)| b.get(k).is_some_and(|y| vault_deep_eq(x, y))),
        _ => false,
    }
}

fn in_list(v: &J, list: &[J]) -> bool {
    list.iter().any(|e| entry_matches(e, v))
}

/// [`in_list`] for a string that is not a JSON value (an item of a comma list).
fn str_in_list(s: &str, list: &[J]) -> bool {
    list.iter().any(|e| matches!(e, J::String(p) if globbed_strings_match(p, s)))
}

/// Coffer's one addition for denied lists: a number entry denies a request
/// number of the same value (Vault's type-strict comparison never matches
/// them, so there such an entry denies nothing; refusing is the fail-closed
/// reading of what the policy says).
fn in_denied_list(v: &J, list: &[J]) -> bool {
    in_list(v, list)
        || v.as_f64().is_some_and(|x| list.iter().any(|e| matches!(e, J::Number(_)) && e.as_f64() == Some(x)))
}

/// Vault's `parseutil.ParseCommaStringSlice` on a string: `""` is the empty
/// list, anything else is split on `,` and each item trimmed (empty items kept).
fn comma_items(s: &str) -> Vec<&str> {
    if s.is_empty() { Vec::new() } else { s.split(',').map(str::trim).collect() }
}

/// Vault 1.21's `valueInAllowedParameterList`: an empty list allows any value;
/// the whole value may match an entry; otherwise a list value is allowed when
/// every element matches an entry, and a string value when every item of it
/// read as a comma-separated list does (an empty list or `""` has no item
/// that fails). OpenBao 2.7 has only the whole-value match.
fn allowed_value(v: &J, list: &[J]) -> bool {
    if list.is_empty() || in_list(v, list) {
        return true;
    }
    match v {
        J::Array(items) => items.iter().all(|i| in_list(i, list)),
        J::String(s) => comma_items(s).into_iter().all(|i| str_in_list(i, list)),
        _ => false,
    }
}

/// Vault 1.21's `valueInDeniedParameterList`: an empty list denies any value;
/// otherwise the whole value, any element of a list value, or any item of a
/// string read as a comma-separated list matching an entry denies. OpenBao 2.7
/// has only the whole-value match.
fn denied_value(v: &J, list: &[J]) -> bool {
    if list.is_empty() || in_denied_list(v, list) {
        return true;
    }
    match v {
        J::Array(items) => items.iter().any(|i| in_denied_list(i, list)),
        J::String(s) => comma_items(s).into_iter().any(|i| str_in_list(i, list)),
        _ => false,
    }
}
