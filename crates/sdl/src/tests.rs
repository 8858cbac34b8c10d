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
    assert!(!parse_str(&deep).is_valid());
    // Empty.
    assert!(parse_str("").diagnostics[0].message.contains("no YAML document"));
    // Syntax error.
    let parsed = parse_str("version: \"2.0\"\nservices: [a\n");
    assert!(parsed.diagnostics[0].message.starts_with("YAML syntax error"), "{:?}", parsed.diagnostics);
}

#[test]
fn alias_bomb_is_refused_quickly() {
    let mut src = String::from("version: \"2.0\"\ninclude: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..9 {
        src.push_str(&format!("x{i}: &a{i} [{}]\n", vec![format!("*a{}", i - 1); 10].join(", ")));
    }
    src.push_str("services:\n  web:\n    env: *a8\n");
    let parsed = parse_str(&src);
    assert!(!parsed.is_valid());
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
