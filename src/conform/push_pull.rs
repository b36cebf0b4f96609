//! A push/pull that carries no node is answered with the peer's state, in which the
//! peer itself is alive and gives its versions.

use crate::wire::NodeState;

use super::{Check, Session, Verdict};

pub const CHECK: Check = Check {
    id: "push-pull",
    title: "push/pull is answered with the peer's state, the peer alive in it",
    serf_only: false,
    run,
};

fn run(s: &mut Session) -> Verdict {
    let (nodes, user_state) = match s.pull("push/pull, no nodes, join=false") {
        Ok(state) => state,
        Err(e) => return Verdict::Fail(format!("push/pull: {e}")),
    };
    let Some(own) = s.own_entry(&nodes) else {
        return Verdict::Fail(format!(
            "the state ({} members) has no alive member at {}",
            nodes.len(),
            s.target
        ));
    };
    let alive = nodes.iter().filter(|n| n.state == NodeState::Alive).count();
    Verdict::Pass(format!(
        "{} members ({alive} alive), the peer is {} at incarnation {}, {} bytes of user state",
        nodes.len(),
        own.name,
        own.incarnation,
        user_state.len()
    ))
}
