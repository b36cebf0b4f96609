package main

import "github.com/memberlist-interop/interop/internal/wire"

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
	{"ping", wire.Ping{}, []field{{"SeqNo", kUint32}, {"Node", kString}, {"SourceAddr", kBytes}, {"SourcePort", kUint16}, {"SourceNode", kString}}},
	{"indirect_ping", wire.IndirectPingReq{}, []field{{"SeqNo", kUint32}, {"Target", kBytes}, {"Port", kUint16}, {"Node", kString}, {"Nack", kBool}, {"SourceAddr", kBytes}, {"SourcePort", kUint16}, {"SourceNode", kString}}},
	{"ack_resp", wire.AckResp{}, []field{{"SeqNo", kUint32}, {"Payload", kBytes}}},
	{"nack_resp", wire.NackResp{}, []field{{"SeqNo", kUint32}}},
	{"err", wire.ErrResp{}, []field{{"Error", kString}}},
	{"suspect", wire.Suspect{}, []field{{"Incarnation", kUint32}, {"Node", kString}, {"From", kString}}},
	{"alive", wire.Alive{}, []field{{"Incarnation", kUint32}, {"Node", kString}, {"Addr", kBytes}, {"Port", kUint16}, {"Meta", kBytes}, {"Vsn", kBytes}}},
	{"push_pull", wire.PushPullHeader{}, []field{{"Nodes", kInt}, {"UserStateLen", kInt}, {"Join", kBool}}},
	{"user", wire.UserMsgHeader{}, []field{{"UserMsgLen", kInt}}},
	{"push_node_state", wire.PushNodeState{}, []field{{"Name", kString}, {"Addr", kBytes}, {"Port", kUint16}, {"Meta", kBytes}, {"Incarnation", kUint32}, {"State", kInt}, {"Vsn", kBytes}}},
	{"compress", wire.Compress{}, []field{{"Algo", kUint8}, {"Buf", kBytes}}},
}
