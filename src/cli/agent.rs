//! `memberlist agent`: run a member, print membership events, answer `members`.
//!
//! With `--serf` the agent serves serf's RPC on `--rpc-addr` (see
//! `memberlist_interop::control`); the plain agent answers `memberlist members` on a
//! port of its own (one JSON object per line in, one per line out), and tells a serf
//! client that connects there that it is no Serf agent.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use clap::ValueEnum;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use memberlist_interop::control::codec::encode;
use memberlist_interop::control::errors::PLAIN_AGENT;
use memberlist_interop::control::log_bus::timestamp;
use memberlist_interop::control::messages::ResponseHeader;
use memberlist_interop::control::{AuthToken, DEFAULT_RPC_ADDR};
use memberlist_interop::node::{Config, Event, EventDelegate, Member, Memberlist};

use super::gossip::{resolve, Security};
use super::view::member_json;

/// Where the plain agent listens for `memberlist members` unless told otherwise: not
/// serf's 7373, which a serf agent on the same host wants.
pub const PLAIN_RPC_ADDR: &str = "127.0.0.1:7380";

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
    #[arg(long = "join", value_name = "ADDR")]
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
    /// Address for `memberlist` and `serf` commands (default: 127.0.0.1:7373, serf's,
    /// with --serf; 127.0.0.1:7380 without). Anything but loopback needs a token.
    #[arg(long, value_name = "ADDR")]
    rpc_addr: Option<SocketAddr>,
    #[command(flatten)]
    pub(super) rpc_auth: super::rpc_args::RpcAuth,
    /// How long a graceful leave waits for its broadcast on SIGINT/SIGTERM, e.g. 5s.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = super::duration::parse)]
    pub(super) leave_timeout: Duration,
    #[command(flatten)]
    pub(super) serf: super::serf_agent::SerfArgs,
}

impl Args {
    /// The control address, by default serf's with --serf and ours without.
    pub(super) fn rpc_addr(&self) -> SocketAddr {
        self.rpc_addr.unwrap_or_else(|| {
            let default = if self.serf.serf {
                DEFAULT_RPC_ADDR
            } else {
                PLAIN_RPC_ADDR
            };
            default.parse().expect("a valid default address")
        })
    }
}

pub fn run(args: Args) -> ExitCode {
    // The agent writes payloads to event handlers' stdin; a handler that exits
    // without reading it (`echo pong`) must fail that write, not kill the agent with
    // SIGPIPE (which `main` restores to its default for `decode | head`).
    // SAFETY: setting a signal disposition before any thread of ours starts.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    if let Err(e) = check_flags(&args) {
        // As clap reports a value it cannot parse.
        eprintln!("memberlist agent: {e}\n\nFor more information, try '--help'.");
        return ExitCode::from(2);
    }
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

/// Flag values that cannot work, found before anything starts.
fn check_flags(args: &Args) -> Result<(), String> {
    if args.serf.serf {
        super::serf_agent::check_flags(args)?;
    } else {
        config(args)?;
    }
    args.rpc_auth.token()?;
    for j in &args.join {
        resolve(j).map_err(|e| format!("--join {j}: {e}"))?;
    }
    Ok(())
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
    c.validate().map_err(|e| e.to_string())?;
    Ok(c)
}

async fn agent(args: Args) -> Result<(), String> {
    if args.serf.serf {
        return super::serf_agent::run(args).await;
    }
    let config = config(&args)?;
    let (peers, rpc, token) = peers_and_control(&args).await?;
    let (delegate, mut events) = EventDelegate::new(config.retransmit_mult);
    let (keyring, label) = (config.keyring.clone(), config.label.clone());
    let node = Memberlist::start(config, args.meta.clone().into_bytes(), delegate)
        .await
        .map_err(|e| gossip_error(&args, &e, keyring.as_ref(), label.as_ref()))?;
    let format = args.format;
    log(
        format,
        json!({"event": "started", "addr": node.local_addr().to_string(), "rpc": rpc.local_addr().map_or(args.rpc_addr(), |a| a).to_string()}),
    );
    if !peers.is_empty() {
        match node.join(peers).await {
            Ok(n) => log(format, json!({"event": "joined", "peers": n})),
            Err(e) => return Err(e.to_string()),
        }
    }
    tokio::spawn(serve_rpc(rpc, node.clone(), token));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| e.to_string())?;
    let mut diag_tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            Some(e) = events.recv() => print_event(format, &e),
            _ = diag_tick.tick() => {
                let diags = node
                    .with(|m, _| std::iter::from_fn(|| m.poll_diagnostic()).collect::<Vec<_>>())
                    .await
                    .map_err(|e| e.to_string())?;
                for d in diags {
                    eprintln!("memberlist agent: {d}");
                }
            }
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
        }
    }
    log(format, json!({"event": "leaving"}));
    if let Err(e) = node.leave(args.leave_timeout).await {
        eprintln!("memberlist agent: {e}");
    }
    node.shutdown().await.map_err(|e| e.to_string())?;
    while let Ok(e) = events.try_recv() {
        print_event(format, &e);
    }
    Ok(())
}

