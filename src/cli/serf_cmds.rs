//! `memberlist event`, `query`, `keys`, `tags` and `stats`: clients of a Serf agent's
//! RPC (ours with `--serf`, or a real `serf agent`), printing what `serf event`,
//! `serf query`, `serf keys`, `serf tags` and `serf info` print.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use serde_bytes::ByteBuf;
use serde_json::json;

use memberlist_interop::control::messages::{KeyResponse, QueryRequest, TagsRequest};

use super::agent::Format;
use super::columns::columnize;
use super::duration;
use super::rpc_args::{Failure, RpcTarget, ANSWER_TIMEOUT};

/// `KEY=VALUE` (the value may contain `=`), for clap.
pub fn key_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{s:?}: expected KEY=VALUE"))
}

#[derive(clap::Args)]
pub struct EventArgs {
    #[command(flatten)]
    rpc: RpcTarget,
    /// Whether receivers may coalesce this event with others of the same name
    /// (`--coalesce=false` to deliver every one).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    coalesce: bool,
    /// The event's name.
    name: String,
    /// The event's payload (empty if left out).
    #[arg(default_value = "")]
    payload: String,
}

#[derive(clap::Args)]
pub struct QueryArgs {
    #[command(flatten)]
    rpc: RpcTarget,
    /// Only this node answers (repeatable).
    #[arg(long = "node", value_name = "NAME")]
    nodes: Vec<String>,
    /// Only nodes whose tag KEY matches the regular expression answer (repeatable).
    #[arg(long = "tag", value_name = "KEY=REGEXP", value_parser = key_value)]
    tags: Vec<(String, String)>,
    /// How long to collect answers, e.g. 5s or 500ms (default: Serf's, from the
    /// cluster size).
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    timeout: Option<Duration>,
    /// Do not ask nodes for acks.
    #[arg(long)]
    no_ack: bool,
    /// Extra relayed copies of each answer (Serf protocol 5).
    #[arg(long, value_name = "N", default_value_t = 0)]
    relay_factor: u8,
    /// text (serf's lines) or json (serf's `-format=json`).
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// The query's name.
    name: String,
    /// The query's payload (empty if left out).
    #[arg(default_value = "")]
    payload: String,
}

#[derive(clap::Args)]
#[group(required = true, multiple = false)]
pub struct KeyOp {
    /// Install a key (base64) on every member.
    #[arg(long, value_name = "KEY")]
    install: Option<String>,
    /// Make an installed key the primary everywhere.
    #[arg(long = "use", value_name = "KEY")]
    use_key: Option<String>,
    /// Remove a key everywhere.
    #[arg(long, value_name = "KEY")]
    remove: Option<String>,
    /// List the keys of every member.
    #[arg(long)]
    list: bool,
}

#[derive(clap::Args)]
pub struct KeysArgs {
    #[command(flatten)]
    rpc: RpcTarget,
    #[command(flatten)]
    op: KeyOp,
}

#[derive(clap::Args)]
#[command(group = clap::ArgGroup::new("change").required(true).multiple(true))]
pub struct TagsArgs {
    #[command(flatten)]
    rpc: RpcTarget,
    /// Set tag KEY to VALUE (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = key_value, group = "change")]
    set: Vec<(String, String)>,
    /// Remove tag KEY (repeatable).
    #[arg(long = "delete", value_name = "KEY", group = "change")]
    delete: Vec<String>,
}

#[derive(clap::Args)]
pub struct StatsArgs {
    #[command(flatten)]
    rpc: RpcTarget,
    /// text (serf info's sections) or json.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

fn finish(r: Result<(), Failure>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => f.report(""),
    }
}

fn connect_error(f: Failure) -> Failure {
    match f {
        Failure::Failed(e) => Failure::Failed(format!("Error connecting to the agent: {e}")),
        usage => usage,
    }
}

pub fn event(a: EventArgs) -> ExitCode {
    finish((|| -> Result<(), Failure> {
        let mut c = a.rpc.connect().map_err(connect_error)?;
        c.user_event(&a.name, a.payload.as_bytes(), a.coalesce)
            .map_err(|e| format!("Error sending event: {e}"))?;
        println!(
            "Event '{}' dispatched! Coalescing enabled: {}",
            a.name, a.coalesce
        );
        Ok(())
    })())
}

