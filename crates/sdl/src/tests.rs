//! Behaviour tests of the parser on small inline SDLs. The shared corpus runs in `tests/it`.

use super::*;

/// Number of generated cases for property tests: `default` in the normal run, more with
/// `STRATUS_FUZZ_CASES=<n>` for a longer one.
pub(crate) fn fuzz_cases(default: u32) -> u32 {
    std::env::var("STRATUS_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

const HELLO: &str = r#"
version: "2.0"
services:
  web:
    image: nginx:1.27
    expose:
      - port: 80
        to:
          - global: true
profiles:
  compute:
    web:
      resources:
        cpu: {units: 0.5}
        memory: {size: 512Mi}
        storage: {size: 1Gi}
  placement:
    dc:
      pricing:
        web: {denom: uact, amount: 1000}
deployment:
  web:
    dc: {profile: web, count: 1}
"#;

fn errors(src: &str) -> Vec<String> {
    parse_str(src).errors().map(|d| d.to_string()).collect()
}

#[test]
fn hello_is_valid() {
    let parsed = parse_str(HELLO);
    assert!(parsed.is_valid(), "{:?}", parsed.diagnostics);
    let sdl = parsed.sdl.expect("valid");
    assert_eq!(sdl.groups.len(), 1);
    assert_eq!(sdl.groups[0].resources[0].resources.cpu_millis(), 500);
}

/// Replaces `from` with `to` in the hello SDL (which must contain it).
fn hello_with(from: &str, to: &str) -> String {
    assert!(HELLO.contains(from), "test bug: {from:?} not in HELLO");
    HELLO.replacen(from, to, 1)
}

#[test]
fn errors_name_line_column_path_and_rule() {
    let src = hello_with("      - port: 80\n", "      - port: 70000\n");
    assert_eq!(errors(&src), vec!["7:9: services.web.expose[0].port: 70000 is outside 1..65535"]);
}

#[test]
fn quoted_numbers_are_refused_with_a_fix() {
    let src = hello_with("port: 80", "port: \"80\"");
    let errs = errors(&src);
    assert_eq!(errs.len(), 1);
    assert!(errs[0].contains("write 80 without quotes"), "{errs:?}");
}

#[test]
fn size_suffix_case_matters_like_go() {
    let src = hello_with("size: 512Mi", "size: 512MB");
    let errs = errors(&src);
    assert!(errs[0].starts_with("15:18: profiles.compute.web.resources.memory.size:"), "{errs:?}");
    assert!(errs[0].contains("did you mean 512Mi or 512M"), "{errs:?}");
}

#[test]
fn unknown_keys_below_top_level_are_warnings_with_position() {
    let src = hello_with("    image: nginx:1.27\n", "    image: nginx:1.27\n    depends_on: [db]\n    imgae: x\n");
    let parsed = parse_str(&src);
    assert!(parsed.is_valid(), "{:?}", parsed.diagnostics);
    let warnings: Vec<String> = parsed.warnings().map(ToString::to_string).collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].starts_with("6:5: services.web.depends_on: unknown key, ignored"), "{warnings:?}");
    assert!(warnings[1].contains("did you mean `image`?"), "{warnings:?}");
}

#[test]
fn unknown_top_level_keys_are_errors_with_suggestion() {
    let src = format!("{HELLO}servcies: {{}}\n");
    let errs = errors(&src);
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].contains("servcies: unexpected top-level field") && errs[0].contains("did you mean `services`?"),
        "{errs:?}"
    );
}

#[test]
fn missing_references_are_reported() {
    let src = hello_with("dc: {profile: web, count: 1}", "dc: {profile: gpu, count: 1}");
    let errs = errors(&src);
    assert_eq!(errs.len(), 1);
    assert!(errs[0].contains("deployment.web.dc: no compute profile named \"gpu\""), "{errs:?}");
}

