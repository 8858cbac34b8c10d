//! The gateway's TLS: a self-signed certificate made on first start and kept in the data
//! directory. Its sha256 fingerprint is published in the provider's ledger record; clients pin it
//! instead of trusting a certificate authority (the ledger is the authority).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

pub struct Identity {
    pub cert: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
}

impl Identity {
    /// Loads `dir/cert.der` and `dir/key.der`, or makes them (for `names`) when absent.
    pub fn load_or_create(dir: &Path, names: Vec<String>) -> anyhow::Result<Identity> {
        let (cert_path, key_path) = (dir.join("cert.der"), dir.join("key.der"));
        if cert_path.exists() && key_path.exists() {
            let cert = std::fs::read(&cert_path).with_context(|| format!("reading {}", cert_path.display()))?;
            let key = std::fs::read(&key_path).with_context(|| format!("reading {}", key_path.display()))?;
            return Ok(Identity { cert: CertificateDer::from(cert), key: PrivatePkcs8KeyDer::from(key) });
        }
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let made = rcgen::generate_simple_self_signed(names).context("generating the gateway certificate")?;
        let cert = made.cert.der().to_vec();
        let key = made.signing_key.serialize_der();
        std::fs::write(&cert_path, &cert)?;
        std::fs::write(&key_path, &key)?;
        std::fs::set_permissions(&key_path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        Ok(Identity { cert: CertificateDer::from(cert), key: PrivatePkcs8KeyDer::from(key) })
    }

    /// Lowercase hex sha256 of the certificate (DER), as published and pinned.
    pub fn fingerprint(&self) -> String {
        hex::encode(Sha256::digest(self.cert.as_ref()))
    }

    pub fn acceptor(&self) -> anyhow::Result<TlsAcceptor> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS versions")?
            .with_no_client_auth()
            .with_single_cert(vec![self.cert.clone()], PrivateKeyDer::Pkcs8(self.key.clone_key()))
            .context("loading the gateway certificate")?;
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}

/// A TLS listener for axum: handshakes run in their own tasks, so a slow or bad client never
/// holds up others.
pub struct TlsListener {
    incoming: tokio::sync::mpsc::Receiver<(TlsStream<TcpStream>, std::net::SocketAddr)>,
    local: std::net::SocketAddr,
}

impl TlsListener {
    pub fn new(tcp: TcpListener, acceptor: TlsAcceptor) -> std::io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let (send, incoming) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                // Ends with the listener (the gateway stopped), releasing the port.
                let accepted = tokio::select! {
                    r = tcp.accept() => r,
                    () = send.closed() => return,
                };
                let Ok((stream, addr)) = accepted else { continue };
                let (acceptor, send) = (acceptor.clone(), send.clone());
                tokio::spawn(async move {
                    let handshake =
                        tokio::time::timeout(std::time::Duration::from_secs(10), acceptor.accept(stream)).await;
                    if let Ok(Ok(tls)) = handshake {
                        let _ = send.send((tls, addr)).await;
                    }
                });
            }
        });
        Ok(TlsListener { incoming, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            if let Some(conn) = self.incoming.recv().await {
                return conn;
            }
            // The accept task ends only when this listener is dropped: wait forever.
            std::future::pending::<()>().await;
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::{Duration, Instant};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// The gateway's stack (TLS listener + the shared serve loop) cuts a client that sends its
    /// headers a byte at a time, after the handshake.
    #[tokio::test]
    async fn a_slow_loris_client_is_cut_after_the_handshake() {
        let dir = tempfile::tempdir().unwrap();
        let identity = Identity::load_or_create(dir.path(), vec!["localhost".into()]).unwrap();
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let listener = TlsListener::new(tcp, identity.acceptor().unwrap()).unwrap();
        let router = axum::Router::new().route("/status", axum::routing::get(|| async { "ok" }));
        let limits = stratus_http::Limits { request_timeout: Duration::from_millis(500), body_bytes: 1024 };
        tokio::spawn(stratus_http::serve(listener, router, limits, std::future::pending()));

        let config = stratus_client::provider::pinned_tls(&identity.fingerprint()).unwrap();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut tls = connector.connect(name, tcp).await.unwrap();
        let started = Instant::now();
        let request = format!("GET /status HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n\r\n", "a".repeat(100));
        let mut answered = String::new();
        for b in request.as_bytes() {
            if tls.write_all(&[*b]).await.is_err() || tls.flush().await.is_err() {
                break;
            }
            let mut buf = [0u8; 512];
            match tokio::time::timeout(Duration::from_millis(100), tls.read(&mut buf)).await {
                Ok(Ok(n)) => {
                    answered = String::from_utf8_lossy(&buf[..n]).into_owned();
                    break;
                }
                Ok(Err(_)) => break,
                Err(_) => {}
            }
        }
        let elapsed = started.elapsed();
        assert!(elapsed < Duration::from_secs(5), "the slow client was served for {elapsed:?}");
        assert!(answered.is_empty() || answered.starts_with("HTTP/1.1 408"), "{answered}");
    }
}
