//! `memberlist members`: the member list of a running agent (through its RPC
//! address, like `serf members`), or of any peer (`--peer`: one push/pull that tells
//! it nothing about us).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::{json, Value};

use memberlist_interop::wire::{build_stream, Side, StreamMessage, StreamOptions};

use memberlist_interop::control::client::{Client, ClientError};
use memberlist_interop::control::messages::{Member, MembersFiltered};

use super::agent::Format;
use super::columns::columnize;
use super::duration;
use super::gossip::{resolve, Security};
use super::rpc_args::{Failure, RpcTarget, ANSWER_TIMEOUT, HANDSHAKE_TIMEOUT};
use super::serf_cmds::key_value;
use super::view::member_fields;
use memberlist_interop::node::exchange::{exchange, Answer};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    rpc: RpcTarget,
    /// Only members whose status matches this regular expression (alive, leaving,
    /// left, failed; anchored at both ends, as serf's -status).
    #[arg(long, value_name = "REGEXP")]
    status: Option<String>,
    /// Only members whose name matches this regular expression (anchored).
    #[arg(long, value_name = "REGEXP")]
    name: Option<String>,
    /// Only members whose tag KEY matches the regular expression (anchored;
    /// repeatable, all must match).
    #[arg(long = "tag", value_name = "KEY=REGEXP", value_parser = key_value)]
    tags: Vec<(String, String)>,
    /// Also print each member's Serf protocol version and range (text output).
    #[arg(long)]
    detailed: bool,
    /// Ask this peer (any memberlist, Serf or Consul node) for its member list
    /// instead; no node of ours is sent, so the peer adds nobody.
    #[arg(long, value_name = "ADDR", conflicts_with_all = ["status", "name", "tags"])]
    peer: Option<String>,
    #[command(flatten)]
    security: Security,
    /// How long to wait for the peer, e.g. 5s or 500ms.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = duration::parse)]
    timeout: Duration,
    /// text (serf's columns) or json (serf's `-format=json`).
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