#[test]
fn several_errors_are_reported_at_once() {
    let src = hello_with("cpu: {units: 0.5}", "cpu: {units: lots}").replace("size: 1Gi", "size: 1 gig");
    assert_eq!(errors(&src).len(), 2);
}

#[test]
fn no_global_service_is_refused() {
    let src = hello_with("          - global: true\n", "          - global: false\n");
    let errs = errors(&src);
    assert_eq!(errs.len(), 1);
    assert!(errs[0].contains("zero global services"), "{errs:?}");
}

#[test]
fn zero_count_is_refused_like_the_ledger() {
    let errs = errors(&hello_with("count: 1", "count: 0"));
    assert!(errs.iter().any(|e| e.contains("invalid total CPU")), "{errs:?}");
}

#[test]
fn gpu_attributes_become_capability_keys() {
    let src = hello_with(
        "        storage: {size: 1Gi}\n",
        "        storage: {size: 1Gi}\n        gpu:\n          units: 2\n          attributes:\n            vendor:\n              nvidia:\n                - model: h100\n                  ram: 80Gi\n                  interface: sxm\n                - model: a100\n",
    );
    let sdl = parse_str(&src).sdl.expect("valid");
    let gpu = sdl.groups[0].resources[0].resources.gpu.clone().expect("gpu");
    let keys: Vec<&str> = gpu.attributes.iter().map(|a| a.key.as_str()).collect();
    assert_eq!(keys, ["vendor/nvidia/model/a100", "vendor/nvidia/model/h100/ram/80Gi/interface/sxm"]);
    assert_eq!(gpu.units.0, 2);
}

#[test]
fn gpu_without_model_is_a_wildcard() {
    let src = hello_with(
        "        storage: {size: 1Gi}\n",
        "        storage: {size: 1Gi}\n        gpu: {units: 1, attributes: {vendor: {nvidia: }}}\n",
    );
    let sdl = parse_str(&src).sdl.expect("valid");
    let gpu = sdl.groups[0].resources[0].resources.gpu.clone().expect("gpu");
    assert_eq!(gpu.attributes[0].key, "vendor/nvidia/model/*");
}

#[test]
fn ram_volume_for_shm() {
    let src = hello_with(
        "        storage: {size: 1Gi}\n",
        "        storage:\n          - size: 1Gi\n          - name: shm\n            size: 2Gi\n            attributes: {class: ram, persistent: false}\n",
    )
    .replace("    image: nginx:1.27\n", "    image: nginx:1.27\n    params:\n      storage:\n        shm: {mount: /dev/shm}\n");
    let parsed = parse_str(&src);
    let sdl = parsed.sdl.unwrap_or_else(|| panic!("{:?}", parsed.diagnostics));
    let storage = &sdl.groups[0].resources[0].resources.storage;
    assert_eq!(storage.len(), 2);
    assert!(storage[1].is_ram() && !storage[1].is_persistent());
    let params = sdl.manifest[0].services[0].params.clone().expect("params");
    assert_eq!(params.storage.expect("mounts")[0].mount, "/dev/shm");
}

#[test]
fn persistent_ram_is_refused() {
    let src = hello_with("storage: {size: 1Gi}", "storage: {size: 1Gi, attributes: {class: ram, persistent: true}}");
    assert!(errors(&src)[0].contains("ram storage class cannot be persistent"));
}

#[test]
fn hostile_inputs_get_clear_errors() {
    // Not UTF-8.
    let parsed = parse(b"version: \"2.0\"\nservices: \xff\xfe\n");
    assert_eq!(parsed.diagnostics[0].to_string(), "2:11: file is not valid UTF-8 text");
    // Too large.
    let big = vec![b'#'; MAX_INPUT_BYTES + 1];
    assert!(parse(&big).diagnostics[0].message.contains("at most"));
    // Deep nesting.
    let deep = format!("version: \"2.0\"\nx: {}{}\n", "[".repeat(10_000), "]".repeat(10_000));
    assert!(parse_str(&deep).diagnostics[0].message.contains("nesting is deeper than 255 levels"));
    // Empty.
    assert!(parse_str("").diagnostics[0].message.contains("no YAML document"));
    // Syntax error.
    let parsed = parse_str("version: \"2.0\"\nservices: [a\n");
    assert!(parsed.diagnostics[0].message.starts_with("YAML syntax error"), "{:?}", parsed.diagnostics);
}

