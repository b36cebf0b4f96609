//! Address ranges for `CIDRsAllowed`: which peers may talk to this node.
//!
//! Go keeps a `net.IPNet` list and checks both a packet's source and the address an
//! `alive` message claims. An IPv4 range also matches the IPv4-mapped IPv6 form of
//! its addresses (Go compares the 4-byte form of both), which matters because some
//! Go nodes advertise IPv4 addresses in their 16-byte form.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use thiserror::Error;

/// A network: an address with its host bits cleared and a prefix length that fits
/// the address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

/// Why a CIDR string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid cidr: {0}")]
pub struct CidrError(String);

impl Cidr {
    /// The network containing `addr` with the given prefix length. An IPv4-mapped IPv6
    /// address with a prefix of 96 or more becomes the IPv4 network of its last 32 bits,
    /// as Go treats it; a shorter prefix clears the mapping marker and leaves an IPv6
    /// network.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Self, CidrError> {
        let (addr, prefix) = match addr {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) if (96..=128).contains(&prefix) => (IpAddr::V4(v4), prefix - 96),
                _ => (addr, prefix),
            },
            IpAddr::V4(_) => (addr, prefix),
        };
        let network = match addr {
            IpAddr::V4(v4) if prefix <= 32 => {
                IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask_u32(prefix)))
            }
            IpAddr::V6(v6) if prefix <= 128 => {
                IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask_u128(prefix)))
            }
            _ => return Err(CidrError(format!("{addr}/{prefix}"))),
        };
        Ok(Cidr { network, prefix })
    }

    /// Whether `ip` lies in this network. IPv4-mapped IPv6 addresses are compared
    /// as IPv4; a plain IPv6 address never matches an IPv4 network or the reverse.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            IpAddr::V4(_) => ip,
        };
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                u32::from(ip) & mask_u32(self.prefix) == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                u128::from(ip) & mask_u128(self.prefix) == u128::from(net)
            }
            _ => false,
        }
    }
}

fn mask_u32(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask_u128(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

/// Parses `address/prefix` (surrounding spaces allowed, as Go trims them).
impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Self, CidrError> {
        let bad = || CidrError(s.to_owned());
        let (addr, prefix) = s.trim().split_once('/').ok_or_else(bad)?;
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        // Go takes decimal digits only (no sign), leading zeros allowed.
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        let limit = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > limit {
            return Err(bad());
        }
        Cidr::new(addr, prefix)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv4_ranges() {
        let net: Cidr = " 10.1.2.3/8 ".parse().unwrap();
        assert_eq!(net.to_string(), "10.0.0.0/8");
        assert!(net.contains(ip("10.255.0.1")));
        assert!(net.contains(ip("::ffff:10.0.0.1")));
        assert!(!net.contains(ip("11.0.0.1")));
        assert!(!net.contains(ip("::a00:1")));
        assert_eq!("10.0.0.0/008".parse::<Cidr>().unwrap(), net);
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("192.0.2.1")));
        assert!(!all.contains(ip("2001:db8::1")));
    }

    #[test]
    fn ipv6_ranges() {
        let net: Cidr = "2001:db8::1/32".parse().unwrap();
        assert_eq!(net.to_string(), "2001:db8::/32");
        assert!(net.contains(ip("2001:db8:ffff::1")));
        assert!(!net.contains(ip("2001:db9::1")));
        assert!(!net.contains(ip("32.1.13.184")));
        let mapped: Cidr = "::ffff:10.0.0.0/104".parse().unwrap();
        assert_eq!(mapped.to_string(), "10.0.0.0/8");
        assert!(mapped.contains(ip("10.9.9.9")));
        // A prefix shorter than the mapping marker leaves a plain IPv6 network.
        let wide: Cidr = "::ffff:10.0.0.0/80".parse().unwrap();
        assert_eq!(wide.to_string(), "::/80");
        assert!(!wide.contains(ip("10.9.9.9")));
        assert!(wide.contains(ip("::1")));
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "10.0.0.0",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/-1",
            "10.0.0.0/+8",
            "x/8",
            "10.0.0.0/",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }
}
