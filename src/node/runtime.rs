//! The tokio shell around [`Machine`]: one UDP socket and one TCP listener on the
//! same port (or, on dskit's transport, the TCP listener alone), a task that owns the
//! machine, and a cloneable handle to talk to it.
//!
//! The shell only moves bytes and time. It feeds datagrams, stream frames and timer
//! expiries to the machine and carries out what the machine asks (send a datagram,
//! run a stream exchange), so all protocol behaviour stays in the machine, where the
//! simulator tests it.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::time::Instant;

use super::config::Config;
use super::delegate::Delegate;
use super::machine::{JoinId, Machine, NodeError, Output, StreamId, StreamRequest};
use super::stats::Counter;
use super::streams::StreamReply;
use super::time::Time;
use super::transport::Transport;
use crate::wire::dskit;
use crate::wire::{decode_frame, Decoded, Keyring, Label, LabelPolicy, Side, StreamConfig};
use crate::wire::{StreamMessage, WireError};

/// Largest datagram we read; Go's transport uses the same.
const UDP_RECV_BUFFER: usize = 65_536;
/// Largest dskit packet connection we read (dskit reads them whole, unbounded): its
/// packets are memberlist's UDP-sized ones, so anything this long is not one.
const DSKIT_PACKET_BYTES: usize = 1 << 20;
/// How long a dskit packet connection may take to dial and write (dskit's default
/// packet dial timeout).
const DSKIT_PACKET_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest stream frame we buffer: Go's push/pull state limit plus room for framing.
const MAX_STREAM_BYTES: usize = 48 * 1024 * 1024;
/// Stream bytes decoded on the member's own task; longer ones are decoded on a
/// blocking thread. A frame this short inflates to a few hundred KiB at most (about
/// a millisecond), while a 32 KiB compression bomb takes a fifth of a second to
/// reach Go's 40 MiB limit: decoded in the task, a few of them a second would stop
/// the member answering pings.
const INLINE_DECODE_BYTES: usize = 1024;
/// Long frames decoding or waiting to, beyond which another is refused (Go refuses
/// push/pulls beyond 128 at once). Each holds up to `MAX_STREAM_BYTES`, so this is
/// far below Go's 128.
const HEAVY_DECODE_QUEUE: usize = 8;

type Job<D> = Box<dyn FnOnce(&mut Shell<D>) + Send>;

/// A running member. Cloning gives another handle to the same member.
pub struct Memberlist<D> {
    jobs: mpsc::UnboundedSender<Job<D>>,
    local_addr: SocketAddr,
}

impl<D> std::fmt::Debug for Memberlist<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memberlist")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl<D> Clone for Memberlist<D> {
    fn clone(&self) -> Self {
        Memberlist {
            jobs: self.jobs.clone(),
            local_addr: self.local_addr,
        }
    }
}

