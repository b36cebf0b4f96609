//! TLS where gossip is expected (Alertmanager's TLS cluster transport puts TLS on its
//! cluster port): `decode` says so on stderr instead of printing nothing. A real TLS
//! ClientHello (curl's) is recorded with tcpdump on a free loopback port and decoded with
//! `--port` naming that port.

mod support;

use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use support::decode::decode;
use support::process::run_bounded;
use support::tcpdump::Recording;

#[test]
fn tls_on_a_gossip_port_is_named_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    // A listener that accepts and never answers: curl sends its ClientHello and waits.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in listener.incoming().flatten() {
            held.push(c);
        }
    });
    let capture = Recording::start(&dir.path().join("tls.pcap"), &format!("tcp port {port}"));
    let curl = run_bounded(
        Command::new("curl")
            .args(["-sk", "--max-time", "2"])
            .arg(format!("https://127.0.0.1:{port}/")),
        Duration::from_secs(20),
    )
    .expect("curl runs");
    assert!(!curl.status.success(), "nothing answered curl");
    std::thread::sleep(Duration::from_millis(300));
    let pcap = capture.stop();

    let decode = |args: &[&str]| decode(&pcap, args);
    let port_arg = port.to_string();
    let out = decode(&["--port", &port_arg]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.is_empty(), "the connection's row");
    for row in stdout.lines() {
        assert!(
            row.contains("error: a TLS connection (it opens with a ClientHello)"),
            "{row}"
        );
    }
    assert!(
        stderr.contains(&format!("TLS connections on port {port}"))
            && stderr.contains("--cluster.tls-config"),
        "{stderr}"
    );
    // Off the expected ports (not 9094, not given), TLS is some other service: no notice.
    let out = decode(&[]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("TLS"));
}
