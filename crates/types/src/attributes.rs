//! Key/value attributes: placement requirements, provider attributes, resource capabilities.
//!
//! Matching follows Akash (`chain-sdk go/node/types/attributes/v1`): a requirement key may be a
//! glob (Go `filepath.Match`), values compare exactly.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

/// One attribute. Serialized like Akash's proto JSON: empty key or value are omitted.
#[derive(
    Clone,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    BorshSerialize,
    BorshDeserialize,
)]
pub struct Attribute {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub key: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
}

impl Attribute {
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Attribute {
        Attribute { key: key.into(), value: value.into() }
    }

    /// `self` is a requirement; true when `have` satisfies it: glob on the key, and the exact value
    /// — or, for a value `>=N` (`>`, `<=`, `<` alike), a provider value that is a number so
    /// compared with N (`benchmark/h100/tflops-bf16: ">=700"`: a measured minimum). Numbers are
    /// non-negative decimals compared exactly (`Dec`), so every node decides alike.
    pub fn matched_by(&self, have: &Attribute) -> bool {
        let value_ok = match numeric_bound(&self.value) {
            Some((op, bound)) => have.value.trim().parse::<crate::dec::Dec>().is_ok_and(|v| op.holds(v, bound)),
            None => self.value == have.value,
        };
        value_ok && glob_match(&self.key, &have.key)
    }
}

/// A comparison in a requirement's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    AtLeast,
    Above,
    AtMost,
    Below,
}

impl Bound {
    fn holds(self, v: crate::dec::Dec, bound: crate::dec::Dec) -> bool {
        match self {
            Bound::AtLeast => v >= bound,
            Bound::Above => v > bound,
            Bound::AtMost => v <= bound,
            Bound::Below => v < bound,
        }
    }
}

/// `>=N`, `>N`, `<=N`, `<N` with N a non-negative decimal; anything else is an exact value.
pub fn numeric_bound(value: &str) -> Option<(Bound, crate::dec::Dec)> {
    let (op, rest) = [(">=", Bound::AtLeast), ("<=", Bound::AtMost), (">", Bound::Above), ("<", Bound::Below)]
        .into_iter()
        .find_map(|(prefix, op)| value.strip_prefix(prefix).map(|rest| (op, rest)))?;
    Some((op, rest.trim().parse().ok()?))
}

impl Attribute {
    /// `key=value`, or `key>=N` for a numeric bound.
    pub fn describe(&self) -> String {
        if numeric_bound(&self.value).is_some() {
            format!("{}{}", self.key, self.value)
        } else {
            format!("{}={}", self.key, self.value)
        }
    }
}

/// Why an attribute list is not acceptable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AttributeError {
    #[error("attribute key {0:?} does not match ^[a-zA-Z][\\w/.-]{{1,126}}[\\w*]?$")]
    InvalidKey(String),
    #[error("attribute key {0:?} appears more than once")]
    DuplicateKey(String),
}

/// Validates keys with Akash's wildcard-tolerant key pattern (used for requirements and resources)
/// and rejects duplicate keys.
pub fn validate_attributes(attrs: &[Attribute]) -> Result<(), AttributeError> {
    validate_with(attrs, true)
}

/// Validates keys with the stricter pattern used for provider attributes (no trailing `*`).
pub fn validate_provider_attributes(attrs: &[Attribute]) -> Result<(), AttributeError> {
    validate_with(attrs, false)
}

fn validate_with(attrs: &[Attribute], wildcard: bool) -> Result<(), AttributeError> {
    let mut seen = std::collections::BTreeSet::new();
    for attr in attrs {
        if !is_valid_attribute_key(&attr.key, wildcard) {
            return Err(AttributeError::InvalidKey(attr.key.clone()));
        }
        if !seen.insert(attr.key.as_str()) {
            return Err(AttributeError::DuplicateKey(attr.key.clone()));
        }
    }
    Ok(())
}

/// `^([a-zA-Z][\w\/\.\-]{1,126}[\w\*]?)$` (wildcard) or `^([a-zA-Z][\w\/\.\-]{1,126})$`.
pub fn is_valid_attribute_key(key: &str, wildcard: bool) -> bool {
    let bytes = key.as_bytes();
    let Some((&first, rest)) = bytes.split_first() else {
        return false;
    };
    if !first.is_ascii_alphabetic() {
        return false;
    }
    let body = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'/' | b'.' | b'-');
    let word = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_';
    if wildcard {
        if let Some((&last, mid)) = rest.split_last()
            && last == b'*'
        {
            return (1..=126).contains(&mid.len()) && mid.iter().all(body);
        }
        rest.iter().all(body)
            && ((1..=126).contains(&rest.len()) || (rest.len() == 127 && rest.last().is_some_and(word)))
    } else {
        (1..=126).contains(&rest.len()) && rest.iter().all(body)
    }
}

