//! Typed reads over the YAML tree with yaml.v3's decoding rules, reporting problems by position.
//!
//! The rules that matter for compatibility with Akash (Go, yaml.v3, non-strict):
//! - a string field takes the raw text of any scalar (`True` stays `"True"`);
//! - an integer field takes plain integers, and floats by truncation, but not quoted numbers;
//! - a bool field also takes YAML 1.1 words (`yes`, `on`, `no`, `off`);
//! - `null` leaves a field at its zero value; null items of a sequence are dropped;
//! - unknown keys are ignored (we warn), duplicate keys are errors, `<<` merges mappings.

use crate::diag::{Path, Pos, Sink, suggest};
use crate::gocompat::{Resolved, resolve_plain};
use crate::yaml::{Doc, Kind, NodeId, Scalar};

/// Bound on node visits including alias expansion (yaml.v3 refuses "excessive aliasing" too).
pub const MAX_VISITS: u64 = 1_000_000;

/// Deepest chain of `<<` merges followed (a merge of a mapping that merges itself is a cycle).
const MAX_MERGE_DEPTH: usize = 32;

pub(crate) struct Decoder<'d, 'a> {
    doc: &'d Doc<'a>,
    pub sink: Sink,
    visits: u64,
    exhausted: bool,
    merge_depth: usize,
}

/// One key of a mapping, after merges.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Entry<'d> {
    pub key: &'d str,
    pub key_pos: Pos,
    pub value: NodeId,
}

impl Entry<'_> {
    /// The value, reported at its key (`deploy.yaml:14:9` points at `port:`).
    pub fn slot(&self) -> Slot {
        Slot { id: self.value, pos: self.key_pos }
    }
}

/// A node to decode and the position to report problems at.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Slot {
    pub id: NodeId,
    pub pos: Pos,
}

/// The known keys of a struct-like mapping.
#[derive(Debug, Default)]
pub(crate) struct Fields<'d> {
    entries: Vec<Entry<'d>>,
}

impl Fields<'_> {
    pub fn get(&self, key: &str) -> Option<Slot> {
        self.entries.iter().find(|e| e.key == key).map(Entry::slot)
    }
}

fn is_null_scalar(s: &Scalar<'_>) -> bool {
    match &s.tag {
        // The untagged case is hot; these are exactly the spellings yaml.v3 resolves to null.
        None => s.plain && matches!(s.value.as_ref(), "" | "~" | "null" | "Null" | "NULL"),
        Some(tag) => s.plain && resolve_plain(&s.value, Some(tag)) == Resolved::Null,
    }
}

impl<'d, 'a> Decoder<'d, 'a> {
    pub fn new(doc: &'d Doc<'a>) -> Decoder<'d, 'a> {
        Decoder { doc, sink: Sink::default(), visits: 0, exhausted: false, merge_depth: 0 }
    }

    pub fn pos(&self, id: NodeId) -> Pos {
        self.doc.node(id).pos
    }

    /// A slot for a node reported at its own position (list items, documents).
    pub fn slot(&self, id: NodeId) -> Slot {
        Slot { id, pos: self.pos(id) }
    }

    /// Follows aliases to the node they name, counting work against [`MAX_VISITS`].
    pub fn deref(&mut self, mut id: NodeId) -> Option<NodeId> {
        self.visits += 1;
        if self.visits > MAX_VISITS {
            if !self.exhausted {
                self.exhausted = true;
                self.sink.error(
                    self.pos(id),
                    "",
                    format!("document expands to too many nodes through anchors and aliases (more than {MAX_VISITS}); refusing it"),
                );
            }
            return None;
        }
        let mut hops = 0;
        while let Kind::Alias { target, .. } = &self.doc.node(id).kind {
            id = *target;
            hops += 1;
            if hops > self.doc.nodes.len() {
                return None;
            }
        }
        Some(id)
    }

    /// The node after following aliases, borrowed from the document (not from `self`).
    fn kind(&mut self, id: NodeId) -> Option<(NodeId, &'d Kind<'a>)> {
        let id = self.deref(id)?;
        let doc = self.doc;
        Some((id, &doc.node(id).kind))
    }

