//! Go's fixture files: `NAME.bin` (the bytes Go wrote) beside `NAME.json` (its sidecar:
//! what Go decoded, and how the bytes were made).

use std::path::Path;

use serde_json::Value;

/// One fixture: its name, Go's bytes and the sidecar.
pub struct Fixture {
    pub name: String,
    pub bin: Vec<u8>,
    pub side: Value,
}

/// Every fixture in `dir` (relative to the crate root), sorted by name.
pub fn load(dir: &str) -> Vec<Fixture> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut out: Vec<Fixture> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| {
            let p = e.ok()?.path();
            (p.extension()? == "json").then_some(p)
        })
        .filter(|p| p.file_stem().unwrap() != "README")
        .map(|p| Fixture {
            name: p.file_stem().unwrap().to_string_lossy().into_owned(),
            bin: std::fs::read(p.with_extension("bin")).unwrap(),
            side: serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap(),
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}
