//! `memberlist agent`: run a member, print membership events, answer `members`.
//!
//! With `--serf` the agent serves serf's RPC on `--rpc-addr` (see
//! `memberlist_interop::control`); the plain agent answers `memberlist members` on a
//! port of its own (one JSON object per line in, one per line out), and tells a serf
//! client that connects there that it is no Serf agent. With `--app alertmanager` the plain
//! agent watches an Alertmanager cluster (`super::app_watch`).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::ValueEnum;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use memberlist_interop::apps::{self, App, Carrier};
use memberlist_interop::control::codec::encode;
use memberlist_interop::control::errors::PLAIN_AGENT;
use memberlist_interop::control::log_bus::{timestamp, LogBus};
use memberlist_interop::control::messages::ResponseHeader;
use memberlist_interop::control::{AuthToken, DEFAULT_RPC_ADDR};
use memberlist_interop::node::{
    Config, Event, EventDelegate, Member, Memberlist, RuntimeError, Transport,
};

use super::app_watch::{AgentDelegate, WatchApp, Watcher};
use super::gossip::{resolve, Security};
use super::join_hint::{join_failed, JoinedAs};
use super::logging::{DiagnosticLog, Source};
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

/// `--transport`: how packets and streams travel.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum TransportArg {
    /// Memberlist's own: UDP packets and TCP streams on the bound port.
    Memberlist,
    /// grafana/dskit's TCP-only transport, to join a Loki, Mimir, Tempo or Cortex
    /// cluster (their port 7946).
    Dskit,
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
    /// How packets and streams travel: memberlist's UDP and TCP, or dskit's TCP-only
    /// transport (Loki, Mimir, Tempo, Cortex).
    #[arg(long, value_enum, default_value = "memberlist")]
    pub(super) transport: TransportArg,
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
    pub(super) metrics: super::metrics::MetricsArgs,
    /// How often the broadcast queues' depths are sampled for metrics (Go's
    /// QueueCheckInterval).
    #[arg(long, default_value = "30s", value_parser = super::duration::parse, value_name = "D")]
    pub(super) queue_check_interval: Duration,
    #[command(flatten)]
    pub(super) log: super::logging::LogArgs,
    /// A member to join after start, retried until one answers (serf's
    /// -retry-join; repeatable). The agent keeps running meanwhile.
    #[arg(long = "retry-join", value_name = "ADDR")]
    pub(super) retry_join: Vec<String>,
    /// Wait between --retry-join attempts (serf's default, 30s).
    #[arg(long, default_value = "30s", value_parser = super::duration::parse, value_name = "D")]
    pub(super) retry_interval: Duration,
    /// Give up (and exit 1) after this many failed --retry-join attempts; 0 retries
    /// for ever (serf's -retry-max).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub(super) retry_max: u32,
    /// A serf agent JSON configuration file (repeatable; merged in order, the
    /// command line over all of them).
    #[arg(long = "config-file", value_name = "PATH")]
    pub(super) config_file: Vec<PathBuf>,
    /// A directory of serf agent JSON configuration files (`*.json`, in lexical
    /// order; repeatable).
    #[arg(long = "config-dir", value_name = "PATH")]
    pub(super) config_dir: Vec<PathBuf>,
    #[command(flatten)]
    pub(super) serf: super::serf_agent::SerfArgs,
    /// Join an application's cluster as a watcher and print its state as it replicates
    /// (Alertmanager: silences and notification-log entries). The watcher shares no
    /// state of its own.
    #[arg(long, value_enum, value_name = "APP")]
    pub(super) app: Option<WatchApp>,
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

pub fn run(mut args: Args) -> ExitCode {
    // The agent writes payloads to event handlers' stdin; a handler that exits
    // without reading it (`echo pong`) must fail that write, not kill the agent with
    // SIGPIPE (which `main` restores to its default for `decode | head`).
    // SAFETY: setting a signal disposition before any thread of ours starts.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    if let Err(e) = apply_config_files(&mut args).and_then(|()| check_flags(&args)) {
        // As clap reports a value it cannot parse.
        eprintln!("memberlist agent: {e}\n\nFor more information, try '--help'.");
        return ExitCode::from(2);
    }
    let logs = LogBus::new();
    super::logging::install(
        &args.log,
        Some(Box::new(super::logging::MonitorLayer(logs.clone()))),
    );
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
    match rt.block_on(agent(args, logs)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("memberlist agent: {e}");
            ExitCode::from(1)
        }
    }
}

