package main

// Recorded fixtures: a live three-node serf v0.11.0 cluster on 127.0.0.1, encrypted
// so that key management succeeds. A recording memberlist Transport keeps every
// datagram and accepted stream as it arrived; they are opened with the scenario's
// keys and peeled down to the Serf payloads: Serf messages in user messages, tags in
// alive metas and push/pull node states, coordinates in ack payloads, and Serf's
// push/pull state. The first payload of each shape becomes a fixture.

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"
)

type capture struct {
	mu      sync.Mutex
	packets [][]byte
	streams []*tee
}

// tee keeps both directions of one accepted stream.
type tee struct {
	net.Conn
	cap          *capture
	dialer, mine bytes.Buffer
}

func (t *tee) Read(b []byte) (int, error) {
	n, err := t.Conn.Read(b)
	t.cap.mu.Lock()
	t.dialer.Write(b[:n])
	t.cap.mu.Unlock()
	return n, err
}

func (t *tee) Write(b []byte) (int, error) {
	n, err := t.Conn.Write(b)
	t.cap.mu.Lock()
	t.mine.Write(b[:n])
	t.cap.mu.Unlock()
	return n, err
}

type recordingTransport struct {
	*memberlist.NetTransport
	packetCh chan *memberlist.Packet
	streamCh chan net.Conn
}

func (t *recordingTransport) PacketCh() <-chan *memberlist.Packet { return t.packetCh }
func (t *recordingTransport) StreamCh() <-chan net.Conn           { return t.streamCh }

func recordingNode(name string, tags map[string]string, keys [][]byte, c *capture) (*serf.Serf, error) {
	nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{BindAddrs: []string{"127.0.0.1"}, BindPort: 0})
	if err != nil {
		return nil, err
	}
	t := &recordingTransport{NetTransport: nt, packetCh: make(chan *memberlist.Packet), streamCh: make(chan net.Conn)}
	go func() {
		for p := range nt.PacketCh() {
			c.mu.Lock()
			c.packets = append(c.packets, append([]byte{}, p.Buf...))
			c.mu.Unlock()
			t.packetCh <- p
		}
	}()
	go func() {
		for conn := range nt.StreamCh() {
			s := &tee{Conn: conn, cap: c}
			c.mu.Lock()
			c.streams = append(c.streams, s)
			c.mu.Unlock()
			t.streamCh <- s
		}
	}()
	ml := memberlist.DefaultLocalConfig()
	ml.Name = name
	ml.BindAddr, ml.AdvertiseAddr = "127.0.0.1", "127.0.0.1"
	ml.BindPort, ml.AdvertisePort = nt.GetAutoBindPort(), nt.GetAutoBindPort()
	ml.Transport = t
	ml.LogOutput = io.Discard
	ml.ProbeInterval = 200 * time.Millisecond
	ml.ProbeTimeout = 100 * time.Millisecond
	ml.GossipInterval = 50 * time.Millisecond
	ml.PushPullInterval = 500 * time.Millisecond
	ml.Keyring, err = memberlist.NewKeyring(keys, keys[0])
	if err != nil {
		return nil, err
	}
	conf := serf.DefaultConfig()
	conf.NodeName = name
	conf.Tags = tags
	conf.MemberlistConfig = ml
	conf.LogOutput = io.Discard
	conf.Logger = log.New(io.Discard, "", 0)
	conf.ProtocolVersion = serf.ProtocolVersionMax
	events := make(chan serf.Event, 256)
	conf.EventCh = events
	s, err := serf.Create(conf)
	if err != nil {
		return nil, err
	}
	go func() {
		for e := range events {
			if q, ok := e.(*serf.Query); ok && q.Name == "uptime" {
				q.Respond([]byte("pong from " + name))
			}
		}
	}()
	return s, nil
}

func waitFor(what string, limit time.Duration, ok func() bool) error {
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster: timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

func aliveCount(s *serf.Serf) int {
	n := 0
	for _, m := range s.Members() {
		if m.Status == serf.StatusAlive {
			n++
		}
	}
	return n
}

// keyStep runs one key query, again if a node's answer missed the query's timeout
// (gossip interval x 16 = 0.8 s here: tight on a loaded 2-core machine). Every step is
// idempotent, and a retry only adds traffic of shapes already recorded.
func keyStep(step func() (*serf.KeyResponse, error)) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		var r *serf.KeyResponse
		if r, err = step(); err == nil {
			return nil
		}
		err = fmt.Errorf("key management: %v (%v)", err, r.Messages)
	}
	return err
}

