//! A deliberately broken member for negative conformance tests: a small UDP/TCP
//! responder on our codec that answers pings and push/pulls, with the flaws a test
//! picks (acks with the wrong sequence number, never refutes, ignores labels).

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use memberlist_interop::wire::{
    build_packet, build_stream, decode_frame, peel_packet, AckResp, Decoded, Label, LabelPolicy,
    Message, NodeState, PacketConfig, PacketOptions, PushNodeState, Side, StreamConfig,
    StreamMessage, StreamOptions,
};

/// What the fake gets wrong; the default gets nothing wrong.
#[derive(Clone, Copy, Debug, Default)]
pub struct Flaws {
    /// Acks every ping with its sequence number plus one.
    pub wrong_seq: bool,
    /// Never raises its incarnation when accused.
    pub never_refutes: bool,
    /// Takes packets and streams under any label (or none).
    pub ignores_labels: bool,
}

pub struct FakePeer {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

struct State {
    name: String,
    addr: SocketAddr,
    label: Option<Label>,
    flaws: Flaws,
    incarnation: AtomicU32,
}

impl State {
    fn label_policy(&self) -> LabelPolicy<'_> {
        if self.flaws.ignores_labels {
            LabelPolicy::Any
        } else {
            LabelPolicy::Expect(self.label.as_ref())
        }
    }

    fn ack_seq(&self, seq: u32) -> u32 {
        if self.flaws.wrong_seq {
            seq.wrapping_add(1)
        } else {
            seq
        }
    }

    fn accused(&self, node: &[u8], incarnation: u32) {
        if node == self.name.as_bytes() && !self.flaws.never_refutes {
            self.incarnation
                .fetch_max(incarnation + 1, Ordering::SeqCst);
        }
    }

    fn own_entry(&self) -> PushNodeState<'static> {
        let IpAddr::V4(ip) = self.addr.ip() else {
            unreachable!("bound on IPv4")
        };
        PushNodeState {
            name: self.name.clone().into(),
            addr: Some(ip.octets().to_vec().into()),
            port: self.addr.port(),
            meta: Some(Vec::new().into()),
            incarnation: self.incarnation.load(Ordering::SeqCst),
            state: NodeState::Alive,
            vsn: Some(vec![1, 5, 2, 0, 0, 0].into()),
        }
    }
}

impl FakePeer {
    /// Starts `name` on a free loopback port with `label` (if any) and `flaws`.
    pub fn spawn(name: &str, label: Option<&str>, flaws: Flaws) -> FakePeer {
        let (udp, tcp) = bind_pair();
        let addr = udp.local_addr().unwrap();
        let state = Arc::new(State {
            name: name.to_owned(),
            addr,
            label: label.map(|l| Label::new(l).unwrap()),
            flaws,
            incarnation: AtomicU32::new(1),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let threads = vec![
            {
                let (state, stop) = (state.clone(), stop.clone());
                std::thread::spawn(move || serve_udp(&udp, &state, &stop))
            },
            {
                let (state, stop) = (state.clone(), stop.clone());
                std::thread::spawn(move || serve_tcp(&tcp, &state, &stop))
            },
        ];
        FakePeer {
            addr,
            stop,
            threads,
        }
    }
}

impl Drop for FakePeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            t.join().ok();
        }
    }
}

/// A UDP socket and a TCP listener on the same free loopback port.
fn bind_pair() -> (UdpSocket, TcpListener) {
    for _ in 0..64 {
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        if let Ok(tcp) = TcpListener::bind(udp.local_addr().unwrap()) {
            return (udp, tcp);
        }
    }
    panic!("no loopback port free for both UDP and TCP");
}

fn serve_udp(sock: &UdpSocket, state: &State, stop: &AtomicBool) {
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut buf = vec![0u8; 65_536];
    while !stop.load(Ordering::SeqCst) {
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let cfg = PacketConfig {
            label: state.label_policy(),
            keyring: None,
            verify_incoming: true,
        };
        let mut acks = Vec::new();
        let _ = peel_packet(&buf[..n], &cfg, |_, m| match m {
            Ok(Message::Ping(p))
                if p.node.is_empty() || p.node.as_bytes() == state.name.as_bytes() =>
            {
                acks.push(state.ack_seq(p.seq_no))
            }
            Ok(Message::Suspect(a) | Message::Dead(a)) => {
                state.accused(a.node.as_bytes(), a.incarnation)
            }
            _ => {}
        });
        for seq in acks {
            let ack = Message::AckResp(AckResp {
                seq_no: seq,
                payload: None,
            })
            .to_bytes();
            let opts = PacketOptions {
                label: state.label.as_ref(),
                ..PacketOptions::default()
            };
            let _ = sock.send_to(&build_packet(&[ack], &opts).unwrap(), from);
        }
    }
}

fn serve_tcp(listener: &TcpListener, state: &State, stop: &AtomicBool) {
    listener.set_nonblocking(true).unwrap();
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((conn, _)) => answer(conn, state),
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Reads one frame and answers a ping or a push/pull; anything else is dropped.
fn answer(mut conn: TcpStream, state: &State) {
    conn.set_nonblocking(false).ok();
    conn.set_read_timeout(Some(Duration::from_millis(500))).ok();
    let cfg = StreamConfig {
        label: state.label_policy(),
        keyring: None,
        verify_incoming: true,
        // The bytes were written by the dialer, who sends the label header.
        side: Side::Dialer,
    };
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let reply = loop {
        let Ok(n) = conn.read(&mut chunk) else { return };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        match decode_frame(&buf, &cfg) {
            Ok(Decoded::NeedMore) => continue,
            Ok(Decoded::Frame(f)) => match f.message {
                StreamMessage::Ping(p) => {
                    break StreamMessage::AckResp(AckResp {
                        seq_no: state.ack_seq(p.seq_no),
                        payload: None,
                    })
                }
                StreamMessage::PushPull { .. } => {
                    break StreamMessage::push_pull(false, vec![state.own_entry()], Vec::new())
                }
                _ => return,
            },
            Err(_) => return,
        }
    };
    let opts = StreamOptions {
        label: state.label.as_ref(),
        side: Some(Side::Acceptor),
        ..StreamOptions::default()
    };
    let _ = conn.write_all(&build_stream(&reply, &opts));
}
