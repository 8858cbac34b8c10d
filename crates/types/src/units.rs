//! Resource quantities: CPU units, byte sizes, GPU memory (Akash `units.go`), and the two Go
//! `strconv` number parsers they need. Here, not in the SDL parser, because providers read the
//! same quantities in their configuration and must not depend on the SDL parser.

const KI: u64 = 1 << 10;
const MI: u64 = 1 << 20;
const GI: u64 = 1 << 30;
const TI: u64 = 1 << 40;
const PI: u64 = 1 << 50;
const EI: u64 = 1 << 60;

/// Suffixes of sizes, exactly as Akash's Go parser knows them (case-sensitive).
const BYTE_SUFFIXES: [(&str, u64); 12] = [
    ("Ki", KI),
    ("Mi", MI),
    ("Gi", GI),
    ("Ti", TI),
    ("Pi", PI),
    ("Ei", EI),
    ("k", 1_000),
    ("M", 1_000_000),
    ("G", 1_000_000_000),
    ("T", 1_000_000_000_000),
    ("P", 1_000_000_000_000_000),
    ("E", 1_000_000_000_000_000_000),
];

/// CPU: `"500m"` is 500 millicpu; otherwise a number of cores (`0.5`, `2`), times 1000 and truncated.
pub fn parse_cpu_millis(raw: &str) -> Result<u64, String> {
    if let Some(millis) = raw.strip_suffix('m') {
        return parse_uint(millis, 32)
            .map_err(|_| format!("{raw:?} is not a CPU amount: use whole millicpus like \"500m\" or cores like 0.5"));
    }
    let cores = parse_float(raw)
        .map_err(|_| format!("{raw:?} is not a CPU amount: use cores like 0.5 or 2, or millicpus like \"500m\""))?;
    let millis = cores * 1000.0;
    if millis.is_nan() {
        return Err(format!("{raw:?} is not a CPU amount"));
    }
    if millis < 0.0 {
        return Err(format!("{raw:?} is negative; CPU must be positive"));
    }
    if millis >= 4_294_967_296.0 {
        return Err(format!("{raw:?} cores is far more than any machine has"));
    }
    // Go converts with truncation: 1.001 cores is 1000 millicpu because 1.001 × 1000 < 1001 in binary.
    Ok(millis as u64)
}

/// Memory and storage sizes: a number with an optional case-sensitive suffix
/// (`k M G T P E` decimal, `Ki Mi Gi Ti Pi Ei` binary); no suffix means bytes.
pub fn parse_bytes(raw: &str) -> Result<u64, String> {
    parse_with_suffix(raw, &BYTE_SUFFIXES).map_err(|e| e.unwrap_or_else(|| size_hint(raw)))
}

/// GPU memory: only binary suffixes (`80Gi`).
pub fn parse_gpu_memory(raw: &str) -> Result<u64, String> {
    parse_with_suffix(raw, &BYTE_SUFFIXES[..6]).map_err(|e| {
        e.unwrap_or_else(|| format!("{raw:?} is not a GPU memory size: use a binary suffix like 80Gi or 24576Mi"))
    })
}

/// `Err(None)` means "not a number", for which the caller words a hint.
fn parse_with_suffix(raw: &str, suffixes: &[(&str, u64)]) -> Result<u64, Option<String>> {
    let (number, multiplier) =
        suffixes.iter().find_map(|(suffix, mult)| raw.strip_suffix(suffix).map(|n| (n, *mult))).unwrap_or((raw, 1));
    let value = parse_float(number).map_err(|_| None)? * multiplier as f64;
    if value.is_nan() {
        return Err(None);
    }
    if value < 0.0 {
        return Err(Some(format!("{raw:?} is negative; sizes must be positive")));
    }
    if value >= 18_446_744_073_709_551_616.0 {
        return Err(Some(format!("{raw:?} is too large")));
    }
    Ok(value as u64)
}

/// Explains sizes Akash's Go parser refuses but people write (`6GB`, `16gi`, `512Mb`).
fn size_hint(raw: &str) -> String {
    let digits_end = raw.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(raw.len());
    let (number, suffix) = raw.split_at(digits_end);
    let letter = suffix.chars().next().map(|c| c.to_ascii_uppercase());
    let decimal = match letter {
        Some('K') => Some("k"),
        Some(c @ ('M' | 'G' | 'T' | 'P' | 'E')) => Some(match c {
            'M' => "M",
            'G' => "G",
            'T' => "T",
            'P' => "P",
            _ => "E",
        }),
        _ => None,
    };
    match decimal {
        Some(d) if !number.is_empty() => {
            let binary = if d == "k" { "Ki".to_string() } else { format!("{d}i") };
            format!(
                "{raw:?} is not a size Akash accepts: suffixes are case-sensitive k, M, G, T, P, E (powers of 1000) or Ki, Mi, Gi, Ti, Pi, Ei (powers of 1024); did you mean {number}{binary} or {number}{d}?"
            )
        }
        _ => format!("{raw:?} is not a size: use a number with an optional suffix like 512Mi, 1Gi or 10G"),
    }
}

