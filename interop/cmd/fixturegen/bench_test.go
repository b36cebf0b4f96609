package main

// Go's cost for the cases benches/codec.rs measures, under the same names, using the
// code paths memberlist uses (go-msgpack v2 default handle, compress/lzw, AES-GCM).
// Run: go test -run '^$' -bench . -benchmem ./cmd/fixturegen

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

func benchBroadcasts() [][]byte {
	var out [][]byte
	for i := 0; i < 8; i++ {
		name := fmt.Sprintf("node-%d", i)
		switch i % 4 {
		case 3:
			out = append(out, encodeMsg(suspectMsg, &suspect{Incarnation: 3, Node: name, From: "node-a"}))
		case 2:
			out = append(out, encodeMsg(deadMsg, &dead{Incarnation: 3, Node: name, From: "node-a"}))
		default:
			out = append(out, encodeMsg(aliveMsg, &alive{Incarnation: 7, Node: name, Addr: []byte{10, 0, 0, byte(i)}, Port: 7946, Meta: bytes.Repeat([]byte("m"), 20), Vsn: vsn}))
		}
	}
	return out
}

func benchNodes(n int) []pushNodeState {
	nodes := make([]pushNodeState, n)
	for i := range nodes {
		nodes[i] = pushNodeState{Name: fmt.Sprintf("node-%d", i), Addr: []byte{10, 0, byte(i >> 8), byte(i)}, Port: 7946, Meta: []byte("role=web,dc=dc1"), Incarnation: uint32(i), Vsn: vsn}
	}
	return nodes
}

var (
	benchPing  = &ping{SeqNo: 1234, Node: "node-b", SourceAddr: []byte{10, 0, 0, 1}, SourcePort: 7946, SourceNode: "node-a"}
	benchAlive = &alive{Incarnation: 7, Node: "node-1", Addr: []byte{10, 0, 0, 1}, Port: 7946, Meta: bytes.Repeat([]byte("m"), 100), Vsn: vsn}
	benchKey   = bytes.Repeat([]byte{7}, 16)
)

// packetCE is what rawSendMsgPacket does with compression and encryption, plus the label.
func packetCE(msgs [][]byte) []byte {
	buf := makeCompound(msgs)
	if c := compressMsgBytes(buf); len(c) < len(buf) {
		buf = c
	}
	nonce := make([]byte, 12)
	return append(labelHeader("prod"), encryptPayload(1, benchKey, nonce, buf, []byte("prod"))...)
}

func BenchmarkEncode(b *testing.B) {
	b8 := benchBroadcasts()
	pp := benchNodes(1000)
	b.Run("ping", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			encodeMsg(pingMsg, benchPing)
		}
	})
	b.Run("alive_meta100", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			encodeMsg(aliveMsg, benchAlive)
		}
	})
	b.Run("compound8", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			makeCompound(b8)
		}
	})
	b.Run("compressed_encrypted", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			packetCE(b8)
		}
	})
	b.Run("pushpull1000", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			// sendLocalState: one encoder over a buffer for header and every node.
			var buf bytes.Buffer
			buf.WriteByte(pushPullMsg)
			enc := codec.NewEncoder(&buf, &codec.MsgpackHandle{})
			enc.Encode(&pushPullHeader{Nodes: len(pp)})
			for j := range pp {
				enc.Encode(&pp[j])
			}
		}
	})
}

// decodePacket is ingestPacket's path: label, decrypt, CRC, compress, compound, decode.
func decodePacket(buf []byte, keys [][]byte) error {
	if buf[0] == hasLabelMsg {
		buf = buf[2+int(buf[1]):]
	}
	if keys != nil {
		plain, _, err := decryptPayload(keys, buf, []byte("prod"))
		if err != nil {
			return err
		}
		buf = plain
	}
	return handle(buf)
}

func handle(buf []byte) error {
	switch buf[0] {
	case compoundMsg:
		n := int(buf[1])
		lens := buf[2 : 2+2*n]
		rest := buf[2+2*n:]
		for i := 0; i < n; i++ {
			l := int(binary.BigEndian.Uint16(lens[2*i:]))
			if err := handle(rest[:l]); err != nil {
				return err
			}
			rest = rest[l:]
		}
		return nil
	case compressMsg:
		var c compress
		if err := decodeBody(buf[1:], &c); err != nil {
			return err
		}
		plain, err := lzwDecompress(c.Buf)
		if err != nil {
			return err
		}
		return handle(plain)
	}
	v, err := newStruct(buf[0])
	if err != nil {
		return err
	}
	return decodeBody(buf[1:], v)
}

func BenchmarkDecode(b *testing.B) {
	b8 := benchBroadcasts()
	pingB := encodeMsg(pingMsg, benchPing)
	aliveB := encodeMsg(aliveMsg, benchAlive)
	c8 := makeCompound(b8)
	ce := packetCE(b8)
	var pp bytes.Buffer
	pp.WriteByte(pushPullMsg)
	nodes := benchNodes(1000)
	pp.Write(msgpackBody(&pushPullHeader{Nodes: len(nodes)}))
	for i := range nodes {
		pp.Write(msgpackBody(&nodes[i]))
	}
	ppb := pp.Bytes()
	b.Run("ping", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			var p ping
			if err := decodeBody(pingB[1:], &p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("alive_meta100", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			var a alive
			if err := decodeBody(aliveB[1:], &a); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("compound8", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if err := decodePacket(c8, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("compressed_encrypted", func(b *testing.B) {
		keys := [][]byte{benchKey}
		for i := 0; i < b.N; i++ {
			if err := decodePacket(ce, keys); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("pushpull1000", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			// readRemoteState: one decoder over the stream for header and nodes.
			dec := codec.NewDecoder(bytes.NewReader(ppb[1:]), &codec.MsgpackHandle{})
			var h pushPullHeader
			if err := dec.Decode(&h); err != nil {
				b.Fatal(err)
			}
			states := make([]pushNodeState, h.Nodes)
			for j := range states {
				if err := dec.Decode(&states[j]); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
