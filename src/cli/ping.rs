//! `memberlist ping ADDR`: is a member reachable, and if not, why? A UDP ping, then a
//! TCP ping, each with its round-trip time or the likely cause of its failure.

use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use rand::Rng;

use memberlist_interop::wire::{
    build_packet, build_stream, peel_packet, Encryption, EncryptionVersion, Keyring, Label,
    LabelPolicy, Message, PacketConfig, PacketOptions, Ping, Side, StreamMessage, StreamOptions,
    WireError,
};

use super::gossip::{resolve, Security};
use memberlist_interop::node::exchange::{exchange, Answer};

#[derive(clap::Args)]
pub struct Args {
    /// The member's gossip address (`host`, `host:port`).
    addr: String,
    /// The member's node name; Go ignores pings for another name, so leave it out
    /// unless you want to check the name too.
    #[arg(long, default_value = "")]
    name: String,
    #[command(flatten)]
    security: Security,
    /// How long to wait for each answer, e.g. 2s or 500ms.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = super::duration::parse)]
    timeout: Duration,
}

pub fn run(args: Args) -> ExitCode {
    match ping(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("memberlist ping: {e}");
            ExitCode::from(2)
        }
    }
}

fn ping(args: &Args) -> Result<bool, String> {
    let to = resolve(&args.addr)?;
    let keyring = args.security.keyring()?;
    let label = args.security.label()?;
    let timeout = args.timeout;
    let seq: u32 = rand::thread_rng().gen();
    let ping = Ping {
        seq_no: seq,
        node: args.name.as_str().into(),
        ..Ping::default()
    };
    let encryption = keyring.as_ref().map(|k| Encryption {
        keyring: k,
        version: EncryptionVersion::V1,
        nonce: None,
    });

    let udp = udp_ping(
        to,
        &ping,
        keyring.as_ref(),
        label.as_ref(),
        encryption,
        timeout,
    );
    match &udp {
        Ok(rtt) => println!("UDP ping {to}: ack in {}", ms(*rtt)),
        Err(why) => println!("UDP ping {to}: {why}"),
    }

    let frame = build_stream(
        &StreamMessage::Ping(ping.clone()),
        &StreamOptions {
            compress: false,
            encryption,
            label: label.as_ref(),
            side: Some(Side::Dialer),
        },
    );
    let tcp = match exchange(to, &frame, keyring.as_ref(), label.as_ref(), timeout) {
        Ok(Answer {
            message: StreamMessage::AckResp(a),
            rtt,
            ..
        }) if a.seq_no == seq => {
            println!("TCP ping {to}: ack in {}", ms(rtt));
            true
        }
        Ok(Answer { message, .. }) => {
            println!(
                "TCP ping {to}: unexpected {:?} answer",
                message.message_type()
            );
            false
        }
        Err(f) => {
            println!(
                "TCP ping {to}: no ack: {}",
                f.likely_cause(keyring.as_ref(), label.as_ref())
            );
            false
        }
    };
    if udp.is_err() && tcp {
        println!("TCP works but UDP does not: a firewall probably drops UDP; memberlist then relies on TCP fallback pings and flaps");
    }
    Ok(udp.is_ok() || tcp)
}

/// Whether a memberlist member (Go, Serf, Consul or ours) acks a UDP ping at `to`
/// within `timeout`: how the agent tells what holds a gossip port it cannot bind.
pub(super) fn answers_ping(
    to: SocketAddr,
    keyring: Option<&Keyring>,
    label: Option<&Label>,
) -> bool {
    let ping = Ping {
        seq_no: rand::thread_rng().gen(),
        ..Ping::default()
    };
    let encryption = keyring.map(|k| Encryption {
        keyring: k,
        version: EncryptionVersion::V1,
        nonce: None,
    });
    udp_ping(
        to,
        &ping,
        keyring,
        label,
        encryption,
        Duration::from_secs(1),
    )
    .is_ok()
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

/// Sends one ping datagram and waits for the ack with our sequence number; the
/// error says what came back instead, if anything.
fn udp_ping(
    to: SocketAddr,
    ping: &Ping<'_>,
    keyring: Option<&Keyring>,
    label: Option<&Label>,
    encryption: Option<Encryption<'_>>,
    timeout: Duration,
) -> Result<Duration, String> {
    let local: SocketAddr = if to.is_ipv4() {
        "0.0.0.0:0".parse().map_err(|_| "bad address")?
    } else {
        "[::]:0".parse().map_err(|_| "bad address")?
    };
    let sock = UdpSocket::bind(local).map_err(|e| e.to_string())?;
    let packet = build_packet(
        &[Message::Ping(ping.clone()).to_bytes()],
        &PacketOptions {
            compress: false,
            crc: false,
            encryption,
            label,
        },
    )
    .map_err(|e| e.to_string())?;
    let start = Instant::now();
    sock.send_to(&packet, to).map_err(|e| e.to_string())?;
    let cfg = PacketConfig {
        label: LabelPolicy::Expect(label),
        keyring,
        verify_incoming: keyring.is_some(),
    };
    let mut buf = vec![0u8; 65_536];
    let mut last_problem = None;
    loop {
        let left = timeout.saturating_sub(start.elapsed());
        if left.is_zero() {
            return Err(last_problem.unwrap_or_else(|| {
                "no answer: nothing listening on UDP, a firewall, or the peer dropped our ping (wrong key or label, or another node name)".to_string()
            }));
        }
        sock.set_read_timeout(Some(left))
            .map_err(|e| e.to_string())?;
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            continue;
        };
        if from.ip() != to.ip() {
            continue;
        }
        let mut acked = false;
        let peeled = peel_packet(&buf[..n], &cfg, |_, m| {
            if let Ok(Message::AckResp(a)) = m {
                acked |= a.seq_no == ping.seq_no;
            }
        });
        match peeled {
            Ok(_) if acked => return Ok(start.elapsed()),
            Ok(_) => {}
            Err(WireError::LabelMismatch { got, .. }) => {
                last_problem = Some(format!("answer carries label {got:?}: pass --label {got}"))
            }
            Err(e) => {
                last_problem = Some(format!(
                    "answer did not decode: {e} (wrong or missing --key?)"
                ))
            }
        }
    }
}
