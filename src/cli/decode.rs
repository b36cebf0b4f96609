//! `memberlist decode`: a capture file (pcap/pcapng, or `-` for stdin) or one pasted
//! UDP payload (`--hex`), printed one row per memberlist message.

use std::io::{self, Write};
use std::process::ExitCode;

use clap::ValueEnum;
use serde_json::{json, Value};

use memberlist_interop::apps::{self, App, Carrier};
use memberlist_interop::inspect::{InspectorConfig, Ports};
use memberlist_interop::serf::json as serf_json;
use memberlist_interop::wire::{
    decode_complete, json as wjson, peel_packet, Keyring, Label, LabelPolicy, Message, MessageType,
    PacketConfig, SecretKey, Side, StreamConfig, StreamMessage, WireError,
};

use super::view;

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(clap::Args)]
pub struct Args {
    /// A pcap or pcapng capture, or `-` for stdin (e.g. `tcpdump -U -w - port 7946`).
    #[arg(required_unless_present_any = ["hex", "vector"], conflicts_with_all = ["hex", "vector"])]
    input: Option<String>,
    /// One UDP payload or TCP stream frame as hex (spaces, colons and a leading 0x
    /// allowed) instead of a capture.
    #[arg(long)]
    hex: Option<String>,
    #[command(flatten)]
    pub opts: CaptureOpts,
    /// Print counts per message type and source, errors, and the membership timeline.
    #[arg(long)]
    summary: bool,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// With `--format text`: under each line, the tree of every layer and field.
    #[arg(short, long)]
    verbose: bool,
    /// Act as a test-vector decoder: hex on stdin, `MEMBERLIST_VECTOR_*` in the
    /// environment, the decoded JSON on stdout (`memberlist vectors check`).
    #[arg(long, conflicts_with = "hex")]
    vector: bool,
}

pub fn run(args: Args) -> ExitCode {
    if args.vector {
        return super::vectors::decode_vector();
    }
    if args.input.is_some() {
        return super::capture::run(&args);
    }
    match decode(&args) {
        Ok((rows, all_ok)) => {
            let mut out = io::stdout().lock();
            for row in rows {
                // A closed stdout (`| head`) ends the output; nothing else to report.
                if write_row(&mut out, &row, args.format, args.verbose).is_err() {
                    break;
                }
            }
            if all_ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("memberlist decode: {e}");
            ExitCode::from(2)
        }
    }
}

/// Decodes the UDP payload or TCP stream frame(s) into output rows (one per message
/// or error) and whether every part decoded. Bad arguments are an `Err`; bytes that do
/// not decode are an error row.
fn decode(args: &Args) -> Result<(Vec<Value>, bool), String> {
    let bytes = parse_hex(args.hex.as_deref().unwrap_or_default())?;
    let keyring = args.opts.keyring()?;
    let label = args.opts.label()?;
    let policy = args.opts.label_policy(label.as_ref());
    if let Some(kind) = stream_kind(&bytes) {
        let app = args.opts.app.into();
        let (rows, all_ok) = decode_stream(&bytes, policy, keyring.as_ref(), label.as_ref(), app);
        // A UDP packet can start like a stream user message or a compressed frame:
        // when the stream reading fails from the start, it is read as a packet.
        if kind == StreamKind::Only || rows.first().is_none_or(|r| r.get("error").is_none()) {
            return Ok((rows, all_ok));
        }
    }
    let cfg = PacketConfig {
        label: policy,
        keyring: keyring.as_ref(),
        verify_incoming: true,
    };
    let mut rows = Vec::new();
    let mut all_ok = true;
    let info = peel_packet(&bytes, &cfg, |layers, msg| {
        let names: Vec<&str> = layers.as_slice().iter().map(|t| t.name()).collect();
        rows.push(match msg {
            Ok(m) => {
                let mut v = wjson::message(&m);
                if let Some(f) = v.get_mut("fields") {
                    view::humanize(f);
                }
                let app = App::from(args.opts.app);
                let serf = app
                    .serf()
                    .then(|| serf_json::from_message(&m))
                    .flatten()
                    .map(|mut s| {
                        apps::product::annotate(&mut s);
                        s
                    });
                if let Message::User(p) = &m {
                    let carrier = Carrier::UserMessage;
                    if let Some(a) = apps::decode(app, None, carrier, p, serf.is_some()) {
                        v["app"] = a;
                    }
                }
                if let Some(mut serf) = serf {
                    view::humanize_serf(&mut serf);
                    v["serf"] = serf;
                }
                v["layers"] = json!(names);
                v
            }
            Err(e) => {
                all_ok = false;
                let top_level = names.iter().all(|n| *n == "has_label");
                let text = if top_level {
                    explain(&e, &bytes, keyring.as_ref())
                } else {
                    e.to_string()
                };
                json!({"layers": names, "error": text})
            }
        });
    });
    match info {
        Ok(info) => {
            for row in &mut rows {
                if !info.label.is_empty() {
                    row["label"] = json!(String::from_utf8_lossy(info.label));
                }
                if let Some((version, key)) = info.decrypted {
                    row["key"] = json!(key);
                    row["encryption_version"] = json!(version as u8);
                }
            }
            Ok((rows, all_ok))
        }
        Err(e) => Ok((
            vec![json!({"error": explain(&e, &bytes, keyring.as_ref())})],
            false,
        )),
    }
}

