package main

// Node fixtures: traffic recorded from real memberlist instances on loopback. A
// recording transport wraps NetTransport on the receiving side, so it sees every
// datagram and every accepted stream exactly as they crossed the socket (labels
// included, which memberlist adds outside any custom transport when sending).

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

type streamRec struct {
	in, out bytes.Buffer // in: what the dialer wrote; out: what we (acceptor) wrote
}

type recorder struct {
	mu       sync.Mutex
	packets  [][]byte
	streams  []*streamRec
	dropUDP  atomic.Bool
	packetCh chan *memberlist.Packet
	streamCh chan net.Conn
}

type recTransport struct {
	*memberlist.NetTransport
	rec *recorder
}

func (t *recTransport) PacketCh() <-chan *memberlist.Packet { return t.rec.packetCh }
func (t *recTransport) StreamCh() <-chan net.Conn           { return t.rec.streamCh }

type recConn struct {
	net.Conn
	rec *recorder
	s   *streamRec
}

func (c *recConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.rec.mu.Lock()
	c.s.in.Write(b[:n])
	c.rec.mu.Unlock()
	return n, err
}

func (c *recConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.rec.mu.Lock()
	c.s.out.Write(b[:n])
	c.rec.mu.Unlock()
	return n, err
}

func newNode(name string, tweak func(*memberlist.Config)) (*memberlist.Memberlist, *recorder, error) {
	nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{BindAddrs: []string{"127.0.0.1"}, BindPort: 0, Logger: nil})
	if err != nil {
		return nil, nil, err
	}
	rec := &recorder{packetCh: make(chan *memberlist.Packet), streamCh: make(chan net.Conn)}
	go func() {
		for p := range nt.PacketCh() {
			rec.mu.Lock()
			rec.packets = append(rec.packets, append([]byte{}, p.Buf...))
			rec.mu.Unlock()
			if !rec.dropUDP.Load() {
				rec.packetCh <- p
			}
		}
	}()
	go func() {
		for c := range nt.StreamCh() {
			s := &streamRec{}
			rec.mu.Lock()
			rec.streams = append(rec.streams, s)
			rec.mu.Unlock()
			rec.streamCh <- &recConn{Conn: c, rec: rec, s: s}
		}
	}()
	c := memberlist.DefaultLocalConfig()
	c.Name = name
	c.BindAddr = "127.0.0.1"
	c.AdvertiseAddr = "127.0.0.1"
	c.BindPort = nt.GetAutoBindPort()
	c.AdvertisePort = nt.GetAutoBindPort()
	c.LogOutput = io.Discard
	c.ProbeInterval = 200 * time.Millisecond
	c.ProbeTimeout = 100 * time.Millisecond
	c.GossipInterval = 50 * time.Millisecond
	c.PushPullInterval = 500 * time.Millisecond
	c.Transport = &recTransport{NetTransport: nt, rec: rec}
	if tweak != nil {
		tweak(c)
	}
	m, err := memberlist.Create(c)
	return m, rec, err
}

type keyedDelegate struct{ meta []byte }

func (d *keyedDelegate) NodeMeta(limit int) []byte                  { return d.meta }
func (d *keyedDelegate) NotifyMsg([]byte)                           {}
func (d *keyedDelegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d *keyedDelegate) LocalState(join bool) []byte                { return []byte("state:" + fmt.Sprint(join)) }
func (d *keyedDelegate) MergeRemoteState(buf []byte, join bool)     {}

// ringsByName keeps each node's keyring so a scenario can rotate keys while running.
var (
	ringsMu     sync.Mutex
	ringsByName = map[string]*memberlist.Keyring{}
)

type scenario struct {
	name  string
	keys  [][]byte // the keyring both nodes end with, primary first
	label string
	tweak func(i int, c *memberlist.Config)
	act   func(a, b *memberlist.Memberlist, ra, rb *recorder)
	want  []string // shapes that must be recorded; each becomes a fixture
}

// shape names a recorded unit: "udp:" or "tcp-dialer:"/"tcp-acceptor:" then layers and
// message types, and for encrypted ones the key index.
func packetShape(info *packetInfo) string {
	types := []string{}
	for _, m := range info.messages {
		types = append(types, m["type"].(string))
	}
	s := "udp:" + strings.Join(info.layers, "+") + ":" + strings.Join(types, ",")
	if info.keyIndex >= 0 {
		s += fmt.Sprintf(":key%d", info.keyIndex)
	}
	return s
}

