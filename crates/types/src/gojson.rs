//! JSON as Go's `encoding/json` writes it after Cosmos' `SortJSON`: compact, object keys sorted
//! bytewise, and Go's HTML-safe escaping (`<`, `>`, `&`, U+2028, U+2029 as `\uXXXX`).
//!
//! Hashes that Akash computes over JSON (the manifest version) depend on these exact bytes.

use std::io;

use serde::Serialize;
use serde_json::Value;

/// Encodes `value` as Go would write it, without re-sorting: the caller guarantees that struct
/// fields are declared in the byte order of their JSON keys (the manifest types do, and a test
/// checks that this equals [`to_sorted_vec`]). Skipping the `Value` tree makes hashing several
/// times faster.
pub fn to_go_vec_presorted<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, GoFormatter);
    // Serializing plain data into a Vec cannot fail.
    let _ = value.serialize(&mut ser);
    out
}

/// serde_json's compact output plus Go's HTML-safe escapes.
struct GoFormatter;

/// Bytes that may start one of Go's extra escapes: `<`, `>`, `&` and the lead byte of U+2028/9.
static GO_EXTRA_ESCAPE: [bool; 256] = {
    let mut table = [false; 256];
    table[b'<' as usize] = true;
    table[b'>' as usize] = true;
    table[b'&' as usize] = true;
    table[0xE2] = true;
    table
};

impl serde_json::ser::Formatter for GoFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()> {
        let bytes = fragment.as_bytes();
        // Most strings need none of Go's extra escapes.
        if !bytes.iter().any(|&b| GO_EXTRA_ESCAPE[usize::from(b)]) {
            return writer.write_all(bytes);
        }
        let mut start = 0;
        let mut i = 0;
        while i < bytes.len() {
            // U+2028 and U+2029 are E2 80 A8 and E2 80 A9 in UTF-8.
            let escape: &[u8] = match bytes[i] {
                b'<' => b"\\u003c",
                b'>' => b"\\u003e",
                b'&' => b"\\u0026",
                0xE2 if bytes.get(i + 1) == Some(&0x80) && bytes.get(i + 2) == Some(&0xA8) => b"\\u2028",
                0xE2 if bytes.get(i + 1) == Some(&0x80) && bytes.get(i + 2) == Some(&0xA9) => b"\\u2029",
                _ => {
                    i += 1;
                    continue;
                }
            };
            writer.write_all(&bytes[start..i])?;
            writer.write_all(escape)?;
            i += if bytes[i] == 0xE2 { 3 } else { 1 };
            start = i;
        }
        writer.write_all(&bytes[start..])
    }
}

/// Encodes `value` compactly with sorted keys and Go's escaping.
pub fn to_sorted_vec(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_value(&mut out, value);
    out
}

fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            // Sort explicitly: serde_json's map may preserve insertion order if a dependency turns
            // on its `preserve_order` feature.
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(out, key);
                out.push(b':');
                write_value(out, item);
            }
            out.push(b'}');
        }
    }
}

/// Go re-encodes numbers as float64 in `SortJSON`; integers below 2^53 print as plain digits.
fn write_number(out: &mut Vec<u8>, n: &serde_json::Number) {
    if let Some(u) = n.as_u64() {
        out.extend_from_slice(u.to_string().as_bytes());
    } else if let Some(i) = n.as_i64() {
        out.extend_from_slice(i.to_string().as_bytes());
    } else if let Some(f) = n.as_f64() {
        if f.fract() == 0.0 && f.abs() < 1e21 {
            out.extend_from_slice(format!("{f:.0}").as_bytes());
        } else {
            out.extend_from_slice(f.to_string().as_bytes());
        }
    }
}

fn write_string(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' | '\u{0}'..='\u{1f}' => {
                let code = c as u32;
                out.extend_from_slice(b"\\u");
                for shift in [12, 8, 4, 0] {
                    out.push(HEX[((code >> shift) & 0xf) as usize]);
                }
            }
            _ => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn enc(v: &Value) -> String {
        String::from_utf8(to_sorted_vec(v)).unwrap_or_default()
    }

    #[test]
    fn sorts_keys_and_escapes_like_go() {
        let v = json!({"b": 1, "a": ["<x&y>", null, true], "A": "line\nbreak\u{1}\u{2028}"});
        assert_eq!(enc(&v), r#"{"A":"line\nbreak\u0001\u2028","a":["\u003cx\u0026y\u003e",null,true],"b":1}"#);
    }

    #[test]
    fn presorted_writer_escapes_like_go() {
        #[derive(serde::Serialize)]
        struct S {
            a: &'static str,
            b: u32,
        }
        let v = S { a: "<a&b>\u{2028}\n\u{1}", b: 7 };
        let direct = String::from_utf8(to_go_vec_presorted(&v)).unwrap_or_default();
        assert_eq!(direct, enc(&serde_json::to_value(&v).unwrap_or_default()));
    }

    #[test]
    fn non_ascii_is_kept_verbatim() {
        assert_eq!(enc(&json!("héllo ✓")), "\"héllo ✓\"");
    }
}
