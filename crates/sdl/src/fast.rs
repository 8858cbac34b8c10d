//! A fast reader for the plain block YAML that nearly all SDL files are written in.
//!
//! It builds the same tree as the full parser (`yaml::Doc::parse`) for the inputs it accepts, and
//! gives up (`None`) on anything else: anchors, tags, flow mappings, multi-line plain or quoted
//! scalars, escapes, tabs, directives, several documents, indentation it is unsure of, or YAML
//! errors. The caller then uses the full parser, so correctness never depends on this module;
//! only speed does. `tests::fast_path_agrees_with_full_parser` checks equality on the corpus and
//! on generated inputs.

use std::borrow::Cow;

use crate::diag::Pos;
use crate::yaml::{Doc, Kind, NodeId, Scalar};

/// Reads `src` if it is plain block YAML; `None` means "use the full parser".
pub(crate) fn parse(src: &str) -> Option<Doc<'_>> {
    if src.starts_with('%') {
        return None;
    }
    let lines = lines(src)?;
    // Every step of the reader consumes a line or gives up; the fuel bound makes "never loops"
    // hold even if a future change breaks that.
    let fuel = lines.len() * 4 + 16;
    let mut reader =
        Reader { src, lines, next: 0, doc: Doc { nodes: Vec::with_capacity(src.len() / 12), root: None }, fuel };
    let explicit_start = reader.skip_document_start();
    let Some(first) = reader.peek() else {
        // An explicit `---` with nothing after it is an empty scalar document: full parser.
        return (!explicit_start).then_some(reader.doc);
    };
    let root = reader.block(first.indent)?;
    if reader.peek().is_some() {
        return None;
    }
    reader.doc.root = Some(root);
    Some(reader.doc)
}

#[derive(Clone, Copy, Debug)]
struct Line<'a> {
    /// 1-based line number.
    number: usize,
    indent: usize,
    /// The line without its indentation and line break.
    text: &'a str,
    /// Byte offset of `text` in the source.
    offset: usize,
    /// Byte offset of the end of the line, before its break (and before a `\r`).
    end: usize,
}

impl Line<'_> {
    fn is_blank_or_comment(&self) -> bool {
        self.text.is_empty() || self.text.starts_with('#')
    }
}

/// Splits `src` into lines in one pass (`\n` or `\r\n` breaks); `None` if it holds a tab, a
/// lone carriage return or NUL (YAML gives those rules the fast reader does not implement).
fn lines(src: &str) -> Option<Vec<Line<'_>>> {
    let bytes = src.as_bytes();
    // `contains` on bytes is a vectorised memchr.
    if bytes.contains(&b'\t') || bytes.contains(&0) {
        return None;
    }
    let has_cr = bytes.contains(&b'\r');
    let mut out = Vec::with_capacity(bytes.len() / 24);
    let mut start = 0;
    let mut number = 1;
    while start < bytes.len() {
        let end = bytes[start..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |i| start + i);
        let mut content_end = end;
        if has_cr {
            if content_end > start && bytes[content_end - 1] == b'\r' {
                content_end -= 1;
            }
            if bytes[start..content_end].contains(&b'\r') {
                return None;
            }
        }
        let indent = bytes[start..content_end].iter().take_while(|&&b| b == b' ').count();
        let text = src[start + indent..content_end].trim_end_matches(' ');
        out.push(Line { number, indent, text, offset: start + indent, end: content_end });
        number += 1;
        start = end + 1;
    }
    Some(out)
}

struct Reader<'a> {
    src: &'a str,
    lines: Vec<Line<'a>>,
    next: usize,
    doc: Doc<'a>,
    fuel: usize,
}

impl<'a> Reader<'a> {
    /// Skips comments and a leading `---`; true when there was one.
    fn skip_document_start(&mut self) -> bool {
        while let Some(line) = self.lines.get(self.next) {
            if line.is_blank_or_comment() {
                self.next += 1;
            } else if line.indent == 0 && (line.text == "---" || line.text.starts_with("--- #")) {
                self.next += 1;
                return true;
            } else {
                break;
            }
        }
        false
    }

