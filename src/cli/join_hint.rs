//! Why a join failed, in terms of the flag that fixes it. Once a join has failed,
//! the agent asks each peer for its state with the exchange `members --peer` uses
//! (a push/pull that sends no node of ours): a Serf agent's answer shows Serf's
//! delegate protocol, and a peer that wants another key or label fails the
//! exchange the way `memberlist ping` explains.

use std::net::SocketAddr;
use std::time::Duration;

use memberlist_interop::node::Versions;
use memberlist_interop::wire::{
    build_stream, Encryption, EncryptionVersion, Keyring, Label, NodeState, Side, StreamMessage,
    StreamOptions,
};

use memberlist_interop::node::exchange::{exchange, Answer};

/// What we joined as: the cluster must speak the same delegate protocol.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum JoinedAs {
    Plain,
    Serf,
}

/// The flag to pass (or drop) to join `peer`, if its answer shows one; `None` when
/// the peer answers our state request and speaks our delegate protocol.
pub fn diagnose(
    peer: SocketAddr,
    keyring: Option<&Keyring>,
    label: Option<&Label>,
    joined_as: JoinedAs,
    timeout: Duration,
) -> Option<String> {
    let request = StreamMessage::push_pull(false, Vec::new(), Vec::new());
    let bytes = build_stream(
        &request,
        &StreamOptions {
            compress: false,
            encryption: keyring.map(|k| Encryption {
                keyring: k,
                version: EncryptionVersion::V1,
                nonce: None,
            }),
            label,
            side: Some(Side::Dialer),
        },
    );
    let nodes = match exchange(peer, &bytes, keyring, label, timeout) {
        Ok(Answer {
            message: StreamMessage::PushPull { nodes, .. },
            ..
        }) => nodes,
        Ok(_) => return None,
        Err(f) => return Some(f.likely_cause(keyring, label)),
    };
    // Serf speaks delegate protocol 2 to 5 (the agent's 5, Consul's 4); a plain
    // memberlist application, like our plain agent, 0.
    let delegate = nodes
        .iter()
        .filter(|n| n.state == NodeState::Alive)
        .filter_map(|n| Versions::from_vsn(n.vsn.as_deref().unwrap_or_default()))
        .map(|v| v.delegate_cur)
        .max()?;
    match joined_as {
        JoinedAs::Plain if delegate >= 2 => Some(format!(
            "the peer looks like a Serf or Consul agent (its members speak Serf's delegate protocol {delegate}): pass --serf to join it as a Serf member"
        )),
        JoinedAs::Serf if delegate < 2 => Some(format!(
            "the peer is a plain memberlist node (delegate protocol {delegate}), not a Serf agent: drop --serf to join it"
        )),
        _ => None,
    }
}

/// The message for a join that reached no member: the error, then for each peer
/// whose answer names a fix, that fix.
pub async fn join_failed(
    error: String,
    peers: &[SocketAddr],
    keyring: Option<Keyring>,
    label: Option<Label>,
    joined_as: JoinedAs,
) -> String {
    let peers = peers.to_vec();
    let hints = tokio::task::spawn_blocking(move || {
        peers
            .iter()
            .filter_map(|&p| {
                diagnose(
                    p,
                    keyring.as_ref(),
                    label.as_ref(),
                    joined_as,
                    Duration::from_secs(2),
                )
                .map(|h| format!("\n  {p}: {h}"))
            })
            .collect::<String>()
    })
    .await
    .unwrap_or_default();
    format!("joined no member: {error}{hints}")
}
