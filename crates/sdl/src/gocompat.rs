//! Go's parsing rules, reproduced so that Stratus accepts and rejects exactly what Akash does.
//!
//! Each function names the Go function it mirrors. These are facts about Go's behaviour (checked
//! against its documentation and source), re-implemented here; no Go code is copied.

/// How yaml.v3 resolves an untagged plain scalar (`resolve.go`).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Resolved {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    /// A date such as `2024-01-02`; decodes into no SDL field.
    Timestamp,
    Str,
}

/// yaml.v3 `resolve(tag, value)` for plain scalars; `tag` is the explicit short tag, if any.
pub(crate) fn resolve_plain(value: &str, tag: Option<&str>) -> Resolved {
    match tag {
        None | Some("!!bool" | "!!int" | "!!float" | "!!null" | "!!timestamp") => {}
        // `!!str`, `!!binary` and custom tags stay strings.
        Some(_) => return Resolved::Str,
    }
    let resolved = resolve_untagged(value, tag == Some("!!timestamp") || tag.is_none());
    match (tag, &resolved) {
        (None, _) => resolved,
        (Some("!!float"), Resolved::Int(i)) => Resolved::Float(*i as f64),
        (Some("!!bool"), Resolved::Bool(_))
        | (Some("!!int"), Resolved::Int(_))
        | (Some("!!float"), Resolved::Float(_))
        | (Some("!!null"), Resolved::Null)
        | (Some("!!timestamp"), Resolved::Timestamp) => resolved,
        // A tag that contradicts the value is a decode error in Go; we surface it as a string
        // that no numeric field accepts.
        _ => Resolved::Str,
    }
}

fn resolve_untagged(value: &str, timestamps: bool) -> Resolved {
    match value {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "true" | "True" | "TRUE" => return Resolved::Bool(true),
        "false" | "False" | "FALSE" => return Resolved::Bool(false),
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Resolved::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        _ => {}
    }
    let first = value.as_bytes()[0];
    match first {
        b'.' => {
            if let Ok(f) = parse_float(value) {
                return Resolved::Float(f);
            }
        }
        b'0'..=b'9' | b'+' | b'-' => {
            if timestamps && looks_like_timestamp(value) {
                return Resolved::Timestamp;
            }
            let plain: String = value.chars().filter(|&c| c != '_').collect();
            if let Some(i) = parse_int_base0(&plain) {
                return Resolved::Int(i);
            }
            if is_yaml_style_float(&plain)
                && let Ok(f) = parse_float(&plain)
            {
                return Resolved::Float(f);
            }
        }
        _ => {}
    }
    Resolved::Str
}

/// yaml.v3 accepts `2006-1-2` style dates (optionally with a time) as timestamps.
fn looks_like_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 8 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    let date = s.split(['T', 't', ' ']).next().unwrap_or_default();
    let mut parts = date[5..].split('-');
    let ok = |p: Option<&str>| p.is_some_and(|p| (1..=2).contains(&p.len()) && p.bytes().all(|c| c.is_ascii_digit()));
    ok(parts.next()) && ok(parts.next()) && parts.next().is_none()
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn is_yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// `strconv.ParseInt(s, 0, 64)` falling back to `ParseUint(s, 0, 64)`: sign, then `0x`, `0o`,
/// `0b` or a leading `0` (octal) prefix. Returns the value if it fits in i64 or u64.
fn parse_int_base0(s: &str) -> Option<i128> {
    let (negative, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u128::from_str_radix(digits, radix).ok()?;
    if negative {
        (magnitude <= 1u128 << 63).then(|| -(magnitude as i128))
    } else {
        (magnitude <= u128::from(u64::MAX)).then_some(magnitude as i128)
    }
}

pub(crate) use stratus_types::units::{parse_float, parse_uint};

/// A semantic version, as `blang/semver` `ParseTolerant` reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SemVer {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pub pre: Vec<String>,
}

