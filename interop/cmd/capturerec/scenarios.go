package main

// The recorded scenarios. Each writes down every action just before taking it, so an
// effect on the wire never carries an earlier time than its cause; a kill is written
// down once the process is gone.

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

type scenario struct {
	name, summary string
	run           func(r *recording) error
}

var scenarios = []scenario{
	{"plain", "three nodes without compression join, exchange user messages over UDP, TCP and gossip, and one leaves gracefully", recordPlain},
	{"compression", "a compressing node and a non-compressing one exchange a repetitive user message both ways and push/pull", recordCompression},
	{"key_rotation", "three nodes encrypted with K1 install K2, switch to it with use-key mid-capture, then remove K1", recordKeyRotation},
	{"label", "two nodes with the label prod join and exchange user messages", recordLabel},
	{"ipv6", "two nodes on ::1 join, exchange a user message, and one leaves", recordIPv6},
	{"killed_node", "three nodes; one is SIGKILLed and the others suspect it, then declare it dead", recordKilled},
	{"serf", "three encrypted Debian serf agents with tags join, pass a user event and a query, and one leaves", recordSerf},
}

// fastArgs are gonode timers short enough for a capture of a few seconds.
var fastArgs = []string{"-profile=local", "-probe-interval=400ms", "-gossip-interval=100ms", "-pushpull-interval=3s"}

type nodeSpec struct {
	name string
	args []string
}

func specs(args []string, names ...string) []nodeSpec {
	out := make([]nodeSpec, len(names))
	for i, n := range names {
		out[i] = nodeSpec{name: n, args: args}
	}
	return out
}

func freePorts(ip string, n int) ([]int, error) {
	ports := make([]int, 0, n)
	for len(ports) < n {
		p, err := freePort(ip)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(ports, p) {
			ports = append(ports, p)
		}
	}
	return ports, nil
}

// cluster starts the capture, then one gonode per spec on ip, joins every later node
// to the first, and waits until every node sees every other alive.
func (r *recording) cluster(ip string, nodes []nodeSpec) ([]*goNode, error) {
	ports, err := freePorts(ip, len(nodes))
	if err != nil {
		return nil, err
	}
	if err := r.capture(ports); err != nil {
		return nil, err
	}
	out := []*goNode{}
	alive := map[string]string{}
	for i, spec := range nodes {
		args := append([]string{"-bind=" + net.JoinHostPort(ip, strconv.Itoa(ports[i]))}, fastArgs...)
		args = append(args, spec.args...)
		r.note(spec.name, "start", map[string]any{"args": args})
		n, err := startGoNode(r.gonode, spec.name, args...)
		if err != nil {
			return nil, err
		}
		r.nodes = append(r.nodes, n)
		r.desc.Nodes = append(r.desc.Nodes, nodeInfo{Name: spec.name, Impl: "gonode", Addr: n.addr, Args: args})
		if i > 0 {
			r.note(spec.name, "join", map[string]any{"addrs": []string{out[0].addr}})
			if _, err := n.do(map[string]any{"cmd": "join", "addrs": []string{out[0].addr}}); err != nil {
				return nil, err
			}
		}
		out = append(out, n)
		alive[spec.name] = "alive"
	}
	return out, r.allSee(out, alive)
}

// allSee waits until every node reports the wanted states, and notes it.
func (r *recording) allSee(nodes []*goNode, want map[string]string) error {
	for _, n := range nodes {
		if err := n.waitStates(want); err != nil {
			return err
		}
		r.note(n.name, "observed", map[string]any{"states": want})
	}
	return nil
}

// send sends a user message and waits until the target reports it.
func (r *recording) send(from, to *goNode, payload string, reliable bool) error {
	transport := "udp"
	if reliable {
		transport = "tcp"
	}
	r.note(from.name, "send", map[string]any{"to": to.name, "payload": payload, "transport": transport})
	if _, err := from.do(map[string]any{"cmd": "send", "to": to.name, "payload": payload, "reliable": reliable}); err != nil {
		return err
	}
	return r.received(to, payload)
}

func (r *recording) received(n *goNode, payload string) error {
	if _, err := n.wait(func(e map[string]any) bool { return e["event"] == "msg" && e["payload"] == payload }, waitLimit); err != nil {
		return err
	}
	r.note(n.name, "observed", map[string]any{"received": payload})
	return nil
}

func (r *recording) broadcast(from *goNode, payload string, to ...*goNode) error {
	r.note(from.name, "broadcast", map[string]any{"payload": payload})
	if _, err := from.do(map[string]any{"cmd": "broadcast", "payload": payload}); err != nil {
		return err
	}
	for _, n := range to {
		if err := r.received(n, payload); err != nil {
			return err
		}
	}
	return nil
}

// leave makes n leave gracefully, waits until the others see it left, then stops it.
func (r *recording) leave(n *goNode, others []*goNode) error {
	r.note(n.name, "leave", nil)
	if _, err := n.do(map[string]any{"cmd": "leave", "timeout_ms": 3000}); err != nil {
		return err
	}
	if err := r.allSee(others, map[string]string{n.name: "left"}); err != nil {
		return err
	}
	r.note(n.name, "stop", nil)
	return n.stop()
}

func (r *recording) keyCmd(nodes []*goNode, cmd, key string) error {
	for _, n := range nodes {
		r.note(n.name, cmd, map[string]any{"key": key})
		if _, err := n.do(map[string]any{"cmd": cmd, "key": key}); err != nil {
			return err
		}
	}
	return nil
}

