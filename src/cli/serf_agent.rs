//! `memberlist agent --serf`: the agent as a Serf member. Prints Serf's events, runs
//! event handlers the way the `serf` agent does, and answers the Serf control
//! requests behind `memberlist event`, `query`, `keys` and `members`.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use memberlist_interop::node::RuntimeError;
use memberlist_interop::serf::consul::{self, ConsulClient};
use memberlist_interop::serf::keyring_file;
use memberlist_interop::serf::keys::parse_key;
use memberlist_interop::serf::messages::InternalQuery;
use memberlist_interop::serf::query::QUERY_RESPONSE_SIZE_LIMIT;
use memberlist_interop::serf::{
    LamportTime, QueryParams, Serf, SerfConfig, SerfEvent, SerfMember, SerfState, ShellError,
};

use super::agent::{humantime_secs, log, Args, Format};
use super::config_file::FileConfig;
use super::join_hint::{join_failed, JoinedAs};
use super::logging::{DiagnosticLog, Source};

#[derive(clap::Args, Default)]
pub struct SerfArgs {
    /// Be a Serf member: tags in node meta, user events, queries, key rotation.
    #[arg(long)]
    pub serf: bool,
    /// A Serf tag KEY=VALUE (repeatable; needs --serf, excludes --meta).
    #[arg(long = "tag", id = "serf_tags", requires = "serf")]
    tags: Vec<String>,
    /// `[FILTER=]SCRIPT`, as the serf agent's -event-handler (repeatable).
    #[arg(long = "event-handler", requires = "serf")]
    handlers: Vec<String>,
    /// Serf protocol version to advertise (5 like the serf agent, 4 like Consul).
    #[arg(long = "protocol-serf", id = "protocol_serf", default_value_t = 5, value_parser = clap::value_parser!(u8).range(2..=5))]
    protocol: u8,
    /// Join a Consul LAN pool as a client agent of datacenter DC: Consul's client tags
    /// (a fresh node ID, build `consul::BUILD`) and Serf protocol 4; --tag overrides a tag.
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
    /// printed, once this long has passed since the first (serf's agent: 3s; 0: off).
    #[arg(long, default_value = "0s", value_parser = humantime_secs, requires = "serf")]
    coalesce_period: Duration,
    /// Deliver held user events once none came for this long (serf's agent: 1s; 0: off).
    #[arg(long, default_value = "0s", value_parser = humantime_secs, requires = "serf")]
    quiescent_period: Duration,
}

/// One `--event-handler`: which events it wants, and the script.
struct Handler {
    filters: Vec<(String, Option<String>)>,
    script: String,
}

impl Handler {
    fn parse(spec: &str) -> Result<Self, String> {
        let (filter, script) = match spec.split_once('=') {
            Some((f, s)) => (f, s),
            None => ("*", spec),
        };
        let mut filters = Vec::new();
        for f in filter.split(',') {
            let (kind, name) = match f.split_once(':') {
                Some((k, n)) => (k, Some(n.to_owned())),
                None => (f, None),
            };
            let ok = match kind {
                "user" | "query" => true,
                "*" | "member-join" | "member-leave" | "member-failed" | "member-update"
                | "member-reap" => name.is_none(),
                _ => false,
            };
            if !ok {
                return Err(format!("--event-handler: invalid filter {f:?}"));
            }
            filters.push((kind.to_owned(), name));
        }
        Ok(Handler {
            filters,
            script: script.to_owned(),
        })
    }

    fn wants(&self, kind: &str, name: Option<&str>) -> bool {
        self.filters
            .iter()
            .any(|(k, n)| k == "*" || (k == kind && n.as_deref().is_none_or(|n| Some(n) == name)))
    }
}

/// The tags to advertise: a Consul client's with --consul-client, then each --tag.
/// The Serf settings of serf's config file, under the flags given (`given` says
/// which were): tags and handlers from the file come first, as serf merges them.
pub(super) fn apply_config_file(
    args: &mut SerfArgs,
    file: &FileConfig,
    given: &dyn Fn(&str) -> bool,
) -> Result<(), String> {
    if let Some(tags) = &file.tags {
        let from_file = tags.iter().map(|(k, v)| format!("{k}={v}"));
        args.tags = from_file.chain(args.tags.iter().cloned()).collect();
    }
    args.handlers = file
        .event_handlers
        .iter()
        .chain(&args.handlers)
        .cloned()
        .collect();
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
    for t in &args.tags {
        let (k, v) = t
            .split_once('=')
            .ok_or_else(|| format!("--tag {t:?}: expected KEY=VALUE"))?;
        tags.insert(k.to_owned(), v.to_owned());
    }
    Ok(tags.into_iter().collect())
}