impl SemVer {
    /// `semver.ParseTolerant`: trims spaces and a leading `v`, drops leading zeros, fills in a
    /// missing minor or patch with 0 (`"2"` → 2.0.0, `"2.1"` → 2.1.0).
    pub fn parse_tolerant(input: &str) -> Result<SemVer, String> {
        let s = input.trim();
        let s = s.strip_prefix('v').unwrap_or(s);
        let mut parts: Vec<String> = s.splitn(3, '.').map(str::to_string).collect();
        for p in &mut parts {
            if p.len() > 1 {
                let trimmed = p.trim_start_matches('0');
                *p = if trimmed.is_empty() || !trimmed.starts_with(|c: char| c.is_ascii_digit()) {
                    format!("0{trimmed}")
                } else {
                    trimmed.to_string()
                };
            }
        }
        if parts.len() < 3 {
            if parts.last().is_some_and(|p| p.contains(['+', '-'])) {
                return Err(format!("version {input:?}: a short version cannot carry pre-release or build data"));
            }
            while parts.len() < 3 {
                parts.push("0".to_string());
            }
        }
        SemVer::parse_strict(&parts.join("."), input)
    }

    fn parse_strict(s: &str, input: &str) -> Result<SemVer, String> {
        let bad = |what: &str| format!("version {input:?} is not a semantic version ({what})");
        let (core, _build) = s.split_once('+').unwrap_or((s, ""));
        let (core, pre) = match core.split_once('-') {
            Some((c, p)) => (c, Some(p)),
            None => (core, None),
        };
        let nums: Vec<&str> = core.split('.').collect();
        if nums.len() != 3 {
            return Err(bad("expected major.minor.patch"));
        }
        let num = |p: &str| -> Result<u64, String> {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || (p.len() > 1 && p.starts_with('0')) {
                return Err(bad("invalid number"));
            }
            p.parse().map_err(|_| bad("number too large"))
        };
        let pre = match pre {
            None => Vec::new(),
            Some(p) => {
                let ids: Vec<String> = p.split('.').map(str::to_string).collect();
                if ids.iter().any(|id| id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')) {
                    return Err(bad("invalid pre-release"));
                }
                ids
            }
        };
        Ok(SemVer { major: num(nums[0])?, minor: num(nums[1])?, patch: num(nums[2])?, pre })
    }

    /// True for exactly `maj.min.0` without pre-release (build metadata is ignored, as in Go).
    pub fn is(&self, major: u64, minor: u64) -> bool {
        self.major == major && self.minor == minor && self.patch == 0 && self.pre.is_empty()
    }

    /// `>= maj.min.0`: a pre-release of `maj.min.0` sorts before it.
    pub fn at_least(&self, major: u64, minor: u64) -> bool {
        match (self.major, self.minor, self.patch).cmp(&(major, minor, 0)) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Less => false,
            std::cmp::Ordering::Equal => self.pre.is_empty(),
        }
    }
}

/// `time.ParseDuration`, returning nanoseconds (may be ≤ 0).
pub(crate) fn parse_duration(input: &str) -> Result<i128, String> {
    let bad = || format!("{input:?} is not a duration like 24h, 90m or 1h30m");
    let mut s = input;
    let mut negative = false;
    if let Some(c) = s.chars().next()
        && (c == '-' || c == '+')
    {
        negative = c == '-';
        s = &s[1..];
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(bad());
    }
    let mut total: f64 = 0.0;
    while !s.is_empty() {
        let b = s.as_bytes();
        if !(b[0] == b'.' || b[0].is_ascii_digit()) {
            return Err(bad());
        }
        let int_len = b.iter().take_while(|c| c.is_ascii_digit()).count();
        let mut number = s[..int_len].to_string();
        s = &s[int_len..];
        let mut frac_len = 0;
        if let Some(rest) = s.strip_prefix('.') {
            frac_len = rest.bytes().take_while(u8::is_ascii_digit).count();
            number.push('.');
            number.push_str(&rest[..frac_len]);
            s = &rest[frac_len..];
        }
        if int_len == 0 && frac_len == 0 {
            return Err(bad());
        }
        let unit_len = s.find(|c: char| c == '.' || c.is_ascii_digit()).unwrap_or(s.len());
        if unit_len == 0 {
            return Err(format!("{input:?} is missing a unit (ns, us, ms, s, m or h)"));
        }
        let unit = match &s[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            other => return Err(format!("{input:?} has unknown unit {other:?} (use ns, us, ms, s, m or h)")),
        };
        s = &s[unit_len..];
        let n: f64 = if number.starts_with('.') { format!("0{number}") } else { number }
            .trim_end_matches('.')
            .parse()
            .map_err(|_| bad())?;
        total += n * unit;
    }
    if total > i64::MAX as f64 {
        return Err(format!("{input:?} is too long"));
    }
    let nanos = total as i128;
    Ok(if negative { -nanos } else { nanos })
}

