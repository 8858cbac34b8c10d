//! Locating and reading the shared corpus, and the list of known differences.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// `$STRATUS_CORPUS`, or `shared/corpus` beside the repository checkout.
pub fn corpus_dir() -> PathBuf {
    let dir = match std::env::var("STRATUS_CORPUS") {
        Ok(dir) => PathBuf::from(dir),
        Err(_) => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"),
    };
    assert!(
        dir.join("README.md").is_file(),
        "SDL corpus not found at {}: check out shared/ beside the repository or set STRATUS_CORPUS",
        dir.display()
    );
    dir
}

pub fn read(path: &std::path::Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Rows of a tab-separated file, header skipped if `header` is true.
pub fn tsv(path: &std::path::Path, header: bool) -> Vec<Vec<String>> {
    let text = String::from_utf8(read(path)).expect("utf-8 tsv");
    text.lines()
        .skip(usize::from(header))
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

/// `kind\tfile` → reason, from `tests/known-differences.tsv`.
pub fn known_differences(kind: &str) -> BTreeMap<String, String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/known-differences.tsv");
    tsv(&path, true)
        .into_iter()
        .filter(|row| row[0] == kind)
        .map(|row| (row[1].clone(), row.get(2).cloned().unwrap_or_default()))
        .collect()
}

/// Asserts that the set of files that differ is exactly the documented set.
pub fn assert_differences(kind: &str, found: &BTreeMap<String, String>) {
    let known = known_differences(kind);
    let found_keys: BTreeSet<&String> = found.keys().collect();
    let known_keys: BTreeSet<&String> = known.keys().collect();
    let unexpected: Vec<String> =
        found.iter().filter(|(k, _)| !known.contains_key(*k)).map(|(k, v)| format!("{k}: {v}")).collect();
    let stale: Vec<&&String> = known_keys.difference(&found_keys).collect();
    assert!(
        unexpected.is_empty() && stale.is_empty(),
        "{kind}: undocumented differences {unexpected:#?}; documented ones that no longer happen {stale:?} (update tests/known-differences.tsv)"
    );
}

pub fn percent(part: usize, whole: usize) -> f64 {
    if whole == 0 { 100.0 } else { 100.0 * part as f64 / whole as f64 }
}
