//! The tenant's and provider's journey through the CLI's friendly verbs, against a node process.

use std::process::Output;

use crate::devnet::{NodeProcess, cli, init};
use crate::stdout;

const SDL: &str = "version: \"2.0\"
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
        web: {denom: uact, amount: 100}
deployment:
  web:
    dc: {profile: web, count: 1}
";

fn ok(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        stdout(out),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout(out)).unwrap_or(serde_json::Value::Null)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn deploy_bid_lease_withdraw_close() {
    let home = tempfile::tempdir().expect("tempdir");
    let h = home.path();
    init(h, &["--account", "alice=1000000000uact", "--account", "prov=1000000000uact", "--faucet", "1000uact"]);
    let node = NodeProcess::start(h, "100ms");
    let run = |args: &[&str]| cli(h, &node.url, args);
    let sdl = h.join("web.yaml");
    std::fs::write(&sdl, SDL).expect("write sdl");
    let sdl = sdl.to_str().expect("utf-8");

    let keys = ok(&run(&["keys", "list", "--output", "json"]));
    let names: Vec<&str> = keys.as_array().expect("list").iter().map(|k| k["name"].as_str().expect("name")).collect();
    assert_eq!(names, vec!["alice", "faucet", "prov"]);
    let prov = keys[2]["address"].as_str().expect("address").to_string();

    let created =
        ok(&run(&["--from", "alice", "--output", "json", "deploy", "create", sdl, "--deposit", "5000000uact"]));
    let dseq = created["dseq"].as_u64().expect("dseq");
    let dseq_s = dseq.to_string();
    let reg = run(&[
        "--from",
        "prov",
        "provider",
        "register",
        "--host-uri",
        "https://p.example.com:8443",
        "--attr",
        "region=eu",
    ]);
    assert!(stdout(&reg).contains("registered: committed at height"), "{}", stderr(&reg));

    let orders = ok(&run(&["--output", "json", "query", "orders"]));
    let order = &orders["items"][0]["id"];
    let order_id =
        format!("{}/{}/{}/{}", order["owner"].as_str().expect("owner"), order["dseq"], order["gseq"], order["oseq"]);
    ok(&run(&["--from", "prov", "bid", "create", &order_id, "--price", "50uact"]));
    let bids = ok(&run(&["--from", "alice", "--output", "json", "bids", &dseq_s]));
    assert_eq!(bids["items"].as_array().expect("bids").len(), 1);
    let table = run(&["--from", "alice", "bids", &dseq_s]);
    assert!(stdout(&table).contains("50uact") && stdout(&table).contains(&prov), "{}", stdout(&table));

    ok(&run(&["--from", "alice", "lease", "create", &dseq_s, "--provider", "prov"]));
    let status = ok(&run(&["--from", "alice", "--output", "json", "deploy", "status", &dseq_s]));
    assert_eq!(status["deployment"]["leases"][0]["state"], "active");
    assert_eq!(status["deployment"]["escrow"]["state"], "open");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let withdrawn = run(&["--from", "prov", "lease", "withdraw"]);
    assert!(stdout(&withdrawn).contains("lease_withdrawn"), "{}{}", stdout(&withdrawn), stderr(&withdrawn));
    // An update whose groups differ is refused before anything is sent, saying what differs.
    let bigger = h.join("web-bigger.yaml");
    std::fs::write(&bigger, std::fs::read_to_string(sdl).expect("sdl").replace("count: 1", "count: 2")).expect("write");
    let version_before = status["deployment"]["deployment"]["version"].clone();
    assert!(version_before.as_array().is_some_and(|v| v.len() == 32), "version in the status: {status}");
    let refused = run(&["--from", "alice", "deploy", "update", &dseq_s, bigger.to_str().expect("utf-8")]);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("1 replica(s) would become 2") && stderr(&refused).contains("new deployment"),
        "{}",
        stderr(&refused)
    );
    let after = ok(&run(&["--from", "alice", "--output", "json", "deploy", "status", &dseq_s]));
    assert_eq!(after["deployment"]["deployment"]["version"], version_before, "the version did not change");

    // The provider closes the lease by its id, as `lease close`'s help says it may.
    let l = &status["deployment"]["leases"][0]["id"];
    let lease_id = format!(
        "{}/{}/{}/{}/{}",
        l["owner"].as_str().expect("owner"),
        l["dseq"],
        l["gseq"],
        l["oseq"],
        l["provider"].as_str().expect("provider")
    );
    ok(&run(&["--from", "prov", "lease", "close", &lease_id]));
    let status = ok(&run(&["--from", "alice", "--output", "json", "deploy", "status", &dseq_s]));
    assert_eq!(status["deployment"]["leases"][0]["state"], "closed", "{status}");
    ok(&run(&["--from", "alice", "deploy", "close", &dseq_s]));

    // A ledger refusal: exit 1 and one sentence naming the deployment.
    let again = run(&["--from", "alice", "deploy", "close", &dseq_s]);
    assert_eq!(again.status.code(), Some(1));
    let e = stderr(&again);
    assert!(e.starts_with("error: transaction ") && e.contains(&format!("/{dseq} is closed")), "{e}");
    assert_eq!(e.trim_end().lines().count(), 1, "{e}");

    // The faucet, send, account.
    ok(&run(&["faucet", "alice", "--amount", "7uact"]));
    ok(&run(&["--from", "alice", "send", "prov", "3uact"]));
    let account = ok(&run(&["--output", "json", "query", "account", "alice"]));
    assert!(account["sequence"].as_u64().expect("sequence") >= 5);

    // Errors before anything is sent.
    let bad_sdl = h.join("bad.yaml");
    std::fs::write(&bad_sdl, SDL.replace("port: 80", "port: 70000")).expect("write");
    let bad =
        run(&["--from", "alice", "deploy", "create", bad_sdl.to_str().expect("utf-8"), "--deposit", "5000000uact"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("bad.yaml:6:"), "{}", stderr(&bad));
    let nokey = run(&["--from", "nobody", "deploy", "close", "1"]);
    assert_eq!(nokey.status.code(), Some(2));
    assert!(stderr(&nokey).contains("no key named \"nobody\""), "{}", stderr(&nokey));
    let unreachable = cli(h, "http://127.0.0.1:9", &["query", "status"]);
    assert_eq!(unreachable.status.code(), Some(2));
    assert!(stderr(&unreachable).contains("cannot reach the node at http://127.0.0.1:9"), "{}", stderr(&unreachable));
    let no_from = run(&["deploy", "close", "1"]);
    assert!(stderr(&no_from).contains("pass --from KEY"), "{}", stderr(&no_from));
}

