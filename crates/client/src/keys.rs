//! Keys: a keyring of files. Mnemonics become keys by [`stratus_types::keys`] (BIP39 + SLIP-10),
//! the derivation the browser console runs too.
//!
//! Keyring: one JSON file per key, mode 0600, in `<home>/keyring`. The `file` backend encrypts the
//! secret (the mnemonic, or the raw key for imported keys) with XChaCha20-Poly1305 under a key
//! stretched from a passphrase by Argon2id. The `test` backend stores it in the clear, for devnets
//! and tests only, and says so in the file.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use argon2::Argon2;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use ed25519_dalek::SigningKey;
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use stratus_types::address::Address;
pub use stratus_types::keys::{DERIVATION_PATH, slip10_ed25519};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("invalid mnemonic: {0}")]
    Mnemonic(String),
    #[error("no key named {0:?} in {1}; list keys with `stratus keys list`")]
    NotFound(String, String),
    #[error("a key named {0:?} already exists; pick another name or delete it first")]
    Exists(String),
    #[error("key names use letters, digits, '-' and '_' (got {0:?})")]
    BadName(String),
    #[error("wrong passphrase for key {0:?} (or the key file is damaged)")]
    WrongPassphrase(String),
    #[error("key {0:?} is encrypted: set STRATUS_KEYRING_PASSPHRASE or run in a terminal")]
    NeedPassphrase(String),
    #[error("key file {path}: {detail}")]
    File { path: String, detail: String },
    #[error("private key must be 32 bytes of hex")]
    BadPrivateKey,
}

/// The secret a key is made from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Secret {
    Mnemonic(String),
    PrivateKey([u8; 32]),
}

impl Secret {
    pub fn signing_key(&self) -> Result<SigningKey, KeyError> {
        match self {
            Secret::Mnemonic(words) => derive_from_mnemonic(words),
            Secret::PrivateKey(bytes) => Ok(SigningKey::from_bytes(bytes)),
        }
    }
}

/// A fresh 24-word mnemonic from the operating system's randomness.
pub fn generate_mnemonic() -> String {
    let mut entropy = [0u8; 32];
    OsRng.fill_bytes(&mut entropy);
    stratus_types::keys::mnemonic_from_entropy(&entropy)
}

