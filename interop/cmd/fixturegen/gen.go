package main

// Encoder fixtures: memberlist's encodings and layerings reproduced with go-msgpack and
// Go's standard library, deterministic (nonces from a seeded source).

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/rand"
	"net"
	"strings"

	"github.com/memberlist-interop/interop/internal/wire"

	oldcodec "github.com/hashicorp/go-msgpack/codec"
)

type fixture struct {
	name string
	bin  []byte
	side map[string]any
}

type generator struct {
	out   []fixture
	nonce *rand.Rand
}

func (g *generator) add(name, kind, desc string, bin []byte, side map[string]any) {
	if side == nil {
		side = map[string]any{}
	}
	side["name"], side["kind"], side["description"] = name, kind, desc
	if _, ok := side["origin"]; !ok {
		side["origin"] = "encoder"
	}
	if _, ok := side["codec"]; !ok && (kind == "message" || kind == "packet" || kind == "stream") {
		side["codec"] = "go-msgpack v2.1.5"
	}
	g.out = append(g.out, fixture{name, bin, side})
}

func (g *generator) nextNonce() []byte {
	n := make([]byte, 12)
	g.nonce.Read(n)
	return n
}

func b64(keys ...[]byte) []string {
	out := []string{}
	for _, k := range keys {
		out = append(out, base64.StdEncoding.EncodeToString(k))
	}
	return out
}

func key(n int, seed byte) []byte {
	k := make([]byte, n)
	for i := range k {
		k[i] = seed + byte(i)
	}
	return k
}

var vsn = []byte{1, 5, 2, 0, 0, 0}

func ip4(s string) []byte  { return net.ParseIP(s).To4() }
func ip16(s string) []byte { return net.ParseIP(s).To16() }

func (g *generator) message(name, desc string, t byte, v any) {
	g.add(name, "message", desc, wire.Encode(t, v), map[string]any{
		"message": map[string]any{"type": wire.TypeNames[t], "fields": jsonFields(v)},
	})
}

// packet adds a packet fixture described by the Go decoder.
func (g *generator) packet(name, desc string, bin []byte, keys [][]byte) {
	info, err := describePacket(bin, keys)
	if err != nil {
		panic(fmt.Sprintf("%s: %v", name, err))
	}
	g.add(name, "packet", desc, bin, packetSide(info, keys))
}

func packetSide(info *packetInfo, keys [][]byte) map[string]any {
	s := map[string]any{
		"label": info.label, "keys": b64(keys...), "layers": info.layers, "messages": info.messages,
		"encryption_version": nil,
	}
	if info.version >= 0 {
		s["encryption_version"] = info.version
		s["key_index"] = info.keyIndex
	}
	return s
}

func streamSide(info *streamInfo, dialer bool, keys [][]byte) map[string]any {
	dir := "acceptor"
	if dialer {
		dir = "dialer"
	}
	s := map[string]any{
		"direction": dir, "label": info.label, "keys": b64(keys...), "layers": info.layers,
		"message": info.message, "encryption_version": nil,
	}
	if info.layers == nil {
		s["layers"] = []string{}
	}
	if info.version >= 0 {
		s["encryption_version"] = info.version
		s["key_index"] = info.keyIndex
	}
	return s
}

// stream adds a stream fixture: plain frame → compress → encrypt → label, as
// rawSendMsgStream and the label-wrapped dialer do.
func (g *generator) stream(name, desc string, plain []byte, dialer bool, compressOn bool, vsnEnc int, keys [][]byte, label string) {
	buf := plain
	if compressOn {
		buf = wire.CompressPayload(buf)
	}
	if vsnEnc >= 0 {
		buf = wire.EncryptedStreamFrame(byte(vsnEnc), keys[0], g.nextNonce(), buf, label)
	}
	if dialer {
		buf = append(wire.LabelHeader(label), buf...)
	}
	info, err := describeStream(buf, dialer, label, keys)
	if err != nil {
		panic(fmt.Sprintf("%s: %v", name, err))
	}
	side := streamSide(info, dialer, keys)
	if !dialer {
		side["label"] = label
	}
	g.add(name, "stream", desc, buf, side)
}

