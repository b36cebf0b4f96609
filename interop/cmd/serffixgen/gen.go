package main

// Encoder fixtures: every Serf message type, the tags meta, ping-ack coordinates and
// query filters, encoded by go-msgpack exactly as serf v0.11.0 encodes them, with edge
// values. Deterministic except where a Go map with several entries is written: those
// fixtures say "map_order": "random" and carry the Canonical (sorted) encoding too.

import (
	"encoding/base64"
	"encoding/hex"
	"math"
	"net"
	"strings"
	"time"

	"github.com/hashicorp/serf/coordinate"
	"github.com/hashicorp/serf/serf"
)

type fixture struct {
	name string
	bin  []byte
	side map[string]any
}

type generator struct{ out []fixture }

// add describes bin with the Go decoder (so the sidecar is what Go reads back).
func (g *generator) add(name, kind, desc string, bin []byte, extra map[string]any) {
	side := map[string]any{"name": name, "kind": kind, "description": desc, "origin": "encoder", "codec": "go-msgpack v2.1.5"}
	for k, v := range extra {
		side[k] = v
	}
	var err error
	switch kind {
	case "message":
		side["message"], err = describeSerf(bin)
	case "tags":
		side["tags"], err = describeTags(bin)
	case "ping_payload":
		side["coordinate"], err = describePingPayload(bin)
	case "filter":
		side["filter"], err = describeFilter(bin)
	}
	if err != nil {
		panic(name + ": " + err.Error())
	}
	g.out = append(g.out, fixture{name, bin, side})
}

// random adds a fixture whose bytes depend on Go's map order, with the sorted bytes.
func (g *generator) random(name, kind, desc string, bin, canonical []byte, extra map[string]any) {
	if extra == nil {
		extra = map[string]any{}
	}
	extra["map_order"] = "random"
	extra["canonical"] = hex.EncodeToString(canonical)
	g.add(name, kind, desc, bin, extra)
}

func ip4(s string) []byte { return net.ParseIP(s).To4() }

var ltimes = []uint64{0, 1, 127, 128, 255, 256, 65535, 65536, math.MaxUint32, math.MaxUint32 + 1, math.MaxUint64}

func key(n int, seed byte) []byte {
	k := make([]byte, n)
	for i := range k {
		k[i] = seed + byte(i)
	}
	return k
}

func genEncoder() []fixture {
	g := &generator{}
	g.intents()
	g.events()
	g.queries()
	g.answers()
	g.pushPull()
	g.tagsMeta()
	g.coordinates()
	g.oldCodec()
	return g.out
}

func (g *generator) intents() {
	g.add("leave", "message", "leave intent", v2.message(tLeave, &mLeave{LTime: 4, Node: "n4"}), nil)
	g.add("leave_prune", "message", "force-leave with prune", v2.message(tLeave, &mLeave{LTime: 5, Node: "n4", Prune: true}), nil)
	g.add("join", "message", "join intent", v2.message(tJoin, &mJoin{LTime: 3, Node: "n4"}), nil)
	for _, lt := range ltimes {
		g.add("join_ltime_"+u64s(lt), "message", "join intent, LTime edge", v2.message(tJoin, &mJoin{LTime: serf.LamportTime(lt), Node: "n"}), nil)
	}
	for _, n := range []int{0, 31, 32, 255, 256, 65535, 65536} {
		g.add("join_node_len_"+itoa(n), "message", "join intent, node name length edge",
			v2.message(tJoin, &mJoin{LTime: 1, Node: strings.Repeat("n", n)}), nil)
	}
}

func (g *generator) events() {
	g.add("user_event", "message", "user event, coalescable", v2.message(tUserEvent, &mUserEvent{LTime: 3, Name: "deploy", Payload: []byte("v1.2.3"), CC: true}), nil)
	g.add("user_event_nil_payload", "message", "user event without payload, not coalescable", v2.message(tUserEvent, &mUserEvent{LTime: 4, Name: "restart"}), nil)
	g.add("user_event_empty_payload", "message", "user event, empty non-nil payload", v2.message(tUserEvent, &mUserEvent{LTime: 4, Name: "restart", Payload: []byte{}}), nil)
	g.add("user_event_binary_payload", "message", "user event, binary payload of 300 bytes",
		v2.message(tUserEvent, &mUserEvent{LTime: 128, Name: strings.Repeat("e", 40), Payload: key(300, 0xf0)}), nil)
	g.add("user_event_payload_70000", "message", "user event, payload in a raw32 string",
		v2.message(tUserEvent, &mUserEvent{LTime: 70000, Name: "big", Payload: key(70000, 0)}), nil)
}

