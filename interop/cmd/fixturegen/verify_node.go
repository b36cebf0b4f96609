package main

// Feeds the Rust-encoded packets and dialer streams to a real memberlist node and
// watches what it does: an alive must produce NotifyJoin for that node with that meta,
// a user message NotifyMsg with those bytes, a ping addressed to the node an ack with
// that SeqNo written back to the transport, a push/pull a push/pull answer and joins
// for the alive nodes it carried. This is the proof that the Go library itself accepts
// Rust's bytes, with the sidecar's keyring and label configured.

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// chanTransport is a Transport whose inbound side the verifier drives and whose
// outbound packets it keeps; it never dials.
type chanTransport struct {
	packets chan *memberlist.Packet
	streams chan net.Conn
	mu      sync.Mutex
	sent    [][]byte
}

func (t *chanTransport) FinalAdvertiseAddr(string, int) (net.IP, int, error) {
	return net.ParseIP("127.0.0.1"), 7946, nil
}

func (t *chanTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	t.mu.Lock()
	t.sent = append(t.sent, append([]byte{}, b...))
	t.mu.Unlock()
	return time.Now(), nil
}

func (t *chanTransport) PacketCh() <-chan *memberlist.Packet { return t.packets }
func (t *chanTransport) DialTimeout(string, time.Duration) (net.Conn, error) {
	return nil, fmt.Errorf("no dialing in verification")
}
func (t *chanTransport) StreamCh() <-chan net.Conn { return t.streams }
func (t *chanTransport) Shutdown() error           { return nil }

func (t *chanTransport) sentPackets() [][]byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([][]byte{}, t.sent...)
}

type watcher struct {
	mu     sync.Mutex
	joined map[string]string // node name → hex meta
	msgs   map[string]bool   // hex payloads
}

func (w *watcher) NotifyJoin(n *memberlist.Node) {
	w.mu.Lock()
	w.joined[n.Name] = hex.EncodeToString(n.Meta)
	w.mu.Unlock()
}
func (w *watcher) NotifyLeave(*memberlist.Node)  {}
func (w *watcher) NotifyUpdate(*memberlist.Node) {}
func (w *watcher) NodeMeta(int) []byte           { return nil }
func (w *watcher) NotifyMsg(b []byte) {
	w.mu.Lock()
	w.msgs[hex.EncodeToString(b)] = true
	w.mu.Unlock()
}
func (w *watcher) GetBroadcasts(int, int) [][]byte { return nil }
func (w *watcher) LocalState(bool) []byte          { return nil }
func (w *watcher) MergeRemoteState([]byte, bool)   {}

// expectations is what a real node must do with one fixture.
type expectations struct {
	name  string            // the node's own name (a ping's Node must match it)
	joins map[string]string // node → hex meta
	msgs  []string          // hex payloads
	ack   int64             // SeqNo of the ack it must send back; -1 for none
}

func (e *expectations) empty() bool { return len(e.joins) == 0 && len(e.msgs) == 0 && e.ack < 0 }

// met reports whether the node has done everything expected of it.
func (e *expectations) met(w *watcher, t *chanTransport, keys [][]byte) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for n, meta := range e.joins {
		if got, seen := w.joined[n]; !seen || got != meta {
			return false
		}
	}
	for _, p := range e.msgs {
		if !w.msgs[p] {
			return false
		}
	}
	return e.ack < 0 || ackSent(t.sentPackets(), keys, e.ack)
}

// ackSent looks for an ack with that SeqNo among the packets the node wrote.
func ackSent(sent [][]byte, keys [][]byte, seq int64) bool {
	for _, p := range sent {
		info, err := describePacket(p, keys)
		if err != nil {
			continue
		}
		for _, m := range info.messages {
			if f, ok := m["fields"].(map[string]any); ok && m["type"] == "ack_resp" && int64(f["SeqNo"].(uint64)) == seq {
				return true
			}
		}
	}
	return false
}

// expect reads from a sidecar message list what a node must do with it.
func expect(msgs []any) *expectations {
	e := &expectations{name: "go-verifier", joins: map[string]string{}, ack: -1}
	for _, m := range msgs {
		mm := m.(map[string]any)
		if mm["type"] == "ping" {
			f := mm["fields"].(map[string]any)
			if n := f["Node"].(string); n != "" {
				e.name = n
			}
			e.ack = int64(f["SeqNo"].(float64))
		}
	}
	for _, m := range msgs {
		mm := m.(map[string]any)
		switch mm["type"] {
		case "alive":
			f := mm["fields"].(map[string]any)
			meta, _ := f["Meta"].(string)
			if f["Node"] != e.name { // an alive about the node itself is refuted, not joined
				e.joins[f["Node"].(string)] = meta
			}
		case "user":
			e.msgs = append(e.msgs, mm["payload"].(string))
		}
	}
	return e
}