/// Why the running member could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The machine refused the operation (bad config, unknown member, meta too large…).
    #[error(transparent)]
    Node(#[from] NodeError),
    /// A socket operation failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The UDP socket or TCP listener could not be bound: the port is taken, or the
    /// address is not one of this host's. (On dskit's transport only TCP is bound.)
    #[error(
        "cannot listen on {addr} (UDP and TCP): {source}; pick another address or \
         port (port 0 picks a free one)"
    )]
    Bind {
        /// The configured bind address and port.
        addr: SocketAddr,
        /// The system's error.
        source: io::Error,
    },
    /// [`Memberlist::shutdown`] ran (from this handle or a clone): nothing is running.
    #[error("the member has shut down")]
    Shutdown,
    /// Go's `Join` error: no peer could be synced with.
    #[error(transparent)]
    Join(#[from] JoinError),
    /// A broadcast we wait for (leave, meta update) was still queued at the deadline.
    #[error("timed out waiting for the {0} broadcast to be sent")]
    BroadcastTimeout(&'static str),
    /// Bound to the wildcard address with no interface to advertise.
    #[error("cannot advertise {0}: set an advertise address")]
    Advertise(IpAddr),
    /// A key operation on a member started without a keyring (`Config::keyring`).
    #[error("encryption is off: start the member with a keyring to manage keys")]
    NoKeyring,
    /// The keyring refused the change (unknown key, removing the primary key).
    #[error("keyring: {0}")]
    Keyring(#[source] WireError),
}

/// Why a join reached nobody: each peer's failure, in the order they failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("joined none of {attempted} members: {}", .errors.join("; "))]
pub struct JoinError {
    /// How many addresses were tried.
    pub attempted: usize,
    /// One line per failed peer: why, and the address when the connection failed.
    pub errors: Vec<String>,
}

impl<D: Delegate + Send + 'static> Memberlist<D> {
    /// Binds the sockets, creates the machine with `meta` and starts the task.
    pub async fn start(config: Config, meta: Vec<u8>, delegate: D) -> Result<Self, RuntimeError> {
        let addr = SocketAddr::new(config.bind_addr, config.bind_port);
        let transport = config.transport;
        let (udp, tcp) = bind(addr, transport)
            .await
            .map_err(|source| RuntimeError::Bind { addr, source })?;
        let bound = tcp.local_addr()?;
        let advertise = match config.advertise_addr {
            Some(ip) => SocketAddr::new(ip, config.advertise_port),
            None if bound.ip().is_unspecified() => {
                let ip = outbound_ip(bound.ip()).ok_or(RuntimeError::Advertise(bound.ip()))?;
                SocketAddr::new(ip, bound.port())
            }
            None => bound,
        };
        let epoch = Instant::now();
        let machine = Machine::new(
            config,
            advertise,
            meta,
            delegate,
            StdRng::from_entropy(),
            Time::ZERO,
        )?;
        let (jobs, job_rx) = mpsc::unbounded_channel();
        let (replies, reply_rx) = mpsc::unbounded_channel();
        let (inbound, inbound_rx) = mpsc::unbounded_channel();
        let (packets, packets_rx) = mpsc::unbounded_channel();
        let shell = Shell {
            heavy_decodes: Arc::new(Semaphore::new(1)),
            heavy_queue: Arc::new(Semaphore::new(HEAVY_DECODE_QUEUE)),
            machine,
            epoch,
            udp,
            replies,
            inbound,
            packets,
            transport,
            advertised: advertise.to_string(),
            joins: Vec::new(),
            stopped: false,
        };
        tokio::spawn(shell.run(tcp, job_rx, reply_rx, inbound_rx, packets_rx));
        Ok(Memberlist {
            jobs,
            local_addr: advertise,
        })
    }

    /// The address we advertise (the bound port when it was 0 in the config).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Runs `f` on the machine inside its task and returns the result.
    pub async fn with<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Machine<D>, Time) -> R + Send + 'static,
    ) -> Result<R, RuntimeError> {
        let (tx, rx) = oneshot::channel();
        let job: Job<D> = Box::new(move |shell: &mut Shell<D>| {
            let now = shell.now();
            let _ = tx.send(f(&mut shell.machine, now));
        });
        self.jobs.send(job).map_err(|_| RuntimeError::Shutdown)?;
        rx.await.map_err(|_| RuntimeError::Shutdown)
    }

    /// Joins through the given members (Go's `Join`): a push/pull with each in turn. Returns
    /// how many answered; an error only when none did ([`JoinError`] says why each
    /// failed). An empty list joins nobody and is not an error.
    pub async fn join(&self, peers: Vec<SocketAddr>) -> Result<usize, RuntimeError> {
        let attempted = peers.len();
        let (tx, rx) = oneshot::channel();
        let job: Job<D> = Box::new(move |shell: &mut Shell<D>| {
            let now = shell.now();
            let id = shell.machine.join(now, &peers);
            shell.joins.push((id, tx));
        });
        self.jobs.send(job).map_err(|_| RuntimeError::Shutdown)?;
        let outcome = rx.await.map_err(|_| RuntimeError::Shutdown)?;
        if outcome.joined == 0 && !outcome.errors.is_empty() {
            return Err(JoinError {
                attempted,
                errors: outcome.errors,
            }
            .into());
        }
        Ok(outcome.joined)
    }

    /// Broadcasts new meta and waits (up to `timeout`) until it has been gossiped.
    pub async fn update_meta(&self, meta: Vec<u8>, timeout: Duration) -> Result<(), RuntimeError> {
        let id = self.with(move |m, now| m.update_meta(now, meta)).await??;
        self.wait_for(timeout, "meta update", move |m| m.broadcast_done(id))
            .await
    }

    /// Leaves gracefully: broadcasts our departure and waits (up to `timeout`) until
    /// it has been gossiped. The member keeps running until [`Self::shutdown`].
    pub async fn leave(&self, timeout: Duration) -> Result<(), RuntimeError> {
        self.with(|m, now| m.leave(now)).await?;
        self.wait_for(timeout, "leave", |m| m.leave_broadcast_done())
            .await
    }

    /// Stops the task and closes the sockets, without telling anyone.
    pub async fn shutdown(&self) -> Result<(), RuntimeError> {
        let (tx, rx) = oneshot::channel();
        let job: Job<D> = Box::new(move |shell: &mut Shell<D>| {
            shell.stopped = true;
            let _ = tx.send(());
        });
        self.jobs.send(job).map_err(|_| RuntimeError::Shutdown)?;
        rx.await.map_err(|_| RuntimeError::Shutdown)
    }

    async fn wait_for(
        &self,
        timeout: Duration,
        what: &'static str,
        done: impl Fn(&Machine<D>) -> bool + Send + Sync + Clone + 'static,
    ) -> Result<(), RuntimeError> {
        let until = Instant::now() + timeout;
        loop {
            let check = done.clone();
            if self.with(move |m, _| check(m)).await? {
                return Ok(());
            }
            if Instant::now() >= until {
                return Err(RuntimeError::BroadcastTimeout(what));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// The outcome of an outgoing stream exchange, back to the machine's task.
struct Reply {
    id: StreamId,
    result: Result<Option<StreamMessage<'static>>, String>,
}

/// A frame read from an accepted connection, waiting for the machine's answer.
struct Inbound {
    from: SocketAddr,
    frame: Result<StreamMessage<'static>, WireError>,
    answer: oneshot::Sender<Option<Vec<u8>>>,
}

/// What a dskit connection's task read before the machine could see it.
enum DskitInput {
    /// A packet connection's packet and the address its sender advertised.
    Packet(SocketAddr, Vec<u8>),
    /// A connection that did not frame as dskit's: counted and explained.
    Bad(Counter, String),
}

/// The task's state: the machine and what it needs to carry out outputs.
struct Shell<D> {
    machine: Machine<D>,
    epoch: Instant,
    /// `None` on dskit's transport, which carries packets over TCP.
    udp: Option<UdpSocket>,
    replies: mpsc::UnboundedSender<Reply>,
    inbound: mpsc::UnboundedSender<Inbound>,
    /// Packets (and framing errors) read by dskit connections' tasks.
    packets: mpsc::UnboundedSender<DskitInput>,
    transport: Transport,
    /// Our advertised `host:port` as dskit writes it in every packet connection.
    advertised: String,
    joins: Vec<(JoinId, oneshot::Sender<super::machine::JoinOutcome>)>,
    stopped: bool,
    /// One long stream frame decoded at a time, whatever the number of connections:
    /// a flood of them takes one core, never the member's task.
    heavy_decodes: Arc<Semaphore>,
    /// Places for long frames decoding or waiting to ([`HEAVY_DECODE_QUEUE`]).
    heavy_queue: Arc<Semaphore>,
}

impl<D: Delegate + Send + 'static> Shell<D> {
    fn now(&self) -> Time {
        Time::from_epoch(self.epoch.elapsed())
    }

    fn instant(&self, t: Time) -> Instant {
        self.epoch
            .checked_add(t.since_epoch())
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400 * 365))
    }

    async fn run(
        mut self,
        tcp: TcpListener,
        mut jobs: mpsc::UnboundedReceiver<Job<D>>,
        mut replies: mpsc::UnboundedReceiver<Reply>,
        mut inbound: mpsc::UnboundedReceiver<Inbound>,
        mut packets: mpsc::UnboundedReceiver<DskitInput>,
    ) {
        let mut buf = vec![0u8; UDP_RECV_BUFFER];
        // One timer entry for the task's life, moved only when the machine's next
        // deadline changes: re-registering a fresh one on every input costs wake-ups.
        let timer = tokio::time::sleep_until(self.instant(self.machine.poll_timeout()));
        tokio::pin!(timer);
        while !self.stopped {
            self.flush().await;
            let wake = self.instant(self.machine.poll_timeout());
            if timer.deadline() != wake {
                timer.as_mut().reset(wake);
            }
            tokio::select! {
                r = recv_datagram(self.udp.as_ref(), &mut buf) => {
                    if let Ok((n, from)) = r {
                        let now = self.now();
                        self.machine.handle_packet(now, from, &buf[..n]);
                    }
                }
                Some(input) = packets.recv() => match input {
                    DskitInput::Packet(from, packet) => {
                        let now = self.now();
                        self.machine.handle_packet(now, from, &packet);
                    }
                    DskitInput::Bad(counter, detail) => {
                        self.machine.count_transport_error(counter, || detail);
                    }
                },
                r = tcp.accept() => {
                    if let Ok((conn, from)) = r {
                        self.accept(conn, from);
                    }
                }
                Some(reply) = replies.recv() => {
                    let now = self.now();
                    let result = match reply.result {
                        Ok(Some(frame)) => StreamReply::Frame(frame),
                        Ok(None) => StreamReply::Sent,
                        Err(e) => StreamReply::Failed(e),
                    };
                    self.machine.handle_stream_reply(now, reply.id, result);
                }
                Some(inb) = inbound.recv() => {
                    let now = self.now();
                    let answer = self.machine.handle_inbound_stream(now, inb.from, inb.frame);
                    let _ = inb.answer.send(answer);
                }
                job = jobs.recv() => match job {
                    Some(job) => job(&mut self),
                    None => break,
                },
                _ = &mut timer => {
                    let now = self.now();
                    self.machine.handle_timeout(now);
                }
            }
        }
    }

    /// Carries out everything the machine asked for.
    async fn flush(&mut self) {
        let now = self.now();
        self.machine.drive_delegate(now);
        while let Some(out) = self.machine.poll_output() {
            match out {
                Output::Transmit(t) => match &self.udp {
                    // Best effort, as UDP is: a failed send is a lost packet.
                    Some(udp) => _ = udp.send_to(&t.packet, t.to).await,
                    None => self.send_dskit_packet(t.to, &t.packet),
                },
                Output::Stream(req) => self.dial(req),
                Output::JoinDone(outcome) => {
                    if let Some(i) = self.joins.iter().position(|(id, _)| *id == outcome.id) {
                        let (_, tx) = self.joins.swap_remove(i);
                        let _ = tx.send(outcome);
                    }
                }
            }
        }
    }

    fn reader(&self) -> FrameReader {
        let c = self.machine.config();
        FrameReader {
            keyring: c.keyring.clone(),
            label: c.label.clone(),
            skip_label_check: c.skip_inbound_label_check,
            verify_incoming: c.gossip_verify_incoming,
            metrics: c.metrics.clone(),
            heavy: self.heavy_decodes.clone(),
            heavy_queue: self.heavy_queue.clone(),
        }
    }

    /// One packet on a connection of its own, as dskit sends it; as with UDP, a
    /// packet that cannot be delivered is lost (dskit logs it).
    fn send_dskit_packet(&self, to: SocketAddr, packet: &[u8]) {
        // An address of a socket is far shorter than dskit's 255-byte limit.
        let Ok(bytes) = dskit::build_packet(&self.advertised, packet) else {
            return;
        };
        tokio::spawn(tokio::time::timeout(DSKIT_PACKET_TIMEOUT, async move {
            let mut conn = TcpStream::connect(to).await?;
            conn.write_all(&bytes).await?;
            conn.shutdown().await
        }));
    }

    fn dial(&self, req: StreamRequest) {
        let reader = self.reader();
        let marker = (self.transport == Transport::Dskit).then_some(dskit::STREAM);
        let deadline = self.instant(req.deadline);
        let replies = self.replies.clone();
        tokio::spawn(async move {
            // Each failure names the peer: a join's error lists one line per peer.
            let to = req.to;
            let exchange = async {
                let mut conn = TcpStream::connect(to)
                    .await
                    .map_err(|e| format!("connecting to {to}: {e}"))?;
                if let Some(marker) = marker {
                    conn.write_all(&[marker])
                        .await
                        .map_err(|e| format!("writing to {to}: {e}"))?;
                }
                conn.write_all(&req.bytes)
                    .await
                    .map_err(|e| format!("writing to {to}: {e}"))?;
                if !req.expect_reply {
                    return Ok(None);
                }
                reader
                    .read_frame(&mut conn, Side::Acceptor)
                    .await
                    .map(Some)
                    .map_err(|e| format!("reading from {to}: {e}"))
            };
            let result = match tokio::time::timeout_at(deadline, exchange).await {
                Ok(r) => r,
                Err(_) => Err(format!("timed out talking to {}", req.to)),
            };
            let _ = replies.send(Reply { id: req.id, result });
        });
    }

    fn accept(&self, conn: TcpStream, from: SocketAddr) {
        let reader = self.reader();
        let inbound = self.inbound.clone();
        let packets = self.packets.clone();
        let limit = self.machine.config().tcp_timeout;
        let transport = self.transport;
        tokio::spawn(async move {
            let mut conn = conn;
            if transport == Transport::Dskit {
                let mut kind = [0u8];
                match tokio::time::timeout(limit, conn.read_exact(&mut kind)).await {
                    Ok(Ok(_)) if kind[0] == dskit::STREAM => {}
                    Ok(Ok(_)) if kind[0] == dskit::PACKET => {
                        return read_dskit_packet(conn, from, limit, packets).await;
                    }
                    // Not dskit's: dropped, as dskit drops it.
                    Ok(Ok(_)) => {
                        let detail = format!(
                            "connection from {from} starts with byte {}, neither dskit's packet \
                             ({}) nor stream ({}) marker: is it a plain memberlist member?",
                            kind[0],
                            dskit::PACKET,
                            dskit::STREAM
                        );
                        let _ = packets.send(DskitInput::Bad(Counter::BadStreams, detail));
                        return;
                    }
                    // Nothing came (a port check), or the connection failed.
                    _ => return,
                }
            }
            serve_stream(conn, from, reader, inbound, limit).await;
        });
    }
}

