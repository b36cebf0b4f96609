// Command capturerec records the loopback captures in testdata/captures: real
// memberlist v0.7.0 nodes (gonode) and Debian serf agents driven through scenarios
// while tcpdump records their ports. For each capture NAME.pcap it writes NAME.json,
// the scenario as it really happened: nodes and addresses, keys, label, ports, and
// every action with the wall-clock time it was taken (the clock pcap timestamps use).
//
// Run it through scripts/record-captures, as root (tcpdump needs it); not in CI.
package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// description is NAME.json.
type description struct {
	Name    string      `json:"name"`
	Summary string      `json:"summary"`
	Capture captureInfo `json:"capture"`
	// Ports are the gossip ports of every node: what to decode.
	Ports []int `json:"ports"`
	// Keys in the order a decoder should try them: the first is the initial primary.
	Keys   []string     `json:"keys"`
	Label  string       `json:"label,omitempty"`
	Nodes  []nodeInfo   `json:"nodes"`
	Events []eventEntry `json:"events"`
}

type captureInfo struct {
	File      string `json:"file"`
	Interface string `json:"interface"`
	Filter    string `json:"filter"`
	Started   string `json:"started"`
	Stopped   string `json:"stopped"`
}

type nodeInfo struct {
	Name string            `json:"name"`
	Impl string            `json:"impl"` // "gonode" (memberlist v0.7.0) or "serf" (Debian's)
	Addr string            `json:"addr"` // gossip ip:port
	Args []string          `json:"args"`
	Tags map[string]string `json:"tags,omitempty"`
}

// eventEntry is one action of the script or one state it saw a node reach. Action is
// one of: start, join, send (with to, payload, transport), broadcast (payload),
// install-key / use-key (key), leave, stop (exit without leave), kill (SIGKILL),
// serf-event / serf-query (name, payload), observed (what a node reported: states it
// saw, a message it received, a query's output). Times are taken just before the
// action, except kill: just after the process is gone.
type eventEntry map[string]any

// stamp formats a wall-clock time as the decoder prints pcap times.
func stamp(t time.Time) string {
	return fmt.Sprintf("%d.%06d", t.Unix(), t.Nanosecond()/1000)
}

type recording struct {
	dir, gonode string
	desc        description
	dump        *tcpdump
	nodes       []*goNode
	agents      []*serfAgent
}

func (r *recording) note(node, action string, extra map[string]any) {
	e := eventEntry{"time": stamp(time.Now()), "node": node, "action": action}
	for k, v := range extra {
		e[k] = v
	}
	r.desc.Events = append(r.desc.Events, e)
}

// capture starts tcpdump on every port the scenario will use.
func (r *recording) capture(ports []int) error {
	r.desc.Ports = ports
	file := r.desc.Name + ".pcap"
	d, err := startTcpdump(filepath.Join(r.dir, file), ports)
	if err != nil {
		return err
	}
	r.dump = d
	r.desc.Capture = captureInfo{File: file, Interface: "lo", Filter: d.filter, Started: stamp(time.Now())}
	return nil
}

// finish stops the capture, then every process still running, and writes NAME.json.
func (r *recording) finish() error {
	var err error
	if r.dump != nil {
		err = r.dump.stop()
		r.desc.Capture.Stopped = stamp(time.Now())
	}
	for _, n := range r.nodes {
		n.cmd.Process.Kill()
		n.cmd.Wait()
	}
	for _, a := range r.agents {
		a.stop()
	}
	if err != nil {
		return fmt.Errorf("tcpdump: %v", err)
	}
	out, _ := json.MarshalIndent(r.desc, "", "  ")
	return os.WriteFile(filepath.Join(r.dir, r.desc.Name+".json"), append(out, '\n'), 0o644)
}

func newKey(size int) string {
	k := make([]byte, size)
	rand.Read(k)
	return base64.StdEncoding.EncodeToString(k)
}

func main() {
	dir := flag.String("out", "testdata/captures", "directory for NAME.pcap and NAME.json")
	gonode := flag.String("gonode", "", "path of the built gonode binary (required)")
	only := flag.String("only", "", "record only this scenario")
	flag.Parse()
	if *gonode == "" {
		fmt.Fprintln(os.Stderr, "capturerec: -gonode is required")
		os.Exit(2)
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "capturerec:", err)
		os.Exit(1)
	}
	names := []string{}
	for _, sc := range scenarios {
		names = append(names, sc.name)
		if *only != "" && sc.name != *only {
			continue
		}
		r := &recording{dir: *dir, gonode: *gonode, desc: description{Name: sc.name, Summary: sc.summary, Keys: []string{}}}
		fmt.Fprintf(os.Stderr, "recording %s\n", sc.name)
		err := sc.run(r)
		if ferr := r.finish(); err == nil {
			err = ferr
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "capturerec: %s: %v\n", sc.name, err)
			os.Exit(1)
		}
	}
	if *only != "" && !slices.Contains(names, *only) {
		fmt.Fprintf(os.Stderr, "capturerec: no scenario %q (have %v)\n", *only, names)
		os.Exit(2)
	}
}
