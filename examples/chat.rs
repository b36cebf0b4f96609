//! A tiny chat over the Serf layer: each process is a cluster member; every line typed
//! on stdin goes to everyone as a Serf user event `chat` with the payload
//! `NAME: TEXT`, and everyone prints the others' lines and who joins and leaves.
//! A `serf` agent in the same cluster can talk too: `serf event chat "carol: hi"`.
//!
//! ```sh
//! cargo run --example chat -- --name alice --bind 127.0.0.1:7950
//! cargo run --example chat -- --name bob --bind 127.0.0.1:7951 --join 127.0.0.1:7950
//! ```
//!
//! `/who` lists the members, `/quit` (or end of input) leaves the cluster gracefully.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use tokio::io::{AsyncBufReadExt, BufReader};

use memberlist_interop::node;
use memberlist_interop::serf::{self, MemberEventKind, SerfEvent, ShellError};
use memberlist_interop::wire::{Keyring, SecretKey};

/// The user event every line travels in.
const EVENT: &str = "chat";

#[derive(Parser)]
struct Args {
    /// This member's name, unique in the cluster; it prefixes our lines.
    #[arg(long)]
    name: String,
    /// Address to gossip on (UDP and TCP); port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    bind: SocketAddr,
    /// Any member of the cluster to join (repeatable); none starts a new cluster.
    #[arg(long)]
    join: Vec<SocketAddr>,
    /// The cluster's gossip key (base64, as `serf keygen` prints), if it has one.
    #[arg(long)]
    key: Option<String>,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match chat(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chat: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn chat(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let mut member = node::Builder::local(args.name.clone()).bind(args.bind);
    if let Some(key) = &args.key {
        let key = SecretKey::from_base64(key).map_err(|e| format!("--key: {e}"))?;
        member = member.keyring(Keyring::new(key));
    }
    let (chat, mut events) = serf::Builder::new(member).start().await?;
    println!("* {} listening on {}", args.name, chat.local_addr());
    if !args.join.is_empty() {
        let n = chat.join(args.join.clone()).await?;
        println!("* joined through {n} member(s)");
    }

    let own_prefix = format!("{}: ", args.name);
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            line = lines.next_line() => match line?.as_deref().map(str::trim) {
                None | Some("/quit") => break,
                Some("/who") => who(&chat).await?,
                Some("") => {}
                Some(text) => {
                    let payload = format!("{own_prefix}{text}").into_bytes();
                    if let Err(e) = chat.user_event(EVENT.into(), payload, false).await {
                        eprintln!("! not sent: {e}");
                    }
                }
            },
            event = events.next() => match event {
                Some(event) => show(&event, &own_prefix),
                None => break,
            },
        }
    }
    println!("* leaving");
    chat.leave(Duration::from_secs(5)).await?;
    chat.shutdown().await?;
    Ok(())
}

/// Prints what the others said and who came and went; our own lines, which Serf
/// delivers to us too, are already on the screen.
fn show(event: &SerfEvent, own_prefix: &str) {
    match event {
        SerfEvent::User { name, payload, .. } if name == EVENT => {
            let text = String::from_utf8_lossy(payload.as_deref().unwrap_or_default());
            if !text.starts_with(own_prefix) {
                println!("{text}");
            }
        }
        SerfEvent::Member { kind, member } => {
            let what = match kind {
                MemberEventKind::Join => "joined",
                MemberEventKind::Leave => "left",
                MemberEventKind::Failed => "failed",
                MemberEventKind::Update | MemberEventKind::Reap => return,
            };
            println!("* {} {what}", member.name);
        }
        _ => {}
    }
}

async fn who(chat: &serf::Serf) -> Result<(), ShellError> {
    for m in chat.members().await? {
        let addr = m.ip().map(|ip| SocketAddr::new(ip, m.port));
        let addr = addr.map_or_else(|| "?".to_owned(), |a| a.to_string());
        println!("  {:<12} {:<21} {}", m.name, addr, m.status.name());
    }
    Ok(())
}
