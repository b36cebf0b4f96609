//! Everything that leaves as a datagram: messages with piggybacked gossip, the
//! layers around them, and the periodic gossip round.

use std::net::SocketAddr;

use super::delegate::Delegate;
use super::machine::{Machine, Output, Transmit};
use super::member::State;
use super::node_list::k_random_nodes;
use super::time::Time;
use crate::wire::{build_packet, compound, Label, MessageType, PacketOptions};

/// Go's budget for a compound header, and for each part's length prefix.
const COMPOUND_HEADER_OVERHEAD: usize = 2;
const COMPOUND_OVERHEAD: usize = 2;
/// The type byte Go adds in front of each user broadcast.
const USER_MSG_OVERHEAD: usize = 1;

impl<D: Delegate> Machine<D> {
    /// Bytes of a packet left for messages once label and encryption are paid for.
    fn packet_budget(&self) -> usize {
        let mut avail = self
            .config
            .udp_buffer_size
            .saturating_sub(COMPOUND_HEADER_OVERHEAD)
            .saturating_sub(Label::overhead(self.config.label.as_ref()));
        if self.outgoing_encryption().is_some() {
            avail = avail.saturating_sub(self.encryption_version().overhead());
        }
        avail
    }

    /// Go's `getBroadcasts`: member news first, then the delegate's user broadcasts
    /// in the room left, each user message behind its type byte.
    pub(super) fn get_broadcasts(&mut self, overhead: usize, limit: usize) -> Vec<Vec<u8>> {
        let mut out = self
            .broadcasts
            .get_broadcasts(overhead, limit, self.nodes.len());
        let used: usize = out.iter().map(|m| m.len() + overhead).sum();
        let avail = limit.saturating_sub(used);
        if avail > overhead + USER_MSG_OVERHEAD {
            for msg in self
                .delegate
                .get_broadcasts(overhead + USER_MSG_OVERHEAD, avail)
            {
                let mut framed = Vec::with_capacity(msg.len() + 1);
                framed.push(MessageType::User as u8);
                framed.extend_from_slice(&msg);
                out.push(framed);
            }
        }
        out
    }

    /// Go's `sendMsg`: one message plus as much queued gossip as fits.
    pub(super) fn send_msg(&mut self, to: SocketAddr, msg: Vec<u8>) {
        let avail = self.packet_budget().saturating_sub(msg.len());
        let extra = self.get_broadcasts(COMPOUND_OVERHEAD, avail);
        if extra.is_empty() {
            return self.raw_send(to, None, msg);
        }
        let mut parts = Vec::with_capacity(extra.len() + 1);
        parts.push(msg);
        parts.extend(extra);
        let mut packet = Vec::new();
        if compound::encode(&parts, &mut packet).is_ok() {
            self.raw_send(to, None, packet);
        }
    }

    /// Go's `rawSendMsgPacket`: compression, CRC, encryption and label around an
    /// already encoded message. `protocol_max` is the receiver's, when we know who it
    /// is; like Go, an unnamed destination is looked up by its IP as a node name, and
    /// only a receiver known to speak protocol 5 gets a CRC.
    pub(super) fn raw_send(&mut self, to: SocketAddr, protocol_max: Option<u8>, msg: Vec<u8>) {
        let protocol_max = protocol_max.or_else(|| {
            self.member(&to.ip().to_string())
                .map(|m| m.versions.protocol_max)
        });
        let opts = PacketOptions {
            compress: self.config.enable_compression,
            crc: protocol_max.is_some_and(|p| p >= 5),
            encryption: self.outgoing_encryption(),
            label: self.config.label.as_ref(),
        };
        if let Ok(packet) = build_packet(&[msg], &opts) {
            self.config
                .metrics
                .incr(&super::metrics::UDP_SENT, packet.len() as f32);
            self.push_output(Output::Transmit(Transmit { to, packet }));
        }
    }

    /// Go's `gossip`: sends queued news to a few random members (dead ones too, for a
    /// while, so they can learn of it and refute).
    pub(super) fn gossip(&mut self, now: Time) {
        let start = self.config.metrics.start();
        self.gossip_round(now);
        self.config
            .metrics
            .measure_since(&super::metrics::GOSSIP, start);
    }

    fn gossip_round(&mut self, now: Time) {
        let me = self.config.name.clone();
        let grace = self.config.gossip_to_the_dead_time;
        let targets = k_random_nodes(&mut self.rng, self.config.gossip_nodes, &self.nodes, |n| {
            n.name == me
                || match n.state {
                    State::Alive | State::Suspect => false,
                    State::Dead => now.saturating_since(n.state_change) > grace,
                    State::Left => true,
                }
        });
        let budget = self.packet_budget();
        for i in targets {
            let node = self.nodes[i].clone();
            let msgs = self.get_broadcasts(COMPOUND_OVERHEAD, budget);
            if msgs.is_empty() {
                return;
            }
            let Some(addr) = node.socket_addr() else {
                continue;
            };
            let pmax = Some(node.versions.protocol_max);
            if let Ok(chunks) = compound::encode_chunks(&msgs) {
                for packet in chunks {
                    self.raw_send(addr, pmax, packet);
                }
            }
        }
    }
}