    /// The next line with content (skipping blank and comment lines); stops at document markers.
    /// Also burns fuel: when it runs out the whole read gives up.
    fn peek(&mut self) -> Option<Line<'a>> {
        self.fuel = self.fuel.checked_sub(1)?;
        while let Some(line) = self.lines.get(self.next) {
            if line.is_blank_or_comment() {
                self.next += 1;
                continue;
            }
            return Some(*line);
        }
        None
    }

    fn push(&mut self, pos: Pos, kind: Kind<'a>) -> NodeId {
        self.doc.nodes.push(crate::yaml::Node { pos, kind });
        self.doc.nodes.len() - 1
    }

    fn scalar(&mut self, pos: Pos, value: Cow<'a, str>, plain: bool) -> NodeId {
        self.push(pos, Kind::Scalar(Scalar { value, plain, tag: None }))
    }

    fn pos(line: &Line<'_>, column_in_text: usize) -> Pos {
        Pos::new(line.number, line.indent + column_in_text + 1)
    }

    /// A block node (mapping or sequence) whose lines start at `indent`.
    fn block(&mut self, indent: usize) -> Option<NodeId> {
        let line = self.peek()?;
        if line.indent != indent || is_document_marker(line.text) {
            return None;
        }
        if is_seq_item(line.text) { self.sequence(indent) } else { self.mapping(indent, 0) }
    }

    /// A sequence at the same indentation as the key it belongs to (`key:\n- a`). The full
    /// parser places it at its first item's content rather than at the dash.
    fn indentless_sequence(&mut self, indent: usize) -> Option<NodeId> {
        let first = self.peek()?;
        let body = first.text[1..].trim_start_matches(' ');
        if body.is_empty() || body.starts_with('#') {
            return None;
        }
        let id = self.sequence(indent)?;
        self.doc.nodes[id].pos = Self::pos(&first, first.text.len() - body.len());
        Some(id)
    }

    /// A block sequence of `- item` lines at `indent`.
    fn sequence(&mut self, indent: usize) -> Option<NodeId> {
        let first = self.peek()?;
        let id = self.push(Self::pos(&first, 0), Kind::Seq(Vec::new()));
        let mut items = Vec::new();
        while let Some(line) = self.peek() {
            if line.indent < indent || is_document_marker(line.text) {
                break;
            }
            if line.indent > indent {
                return None;
            }
            if !is_seq_item(line.text) {
                // `key:\n- a\nnext: b`: the parent mapping continues at this indentation.
                break;
            }
            // "- " then the item: a scalar, a compact mapping, or nothing (item on later lines).
            let rest = &line.text[1..];
            let spaces = rest.len() - rest.trim_start_matches(' ').len();
            let body = rest.trim_start_matches(' ');
            let body_col = 1 + spaces;
            if body.is_empty() || body.starts_with('#') {
                let null_pos = self.end_of_raw_line(&line);
                self.next += 1;
                items.push(self.nested_or_null(indent, null_pos, false)?);
            } else if is_seq_item(body) {
                return None;
            } else if mapping_key_len(body).is_some() {
                items.push(self.mapping(indent + body_col, body_col)?);
            } else {
                items.push(self.inline_value(&line, body_col, indent)?);
            }
        }
        // A block sequence has at least one item; an empty one means nothing was consumed.
        if items.is_empty() {
            return None;
        }
        self.doc.nodes[id].kind = Kind::Seq(items);
        Some(id)
    }

    /// A block mapping at `indent`. The first line's key starts `column` bytes into the current
    /// line's text (non-zero for `- key: value`).
    fn mapping(&mut self, indent: usize, column: usize) -> Option<NodeId> {
        let first = self.peek()?;
        let id = self.push(Self::pos(&first, column), Kind::Map(Vec::new()));
        let mut pairs = Vec::new();
        let mut first_line = true;
        while let Some(line) = self.peek() {
            let (text, col) = if first_line { (&line.text[column..], column) } else { (line.text, 0) };
            let line_indent = if first_line { indent } else { line.indent };
            first_line = false;
            if line_indent < indent || is_document_marker(text) {
                break;
            }
            if line_indent > indent || is_seq_item(text) {
                // A sequence at the mapping's own indentation ends it (it belongs to a parent).
                if line_indent == indent && is_seq_item(text) {
                    break;
                }
                return None;
            }
            let key_len = mapping_key_len(text)?;
            let key = &text[..key_len];
            if key == "<<" {
                return None;
            }
            let key_id = self.scalar(Self::pos(&line, col), Cow::Borrowed(key), true);
            let after = &text[key_len + 1..];
            let spaces = after.len() - after.trim_start_matches(' ').len();
            let value_text = after.trim_start_matches(' ');
            let value = if value_text.is_empty() || value_text.starts_with('#') {
                self.next += 1;
                // The full parser puts the implicit null at the colon.
                self.nested_or_null(line_indent, Self::pos(&line, col + key_len), true)?
            } else {
                self.inline_value(&line, col + key_len + 1 + spaces, indent)?
            };
            pairs.push((key_id, value));
        }
        // A block mapping has at least one entry; an empty one means nothing was consumed.
        if pairs.is_empty() {
            return None;
        }
        self.doc.nodes[id].kind = Kind::Map(pairs);
        Some(id)
    }

    /// The value of `key:` or `-` with nothing after it on its line: a more-indented block, a
    /// sequence at the same indentation (mapping values only), or null.
    fn nested_or_null(&mut self, indent: usize, null_pos: Pos, in_mapping: bool) -> Option<NodeId> {
        match self.peek() {
            Some(next) if next.indent > indent && !is_document_marker(next.text) => self.block(next.indent),
            Some(next) if in_mapping && next.indent == indent && is_seq_item(next.text) => {
                self.indentless_sequence(indent)
            }
            // An implicit null, which the full parser spells `~`.
            _ => Some(self.scalar(null_pos, Cow::Borrowed("~"), true)),
        }
    }

    /// Where the full parser puts the implicit null of a `-` item: the end of the raw line.
    fn end_of_raw_line(&self, line: &Line<'_>) -> Pos {
        Pos::new(line.number, line.end - (line.offset - line.indent) + 1)
    }

    /// A value that starts on the current line at byte `col` of its text: a plain or quoted
    /// scalar, a one-line flow sequence, or a block scalar (`|`, `>`). `owner_indent` is the
    /// indentation of the mapping or sequence holding it.
    fn inline_value(&mut self, line: &Line<'a>, col: usize, owner_indent: usize) -> Option<NodeId> {
        let text = &line.text[col..];
        let pos = Self::pos(line, col);
        let first = text.as_bytes()[0];
        let id = match first {
            b'"' | b'\'' => {
                let (value, used) = quoted(text)?;
                trailing_ok(&text[used..])?;
                self.next += 1;
                self.scalar(pos, value, false)
            }
            b'[' => {
                let (id, used) = self.flow_sequence(line, col)?;
                trailing_ok(&text[used..])?;
                self.next += 1;
                id
            }
            // Only the empty flow mapping; any other flow mapping goes to the full parser.
            b'{' if text.starts_with("{}") => {
                trailing_ok(&text[2..])?;
                self.next += 1;
                self.push(pos, Kind::Map(Vec::new()))
            }
            b'|' | b'>' => {
                let header = text.split_once(" #").map_or(text, |(h, _)| h).trim_end();
                self.next += 1;
                // The full parser places a block scalar at its first content line.
                let content = *self.lines.get(self.next)?;
                let value = self.block_scalar(header, owner_indent)?;
                let pos = Pos::new(content.number, content.indent + 1);
                return Some(
                    self.push(pos, Kind::Scalar(Scalar { value: Cow::Owned(value), plain: false, tag: None })),
                );
            }
            _ => {
                let value = plain_scalar(text)?;
                self.next += 1;
                self.scalar(pos, Cow::Borrowed(value), true)
            }
        };
        // A more-indented line after a complete value would continue it or be an error.
        if let Some(next) = self.peek()
            && next.indent > owner_indent
        {
            return None;
        }
        Some(id)
    }

    /// `[a, "b", 'c']` on one line; returns the node and the bytes consumed.
    fn flow_sequence(&mut self, line: &Line<'a>, col: usize) -> Option<(NodeId, usize)> {
        let text = &line.text[col..];
        let id = self.push(Self::pos(line, col), Kind::Seq(Vec::new()));
        let mut items = Vec::new();
        let mut i = 1;
        let bytes = text.as_bytes();
        loop {
            while bytes.get(i) == Some(&b' ') {
                i += 1;
            }
            match bytes.get(i)? {
                b']' if items.is_empty() => {
                    i += 1;
                    break;
                }
                b'"' | b'\'' => {
                    let (value, used) = quoted(&text[i..])?;
                    items.push(self.scalar(Self::pos(line, col + i), value, false));
                    i += used;
                }
                _ => {
                    let end = text[i..].find([',', ']']).map(|e| i + e)?;
                    let raw = text[i..end].trim_end_matches(' ');
                    if raw.is_empty() || !is_plain_flow_item(raw) {
                        return None;
                    }
                    items.push(self.scalar(Self::pos(line, col + i), Cow::Borrowed(raw), true));
                    i = end;
                }
            }
            while bytes.get(i) == Some(&b' ') {
                i += 1;
            }
            match bytes.get(i)? {
                b',' => {
                    i += 1;
                    // No trailing comma before ']'.
                    let rest = text[i..].trim_start_matches(' ');
                    if rest.starts_with(']') {
                        return None;
                    }
                }
                b']' => {
                    i += 1;
                    break;
                }
                _ => return None,
            }
        }
        self.doc.nodes[id].kind = Kind::Seq(items);
        Some((id, i))
    }

    /// `|` / `>` with optional `-`/`+` chomping, lines indented more than `owner_indent`.
    /// Folding follows libyaml: the break between two lines that do not start with a space
    /// becomes one space (or, with blank lines between, one `\n` per blank line); every other
    /// break is kept.
    fn block_scalar(&mut self, header: &str, owner_indent: usize) -> Option<String> {
        let (folded, chomp) = match header {
            "|" => (false, Chomp::Clip),
            "|-" => (false, Chomp::Strip),
            "|+" => (false, Chomp::Keep),
            ">" => (true, Chomp::Clip),
            ">-" => (true, Chomp::Strip),
            ">+" => (true, Chomp::Keep),
            _ => return None,
        };
        // The first content line fixes the indentation; no leading blank lines.
        let first = *self.lines.get(self.next)?;
        if first.text.is_empty() || first.indent <= owner_indent {
            return None;
        }
        let indent = first.indent;
        let mut value = String::new();
        let mut blank_lines = 0usize;
        let mut previous_indented: Option<bool> = None;
        while let Some(line) = self.lines.get(self.next) {
            // A line of spaces only is blank up to the indentation; more spaces are content.
            let blank = line.text.is_empty() && line.indent <= indent;
            if blank {
                blank_lines += 1;
                self.next += 1;
                continue;
            }
            if !line.text.is_empty() && line.indent < indent {
                break;
            }
            let content = &self.src[line.offset - (line.indent - indent)..line.end];
            let indented = content.starts_with(' ');
            if let Some(prev_indented) = previous_indented {
                if folded && !prev_indented && !indented {
                    if blank_lines == 0 {
                        value.push(' ');
                    }
                } else {
                    value.push('\n');
                }
                for _ in 0..blank_lines {
                    value.push('\n');
                }
            }
            blank_lines = 0;
            value.push_str(content);
            previous_indented = Some(indented);
            self.next += 1;
        }
        // A scalar running to the end of input without a final line break chomps differently.
        if self.next >= self.lines.len() && !self.src.ends_with('\n') {
            return None;
        }
        match chomp {
            Chomp::Strip => {}
            Chomp::Clip => {
                if previous_indented.is_some() {
                    value.push('\n');
                }
            }
            Chomp::Keep => {
                value.push('\n');
                for _ in 0..blank_lines {
                    value.push('\n');
                }
            }
        }
        Some(value)
    }
}

