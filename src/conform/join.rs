//! A temporary member (`conform-<run>-member`, our own node, a Serf member with
//! `--serf`) joins through the peer with a push/pull and leaves gracefully. Passes
//! when the join's push/pull hands each side the other's state (anti-entropy: our
//! member then knows every member the peer lists alive, and the peer lists ours
//! alive) and the peer then records the leave.

use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc as tokio_mpsc;

use crate::node::{Config, Memberlist, NoDelegate};
use crate::serf::{Serf, SerfConfig};
use crate::wire::NodeState;

use super::{Check, Session, Verdict};

pub const CHECK: Check = Check {
    id: "join",
    title: "push/pull join exchanges state both ways, and a leave is recorded",
    serf_only: false,
    run,
};

/// The temporary member: a plain memberlist node, or a Serf member for `--serf` (so
/// its leave carries Serf's intent and the peer says "left", not "failed").
enum Member {
    Plain(Memberlist<NoDelegate>),
    Serf(Serf),
}

impl Member {
    async fn start(config: Config, serf: bool) -> Result<Member, String> {
        if serf {
            let tags = [("role".to_owned(), "conform".to_owned())];
            Serf::start(
                config,
                SerfConfig::default(),
                &tags,
                crate::serf::layer::SERF_PROTOCOL_MAX,
            )
            .await
            .map(Member::Serf)
            .map_err(|e| e.to_string())
        } else {
            Memberlist::start(config, Vec::new(), NoDelegate)
                .await
                .map(Member::Plain)
                .map_err(|e| e.to_string())
        }
    }

    async fn join(&self, peer: SocketAddr) -> Result<usize, String> {
        match self {
            Member::Plain(m) => m.join(vec![peer]).await.map_err(|e| e.to_string()),
            Member::Serf(s) => s.join(vec![peer]).await.map_err(|e| e.to_string()),
        }
    }

    /// The names our member holds alive.
    async fn alive(&self) -> Result<Vec<String>, String> {
        match self {
            Member::Plain(m) => m.with(|m, _| alive_names(m)).await,
            Member::Serf(s) => s.memberlist().with(|m, _| alive_names(m)).await,
        }
        .map_err(|e| e.to_string())
    }

    async fn leave(&self, timeout: Duration) -> Result<(), String> {
        let left = match self {
            Member::Plain(m) => m.leave(timeout).await.map_err(|e| e.to_string()),
            Member::Serf(s) => s.leave(timeout).await.map_err(|e| e.to_string()),
        };
        let _ = match self {
            Member::Plain(m) => m.shutdown().await.map_err(|e| e.to_string()),
            Member::Serf(s) => s.shutdown().await.map_err(|e| e.to_string()),
        };
        left
    }
}

enum Command {
    Alive(mpsc::Sender<Result<Vec<String>, String>>),
    Leave(mpsc::Sender<Result<(), String>>),
}

/// The member runs on its own thread (and runtime), so it keeps answering the peer
/// while the checks block on their sockets.
struct Handle {
    commands: tokio_mpsc::UnboundedSender<Command>,
    thread: std::thread::JoinHandle<()>,
}

impl Handle {
    fn start(
        config: Config,
        serf: bool,
        peer: SocketAddr,
        leave_timeout: Duration,
    ) -> Result<(Handle, usize), String> {
        let (ready_tx, ready_rx) = mpsc::channel();
        let (commands, mut rx) = tokio_mpsc::unbounded_channel::<Command>();
        let thread = std::thread::spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => return drop(ready_tx.send(Err(e.to_string()))),
            };
            rt.block_on(async move {
                let member = match Member::start(config, serf).await {
                    Ok(m) => m,
                    Err(e) => return drop(ready_tx.send(Err(format!("starting the member: {e}")))),
                };
                match member.join(peer).await {
                    Ok(n) => drop(ready_tx.send(Ok(n))),
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("join: {e}")));
                        let _ = member.leave(leave_timeout).await;
                        return;
                    }
                }
                while let Some(cmd) = rx.recv().await {
                    match cmd {
                        Command::Alive(tx) => drop(tx.send(member.alive().await)),
                        Command::Leave(tx) => {
                            return drop(tx.send(member.leave(leave_timeout).await))
                        }
                    }
                }
                // The check ended without a leave (it cannot, but never stay joined).
                let _ = member.leave(leave_timeout).await;
            })
        });
        match ready_rx.recv() {
            Ok(Ok(n)) => Ok((Handle { commands, thread }, n)),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => Err("the member's thread ended early".into()),
        }
    }

    fn alive(&self) -> Result<Vec<String>, String> {
        let (tx, rx) = mpsc::channel();
        self.commands
            .send(Command::Alive(tx))
            .map_err(|_| "the member stopped")?;
        rx.recv().map_err(|_| "the member stopped".to_string())?
    }

    fn leave(self) -> Result<(), String> {
        let (tx, rx) = mpsc::channel();
        self.commands
            .send(Command::Leave(tx))
            .map_err(|_| "the member stopped")?;
        let left = rx.recv().map_err(|_| "the member stopped".to_string())?;
        let _ = self.thread.join();
        left
    }
}

