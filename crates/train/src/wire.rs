//! The coordinator ↔ worker protocol over TCP: frames of a JSON header and a binary payload
//! (parameters, gradients, compressed pseudo-gradients), and a simulated wide-area link in user
//! space (a rate and a one-way delay per message) for the benchmarks (`tc netem` is not here).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::data::plan::{Range, WorkerId};
use crate::job::{Job, LinkConfig};
use crate::outer::Quantised;

/// Refuse frames larger than this (a corrupt length must not allocate the machine away).
const MAX_HEADER: u32 = 16 << 20;
const MAX_PAYLOAD: u64 = 4 << 30;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Msg {
    /// Worker → coordinator, first: who it is (`resume` to take back its id after a reconnect)
    /// and the job's token, when the coordinator has one.
    Hello { name: String, resume: Option<WorkerId>, token: Option<String> },
    /// Coordinator → worker: its id and the job. `ranges`: samples to train now (a founding
    /// member); none: the run is under way — the payload holds the current global parameters
    /// (fp32) and the worker waits for this round's result.
    Welcome { id: WorkerId, job: Box<Job>, round: u64, ranges: Option<Vec<Range>> },
    /// Worker → coordinator, every `heartbeat_ms`.
    Heartbeat,
    /// Worker → coordinator: its contribution to `round` (payload: int8 or fp32 values).
    Contribute { round: u64, stats: WorkerStats },
    /// Coordinator → worker: the update of `round` (payload: int8 or fp32), the samples of the
    /// next round, whether the run is over.
    Result { round: u64, applied: bool, ranges: Vec<Range>, stop: bool, members: usize },
    /// Coordinator → worker: its contribution arrived after `round − 1` closed and was dropped;
    /// the payload holds the global parameters at the start of `round`. `ranges`: samples to
    /// train in `round` (fewer steps than H, to arrive with the others); none: wait for its result.
    Resync { round: u64, ranges: Vec<Range> },
    /// Coordinator → worker: leave, and why.
    Bye { reason: String },
}

/// A worker's own figures, cumulative since it joined, sent with each contribution.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct WorkerStats {
    /// Inner steps in this contribution, and their mean loss.
    pub steps: u64,
    pub loss: f32,
    pub tokens: u64,
    /// Seconds in forward/backward/optimizer, and since the worker got its first samples.
    pub compute_s: f64,
    pub wall_s: f64,
    /// Seconds of the last round's inner steps.
    pub inner_s: f64,
}

#[derive(Debug)]
pub struct Frame {
    pub msg: Msg,
    pub payload: Vec<u8>,
}

/// Where a coordinator accepts workers: a TCP address it binds, or a listening socket it was
/// handed (a provider's sandbox passes a workload its published ports as inherited Unix sockets,
/// `LISTEN_FDS`, and forwards the host port to it).
pub enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Listener {
    /// `HOST:PORT` binds TCP; `fd:N` takes over inherited descriptor N (a listening Unix or TCP
    /// socket).
    pub fn open(spec: &str) -> std::io::Result<Listener> {
        if let Some(fd) = spec.strip_prefix("fd:") {
            let fd: usize = fd.parse().map_err(|_| std::io::Error::other(format!("{spec}: not fd:NUMBER")))?;
            let index = fd.checked_sub(3).ok_or_else(|| std::io::Error::other(format!("{spec}: fds 0-2 are stdio")))?;
            let mut passed = listenfd::ListenFd::from_env();
            if passed.len() <= index {
                return Err(std::io::Error::other(format!(
                    "{spec}: no such inherited socket (LISTEN_FDS announces {})",
                    passed.len()
                )));
            }
            if let Ok(Some(l)) = passed.take_unix_listener(index) {
                return Ok(Listener::Unix(l));
            }
            return match passed.take_tcp_listener(index)? {
                Some(l) => Ok(Listener::Tcp(l)),
                None => Err(std::io::Error::other(format!("{spec}: not a listening socket"))),
            };
        }
        TcpListener::bind(spec).map(Listener::Tcp)
    }

    /// What to print: the TCP address, or the descriptor.
    pub fn describe(&self) -> String {
        match self {
            Listener::Tcp(l) => l.local_addr().map(|a| a.to_string()).unwrap_or_else(|_| "tcp".into()),
            Listener::Unix(_) => "an inherited socket".into(),
        }
    }

    pub fn is_loopback_tcp(&self) -> bool {
        matches!(self, Listener::Tcp(l) if l.local_addr().is_ok_and(|a| a.ip().is_loopback()))
    }

    pub fn accept(&self) -> std::io::Result<Conn> {
        match self {
            Listener::Tcp(l) => l.accept().map(|(s, _)| {
                let _ = s.set_nodelay(true);
                Conn::Tcp(s)
            }),
            Listener::Unix(l) => l.accept().map(|(s, _)| Conn::Unix(s)),
        }
    }
}

