//! Exchanges over streams: push/pull state sync (join and anti-entropy), the TCP
//! fallback ping and reliable user messages, in both directions.
//!
//! The machine never touches a connection. For an outgoing exchange it emits a
//! [`StreamRequest`] with the bytes to write; the caller dials, writes, reads one
//! frame back when asked to, and returns it with [`Machine::handle_stream_reply`].
//! For an incoming connection the caller reads one frame (with
//! [`Machine::stream_config`]) and writes back whatever
//! [`Machine::handle_inbound_stream`] returns.

use std::collections::VecDeque;
use std::net::SocketAddr;

use super::delegate::{Delegate, Refusal};
use super::machine::{JoinId, JoinOutcome, Machine, Output, StreamId, StreamRequest};
use super::member::{Member, State, Versions};
use super::metrics;
use super::node_list::k_random_nodes;
use super::stats::Counter;
use super::time::Time;
use crate::wire::{
    build_stream, AckResp, ErrResp, NodeState, PushNodeState, Side, StreamMessage, StreamOptions,
    WireError,
};

/// What an outgoing stream was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PendingStream {
    PushPull {
        join: Option<JoinId>,
        started: Time,
        to: SocketAddr,
    },
    FallbackPing {
        seq: u32,
    },
    Reliable,
}

/// A join in progress: the peers not tried yet, and the results so far. Go's `Join`
/// syncs with one peer after the other, so each push/pull carries what the ones
/// before it taught us: a member joining two sides of a healed partition hands the
/// second side the first side's members, who are news there, and spread by gossip.
#[derive(Debug, Default)]
pub(super) struct JoinState {
    next: VecDeque<SocketAddr>,
    joined: usize,
    errors: Vec<String>,
}

/// How an outgoing stream ended, as the caller saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamReply<'a> {
    /// Written, and no reply was expected.
    Sent,
    /// The frame the peer answered with.
    Frame(StreamMessage<'a>),
    /// Dial, write or read failed, timed out, or the reply did not decode.
    Failed(String),
}

impl<D: Delegate> Machine<D> {
    /// Frames a stream message with our compression, encryption and label.
    pub(super) fn stream_bytes(&self, msg: &StreamMessage<'_>, side: Side) -> Vec<u8> {
        build_stream(
            msg,
            &StreamOptions {
                compress: self.config.enable_compression,
                encryption: self.outgoing_encryption(),
                label: self.config.label.as_ref(),
                side: Some(side),
            },
        )
    }

    /// Emits a stream request bounded by `tcp_timeout`.
    pub(super) fn open_stream(
        &mut self,
        now: Time,
        to: SocketAddr,
        bytes: Vec<u8>,
        purpose: PendingStream,
        expect_reply: bool,
    ) -> StreamId {
        let deadline = now + self.config.tcp_timeout;
        self.open_stream_until(to, bytes, purpose, expect_reply, deadline)
    }

    pub(super) fn open_stream_until(
        &mut self,
        to: SocketAddr,
        bytes: Vec<u8>,
        purpose: PendingStream,
        expect_reply: bool,
        deadline: Time,
    ) -> StreamId {
        self.config
            .metrics
            .incr(&metrics::TCP_SENT, bytes.len() as f32);
        let id = StreamId(self.next_stream);
        self.next_stream += 1;
        self.streams.insert(id, purpose);
        self.push_output(Output::Stream(StreamRequest {
            id,
            to,
            bytes,
            expect_reply,
            deadline,
        }));
        id
    }

