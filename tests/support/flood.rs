//! A hostile-traffic generator for a live member: random and crafted datagrams and
//! TCP streams, slow-loris connections that never finish a frame, and a prober that
//! times UDP and TCP pings through it all.
//!
//! Crafted inputs are built with the project's own encoder (`wire`), wrapped in the
//! target's real label and key, so each is valid up to the one defect it carries.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use memberlist_interop::wire::crypto::encrypted_length;
use memberlist_interop::wire::messages::UserMsgHeader;
use memberlist_interop::wire::packet::compress_message;
use memberlist_interop::wire::{
    build_packet, build_stream, compound, crc, decode_complete, peel_packet_owned, Encryption,
    EncryptionVersion, GoInt, Keyring, Label, LabelPolicy, Message, MessageType, PacketConfig,
    PacketOptions, Ping, PushPullHeader, SecretKey, Side, StreamConfig, StreamMessage,
    StreamOptions,
};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};

/// The member under attack and what it expects on the wire.
#[derive(Clone)]
pub struct Target {
    /// Its gossip address (UDP and TCP).
    pub addr: SocketAddr,
    /// Its node name (pings must name it).
    pub name: String,
    pub keyring: Option<Keyring>,
    pub label: Option<Label>,
    /// A Serf agent: user messages reach the Serf layer, so garbage ones are sent too.
    pub serf: bool,
}

impl Target {
    fn encryption(&self) -> Option<Encryption<'_>> {
        self.keyring.as_ref().map(|keyring| Encryption {
            keyring,
            version: EncryptionVersion::V1,
            nonce: None,
        })
    }

    /// Any bytes as the payload of a datagram with the target's label and key.
    pub fn seal_packet(&self, payload: &[u8]) -> Vec<u8> {
        build_packet(
            &[payload],
            &PacketOptions {
                compress: false,
                crc: false,
                encryption: self.encryption(),
                label: self.label.as_ref(),
            },
        )
        .expect("one part always builds")
    }

    /// Any bytes as the plain frame of a dialer's stream with the target's label and
    /// key (`[10][len][sealed]` when it has one).
    pub fn seal_stream(&self, plain: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(plain.len() + 64);
        if let Some(l) = &self.label {
            l.write_header(&mut out);
        }
        match &self.keyring {
            None => out.extend_from_slice(plain),
            Some(k) => {
                let start = out.len();
                let len = encrypted_length(EncryptionVersion::V1, plain.len()) as u32;
                out.push(MessageType::Encrypt as u8);
                out.extend_from_slice(&len.to_be_bytes());
                let mut aad = out[start..].to_vec();
                aad.extend_from_slice(self.label.as_ref().map_or(&[][..], Label::as_bytes));
                k.encrypt(EncryptionVersion::V1, plain, &aad, &mut out);
            }
        }
        out
    }

    fn packet_config(&self) -> PacketConfig<'_> {
        PacketConfig {
            label: LabelPolicy::Expect(self.label.as_ref()),
            keyring: self.keyring.as_ref(),
            verify_incoming: true,
        }
    }

    fn ping(&self, seq: u32, from: SocketAddr, node: &str) -> Vec<u8> {
        let ip = match from.ip() {
            IpAddr::V4(v4) => v4.octets().to_vec(),
            IpAddr::V6(v6) => v6.octets().to_vec(),
        };
        Message::Ping(Ping {
            seq_no: seq,
            node: node.to_owned().into(),
            source_addr: ip.into(),
            source_port: from.port(),
            source_node: "flood-prober".into(),
        })
        .to_bytes()
    }
}

/// The kinds of bad datagram sent; each is counted by name in [`Totals`].
const PACKET_KINDS: &[&str] = &[
    "random bytes",
    "wrong key or label",
    "truncated ping",
    "huge declared string length",
    "compound counting more than it holds",
    "nested compound (64 deep)",
    "compression bomb",
    "garbage after a valid label",
    "bad CRC",
    "unknown message type",
    "ping to another node",
    "garbage user message",
];