/// The key a mnemonic derives (see [`stratus_types::keys`]).
pub fn derive_from_mnemonic(words: &str) -> Result<SigningKey, KeyError> {
    stratus_types::keys::derive_from_mnemonic(words).map_err(|e| KeyError::Mnemonic(e.0))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// Encrypted with a passphrase.
    File,
    /// Unencrypted: devnets and tests only.
    Test,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct KeyFile {
    name: String,
    address: Address,
    public_key: String,
    backend: Backend,
    /// `mnemonic` or `private_key`.
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    plaintext: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    encrypted: Option<Encrypted>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    warning: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Encrypted {
    kdf: String,
    m_cost_kib: u32,
    t_cost: u32,
    p_cost: u32,
    salt: String,
    nonce: String,
    ciphertext: String,
}

/// Public facts about a stored key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    pub name: String,
    pub address: Address,
    pub public_key: String,
    pub backend: Backend,
}

/// The keys under `<home>/keyring`.
pub struct Keyring {
    dir: PathBuf,
}

impl Keyring {
    pub fn new(home: &Path) -> Keyring {
        Keyring { dir: home.join("keyring") }
    }

    fn path(&self, name: &str) -> Result<PathBuf, KeyError> {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(KeyError::BadName(name.to_string()));
        }
        Ok(self.dir.join(format!("{name}.json")))
    }

    fn file_error(path: &Path, e: impl std::fmt::Display) -> KeyError {
        KeyError::File { path: path.display().to_string(), detail: e.to_string() }
    }

    /// Stores a key; `passphrase` is required for the `file` backend.
    pub fn add(
        &self,
        name: &str,
        secret: &Secret,
        backend: Backend,
        passphrase: Option<&str>,
    ) -> Result<KeyInfo, KeyError> {
        let path = self.path(name)?;
        if path.exists() {
            return Err(KeyError::Exists(name.to_string()));
        }
        let key = secret.signing_key()?;
        let public = key.verifying_key().to_bytes();
        let (kind, text) = match secret {
            Secret::Mnemonic(words) => ("mnemonic", words.trim().to_string()),
            Secret::PrivateKey(bytes) => ("private_key", hex::encode(bytes)),
        };
        let mut file = KeyFile {
            name: name.to_string(),
            address: Address::from_public_key(&public),
            public_key: hex::encode(public),
            backend,
            kind: kind.to_string(),
            plaintext: None,
            encrypted: None,
            warning: None,
        };
        match backend {
            Backend::Test => {
                file.plaintext = Some(text);
                file.warning = Some("test keyring: this secret is NOT encrypted; use only for devnets".into());
            }
            Backend::File => {
                let passphrase = passphrase.ok_or_else(|| KeyError::NeedPassphrase(name.to_string()))?;
                file.encrypted = Some(encrypt(text.as_bytes(), passphrase).map_err(|e| Self::file_error(&path, e))?);
            }
        }
        fs::create_dir_all(&self.dir).map_err(|e| Self::file_error(&self.dir, e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // Only the owner may list the keyring.
            fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700))
                .map_err(|e| Self::file_error(&self.dir, e))?;
        }
        write_private(&path, &serde_json::to_vec_pretty(&file).unwrap_or_default())
            .map_err(|e| Self::file_error(&path, e))?;
        Ok(info(&file))
    }

    fn load(&self, name: &str) -> Result<KeyFile, KeyError> {
        let path = self.path(name)?;
        let bytes =
            fs::read(&path).map_err(|_| KeyError::NotFound(name.to_string(), self.dir.display().to_string()))?;
        serde_json::from_slice(&bytes).map_err(|e| Self::file_error(&path, e))
    }

    pub fn show(&self, name: &str) -> Result<KeyInfo, KeyError> {
        self.load(name).map(|f| info(&f))
    }

    pub fn backend(&self, name: &str) -> Result<Backend, KeyError> {
        self.load(name).map(|f| f.backend)
    }

    pub fn list(&self) -> Result<Vec<KeyInfo>, KeyError> {
        let Ok(entries) = fs::read_dir(&self.dir) else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "json") {
                let bytes = fs::read(&path).map_err(|e| Self::file_error(&path, e))?;
                let file: KeyFile = serde_json::from_slice(&bytes).map_err(|e| Self::file_error(&path, e))?;
                out.push(info(&file));
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The secret, decrypted (for signing and export).
    pub fn secret(&self, name: &str, passphrase: Option<&str>) -> Result<Secret, KeyError> {
        let file = self.load(name)?;
        let text = match (&file.plaintext, &file.encrypted) {
            (Some(t), _) => t.clone(),
            (None, Some(enc)) => {
                let passphrase = passphrase.ok_or_else(|| KeyError::NeedPassphrase(name.to_string()))?;
                let bytes = decrypt(enc, passphrase).map_err(|_| KeyError::WrongPassphrase(name.to_string()))?;
                String::from_utf8(bytes).map_err(|_| KeyError::WrongPassphrase(name.to_string()))?
            }
            (None, None) => return Err(Self::file_error(&self.path(name)?, "holds no secret")),
        };
        if file.kind == "private_key" {
            let bytes: [u8; 32] =
                hex::decode(&text).ok().and_then(|b| b.try_into().ok()).ok_or(KeyError::BadPrivateKey)?;
            Ok(Secret::PrivateKey(bytes))
        } else {
            Ok(Secret::Mnemonic(text))
        }
    }

    pub fn signing_key(&self, name: &str, passphrase: Option<&str>) -> Result<SigningKey, KeyError> {
        self.secret(name, passphrase)?.signing_key()
    }

    pub fn delete(&self, name: &str) -> Result<(), KeyError> {
        let path = self.path(name)?;
        fs::remove_file(&path).map_err(|_| KeyError::NotFound(name.to_string(), self.dir.display().to_string()))
    }
}