    /// Our member list and the delegate's state, as a push/pull message.
    fn local_state(&mut self, join: bool) -> StreamMessage<'static> {
        let nodes = self
            .nodes
            .iter()
            .map(|n| PushNodeState {
                name: n.name.clone().into(),
                addr: Some(n.addr.clone().into()),
                port: n.port,
                meta: Some(n.meta.clone().into()),
                incarnation: n.incarnation,
                state: n.state.into(),
                vsn: Some(n.versions.to_vsn().to_vec().into()),
            })
            .collect();
        let user = self.delegate.local_state(join);
        if self.config.metrics.is_enabled() {
            let mut counts = [0u32; 4];
            for n in &self.nodes {
                // In the order of `NODE_STATES`.
                let i = match n.state {
                    State::Alive => 0,
                    State::Suspect => 1,
                    State::Dead => 2,
                    State::Left => 3,
                };
                counts[i] += 1;
            }
            for (state, count) in metrics::NODE_STATES.iter().zip(counts) {
                self.config
                    .metrics
                    .set(&metrics::NODE_INSTANCES, Some(state), count as f32);
            }
        }
        StreamMessage::push_pull(join, nodes, user)
    }

    /// `memberlist.size.local`: the bytes of the push/pull frame we send. (Go means
    /// the same but reads four bytes of the msgpack header as the length, so its
    /// value is the same large constant whatever the state's size.)
    fn note_local_state_size(&self, bytes: usize) {
        self.config
            .metrics
            .set(&metrics::SIZE_LOCAL, None, bytes as f32);
    }

    /// Joins a cluster through the given members: a push/pull with each in turn,
    /// the next once the previous one ended (Go's `Join`). The outcome comes as
    /// [`Output::JoinDone`].
    pub fn join(&mut self, now: Time, peers: &[SocketAddr]) -> JoinId {
        let id = JoinId(self.next_join);
        self.next_join += 1;
        self.joins.insert(
            id,
            JoinState {
                next: peers.iter().copied().collect(),
                ..JoinState::default()
            },
        );
        self.join_next(now, id);
        id
    }

    /// Starts the join's next push/pull, or reports the join done when no peer is
    /// left to try.
    fn join_next(&mut self, now: Time, id: JoinId) {
        let Some(state) = self.joins.get_mut(&id) else {
            return;
        };
        if let Some(peer) = state.next.pop_front() {
            self.start_push_pull(now, peer, Some(id));
        } else if let Some(done) = self.joins.remove(&id) {
            self.push_output(Output::JoinDone(JoinOutcome {
                id,
                joined: done.joined,
                errors: done.errors,
            }));
        }
    }

    /// Sends our state to `to` and expects its state back; `join` marks a join's
    /// exchange (Go's `Join` flag, which lets the peer's merge delegate vet us).
    fn start_push_pull(&mut self, now: Time, to: SocketAddr, join: Option<JoinId>) {
        let msg = self.local_state(join.is_some());
        let bytes = self.stream_bytes(&msg, Side::Dialer);
        self.note_local_state_size(bytes.len());
        tracing::debug!(target: "memberlist", "Initiating push/pull sync with: {to}");
        self.config.metrics.incr(&metrics::TCP_CONNECT, 1.0);
        self.open_stream(
            now,
            to,
            bytes,
            PendingStream::PushPull {
                join,
                started: now,
                to,
            },
            true,
        );
    }

    /// Periodic anti-entropy with one random live member (Go's `pushPull`).
    pub(super) fn push_pull(&mut self, now: Time) {
        let me = self.config.name.clone();
        let Some(&i) = k_random_nodes(&mut self.rng, 1, &self.nodes, |n| {
            n.name == me || n.state != State::Alive
        })
        .first() else {
            return;
        };
        let Some(addr) = self.nodes[i].socket_addr() else {
            return;
        };
        self.start_push_pull(now, addr, None);
    }

    /// The end of an outgoing exchange. Replies to unknown ids are ignored.
    pub fn handle_stream_reply(&mut self, now: Time, id: StreamId, reply: StreamReply<'_>) {
        let Some(purpose) = self.streams.remove(&id) else {
            return;
        };
        match purpose {
            PendingStream::PushPull { join, started, to } => {
                let result = match reply {
                    StreamReply::Frame(StreamMessage::PushPull {
                        header,
                        nodes,
                        user_state,
                    }) => self.merge_remote(now, header.join, &nodes, &user_state),
                    StreamReply::Frame(StreamMessage::Err(ErrResp { error })) => {
                        Err(format!("remote error: {error}"))
                    }
                    StreamReply::Frame(other) => Err(format!(
                        "expected a push/pull reply, got {:?}",
                        other.message_type()
                    )),
                    StreamReply::Sent => Err("no push/pull reply".into()),
                    StreamReply::Failed(e) => Err(e),
                };
                self.config
                    .metrics
                    .measure(&metrics::PUSH_PULL_NODE, now.saturating_since(started));
                if let Err(e) = &result {
                    // Go logs a failed join at debug level (the caller hears of it)
                    // and a failed periodic push/pull as an error; we count both.
                    match join {
                        Some(_) => {
                            self.stats
                                .count_at(Counter::BadStreams, tracing::Level::DEBUG, || {
                                    format!("Failed to join {to}: {e}")
                                })
                        }
                        None => self.stats.count(Counter::BadStreams, || {
                            format!("Push/Pull with {to} failed: {e}")
                        }),
                    }
                }
                if let Some(join) = join {
                    self.join_progress(now, join, result);
                }
            }
            PendingStream::FallbackPing { seq } => {
                let contacted = matches!(
                    reply,
                    StreamReply::Frame(StreamMessage::AckResp(AckResp { seq_no, .. })) if seq_no == seq
                );
                self.fallback_result(now, seq, contacted);
            }
            PendingStream::Reliable => {
                if let StreamReply::Failed(e) = reply {
                    self.stats.count(Counter::BadStreams, || {
                        format!("Failed to send a user message over a stream: {e}")
                    });
                }
            }
        }
    }

    fn join_progress(&mut self, now: Time, id: JoinId, result: Result<(), String>) {
        let Some(state) = self.joins.get_mut(&id) else {
            return;
        };
        match result {
            Ok(()) => state.joined += 1,
            Err(e) => state.errors.push(e),
        }
        self.join_next(now, id);
    }

    /// Go's `mergeRemoteState`: version checks, the merge delegate (joins only),
    /// then the member list and the delegate's state.
    fn merge_remote(
        &mut self,
        now: Time,
        join: bool,
        nodes: &[PushNodeState<'_>],
        user_state: &[u8],
    ) -> Result<(), String> {
        if let Err(e) = self.verify_protocol(nodes) {
            self.stats.count(Counter::RefusedMerges, || {
                format!("Failed push/pull merge: {e}")
            });
            return Err(e);
        }
        if join {
            let members: Vec<Member> = nodes.iter().map(|n| member_of(n, now)).collect();
            if let Err(Refusal(why)) = self.delegate.notify_merge(&members) {
                self.stats.count(Counter::RefusedMerges, || {
                    format!("Failed push/pull merge: refused by the merge delegate: {why}")
                });
                return Err(why);
            }
        }
        self.merge_state(nodes, now);
        if !user_state.is_empty() {
            self.delegate.merge_remote_state(user_state, join);
        }
        Ok(())
    }

    /// A frame read from an incoming connection (or why it could not be read).
    /// Returns the bytes to write back, if any, then the connection is closed.
    pub fn handle_inbound_stream(
        &mut self,
        now: Time,
        from: SocketAddr,
        frame: Result<StreamMessage<'_>, WireError>,
    ) -> Option<Vec<u8>> {
        tracing::debug!(target: "memberlist", "Stream connection from={from}");
        self.config.metrics.incr(&metrics::TCP_ACCEPT, 1.0);
        let reply = self.answer_inbound_stream(now, from, frame);
        if let Some(bytes) = &reply {
            self.config
                .metrics
                .incr(&metrics::TCP_SENT, bytes.len() as f32);
        }
        reply
    }

    fn answer_inbound_stream(
        &mut self,
        now: Time,
        from: SocketAddr,
        frame: Result<StreamMessage<'_>, WireError>,
    ) -> Option<Vec<u8>> {
        let msg = match frame {
            Ok(m) => m,
            Err(e) => {
                self.stats.count(Counter::BadStreams, || match &e {
                    WireError::LabelMismatch { got, .. } => {
                        format!("discarding stream with unacceptable label {got:?}: from={from}")
                    }
                    _ => format!("failed to receive: {e} from={from}"),
                });
                // Go answers a frame it cannot read with an error message, except
                // when the label is wrong (it just closes).
                if matches!(e, WireError::LabelMismatch { .. }) {
                    return None;
                }
                let err = StreamMessage::Err(ErrResp {
                    error: e.to_string().into(),
                });
                return Some(self.stream_bytes(&err, Side::Acceptor));
            }
        };
        match msg {
            StreamMessage::User { payload, .. } => {
                self.delegate.notify_msg(&payload);
                None
            }
            StreamMessage::PushPull {
                header,
                nodes,
                user_state,
            } => {
                let reply = self.local_state(header.join);
                let bytes = self.stream_bytes(&reply, Side::Acceptor);
                self.note_local_state_size(bytes.len());
                if let Err(e) = self.merge_remote(now, header.join, &nodes, &user_state) {
                    self.stats.count(Counter::BadStreams, || {
                        format!("Failed push/pull merge: {e} from={from}")
                    });
                }
                Some(bytes)
            }
            StreamMessage::Ping(ping) => {
                if !ping.node.is_empty() && ping.node.as_bytes() != self.config.name.as_bytes() {
                    self.stats.count(Counter::MisaddressedPings, || {
                        format!("Got ping for unexpected node {} from={from}", ping.node)
                    });
                    return None;
                }
                let ack = StreamMessage::AckResp(AckResp {
                    seq_no: ping.seq_no,
                    payload: None,
                });
                Some(self.stream_bytes(&ack, Side::Acceptor))
            }
            other => {
                self.stats.count(Counter::BadStreams, || {
                    format!(
                        "Received invalid msgType ({:?}) from={from}",
                        other.message_type()
                    )
                });
                None
            }
        }
    }
}

