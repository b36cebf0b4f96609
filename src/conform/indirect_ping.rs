//! An indirect ping request is carried out: the peer pings the target we name and
//! relays its ack; and when the target stays silent, the peer answers with a nack
//! after its probe timeout (protocol ≥ 4; Lifeguard's nacks).

use std::net::UdpSocket;
use std::time::Duration;

use crate::wire::{AckResp, Bytes, IndirectPingReq, Message};

use super::session::{ip_bytes, unspecified_for};
use super::{Check, Session, Verdict};

pub const CHECK: Check = Check {
    id: "indirect-ping",
    title: "indirect ping is relayed, and nacked when the target is silent",
    serf_only: false,
    run,
};

/// Longest probe timeout of Go's profiles (WAN), which the peer waits before a nack.
const LONGEST_PROBE_TIMEOUT: Duration = Duration::from_secs(3);

fn run(s: &mut Session) -> Verdict {
    let peer = match s.peer() {
        Ok(p) => p,
        Err(v) => return v,
    };
    match peer.protocol_max() {
        Some(max) if max >= 4 => {}
        max => {
            return Verdict::NotApplicable(format!(
                "nacks came with protocol 4; the peer's maximum is {max:?}"
            ))
        }
    }
    let target = match UdpSocket::bind(unspecified_for(s.target)) {
        Ok(t) => t,
        Err(e) => return Verdict::Fail(format!("binding a target socket: {e}")),
    };
    let target_port = target.local_addr().map(|a| a.port()).unwrap_or(0);
    let target_ip = s.source_ip();

    // 1. The target answers: the peer relays the ack under our sequence number.
    let seq = s.next_seq();
    let name = s.name_for("target");
    let request = |seq: u32, node: &str| {
        Message::IndirectPing(IndirectPingReq {
            seq_no: seq,
            target: Some(Bytes::from(ip_bytes(target_ip))),
            port: target_port,
            node: node.into(),
            nack: true,
            ..IndirectPingReq::default()
        })
        .to_bytes()
    };
    let datagram = s.wrap(&[request(seq, &name)]);
    s.send_udp(
        &format!("indirect ping seq={seq} for {name} at {target_ip}:{target_port}"),
        &datagram,
    );
    let probe = s.await_on(&target, s.timeout, |m| match m {
        Message::Ping(p) if p.node.as_bytes() == name.as_bytes() => Some(p.seq_no),
        _ => None,
    });
    let Some(probe_seq) = probe else {
        return Verdict::Fail(format!("asked to probe {name}, the peer sent it no ping"));
    };
    let ack = s.wrap(&[Message::AckResp(AckResp {
        seq_no: probe_seq,
        payload: None,
    })
    .to_bytes()]);
    s.send_udp_from(&target, &format!("the target's ack seq={probe_seq}"), &ack);
    let relayed = s.await_udp(s.timeout, |m| match m {
        Message::AckResp(a) if a.seq_no == seq => Some(()),
        _ => None,
    });
    if relayed.is_none() {
        return Verdict::Fail(format!(
            "the target acked the peer's probe, but no ack seq={seq} came back to us"
        ));
    }

    // 2. The target is silent: a nack under our sequence number.
    let seq = s.next_seq();
    let absent = s.name_for("silent");
    let datagram = s.wrap(&[request(seq, &absent)]);
    s.send_udp(
        &format!("indirect ping seq={seq} for {absent}, which will not answer"),
        &datagram,
    );
    let nacked = s.await_udp(s.timeout + LONGEST_PROBE_TIMEOUT, |m| match m {
        Message::NackResp(n) if n.seq_no == seq => Some(()),
        _ => None,
    });
    match nacked {
        Some(()) => Verdict::Pass("relayed the target's ack; nacked a silent target".into()),
        None => Verdict::Fail(format!("no nack seq={seq} for a silent target")),
    }
}
