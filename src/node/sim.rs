//! A deterministic network for [`Machine`]s: one process, one simulated clock, and a
//! network that loses, delays and partitions traffic as told. The same seed gives
//! the same run, so a failure found here can be replayed and debugged.
//!
//! Datagrams are lost with the configured probability; streams (TCP) are never lost
//! but fail when either end is down or the ends are partitioned, after the
//! requester's deadline, as a real dial would time out.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rustc_hash::FxHashMap as HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::config::Config;
use super::delegate::Delegate;
use super::machine::{Machine, Output, StreamRequest};
use super::streams::StreamReply;
use super::time::Time;
use crate::wire::{decode_complete, Side};

/// How the simulated network treats traffic.
#[derive(Debug, Clone)]
pub struct Network {
    /// Probability that a datagram is dropped.
    pub loss: f64,
    /// One-way delay, drawn uniformly from this range for every delivery.
    pub delay: (Duration, Duration),
}

impl Default for Network {
    fn default() -> Self {
        Network {
            loss: 0.0,
            delay: (Duration::from_micros(200), Duration::from_millis(2)),
        }
    }
}

/// Something in flight.
enum Delivery {
    Packet {
        from: SocketAddr,
        to: usize,
        bytes: Vec<u8>,
    },
    /// A stream request arriving at its target.
    Request { from: usize, req: StreamRequest },
    /// A stream's outcome arriving back at its requester.
    Reply {
        to: usize,
        id: super::machine::StreamId,
        bytes: Option<Vec<u8>>,
        error: Option<String>,
    },
    /// A node's timer.
    Timer { node: usize, generation: u64 },
}

/// One simulated member.
pub struct SimNode<D> {
    /// The member's own state machine.
    pub machine: Machine<D>,
    /// Its simulated address.
    pub addr: SocketAddr,
    /// False once killed: it neither sends nor receives.
    pub up: bool,
    /// Which side of a partition the node is on; nodes on different sides cannot talk.
    pub side: u32,
    timer_generation: u64,
}

/// The cluster and its network.
pub struct Sim<D> {
    /// Every member, by index.
    pub nodes: Vec<SimNode<D>>,
    /// Loss and delay applied to datagrams and streams.
    pub network: Network,
    now: Time,
    /// Due time and delivery key; keys grow, so equal times keep their order.
    queue: BinaryHeap<Reverse<(Time, usize)>>,
    deliveries: HashMap<usize, Delivery>,
    next_delivery: usize,
    by_addr: HashMap<SocketAddr, usize>,
    rng: StdRng,
    /// Datagrams delivered, for reporting.
    pub delivered: u64,
    /// Datagrams the network lost or a partition or a down node cut off.
    pub dropped: u64,
}

