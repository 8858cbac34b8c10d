//! Typed client for a provider's gateway: HTTPS pinned to the certificate fingerprint the
//! provider published on the ledger, every call carrying a token signed with the caller's key.

use std::sync::Arc;
use std::time::Duration;

use crate::now_ms;

use ed25519_dalek::SigningKey;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use stratus_types::address::Address;
use stratus_types::auth::{Scope, Token};
use stratus_types::gateway::{Decision, LeaseStatus, ManifestAccepted, ProviderStatus, StreamFrame};
use stratus_types::manifest::Manifest;
use stratus_types::market::{LeaseId, Provider};

use crate::node::ClientError;

/// Tokens this client makes live this long.
const TOKEN_LIFETIME_MS: u64 = 10 * 60 * 1000;
/// A stream that sends nothing (not even a heartbeat) for this long is dead.
pub const STALL: Duration = Duration::from_secs(20);

#[derive(Debug)]
struct Pinned {
    fingerprint: String,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let got = hex::encode(Sha256::digest(end_entity.as_ref()));
        if got.eq_ignore_ascii_case(&self.fingerprint) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "the provider's certificate {got} is not the one it published on the ledger ({})",
                self.fingerprint
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// A TLS client configuration that accepts exactly the certificate with this sha256 fingerprint.
pub fn pinned_tls(fingerprint: &str) -> Result<rustls::ClientConfig, ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Api(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Pinned { fingerprint: fingerprint.to_string(), provider }))
        .with_no_client_auth())
}

/// An HTTP client that accepts exactly the certificate with this sha256 fingerprint.
pub fn pinned_http(fingerprint: &str) -> Result<reqwest::Client, ClientError> {
    let config = pinned_tls(fingerprint)?;
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| ClientError::Api(format!("building the HTTPS client: {e}")))
}

#[derive(Clone)]
pub struct ProviderClient {
    base: String,
    provider: Address,
    key: SigningKey,
    http: reqwest::Client,
    streams: reqwest::Client,
}