/// The bytes of `--hex`: hex digits, optionally separated by spaces (any whitespace,
/// for a paste across lines) and colons, after an optional `0x`. Anything else is a
/// mistake, refused rather than skipped.
fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let trimmed = text.trim_start();
    let skipped = text.len() - trimmed.len();
    let (digits_from, body) = match trimmed.strip_prefix("0x").or(trimmed.strip_prefix("0X")) {
        Some(rest) => (skipped + 2, rest),
        None => (skipped, trimmed),
    };
    if let Some((i, c)) = body
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_hexdigit() || c.is_whitespace() || *c == ':'))
    {
        return Err(format!(
            "--hex: {c:?} at character {} is not a hex digit (give the bytes as hex: \
             digits, spaces and colons, with an optional leading 0x)",
            text[..digits_from + i].chars().count() + 1
        ));
    }
    let digits: String = body.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    hex::decode(&digits).map_err(|e| format!("--hex: {e} (each byte is two hex digits)"))
}

/// How sure the first bytes make a stream frame reading.
#[derive(Debug, PartialEq, Eq)]
enum StreamKind {
    /// Only a stream starts this way: an encrypted frame (type 10) or a push/pull.
    Only,
    /// A stream user message or compressed frame; a packet can start the same way.
    Maybe,
}

/// Whether the bytes (after any label header) start a TCP stream frame rather than a
/// UDP payload. A ping, ack or error reads the same either way and stays a packet.
fn stream_kind(bytes: &[u8]) -> Option<StreamKind> {
    let body = memberlist_interop::wire::label::strip(bytes).map_or(bytes, |(_, b)| b);
    match body.first().map(|&t| MessageType::try_from(t)) {
        Some(Ok(MessageType::Encrypt | MessageType::PushPull)) => Some(StreamKind::Only),
        Some(Ok(MessageType::User | MessageType::Compress)) => Some(StreamKind::Maybe),
        _ => None,
    }
}

/// Decodes stream frames one after another (a pasted direction of a connection may
/// hold several), one row each; a frame that does not decode ends it with an error
/// row. Frames without a label header under `--label` are read as the acceptor's
/// (its replies carry none, the label is still their additional data).
fn decode_stream(
    bytes: &[u8],
    policy: LabelPolicy<'_>,
    keyring: Option<&Keyring>,
    label: Option<&Label>,
    app: App,
) -> (Vec<Value>, bool) {
    let headed = bytes.first() == Some(&(MessageType::HasLabel as u8));
    // Later frames of the same direction carry no header; the label stays.
    let later_label = memberlist_interop::wire::label::strip(bytes)
        .ok()
        .and_then(|(l, _)| Label::new(l.to_vec()).ok())
        .or_else(|| label.cloned());
    let mut cfg = StreamConfig {
        label: policy,
        keyring,
        verify_incoming: false,
        side: if label.is_some() && !headed {
            Side::Acceptor
        } else {
            Side::Dialer
        },
    };
    let mut rest = bytes;
    let mut rows = Vec::new();
    while !rest.is_empty() {
        let frame = match decode_complete(rest, &cfg) {
            Ok(f) => f,
            Err(e) => {
                rows.push(
                    json!({"transport": "tcp", "layers": [], "error": stream_error(&e, keyring)}),
                );
                return (rows, false);
            }
        };
        let mut layers = Vec::new();
        if !frame.label.is_empty() {
            layers.push("has_label");
        }
        if frame.decrypted.is_some() {
            layers.push("encrypt");
        }
        if frame.compressed {
            layers.push("compress");
        }
        let mut row = wjson::stream_message(&frame.message);
        row["transport"] = json!("tcp");
        row["layers"] = json!(layers);
        if !frame.label.is_empty() {
            row["label"] = json!(String::from_utf8_lossy(&frame.label));
        }
        if let Some((version, key)) = frame.decrypted {
            row["key"] = json!(key);
            row["encryption_version"] = json!(version as u8);
        }
        let serf = app
            .serf()
            .then(|| serf_json::from_stream(&frame.message))
            .flatten()
            .map(|mut s| {
                apps::product::annotate(&mut s);
                s
            });
        let payload = match &frame.message {
            StreamMessage::User { payload, .. } => Some((Carrier::UserMessage, payload)),
            StreamMessage::PushPull { user_state, .. } => Some((Carrier::UserState, user_state)),
            _ => None,
        };
        if let Some(a) = payload.and_then(|(c, p)| apps::decode(app, None, c, p, serf.is_some())) {
            row["app"] = a;
        }
        if let Some(serf) = serf {
            row["serf"] = serf;
        }
        rows.push(super::capture::present(row));
        rest = &rest[frame.consumed.max(1).min(rest.len())..];
        cfg.label = LabelPolicy::Assume(later_label.as_ref());
    }
    (rows, true)
}

