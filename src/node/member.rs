//! What the node knows about each member of the cluster.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::time::Time;
use crate::wire::NodeState;

/// A member's liveness as this node believes it.
///
/// Push/pull may carry state numbers Go never assigns; those are read as [`NodeState`]
/// by the codec and never reach a member, so this type only has Go's four states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Answering probes.
    Alive,
    /// Missed a probe; declared dead unless it refutes before the suspicion timeout.
    Suspect,
    /// Declared failed by the cluster.
    Dead,
    /// Left gracefully (a dead message it sent about itself).
    Left,
}

impl State {
    /// Dead and left members are not probed and are reaped after a while.
    pub fn is_dead_or_left(self) -> bool {
        matches!(self, State::Dead | State::Left)
    }

    /// Go's lower-case name of the state (`alive`, `suspect`, `dead`, `left`).
    pub fn name(self) -> &'static str {
        NodeState::from(self).name()
    }
}

impl From<State> for NodeState {
    fn from(s: State) -> NodeState {
        match s {
            State::Alive => NodeState::Alive,
            State::Suspect => NodeState::Suspect,
            State::Dead => NodeState::Dead,
            State::Left => NodeState::Left,
        }
    }
}

/// Go's version vector: protocol min, max, current, then the delegate's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Versions {
    /// Oldest memberlist protocol the member understands.
    pub protocol_min: u8,
    /// Newest memberlist protocol the member understands.
    pub protocol_max: u8,
    /// The memberlist protocol it speaks.
    pub protocol_cur: u8,
    /// Oldest application (delegate) protocol it understands.
    pub delegate_min: u8,
    /// Newest application (delegate) protocol it understands.
    pub delegate_max: u8,
    /// The application protocol it speaks (Serf's version, for a Serf member).
    pub delegate_cur: u8,
}

impl Versions {
    /// Reads the first six bytes of a `Vsn` field; shorter vectors are `None` and
    /// leave a member's versions as they were, as Go does.
    pub fn from_vsn(vsn: &[u8]) -> Option<Self> {
        match *vsn {
            [pmin, pmax, pcur, dmin, dmax, dcur, ..] => Some(Versions {
                protocol_min: pmin,
                protocol_max: pmax,
                protocol_cur: pcur,
                delegate_min: dmin,
                delegate_max: dmax,
                delegate_cur: dcur,
            }),
            _ => None,
        }
    }

    /// The six bytes of a `Vsn` field, as Go sends them.
    pub fn to_vsn(self) -> [u8; 6] {
        [
            self.protocol_min,
            self.protocol_max,
            self.protocol_cur,
            self.delegate_min,
            self.delegate_max,
            self.delegate_cur,
        ]
    }
}

/// One member as last heard of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its unique name.
    pub name: String,
    /// The address bytes exactly as the member advertised them (4 or 16 bytes for a
    /// usable address); kept raw so they go back out unchanged in push/pull.
    pub addr: Vec<u8>,
    /// Its gossip port (UDP and TCP).
    pub port: u16,
    /// Its node meta: opaque bytes the application advertises (Serf's tags).
    pub meta: Vec<u8>,
    /// The protocol versions it advertised.
    pub versions: Versions,
    /// Its incarnation: a member raises it to refute suspicion about itself.
    pub incarnation: u32,
    /// Liveness as we believe it.
    pub state: State,
    /// When `state` last changed, on the caller's clock.
    pub state_change: Time,
}

impl Member {
    /// The IP the address bytes hold, if they hold one (Go accepts any length on the
    /// wire but can only send to 4 or 16 bytes).
    pub fn ip(&self) -> Option<IpAddr> {
        ip_from_bytes(&self.addr)
    }

    /// Where to send packets and streams for this member.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        self.ip().map(|ip| SocketAddr::new(ip, self.port))
    }
}

/// The IP held by a Go `net.IP` byte slice.
pub fn ip_from_bytes(b: &[u8]) -> Option<IpAddr> {
    match *b {
        [a, b, c, d] => Some(IpAddr::V4(Ipv4Addr::new(a, b, c, d))),
        _ => <[u8; 16]>::try_from(b)
            .ok()
            .map(|o| Ipv6Addr::from(o).to_canonical()),
    }
}

/// The bytes Go advertises for an IP: 4 for IPv4, 16 for IPv6.
pub fn ip_to_bytes(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    }
}
