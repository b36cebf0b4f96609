package main

// A Go-side decoder of memberlist traffic, built from Go's standard library and
// go-msgpack, that turns bytes into the sidecar description of fixtures/README.md.
// It describes the bytes recorded from real nodes and checks the bytes Rust wrote.

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"reflect"

	"github.com/memberlist-interop/interop/internal/wire"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

// jsonFields renders a struct with Go's field names: []byte as hex (nil → null).
func jsonFields(v any) map[string]any {
	rv := reflect.Indirect(reflect.ValueOf(v))
	out := map[string]any{}
	for i := 0; i < rv.NumField(); i++ {
		f := rv.Field(i)
		name := rv.Type().Field(i).Name
		switch f.Kind() {
		case reflect.Slice:
			if f.IsNil() {
				out[name] = nil
			} else {
				out[name] = hex.EncodeToString(f.Bytes())
			}
		case reflect.String:
			out[name] = f.String()
		case reflect.Bool:
			out[name] = f.Bool()
		case reflect.Int:
			out[name] = f.Int()
		default:
			out[name] = f.Uint()
		}
	}
	return out
}

// describeMessage describes one packet-level message (type byte + body).
func describeMessage(buf []byte, layers []string) (map[string]any, error) {
	if len(buf) == 0 {
		return nil, fmt.Errorf("missing message type byte")
	}
	m := map[string]any{"type": wire.TypeNames[buf[0]]}
	if layers != nil {
		m["layers"] = append([]string{}, layers...)
	}
	if buf[0] == wire.UserMsg {
		m["payload"] = hex.EncodeToString(buf[1:])
		return m, nil
	}
	v, err := wire.NewStruct(buf[0])
	if err != nil {
		return nil, err
	}
	if err := wire.DecodeBody(buf[1:], v); err != nil {
		return nil, err
	}
	m["fields"] = jsonFields(v)
	return m, nil
}

type packetInfo struct {
	label    string
	keyIndex int
	version  int // -1 when not encrypted
	layers   []string
	messages []map[string]any
}

// describePacket peels a UDP payload the way memberlist's ingestPacket does.
func describePacket(buf []byte, keys [][]byte) (*packetInfo, error) {
	info := &packetInfo{version: -1, keyIndex: -1, messages: []map[string]any{}}
	var layers []string
	if len(buf) > 0 && buf[0] == wire.HasLabelMsg {
		if len(buf) < 2 || buf[1] == 0 || len(buf) < 2+int(buf[1]) {
			return nil, fmt.Errorf("bad label header")
		}
		info.label = string(buf[2 : 2+int(buf[1])])
		buf = buf[2+int(buf[1]):]
		layers = append(layers, "has_label")
	}
	if len(keys) > 0 {
		plain, idx, err := wire.DecryptPayload(keys, buf, []byte(info.label))
		if err != nil {
			return nil, err
		}
		info.version = int(buf[0])
		info.keyIndex = idx
		buf = plain
		layers = append(layers, "encrypt")
	}
	if len(buf) >= 5 && buf[0] == wire.HasCrcMsg {
		if crc32.ChecksumIEEE(buf[5:]) != binary.BigEndian.Uint32(buf[1:5]) {
			return nil, fmt.Errorf("invalid checksum")
		}
		buf = buf[5:]
		layers = append(layers, "has_crc")
	}
	info.layers = append([]string{}, layers...)
	if err := walk(buf, layers, &info.messages, &info.layers); err != nil {
		return nil, err
	}
	return info, nil
}

// walk dispatches compound and compress recursively, like handleCommand.
func walk(buf []byte, layers []string, out *[]map[string]any, top *[]string) error {
	if len(buf) == 0 {
		return fmt.Errorf("missing message type byte")
	}
	grow := func(l string) []string {
		if len(*out) == 0 && len(*top) == len(layers) {
			*top = append(*top, l)
		}
		return append(append([]string{}, layers...), l)
	}
	switch buf[0] {
	case wire.CompoundMsg:
		inner := grow("compound")
		if len(buf) < 2 {
			return fmt.Errorf("missing compound length byte")
		}
		n := int(buf[1])
		rest := buf[2:]
		if len(rest) < 2*n {
			return fmt.Errorf("truncated len slice")
		}
		lens := rest[:2*n]
		rest = rest[2*n:]
		for i := 0; i < n; i++ {
			l := int(binary.BigEndian.Uint16(lens[2*i:]))
			if len(rest) < l {
				return fmt.Errorf("compound part %d truncated", i)
			}
			if err := walk(rest[:l], inner, out, top); err != nil {
				return err
			}
			rest = rest[l:]
		}
		return nil
	case wire.CompressMsg:
		inner := grow("compress")
		var c wire.Compress
		if err := wire.DecodeBody(buf[1:], &c); err != nil {
			return err
		}
		if c.Algo != 0 {
			return fmt.Errorf("cannot decompress unknown algorithm %d", c.Algo)
		}
		plain, err := wire.LZWDecompress(c.Buf)
		if err != nil {
			return err
		}
		return walk(plain, inner, out, top)
	}
	m, err := describeMessage(buf, append([]string{}, layers...))
	if err != nil {
		return err
	}
	*out = append(*out, m)
	return nil
}

