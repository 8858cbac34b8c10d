//! `stratus keys add|import|list|show|export|delete`.

use std::io::{IsTerminal, Read};
use std::process::ExitCode;

use anyhow::{Context, bail};
use serde::Serialize;
use stratus_client::keys::{Backend, Secret, generate_mnemonic};

use crate::cmd::ctx::{Ctx, PASSPHRASE_ENV, passphrase, table};
use crate::flags::{KeyringBackend, KeysAdd, KeysCommand};

#[derive(Serialize)]
struct Added<'a> {
    name: &'a str,
    address: String,
    backend: Backend,
    #[serde(skip_serializing_if = "Option::is_none")]
    mnemonic: Option<String>,
}

pub fn run(ctx: &Ctx, cmd: KeysCommand) -> anyhow::Result<ExitCode> {
    let keyring = ctx.keyring();
    match cmd {
        KeysCommand::Add(args) => add(ctx, &args, Secret::Mnemonic(generate_mnemonic()), true)?,
        KeysCommand::Import(args) => {
            let secret = read_secret()?;
            add(ctx, &args, secret, false)?;
        }
        KeysCommand::List => {
            let keys = keyring.list()?;
            ctx.print(&keys, || {
                let rows: Vec<Vec<String>> = keys
                    .iter()
                    .map(|k| vec![k.name.clone(), k.address.to_string(), format!("{:?}", k.backend).to_lowercase()])
                    .collect();
                table(&["name", "address", "backend"], &rows)
            })?;
        }
        KeysCommand::Show(k) => {
            let info = keyring.show(&k.name)?;
            ctx.print(&info, || format!("{}\npublic key {}", info.address, info.public_key))?;
        }
        KeysCommand::Export(k) => {
            let pass = match keyring.backend(&k.name)? {
                Backend::Test => None,
                Backend::File => passphrase(&format!("passphrase for key {}: ", k.name))?,
            };
            let secret = keyring.secret(&k.name, pass.as_deref())?;
            eprintln!("warning: anyone who sees this secret controls the account");
            match secret {
                Secret::Mnemonic(m) => println!("{m}"),
                Secret::PrivateKey(b) => println!("{}", hex::encode(b)),
            }
        }
        KeysCommand::Delete(d) => {
            let info = keyring.show(&d.name)?;
            if !d.yes {
                if !std::io::stdin().is_terminal() {
                    bail!("deleting key {} needs --yes when not run in a terminal", d.name);
                }
                eprint!("delete key {} ({})? this cannot be undone without its mnemonic [y/N] ", d.name, info.address);
                let mut answer = String::new();
                std::io::stdin().read_line(&mut answer)?;
                if !matches!(answer.trim(), "y" | "Y" | "yes") {
                    eprintln!("kept");
                    return Ok(ExitCode::SUCCESS);
                }
            }
            keyring.delete(&d.name)?;
            eprintln!("deleted key {}", d.name);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A mnemonic (words) or a 64-hex-digit private key, from standard input.
fn read_secret() -> anyhow::Result<Secret> {
    if std::io::stdin().is_terminal() {
        eprintln!("enter the mnemonic (or hex private key), then Ctrl-D:");
    }
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).context("reading the secret from standard input")?;
    let text = text.trim();
    if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        let bytes: [u8; 32] =
            hex::decode(text)?.try_into().map_err(|_| anyhow::anyhow!("private key must be 32 bytes"))?;
        return Ok(Secret::PrivateKey(bytes));
    }
    let words = text.split_whitespace().collect::<Vec<_>>().join(" ");
    // Checked here so a typo fails before anything is written.
    stratus_client::keys::derive_from_mnemonic(&words)?;
    Ok(Secret::Mnemonic(words))
}

fn add(ctx: &Ctx, args: &KeysAdd, secret: Secret, show_mnemonic: bool) -> anyhow::Result<()> {
    let keyring = ctx.keyring();
    let (backend, pass) = match args.keyring_backend {
        KeyringBackend::Test => (Backend::Test, None),
        KeyringBackend::File => {
            let pass = match std::env::var(PASSPHRASE_ENV) {
                Ok(p) => p,
                Err(_) if std::io::stdin().is_terminal() => {
                    let a = rpassword::prompt_password(format!("passphrase to encrypt key {}: ", args.name))?;
                    let b = rpassword::prompt_password("repeat it: ")?;
                    if a != b {
                        bail!("the passphrases differ");
                    }
                    a
                }
                Err(_) => bail!(
                    "the file backend encrypts keys: set {PASSPHRASE_ENV}, run in a terminal, or use --keyring-backend test (unencrypted, devnets only)"
                ),
            };
            if pass.len() < 8 {
                bail!("the passphrase must have at least 8 characters");
            }
            (Backend::File, Some(pass))
        }
    };
    let info = keyring.add(&args.name, &secret, backend, pass.as_deref())?;
    let mnemonic = match (&secret, show_mnemonic) {
        (Secret::Mnemonic(m), true) => Some(m.clone()),
        _ => None,
    };
    let added = Added { name: &args.name, address: info.address.to_string(), backend, mnemonic: mnemonic.clone() };
    ctx.print(&added, || {
        let mut out = format!("{} {}\n", args.name, info.address);
        if let Some(m) = &mnemonic {
            out.push_str(&format!("\nmnemonic (shown once; it restores the key with `stratus keys import`):\n{m}\n"));
        }
        out
    })
}