/// Reads a stream frame from an accepted connection, hands it to the machine and
/// writes back its answer.
async fn serve_stream(
    mut conn: TcpStream,
    from: SocketAddr,
    reader: FrameReader,
    inbound: mpsc::UnboundedSender<Inbound>,
    limit: Duration,
) {
    // A stream that stops short, or outlasts the TCP timeout (a slow-loris
    // dialer), is a bad stream like one that does not decode: the machine
    // counts it and answers with an error, as Go does.
    let frame = match tokio::time::timeout(limit, reader.read_frame(&mut conn, Side::Dialer)).await
    {
        Ok(Ok(f)) => Ok(f),
        Ok(Err(ReadError::Wire(e))) => Err(e),
        // Nothing sent at all (a port check), or the connection failed.
        Ok(Err(ReadError::Closed { after: 0 } | ReadError::Io(_))) => return,
        Ok(Err(ReadError::Closed { .. })) => Err(WireError::Truncated(
            "stream frame (the dialer closed the connection before its end)",
        )),
        Err(_) => Err(WireError::Truncated(
            "stream frame (the TCP timeout passed before its end)",
        )),
    };
    let (answer, rx) = oneshot::channel();
    if inbound
        .send(Inbound {
            from,
            frame,
            answer,
        })
        .is_err()
    {
        return;
    }
    let reply = async {
        if let Ok(Some(bytes)) = rx.await {
            let _ = conn.write_all(&bytes).await;
            let _ = conn.shutdown().await;
        }
    };
    let _ = tokio::time::timeout(limit, reply).await;
}

