//! Three real Docker NetworkDB nodes (`interop/networkdb`: moby's own libnetwork/networkdb)
//! on loopback, recorded with tcpdump and decoded with no port flags: node, network and
//! table events, push/pull states and bulk syncs decode, and the table entry the harness
//! created, updated and deleted is there with its values, as are the joins and the leave.

mod support;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde_json::Value;

use support::decode::rows_without_errors;
use support::networkdb::NdbNode;
use support::process::free_port;
use support::tcpdump::Recording;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Every NetworkDB message in a row's payload, compounds and bulk syncs opened.
fn messages(v: &Value, out: &mut Vec<Value>) {
    if !v.is_object() {
        return;
    }
    match v["type"].as_str() {
        Some("compound") => {
            for m in v["fields"]["Messages"].as_array().into_iter().flatten() {
                messages(m, out);
            }
        }
        Some("bulk_sync") => {
            out.push(v.clone());
            messages(&v["fields"]["Payload"], out);
        }
        _ => out.push(v.clone()),
    }
}

#[test]
fn networkdb_capture_decodes_without_port_flags() {
    let dir = tempfile::tempdir().expect("temp dir");
    let addrs: Vec<SocketAddr> = (0..3)
        .map(|_| SocketAddr::new(LOOPBACK, free_port(LOOPBACK)))
        .collect();
    let filter = addrs
        .iter()
        .map(|a| format!("port {}", a.port()))
        .collect::<Vec<_>>()
        .join(" or ");
    // NETWORKDB_CAPTURE_OUT=DIR keeps the capture as DIR/networkdb.pcap, with what
    // happened in DIR/networkdb.json (testdata/captures has one).
    let out_dir = std::env::var_os("NETWORKDB_CAPTURE_OUT").map(std::path::PathBuf::from);
    let pcap_path = out_dir
        .clone()
        .unwrap_or_else(|| dir.path().to_path_buf())
        .join("networkdb.pcap");
    let capture = Recording::start(&pcap_path, &filter);

    let mut nodes: Vec<NdbNode> = ["n1", "n2", "n3"]
        .iter()
        .zip(&addrs)
        .map(|(n, a)| NdbNode::spawn(n, *a))
        .collect();
    // n1 is on net1 before the others join, so that joining the network they bulk sync
    // with it (over TCP).
    nodes[0].ok("join-network net1");
    for n in &mut nodes[1..] {
        n.ok(&format!("join {}", addrs[0]));
        n.wait("peers net1", |r| {
            r["peers"]
                .as_array()
                .is_some_and(|p| p.iter().any(|p| p == "n1"))
        });
        n.ok("join-network net1");
    }
    for n in &mut nodes {
        n.wait("peers net1", |r| {
            r["peers"].as_array().is_some_and(|p| p.len() == 3)
        });
    }
    let get = "get endpoint_table net1 ep1";
    nodes[0].ok("create endpoint_table net1 ep1 hello");
    nodes[1].wait(get, |r| r["value"] == "hello");
    nodes[0].ok("update endpoint_table net1 ep1 world");
    nodes[2].wait(get, |r| r["value"] == "world");
    nodes[0].ok("delete endpoint_table net1 ep1");
    nodes[1].wait(get, |r| r.get("error").is_some());
    nodes[2].ok("leave-network net1");
    nodes[0].wait("peers net1", |r| {
        r["peers"].as_array().is_some_and(|p| p.len() == 2)
    });
    nodes[2].close();
    std::thread::sleep(Duration::from_secs(1));
    let pcap = capture.stop();
    drop(nodes);
    if let Some(dir) = out_dir {
        let nodes: Vec<Value> = ["n1", "n2", "n3"]
            .iter()
            .zip(&addrs)
            .map(|(n, a)| serde_json::json!({"name": n, "impl": "ndbnode", "addr": a.to_string()}))
            .collect();
        let scenario = serde_json::json!({
            "name": "networkdb",
            "summary": "three Docker NetworkDB nodes (interop/networkdb): n1 joins network net1, \
                n2 and n3 join the cluster and net1 (bulk syncs), n1 creates, updates and deletes \
                endpoint_table/ep1 (hello, world), n3 leaves net1 and the cluster",
            "capture": {"file": "networkdb.pcap", "interface": "lo", "filter": filter},
            "ports": addrs.iter().map(|a| a.port()).collect::<Vec<_>>(),
            "keys": [],
            "nodes": nodes,
        });
        std::fs::write(
            dir.join("networkdb.json"),
            serde_json::to_vec_pretty(&scenario).unwrap(),
        )
        .expect("write the scenario");
    }

    let (rows, stderr) = rows_without_errors(&pcap);
    for a in &addrs {
        assert!(stderr.contains(&a.port().to_string()), "{stderr}");
    }

    let mut all = Vec::new();
    let mut states = 0;
    for r in &rows {
        let Some(app) = r.get("app") else {
            assert!(
                r["type"] != "user",
                "every user message is NetworkDB's: {r}"
            );
            continue;
        };
        assert_eq!(app["app"], "networkdb", "{r}");
        assert!(app.get("error").is_none(), "{r}");
        if r["type"] == "push_pull" {
            assert_eq!(app["type"], "push_pull", "{r}");
            states += 1;
        }
        messages(app, &mut all);
    }
    assert!(states > 0, "push/pull states decode");
    let of = |kind: &str| -> Vec<&Value> {
        all.iter()
            .filter(|m| m["type"] == kind)
            .map(|m| &m["fields"])
            .collect()
    };
    let tables: BTreeSet<(String, String)> = of("table_event")
        .iter()
        .map(|f| {
            assert_eq!(
                (&f["NetworkID"], &f["TableName"], &f["Key"], &f["NodeName"]),
                (
                    &Value::from("net1"),
                    &Value::from("endpoint_table"),
                    &Value::from("ep1"),
                    &Value::from("n1")
                ),
                "{f}"
            );
            let value = hex::decode(f["Value"].as_str().unwrap()).unwrap();
            (
                f["Type"].as_str().unwrap().to_string(),
                String::from_utf8(value).unwrap(),
            )
        })
        .collect();
    let want: BTreeSet<(String, String)> = [
        ("CREATE", "hello"),
        ("UPDATE", "world"),
        ("DELETE", "world"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(tables, want, "the entry's create, update and delete");
    let net: BTreeSet<(String, String)> = of("network_event")
        .iter()
        .map(|f| {
            assert_eq!(f["NetworkID"], "net1");
            (
                f["Type"].as_str().unwrap().to_string(),
                f["NodeName"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for n in ["n1", "n2", "n3"] {
        assert!(
            net.contains(&("JOIN".into(), n.into())),
            "{n} joined net1: {net:?}"
        );
    }
    assert!(
        net.contains(&("LEAVE".into(), "n3".into())),
        "n3 left net1: {net:?}"
    );
    assert!(!net.contains(&("LEAVE".into(), "n1".into())));
    let node: BTreeSet<(String, String)> = of("node_event")
        .iter()
        .map(|f| {
            (
                f["Type"].as_str().unwrap().into(),
                f["NodeName"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(node.contains(&("JOIN".into(), "n2".into())), "{node:?}");
    assert!(
        node.contains(&("LEAVE".into(), "n3".into())),
        "n3 left the cluster: {node:?}"
    );
    let tcp: Vec<String> = rows
        .iter()
        .filter(|r| r["transport"] == "tcp")
        .map(|r| format!("{} {}", r["type"], r["app"]["type"]))
        .collect();
    assert!(
        !of("bulk_sync").is_empty(),
        "bulk syncs over TCP decode: {tcp:?}"
    );
}
