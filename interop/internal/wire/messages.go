// Package wire mirrors memberlist v0.7.0's wire format with go-msgpack v2 and Go's
// standard library, so that the fixture generator, the verifier and the benchmarks
// all produce and read bytes the way memberlist itself does.
package wire

import (
	"bytes"
	"fmt"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

// Message type bytes, memberlist's messageType constants.
const (
	PingMsg         = 0
	IndirectPingMsg = 1
	AckRespMsg      = 2
	SuspectMsg      = 3
	AliveMsg        = 4
	DeadMsg         = 5
	PushPullMsg     = 6
	CompoundMsg     = 7
	UserMsg         = 8
	CompressMsg     = 9
	EncryptMsg      = 10
	NackRespMsg     = 11
	HasCrcMsg       = 12
	ErrMsg          = 13
	HasLabelMsg     = 244
)

// TypeNames gives the fixture schema's snake-case name of each message type.
var TypeNames = map[byte]string{
	PingMsg: "ping", IndirectPingMsg: "indirect_ping", AckRespMsg: "ack_resp",
	SuspectMsg: "suspect", AliveMsg: "alive", DeadMsg: "dead", PushPullMsg: "push_pull",
	CompoundMsg: "compound", UserMsg: "user", CompressMsg: "compress", EncryptMsg: "encrypt",
	NackRespMsg: "nack_resp", HasCrcMsg: "has_crc", ErrMsg: "err", HasLabelMsg: "has_label",
}

// The structs below mirror memberlist's unexported ones (net.go): msgpack writes field
// names and follows declaration order and tags, so these must match field for field;
// the type names themselves never reach the wire.

// Ping mirrors memberlist's ping.
type Ping struct {
	SeqNo      uint32
	Node       string
	SourceAddr []byte `codec:",omitempty"`
	SourcePort uint16 `codec:",omitempty"`
	SourceNode string `codec:",omitempty"`
}

// IndirectPingReq mirrors memberlist's indirectPingReq.
type IndirectPingReq struct {
	SeqNo      uint32
	Target     []byte
	Port       uint16
	Node       string
	Nack       bool
	SourceAddr []byte `codec:",omitempty"`
	SourcePort uint16 `codec:",omitempty"`
	SourceNode string `codec:",omitempty"`
}

// AckResp mirrors memberlist's ackResp.
type AckResp struct {
	SeqNo   uint32
	Payload []byte
}

// NackResp mirrors memberlist's nackResp.
type NackResp struct {
	SeqNo uint32
}

// ErrResp mirrors memberlist's errResp.
type ErrResp struct {
	Error string
}

// Suspect mirrors memberlist's suspect.
type Suspect struct {
	Incarnation uint32
	Node        string
	From        string
}

// Alive mirrors memberlist's alive.
type Alive struct {
	Incarnation uint32
	Node        string
	Addr        []byte
	Port        uint16
	Meta        []byte
	Vsn         []uint8
}

// Dead mirrors memberlist's dead.
type Dead struct {
	Incarnation uint32
	Node        string
	From        string
}

// PushPullHeader mirrors memberlist's pushPullHeader.
type PushPullHeader struct {
	Nodes        int
	UserStateLen int
	Join         bool
}

// UserMsgHeader mirrors memberlist's userMsgHeader.
type UserMsgHeader struct {
	UserMsgLen int
}

// PushNodeState mirrors memberlist's pushNodeState (State is NodeStateType, an int).
type PushNodeState struct {
	Name        string
	Addr        []byte
	Port        uint16
	Meta        []byte
	Incarnation uint32
	State       int
	Vsn         []uint8
}

// Compress mirrors memberlist's compress.
type Compress struct {
	Algo uint8
	Buf  []byte
}

// Body encodes one value with a fresh default handle, as memberlist's encode does.
func Body(v any) []byte {
	var buf bytes.Buffer
	if err := codec.NewEncoder(&buf, &codec.MsgpackHandle{}).Encode(v); err != nil {
		panic(fmt.Sprintf("msgpack encode of %T: %v", v, err))
	}
	return buf.Bytes()
}

// Encode is memberlist's encode(): the type byte, then the msgpack body.
func Encode(t byte, v any) []byte {
	return append([]byte{t}, Body(v)...)
}

// DecodeBody is memberlist's decode(): one msgpack value into v.
func DecodeBody(body []byte, v any) error {
	return codec.NewDecoder(bytes.NewReader(body), &codec.MsgpackHandle{}).Decode(v)
}

// NewStruct returns the struct a packet message of type t decodes into; user,
// compound, compress and the other framing types have none.
func NewStruct(t byte) (any, error) {
	switch t {
	case PingMsg:
		return &Ping{}, nil
	case IndirectPingMsg:
		return &IndirectPingReq{}, nil
	case AckRespMsg:
		return &AckResp{}, nil
	case NackRespMsg:
		return &NackResp{}, nil
	case SuspectMsg:
		return &Suspect{}, nil
	case AliveMsg:
		return &Alive{}, nil
	case DeadMsg:
		return &Dead{}, nil
	case ErrMsg:
		return &ErrResp{}, nil
	}
	return nil, fmt.Errorf("message type %d has no struct here", t)
}