func streamShape(info *streamInfo, dialer bool) string {
	side := "tcp-acceptor:"
	if dialer {
		side = "tcp-dialer:"
	}
	s := side + strings.Join(info.layers, "+") + ":" + info.message["type"].(string)
	if info.keyIndex >= 0 {
		s += fmt.Sprintf(":key%d", info.keyIndex)
	}
	return s
}

func runScenario(sc scenario) ([]fixture, error) {
	tweak := func(i int) func(*memberlist.Config) {
		return func(c *memberlist.Config) {
			if sc.label != "" {
				c.Label = sc.label
			}
			if len(sc.keys) > 0 {
				kr, err := memberlist.NewKeyring(sc.keys, sc.keys[0])
				if err != nil {
					panic(err)
				}
				c.Keyring = kr
				ringsMu.Lock()
				ringsByName[c.Name] = kr
				ringsMu.Unlock()
			}
			if sc.tweak != nil {
				sc.tweak(i, c)
			}
		}
	}
	a, ra, err := newNode(sc.name+"-a", tweak(0))
	if err != nil {
		return nil, err
	}
	defer a.Shutdown()
	b, rb, err := newNode(sc.name+"-b", tweak(1))
	if err != nil {
		return nil, err
	}
	defer b.Shutdown()
	if _, err := b.Join([]string{a.LocalNode().Address()}); err != nil {
		return nil, fmt.Errorf("%s: join: %v", sc.name, err)
	}
	found := map[string]fixture{}
	deadline := time.Now().Add(8 * time.Second)
	acted := false
	for time.Now().Before(deadline) {
		time.Sleep(300 * time.Millisecond)
		if !acted && sc.act != nil {
			sc.act(a, b, ra, rb)
			acted = true
		}
		for _, r := range []*recorder{ra, rb} {
			r.mu.Lock()
			packets := append([][]byte{}, r.packets...)
			streams := []streamRec{}
			for _, s := range r.streams {
				var c streamRec
				c.in.Write(s.in.Bytes())
				c.out.Write(s.out.Bytes())
				streams = append(streams, c)
			}
			r.mu.Unlock()
			for _, p := range packets {
				info, err := describePacket(p, sc.keys)
				if err != nil {
					return nil, fmt.Errorf("%s: recorded packet does not decode: %v", sc.name, err)
				}
				sh := packetShape(info)
				if _, ok := found[sh]; !ok {
					found[sh] = fixture{bin: p, side: packetSide(info, sc.keys)}
				}
			}
			for _, s := range streams {
				for _, dir := range []struct {
					buf    []byte
					dialer bool
				}{{s.in.Bytes(), true}, {s.out.Bytes(), false}} {
					if len(dir.buf) == 0 {
						continue
					}
					info, err := describeStream(dir.buf, dir.dialer, sc.label, sc.keys)
					if err != nil {
						continue // still being written
					}
					sh := streamShape(info, dir.dialer)
					if _, ok := found[sh]; !ok {
						side := streamSide(info, dir.dialer, sc.keys)
						if !dir.dialer {
							side["label"] = sc.label
						}
						found[sh] = fixture{bin: append([]byte{}, dir.buf...), side: side}
					}
				}
			}
		}
		if hasAll(found, sc.want) {
			break
		}
	}
	if os.Getenv("FIXTUREGEN_SHAPES") != "" {
		for k := range found {
			fmt.Fprintln(os.Stderr, sc.name, k)
		}
	}
	if !hasAll(found, sc.want) {
		seen := []string{}
		for k := range found {
			seen = append(seen, k)
		}
		sort.Strings(seen)
		return nil, fmt.Errorf("%s: shapes missing; recorded: %s", sc.name, strings.Join(seen, " | "))
	}
	var out []fixture
	for i, w := range sc.want {
		f := found[w]
		name := fmt.Sprintf("node_%s_%02d", sc.name, i)
		f.name = name
		f.side["name"], f.side["kind"], f.side["origin"] = name, kindOf(w), "node"
		f.side["description"] = "recorded from memberlist v0.7.0: " + w
		f.side["codec"] = "go-msgpack v2.1.5"
		f.side["volatile"] = []string{"nonce", "SeqNo", "Port", "Incarnation", "Addr", "user_state", "Meta", "byte length"}
		out = append(out, f)
	}
	return out, nil
}

