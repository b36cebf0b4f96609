//! The peer advertises a coherent protocol range (PMin ≤ PCur ≤ PMax within Go's 1..5,
//! DMin ≤ DCur ≤ DMax) and honours it: a push/pull naming a member that speaks only a
//! protocol above the peer's maximum is refused (Go's `verifyProtocol`), so that
//! member is not merged.

use crate::wire::{Bytes, NodeState, PushNodeState};

use super::session::{ip_bytes, unspecified_for};
use super::{Check, Session, Verdict};

pub const CHECK: Check = Check {
    id: "versions",
    title: "protocol version range is advertised and honoured",
    serf_only: false,
    run,
};

/// The protocol versions Go memberlist knows.
const GO_PROTOCOLS: std::ops::RangeInclusive<u8> = 1..=5;

fn run(s: &mut Session) -> Verdict {
    let peer = match s.peer() {
        Ok(p) => p,
        Err(v) => return v,
    };
    let Some([pmin, pmax, pcur, dmin, dmax, dcur]) = peer.vsn else {
        return Verdict::Fail("the peer's own entry carries no six version bytes".into());
    };
    let advertised =
        format!("protocol {pmin}..{pmax} (speaks {pcur}), delegate {dmin}..{dmax} (speaks {dcur})");
    if !(pmin <= pcur
        && pcur <= pmax
        && GO_PROTOCOLS.contains(&pmin)
        && GO_PROTOCOLS.contains(&pmax))
    {
        return Verdict::Fail(format!("incoherent protocol range: {advertised}"));
    }
    if !(dmin <= dcur && dcur <= dmax) {
        return Verdict::Fail(format!("incoherent delegate range: {advertised}"));
    }
    // A member only a newer protocol can talk to, at an address where nothing answers.
    let too_new = pmax.saturating_add(1);
    let name = s.name_for("too-new");
    let silent = std::net::UdpSocket::bind(unspecified_for(s.target)).ok();
    let port = silent
        .as_ref()
        .and_then(|u| u.local_addr().ok())
        .map_or(1, |a| a.port());
    let node = PushNodeState {
        name: name.clone().into(),
        addr: Some(Bytes::from(ip_bytes(s.target.ip()))),
        port,
        meta: Some(Bytes::from(Vec::new())),
        incarnation: 1,
        state: NodeState::Alive,
        vsn: Some(Bytes::from(vec![
            too_new, too_new, too_new, dmin, dmax, dcur,
        ])),
    };
    let note = format!("push/pull naming {name} at protocol {too_new} only");
    if let Err(e) = s.push_pull_with(&note, vec![node.clone()]) {
        return Verdict::Fail(format!("push/pull with an incompatible member: {e}"));
    }
    let (nodes, _) = match s.pull("push/pull: is the incompatible member merged?") {
        Ok(state) => state,
        Err(e) => return Verdict::Fail(format!("push/pull after: {e}")),
    };
    if nodes.iter().any(|n| n.name.as_bytes() == name.as_bytes()) {
        // Undo what we did: declare the member dead (it never answers anyway).
        super::refute_dead::declare_dead(s, &node);
        return Verdict::Fail(format!(
            "{advertised}, but it merged {name}, which speaks only protocol {too_new}"
        ));
    }
    Verdict::Pass(format!(
        "{advertised}; refused a member at protocol {too_new}"
    ))
}
