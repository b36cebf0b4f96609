//! `memberlist event`, `memberlist query`, `memberlist keys` and `memberlist tags`:
//! front ends to a running `memberlist agent --serf`, shaped like `serf event`,
//! `serf query`, `serf keys` and `serf tags`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::{json, Value};

use super::agent::{humantime_secs, Format, DEFAULT_RPC_ADDR};
use super::rpc::call;

/// How long to wait for answers beyond a query's own timeout.
const SLACK: Duration = Duration::from_secs(30);

#[derive(clap::Args)]
pub struct EventArgs {
    #[arg(long, default_value = DEFAULT_RPC_ADDR)]
    rpc_addr: SocketAddr,
    /// Whether receivers may coalesce this event with others of the same name.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    coalesce: bool,
    name: String,
    #[arg(default_value = "")]
    payload: String,
}

#[derive(clap::Args)]
pub struct QueryArgs {
    #[arg(long, default_value = DEFAULT_RPC_ADDR)]
    rpc_addr: SocketAddr,
    /// Only this node answers (repeatable).
    #[arg(long = "node")]
    nodes: Vec<String>,
    /// Only nodes whose tag KEY matches the regular expression answer (repeatable).
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// How long to collect answers (default: Serf's, from the cluster size).
    #[arg(long, value_parser = humantime_secs)]
    timeout: Option<Duration>,
    /// Do not ask nodes for acks.
    #[arg(long)]
    no_ack: bool,
    /// Extra relayed copies of each answer (Serf protocol 5).
    #[arg(long, default_value_t = 0)]
    relay_factor: u8,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    name: String,
    #[arg(default_value = "")]
    payload: String,
}

#[derive(clap::Args)]
#[group(required = true, multiple = false)]
pub struct KeyOp {
    /// Install a key (base64) on every member.
    #[arg(long)]
    install: Option<String>,
    /// Make an installed key the primary everywhere.
    #[arg(long = "use")]
    use_key: Option<String>,
    /// Remove a key everywhere.
    #[arg(long)]
    remove: Option<String>,
    /// List the keys of every member.
    #[arg(long)]
    list: bool,
}

#[derive(clap::Args)]
pub struct KeysArgs {
    #[arg(long, default_value = DEFAULT_RPC_ADDR)]
    rpc_addr: SocketAddr,
    #[command(flatten)]
    op: KeyOp,
}

#[derive(clap::Args)]
pub struct TagsArgs {
    #[arg(long, default_value = DEFAULT_RPC_ADDR)]
    rpc_addr: SocketAddr,
    /// Set tag KEY to VALUE (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Remove tag KEY (repeatable; applied after the --set values).
    #[arg(long = "delete", value_name = "KEY")]
    delete: Vec<String>,
}

fn finish(cmd: &str, r: Result<(), String>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("memberlist {cmd}: {e}");
            ExitCode::from(1)
        }
    }
}

pub fn event(a: EventArgs) -> ExitCode {
    let req = json!({"cmd": "event", "name": a.name, "payload": a.payload, "coalesce": a.coalesce});
    finish(
        "event",
        call(a.rpc_addr, &req, SLACK).map(|v| {
            println!(
                "Event '{}' dispatched! Coalescing enabled: {} (ltime {})",
                a.name, a.coalesce, v["ltime"]
            );
        }),
    )
}