/// The error text of a stream frame, saying which flag opens an encrypted one.
fn stream_error(e: &WireError, keyring: Option<&Keyring>) -> String {
    match (e, keyring) {
        (WireError::EncryptionMismatch(_), None) => {
            "an encrypted TCP stream frame: pass --key or --keyring-file to open it".into()
        }
        (WireError::NoKeyDecrypts, Some(_)) => format!(
            "{} (a reply frame, which has no label header, also needs --label if the connection had one)",
            memberlist_interop::inspect::decode::explain(e, keyring, &[])
        ),
        _ => e.to_string(),
    }
}

/// The error text, naming the likely cause when it is about keys.
fn explain(e: &WireError, bytes: &[u8], keyring: Option<&Keyring>) -> String {
    let body = memberlist_interop::wire::label::strip(bytes).map_or(bytes, |(_, b)| b);
    memberlist_interop::inspect::decode::explain(e, keyring, body)
}

/// What decides which traffic of a capture is gossip and how it opens: shared by
/// `decode` and `explain`.
#[derive(clap::Args)]
pub struct CaptureOpts {
    /// Gossip port to decode (repeatable). Without it: the default ports (7946, 8301,
    /// 8302, 4648) and any other port whose traffic is recognised as memberlist.
    #[arg(long = "port")]
    ports: Vec<u16>,
    /// Try every UDP and TCP payload, whatever its ports (overrides --port).
    #[arg(long)]
    any_port: bool,
    /// A Serf or Consul keyring file: a JSON list of base64 keys.
    #[arg(long)]
    keyring_file: Option<std::path::PathBuf>,
    /// A gossip key in base64 (repeatable; each is tried in order).
    #[arg(long = "key")]
    keys: Vec<String>,
    /// The label the packet must carry; without it any label is accepted and shown.
    #[arg(long)]
    label: Option<String>,
    /// Whose payloads the user messages and push/pull user state carry. `auto` decides per
    /// payload from its bytes (and dskit's TCP transport); the others force one decoder,
    /// whose reason for giving up is shown beside the hex payload.
    #[arg(long, value_enum, default_value = "auto")]
    app: AppArg,
}

/// `--app`: the application decoders there are.
#[derive(Clone, Copy, ValueEnum)]
pub enum AppArg {
    /// Recognise each payload by its bytes.
    Auto,
    /// grafana/dskit's memberlist KV store and hash ring (Loki, Mimir, Tempo, Cortex).
    #[value(alias = "loki", alias = "mimir", alias = "tempo", alias = "cortex")]
    Dskit,
    /// Docker's NetworkDB (Swarm overlay networks): node, network and table events.
    #[value(alias = "docker", alias = "swarm")]
    Networkdb,
    /// Prometheus Alertmanager's cluster: silences and notification log entries.
    Alertmanager,
    /// Serf's messages (also what Consul and Nomad gossip).
    #[value(alias = "consul", alias = "nomad")]
    Serf,
    /// No payload decoding: payloads as hex.
    Raw,
}

impl From<AppArg> for App {
    fn from(a: AppArg) -> App {
        match a {
            AppArg::Auto => App::Auto,
            AppArg::Dskit => App::Dskit,
            AppArg::Networkdb => App::NetworkDb,
            AppArg::Alertmanager => App::Alertmanager,
            AppArg::Serf => App::Serf,
            AppArg::Raw => App::Raw,
        }
    }
}

impl CaptureOpts {
    /// The keys of `--key` (first is primary) and then those of `--keyring-file`.
    pub fn keyring(&self) -> Result<Option<Keyring>, String> {
        let mut texts = self.keys.clone();
        if let Some(path) = &self.keyring_file {
            let raw = std::fs::read(path)
                .map_err(|e| format!("--keyring-file {}: {e}", path.display()))?;
            let list: Vec<String> = serde_json::from_slice(&raw).map_err(|e| {
                format!(
                    "--keyring-file {}: not a JSON list of keys: {e}",
                    path.display()
                )
            })?;
            texts.extend(list);
        }
        let mut keys = texts
            .iter()
            .map(|k| SecretKey::from_base64(k).map_err(|e| format!("key {k:?}: {e}")));
        Ok(match keys.next() {
            None => None,
            Some(primary) => Some(Keyring::with_keys(
                primary?,
                keys.collect::<Result<Vec<_>, _>>()?,
            )),
        })
    }

