//! `memberlist agent`: run a member, print membership events, answer `members`.
//!
//! The agent listens for control requests on `--rpc-addr` (loopback, like Serf's
//! RPC): one JSON object per line in, one per line out. `memberlist members` is a
//! client of it.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use clap::ValueEnum;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use memberlist_interop::node::{Config, Event, EventDelegate, Member, Memberlist, RuntimeError};

use super::gossip::{resolve, Security};
use super::join_hint::{join_failed, JoinedAs};
use super::logging::{DiagnosticLog, Source};
use super::view::member_json;

/// Where `memberlist agent` listens for control requests unless told otherwise
/// (Serf's RPC default, which a Serf agent on the same host would also want).
pub const DEFAULT_RPC_ADDR: &str = "127.0.0.1:7373";

#[derive(Clone, Copy, ValueEnum)]
pub enum Profile {
    Lan,
    Wan,
    Local,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

#[derive(clap::Args)]
pub struct Args {
    /// Node name, unique in the cluster (default: the host name).
    #[arg(long)]
    pub(super) name: Option<String>,
    /// Address to bind for UDP and TCP gossip.
    #[arg(long, default_value = "0.0.0.0:7946")]
    pub(super) bind: String,
    /// Address to advertise to other members (`ip` or `ip:port`).
    #[arg(long)]
    pub(super) advertise: Option<String>,
    /// A member to join through (repeatable).
    #[arg(long = "join")]
    pub(super) join: Vec<String>,
    #[command(flatten)]
    pub(super) security: Security,
    /// Timing profile, as Go's DefaultLANConfig, DefaultWANConfig, DefaultLocalConfig.
    #[arg(long, value_enum, default_value = "lan")]
    pub(super) profile: Profile,
    /// Node meta to advertise (at most 512 bytes).
    #[arg(long, default_value = "")]
    pub(super) meta: String,
    /// Protocol version to speak (1 to 5).
    #[arg(long, default_value_t = 2)]
    pub(super) protocol: u8,
    /// How membership events are printed on stdout.
    #[arg(long, value_enum, default_value = "text")]
    pub(super) format: Format,
    /// Loopback address for `memberlist members` and other control requests.
    #[arg(long, default_value = DEFAULT_RPC_ADDR)]
    pub(super) rpc_addr: SocketAddr,
    /// How long a graceful leave waits for its broadcast on SIGINT/SIGTERM.
    #[arg(long, default_value = "5s", value_parser = humantime_secs)]
    pub(super) leave_timeout: Duration,
    /// Serve memberlist's (and Serf's) metrics for Prometheus at http://ADDR/metrics,
    /// under go-metrics' names (`memberlist_gossip`, `serf_member_join`, ...).
    #[arg(long, value_name = "ADDR")]
    pub(super) metrics_addr: Option<SocketAddr>,
    /// How often the broadcast queues' depths are sampled for metrics (Go's
    /// QueueCheckInterval).
    #[arg(long, default_value = "30s", value_parser = humantime_secs, value_name = "D")]
    pub(super) queue_check_interval: Duration,
    #[command(flatten)]
    pub(super) log: super::logging::LogArgs,
    #[command(flatten)]
    pub(super) serf: super::serf_agent::SerfArgs,
}

pub(super) fn humantime_secs(s: &str) -> Result<Duration, String> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().map_err(|_| format!("bad duration {s:?}"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" | "" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(60 * n)),
        _ => Err(format!("bad duration unit in {s:?} (use ms, s or m)")),
    }
}

pub fn run(args: Args) -> ExitCode {
    super::logging::install(&args.log, None);
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("memberlist agent: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(agent(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("memberlist agent: {e}");
            ExitCode::from(1)
        }
    }
}

pub(super) fn config(args: &Args) -> Result<Config, String> {
    let mut c = match args.profile {
        Profile::Lan => Config::lan(),
        Profile::Wan => Config::wan(),
        Profile::Local => Config::local(),
    };
    c.name = match &args.name {
        Some(n) => n.clone(),
        None => std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .map_err(|e| format!("no --name and no host name: {e}"))?,
    };
    let bind = resolve(&args.bind)?;
    c.bind_addr = bind.ip();
    c.bind_port = bind.port();
    if let Some(adv) = &args.advertise {
        let a = match adv.parse::<IpAddr>() {
            Ok(ip) => SocketAddr::new(ip, bind.port()),
            Err(_) => resolve(adv)?,
        };
        c.advertise_addr = Some(a.ip());
        c.advertise_port = a.port();
    }
    c.keyring = args.security.keyring()?;
    c.label = args.security.label()?;
    c.protocol_version = args.protocol;
    c.queue_check_interval = args.queue_check_interval;
    c.validate().map_err(|e| e.to_string())?;
    Ok(c)
}