pub fn query(a: QueryArgs) -> ExitCode {
    finish((|| -> Result<(), Failure> {
        let mut c = a.rpc.connect().map_err(connect_error)?;
        // The agent sends `done` at the deadline: wait that long, and some more.
        c.set_timeout(Some(a.timeout.unwrap_or(ANSWER_TIMEOUT) + ANSWER_TIMEOUT))
            .map_err(|e| e.to_string())?;
        let req = QueryRequest {
            filter_nodes: a.nodes.clone(),
            filter_tags: a.tags.iter().cloned().collect(),
            name: a.name.clone(),
            payload: Some(ByteBuf::from(a.payload.as_bytes())),
            relay_factor: a.relay_factor,
            request_ack: !a.no_ack,
            timeout: a.timeout.map_or(0, |t| t.as_nanos() as i64),
        };
        let seq = c
            .query(&req)
            .map_err(|e| format!("Error sending query: {e}"))?;
        if a.format == Format::Text {
            println!("Query '{}' dispatched", a.name);
        }
        let mut acks: Vec<String> = Vec::new();
        let mut responses: BTreeMap<String, String> = BTreeMap::new();
        loop {
            let r = c.query_record(seq).map_err(|e| e.to_string())?;
            let payload = r.payload.map(ByteBuf::into_vec).unwrap_or_default();
            match r.kind.as_str() {
                "ack" => {
                    if a.format == Format::Text {
                        println!("Ack from '{}'", r.from);
                    }
                    acks.push(r.from);
                }
                "response" => {
                    let text = String::from_utf8_lossy(&payload).into_owned();
                    if a.format == Format::Text {
                        // As serf: one trailing newline is dropped.
                        let shown = text.strip_suffix('\n').unwrap_or(&text);
                        println!("Response from '{}': {shown}", r.from);
                    }
                    responses.insert(r.from, text);
                }
                "done" => break,
                other => eprintln!("memberlist query: unknown record type {other:?} ignored"),
            }
        }
        match a.format {
            Format::Text => {
                if !a.no_ack {
                    println!("Total Acks: {}", acks.len());
                }
                println!("Total Responses: {}", responses.len());
            }
            Format::Json => {
                // serf's: `Acks` is null when nothing acked.
                let acks = (!acks.is_empty()).then_some(acks);
                let out = json!({"Acks": acks, "Responses": responses});
                println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
            }
        }
        Ok(())
    })())
}

pub fn keys(a: KeysArgs) -> ExitCode {
    let (command, key, doing, done, failed) = match (&a.op.install, &a.op.use_key, &a.op.remove) {
        (Some(k), _, _) => (
            "install-key",
            Some(k.as_str()),
            "Installing key on all members...",
            "Successfully installed key!",
            "Error installing key",
        ),
        (_, Some(k), _) => (
            "use-key",
            Some(k.as_str()),
            "Changing primary key on all members...",
            "Successfully changed primary key!",
            "Error changing primary key",
        ),
        (_, _, Some(k)) => (
            "remove-key",
            Some(k.as_str()),
            "Removing key on all members...",
            "Successfully removed key!",
            "Error removing key",
        ),
        _ => (
            "list-keys",
            None,
            "Asking all members for installed keys...",
            "Keys gathered, listing cluster keys...",
            "Failed to gather member keys",
        ),
    };
    finish((|| -> Result<(), Failure> {
        let mut c = a.rpc.connect().map_err(connect_error)?;
        println!("==> {doing}");
        let answer = c.key_command(command, key).map_err(|e| e.to_string())?;
        let resp: KeyResponse = answer.body.unwrap_or_default();
        if !answer.error.is_empty() {
            let failures: Vec<Vec<String>> = resp
                .messages
                .iter()
                .map(|(node, m)| vec!["failed:".into(), node.clone(), m.clone()])
                .collect();
            if !failures.is_empty() {
                eprintln!("{}", columnize(&failures));
            }
            return Err(format!("\n{failed}: {}", answer.error).into());
        }
        println!("==> {done}");
        if command == "list-keys" {
            println!();
            let rows: Vec<Vec<String>> = resp
                .keys
                .unwrap_or_default()
                .iter()
                .map(|(k, n)| vec![k.clone(), format!("[{n}/{}]", resp.num_nodes)])
                .collect();
            println!("{}", columnize(&rows));
        }
        Ok(())
    })())
}

pub fn tags(a: TagsArgs) -> ExitCode {
    finish((|| -> Result<(), Failure> {
        let mut c = a.rpc.connect().map_err(connect_error)?;
        let req = TagsRequest {
            delete_tags: a.delete.clone(),
            tags: a.set.iter().cloned().collect(),
        };
        c.update_tags(&req)
            .map_err(|e| format!("Error setting tags: {e}"))?;
        println!("Successfully updated agent tags");
        Ok(())
    })())
}

/// `serf info`: each section, then `\tkey = value` lines, sorted.
pub fn stats(a: StatsArgs) -> ExitCode {
    finish((|| -> Result<(), Failure> {
        let mut c = a.rpc.connect().map_err(connect_error)?;
        let stats = c
            .stats()
            .map_err(|e| format!("Error querying agent: {e}"))?;
        match a.format {
            Format::Json => println!(
                "{}",
                serde_json::to_string_pretty(&stats).unwrap_or_default()
            ),
            Format::Text => {
                let mut out = String::new();
                for (section, values) in &stats {
                    out.push_str(&format!("{section}:\n"));
                    for (k, v) in values {
                        out.push_str(&format!("\t{k} = {v}\n"));
                    }
                }
                println!("{}", out.trim());
            }
        }
        Ok(())
    })())
}
