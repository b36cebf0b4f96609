//! Child-process plumbing shared by the peers: bounded command runs, free loopback
//! ports, and line logs that tests can wait on.

use std::io::{BufRead, BufReader, Read};
use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Runs `cmd` to completion with its output captured, killing it after `timeout`.
pub fn run_bounded(cmd: &mut Command, timeout: Duration) -> Result<Output, String> {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {what}: {e}"))?;
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let status = wait_bounded(&mut child, timeout).map_err(|e| format!("{what}: {e}"))?;
    Ok(Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

/// Waits for `child` to exit, killing it after `timeout`.
pub fn wait_bounded(child: &mut Child, timeout: Duration) -> Result<ExitStatus, String> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                child.kill().ok();
                child.wait().ok();
                return Err(format!("still running after {timeout:?}, killed"));
            }
            Err(e) => return Err(format!("waiting: {e}")),
        }
    }
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            p.read_to_end(&mut buf).ok();
        }
        buf
    })
}

/// A port free for both TCP and UDP on `ip` at the time of the call (memberlist and
/// serf bind both), and never handed out before in this test process: tests run in
/// parallel, and the kernel may give a port that one test has not bound yet to
/// another. Another process may still take it before the caller binds it.
pub fn free_port(ip: IpAddr) -> u16 {
    static HANDED_OUT: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    for _ in 0..256 {
        let tcp = TcpListener::bind(SocketAddr::new(ip, 0)).expect("bind a loopback TCP port");
        let port = tcp.local_addr().expect("local address").port();
        if UdpSocket::bind(SocketAddr::new(ip, port)).is_err() {
            continue;
        }
        let mut handed = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
        if !handed.contains(&port) {
            handed.push(port);
            return port;
        }
    }
    panic!("no port free for both TCP and UDP on {ip}");
}

/// Lines read from a child's pipe by a background thread, kept in order, parsed with
/// the function given to [`LineLog::spawn`].
pub struct LineLog<T> {
    state: Mutex<LogState<T>>,
    grew: Condvar,
}

struct LogState<T> {
    items: Vec<T>,
    closed: bool,
}

/// How much of a pipe a log keeps: a test that runs this long has failed anyway.
const MAX_LOG_ITEMS: usize = 200_000;

impl<T: Clone + Send + 'static> LineLog<T> {
    pub fn spawn(pipe: impl Read + Send + 'static, parse: fn(String) -> T) -> Arc<Self> {
        let log = Arc::new(LineLog {
            state: Mutex::new(LogState {
                items: Vec::new(),
                closed: false,
            }),
            grew: Condvar::new(),
        });
        let writer = Arc::clone(&log);
        thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                let mut s = writer.state.lock().unwrap();
                if s.items.len() < MAX_LOG_ITEMS {
                    s.items.push(parse(line));
                }
                writer.grew.notify_all();
            }
            writer.state.lock().unwrap().closed = true;
            writer.grew.notify_all();
        });
        log
    }

    pub fn snapshot(&self) -> Vec<T> {
        self.state.lock().unwrap().items.clone()
    }

    /// The last `n` items.
    pub fn tail(&self, n: usize) -> Vec<T> {
        let s = self.state.lock().unwrap();
        s.items[s.items.len().saturating_sub(n)..].to_vec()
    }

    /// The first item, from the start of the log, that satisfies `pred`, waiting up to
    /// `timeout` for it. `Err` says whether time ran out or the pipe closed.
    pub fn wait_for(&self, pred: impl Fn(&T) -> bool, timeout: Duration) -> Result<T, String> {
        let deadline = Instant::now() + timeout;
        let mut seen = 0;
        let mut s = self.state.lock().unwrap();
        loop {
            if let Some(item) = s.items[seen..].iter().find(|i| pred(i)) {
                return Ok(item.clone());
            }
            seen = s.items.len();
            if s.closed {
                return Err("the process closed its output".into());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(format!("nothing matched within {timeout:?}"));
            }
            s = self.grew.wait_timeout(s, deadline - now).unwrap().0;
        }
    }
}