async fn agent(args: Args) -> Result<(), String> {
    if args.serf.serf {
        return super::serf_agent::run(args).await;
    }
    let mut config = config(&args)?;
    let (peers, rpc) = peers_and_control(&args).await?;
    if let Some(addr) = args.metrics_addr {
        config.metrics = super::metrics::start(addr, super::metrics::Layers::Node).await?;
    }
    let (keyring, label) = (config.keyring.clone(), config.label.clone());
    let (delegate, mut events) = EventDelegate::new(config.retransmit_mult);
    let node = Memberlist::start(config, args.meta.clone().into_bytes(), delegate)
        .await
        .map_err(|e| e.to_string())?;
    let format = args.format;
    log(
        format,
        json!({"event": "started", "addr": node.local_addr().to_string(), "rpc": args.rpc_addr.to_string()}),
    );
    if !peers.is_empty() {
        match node.join(peers.clone()).await {
            Ok(n) => log(format, json!({"event": "joined", "peers": n})),
            Err(RuntimeError::Join(e)) => {
                return Err(join_failed(e, &peers, keyring, label, JoinedAs::Plain).await)
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    tokio::spawn(serve_rpc(rpc, node.clone()));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| e.to_string())?;
    let mut diag_tick = tokio::time::interval(Duration::from_millis(500));
    let mut diag_log = DiagnosticLog::default();
    loop {
        tokio::select! {
            Some(e) = events.recv() => print_event(format, &e),
            _ = diag_tick.tick() => {
                let diags = node
                    .with(|m, _| std::iter::from_fn(|| m.poll_diagnostic()).collect::<Vec<_>>())
                    .await
                    .map_err(|e| e.to_string())?;
                for d in diags {
                    diag_log.log(Source::Memberlist, d.counter.name(), d.counter.level(), &d.to_string());
                }
                diag_log.flush();
            }
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
        }
    }
    log(format, json!({"event": "leaving"}));
    if let Err(e) = node.leave(args.leave_timeout).await {
        tracing::warn!(target: "agent", "leave: {e}");
    }
    node.shutdown().await.map_err(|e| e.to_string())?;
    while let Ok(e) = events.try_recv() {
        print_event(format, &e);
    }
    Ok(())
}

/// The addresses to join and the bound control socket: both kinds of agent start so.
pub(super) async fn peers_and_control(
    args: &Args,
) -> Result<(Vec<std::net::SocketAddr>, TcpListener), String> {
    let peers = args
        .join
        .iter()
        .map(|a| resolve(a))
        .collect::<Result<Vec<_>, _>>()?;
    let rpc = TcpListener::bind(args.rpc_addr)
        .await
        .map_err(|e| format!("control address {}: {e}", args.rpc_addr))?;
    Ok((peers, rpc))
}

pub(super) fn log(format: Format, v: Value) {
    match format {
        Format::Json => println!("{v}"),
        Format::Text => {
            let mut line = v["event"].as_str().unwrap_or_default().to_string();
            if let Some(o) = v.as_object() {
                for (k, val) in o.iter().filter(|(k, _)| *k != "event") {
                    line.push_str(&format!(" {k}={val}"));
                }
            }
            println!("{line}");
        }
    }
}

fn print_event(format: Format, e: &Event) {
    let (kind, m): (&str, &Member) = match e {
        Event::Join(m) => ("member-join", m),
        Event::Leave(m) => (
            if m.state == memberlist_interop::node::State::Left {
                "member-leave"
            } else {
                "member-failed"
            },
            m,
        ),
        Event::Update(m) => ("member-update", m),
        Event::Message(payload) => {
            let text = String::from_utf8_lossy(payload);
            return log(format, json!({"event": "user-message", "payload": text}));
        }
        Event::Conflict { existing, other } => {
            return log(
                format,
                json!({"event": "conflict", "name": existing.name,
                       "existing": member_json(existing)["Addr"], "other": member_json(other)["Addr"]}),
            );
        }
        Event::PingComplete { .. } => return,
    };
    match format {
        Format::Json => {
            let mut v = member_json(m);
            v["event"] = json!(kind);
            println!("{v}");
        }
        Format::Text => println!(
            "{kind} {} {} meta={:?}",
            m.name,
            m.socket_addr().map_or("?".into(), |a| a.to_string()),
            String::from_utf8_lossy(&m.meta)
        ),
    }
}

/// Answers control requests: `{"cmd":"members"}` and `{"cmd":"stats"}`.
async fn serve_rpc(listener: TcpListener, node: Memberlist<EventDelegate>) {
    while let Ok((conn, _)) = listener.accept().await {
        let node = node.clone();
        tokio::spawn(async move {
            let (rd, mut wr) = conn.into_split();
            let mut lines = BufReader::new(rd).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let reply = answer(&node, &line).await;
                if wr.write_all(format!("{reply}\n").as_bytes()).await.is_err() {
                    return;
                }
            }
        });
    }
}

async fn answer(node: &Memberlist<EventDelegate>, line: &str) -> Value {
    let req: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => return json!({"error": format!("bad request: {e}")}),
    };
    let result = match req["cmd"].as_str() {
        Some("members") => {
            node.with(|m, _| {
                json!({"members": m.all_members().iter().map(member_json).collect::<Vec<_>>()})
            })
            .await
        }
        Some("stats") => {
            node.with(|m, _| {
                let counters: serde_json::Map<String, Value> = m
                    .stats()
                    .all()
                    .map(|(c, n)| (c.name().to_string(), json!(n)))
                    .collect();
                json!({"health": m.health_score(), "members": m.num_members(), "counters": counters})
            })
            .await
        }
        _ => return json!({"error": "unknown command (members, stats)"}),
    };
    result.unwrap_or_else(|e| json!({"error": e.to_string()}))
}