/// The agent's command line as clap saw it, to tell flags given from defaults
/// (serf lets a flag override a file only when it was given).
fn command_line() -> clap::ArgMatches {
    <Args as clap::Args>::augment_args(clap::Command::new("agent"))
        .try_get_matches_from(std::env::args_os().skip(1))
        .unwrap_or_default()
}

/// Merges the `--config-file`/`--config-dir` settings under the command line's.
fn apply_config_files(args: &mut Args) -> Result<(), String> {
    if args.config_file.is_empty() && args.config_dir.is_empty() {
        return Ok(());
    }
    let m = command_line();
    // serf reads files and directories in the order they were given.
    let mut paths: Vec<(usize, PathBuf)> = Vec::new();
    for (id, given) in [
        ("config_file", &args.config_file),
        ("config_dir", &args.config_dir),
    ] {
        let at = m.indices_of(id).into_iter().flatten();
        paths.extend(at.zip(given.iter().cloned()));
    }
    paths.sort();
    let paths: Vec<PathBuf> = paths.into_iter().map(|(_, p)| p).collect();
    let file = super::config_file::read_paths(&paths)?;
    let given = |id: &str| m.value_source(id) == Some(clap::parser::ValueSource::CommandLine);
    let from = "in the config file";
    if !given("name") && file.node_name.is_some() {
        args.name.clone_from(&file.node_name);
    }
    if let (false, Some(b)) = (given("bind"), &file.bind) {
        args.bind.clone_from(b);
    }
    if !given("advertise") && file.advertise.is_some() {
        args.advertise.clone_from(&file.advertise);
    }
    if let (false, Some(k)) = (given("keys"), &file.encrypt_key) {
        args.security.keys = vec![k.clone()];
    }
    if let (false, Some(a)) = (given("rpc_addr"), &file.rpc_addr) {
        args.rpc_addr = a
            .parse()
            .map(Some)
            .map_err(|e| format!("rpc_addr {a:?} {from}: {e} (want ip:port)"))?;
    }
    if let Some(token) = &file.rpc_auth {
        args.rpc_auth.or_from_config(token);
    }
    args.join = file.start_join.iter().chain(&args.join).cloned().collect();
    args.retry_join = file
        .retry_join
        .iter()
        .chain(&args.retry_join)
        .cloned()
        .collect();
    if let (false, Some(d)) = (given("retry_interval"), file.retry_interval) {
        args.retry_interval = d;
    }
    if let (false, Some(n)) = (given("retry_max"), file.retry_max_attempts) {
        args.retry_max = n;
    }
    if let (false, Some(p)) = (given("profile"), &file.profile) {
        args.profile = Profile::from_str(p, true)
            .map_err(|_| format!("profile {p:?} {from}: want lan, wan or local"))?;
    }
    if let (false, Some(l)) = (given("log_level"), &file.log_level) {
        args.log.log_level = super::logging::LogLevel::from_str(l, true)
            .map_err(|_| format!("log_level {l:?} {from}: want trace, debug, info, warn or err"))?;
    }
    if args.serf.serf {
        super::serf_agent::apply_config_file(&mut args.serf, &file, &given)?;
    } else {
        let serf_keys = file.serf_keys();
        if !serf_keys.is_empty() {
            return Err(format!(
                "{} {from} are Serf settings: pass --serf to run a Serf member",
                serf_keys.join(", ")
            ));
        }
        // Serf's `protocol` is its own version; a plain member's is memberlist's.
        if let (false, Some(p)) = (given("protocol"), file.protocol) {
            args.protocol = p;
        }
    }
    Ok(())
}

