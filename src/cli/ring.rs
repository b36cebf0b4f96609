//! `memberlist ring --join ADDR`: the hash ring of a grafana/dskit cluster (Loki, Mimir,
//! Tempo, Cortex) as their `/ring` page shows it, read from gossip alone. We join over
//! dskit's TCP transport with a KV store that only listens (nothing of ours is ever
//! merged into theirs), wait for the ring's key, print it and leave.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use memberlist_interop::apps::dskit::kv::{KvListener, SharedStore};
use memberlist_interop::apps::dskit::ring::InstanceView;
use memberlist_interop::node::{Config, Memberlist, RuntimeError, Transport};

use super::agent::Format;
use super::columns::columnize;
use super::duration;
use super::gossip::resolve;

#[derive(clap::Args)]
pub struct Args {
    /// A member of the dskit cluster: its memberlist port (7946 in Loki, Mimir, Tempo;
    /// repeatable).
    #[arg(long = "join", value_name = "ADDR", required = true)]
    join: Vec<String>,
    /// The KV key holding the ring (Loki's ingesters: `ring`; others keep theirs under
    /// their own names, e.g. `distributor`, `compactor`).
    #[arg(long, default_value = "ring")]
    key: String,
    /// How long to wait for the ring's key to arrive after joining.
    #[arg(long, default_value = "10s", value_parser = duration::parse, value_name = "D")]
    timeout: Duration,
    /// Heartbeats older than this show the instance UNHEALTHY (the ring's
    /// heartbeat_timeout, 1m by default in dskit).
    #[arg(long, default_value = "1m", value_parser = duration::parse, value_name = "D")]
    heartbeat_timeout: Duration,
    /// Address to bind our member's TCP port to; the cluster dials it back for
    /// push/pulls and probes (default: the local address that reaches the first
    /// --join, any free port).
    #[arg(long, value_name = "IP:PORT")]
    bind: Option<SocketAddr>,
    /// Our member's name in the cluster while it reads the ring.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Text (the ring page's columns) or one JSON object.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

pub fn run(args: Args) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("memberlist ring: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(ring(&args)) {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("memberlist ring: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn ring(args: &Args) -> Result<String, String> {
    let peers = args
        .join
        .iter()
        .map(|a| resolve(a))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("--join {e}"))?;
    let bind = match args.bind {
        Some(b) => b,
        None => SocketAddr::new(local_ip_towards(peers[0]), 0),
    };
    let mut config = Config::lan();
    config.name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("memberlist-ring-{}", std::process::id()));
    config.bind_addr = bind.ip();
    config.bind_port = bind.port();
    config.transport = Transport::Dskit;
    config.validate().map_err(|e| e.to_string())?;
    let (delegate, store) = KvListener::new();
    let node = Memberlist::start(config, Vec::new(), delegate)
        .await
        .map_err(|e| match e {
            RuntimeError::Bind { .. } => format!("{e} (--bind)"),
            e => e.to_string(),
        })?;
    let result = read_ring(args, &node, &store, &peers).await;
    // Leave cleanly whatever happened: the cluster sees us go, not die.
    let _ = node.leave(Duration::from_secs(5)).await;
    let _ = node.shutdown().await;
    result
}

async fn read_ring(
    args: &Args,
    node: &Memberlist<KvListener>,
    store: &SharedStore,
    peers: &[SocketAddr],
) -> Result<String, String> {
    let joined = node.join(peers.to_vec()).await;
    if let Err(e) = joined {
        return Err(join_error(&e, peers));
    }
    let deadline = Instant::now() + args.timeout;
    loop {
        {
            let s = store.lock();
            if let Some(ring) = s.rings.get(&args.key).filter(|r| !r.is_empty()) {
                let now = unix_now();
                let view = ring.view(now, args.heartbeat_timeout.as_secs_f64());
                return Ok(render(args, &view, now));
            }
            if Instant::now() >= deadline {
                return Err(missing_key(args, &s));
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn join_error(e: &RuntimeError, peers: &[SocketAddr]) -> String {
    let list = peers
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let text = e.to_string();
    if text.contains("connecting to") {
        format!(
            "nothing accepts TCP on {list}: {text}; point --join at a dskit member's \
             memberlist port (7946 in Loki, Mimir and Tempo)"
        )
    } else if ["reading from", "timed out", "remote error"]
        .iter()
        .any(|s| text.contains(s))
    {
        format!(
            "{list} did not answer dskit's transport: {text}; is it a dskit cluster (Loki, \
             Mimir, Tempo, Cortex)? A plain memberlist or Serf member answers \
             `memberlist members --peer ADDR` instead"
        )
    } else {
        format!("joining {list}: {text}")
    }
}

fn missing_key(args: &Args, s: &memberlist_interop::apps::dskit::kv::Store) -> String {
    let wait = humanize(args.timeout);
    if s.pairs == 0 {
        return format!(
            "joined, but no KV store state came within {wait} (--timeout): the cluster \
             gossips no dskit KV pairs, so it is not a dskit cluster, or its members have \
             not registered yet (raise --timeout)"
        );
    }
    let mut keys: Vec<String> = s.rings.keys().cloned().collect();
    keys.extend(s.other.iter().map(|(k, c)| format!("{k} (codec {c})")));
    format!(
        "no ring under key {:?} within {wait} (--timeout); the cluster holds: {}; pick one \
         with --key",
        args.key,
        keys.join(", ")
    )
}

fn humanize(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}

fn render(args: &Args, view: &[InstanceView], now: f64) -> String {
    match args.format {
        Format::Json => {
            let instances: Vec<_> = view
                .iter()
                .map(|i| {
                    json!({
                        "id": i.id,
                        "state": i.shown_state(),
                        "ring_state": i.state,
                        "healthy": i.healthy,
                        "address": i.addr,
                        "zone": i.zone,
                        "registered_timestamp": i.registered,
                        "timestamp": i.heartbeat,
                        "heartbeat_age_seconds": (now - i.heartbeat as f64).max(0.0).floor(),
                        "tokens": i.tokens,
                        "ownership_percent": (i.ownership * 100.0).round() / 100.0,
                    })
                })
                .collect();
            json!({"key": args.key, "now": now.floor(), "instances": instances}).to_string()
        }
        Format::Text => {
            let mut lines = vec![[
                "INSTANCE ID",
                "ZONE",
                "STATE",
                "ADDRESS",
                "REGISTERED AT",
                "LAST HEARTBEAT",
                "TOKENS",
                "OWNERSHIP",
            ]
            .map(String::from)
            .to_vec()];
            for i in view {
                lines.push(vec![
                    i.id.clone(),
                    i.zone.clone(),
                    i.shown_state().to_string(),
                    i.addr.clone(),
                    rfc3339(i.registered),
                    format!("{}s ago", (now - i.heartbeat as f64).max(0.0).floor()),
                    i.tokens.to_string(),
                    format!("{:.2}%", i.ownership),
                ]);
            }
            columnize(&lines)
        }
    }
}

fn rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| unix.to_string())
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The local address the system routes to `peer` from, so the cluster can dial us back.
fn local_ip_towards(peer: SocketAddr) -> IpAddr {
    let any: SocketAddr = match peer {
        SocketAddr::V4(_) => "0.0.0.0:0".parse().expect("an address"),
        SocketAddr::V6(_) => "[::]:0".parse().expect("an address"),
    };
    UdpSocket::bind(any)
        .and_then(|s| s.connect(peer).and_then(|()| s.local_addr()))
        .map_or(any.ip(), |a| a.ip())
}
