package main

// Reading memberlist's node table. The public API hides two things interop tests
// need: a node's incarnation, and its real state (Node.State is shadowed by the
// private nodeState.State and stays "alive" forever; Members() drops dead and left
// nodes). memberlist is pinned at v0.7.0, so we mirror its private nodeState and
// verify, before anything else runs, that the mirror matches the compiled library
// field by field; a mismatch stops the program instead of reading garbage.

import (
	"fmt"
	"net"
	"reflect"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"github.com/hashicorp/memberlist"
)

// nodeState mirrors memberlist's private per-node record.
type nodeState struct {
	memberlist.Node
	Incarnation uint32
	State       memberlist.NodeStateType
	StateChange time.Time
}

// tableLayout holds the offsets of the Memberlist fields we read.
type tableLayout struct {
	nodeLock uintptr // sync.RWMutex guarding nodes
	nodes    uintptr // []*nodeState
}

func checkLayout() (tableLayout, error) {
	ml := reflect.TypeOf(memberlist.Memberlist{})
	lock, ok := ml.FieldByName("nodeLock")
	if !ok || lock.Type != reflect.TypeOf(sync.RWMutex{}) {
		return tableLayout{}, fmt.Errorf("memberlist.Memberlist has no nodeLock sync.RWMutex")
	}
	nodes, ok := ml.FieldByName("nodes")
	if !ok || nodes.Type.Kind() != reflect.Slice || nodes.Type.Elem().Kind() != reflect.Pointer {
		return tableLayout{}, fmt.Errorf("memberlist.Memberlist has no nodes []*T")
	}
	theirs := nodes.Type.Elem().Elem()
	ours := reflect.TypeOf(nodeState{})
	if theirs.Size() != ours.Size() || theirs.NumField() != ours.NumField() {
		return tableLayout{}, fmt.Errorf("memberlist nodeState has %d fields (%d bytes), mirror has %d (%d bytes)",
			theirs.NumField(), theirs.Size(), ours.NumField(), ours.Size())
	}
	for i := 0; i < ours.NumField(); i++ {
		a, b := theirs.Field(i), ours.Field(i)
		if a.Name != b.Name || a.Type != b.Type || a.Offset != b.Offset {
			return tableLayout{}, fmt.Errorf("memberlist nodeState field %d is %s %s at %d, mirror has %s %s at %d",
				i, a.Name, a.Type, a.Offset, b.Name, b.Type, b.Offset)
		}
	}
	return tableLayout{nodeLock: lock.Offset, nodes: nodes.Offset}, nil
}

// stateOf returns the record a *Node handed to an event delegate belongs to. memberlist
// passes &state.Node (offset 0, checked by checkLayout) while holding nodeLock, so
// reading it inside the callback is race-free.
func stateOf(n *memberlist.Node) *nodeState {
	return (*nodeState)(unsafe.Pointer(n))
}

// memberView is one row of the `members` reply and the body of node events.
type memberView struct {
	Name        string   `json:"name"`
	Addr        string   `json:"addr"`
	State       string   `json:"state"`
	Incarnation uint32   `json:"incarnation"`
	Meta        string   `json:"meta"`
	Vsn         [6]uint8 `json:"vsn"` // PMin, PMax, PCur, DMin, DMax, DCur as on the wire
}

func stateName(s memberlist.NodeStateType) string {
	switch s {
	case memberlist.StateAlive:
		return "alive"
	case memberlist.StateSuspect:
		return "suspect"
	case memberlist.StateDead:
		return "dead"
	case memberlist.StateLeft:
		return "left"
	}
	return "unknown-" + strconv.Itoa(int(s))
}

func viewOf(s *nodeState) memberView {
	n := &s.Node
	return memberView{
		Name:        n.Name,
		Addr:        net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port))),
		State:       stateName(s.State),
		Incarnation: s.Incarnation,
		Meta:        string(n.Meta),
		Vsn:         [6]uint8{n.PMin, n.PMax, n.PCur, n.DMin, n.DMax, n.DCur},
	}
}

// allMembers lists every node the table holds, dead and left ones included, in the
// table's order, under memberlist's own read lock.
func (l tableLayout) allMembers(m *memberlist.Memberlist) []memberView {
	base := unsafe.Pointer(m)
	lock := (*sync.RWMutex)(unsafe.Add(base, l.nodeLock))
	nodes := (*[]*nodeState)(unsafe.Add(base, l.nodes))
	lock.RLock()
	defer lock.RUnlock()
	out := make([]memberView, 0, len(*nodes))
	for _, s := range *nodes {
		out = append(out, viewOf(s))
	}
	return out
}
