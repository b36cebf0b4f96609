package main

// The sidecar description of Serf bytes, decoded by go-msgpack into the mirror
// structs: Go field names, strings as text, []byte as lowercase hex (nil -> null),
// maps as objects. The Rust side (src/serf/json.rs, `message`) renders the same.

import (
	"bytes"
	"encoding/hex"
	"fmt"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/serf/coordinate"
	"github.com/hashicorp/serf/serf"
)

func hx(b []byte) any {
	if b == nil {
		return nil
	}
	return hex.EncodeToString(b)
}

func strs(v []string) any {
	if v == nil {
		return nil
	}
	out := []any{}
	for _, s := range v {
		out = append(out, s)
	}
	return out
}

func tagsJSON(t map[string]string) any {
	if t == nil {
		return nil
	}
	out := map[string]any{}
	for k, v := range t {
		out[k] = v
	}
	return out
}

func coordJSON(c *coordinate.Coordinate) map[string]any {
	var vec any
	if c.Vec != nil {
		vec = c.Vec
	}
	return map[string]any{"Vec": vec, "Error": c.Error, "Adjustment": c.Adjustment, "Height": c.Height}
}

func memberJSON(m *serf.Member) any {
	if m == nil {
		return nil
	}
	return map[string]any{
		"Name": m.Name, "Addr": hx(m.Addr), "Port": m.Port, "Tags": tagsJSON(m.Tags),
		"Status": int(m.Status), "ProtocolMin": m.ProtocolMin, "ProtocolMax": m.ProtocolMax,
		"ProtocolCur": m.ProtocolCur, "DelegateMin": m.DelegateMin, "DelegateMax": m.DelegateMax,
		"DelegateCur": m.DelegateCur,
	}
}

// describeSerf decodes one Serf message (type byte + msgpack) into {type, fields}.
func describeSerf(buf []byte) (map[string]any, error) {
	if len(buf) == 0 {
		return nil, fmt.Errorf("missing serf message type")
	}
	body := buf[1:]
	var f any
	switch buf[0] {
	case tLeave:
		var m mLeave
		if err := decodeV2(body, &m); err != nil {
			return nil, err
		}
		f = map[string]any{"LTime": m.LTime, "Node": m.Node, "Prune": m.Prune}
	case tJoin:
		var m mJoin
		if err := decodeV2(body, &m); err != nil {
			return nil, err
		}
		f = map[string]any{"LTime": m.LTime, "Node": m.Node}
	case tUserEvent:
		var m mUserEvent
		if err := decodeV2(body, &m); err != nil {
			return nil, err
		}
		f = map[string]any{"LTime": m.LTime, "Name": m.Name, "Payload": hx(m.Payload), "CC": m.CC}
	case tPushPull:
		var m mPushPull
		if err := decodeV2(body, &m); err != nil {
			return nil, err
		}
		var status, events any
		if m.StatusLTimes != nil {
			st := map[string]any{}
			for k, v := range m.StatusLTimes {
				st[k] = v
			}
			status = st
		}
		if m.Events != nil {
			evs := []any{}
			for _, e := range m.Events {
				if e == nil {
					evs = append(evs, nil)
					continue
				}
				var items any
				if e.Events != nil {
					l := []any{}
					for _, x := range e.Events {
						l = append(l, map[string]any{"Name": x.Name, "Payload": hx(x.Payload)})
					}
					items = l
				}
				evs = append(evs, map[string]any{"LTime": e.LTime, "Events": items})
			}
			events = evs
		}
		f = map[string]any{"LTime": m.LTime, "StatusLTimes": status, "LeftMembers": strs(m.LeftMembers),
			"EventLTime": m.EventLTime, "Events": events, "QueryLTime": m.QueryLTime}
	case tQuery:
		var m mQuery
		if err := decodeV2(body, &m); err != nil {
			return nil, err
		}
		var filters any
		if m.Filters != nil {
			l := []any{}
			for _, x := range m.Filters {
				l = append(l, hex.EncodeToString(x))
			}
			filters = l
		}
		f = map[string]any{"LTime": m.LTime, "ID": m.ID, "Addr": hx(m.Addr), "Port": m.Port,
			"SourceNode": m.SourceNode, "Filters": filters, "Flags": m.Flags, "RelayFactor": m.RelayFactor,
			"Timeout": int64(m.Timeout), "Name": m.Name, "Payload": hx(m.Payload)}
	case tQueryResponse:
		var m mQueryResponse
		if err := decodeV2(body, &m); err != nil {
			return nil, err
		}
		f = map[string]any{"LTime": m.LTime, "ID": m.ID, "From": m.From, "Flags": m.Flags, "Payload": hx(m.Payload)}
	case tConflictResponse:
		var m *serf.Member
		if err := decodeV2(body, &m); err != nil {
			return nil, err
		}
		f = memberJSON(m)
	case tKeyRequest:
		var m mKeyRequest
		if err := decodeV2(body, &m); err != nil {
			return nil, err
		}
		f = map[string]any{"Key": hx(m.Key)}
	case tKeyResponse:
		var m mKeyResponse
		if err := decodeV2(body, &m); err != nil {
			return nil, err
		}
		f = map[string]any{"Result": m.Result, "Message": m.Message, "Keys": strs(m.Keys), "PrimaryKey": m.PrimaryKey}
	case tRelay:
		// As serf's relay handler: one decoder for the header, the rest is the message.
		var h mRelayHeader
		r := bytes.NewReader(body)
		if err := codec.NewDecoder(r, &codec.MsgpackHandle{}).Decode(&h); err != nil {
			return nil, err
		}
		rest := make([]byte, r.Len())
		r.Read(rest)
		f = map[string]any{
			"DestAddr": map[string]any{"IP": hx(h.DestAddr.IP), "Port": h.DestAddr.Port, "Zone": h.DestAddr.Zone},
			"DestName": h.DestName, "Message": hex.EncodeToString(rest),
		}
	default:
		return nil, fmt.Errorf("unknown serf message type %d", buf[0])
	}
	return map[string]any{"type": typeNames[buf[0]], "fields": f}, nil
}

// describeTags is decodeTags for protocol >= 3 meta, refusing what it would only log.
func describeTags(meta []byte) (any, error) {
	if len(meta) == 0 || meta[0] != 0xff {
		return nil, fmt.Errorf("meta without the tag magic byte")
	}
	tags := map[string]string{}
	if err := decodeV2(meta[1:], &tags); err != nil {
		return nil, err
	}
	return tagsJSON(tags), nil
}

// describePingPayload is NotifyPingComplete's decoding of an ack payload.
func describePingPayload(p []byte) (any, error) {
	if len(p) == 0 || p[0] != 1 {
		return nil, fmt.Errorf("not a version 1 ping payload")
	}
	var c coordinate.Coordinate
	if err := decodeV2(p[1:], &c); err != nil {
		return nil, err
	}
	return coordJSON(&c), nil
}

// describeFilter is shouldProcessQuery's decoding of one filter.
func describeFilter(f []byte) (any, error) {
	if len(f) == 0 {
		return nil, fmt.Errorf("empty filter")
	}
	switch f[0] {
	case 0:
		var nodes []string
		if err := decodeV2(f[1:], &nodes); err != nil {
			return nil, err
		}
		return map[string]any{"Nodes": strs(nodes)}, nil
	case 1:
		var t mFilterTag
		if err := decodeV2(f[1:], &t); err != nil {
			return nil, err
		}
		return map[string]any{"Tag": t.Tag, "Expr": t.Expr}, nil
	}
	return nil, fmt.Errorf("unknown filter type %d", f[0])
}