#[test]
fn keys_are_encrypted_files_only_their_owner_reads() {
    let home = tempfile::tempdir().expect("tempdir");
    let h = home.path();
    let keys = |args: &[&str], pass: Option<&str>, stdin: Option<&str>| {
        use std::io::Write;
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_stratus"));
        cmd.arg("--home").arg(h).args(args).env_remove("STRATUS_KEYRING_PASSPHRASE");
        if let Some(p) = pass {
            cmd.env("STRATUS_KEYRING_PASSPHRASE", p);
        }
        cmd.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("spawn");
        if let Some(text) = stdin {
            child.stdin.as_mut().expect("stdin").write_all(text.as_bytes()).expect("write stdin");
        }
        drop(child.stdin.take());
        child.wait_with_output().expect("wait")
    };
    let added = keys(&["--output", "json", "keys", "add", "k1"], Some("correct horse"), None);
    let v = ok(&added);
    let mnemonic = v["mnemonic"].as_str().expect("mnemonic").to_string();
    assert_eq!(mnemonic.split(' ').count(), 24);
    let address = v["address"].as_str().expect("address").to_string();
    assert!(address.starts_with("stratus1"));

    let file = h.join("keyring/k1.json");
    let text = std::fs::read_to_string(&file).expect("key file");
    assert!(text.contains("ciphertext") && !text.contains(&mnemonic));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).expect("meta").permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(h.join("keyring")).expect("meta").permissions().mode() & 0o777, 0o700);
    }

    let show = keys(&["keys", "show", "k1"], None, None);
    assert!(stdout(&show).starts_with(&address), "{}", stdout(&show));
    let wrong = keys(&["keys", "export", "k1"], Some("wrong horse"), None);
    assert_eq!(wrong.status.code(), Some(2));
    assert!(stderr(&wrong).contains("wrong passphrase"), "{}", stderr(&wrong));
    let no_pass = keys(&["keys", "export", "k1"], None, None);
    assert!(stderr(&no_pass).contains("STRATUS_KEYRING_PASSPHRASE"), "{}", stderr(&no_pass));
    let exported = keys(&["keys", "export", "k1"], Some("correct horse"), None);
    assert_eq!(stdout(&exported).trim(), mnemonic);

    // The same mnemonic imports to the same address; a hex private key imports too.
    let imported =
        keys(&["--output", "json", "keys", "import", "k2", "--keyring-backend", "test"], None, Some(&mnemonic));
    assert_eq!(ok(&imported)["address"], address.as_str());
    let raw =
        keys(&["--output", "json", "keys", "import", "k3", "--keyring-backend", "test"], None, Some(&"11".repeat(32)));
    assert!(ok(&raw)["address"].as_str().expect("address").starts_with("stratus1"));
    let typo = keys(&["keys", "import", "k4", "--keyring-backend", "test"], None, Some("abandon abandon nope"));
    assert_eq!(typo.status.code(), Some(2));
    assert!(stderr(&typo).contains("invalid mnemonic"), "{}", stderr(&typo));

    let dup = keys(&["keys", "add", "k1", "--keyring-backend", "test"], None, None);
    assert!(stderr(&dup).contains("already exists"), "{}", stderr(&dup));
    let short = keys(&["keys", "add", "k5"], Some("short"), None);
    assert!(stderr(&short).contains("at least 8"), "{}", stderr(&short));
    let unattended = keys(&["keys", "add", "k6"], None, None);
    assert!(stderr(&unattended).contains("--keyring-backend test"), "{}", stderr(&unattended));

    let refused = keys(&["keys", "delete", "k2"], None, None);
    assert!(stderr(&refused).contains("needs --yes"), "{}", stderr(&refused));
    ok(&keys(&["keys", "delete", "k2", "--yes"], None, None));
    let listed = ok(&keys(&["--output", "json", "keys", "list"], None, None));
    let names: Vec<&str> = listed.as_array().expect("list").iter().map(|k| k["name"].as_str().expect("name")).collect();
    assert_eq!(names, vec!["k1", "k3"]);
}