pub async fn run(args: Args) -> Result<(), String> {
    if !args.meta.is_empty() && (!args.serf.tags.is_empty() || args.serf.consul_client.is_some()) {
        return Err(
            "--meta excludes --tag and --consul-client (Serf tags are the node meta)".into(),
        );
    }
    let mut config = super::agent::config(&args)?;
    if let Some(path) = &args.serf.keyring_file {
        if !args.security.keys.is_empty() {
            return Err(
                "Encryption key not allowed while using a keyring (--key and --keyring-file)"
                    .into(),
            );
        }
        config.keyring = Some(keyring_file::load(path).map_err(|e| e.to_string())?);
    }
    config.metrics = super::metrics::sinks(&args.metrics, super::metrics::Layers::Serf).await?;
    let serf_config = SerfConfig {
        metrics: config.metrics.clone(),
        queue_check_interval: args.queue_check_interval,
        keyring_file: args.serf.keyring_file.clone(),
        snapshot_path: args.serf.snapshot.clone(),
        rejoin_after_leave: args.serf.rejoin,
        user_coalesce_period: args.serf.coalesce_period,
        user_quiescent_period: args.serf.quiescent_period,
        ..SerfConfig::default()
    };
    let name = config.name.clone();
    let (keyring, label) = (config.keyring.clone(), config.label.clone());
    let tags = tags(&args.serf)?;
    let handlers = args
        .serf
        .handlers
        .iter()
        .map(|h| Handler::parse(h))
        .collect::<Result<Vec<_>, _>>()?;
    let (peers, rpc) = super::agent::peers_and_control(&args).await?;
    let protocol = match args.serf.consul_client {
        Some(_) => consul::SERF_PROTOCOL,
        None => args.serf.protocol,
    };
    let serf = Serf::start(config, serf_config, &tags, protocol)
        .await
        .map_err(|e| e.to_string())?;
    let format = args.format;
    log(
        format,
        json!({"event": "started", "addr": serf.local_addr().to_string(), "rpc": args.rpc_addr.to_string()}),
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
            Ok(n) => log(format, json!({"event": "joined", "peers": n})),
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
    tokio::spawn(serve_rpc(rpc, serf.clone()));
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
                    run_handlers(&handlers, &me, &e, &serf);
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
        (Format::Text, SerfEvent::Member { kind, member }) => println!(
            "{} name={} addr={}:{} status={} tags={}",
            kind.name(),
            member.name,
            member.ip().map_or(String::new(), |ip| ip.to_string()),
            member.port,
            member.status.name(),
            tag_list(&member.tags)
        ),
        _ => log(format, event_json(e)),
    }
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

/// Starts every handler that wants `e`, each in its own thread; a query handler's
/// output (up to the response limit) is the node's answer.
fn run_handlers(handlers: &[Handler], me: &Self_, e: &SerfEvent, serf: &Serf) {
    let (kind, name) = match e {
        SerfEvent::Member { kind, .. } => (kind.name(), None),
        SerfEvent::User { name, .. } => ("user", Some(name.as_str())),
        SerfEvent::Query { name, .. } => ("query", Some(name.as_str())),
    };
    for h in handlers.iter().filter(|h| h.wants(kind, name)) {
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
                respond(&rt, &serf, ltime, id, out);
            }
        });
    }
}

