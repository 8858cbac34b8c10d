//! Diagnostics: what is wrong, where (line and column of the YAML node), and how to fix it.

use std::fmt;

/// 1-based line and column of a YAML node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
}

impl Pos {
    pub fn new(line: usize, column: usize) -> Pos {
        Pos { line: u32::try_from(line).unwrap_or(u32::MAX), column: u32::try_from(column).unwrap_or(u32::MAX) }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The SDL is rejected.
    Error,
    /// Accepted (Akash accepts it too), but probably not what the author meant.
    Warning,
}

/// One finding about an SDL file.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Diagnostic {
    pub severity: Severity,
    pub pos: Pos,
    /// Field path, e.g. `services.web.expose[0].port`; empty for the whole document.
    pub path: String,
    /// What rule was broken, with the offending value.
    pub message: String,
}

impl Diagnostic {
    /// `path: message`, or just the message for document-level findings.
    pub fn text(&self) -> String {
        if self.path.is_empty() { self.message.clone() } else { format!("{}: {}", self.path, self.message) }
    }

    /// `file:line:column: path: message`, the form editors and CI logs link to.
    pub fn render(&self, file: &str) -> String {
        let level = match self.severity {
            Severity::Error => "",
            Severity::Warning => "warning: ",
        };
        format!("{file}:{}:{}: {level}{}", self.pos.line, self.pos.column, self.text())
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.pos.line, self.pos.column, self.text())
    }
}

/// A field path, built on the stack and rendered only when a diagnostic needs it
/// (`services.web.expose[0].port`).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl<'a> Path<'a> {
    pub fn key(&'a self, key: &'a str) -> Path<'a> {
        Path::Key(self, key)
    }

    pub fn index(&'a self, i: usize) -> Path<'a> {
        Path::Index(self, i)
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => Ok(()),
            Path::Key(Path::Root, key) => f.write_str(key),
            Path::Key(parent, key) => write!(f, "{parent}.{key}"),
            Path::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

/// Collects diagnostics while decoding; errors make the SDL invalid.
#[derive(Debug, Default)]
pub(crate) struct Sink {
    pub items: Vec<Diagnostic>,
}

impl Sink {
    pub fn error(&mut self, pos: Pos, path: impl fmt::Display, message: impl Into<String>) {
        self.push(Severity::Error, pos, path.to_string(), message.into());
    }

    pub fn warn(&mut self, pos: Pos, path: impl fmt::Display, message: impl Into<String>) {
        self.push(Severity::Warning, pos, path.to_string(), message.into());
    }

    fn push(&mut self, severity: Severity, pos: Pos, path: String, message: String) {
        let diag = Diagnostic { severity, pos, path, message };
        // The same node can be reached twice through aliases; report it once.
        if !self.items.contains(&diag) {
            self.items.push(diag);
        }
    }

    pub fn error_count(&self) -> usize {
        self.items.iter().filter(|d| d.severity == Severity::Error).count()
    }
}

/// `a.b` path join that keeps the root empty.
pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
}

/// The closest known key to a misspelled one, if close enough to be a likely typo.
pub(crate) fn suggest<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4) && *d < k.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Optimal-string-alignment distance: insertions, deletions, substitutions and adjacent swaps
/// ("servcie" for "service") each cost one.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 0..a.len() {
        let mut cur = vec![i + 1; b.len() + 1];
        for j in 0..b.len() {
            let cost = usize::from(a[i] != b[j]);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
            if i > 0 && j > 0 && a[i] == b[j - 1] && a[i - 1] == b[j] {
                cur[j + 1] = cur[j + 1].min(before[j - 1] + 1);
            }
        }
        before = std::mem::replace(&mut prev, cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_typos() {
        assert_eq!(suggest("servcie", &["services", "service", "profiles"]), Some("service"));
        assert_eq!(suggest("imgae", &["image", "command"]), Some("image"));
        assert_eq!(suggest("depends_on", &["image", "command", "expose"]), None);
    }

    #[test]
    fn paths_render_lazily() {
        let root = Path::Root;
        let services = root.key("services");
        let web = services.key("web");
        let expose = web.key("expose");
        let first = expose.index(0);
        assert_eq!(first.key("port").to_string(), "services.web.expose[0].port");
    }

    #[test]
    fn renders_file_line_column() {
        let d = Diagnostic {
            severity: Severity::Error,
            pos: Pos { line: 14, column: 9 },
            path: "services.web.expose[0].port".into(),
            message: "70000 is outside 1..65535".into(),
        };
        assert_eq!(d.render("deploy.yaml"), "deploy.yaml:14:9: services.web.expose[0].port: 70000 is outside 1..65535");
    }
}

/// What `stratus sdl check --json` reports for one file (and the console's editor, through the
/// WebAssembly build): one shape, built in one place.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CheckReport {
    pub valid: bool,
    pub errors: Vec<ReportedDiagnostic>,
    pub warnings: Vec<ReportedDiagnostic>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ReportedDiagnostic {
    pub line: u32,
    pub column: u32,
    /// `path: message`.
    pub message: String,
}

impl ReportedDiagnostic {
    pub fn from(d: &Diagnostic) -> ReportedDiagnostic {
        ReportedDiagnostic { line: d.pos.line, column: d.pos.column, message: d.text() }
    }
}