// udp builds a packet the way rawSendMsgPacket and the label wrapper do.
func (g *generator) udp(msgs [][]byte, compressOn, crc bool, vsnEnc int, key []byte, label string) []byte {
	var buf []byte
	if len(msgs) == 1 {
		buf = msgs[0]
	} else {
		buf = wire.MakeCompound(msgs)
	}
	if compressOn {
		if c := wire.CompressPayload(buf); len(c) < len(buf) {
			buf = c
		}
	}
	if crc {
		buf = wire.CRCWrap(buf)
	}
	if vsnEnc >= 0 {
		buf = wire.EncryptPayload(byte(vsnEnc), key, g.nextNonce(), buf, []byte(label))
	}
	return append(wire.LabelHeader(label), buf...)
}

func pushPull(join bool, nodes []wire.PushNodeState, userState []byte) []byte {
	var b bytes.Buffer
	b.WriteByte(wire.PushPullMsg)
	b.Write(wire.Body(&wire.PushPullHeader{Nodes: len(nodes), UserStateLen: len(userState), Join: join}))
	for i := range nodes {
		b.Write(wire.Body(&nodes[i]))
	}
	b.Write(userState)
	return b.Bytes()
}

func userStream(p []byte) []byte {
	return append(wire.Encode(wire.UserMsg, &wire.UserMsgHeader{UserMsgLen: len(p)}), p...)
}

