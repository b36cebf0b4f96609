//! Reading capture files: classic pcap (either byte order, micro- or nanosecond
//! timestamps) and pcapng (several interfaces, each with its own link type), from any
//! `Read`, so that `tcpdump -w - | memberlist decode -` works as the data arrives.

use std::io::{Chain, Cursor, Read};
use std::time::Duration;

use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::DataLink;

/// Why a capture could not be read further. Frames before the damage were delivered.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("not a pcap or pcapng capture (magic {0:02x?})")]
    BadMagic([u8; 4]),
    #[error("the capture's header is cut short or damaged: {0}")]
    BadHeader(String),
    #[error("capture ends or is damaged after frame {frame}: {detail}")]
    Damaged { frame: u64, detail: String },
    #[error("cannot read the capture: {0}")]
    Io(#[from] std::io::Error),
}

/// One captured frame, borrowed from the reader until the next one is read.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// 1-based, as Wireshark numbers frames.
    pub number: u64,
    /// Time since the Unix epoch.
    pub time: Duration,
    pub link: DataLink,
    pub data: &'a [u8],
}

type Input<R> = Chain<Cursor<[u8; 4]>, R>;

enum Format<R: Read> {
    Pcap(PcapReader<Input<R>>),
    PcapNg(PcapNgReader<Input<R>>),
}

/// Yields the frames of a capture one at a time.
pub struct CaptureReader<R: Read> {
    format: Format<R>,
    frames: u64,
    failed: bool,
    /// The current frame's bytes: one buffer for the whole capture.
    data: Vec<u8>,
}

impl<R: Read> CaptureReader<R> {
    /// Detects the format from the first four bytes.
    pub fn new(mut reader: R) -> Result<Self, CaptureError> {
        let mut magic = [0u8; 4];
        reader
            .read_exact(&mut magic)
            .map_err(|_| CaptureError::BadMagic(magic))?;
        let input = Cursor::new(magic).chain(reader);
        let damaged = |e: pcap_file::PcapError| CaptureError::BadHeader(e.to_string());
        let format = match magic {
            [0x0a, 0x0d, 0x0d, 0x0a] => Format::PcapNg(PcapNgReader::new(input).map_err(damaged)?),
            [0xa1, 0xb2, 0xc3, 0xd4]
            | [0xd4, 0xc3, 0xb2, 0xa1]
            | [0xa1, 0xb2, 0x3c, 0x4d]
            | [0x4d, 0x3c, 0xb2, 0xa1] => Format::Pcap(PcapReader::new(input).map_err(damaged)?),
            other => return Err(CaptureError::BadMagic(other)),
        };
        Ok(CaptureReader {
            format,
            frames: 0,
            failed: false,
            data: Vec::new(),
        })
    }
}

impl<R: Read> CaptureReader<R> {
    /// The next frame; `None` at the end of the capture or after an error.
    pub fn next_frame(&mut self) -> Option<Result<Frame<'_>, CaptureError>> {
        if self.failed {
            return None;
        }
        let frame = self.frames;
        let damaged = |e: pcap_file::PcapError| CaptureError::Damaged {
            frame,
            detail: e.to_string(),
        };
        let buf = &mut self.data;
        let mut keep = |data: &[u8]| {
            buf.clear();
            buf.extend_from_slice(data);
        };
        let item = match &mut self.format {
            Format::Pcap(r) => {
                let link = r.header().datalink;
                r.next_packet().map(|p| {
                    p.map_err(damaged).map(|p| {
                        keep(&p.data);
                        (p.timestamp, link)
                    })
                })
            }
            Format::PcapNg(r) => loop {
                // Take what we need out of the block before looking up its interface.
                let got = match r.next_block() {
                    None => break None,
                    Some(Err(e)) => break Some(Err(damaged(e))),
                    Some(Ok(Block::EnhancedPacket(p))) => {
                        keep(&p.data);
                        (Some(p.interface_id), p.timestamp)
                    }
                    Some(Ok(Block::SimplePacket(p))) => {
                        keep(&p.data);
                        (None, Duration::ZERO)
                    }
                    Some(Ok(_)) => continue,
                };
                let (iface, time) = got;
                let link = match iface {
                    Some(id) => r.interfaces().get(id as usize).map(|i| i.linktype),
                    None => r.interfaces().first().map(|i| i.linktype),
                };
                break Some(match link {
                    Some(link) => Ok((time, link)),
                    None => Err(CaptureError::Damaged {
                        frame,
                        detail: "packet names an unknown interface".into(),
                    }),
                });
            },
        };
        match item? {
            Ok((time, link)) => {
                self.frames += 1;
                Some(Ok(Frame {
                    number: self.frames,
                    time,
                    link,
                    data: &self.data,
                }))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}
