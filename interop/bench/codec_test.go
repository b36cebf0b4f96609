// Package bench measures Go's cost for the cases benches/codec.rs measures on the Rust
// side, under the same names, so scripts/bench-vs-go can pair them. Every case runs the
// code path memberlist v0.7.0 runs: go-msgpack v2 with a fresh default handle per
// encode/decode, compress/lzw, AES-GCM with a crypto/rand nonce.
//
//	go test -run '^$' -bench . -benchmem ./bench
package bench

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/hashicorp/go-msgpack/v2/codec"

	"github.com/memberlist-interop/interop/internal/wire"
)

// vsn is the version vector a v0.7.0 node advertises.
var vsn = []byte{1, 5, 2, 0, 0, 0}

var (
	benchPing  = &wire.Ping{SeqNo: 1234, Node: "node-b", SourceAddr: []byte{10, 0, 0, 1}, SourcePort: 7946, SourceNode: "node-a"}
	benchAlive = &wire.Alive{Incarnation: 7, Node: "node-1", Addr: []byte{10, 0, 0, 1}, Port: 7946, Meta: bytes.Repeat([]byte("m"), 100), Vsn: vsn}
	benchKey   = bytes.Repeat([]byte{7}, 16)
	benchLabel = "prod"
)

// broadcasts are eight encoded gossip messages: alives with 20-byte meta, a suspect and
// a dead in every four.
func broadcasts() [][]byte {
	var out [][]byte
	for i := 0; i < 8; i++ {
		name := fmt.Sprintf("node-%d", i)
		switch i % 4 {
		case 3:
			out = append(out, wire.Encode(wire.SuspectMsg, &wire.Suspect{Incarnation: 3, Node: name, From: "node-a"}))
		case 2:
			out = append(out, wire.Encode(wire.DeadMsg, &wire.Dead{Incarnation: 3, Node: name, From: "node-a"}))
		default:
			out = append(out, wire.Encode(wire.AliveMsg, &wire.Alive{Incarnation: 7, Node: name, Addr: []byte{10, 0, 0, byte(i)}, Port: 7946, Meta: bytes.Repeat([]byte("m"), 20), Vsn: vsn}))
		}
	}
	return out
}

func nodeStates(n int) []wire.PushNodeState {
	nodes := make([]wire.PushNodeState, n)
	for i := range nodes {
		nodes[i] = wire.PushNodeState{Name: fmt.Sprintf("node-%d", i), Addr: []byte{10, 0, byte(i >> 8), byte(i)}, Port: 7946, Meta: []byte("role=web,dc=dc1"), Incarnation: uint32(i), Vsn: vsn}
	}
	return nodes
}

// sealedPacket is rawSendMsgPacket with compression and encryption on (no CRC, as for a
// peer below protocol 5), then the label header the labelled transport adds.
func sealedPacket(msgs [][]byte) []byte {
	buf := wire.MakeCompound(msgs)
	if c := wire.CompressPayload(buf); len(c) < len(buf) {
		buf = c
	}
	nonce := make([]byte, 12)
	if _, err := rand.Read(nonce); err != nil {
		panic(err)
	}
	return append(wire.LabelHeader(benchLabel), wire.EncryptPayload(1, benchKey, nonce, buf, []byte(benchLabel))...)
}

