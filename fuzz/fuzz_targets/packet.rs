//! Peeling arbitrary datagrams, with and without a keyring and label, must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use memberlist_interop::wire::{peel_packet, Keyring, Label, LabelPolicy, PacketConfig, SecretKey};

fuzz_target!(|data: &[u8]| {
    let ring = Keyring::new(SecretKey::new(&[7; 16]).unwrap());
    let label = Label::new("prod").unwrap();
    for cfg in [
        PacketConfig { label: LabelPolicy::Any, keyring: None, verify_incoming: true },
        PacketConfig { label: LabelPolicy::Expect(Some(&label)), keyring: Some(&ring), verify_incoming: false },
    ] {
        let _ = peel_packet(data, &cfg, |_, m| {
            let _ = m.map(|m| m.to_bytes());
        });
    }
});
