//! What a running [`Serf`] member streams to the application: its events
//! ([`SerfEvents`]) and the answers to one query as they arrive ([`QueryResponses`],
//! Go's `QueryResponse` with its ack and response channels folded into one stream).
//!
//! Both are fed by a small task that follows the layer through the member's handle,
//! so they work as [`futures_core::Stream`]s and through their own `next` methods.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::lamport::LamportTime;
use super::layer::SerfEvent;
use super::query::QueryResult;
use super::shell::{Serf, ShellError, POLL};
use crate::node::RuntimeError;

/// Serf's events (member join, leave, failed, update and reap; user events; queries
/// to answer with [`Serf::respond`]) in the order the layer delivered them. Ends
/// after [`Serf::shutdown`].
///
/// It takes the events [`Serf::events`] would return: use one or the other.
#[derive(Debug)]
pub struct SerfEvents {
    rx: mpsc::UnboundedReceiver<SerfEvent>,
}

impl SerfEvents {
    /// Starts the task that moves the member's events into the stream.
    pub(super) fn follow(serf: Serf) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                // Take first, then sleep: events from before the stream existed (our
                // own join) come out too, and the waker's stored permit covers events
                // that arrive between the take and the sleep.
                let Ok(events) = serf.events().await else {
                    return;
                };
                for e in events {
                    if tx.send(e).is_err() {
                        return;
                    }
                }
                tokio::select! {
                    () = serf.events_ready() => {}
                    () = tx.closed() => return,
                }
            }
        });
        SerfEvents { rx }
    }

    /// The next event, waiting for it; `None` once the member has shut down.
    pub async fn next(&mut self) -> Option<SerfEvent> {
        self.rx.recv().await
    }

    /// The next event if one is waiting, without waiting.
    pub fn try_next(&mut self) -> Option<SerfEvent> {
        self.rx.try_recv().ok()
    }
}

impl futures_core::Stream for SerfEvents {
    type Item = SerfEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<SerfEvent>> {
        self.rx.poll_recv(cx)
    }
}

/// One answer to a query we sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryAnswer {
    /// The node processed the query (sent when the query asked for acks).
    Ack {
        /// The node's name.
        from: String,
    },
    /// The node's response; each node answers once.
    Response {
        /// The node's name.
        from: String,
        /// What its handler answered.
        payload: Vec<u8>,
    },
}

/// The answers to one query, each node's ack and response once, as they arrive; the
/// stream ends at the query's deadline (Go's `QueryResponse.Finished`).
#[derive(Debug)]
pub struct QueryResponses {
    ltime: LamportTime,
    id: u32,
    deadline: Instant,
    rx: mpsc::UnboundedReceiver<QueryAnswer>,
    /// Set by the follower when the layer closed the query at its deadline; unset
    /// when the member shut down first.
    closed: Arc<AtomicBool>,
}

impl QueryResponses {
    /// Starts the task that collects the answers of query `(ltime, id)` until
    /// `wait` from now, when the layer closes it. The task runs to the deadline even
    /// if the stream is dropped, so the layer never keeps a closed query's answers.
    pub(super) fn follow(serf: Serf, ltime: LamportTime, id: u32, wait: Duration) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let closed = Arc::new(AtomicBool::new(false));
        let closing = closed.clone();
        tokio::spawn(async move {
            let mut seen = QueryResult::default();
            loop {
                let step = serf
                    .memberlist()
                    .with(move |m, _| {
                        let d = m.delegate_mut();
                        let (fresh, done) = match d.query_answers(ltime, id) {
                            Some(now) => (news(&mut seen, now), false),
                            None => {
                                let last = d.take_query(ltime, id).unwrap_or_default();
                                (news(&mut seen, &last), true)
                            }
                        };
                        (seen, fresh, done)
                    })
                    .await;
                let Ok((s, fresh, done)) = step else {
                    return;
                };
                seen = s;
                for answer in fresh {
                    // A dropped stream still lets the task take the query at the end.
                    let _ = tx.send(answer);
                }
                if done {
                    closing.store(true, Ordering::Release);
                    return;
                }
                tokio::time::sleep(POLL).await;
            }
        });
        QueryResponses {
            ltime,
            id,
            deadline: Instant::now() + wait,
            rx,
            closed,
        }
    }

    /// The query's Lamport time (with [`Self::id`], what names it on the wire).
    pub fn ltime(&self) -> LamportTime {
        self.ltime
    }

    /// The query's id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// When the query stops collecting answers.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The next answer, waiting for it; `None` after the deadline (or once the member
    /// has shut down).
    pub async fn next(&mut self) -> Option<QueryAnswer> {
        self.rx.recv().await
    }

    /// Waits for the deadline and returns every answer not taken yet, as
    /// `serf query` prints them: acks in arrival order, responses by node. Fails
    /// when the member shut down before the deadline.
    pub async fn finish(mut self) -> Result<QueryResult, ShellError> {
        let mut result = QueryResult::default();
        while let Some(answer) = self.rx.recv().await {
            match answer {
                QueryAnswer::Ack { from } => result.acks.push(from),
                QueryAnswer::Response { from, payload } => {
                    result.responses.insert(from, payload);
                }
            }
        }
        if self.closed.load(Ordering::Acquire) {
            Ok(result)
        } else {
            Err(RuntimeError::Shutdown.into())
        }
    }
}

impl futures_core::Stream for QueryResponses {
    type Item = QueryAnswer;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<QueryAnswer>> {
        self.rx.poll_recv(cx)
    }
}

/// The answers in `now` that `seen` lacks, recorded in `seen`. The layer keeps acks
/// in arrival order and one response per node, so both only grow.
fn news(seen: &mut QueryResult, now: &QueryResult) -> Vec<QueryAnswer> {
    let mut out = Vec::new();
    for from in now.acks.iter().skip(seen.acks.len()) {
        seen.acks.push(from.clone());
        out.push(QueryAnswer::Ack { from: from.clone() });
    }
    for (from, payload) in &now.responses {
        if !seen.responses.contains_key(from) {
            seen.responses.insert(from.clone(), payload.clone());
            out.push(QueryAnswer::Response {
                from: from.clone(),
                payload: payload.clone(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn news_yields_each_ack_and_response_once() {
        let mut seen = QueryResult::default();
        let mut now = QueryResult::default();
        now.acks.push("a".into());
        now.responses.insert("b".into(), b"1".to_vec());
        assert_eq!(
            news(&mut seen, &now),
            [
                QueryAnswer::Ack { from: "a".into() },
                QueryAnswer::Response {
                    from: "b".into(),
                    payload: b"1".to_vec()
                }
            ]
        );
        assert_eq!(news(&mut seen, &now), []);
        now.acks.push("b".into());
        now.responses.insert("a".into(), b"2".to_vec());
        assert_eq!(
            news(&mut seen, &now),
            [
                QueryAnswer::Ack { from: "b".into() },
                QueryAnswer::Response {
                    from: "a".into(),
                    payload: b"2".to_vec()
                }
            ]
        );
        assert_eq!(seen, now);
    }
}
