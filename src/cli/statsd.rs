//! `--statsd-addr`: the same metrics pushed to statsd, as go-metrics' statsd sink
//! pushes them (the serf agent's `statsd_addr`): dotted keys, label values appended
//! (`memberlist.node.instances.alive`), counters `|c`, gauges `|g`, samples and
//! timers `|ms`, values printed like Go's `%f`, flushed every 100 ms.
//!
//! Recording only adds to a table under an uncontended lock: counters are summed
//! and gauges overwritten until the flush (which statsd cannot tell from separate
//! lines), samples kept one by one, as statsd needs them. cadence batches the
//! lines into datagrams; the lines are written here because cadence's timers are
//! whole milliseconds and memberlist's are fractions of one.

use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cadence::{BufferedUdpMetricSink, MetricSink as _};
use rustc_hash::FxHashMap as HashMap;

use memberlist_interop::node::metrics::{Kind, Metric};
use memberlist_interop::node::MetricsSink;

/// go-metrics' statsd sink flushes this often.
const FLUSH: Duration = Duration::from_millis(100);
/// Samples kept between flushes; more are dropped (a flush is 100 ms away).
const MAX_SAMPLES: usize = 8192;
/// Distinct per-name keys (`serf.events.NAME`) kept; names come from the cluster.
const MAX_NAMED: usize = 512;

#[derive(Default)]
struct Pending {
    counters: HashMap<usize, f64>,
    named: HashMap<String, f64>,
    gauges: HashMap<(usize, Option<&'static str>), f32>,
    samples: Vec<(&'static Metric, f32)>,
}

pub struct StatsdSink {
    pending: Mutex<Pending>,
    /// The metric behind each id, to name it at flush time.
    names: HashMap<usize, &'static Metric>,
}

fn id(m: &'static Metric) -> usize {
    m as *const Metric as usize
}

impl StatsdSink {
    /// The lines recorded since the last call.
    fn take_lines(&self) -> Vec<String> {
        let Ok(mut pending) = self.pending.lock() else {
            return Vec::new();
        };
        let p = std::mem::take(&mut *pending);
        drop(pending);
        let name = |i: &usize| self.names.get(i).map_or("?", |m| m.name);
        let mut lines = Vec::new();
        for (i, v) in &p.counters {
            lines.push(format!("{}:{v:.6}|c", name(i)));
        }
        for (key, v) in &p.named {
            lines.push(format!("{key}:{v:.6}|c"));
        }
        for ((i, label), v) in &p.gauges {
            match label {
                Some(l) => lines.push(format!("{}.{l}:{v:.6}|g", name(i))),
                None => lines.push(format!("{}:{v:.6}|g", name(i))),
            }
        }
        for (m, v) in &p.samples {
            lines.push(format!("{}:{v:.6}|ms", m.name));
        }
        lines
    }
}

impl MetricsSink for StatsdSink {
    fn incr(&self, metric: &'static Metric, by: f32) {
        if let Ok(mut p) = self.pending.lock() {
            *p.counters.entry(id(metric)).or_default() += f64::from(by);
        }
    }

    fn incr_named(&self, metric: &'static Metric, part: &str, by: f32) {
        if let Ok(mut p) = self.pending.lock() {
            let key = format!("{}.{part}", metric.name).replace([':', ' '], "_");
            if p.named.len() < MAX_NAMED || p.named.contains_key(&key) {
                *p.named.entry(key).or_default() += f64::from(by);
            }
        }
    }

    fn set(&self, metric: &'static Metric, label: Option<&'static str>, value: f32) {
        if let Ok(mut p) = self.pending.lock() {
            p.gauges.insert((id(metric), label), value);
        }
    }

    fn sample(&self, metric: &'static Metric, value: f32) {
        debug_assert!(matches!(metric.kind, Kind::Sample | Kind::Timer));
        if let Ok(mut p) = self.pending.lock() {
            if p.samples.len() < MAX_SAMPLES {
                p.samples.push((metric, value));
            }
        }
    }
}

/// Starts pushing `metrics` to `addr`; the sink goes into the node's (and Serf's)
/// configuration.
pub fn start(addr: SocketAddr, metrics: &[&'static Metric]) -> Result<Arc<StatsdSink>, String> {
    let local: SocketAddr = if addr.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local).map_err(|e| format!("--statsd-addr {addr}: {e}"))?;
    socket
        .set_nonblocking(true)
        .map_err(|e| format!("--statsd-addr {addr}: {e}"))?;
    let udp = BufferedUdpMetricSink::from(addr, socket)
        .map_err(|e| format!("--statsd-addr {addr}: {e}"))?;
    let sink = Arc::new(StatsdSink {
        pending: Mutex::new(Pending::default()),
        names: metrics.iter().map(|&m| (id(m), m)).collect(),
    });
    let flushing = sink.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(FLUSH);
        loop {
            tick.tick().await;
            for line in flushing.take_lines() {
                // Best effort, as UDP and go-metrics' sink are.
                let _ = udp.emit(&line);
            }
            let _ = udp.flush();
        }
    });
    Ok(sink)
}
