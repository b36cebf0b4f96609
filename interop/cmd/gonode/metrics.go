package main

import (
	"time"

	metrics "github.com/hashicorp/go-metrics"
)

// installMetrics routes memberlist's go-metrics calls to an in-memory sink whose one
// interval spans the whole run, so "metrics" can report every key memberlist emitted
// with its totals. No service or host prefix, as Consul's Prometheus names show
// them (consul_memberlist_gossip without the "consul").
func installMetrics() *metrics.InmemSink {
	sink := metrics.NewInmemSink(24*time.Hour, 24*time.Hour)
	cfg := metrics.DefaultConfig("")
	cfg.EnableHostname = false
	cfg.EnableRuntimeMetrics = false
	if _, err := metrics.NewGlobal(cfg, sink); err != nil {
		fail(err)
	}
	return sink
}

// metricsReport lists the sink's contents: counters and samples with count and sum
// (timers in milliseconds), gauges with their last value. Keys are go-metrics'
// dotted names, labels appended as ";name=value".
func metricsReport(sink *metrics.InmemSink) event {
	counters, samples, gauges := map[string]any{}, map[string]any{}, map[string]any{}
	for _, intv := range sink.Data() {
		intv.RLock()
		for k, v := range intv.Counters {
			counters[k] = map[string]any{"count": v.Count, "sum": v.Sum}
		}
		for k, v := range intv.Samples {
			samples[k] = map[string]any{"count": v.Count, "sum": v.Sum}
		}
		for k, v := range intv.Gauges {
			gauges[k] = v.Value
		}
		intv.RUnlock()
	}
	return event{"event": "metrics", "counters": counters, "samples": samples, "gauges": gauges}
}
