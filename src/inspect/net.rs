//! From a link-layer frame to a UDP datagram or TCP segment with its addresses.

use std::net::{IpAddr, SocketAddr};

use etherparse::defrag::IpFragVersionSpecId;
use etherparse::{
    EtherType, IpFragOffset, IpNumber, Ipv6ExtensionSlice, NetSlice, SlicedPacket, TcpSlice,
    TransportSlice, UdpSlice,
};
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
    /// One fragment of an IP datagram, for `defrag::Defrag` to put back together.
    Fragment(Fragment<'a>),
    /// Not UDP or TCP over IP (ARP, ICMP, other link types…): not memberlist.
    Other,
}

/// An IPv4 or IPv6 fragment: what identifies its datagram and where its bytes go.
#[derive(Debug, PartialEq, Eq)]
pub struct Fragment<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// Addresses and identification: the datagram this fragment belongs to.
    pub id: IpFragVersionSpecId,
    /// The protocol of the reassembled payload (UDP, TCP…).
    pub protocol: IpNumber,
    pub offset: IpFragOffset,
    pub more: bool,
    pub payload: &'a [u8],
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
    let (src_ip, dst_ip): (IpAddr, IpAddr) = match &sliced.net {
        Some(NetSlice::Ipv4(v4)) => {
            let h = v4.header();
            if h.is_fragmenting_payload() {
                return Ok(Segment::Fragment(Fragment {
                    src: h.source_addr().into(),
                    dst: h.destination_addr().into(),
                    id: IpFragVersionSpecId::Ipv4 {
                        source: h.source(),
                        destination: h.destination(),
                        identification: h.identification(),
                    },
                    protocol: v4.payload().ip_number,
                    offset: h.fragments_offset(),
                    more: h.more_fragments(),
                    payload: v4.payload().payload,
                }));
            }
            (h.source_addr().into(), h.destination_addr().into())
        }
        Some(NetSlice::Ipv6(v6)) => {
            let h = v6.header();
            if v6.payload().fragmented {
                let frag = v6.extensions().clone().into_iter().find_map(|e| match e {
                    Ipv6ExtensionSlice::Fragment(f) => Some(f.to_header()),
                    _ => None,
                });
                let Some(frag) = frag else {
                    return Err(Malformed("IPv6 fragment without a fragment header".into()));
                };
                return Ok(Segment::Fragment(Fragment {
                    src: h.source_addr().into(),
                    dst: h.destination_addr().into(),
                    id: IpFragVersionSpecId::Ipv6 {
                        source: h.source(),
                        destination: h.destination(),
                        identification: frag.identification,
                    },
                    protocol: v6.payload().ip_number,
                    offset: frag.fragment_offset,
                    more: frag.more_fragments,
                    payload: v6.payload().payload,
                }));
            }
            (h.source_addr().into(), h.destination_addr().into())
        }
        _ => return Ok(Segment::Other),
    };
    Ok(match sliced.transport {
        Some(TransportSlice::Udp(u)) => udp(src_ip, dst_ip, &u),
        Some(TransportSlice::Tcp(t)) => tcp(src_ip, dst_ip, &t),
        _ => Segment::Other,
    })
}

/// The UDP datagram or TCP segment in a reassembled IP payload.
pub fn transport(
    src: IpAddr,
    dst: IpAddr,
    protocol: IpNumber,
    payload: &[u8],
) -> Result<Segment<'_>, Malformed> {
    let bad = |e: &dyn std::fmt::Display| Malformed(format!("reassembled datagram: {e}"));
    match protocol {
        IpNumber::UDP => Ok(udp(
            src,
            dst,
            &UdpSlice::from_slice(payload).map_err(|e| bad(&e))?,
        )),
        IpNumber::TCP => Ok(tcp(
            src,
            dst,
            &TcpSlice::from_slice(payload).map_err(|e| bad(&e))?,
        )),
        _ => Ok(Segment::Other),
    }
}

fn udp<'a>(src: IpAddr, dst: IpAddr, u: &UdpSlice<'a>) -> Segment<'a> {
    Segment::Udp {
        src: SocketAddr::new(src, u.source_port()),
        dst: SocketAddr::new(dst, u.destination_port()),
        payload: u.payload(),
    }
}

fn tcp<'a>(src: IpAddr, dst: IpAddr, t: &TcpSlice<'a>) -> Segment<'a> {
    Segment::Tcp {
        src: SocketAddr::new(src, t.source_port()),
        dst: SocketAddr::new(dst, t.destination_port()),
        seq: t.sequence_number(),
        syn: t.syn(),
        ack: t.ack(),
        fin: t.fin(),
        rst: t.rst(),
        payload: t.payload(),
    }
}