/// A schema-valid alias bomb: 2000 services all aliasing one service with 2000 environment
/// entries would expand to 4 million nodes; the expansion budget refuses it quickly.
#[test]
fn alias_bomb_is_refused_quickly() {
    let mut src = String::from("version: \"2.0\"\nservices:\n  s0: &svc\n    image: x\n    env:\n");
    for i in 0..2000 {
        src.push_str(&format!("      - V{i}=1\n"));
    }
    for i in 1..2000 {
        src.push_str(&format!("  s{i}: *svc\n"));
    }
    let parsed = parse_str(&src);
    assert!(!parsed.is_valid());
    assert!(
        parsed.errors().any(|d| d.message.contains("too many nodes through anchors and aliases")),
        "{:?}",
        parsed.diagnostics.first()
    );
}

#[test]
fn version_21_shares_units_per_profile() {
    let src = hello_with("version: \"2.0\"", "version: \"2.1\"").replace(
        "deployment:\n  web:\n    dc: {profile: web, count: 1}\n",
        "deployment:\n  web:\n    dc: {profile: web, count: 1}\n  api:\n    dc: {profile: web, count: 2}\n",
    ) + "  api:\n    image: api:1\n";
    let src = src.replace("services:\n  web:", "services:\n  api:\n    image: api:1\n  web:");
    let src = src.trim_end_matches("  api:\n    image: api:1\n").to_string();
    let sdl = parse_str(&src).sdl.expect("valid");
    assert_eq!(sdl.groups[0].resources.len(), 1);
    assert_eq!(sdl.groups[0].resources[0].count, 3);
    let src20 = src.replace("version: \"2.1\"", "version: \"2.0\"");
    assert_eq!(parse_str(&src20).sdl.expect("valid").groups[0].resources.len(), 2);
}

#[test]
fn manifest_version_is_stable_and_sensitive() {
    let a = parse_str(HELLO).sdl.expect("valid");
    let b = parse_str(&HELLO.replace("nginx:1.27", "nginx:1.28")).sdl.expect("valid");
    assert_eq!(a.version_hex(), parse_str(HELLO).sdl.expect("valid").version_hex());
    assert_ne!(a.version_hex(), b.version_hex());
}

mod fuzz {
    //! Bounded fuzzing inside the normal test run: whatever the bytes, parsing returns (no
    //! panic), every error has a position, and a valid result is self-consistent. The long run is
    //! `STRATUS_FUZZ_CASES=1000000 cargo test --release -p stratus-sdl fuzz`, and `fuzz/` holds a
    //! cargo-fuzz target for coverage-guided runs.
    use proptest::prelude::*;

    use super::*;