/// The rest of a dskit packet connection (after its marker), up to its end: the packet
/// goes to the machine as if it came from the address its sender advertised. A
/// connection that is cut short, too long, or names no address is dropped, as a
/// damaged datagram would be; a digest mismatch is delivered, as dskit does.
async fn read_dskit_packet(
    conn: TcpStream,
    peer: SocketAddr,
    limit: Duration,
    packets: mpsc::UnboundedSender<DskitInput>,
) {
    let mut bytes = vec![dskit::PACKET];
    let mut conn = conn.take(DSKIT_PACKET_BYTES as u64 + 1);
    let read = conn.read_to_end(&mut bytes);
    let bad = |detail: String| DskitInput::Bad(Counter::BadPackets, detail);
    let input = match tokio::time::timeout(limit, read).await {
        Err(_) => bad(format!(
            "dskit packet connection from {peer} still open after the TCP timeout"
        )),
        Ok(Err(e)) => bad(format!("dskit packet connection from {peer}: {e}")),
        Ok(Ok(_)) if bytes.len() > DSKIT_PACKET_BYTES => bad(format!(
            "dskit packet connection from {peer} is longer than {DSKIT_PACKET_BYTES} bytes"
        )),
        Ok(Ok(_)) => match dskit::parse_packet(&bytes) {
            Err(e) => bad(format!("from {peer}: {e}")),
            Ok(frame) => {
                let text = String::from_utf8_lossy(frame.from);
                match text.parse::<SocketAddr>() {
                    Ok(from) => DskitInput::Packet(from, frame.packet.to_vec()),
                    Err(_) => bad(format!(
                        "dskit packet connection from {peer} names {text:?} as its sender, \
                         not an IP:port"
                    )),
                }
            }
        },
    };
    let _ = packets.send(input);
}

