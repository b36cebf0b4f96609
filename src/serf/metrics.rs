//! The metrics Serf emits through go-metrics, under Go's names. Recorded through
//! the same [`Metrics`](crate::node::Metrics) sink as memberlist's, from the layer's
//! handlers at the spots Go records them.

use crate::node::metrics::{metric, Metric};

metric!(
    MEMBER_JOIN,
    "serf.member.join",
    Counter,
    "Members that joined (or came back)."
);
metric!(
    MEMBER_FLAP,
    "serf.member.flap",
    Counter,
    "Members back within the flap timeout of failing."
);
metric!(
    MEMBER_UPDATE,
    "serf.member.update",
    Counter,
    "Members whose tags changed."
);
metric!(
    MEMBER_FAILED,
    "serf.member.failed",
    Counter,
    "Members that failed."
);
metric!(
    MEMBER_LEFT,
    "serf.member.left",
    Counter,
    "Members that left gracefully."
);
metric!(
    EVENTS,
    "serf.events",
    Counter,
    "User events received (also per name, serf.events.NAME)."
);
metric!(
    QUERIES,
    "serf.queries",
    Counter,
    "Queries received (also per name, serf.queries.NAME)."
);
metric!(
    QUERY_ACKS,
    "serf.query_acks",
    Counter,
    "Acks received for our queries."
);
metric!(
    QUERY_DUPLICATE_ACKS,
    "serf.query_duplicate_acks",
    Counter,
    "Repeated acks for our queries."
);
metric!(
    QUERY_RESPONSES,
    "serf.query_responses",
    Counter,
    "Responses received for our queries."
);
metric!(
    QUERY_DUPLICATE_RESPONSES,
    "serf.query_duplicate_responses",
    Counter,
    "Repeated responses for our queries."
);
metric!(
    MSGS_RECEIVED,
    "serf.msgs.received",
    Sample,
    "Size of each Serf message received (bytes)."
);
metric!(
    MSGS_SENT,
    "serf.msgs.sent",
    Sample,
    "Size of each Serf message sent in gossip (bytes)."
);
metric!(
    COORDINATE_REJECTED,
    "serf.coordinate.rejected",
    Counter,
    "Peer coordinates refused by the Vivaldi update."
);
metric!(
    COORDINATE_ADJUSTMENT,
    "serf.coordinate.adjustment-ms",
    Sample,
    "How far one update moved our coordinate (ms)."
);
metric!(
    QUEUE_INTENT,
    "serf.queue.Intent",
    Sample,
    "Intents queued, sampled every queue check interval."
);
metric!(
    QUEUE_EVENT,
    "serf.queue.Event",
    Sample,
    "User events queued, sampled every queue check interval."
);
metric!(
    QUEUE_QUERY,
    "serf.queue.Query",
    Sample,
    "Queries queued, sampled every queue check interval."
);
metric!(
    SNAPSHOT_APPEND_LINE,
    "serf.snapshot.appendLine",
    Timer,
    "Time to append one line to the snapshot (ms)."
);
metric!(
    SNAPSHOT_COMPACT,
    "serf.snapshot.compact",
    Timer,
    "Time to compact the snapshot (ms)."
);

/// Every Serf metric with a fixed name, for exporters that register them up front.
pub static ALL: [&Metric; 20] = [
    &MEMBER_JOIN,
    &MEMBER_FLAP,
    &MEMBER_UPDATE,
    &MEMBER_FAILED,
    &MEMBER_LEFT,
    &EVENTS,
    &QUERIES,
    &QUERY_ACKS,
    &QUERY_DUPLICATE_ACKS,
    &QUERY_RESPONSES,
    &QUERY_DUPLICATE_RESPONSES,
    &MSGS_RECEIVED,
    &MSGS_SENT,
    &COORDINATE_REJECTED,
    &COORDINATE_ADJUSTMENT,
    &QUEUE_INTENT,
    &QUEUE_EVENT,
    &QUEUE_QUERY,
    &SNAPSHOT_APPEND_LINE,
    &SNAPSHOT_COMPACT,
];