/// One worker's connection, over TCP or a Unix socket.
pub enum Conn {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Conn {
    pub fn try_clone(&self) -> std::io::Result<Conn> {
        match self {
            Conn::Tcp(s) => s.try_clone().map(Conn::Tcp),
            Conn::Unix(s) => s.try_clone().map(Conn::Unix),
        }
    }

    pub fn set_read_timeout(&self, t: Option<Duration>) -> std::io::Result<()> {
        match self {
            Conn::Tcp(s) => s.set_read_timeout(t),
            Conn::Unix(s) => s.set_read_timeout(t),
        }
    }

    pub fn shutdown(&self) {
        let _ = match self {
            Conn::Tcp(s) => s.shutdown(std::net::Shutdown::Both),
            Conn::Unix(s) => s.shutdown(std::net::Shutdown::Both),
        };
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.read(buf),
            Conn::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.write(buf),
            Conn::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Conn::Tcp(s) => s.flush(),
            Conn::Unix(s) => s.flush(),
        }
    }
}

/// Writes a frame, after the simulated link's delay; returns the bytes that went on the wire.
pub fn send<S: Write>(stream: &mut S, link: &LinkConfig, msg: &Msg, payload: &[u8]) -> std::io::Result<u64> {
    let header = serde_json::to_vec(msg).map_err(std::io::Error::other)?;
    let total = 4 + header.len() as u64 + 8 + payload.len() as u64;
    let mut wait = Duration::from_millis(link.delay_ms);
    if link.rate_mbit > 0.0 {
        wait += Duration::from_secs_f64(total as f64 * 8.0 / (link.rate_mbit * 1e6));
    }
    if !wait.is_zero() {
        std::thread::sleep(wait);
    }
    let mut buf = Vec::with_capacity(12 + header.len());
    buf.extend((header.len() as u32).to_le_bytes());
    buf.extend(&header);
    buf.extend((payload.len() as u64).to_le_bytes());
    stream.write_all(&buf)?;
    stream.write_all(payload)?;
    stream.flush()?;
    Ok(total)
}

/// Reads a frame; returns it and its size on the wire. The stream's read timeout bounds the wait.
pub fn recv<S: Read>(stream: &mut S) -> std::io::Result<(Frame, u64)> {
    let mut len4 = [0u8; 4];
    stream.read_exact(&mut len4)?;
    let hlen = u32::from_le_bytes(len4);
    if hlen > MAX_HEADER {
        return Err(std::io::Error::other(format!("a frame header of {hlen} bytes (limit {MAX_HEADER})")));
    }
    let mut header = vec![0u8; hlen as usize];
    stream.read_exact(&mut header)?;
    let mut len8 = [0u8; 8];
    stream.read_exact(&mut len8)?;
    let plen = u64::from_le_bytes(len8);
    if plen > MAX_PAYLOAD {
        return Err(std::io::Error::other(format!("a payload of {plen} bytes (limit {MAX_PAYLOAD})")));
    }
    let mut payload = vec![0u8; plen as usize];
    stream.read_exact(&mut payload)?;
    let msg = serde_json::from_slice(&header).map_err(|e| std::io::Error::other(format!("a malformed frame: {e}")))?;
    Ok((Frame { msg, payload }, 4 + u64::from(hlen) + 8 + plen))
}