/// The next datagram, or never on a transport without UDP.
async fn recv_datagram(udp: Option<&UdpSocket>, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
    match udp {
        Some(udp) => udp.recv_from(buf).await,
        None => std::future::pending().await,
    }
}

/// What a connection task needs to decode frames without the machine: a snapshot
/// of the keyring and label taken when the connection started.
#[derive(Clone)]
struct FrameReader {
    keyring: Option<Keyring>,
    label: Option<Label>,
    skip_label_check: bool,
    verify_incoming: bool,
    metrics: super::metrics::Metrics,
    heavy: Arc<Semaphore>,
    heavy_queue: Arc<Semaphore>,
}

#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error("connection closed before a whole frame")]
    Closed {
        /// Bytes received before it closed.
        after: usize,
    },
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("{0}")]
    Wire(#[from] WireError),
}

impl FrameReader {
    /// Reads until one whole frame written by `side` decodes.
    async fn read_frame(
        &self,
        conn: &mut TcpStream,
        side: Side,
    ) -> Result<StreamMessage<'static>, ReadError> {
        // Read straight into the frame's buffer: a connection holds what it has
        // sent, not a fixed chunk (a slow-loris connection has sent a few bytes).
        let mut buf = Vec::with_capacity(1024);
        loop {
            if !buf.is_empty() {
                let decoded;
                (buf, decoded) = self.decode(buf, side).await?;
                if let Some(message) = decoded {
                    return Ok(message);
                }
            }
            if buf.len() >= MAX_STREAM_BYTES {
                return Err(WireError::LimitExceeded {
                    what: "stream frame bytes",
                    value: buf.len() as u64 + 1,
                    limit: MAX_STREAM_BYTES as u64,
                }
                .into());
            }
            if buf.capacity() == buf.len() {
                buf.reserve(
                    (buf.len())
                        .clamp(1024, 1 << 20)
                        .min(MAX_STREAM_BYTES - buf.len()),
                );
            }
            let before = buf.len();
            let spare = buf.capacity() - before;
            let n = (&mut *conn).take(spare as u64).read_buf(&mut buf).await?;
            if n == 0 {
                return Err(ReadError::Closed { after: before });
            }
        }
    }

    /// Tries to decode the bytes so far: short ones here, long ones (which may
    /// inflate to 40 MiB) on a blocking thread, one at a time. Gives the bytes back.
    async fn decode(
        &self,
        buf: Vec<u8>,
        side: Side,
    ) -> Result<(Vec<u8>, Option<StreamMessage<'static>>), ReadError> {
        if buf.len() <= INLINE_DECODE_BYTES {
            let decoded = self.decode_now(&buf, side)?;
            return Ok((buf, decoded));
        }
        // A place in the queue, or the frame is refused: queued connections hold
        // their bytes, so the queue is what bounds the memory a flood of them takes.
        let Ok(_queued) = self.heavy_queue.clone().try_acquire_owned() else {
            return Err(WireError::LimitExceeded {
                what: "long stream frames waiting to be decoded",
                value: HEAVY_DECODE_QUEUE as u64 + 1,
                limit: HEAVY_DECODE_QUEUE as u64,
            }
            .into());
        };
        let _permit = self
            .heavy
            .acquire()
            .await
            .map_err(|_| io::Error::other("the member has shut down"))?;
        let reader = self.clone();
        let (buf, decoded) = tokio::task::spawn_blocking(move || {
            let decoded = reader.decode_now(&buf, side);
            (buf, decoded)
        })
        .await
        .map_err(|e| io::Error::other(format!("stream decoder: {e}")))?;
        Ok((buf, decoded?))
    }

    fn decode_now(
        &self,
        buf: &[u8],
        side: Side,
    ) -> Result<Option<StreamMessage<'static>>, WireError> {
        let cfg = StreamConfig {
            label: LabelPolicy::inbound(self.label.as_ref(), self.skip_label_check),
            keyring: self.keyring.as_ref(),
            verify_incoming: self.verify_incoming,
            side,
        };
        let Decoded::Frame(f) = decode_frame(buf, &cfg)? else {
            return Ok(None);
        };
        if f.decrypted.is_some() {
            // Go samples the encrypted length it reads from the header.
            let label = if f.label.is_empty() {
                0
            } else {
                2 + f.label.len()
            };
            let len = f.consumed.saturating_sub(label + 5);
            self.metrics
                .sample(&super::metrics::SIZE_REMOTE, len as f32);
        }
        Ok(Some(f.message.into_owned()))
    }
}

