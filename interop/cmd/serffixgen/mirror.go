package main

// Mirrors of serf's unexported message structs (same field names and Go types, so
// go-msgpack encodes them identically), and the encoders serf uses: the handle of
// encodeMessage (TimeNotBuiltin, serf's default), the plain handle of tags, filters
// and the relay header, and go-msgpack 0.5.5 for the older generation that Debian's
// serf 0.9.4 and serf <= v0.10.1 speak.

import (
	"bytes"
	"net"
	"time"

	"github.com/hashicorp/serf/serf"

	oldcodec "github.com/hashicorp/go-msgpack/codec"
	"github.com/hashicorp/go-msgpack/v2/codec"
)

const (
	tLeave byte = iota
	tJoin
	tPushPull
	tUserEvent
	tQuery
	tQueryResponse
	tConflictResponse
	tKeyRequest
	tKeyResponse
	tRelay
)

var typeNames = map[byte]string{
	tLeave: "leave", tJoin: "join", tPushPull: "push_pull", tUserEvent: "user_event",
	tQuery: "query", tQueryResponse: "query_response", tConflictResponse: "conflict_response",
	tKeyRequest: "key_request", tKeyResponse: "key_response", tRelay: "relay",
}

type mLeave struct {
	LTime serf.LamportTime
	Node  string
	Prune bool
}

type mJoin struct {
	LTime serf.LamportTime
	Node  string
}

type mUserEvent struct {
	LTime   serf.LamportTime
	Name    string
	Payload []byte
	CC      bool
}

type mBufferedEvent struct {
	Name    string
	Payload []byte
}

type mEventSlot struct {
	LTime  serf.LamportTime
	Events []mBufferedEvent
}

type mPushPull struct {
	LTime        serf.LamportTime
	StatusLTimes map[string]serf.LamportTime
	LeftMembers  []string
	EventLTime   serf.LamportTime
	Events       []*mEventSlot
	QueryLTime   serf.LamportTime
}

type mQuery struct {
	LTime       serf.LamportTime
	ID          uint32
	Addr        []byte
	Port        uint16
	SourceNode  string
	Filters     [][]byte
	Flags       uint32
	RelayFactor uint8
	Timeout     time.Duration
	Name        string
	Payload     []byte
}

type mQueryResponse struct {
	LTime   serf.LamportTime
	ID      uint32
	From    string
	Flags   uint32
	Payload []byte
}

type mFilterTag struct {
	Tag  string
	Expr string
}

type mKeyRequest struct {
	Key []byte
}

type mKeyResponse struct {
	Result     bool
	Message    string
	Keys       []string
	PrimaryKey string
}

type mRelayHeader struct {
	DestAddr net.UDPAddr
	DestName string
}

// codecGen selects the go-msgpack generation and whether maps are written sorted
// (v2's Canonical; serf never sets it, we use it to describe the bytes independently
// of Go's map order).
type codecGen struct {
	old       bool
	canonical bool
}

var (
	v2     = codecGen{}
	v2Sort = codecGen{canonical: true}
	v05    = codecGen{old: true}
)

func (g codecGen) encode(v any, timeNotBuiltin bool) []byte {
	var buf bytes.Buffer
	if g.old {
		// go-msgpack 0.5 has no Canonical option; serf never sorted anyway.
		if err := oldcodec.NewEncoder(&buf, &oldcodec.MsgpackHandle{}).Encode(v); err != nil {
			panic(err)
		}
		return buf.Bytes()
	}
	h := &codec.MsgpackHandle{}
	h.TimeNotBuiltin = timeNotBuiltin
	h.Canonical = g.canonical
	if err := codec.NewEncoder(&buf, h).Encode(v); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// message is encodeMessage: type byte + body with serf's default handle.
func (g codecGen) message(t byte, v any) []byte {
	return append([]byte{t}, g.encode(v, true)...)
}

// relay is encodeRelayMessage: relay byte, header, inner type byte, inner body.
func (g codecGen) relay(h mRelayHeader, inner byte, v any) []byte {
	out := append([]byte{tRelay}, g.encode(h, false)...)
	out = append(out, inner)
	return append(out, g.encode(v, false)...)
}

// tags is encodeTags for Serf protocol >= 3.
func (g codecGen) tags(t map[string]string) []byte {
	return append([]byte{0xff}, g.encode(t, false)...)
}

// filter is encodeFilter.
func (g codecGen) filter(t byte, v any) []byte {
	return append([]byte{t}, g.encode(v, false)...)
}

// pingPayload is the ping delegate's AckPayload.
func (g codecGen) pingPayload(c any) []byte {
	return append([]byte{1}, g.encode(c, true)...)
}

func decodeV2(buf []byte, out any) error {
	return codec.NewDecoder(bytes.NewReader(buf), &codec.MsgpackHandle{}).Decode(out)
}
