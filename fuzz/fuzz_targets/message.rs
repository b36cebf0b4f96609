//! One message (type byte + body): decode must never panic, and whatever decodes must
//! re-encode to something that decodes to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use memberlist_interop::wire::Message;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Message::decode(data) {
        let again = m.to_bytes();
        assert_eq!(Message::decode(&again).unwrap(), m);
    }
});