/// What `url.ParseRequestURI("http://" + host)` refuses; `None` when Go would accept it.
pub(crate) fn request_uri_host_error(item: &str) -> Option<String> {
    if item.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Some("contains a control character".into());
    }
    let rest = if item.ends_with('?') && item.matches('?').count() == 1 {
        &item[..item.len() - 1]
    } else {
        item.split('?').next().unwrap_or_default()
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            let ok = userinfo
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._:~!$&'()*+,;=%@".contains(c) || !c.is_ascii());
            if !ok {
                return Some("has invalid user information before '@'".into());
            }
            &authority[at + 1..]
        }
        None => authority,
    };
    let port_ok = |p: &str| p.is_empty() || p.strip_prefix(':').is_some_and(|d| d.bytes().all(|b| b.is_ascii_digit()));
    let host_part = if host.starts_with('[') {
        let Some(close) = host.rfind(']') else {
            return Some("is missing ']' in an IPv6 host".into());
        };
        if !port_ok(&host[close + 1..]) {
            return Some("has an invalid port".into());
        }
        return None;
    } else if let Some(colon) = host.rfind(':') {
        if !port_ok(&host[colon..]) {
            return Some(format!("has an invalid port {:?}", &host[colon..]));
        }
        host
    } else {
        host
    };
    let bytes = host_part.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'%' {
            let hex = |b: Option<&u8>| b.is_some_and(u8::is_ascii_hexdigit);
            if !hex(bytes.get(i + 1)) || !hex(bytes.get(i + 2)) {
                return Some("has an invalid %-escape".into());
            }
            if bytes[i + 1] < b'8' && &host_part[i..i + 3] != "%25" {
                return Some("has a %-escaped ASCII character in the host".into());
            }
            i += 3;
            continue;
        }
        let allowed = c >= 0x80 || c.is_ascii_alphanumeric() || b"!$&'()*+,;=:[]<>\"-_.~".contains(&c);
        if !allowed {
            return Some(format!("has invalid character {:?} in host name", c as char));
        }
        i += 1;
    }
    None
}

/// Kubernetes `IsDNS1123Subdomain`: lowercase alphanumerics, `-` and `.`, at most 253 bytes,
/// each dot-separated label starting and ending with an alphanumeric.
pub(crate) fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        })
}

/// Kubernetes `IsEnvVarName`: `[-._a-zA-Z][-._a-zA-Z0-9]*`, not `.`, `..`, nor starting with `..`.
pub(crate) fn is_env_var_name(s: &str) -> bool {
    let b = s.as_bytes();
    let Some((first, rest)) = b.split_first() else {
        return false;
    };
    let ok = |c: &u8| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_');
    (first.is_ascii_alphabetic() || matches!(first, b'-' | b'.' | b'_'))
        && rest.iter().all(ok)
        && !s.starts_with("..")
        && s != "."
}

/// Akash's service name rule: `^[a-z]([-a-z0-9]*[a-z0-9])?$`.
pub(crate) fn is_service_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_lowercase()
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[b.len() - 1] != b'-'
}

/// Akash's IP endpoint name rule: `^[[:lower:]]+[[:lower:]-_\d]+$`.
pub(crate) fn is_endpoint_name(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_lowercase()
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'-' | b'_'))
}

