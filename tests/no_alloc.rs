//! Decoding a ping or an ack from a byte slice performs no heap allocation: the probe
//! path runs for every member every second, so it must stay allocation-free.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use memberlist_interop::wire::{peel_packet, AckResp, Message, PacketConfig, Ping};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::SeqCst);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn ping_and_ack_decode_without_allocating() {
    let ping = Message::Ping(Ping {
        seq_no: 77,
        node: "node-b".into(),
        source_addr: vec![10, 0, 0, 1].into(),
        source_port: 7946,
        source_node: "node-a".into(),
    })
    .to_bytes();
    let ack = Message::AckResp(AckResp {
        seq_no: 77,
        payload: Some(vec![1, 2, 3].into()),
    })
    .to_bytes();
    let cfg = PacketConfig::default();
    let before = ALLOCS.load(Ordering::SeqCst);
    let mut seen = 0u32;
    for buf in [&ping, &ack] {
        let m = Message::decode(buf).unwrap();
        assert!(matches!(m, Message::Ping(_) | Message::AckResp(_)));
        peel_packet(buf, &cfg, |_, m| seen += m.is_ok() as u32).unwrap();
    }
    assert_eq!(ALLOCS.load(Ordering::SeqCst) - before, 0);
    assert_eq!(seen, 2);
}