// pushPullFrame is sendLocalState without compression or encryption: one encoder over
// one buffer for the header and every node state, then the (empty) user state.
func pushPullFrame(nodes []wire.PushNodeState) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte(wire.PushPullMsg)
	enc := codec.NewEncoder(&buf, &codec.MsgpackHandle{})
	if err := enc.Encode(&wire.PushPullHeader{Nodes: len(nodes)}); err != nil {
		return nil, err
	}
	for i := range nodes {
		if err := enc.Encode(&nodes[i]); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

func BenchmarkEncode(b *testing.B) {
	b8 := broadcasts()
	nodes := nodeStates(1000)
	b.Run("ping", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			wire.Encode(wire.PingMsg, benchPing)
		}
	})
	b.Run("alive_meta100", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			wire.Encode(wire.AliveMsg, benchAlive)
		}
	})
	b.Run("compound8", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			wire.MakeCompound(b8)
		}
	})
	b.Run("compressed_encrypted", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			sealedPacket(b8)
		}
	})
	b.Run("pushpull1000", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := pushPullFrame(nodes); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// ingest is ingestPacket's path for a labelled packet: strip the label, decrypt with the
// label as AAD, then handleCommand.
func ingest(buf []byte, keys [][]byte) error {
	if len(buf) < 2 || buf[0] != wire.HasLabelMsg || string(buf[2:2+int(buf[1])]) != benchLabel {
		return fmt.Errorf("missing label %q", benchLabel)
	}
	plain, _, err := wire.DecryptPayload(keys, buf[2+int(buf[1]):], []byte(benchLabel))
	if err != nil {
		return err
	}
	return handle(plain)
}

// handle is handleCommand: compound and compress recurse, the rest decode into structs.
func handle(buf []byte) error {
	if len(buf) == 0 {
		return fmt.Errorf("missing message type byte")
	}
	switch buf[0] {
	case wire.CompoundMsg:
		if len(buf) < 2 || len(buf) < 2+2*int(buf[1]) {
			return fmt.Errorf("truncated compound header")
		}
		n := int(buf[1])
		lens := buf[2 : 2+2*n]
		rest := buf[2+2*n:]
		for i := 0; i < n; i++ {
			l := int(binary.BigEndian.Uint16(lens[2*i:]))
			if len(rest) < l {
				return fmt.Errorf("truncated compound part")
			}
			if err := handle(rest[:l]); err != nil {
				return err
			}
			rest = rest[l:]
		}
		return nil
	case wire.CompressMsg:
		var c wire.Compress
		if err := wire.DecodeBody(buf[1:], &c); err != nil {
			return err
		}
		plain, err := wire.LZWDecompress(c.Buf)
		if err != nil {
			return err
		}
		return handle(plain)
	}
	v, err := wire.NewStruct(buf[0])
	if err != nil {
		return err
	}
	return wire.DecodeBody(buf[1:], v)
}

// readRemoteState is memberlist's: one decoder over the stream for header and nodes.
func readRemoteState(frame []byte) ([]wire.PushNodeState, error) {
	dec := codec.NewDecoder(bytes.NewReader(frame[1:]), &codec.MsgpackHandle{})
	var h wire.PushPullHeader
	if err := dec.Decode(&h); err != nil {
		return nil, err
	}
	if h.Nodes < 0 || h.Nodes > wire.MaxPushNodes {
		return nil, fmt.Errorf("bad node count %d", h.Nodes)
	}
	states := make([]wire.PushNodeState, h.Nodes)
	for j := range states {
		if err := dec.Decode(&states[j]); err != nil {
			return nil, err
		}
	}
	return states, nil
}

func BenchmarkDecode(b *testing.B) {
	b8 := broadcasts()
	pingB := wire.Encode(wire.PingMsg, benchPing)
	aliveB := wire.Encode(wire.AliveMsg, benchAlive)
	c8 := wire.MakeCompound(b8)
	sealed := sealedPacket(b8)
	frame, err := pushPullFrame(nodeStates(1000))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("ping", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			var p wire.Ping
			if err := wire.DecodeBody(pingB[1:], &p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("alive_meta100", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			var a wire.Alive
			if err := wire.DecodeBody(aliveB[1:], &a); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("compound8", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if err := handle(c8); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("compressed_encrypted", func(b *testing.B) {
		keys := [][]byte{benchKey}
		for i := 0; i < b.N; i++ {
			if err := ingest(sealed, keys); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("pushpull1000", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			states, err := readRemoteState(frame)
			if err != nil || len(states) != 1000 {
				b.Fatalf("decoded %d node states: %v", len(states), err)
			}
		}
	})
}