pub fn run(args: Args) -> ExitCode {
    let result = match &args.peer {
        Some(peer) => from_peer(&args, peer).map(|m| print_nodes(&m, args.format)),
        None => from_agent(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => f.report("memberlist members: "),
    }
}

/// Through the agent's RPC: a Serf agent's members as `serf members` prints them,
/// or a plain agent's memberlist nodes.
fn from_agent(args: &Args) -> Result<(), Failure> {
    let token = args.rpc.auth.token().map_err(Failure::Usage)?;
    let addr = args.rpc.rpc_addr;
    let mut client = match Client::connect(addr, token.as_ref(), HANDSHAKE_TIMEOUT) {
        Ok(mut c) => {
            c.set_timeout(Some(ANSWER_TIMEOUT))
                .map_err(|e| e.to_string())?;
            c
        }
        Err(ClientError::PlainAgent { .. }) => {
            if args.status.is_some() || args.name.is_some() || !args.tags.is_empty() {
                return Err(Failure::Usage(format!(
                    "{addr} is a plain agent: --status, --name and --tag filter Serf members (start the agent with --serf)"
                )));
            }
            let v = super::rpc::call(
                addr,
                token.as_ref(),
                &json!({"cmd": "members"}),
                ANSWER_TIMEOUT,
            )?;
            print_nodes(
                v["members"].as_array().map_or(&[][..], Vec::as_slice),
                args.format,
            );
            return Ok(());
        }
        Err(e) => return Err(e.to_string().into()),
    };
    let filter = MembersFiltered {
        name: args.name.clone().unwrap_or_default(),
        status: args.status.clone().unwrap_or_default(),
        tags: args.tags.iter().cloned().collect(),
    };
    let members = client
        .members(&filter)
        .map_err(|e| format!("Error retrieving members: {e}"))?;
    print_serf(&members, args.format, args.detailed);
    Ok(())
}

/// `serf members`' output: columns, or `{"members": [...]}` with `addr` as ip:port.
fn print_serf(members: &[Member], format: Format, detailed: bool) {
    let addr = |m: &Member| match m.ip() {
        Some(ip) => SocketAddr::new(ip, m.port).to_string(),
        None => format!("?:{}", m.port),
    };
    match format {
        Format::Json => {
            let list: Vec<Value> = members
                .iter()
                .map(|m| {
                    json!({
                        "name": m.name, "addr": addr(m), "port": m.port, "tags": m.tags,
                        "status": m.status,
                        "protocol": {"max": m.delegate_max, "min": m.delegate_min, "version": m.delegate_cur},
                    })
                })
                .collect();
            let list = (!list.is_empty()).then_some(list);
            let out = json!({ "members": list });
            println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        }
        Format::Text => {
            let rows: Vec<Vec<String>> = members
                .iter()
                .map(|m| {
                    let tags: Vec<String> =
                        m.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    let mut row = vec![m.name.clone(), addr(m), m.status.clone(), tags.join(",")];
                    if detailed {
                        row.push(format!("Protocol Version: {}", m.delegate_cur));
                        row.push(format!(
                            "Available Protocol Range: [{}, {}]",
                            m.delegate_min, m.delegate_max
                        ));
                    }
                    row
                })
                .collect();
            let out = columnize(&rows);
            if !out.trim().is_empty() {
                println!("{}", out.trim());
            }
        }
    }
}

fn from_peer(args: &Args, peer: &str) -> Result<Vec<Value>, Failure> {
    let to = resolve(peer).map_err(|e| Failure::Usage(format!("--peer {peer}: {e}")))?;
    let keyring = args.security.keyring().map_err(Failure::Usage)?;
    let label = args.security.label().map_err(Failure::Usage)?;
    let request = StreamMessage::push_pull(false, Vec::new(), Vec::new());
    let encryption = keyring
        .as_ref()
        .map(|k| memberlist_interop::wire::Encryption {
            keyring: k,
            version: memberlist_interop::wire::EncryptionVersion::V1,
            nonce: None,
        });
    let bytes = build_stream(
        &request,
        &StreamOptions {
            compress: false,
            encryption,
            label: label.as_ref(),
            side: Some(Side::Dialer),
        },
    );
    let timeout = args.timeout;
    match exchange(to, &bytes, keyring.as_ref(), label.as_ref(), timeout) {
        Ok(Answer {
            message: StreamMessage::PushPull { nodes, .. },
            ..
        }) => Ok(nodes
            .iter()
            .map(|n| {
                member_fields(
                    &n.name.to_str_lossy(),
                    n.addr.as_deref().unwrap_or_default(),
                    n.port,
                    n.state.name(),
                    n.incarnation,
                    n.meta.as_deref().unwrap_or_default(),
                    n.vsn.as_deref().unwrap_or_default(),
                )
            })
            .collect()),
        Ok(Answer { message, .. }) => Err(format!(
            "{to} answered with {:?} instead of its state",
            message.message_type()
        )
        .into()),
        Err(f) => Err(format!("{to}: {}", f.likely_cause(keyring.as_ref(), label.as_ref())).into()),
    }
}

/// A plain agent's or a peer's memberlist nodes.
fn print_nodes(members: &[Value], format: Format) {
    match format {
        Format::Json => println!("{}", json!({ "members": members })),
        Format::Text => {
            for m in members {
                let addr = format!(
                    "{}:{}",
                    m["Addr"].as_str().unwrap_or("?"),
                    m["Port"].as_u64().unwrap_or(0)
                );
                println!(
                    "{:<24} {:<22} {:<8} inc={:<5} vsn={} meta={}",
                    m["Name"].as_str().unwrap_or("?"),
                    addr,
                    m["State"].as_str().unwrap_or("?"),
                    m["Incarnation"],
                    m["Vsn"],
                    m["Meta"].as_str().unwrap_or("")
                );
            }
        }
    }
}