func recordPlain(r *recording) error {
	ns, err := r.cluster("127.0.0.1", specs([]string{"-compress=false"}, "a", "b", "c"))
	if err != nil {
		return err
	}
	a, b, c := ns[0], ns[1], ns[2]
	if err := r.send(a, b, "hello b, from a over udp", false); err != nil {
		return err
	}
	if err := r.send(b, c, "hello c, from b over tcp", true); err != nil {
		return err
	}
	if err := r.broadcast(c, "hello all, gossiped by c", a, b); err != nil {
		return err
	}
	return r.leave(c, []*goNode{a, b})
}

func recordCompression(r *recording) error {
	ns, err := r.cluster("127.0.0.1", []nodeSpec{{"zipped", nil}, {"unzipped", []string{"-compress=false"}}})
	if err != nil {
		return err
	}
	z, u := ns[0], ns[1]
	long := strings.Repeat("compress me, ", 40)
	for _, reliable := range []bool{false, true} {
		if err := r.send(z, u, "from zipped: "+long, reliable); err != nil {
			return err
		}
		if err := r.send(u, z, "from unzipped: "+long, reliable); err != nil {
			return err
		}
	}
	// One periodic push/pull each way (the interval is 3 s).
	time.Sleep(3500 * time.Millisecond)
	return nil
}

func recordKeyRotation(r *recording) error {
	k1, k2 := newKey(16), newKey(32)
	r.desc.Keys = []string{k1, k2}
	ns, err := r.cluster("127.0.0.1", specs([]string{"-key=" + k1}, "a", "b", "c"))
	if err != nil {
		return err
	}
	if err := r.send(ns[0], ns[1], "sealed with K1", false); err != nil {
		return err
	}
	if err := r.keyCmd(ns, "install-key", k2); err != nil {
		return err
	}
	time.Sleep(time.Second)
	if err := r.keyCmd(ns, "use-key", k2); err != nil {
		return err
	}
	if err := r.send(ns[1], ns[2], "sealed with K2", false); err != nil {
		return err
	}
	time.Sleep(time.Second)
	if err := r.keyCmd(ns, "remove-key", k1); err != nil {
		return err
	}
	time.Sleep(time.Second)
	return nil
}

func recordLabel(r *recording) error {
	r.desc.Label = "prod"
	ns, err := r.cluster("127.0.0.1", specs([]string{"-label=prod"}, "a", "b"))
	if err != nil {
		return err
	}
	if err := r.send(ns[0], ns[1], "labelled udp", false); err != nil {
		return err
	}
	return r.send(ns[1], ns[0], "labelled tcp", true)
}

func recordIPv6(r *recording) error {
	ns, err := r.cluster("::1", specs(nil, "a", "b"))
	if err != nil {
		return err
	}
	if err := r.send(ns[0], ns[1], "hello over ipv6", false); err != nil {
		return err
	}
	return r.leave(ns[1], ns[:1])
}

func recordKilled(r *recording) error {
	ns, err := r.cluster("127.0.0.1", specs(nil, "a", "b", "c"))
	if err != nil {
		return err
	}
	if err := ns[2].kill(); err != nil {
		return err
	}
	// Noted once the process is gone, so nothing c sent can be later than this.
	r.note("c", "kill", nil)
	if err := r.allSee(ns[:2], map[string]string{"c": "dead"}); err != nil {
		return err
	}
	time.Sleep(time.Second)
	return nil
}

func recordSerf(r *recording) error {
	key := newKey(32)
	r.desc.Keys = []string{key}
	ports, err := freePorts("127.0.0.1", 3)
	if err != nil {
		return err
	}
	if err := r.capture(ports); err != nil {
		return err
	}
	names := []string{"s1", "s2", "s3"}
	roles := []string{"web", "db", "cache"}
	var agents []*serfAgent
	alive := map[string]string{}
	for i, name := range names {
		rpcPort, err := freePort("127.0.0.1")
		if err != nil {
			return err
		}
		bind := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[i]))
		tags := map[string]string{"role": roles[i], "dc": "lo"}
		args := []string{"-encrypt=" + key, "-tag", "role=" + roles[i], "-tag", "dc=lo"}
		r.note(name, "start", map[string]any{"args": args})
		a, err := startSerf(name, bind, net.JoinHostPort("127.0.0.1", strconv.Itoa(rpcPort)), args...)
		if err != nil {
			return err
		}
		r.agents = append(r.agents, a)
		r.desc.Nodes = append(r.desc.Nodes, nodeInfo{Name: name, Impl: "serf", Addr: bind, Args: args, Tags: tags})
		if i > 0 {
			r.note(name, "join", map[string]any{"addrs": []string{agents[0].bind}})
			if _, err := a.cli("join", agents[0].bind); err != nil {
				return err
			}
		}
		agents = append(agents, a)
		alive[name] = "alive"
	}
	for _, a := range agents {
		if err := a.waitStatuses(alive); err != nil {
			return err
		}
		r.note(a.name, "observed", map[string]any{"states": alive})
	}
	r.note("s1", "serf-event", map[string]any{"name": "deploy", "payload": "v42"})
	if _, err := agents[0].cli("event", "deploy", "v42"); err != nil {
		return err
	}
	time.Sleep(time.Second)
	r.note("s2", "serf-query", map[string]any{"name": "uptime", "payload": "now"})
	out, err := agents[1].cli("query", "-timeout=2s", "uptime", "now")
	if err != nil {
		return err
	}
	r.note("s2", "observed", map[string]any{"query_output": strings.TrimSpace(out)})
	r.note("s3", "leave", nil)
	if _, err := agents[2].cli("leave"); err != nil {
		return err
	}
	for _, a := range agents[:2] {
		if err := a.waitStatuses(map[string]string{"s3": "left"}); err != nil {
			return fmt.Errorf("after leave: %v", err)
		}
		r.note(a.name, "observed", map[string]any{"states": map[string]string{"s3": "left"}})
	}
	return nil
}
