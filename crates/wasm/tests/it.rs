//! The WebAssembly build, run under Node as the console runs it in a browser, gives exactly the
//! native parser's report (validity, and every error and warning with its line, column and
//! message) on every corpus file, and the same deployment groups.
//!
//! Needs the `wasm32-unknown-unknown` target (`rustup target add wasm32-unknown-unknown`) and
//! Node.js; `.ci/run` installs the target.

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

fn build_wasm() -> PathBuf {
    let target_dir = workspace().join("target").join("wasm");
    let out = Command::new(env!("CARGO"))
        .args(["build", "--locked", "-p", "stratus-wasm", "--target", "wasm32-unknown-unknown"])
        .env("CARGO_TARGET_DIR", &target_dir)
        .current_dir(workspace())
        .output()
        .expect("run cargo");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "building the WebAssembly parser failed{}:\n{stderr}",
        if stderr.contains("wasm32-unknown-unknown") && stderr.contains("not installed") {
            " (run `rustup target add wasm32-unknown-unknown`; .ci/run does)"
        } else {
            ""
        }
    );
    target_dir.join("wasm32-unknown-unknown/debug/stratus_wasm.wasm")
}

/// Runs `body` under Node as an ES module that has `w`, the WebAssembly build loaded through
/// `console/stratus-wasm.mjs` as a browser loads it, and `args` as `process.argv[4..]`; returns
/// what it printed (panicking with its stderr if it failed).
fn run_js(wasm: &Path, body: &str, args: &[&std::ffi::OsStr]) -> String {
    let script = format!(
        "import {{ readFileSync }} from 'node:fs';\n\
         import {{ pathToFileURL }} from 'node:url';\n\
         const {{ loadStratusWasm }} = await import(pathToFileURL(process.argv[2]).href);\n\
         const w = await loadStratusWasm(readFileSync(process.argv[3]));\n{body}"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let runner = dir.path().join("run.mjs");
    std::fs::write(&runner, script).expect("write");
    let out = Command::new("node")
        .arg(&runner)
        .arg(workspace().join("console/stratus-wasm.mjs"))
        .arg(wasm)
        .args(args)
        .output()
        .expect("run node");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8")
}

fn corpus_files() -> Vec<PathBuf> {
    let corpus =
        std::env::var("STRATUS_CORPUS").map(PathBuf::from).unwrap_or_else(|_| workspace().join("../shared/corpus"));
    let mut files = Vec::new();
    let mut dirs = vec![corpus];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml")
                && std::fs::read_to_string(&path).is_ok()
            {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn the_webassembly_parser_reports_exactly_what_the_native_one_does_on_the_corpus() {
    let wasm = build_wasm();
    let files = corpus_files();
    assert!(files.len() > 300, "the corpus is there: {} files", files.len());
    let mut checked = 0;
    for chunk in files.chunks(200) {
        let out = Command::new("node")
            .arg(workspace().join("console/tests/wasm-sdl-check.mjs"))
            .arg(&wasm)
            .args(chunk)
            .output()
            .expect("run node (Node.js is needed for this test)");
        assert!(out.status.success(), "node failed: {}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8(out.stdout).expect("utf-8");
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), chunk.len());
        for (file, line) in chunk.iter().zip(lines) {
            let from_wasm: serde_json::Value = serde_json::from_str(line).expect("json");
            let text = std::fs::read(file).expect("read");
            let mut native: serde_json::Value = serde_json::from_str(&stratus_wasm::sdl_check(&text)).expect("json");
            native["file"] = from_wasm["file"].clone();
            assert_eq!(from_wasm, native, "{}", file.display());
            checked += 1;
        }
    }
    assert_eq!(checked, files.len());
}

#[test]
fn groups_come_out_of_the_webassembly_build_as_the_ledger_gets_them() {
    let wasm = build_wasm();
    let example = workspace().join("examples/hello.yaml");
    let stdout = run_js(
        &wasm,
        "console.log(JSON.stringify(w.groups(readFileSync(process.argv[4], 'utf8'))));\n\
         console.log(JSON.stringify(w.groups('version: \"2.0\"')));",
        &[example.as_os_str()],
    );
    let mut lines = stdout.lines();
    let groups: serde_json::Value = serde_json::from_str(lines.next().expect("groups")).expect("json");
    let native: serde_json::Value =
        serde_json::from_str(&stratus_wasm::sdl_groups(&std::fs::read(&example).expect("read"))).expect("json");
    assert_eq!(groups, native);
    assert!(groups.as_array().is_some_and(|g| !g.is_empty()), "{groups}");
    assert_eq!(lines.next(), Some("null"), "an invalid SDL has no groups");
}

#[test]
fn a_token_built_in_javascript_with_the_webassembly_build_passes_the_gateway_check() {
    let wasm = build_wasm();
    let provider = stratus_types::address::Address::from_public_key(&[9; 32]).to_string();
    let now = stratus_types::clock::now_ms();
    // What a browser does: its own ed25519 key (here Node's crypto, in a browser WebCrypto), the
    // bytes to sign from the WebAssembly build, the token encoded there.
    let script = "import { generateKeyPairSync, sign } from 'node:crypto';\n\
        const { publicKey, privateKey } = generateKeyPairSync('ed25519');\n\
        const public_key = Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url').toString('hex');\n\
        const claims = { public_key, provider: process.argv[4], scopes: ['logs', 'status'], dseq: 7,\n\
          issued_at_ms: Number(process.argv[5]), expires_at_ms: Number(process.argv[5]) + 3600000 };\n\
        const { sign_bytes } = w.tokenSignBytes(claims);\n\
        const signature = sign(null, Buffer.from(sign_bytes, 'hex'), privateKey).toString('hex');\n\
        console.log(w.tokenEncode({ ...claims, signature }).token);\n\
        console.log(JSON.stringify(w.tokenSignBytes({ ...claims, public_key: 'zz' })));";
    let now_text = now.to_string();
    let stdout = run_js(&wasm, script, &[provider.as_ref(), now_text.as_ref()]);
    let mut lines = stdout.lines();
    let token = stratus_types::auth::Token::decode(lines.next().expect("token")).expect("decodes");
    let claims = token.verify(&provider.parse().expect("address"), now).expect("the gateway accepts it");
    claims.require(stratus_types::auth::Scope::Logs, Some(7)).expect("logs of deployment 7");
    assert!(claims.require(stratus_types::auth::Scope::SendManifest, Some(7)).is_err(), "only the scopes asked for");
    let bad: serde_json::Value = serde_json::from_str(lines.next().expect("error line")).expect("json");
    assert!(bad["error"].as_str().is_some_and(|e| e.contains("public_key")), "{bad}");
}

#[test]
fn the_webassembly_wallet_derives_and_signs_as_the_cli_does() {
    let wasm = build_wasm();
    let words = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
    let example = workspace().join("examples/hello.yaml");
    let script = "const key = w.keyFromMnemonic(process.argv[4]);\n\
        console.log(JSON.stringify(key));\n\
        const d = w.deploymentCreate({ sdl: readFileSync(process.argv[5], 'utf8'), dseq: 42, deposit: '5000000uact' });\n\
        console.log(JSON.stringify(d));\n\
        const params = { min_fees: [{ denom: 'uact', amount: '3' }] };\n\
        console.log(JSON.stringify(w.txSign({ secret_key: key.secret_key, chain_id: 'c', sequence: 4, fee: params.min_fees[0], msgs: [d.msg] })));\n\
        console.log(JSON.stringify(w.keyFromMnemonic('abandon abandon')));\n\
        console.log(JSON.stringify(w.deploymentCreate({ sdl: 'version: 1', dseq: 1, deposit: '5uact' })));\n\
        console.log(JSON.stringify(w.deploymentCreate({ sdl: readFileSync(process.argv[5], 'utf8'), dseq: 1, deposit: 'five' })));\n\
        console.log(JSON.stringify(w.txSign({ secret_key: key.secret_key, chain_id: 'c', sequence: 4, msgs: [] })));\n\
        const fresh = w.mnemonicNew('07'.repeat(32));\n\
        console.log(JSON.stringify(w.keyFromMnemonic(fresh.mnemonic)));";
    let stdout = run_js(&wasm, script, &[words.as_ref(), example.as_os_str()]);
    let lines: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).expect("json")).collect();
    // The same words give the CLI keyring's key and address.
    let native = stratus_types::keys::derive_from_mnemonic(words).expect("mnemonic");
    let public = native.verifying_key().to_bytes();
    assert_eq!(lines[0]["public_key"], hex::encode(public));
    assert_eq!(lines[0]["address"], stratus_types::address::Address::from_public_key(&public).to_string());
    // The deployment message is the one `stratus deploy create` builds from the same file.
    let sdl = stratus_sdl::parse(&std::fs::read(&example).expect("read")).sdl.expect("valid example");
    let msg = stratus_types::tx::Msg::CreateDeployment {
        dseq: 42,
        groups: sdl.groups.clone(),
        version: sdl.manifest_version,
        deposit: "5000000uact".parse().expect("coin"),
        gang: false,
    };
    assert_eq!(lines[1]["msg"], serde_json::to_value(&msg).expect("json"));
    assert_eq!(lines[1]["version"], sdl.version_hex());
    assert_eq!(lines[1]["manifest"], serde_json::to_value(&sdl.manifest).expect("json"));
    // The signed transaction is byte-for-byte what the CLI would sign, and verifies.
    let tx = stratus_types::tx::Tx::from_bytes(&hex::decode(lines[2]["tx"].as_str().expect("tx")).expect("hex"))
        .expect("decodes");
    tx.verify().expect("signature verifies");
    let body = stratus_types::tx::TxBody {
        chain_id: "c".into(),
        sequence: 4,
        fee: "3uact".parse().expect("coin"),
        memo: String::new(),
        msgs: vec![msg],
    };
    assert_eq!(tx, stratus_types::tx::Tx::sign(body, &native));
    assert_eq!(lines[2]["hash"], hex::encode(tx.hash()));
    // Bad input: an error that names what is wrong.
    let error = |i: usize| lines[i]["error"].as_str().unwrap_or_default().to_string();
    assert!(error(3).contains("invalid mnemonic"), "{}", lines[3]);
    assert!(error(4).contains("the SDL is not valid: 1:"), "{}", lines[4]);
    assert!(error(5).contains("deposit \"five\""), "{}", lines[5]);
    assert!(error(6).contains("fee:"), "{}", lines[6]);
    assert!(lines[7]["address"].as_str().is_some_and(|a| a.starts_with("stratus1")), "{}", lines[7]);
}

