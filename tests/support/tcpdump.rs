//! A tcpdump recording of loopback traffic (or of an interface in a network namespace), for tests that decode what real programs sent.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::process::wait_bounded;

/// Where and how tcpdump listens.
pub struct Listen<'a> {
    /// The network namespace to run in (`None`: this one).
    pub netns: Option<&'a str>,
    pub interface: &'a str,
    /// tcpdump's immediate mode: each packet is handed over as it arrives, so the last
    /// ones do not wait in the kernel buffer and get lost when tcpdump stops. Off for
    /// [`Recording::start`]: the dskit ring capture test got TCP rows decoded as
    /// "capture started mid-stream" with it on.
    pub immediate: bool,
}

impl Listen<'_> {
    /// `lo` of this namespace, packets buffered.
    pub const LOOPBACK: Listen<'static> = Listen {
        netns: None,
        interface: "lo",
        immediate: false,
    };
}

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
        Self::start_on(&Listen::LOOPBACK, path, filter)
    }

    /// [`Recording::start`] where and how `listen` says.
    pub fn start_on(listen: &Listen<'_>, path: &Path, filter: &str) -> Recording {
        let mut tcpdump = match listen.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "tcpdump"]);
                c
            }
            None => Command::new("tcpdump"),
        };
        let interface = listen.interface;
        tcpdump.args(["-i", interface]);
        if listen.immediate {
            tcpdump.arg("--immediate-mode");
        }
        let mut child = tcpdump
            .args(["-U", "-n", "-s", "0", "-w"])
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
