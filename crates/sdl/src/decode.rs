//! Typed reads over the YAML tree with yaml.v3's decoding rules, reporting problems by position.
//!
//! The rules that matter for compatibility with Akash (Go, yaml.v3, non-strict):
//! - a string field takes the raw text of any scalar (`True` stays `"True"`);
//! - an integer field takes plain integers, and floats by truncation, but not quoted numbers;
//! - a bool field also takes YAML 1.1 words (`yes`, `on`, `no`, `off`);
//! - `null` leaves a field at its zero value; null items of a sequence are dropped;
//! - unknown keys are ignored (we warn), duplicate keys are errors, `<<` merges mappings.

use crate::diag::{Pos, Sink, suggest};
use crate::gocompat::{Resolved, resolve_plain};
use crate::yaml::{Doc, Kind, NodeId};

/// Bound on node visits including alias expansion (yaml.v3 refuses "excessive aliasing" too).
pub const MAX_VISITS: u64 = 1_000_000;

pub(crate) struct Decoder<'d> {
    doc: &'d Doc,
    pub sink: Sink,
    visits: u64,
    exhausted: bool,
}

/// One key of a mapping, after merges.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub key: String,
    pub key_pos: Pos,
    pub value: NodeId,
}

impl Entry {
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
pub(crate) struct Fields {
    entries: Vec<Entry>,
}

impl Fields {
    pub fn get(&self, key: &str) -> Option<Slot> {
        self.entries.iter().find(|e| e.key == key).map(Entry::slot)
    }
}

impl<'d> Decoder<'d> {
    pub fn new(doc: &'d Doc) -> Decoder<'d> {
        Decoder { doc, sink: Sink::default(), visits: 0, exhausted: false }
    }

    pub fn pos(&self, id: NodeId) -> Pos {
        self.doc.node(id).pos
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
                    "document expands to too many nodes through anchors and aliases (more than 1000000); refusing it",
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

    pub fn is_map(&mut self, id: NodeId) -> bool {
        self.deref(id).is_some_and(|id| matches!(self.doc.node(id).kind, Kind::Map(_)))
    }

    pub fn is_null(&mut self, id: NodeId) -> bool {
        match self.deref(id).map(|id| &self.doc.node(id).kind) {
            Some(Kind::Scalar(s)) => s.plain && resolve_plain(&s.value, s.tag.as_deref()) == Resolved::Null,
            _ => false,
        }
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

    /// A slot for a node reported at its own position (list items, documents).
    pub fn slot(&self, id: NodeId) -> Slot {
        Slot { id, pos: self.pos(id) }
    }

    fn type_error(&mut self, id: NodeId, at: Pos, path: &str, expected: &str) {
        let found = self.describe(id);
        self.sink.error(at, path, format!("expected {expected}, found {found}"));
    }

    /// What a Go custom unmarshaler sees as `node.Value`: the scalar's text, `""` for a list or
    /// mapping; `None` for null (Go does not call the unmarshaler for null).
    pub fn raw_text(&mut self, slot: Slot) -> Option<String> {
        let id = self.deref(slot.id)?;
        match &self.doc.node(id).kind {
            Kind::Scalar(s) => {
                if s.plain && resolve_plain(&s.value, s.tag.as_deref()) == Resolved::Null {
                    None
                } else {
                    Some(s.value.clone())
                }
            }
            _ => Some(String::new()),
        }
    }

    /// A string field: the raw text of any scalar; `None` for null.
    pub fn string(&mut self, slot: Slot, path: &str) -> Option<String> {
        let (at, id) = (slot.pos, self.deref(slot.id)?);
        match &self.doc.node(id).kind {
            Kind::Scalar(s) => {
                if s.plain && resolve_plain(&s.value, s.tag.as_deref()) == Resolved::Null {
                    None
                } else {
                    Some(s.value.clone())
                }
            }
            _ => {
                self.type_error(id, at, path, "a string");
                None
            }
        }
    }

    /// An unsigned integer field of `bits` bits; `None` for null or on error.
    pub fn uint(&mut self, slot: Slot, path: &str, bits: u32) -> Option<u64> {
        let (at, id) = (slot.pos, self.deref(slot.id)?);
        let max = if bits >= 64 { u64::MAX } else { (1u64 << bits) - 1 };
        let Kind::Scalar(s) = &self.doc.node(id).kind else {
            self.type_error(id, at, path, "a number");
            return None;
        };
        let (value, quoted) = (s.value.clone(), !s.plain || s.tag.as_deref() == Some("!!str"));
        if quoted {
            self.sink.error(
                at,
                path,
                format!("expected a number, found the quoted string {value:?}; Akash needs a plain number here: write {value} without quotes"),
            );
            return None;
        }
        let out_of_range = |v: &str| format!("{v} is outside 0..={max}");
        match resolve_plain(&value, s.tag.as_deref()) {
            Resolved::Null => None,
            Resolved::Int(i) if (0..=i128::from(max)).contains(&i) => Some(i as u64),
            Resolved::Int(_) => {
                self.sink.error(at, path, out_of_range(&value));
                None
            }
            // Go converts floats by truncation (`port: 80.9` is 80).
            Resolved::Float(f) if f > -1.0 && f < (max as f64) + 1.0 => Some(f.max(0.0) as u64),
            Resolved::Float(_) => {
                self.sink.error(at, path, out_of_range(&value));
                None
            }
            _ => {
                self.type_error(id, at, path, "a number");
                None
            }
        }
    }

    /// A bool field: `true`/`false`, and the YAML 1.1 words Go still accepts here.
    pub fn boolean(&mut self, slot: Slot, path: &str) -> Option<bool> {
        let (at, id) = (slot.pos, self.deref(slot.id)?);
        let Kind::Scalar(s) = &self.doc.node(id).kind else {
            self.type_error(id, at, path, "true or false");
            return None;
        };
        let resolved = if s.plain { resolve_plain(&s.value, s.tag.as_deref()) } else { Resolved::Str };
        let word = match s.value.as_str() {
            "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Some(true),
            "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => Some(false),
            _ => None,
        };
        match (resolved, word) {
            (Resolved::Null, _) => None,
            (Resolved::Bool(b), _) => Some(b),
            (Resolved::Str, Some(b)) => Some(b),
            _ => {
                self.type_error(id, at, path, "true or false");
                None
            }
        }
    }

    /// A list: `None` for null, item ids otherwise (callers skip null items, as Go does).
    pub fn seq(&mut self, slot: Slot, path: &str) -> Option<Vec<NodeId>> {
        let (at, id) = (slot.pos, self.deref(slot.id)?);
        match &self.doc.node(id).kind {
            Kind::Seq(items) => Some(items.clone()),
            Kind::Scalar(s) if s.plain && resolve_plain(&s.value, s.tag.as_deref()) == Resolved::Null => None,
            _ => {
                self.type_error(id, at, path, "a list");
                None
            }
        }
    }

    /// A list of strings (`command`, `args`, `env`, `accept`): null items are dropped.
    pub fn string_seq(&mut self, slot: Slot, path: &str) -> Option<Vec<String>> {
        let items = self.seq(slot, path)?;
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            if let Some(s) = self.string(self.slot(item), &crate::diag::index(path, i)) {
                out.push(s);
            }
        }
        Some(out)
    }

    /// The entries of a mapping, with `<<` merges applied (explicit keys win, then earlier merge
    /// sources). `None` for null. Duplicate keys are errors; null keys are ignored.
    pub fn entries(&mut self, slot: Slot, path: &str) -> Option<Vec<Entry>> {
        let (at, id) = (slot.pos, self.deref(slot.id)?);
        let pairs = match &self.doc.node(id).kind {
            Kind::Map(pairs) => pairs.clone(),
            Kind::Scalar(s) if s.plain && resolve_plain(&s.value, s.tag.as_deref()) == Resolved::Null => return None,
            _ => {
                self.type_error(id, at, path, "a mapping");
                return None;
            }
        };
        let mut out: Vec<Entry> = Vec::with_capacity(pairs.len());
        self.collect_entries(&pairs, path, &mut out, true);
        Some(out)
    }

    /// The raw key/value pairs of a mapping without merge processing or duplicate checks, for the
    /// few places where Akash iterates the YAML node itself (top level, GPU).
    pub fn raw_pairs(&mut self, slot: Slot, path: &str) -> Option<Vec<Entry>> {
        let (at, id) = (slot.pos, self.deref(slot.id)?);
        let pairs = match &self.doc.node(id).kind {
            Kind::Map(pairs) => pairs.clone(),
            Kind::Scalar(s) if s.plain && resolve_plain(&s.value, s.tag.as_deref()) == Resolved::Null => return None,
            _ => {
                self.type_error(id, at, path, "a mapping");
                return None;
            }
        };
        Some(pairs.into_iter().map(|(k, v)| Entry { key: self.key_text(k), key_pos: self.pos(k), value: v }).collect())
    }

    /// A node's children as Go's `node.Content` lists them: a mapping's keys and values
    /// interleaved, a list's items, nothing for a scalar. Akash's hand-written unmarshalers
    /// (top level, CPU and GPU attributes) walk this list in pairs.
    pub fn content(&mut self, id: NodeId) -> Vec<NodeId> {
        let Some(id) = self.deref(id) else { return Vec::new() };
        match &self.doc.node(id).kind {
            Kind::Map(pairs) => pairs.iter().flat_map(|&(k, v)| [k, v]).collect(),
            Kind::Seq(items) => items.clone(),
            _ => Vec::new(),
        }
    }

    /// Text of a node as Go's `node.Value` (aliases show their anchor name).
    pub fn node_text(&self, id: NodeId) -> String {
        self.key_text(id)
    }

    /// Text of a key node as Go's node iteration sees it (`node.Content[i].Value`).
    fn key_text(&self, id: NodeId) -> String {
        match &self.doc.node(id).kind {
            Kind::Scalar(s) => s.value.clone(),
            Kind::Alias { name, .. } => name.clone(),
            _ => String::new(),
        }
    }

    fn collect_entries(&mut self, pairs: &[(NodeId, NodeId)], path: &str, out: &mut Vec<Entry>, own: bool) {
        // Duplicate keys (same kind and raw text) within one mapping are yaml.v3 errors.
        let mut seen: Vec<(bool, String, Pos)> = Vec::with_capacity(pairs.len());
        let mut merges = Vec::new();
        for &(k, v) in pairs {
            let key_node = &self.doc.node(k);
            let (is_alias, text) = match &key_node.kind {
                Kind::Alias { name, .. } => (true, name.clone()),
                Kind::Scalar(s) => (false, s.value.clone()),
                _ => (false, String::new()),
            };
            let key_pos = key_node.pos;
            if let Some((_, _, first)) = seen.iter().find(|(a, t, _)| *a == is_alias && *t == text) {
                let first = *first;
                self.sink.error(
                    key_pos,
                    path,
                    format!("key {text:?} is defined twice (first at line {}); remove one", first.line),
                );
                continue;
            }
            seen.push((is_alias, text, key_pos));
            if matches!(&key_node.kind, Kind::Scalar(s) if s.plain && s.value == "<<") {
                merges.push(v);
                continue;
            }
            let Some(key_id) = self.deref(k) else { continue };
            let key = match &self.doc.node(key_id).kind {
                Kind::Scalar(s) if s.plain && resolve_plain(&s.value, s.tag.as_deref()) == Resolved::Null => {
                    self.sink.warn(key_pos, path, "a null key is ignored");
                    continue;
                }
                Kind::Scalar(s) => s.value.clone(),
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
        for merge in merges {
            self.merge_into(merge, path, out);
        }
    }

    fn merge_into(&mut self, merge: NodeId, path: &str, out: &mut Vec<Entry>) {
        let Some(id) = self.deref(merge) else { return };
        match &self.doc.node(id).kind {
            Kind::Map(pairs) => {
                let pairs = pairs.clone();
                self.collect_entries(&pairs, path, out, false);
            }
            Kind::Seq(items) => {
                for item in items.clone() {
                    match self.deref(item).map(|i| (i, &self.doc.node(i).kind)) {
                        Some((_, Kind::Map(pairs))) => {
                            let pairs = pairs.clone();
                            self.collect_entries(&pairs, path, out, false);
                        }
                        _ => {
                            let pos = self.pos(item);
                            self.sink.error(pos, path, "a `<<` merge needs a mapping or a list of mappings");
                        }
                    }
                }
            }
            _ => {
                let pos = self.pos(merge);
                self.sink.error(pos, path, "a `<<` merge needs a mapping or a list of mappings");
            }
        }
    }

    /// A struct-like mapping: keeps `known` keys and warns about the others, which Akash ignores.
    pub fn fields(&mut self, slot: Slot, path: &str, known: &[&str]) -> Option<Fields> {
        let entries = self.entries(slot, path)?;
        let mut kept = Vec::with_capacity(entries.len());
        for entry in entries {
            if known.contains(&entry.key.as_str()) {
                kept.push(entry);
            } else {
                self.warn_unknown(&entry, path, known);
            }
        }
        Some(Fields { entries: kept })
    }

    pub fn warn_unknown(&mut self, entry: &Entry, path: &str, known: &[&str]) {
        let hint = match suggest(&entry.key, known) {
            Some(k) => format!("; did you mean `{k}`?"),
            None => format!("; known keys here: {}", known.join(", ")),
        };
        let key_path = crate::diag::join(path, &entry.key);
        self.sink.warn(entry.key_pos, &key_path, format!("unknown key, ignored (Akash ignores it too){hint}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with<T>(src: &str, f: impl FnOnce(&mut Decoder<'_>, NodeId) -> T) -> (T, Sink) {
        let doc = Doc::parse(src).expect("valid yaml");
        let mut d = Decoder::new(&doc);
        let root = doc.root.expect("root");
        let out = f(&mut d, root);
        (out, d.sink)
    }

    fn field(d: &mut Decoder<'_>, root: NodeId, key: &str) -> Slot {
        let root = d.slot(root);
        let entries = d.entries(root, "").expect("mapping");
        entries.into_iter().find(|e| e.key == key).map(|e| e.slot()).expect("key present")
    }

    #[test]
    fn integers_follow_yaml_v3() {
        let (v, sink) = with("a: 80\nb: \"80\"\nc: 80.9\nd: 70000\ne: ~\n", |d, r| {
            let a = field(d, r, "a");
            let b = field(d, r, "b");
            let c = field(d, r, "c");
            let dd = field(d, r, "d");
            let e = field(d, r, "e");
            (d.uint(a, "a", 32), d.uint(b, "b", 32), d.uint(c, "c", 32), d.uint(dd, "d", 16), d.uint(e, "e", 32))
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
            (d.string(a, "a"), d.string(b, "b"))
        });
        assert_eq!(v, (Some("True".to_string()), Some("1.50".to_string())));
    }

    #[test]
    fn bools_accept_yaml11_words() {
        let (v, sink) = with("a: yes\nb: \"on\"\nc: \"true\"\n", |d, r| {
            let a = field(d, r, "a");
            let b = field(d, r, "b");
            let c = field(d, r, "c");
            (d.boolean(a, "a"), d.boolean(b, "b"), d.boolean(c, "c"))
        });
        assert_eq!(v, (Some(true), Some(true), None));
        assert_eq!(sink.error_count(), 1);
    }

    #[test]
    fn merges_and_duplicates() {
        let (keys, sink) = with("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\n", |d, r| {
            let m = field(d, r, "m");
            let entries = d.entries(m, "m").expect("mapping");
            entries.iter().map(|e| (e.key.clone(), d.string(e.slot(), ""))).collect::<Vec<_>>()
        });
        assert_eq!(keys, vec![("y".into(), Some("3".into())), ("x".into(), Some("1".into()))]);
        assert_eq!(sink.error_count(), 0);
        let (_, sink) = with("a: 1\na: 2\n", |d, r| d.entries(d.slot(r), ""));
        assert_eq!(sink.error_count(), 1);
    }

    #[test]
    fn null_items_are_dropped() {
        let (v, _) = with("a: [x, ~, y]\n", |d, r| {
            let a = field(d, r, "a");
            d.string_seq(a, "a")
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
            fn walk(d: &mut Decoder<'_>, slot: Slot) {
                if let Some(items) = d.seq(slot, "") {
                    for i in items {
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