type realNode struct {
	m *memberlist.Memberlist
	t *chanTransport
	w *watcher
}

func startNode(name, label string, keys [][]byte) (*realNode, error) {
	t := &chanTransport{packets: make(chan *memberlist.Packet, 1), streams: make(chan net.Conn)}
	w := &watcher{joined: map[string]string{}, msgs: map[string]bool{}}
	c := memberlist.DefaultLocalConfig()
	c.Name = name
	c.Transport = t
	c.LogOutput = io.Discard
	c.Events = w
	c.Delegate = w
	c.Label = label
	if len(keys) > 0 {
		kr, err := memberlist.NewKeyring(keys, keys[0])
		if err != nil {
			return nil, err
		}
		c.Keyring = kr
	}
	m, err := memberlist.Create(c)
	if err != nil {
		return nil, err
	}
	return &realNode{m, t, w}, nil
}

// wait polls until cond holds or two seconds pass.
func wait(cond func() bool) bool {
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

func feedPacket(f fixture, keys [][]byte) (bool, error) {
	msgs, _ := f.side["messages"].([]any)
	e := expect(msgs)
	if e.empty() {
		return false, nil
	}
	label, _ := f.side["label"].(string)
	n, err := startNode(e.name, label, keys)
	if err != nil {
		return false, err
	}
	defer n.m.Shutdown()
	n.t.packets <- &memberlist.Packet{Buf: f.bin, From: &net.UDPAddr{IP: net.ParseIP("127.0.0.2"), Port: 7946}, Timestamp: time.Now()}
	if !wait(func() bool { return e.met(n.w, n.t, keys) }) {
		return false, fmt.Errorf("a real memberlist node did not act on the packet as expected %+v (joins %v, messages %v, %d packets sent)",
			*e, n.w.joined, n.w.msgs, len(n.t.sentPackets()))
	}
	return true, nil
}

// feedStream hands a dialer's bytes to the node over a pipe and reads its answer.
func feedStream(f fixture, keys [][]byte) (bool, error) {
	if f.side["direction"] != "dialer" {
		return false, nil
	}
	msg := f.side["message"].(map[string]any)
	e := &expectations{name: "go-verifier", joins: map[string]string{}, ack: -1}
	wantReply := ""
	switch msg["type"] {
	case "push_pull":
		wantReply = "push_pull"
		nodes, _ := msg["nodes"].([]any)
		for _, n := range nodes {
			nn := n.(map[string]any)
			if nn["State"].(float64) == 0 {
				meta, _ := nn["Meta"].(string)
				e.joins[nn["Name"].(string)] = meta
			}
		}
	case "user":
		e.msgs = append(e.msgs, msg["payload"].(string))
	case "ping":
		wantReply = "ack_resp"
		if name := msg["fields"].(map[string]any)["Node"].(string); name != "" {
			e.name = name
		}
	default:
		return false, nil
	}
	label, _ := f.side["label"].(string)
	n, err := startNode(e.name, label, keys)
	if err != nil {
		return false, err
	}
	defer n.m.Shutdown()
	ours, theirs := net.Pipe()
	defer ours.Close()
	ours.SetDeadline(time.Now().Add(3 * time.Second))
	n.t.streams <- theirs
	reply := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(ours) // until the node closes its end
		reply <- b
	}()
	if _, err := io.Copy(ours, bytes.NewReader(f.bin)); err != nil {
		return false, fmt.Errorf("the node stopped reading the stream: %v", err)
	}
	answer := <-reply
	if wantReply != "" {
		info, err := describeStream(answer, false, label, keys)
		if err != nil {
			return false, fmt.Errorf("the node's answer (%d bytes) does not decode: %v", len(answer), err)
		}
		if info.message["type"] != wantReply {
			return false, fmt.Errorf("the node answered %v, want %s", info.message["type"], wantReply)
		}
	}
	if !wait(func() bool { return e.met(n.w, n.t, keys) }) {
		return false, fmt.Errorf("a real memberlist node did not act on the stream (joins %v, messages %v)", n.w.joined, n.w.msgs)
	}
	return true, nil
}

// verifyWithNode feeds every packet and dialer stream that should have a visible effect
// to its own real node; it returns how many did and a line per failure.
func verifyWithNode(fs map[string]fixture) (int, []string) {
	names := []string{}
	for n := range fs {
		names = append(names, n)
	}
	sort.Strings(names)
	count := 0
	var problems []string
	for _, name := range names {
		f := fs[name]
		keys, err := sideKeys(f.side)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		var fed bool
		switch f.side["kind"] {
		case "packet":
			fed, err = feedPacket(f, keys)
		case "stream":
			fed, err = feedStream(f, keys)
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", name, err))
		} else if fed {
			count++
		}
	}
	return count, problems
}
