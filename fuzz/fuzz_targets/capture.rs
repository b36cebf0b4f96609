//! Reading an arbitrary capture file and decoding every frame of it (link layers, IP
//! fragments, TCP reassembly, the codec, the summary) must never panic.
//! Seed it with the real captures: `cargo fuzz run capture fuzz/corpus/capture testdata/captures`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use memberlist_interop::apps::App;
use memberlist_interop::inspect::{CaptureReader, Inspector, InspectorConfig, Ports};
use memberlist_interop::wire::{Keyring, SecretKey};

fuzz_target!(|data: &[u8]| {
    let Ok(mut reader) = CaptureReader::new(data) else {
        return;
    };
    let mut inspector = Inspector::new(InspectorConfig {
        ports: Ports::Any,
        keyring: Some(Keyring::new(SecretKey::new(&[7; 16]).unwrap())),
        label: None,
        summarize: true,
        app: App::Auto,
    });
    let mut rows = Vec::new();
    while let Some(frame) = reader.next_frame() {
        let Ok(frame) = frame else { break };
        inspector.frame(&frame, &mut rows);
        rows.drain(..).for_each(|r| drop(r.to_json()));
    }
    inspector.finish(&mut rows);
    rows.drain(..).for_each(|r| drop(r.to_json()));
    drop(inspector.summary.to_json());
});
