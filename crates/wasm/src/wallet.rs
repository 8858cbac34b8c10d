//! The browser's wallet: keys from mnemonics, transactions and provider tokens signed exactly as
//! the CLI signs them (the same `stratus-types` code), so the secret key never leaves the page.
//!
//! Every function takes JSON and answers JSON; a failure is `{"error": "..."}` naming the field.

use ed25519_dalek::SigningKey;
use serde::Deserialize;
use stratus_types::address::Address;
use stratus_types::auth::{Scope, Token};
use stratus_types::coin::Coin;
use stratus_types::params::Params;
use stratus_types::tx::{Msg, Tx, TxBody};

use crate::{answer, hex_array, parse};

fn secret_key(hex_key: &str) -> Result<SigningKey, String> {
    let bytes: [u8; 32] = hex_array(hex_key, "secret_key: 64 hex digits (an ed25519 secret key)")?;
    Ok(SigningKey::from_bytes(&bytes))
}

/// `{secret_key, public_key, address}`, all the page keeps of a key.
fn key_json(key: &SigningKey) -> serde_json::Value {
    let public = key.verifying_key().to_bytes();
    serde_json::json!({
        "secret_key": hex::encode(key.to_bytes()),
        "public_key": hex::encode(public),
        "address": Address::from_public_key(&public).to_string(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MnemonicIn {
    mnemonic: String,
}

/// `{"mnemonic": words}` → the key the CLI keyring derives from the same words.
pub fn key_from_mnemonic(json: &[u8]) -> String {
    answer(parse::<MnemonicIn>("input", json).and_then(|m| {
        stratus_types::keys::derive_from_mnemonic(&m.mnemonic).map(|k| key_json(&k)).map_err(|e| e.to_string())
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretIn {
    secret_key: String,
}

/// `{"secret_key": hex}` → the key's public half and address.
pub fn key_from_secret(json: &[u8]) -> String {
    answer(parse::<SecretIn>("input", json).and_then(|s| secret_key(&s.secret_key)).map(|k| key_json(&k)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntropyIn {
    /// 32 random bytes, hex (the page takes them from `crypto.getRandomValues`).
    entropy: String,
}

/// `{"entropy": hex32}` → `{"mnemonic": 24 words}`.
pub fn mnemonic_new(json: &[u8]) -> String {
    answer(parse::<EntropyIn>("input", json).and_then(|e| {
        let entropy: [u8; 32] = hex_array(&e.entropy, "entropy: 64 hex digits of randomness")?;
        Ok(serde_json::json!({ "mnemonic": stratus_types::keys::mnemonic_from_entropy(&entropy) }))
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeploymentIn {
    sdl: String,
    dseq: u64,
    /// As the CLI's `--deposit`: `5000000uact`.
    deposit: String,
    #[serde(default)]
    gang: bool,
}

/// `{sdl, dseq, deposit, gang}` → `{msg, version, manifest}`: the `create_deployment` message
/// `stratus deploy create` sends for that SDL, and the manifest to hand the providers later.
pub fn deployment_create(json: &[u8]) -> String {
    answer(parse::<DeploymentIn>("input", json).and_then(|d| {
        let deposit: Coin = d.deposit.parse().map_err(|e| format!("deposit {:?}: {e}", d.deposit))?;
        let parsed = stratus_sdl::parse_str(&d.sdl);
        let first = parsed.errors().next().map(ToString::to_string);
        let Some(sdl) = parsed.sdl else {
            return Err(format!("the SDL is not valid: {}", first.unwrap_or_default()));
        };
        let version = sdl.version_hex();
        let msg = Msg::CreateDeployment {
            dseq: d.dseq,
            groups: sdl.groups,
            version: sdl.manifest_version,
            deposit,
            gang: d.gang,
        };
        Ok(serde_json::json!({ "msg": msg, "version": version, "manifest": sdl.manifest }))
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TxIn {
    secret_key: String,
    chain_id: String,
    /// The signer's `next_sequence` (`GET /accounts/{address}`).
    sequence: u64,
    /// Omitted: the chain's default fee, from `params` (`GET /params`), as the CLI picks it.
    #[serde(default)]
    fee: Option<Coin>,
    #[serde(default)]
    params: Option<Params>,
    #[serde(default)]
    memo: String,
    msgs: Vec<Msg>,
}

/// `{secret_key, chain_id, sequence, fee | params, memo, msgs}` → `{tx, hash}`: the signed
/// transaction as `POST /txs` takes it (`{"tx": hex}`), and its hash.
pub fn tx_sign(json: &[u8]) -> String {
    answer(parse::<TxIn>("input", json).and_then(|t| {
        let key = secret_key(&t.secret_key)?;
        let fee = match (t.fee, &t.params) {
            (Some(fee), _) => fee,
            (None, Some(params)) => params.default_fee(),
            (None, None) => return Err("fee: give a fee, or the chain's params to take its default fee".into()),
        };
        let body = TxBody { chain_id: t.chain_id, sequence: t.sequence, fee, memo: t.memo, msgs: t.msgs };
        let tx = Tx::sign(body, &key);
        Ok(serde_json::json!({ "tx": hex::encode(tx.to_bytes()), "hash": hex::encode(tx.hash()) }))
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenIn {
    secret_key: String,
    provider: String,
    scopes: Vec<Scope>,
    #[serde(default)]
    dseq: Option<u64>,
    now_ms: u64,
    lifetime_ms: u64,
}

/// `{secret_key, provider, scopes, dseq, now_ms, lifetime_ms}` → `{token}`: a provider-gateway
/// token signed as the CLI signs it.
pub fn token_sign(json: &[u8]) -> String {
    answer(parse::<TokenIn>("input", json).and_then(|t| {
        let key = secret_key(&t.secret_key)?;
        let provider: Address = t.provider.parse().map_err(|e| format!("provider: {e}"))?;
        let token = Token::sign(&key, provider, t.scopes, t.dseq, t.now_ms, t.lifetime_ms);
        Ok(serde_json::json!({ "token": token.encode() }))
    }))
}