impl<D: Delegate> Sim<D> {
    /// `n` nodes named `node-<i>` at 10.x.y.z:7946, each configured by `config`
    /// (given the index and a config with the name and addresses already set) and
    /// given a delegate by `delegate`. Nothing is joined yet.
    pub fn new(
        n: usize,
        seed: u64,
        mut config: impl FnMut(usize, Config) -> Config,
        mut delegate: impl FnMut(usize) -> D,
    ) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut nodes = Vec::with_capacity(n);
        let mut by_addr = HashMap::default();
        for i in 0..n {
            let ip = IpAddr::V4(Ipv4Addr::new(10, (i >> 16) as u8, (i >> 8) as u8, i as u8));
            let addr = SocketAddr::new(ip, 7946);
            let mut c = Config::lan();
            c.name = format!("node-{i}");
            c.bind_addr = ip;
            let c = config(i, c);
            let machine = Machine::new(
                c,
                addr,
                Vec::new(),
                delegate(i),
                StdRng::seed_from_u64(rng.gen()),
                Time::ZERO,
            )
            .expect("simulation config must be valid");
            by_addr.insert(addr, i);
            nodes.push(SimNode {
                machine,
                addr,
                up: true,
                side: 0,
                timer_generation: 0,
            });
        }
        let mut sim = Sim {
            nodes,
            network: Network::default(),
            now: Time::ZERO,
            queue: BinaryHeap::new(),
            deliveries: HashMap::default(),
            next_delivery: 0,
            by_addr,
            rng,
            delivered: 0,
            dropped: 0,
        };
        for i in 0..n {
            sim.after_input(i);
        }
        sim
    }

    /// The simulated clock.
    pub fn now(&self) -> Time {
        self.now
    }

    /// Node `i` joins through node `via`.
    pub fn join(&mut self, i: usize, via: usize) {
        self.join_through(i, &[via]);
    }

    /// Node `i` joins through each of `via`, one after the other (one join with a
    /// list of peers, as an agent started with several join addresses does).
    pub fn join_through(&mut self, i: usize, via: &[usize]) {
        let to: Vec<_> = via.iter().map(|&v| self.nodes[v].addr).collect();
        let now = self.now;
        self.nodes[i].machine.join(now, &to);
        self.after_input(i);
    }

    /// Stops a node abruptly (no leave): it goes silent.
    pub fn kill(&mut self, i: usize) {
        self.nodes[i].up = false;
    }

    /// Starts a graceful leave.
    pub fn leave(&mut self, i: usize) {
        let now = self.now;
        self.nodes[i].machine.leave(now);
        self.after_input(i);
    }

    /// Puts node `i` on partition side `side` (0 for everyone initially).
    pub fn set_side(&mut self, i: usize, side: u32) {
        self.nodes[i].side = side;
    }

    fn can_talk(&self, a: usize, b: usize) -> bool {
        self.nodes[a].up && self.nodes[b].up && self.nodes[a].side == self.nodes[b].side
    }

    fn delay(&mut self) -> Duration {
        let (lo, hi) = self.network.delay;
        if hi <= lo {
            return lo;
        }
        lo + Duration::from_nanos(self.rng.gen_range(0..(hi - lo).as_nanos() as u64))
    }

    fn schedule(&mut self, at: Time, d: Delivery) {
        let key = self.next_delivery;
        self.next_delivery += 1;
        self.deliveries.insert(key, d);
        self.queue.push(Reverse((at, key)));
    }

    /// Collects node `i`'s outputs into the network and re-arms its timer.
    fn after_input(&mut self, i: usize) {
        let now = self.now;
        self.nodes[i].machine.drive_delegate(now);
        while let Some(out) = self.nodes[i].machine.poll_output() {
            if !self.nodes[i].up {
                continue;
            }
            match out {
                Output::Transmit(t) => {
                    let Some(&to) = self.by_addr.get(&t.to) else {
                        continue;
                    };
                    if self.rng.gen::<f64>() < self.network.loss {
                        self.dropped += 1;
                        continue;
                    }
                    let at = self.now + self.delay();
                    let from = self.nodes[i].addr;
                    self.schedule(
                        at,
                        Delivery::Packet {
                            from,
                            to,
                            bytes: t.packet,
                        },
                    );
                }
                Output::Stream(req) => {
                    let at = self.now + self.delay();
                    self.schedule(at, Delivery::Request { from: i, req });
                }
                Output::JoinDone(_) => {}
            }
        }
        let node = &mut self.nodes[i];
        node.timer_generation += 1;
        let (t, generation) = (node.machine.poll_timeout(), node.timer_generation);
        self.schedule(
            t.max(self.now),
            Delivery::Timer {
                node: i,
                generation,
            },
        );
    }

    /// Runs the simulation until `until` (or until nothing is scheduled).
    pub fn run_until(&mut self, until: Time) {
        while let Some(&Reverse((at, key))) = self.queue.peek() {
            if at > until {
                break;
            }
            self.queue.pop();
            self.now = at;
            let Some(d) = self.deliveries.remove(&key) else {
                continue;
            };
            self.deliver(d);
        }
        self.now = self.now.max(until);
    }

    /// Runs for `d` of simulated time.
    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    /// Runs until `done` holds (checked every `step`) or `limit` has passed;
    /// returns the simulated time it took, or `None` on the limit.
    pub fn run_until_true(
        &mut self,
        step: Duration,
        limit: Duration,
        mut done: impl FnMut(&Self) -> bool,
    ) -> Option<Duration> {
        let start = self.now;
        while self.now.saturating_since(start) < limit {
            if done(self) {
                return Some(self.now.saturating_since(start));
            }
            self.run_for(step);
        }
        done(self).then(|| self.now.saturating_since(start))
    }

    fn deliver(&mut self, d: Delivery) {
        let now = self.now;
        match d {
            Delivery::Timer { node, generation } => {
                let n = &mut self.nodes[node];
                if n.timer_generation != generation || !n.up {
                    return;
                }
                n.machine.handle_timeout(now);
                self.after_input(node);
            }
            Delivery::Packet { from, to, bytes } => {
                let Some(&src) = self.by_addr.get(&from) else {
                    return;
                };
                if !self.can_talk(src, to) {
                    self.dropped += 1;
                    return;
                }
                self.delivered += 1;
                self.nodes[to].machine.handle_packet(now, from, &bytes);
                self.after_input(to);
            }
            Delivery::Request { from, req } => self.deliver_request(from, req),
            Delivery::Reply {
                to,
                id,
                bytes,
                error,
            } => {
                if !self.nodes[to].up {
                    return;
                }
                let reply = match (bytes, error) {
                    (_, Some(e)) => StreamReply::Failed(e),
                    (None, None) => StreamReply::Sent,
                    (Some(b), None) => {
                        let cfg = self.nodes[to].machine.stream_config(Side::Acceptor);
                        match decode_complete(&b, &cfg) {
                            Ok(f) => {
                                let msg = f.message.into_owned();
                                self.nodes[to].machine.handle_stream_reply(
                                    now,
                                    id,
                                    StreamReply::Frame(msg),
                                );
                                self.after_input(to);
                                return;
                            }
                            Err(e) => StreamReply::Failed(e.to_string()),
                        }
                    }
                };
                self.nodes[to].machine.handle_stream_reply(now, id, reply);
                self.after_input(to);
            }
        }
    }

    fn deliver_request(&mut self, from: usize, req: StreamRequest) {
        let now = self.now;
        let Some(&to) = self.by_addr.get(&req.to) else {
            let at = now + self.delay();
            let reply = Delivery::Reply {
                to: from,
                id: req.id,
                bytes: None,
                error: Some("no route to host".into()),
            };
            return self.schedule(at, reply);
        };
        if !self.can_talk(from, to) {
            // A partition or a dead host: the dial times out at the deadline.
            let reply = Delivery::Reply {
                to: from,
                id: req.id,
                bytes: None,
                error: Some("timed out".into()),
            };
            return self.schedule(req.deadline.max(now), reply);
        }
        let from_addr = self.nodes[from].addr;
        let cfg = self.nodes[to].machine.stream_config(Side::Dialer);
        let frame = decode_complete(&req.bytes, &cfg).map(|f| f.message.into_owned());
        let answer = self.nodes[to]
            .machine
            .handle_inbound_stream(now, from_addr, frame);
        self.after_input(to);
        let at = now + self.delay();
        let (bytes, error) = match (req.expect_reply, answer) {
            (false, _) => (None, None),
            (true, Some(b)) => (Some(b), None),
            (true, None) => (None, Some("connection closed without an answer".into())),
        };
        self.schedule(
            at,
            Delivery::Reply {
                to: from,
                id: req.id,
                bytes,
                error,
            },
        );
    }
}