/// The addresses to join, the bound control socket and its token: both kinds of
/// agent start so. A control address off loopback needs a token; one already in use
/// is named with what answers there and the flag to pass.
pub(super) async fn peers_and_control(
    args: &Args,
) -> Result<(Vec<SocketAddr>, TcpListener, Option<AuthToken>), String> {
    let peers = args
        .join
        .iter()
        .map(|a| resolve(a))
        .collect::<Result<Vec<_>, _>>()?;
    let addr = args.rpc_addr();
    let token = args.rpc_auth.token()?;
    if !addr.ip().is_loopback() && token.is_none() {
        return Err(format!(
            "control address {addr} is not a loopback address: anyone who reaches it could \
             run commands (leave, keys, tags); pass --rpc-auth-file PATH (or --rpc-auth TOKEN, \
             or MEMBERLIST_RPC_AUTH) to require a token, or --rpc-addr 127.0.0.1:PORT"
        ));
    }
    match TcpListener::bind(addr).await {
        Ok(l) => Ok((peers, l, token)),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(format!(
            "control address {addr} is already in use: {}; pass --rpc-addr 127.0.0.1:PORT with a free port",
            what_holds_rpc(addr).await
        )),
        Err(e) => Err(format!("control address {addr}: {e} (pass --rpc-addr)")),
    }
}

/// Who holds a control address we could not bind: a serf RPC answers a handshake.
async fn what_holds_rpc(addr: SocketAddr) -> String {
    use memberlist_interop::control::codec::AsyncValues;
    use memberlist_interop::control::messages::{Handshake, RequestHeader};
    let probe = async {
        let mut conn = tokio::net::TcpStream::connect(addr).await.ok()?;
        let mut hello = Vec::new();
        encode(
            &RequestHeader {
                command: "handshake".into(),
                seq: 0,
            },
            &mut hello,
        );
        encode(&Handshake { version: 1 }, &mut hello);
        conn.write_all(&hello).await.ok()?;
        let (rd, _wr) = conn.into_split();
        AsyncValues::new(rd).next::<ResponseHeader>().await.ok()
    };
    match tokio::time::timeout(Duration::from_secs(2), probe).await {
        Ok(Some(h)) if h.error == PLAIN_AGENT => {
            "another plain `memberlist agent` listens there".into()
        }
        Ok(Some(_)) => {
            "a Serf agent's RPC listens there (it answered a serf handshake): a `serf agent` or \
             another `memberlist agent --serf`"
                .into()
        }
        _ => {
            "something that is not a Serf agent listens there (it did not answer a serf handshake)"
                .into()
        }
    }
}

/// The start-up error for a gossip address: when it is in use, says whether a
/// memberlist member answers pings there.
pub(super) fn gossip_error(
    args: &Args,
    e: &dyn std::fmt::Display,
    keyring: Option<&memberlist_interop::wire::Keyring>,
    label: Option<&memberlist_interop::wire::Label>,
) -> String {
    let text = e.to_string();
    if !text.to_lowercase().contains("address already in use") && !text.contains("os error 98") {
        return format!("gossip address {}: {text}", args.bind);
    }
    let addr = match resolve(&args.bind) {
        Ok(a) if a.ip().is_unspecified() => SocketAddr::new([127, 0, 0, 1].into(), a.port()),
        Ok(a) => a,
        Err(_) => return format!("gossip address {}: {text}", args.bind),
    };
    let who = if super::ping::answers_ping(addr, keyring, label) {
        "a memberlist member (a serf or Consul agent, or another `memberlist agent`) answers pings there"
    } else {
        "nothing there answers a memberlist ping (another program, or a member with another key or label)"
    };
    format!(
        "gossip address {} is already in use: {who}; pass --bind IP:PORT with a free port",
        args.bind
    )
}

