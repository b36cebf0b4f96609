package main

// memberlist callbacks: node meta and user messages (Delegate), membership changes
// (EventDelegate). Both report to stdout.

import (
	"encoding/base64"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/memberlist"
)

type delegate struct {
	out    *output
	metaMu sync.Mutex
	meta   []byte
	queue  memberlist.TransmitLimitedQueue // user broadcasts
	node   atomic.Pointer[memberlist.Memberlist]
}

func newDelegate(out *output, meta []byte, retransmitMult int) *delegate {
	d := &delegate{out: out, meta: meta}
	d.queue.RetransmitMult = retransmitMult
	// The queue sizes retransmissions by the cluster size; memberlist calls the
	// delegate before Create returns, when the node is not known yet.
	d.queue.NumNodes = func() int {
		if m := d.node.Load(); m != nil {
			return m.NumMembers()
		}
		return 1
	}
	return d
}

func (d *delegate) NodeMeta(limit int) []byte {
	d.metaMu.Lock()
	defer d.metaMu.Unlock()
	return d.meta
}

func (d *delegate) setMeta(meta []byte) {
	d.metaMu.Lock()
	defer d.metaMu.Unlock()
	d.meta = meta
}

// NotifyMsg reports a user message. memberlist does not say who sent it. The payload
// is given as text and, exactly, in base64.
func (d *delegate) NotifyMsg(msg []byte) {
	d.out.emit(event{
		"event":       "msg",
		"payload":     string(msg),
		"payload_b64": base64.StdEncoding.EncodeToString(msg),
	})
}

func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.queue.GetBroadcasts(overhead, limit)
}

func (d *delegate) LocalState(join bool) []byte            { return nil }
func (d *delegate) MergeRemoteState(buf []byte, join bool) {}

// userBroadcast is one payload queued with broadcast; none replaces another.
type userBroadcast []byte

func (b userBroadcast) Invalidates(memberlist.Broadcast) bool { return false }
func (b userBroadcast) Message() []byte                       { return b }
func (b userBroadcast) Finished()                             {}

type events struct{ out *output }

func (e events) report(kind string, n *memberlist.Node) {
	v := viewOf(stateOf(n))
	e.out.emit(event{
		"event": kind, "name": v.Name, "addr": v.Addr, "meta": v.Meta,
		"state": v.State, "incarnation": v.Incarnation, "vsn": v.Vsn,
	})
}

func (e events) NotifyJoin(n *memberlist.Node)   { e.report("join", n) }
func (e events) NotifyLeave(n *memberlist.Node)  { e.report("leave", n) }
func (e events) NotifyUpdate(n *memberlist.Node) { e.report("update", n) }
