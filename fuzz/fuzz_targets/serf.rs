//! Serf's decoders on arbitrary bytes: a Serf message, node-meta tags and a ping-ack
//! coordinate must never panic, and whatever decodes must re-encode to something that
//! decodes to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use memberlist_interop::serf::{Coordinate, SerfMessage, Tags};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = SerfMessage::decode(data) {
        let again = m.to_bytes();
        assert_eq!(SerfMessage::decode(&again).unwrap(), m);
    }
    if let Ok((tags, _)) = Tags::decode_meta(data) {
        let mut again = Vec::new();
        if tags.encode_meta(&mut again).is_ok() {
            assert_eq!(Tags::decode_meta(&again).unwrap().0, tags);
        }
    }
    let _ = Tags::decode_meta_lenient(data);
    if let Ok(Some(c)) = Coordinate::decode_ping_payload(data) {
        let mut again = Vec::new();
        c.encode_ping_payload(&mut again);
        let back = Coordinate::decode_ping_payload(&again).unwrap().unwrap();
        // Compare bits: NaN never equals itself.
        let bits = |c: &Coordinate| {
            let mut v: Vec<u64> = [c.error, c.adjustment, c.height].map(f64::to_bits).to_vec();
            v.extend(c.vec.iter().flatten().map(|x| x.to_bits()));
            (v, c.vec.as_ref().map(Vec::len))
        };
        assert_eq!(bits(&back), bits(&c));
    }
});
