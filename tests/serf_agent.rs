//! Proves the serf harness: three serf agents, encrypted and tagged, form a cluster,
//! pass an event and a query, and notice a SIGKILLed agent as failed; with Debian's
//! serf, with the newest serf, and with both in one cluster.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::serf::{SerfAgent, SerfBinary, SerfOpts};

const WAIT: Duration = Duration::from_secs(30);
const KEY: &str = "AAECAwQFBgcICQoLDA0ODw==";

fn status_of<'a>(members: &'a [Value], name: &str) -> Option<&'a str> {
    members
        .iter()
        .find(|m| m["name"] == name)
        .and_then(|m| m["status"].as_str())
}

#[test]
fn three_debian_serf_agents_gossip_encrypted_and_detect_a_kill() {
    three_agents_gossip_encrypted_and_detect_a_kill([SerfBinary::Debian; 3]);
}

#[test]
fn three_newest_serf_agents_gossip_encrypted_and_detect_a_kill() {
    three_agents_gossip_encrypted_and_detect_a_kill([SerfBinary::Newest; 3]);
}

/// The two generations interoperate: the query starts on a newest agent and is
/// answered by Debian ones, and the killed agent is the newest one.
#[test]
fn debian_and_newest_serf_agents_gossip_encrypted_and_detect_a_kill() {
    use SerfBinary::{Debian, Newest};
    three_agents_gossip_encrypted_and_detect_a_kill([Debian, Newest, Newest]);
}

fn three_agents_gossip_encrypted_and_detect_a_kill([b1, b2, b3]: [SerfBinary; 3]) {
    let s1 = SerfAgent::spawn(
        SerfOpts::new("s1")
            .binary(b1)
            .encrypt(KEY)
            .tag("role", "web"),
    );
    let s2 = SerfAgent::spawn(
        SerfOpts::new("s2")
            .binary(b2)
            .encrypt(KEY)
            .tag("role", "db")
            .join(s1.bind_addr()),
    );
    let mut s3 = SerfAgent::spawn(SerfOpts::new("s3").binary(b3).encrypt(KEY));
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
