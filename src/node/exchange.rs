//! One request/answer exchange with a peer over TCP, and what its failures most
//! likely mean. No membership is involved: `memberlist ping`, `members --peer` and the
//! conformance checks talk to any member this way without joining it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::wire::{
    decode_frame, Decoded, Keyring, Label, LabelPolicy, MessageType, Side, StreamConfig,
    StreamMessage, WireError,
};

/// Largest answer we read (a push/pull of a big cluster): Go's limit plus framing.
const MAX_ANSWER: usize = 48 * 1024 * 1024;

/// Why an exchange gave no usable answer.
#[derive(Debug)]
pub enum Failure {
    /// Nothing accepted the connection (refused, unreachable).
    Connect(std::io::Error),
    /// The connection opened but no whole answer came within the timeout.
    Timeout,
    /// The peer closed the connection without writing anything back.
    Closed,
    /// The peer answered with bytes we could not decode (`received` is never empty).
    Undecodable {
        /// The bytes the peer sent.
        received: Vec<u8>,
        /// Why they did not decode.
        error: WireError,
    },
    /// The peer answered with memberlist's error message.
    Remote(String),
}

impl Failure {
    /// The most likely cause, for an operator, given what we sent.
    pub fn likely_cause(&self, keyring: Option<&Keyring>, label: Option<&Label>) -> String {
        match self {
            Failure::Connect(e) => format!("nothing is listening there on TCP ({e})"),
            Failure::Timeout => "no answer in time: a firewall drops the traffic, or the peer is overloaded".into(),
            Failure::Closed => match label {
                Some(l) => format!("the peer closed the connection without answering: its label is not {:?}, or it expects none (check --label)", l.to_string()),
                None => "the peer closed the connection without answering: it probably expects a label (pass --label)".into(),
            },
            Failure::Undecodable { received, error }
                if received.first() == Some(&(MessageType::Encrypt as u8)) =>
            {
                match keyring {
                    None => "the peer answers encrypted: pass its gossip key with --key or --keyring-file".into(),
                    Some(_) => format!("the peer's answer is encrypted with a key we do not have: pass its key with --key or --keyring-file ({error})"),
                }
            }
            Failure::Undecodable { error, .. } => format!("the answer is not memberlist ({error})"),
            Failure::Remote(text) if keyring.is_some() && text.contains("encryption is not configured") => {
                format!("the peer uses no encryption: drop --key and --keyring-file, or give the peer our key ({text})")
            }
            Failure::Remote(text) if text.contains("encrypt") || text.contains("decrypt") => match keyring {
                None => format!("the peer requires encryption: pass --key ({text})"),
                Some(_) => format!("the peer has none of our keys (pass its key with --key or --keyring-file) or expects no encryption ({text})"),
            },
            Failure::Remote(text) => format!("the peer refused: {text}"),
        }
    }
}

/// A decoded answer with the bytes it came in.
#[derive(Debug)]
pub struct Answer {
    /// The answer's decoded message.
    pub message: StreamMessage<'static>,
    /// From the connect until the answer was read.
    pub rtt: Duration,
    /// Everything read from the connection, as the peer sent it.
    pub received: Vec<u8>,
}

/// Sends `request` to `to` and reads one frame back.
pub fn exchange(
    to: SocketAddr,
    request: &[u8],
    keyring: Option<&Keyring>,
    label: Option<&Label>,
    timeout: Duration,
) -> Result<Answer, Failure> {
    let start = Instant::now();
    let mut conn = TcpStream::connect_timeout(&to, timeout).map_err(Failure::Connect)?;
    let timed = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => Failure::Timeout,
        _ => Failure::Closed,
    };
    conn.set_read_timeout(Some(timeout)).map_err(timed)?;
    conn.set_write_timeout(Some(timeout)).map_err(timed)?;
    conn.write_all(request).map_err(timed)?;
    let cfg = StreamConfig {
        label: LabelPolicy::Expect(label),
        keyring,
        // Read plaintext answers too: a peer without encryption explains itself in one.
        verify_incoming: false,
        side: Side::Acceptor,
    };
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = conn.read(&mut chunk).map_err(timed)?;
        if n == 0 {
            return Err(if buf.is_empty() {
                Failure::Closed
            } else {
                Failure::Undecodable {
                    received: buf,
                    error: WireError::Truncated("answer"),
                }
            });
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > MAX_ANSWER {
            return Err(Failure::Timeout);
        }
        match decode_frame(&buf, &cfg) {
            Ok(Decoded::NeedMore) => continue,
            Ok(Decoded::Frame(f)) => {
                let rtt = start.elapsed();
                let message = match f.message {
                    StreamMessage::Err(e) => return Err(Failure::Remote(e.error.to_string())),
                    m => m.into_owned(),
                };
                return Ok(Answer {
                    message,
                    rtt,
                    received: buf,
                });
            }
            Err(error) => {
                return Err(Failure::Undecodable {
                    received: buf,
                    error,
                })
            }
        }
    }
}
