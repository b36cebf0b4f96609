//! Decompressing arbitrary bytes never panics and never exceeds its limit; what
//! compresses decompresses to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use memberlist_interop::wire::lzw;

fuzz_target!(|data: &[u8]| {
    if let Ok(out) = lzw::decompress(data, 1 << 20) {
        assert!(out.len() <= 1 << 20);
    }
    assert_eq!(lzw::decompress(&lzw::compress(data), usize::MAX).unwrap(), data);
});