fn info(file: &KeyFile) -> KeyInfo {
    KeyInfo {
        name: file.name.clone(),
        address: file.address,
        public_key: file.public_key.clone(),
        backend: file.backend,
    }
}

/// Writes a file readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

const M_COST_KIB: u32 = 64 * 1024;
const T_COST: u32 = 3;
const P_COST: u32 = 1;

fn stretch(passphrase: &str, salt: &[u8], m: u32, t: u32, p: u32) -> Result<[u8; 32], String> {
    let params = argon2::Params::new(m, t, p, Some(32)).map_err(|e| e.to_string())?;
    let argon = Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut key = [0u8; 32];
    argon.hash_password_into(passphrase.as_bytes(), salt, &mut key).map_err(|e| e.to_string())?;
    Ok(key)
}

fn encrypt(plain: &[u8], passphrase: &str) -> Result<Encrypted, String> {
    let mut salt = [0u8; 16];
    let mut nonce = [0u8; 24];
    OsRng.fill_bytes(&mut salt);
    OsRng.fill_bytes(&mut nonce);
    let key = stretch(passphrase, &salt, M_COST_KIB, T_COST, P_COST)?;
    let cipher = XChaCha20Poly1305::new((&key).into());
    let ciphertext = cipher.encrypt(XNonce::from_slice(&nonce), plain).map_err(|e| e.to_string())?;
    Ok(Encrypted {
        kdf: "argon2id".into(),
        m_cost_kib: M_COST_KIB,
        t_cost: T_COST,
        p_cost: P_COST,
        salt: hex::encode(salt),
        nonce: hex::encode(nonce),
        ciphertext: hex::encode(ciphertext),
    })
}

fn decrypt(enc: &Encrypted, passphrase: &str) -> Result<Vec<u8>, String> {
    let salt = hex::decode(&enc.salt).map_err(|e| e.to_string())?;
    let nonce = hex::decode(&enc.nonce).map_err(|e| e.to_string())?;
    let ciphertext = hex::decode(&enc.ciphertext).map_err(|e| e.to_string())?;
    if nonce.len() != 24 {
        return Err("bad nonce".into());
    }
    let key = stretch(passphrase, &salt, enc.m_cost_kib, enc.t_cost, enc.p_cost)?;
    let cipher = XChaCha20Poly1305::new((&key).into());
    cipher.decrypt(XNonce::from_slice(&nonce), ciphertext.as_slice()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encrypted_keyring_round_trip() {
        let home = tempfile::tempdir().expect("tempdir");
        let ring = Keyring::new(home.path());
        let words = generate_mnemonic();
        let info = ring.add("alice", &Secret::Mnemonic(words.clone()), Backend::File, Some("hunter2")).expect("add");
        assert!(info.address.to_string().starts_with("stratus1"));
        assert!(matches!(
            ring.add("alice", &Secret::Mnemonic(words.clone()), Backend::Test, None),
            Err(KeyError::Exists(_))
        ));
        let raw = std::fs::read_to_string(home.path().join("keyring/alice.json")).expect("file");
        assert!(
            !raw.contains(words.split_whitespace().next().unwrap_or("x")),
            "mnemonic must not be stored in the clear"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(home.path().join("keyring/alice.json")).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(ring.secret("alice", Some("hunter2")).ok(), Some(Secret::Mnemonic(words)));
        assert!(matches!(ring.secret("alice", Some("wrong")), Err(KeyError::WrongPassphrase(_))));
        assert!(matches!(ring.secret("alice", None), Err(KeyError::NeedPassphrase(_))));
        ring.add("bob", &Secret::PrivateKey([4; 32]), Backend::Test, None).expect("add test key");
        assert_eq!(ring.list().expect("list").len(), 2);
        ring.delete("bob").expect("delete");
        assert!(matches!(ring.show("bob"), Err(KeyError::NotFound(..))));
        assert!(matches!(ring.show("../etc"), Err(KeyError::BadName(_))));
    }
}