/// The kinds of bad stream sent, one per connection.
const STREAM_KINDS: &[&str] = &[
    "random bytes",
    "push/pull declaring 1M nodes and 20 MiB then stopping",
    "encrypted frame declaring 4 GiB",
    "compression bomb",
    "truncated push/pull",
    "garbage after a valid label",
    "user message declaring 20 MiB",
];

/// Zeros beyond the receiver's decompression limit (40 MiB), compressed once: a few
/// tens of kilobytes that would inflate to more than the limit.
fn bomb() -> &'static [u8] {
    static BOMB: OnceLock<Vec<u8>> = OnceLock::new();
    BOMB.get_or_init(|| compress_message(&vec![0u8; 41 * 1024 * 1024]))
}

fn random_bytes(rng: &mut StdRng, max: usize) -> Vec<u8> {
    let mut v = vec![0u8; rng.gen_range(0..=max)];
    rng.fill_bytes(&mut v);
    v
}

/// One bad datagram of kind `kind` (an index into [`PACKET_KINDS`]).
fn bad_packet(t: &Target, rng: &mut StdRng, kind: usize, prober: SocketAddr) -> Vec<u8> {
    let ping = t.ping(rng.gen(), prober, &t.name);
    match kind {
        0 => random_bytes(rng, 1400),
        1 => {
            // Sealed with a key the target does not have, or labelled with another label.
            let mut other = t.clone();
            other.keyring = t
                .keyring
                .as_ref()
                .map(|_| Keyring::new(SecretKey::new(&rng.gen::<[u8; 16]>()).expect("16 bytes")));
            other.label = Some(Label::new("not-the-label").expect("label"));
            other.seal_packet(&ping)
        }
        2 => {
            let cut = rng.gen_range(1..ping.len());
            t.seal_packet(&ping[..cut])
        }
        3 => {
            // A ping map whose Node string declares 4 GiB.
            let mut m = vec![MessageType::Ping as u8, 0x81, 0xa4];
            m.extend_from_slice(b"Node");
            m.extend_from_slice(&[0xdb, 0xff, 0xff, 0xff, 0xff]);
            m.extend_from_slice(&random_bytes(rng, 64));
            t.seal_packet(&m)
        }
        4 => {
            let mut m = vec![MessageType::Compound as u8, 255];
            m.extend(std::iter::repeat_n([0xff, 0xff], 255).flatten());
            m.extend_from_slice(&ping);
            t.seal_packet(&m)
        }
        5 => {
            let mut m = t.ping(rng.gen(), prober, "nobody");
            for _ in 0..64 {
                let mut outer = Vec::new();
                compound::encode(&[&m, &m[..1]], &mut outer).expect("two parts");
                m = outer;
            }
            t.seal_packet(&m)
        }
        6 => t.seal_packet(bomb()),
        7 => {
            let mut m = Vec::new();
            match &t.label {
                Some(l) => l.write_header(&mut m),
                None => Label::new("x").expect("label").write_header(&mut m),
            }
            m.extend_from_slice(&random_bytes(rng, 1000));
            m
        }
        8 => {
            let mut m = Vec::new();
            crc::wrap(&ping, &mut m);
            let last = m.len() - 1;
            m[last] ^= 0x5a;
            t.seal_packet(&m)
        }
        9 => {
            let mut m = vec![rng.gen_range(14..=243)];
            m.extend_from_slice(&random_bytes(rng, 200));
            t.seal_packet(&m)
        }
        10 => t.seal_packet(&t.ping(rng.gen(), prober, "someone-else")),
        _ => {
            let mut m = vec![MessageType::User as u8];
            m.extend_from_slice(&random_bytes(rng, 600));
            t.seal_packet(&m)
        }
    }
}

