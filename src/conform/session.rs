//! What every check runs on: the peer's address and security, our probe socket, the
//! peer's own entry from its push/pull state, and the evidence log (every datagram
//! and stream sent and received, byte for byte).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::rc::Rc;
use std::time::{Duration, Instant};

use rand::Rng;

use crate::node::exchange::{exchange, Answer, Failure};
use crate::serf::messages::{PushPull as SerfPushPull, SerfMessage};
use crate::wire::{
    build_packet, build_stream, peel_packet, Encryption, EncryptionVersion, Keyring, Label,
    LabelPolicy, Message, NodeState, PacketConfig, PacketOptions, Ping, PushNodeState, Side,
    StreamMessage, StreamOptions,
};

use super::{Options, Verdict};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Sent,
    Received,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// One datagram or one side of a stream, as it was on the wire.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub direction: Direction,
    pub transport: Transport,
    /// The other end: where we sent it, or where it came from.
    pub peer: SocketAddr,
    /// What the bytes are, in a few words.
    pub note: String,
    pub bytes: Vec<u8>,
}

/// The peer's own entry in its push/pull state.
#[derive(Debug, Clone)]
pub struct PeerSelf {
    pub name: String,
    pub incarnation: u32,
    /// PMin, PMax, PCur, DMin, DMax, DCur; `None` if the peer sent fewer than six.
    pub vsn: Option<[u8; 6]>,
    pub meta: Vec<u8>,
}

impl PeerSelf {
    /// The highest protocol version the peer understands, if it says.
    pub fn protocol_max(&self) -> Option<u8> {
        self.vsn.map(|v| v[1])
    }
}

/// How an ack we asked for turned out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckOutcome {
    Acked,
    /// An ack came, for another sequence number.
    WrongSeq(u32),
    Silent,
}

pub struct Session {
    pub target: SocketAddr,
    keyring: Option<Keyring>,
    label: Option<Label>,
    pub serf: bool,
    pub join: bool,
    pub timeout: Duration,
    pub quiet: Duration,
    /// Shared so a check can receive on it while the session records evidence.
    udp: Rc<UdpSocket>,
    seq: u32,
    /// Random, so two runs against one cluster never share a node name.
    pub run_id: String,
    peer: Result<PeerSelf, String>,
    evidence: Vec<Exchange>,
}