impl ProviderClient {
    /// A client for `provider` (its ledger record), signing as `key`.
    pub fn new(provider: &Provider, key: SigningKey) -> Result<ProviderClient, ClientError> {
        if provider.info.tls_sha256.is_empty() {
            return Err(ClientError::Api(format!(
                "provider {} published no certificate fingerprint; its gateway cannot be verified",
                provider.owner
            )));
        }
        let http = pinned_http(&provider.info.tls_sha256)?;
        // Streams run long; stalls are caught by the heartbeat watchdog instead.
        let config = pinned_tls(&provider.info.tls_sha256)?;
        let streams = reqwest::Client::builder()
            .tls_backend_preconfigured(config)
            .build()
            .map_err(|e| ClientError::Api(format!("building the HTTPS client: {e}")))?;
        Ok(ProviderClient {
            base: provider.host_uri.trim_end_matches('/').to_string(),
            provider: provider.owner,
            key,
            http,
            streams,
        })
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    fn token(&self, scope: Scope, dseq: Option<u64>) -> String {
        Token::sign(&self.key, self.provider, vec![scope], dseq, now_ms(), TOKEN_LIFETIME_MS).encode()
    }

    async fn answer<T: DeserializeOwned>(
        &self,
        resp: Result<reqwest::Response, reqwest::Error>,
    ) -> Result<T, ClientError> {
        crate::answer::json(&self.base, &self.base, resp, Some(&format!("provider {}", self.provider))).await
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, scope: Scope, dseq: Option<u64>) -> Result<T, ClientError> {
        let resp = self.http.get(format!("{}{path}", self.base)).bearer_auth(self.token(scope, dseq)).send().await;
        self.answer(resp).await
    }

    /// `GET /status`: what the provider can still take (no token needed).
    pub async fn status(&self) -> Result<ProviderStatus, ClientError> {
        let resp = self.http.get(format!("{}/status", self.base)).send().await;
        self.answer(resp).await
    }

    pub async fn send_manifest(
        &self,
        owner: &Address,
        dseq: u64,
        manifest: &Manifest,
    ) -> Result<ManifestAccepted, ClientError> {
        let resp = self
            .http
            .put(format!("{}/deployment/{owner}/{dseq}/manifest", self.base))
            .bearer_auth(self.token(Scope::SendManifest, Some(dseq)))
            .json(manifest)
            .send()
            .await;
        self.answer(resp).await
    }

    fn lease_path(lease: &LeaseId) -> String {
        format!("/lease/{}/{}/{}/{}", lease.owner, lease.dseq, lease.gseq, lease.oseq)
    }

    pub async fn lease_status(&self, lease: &LeaseId) -> Result<LeaseStatus, ClientError> {
        self.get(&format!("{}/status", Self::lease_path(lease)), Scope::Status, Some(lease.dseq)).await
    }

    /// The lease's GPUs, now (temperature, power, utilisation, memory, clocks, ECC, health).
    pub async fn lease_metrics(&self, lease: &LeaseId) -> Result<stratus_types::telemetry::LeaseMetrics, ClientError> {
        self.get(&format!("{}/metrics", Self::lease_path(lease)), Scope::Status, Some(lease.dseq)).await
    }

    /// The provider's decisions on `owner`'s orders of deployment `dseq`.
    pub async fn decisions(&self, owner: &Address, dseq: u64) -> Result<Vec<Decision>, ClientError> {
        self.get(&format!("/decisions/{owner}/{dseq}"), Scope::Decisions, Some(dseq)).await
    }

    async fn stream(&self, path: String, scope: Scope, dseq: u64) -> Result<FrameStream, ClientError> {
        let resp = self
            .streams
            .get(format!("{}{path}", self.base))
            .bearer_auth(self.token(scope, Some(dseq)))
            .send()
            .await
            .map_err(|e| crate::answer::unreachable(&self.base, &e))?;
        if !resp.status().is_success() {
            let status = resp.status();
            let bytes = resp.bytes().await.unwrap_or_default();
            return Err(crate::answer::error(status, &bytes, Some(&format!("provider {}", self.provider))));
        }
        Ok(FrameStream { resp, buf: Vec::new() })
    }

    /// Log lines: the last `tail`, then (with `follow`) new ones as they are written.
    pub async fn logs(
        &self,
        lease: &LeaseId,
        service: Option<&str>,
        tail: usize,
        follow: bool,
    ) -> Result<FrameStream, ClientError> {
        let mut path = format!("{}/logs?tail={tail}&follow={follow}", Self::lease_path(lease));
        if let Some(s) = service {
            path.push_str(&format!("&service={s}"));
        }
        self.stream(path, Scope::Logs, lease.dseq).await
    }

    pub async fn events(&self, lease: &LeaseId, follow: bool) -> Result<FrameStream, ClientError> {
        self.stream(format!("{}/events?follow={follow}", Self::lease_path(lease)), Scope::Events, lease.dseq).await
    }
}

/// Newline-delimited JSON frames; a stream silent for [`STALL`] is reported, not waited on
/// forever.
pub struct FrameStream {
    resp: reqwest::Response,
    buf: Vec<u8>,
}

impl FrameStream {
    /// The next frame; `None` when the provider ended the stream.
    pub async fn next(&mut self) -> Option<Result<StreamFrame, ClientError>> {
        loop {
            if let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return Some(
                    serde_json::from_slice(&line)
                        .map_err(|e| ClientError::Decode { url: "stream".into(), detail: e.to_string() }),
                );
            }
            match tokio::time::timeout(STALL, self.resp.chunk()).await {
                Err(_) => {
                    return Some(Err(ClientError::Unreachable {
                        url: "stream".into(),
                        detail: format!("no data and no heartbeat for {} s: the stream stalled", STALL.as_secs()),
                    }));
                }
                Ok(Ok(Some(chunk))) => self.buf.extend_from_slice(&chunk),
                Ok(Ok(None)) => return None,
                Ok(Err(e)) => {
                    return Some(Err(ClientError::Unreachable { url: "stream".into(), detail: e.to_string() }));
                }
            }
        }
    }
}
