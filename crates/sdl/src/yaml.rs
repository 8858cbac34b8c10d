//! A positioned YAML node tree, built from the event parser that serde-saphyr is made of.
//!
//! Why not deserialize with serde: Akash's parser (Go, yaml.v3) decodes from the *raw text* of
//! scalars (`persistent: True` stays `"True"`, `amount: 1e3` stays `"1e3"`), distinguishes quoted
//! from plain scalars, and we need a line and column for every node to point at mistakes. Serde's
//! data model keeps none of that, so we keep the tree and decode it ourselves in `decode.rs`.

use std::borrow::Cow;
use std::collections::HashMap;

use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle};

use crate::diag::Pos;

/// Largest SDL accepted. Real SDLs are under 100 KiB; the bound keeps hostile input cheap.
pub const MAX_INPUT_BYTES: usize = 4 * 1024 * 1024;
/// Most nodes one document may hold (before alias expansion).
pub const MAX_NODES: usize = 200_000;

pub(crate) type NodeId = usize;

#[derive(Debug)]
pub(crate) struct Node<'a> {
    pub pos: Pos,
    pub kind: Kind<'a>,
}

#[derive(Debug)]
pub(crate) enum Kind<'a> {
    Scalar(Scalar<'a>),
    Seq(Vec<NodeId>),
    Map(Vec<(NodeId, NodeId)>),
    /// An alias (`*name`): refers to the anchored node; `name` is kept for duplicate-key checks.
    Alias {
        target: NodeId,
        name: &'a str,
    },
}

#[derive(Debug)]
pub(crate) struct Scalar<'a> {
    /// The text after escape processing: what Go's `yaml.Node.Value` holds. Borrowed from the
    /// source when escape processing changed nothing.
    pub value: Cow<'a, str>,
    /// Quoted and block scalars are always strings; only plain ones are resolved to null/bool/int.
    pub plain: bool,
    /// Explicit tag in short form (`!!str`, `!!int`, `!custom`), if any.
    pub tag: Option<String>,
}

/// The first document of a YAML stream (Go's `yaml.Unmarshal` reads only the first).
#[derive(Debug, Default)]
pub(crate) struct Doc<'a> {
    pub nodes: Vec<Node<'a>>,
    pub root: Option<NodeId>,
}

/// A YAML syntax error with its position.
#[derive(Debug)]
pub(crate) struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

enum Open {
    Seq(NodeId, Vec<NodeId>),
    Map(NodeId, Vec<NodeId>),
}

