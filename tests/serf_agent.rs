//! Proves the serf harness: three Debian serf agents, encrypted and tagged, form a
//! cluster, pass an event and a query, and notice a SIGKILLed agent as failed.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::serf::{SerfAgent, SerfOpts};

const WAIT: Duration = Duration::from_secs(30);
const KEY: &str = "AAECAwQFBgcICQoLDA0ODw==";

fn status_of<'a>(members: &'a [Value], name: &str) -> Option<&'a str> {
    members
        .iter()
        .find(|m| m["name"] == name)
        .and_then(|m| m["status"].as_str())
}

#[test]
fn three_serf_agents_gossip_encrypted_and_detect_a_kill() {
    let s1 = SerfAgent::spawn(SerfOpts::new("s1").encrypt(KEY).tag("role", "web"));
    let s2 = SerfAgent::spawn(
        SerfOpts::new("s2")
            .encrypt(KEY)
            .tag("role", "db")
            .join(s1.bind_addr()),
    );
    let mut s3 = SerfAgent::spawn(SerfOpts::new("s3").encrypt(KEY));
    s3.join(s1.bind_addr()).unwrap();
    let members = s2
        .wait_members(
            |ms| {
                ["s1", "s2", "s3"]
                    .iter()
                    .all(|n| status_of(ms, n) == Some("alive"))
            },
            WAIT,
        )
        .unwrap();
    let s1_row = members.iter().find(|m| m["name"] == "s1").unwrap();
    assert_eq!(s1_row["tags"]["role"], "web");
    assert_eq!(s1_row["addr"], s1.bind_addr().to_string());

    s1.event("deploy", "v1").unwrap();
    let answers = s2.query("ping", "hi").unwrap();
    assert!(
        answers["Acks"].as_array().is_some_and(|a| a.len() == 3),
        "{answers}"
    );

    s3.kill();
    s1.wait_members(|ms| status_of(ms, "s3") == Some("failed"), WAIT)
        .unwrap();
}
