//! Which member an address belongs to. Memberlist names members in its messages, not
//! in its packet headers: an alive message gives a name's gossip address, a ping its
//! sender's (`SourceAddr:SourcePort` is `SourceNode`) and its target's (the packet goes
//! to `Node`). A TCP ping leaves from an ephemeral port, which is remembered for the
//! ack coming back on it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use rustc_hash::FxHashMap;

/// Most ephemeral TCP addresses remembered (one per TCP ping in flight).
const MAX_EPHEMERAL: usize = 4096;

#[derive(Debug, Default)]
pub struct Names {
    by_addr: FxHashMap<SocketAddr, Arc<str>>,
    ephemeral: FxHashMap<SocketAddr, Arc<str>>,
    interned: FxHashMap<Box<str>, Arc<str>>,
}

/// An IP address from memberlist's 4- or 16-byte form.
pub fn ip(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => Some(IpAddr::V4(Ipv4Addr::new(
            bytes[0], bytes[1], bytes[2], bytes[3],
        ))),
        16 => {
            let b: [u8; 16] = bytes.try_into().ok()?;
            let v6 = Ipv6Addr::from(b);
            Some(v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4))
        }
        _ => None,
    }
}

impl Names {
    /// The one shared copy of a name.
    pub fn intern(&mut self, name: &str) -> Arc<str> {
        if let Some(n) = self.interned.get(name) {
            return n.clone();
        }
        let n: Arc<str> = name.into();
        self.interned.insert(name.into(), n.clone());
        n
    }

    pub fn learn(&mut self, addr: SocketAddr, name: &str) {
        if name.is_empty() || self.by_addr.get(&addr).is_some_and(|n| &**n == name) {
            return;
        }
        let n = self.intern(name);
        self.by_addr.insert(addr, n);
    }

    pub fn learn_ephemeral(&mut self, addr: SocketAddr, name: &str) {
        if self.ephemeral.len() >= MAX_EPHEMERAL {
            self.ephemeral.clear();
        }
        let n = self.intern(name);
        self.ephemeral.insert(addr, n);
    }

    /// Entries held (for the tests that check memory stays bounded).
    #[cfg(test)]
    pub fn retained(&self) -> usize {
        self.by_addr.len() + self.ephemeral.len() + self.interned.len()
    }

    pub fn of(&self, addr: &SocketAddr) -> Option<Arc<str>> {
        self.by_addr
            .get(addr)
            .or_else(|| self.ephemeral.get(addr))
            .cloned()
    }
}