fn respond(rt: &tokio::runtime::Handle, serf: &Serf, ltime: LamportTime, id: u32, out: Vec<u8>) {
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

/// Answers control requests; see `cli::serf_cmds` for the client side.
async fn serve_rpc(listener: TcpListener, serf: Serf) {
    while let Ok((conn, _)) = listener.accept().await {
        let serf = serf.clone();
        tokio::spawn(async move {
            let (rd, mut wr) = conn.into_split();
            let mut lines = BufReader::new(rd).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let reply = match serde_json::from_str::<Value>(&line) {
                    Ok(req) => answer(&serf, &req)
                        .await
                        .unwrap_or_else(|e| json!({ "error": e })),
                    Err(e) => json!({"error": format!("bad request: {e}")}),
                };
                if wr.write_all(format!("{reply}\n").as_bytes()).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// An optional field of a request: absent is empty, the wrong shape an error.
fn field<T: serde::de::DeserializeOwned + Default>(req: &Value, key: &str) -> Result<T, String> {
    match &req[key] {
        Value::Null => Ok(T::default()),
        v => serde_json::from_value(v.clone()).map_err(|e| format!("bad {key:?}: {e}")),
    }
}

async fn answer(serf: &Serf, req: &Value) -> Result<Value, String> {
    let s = |k: &str| req[k].as_str().unwrap_or_default().to_owned();
    match req["cmd"].as_str() {
        Some("members") => {
            let ms = serf.members().await.map_err(|e| e.to_string())?;
            Ok(json!({"serf": true, "members": ms.iter().map(member_json).collect::<Vec<_>>()}))
        }
        Some("stats") => {
            let (counters, health, members) = serf
                .memberlist()
                .with(|m, _| {
                    let mut c: serde_json::Map<String, Value> = m
                        .stats()
                        .all()
                        .map(|(c, n)| (c.name().to_string(), json!(n)))
                        .collect();
                    c.extend(
                        m.delegate()
                            .stats()
                            .all()
                            .map(|(c, n)| (c.name().to_string(), json!(n))),
                    );
                    (c, m.health_score(), m.num_members())
                })
                .await
                .map_err(|e| e.to_string())?;
            Ok(json!({"health": health, "members": members, "counters": counters}))
        }
        Some("event") => {
            let coalesce = req["coalesce"].as_bool().unwrap_or(true);
            let ltime = serf
                .user_event(s("name"), s("payload").into_bytes(), coalesce)
                .await
                .map_err(|e| e.to_string())?;
            Ok(json!({ "ltime": ltime.0 }))
        }
        Some("query") => {
            let params = QueryParams {
                filter_nodes: serde_json::from_value(req["nodes"].clone()).unwrap_or_default(),
                filter_tags: serde_json::from_value::<BTreeMap<String, String>>(
                    req["tags"].clone(),
                )
                .unwrap_or_default()
                .into_iter()
                .collect(),
                request_ack: req["ack"].as_bool().unwrap_or(true),
                relay_factor: req["relay_factor"].as_u64().unwrap_or(0).min(5) as u8,
                timeout: req["timeout_ms"].as_u64().map(Duration::from_millis),
            };
            let r = serf
                .query(s("name"), s("payload").into_bytes(), params)
                .await
                .map_err(|e| e.to_string())?;
            let responses: BTreeMap<String, String> = r
                .responses
                .iter()
                .map(|(k, v)| (k.clone(), String::from_utf8_lossy(v).into_owned()))
                .collect();
            Ok(json!({"Acks": r.acks, "Responses": responses}))
        }
        Some("keys") => {
            let (kind, key) = match s("op").as_str() {
                "install" => (InternalQuery::InstallKey, Some(parse_key(&s("key"))?)),
                "use" => (InternalQuery::UseKey, Some(parse_key(&s("key"))?)),
                "remove" => (InternalQuery::RemoveKey, Some(parse_key(&s("key"))?)),
                "list" => (InternalQuery::ListKeys, None),
                other => return Err(format!("unknown key operation {other:?}")),
            };
            let report = serf.key_query(kind, key).await.map_err(|e| e.to_string())?;
            let answers: Vec<Value> = report
                .answers
                .iter()
                .map(|(node, a)| {
                    json!({"node": node, "result": a.result, "message": a.message,
                           "keys": a.keys, "primary_key": a.primary_key})
                })
                .collect();
            Ok(json!({"ok": report.ok(), "members": report.members, "answers": answers}))
        }
        Some("tags") => {
            let mut tags = serf.local_tags().await.map_err(|e| e.to_string())?;
            let set: BTreeMap<String, String> = field(req, "set")?;
            let delete: Vec<String> = field(req, "delete")?;
            // As the serf agent: new values first, then deletions.
            tags.extend(set);
            for k in &delete {
                tags.remove(k);
            }
            let list: Vec<(String, String)> = tags.clone().into_iter().collect();
            serf.set_tags(&list).await.map_err(|e| e.to_string())?;
            Ok(json!({ "tags": tags }))
        }
        _ => Err("unknown command (members, stats, event, query, keys, tags)".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handler_specs_parse_like_serfs() {
        let h = Handler::parse("query:uptime=echo pong").unwrap();
        assert_eq!(h.script, "echo pong");
        assert!(h.wants("query", Some("uptime")));
        assert!(!h.wants("query", Some("other")));
        assert!(!h.wants("user", Some("uptime")));
        let all = Handler::parse("cat >> out").unwrap();
        assert!(all.wants("member-join", None) && all.wants("user", Some("x")));
        let some = Handler::parse("member-join,user=env").unwrap();
        assert!(some.wants("user", Some("deploy")) && !some.wants("member-leave", None));
        assert!(Handler::parse("bogus=true").is_err());
        assert!(Handler::parse("member-join:x=true").is_err());
    }

    #[test]
    fn consul_client_tags_then_tag_overrides() {
        let args = SerfArgs {
            consul_client: Some("dc1".into()),
            tags: vec!["build=1.0.0:".into(), "extra=x=y".into()],
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
        let bad_tag = SerfArgs {
            tags: vec!["novalue".into()],
            ..SerfArgs::default()
        };
        assert!(tags(&bad_tag).is_err());
    }
}
