//! `memberlist agent --serf`: the agent as a Serf member. Prints Serf's events, runs
//! event handlers the way the `serf` agent does, and serves serf's RPC (what `serf
//! members`, serf's client library and `memberlist members/event/query/keys/tags/stats`
//! speak) on its control address.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};

use memberlist_interop::control::filter::EventFilter;
use memberlist_interop::control::log_bus::LogBus;
use memberlist_interop::control::server::{Server, ServerConfig};
use memberlist_interop::node::RuntimeError;
use memberlist_interop::serf::consul::{self, ConsulClient};
use memberlist_interop::serf::keyring_file;
use memberlist_interop::serf::query::QUERY_RESPONSE_SIZE_LIMIT;
use memberlist_interop::serf::{
    LamportTime, Serf, SerfConfig, SerfEvent, SerfMember, SerfState, ShellError,
};

use super::agent::{log, Args, Format};
use super::config_file::FileConfig;
use super::duration;
use super::join_hint::{join_failed, JoinedAs};
use super::logging::{DiagnosticLog, Source};
use super::serf_cmds::key_value;

/// How long a new RPC client has to finish its handshake (and `auth`).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(clap::Args, Default)]
pub struct SerfArgs {
    /// Be a Serf member: tags in node meta, user events, queries, key rotation.
    #[arg(long)]
    pub serf: bool,
    /// A Serf tag KEY=VALUE (repeatable; needs --serf, excludes --meta).
    #[arg(long = "tag", id = "serf_tags", value_name = "KEY=VALUE", value_parser = key_value, requires = "serf")]
    tags: Vec<(String, String)>,
    /// Run SCRIPT (with `sh -c`) for events, as the serf agent's -event-handler:
    /// FILTER is a comma-separated list of member-join, member-leave, member-failed,
    /// member-update, member-reap, user, user:NAME, query, query:NAME or * (the default);
    /// a query handler's output is its answer (repeatable).
    #[arg(long = "event-handler", value_name = "[FILTER=]SCRIPT", value_parser = Handler::parse, requires = "serf")]
    handlers: Vec<Handler>,
    /// Serf protocol version to advertise (5 like the serf agent, 4 like Consul).
    #[arg(long = "protocol-serf", id = "protocol_serf", value_name = "VERSION", default_value_t = 5, value_parser = clap::value_parser!(u8).range(2..=5))]
    protocol: u8,
    /// Join a Consul LAN pool as a client agent of datacenter DC: the tags a Consul
    /// client advertises (a fresh node ID, the build of the Consul release this was
    /// tested with) and Serf protocol 4; --tag overrides one of them.
    #[arg(
        long = "consul-client",
        value_name = "DC",
        requires = "serf",
        conflicts_with = "protocol_serf"
    )]
    consul_client: Option<String>,
    /// The serf agent's -keyring-file: a JSON list of base64 keys, primary first;
    /// loaded at start (instead of --key) and rewritten after every key change.
    #[arg(long = "keyring-file", value_name = "PATH", requires = "serf")]
    keyring_file: Option<PathBuf>,
    /// The serf agent's -snapshot: log members and clocks here; on start, restore
    /// the clocks and rejoin the members last seen alive (not after a leave).
    #[arg(long, value_name = "PATH", requires = "serf")]
    snapshot: Option<PathBuf>,
    /// Rejoin from the snapshot even after a graceful leave (serf's -rejoin).
    #[arg(long, requires = "snapshot")]
    rejoin: bool,
    /// Coalesce user events sent with coalesce=true: per name, only the latest is
    /// printed, once this long has passed since the first (e.g. 3s, serf's agent's;
    /// 0s: off).
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = duration::parse, requires = "serf")]
    coalesce_period: Duration,
    /// Deliver held user events once none came for this long (e.g. 1s, serf's
    /// agent's; 0s: off).
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = duration::parse, requires = "serf")]
    quiescent_period: Duration,
}

/// One `--event-handler`: which events it wants, and the script.
#[derive(Clone, Debug)]
struct Handler {
    filters: Vec<EventFilter>,
    script: String,
}