/// Renders GPU memory as whole Gi, as the attribute key carries it (`80Gi`; 512Mi becomes `0Gi`).
pub fn gpu_memory_key(bytes: u64) -> String {
    format!("{}Gi", bytes / GI)
}

/// `strconv.ParseFloat(s, 64)` for decimal input: optional sign, digits with an optional `.`, an
/// optional exponent, or `inf`/`infinity`/`nan`. Hexadecimal floats (`0x1p4`) are not supported.
pub fn parse_float(s: &str) -> Result<f64, String> {
    let err = || format!("{s:?} is not a number");
    let (sign, body) = match s.as_bytes().first() {
        Some(b'-') => (-1.0, &s[1..]),
        Some(b'+') => (1.0, &s[1..]),
        _ => (1.0, s),
    };
    let lower = body.to_ascii_lowercase();
    if lower == "inf" || lower == "infinity" {
        return Ok(sign * f64::INFINITY);
    }
    if lower == "nan" && body.len() == s.len() {
        return Ok(f64::NAN);
    }
    let b = body.as_bytes();
    let mut i = 0;
    let mut mantissa_digits = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
        mantissa_digits += 1;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
            mantissa_digits += 1;
        }
    }
    if mantissa_digits == 0 {
        return Err(err());
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return Err(err());
        }
    }
    if i != b.len() {
        return Err(err());
    }
    let value: f64 = body.parse().map_err(|_| err())?;
    if value.is_infinite() {
        return Err(format!("{s:?} is out of range"));
    }
    Ok(sign * value)
}

/// `strconv.ParseUint(s, 10, bits)`: ASCII digits only, no sign, no underscores.
pub fn parse_uint(s: &str, bits: u32) -> Result<u64, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{s:?} is not an unsigned integer"));
    }
    let max = if bits >= 64 { u64::MAX } else { (1u64 << bits) - 1 };
    match s.parse::<u64>() {
        Ok(v) if v <= max => Ok(v),
        _ => Err(format!("{s:?} is larger than {max}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_units() {
        assert_eq!(parse_cpu_millis("500m"), Ok(500));
        assert_eq!(parse_cpu_millis("0.5"), Ok(500));
        assert_eq!(parse_cpu_millis("2"), Ok(2000));
        assert_eq!(parse_cpu_millis("1.001"), Ok(1000));
        assert!(parse_cpu_millis("-1").is_err());
        assert!(parse_cpu_millis("1.5m").is_err());
        assert!(parse_cpu_millis("two").is_err());
    }

    #[test]
    fn sizes_are_case_sensitive_like_go() {
        assert_eq!(parse_bytes("512Mi"), Ok(512 * MI));
        assert_eq!(parse_bytes("1.5Gi"), Ok(3 * GI / 2));
        assert_eq!(parse_bytes("10G"), Ok(10_000_000_000));
        assert_eq!(parse_bytes("2k"), Ok(2000));
        assert_eq!(parse_bytes("1000"), Ok(1000));
        assert_eq!(parse_bytes("1e3"), Ok(1000));
        let err = parse_bytes("6GB").expect_err("Go rejects 6GB");
        assert!(err.contains("did you mean 6Gi or 6G"), "{err}");
        assert!(parse_bytes("16gi").is_err());
        assert!(parse_bytes("512Mb").is_err());
        assert!(parse_bytes("-1Gi").is_err());
    }

    #[test]
    fn gpu_memory() {
        assert_eq!(parse_gpu_memory("80Gi"), Ok(80 * GI));
        assert!(parse_gpu_memory("80G").is_err());
        assert_eq!(gpu_memory_key(80 * GI), "80Gi");
        assert_eq!(gpu_memory_key(512 * MI), "0Gi");
    }
}

/// A byte size for people: the largest binary unit that divides it exactly (`64Gi`, `1536Mi`),
/// or bytes.
pub fn format_bytes(bytes: u64) -> String {
    for (suffix, unit) in [("Ei", EI), ("Pi", PI), ("Ti", TI), ("Gi", GI), ("Mi", MI), ("Ki", KI)] {
        if bytes >= unit && bytes.is_multiple_of(unit) {
            return format!("{}{suffix}", bytes / unit);
        }
    }
    bytes.to_string()
}

#[cfg(test)]
mod format_tests {
    #[test]
    fn sizes_format_in_the_largest_exact_unit() {
        assert_eq!(super::format_bytes(64 << 30), "64Gi");
        assert_eq!(super::format_bytes(1536 << 20), "1536Mi");
        assert_eq!(super::format_bytes(1000), "1000");
        assert_eq!(super::format_bytes(0), "0");
    }
}
