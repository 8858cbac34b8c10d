//! The serve loop over real sockets, played by clients that misbehave.

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Path;
use axum::routing::{get, post};
use stratus_http::{Limits, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const LIMITS: Limits = Limits { request_timeout: Duration::from_millis(600), body_bytes: 1024 };

async fn start() -> std::net::SocketAddr {
    let router = Router::new()
        .route("/n/{n}", get(|Path(n): Path<u32>| async move { format!("{n}") }))
        .route("/echo", post(|body: String| async move { body }));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(serve(listener, router, LIMITS, std::future::pending()));
    addr
}

/// Sends `request`, reads until the server closes, returns what came back.
async fn exchange(addr: std::net::SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(request.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

fn status_and_body(response: &str) -> (u16, serde_json::Value) {
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = response.split("\r\n\r\n").nth(1).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(serde_json::Value::Null))
}

#[tokio::test]
async fn slow_headers_are_cut_after_the_timeout() {
    let addr = start().await;
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let started = Instant::now();
    let request = b"GET /n/1 HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    // One byte every 100 ms: the whole request would take 9 s, each byte arrives well inside
    // any per-read idle timeout.
    let mut cut = false;
    for b in request {
        if s.write_all(&[*b]).await.is_err() {
            cut = true;
            break;
        }
        let mut buf = [0u8; 256];
        match tokio::time::timeout(Duration::from_millis(100), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                cut = true;
                break;
            }
            Ok(Ok(_)) => {
                cut = true; // hyper may answer 408 before closing
                break;
            }
            Err(_) => {}
        }
    }
    let elapsed = started.elapsed();
    assert!(cut, "the server waited for the whole slow request ({elapsed:?})");
    assert!(elapsed < Duration::from_secs(5), "cut only after {elapsed:?}");
}

#[tokio::test]
async fn a_slow_body_gets_a_json_408() {
    let addr = start().await;
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc").await.expect("write");
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    let (status, body) = status_and_body(&String::from_utf8_lossy(&out));
    assert_eq!(status, 408);
    assert!(body["error"].as_str().is_some_and(|e| e.contains("did not arrive")), "{body}");
}

#[tokio::test]
async fn errors_axum_makes_itself_come_back_as_json() {
    let addr = start().await;
    let big = "x".repeat(2000);
    let cases = [
        (
            format!(
                "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{big}",
                big.len()
            ),
            413,
        ),
        ("GET /n/notanumber HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_string(), 400),
        ("DELETE /n/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_string(), 405),
    ];
    for (request, want) in cases {
        let response = exchange(addr, &request).await;
        let (status, body) = status_and_body(&response);
        assert_eq!(status, want, "{response}");
        assert!(response.to_lowercase().contains("content-type: application/json"), "{response}");
        assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{response}");
    }
    // A good request still works, and its body is untouched.
    let ok =
        exchange(addr, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello").await;
    assert!(ok.starts_with("HTTP/1.1 200") && ok.ends_with("hello"), "{ok}");
}