/// True when every requirement is matched by some attribute of `have` (Akash `AttributesSubsetOf`).
pub fn attributes_subset_of(required: &[Attribute], have: &[Attribute]) -> bool {
    required.iter().all(|req| have.iter().any(|h| req.matched_by(h)))
}

/// True when at least one requirement is matched by some attribute of `have` (`AttributesAnyOf`).
pub fn attributes_any_of(required: &[Attribute], have: &[Attribute]) -> bool {
    required.iter().any(|req| have.iter().any(|h| req.matched_by(h)))
}

/// Go's `path/filepath.Match` on '/'-separated names: `*` matches any run of non-`/` bytes, `?` one
/// non-`/` character, `[...]` a class (with `^` negation and ranges), `\` escapes. A malformed
/// pattern matches nothing, as Go returns `ErrBadPattern` and Akash treats it as "no match".
pub fn glob_match(pattern: &str, name: &str) -> bool {
    glob(pattern.as_bytes(), name.as_bytes()).unwrap_or(false)
}

fn glob(mut pattern: &[u8], mut name: &[u8]) -> Option<bool> {
    'outer: while !pattern.is_empty() {
        let stars = pattern.iter().take_while(|&&b| b == b'*').count();
        let star = stars > 0;
        pattern = &pattern[stars..];
        let (chunk, rest) = split_chunk(pattern);
        pattern = rest;
        if star && chunk.is_empty() {
            // A trailing star matches the rest of the name unless it contains a separator.
            return Some(!name.contains(&b'/'));
        }
        if let Some(after) = match_chunk(chunk, name)? {
            // The last chunk must exhaust the name, or a star may still find a later match.
            if after.is_empty() || !pattern.is_empty() {
                name = after;
                continue;
            }
        }
        if star {
            let mut i = 0;
            while i < name.len() && name[i] != b'/' {
                if let Some(after) = match_chunk(chunk, &name[i + 1..])? {
                    if pattern.is_empty() && !after.is_empty() {
                        i += 1;
                        continue;
                    }
                    name = after;
                    continue 'outer;
                }
                i += 1;
            }
        }
        return Some(false);
    }
    Some(name.is_empty())
}

/// Splits off the pattern up to the next unescaped `*` outside a class.
fn split_chunk(pattern: &[u8]) -> (&[u8], &[u8]) {
    let mut in_range = false;
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i] {
            b'\\' => i += 1,
            b'[' => in_range = true,
            b']' => in_range = false,
            b'*' if !in_range => break,
            _ => {}
        }
        i += 1;
    }
    let i = i.min(pattern.len());
    (&pattern[..i], &pattern[i..])
}

/// Matches `chunk` (no stars) against a prefix of `name`; returns the rest of `name`, `None` inside
/// `Some` for no match, or `None` for a malformed pattern.
fn match_chunk<'a>(mut chunk: &[u8], mut name: &'a [u8]) -> Option<Option<&'a [u8]>> {
    let mut failed = false;
    while !chunk.is_empty() {
        if !failed && name.is_empty() {
            failed = true;
        }
        match chunk[0] {
            b'[' => {
                let c = if failed { 0 } else { name[0] };
                if !failed {
                    name = &name[1..];
                }
                chunk = &chunk[1..];
                let negated = chunk.first() == Some(&b'^');
                if negated {
                    chunk = &chunk[1..];
                }
                let mut matched = false;
                let mut n = 0;
                loop {
                    if !chunk.is_empty() && chunk[0] == b']' && n > 0 {
                        chunk = &chunk[1..];
                        break;
                    }
                    let (lo, rest) = get_esc(chunk)?;
                    chunk = rest;
                    let mut hi = lo;
                    if chunk.first() == Some(&b'-') {
                        let (h, rest) = get_esc(&chunk[1..])?;
                        hi = h;
                        chunk = rest;
                    }
                    if lo <= c && c <= hi {
                        matched = true;
                    }
                    n += 1;
                }
                if matched == negated {
                    failed = true;
                }
            }
            b'?' => {
                if !failed {
                    if name[0] == b'/' {
                        failed = true;
                    }
                    name = &name[1..];
                }
                chunk = &chunk[1..];
            }
            b'\\' => {
                chunk = &chunk[1..];
                if chunk.is_empty() {
                    return None;
                }
                if !failed {
                    if chunk[0] != name[0] {
                        failed = true;
                    }
                    name = &name[1..];
                }
                chunk = &chunk[1..];
            }
            b => {
                if !failed {
                    if b != name[0] {
                        failed = true;
                    }
                    name = &name[1..];
                }
                chunk = &chunk[1..];
            }
        }
    }
    Some(if failed { None } else { Some(name) })
}

