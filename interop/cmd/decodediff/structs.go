package main

import (
	"bytes"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

// Mirrors of memberlist v0.7.0's wire structs (net.go, state.go): same field names,
// types, order and tags. Named integer types are kept as named types, as in memberlist.

type nodeStateType int
type compressionType uint8

type ping struct {
	SeqNo      uint32
	Node       string
	SourceAddr []byte `codec:",omitempty"`
	SourcePort uint16 `codec:",omitempty"`
	SourceNode string `codec:",omitempty"`
}

type indirectPingReq struct {
	SeqNo      uint32
	Target     []byte
	Port       uint16
	Node       string
	Nack       bool
	SourceAddr []byte `codec:",omitempty"`
	SourcePort uint16 `codec:",omitempty"`
	SourceNode string `codec:",omitempty"`
}

type ackResp struct {
	SeqNo   uint32
	Payload []byte
}

type nackResp struct {
	SeqNo uint32
}

type errResp struct {
	Error string
}

type suspect struct {
	Incarnation uint32
	Node        string
	From        string
}

type alive struct {
	Incarnation uint32
	Node        string
	Addr        []byte
	Port        uint16
	Meta        []byte
	Vsn         []uint8
}

type pushPullHeader struct {
	Nodes        int
	UserStateLen int
	Join         bool
}

type userMsgHeader struct {
	UserMsgLen int
}

type pushNodeState struct {
	Name        string
	Addr        []byte
	Port        uint16
	Meta        []byte
	Incarnation uint32
	State       nodeStateType
	Vsn         []uint8
}

type compress struct {
	Algo compressionType
	Buf  []byte
}

// decode is memberlist's util.go decode: a fresh default handle over a bytes.Reader.
func decode(buf []byte, out any) error {
	hd := codec.MsgpackHandle{}
	return codec.NewDecoder(bytes.NewReader(buf), &hd).Decode(out)
}

// What a generated field holds.
type kind int

const (
	kUint8 kind = iota
	kUint16
	kUint32
	kInt
	kBool
	kString
	kBytes
)

type field struct {
	name string
	kind kind
}

// target is one struct the corpus exercises, its fields in declaration order.
type target struct {
	name   string
	zero   any
	fields []field
}

var targets = []target{
	{"ping", ping{}, []field{{"SeqNo", kUint32}, {"Node", kString}, {"SourceAddr", kBytes}, {"SourcePort", kUint16}, {"SourceNode", kString}}},
	{"indirect_ping", indirectPingReq{}, []field{{"SeqNo", kUint32}, {"Target", kBytes}, {"Port", kUint16}, {"Node", kString}, {"Nack", kBool}, {"SourceAddr", kBytes}, {"SourcePort", kUint16}, {"SourceNode", kString}}},
	{"ack_resp", ackResp{}, []field{{"SeqNo", kUint32}, {"Payload", kBytes}}},
	{"nack_resp", nackResp{}, []field{{"SeqNo", kUint32}}},
	{"err", errResp{}, []field{{"Error", kString}}},
	{"suspect", suspect{}, []field{{"Incarnation", kUint32}, {"Node", kString}, {"From", kString}}},
	{"alive", alive{}, []field{{"Incarnation", kUint32}, {"Node", kString}, {"Addr", kBytes}, {"Port", kUint16}, {"Meta", kBytes}, {"Vsn", kBytes}}},
	{"push_pull", pushPullHeader{}, []field{{"Nodes", kInt}, {"UserStateLen", kInt}, {"Join", kBool}}},
	{"user", userMsgHeader{}, []field{{"UserMsgLen", kInt}}},
	{"push_node_state", pushNodeState{}, []field{{"Name", kString}, {"Addr", kBytes}, {"Port", kUint16}, {"Meta", kBytes}, {"Incarnation", kUint32}, {"State", kInt}, {"Vsn", kBytes}}},
	{"compress", compress{}, []field{{"Algo", kUint8}, {"Buf", kBytes}}},
}
