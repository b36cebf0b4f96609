//! `--metrics-addr`: memberlist's and Serf's metrics on a Prometheus endpoint,
//! named as go-metrics' Prometheus sink names them (Consul shows
//! `consul_memberlist_gossip`; we have no service prefix, so `memberlist_gossip`).
//!
//! The exposition format is `metrics-exporter-prometheus`'s (timers and samples as
//! summaries with go-metrics' quantiles, 0.5, 0.9 and 0.99, over its 10 s window).
//! Serving it takes one GET, so a few lines of tokio answer it instead of an HTTP
//! stack (the agent's resident memory is measured against Go's).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Label, Level, Metadata, Recorder};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use rustc_hash::FxHashMap as HashMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use memberlist_interop::node::metrics::{self as node_metrics, Kind, Metric, NODE_STATE_LABEL};
use memberlist_interop::node::{Metrics, MetricsSink};
use memberlist_interop::serf::metrics as serf_metrics;

/// go-metrics' Prometheus sink keeps summaries over this window.
const SUMMARY_WINDOW: Duration = Duration::from_secs(10);
/// Per-name Serf counters (`serf.events.NAME`) kept at most; names come from the
/// cluster, so a flood of distinct names must not grow memory without bound.
const MAX_NAMED: usize = 512;

static METADATA: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, None);

enum Handle {
    Counter(Counter),
    Gauge(Gauge),
    Histogram(Histogram),
}

/// The sink the machine and the Serf layer record into.
struct PrometheusSink {
    recorder: PrometheusRecorder,
    /// Keyed by the metric's address: each is a `static`.
    fixed: HashMap<usize, Handle>,
    /// `memberlist.node.instances` per `node_state`.
    by_state: Vec<(&'static str, Gauge)>,
    named: Mutex<HashMap<String, Counter>>,
}

fn id(m: &'static Metric) -> usize {
    m as *const Metric as usize
}

impl PrometheusSink {
    fn new(recorder: PrometheusRecorder, metrics: &[&'static Metric]) -> Self {
        let mut fixed = HashMap::default();
        let mut by_state = Vec::new();
        for m in metrics {
            let name = m.prometheus_name();
            let handle = match m.kind {
                Kind::Counter => {
                    recorder.describe_counter(KeyName::from(name.clone()), None, m.help.into());
                    Handle::Counter(recorder.register_counter(&Key::from_name(name), &METADATA))
                }
                Kind::Gauge if std::ptr::eq(*m, &node_metrics::NODE_INSTANCES) => {
                    recorder.describe_gauge(KeyName::from(name.clone()), None, m.help.into());
                    for state in node_metrics::NODE_STATES {
                        let key = Key::from_parts(
                            name.clone(),
                            vec![Label::new(NODE_STATE_LABEL, state)],
                        );
                        by_state.push((state, recorder.register_gauge(&key, &METADATA)));
                    }
                    continue;
                }
                Kind::Gauge => {
                    recorder.describe_gauge(KeyName::from(name.clone()), None, m.help.into());
                    Handle::Gauge(recorder.register_gauge(&Key::from_name(name), &METADATA))
                }
                Kind::Sample | Kind::Timer => {
                    recorder.describe_histogram(KeyName::from(name.clone()), None, m.help.into());
                    Handle::Histogram(recorder.register_histogram(&Key::from_name(name), &METADATA))
                }
            };
            fixed.insert(id(m), handle);
        }
        PrometheusSink {
            recorder,
            fixed,
            by_state,
            named: Mutex::new(HashMap::default()),
        }
    }
}

impl MetricsSink for PrometheusSink {
    fn incr(&self, metric: &'static Metric, by: f32) {
        if let Some(Handle::Counter(c)) = self.fixed.get(&id(metric)) {
            c.increment(by as u64);
        }
    }

    fn incr_named(&self, metric: &'static Metric, part: &str, by: f32) {
        let Ok(mut named) = self.named.lock() else {
            return;
        };
        let name = node_metrics::prometheus_name(&format!("{}.{part}", metric.name));
        if !named.contains_key(&name) {
            if named.len() >= MAX_NAMED {
                return;
            }
            let c = self
                .recorder
                .register_counter(&Key::from_name(name.clone()), &METADATA);
            named.insert(name.clone(), c);
        }
        if let Some(c) = named.get(&name) {
            c.increment(by as u64);
        }
    }

    fn set(&self, metric: &'static Metric, label: Option<&'static str>, value: f32) {
        match label {
            Some(state) => {
                if let Some((_, g)) = self.by_state.iter().find(|(s, _)| *s == state) {
                    g.set(value);
                }
            }
            None => {
                if let Some(Handle::Gauge(g)) = self.fixed.get(&id(metric)) {
                    g.set(value);
                }
            }
        }
    }

