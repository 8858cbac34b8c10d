//! Tokens that authenticate a tenant (or the provider itself) to a provider's gateway.
//!
//! A token is a set of claims signed with the caller's account key (ed25519): who signs
//! (address and public key, which must agree), which provider it is for, what it may do, and
//! until when. It is sent as `Authorization: Bearer <hex of borsh(Token)>`. Binding the token to
//! one provider means a provider cannot replay a tenant's token against another; the expiry
//! bounds the damage of a leaked one.

use borsh::{BorshDeserialize, BorshSerialize};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::address::Address;

/// Prefix of the bytes a token signature covers.
pub const TOKEN_DOMAIN: &[u8] = b"stratus/provider-token/v1\0";
/// Longest validity a provider accepts.
pub const MAX_TOKEN_LIFETIME_MS: u64 = 24 * 3600 * 1000;

/// What a token allows.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, BorshSerialize, BorshDeserialize,
)]
#[serde(rename_all = "snake_case")]
#[borsh(use_discriminant = false)]
pub enum Scope {
    SendManifest,
    Status,
    Logs,
    Events,
    /// The provider's bid decisions on the signer's orders.
    Decisions,
}

impl Scope {
    pub const ALL: [Scope; 5] = [Scope::SendManifest, Scope::Status, Scope::Logs, Scope::Events, Scope::Decisions];

    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::SendManifest => "send_manifest",
            Scope::Status => "status",
            Scope::Logs => "logs",
            Scope::Events => "events",
            Scope::Decisions => "decisions",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Claims {
    /// The signer: a tenant (deployment owner), or the provider's own account.
    pub signer: Address,
    pub public_key: [u8; 32],
    /// The provider this token is for.
    pub provider: Address,
    pub scopes: Vec<Scope>,
    /// Limits the token to one deployment, if set.
    pub dseq: Option<u64>,
    pub issued_at_ms: u64,
    pub expires_at_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Token {
    pub claims: Claims,
    pub signature: [u8; 64],
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing Authorization: Bearer token (sign one with the deployment owner's key)")]
    Missing,
    #[error("the token is not valid hex-encoded borsh")]
    Malformed,
    #[error("the token's signature is invalid")]
    BadSignature,
    #[error("the token's public key does not belong to its signer")]
    WrongKey,
    #[error("the token is for provider {0}, not this one")]
    WrongProvider(Address),
    #[error("the token expired")]
    Expired,
    #[error("the token is valid for more than 24 hours or was issued in the future")]
    BadLifetime,
    #[error("the token does not allow {0}")]
    Scope(&'static str),
    #[error("the token is limited to another deployment")]
    Deployment,
}

/// The bytes a token's signature covers: [`TOKEN_DOMAIN`] then the borsh encoding of the claims.
/// (A browser gets them from the WebAssembly build, signs them with WebCrypto's Ed25519, and has
/// the token encoded there too; see docs/console.md.)
pub fn sign_bytes(claims: &Claims) -> Vec<u8> {
    let mut bytes = TOKEN_DOMAIN.to_vec();
    bytes.extend(borsh::to_vec(claims).unwrap_or_default());
    bytes
}

impl Token {
    /// Signs a token for `provider` valid `lifetime_ms` from `now_ms`.
    pub fn sign(
        key: &SigningKey,
        provider: Address,
        scopes: Vec<Scope>,
        dseq: Option<u64>,
        now_ms: u64,
        lifetime_ms: u64,
    ) -> Token {
        let public_key = key.verifying_key().to_bytes();
        let claims = Claims {
            signer: Address::from_public_key(&public_key),
            public_key,
            provider,
            scopes,
            dseq,
            issued_at_ms: now_ms,
            expires_at_ms: now_ms.saturating_add(lifetime_ms),
        };
        let signature = key.sign(&sign_bytes(&claims)).to_bytes();
        Token { claims, signature }
    }

    pub fn encode(&self) -> String {
        hex::encode(borsh::to_vec(self).unwrap_or_default())
    }

    pub fn decode(text: &str) -> Result<Token, AuthError> {
        let bytes = hex::decode(text.trim()).map_err(|_| AuthError::Malformed)?;
        borsh::from_slice(&bytes).map_err(|_| AuthError::Malformed)
    }

    /// Checks signature, key, audience and lifetime; returns the claims.
    pub fn verify(&self, provider: &Address, now_ms: u64) -> Result<&Claims, AuthError> {
        let c = &self.claims;
        if Address::from_public_key(&c.public_key) != c.signer {
            return Err(AuthError::WrongKey);
        }
        let key = VerifyingKey::from_bytes(&c.public_key).map_err(|_| AuthError::WrongKey)?;
        key.verify(&sign_bytes(c), &Signature::from_bytes(&self.signature)).map_err(|_| AuthError::BadSignature)?;
        if c.provider != *provider {
            return Err(AuthError::WrongProvider(c.provider));
        }
        // A minute of clock skew either way.
        if c.expires_at_ms.saturating_sub(c.issued_at_ms) > MAX_TOKEN_LIFETIME_MS || c.issued_at_ms > now_ms + 60_000 {
            return Err(AuthError::BadLifetime);
        }
        if now_ms > c.expires_at_ms + 60_000 {
            return Err(AuthError::Expired);
        }
        Ok(c)
    }
}

impl Claims {
    pub fn require(&self, scope: Scope, dseq: Option<u64>) -> Result<(), AuthError> {
        if !self.scopes.contains(&scope) {
            return Err(AuthError::Scope(scope.as_str()));
        }
        match (self.dseq, dseq) {
            (Some(mine), Some(asked)) if mine != asked => Err(AuthError::Deployment),
            (Some(_), None) => Err(AuthError::Deployment),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    #[test]
    fn a_token_verifies_only_for_its_provider_key_and_time() {
        let provider = Address([9; 20]);
        let t = Token::sign(&key(1), provider, vec![Scope::Status], Some(4), 1_000_000, 60_000);
        let decoded = Token::decode(&t.encode()).unwrap();
        let claims = decoded.verify(&provider, 1_000_500).unwrap();
        assert_eq!(claims.signer, Address::from_public_key(&key(1).verifying_key().to_bytes()));
        assert_eq!(claims.require(Scope::Status, Some(4)), Ok(()));
        assert_eq!(claims.require(Scope::Logs, Some(4)), Err(AuthError::Scope("logs")));
        assert_eq!(claims.require(Scope::Status, Some(5)), Err(AuthError::Deployment));
        assert_eq!(decoded.verify(&Address([8; 20]), 1_000_500), Err(AuthError::WrongProvider(provider)));
        assert_eq!(decoded.verify(&provider, 2_000_000), Err(AuthError::Expired));
        // Claiming to be someone else with one's own key.
        let mut forged = t.clone();
        forged.claims.signer = Address([7; 20]);
        assert_eq!(forged.verify(&provider, 1_000_500), Err(AuthError::WrongKey));
        // Changing a claim breaks the signature.
        let mut widened = t.clone();
        widened.claims.scopes.push(Scope::Logs);
        assert_eq!(widened.verify(&provider, 1_000_500), Err(AuthError::BadSignature));
        let long = Token::sign(&key(1), provider, vec![], None, 0, MAX_TOKEN_LIFETIME_MS + 1);
        assert_eq!(long.verify(&provider, 10), Err(AuthError::BadLifetime));
        assert_eq!(Token::decode("zz"), Err(AuthError::Malformed));
    }
}