func (g *generator) queries() {
	nodeFilter := v2.filter(0, []string{"n2", "n3"})
	tagFilter := v2.filter(1, &mFilterTag{Tag: "role", Expr: "^web$"})
	g.add("filter_node", "filter", "node filter", nodeFilter, nil)
	g.add("filter_node_empty", "filter", "node filter with an empty list", v2.filter(0, []string{}), nil)
	g.add("filter_tag", "filter", "tag filter", tagFilter, nil)
	base := func() *mQuery {
		return &mQuery{LTime: 4, ID: 0x4a1ce589, Addr: ip4("127.0.0.1"), Port: 7946, SourceNode: "n1",
			Flags: 1, RelayFactor: 1, Timeout: 2 * time.Second, Name: "uptime", Payload: []byte("hello")}
	}
	q := base()
	q.Filters = [][]byte{nodeFilter, tagFilter}
	g.add("query", "message", "query with a node and a tag filter, ack requested, relay factor 1", v2.message(tQuery, q), nil)
	q = base()
	q.Addr, q.Payload, q.Flags, q.RelayFactor = net.ParseIP("::1"), nil, 3, 255
	g.add("query_ipv6_noack_flags", "message", "query from an IPv6 origin, no filters, flags 3, relay factor 255, nil payload", v2.message(tQuery, q), nil)
	for _, d := range []time.Duration{0, 127, 128, 32767, 32768, 2 * time.Second, 3200 * time.Millisecond, -1, math.MaxInt64} {
		q = base()
		q.Timeout = d
		g.add("query_timeout_"+strings.ReplaceAll(d.String(), ".", "_"), "message", "query, Timeout (time.Duration) edge", v2.message(tQuery, q), nil)
	}
	q = base()
	q.ID, q.Port, q.Addr = math.MaxUint32, 65535, nil
	g.add("query_id_port_max", "message", "query, max ID and port, nil Addr", v2.message(tQuery, q), nil)

	// The internal queries as KeyManager and the conflict resolver send them.
	k32 := key(32, 1)
	internal := map[string][]byte{
		"_serf_ping":        nil,
		"_serf_conflict":    []byte("n2"),
		"_serf_install-key": v2.message(tKeyRequest, mKeyRequest{Key: k32}),
		"_serf_use-key":     v2.message(tKeyRequest, mKeyRequest{Key: k32}),
		"_serf_remove-key":  v2.message(tKeyRequest, mKeyRequest{Key: k32}),
		"_serf_list-keys":   v2.message(tKeyRequest, mKeyRequest{Key: []byte{}}),
	}
	for _, name := range []string{"_serf_ping", "_serf_conflict", "_serf_install-key", "_serf_use-key", "_serf_remove-key", "_serf_list-keys"} {
		q = base()
		q.Name, q.Payload, q.Timeout, q.RelayFactor = name, internal[name], 3200*time.Millisecond, 0
		g.add("query_internal"+strings.ReplaceAll(name, "-", "_"), "message", "internal query "+name, v2.message(tQuery, q), nil)
	}
	for _, n := range []int{0, 16, 24, 32} {
		g.add("key_request_"+itoa(n), "message", "key request payload", v2.message(tKeyRequest, mKeyRequest{Key: key(n, 0x10)}), nil)
	}
	g.add("key_request_nil", "message", "key request payload with a nil key", v2.message(tKeyRequest, mKeyRequest{}), nil)
}

