//! From a link-layer frame to a UDP datagram or TCP segment with its addresses.

use std::net::SocketAddr;

use etherparse::{EtherType, NetSlice, SlicedPacket, TransportSlice};
use pcap_file::DataLink;

/// What one frame carries, as far as the inspector cares.
#[derive(Debug, PartialEq, Eq)]
pub enum Segment<'a> {
    Udp {
        src: SocketAddr,
        dst: SocketAddr,
        payload: &'a [u8],
    },
    Tcp {
        src: SocketAddr,
        dst: SocketAddr,
        seq: u32,
        syn: bool,
        ack: bool,
        fin: bool,
        rst: bool,
        payload: &'a [u8],
    },
    /// An IP fragment: reported, not reassembled.
    Fragment {
        src: std::net::IpAddr,
        dst: std::net::IpAddr,
    },
    /// Not UDP or TCP over IP (ARP, ICMP, other link types…): not memberlist.
    Other,
}

/// Why a frame could not be parsed.
#[derive(Debug, PartialEq, Eq)]
pub struct Malformed(pub String);

/// Parses the headers of one frame.
pub fn parse(link: DataLink, data: &[u8]) -> Result<Segment<'_>, Malformed> {
    let sliced = match link {
        DataLink::ETHERNET => SlicedPacket::from_ethernet(data),
        DataLink::LINUX_SLL => SlicedPacket::from_linux_sll(data),
        // SLL2: protocol type first, 20-byte header.
        DataLink::LINUX_SLL2 => match data.get(..20) {
            Some(h) => SlicedPacket::from_ether_type(
                EtherType(u16::from_be_bytes([h[0], h[1]])),
                &data[20..],
            ),
            None => return Err(Malformed("short Linux SLL2 header".into())),
        },
        // BSD loopback: a 4-byte address family in the capturing host's byte order.
        DataLink::NULL | DataLink::LOOP => match data.get(4..) {
            Some(ip) => SlicedPacket::from_ip(ip),
            None => return Err(Malformed("short loopback header".into())),
        },
        DataLink::RAW | DataLink::IPV4 | DataLink::IPV6 => SlicedPacket::from_ip(data),
        _ => return Ok(Segment::Other),
    }
    .map_err(|e| Malformed(e.to_string()))?;
    let (src_ip, dst_ip, fragmented) = match &sliced.net {
        Some(NetSlice::Ipv4(v4)) => {
            let h = v4.header();
            (
                h.source_addr().into(),
                h.destination_addr().into(),
                v4.payload().fragmented,
            )
        }
        Some(NetSlice::Ipv6(v6)) => {
            let h = v6.header();
            (
                h.source_addr().into(),
                h.destination_addr().into(),
                v6.payload().fragmented,
            )
        }
        _ => return Ok(Segment::Other),
    };
    match sliced.transport {
        Some(TransportSlice::Udp(u)) => Ok(Segment::Udp {
            src: SocketAddr::new(src_ip, u.source_port()),
            dst: SocketAddr::new(dst_ip, u.destination_port()),
            payload: u.payload(),
        }),
        Some(TransportSlice::Tcp(t)) => Ok(Segment::Tcp {
            src: SocketAddr::new(src_ip, t.source_port()),
            dst: SocketAddr::new(dst_ip, t.destination_port()),
            seq: t.sequence_number(),
            syn: t.syn(),
            ack: t.ack(),
            fin: t.fin(),
            rst: t.rst(),
            payload: t.payload(),
        }),
        None if fragmented => Ok(Segment::Fragment {
            src: src_ip,
            dst: dst_ip,
        }),
        _ => Ok(Segment::Other),
    }
}