/// Everything one bad connection writes (it then closes).
fn bad_stream(t: &Target, rng: &mut StdRng, kind: usize) -> Vec<u8> {
    let huge_pp = || {
        let mut m = vec![MessageType::PushPull as u8];
        PushPullHeader {
            nodes: GoInt::new(1 << 20),
            user_state_len: GoInt::new(20 << 20),
            join: false,
        }
        .encode(&mut m);
        m
    };
    match kind {
        0 => random_bytes(rng, 64 * 1024),
        1 => {
            let mut m = huge_pp();
            m.extend_from_slice(&random_bytes(rng, 4096));
            // Sealed, the declared lengths sit inside a frame that is complete and
            // short; plain, they are followed by garbage and the end of the stream.
            t.seal_stream(&m)
        }
        2 => {
            let mut m = Vec::new();
            if let Some(l) = &t.label {
                l.write_header(&mut m);
            }
            m.push(MessageType::Encrypt as u8);
            m.extend_from_slice(&u32::MAX.to_be_bytes());
            m.extend_from_slice(&random_bytes(rng, 4096));
            m
        }
        3 => t.seal_stream(bomb()),
        4 => {
            let full = build_stream(
                &StreamMessage::push_pull(false, Vec::new(), random_bytes(rng, 200)),
                &StreamOptions::default(),
            );
            let cut = rng.gen_range(1..full.len());
            t.seal_stream(&full[..cut])
        }
        5 => {
            let mut m = Vec::new();
            match &t.label {
                Some(l) => l.write_header(&mut m),
                None => Label::new("x").expect("label").write_header(&mut m),
            }
            m.extend_from_slice(&random_bytes(rng, 4096));
            m
        }
        _ => {
            let mut m = vec![MessageType::User as u8];
            UserMsgHeader {
                user_msg_len: GoInt::new(20 << 20),
            }
            .encode(&mut m);
            m.extend_from_slice(&random_bytes(rng, 1024));
            t.seal_stream(&m)
        }
    }
}

/// How hard to push.
#[derive(Clone, Debug)]
pub struct FloodOpts {
    pub duration: Duration,
    /// Datagram senders, each pacing itself to `packets_per_sec`.
    pub udp_threads: usize,
    pub packets_per_sec: u32,
    /// Bad connections opened per second (each written and closed at once).
    pub streams_per_sec: u32,
    /// Slow-loris connections kept open, each trickling one byte a second of a
    /// push/pull it never finishes; reopened when the target drops one.
    pub slow_loris: usize,
}

/// What was sent.
#[derive(Debug, Default)]
pub struct Totals {
    pub packets: u64,
    pub packet_bytes: u64,
    pub streams: u64,
    pub stream_connect_failures: u64,
    /// Slow-loris connections opened in all (dropped ones are reopened).
    pub slow_loris_opened: u64,
    /// The most slow-loris connections open at one time.
    pub slow_loris_peak: u64,
}

/// A running flood; [`Flood::finish`] waits for it to end.
pub struct Flood {
    threads: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    counters: Arc<[AtomicU64; 6]>,
}

