//! Queries: what decides whether this node processes one (filters), what the origin
//! keeps while answers come in, and what a responder keeps to answer once before the
//! deadline.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use regex_lite::RegexBuilder;

use super::lamport::LamportTime;
use super::messages::Filter;
use crate::node::Time;
use crate::wire::messages::Bytes;
use crate::wire::GoString;

/// Go's `QuerySizeLimit` and `QueryResponseSizeLimit` (encoded messages).
pub const QUERY_SIZE_LIMIT: usize = 1024;
/// Go's `QueryResponseSizeLimit`.
pub const QUERY_RESPONSE_SIZE_LIMIT: usize = 1024;
/// The most memory one compiled tag-filter expression may take (Go's RE2 bounds its
/// programs too; Serf's filters are short anchors like `^web$`).
const REGEX_SIZE_LIMIT: usize = 256 * 1024;

/// Go's `QueryTimeoutMult`: default timeout = gossip interval × this × ceil(log10(n+1)).
pub const QUERY_TIMEOUT_MULT: u32 = 16;

/// Why a query's filters keep this node from processing it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// A filter that does not decode.
    #[error("filter does not decode: {0}")]
    Malformed(String),
    /// A tag filter whose expression does not compile.
    #[error("tag filter expression {0:?} is not a valid regular expression")]
    BadRegex(String),
}

/// Whether a node named `name` with `tags` processes a query with these filters: all
/// must match; a filter that does not decode (or an unknown kind) means "do not
/// process", as in Go, and is reported.
pub fn filters_match(
    filters: Option<&[Bytes<'_>]>,
    name: &str,
    tags: &BTreeMap<String, String>,
) -> Result<bool, FilterError> {
    for raw in filters.unwrap_or_default() {
        match Filter::decode(raw).map_err(|e| FilterError::Malformed(e.to_string()))? {
            Filter::Node(nodes) => {
                if !nodes.iter().any(|n| n.as_bytes() == name.as_bytes()) {
                    return Ok(false);
                }
            }
            Filter::Tag { tag, expr } => {
                let expr = expr.to_str_lossy();
                // A peer's expression: bounded, so a hostile one cannot take the memory.
                let re = RegexBuilder::new(&expr)
                    .size_limit(REGEX_SIZE_LIMIT)
                    .build()
                    .map_err(|_| FilterError::BadRegex(expr.to_string()))?;
                let value = tags
                    .get(tag.to_str_lossy().as_ref())
                    .map_or("", String::as_str);
                if !re.is_match(value) {
                    return Ok(false);
                }
            }
        }
    }
    Ok(true)
}

/// How to run a query (Go's `QueryParam`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryParams {
    /// Only these nodes process it (empty: everyone).
    pub filter_nodes: Vec<String>,
    /// Only nodes whose tag matches the RE2 expression (unanchored) process it.
    pub filter_tags: Vec<(String, String)>,
    /// Ask every processing node for an ack.
    pub request_ack: bool,
    /// Extra relayed copies of each answer.
    pub relay_factor: u8,
    /// `None`: Serf's default for the cluster size.
    pub timeout: Option<Duration>,
}

impl QueryParams {
    /// The encoded filter blobs of the query message.
    pub fn encode_filters(&self) -> Option<Vec<Bytes<'static>>> {
        let mut out = Vec::new();
        if !self.filter_nodes.is_empty() {
            let mut b = Vec::new();
            Filter::Node(
                self.filter_nodes
                    .iter()
                    .map(|n| GoString::from(n.clone()))
                    .collect(),
            )
            .encode(&mut b);
            out.push(Bytes::Owned(b));
        }
        for (tag, expr) in &self.filter_tags {
            let mut b = Vec::new();
            Filter::Tag {
                tag: GoString::from(tag.clone()),
                expr: GoString::from(expr.clone()),
            }
            .encode(&mut b);
            out.push(Bytes::Owned(b));
        }
        (!out.is_empty()).then_some(out)
    }
}

/// Serf's default query timeout for `members` live members.
pub fn default_timeout(gossip_interval: Duration, members: usize) -> Duration {
    let scale = crate::node::go_log10((members + 1) as f64).ceil().max(1.0) as u32;
    gossip_interval * QUERY_TIMEOUT_MULT * scale
}

/// What the origin of a query collected.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryResult {
    /// Nodes that acked, in arrival order, each once.
    pub acks: Vec<String>,
    /// Node → answer, each node once (the first answer wins, as in Go).
    pub responses: BTreeMap<String, Vec<u8>>,
}

/// A query we sent and are collecting answers for.
#[derive(Debug, Clone)]
pub struct OpenQuery {
    /// The query's id.
    pub id: u32,
    /// The query's Lamport time (its key among our open queries).
    pub ltime: LamportTime,
    /// When answers stop being collected.
    pub deadline: Time,
    /// The answers so far.
    pub result: QueryResult,
    /// Duplicate answers (relayed copies) ignored.
    pub duplicates: u64,
}