pub fn f32s_to_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

pub fn bytes_to_f32s(bytes: &[u8], expect: usize) -> std::io::Result<Vec<f32>> {
    if bytes.len() != 4 * expect {
        return Err(std::io::Error::other(format!("{} bytes where {expect} fp32 values were expected", bytes.len())));
    }
    Ok(bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

/// int8 blocks on the wire: the scales (fp32), then the values.
pub fn quantised_to_bytes(q: &Quantised) -> Vec<u8> {
    let mut out = Vec::with_capacity(q.wire_bytes());
    out.extend(q.scales.iter().flat_map(|s| s.to_le_bytes()));
    out.extend(q.values.iter().map(|v| *v as u8));
    out
}

pub fn bytes_to_quantised(bytes: &[u8], len: usize) -> std::io::Result<Quantised> {
    let blocks = len.div_ceil(crate::outer::BLOCK);
    if bytes.len() != 4 * blocks + len {
        return Err(std::io::Error::other(format!(
            "{} bytes are not {len} int8 values in {blocks} blocks",
            bytes.len()
        )));
    }
    let (scales, values) = bytes.split_at(4 * blocks);
    Ok(Quantised {
        len,
        scales: scales.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
        values: values.iter().map(|v| *v as i8).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outer::{accumulate, quantise};

    #[test]
    fn payloads_round_trip_and_sizes_are_checked() {
        let v: Vec<f32> = (0..1000).map(|i| i as f32 * 0.5 - 7.0).collect();
        assert_eq!(bytes_to_f32s(&f32s_to_bytes(&v), 1000).expect("fp32"), v);
        assert!(bytes_to_f32s(&f32s_to_bytes(&v), 999).is_err());
        let q = quantise(&v);
        let b = quantised_to_bytes(&q);
        assert_eq!(b.len(), q.wire_bytes());
        let back = bytes_to_quantised(&b, 1000).expect("int8");
        assert_eq!(back, q);
        let (mut x, mut y) = (vec![0f32; 1000], vec![0f32; 1000]);
        accumulate(&mut x, &q, 1.0);
        accumulate(&mut y, &back, 1.0);
        assert_eq!(x, y);
        assert!(bytes_to_quantised(&b[1..], 1000).is_err());
    }

    #[test]
    fn frames_cross_a_socket_and_the_simulated_link_costs_its_time() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().expect("accept");
            recv(&mut s).expect("frame")
        });
        let mut c = TcpStream::connect(addr).expect("connect");
        // 100 kB at 8 Mbit/s is 0.1 s, plus 20 ms of delay.
        let link = LinkConfig { rate_mbit: 8.0, delay_ms: 20 };
        let t = std::time::Instant::now();
        let sent = send(&mut c, &link, &Msg::Heartbeat, &vec![7u8; 100_000]).expect("sent");
        let took = t.elapsed();
        let (frame, size) = server.join().expect("server");
        assert_eq!(size, sent);
        assert!(matches!(frame.msg, Msg::Heartbeat) && frame.payload.len() == 100_000);
        assert!(took >= Duration::from_millis(115), "the link took only {took:?}");
    }

    #[test]
    fn an_inherited_listener_must_exist_and_not_be_stdio() {
        let err = |spec: &str| Listener::open(spec).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err("fd:1").contains("stdio"), "{}", err("fd:1"));
        assert!(err("fd:x").contains("not fd:NUMBER"));
        assert!(err("fd:9").contains("no such inherited socket"), "{}", err("fd:9"));
        let tcp = Listener::open("127.0.0.1:0").expect("bind");
        assert!(tcp.is_loopback_tcp());
    }
}