    fn corpus_files() -> Vec<Vec<u8>> {
        let dir = std::env::var("STRATUS_CORPUS")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|_| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"))
            .join("awesome-akash");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("entry").path())
            .collect();
        files.sort();
        files.into_iter().map(|p| std::fs::read(p).expect("read")).collect()
    }

    fn check_invariants(bytes: &[u8]) {
        let parsed = parse(bytes);
        for d in &parsed.diagnostics {
            assert!(d.pos.line >= 1 && d.pos.column >= 1, "diagnostic without position: {d}");
        }
        assert_eq!(parsed.is_valid(), parsed.errors().next().is_none());
        if let Some(sdl) = &parsed.sdl {
            assert_eq!(sdl.manifest_version, stratus_types::manifest::manifest_version(&sdl.manifest));
            assert_eq!(sdl.groups.len(), sdl.manifest.len());
            assert!(!sdl.groups.is_empty());
        }
    }

    /// Edits that keep most of a real SDL intact, so the parser gets deep before something breaks.
    #[derive(Clone, Debug)]
    enum Edit {
        Delete(usize, usize),
        Insert(usize, Vec<u8>),
        Replace(usize, u8),
        DuplicateLine(usize),
    }

    fn apply(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
        for edit in edits {
            let n = bytes.len().max(1);
            match edit {
                Edit::Delete(at, len) => {
                    let at = at % n;
                    let end = (at + len).min(bytes.len());
                    if at < end {
                        bytes.drain(at..end);
                    }
                }
                Edit::Insert(at, text) => {
                    let at = (at % n).min(bytes.len());
                    bytes.splice(at..at, text.iter().copied());
                }
                Edit::Replace(at, b) => {
                    if !bytes.is_empty() {
                        let at = at % bytes.len();
                        bytes[at] = *b;
                    }
                }
                Edit::DuplicateLine(at) => {
                    let at = at % n;
                    let start = bytes[..at.min(bytes.len())].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
                    let end = bytes[start..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |i| start + i + 1);
                    let line = bytes[start..end].to_vec();
                    bytes.splice(start..start, line);
                }
            }
        }
        bytes
    }

    fn edit() -> impl Strategy<Value = Edit> {
        let snippets = prop::sample::select(vec![
            b": ".to_vec(),
            b"\n  ".to_vec(),
            b"- ".to_vec(),
            b"&a ".to_vec(),
            b"*a".to_vec(),
            b"<<: *a\n".to_vec(),
            b"\"".to_vec(),
            b"'".to_vec(),
            b"|\n".to_vec(),
            b"{".to_vec(),
            b"[".to_vec(),
            b"0x10".to_vec(),
            b"~".to_vec(),
            b"\t".to_vec(),
            b"\r\n".to_vec(),
            b"\xff".to_vec(),
            b"99999999999999999999".to_vec(),
            b"-1".to_vec(),
            b"1e400".to_vec(),
            b"Gi".to_vec(),
            b"!!str ".to_vec(),
            b"? ".to_vec(),
            b"---\n".to_vec(),
            b"...".to_vec(),
            b"\n...\n".to_vec(),
            b"- ...".to_vec(),
        ]);
        prop_oneof![
            (any::<usize>(), 1usize..40).prop_map(|(a, l)| Edit::Delete(a, l)),
            (any::<usize>(), snippets).prop_map(|(a, t)| Edit::Insert(a, t)),
            (any::<usize>(), any::<u8>()).prop_map(|(a, b)| Edit::Replace(a, b)),
            any::<usize>().prop_map(Edit::DuplicateLine),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: fuzz_cases(2000), ..ProptestConfig::default() })]

        #[test]
        fn mutated_corpus_files_never_panic(file in any::<prop::sample::Index>(), edits in prop::collection::vec(edit(), 1..6)) {
            thread_local!(static FILES: Vec<Vec<u8>> = corpus_files());
            let original = FILES.with(|f| file.get(f).clone());
            check_invariants(&apply(original, &edits));
        }

        #[test]
        fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            check_invariants(&bytes);
        }

        #[test]
        fn random_yaml_tokens_never_panic(tokens in prop::collection::vec(prop::sample::select(vec![
            "version: \"2.0\"\n", "services:\n", "  web:\n", "    image: x\n", "    expose:\n", "      - port: 80\n",
            "        to:\n", "          - global: true\n", "profiles:\n", "  compute:\n", "  placement:\n",
            "deployment:\n", "    web: {profile: web, count: 1}\n", "&a ", "*a\n", "<<: *a\n", "[", "]", "{", "}",
            ": ", "- ", "\n", "  ", "'", "\"", "|\n", ">-\n", "~", "null", "0x1F", "1e3", "yes",
        ]), 0..40)) {
            check_invariants(tokens.concat().as_bytes());
        }
    }
}
