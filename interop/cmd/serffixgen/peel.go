package main

// Peeling recorded memberlist traffic down to the Serf payloads it carries.

import (
	"bytes"
	"encoding/binary"

	"github.com/memberlist-interop/interop/internal/wire"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

// fromPacket opens a datagram (encryption, CRC, compression, compound) and collects
// the Serf payloads of its messages.
func fromPacket(buf []byte, keys [][]byte) []payload {
	plain, _, err := wire.DecryptPayload(keys, buf, nil)
	if err != nil {
		return nil
	}
	var out []payload
	walkPacket(plain, &out)
	return out
}

func walkPacket(buf []byte, out *[]payload) {
	if len(buf) == 0 {
		return
	}
	switch buf[0] {
	case wire.HasCrcMsg:
		if len(buf) >= 5 {
			walkPacket(buf[5:], out)
		}
	case wire.CompressMsg:
		var c wire.Compress
		if wire.DecodeBody(buf[1:], &c) == nil {
			if plain, err := wire.LZWDecompress(c.Buf); err == nil {
				walkPacket(plain, out)
			}
		}
	case wire.CompoundMsg:
		if len(buf) < 2 || len(buf) < 2+2*int(buf[1]) {
			return
		}
		n := int(buf[1])
		rest := buf[2+2*n:]
		for i := 0; i < n; i++ {
			l := int(binary.BigEndian.Uint16(buf[2+2*i:]))
			if len(rest) < l {
				return
			}
			walkPacket(rest[:l], out)
			rest = rest[l:]
		}
	case wire.UserMsg:
		m := append([]byte{}, buf[1:]...)
		*out = append(*out, payload{"message", serfShape(m), m})
	case wire.AliveMsg:
		var a wire.Alive
		if wire.DecodeBody(buf[1:], &a) == nil && len(a.Meta) > 0 {
			*out = append(*out, payload{"tags", "alive_tags", a.Meta})
		}
	case wire.AckRespMsg:
		var a wire.AckResp
		if wire.DecodeBody(buf[1:], &a) == nil && len(a.Payload) > 0 {
			*out = append(*out, payload{"ping_payload", "ack_coordinate", a.Payload})
		}
	}
}

// fromStream opens what one side wrote on a connection and collects the Serf state
// and node tags of a push/pull.
func fromStream(buf []byte, keys [][]byte) []payload {
	if len(buf) < 5 || buf[0] != wire.EncryptMsg {
		return nil
	}
	l := int(binary.BigEndian.Uint32(buf[1:5]))
	if len(buf) < 5+l {
		return nil
	}
	plain, _, err := wire.DecryptPayload(keys, buf[5:5+l], buf[:5])
	if err != nil {
		return nil
	}
	if len(plain) > 0 && plain[0] == wire.CompressMsg {
		var c wire.Compress
		if wire.DecodeBody(plain[1:], &c) != nil {
			return nil
		}
		if plain, err = wire.LZWDecompress(c.Buf); err != nil {
			return nil
		}
	}
	if len(plain) == 0 || plain[0] != wire.PushPullMsg {
		return nil
	}
	r := bytes.NewReader(plain[1:])
	dec := codec.NewDecoder(r, &codec.MsgpackHandle{})
	var h wire.PushPullHeader
	if dec.Decode(&h) != nil || h.Nodes < 0 || h.Nodes > 64 {
		return nil
	}
	var out []payload
	for i := 0; i < h.Nodes; i++ {
		var n wire.PushNodeState
		if dec.Decode(&n) != nil {
			return nil
		}
		if len(n.Meta) > 0 {
			out = append(out, payload{"tags", "push_node_tags", n.Meta})
		}
	}
	if h.UserStateLen > 0 && r.Len() >= h.UserStateLen {
		us := make([]byte, h.UserStateLen)
		r.Read(us)
		out = append(out, payload{"message", serfShape(us), us})
	}
	return out
}