#[test]
fn the_placement_preview_names_who_may_bid_and_why_the_others_may_not() {
    let wasm = build_wasm();
    let attr = |k: &str, v: &str| serde_json::json!({ "key": k, "value": v });
    let storage = [
        attr("capabilities/storage/1/class", "default"),
        attr("capabilities/storage/1/persistent", "false"),
        attr("capabilities/storage/2/class", "ram"),
        attr("capabilities/storage/2/persistent", "false"),
        attr("capabilities/storage/3/class", "beta3"),
        attr("capabilities/storage/3/persistent", "true"),
    ];
    let provider = |seed: u8, gpu: &str, interface: &str| {
        let mut attributes = storage.to_vec();
        attributes.push(attr(&format!("capabilities/gpu/vendor/nvidia/model/{gpu}"), "true"));
        attributes.push(attr(&format!("capabilities/gpu/vendor/nvidia/model/{gpu}/interface/{interface}"), "true"));
        serde_json::json!({
            "owner": stratus_types::address::Address::from_public_key(&[seed; 32]).to_string(),
            "host_uri": "https://p.example:8443",
            "attributes": attributes,
            "info": { "email": "", "website": "", "tls_sha256": "" },
        })
    };
    let input = serde_json::json!({
        "sdl": std::fs::read_to_string(workspace().join("examples/gpu-training.yaml")).expect("example"),
        "providers": [provider(1, "h100", "sxm"), provider(2, "h100", "pcie"), provider(3, "rtx4090", "pcie")],
    });
    let stdout = run_js(
        &wasm,
        "console.log(JSON.stringify(w.placementPreview(JSON.parse(process.argv[4]))));\n\
         console.log(JSON.stringify(w.placementPreview({ sdl: 'version: 1', providers: [] })));",
        &[input.to_string().as_ref()],
    );
    let lines: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).expect("json")).collect();
    let group = &lines[0]["groups"][0];
    assert_eq!(group["fit"], serde_json::json!([input["providers"][0]["owner"]]), "{group}");
    assert_eq!(group["refused"][0]["provider"], input["providers"][1]["owner"]);
    assert_eq!(group["refused"][0]["reason"], "needs gpu h100 sxm; has h100 pcie", "the interface matters: {group}");
    assert_eq!(group["refused"][1]["reason"], "needs gpu h100 sxm; has rtx4090 pcie", "{group}");
    assert_eq!(lines[1]["error"], "the SDL is not valid");
}