    fn sample(&self, metric: &'static Metric, value: f32) {
        if let Some(Handle::Histogram(h)) = self.fixed.get(&id(metric)) {
            h.record(value);
        }
    }
}

/// Which tables the agent records: a plain member has no Serf metrics to show.
#[derive(Clone, Copy)]
pub enum Layers {
    Node,
    Serf,
}

impl Layers {
    fn metrics(self) -> Vec<&'static Metric> {
        let serf: &[&'static Metric] = match self {
            Layers::Node => &[],
            Layers::Serf => &serf_metrics::ALL,
        };
        node_metrics::ALL.iter().chain(serf).copied().collect()
    }
}

/// Where `--metrics-addr` and `--statsd-addr` want the metrics.
#[derive(clap::Args, Clone)]
pub struct MetricsArgs {
    /// Serve memberlist's (and Serf's) metrics for Prometheus at http://ADDR/metrics,
    /// under go-metrics' names (`memberlist_gossip`, `serf_member_join`, ...).
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// Push the same metrics to a statsd server at ADDR (UDP), as the serf agent's
    /// statsd_addr does (`memberlist.gossip:0.041000|ms`).
    #[arg(long, value_name = "ADDR")]
    pub statsd_addr: Option<SocketAddr>,
}

/// The sinks `args` ask for, as one (none: metrics are not recorded at all).
pub async fn sinks(args: &MetricsArgs, layers: Layers) -> Result<Metrics, String> {
    let mut sinks: Vec<Arc<dyn MetricsSink>> = Vec::new();
    if let Some(addr) = args.metrics_addr {
        sinks.push(serve_prometheus(addr, layers).await?);
    }
    if let Some(addr) = args.statsd_addr {
        sinks.push(super::statsd::start(addr, &layers.metrics())?);
    }
    Ok(match sinks.len() {
        0 => Metrics::default(),
        1 => Metrics::new(sinks.remove(0)),
        _ => Metrics::new(Arc::new(Fanout(sinks))),
    })
}

/// Several sinks, each recording everything.
struct Fanout(Vec<Arc<dyn MetricsSink>>);

impl MetricsSink for Fanout {
    fn incr(&self, metric: &'static Metric, by: f32) {
        self.0.iter().for_each(|s| s.incr(metric, by));
    }

    fn incr_named(&self, metric: &'static Metric, part: &str, by: f32) {
        self.0.iter().for_each(|s| s.incr_named(metric, part, by));
    }

    fn set(&self, metric: &'static Metric, label: Option<&'static str>, value: f32) {
        self.0.iter().for_each(|s| s.set(metric, label, value));
    }

    fn sample(&self, metric: &'static Metric, value: f32) {
        self.0.iter().for_each(|s| s.sample(metric, value));
    }
}

/// Binds `addr` and serves the metrics there.
async fn serve_prometheus(
    addr: SocketAddr,
    layers: Layers,
) -> Result<Arc<dyn MetricsSink>, String> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("metrics address {addr}: {e} (pick another --metrics-addr)"))?;
    let recorder = PrometheusBuilder::new()
        .set_quantiles(&[0.5, 0.9, 0.99])
        .and_then(|b| b.set_bucket_duration(SUMMARY_WINDOW))
        .map_err(|e| e.to_string())?
        .build_recorder();
    let handle = recorder.handle();
    let sink = Arc::new(PrometheusSink::new(recorder, &layers.metrics()));
    tokio::spawn(upkeep(handle.clone()));
    tokio::spawn(serve(listener, handle));
    Ok(sink)
}

/// Folds recorded samples into the summaries even when nobody scrapes, so they
/// do not pile up.
async fn upkeep(handle: PrometheusHandle) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tick.tick().await;
        handle.run_upkeep();
    }
}

async fn serve(listener: TcpListener, handle: PrometheusHandle) {
    while let Ok((conn, _)) = listener.accept().await {
        let handle = handle.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(5), answer(conn, &handle)).await;
        });
    }
}

/// Reads one request head and answers `GET /metrics` (or `/`) with the page.
async fn answer(mut conn: TcpStream, handle: &PrometheusHandle) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 512];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&chunk[..n]);
    }
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let (method, path) = (parts.next(), parts.next());
    let path = path.map(|p| p.split(|&b| b == b'?').next().unwrap_or_default());
    let (status, body) = match (method, path) {
        (Some(b"GET"), Some(b"/metrics" | b"/")) => ("200 OK", handle.render()),
        (Some(b"GET"), _) => ("404 Not Found", "metrics are at /metrics\n".to_string()),
        _ => ("405 Method Not Allowed", "GET /metrics\n".to_string()),
    };
    let reply = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(reply.as_bytes()).await?;
    conn.shutdown().await
}