impl Handler {
    fn parse(spec: &str) -> Result<Self, String> {
        let (filter, script) = match spec.split_once('=') {
            Some((f, s)) => (f, s),
            None => ("*", spec),
        };
        let filters = EventFilter::parse_list(filter);
        if let Some(bad) = filters.iter().find(|f| !f.valid()) {
            return Err(format!(
                "invalid event filter {:?}: use member-join, member-leave, member-failed, member-update, member-reap, user[:NAME], query[:NAME] or *",
                bad.event
            ));
        }
        Ok(Handler {
            filters,
            script: script.to_owned(),
        })
    }

    fn wants(&self, e: &SerfEvent) -> bool {
        self.filters.iter().any(|f| f.matches(e))
    }
}

/// The Serf settings of serf's config file, under the flags given (`given` says
/// which were): tags and handlers from the file come first, as serf merges them.
pub(super) fn apply_config_file(
    args: &mut SerfArgs,
    file: &FileConfig,
    given: &dyn Fn(&str) -> bool,
) -> Result<(), String> {
    if let Some(tags) = &file.tags {
        let from_file = tags.iter().map(|(k, v)| (k.clone(), v.clone()));
        args.tags = from_file.chain(args.tags.iter().cloned()).collect();
    }
    let from_file = file.event_handlers.iter().map(|h| {
        Handler::parse(h).map_err(|e| format!("event_handlers {h:?} in the config file: {e}"))
    });
    args.handlers = from_file
        .chain(args.handlers.iter().cloned().map(Ok))
        .collect::<Result<_, _>>()?;
    if !given("keyring_file") && file.keyring_file.is_some() {
        args.keyring_file.clone_from(&file.keyring_file);
    }
    if !given("snapshot") && file.snapshot_path.is_some() {
        args.snapshot.clone_from(&file.snapshot_path);
    }
    args.rejoin |= file.rejoin_after_leave;
    if let (false, Some(p)) = (given("protocol_serf"), file.protocol) {
        if !(2..=5).contains(&p) {
            return Err(format!(
                "protocol {p} in the config file: Serf speaks protocols 2 to 5"
            ));
        }
        args.protocol = p;
    }
    Ok(())
}

/// The tags to advertise: a Consul client's with --consul-client, then each --tag.
fn tags(args: &SerfArgs) -> Result<Vec<(String, String)>, String> {
    let mut tags = BTreeMap::new();
    if let Some(dc) = &args.consul_client {
        let client =
            ConsulClient::new(dc, consul::BUILD).map_err(|e| format!("--consul-client: {e}"))?;
        for (k, v) in client.tags().iter() {
            let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            tags.insert(text(k.as_bytes()), text(v.as_bytes()));
        }
    }
    tags.extend(args.tags.iter().cloned());
    Ok(tags.into_iter().collect())
}

/// What `--serf` flags make: the node's config, the Serf layer's, and the tags.
struct Prepared {
    config: memberlist_interop::node::Config,
    serf: SerfConfig,
    tags: Vec<(String, String)>,
}

/// Builds [`Prepared`]; errors are bad flag values.
pub fn check_flags(args: &Args) -> Result<(), String> {
    prepare(args).map(drop)
}

fn prepare(args: &Args) -> Result<Prepared, String> {
    if !args.meta.is_empty() && (!args.serf.tags.is_empty() || args.serf.consul_client.is_some()) {
        return Err(
            "--meta excludes --tag and --consul-client (Serf tags are the node meta)".into(),
        );
    }
    let mut config = super::agent::config(args)?;
    if let Some(path) = &args.serf.keyring_file {
        if !args.security.keys.is_empty() {
            return Err(
                "Encryption key not allowed while using a keyring (--key and --keyring-file)"
                    .into(),
            );
        }
        config.keyring =
            Some(keyring_file::load(path).map_err(|e| format!("--keyring-file: {e}"))?);
    }
    let serf_config = SerfConfig {
        queue_check_interval: args.queue_check_interval,
        keyring_file: args.serf.keyring_file.clone(),
        snapshot_path: args.serf.snapshot.clone(),
        rejoin_after_leave: args.serf.rejoin,
        user_coalesce_period: args.serf.coalesce_period,
        user_quiescent_period: args.serf.quiescent_period,
        ..SerfConfig::default()
    };
    Ok(Prepared {
        config,
        serf: serf_config,
        tags: tags(&args.serf)?,
    })
}