/// A push/pull entry as the merge delegate sees it.
fn member_of(n: &PushNodeState<'_>, now: Time) -> Member {
    Member {
        name: n.name.to_str_lossy().into_owned(),
        addr: n.addr.as_deref().unwrap_or_default().to_vec(),
        port: n.port,
        meta: n.meta.as_deref().unwrap_or_default().to_vec(),
        versions: Versions::from_vsn(n.vsn.as_deref().unwrap_or_default()).unwrap_or_default(),
        incarnation: n.incarnation,
        state: match n.state {
            NodeState::Alive => State::Alive,
            NodeState::Suspect => State::Suspect,
            NodeState::Left => State::Left,
            NodeState::Dead | NodeState::Other(_) => State::Dead,
        },
        state_change: now,
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;
    use crate::node::config::Config;
    use crate::node::delegate::NoDelegate;
    use crate::wire::{decode_frame, Decoded};

    fn member() -> Machine<NoDelegate> {
        let mut config = Config::local();
        config.name = "a".into();
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 7946);
        Machine::new(
            config,
            addr,
            Vec::new(),
            NoDelegate,
            StdRng::seed_from_u64(7),
            Time::ZERO,
        )
        .unwrap()
    }

    fn outputs(m: &mut Machine<NoDelegate>) -> (Vec<StreamRequest>, Vec<JoinOutcome>) {
        let (mut streams, mut done) = (Vec::new(), Vec::new());
        while let Some(o) = m.poll_output() {
            match o {
                Output::Stream(s) => streams.push(s),
                Output::JoinDone(d) => done.push(d),
                Output::Transmit(_) => {}
            }
        }
        (streams, done)
    }

    /// The member names of a push/pull frame we sent.
    fn pushed_names(m: &Machine<NoDelegate>, bytes: &[u8]) -> Vec<String> {
        match decode_frame(bytes, &m.stream_config(Side::Acceptor)) {
            Ok(Decoded::Frame(f)) => match f.message {
                StreamMessage::PushPull { nodes, .. } => nodes
                    .iter()
                    .map(|n| n.name.to_str_lossy().into_owned())
                    .collect(),
                other => panic!("not a push/pull: {other:?}"),
            },
            other => panic!("no frame: {other:?}"),
        }
    }

    /// Go's `Join` syncs with its peers one after the other, so the second push/pull
    /// already carries the members the first one taught us.
    #[test]
    fn a_join_syncs_with_one_peer_after_the_other() {
        let mut m = member();
        let first: SocketAddr = "127.0.0.2:7946".parse().unwrap();
        let second: SocketAddr = "127.0.0.3:7946".parse().unwrap();
        let now = Time::ZERO;
        let id = m.join(now, &[first, second]);
        let (streams, done) = outputs(&mut m);
        assert_eq!(streams.iter().map(|s| s.to).collect::<Vec<_>>(), [first]);
        assert!(done.is_empty());
        assert_eq!(pushed_names(&m, &streams[0].bytes), ["a"]);

        let vsn = m.local_versions().to_vsn().to_vec();
        let x = PushNodeState {
            name: "x".to_owned().into(),
            addr: Some(vec![127, 0, 0, 2].into()),
            port: 7946,
            meta: Some(Vec::new().into()),
            incarnation: 1,
            state: NodeState::Alive,
            vsn: Some(vsn.into()),
        };
        let reply = StreamMessage::push_pull(true, vec![x], Vec::new());
        m.handle_stream_reply(now, streams[0].id, StreamReply::Frame(reply));
        let (streams, done) = outputs(&mut m);
        assert_eq!(streams.iter().map(|s| s.to).collect::<Vec<_>>(), [second]);
        assert!(done.is_empty());
        let mut names = pushed_names(&m, &streams[0].bytes);
        names.sort();
        assert_eq!(names, ["a", "x"]);

        m.handle_stream_reply(now, streams[0].id, StreamReply::Failed("refused".into()));
        let (streams, done) = outputs(&mut m);
        assert!(streams.is_empty());
        assert_eq!(done.len(), 1);
        assert_eq!(
            (done[0].id, done[0].joined, done[0].errors.len()),
            (id, 1, 1)
        );
    }
}