impl OpenQuery {
    /// Takes one answer; false if it was a duplicate.
    pub fn add(&mut self, from: &str, ack: bool, payload: Option<&[u8]>) -> bool {
        let r = &mut self.result;
        let dup = if ack {
            r.acks.iter().any(|a| a == from)
        } else {
            r.responses.contains_key(from)
        };
        if dup {
            self.duplicates += 1;
            return false;
        }
        if ack {
            r.acks.push(from.to_owned());
        } else {
            r.responses
                .insert(from.to_owned(), payload.unwrap_or_default().to_vec());
        }
        true
    }
}

/// A query we received and may answer once before its deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Responder {
    /// The query's Lamport time.
    pub ltime: LamportTime,
    /// The query's id.
    pub id: u32,
    /// Where answers go (the origin's advertised address) and the origin's name.
    pub to: Option<SocketAddr>,
    /// The origin's node name.
    pub source_node: String,
    /// How many other members also relay each answer.
    pub relay_factor: u8,
    /// The timeout the origin gave.
    pub timeout: Duration,
    /// When answering stops making sense.
    pub deadline: Option<Time>,
    /// Whether we answered (only once is allowed).
    pub responded: bool,
}

/// Why a response was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RespondError {
    /// No query with that id is waiting for our answer.
    #[error("no running query with id {0}")]
    Unknown(u32),
    /// We answered already.
    #[error("response already sent")]
    AlreadySent,
    /// The origin stopped listening.
    #[error("response is past the deadline")]
    PastDeadline,
    /// The encoded answer exceeds Go's `QueryResponseSizeLimit`.
    #[error("response exceeds limit of {QUERY_RESPONSE_SIZE_LIMIT} bytes")]
    TooLarge,
    /// The origin did not give an address we can send to.
    #[error("query origin has no usable address")]
    NoAddress,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn filters(p: &QueryParams) -> Vec<Bytes<'static>> {
        p.encode_filters().unwrap_or_default()
    }

    #[test]
    fn node_and_tag_filters_must_all_match() {
        let p = QueryParams {
            filter_nodes: vec!["n1".into(), "n2".into()],
            filter_tags: vec![("role".into(), "no.e".into())],
            ..Default::default()
        };
        let f = filters(&p);
        let web = tags(&[("role", "web")]);
        let node = tags(&[("role", "xnodex")]);
        assert_eq!(filters_match(Some(&f), "n1", &node), Ok(true));
        assert_eq!(filters_match(Some(&f), "n3", &node), Ok(false));
        assert_eq!(filters_match(Some(&f), "n2", &web), Ok(false));
        assert_eq!(filters_match(None, "anyone", &web), Ok(true));
    }

    #[test]
    fn missing_tag_matches_as_empty_string() {
        let p = QueryParams {
            filter_tags: vec![("dc".into(), "^$".into())],
            ..Default::default()
        };
        assert_eq!(filters_match(Some(&filters(&p)), "a", &tags(&[])), Ok(true));
        assert_eq!(
            filters_match(Some(&filters(&p)), "a", &tags(&[("dc", "x")])),
            Ok(false)
        );
    }

    #[test]
    fn malformed_filters_and_bad_regexes_are_errors() {
        let unknown = [Bytes::Owned(vec![7, 0x90])];
        assert!(matches!(
            filters_match(Some(&unknown), "a", &tags(&[])),
            Err(FilterError::Malformed(_))
        ));
        let truncated = [Bytes::Owned(vec![0, 0x92, 0xa1])];
        assert!(filters_match(Some(&truncated), "a", &tags(&[])).is_err());
        let p = QueryParams {
            filter_tags: vec![("role".into(), "(".into())],
            ..Default::default()
        };
        assert_eq!(
            filters_match(Some(&filters(&p)), "a", &tags(&[])),
            Err(FilterError::BadRegex("(".into()))
        );
    }

    #[test]
    fn default_timeout_scales_with_log10_of_members() {
        let g = Duration::from_millis(200);
        assert_eq!(default_timeout(g, 3), Duration::from_millis(3200));
        assert_eq!(default_timeout(g, 9), Duration::from_millis(3200));
        assert_eq!(default_timeout(g, 10), Duration::from_millis(6400));
    }

    #[test]
    fn origin_keeps_one_ack_and_one_response_per_node() {
        let mut q = OpenQuery {
            id: 1,
            ltime: LamportTime(2),
            deadline: Time::ZERO,
            result: QueryResult::default(),
            duplicates: 0,
        };
        assert!(q.add("a", true, None));
        assert!(!q.add("a", true, None));
        assert!(q.add("a", false, Some(b"one")));
        assert!(!q.add("a", false, Some(b"two")));
        assert_eq!(q.result.acks, ["a"]);
        assert_eq!(q.result.responses["a"], b"one");
        assert_eq!(q.duplicates, 2);
    }
}