func (g *generator) answers() {
	g.add("query_response_ack", "message", "query ack", v2.message(tQueryResponse, &mQueryResponse{LTime: 4, ID: 0x4a1ce589, From: "n2", Flags: 1}), nil)
	g.add("query_response", "message", "query response with payload", v2.message(tQueryResponse, &mQueryResponse{LTime: 4, ID: 0x4a1ce589, From: "n2", Payload: []byte("pong\n")}), nil)
	keys := []string{base64.StdEncoding.EncodeToString(key(32, 1)), base64.StdEncoding.EncodeToString(key(16, 7))}
	list := v2.message(tKeyResponse, &mKeyResponse{Result: true, Keys: keys, PrimaryKey: keys[0]})
	g.add("key_response_list", "message", "list-keys answer", list, nil)
	g.add("key_response_error", "message", "failed key answer", v2.message(tKeyResponse, &mKeyResponse{Message: "Keyring is empty (encryption not enabled)"}), nil)
	g.add("key_response_ok", "message", "successful install answer", v2.message(tKeyResponse, &mKeyResponse{Result: true}), nil)
	g.add("query_response_key_list", "message", "response carrying a list-keys answer", v2.message(tQueryResponse, &mQueryResponse{LTime: 9, ID: 77, From: "n3", Payload: list}), nil)

	g.add("conflict_response_unknown", "message", "conflict answer about an unknown node", v2.message(tConflictResponse, (*serf.Member)(nil)), nil)
	m := &serf.Member{Name: "n2", Addr: net.ParseIP("127.0.0.1").To4(), Port: 7947, Tags: map[string]string{"role": "node"},
		Status: serf.StatusAlive, ProtocolMin: 1, ProtocolMax: 5, ProtocolCur: 2, DelegateMin: 2, DelegateMax: 5, DelegateCur: 5}
	g.add("conflict_response", "message", "conflict answer", v2.message(tConflictResponse, m), nil)
	m2 := *m
	m2.Tags = map[string]string{"role": "node", "dc": "dc1", "id": "3f6b1d2e-8c4a-4f0e-9b1a-2c5d7e9f0a1b"}
	m2.Status = serf.StatusFailed
	m2.Addr = net.ParseIP("fe80::1")
	g.random("conflict_response_tags", "message", "conflict answer, three tags, IPv6, failed", v2.message(tConflictResponse, &m2), v2Sort.message(tConflictResponse, &m2), nil)
	g.add("query_response_conflict", "message", "response carrying a conflict answer", v2.message(tQueryResponse, &mQueryResponse{LTime: 2, ID: 5, From: "n3", Payload: v2.message(tConflictResponse, m)}), nil)

	ack := &mQueryResponse{LTime: 4, ID: 0x4a1ce589, From: "n2", Flags: 1}
	g.add("relay_ack", "message", "relay envelope around a query ack", v2.relay(mRelayHeader{DestAddr: net.UDPAddr{IP: ip4("127.0.0.1"), Port: 7946}, DestName: "n1"}, tQueryResponse, ack), nil)
	resp := &mQueryResponse{LTime: 4, ID: 1, From: "n2", Payload: []byte("pong")}
	g.add("relay_ipv6_zone", "message", "relay envelope, IPv6 link-local with zone, response",
		v2.relay(mRelayHeader{DestAddr: net.UDPAddr{IP: net.ParseIP("fe80::1"), Port: 65535, Zone: "eth0"}, DestName: "n1"}, tQueryResponse, resp), nil)
	g.add("relay_port_small", "message", "relay envelope, port below 128",
		v2.relay(mRelayHeader{DestAddr: net.UDPAddr{IP: ip4("10.0.0.1"), Port: 80}, DestName: ""}, tQueryResponse, resp), nil)
}

func (g *generator) pushPull() {
	fresh := &mPushPull{LTime: 1, StatusLTimes: map[string]serf.LamportTime{"n4": 0}, LeftMembers: []string{},
		EventLTime: 1, Events: make([]*mEventSlot, 512), QueryLTime: 1}
	g.add("push_pull_fresh", "message", "push/pull state of a fresh single node (512 empty event slots)", v2.message(tPushPull, fresh), nil)
	busy := &mPushPull{LTime: 9, StatusLTimes: map[string]serf.LamportTime{"n1": 1, "n2": 3, "n3": 7, "gone": 8},
		LeftMembers: []string{"gone"}, EventLTime: 5, Events: make([]*mEventSlot, 512), QueryLTime: 300}
	busy.Events[3] = &mEventSlot{LTime: 3, Events: []mBufferedEvent{{Name: "deploy", Payload: []byte("v1.2.3")}}}
	busy.Events[4] = &mEventSlot{LTime: 4, Events: []mBufferedEvent{{Name: "a"}, {Name: "b", Payload: []byte{}}}}
	g.random("push_pull_busy", "message", "push/pull state: four members, one left, two used event slots",
		v2.message(tPushPull, busy), v2Sort.message(tPushPull, busy), nil)
	g.add("push_pull_nil", "message", "push/pull state with nil map and slices",
		v2.message(tPushPull, &mPushPull{LTime: math.MaxUint64}), nil)
}

