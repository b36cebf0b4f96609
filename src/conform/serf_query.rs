//! A Serf query (filtered to the peer, not rebroadcast) that asks for an ack is acked
//! to the address it names.

use rand::Rng;

use crate::serf::messages::{Filter, Query, QUERY_FLAG_ACK, QUERY_FLAG_NO_BROADCAST};
use crate::serf::{LamportTime, SerfMessage};
use crate::wire::{GoInt, Message};

use super::serf_tags::serf_state;
use super::session::ip_bytes;
use super::{Check, Session, Verdict};

pub const CHECK: Check = Check {
    id: "serf-query",
    title: "a Serf query asking for an ack is acked",
    serf_only: true,
    run,
};

fn run(s: &mut Session) -> Verdict {
    let name = s.name_for("query");
    ask(s, &name)
}

/// Sends the query `name` to the peer alone and waits for its ack.
pub(super) fn ask(s: &mut Session, name: &str) -> Verdict {
    let peer = match s.peer() {
        Ok(p) => p,
        Err(v) => return v,
    };
    let state = match serf_state(s) {
        Ok(st) => st,
        Err(v) => return v,
    };
    let mut filter = Vec::new();
    Filter::Node(vec![peer.name.clone().into()]).encode(&mut filter);
    let id: u32 = rand::thread_rng().gen();
    let ltime = state.query_ltime.0 + 1;
    let here = s.local_addr();
    let query = SerfMessage::Query(Query {
        ltime: LamportTime(ltime),
        id,
        addr: Some(ip_bytes(here.ip()).into()),
        port: here.port(),
        source_node: s.name_for("querier").into(),
        filters: Some(vec![filter.into()]),
        flags: QUERY_FLAG_ACK | QUERY_FLAG_NO_BROADCAST,
        relay_factor: 0,
        timeout: GoInt::new(s.timeout.as_nanos() as i64),
        name: name.to_owned().into(),
        payload: Some(b"conform".to_vec().into()),
    });
    let datagram = s.wrap(&[Message::User(query.to_bytes().into()).to_bytes()]);
    s.send_udp(
        &format!("serf query {name} id={id} ltime={ltime}, ack to {here}"),
        &datagram,
    );
    let acked = s.await_udp(s.timeout, |m| match m {
        Message::User(b) => match SerfMessage::decode(b) {
            Ok(SerfMessage::QueryResponse(r)) if r.id == id && r.ltime.0 == ltime && r.ack() => {
                Some(r.from.to_str_lossy().into_owned())
            }
            _ => None,
        },
        _ => None,
    });
    match acked {
        Some(from) => Verdict::Pass(format!("query {name} acked by {from}")),
        None => Verdict::Fail(format!("no ack for query {name} (id={id})")),
    }
}