    pub fn label(&self) -> Result<Option<Label>, String> {
        Ok(self
            .label
            .as_deref()
            .map(Label::parse_optional)
            .transpose()
            .map_err(|e| format!("--label: {e}"))?
            .flatten())
    }

    pub fn ports(&self) -> Ports {
        match (self.any_port, self.ports.is_empty()) {
            (true, _) => Ports::Any,
            (false, true) => Ports::Detect,
            (false, false) => Ports::Only(self.ports.clone()),
        }
    }

    /// The inspector's settings for these options.
    pub fn inspector(&self, summarize: bool) -> Result<InspectorConfig, String> {
        Ok(InspectorConfig {
            ports: self.ports(),
            keyring: self.keyring()?,
            label: self.label()?,
            summarize,
            app: self.app.into(),
        })
    }

    /// The label policy of `--label`: without it any label is accepted.
    fn label_policy<'l>(&self, label: Option<&'l Label>) -> LabelPolicy<'l> {
        match &self.label {
            Some(_) => LabelPolicy::Expect(label),
            None => LabelPolicy::Any,
        }
    }
}

impl Args {
    pub fn format(&self) -> Format {
        self.format
    }

    pub fn input(&self) -> &str {
        self.input.as_deref().unwrap_or("-")
    }

    pub fn verbose(&self) -> bool {
        self.verbose
    }

    pub fn summary(&self) -> bool {
        self.summary
    }
}

/// Writes one row: a JSON line, or a text line (with `-v`, the row's tree under it).
pub fn write_row(
    out: &mut impl Write,
    row: &Value,
    format: Format,
    verbose: bool,
) -> io::Result<()> {
    match format {
        Format::Json => writeln!(out, "{row}"),
        Format::Text => {
            writeln!(out, "{}", text_line(row))?;
            if verbose {
                let mut t = String::new();
                super::tree::tree(row, &mut t);
                writeln!(out, "{t}")?;
            }
            Ok(())
        }
    }
}

/// The one-line, tshark-style form of a row.
pub(crate) fn text_line(row: &Value) -> String {
    let mut layers: Vec<String> = row["layers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l.as_str().map(String::from))
        .collect();
    if let Some(k) = row.get("key") {
        if let Some(l) = layers.iter_mut().find(|l| *l == "encrypt") {
            *l = format!("encrypt(v{}, key {k})", row["encryption_version"]);
        }
    }
    let mut prefix = format!("[{}]", layers.join(" "));
    if let (None, Some(transport)) = (row.get("src"), row["transport"].as_str()) {
        prefix = format!("{transport} {prefix}");
    }
    if let (Some(src), Some(dst)) = (row["src"].as_str(), row["dst"].as_str()) {
        prefix = format!(
            "{:>5} {} {src} -> {dst} {} {prefix}",
            row["frame"].as_u64().unwrap_or_default(),
            row["time"].as_str().unwrap_or_default(),
            transport_text(row)
        );
    }
    let kind = row["type"].as_str().unwrap_or_default();
    let serf = row
        .get("serf")
        .map(|s| serf_json::text(s) + &apps::product::annotation_text(s))
        .or_else(|| row.get("app").map(apps::text));
    let failed = row.get("app").is_some_and(|a| a.get("error").is_some());
    if let Some(e) = row.get("error") {
        format!("{prefix} error: {}", e.as_str().unwrap_or_default())
    } else if let (Some(serf), Some(_), false) = (&serf, row.get("payload"), failed) {
        format!("{prefix} {kind} {serf}")
    } else if let Some(p) = row.get("payload") {
        let why = serf.map(|s| format!(" {s}")).unwrap_or_default();
        format!(
            "{prefix} {kind} payload={}{why}",
            p.as_str().unwrap_or_default()
        )
    } else {
        format!(
            "{prefix} {kind} {}{}",
            view::text_fields(&row["fields"]),
            serf.map(|s| format!(" {s}")).unwrap_or_default()
        )
    }
}

/// `tcp`, or `tcp dskit-packet(..)`/`tcp dskit-stream` for dskit's transport.
fn transport_text(row: &Value) -> String {
    let transport = row["transport"].as_str().unwrap_or_default();
    match row.get("transport_frame") {
        Some(f) => format!("{transport} {}", apps::dskit::framing_text(f)),
        None => transport.to_string(),
    }
}
