//! `memberlist members`: the member list of a running agent (through its control
//! address), or of any peer (`--peer`: one push/pull that tells it nothing about us).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::{json, Value};

use memberlist_interop::wire::{build_stream, Side, StreamMessage, StreamOptions};

use super::agent::{Format, DEFAULT_RPC_ADDR};
use super::gossip::{resolve, Security};
use super::view::member_fields;
use memberlist_interop::node::exchange::{exchange, Answer};

#[derive(clap::Args)]
pub struct Args {
    /// Control address of the local `memberlist agent`.
    #[arg(long, default_value = DEFAULT_RPC_ADDR)]
    rpc_addr: SocketAddr,
    /// Ask this peer (any memberlist, Serf or Consul node) for its member list
    /// instead; no node of ours is sent, so the peer adds nobody.
    #[arg(long)]
    peer: Option<String>,
    #[command(flatten)]
    security: Security,
    /// How long to wait for the peer.
    #[arg(long, default_value_t = 5)]
    timeout_secs: u64,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

pub fn run(args: Args) -> ExitCode {
    let result = match &args.peer {
        Some(peer) => from_peer(&args, peer),
        None => from_agent(args.rpc_addr),
    };
    match result {
        Ok(members) => {
            print(&members, args.format);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("memberlist members: {e}");
            ExitCode::from(1)
        }
    }
}

fn from_agent(rpc: SocketAddr) -> Result<Vec<Value>, String> {
    let v = super::rpc::call(rpc, &json!({"cmd": "members"}), Duration::from_secs(10))?;
    Ok(v["members"].as_array().cloned().unwrap_or_default())
}

fn from_peer(args: &Args, peer: &str) -> Result<Vec<Value>, String> {
    let to = resolve(peer)?;
    let keyring = args.security.keyring()?;
    let label = args.security.label()?;
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
    let timeout = Duration::from_secs(args.timeout_secs);
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
        )),
        Err(f) => Err(format!(
            "{to}: {}",
            f.likely_cause(keyring.as_ref(), label.as_ref())
        )),
    }
}

fn print(members: &[Value], format: Format) {
    match format {
        Format::Json => println!("{}", json!({ "members": members })),
        Format::Text => {
            for m in members.iter().filter(|m| m.get("status").is_some()) {
                // A Serf agent's member, shown like `serf members`.
                let tags = m["tags"]
                    .as_object()
                    .map(|t| {
                        t.iter()
                            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .unwrap_or_default();
                println!(
                    "{:<24} {:<22} {:<8} {tags}",
                    m["name"].as_str().unwrap_or("?"),
                    format!("{}:{}", m["addr"].as_str().unwrap_or("?"), m["port"]),
                    m["status"].as_str().unwrap_or("?"),
                );
            }
            for m in members.iter().filter(|m| m.get("status").is_none()) {
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
