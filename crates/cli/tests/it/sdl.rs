//! `stratus sdl check|groups|manifest|hash`: the exact output forms other tools rely on.

use crate::{corpus, path_str, stdout, stratus};

const VALID: &str = "version: \"2.0\"
services:
  web:
    image: nginx:1.27
    depends_on: [db]
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
";

fn files() -> (tempfile::TempDir, String, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let valid = dir.path().join("valid.yaml");
    let invalid = dir.path().join("invalid.yaml");
    std::fs::write(&valid, VALID).expect("write");
    std::fs::write(&invalid, VALID.replace("port: 80", "port: 70000")).expect("write");
    let (v, i) = (path_str(&valid).to_string(), path_str(&invalid).to_string());
    (dir, v, i)
}

#[test]
fn check_prints_ok_for_valid_files_and_exits_0() {
    let (_dir, valid, _) = files();
    let out = stratus(&["sdl", "check", &valid]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    // The unknown key is a warning with its position, then the verdict line.
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [
            format!(
                "{valid}:5:5: warning: services.web.depends_on: unknown key, ignored (Akash ignores it too); known keys here: image, command, args, env, expose, dependencies, params, credentials"
            ),
            format!("ok {valid}"),
        ]
    );
}

#[test]
fn check_prints_diagnostics_and_exits_1_if_any_file_is_invalid() {
    let (_dir, valid, invalid) = files();
    let out = stratus(&["sdl", "check", &valid, &invalid]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains(&format!("ok {valid}\n")), "{text}");
    assert!(
        text.contains(&format!("{invalid}:7:9: services.web.expose[0].port: 70000 is outside 1..65535\n")),
        "{text}"
    );
    assert!(!text.contains(&format!("ok {invalid}")));
}

#[test]
fn check_json_prints_one_object_per_file_in_documented_order() {
    let (_dir, valid, invalid) = files();
    let out = stratus(&["sdl", "check", "--json", &valid, &invalid]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[0].starts_with(&format!("{{\"file\":\"{valid}\",\"valid\":true,\"errors\":[],\"warnings\":[{{\"line\":5,\"column\":5,\"message\":\"services.web.depends_on: unknown key")), "{}", lines[0]);
    let second: serde_json::Value = serde_json::from_str(lines[1]).expect("json");
    assert_eq!(second["valid"], false);
    assert_eq!(second["errors"][0]["line"], 7);
    assert_eq!(second["errors"][0]["column"], 9);
    assert_eq!(second["errors"][0]["message"], "services.web.expose[0].port: 70000 is outside 1..65535");
}

#[test]
fn unreadable_file_is_an_error_not_a_panic() {
    let out = stratus(&["sdl", "check", "/nonexistent/deploy.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("/nonexistent/deploy.yaml: cannot read /nonexistent/deploy.yaml"));
    let out = stratus(&["sdl", "hash", "/nonexistent/deploy.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: cannot read /nonexistent/deploy.yaml"));
}

fn fixture_json(name: &str) -> serde_json::Value {
    let path = corpus().join("reference-testdata/expected-output").join(name);
    serde_json::from_slice(&std::fs::read(&path).expect("fixture")).expect("fixture json")
}

#[test]
fn groups_manifest_and_hash_match_the_reference_fixtures() {
    let input = corpus().join("reference-testdata/v2.0__ip-endpoint.yaml");
    let input = path_str(&input);

    let out = stratus(&["sdl", "groups", input]);
    assert_eq!(out.status.code(), Some(0));
    let groups: serde_json::Value = serde_json::from_slice(&out.stdout).expect("groups json");
    assert_eq!(groups, fixture_json("v2.0__ip-endpoint__group-specs.json"));

    let out = stratus(&["sdl", "manifest", input]);
    let manifest: serde_json::Value = serde_json::from_slice(&out.stdout).expect("manifest json");
    assert_eq!(manifest, fixture_json("v2.0__ip-endpoint__manifest.json"));

    let out = stratus(&["sdl", "hash", input]);
    let tsv = std::fs::read_to_string(corpus().join("reference-testdata/go-manifest-version.tsv")).expect("tsv");
    let expected = tsv.lines().find_map(|l| l.strip_prefix("v2.0__ip-endpoint.yaml\t")).expect("hash row");
    assert_eq!(stdout(&out), format!("{expected}\n"));
}

#[test]
fn groups_of_an_invalid_file_print_diagnostics_and_exit_1() {
    let (_dir, _, invalid) = files();
    let out = stratus(&["sdl", "groups", &invalid]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("70000 is outside 1..65535"));
}

#[test]
fn examples_are_valid() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut args = vec!["sdl".to_string(), "check".to_string()];
    for e in std::fs::read_dir(&dir).expect("examples") {
        let path = e.expect("entry").path();
        if path.extension().is_some_and(|x| x == "yaml") {
            args.push(path.to_string_lossy().into_owned());
        }
    }
    assert!(args.len() >= 8, "hello, gpu-training, ray-cluster, shm-persistent, the two arena templates");
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = stratus(&refs);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(stdout(&out).lines().filter(|l| l.starts_with("ok ")).count(), args.len() - 2);
}