// runCluster drives join, a user event, a filtered query with acks, responses and
// relays, key install/use/list/remove, and a leave; it returns the capture and the
// keys the traffic may be sealed with.
func runCluster() (*capture, [][]byte, error) {
	key1, key2 := key(32, 0x21), key(32, 0x61)
	c := &capture{}
	tags := []map[string]string{{"role": "web", "dc": "lo"}, {"role": "db"}, {"role": "cache", "dc": "lo"}}
	var nodes []*serf.Serf
	defer func() {
		for _, n := range nodes {
			n.Shutdown()
		}
	}()
	for i, t := range tags {
		n, err := recordingNode(fmt.Sprintf("s%d", i+1), t, [][]byte{key1}, c)
		if err != nil {
			return nil, nil, err
		}
		nodes = append(nodes, n)
	}
	addr := func(s *serf.Serf) string {
		m := s.LocalMember()
		return fmt.Sprintf("%s:%d", m.Addr, m.Port)
	}
	for _, n := range nodes[1:] {
		if _, err := n.Join([]string{addr(nodes[0])}, false); err != nil {
			return nil, nil, err
		}
	}
	if err := waitFor("three alive members", 10*time.Second, func() bool {
		return aliveCount(nodes[0]) == 3 && aliveCount(nodes[1]) == 3 && aliveCount(nodes[2]) == 3
	}); err != nil {
		return nil, nil, err
	}
	if err := nodes[0].UserEvent("deploy", []byte("v2"), true); err != nil {
		return nil, nil, err
	}
	resp, err := nodes[0].Query("uptime", []byte("hello"), &serf.QueryParam{
		FilterNodes: []string{"s2", "s3"}, FilterTags: map[string]string{"role": "^(db|cache)$"},
		RequestAck: true, RelayFactor: 1, Timeout: 2 * time.Second,
	})
	if err != nil {
		return nil, nil, err
	}
	for range resp.ResponseCh() {
	}
	km := nodes[0].KeyManager()
	k2 := b64(key2)
	for _, step := range []func() (*serf.KeyResponse, error){
		func() (*serf.KeyResponse, error) { return km.InstallKey(k2) },
		func() (*serf.KeyResponse, error) { return km.UseKey(k2) },
		func() (*serf.KeyResponse, error) { return km.ListKeys() },
		func() (*serf.KeyResponse, error) { return km.RemoveKey(b64(key1)) },
	} {
		if err := keyStep(step); err != nil {
			return nil, nil, err
		}
	}
	if err := nodes[2].Leave(); err != nil {
		return nil, nil, err
	}
	if err := waitFor("s3 to have left", 10*time.Second, func() bool {
		for _, m := range nodes[0].Members() {
			if m.Name == "s3" {
				return m.Status == serf.StatusLeft
			}
		}
		return false
	}); err != nil {
		return nil, nil, err
	}
	time.Sleep(300 * time.Millisecond)
	return c, [][]byte{key1, key2}, nil
}

// payload is one Serf item found in the traffic.
type payload struct {
	kind  string // message, tags, ping_payload
	shape string
	bin   []byte
}

func serfShape(m []byte) string {
	d, err := describeSerf(m)
	if err != nil {
		return ""
	}
	t := d["type"].(string)
	f, _ := d["fields"].(map[string]any)
	switch t {
	case "query":
		return "query_" + strings.TrimLeft(strings.ReplaceAll(f["Name"].(string), "-", "_"), "_")
	case "query_response":
		p, _ := f["Payload"].(string)
		switch {
		case f["Flags"] == uint32(1):
			return "query_ack"
		case strings.HasPrefix(p, "08"):
			return "query_response_key"
		}
		return "query_response"
	}
	return t
}

func genCluster() ([]fixture, error) {
	c, keys, err := runCluster()
	if err != nil {
		return nil, err
	}
	var found []payload
	c.mu.Lock()
	for _, p := range c.packets {
		found = append(found, fromPacket(p, keys)...)
	}
	for _, s := range c.streams {
		found = append(found, fromStream(s.dialer.Bytes(), keys)...)
		found = append(found, fromStream(s.mine.Bytes(), keys)...)
	}
	c.mu.Unlock()

	first := map[string]payload{}
	for _, p := range found {
		if p.shape == "" {
			continue
		}
		if _, ok := first[p.shape]; !ok {
			first[p.shape] = p
		}
	}
	want := []string{"join", "leave", "user_event", "query_uptime", "query_ack", "query_response", "relay",
		"query_serf_install_key", "query_serf_use_key", "query_serf_list_keys", "query_serf_remove_key",
		"query_response_key", "push_pull", "alive_tags", "push_node_tags", "ack_coordinate"}
	var missing []string
	for _, w := range want {
		if _, ok := first[w]; !ok {
			missing = append(missing, w)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("cluster: nothing recorded of shapes %v", missing)
	}
	g := &generator{}
	shapes := []string{}
	for s := range first {
		shapes = append(shapes, s)
	}
	sort.Strings(shapes)
	for _, s := range shapes {
		p := first[s]
		extra := map[string]any{"origin": "cluster", "volatile": volatile}
		if canon, random := canonical(p); random {
			extra["map_order"] = "random"
			extra["canonical"] = fmt.Sprintf("%x", canon)
		}
		g.add("cluster_"+s, p.kind, "recorded from a serf v0.11.0 cluster: "+s, p.bin, extra)
	}
	return g.out, nil
}

// volatile names the fields whose values depend on timing (clocks, ids, ports, which
// node a message happened to come from) or on Go's map order.
var volatile = []string{
	"LTime", "EventLTime", "QueryLTime", "StatusLTimes", "Events", "ID", "Port", "Node", "From",
	"Payload", "Message", "Vec", "Error", "Adjustment", "Height", "tags", "canonical", "map_order",
	"Keys", "PrimaryKey", "LeftMembers",
}

// canonical re-encodes a payload with Go maps sorted, and says whether Go's map order
// could have changed its bytes (a map with more than one entry).
func canonical(p payload) ([]byte, bool) {
	switch {
	case p.kind == "tags":
		t := map[string]string{}
		decodeV2(p.bin[1:], &t)
		return v2Sort.tags(t), len(t) > 1
	case p.kind == "message" && p.bin[0] == tPushPull:
		var m mPushPull
		decodeV2(p.bin[1:], &m)
		return v2Sort.message(tPushPull, &m), len(m.StatusLTimes) > 1
	}
	return nil, false
}