pub(super) fn log(format: Format, v: Value) {
    match format {
        Format::Json => println!("{v}"),
        Format::Text => {
            // Timestamped as serf's agent prints its log lines.
            let mut line = format!(
                "{} {}",
                timestamp(),
                v["event"].as_str().unwrap_or_default()
            );
            if let Some(o) = v.as_object() {
                for (k, val) in o.iter().filter(|(k, _)| *k != "event") {
                    line.push_str(&format!(" {k}={}", text_value(val)));
                }
            }
            println!("{line}");
        }
    }
}

/// A value in a text line: a plain word as it is, anything else as JSON (quoted).
fn text_value(v: &Value) -> String {
    match v.as_str() {
        Some(s)
            if !s.is_empty()
                && s.chars()
                    .all(|c| !c.is_whitespace() && !c.is_control() && c != '"' && c != '\\') =>
        {
            s.to_owned()
        }
        _ => v.to_string(),
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
        Format::Text => log(
            format,
            json!({
                "event": kind,
                "name": m.name,
                "addr": m.socket_addr().map_or("?".into(), |a| a.to_string()),
                "meta": String::from_utf8_lossy(&m.meta),
            }),
        ),
    }
}

/// Answers control requests: `{"cmd":"members"}` and `{"cmd":"stats"}`. A serf
/// client (its first byte starts a msgpack map, not `{`) is told this is no Serf
/// agent, instead of waiting for a line that never comes.
async fn serve_rpc(
    listener: TcpListener,
    node: Memberlist<EventDelegate>,
    token: Option<AuthToken>,
) {
    while let Ok((conn, _)) = listener.accept().await {
        let node = node.clone();
        let token = token.clone();
        tokio::spawn(async move {
            let mut first = [0u8; 1];
            let peeked = tokio::time::timeout(Duration::from_secs(10), conn.peek(&mut first)).await;
            let (rd, mut wr) = conn.into_split();
            if !matches!(peeked, Ok(Ok(1))) {
                return;
            }
            if first[0] != b'{' {
                return refuse_serf_client(rd, wr).await;
            }
            let mut lines = BufReader::new(rd).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let reply = answer(&node, &line, token.as_ref()).await;
                if wr.write_all(format!("{reply}\n").as_bytes()).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// Answers a serf client's first request with [`PLAIN_AGENT`], under its sequence
/// number, and leaves the closing to the client (serf's client may take a close that
/// comes with the answer for its own failure, "client closed").
async fn refuse_serf_client(
    rd: tokio::net::tcp::OwnedReadHalf,
    mut wr: tokio::net::tcp::OwnedWriteHalf,
) {
    use memberlist_interop::control::codec::AsyncValues;
    use memberlist_interop::control::messages::RequestHeader;
    let mut values = AsyncValues::new(rd);
    let header = tokio::time::timeout(Duration::from_secs(5), values.next::<RequestHeader>()).await;
    let Ok(Ok(header)) = header else { return };
    let mut out = Vec::new();
    encode(
        &ResponseHeader {
            error: PLAIN_AGENT.into(),
            seq: header.seq,
        },
        &mut out,
    );
    if wr.write_all(&out).await.is_err() {
        return;
    }
    let drain = async { while values.next_raw().await.is_ok() {} };
    let _ = tokio::time::timeout(Duration::from_secs(5), drain).await;
}

async fn answer(node: &Memberlist<EventDelegate>, line: &str, token: Option<&AuthToken>) -> Value {
    let req: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => return json!({"error": format!("bad request: {e}")}),
    };
    if let Some(t) = token {
        if !req["auth"].as_str().is_some_and(|guess| t.matches(guess)) {
            return json!({"error": "the agent wants a token: pass --rpc-auth-file, --rpc-auth or MEMBERLIST_RPC_AUTH (the one the agent was started with)"});
        }
    }
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
