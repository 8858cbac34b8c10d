//! The reference parser's fixtures (chain-sdk `go/sdl/_testdata`, `testdata/sdl`, TS fixtures).

use std::collections::BTreeMap;

use crate::corpus::{assert_differences, corpus_dir, percent, read, tsv};

struct Fixture {
    file: String,
    go_verdict: String,
    /// The verdict is asserted by an upstream Go test (not only predicted by reading).
    tested: bool,
}

/// Rows of `reference-testdata/EXPECTED.md`'s table.
fn fixtures() -> Vec<Fixture> {
    let text = String::from_utf8(read(&corpus_dir().join("reference-testdata/EXPECTED.md"))).expect("utf-8");
    text.lines()
        .filter(|l| l.starts_with("| `") && !l.starts_with("| `expected-output/"))
        .map(|l| {
            let cols: Vec<&str> = l.split('|').map(str::trim).collect();
            Fixture {
                file: cols[1].trim_matches('`').to_string(),
                go_verdict: cols[3].trim_matches('*').to_string(),
                tested: cols[4].starts_with("test"),
            }
        })
        .collect()
}

fn parse_fixture(file: &str) -> stratus_sdl::Parsed {
    stratus_sdl::parse(&read(&corpus_dir().join("reference-testdata").join(file)))
}

#[test]
fn verdicts_match_go_tests_exactly() {
    let all = fixtures();
    assert!(all.len() >= 110, "expected the full fixture table, got {}", all.len());
    let mut tested = 0;
    let mut predicted_differ = BTreeMap::new();
    for f in &all {
        let parsed = parse_fixture(&f.file);
        let ours = if parsed.is_valid() { "accept" } else { "reject" };
        if f.tested {
            tested += 1;
            assert_eq!(
                ours,
                f.go_verdict,
                "{}: Go's tests say {}; our diagnostics: {:?}",
                f.file,
                f.go_verdict,
                parsed.diagnostics.iter().map(ToString::to_string).collect::<Vec<_>>()
            );
        } else if ours != f.go_verdict {
            predicted_differ.insert(f.file.clone(), format!("predicted {} / ours {ours}", f.go_verdict));
        }
    }
    println!(
        "reference fixtures: {tested} test-backed verdicts all equal; {} predicted ones differ",
        predicted_differ.len()
    );
    assert_differences("reference-verdict", &predicted_differ);
}

fn json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn outputs_equal_expected_json() {
    let dir = corpus_dir().join("reference-testdata");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir.join("expected-output")).expect("expected-output dir") {
        let name = entry.expect("dir entry").file_name().to_string_lossy().to_string();
        let Some(case) = name.strip_suffix("__manifest.json") else { continue };
        if !(case.starts_with("v2.0__") || case.starts_with("v2.1__")) {
            continue;
        }
        let parsed = parse_fixture(&format!("{case}.yaml"));
        let sdl = parsed.sdl.unwrap_or_else(|| panic!("{case}: rejected: {:?}", parsed.diagnostics));
        let manifest = serde_json::to_value(&sdl.manifest).expect("manifest json");
        let groups = serde_json::to_value(&sdl.groups).expect("groups json");
        assert_eq!(manifest, json(&dir.join("expected-output").join(&name)), "{case}: manifest differs");
        assert_eq!(
            groups,
            json(&dir.join("expected-output").join(format!("{case}__group-specs.json"))),
            "{case}: group specs differ"
        );
        checked += 1;
    }
    assert_eq!(checked, 15, "all 15 parity fixtures compared");
}

/// The TSV also hashes some files that Go rejects (its re-implementation hashed them anyway);
/// a hash exists only for accepted files, so only those are compared.
#[test]
fn manifest_versions_agree_with_go() {
    let accepted: Vec<String> = fixtures().into_iter().filter(|f| f.go_verdict == "accept").map(|f| f.file).collect();
    let mut compared = 0;
    let mut differ = BTreeMap::new();
    for row in tsv(&corpus_dir().join("reference-testdata/go-manifest-version.tsv"), false) {
        if row[1] == "ERR" || !accepted.contains(&row[0]) {
            continue;
        }
        compared += 1;
        let parsed = parse_fixture(&row[0]);
        match &parsed.sdl {
            Some(sdl) if sdl.version_hex() == row[1] => {}
            Some(sdl) => {
                differ.insert(row[0].clone(), format!("ours {}", sdl.version_hex()));
            }
            None => {
                differ.insert(row[0].clone(), "we reject".to_string());
            }
        }
    }
    let agree = compared - differ.len();
    println!("reference manifest versions: {agree}/{compared} equal Go's ({:.1}%)", percent(agree, compared));
    assert_differences("reference-hash", &differ);
    assert!(percent(agree, compared) >= 97.0);
}

#[test]
fn manifest_versions_agreement_with_ts_sdk() {
    let (mut compared, mut agree) = (0, 0);
    let accepted: Vec<String> = fixtures().into_iter().filter(|f| f.go_verdict == "accept").map(|f| f.file).collect();
    for row in tsv(&corpus_dir().join("reference-testdata/ts-manifest-version.tsv"), false) {
        if row[1] == "ERR" || !accepted.contains(&row[0]) {
            continue;
        }
        compared += 1;
        if parse_fixture(&row[0]).sdl.is_some_and(|s| s.version_hex() == row[1]) {
            agree += 1;
        }
    }
    println!("reference manifest versions: {agree}/{compared} equal the TS SDK's ({:.1}%)", percent(agree, compared));
    assert!(percent(agree, compared) >= 50.0);
}