fn run(s: &mut Session) -> Verdict {
    if !s.join {
        return Verdict::NotApplicable("--no-join: no temporary member joins".into());
    }
    let peer = match s.peer() {
        Ok(p) => p,
        Err(v) => return v,
    };
    let name = s.name_for("member");
    let mut config = Config::lan();
    config.name = name.clone();
    config.bind_addr = s.source_ip();
    config.bind_port = 0;
    config.keyring = s.keyring().cloned();
    config.label = s.label().cloned();
    // Speak the peer's current protocol, which it is sure to accept.
    config.protocol_version = peer.vsn.map_or(2, |v| v[2].clamp(1, 5));
    let (member, contacted) = match Handle::start(config, s.serf, s.target, s.timeout * 3) {
        Ok(m) => m,
        Err(e) => return Verdict::Fail(format!("{name} could not join: {e}")),
    };
    let verdict = joined(s, &member, &name, contacted);
    let left = member.leave();
    if let Verdict::Fail(_) = verdict {
        return verdict;
    }
    if let Err(e) = left {
        return Verdict::Fail(format!("{name} could not leave: {e}"));
    }
    // The peer records the leave (Go: left; older memberlist: dead).
    let deadline = Instant::now() + s.timeout * 2;
    loop {
        let state = match s.pull(&format!("push/pull: has {name} left?")) {
            Ok((nodes, _)) => nodes
                .into_iter()
                .find(|n| n.name.as_bytes() == name.as_bytes())
                .map(|n| n.state),
            Err(e) => return Verdict::Fail(format!("push/pull after the leave: {e}")),
        };
        match state {
            Some(NodeState::Left | NodeState::Dead) | None => {
                let shown = state.map_or("gone", |st| st.name());
                return match verdict {
                    Verdict::Pass(how) => {
                        Verdict::Pass(format!("{how}; after the leave the peer shows it {shown}"))
                    }
                    other => other,
                };
            }
            Some(st) if Instant::now() >= deadline => {
                return Verdict::Fail(format!(
                    "{name} left, but the peer still shows it {}",
                    st.name()
                ))
            }
            Some(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// While the member is joined: both sides hold each other's state.
fn joined(s: &mut Session, member: &Handle, name: &str, contacted: usize) -> Verdict {
    let (nodes, _) = match s.pull(&format!("push/pull: does the peer list {name}?")) {
        Ok(state) => state,
        Err(e) => return Verdict::Fail(format!("push/pull after the join: {e}")),
    };
    match nodes.iter().find(|n| n.name.as_bytes() == name.as_bytes()) {
        Some(n) if n.state == NodeState::Alive => {}
        Some(n) => {
            return Verdict::Fail(format!(
                "the peer lists {name} {} right after its join",
                n.state.name()
            ))
        }
        None => {
            return Verdict::Fail(format!(
                "{name} joined (contacted {contacted}), but the peer does not list it"
            ))
        }
    }
    let theirs: Vec<String> = nodes
        .iter()
        .filter(|n| n.state == NodeState::Alive)
        .map(|n| n.name.to_str_lossy().into_owned())
        .collect();
    let ours = match member.alive() {
        Ok(v) => v,
        Err(e) => return Verdict::Fail(format!("asking {name} for its members: {e}")),
    };
    let missing: Vec<&String> = theirs.iter().filter(|n| !ours.contains(n)).collect();
    if !missing.is_empty() {
        return Verdict::Fail(format!(
            "after the join {name} does not know {missing:?}, which the peer lists alive"
        ));
    }
    Verdict::Pass(format!(
        "{name} joined; each side holds the other's state ({} members alive)",
        theirs.len()
    ))
}

/// The names a member's machine holds alive.
fn alive_names<D: crate::node::Delegate>(m: &crate::node::Machine<D>) -> Vec<String> {
    m.members()
        .filter(|m| m.state == crate::node::State::Alive)
        .map(|m| m.name.clone())
        .collect()
}
