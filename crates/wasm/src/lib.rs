//! Stratus code for the browser. Built for `wasm32-unknown-unknown`, it exports plain functions
//! over WebAssembly memory (no generated bindings, so no extra tool to build it):
//!
//! - `sdl_alloc(len) -> ptr`: room for the input, which the caller writes there;
//! - `sdl_check(ptr, len) -> (out_ptr << 32) | out_len`: the UTF-8 JSON of [`check`];
//! - `sdl_groups(ptr, len) -> …`: the UTF-8 JSON of [`groups`];
//! - `token_sign_bytes(ptr, len) -> …` and `token_encode(ptr, len) -> …`: [`token_sign_bytes`] and
//!   [`token_encode`], so a browser can build provider-gateway tokens (signing with WebCrypto);
//! - the wallet ([`wallet`]): `key_from_mnemonic`, `key_from_secret`, `mnemonic_new`,
//!   `deployment_create`, `tx_sign` and `token_sign`, so the console signs transactions and tokens
//!   in the page with the CLI's own code;
//! - `placement_preview` ([`placement`]): which providers' attributes meet each group, and why
//!   not, by the ledger's own placement rules;
//! - `sdl_free(ptr, len)`: gives back an output (or an input) buffer.
//!
//! `console/stratus-wasm.mjs` is the loader; `tests/` runs this build under Node against the
//! native code (the parser on the whole corpus; a token signed by Node's crypto verified here).

mod placement;
mod wallet;

pub use placement::placement_preview;
use stratus_types::address::Address;
use stratus_types::auth::{Claims, Scope, Token};
pub use wallet::{deployment_create, key_from_mnemonic, key_from_secret, mnemonic_new, token_sign, tx_sign};

/// A token's claims as JSON (the signer is derived from the public key).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ClaimsJson {
    /// ed25519 public key, hex.
    public_key: String,
    provider: String,
    scopes: Vec<Scope>,
    #[serde(default)]
    dseq: Option<u64>,
    issued_at_ms: u64,
    expires_at_ms: u64,
    /// Only for `token_encode`: the signature over `token_sign_bytes`, hex.
    #[serde(default)]
    signature: Option<String>,
}

fn claims(json: &[u8]) -> Result<(Claims, Option<String>), String> {
    let c: ClaimsJson = serde_json::from_slice(json).map_err(|e| format!("claims: {e}"))?;
    let public_key: [u8; 32] = hex_array(&c.public_key, "public_key: 64 hex digits (an ed25519 public key)")?;
    let provider: Address = c.provider.parse().map_err(|e| format!("provider: {e}"))?;
    let claims = Claims {
        signer: Address::from_public_key(&public_key),
        public_key,
        provider,
        scopes: c.scopes,
        dseq: c.dseq,
        issued_at_ms: c.issued_at_ms,
        expires_at_ms: c.expires_at_ms,
    };
    Ok((claims, c.signature))
}

/// Exactly `N` bytes of hex, or `wanted` (the field and what it holds) as the error.
fn hex_array<const N: usize>(text: &str, wanted: &str) -> Result<[u8; N], String> {
    hex::decode(text).ok().and_then(|b| b.try_into().ok()).ok_or_else(|| wanted.to_string())
}

/// JSON input, or an error naming `what` could not be read.
fn parse<'a, T: serde::Deserialize<'a>>(what: &str, json: &'a [u8]) -> Result<T, String> {
    serde_json::from_slice(json).map_err(|e| format!("{what}: {e}"))
}

fn answer(result: Result<serde_json::Value, String>) -> String {
    match result {
        Ok(v) => v.to_string(),
        Err(error) => serde_json::json!({ "error": error }).to_string(),
    }
}

/// `{"sign_bytes": hex}`: what the token's signer signs (ed25519), or `{"error": …}`.
pub fn token_sign_bytes(json: &[u8]) -> String {
    answer(
        claims(json)
            .map(|(c, _)| serde_json::json!({ "sign_bytes": hex::encode(stratus_types::auth::sign_bytes(&c)) })),
    )
}

/// `{"token": hex}`: the `Authorization: Bearer` value for the claims and their signature, or
/// `{"error": …}`.
pub fn token_encode(json: &[u8]) -> String {
    answer(claims(json).and_then(|(claims, signature)| {
        const WANTED: &str = "signature: 128 hex digits (an ed25519 signature)";
        let signature: [u8; 64] = hex_array(&signature.ok_or(WANTED)?, WANTED)?;
        Ok(serde_json::json!({ "token": Token { claims, signature }.encode() }))
    }))
}

/// The same report `stratus sdl check --json` prints for a file (without the file name).
pub fn sdl_check(input: &[u8]) -> String {
    serde_json::to_string(&stratus_sdl::parse(input).report()).unwrap_or_default()
}

/// The deployment groups a valid SDL produces (what the ledger auctions: resources, GPUs, price),
/// or `null` when it has errors.
pub fn sdl_groups(input: &[u8]) -> String {
    match stratus_sdl::parse(input).sdl {
        Some(sdl) => serde_json::to_string(&sdl.groups).unwrap_or_default(),
        None => "null".into(),
    }
}

#[cfg(target_arch = "wasm32")]
mod exports {
    #![allow(unsafe_code)]

    /// Packs a returned buffer (leaked until `sdl_free`) as `(ptr << 32) | len`.
    fn hand_out(text: String) -> u64 {
        let bytes = text.into_bytes().into_boxed_slice();
        let len = bytes.len() as u64;
        let ptr = Box::into_raw(bytes) as *mut u8 as usize as u64;
        (ptr << 32) | len
    }

    #[unsafe(no_mangle)]
    pub extern "C" fn sdl_alloc(len: usize) -> *mut u8 {
        Box::into_raw(vec![0u8; len].into_boxed_slice()) as *mut u8
    }

    /// # Safety
    /// `ptr` and `len` come from `sdl_alloc` or an output of this module, and are freed once.
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn sdl_free(ptr: *mut u8, len: usize) {
        // SAFETY: the caller passes back a buffer this module handed out, with its length.
        drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, len)) });
    }

    /// Exports `fn(bytes) -> String` functions as `extern "C" fn(ptr, len) -> packed output`.
    macro_rules! export {
        ($($name:ident),* $(,)?) => {$(
            /// # Safety
            /// `ptr..ptr+len` is a buffer from `sdl_alloc` that the caller filled.
            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn $name(ptr: *const u8, len: usize) -> u64 {
                // SAFETY: see above; the input is only read.
                let input = unsafe { std::slice::from_raw_parts(ptr, len) };
                hand_out(super::$name(input))
            }
        )*};
    }

    export!(
        sdl_check,
        sdl_groups,
        token_sign_bytes,
        token_encode,
        token_sign,
        key_from_mnemonic,
        key_from_secret,
        mnemonic_new,
        deployment_create,
        tx_sign,
        placement_preview,
    );
}