impl<'a> Doc<'a> {
    pub fn node(&self, id: NodeId) -> &Node<'a> {
        &self.nodes[id]
    }

    /// Parses the first document of `src`.
    pub fn parse(src: &'a str) -> Result<Doc<'a>, SyntaxError> {
        let mut doc = Doc { nodes: Vec::with_capacity(src.len() / 8), root: None };
        let mut anchors: HashMap<usize, NodeId> = HashMap::new();
        let mut stack: Vec<Open> = Vec::new();
        let mut started = false;

        for item in Parser::new_from_str(src) {
            let (event, span) = item.map_err(|e| {
                let info = e.info();
                let message = if info.contains("recursion limit") {
                    "nesting is deeper than 255 levels; an SDL needs fewer than 10".to_string()
                } else {
                    info
                };
                SyntaxError { pos: Pos::new(e.marker().line(), e.marker().col() + 1), message }
            })?;
            let pos = Pos::new(span.start.line(), span.start.col() + 1);
            let finished = match event {
                Event::StreamStart | Event::StreamEnd => None,
                Event::DocumentStart(..) => {
                    started = true;
                    None
                }
                Event::DocumentEnd => {
                    if started {
                        break;
                    }
                    None
                }
                Event::Scalar(value, style, anchor, tag) => {
                    let tag = tag.map(|t| short_tag(t.handle(), t.suffix()));
                    let id = doc.push(pos, Kind::Scalar(Scalar { value, plain: style == ScalarStyle::Plain, tag }))?;
                    if anchor != 0 {
                        anchors.insert(anchor, id);
                    }
                    Some(id)
                }
                Event::Alias(anchor) => {
                    let target = *anchors
                        .get(&anchor)
                        .ok_or_else(|| SyntaxError { pos, message: "alias refers to an unknown anchor".to_string() })?;
                    let name = src
                        .get(span.start.byte_offset().unwrap_or(0)..span.end.byte_offset().unwrap_or(0))
                        .unwrap_or_default()
                        .trim_start_matches('*');
                    Some(doc.push(pos, Kind::Alias { target, name })?)
                }
                Event::SequenceStart(_, anchor, _) => {
                    let id = doc.push(pos, Kind::Seq(Vec::new()))?;
                    if anchor != 0 {
                        anchors.insert(anchor, id);
                    }
                    stack.push(Open::Seq(id, Vec::new()));
                    None
                }
                Event::MappingStart(_, anchor, _) => {
                    let id = doc.push(pos, Kind::Map(Vec::new()))?;
                    if anchor != 0 {
                        anchors.insert(anchor, id);
                    }
                    stack.push(Open::Map(id, Vec::new()));
                    None
                }
                Event::SequenceEnd => match stack.pop() {
                    Some(Open::Seq(id, items)) => {
                        doc.nodes[id].kind = Kind::Seq(items);
                        Some(id)
                    }
                    _ => return Err(internal(pos)),
                },
                Event::MappingEnd => match stack.pop() {
                    Some(Open::Map(id, items)) => {
                        if items.len() % 2 != 0 {
                            return Err(internal(pos));
                        }
                        let pairs = items.chunks_exact(2).map(|kv| (kv[0], kv[1])).collect();
                        doc.nodes[id].kind = Kind::Map(pairs);
                        Some(id)
                    }
                    _ => return Err(internal(pos)),
                },
                _ => None,
            };
            if let Some(id) = finished {
                match stack.last_mut() {
                    Some(Open::Seq(_, items) | Open::Map(_, items)) => items.push(id),
                    None => doc.root = Some(id),
                }
            }
        }
        Ok(doc)
    }

    fn push(&mut self, pos: Pos, kind: Kind<'a>) -> Result<NodeId, SyntaxError> {
        if self.nodes.len() >= MAX_NODES {
            return Err(SyntaxError {
                pos,
                message: format!("document has more than {MAX_NODES} YAML nodes; an SDL is far smaller"),
            });
        }
        self.nodes.push(Node { pos, kind });
        Ok(self.nodes.len() - 1)
    }
}

fn internal(pos: Pos) -> SyntaxError {
    SyntaxError { pos, message: "unbalanced YAML structure".to_string() }
}

/// `tag:yaml.org,2002:str` → `!!str`, as yaml.v3's `shortTag` does.
fn short_tag(handle: &str, suffix: &str) -> String {
    if handle == "tag:yaml.org,2002:" || handle == "!!" { format!("!!{suffix}") } else { format!("{handle}{suffix}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_positions_and_aliases() {
        let doc = Doc::parse("a: &x [1, 'b']\nc: *x\n").expect("valid yaml");
        let root = doc.root.expect("root");
        let Kind::Map(pairs) = &doc.node(root).kind else { panic!("root is a map") };
        assert_eq!(pairs.len(), 2);
        assert_eq!(doc.node(pairs[0].1).pos, Pos::new(1, 7));
        assert!(
            matches!(&doc.node(pairs[1].1).kind, Kind::Alias { target, name } if *target == pairs[0].1 && *name == "x")
        );
    }

    #[test]
    fn reports_syntax_errors_with_position() {
        let err = Doc::parse("a: [1, 2\nb: c\n").expect_err("unterminated flow sequence");
        assert!(err.pos.line >= 1);
        assert!(!err.message.is_empty());
    }

    #[test]
    fn only_first_document_is_read() {
        let doc = Doc::parse("a: 1\n---\n[: broken").expect("second document is not parsed");
        assert!(doc.root.is_some());
    }
}
