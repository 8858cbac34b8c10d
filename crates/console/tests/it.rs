//! The console's embedded front-end is exactly what its sources build to (`console/build.sh`:
//! the SDL parser to WebAssembly, then the TypeScript app with Vite), its front-end unit tests
//! pass (Vitest), and the templates it offers are the valid examples.
//!
//! Needs Node.js/npm (the npm registry, for `npm ci` on a fresh checkout) and the
//! wasm32-unknown-unknown Rust target; `.ci/run` provides both.

use std::path::{Path, PathBuf};
use std::process::Command;

fn console_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../console").canonicalize().expect("console/")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                out.push(p.strip_prefix(dir).expect("prefix").to_path_buf());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn the_embedded_console_is_what_its_sources_build_to_and_its_unit_tests_pass() {
    let out = tempfile::tempdir().expect("tempdir");
    let built = out.path().join("dist");
    let run = Command::new("bash").arg(console_dir().join("build.sh")).arg(&built).output().expect("run build.sh");
    assert!(
        run.status.success(),
        "console/build.sh failed:\n{}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let committed = console_dir().join("dist");
    assert_eq!(files(&built), files(&committed), "the same files");
    for f in files(&committed) {
        let (a, b) =
            (std::fs::read(built.join(&f)).expect("built"), std::fs::read(committed.join(&f)).expect("committed"));
        assert!(a == b, "console/dist/{} differs from what the sources build to: run console/build.sh", f.display());
    }
    let vitest = Command::new("npx").args(["vitest", "run"]).current_dir(console_dir()).output().expect("run vitest");
    assert!(
        vitest.status.success(),
        "front-end unit tests failed:\n{}\n{}",
        String::from_utf8_lossy(&vitest.stdout),
        String::from_utf8_lossy(&vitest.stderr)
    );
}

#[test]
fn the_gallery_offers_the_valid_examples_with_what_they_need() {
    let templates = stratus_console::templates();
    let names: Vec<&str> = templates.iter().map(|t| t.name.as_str()).collect();
    for expected in ["hello", "gpu-training", "arena-training-node", "arena-validator"] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    let training = templates.iter().find(|t| t.name == "gpu-training").expect("gpu-training");
    assert_eq!(training.gpus, vec!["nvidia h100".to_string()]);
    assert!(training.price.ends_with("uact/block"), "{}", training.price);
    assert!(stratus_sdl::parse_str(&training.sdl).is_valid());
    let hello = templates.iter().find(|t| t.name == "hello").expect("hello");
    assert!(hello.gpus.is_empty() && hello.services == vec!["web".to_string()]);
    assert_eq!(hello.source, "example");
    // Every curated template is valid (an invalid one would silently vanish from the gallery).
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/templates");
    let files: Vec<String> = std::fs::read_dir(&dir)
        .expect("examples/templates")
        .flatten()
        .filter_map(|e| e.path().file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    assert!(files.len() >= 5, "{files:?}");
    for name in &files {
        let t = templates.iter().find(|t| &t.name == name).unwrap_or_else(|| panic!("{name} is not a valid template"));
        assert_eq!(t.source, "curated");
        assert!(!t.description.is_empty(), "{name} says what it runs");
    }
    let vllm = templates.iter().find(|t| t.name == "vllm-openai").expect("vllm");
    assert_eq!(vllm.gpus, vec!["nvidia h100".to_string()]);
}
