package main

// Stdin commands, one JSON object per line, each answered by exactly one line that
// carries the command's "cmd" and "id" (when given): a specific reply (members,
// health, joined), {"event":"ok"} or {"event":"error","error":..}.
//
//	{"cmd":"members"}                          every known node, dead and left included
//	{"cmd":"update-meta","meta":"x"}           new meta, announced with UpdateNode
//	{"cmd":"send","to":"name","payload":"p","reliable":false}
//	                                           SendBestEffort (UDP) or SendReliable (TCP)
//	{"cmd":"broadcast","payload":"p"}          queued for gossip through the delegate
//	{"cmd":"join","addrs":["ip:port"]}         replies {"event":"joined","contacted":n}
//	{"cmd":"leave","timeout_ms":1000}          Leave (5 s without timeout_ms); the node keeps running
//	{"cmd":"shutdown"}                         Shutdown and exit
//	{"cmd":"install-key"|"use-key"|"remove-key","key":"base64"}
//	{"cmd":"health"}                           replies {"event":"health","score":n}
//	{"cmd":"metrics"}                          every go-metrics key emitted so far: {"event":"metrics",
//	                                           "counters"/"samples":{key:{count,sum}},"gauges":{key:value}}
//
// Payloads are text; "payload_b64" may give exact bytes instead.

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"time"

	metrics "github.com/hashicorp/go-metrics"
	"github.com/hashicorp/memberlist"
)

type command struct {
	Cmd        string   `json:"cmd"`
	ID         any      `json:"id,omitempty"`
	Meta       string   `json:"meta"`
	To         string   `json:"to"`
	Payload    string   `json:"payload"`
	PayloadB64 string   `json:"payload_b64"`
	Reliable   bool     `json:"reliable"`
	Addrs      []string `json:"addrs"`
	TimeoutMs  int64    `json:"timeout_ms"`
	Key        string   `json:"key"`
}

type node struct {
	m       *memberlist.Memberlist
	d       *delegate
	out     *output
	layout  tableLayout
	keyring *memberlist.Keyring // nil without -key
	metrics *metrics.InmemSink
}

// defaultLeaveTimeout keeps a leave from waiting forever: memberlist's Leave(0) blocks
// until the broadcast goes out, which never happens if every peer is unreachable.
const defaultLeaveTimeout = 5 * time.Second

// maxCommandLine bounds one stdin line; payloads are far smaller.
const maxCommandLine = 4 << 20

// serve runs commands until stdin ends or a shutdown command.
func (n *node) serve(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxCommandLine)
	for sc.Scan() {
		var c command
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			n.out.emit(event{"event": "error", "error": "bad command line: " + err.Error()})
			continue
		}
		if c.Cmd == "shutdown" {
			return
		}
		n.run(c)
	}
	if err := sc.Err(); err != nil {
		n.out.emit(event{"event": "error", "error": "reading stdin: " + err.Error()})
	}
}

func (n *node) run(c command) {
	reply, err := n.exec(c)
	if err != nil {
		reply = event{"event": "error", "error": err.Error()}
	} else if reply == nil {
		reply = event{"event": "ok"}
	}
	reply["cmd"] = c.Cmd
	if c.ID != nil {
		reply["id"] = c.ID
	}
	n.out.emit(reply)
}

func (c command) payload() ([]byte, error) {
	if c.PayloadB64 != "" {
		return base64.StdEncoding.DecodeString(c.PayloadB64)
	}
	return []byte(c.Payload), nil
}

func (n *node) exec(c command) (event, error) {
	switch c.Cmd {
	case "members":
		return event{"event": "members", "members": n.layout.allMembers(n.m)}, nil
	case "metrics":
		return metricsReport(n.metrics), nil
	case "health":
		return event{"event": "health", "score": n.m.GetHealthScore()}, nil
	case "update-meta":
		if len(c.Meta) > memberlist.MetaMaxSize {
			return nil, fmt.Errorf("meta of %d bytes, at most %d", len(c.Meta), memberlist.MetaMaxSize)
		}
		n.d.setMeta([]byte(c.Meta))
		return nil, n.m.UpdateNode(5 * time.Second)
	case "send":
		p, err := c.payload()
		if err != nil {
			return nil, err
		}
		to := n.member(c.To)
		if to == nil {
			return nil, fmt.Errorf("no live member named %q", c.To)
		}
		if c.Reliable {
			return nil, n.m.SendReliable(to, p)
		}
		return nil, n.m.SendBestEffort(to, p)
	case "broadcast":
		p, err := c.payload()
		if err != nil {
			return nil, err
		}
		n.d.queue.QueueBroadcast(userBroadcast(p))
		return nil, nil
	case "join":
		count, err := n.m.Join(c.Addrs)
		if err != nil && count == 0 {
			return nil, err
		}
		e := event{"event": "joined", "contacted": count}
		if err != nil {
			e["partial_error"] = err.Error()
		}
		return e, nil
	case "leave":
		timeout := time.Duration(c.TimeoutMs) * time.Millisecond
		if timeout <= 0 {
			timeout = defaultLeaveTimeout
		}
		return nil, n.m.Leave(timeout)
	case "install-key", "use-key", "remove-key":
		return nil, n.changeKey(c)
	}
	return nil, fmt.Errorf("unknown command %q", c.Cmd)
}

func (n *node) member(name string) *memberlist.Node {
	for _, m := range n.m.Members() {
		if m.Name == name {
			return m
		}
	}
	return nil
}

func (n *node) changeKey(c command) error {
	if n.keyring == nil {
		return fmt.Errorf("%s: the node was started without -key, so it has no keyring", c.Cmd)
	}
	key, err := base64.StdEncoding.DecodeString(c.Key)
	if err != nil {
		return fmt.Errorf("key: %v", err)
	}
	switch c.Cmd {
	case "install-key":
		return n.keyring.AddKey(key)
	case "use-key":
		return n.keyring.UseKey(key)
	default:
		return n.keyring.RemoveKey(key)
	}
}