type streamInfo struct {
	label    string
	keyIndex int
	version  int
	layers   []string
	message  map[string]any
}

// describeStream reads what one side wrote on a connection (readStream's order).
func describeStream(buf []byte, dialer bool, label string, keys [][]byte) (*streamInfo, error) {
	info := &streamInfo{version: -1, keyIndex: -1}
	if dialer && len(buf) > 0 && buf[0] == wire.HasLabelMsg {
		if len(buf) < 2 || buf[1] == 0 || len(buf) < 2+int(buf[1]) {
			return nil, fmt.Errorf("bad label header")
		}
		info.label = string(buf[2 : 2+int(buf[1])])
		buf = buf[2+int(buf[1]):]
		info.layers = append(info.layers, "has_label")
		label = info.label
	}
	if len(buf) == 0 {
		return nil, fmt.Errorf("empty stream")
	}
	if buf[0] == wire.EncryptMsg {
		if len(buf) < 5 {
			return nil, fmt.Errorf("truncated encrypted frame")
		}
		l := int(binary.BigEndian.Uint32(buf[1:5]))
		if len(buf) < 5+l {
			return nil, fmt.Errorf("truncated encrypted frame")
		}
		aad := append(append([]byte{}, buf[:5]...), label...)
		plain, idx, err := wire.DecryptPayload(keys, buf[5:5+l], aad)
		if err != nil {
			return nil, err
		}
		info.version = int(buf[5])
		info.keyIndex = idx
		info.layers = append(info.layers, "encrypt")
		buf = plain
	}
	if len(buf) > 0 && buf[0] == wire.CompressMsg {
		var c wire.Compress
		if err := wire.DecodeBody(buf[1:], &c); err != nil {
			return nil, err
		}
		plain, err := wire.LZWDecompress(c.Buf)
		if err != nil {
			return nil, err
		}
		if len(plain) == 0 {
			return nil, fmt.Errorf("decompressed message is empty")
		}
		info.layers = append(info.layers, "compress")
		buf = plain
	}
	if len(buf) == 0 {
		return nil, fmt.Errorf("missing message type")
	}
	r := bytes.NewReader(buf[1:])
	dec := codec.NewDecoder(r, &codec.MsgpackHandle{})
	m := map[string]any{"type": wire.TypeNames[buf[0]]}
	switch buf[0] {
	case wire.PushPullMsg:
		var h wire.PushPullHeader
		if err := dec.Decode(&h); err != nil {
			return nil, err
		}
		if h.Nodes < 0 || h.Nodes > wire.MaxPushNodes || h.UserStateLen < 0 || h.UserStateLen > wire.MaxUserState {
			return nil, fmt.Errorf("push/pull header out of limits")
		}
		nodes := []any{}
		for i := 0; i < h.Nodes; i++ {
			var n wire.PushNodeState
			if err := dec.Decode(&n); err != nil {
				return nil, err
			}
			nodes = append(nodes, jsonFields(&n))
		}
		if r.Len() < h.UserStateLen {
			return nil, fmt.Errorf("truncated user state")
		}
		us := make([]byte, h.UserStateLen)
		r.Read(us)
		m["fields"], m["nodes"], m["user_state"] = jsonFields(&h), nodes, hex.EncodeToString(us)
	case wire.UserMsg:
		var h wire.UserMsgHeader
		if err := dec.Decode(&h); err != nil {
			return nil, err
		}
		if h.UserMsgLen < 0 || h.UserMsgLen > wire.MaxUserMsg || r.Len() < h.UserMsgLen {
			return nil, fmt.Errorf("bad user message length %d", h.UserMsgLen)
		}
		p := make([]byte, h.UserMsgLen)
		r.Read(p)
		m["fields"], m["payload"] = jsonFields(&h), hex.EncodeToString(p)
	default:
		v, err := wire.NewStruct(buf[0])
		if err != nil {
			return nil, err
		}
		if err := dec.Decode(v); err != nil {
			return nil, err
		}
		m["fields"] = jsonFields(v)
	}
	info.message = m
	return info, nil
}