func (g *generator) tagsMeta() {
	g.add("tags_role", "tags", "one tag", v2.tags(map[string]string{"role": "web"}), nil)
	g.add("tags_empty", "tags", "no tags", v2.tags(map[string]string{}), nil)
	two := map[string]string{"role": "node", "dc": "dc1"}
	g.random("tags_two", "tags", "two tags", v2.tags(two), v2Sort.tags(two), nil)
	consul := map[string]string{"build": "1.21.4:4a1b2c3d", "dc": "dc1", "id": "3f6b1d2e-8c4a-4f0e-9b1a-2c5d7e9f0a1b",
		"role": "node", "segment": "", "vsn": "2", "vsn_max": "3", "vsn_min": "2"}
	g.random("tags_consul_client", "tags", "Consul-client-like tags (118 bytes)", v2.tags(consul), v2Sort.tags(consul), nil)
	// 0xff 0x81 a1 'k' da 01 f9 + 505 = 512 bytes, memberlist's limit exactly.
	g.add("tags_meta_512", "tags", "tags filling the 512-byte meta limit", v2.tags(map[string]string{"k": strings.Repeat("v", 505)}), nil)
	many := map[string]string{}
	for i := 0; i < 16; i++ {
		many["t"+itoa(i)] = ""
	}
	g.random("tags_16", "tags", "sixteen tags (map16 header)", v2.tags(many), v2Sort.tags(many), nil)
}

func (g *generator) coordinates() {
	c := coordinate.NewCoordinate(coordinate.DefaultConfig())
	g.add("ping_payload_fresh", "ping_payload", "coordinate of a fresh node (130 bytes)", v2.pingPayload(c), nil)
	c = &coordinate.Coordinate{Vec: []float64{0.001, -0.002, 1e-300, math.SmallestNonzeroFloat64, math.MaxFloat64, -0.5, 0.25, 3},
		Error: 0.2, Adjustment: -0.0001, Height: 0.00015}
	g.add("ping_payload_values", "ping_payload", "coordinate with extreme components", v2.pingPayload(c), nil)
	g.add("ping_payload_nil_vec", "ping_payload", "coordinate with a nil Vec", v2.pingPayload(&coordinate.Coordinate{Error: 1.5}), nil)
}

// oldCodec covers the go-msgpack 0.5 generation (serf <= v0.10.1, Debian's 0.9.4):
// Timeout and the relay Port use unsigned markers there.
func (g *generator) oldCodec() {
	q := &mQuery{LTime: 4, ID: 0x4a1ce589, Addr: ip4("127.0.0.1"), Port: 7946, SourceNode: "n1",
		Flags: 1, RelayFactor: 1, Timeout: 3200 * time.Millisecond, Name: "uptime", Payload: []byte("hello")}
	g.add("oldcodec_query", "message", "query encoded by go-msgpack 0.5.5 (unsigned Timeout)", v05.message(tQuery, q), map[string]any{"codec": "go-msgpack v0.5.5"})
	ack := &mQueryResponse{LTime: 4, ID: 0x4a1ce589, From: "n2", Flags: 1}
	g.add("oldcodec_relay", "message", "relay envelope encoded by go-msgpack 0.5.5 (unsigned Port)",
		v05.relay(mRelayHeader{DestAddr: net.UDPAddr{IP: ip4("127.0.0.1"), Port: 7946}, DestName: "n1"}, tQueryResponse, ack),
		map[string]any{"codec": "go-msgpack v0.5.5"})
}
