//! Lays out the `memberlist` binary so that the code a running agent executes sits
//! together (link/agent-symbols.txt, written by scripts/agent-symbol-order): the agent
//! then maps in about 0.9 MiB of code instead of 1.8, since the kernel maps code around
//! every page touched. Names not in the binary are skipped, so a stale list only loses
//! some of the gain.
//!
//! The ordering is an LLD option; Rust links with LLD by default on x86_64 Linux since
//! 1.90, so the list is used there only.

use std::process::Command;

fn main() {
    let list = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("link/agent-symbols.txt");
    println!("cargo:rerun-if-changed={}", list.display());
    if links_with_lld() {
        println!(
            "cargo:rustc-link-arg-bin=memberlist=-Wl,--symbol-ordering-file={}",
            list.display()
        );
        println!("cargo:rustc-link-arg-bin=memberlist=-Wl,--no-warn-symbol-ordering");
    }
}

/// x86_64 GNU/Linux with a rustc of 1.90 or later (its default linker is rust-lld).
fn links_with_lld() -> bool {
    let target = std::env::var("TARGET").unwrap_or_default();
    if target != "x86_64-unknown-linux-gnu" {
        return false;
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = Command::new(rustc).arg("-V").output() else {
        return false;
    };
    // "rustc 1.95.0 (…)": the minor version decides.
    let version = String::from_utf8_lossy(&out.stdout);
    let mut parts = version
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    major > 1 || (major == 1 && minor >= 90)
}
