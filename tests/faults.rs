//! Real faults between real processes: `scripts/bench-faults --quick` builds network
//! namespaces joined through a routing hub, starts a mixed cluster of Go memberlist
//! (gonode) and our agent (this build's binary) with the local profile, and asserts the
//! mechanics of the faults it applies with nftables: a loss rule drops packets; members
//! behind an inbound UDP-only drop stay alive (TCP fallback ping, Go and Rust alike); a
//! 2|4 partition is seen from both sides and converges once healed and bridged by a new
//! member; members behind a 100 % inbound drop are declared dead by every other member.
//!
//! It needs root, iproute2 and nftables (CI installs them); without them it fails, since
//! a skipped fault test would prove nothing. The script removes its namespaces and rules
//! on exit; `timeout` stops it with SIGTERM (which it cleans up after) if it ever hangs.

use std::process::Command;

#[test]
fn fault_mechanics_hold_for_go_and_rust_members() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/bench-faults");
    let out = Command::new("timeout")
        .args(["--signal=TERM", "--kill-after=20", "170", script, "--quick"])
        .env("MEMBERLIST_AGENT", env!("CARGO_BIN_EXE_memberlist"))
        .output()
        .expect("running scripts/bench-faults (needs python3 and coreutils timeout)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("all checks passed"),
        "scripts/bench-faults --quick failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    for check in [
        "ok: the 10 % loss rule dropped packets",
        "ok: members behind an inbound UDP-only drop are not declared dead",
        "ok: a 2|4 partition: each side declares the other dead",
        "ok: healed partition converges (go in mixed",
        "ok: healed partition converges (rust in mixed",
        "ok: members behind a 100 % inbound drop are declared dead by every other member",
    ] {
        assert!(stderr.contains(check), "missing check {check:?}:\n{stderr}");
    }
}