/// An address of the target's family on which nothing will answer (for probes).
pub fn unspecified_for(target: SocketAddr) -> SocketAddr {
    let ip = match target.ip() {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    SocketAddr::new(ip, 0)
}

impl Session {
    pub fn open(opts: &Options) -> std::io::Result<Session> {
        let udp = UdpSocket::bind(unspecified_for(opts.target))?;
        let mut rng = rand::thread_rng();
        let mut s = Session {
            target: opts.target,
            keyring: opts.keyring.clone(),
            label: opts.label.clone(),
            serf: opts.serf,
            join: opts.join,
            timeout: opts.timeout,
            quiet: opts.quiet,
            udp: Rc::new(udp),
            seq: rng.gen(),
            run_id: format!("{:06x}", rng.gen::<u32>() & 0xff_ffff),
            peer: Err("not asked yet".into()),
            evidence: Vec::new(),
        };
        s.peer = s.fetch_peer("push/pull to learn the peer's name and versions");
        // The first check starts with a clean log; the push/pull check repeats this.
        s.evidence.clear();
        Ok(s)
    }

    pub fn keyring(&self) -> Option<&Keyring> {
        self.keyring.as_ref()
    }

    pub fn label(&self) -> Option<&Label> {
        self.label.as_ref()
    }

    /// The peer's name, once a push/pull has told it.
    pub fn peer_name(&self) -> Option<&str> {
        self.peer.as_ref().ok().map(|p| p.name.as_str())
    }

    /// Why the first push/pull told us nothing about the peer, if it did not.
    pub fn peer_problem(&self) -> Option<&str> {
        self.peer.as_ref().err().map(String::as_str)
    }

    /// The peer's own entry, or the failing verdict of a check that needs it.
    pub fn peer(&self) -> Result<PeerSelf, Verdict> {
        self.peer.clone().map_err(|e| {
            Verdict::Fail(format!(
                "needs the peer's own entry, and its push/pull failed: {e}"
            ))
        })
    }

    /// A node name for this run: `conform-<run id>-<what>`.
    pub fn name_for(&self, what: &str) -> String {
        format!("conform-{}-{what}", self.run_id)
    }

    pub fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    pub fn take_evidence(&mut self) -> Vec<Exchange> {
        std::mem::take(&mut self.evidence)
    }

    pub fn record(
        &mut self,
        direction: Direction,
        transport: Transport,
        peer: SocketAddr,
        note: &str,
        bytes: &[u8],
    ) {
        self.evidence.push(Exchange {
            direction,
            transport,
            peer,
            note: note.to_owned(),
            bytes: bytes.to_vec(),
        });
    }

    /// The session's encryption at `version` (none without a key).
    pub fn encryption(&self, version: EncryptionVersion) -> Option<Encryption<'_>> {
        self.keyring.as_ref().map(|keyring| Encryption {
            keyring,
            version,
            nonce: None,
        })
    }

    /// A datagram of `messages` with the session's label and encryption (version 1).
    pub fn wrap(&self, messages: &[Vec<u8>]) -> Vec<u8> {
        self.wrap_with(messages, false, self.label.as_ref(), EncryptionVersion::V1)
    }

    /// A datagram with the given CRC and label and the session's key at `version`.
    pub fn wrap_with(
        &self,
        messages: &[Vec<u8>],
        crc: bool,
        label: Option<&Label>,
        version: EncryptionVersion,
    ) -> Vec<u8> {
        build_packet(
            messages,
            &PacketOptions {
                compress: false,
                crc,
                encryption: self.encryption(version),
                label,
            },
        )
        .expect("at most 255 messages of at most 64 KiB")
    }

    /// A ping for the peer, by name when it is known (Go ignores pings for another
    /// name, and a ping with no name is answered by any node).
    pub fn ping(&mut self) -> (u32, Vec<u8>) {
        let seq = self.next_seq();
        let ping = Ping {
            seq_no: seq,
            node: self.peer_name().unwrap_or_default().into(),
            ..Ping::default()
        };
        (seq, Message::Ping(ping).to_bytes())
    }

    pub fn send_udp(&mut self, note: &str, datagram: &[u8]) {
        let sock = Rc::clone(&self.udp);
        self.send_udp_from(&sock, note, datagram);
    }

    pub fn send_udp_from(&mut self, sock: &UdpSocket, note: &str, datagram: &[u8]) {
        self.record(Direction::Sent, Transport::Udp, self.target, note, datagram);
        if let Err(e) = sock.send_to(datagram, self.target) {
            self.evidence.last_mut().expect("just recorded").note +=
                &format!(" (send failed: {e})");
        }
    }

    /// Receives on our probe socket for up to `wait`, recording every datagram, until
    /// `pick` returns something for one of the messages in it.
    pub fn await_udp<T>(
        &mut self,
        wait: Duration,
        pick: impl FnMut(&Message<'_>) -> Option<T>,
    ) -> Option<T> {
        let sock = Rc::clone(&self.udp);
        self.await_on(&sock, wait, pick)
    }

    /// [`Self::await_udp`] on another socket of ours.
    pub fn await_on<T>(
        &mut self,
        sock: &UdpSocket,
        wait: Duration,
        mut pick: impl FnMut(&Message<'_>) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + wait;
        let mut buf = vec![0u8; 65_536];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            sock.set_read_timeout(Some(left)).ok()?;
            let Ok((n, from)) = sock.recv_from(&mut buf) else {
                continue;
            };
            let cfg = PacketConfig {
                label: LabelPolicy::Any,
                keyring: self.keyring.as_ref(),
                verify_incoming: false,
            };
            let mut found = None;
            let mut types = Vec::new();
            let peeled = peel_packet(&buf[..n], &cfg, |_, m| {
                if let Ok(m) = m {
                    types.push(describe(&m));
                    if found.is_none() {
                        found = pick(&m);
                    }
                }
            });
            let note = match peeled {
                Ok(info) if info.label.is_empty() => types.join(", "),
                Ok(info) => format!(
                    "label {:?}: {}",
                    String::from_utf8_lossy(info.label),
                    types.join(", ")
                ),
                Err(e) => format!("undecodable: {e}"),
            };
            self.record(Direction::Received, Transport::Udp, from, &note, &buf[..n]);
            if found.is_some() {
                return found;
            }
        }
    }

    /// Sends `datagram` (which carries a ping or more with sequence number `seq`) and
    /// waits `wait` for the ack.
    pub fn expect_ack(
        &mut self,
        note: &str,
        datagram: &[u8],
        seq: u32,
        wait: Duration,
    ) -> AckOutcome {
        self.send_udp(note, datagram);
        let mut wrong = None;
        let acked = self.await_udp(wait, |m| match m {
            Message::AckResp(a) if a.seq_no == seq => Some(()),
            Message::AckResp(a) => {
                wrong = Some(a.seq_no);
                None
            }
            _ => None,
        });
        match (acked, wrong) {
            (Some(()), _) => AckOutcome::Acked,
            (None, Some(other)) => AckOutcome::WrongSeq(other),
            (None, None) => AckOutcome::Silent,
        }
    }

    /// One plain UDP ping: is the peer still answering?
    pub fn alive(&mut self, note: &str) -> AckOutcome {
        let (seq, ping) = self.ping();
        let datagram = self.wrap(&[ping]);
        self.expect_ack(
            &format!("{note}: ping seq={seq}"),
            &datagram,
            seq,
            self.timeout,
        )
    }

    /// Everything we write on a stream for `message`: label header and encryption
    /// (version 1) as the session has them.
    pub fn stream(&self, message: &StreamMessage<'_>) -> Vec<u8> {
        self.stream_with_label(message, self.label.as_ref())
    }

    /// [`Self::stream`] under another label (or none).
    pub fn stream_with_label(&self, message: &StreamMessage<'_>, label: Option<&Label>) -> Vec<u8> {
        build_stream(
            message,
            &StreamOptions {
                compress: false,
                encryption: self.encryption(EncryptionVersion::V1),
                label,
                side: Some(Side::Dialer),
            },
        )
    }

    /// The label header we write first (empty without a label).
    pub fn label_header(&self) -> Vec<u8> {
        let mut h = Vec::new();
        if let Some(l) = &self.label {
            l.write_header(&mut h);
        }
        h
    }

    /// A plain stream frame (any bytes) behind the session's label and encryption.
    pub fn seal_stream(&self, frame: &[u8]) -> Vec<u8> {
        let mut out = self.label_header();
        match self.encryption(EncryptionVersion::V1) {
            None => out.extend_from_slice(frame),
            Some(enc) => {
                let len = crate::wire::crypto::encrypted_length(enc.version, frame.len()) as u32;
                let start = out.len();
                out.push(crate::wire::MessageType::Encrypt as u8);
                out.extend_from_slice(&len.to_be_bytes());
                let mut aad = out[start..].to_vec();
                aad.extend_from_slice(self.label.as_ref().map_or(&[][..], Label::as_bytes));
                enc.seal(frame, &aad, &mut out);
            }
        }
        out
    }

    /// Writes `request` on a new TCP connection and reads one frame back, recording
    /// both directions.
    pub fn tcp(&mut self, note: &str, request: &[u8]) -> Result<Answer, Failure> {
        let label = self.label.clone();
        self.tcp_with(note, request, label.as_ref())
    }

    /// [`Self::tcp`], reading the answer under another label.
    pub fn tcp_with(
        &mut self,
        note: &str,
        request: &[u8],
        label: Option<&Label>,
    ) -> Result<Answer, Failure> {
        self.record(Direction::Sent, Transport::Tcp, self.target, note, request);
        let result = exchange(
            self.target,
            request,
            self.keyring.as_ref(),
            label,
            self.timeout,
        );
        match &result {
            Ok(a) => {
                let what = format!("{:?}", a.message.message_type());
                self.record(
                    Direction::Received,
                    Transport::Tcp,
                    self.target,
                    &what,
                    &a.received,
                )
            }
            Err(Failure::Undecodable { received, error }) => {
                let what = format!("undecodable: {error}");
                let received = received.clone();
                self.record(
                    Direction::Received,
                    Transport::Tcp,
                    self.target,
                    &what,
                    &received,
                )
            }
            Err(Failure::Remote(text)) => {
                let what = format!("error message: {text}");
                self.record(Direction::Received, Transport::Tcp, self.target, &what, &[])
            }
            Err(other) => {
                let what = format!(
                    "nothing: {}",
                    other.likely_cause(self.keyring.as_ref(), label)
                );
                self.record(Direction::Received, Transport::Tcp, self.target, &what, &[])
            }
        }
        result
    }

    /// The user state we push: empty for memberlist, an empty Serf state for Serf
    /// (which logs an error for a push/pull without one).
    fn user_state(&self) -> Vec<u8> {
        if self.serf {
            SerfMessage::PushPull(SerfPushPull::default()).to_bytes()
        } else {
            Vec::new()
        }
    }

    /// A push/pull that sends no node (so the peer adds nobody), with `nodes` added
    /// when a check wants the peer to consider some.
    pub fn push_pull_with(
        &mut self,
        note: &str,
        nodes: Vec<PushNodeState<'static>>,
    ) -> Result<(Vec<PushNodeState<'static>>, Vec<u8>), String> {
        let request = self.stream(&StreamMessage::push_pull(false, nodes, self.user_state()));
        match self.tcp(note, &request) {
            Ok(Answer {
                message:
                    StreamMessage::PushPull {
                        nodes, user_state, ..
                    },
                ..
            }) => Ok((nodes, user_state.into_owned())),
            Ok(Answer { message, .. }) => Err(format!(
                "answered a push/pull with {:?}",
                message.message_type()
            )),
            Err(f) => Err(f.likely_cause(self.keyring.as_ref(), self.label.as_ref())),
        }
    }

    /// The peer's member list and Serf/user state, through a push/pull of nothing.
    pub fn pull(&mut self, note: &str) -> Result<(Vec<PushNodeState<'static>>, Vec<u8>), String> {
        self.push_pull_with(note, Vec::new())
    }

    /// The peer's own entry, fresh from a push/pull (also kept for later checks).
    pub fn fetch_peer(&mut self, note: &str) -> Result<PeerSelf, String> {
        let (nodes, _) = self.pull(note)?;
        let found = self.own_entry(&nodes).map(|n| PeerSelf {
            name: n.name.to_str_lossy().into_owned(),
            incarnation: n.incarnation,
            vsn: n
                .vsn
                .as_deref()
                .and_then(|v| v.get(..6))
                .map(|v| v.try_into().expect("six bytes")),
            meta: n.meta.as_deref().unwrap_or_default().to_vec(),
        });
        let found = found.ok_or_else(|| {
            format!(
                "no member in its push/pull answer has the address {} (members: {})",
                self.target,
                nodes
                    .iter()
                    .map(|n| n.name.to_str_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        });
        if let Ok(p) = &found {
            self.peer = Ok(p.clone());
        }
        found
    }

    /// The entry that is the peer itself: the one at the target's address, or, when
    /// the target is an unspecified or loopback address, the only one at its port.
    pub fn own_entry<'n>(
        &self,
        nodes: &'n [PushNodeState<'static>],
    ) -> Option<&'n PushNodeState<'static>> {
        let at =
            |n: &&PushNodeState<'_>| n.port == self.target.port() && n.state == NodeState::Alive;
        let exact = nodes
            .iter()
            .filter(at)
            .find(|n| n.addr.as_deref().and_then(ip_of) == Some(self.target.ip()));
        exact.or_else(|| {
            let mut same_port = nodes.iter().filter(at);
            match (same_port.next(), same_port.next()) {
                (Some(only), None)
                    if self.target.ip().is_loopback() || self.target.ip().is_unspecified() =>
                {
                    Some(only)
                }
                _ => None,
            }
        })
    }

    /// Our probe socket's address as the peer sees it, for messages that say where
    /// to answer (the source address the kernel picks toward the peer).
    pub fn local_addr(&self) -> SocketAddr {
        let port = self.udp.local_addr().map(|a| a.port()).unwrap_or(0);
        SocketAddr::new(self.source_ip(), port)
    }

    /// Our IP toward the peer.
    pub fn source_ip(&self) -> IpAddr {
        UdpSocket::bind(unspecified_for(self.target))
            .and_then(|u| u.connect(self.target).and_then(|()| u.local_addr()))
            .map(|a| a.ip())
            .unwrap_or(self.target.ip())
    }

    /// Writes raw bytes on a new TCP connection, closes our side and records what
    /// comes back until the peer closes (or `quiet` passes): for malformed streams,
    /// whose answer does not matter, only that the peer survives them.
    pub fn tcp_raw(&mut self, note: &str, bytes: &[u8]) {
        use std::io::{Read, Write};
        self.record(Direction::Sent, Transport::Tcp, self.target, note, bytes);
        let got =
            std::net::TcpStream::connect_timeout(&self.target, self.timeout).and_then(|mut c| {
                c.set_read_timeout(Some(self.quiet))?;
                c.write_all(bytes)?;
                c.shutdown(std::net::Shutdown::Write)?;
                let mut back = Vec::new();
                // A timeout or reset ends the answer; what came before it is kept.
                let _ = c.read_to_end(&mut back);
                Ok(back)
            });
        let (what, back) = match got {
            Ok(back) => (format!("{} bytes back", back.len()), back),
            Err(e) => (format!("connection failed: {e}"), Vec::new()),
        };
        self.record(
            Direction::Received,
            Transport::Tcp,
            self.target,
            &what,
            &back,
        );
    }
}

/// A 4- or 16-byte IP as memberlist carries it.
pub fn ip_of(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(b).ok()?)),
        16 => {
            let v6 = Ipv6Addr::from(<[u8; 16]>::try_from(b).ok()?);
            Some(v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4))
        }
        _ => None,
    }
}

/// The bytes memberlist carries for an IP.
pub fn ip_bytes(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    }
}

/// A message in a few words, for the evidence log.
pub fn describe(m: &Message<'_>) -> String {
    match m {
        Message::Ping(p) => format!("ping seq={} node={}", p.seq_no, p.node),
        Message::AckResp(a) => format!("ack seq={}", a.seq_no),
        Message::NackResp(n) => format!("nack seq={}", n.seq_no),
        Message::IndirectPing(i) => format!("indirect ping seq={} node={}", i.seq_no, i.node),
        Message::Suspect(a) => format!("suspect {} inc={}", a.node, a.incarnation),
        Message::Dead(a) => format!("dead {} inc={}", a.node, a.incarnation),
        Message::Alive(a) => format!("alive {} inc={}", a.node, a.incarnation),
        Message::User(b) => match SerfMessage::decode(b) {
            Ok(s) => format!("user message: serf {}", s.message_type().name()),
            Err(_) => format!("user message of {} bytes", b.len()),
        },
        Message::Err(e) => format!("error {}", e.error),
    }
}
