//! What commands that talk to a node share: the home and keyring, the signer, the client,
//! broadcasting with a clear outcome, and printing tables or JSON.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, anyhow, bail};
use ed25519_dalek::SigningKey;
use serde::Serialize;
use stratus_client::keys::{Backend, Keyring};
use stratus_client::{ClientError, NodeClient};
use stratus_types::address::Address;
use stratus_types::api::Submitted;
use stratus_types::coin::Coin;
use stratus_types::tx::Msg;

use crate::flags::{Global, Output};

/// A transaction or check that ran and failed: exit status 1, not 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Failed(pub String);

pub const PASSPHRASE_ENV: &str = "STRATUS_KEYRING_PASSPHRASE";

pub struct Ctx {
    pub home: PathBuf,
    pub node: String,
    pub from: Option<String>,
    pub output: Output,
    pub fee: Option<String>,
}

pub fn default_home() -> PathBuf {
    std::env::var_os("HOME").map_or_else(|| PathBuf::from(".stratus"), |h| PathBuf::from(h).join(".stratus"))
}

/// Runs a future on a fresh runtime (commands are short; the node makes its own).
pub fn block_on<F: std::future::Future>(f: F) -> anyhow::Result<F::Output> {
    let rt =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the async runtime")?;
    Ok(rt.block_on(f))
}

/// A node error as the user should read it.
pub fn client_error(e: ClientError) -> anyhow::Error {
    match e {
        ClientError::Api(m) | ClientError::NotFound(m) => anyhow::Error::new(Failed(m)),
        other => anyhow!(other),
    }
}

/// Reads a passphrase: the environment, or the terminal.
pub fn passphrase(prompt: &str) -> anyhow::Result<Option<String>> {
    if let Ok(p) = std::env::var(PASSPHRASE_ENV) {
        return Ok(Some(p));
    }
    if !std::io::stdin().is_terminal() {
        return Ok(None);
    }
    Ok(Some(rpassword::prompt_password(prompt).context("reading the passphrase")?))
}

impl Ctx {
    pub fn new(g: Global) -> Ctx {
        let home = g.home.unwrap_or_else(default_home);
        // A devnet's node listens on the port `stratus up` picked; commands on its home find it.
        let node = g.node.unwrap_or_else(|| {
            crate::devnet::Devnet::load(&home)
                .map(|d| d.file.node)
                .unwrap_or_else(|_| "http://127.0.0.1:26657".to_string())
        });
        Ctx { home, node, from: g.from, output: g.output, fee: g.fee }
    }

    pub fn keyring(&self) -> Keyring {
        Keyring::new(&self.home)
    }

    pub fn client(&self) -> NodeClient {
        stratus_client::install_tls_provider();
        NodeClient::new(&self.node)
    }

    fn signer_name(&self) -> anyhow::Result<&str> {
        self.from.as_deref().ok_or_else(|| anyhow!("which key signs? pass --from KEY (see `stratus keys list`)"))
    }

    /// `--from env:NAME`: the key's mnemonic is in environment variable NAME — how a training
    /// node or validator run as a workload gets its key (through the SDL's env), with no keyring.
    fn env_signer(&self) -> Option<anyhow::Result<SigningKey>> {
        let var = self.from.as_deref()?.strip_prefix("env:")?;
        Some(std::env::var(var).map_err(|_| anyhow!("--from env:{var}: the variable {var} is not set")).and_then(
            |words| {
                stratus_client::keys::derive_from_mnemonic(&words)
                    .map_err(|e| anyhow!("--from env:{var}: not a mnemonic ({e})"))
            },
        ))
    }

    pub fn signer(&self) -> anyhow::Result<SigningKey> {
        if let Some(key) = self.env_signer() {
            return key;
        }
        let name = self.signer_name()?;
        let keyring = self.keyring();
        let pass = match keyring.backend(name)? {
            Backend::Test => None,
            Backend::File => passphrase(&format!("passphrase for key {name}: "))?,
        };
        Ok(keyring.signing_key(name, pass.as_deref())?)
    }

    /// `--from`'s address (no passphrase needed).
    pub fn signer_address(&self) -> anyhow::Result<Address> {
        if let Some(key) = self.env_signer() {
            return Ok(Address::from_public_key(&key?.verifying_key().to_bytes()));
        }
        Ok(self.keyring().show(self.signer_name()?)?.address)
    }

