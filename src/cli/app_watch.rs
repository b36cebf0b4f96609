//! `memberlist agent --app alertmanager`: the agent joins an application's cluster as a
//! watcher and prints the application's state as it replicates.
//!
//! A watcher takes nothing from the cluster's state and puts nothing in it: its push/pull
//! state is empty (zero bytes, which is an empty `FullState` to Alertmanager, and which
//! memberlist does not even hand to Alertmanager's merge) and it queues no broadcasts, so
//! it cannot change a silence or a notification log; Alertmanager's peers list it as a
//! cluster member while it runs and drop it when it leaves.

use serde_json::{json, Value};
use tokio::sync::mpsc;

use memberlist_interop::apps::alertmanager::{matchers_text, News, Seen, Via, CLUSTER_PORT};
use memberlist_interop::node::{Delegate, EventDelegate, Member};

use super::agent::{log, Format};

/// The applications whose clusters the agent can watch.
#[derive(Clone, Copy, clap::ValueEnum, PartialEq, Eq, Debug)]
pub enum WatchApp {
    /// Prometheus Alertmanager (cluster port 9094): silences and the notification log.
    Alertmanager,
}

/// A payload the watcher took from the cluster, with how it came.
pub type Payload = (Via, Vec<u8>);

/// The plain agent's delegate: membership events to the agent's loop and, when it
/// watches an application, user messages and peers' push/pull states to the watcher
/// instead of the event stream.
pub struct AgentDelegate {
    events: EventDelegate,
    watch: Option<mpsc::UnboundedSender<Payload>>,
}

impl AgentDelegate {
    /// A delegate that sends application payloads to `watch` when it is given.
    pub fn new(events: EventDelegate, watch: Option<mpsc::UnboundedSender<Payload>>) -> Self {
        AgentDelegate { events, watch }
    }
}

impl Delegate for AgentDelegate {
    fn notify_msg(&mut self, msg: &[u8]) {
        match &self.watch {
            // The watcher may have stopped (the agent is leaving): not an error.
            Some(w) => drop(w.send((Via::Gossip, msg.to_vec()))),
            None => self.events.notify_msg(msg),
        }
    }

    fn get_broadcasts(&mut self, overhead: usize, limit: usize) -> Vec<Vec<u8>> {
        self.events.get_broadcasts(overhead, limit)
    }

    fn has_broadcasts(&self) -> bool {
        self.events.has_broadcasts()
    }

    fn merge_remote_state(&mut self, state: &[u8], join: bool) {
        match &self.watch {
            Some(w) => drop(w.send((Via::PushPull, state.to_vec()))),
            None => self.events.merge_remote_state(state, join),
        }
    }

    fn notify_join(&mut self, member: &Member) {
        self.events.notify_join(member);
    }

    fn notify_leave(&mut self, member: &Member) {
        self.events.notify_leave(member);
    }

    fn notify_update(&mut self, member: &Member) {
        self.events.notify_update(member);
    }

    fn notify_conflict(&mut self, existing: &Member, other: &Member) {
        self.events.notify_conflict(existing, other);
    }

    fn notify_ping_complete(&mut self, member: &Member, rtt: std::time::Duration, payload: &[u8]) {
        self.events.notify_ping_complete(member, rtt, payload);
    }
}

/// Prints an application's silences and notification-log entries once each, as they
/// first arrive and whenever they change.
pub struct Watcher {
    format: Format,
    seen: Seen,
    /// Payloads that were not Alertmanager's; the first is explained on stderr.
    foreign: u64,
}

impl Watcher {
    pub fn new(format: Format) -> Self {
        Watcher {
            format,
            seen: Seen::default(),
            foreign: 0,
        }
    }

    /// Prints the news in one payload.
    pub fn payload(&mut self, (via, bytes): Payload) {
        match self.seen.news(via, &bytes) {
            Ok(news) => news.iter().for_each(|n| self.print(via, n)),
            Err(e) => {
                self.foreign += 1;
                if self.foreign == 1 {
                    tracing::warn!(
                        target: "agent",
                        "a {} payload is not Alertmanager's ({e}): is --join an Alertmanager \
                         cluster address (its --cluster.listen-address, port {CLUSTER_PORT} by \
                         default, not the web port 9093)? Further ones are only counted",
                        via.name()
                    );
                }
            }
        }
    }

    fn print(&self, via: Via, news: &News) {
        let line = match news {
            News::Silence(s) => json!({
                "event": "silence",
                "via": via.name(),
                "id": s["Id"],
                "matchers": match self.format {
                    Format::Json => s["Matchers"].clone(),
                    Format::Text => json!(matchers_text(s)),
                },
                "starts_at": s["StartsAt"],
                "ends_at": s["EndsAt"],
                "updated_at": s["UpdatedAt"],
                "created_by": s["CreatedBy"],
                "comment": s["Comment"],
            }),
            News::Entry(e) => {
                let r = &e["Receiver"];
                json!({
                    "event": "notification",
                    "via": via.name(),
                    "receiver": format!(
                        "{}/{}/{}",
                        r["GroupName"].as_str().unwrap_or_default(),
                        r["Integration"].as_str().unwrap_or_default(),
                        r["Idx"]
                    ),
                    "group_key": e["GroupKey"],
                    "firing": count(&e["FiringAlerts"]),
                    "resolved": count(&e["ResolvedAlerts"]),
                    "resolved_group": e["Resolved"],
                    "at": e["Timestamp"],
                })
            }
        };
        log(self.format, line);
    }

    /// How many payloads were not the application's.
    pub fn foreign(&self) -> u64 {
        self.foreign
    }
}

fn count(v: &Value) -> usize {
    v.as_array().map_or(0, Vec::len)
}