func kindOf(shape string) string {
	if strings.HasPrefix(shape, "udp:") {
		return "packet"
	}
	return "stream"
}

func hasAll(found map[string]fixture, want []string) bool {
	for _, w := range want {
		if _, ok := found[w]; !ok {
			return false
		}
	}
	return true
}

func genNodes() ([]fixture, error) {
	k16, k24, k32 := key(16, 0x10), key(24, 0x20), key(32, 0x30)
	scenarios := []scenario{
		{name: "plain", want: []string{
			"tcp-dialer:compress:push_pull", "tcp-acceptor:compress:push_pull",
			"udp::ping", "udp::ack_resp", "udp:has_crc+compress+compound:alive,alive",
		}},
		{name: "nocompress", tweak: func(i int, c *memberlist.Config) { c.EnableCompression = false }, want: []string{
			"tcp-dialer::push_pull", "tcp-acceptor::push_pull", "udp::ping",
		}},
		{name: "aes128_label", keys: [][]byte{k16}, label: "prod", want: []string{
			"tcp-dialer:has_label+encrypt+compress:push_pull:key0", "tcp-acceptor:encrypt+compress:push_pull:key0",
			"udp:has_label+encrypt:ping:key0", "udp:has_label+encrypt:ack_resp:key0",
		}},
		{name: "aes192_proto1", keys: [][]byte{k24}, tweak: func(i int, c *memberlist.Config) { c.ProtocolVersion = 1 }, want: []string{
			"tcp-dialer:encrypt+compress:push_pull:key0", "udp:encrypt:ping:key0",
		}},
		{name: "aes256_proto5", keys: [][]byte{k32}, tweak: func(i int, c *memberlist.Config) { c.ProtocolVersion = 5 }, want: []string{
			"tcp-dialer:encrypt+compress:push_pull:key0", "udp:encrypt+has_crc+compress+compound:alive,alive:key0",
		}},
		{name: "rotation", keys: [][]byte{k16, k24, k32},
			act: func(a, b *memberlist.Memberlist, ra, rb *recorder) {
				time.Sleep(time.Second)
				for _, m := range []*memberlist.Memberlist{a, b} {
					m.SendBestEffort(other(m, a, b), []byte("before rotation"))
				}
				time.Sleep(300 * time.Millisecond)
				for _, m := range []*memberlist.Memberlist{a, b} {
					ringsMu.Lock()
					kr := ringsByName[m.LocalNode().Name]
					ringsMu.Unlock()
					if err := kr.UseKey(k24); err != nil {
						panic(err)
					}
				}
				for _, m := range []*memberlist.Memberlist{a, b} {
					m.SendBestEffort(other(m, a, b), []byte("after rotation"))
				}
			},
			want: []string{"udp:encrypt+has_crc:user:key0", "udp:encrypt+has_crc:user:key1"}},
		{name: "user", act: func(a, b *memberlist.Memberlist, ra, rb *recorder) {
			a.SendBestEffort(b.LocalNode(), []byte("best effort from go"))
			a.SendReliable(b.LocalNode(), []byte("reliable from go"))
		}, want: []string{"udp:has_crc:user", "tcp-dialer:compress:user"}},
		{name: "meta512", tweak: func(i int, c *memberlist.Config) {
			c.Delegate = &keyedDelegate{meta: bytes.Repeat([]byte{byte('a' + i)}, 512)}
		}, want: []string{"tcp-dialer:compress:push_pull", "tcp-acceptor:compress:push_pull"}},
		{name: "tcpping", tweak: func(i int, c *memberlist.Config) { c.EnableCompression = false },
			act:  func(a, b *memberlist.Memberlist, ra, rb *recorder) { rb.dropUDP.Store(true) },
			want: []string{"tcp-dialer::ping", "tcp-acceptor::ack_resp"}},
		{name: "leave", act: func(a, b *memberlist.Memberlist, ra, rb *recorder) {
			time.Sleep(500 * time.Millisecond)
			b.Leave(time.Second)
		}, want: []string{"udp:has_crc:dead"}},
	}
	var out []fixture
	for _, sc := range scenarios {
		fs, err := runScenario(sc)
		if err != nil {
			return nil, err
		}
		out = append(out, fs...)
	}
	return out, nil
}

func other(m, a, b *memberlist.Memberlist) *memberlist.Node {
	if m == a {
		return b.LocalNode()
	}
	return a.LocalNode()
}
