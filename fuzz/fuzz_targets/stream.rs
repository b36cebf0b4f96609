//! Decoding arbitrary stream bytes from either side, incrementally and whole, must
//! never panic or allocate beyond Go's limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use memberlist_interop::wire::{decode_complete, decode_frame, Keyring, LabelPolicy, SecretKey, Side, StreamConfig};

fuzz_target!(|data: &[u8]| {
    let ring = Keyring::new(SecretKey::new(&[7; 32]).unwrap());
    for side in [Side::Dialer, Side::Acceptor] {
        for keyring in [None, Some(&ring)] {
            let cfg = StreamConfig { label: LabelPolicy::Any, keyring, verify_incoming: false, side };
            let _ = decode_complete(data, &cfg);
            let _ = decode_frame(&data[..data.len() / 2], &cfg);
        }
    }
});