pub fn query(a: QueryArgs) -> ExitCode {
    let run = || -> Result<(), String> {
        let tags = a
            .tags
            .iter()
            .map(|t| {
                t.split_once('=')
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .ok_or_else(|| format!("--tag {t:?}: expected KEY=REGEX"))
            })
            .collect::<Result<BTreeMap<_, _>, _>>()?;
        let req = json!({
            "cmd": "query", "name": a.name, "payload": a.payload, "nodes": a.nodes,
            "tags": tags, "ack": !a.no_ack, "relay_factor": a.relay_factor,
            "timeout_ms": a.timeout.map(|t| t.as_millis() as u64),
        });
        let wait = a.timeout.unwrap_or_default() + SLACK;
        let v = call(a.rpc_addr, &req, wait)?;
        match a.format {
            Format::Json => println!(
                "{}",
                json!({"Acks": v["Acks"], "Responses": v["Responses"]})
            ),
            Format::Text => {
                for ack in v["Acks"].as_array().into_iter().flatten() {
                    println!("Ack from '{}'", ack.as_str().unwrap_or_default());
                }
                for (node, r) in v["Responses"].as_object().into_iter().flatten() {
                    println!("Response from '{node}': {}", r.as_str().unwrap_or_default());
                }
                let count = |k: &str| v[k].as_array().map_or(0, Vec::len);
                let responses = v["Responses"].as_object().map_or(0, |o| o.len());
                println!(
                    "Total Acks: {}\nTotal Responses: {responses}",
                    count("Acks")
                );
            }
        }
        Ok(())
    };
    finish("query", run())
}

pub fn keys(a: KeysArgs) -> ExitCode {
    let (op, key) = match (&a.op.install, &a.op.use_key, &a.op.remove) {
        (Some(k), _, _) => ("install", k.clone()),
        (_, Some(k), _) => ("use", k.clone()),
        (_, _, Some(k)) => ("remove", k.clone()),
        _ => ("list", String::new()),
    };
    let run = || -> Result<(), String> {
        let v = call(
            a.rpc_addr,
            &json!({"cmd": "keys", "op": op, "key": key}),
            SLACK,
        )?;
        let answers = v["answers"].as_array().cloned().unwrap_or_default();
        let members = v["members"].as_u64().unwrap_or(0);
        for ans in answers.iter().filter(|x| x["result"] != json!(true)) {
            println!("  {}: {}", str_of(&ans["node"]), str_of(&ans["message"]));
        }
        if op == "list" {
            print_key_counts(&answers, members);
        }
        if v["ok"] == json!(true) {
            println!("{}/{members} nodes reported success", answers.len());
            Ok(())
        } else {
            let ok = answers
                .iter()
                .filter(|x| x["result"] == json!(true))
                .count();
            Err(format!("{ok}/{members} nodes reported success"))
        }
    };
    finish("keys", run())
}

fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

/// `serf keys -list`: each key with how many nodes hold it, then the primaries.
fn print_key_counts(answers: &[Value], members: u64) {
    let mut keys: BTreeMap<&str, usize> = BTreeMap::new();
    let mut primaries: BTreeMap<&str, usize> = BTreeMap::new();
    for a in answers {
        for k in a["keys"].as_array().into_iter().flatten() {
            *keys.entry(str_of(k)).or_default() += 1;
        }
        if let Some(p) = a["primary_key"].as_str().filter(|p| !p.is_empty()) {
            *primaries.entry(p).or_default() += 1;
        }
    }
    println!("Keys:");
    for (k, n) in keys {
        println!("  {k} [{n}/{members}]");
    }
    println!("Primary keys:");
    for (k, n) in primaries {
        println!("  {k} [{n}/{members}]");
    }
}

pub fn tags(a: TagsArgs) -> ExitCode {
    let run = || -> Result<(), String> {
        if a.set.is_empty() && a.delete.is_empty() {
            return Err("nothing to change: give --set KEY=VALUE or --delete KEY".into());
        }
        let set = a
            .set
            .iter()
            .map(|t| {
                t.split_once('=')
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .ok_or_else(|| format!("--set {t:?}: expected KEY=VALUE"))
            })
            .collect::<Result<BTreeMap<_, _>, _>>()?;
        let req = json!({"cmd": "tags", "set": set, "delete": a.delete});
        call(a.rpc_addr, &req, SLACK)?;
        println!("Successfully updated agent tags");
        Ok(())
    };
    finish("tags", run())
}