/// Flag values that cannot work, found before anything starts.
fn check_flags(args: &Args) -> Result<(), String> {
    if let (Some(WatchApp::Alertmanager), true) = (args.app, args.serf.serf) {
        return Err(
            "--app alertmanager watches an Alertmanager cluster, which speaks plain memberlist, \
             not Serf: drop --serf"
                .into(),
        );
    }
    if let (Some(WatchApp::Alertmanager), TransportArg::Dskit) = (args.app, args.transport) {
        return Err(
            "--app alertmanager watches an Alertmanager cluster, which speaks memberlist's own \
             UDP and TCP, not dskit's transport: drop --transport dskit"
                .into(),
        );
    }
    if args.app.is_some() && !args.meta.is_empty() {
        return Err(
            "--app watches a cluster without taking part in it; Alertmanager's peers carry no \
             node meta: drop --meta"
                .into(),
        );
    }
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
    c.queue_check_interval = args.queue_check_interval;
    c.transport = match args.transport {
        TransportArg::Memberlist => Transport::Standard,
        TransportArg::Dskit => Transport::Dskit,
    };
    c.validate().map_err(|e| e.to_string())?;
    Ok(c)
}

async fn agent(args: Args, logs: LogBus) -> Result<(), String> {
    if args.serf.serf {
        return super::serf_agent::run(args, logs).await;
    }
    let mut config = config(&args)?;
    let (peers, rpc, token) = peers_and_control(&args).await?;
    config.metrics = super::metrics::sinks(&args.metrics, super::metrics::Layers::Node).await?;
    let (delegate, mut events) = EventDelegate::new(config.retransmit_mult);
    let (watch_tx, mut payloads) = mpsc::unbounded_channel();
    let mut watcher = args.app.map(|_| Watcher::new(args.format));
    let delegate = AgentDelegate::new(delegate, watcher.as_ref().map(|_| watch_tx));
    let (keyring, label) = (config.keyring.clone(), config.label.clone());
    let settle = config.push_pull_interval;
    let node = Memberlist::start(config, args.meta.clone().into_bytes(), delegate)
        .await
        .map_err(|e| gossip_error(&args, &e, keyring.as_ref(), label.as_ref()))?;
    let format = args.format;
    // On dskit's transport user messages are its KV store's pairs: shown decoded.
    let shown_app = match args.transport {
        TransportArg::Dskit => App::Dskit,
        TransportArg::Memberlist => App::Raw,
    };
    log(
        format,
        json!({"event": "started", "addr": node.local_addr().to_string(), "rpc": rpc.local_addr().map_or(args.rpc_addr(), |a| a).to_string()}),
    );
    if !peers.is_empty() {
        match node.join(peers.clone()).await {
            Ok(n) => log(format, json!({"event": "joined", "peers": n})),
            Err(RuntimeError::Join(e)) => {
                let why = join_failed(e.to_string(), &peers, keyring, label, JoinedAs::Plain).await;
                return Err(match args.app {
                    Some(WatchApp::Alertmanager) => format!(
                        "{why}\n  --join wants an Alertmanager's cluster address (its \
                         --cluster.listen-address, port {} by default), not its web API (9093); \
                         peers run with --cluster.tls-config speak TLS there, which the watcher \
                         does not",
                        memberlist_interop::apps::alertmanager::CLUSTER_PORT
                    ),
                    None => why,
                });
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    let retrier = node.clone();
    let mut retry_failed = spawn_retry_join(&args, move |peers| {
        let node = retrier.clone();
        async move { node.join(peers).await.map_err(|e| e.to_string()) }
    })?;
    tokio::spawn(serve_rpc(rpc, node.clone(), token));
    tokio::spawn(super::startup_pages::release_after(settle));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| e.to_string())?;
    let mut diag_tick = tokio::time::interval(Duration::from_millis(500));
    let mut diag_log = DiagnosticLog::default();
    loop {
        tokio::select! {
            Some(e) = events.recv() => print_event(format, shown_app, &e),
            Some(p) = payloads.recv() => {
                if let Some(w) = watcher.as_mut() {
                    w.payload(p);
                }
            }
            _ = diag_tick.tick() => {
                // The counters with the explanations, in one step: what they
                // counted beyond the explanations is added to the suppressed lines.
                let (diags, counts) = node
                    .with(|m, _| {
                        let diags: Vec<_> = std::iter::from_fn(|| m.poll_diagnostic()).collect();
                        let counts: Vec<_> =
                            m.stats().all().map(|(c, n)| (c.name(), c.level(), n)).collect();
                        (diags, counts)
                    })
                    .await
                    .map_err(|e| e.to_string())?;
                for d in diags {
                    diag_log.log(Source::Memberlist, d.counter.name(), d.level, &d.to_string());
                }
                diag_log.note_counts(Source::Memberlist, counts);
                diag_log.flush();
            }
            Some(e) = retry_failed.recv() => {
                node.shutdown().await.map_err(|e| e.to_string())?;
                return Err(e);
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
        print_event(format, shown_app, &e);
    }
    if let Some(w) = watcher.as_mut() {
        while let Ok(p) = payloads.try_recv() {
            w.payload(p);
        }
        if w.foreign() > 0 {
            tracing::warn!(target: "agent", "{} payloads were not Alertmanager's", w.foreign());
        }
    }
    Ok(())
}

/// Serf's retry join: tries `peers` every `every` until one answers, or gives up
/// after `max` failed attempts (0: never). Runs beside the agent, which reports
/// the join on stdout as `--join` does.
pub(super) async fn retry_join<F, Fut>(
    format: Format,
    peers: Vec<SocketAddr>,
    every: Duration,
    max: u32,
    mut join: F,
) -> Result<(), String>
where
    F: FnMut(Vec<SocketAddr>) -> Fut,
    Fut: std::future::Future<Output = Result<usize, String>>,
{
    let mut attempt = 0u32;
    loop {
        tracing::info!(target: "agent", "Joining cluster...");
        match join(peers.clone()).await {
            Ok(n) => {
                tracing::info!(target: "agent", "Join completed. Synced with {n} initial agents");
                log(format, json!({"event": "joined", "peers": n}));
                return Ok(());
            }
            Err(e) => {
                attempt += 1;
                if max > 0 && attempt > max {
                    tracing::error!(target: "agent", "maximum retry join attempts made, exiting");
                    return Err(format!(
                        "--retry-join: no member answered in {attempt} attempts (last: {e}); raise --retry-max, or 0 to retry for ever"
                    ));
                }
                tracing::warn!(
                    target: "agent",
                    "Join failed: {e}, retrying in {}",
                    humantime(every)
                );
                tokio::time::sleep(every).await;
            }
        }
    }
}

fn humantime(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// Starts [`retry_join`] when `--retry-join` is given; the receiver hears why it
/// gave up, if it does.
pub(super) fn spawn_retry_join<F, Fut>(
    args: &Args,
    join: F,
) -> Result<mpsc::Receiver<String>, String>
where
    F: FnMut(Vec<SocketAddr>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<usize, String>> + Send,
{
    let (tx, rx) = mpsc::channel(1);
    if args.retry_join.is_empty() {
        return Ok(rx);
    }
    let peers = args
        .retry_join
        .iter()
        .map(|a| resolve(a))
        .collect::<Result<Vec<_>, _>>()?;
    let (format, every, max) = (args.format, args.retry_interval, args.retry_max);
    tokio::spawn(async move {
        if let Err(e) = retry_join(format, peers, every, max, join).await {
            let _ = tx.send(e).await;
        }
    });
    Ok(rx)
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

fn print_event(format: Format, shown_app: App, e: &Event) {
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
            if let Some(app) = apps::decode(shown_app, None, Carrier::UserMessage, payload, false) {
                let shown = match format {
                    Format::Json => app,
                    Format::Text => Value::String(apps::text(&app)),
                };
                return log(format, json!({"event": "user-message", "app": shown}));
            }
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
    node: Memberlist<AgentDelegate>,
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

async fn answer(node: &Memberlist<AgentDelegate>, line: &str, token: Option<&AuthToken>) -> Value {
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