fn get_esc(chunk: &[u8]) -> Option<(u8, &[u8])> {
    let (&first, mut rest) = chunk.split_first()?;
    if first == b'-' || first == b']' {
        return None;
    }
    let mut c = first;
    if first == b'\\' {
        let (&esc, r) = rest.split_first()?;
        c = esc;
        rest = r;
    }
    if rest.is_empty() {
        return None;
    }
    Some((c, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_numeric_bound_compares_measured_values_and_anything_else_is_exact() {
        let req = Attribute::new("benchmark/h100/tflops-bf16", ">=700");
        assert!(req.matched_by(&Attribute::new("benchmark/h100/tflops-bf16", "712.5")));
        assert!(req.matched_by(&Attribute::new("benchmark/h100/tflops-bf16", "700")));
        assert!(!req.matched_by(&Attribute::new("benchmark/h100/tflops-bf16", "699.999")));
        assert!(!req.matched_by(&Attribute::new("benchmark/h100/tflops-bf16", "fast")), "not a number");
        assert!(!req.matched_by(&Attribute::new("benchmark/a100/tflops-bf16", "900")), "another key");
        let glob = Attribute::new("benchmark/*/tflops-bf16", ">0.5");
        assert!(glob.matched_by(&Attribute::new("benchmark/a100/tflops-bf16", "0.6")));
        assert!(!glob.matched_by(&Attribute::new("benchmark/a100/tflops-bf16", "0.5")));
        assert!(Attribute::new("k", "<=2").matched_by(&Attribute::new("k", "2")));
        assert!(!Attribute::new("k", "<2").matched_by(&Attribute::new("k", "2")));
        // Not a bound: the value is compared as it is.
        assert!(Attribute::new("k", ">=fast").matched_by(&Attribute::new("k", ">=fast")));
        assert_eq!(req.describe(), "benchmark/h100/tflops-bf16>=700");
        assert_eq!(Attribute::new("region", "eu").describe(), "region=eu");
    }

    #[test]
    fn keys_follow_akash_pattern() {
        assert!(is_valid_attribute_key("region", true));
        assert!(is_valid_attribute_key("vendor/nvidia/model/*", true));
        assert!(is_valid_attribute_key("vendor/nvidia/model/a100/ram/80Gi", true));
        assert!(!is_valid_attribute_key("vendor/nvidia/model/*", false));
        assert!(!is_valid_attribute_key("r", true));
        assert!(!is_valid_attribute_key("1region", true));
        assert!(!is_valid_attribute_key("reg ion", true));
        assert!(is_valid_attribute_key(&format!("a{}", "b".repeat(127)), true));
        assert!(!is_valid_attribute_key(&format!("a{}", "b".repeat(128)), true));
        assert!(!is_valid_attribute_key(&format!("a{}/", "b".repeat(126)), true));
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let attrs = [Attribute::new("a1", "x"), Attribute::new("a1", "y")];
        assert_eq!(validate_attributes(&attrs), Err(AttributeError::DuplicateKey("a1".into())));
    }

    #[test]
    fn glob_matches_like_go_filepath_match() {
        assert!(glob_match("vendor/nvidia/model/*", "vendor/nvidia/model/a100"));
        assert!(!glob_match("vendor/nvidia/model/*", "vendor/nvidia/model/a100/ram/80Gi"));
        assert!(glob_match("vendor/nvidia/model/a100", "vendor/nvidia/model/a100"));
        assert!(glob_match("vendor/nvidia/model/a100*", "vendor/nvidia/model/a100-sxm"));
        assert!(glob_match("region", "region"));
        assert!(glob_match("reg?on", "region"));
        assert!(glob_match("r[a-f]gion", "region"));
        assert!(!glob_match("r[^a-f]gion", "region"));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b", "a/b"));
        assert!(!glob_match("[", "a"));
        assert!(glob_match("\\*", "*"));
        assert!(!glob_match("host", "hostx"));
    }

    #[test]
    fn subset_and_any_of() {
        let have = [Attribute::new("region", "us-west"), Attribute::new("tier", "1")];
        assert!(attributes_subset_of(&[Attribute::new("region", "us-west")], &have));
        assert!(!attributes_subset_of(&[Attribute::new("region", "us-east")], &have));
        assert!(attributes_subset_of(&[], &have));
        assert!(attributes_any_of(&[Attribute::new("r*", "us-west"), Attribute::new("x", "y")], &have));
        assert!(!attributes_any_of(&[], &have));
    }
}