func oldBody(v any) []byte {
	var buf bytes.Buffer
	if err := oldcodec.NewEncoder(&buf, &oldcodec.MsgpackHandle{}).Encode(v); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

func genEncoder() []fixture {
	g := &generator{nonce: rand.New(rand.NewSource(7946))}
	uints := []uint64{0, 127, 128, 255, 256, 65535, 65536, 1<<32 - 1}
	lengths := []int{0, 31, 32, 255, 256, 65535, 65536}

	// Every message type, plain.
	g.message("ping_min", "ping with only SeqNo and Node", wire.PingMsg, &wire.Ping{SeqNo: 100})
	g.message("ping_source_ipv4", "ping with 4-byte source", wire.PingMsg, &wire.Ping{SeqNo: 1, Node: "node-b", SourceAddr: ip4("10.0.0.1"), SourcePort: 7946, SourceNode: "node-a"})
	g.message("ping_source_ipv4_16", "ping with 16-byte IPv4-mapped source", wire.PingMsg, &wire.Ping{SeqNo: 1, Node: "node-b", SourceAddr: ip16("10.0.0.1"), SourcePort: 7946, SourceNode: "node-a"})
	g.message("ping_source_ipv6", "ping with IPv6 source", wire.PingMsg, &wire.Ping{SeqNo: 2, Node: "node-b", SourceAddr: ip16("2001:db8::1"), SourcePort: 7946, SourceNode: "node-a"})
	for _, nack := range []bool{true, false} {
		g.message(fmt.Sprintf("indirect_ping_nack_%v", nack), "indirect ping", wire.IndirectPingMsg, &wire.IndirectPingReq{SeqNo: 2, Target: ip4("10.0.0.2"), Port: 7946, Node: "node-c", Nack: nack, SourceAddr: ip4("10.0.0.1"), SourcePort: 7946, SourceNode: "node-a"})
	}
	g.message("indirect_ping_nil_target", "indirect ping, nil Target, no source fields", wire.IndirectPingMsg, &wire.IndirectPingReq{SeqNo: 3})
	g.message("ack_nil_payload", "ack with nil payload", wire.AckRespMsg, &wire.AckResp{SeqNo: 1})
	g.message("ack_empty_payload", "ack with empty non-nil payload", wire.AckRespMsg, &wire.AckResp{SeqNo: 1, Payload: []byte{}})
	g.message("ack_payload", "ack with payload", wire.AckRespMsg, &wire.AckResp{SeqNo: 300, Payload: []byte{1, 2, 3}})
	g.message("nack", "nack", wire.NackRespMsg, &wire.NackResp{SeqNo: 2})
	g.message("suspect", "suspect", wire.SuspectMsg, &wire.Suspect{Incarnation: 5, Node: "node-b", From: "node-a"})
	g.message("dead", "dead", wire.DeadMsg, &wire.Dead{Incarnation: 5, Node: "node-b", From: "node-a"})
	g.message("dead_leave", "dead with From == Node: a graceful leave", wire.DeadMsg, &wire.Dead{Incarnation: 5, Node: "node-b", From: "node-b"})
	g.message("err", "errResp", wire.ErrMsg, &wire.ErrResp{Error: "boom"})
	g.message("alive_ipv4", "alive, 4-byte addr", wire.AliveMsg, &wire.Alive{Incarnation: 1, Node: "node-a", Addr: ip4("10.0.0.1"), Port: 7946, Vsn: vsn})
	g.message("alive_ipv4_16", "alive, 16-byte IPv4-mapped addr", wire.AliveMsg, &wire.Alive{Incarnation: 1, Node: "node-a", Addr: ip16("10.0.0.1"), Port: 7946, Vsn: vsn})
	g.message("alive_ipv6", "alive, IPv6 addr", wire.AliveMsg, &wire.Alive{Incarnation: 1, Node: "node-6", Addr: ip16("::1"), Port: 7946, Vsn: vsn})
	g.message("alive_meta_nil_vsn_nil", "alive, nil Meta and nil Vsn", wire.AliveMsg, &wire.Alive{Incarnation: 1, Node: "n", Addr: ip4("10.0.0.1"), Port: 7946})
	g.message("alive_meta_empty", "alive, empty non-nil Meta", wire.AliveMsg, &wire.Alive{Incarnation: 1, Node: "n", Addr: ip4("10.0.0.1"), Port: 7946, Meta: []byte{}, Vsn: vsn})
	g.message("alive_meta_512", "alive, 512-byte Meta", wire.AliveMsg, &wire.Alive{Incarnation: 1, Node: "n", Addr: ip4("10.0.0.1"), Port: 7946, Meta: bytes.Repeat([]byte("m"), 512), Vsn: vsn})

	// Integer boundaries per field type.
	for _, v := range uints {
		g.message(fmt.Sprintf("int_ping_seqno_%d", v), "uint32 SeqNo boundary", wire.PingMsg, &wire.Ping{SeqNo: uint32(v), Node: "n"})
		g.message(fmt.Sprintf("int_alive_incarnation_%d", v), "uint32 Incarnation boundary", wire.AliveMsg, &wire.Alive{Incarnation: uint32(v), Node: "n", Addr: ip4("10.0.0.1"), Port: 1, Vsn: vsn})
		if v <= 65535 {
			g.message(fmt.Sprintf("int_alive_port_%d", v), "uint16 Port boundary", wire.AliveMsg, &wire.Alive{Incarnation: 1, Node: "n", Addr: ip4("10.0.0.1"), Port: uint16(v), Vsn: vsn})
			g.message(fmt.Sprintf("int_ping_sourceport_%d", v), "uint16 SourcePort boundary (omitempty at 0)", wire.PingMsg, &wire.Ping{SeqNo: 1, Node: "n", SourceAddr: ip4("10.0.0.1"), SourcePort: uint16(v), SourceNode: "m"})
		}
		g.message(fmt.Sprintf("int_pushpull_nodes_%d", v), "Go int Nodes boundary (header only)", wire.PushPullMsg, &wire.PushPullHeader{Nodes: int(v)})
		g.message(fmt.Sprintf("int_pushpull_userstatelen_%d", v), "Go int UserStateLen boundary (header only)", wire.PushPullMsg, &wire.PushPullHeader{UserStateLen: int(v), Join: true})
		g.message(fmt.Sprintf("int_user_len_%d", v), "Go int UserMsgLen boundary (header only)", wire.UserMsg, &wire.UserMsgHeader{UserMsgLen: int(v)})
		g.message(fmt.Sprintf("int_ack_seqno_%d", v), "uint32 SeqNo boundary", wire.AckRespMsg, &wire.AckResp{SeqNo: uint32(v)})
		g.message(fmt.Sprintf("int_nack_seqno_%d", v), "uint32 SeqNo boundary", wire.NackRespMsg, &wire.NackResp{SeqNo: uint32(v)})
		g.message(fmt.Sprintf("int_indirect_ping_seqno_%d", v), "uint32 SeqNo boundary", wire.IndirectPingMsg, &wire.IndirectPingReq{SeqNo: uint32(v), Target: ip4("10.0.0.2"), Port: 7946, Node: "n"})
		g.message(fmt.Sprintf("int_suspect_incarnation_%d", v), "uint32 Incarnation boundary", wire.SuspectMsg, &wire.Suspect{Incarnation: uint32(v), Node: "n", From: "m"})
		g.message(fmt.Sprintf("int_dead_incarnation_%d", v), "uint32 Incarnation boundary", wire.DeadMsg, &wire.Dead{Incarnation: uint32(v), Node: "n", From: "m"})
		// Push/pull node states only travel in a stream: one node per frame.
		one := func(n wire.PushNodeState) []byte { return pushPull(false, []wire.PushNodeState{n}, nil) }
		base := wire.PushNodeState{Name: "n", Addr: ip4("10.0.0.1"), Port: 7946, Incarnation: 1, Vsn: vsn}
		st, inc := base, base
		st.State, inc.Incarnation = int(v), uint32(v)
		g.stream(fmt.Sprintf("int_pushnode_state_%d", v), "Go int State (NodeStateType) boundary; Go accepts any value", one(st), false, false, -1, nil, "")
		g.stream(fmt.Sprintf("int_pushnode_incarnation_%d", v), "uint32 Incarnation boundary in a node state", one(inc), false, false, -1, nil, "")
		if v <= 65535 {
			g.message(fmt.Sprintf("int_indirect_ping_port_%d", v), "uint16 Port boundary", wire.IndirectPingMsg, &wire.IndirectPingReq{SeqNo: 1, Target: ip4("10.0.0.2"), Port: uint16(v), Node: "n"})
			port := base
			port.Port = uint16(v)
			g.stream(fmt.Sprintf("int_pushnode_port_%d", v), "uint16 Port boundary in a node state", one(port), false, false, -1, nil, "")
		}
	}
	// Strings and byte fields of boundary lengths.
	for _, n := range lengths {
		s := strings.Repeat("x", n)
		g.message(fmt.Sprintf("len_alive_node_%d", n), "string Node length boundary", wire.AliveMsg, &wire.Alive{Incarnation: 1, Node: s, Addr: ip4("10.0.0.1"), Port: 7946, Vsn: vsn})
		g.message(fmt.Sprintf("len_alive_meta_%d", n), "[]byte Meta length boundary", wire.AliveMsg, &wire.Alive{Incarnation: 1, Node: "n", Addr: ip4("10.0.0.1"), Port: 7946, Meta: []byte(s), Vsn: vsn})
		g.message(fmt.Sprintf("len_ack_payload_%d", n), "[]byte Payload length boundary", wire.AckRespMsg, &wire.AckResp{SeqNo: 1, Payload: []byte(s)})
		g.message(fmt.Sprintf("len_err_%d", n), "string Error length boundary", wire.ErrMsg, &wire.ErrResp{Error: s})
	}
	for _, n := range []int{0, 31, 32, 255, 256} {
		s := strings.Repeat("y", n)
		g.message(fmt.Sprintf("len_suspect_from_%d", n), "string From length boundary", wire.SuspectMsg, &wire.Suspect{Incarnation: 1, Node: "n", From: s})
	}
	g.message("alive_vsn_empty", "alive, empty non-nil Vsn", wire.AliveMsg, &wire.Alive{Incarnation: 1, Node: "n", Addr: ip4("10.0.0.1"), Port: 7946, Vsn: []byte{}})
	g.message("alive_addr_nil", "alive, nil Addr", wire.AliveMsg, &wire.Alive{Incarnation: 1, Node: "n", Port: 7946, Vsn: vsn})
	// Old codec (memberlist <= v0.5.0): Go int fields with unsigned markers.
	for _, v := range []int{128, 256, 65536} {
		for _, c := range []struct {
			name string
			t    byte
			v    any
		}{
			{"pushpull_nodes", wire.PushPullMsg, &wire.PushPullHeader{Nodes: v}},
			{"pushpull_userstatelen", wire.PushPullMsg, &wire.PushPullHeader{UserStateLen: v}},
			{"user_len", wire.UserMsg, &wire.UserMsgHeader{UserMsgLen: v}},
		} {
			g.add(fmt.Sprintf("oldcodec_%s_%d", c.name, v), "message", "go-msgpack v0.5.5 encoding (memberlist <= v0.5.0)",
				append([]byte{c.t}, oldBody(c.v)...), map[string]any{
					"codec": "go-msgpack v0.5.5", "reencode": false,
					"message": map[string]any{"type": wire.TypeNames[c.t], "fields": jsonFields(c.v)},
				})
		}
	}

	// Packets.
	pingB := wire.Encode(wire.PingMsg, &wire.Ping{SeqNo: 1, Node: "node-b", SourceAddr: ip4("10.0.0.1"), SourcePort: 7946, SourceNode: "node-a"})
	susB := wire.Encode(wire.SuspectMsg, &wire.Suspect{Incarnation: 5, Node: "node-b", From: "node-a"})
	alives := [][]byte{}
	for i, n := range []string{"node-a", "node-b", "node-c"} {
		alives = append(alives, wire.Encode(wire.AliveMsg, &wire.Alive{Incarnation: 1, Node: n, Addr: ip4(fmt.Sprintf("10.0.0.%d", i+1)), Port: 7946, Vsn: vsn}))
	}
	user := append([]byte{wire.UserMsg}, []byte("hello from go")...)
	g.packet("packet_ping", "bare ping: compression is on, but LZW would make it longer, so memberlist sends it uncompressed", g.udp([][]byte{pingB}, true, false, -1, nil, ""), nil)
	g.packet("packet_ping_crc", "ping with CRC (peer PMax 5)", g.udp([][]byte{pingB}, true, true, -1, nil, ""), nil)
	g.packet("packet_compound_probe", "probe of a suspect node: ping + suspect", g.udp([][]byte{pingB, susB}, true, false, -1, nil, ""), nil)
	g.packet("packet_compound_alives_uncompressed", "three alives, compression off", g.udp(alives, false, false, -1, nil, ""), nil)
	g.packet("packet_compound_alives_compressed", "three alives, compressed", g.udp(alives, true, false, -1, nil, ""), nil)
	g.packet("packet_compound_alives_compressed_crc", "three alives, compressed, CRC", g.udp(alives, true, true, -1, nil, ""), nil)
	g.packet("packet_label", "labelled ping", g.udp([][]byte{pingB}, true, false, -1, nil, "prod"), nil)
	g.packet("packet_label_255", "255-byte label", g.udp([][]byte{pingB}, true, false, -1, nil, strings.Repeat("l", 255)), nil)
	g.packet("packet_user", "user message over UDP", g.udp([][]byte{user}, true, false, -1, nil, ""), nil)
	g.packet("packet_user_compound", "user message piggybacked with an alive", g.udp([][]byte{alives[0], user}, false, false, -1, nil, ""), nil)
	g.packet("packet_compound_empty", "compound of zero parts", wire.MakeCompound(nil), nil)
	for _, ks := range []int{16, 24, 32} {
		for _, v := range []int{0, 1} {
			for _, label := range []string{"", "prod"} {
				k := key(ks, byte(ks))
				name := fmt.Sprintf("packet_aes%d_v%d", ks*8, v)
				if label != "" {
					name += "_label"
				}
				g.packet(name, "compound of alives, compressed, CRC, encrypted",
					g.udp(alives, true, true, v, k, label), [][]byte{k})
			}
		}
	}
	k1, k2, k3 := key(16, 1), key(24, 2), key(32, 3)
	g.packet("packet_keyring_secondary", "encrypted with the second key of a three-key ring",
		g.udp([][]byte{pingB}, false, false, 1, k2, ""), [][]byte{k1, k2, k3})

	// Streams.
	nodes := []wire.PushNodeState{
		{Name: "node-a", Addr: ip4("10.0.0.1"), Port: 7946, Incarnation: 1, State: 0, Vsn: vsn},
		{Name: "node-b", Addr: ip16("2001:db8::2"), Port: 7947, Meta: []byte("role=web"), Incarnation: 3, State: 1, Vsn: vsn},
		{Name: "node-c", Addr: ip4("10.0.0.3"), Port: 7946, Meta: []byte{}, Incarnation: 9, State: 2, Vsn: vsn},
		{Name: "node-d", Addr: ip4("10.0.0.4"), Port: 7946, Incarnation: 2, State: 3, Vsn: vsn},
	}
	join := pushPull(true, nodes, nil)
	anti := pushPull(false, nodes[:2], []byte("user state from the delegate"))
	g.stream("stream_pushpull_join_plain", "join push/pull, no compression", join, true, false, -1, nil, "")
	g.stream("stream_pushpull_join_compressed", "join push/pull, compressed", join, true, true, -1, nil, "")
	g.stream("stream_pushpull_antientropy_userstate", "anti-entropy push/pull with user state", anti, false, true, -1, nil, "")
	g.stream("stream_pushpull_label", "join push/pull with a label (dialer)", join, true, true, -1, nil, "prod")
	for _, ks := range []int{16, 24, 32} {
		for _, v := range []int{0, 1} {
			k := key(ks, byte(ks))
			g.stream(fmt.Sprintf("stream_pushpull_aes%d_v%d_label", ks*8, v), "encrypted, compressed, labelled push/pull (dialer)", join, true, true, v, [][]byte{k}, "prod")
			g.stream(fmt.Sprintf("stream_pushpull_aes%d_v%d_acceptor", ks*8, v), "encrypted reply (acceptor: no label header, label still AAD)", anti, false, true, v, [][]byte{k}, "prod")
		}
	}
	g.stream("stream_user", "reliable user message", userStream([]byte("hello over tcp")), true, true, -1, nil, "")
	g.stream("stream_user_plain", "reliable user message, no compression", userStream([]byte("hello over tcp")), true, false, -1, nil, "")
	g.stream("stream_ping", "TCP fallback ping", pingB, true, true, -1, nil, "")
	g.stream("stream_ack", "ack to a TCP ping", wire.Encode(wire.AckRespMsg, &wire.AckResp{SeqNo: 1}), false, true, -1, nil, "")
	g.stream("stream_err", "error reply", wire.Encode(wire.ErrMsg, &wire.ErrResp{Error: "remote state is encrypted and encryption is not configured"}), false, false, -1, nil, "")

	// LZW.
	for name, in := range map[string]string{
		"lzw_testing": "testing", "lzw_empty": "", "lzw_one": "a", "lzw_tobeornot": "TOBEORNOTTOBEORTOBEORNOT",
		"lzw_a64": strings.Repeat("a", 64),
	} {
		g.add(name, "lzw", "Go compress/lzw LSB 8", wire.LZWCompress([]byte(in)), map[string]any{"plain": map[string]any{"hex": hex.EncodeToString([]byte(in))}})
	}
	for _, p := range []struct {
		pattern string
		n       int
	}{{"zeros", 100000}, {"mod256", 70000}, {"lcg", 50000}, {"lcg", 4095}, {"lcg", 4096}, {"mod256", 4095}, {"zeros", 4096}} {
		g.add(fmt.Sprintf("lzw_%s_%d", p.pattern, p.n), "lzw", "Go compress/lzw LSB 8 of a generated input",
			wire.LZWCompress(pattern(p.pattern, p.n)), map[string]any{"plain": map[string]any{"pattern": p.pattern, "len": p.n}})
	}

	// Raw encryption.
	for _, ks := range []int{16, 24, 32} {
		for _, v := range []int{0, 1} {
			for _, aad := range []string{"", "prod"} {
				for _, n := range []int{0, 15, 16, 17} {
					k := key(ks, 0)
					plain := bytes.Repeat([]byte{0x5a}, n)
					g.add(fmt.Sprintf("encrypt_aes%d_v%d_aad%d_len%d", ks*8, v, len(aad), n), "encrypt", "memberlist encryptPayload",
						wire.EncryptPayload(byte(v), k, g.nextNonce(), plain, []byte(aad)),
						map[string]any{"key": b64(k)[0], "version": v, "aad": hex.EncodeToString([]byte(aad)), "plain": hex.EncodeToString(plain)})
				}
			}
		}
	}
	return g.out
}

func pattern(name string, n int) []byte {
	out := make([]byte, n)
	x := uint32(1)
	for i := range out {
		switch name {
		case "mod256":
			out[i] = byte(i)
		case "lcg":
			x = x*1103515245 + 12345
			out[i] = byte(x >> 16)
		}
	}
	return out
}
