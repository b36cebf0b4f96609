//! Datagrams in: peel the layers with the codec, then act on each message.

use std::net::SocketAddr;

use super::delegate::Delegate;
use super::machine::Machine;
use super::member::ip_from_bytes;
use super::stats::Counter;
use super::time::Time;
use crate::wire::{peel_packet, Message, WireError};

impl<D: Delegate> Machine<D> {
    /// A datagram from `from`. Whatever does not decode is counted and dropped; the
    /// messages that do decode in the same packet are still handled, as in Go.
    pub fn handle_packet(&mut self, now: Time, from: SocketAddr, packet: &[u8]) {
        self.config
            .metrics
            .incr(&super::metrics::UDP_RECEIVED, packet.len() as f32);
        let mut messages = Vec::new();
        let mut bad = Vec::new();
        let cfg = self.packet_config();
        let peeled = peel_packet(packet, &cfg, |_, m| match m {
            Ok(m) => messages.push(m.into_owned()),
            Err(e) => bad.push(e),
        });
        if let Err(e) = peeled {
            self.stats
                .count(Counter::BadPackets, || packet_error(&e, from));
            return;
        }
        for e in bad {
            self.stats.count(Counter::BadMessages, || {
                format!("Failed to decode message: {e} from={from}")
            });
        }
        for m in messages {
            self.handle_message(now, from, m);
        }
    }

    fn handle_message(&mut self, now: Time, from: SocketAddr, m: Message<'_>) {
        match m {
            Message::Ping(p) => self.handle_ping(from, &p),
            Message::IndirectPing(req) => self.handle_indirect_ping(now, from, &req),
            Message::AckResp(ack) => self.handle_ack(now, &ack),
            Message::NackResp(nack) => self.handle_nack(&nack),
            Message::Suspect(s) => self.suspect_node(&s, now),
            Message::Dead(d) => {
                self.dead_node(&d, now);
            }
            Message::Alive(mut a) => {
                if !self.config.ip_allowed(from.ip()) {
                    self.stats.count(Counter::RefusedAlive, || {
                        format!(
                            "Blocked alive message: sender not in the allowed networks from={from}"
                        )
                    });
                    return;
                }
                if !self.config.cidrs_allowed.is_empty() {
                    let inner = ip_from_bytes(a.addr.as_deref().unwrap_or_default());
                    if inner.is_some_and(|ip| !self.config.ip_allowed(ip)) {
                        self.stats.count(Counter::RefusedAlive, || {
                            format!("Blocked alive message: advertised address not in the allowed networks from={from}")
                        });
                        return;
                    }
                }
                if self.config.protocol_version < 2 || a.port == 0 {
                    a.port = self.config.bind_port;
                }
                self.alive_node(&a, false, now);
            }
            Message::User(payload) => self.delegate.notify_msg(&payload),
            Message::Err(e) => self.stats.count(Counter::BadMessages, || {
                format!("Got an error message in a packet: {} from={from}", e.error)
            }),
        }
    }
}

/// Go's wording for a datagram whose outer layers did not open (`from=` as Go's
/// `LogAddress` writes it).
fn packet_error(e: &WireError, from: SocketAddr) -> String {
    match e {
        WireError::NoKeyDecrypts
        | WireError::BadPadding
        | WireError::UnsupportedEncryptionVersion(_)
        | WireError::EncryptionMismatch(_) => format!("Decrypt packet failed: {e} from={from}"),
        WireError::LabelMismatch { got, .. } => {
            format!("discarding packet with unacceptable label {got:?}: from={from}")
        }
        WireError::BadChecksum { .. } => {
            format!("Got invalid checksum for UDP packet: {e} from={from}")
        }
        _ => format!("Failed to decode packet: {e} from={from}"),
    }
}
