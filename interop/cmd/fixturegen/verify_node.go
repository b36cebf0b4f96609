package main

// Feeds the Rust-encoded packets to a real memberlist node and watches its delegates:
// an alive must produce NotifyJoin for that node and a UDP user message NotifyMsg with
// those bytes. This is the proof that the Go library itself accepts Rust's bytes.

import (
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

type chanTransport struct {
	packets chan *memberlist.Packet
	streams chan net.Conn
}

func (t *chanTransport) FinalAdvertiseAddr(string, int) (net.IP, int, error) {
	return net.ParseIP("127.0.0.1"), 7946, nil
}
func (t *chanTransport) WriteTo(b []byte, addr string) (time.Time, error) { return time.Now(), nil }
func (t *chanTransport) PacketCh() <-chan *memberlist.Packet              { return t.packets }
func (t *chanTransport) DialTimeout(string, time.Duration) (net.Conn, error) {
	return nil, fmt.Errorf("no dialing in verification")
}
func (t *chanTransport) StreamCh() <-chan net.Conn { return t.streams }
func (t *chanTransport) Shutdown() error           { return nil }

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

func verifyWithNode(fs map[string]fixture) (int, error) {
	names := []string{}
	for n := range fs {
		names = append(names, n)
	}
	sort.Strings(names)
	count := 0
	for _, name := range names {
		f := fs[name]
		if f.side["kind"] != "packet" {
			continue
		}
		msgs, _ := f.side["messages"].([]any)
		var wantJoin = map[string]string{}
		var wantMsg []string
		for _, m := range msgs {
			mm := m.(map[string]any)
			switch mm["type"] {
			case "alive":
				fl := mm["fields"].(map[string]any)
				meta, _ := fl["Meta"].(string)
				wantJoin[fl["Node"].(string)] = meta
			case "user":
				wantMsg = append(wantMsg, mm["payload"].(string))
			}
		}
		if len(wantJoin) == 0 && len(wantMsg) == 0 {
			continue
		}
		keys, err := sideKeys(f.side)
		if err != nil {
			return count, err
		}
		t := &chanTransport{packets: make(chan *memberlist.Packet, 1), streams: make(chan net.Conn)}
		w := &watcher{joined: map[string]string{}, msgs: map[string]bool{}}
		c := memberlist.DefaultLocalConfig()
		c.Name = "go-verifier"
		c.Transport = t
		c.LogOutput = io.Discard
		c.Events = w
		c.Delegate = w
		c.Label, _ = f.side["label"].(string)
		if len(keys) > 0 {
			c.Keyring, _ = memberlist.NewKeyring(keys, keys[0])
		}
		m, err := memberlist.Create(c)
		if err != nil {
			return count, fmt.Errorf("%s: %v", name, err)
		}
		t.packets <- &memberlist.Packet{Buf: f.bin, From: &net.UDPAddr{IP: net.ParseIP("127.0.0.2"), Port: 7946}, Timestamp: time.Now()}
		ok := false
		for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			w.mu.Lock()
			ok = true
			for n, meta := range wantJoin {
				if got, seen := w.joined[n]; !seen || got != meta {
					ok = false
				}
			}
			for _, p := range wantMsg {
				ok = ok && w.msgs[p]
			}
			w.mu.Unlock()
			if ok {
				break
			}
		}
		m.Shutdown()
		if !ok {
			return count, fmt.Errorf("%s: a real memberlist node did not act on the packet (joins %v, messages %v)", name, w.joined, w.msgs)
		}
		count++
	}
	return count, nil
}
