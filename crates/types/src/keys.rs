//! How a key comes from a mnemonic: the one derivation the CLI keyring and the browser console
//! (through `stratus-wasm`) both use, so the same words give the same address everywhere.
//!
//! The mnemonic's BIP39 seed (empty passphrase) through SLIP-10 for ed25519 along
//! `m/44'/118'/0'/0'/0'` (Cosmos coin type; ed25519 allows hardened steps only).

use ed25519_dalek::SigningKey;
use hmac::{Hmac, Mac};
use sha2::Sha512;

/// `m/44'/118'/0'/0'/0'`.
pub const DERIVATION_PATH: [u32; 5] = [44, 118, 0, 0, 0];
const HARDENED: u32 = 0x8000_0000;

/// Why words are not a mnemonic (bad word, checksum, length), as BIP39 says it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid mnemonic: {0}")]
pub struct MnemonicError(pub String);

/// The 24-word mnemonic of 32 bytes of entropy (the caller brings the randomness).
pub fn mnemonic_from_entropy(entropy: &[u8; 32]) -> String {
    bip39::Mnemonic::from_entropy(entropy).map(|m| m.to_string()).unwrap_or_default()
}

/// BIP39 seed → SLIP-10 ed25519 key at [`DERIVATION_PATH`].
pub fn derive_from_mnemonic(words: &str) -> Result<SigningKey, MnemonicError> {
    let mnemonic = bip39::Mnemonic::parse_normalized(words.trim()).map_err(|e| MnemonicError(e.to_string()))?;
    let seed = mnemonic.to_seed("");
    Ok(SigningKey::from_bytes(&slip10_ed25519(&seed, &DERIVATION_PATH)))
}

/// SLIP-10 derivation for ed25519 (every step hardened).
pub fn slip10_ed25519(seed: &[u8], path: &[u32]) -> [u8; 32] {
    let hmac = |key: &[u8], data: &[u8]| -> [u8; 64] {
        let mut mac = <Hmac<Sha512> as Mac>::new_from_slice(key).expect("HMAC accepts keys of any length");
        mac.update(data);
        mac.finalize().into_bytes().into()
    };
    let mut i = hmac(b"ed25519 seed", seed);
    for index in path {
        let mut data = Vec::with_capacity(37);
        data.push(0);
        data.extend_from_slice(&i[..32]);
        data.extend_from_slice(&(index | HARDENED).to_be_bytes());
        i = hmac(&i[32..], &data);
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(&i[..32]);
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SLIP-10 test vector 1 for ed25519 (seed 000102…0f, path m/0').
    #[test]
    fn slip10_matches_the_published_vector() {
        let seed = hex::decode("000102030405060708090a0b0c0d0e0f").unwrap_or_default();
        let key = slip10_ed25519(&seed, &[0]);
        assert_eq!(hex::encode(key), "68e0fe46dfb67e368c75379acec591dad19df3cde26e63b93a8e704f1dade7a3");
        let master = slip10_ed25519(&seed, &[]);
        assert_eq!(hex::encode(master), "2b4be7f19ee27bbf30c667b642d5f4aa69fd169872f8fc3059c08ebae2eb19e7");
    }

    #[test]
    fn mnemonics_derive_stable_keys() {
        let words = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
        let a = derive_from_mnemonic(words).map(|k| k.to_bytes()).ok();
        let b = derive_from_mnemonic(&format!("  {words} ")).map(|k| k.to_bytes()).ok();
        assert!(a.is_some());
        assert_eq!(a, b);
        assert!(derive_from_mnemonic("not a mnemonic").is_err());
        let fresh = mnemonic_from_entropy(&[7; 32]);
        assert_eq!(fresh.split_whitespace().count(), 24);
        assert!(derive_from_mnemonic(&fresh).is_ok());
    }
}