/// Binds TCP and UDP on the same port; with port 0, retries until both get one. On
/// dskit's transport, TCP alone.
async fn bind(
    addr: SocketAddr,
    transport: Transport,
) -> io::Result<(Option<UdpSocket>, TcpListener)> {
    if transport == Transport::Dskit {
        return Ok((None, TcpListener::bind(addr).await?));
    }
    let port = addr.port();
    let mut last = None;
    for _ in 0..10 {
        let tcp = TcpListener::bind(addr).await?;
        let bound = tcp.local_addr()?;
        match UdpSocket::bind(bound).await {
            Ok(udp) => return Ok((Some(udp), tcp)),
            Err(e) if port == 0 => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("could not bind")))
}

/// The local address the system would use to reach other hosts, for a node bound
/// to the wildcard address (Go picks a private interface address similarly).
fn outbound_ip(wildcard: IpAddr) -> Option<IpAddr> {
    let (bind, probe): (SocketAddr, SocketAddr) = match wildcard {
        IpAddr::V4(_) => ("0.0.0.0:0".parse().ok()?, "10.254.254.254:9".parse().ok()?),
        IpAddr::V6(_) => ("[::]:0".parse().ok()?, "[fd00::1]:9".parse().ok()?),
    };
    let s = StdUdpSocket::bind(bind).ok()?;
    s.connect(probe).ok()?;
    s.local_addr().ok().map(|a| a.ip())
}
