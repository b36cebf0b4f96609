//! A tcpdump recording of loopback traffic (or of an interface in a network namespace), for tests that decode what real programs sent.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::process::wait_bounded;

/// tcpdump writing every packet on `lo` that matches a filter to a pcap file.
pub struct Recording {
    child: Child,
    path: PathBuf,
}

impl Recording {
    /// Starts tcpdump on `lo` with `filter` (a pcap filter expression) writing to `path`,
    /// and returns once it says it is listening. Panics when tcpdump cannot start (it must
    /// be installed, and the test run as root).
    pub fn start(path: &Path, filter: &str) -> Recording {
        Self::spawn(Command::new("tcpdump"), "lo", path, filter)
    }

    /// [`Recording::start`] on `interface` of network namespace `netns`.
    pub fn start_in(netns: &str, interface: &str, path: &Path, filter: &str) -> Recording {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", netns, "tcpdump"]);
        Self::spawn(cmd, interface, path, filter)
    }

    fn spawn(mut tcpdump: Command, interface: &str, path: &Path, filter: &str) -> Recording {
        let mut child = tcpdump
            // Immediate mode: without it the last packets can wait in the kernel ring
            // and be lost when tcpdump stops.
            .args([
                "-i",
                interface,
                "--immediate-mode",
                "-U",
                "-n",
                "-s",
                "0",
                "-w",
            ])
            .arg(path)
            .arg(filter)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tcpdump (apt-get install tcpdump; tests run as root)");
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().expect("tcpdump stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("listening on") {
                    tx.send(()).ok();
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| {
                panic!("tcpdump did not start listening on {interface} within 10 s")
            });
        Recording {
            child,
            path: path.to_path_buf(),
        }
    }

    /// Stops tcpdump (SIGTERM: it flushes the file) and returns the capture's path.
    pub fn stop(mut self) -> PathBuf {
        // SAFETY: signalling our own child by its id.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        wait_bounded(&mut self.child, Duration::from_secs(10)).expect("tcpdump stops");
        self.path.clone()
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}