pub async fn run(args: Args, logs: LogBus) -> Result<(), String> {
    let Prepared {
        mut config,
        serf: mut serf_config,
        tags,
    } = prepare(&args)?;
    config.metrics = super::metrics::sinks(&args.metrics, super::metrics::Layers::Serf).await?;
    serf_config.metrics = config.metrics.clone();
    let name = config.name.clone();
    let handlers = &args.serf.handlers;
    let (peers, rpc, token) = super::agent::peers_and_control(&args).await?;
    let protocol = match args.serf.consul_client {
        Some(_) => consul::SERF_PROTOCOL,
        None => args.serf.protocol,
    };
    let (keyring, label) = (config.keyring.clone(), config.label.clone());
    let settle = config.push_pull_interval;
    let serf = Serf::start(config, serf_config, &tags, protocol)
        .await
        .map_err(|e| super::agent::gossip_error(&args, &e, keyring.as_ref(), label.as_ref()))?;
    let format = args.format;
    log(
        format,
        json!({"event": "started", "addr": serf.local_addr().to_string(), "rpc": rpc.local_addr().map_or(args.rpc_addr(), |a| a).to_string()}),
    );
    let server = Server::new(
        serf.clone(),
        ServerConfig {
            auth: token,
            handshake_timeout: HANDSHAKE_TIMEOUT,
            leave_timeout: args.leave_timeout,
            event_handlers: handler_stats(handlers),
        },
        logs.clone(),
    );
    // In the background, as serf does: a member in the snapshot that no longer
    // answers must not hold up the start.
    let rejoiner = serf.clone();
    tokio::spawn(async move {
        match rejoiner.rejoin().await {
            Ok((_, Some((node, addr)))) => log(
                format,
                json!({"event": "rejoined", "node": node, "addr": addr.to_string()}),
            ),
            Ok((0, None)) => {}
            Ok((n, None)) => tracing::warn!(
                target: "agent",
                "could not rejoin any of the {n} members in the snapshot"
            ),
            Err(e) => tracing::warn!(target: "agent", "rejoin: {e}"),
        }
    });
    if !peers.is_empty() {
        match serf.join(peers.clone()).await {
            Ok(n) => {
                tracing::info!(target: "agent", "joined: {n} nodes");
                log(format, json!({"event": "joined", "peers": n}));
            }
            Err(ShellError::Runtime(RuntimeError::Join(e))) => {
                return Err(
                    join_failed(e.to_string(), &peers, keyring, label, JoinedAs::Serf).await,
                )
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    let retrier = serf.clone();
    let mut retry_failed = super::agent::spawn_retry_join(&args, move |peers| {
        let serf = retrier.clone();
        async move { serf.join(peers).await.map_err(|e| e.to_string()) }
    })?;
    tokio::spawn(server.clone().serve(rpc));
    tokio::spawn(super::startup_pages::release_after(settle));
    let mut me = Self_ {
        name,
        tags: tags.into_iter().collect(),
    };
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| e.to_string())?;
    let mut diag_tick = tokio::time::interval(Duration::from_millis(500));
    let mut diag_log = DiagnosticLog::default();
    loop {
        tokio::select! {
            _ = serf.events_ready() => {
                let events = serf.events().await.map_err(|e| e.to_string())?;
                if !events.is_empty() {
                    // Handlers see the tags as they are now (`memberlist tags` may
                    // have changed them).
                    me.tags = serf.local_tags().await.map_err(|e| e.to_string())?;
                }
                for e in events {
                    print_event(format, &e);
                    tracing::info!(target: "serf", "{}", event_log_line(&e));
                    server.publish_event(&e);
                    run_handlers(handlers, &me, &e, &serf);
                }
            }
            _ = diag_tick.tick() => {
                // The counters with the explanations, in one step: what they
                // counted beyond the explanations is added to the suppressed lines.
                let (node, layer, node_counts, serf_counts) = serf
                    .memberlist()
                    .with(|m, _| {
                        let node: Vec<_> = std::iter::from_fn(|| m.poll_diagnostic()).collect();
                        let layer: Vec<_> =
                            std::iter::from_fn(|| m.delegate_mut().stats_mut().poll()).collect();
                        let node_counts: Vec<_> =
                            m.stats().all().map(|(c, n)| (c.name(), c.level(), n)).collect();
                        let serf_counts: Vec<_> = m
                            .delegate()
                            .stats()
                            .all()
                            .map(|(c, n)| (c.name(), c.level(), n))
                            .collect();
                        (node, layer, node_counts, serf_counts)
                    })
                    .await
                    .map_err(|e| e.to_string())?;
                for d in node {
                    diag_log.log(Source::Memberlist, d.counter.name(), d.level, &d.to_string());
                }
                for d in layer {
                    diag_log.log(Source::Serf, d.counter.name(), d.counter.level(), &d.detail);
                }
                diag_log.note_counts(Source::Memberlist, node_counts);
                diag_log.note_counts(Source::Serf, serf_counts);
                diag_log.flush();
                if serf.state().await.map_err(|e| e.to_string())? == SerfState::Shutdown {
                    serf.shutdown().await.map_err(|e| e.to_string())?;
                    return Err("lost a name conflict: another member holds our name".into());
                }
            }
            Some(e) = retry_failed.recv() => {
                serf.shutdown().await.map_err(|e| e.to_string())?;
                return Err(e);
            }
            _ = server.left() => {
                // A client's `leave` has left the cluster: stop, as serf's agent does.
                for e in serf.events().await.unwrap_or_default() {
                    print_event(format, &e);
                }
                log(format, json!({"event": "left"}));
                return serf.shutdown().await.map_err(|e| e.to_string());
            }
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
        }
    }
    log(format, json!({"event": "leaving"}));
    if let Err(e) = serf.leave(args.leave_timeout).await {
        tracing::warn!(target: "agent", "leave: {e}");
    }
    for e in serf.events().await.unwrap_or_default() {
        print_event(format, &e);
    }
    serf.shutdown().await.map_err(|e| e.to_string())
}

/// What a handler learns about the node it runs on.
struct Self_ {
    name: String,
    tags: BTreeMap<String, String>,
}

fn member_json(m: &SerfMember) -> Value {
    json!({
        "name": m.name,
        "addr": m.ip().map_or(String::new(), |ip| ip.to_string()),
        "port": m.port,
        "tags": m.tags,
        "status": m.status.name(),
        "protocol": {
            "min": m.versions.delegate_min,
            "max": m.versions.delegate_max,
            "version": m.versions.delegate_cur,
        },
    })
}

/// Payload as text when it is UTF-8, else base64 under `payload_base64`.
fn payload_fields(v: &mut Value, payload: Option<&[u8]>) {
    let p = payload.unwrap_or_default();
    match std::str::from_utf8(p) {
        Ok(s) => v["payload"] = json!(s),
        Err(_) => v["payload_base64"] = json!(base64::engine::general_purpose::STANDARD.encode(p)),
    }
}

fn event_json(e: &SerfEvent) -> Value {
    match e {
        SerfEvent::Member { kind, member } => {
            json!({"event": kind.name(), "members": [member_json(member)]})
        }
        SerfEvent::User {
            ltime,
            name,
            payload,
            coalesce,
        } => {
            let mut v =
                json!({"event": "user", "name": name, "ltime": ltime.0, "coalesce": coalesce});
            payload_fields(&mut v, payload.as_deref());
            v
        }
        SerfEvent::Query {
            ltime,
            id,
            name,
            payload,
            from,
        } => {
            let mut v =
                json!({"event": "query", "name": name, "ltime": ltime.0, "id": id, "from": from});
            payload_fields(&mut v, payload.as_deref());
            v
        }
    }
}

fn print_event(format: Format, e: &SerfEvent) {
    match (format, e) {
        (Format::Text, SerfEvent::Member { kind, member }) => log(
            format,
            json!({
                "event": kind.name(),
                "name": member.name,
                "addr": member_addr(member),
                "status": member.status.name(),
                "tags": tag_list(&member.tags),
            }),
        ),
        _ => log(format, event_json(e)),
    }
}

fn member_addr(m: &SerfMember) -> String {
    match m.ip() {
        Some(ip) => std::net::SocketAddr::new(ip, m.port).to_string(),
        None => format!("?:{}", m.port),
    }
}

/// The line a `monitor` client sees for an event, like serf's agent logs it.
fn event_log_line(e: &SerfEvent) -> String {
    match e {
        SerfEvent::Member { kind, member } => {
            format!("{}: {} {}", kind.name(), member.name, member_addr(member))
        }
        SerfEvent::User { name, ltime, .. } => {
            format!("Received event: user-event: {name} (ltime {})", ltime.0)
        }
        SerfEvent::Query { name, from, .. } => {
            format!("Received query: {name} from {from}")
        }
    }
}

/// `stats`' `event_handlers`: `event:name` to script, as serf's agent lists them.
fn handler_stats(handlers: &[Handler]) -> BTreeMap<String, String> {
    handlers
        .iter()
        .flat_map(|h| {
            h.filters
                .iter()
                .map(|f| (format!("{}:{}", f.event, f.name), h.script.clone()))
        })
        .collect()
}

fn tag_list(tags: &BTreeMap<String, String>) -> String {
    tags.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The serf agent's member line: name, address, role and tags, tab-separated.
fn member_line(m: &SerfMember) -> String {
    let clean = |s: &str| s.replace('\t', "\\t").replace('\n', "\\n");
    format!(
        "{}\t{}\t{}\t{}\n",
        clean(&m.name),
        m.ip().map_or(String::new(), |ip| ip.to_string()),
        clean(m.tags.get("role").map_or("", String::as_str)),
        clean(&tag_list(&m.tags))
    )
}

fn run_handlers(handlers: &[Handler], me: &Self_, e: &SerfEvent, serf: &Serf) {
    let kind = match e {
        SerfEvent::Member { kind, .. } => kind.name(),
        SerfEvent::User { .. } => "user",
        SerfEvent::Query { .. } => "query",
    };
    for h in handlers.iter().filter(|h| h.wants(e)) {
        let mut env = vec![
            ("SERF_EVENT".to_owned(), kind.to_owned()),
            ("SERF_SELF_NAME".to_owned(), me.name.clone()),
            (
                "SERF_SELF_ROLE".to_owned(),
                me.tags.get("role").cloned().unwrap_or_default(),
            ),
        ];
        for (k, v) in &me.tags {
            let key: String = k
                .to_uppercase()
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '_' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            env.push((format!("SERF_TAG_{key}"), v.clone()));
        }
        let (stdin, query) = match e {
            SerfEvent::Member { member, .. } => (member_line(member).into_bytes(), None),
            SerfEvent::User {
                name,
                ltime,
                payload,
                ..
            } => {
                env.push(("SERF_USER_EVENT".into(), name.clone()));
                env.push(("SERF_USER_LTIME".into(), ltime.0.to_string()));
                (payload.clone().unwrap_or_default(), None)
            }
            SerfEvent::Query {
                name,
                ltime,
                id,
                payload,
                ..
            } => {
                env.push(("SERF_QUERY_NAME".into(), name.clone()));
                env.push(("SERF_QUERY_LTIME".into(), ltime.0.to_string()));
                (payload.clone().unwrap_or_default(), Some((*ltime, *id)))
            }
        };
        let script = h.script.clone();
        let serf = serf.clone();
        let rt = tokio::runtime::Handle::current();
        std::thread::spawn(move || {
            let out = match invoke(&script, &env, &stdin) {
                Ok(out) => out,
                Err(err) => {
                    tracing::error!(target: "agent", "Error invoking script {script:?}: {err}");
                    return;
                }
            };
            if let (Some((ltime, id)), false) = (query, out.is_empty()) {
                respond(&rt, &serf, (ltime, id), out);
            }
        });
    }
}

fn respond(
    rt: &tokio::runtime::Handle,
    serf: &Serf,
    (ltime, id): (LamportTime, u32),
    out: Vec<u8>,
) {
    if let Err(e) = rt.block_on(serf.respond(ltime, id, out)) {
        tracing::error!(target: "agent", "query response: {e}");
    }
}

/// Runs `sh -c script` with the payload on stdin; returns its output (stdout and
/// stderr, as the serf agent captures both), cut at the response size limit.
fn invoke(script: &str, env: &[(String, String)], stdin: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(script)
        .envs(env.iter().map(|(k, v)| (k, v)))
        // The agent's RPC token is not the script's business.
        .env_remove("MEMBERLIST_RPC_AUTH")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    if let Some(mut i) = child.stdin.take() {
        // A script that does not read its stdin closes the pipe: not an error.
        let _ = i.write_all(stdin);
    }
    let mut out = Vec::new();
    if let Some(mut o) = child.stdout.take() {
        (&mut o)
            .take(QUERY_RESPONSE_SIZE_LIMIT as u64)
            .read_to_end(&mut out)?;
        // Drain the rest so a chatty script is not blocked on a full pipe.
        std::io::copy(&mut o, &mut std::io::sink())?;
    }
    let status = child.wait()?;
    if !status.success() {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        return Err(std::io::Error::other(format!("{status}: {}", err.trim())));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> SerfEvent {
        SerfEvent::User {
            ltime: LamportTime(1),
            name: name.into(),
            payload: None,
            coalesce: false,
        }
    }

    fn query(name: &str) -> SerfEvent {
        SerfEvent::Query {
            ltime: LamportTime(1),
            id: 1,
            name: name.into(),
            payload: None,
            from: "n".into(),
        }
    }

    #[test]
    fn handler_specs_parse_like_serfs() {
        let h = Handler::parse("query:uptime=echo pong").unwrap();
        assert_eq!(h.script, "echo pong");
        assert!(h.wants(&query("uptime")));
        assert!(!h.wants(&query("other")));
        assert!(!h.wants(&user("uptime")));
        let all = Handler::parse("cat >> out").unwrap();
        assert!(all.wants(&user("x")) && all.wants(&query("y")));
        let some = Handler::parse("member-join,user=env").unwrap();
        assert!(some.wants(&user("deploy")) && !some.wants(&query("deploy")));
        assert!(Handler::parse("bogus=true").is_err());
        assert!(Handler::parse("member-join:x=true").is_err());
        let stats = handler_stats(&[h, all]);
        assert_eq!(stats["query:uptime"], "echo pong");
        assert_eq!(stats["*:"], "cat >> out");
    }

    #[test]
    fn consul_client_tags_then_tag_overrides() {
        let args = SerfArgs {
            consul_client: Some("dc1".into()),
            tags: vec![
                ("build".into(), "1.0.0:".into()),
                ("extra".into(), "x=y".into()),
            ],
            ..SerfArgs::default()
        };
        let got: BTreeMap<_, _> = tags(&args).unwrap().into_iter().collect();
        let keys: Vec<&str> = got.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["build", "dc", "extra", "id", "role", "segment", "vsn", "vsn_max", "vsn_min"]
        );
        assert_eq!(got["build"], "1.0.0:");
        assert_eq!(got["extra"], "x=y");
        assert_eq!((got["role"].as_str(), got["dc"].as_str()), ("node", "dc1"));

        let bad_dc = SerfArgs {
            consul_client: Some("DC1".into()),
            ..SerfArgs::default()
        };
        assert!(tags(&bad_dc).unwrap_err().contains("datacenter \"DC1\""));
        assert!(key_value("novalue").is_err());
    }
}