    pub fn is_map(&mut self, id: NodeId) -> bool {
        matches!(self.kind(id), Some((_, Kind::Map(_))))
    }

    pub fn is_null(&mut self, id: NodeId) -> bool {
        matches!(self.kind(id), Some((_, Kind::Scalar(s))) if is_null_scalar(s))
    }

    fn describe(&self, id: NodeId) -> String {
        match &self.doc.node(id).kind {
            Kind::Scalar(s) if s.plain => format!("{:?}", s.value),
            Kind::Scalar(s) => format!("the quoted string {:?}", s.value),
            Kind::Seq(_) => "a list".to_string(),
            Kind::Map(_) => "a mapping".to_string(),
            Kind::Alias { .. } => "an alias".to_string(),
        }
    }

    fn type_error(&mut self, id: NodeId, at: Pos, path: &Path<'_>, expected: &str) {
        let found = self.describe(id);
        self.sink.error(at, path, format!("expected {expected}, found {found}"));
    }

    /// What a Go custom unmarshaler sees as `node.Value`: the scalar's text, `""` for a list or
    /// mapping; `None` for null (Go does not call the unmarshaler for null).
    pub fn raw_text(&mut self, slot: Slot) -> Option<&'d str> {
        match self.kind(slot.id)? {
            (_, Kind::Scalar(s)) if is_null_scalar(s) => None,
            (_, Kind::Scalar(s)) => Some(&s.value),
            _ => Some(""),
        }
    }

    /// A string field: the raw text of any scalar; `None` for null.
    pub fn str(&mut self, slot: Slot, path: &Path<'_>) -> Option<&'d str> {
        match self.kind(slot.id)? {
            (_, Kind::Scalar(s)) if is_null_scalar(s) => None,
            (_, Kind::Scalar(s)) => Some(&s.value),
            (id, _) => {
                self.type_error(id, slot.pos, path, "a string");
                None
            }
        }
    }

    /// [`Decoder::str`], owned.
    pub fn string(&mut self, slot: Slot, path: &Path<'_>) -> Option<String> {
        self.str(slot, path).map(str::to_string)
    }

    /// An unsigned integer field of `bits` bits; `None` for null or on error.
    pub fn uint(&mut self, slot: Slot, path: &Path<'_>, bits: u32) -> Option<u64> {
        let at = slot.pos;
        let max = if bits >= 64 { u64::MAX } else { (1u64 << bits) - 1 };
        let (id, kind) = self.kind(slot.id)?;
        let Kind::Scalar(s) = kind else {
            self.type_error(id, at, path, "a number");
            return None;
        };
        let value: &str = &s.value;
        if !s.plain || s.tag.as_deref() == Some("!!str") {
            self.sink.error(
                at,
                path,
                format!("expected a number, found the quoted string {value:?}; Akash needs a plain number here: write {value} without quotes"),
            );
            return None;
        }
        match resolve_plain(value, s.tag.as_deref()) {
            Resolved::Null => None,
            Resolved::Int(i) if (0..=i128::from(max)).contains(&i) => Some(i as u64),
            // Go converts floats by truncation (`port: 80.9` is 80).
            Resolved::Float(f) if f > -1.0 && f < (max as f64) + 1.0 => Some(f.max(0.0) as u64),
            Resolved::Int(_) | Resolved::Float(_) => {
                self.sink.error(at, path, format!("{value} is outside 0..={max}"));
                None
            }
            _ => {
                self.type_error(id, at, path, "a number");
                None
            }
        }
    }

    /// A bool field: `true`/`false`, and the YAML 1.1 words Go still accepts here.
    pub fn boolean(&mut self, slot: Slot, path: &Path<'_>) -> Option<bool> {
        let (id, kind) = self.kind(slot.id)?;
        let Kind::Scalar(s) = kind else {
            self.type_error(id, slot.pos, path, "true or false");
            return None;
        };
        let resolved = if s.plain { resolve_plain(&s.value, s.tag.as_deref()) } else { Resolved::Str };
        let word = match s.value.as_ref() {
            "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Some(true),
            "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => Some(false),
            _ => None,
        };
        match (resolved, word) {
            (Resolved::Null, _) => None,
            (Resolved::Bool(b), _) => Some(b),
            (Resolved::Str, Some(b)) => Some(b),
            _ => {
                self.type_error(id, slot.pos, path, "true or false");
                None
            }
        }
    }

    /// A list: `None` for null, item ids otherwise (callers skip null items, as Go does).
    pub fn seq(&mut self, slot: Slot, path: &Path<'_>) -> Option<&'d [NodeId]> {
        match self.kind(slot.id)? {
            (_, Kind::Seq(items)) => Some(items),
            (_, Kind::Scalar(s)) if is_null_scalar(s) => None,
            (id, _) => {
                self.type_error(id, slot.pos, path, "a list");
                None
            }
        }
    }

    /// A list of strings (`command`, `args`, `env`, `accept`): null items are dropped.
    pub fn string_seq(&mut self, slot: Slot, path: &Path<'_>) -> Option<Vec<String>> {
        let items = self.seq(slot, path)?;
        let mut out = Vec::with_capacity(items.len());
        for (i, &item) in items.iter().enumerate() {
            if let Some(s) = self.str(self.slot(item), &path.index(i)) {
                out.push(s.to_string());
            }
        }
        Some(out)
    }

    /// The entries of a mapping, with `<<` merges applied (explicit keys win, then earlier merge
    /// sources). `None` for null. Duplicate keys are errors; null keys are ignored.
    pub fn entries(&mut self, slot: Slot, path: &Path<'_>) -> Option<Vec<Entry<'d>>> {
        let pairs = match self.kind(slot.id)? {
            (_, Kind::Map(pairs)) => pairs,
            (_, Kind::Scalar(s)) if is_null_scalar(s) => return None,
            (id, _) => {
                self.type_error(id, slot.pos, path, "a mapping");
                return None;
            }
        };
        let mut out = Vec::with_capacity(pairs.len());
        self.collect_entries(pairs, path, &mut out, true);
        Some(out)
    }

    /// The raw key/value pairs of a mapping without merge processing or duplicate checks, for the
    /// few places where Akash iterates the YAML node itself (top level).
    pub fn raw_pairs(&mut self, slot: Slot, path: &Path<'_>) -> Option<Vec<Entry<'d>>> {
        let pairs = match self.kind(slot.id)? {
            (_, Kind::Map(pairs)) => pairs,
            (_, Kind::Scalar(s)) if is_null_scalar(s) => return None,
            (id, _) => {
                self.type_error(id, slot.pos, path, "a mapping");
                return None;
            }
        };
        Some(pairs.iter().map(|&(k, v)| Entry { key: self.node_text(k), key_pos: self.pos(k), value: v }).collect())
    }

    /// A node's children as Go's `node.Content` lists them: a mapping's keys and values
    /// interleaved, a list's items, nothing for a scalar. Akash's hand-written unmarshalers
    /// (top level, CPU and GPU attributes) walk this list in pairs.
    pub fn content(&mut self, id: NodeId) -> Vec<NodeId> {
        match self.kind(id) {
            Some((_, Kind::Map(pairs))) => pairs.iter().flat_map(|&(k, v)| [k, v]).collect(),
            Some((_, Kind::Seq(items))) => items.clone(),
            _ => Vec::new(),
        }
    }

    /// Text of a node as Go's `node.Value` (aliases show their anchor name).
    pub fn node_text(&self, id: NodeId) -> &'d str {
        let doc = self.doc;
        match &doc.node(id).kind {
            Kind::Scalar(s) => &s.value,
            Kind::Alias { name, .. } => name,
            _ => "",
        }
    }

    fn collect_entries(&mut self, pairs: &'d [(NodeId, NodeId)], path: &Path<'_>, out: &mut Vec<Entry<'d>>, own: bool) {
        let doc = self.doc;
        // Duplicate keys (same kind and raw text) within one mapping are yaml.v3 errors. Small
        // mappings are scanned; large ones (hostile input) use a set to stay linear.
        let mut seen: std::collections::HashMap<(bool, &str), Pos> = std::collections::HashMap::new();
        for (i, &(k, v)) in pairs.iter().enumerate() {
            let key_node = doc.node(k);
            let (is_alias, text) = match &key_node.kind {
                Kind::Alias { name, .. } => (true, *name),
                Kind::Scalar(s) => (false, s.value.as_ref()),
                _ => (false, ""),
            };
            let key_pos = key_node.pos;
            let first = if pairs.len() <= 16 {
                pairs[..i]
                    .iter()
                    .map(|&(k0, _)| doc.node(k0))
                    .find(|n| match &n.kind {
                        Kind::Alias { name, .. } => is_alias && *name == text,
                        Kind::Scalar(s) => !is_alias && s.value == text,
                        _ => false,
                    })
                    .map(|n| n.pos)
            } else {
                match seen.entry((is_alias, text)) {
                    std::collections::hash_map::Entry::Occupied(e) => Some(*e.get()),
                    std::collections::hash_map::Entry::Vacant(e) => {
                        e.insert(key_pos);
                        None
                    }
                }
            };
            if let Some(first) = first {
                self.sink.error(
                    key_pos,
                    path,
                    format!("key {text:?} is defined twice (first at line {}); remove one", first.line),
                );
                continue;
            }
            if matches!(&key_node.kind, Kind::Scalar(s) if s.plain && s.value == "<<") {
                continue;
            }
            let Some((key_id, key_kind)) = self.kind(k) else { continue };
            let key: &'d str = match key_kind {
                Kind::Scalar(s) if is_null_scalar(s) => {
                    self.sink.warn(key_pos, path, "a null key is ignored");
                    continue;
                }
                Kind::Scalar(s) => &s.value,
                _ => {
                    self.type_error(key_id, key_pos, path, "a string key");
                    continue;
                }
            };
            if !own && out.iter().any(|e| e.key == key) {
                continue;
            }
            out.push(Entry { key, key_pos, value: v });
        }
        for &(k, v) in pairs {
            if matches!(&doc.node(k).kind, Kind::Scalar(s) if s.plain && s.value == "<<") {
                self.merge_into(v, path, out);
            }
        }
    }

    fn merge_into(&mut self, merge: NodeId, path: &Path<'_>, out: &mut Vec<Entry<'d>>) {
        const MESSAGE: &str = "a `<<` merge needs a mapping or a list of mappings";
        if self.merge_depth >= MAX_MERGE_DEPTH {
            self.sink.error(self.pos(merge), path, "`<<` merges nest too deeply (a mapping that merges itself?)");
            return;
        }
        self.merge_depth += 1;
        self.merge_body(merge, path, out, MESSAGE);
        self.merge_depth -= 1;
    }

    fn merge_body(&mut self, merge: NodeId, path: &Path<'_>, out: &mut Vec<Entry<'d>>, message: &'static str) {
        match self.kind(merge) {
            Some((_, Kind::Map(pairs))) => self.collect_entries(pairs, path, out, false),
            Some((_, Kind::Seq(items))) => {
                for &item in items {
                    match self.kind(item) {
                        Some((_, Kind::Map(pairs))) => self.collect_entries(pairs, path, out, false),
                        _ => self.sink.error(self.pos(item), path, message),
                    }
                }
            }
            _ => self.sink.error(self.pos(merge), path, message),
        }
    }

    /// A struct-like mapping: keeps `known` keys and warns about the others, which Akash ignores.
    pub fn fields(&mut self, slot: Slot, path: &Path<'_>, known: &[&str]) -> Option<Fields<'d>> {
        let mut entries = self.entries(slot, path)?;
        entries.retain(|entry| {
            let keep = known.contains(&entry.key);
            if !keep {
                self.warn_unknown(entry, path, known);
            }
            keep
        });
        Some(Fields { entries })
    }

    pub fn warn_unknown(&mut self, entry: &Entry<'_>, path: &Path<'_>, known: &[&str]) {
        let hint = match suggest(entry.key, known) {
            Some(k) => format!("; did you mean `{k}`?"),
            None => format!("; known keys here: {}", known.join(", ")),
        };
        self.sink.warn(
            entry.key_pos,
            path.key(entry.key),
            format!("unknown key, ignored (Akash ignores it too){hint}"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with<T>(src: &str, f: impl FnOnce(&mut Decoder<'_, '_>, NodeId) -> T) -> (T, Sink) {
        let doc = Doc::parse(src).expect("valid yaml");
        let mut d = Decoder::new(&doc);
        let root = doc.root.expect("root");
        let out = f(&mut d, root);
        (out, d.sink)
    }

    fn field(d: &mut Decoder<'_, '_>, root: NodeId, key: &str) -> Slot {
        let root = d.slot(root);
        let entries = d.entries(root, &Path::Root).expect("mapping");
        entries.into_iter().find(|e| e.key == key).map(|e| e.slot()).expect("key present")
    }

    const P: Path<'static> = Path::Root;

    #[test]
    fn integers_follow_yaml_v3() {
        let (v, sink) = with("a: 80\nb: \"80\"\nc: 80.9\nd: 70000\ne: ~\n", |d, r| {
            let a = field(d, r, "a");
            let b = field(d, r, "b");
            let c = field(d, r, "c");
            let dd = field(d, r, "d");
            let e = field(d, r, "e");
            (d.uint(a, &P, 32), d.uint(b, &P, 32), d.uint(c, &P, 32), d.uint(dd, &P, 16), d.uint(e, &P, 32))
        });
        assert_eq!(v, (Some(80), None, Some(80), None, None));
        assert_eq!(sink.error_count(), 2);
        assert!(sink.items[0].message.contains("without quotes"));
    }

    #[test]
    fn strings_keep_raw_text() {
        let (v, _) = with("a: True\nb: 1.50\n", |d, r| {
            let a = field(d, r, "a");
            let b = field(d, r, "b");
            (d.string(a, &P), d.string(b, &P))
        });
        assert_eq!(v, (Some("True".to_string()), Some("1.50".to_string())));
    }

    #[test]
    fn bools_accept_yaml11_words() {
        let (v, sink) = with("a: yes\nb: \"on\"\nc: \"true\"\n", |d, r| {
            let a = field(d, r, "a");
            let b = field(d, r, "b");
            let c = field(d, r, "c");
            (d.boolean(a, &P), d.boolean(b, &P), d.boolean(c, &P))
        });
        assert_eq!(v, (Some(true), Some(true), None));
        assert_eq!(sink.error_count(), 1);
    }

    #[test]
    fn merges_and_duplicates() {
        let (keys, sink) = with("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\n", |d, r| {
            let m = field(d, r, "m");
            let entries = d.entries(m, &P).expect("mapping");
            entries.iter().map(|e| (e.key.to_string(), d.string(e.slot(), &P))).collect::<Vec<_>>()
        });
        assert_eq!(keys, vec![("y".into(), Some("3".into())), ("x".into(), Some("1".into()))]);
        assert_eq!(sink.error_count(), 0);
        let (_, sink) = with("a: 1\na: 2\n", |d, r| d.entries(d.slot(r), &P).map(|e| e.len()));
        assert_eq!(sink.error_count(), 1);
    }

    #[test]
    fn null_items_are_dropped() {
        let (v, _) = with("a: [x, ~, y]\n", |d, r| {
            let a = field(d, r, "a");
            d.string_seq(a, &P)
        });
        assert_eq!(v, Some(vec!["x".to_string(), "y".to_string()]));
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut src = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..8 {
            let prev = format!("*a{}", i - 1);
            src.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 10].join(", ")));
        }
        let (_, sink) = with(&src, |d, r| {
            fn walk(d: &mut Decoder<'_, '_>, slot: Slot) {
                if let Some(items) = d.seq(slot, &P) {
                    for &i in items {
                        walk(d, d.slot(i));
                    }
                }
            }
            let last = field(d, r, "a7");
            walk(d, last);
        });
        assert!(sink.items.iter().any(|d| d.message.contains("too many nodes")));
    }
}