#[derive(Clone, Copy)]
enum Chomp {
    Strip,
    Clip,
    Keep,
}

fn is_document_marker(text: &str) -> bool {
    text.starts_with("---") || text.starts_with("...")
}

fn is_seq_item(text: &str) -> bool {
    text == "-" || text.starts_with("- ")
}

/// Length of a simple mapping key if `text` is `key:` or `key: ...`.
fn mapping_key_len(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let first = *bytes.first()?;
    if !(first.is_ascii_alphanumeric() || first == b'_') {
        return None;
    }
    let len = bytes.iter().position(|&b| !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/')))?;
    if bytes[len] != b':' {
        return None;
    }
    match bytes.get(len + 1) {
        None | Some(b' ') => Some(len),
        _ => None,
    }
}

/// A one-line plain scalar in block context, without its trailing comment; `None` if it could be
/// anything else (indicators, `: `, a trailing `:`).
fn plain_scalar(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    let first = bytes[0];
    if matches!(
        first,
        b',' | b'[' | b']' | b'{' | b'}' | b'#' | b'&' | b'*' | b'!' | b'|' | b'>' | b'%' | b'@' | b'`' | b'?' | b':'
    ) {
        return None;
    }
    if first == b'-' && bytes.get(1).is_none_or(|&b| b == b' ') {
        return None;
    }
    // One pass: a comment starts at " #"; ": " inside would make this a mapping.
    let mut end = bytes.len();
    for i in 1..bytes.len() {
        match bytes[i] {
            b'#' if bytes[i - 1] == b' ' => {
                end = i;
                break;
            }
            b' ' if bytes[i - 1] == b':' => return None,
            _ => {}
        }
    }
    let value = text[..end].trim_end_matches(' ');
    if value.ends_with(':') {
        return None;
    }
    Some(value)
}

fn is_plain_flow_item(raw: &str) -> bool {
    let b = raw.as_bytes();
    !matches!(b[0], b'-' | b'?' | b':' | b'#' | b'&' | b'*' | b'!' | b'|' | b'>' | b'%' | b'@' | b'`' | b'{' | b'[')
        && !raw.bytes().any(|c| matches!(c, b'{' | b'}' | b'[' | b']' | b'#' | b'"' | b'\''))
        && !raw.contains(": ")
        && !raw.ends_with(':')
}

/// A quoted scalar that closes on this line and has no escapes; returns it and the bytes used.
fn quoted(text: &str) -> Option<(Cow<'_, str>, usize)> {
    let quote = text.as_bytes()[0];
    let body = &text[1..];
    if quote == b'"' {
        let end = body.find('"')?;
        let value = &body[..end];
        if value.contains('\\') {
            return None;
        }
        return Some((Cow::Borrowed(value), end + 2));
    }
    // Single quotes: '' is an escaped quote.
    let mut value = String::new();
    let mut i = 0;
    let b = body.as_bytes();
    loop {
        let next = body[i..].find('\'')? + i;
        value.push_str(&body[i..next]);
        if b.get(next + 1) == Some(&b'\'') {
            value.push('\'');
            i = next + 2;
        } else {
            return Some((Cow::Owned(value), next + 2));
        }
    }
}

/// After a quoted scalar or flow sequence: nothing, or spaces then an optional comment.
fn trailing_ok(rest: &str) -> Option<()> {
    let trimmed = rest.trim_start_matches(' ');
    (trimmed.is_empty() || (trimmed.starts_with('#') && trimmed.len() < rest.len())).then_some(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Structural equality with the full parser's tree (implicit nulls may sit elsewhere).
    fn same(a: &Doc<'_>, x: NodeId, b: &Doc<'_>, y: NodeId) -> Result<(), String> {
        let (na, nb) = (a.node(x), b.node(y));
        if na.pos != nb.pos {
            return Err(format!("position {:?} vs {:?} ({:?} / {:?})", na.pos, nb.pos, na.kind, nb.kind));
        }
        match (&na.kind, &nb.kind) {
            (Kind::Scalar(s), Kind::Scalar(t)) => {
                if s.value != t.value || s.plain != t.plain || s.tag != t.tag {
                    return Err(format!("scalar at {:?}: {s:?} vs {t:?}", na.pos));
                }
                Ok(())
            }
            (Kind::Seq(p), Kind::Seq(q)) if p.len() == q.len() => {
                p.iter().zip(q).try_for_each(|(&i, &j)| same(a, i, b, j))
            }
            (Kind::Map(p), Kind::Map(q)) if p.len() == q.len() => {
                p.iter().zip(q).try_for_each(|(&(k1, v1), &(k2, v2))| {
                    same(a, k1, b, k2)?;
                    same(a, v1, b, v2)
                })
            }
            (ka, kb) => Err(format!("kind at {:?}: {ka:?} vs {kb:?}", na.pos)),
        }
    }

    /// If the fast reader accepts `src`, the full parser must accept it with the same tree.
    fn check(src: &str) -> Result<bool, String> {
        let Some(fast) = parse(src) else { return Ok(false) };
        let full =
            Doc::parse(src).map_err(|e| format!("fast reader accepted invalid YAML ({}): {src:?}", e.message))?;
        match (fast.root, full.root) {
            (None, None) => Ok(true),
            (Some(x), Some(y)) => {
                same(&fast, x, &full, y).map(|()| true).map_err(|e| format!("{e}\n--- input:\n{src}"))
            }
            (x, y) => Err(format!("root {x:?} vs {y:?}: {src:?}")),
        }
    }

    #[test]
    fn fast_path_agrees_with_full_parser_on_the_corpus() {
        let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
        let dir = std::env::var("STRATUS_CORPUS").map(std::path::PathBuf::from).unwrap_or(dir);
        let (mut total, mut fast) = (0, 0);
        for sub in ["awesome-akash", "reference-testdata"] {
            for entry in std::fs::read_dir(dir.join(sub)).expect("corpus directory") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    continue;
                }
                let Ok(src) = std::fs::read_to_string(&path) else { continue };
                total += 1;
                fast += usize::from(check(&src).unwrap_or_else(|e| panic!("{}: {e}", path.display())));
            }
        }
        println!("fast YAML reader took {fast} of {total} corpus files");
        assert!(fast * 10 >= total * 8, "fast path covers only {fast}/{total} files");
    }

    #[test]
    fn fast_path_agrees_on_tricky_snippets() {
        let cases = [
            "a: b\n",
            "a: b # c\nd: 'it''s'\ne: \"x y\"\n",
            "a:\n- 1\n- 2\nb: c\n",
            "a:\n  - x: 1\n    y: 2\n  - z\n",
            "a: [1, \"two\", 'three', four five]\nb: []\n",
            "a: |\n  line1\n  line2\nb: x\n",
            "a: |-\n  line1\n\n  line3\n\nb: x\n",
            "a: |+\n  line1\n\nb: x\n",
            "a: >-\n  folded\n  text\nb: x\n",
            "- >\n  f\n  g\n- |\n   keep  \n",
            "a: http://x:80/y\nb: a#b\nc: -c\n",
            "---\na: 1\n",
            "# only comment\n",
            "a:\n",
            "a: b\n  c\n",
            "a: \"b\"c\n",
            "a: b:\n",
            "a: [1,]\n",
            "a: 'unterminated\n",
            "a: |\n  x",
            "a: b\n---\nc: d\n",
            "  a: 1\n  b: 2\n",
            "a:\n    - 1\n    - 2\n",
            "a: x\n- b\n",
            "-\n  a: 1\n- b\n",
            "a: 1\na: 2\n",
            "key: \"quoted\" # comment\n",
            "k: [a, [b]]\n",
            "k: v\n  # indented comment\nl: w\n",
            "a: |\n    deeper\n  shallower\n",
            "a: |\n\n  leading blank\n",
            "a: \"\"\nb: ''\n",
            "a: ~\nb: null\nc: true\n",
            "a: >\n  x\n    y\n  z\n\n  w\nb: 1\n",
            "a: >-\n  x\n\n\n  y\n",
            "a: >+\n  x\n   y\n\n",
            "a: |\n  x\n    \n  y\n",
            "a: >\n  x\n    \n  y\n",
            "a: b\r\nc: d\r\n",
            "a: |\r\n  x\r\n  y\r\nb: 1\r\n",
            "a: {}\nb: {a: 1}\n",
            "a: 'x'\r\n- b\r\n",
            "a: b\rc: d\n",
            "-\r\n  a: 1\r\n",
            // Found by cargo-fuzz: a compact mapping that consumed nothing looped forever.
            "a:\n  - ...b: c\n  - d\n",
            "- ...\n",
            ".a: 1\n",
        ];
        for src in cases {
            check(src).unwrap_or_else(|e| panic!("{e}"));
        }
    }

    fn line() -> impl Strategy<Value = String> {
        let indent = prop::sample::select(vec!["", "  ", "    ", "      ", " ", "   "]);
        let key = prop::sample::select(vec!["a", "b", "key_1", "x.y", "a-b", "<<", "1", "on", "-k"]);
        let value = prop::sample::select(vec![
            "",
            " v",
            " 80",
            " \"q\"",
            " 'it''s'",
            " [1, b]",
            " []",
            " |",
            " >-",
            " |+",
            " # c",
            " a: b",
            " a:b",
            " -x",
            " - y",
            " 'u",
            " \"e\\n\"",
            " &a x",
            " *a",
            " !t x",
            " {a: 1}",
            " x #y",
            " x#y",
            " [a,",
            " ~",
            " 'a' b",
        ]);
        let text = prop::sample::select(vec!["- ", "-", "# comment", "---", "", "plain", "  more"]);
        prop_oneof![
            (indent.clone(), key, value).prop_map(|(i, k, v)| format!("{i}{k}:{v}")),
            (indent.clone(), text.clone(), prop::sample::select(vec!["", "x", "k: v", "'q'", "|", "[a]"]))
                .prop_map(|(i, t, v)| format!("{i}{t}{v}")),
            (indent, text).prop_map(|(i, t)| format!("{i}{t}")),
        ]
    }

    /// A random YAML tree rendered as block YAML with assorted scalar styles.
    #[derive(Clone, Debug)]
    enum Tree {
        Scalar(&'static str),
        Map(Vec<(&'static str, Tree)>),
        Seq(Vec<Tree>),
    }

    fn tree() -> impl Strategy<Value = Tree> {
        let scalar = prop::sample::select(vec![
            "x",
            "80",
            "0.5",
            "\"quoted\"",
            "'single'",
            "''",
            "a b c",
            "http://h:1/p",
            "-c",
            "x # c",
            "[a, 'b']",
            "[]",
            "~",
            "true",
            "1Gi",
            "|\n  body\n  more",
            ">-\n  folded\n  text",
            "|-\n  a\n\n  b",
            ">\n  a\n    b\n\n  c",
            ">+\n  a\n\n",
            "{}",
            "|\n  a\n     \n  b",
        ])
        .prop_map(Tree::Scalar);
        let key = prop::sample::select(vec!["a", "b", "web", "x.y", "k-1", "_z", "port", "size"]);
        scalar.prop_recursive(4, 32, 4, move |inner| {
            prop_oneof![
                prop::collection::vec((key.clone(), inner.clone()), 1..4).prop_map(|mut kv| {
                    kv.sort_by_key(|(k, _)| *k);
                    kv.dedup_by_key(|(k, _)| *k);
                    Tree::Map(kv)
                }),
                prop::collection::vec(inner, 1..4).prop_map(Tree::Seq),
            ]
        })
    }

    /// Renders `t` at `indent`; `inline` is the text already on the line (`key:` or `-`).
    fn render(t: &Tree, indent: usize, out: &mut String, step: usize, indentless: bool) {
        let pad = " ".repeat(indent);
        match t {
            Tree::Scalar(s) => {
                let s = s.replace('\n', &format!("\n{pad}  "));
                out.push_str(&format!(" {s}\n"));
            }
            Tree::Map(kv) => {
                out.push('\n');
                for (k, v) in kv {
                    out.push_str(&format!("{pad}{k}:"));
                    render(v, indent + step, out, step, indentless);
                }
            }
            Tree::Seq(items) => {
                out.push('\n');
                let seq_indent = if indentless { indent.saturating_sub(step) } else { indent };
                let pad = " ".repeat(seq_indent);
                for item in items {
                    out.push_str(&format!("{pad}-"));
                    render(item, seq_indent + step, out, step, indentless);
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: crate::tests::fuzz_cases(2000), ..ProptestConfig::default() })]
        #[test]
        fn fast_path_agrees_on_generated_trees(t in tree(), step in 1usize..4, indentless in any::<bool>(), crlf in any::<bool>()) {
            let mut src = String::from("root:");
            render(&t, step, &mut src, step, indentless);
            if crlf {
                src = src.replace('\n', "\r\n");
            }
            if let Err(e) = check(&src) {
                prop_assert!(false, "{}", e);
            }
        }
    }

    proptest! {
        // STRATUS_FUZZ_CASES raises the count for a longer local run.
        #![proptest_config(ProptestConfig { cases: crate::tests::fuzz_cases(3000), ..ProptestConfig::default() })]
        #[test]
        fn fast_path_agrees_on_generated_yaml(lines in prop::collection::vec(line(), 1..12), newline in any::<bool>()) {
            let mut src = lines.join("\n");
            if newline {
                src.push('\n');
            }
            if let Err(e) = check(&src) {
                prop_assert!(false, "{}", e);
            }
        }
    }
}