    /// An address given as `stratus1…` or as a key name; `None` means `--from`'s.
    pub fn address(&self, given: Option<&str>) -> anyhow::Result<Address> {
        match given {
            None => self.signer_address(),
            Some(s) => match s.parse::<Address>() {
                Ok(a) => Ok(a),
                Err(parse_err) => match self.keyring().show(s) {
                    Ok(info) => Ok(info.address),
                    Err(_) => bail!("{s:?} is neither an address ({parse_err}) nor a key in {}", self.home.display()),
                },
            },
        }
    }

    async fn fee(&self, client: &NodeClient) -> anyhow::Result<Coin> {
        if let Some(f) = &self.fee {
            return f.parse().map_err(|e| anyhow!("--fee: {e}"));
        }
        let params = client.params().await.map_err(client_error)?;
        Ok(params.default_fee())
    }

    /// Signs `msgs` with `--from`, submits them and waits for the block. A transaction that
    /// failed in its block becomes a [`Failed`] error carrying the ledger's sentence.
    pub async fn broadcast(&self, msgs: Vec<Msg>) -> anyhow::Result<Submitted> {
        let key = self.signer()?;
        let client = self.client();
        let fee = self.fee(&client).await?;
        let result = client.send_msgs(&key, msgs, fee, true).await.map_err(client_error)?;
        if let Some(err) = &result.error {
            let at = result.height.map(|h| format!(" at height {h}")).unwrap_or_default();
            return Err(Failed(format!("transaction {} failed{at}: {err}", hex::encode(result.hash))).into());
        }
        Ok(result)
    }

    /// Prints JSON, or the table text.
    pub fn print<T: Serialize>(&self, value: &T, table: impl FnOnce() -> String) -> anyhow::Result<()> {
        match self.output {
            Output::Json => println!("{}", serde_json::to_string_pretty(value)?),
            Output::Table => {
                let text = table();
                if !text.is_empty() {
                    println!("{}", text.trim_end());
                }
            }
        }
        Ok(())
    }

    /// Prints a committed transaction's outcome.
    pub fn print_submitted(&self, s: &Submitted, what: &str) -> anyhow::Result<()> {
        self.print(s, || {
            let mut out =
                format!("{what}: committed at height {} (tx {})\n", s.height.unwrap_or_default(), hex::encode(s.hash));
            for e in &s.events {
                out.push_str(&format!("  {}\n", describe_event(e)));
            }
            out
        })
    }
}

/// One line for an event.
pub fn describe_event(e: &stratus_types::event::Event) -> String {
    let json = serde_json::to_value(e).unwrap_or_default();
    let mut parts = vec![e.kind().to_string()];
    if let Some(obj) = json.as_object() {
        for (k, v) in obj {
            if k == "kind" {
                continue;
            }
            parts.push(format!("{k}={}", compact(v)));
        }
    }
    parts.join(" ")
}

fn compact(v: &serde_json::Value) -> String {
    match v {
        // Exact decimals print without their 18 trailing zeros.
        serde_json::Value::String(s) => match s.parse::<stratus_types::dec::Dec>() {
            Ok(d) if s.contains('.') => d.short(),
            _ => s.clone(),
        },
        serde_json::Value::Object(o) if o.contains_key("owner") && o.contains_key("dseq") => {
            // Ids print as owner/dseq/gseq/oseq/provider.
            ["owner", "dseq", "gseq", "oseq", "provider"]
                .iter()
                .filter_map(|k| o.get(*k).map(compact))
                .collect::<Vec<_>>()
                .join("/")
        }
        serde_json::Value::Object(o) if o.contains_key("denom") && o.contains_key("amount") => {
            format!("{}{}", compact(&o["amount"]), compact(&o["denom"]))
        }
        other => other.to_string(),
    }
}

/// Aligned columns.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    if rows.is_empty() {
        return "(none)".to_string();
    }
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells.iter().enumerate().map(|(i, c)| format!("{c:<w$}", w = widths[i])).collect();
        padded.join("  ").trim_end().to_string()
    };
    let mut out = vec![line(headers.iter().map(|h| h.to_uppercase()).collect())];
    out.extend(rows.iter().map(|r| line(r.clone())));
    out.join("\n")
}