impl Flood {
    pub fn start(target: &Target, opts: &FloodOpts, seed: u64) -> Flood {
        let stop = Arc::new(AtomicBool::new(false));
        let counters: Arc<[AtomicU64; 6]> = Arc::new(Default::default());
        let until = Instant::now() + opts.duration;
        // Built before the clock matters: compressing 41 MiB takes a moment.
        bomb();
        let mut threads = Vec::new();
        for i in 0..opts.udp_threads {
            let (t, stop, c) = (target.clone(), stop.clone(), counters.clone());
            let rate = opts.packets_per_sec;
            threads.push(thread::spawn(move || {
                let mut rng = StdRng::seed_from_u64(seed ^ (i as u64 + 1));
                let sock = UdpSocket::bind("127.0.0.1:0").expect("udp");
                let me = sock.local_addr().expect("addr");
                let kinds = if t.serf {
                    PACKET_KINDS.len()
                } else {
                    PACKET_KINDS.len() - 1
                };
                paced(rate, until, &stop, || {
                    let kind = rng.gen_range(0..kinds);
                    let p = bad_packet(&t, &mut rng, kind, me);
                    if sock.send_to(&p, t.addr).is_ok() {
                        c[0].fetch_add(1, Ordering::Relaxed);
                        c[1].fetch_add(p.len() as u64, Ordering::Relaxed);
                    }
                });
            }));
        }
        {
            let (t, stop, c) = (target.clone(), stop.clone(), counters.clone());
            let rate = opts.streams_per_sec;
            threads.push(thread::spawn(move || {
                let mut rng = StdRng::seed_from_u64(seed ^ 0x5757);
                paced(rate, until, &stop, || {
                    let kind = rng.gen_range(0..STREAM_KINDS.len());
                    let bytes = bad_stream(&t, &mut rng, kind);
                    match TcpStream::connect_timeout(&t.addr, Duration::from_secs(1)) {
                        Ok(mut conn) => {
                            conn.set_write_timeout(Some(Duration::from_secs(1))).ok();
                            let _ = conn.write_all(&bytes);
                            c[2].fetch_add(1, Ordering::Relaxed);
                        }
                        Err(_) => {
                            c[3].fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }));
        }
        if opts.slow_loris > 0 {
            let (t, stop, c) = (target.clone(), stop.clone(), counters.clone());
            let want = opts.slow_loris;
            threads.push(thread::spawn(move || {
                slow_loris(&t, want, until, &stop, &c)
            }));
        }
        Flood {
            threads,
            stop,
            counters,
        }
    }

    /// Waits for the flood's end (its duration) and returns what was sent.
    pub fn finish(mut self) -> Totals {
        for t in std::mem::take(&mut self.threads) {
            t.join().expect("flood thread");
        }
        let c = |i: usize| self.counters[i].load(Ordering::Relaxed);
        Totals {
            packets: c(0),
            packet_bytes: c(1),
            streams: c(2),
            stream_connect_failures: c(3),
            slow_loris_opened: c(4),
            slow_loris_peak: c(5),
        }
    }
}

impl Drop for Flood {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Calls `send` about `rate` times a second until `until`, in bursts every 10 ms.
fn paced(rate: u32, until: Instant, stop: &AtomicBool, mut send: impl FnMut()) {
    let per_tick = (rate / 100).max(1);
    let tick = Duration::from_millis(10);
    let mut next = Instant::now();
    while Instant::now() < until && !stop.load(Ordering::Relaxed) {
        for _ in 0..per_tick {
            send();
        }
        next += tick;
        if let Some(d) = next.checked_duration_since(Instant::now()) {
            thread::sleep(d);
        }
    }
}

/// Keeps `want` connections open, each having sent a label header and the start of
/// a push/pull, then one more byte a second; never a whole frame.
fn slow_loris(t: &Target, want: usize, until: Instant, stop: &AtomicBool, c: &[AtomicU64; 6]) {
    let mut prefix = Vec::new();
    if let Some(l) = &t.label {
        l.write_header(&mut prefix);
    }
    if t.keyring.is_some() {
        // An encrypted frame declaring a 1 MiB body.
        prefix.push(MessageType::Encrypt as u8);
        prefix.extend_from_slice(&(1u32 << 20).to_be_bytes());
    } else {
        prefix.push(MessageType::PushPull as u8);
        PushPullHeader {
            nodes: GoInt::new(1000),
            user_state_len: GoInt::new(0),
            join: false,
        }
        .encode(&mut prefix);
    }
    let mut conns: Vec<TcpStream> = Vec::new();
    while Instant::now() < until && !stop.load(Ordering::Relaxed) {
        while conns.len() < want && Instant::now() < until {
            match TcpStream::connect_timeout(&t.addr, Duration::from_secs(1)) {
                Ok(mut s) => {
                    s.set_nonblocking(true).ok();
                    let _ = s.write(&prefix);
                    conns.push(s);
                    c[4].fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => break,
            }
        }
        c[5].fetch_max(conns.len() as u64, Ordering::Relaxed);
        // One byte each; a connection the target closed is dropped and replaced.
        conns.retain_mut(|s| {
            let mut b = [0u8; 64];
            match s.read(&mut b) {
                Ok(0) => return false,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return false,
            }
            !matches!(s.write(&[0x80]), Ok(0) | Err(_))
        });
        thread::sleep(Duration::from_secs(1));
    }
}

/// Round-trip times of pings sent through the flood, and the ones never answered.
#[derive(Debug, Default, Clone)]
pub struct Rtts {
    pub answered: Vec<Duration>,
    pub lost: u64,
}

impl Rtts {
    /// The `q` quantile (0..=1) of the answered pings.
    pub fn quantile(&self, q: f64) -> Duration {
        let mut v = self.answered.clone();
        v.sort();
        if v.is_empty() {
            return Duration::MAX;
        }
        v[((v.len() - 1) as f64 * q).round() as usize]
    }

    pub fn sent(&self) -> u64 {
        self.answered.len() as u64 + self.lost
    }
}

/// Sends UDP pings (named for the target, with its label and key) one every
/// `every` and waits up to `wait` for each ack.
pub struct UdpProber {
    sock: UdpSocket,
    target: Target,
    seq: u32,
}

impl UdpProber {
    pub fn new(target: &Target) -> UdpProber {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("udp");
        UdpProber {
            sock,
            target: target.clone(),
            seq: 0,
        }
    }

    /// One ping: its round trip, or `None` when no ack came within `wait`.
    pub fn ping(&mut self, wait: Duration) -> Option<Duration> {
        self.seq += 1;
        let me = self.sock.local_addr().expect("addr");
        let p = self
            .target
            .seal_packet(&self.target.ping(self.seq, me, &self.target.name));
        let start = Instant::now();
        self.sock.send_to(&p, self.target.addr).ok()?;
        let mut buf = vec![0u8; 65536];
        loop {
            let left = wait.checked_sub(start.elapsed())?;
            self.sock
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .ok();
            let Ok((n, _)) = self.sock.recv_from(&mut buf) else {
                return None;
            };
            let Ok(peeled) = peel_packet_owned(&buf[..n], &self.target.packet_config()) else {
                continue;
            };
            let acked = peeled
                .messages
                .iter()
                .any(|(_, m)| matches!(m, Ok(Message::AckResp(a)) if a.seq_no == self.seq));
            if acked {
                return Some(start.elapsed());
            }
        }
    }

    /// Pings every `every` until `until`, collecting the round trips.
    pub fn run_until(&mut self, until: Instant, every: Duration, wait: Duration) -> Rtts {
        let mut r = Rtts::default();
        while Instant::now() < until {
            let started = Instant::now();
            match self.ping(wait) {
                Some(d) => r.answered.push(d),
                None => r.lost += 1,
            }
            if let Some(d) = every.checked_sub(started.elapsed()) {
                thread::sleep(d);
            }
        }
        r
    }
}

/// A TCP fallback ping: one stream carrying a ping, answered by an ack frame.
pub fn tcp_ping(t: &Target, seq: u32, wait: Duration) -> Result<Duration, String> {
    let start = Instant::now();
    let mut conn =
        TcpStream::connect_timeout(&t.addr, wait).map_err(|e| format!("connect: {e}"))?;
    conn.set_read_timeout(Some(wait)).ok();
    conn.set_write_timeout(Some(wait)).ok();
    let me = conn.local_addr().expect("addr");
    let ping = t.ping(seq, me, &t.name);
    conn.write_all(&t.seal_stream(&ping))
        .map_err(|e| format!("write: {e}"))?;
    let mut buf = Vec::new();
    conn.read_to_end(&mut buf)
        .map_err(|e| format!("read: {e}"))?;
    let cfg = StreamConfig {
        label: LabelPolicy::Expect(t.label.as_ref()),
        keyring: t.keyring.as_ref(),
        verify_incoming: true,
        side: Side::Acceptor,
    };
    match decode_complete(&buf, &cfg)
        .map_err(|e| format!("reply: {e}"))?
        .message
    {
        StreamMessage::AckResp(a) if a.seq_no == seq => Ok(start.elapsed()),
        other => Err(format!("reply was not our ack: {other:?}")),
    }
}

/// Resident memory of a process, in KiB, from /proc.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// Samples a process's RSS every 100 ms in the background; the peak so far.
pub struct RssWatch {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl RssWatch {
    pub fn start(pid: u32) -> RssWatch {
        let peak = Arc::new(AtomicU64::new(rss_kib(pid).unwrap_or(0)));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (peak.clone(), stop.clone());
        let thread = thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Some(k) = rss_kib(pid) {
                    p.fetch_max(k, Ordering::Relaxed);
                }
                thread::sleep(Duration::from_millis(100));
            }
        });
        RssWatch {
            peak,
            stop,
            thread: Mutex::new(Some(thread)),
        }
    }

    pub fn peak_kib(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }
}

impl Drop for RssWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.lock().unwrap().take() {
            t.join().ok();
        }
    }
}