/// Go's `path.IsAbs`.
pub(crate) fn is_abs_path(s: &str) -> bool {
    s.starts_with('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_scalars_like_yaml_v3() {
        assert_eq!(resolve_plain("80", None), Resolved::Int(80));
        assert_eq!(resolve_plain("0x10", None), Resolved::Int(16));
        assert_eq!(resolve_plain("010", None), Resolved::Int(8));
        assert_eq!(resolve_plain("1_000", None), Resolved::Int(1000));
        assert_eq!(resolve_plain("1e3", None), Resolved::Float(1000.0));
        assert_eq!(resolve_plain("0.5", None), Resolved::Float(0.5));
        assert_eq!(resolve_plain(".5", None), Resolved::Float(0.5));
        assert_eq!(resolve_plain("yes", None), Resolved::Str);
        assert_eq!(resolve_plain("True", None), Resolved::Bool(true));
        assert_eq!(resolve_plain("~", None), Resolved::Null);
        assert_eq!(resolve_plain("2024-01-02", None), Resolved::Timestamp);
        assert_eq!(resolve_plain("80", Some("!!str")), Resolved::Str);
        assert_eq!(resolve_plain("1Gi", None), Resolved::Str);
        assert_eq!(resolve_plain("-", None), Resolved::Str);
    }

    #[test]
    fn floats_follow_strconv() {
        assert_eq!(parse_float("0.5"), Ok(0.5));
        assert_eq!(parse_float("1."), Ok(1.0));
        assert_eq!(parse_float("-2e3"), Ok(-2000.0));
        assert!(parse_float("1.5.2").is_err());
        assert!(parse_float("").is_err());
        assert!(parse_float("1e400").is_err());
        assert!(parse_float("1_0").is_err());
        assert!(parse_float("Inf").is_ok_and(f64::is_infinite));
    }

    #[test]
    fn semver_tolerant_versions() {
        let v = |s| SemVer::parse_tolerant(s);
        assert!(v("2.0").is_ok_and(|v| v.is(2, 0)));
        assert!(v("2").is_ok_and(|v| v.is(2, 0)));
        assert!(v("v2.1").is_ok_and(|v| v.at_least(2, 1) && !v.is(2, 0)));
        assert!(v("3.0").is_ok_and(|v| v.at_least(2, 1)));
        assert!(v("2.1.0-rc1").is_ok_and(|v| !v.at_least(2, 1)));
        assert!(v("1.0").is_ok_and(|v| !v.at_least(2, 1) && !v.is(2, 0)));
        assert!(v("abc").is_err());
        assert!(v("2-beta").is_err());
    }

    #[test]
    fn durations_follow_time_parse_duration() {
        assert_eq!(parse_duration("24h"), Ok(24 * 3600 * 1_000_000_000));
        assert_eq!(parse_duration("1h30m"), Ok(5400 * 1_000_000_000));
        assert_eq!(parse_duration("1.5h"), Ok(5400 * 1_000_000_000));
        assert_eq!(parse_duration("0"), Ok(0));
        assert_eq!(parse_duration("-1h"), Ok(-3600 * 1_000_000_000));
        assert!(parse_duration("1d").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("10").is_err());
    }

    #[test]
    fn name_rules() {
        assert!(is_dns1123_subdomain("a.example.com"));
        assert!(!is_dns1123_subdomain("A.example.com"));
        assert!(!is_dns1123_subdomain("-a.com"));
        assert!(!is_dns1123_subdomain("*.example.com"));
        assert!(is_env_var_name("MY_ENV.NAME"));
        assert!(!is_env_var_name("1ABC"));
        assert!(!is_env_var_name(".."));
        assert!(is_service_name("web-1"));
        assert!(!is_service_name("Web"));
        assert!(!is_service_name("web-"));
        assert!(is_endpoint_name("endpoint-http"));
        assert!(!is_endpoint_name("e"));
        assert!(!is_endpoint_name("1ep"));
    }

    #[test]
    fn request_uri_hosts() {
        assert_eq!(request_uri_host_error("example.com"), None);
        assert_eq!(request_uri_host_error("example.com:8080/path"), None);
        assert!(request_uri_host_error("exa mple.com").is_some());
        assert!(request_uri_host_error("example.com:80a").is_some());
        assert!(request_uri_host_error("ex{ample}.com").is_some());
    }
}
