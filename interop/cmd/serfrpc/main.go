// Command serfrpc drives a Serf agent's RPC through serf's own Go client package
// (github.com/hashicorp/serf/client), the way applications built on serf do, and
// prints what it saw as one JSON object. tests/serf_rpc.rs runs it against our
// `memberlist agent --serf` and against a real serf agent and compares the two.
//
// Usage: serfrpc RPC_ADDR [TOKEN]
//
// Steps: members; a "user:rpc-check" event stream that sees the event it sends; a
// "query:rpc-q" stream on which it answers the query it sends itself, so the query's
// response stream carries its own answer; a monitor that sees a log line; stats;
// the agent's coordinate; a stopped stream.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/hashicorp/logutils"
	"github.com/hashicorp/serf/client"
)

const wait = 10 * time.Second

type report struct {
	Members      []string          `json:"-"`
	MemberCount  int               `json:"members"`
	MemberFields map[string]string `json:"member_fields"`
	StreamEvent  map[string]any    `json:"stream_event"`
	QueryEvent   map[string]string `json:"query_event"`
	Acks         []string          `json:"acks"`
	Responses    map[string]string `json:"responses"`
	MonitorSaw   bool              `json:"monitor_saw_a_line"`
	StatsKeys    []string          `json:"stats_sections"`
	AgentName    string            `json:"-"`
	CoordOK      bool              `json:"coordinate_ok"`
	CoordDims    int               `json:"coordinate_dimensions"`
	StopOK       bool              `json:"stop_ok"`
	BadFilter    string            `json:"bad_filter_error"`
	BadRespond   string            `json:"bad_respond_error"`
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "serfrpc: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 2 {
		fail("usage: serfrpc RPC_ADDR [TOKEN]")
	}
	cfg := client.Config{Addr: os.Args[1], Timeout: wait}
	if len(os.Args) > 2 {
		cfg.AuthKey = os.Args[2]
	}
	c, err := client.ClientFromConfig(&cfg)
	if err != nil {
		fail("connect: %v", err)
	}
	defer c.Close()
	var r report

	members, err := c.Members()
	if err != nil {
		fail("members: %v", err)
	}
	for _, m := range members {
		r.Members = append(r.Members, m.Name)
	}
	sort.Strings(r.Members)
	stats, err := c.Stats()
	if err != nil {
		fail("stats: %v", err)
	}
	for k := range stats {
		r.StatsKeys = append(r.StatsKeys, k)
	}
	sort.Strings(r.StatsKeys)
	r.AgentName = stats["agent"]["name"]
	for _, m := range members {
		if m.Name == r.AgentName {
			r.MemberFields = map[string]string{
				"addr":     m.Addr.String(),
				"status":   m.Status,
				"protocol": fmt.Sprintf("%d/%d/%d %d/%d/%d", m.ProtocolMin, m.ProtocolCur, m.ProtocolMax, m.DelegateMin, m.DelegateCur, m.DelegateMax),
			}
		}
	}

	// A user event seen on our own stream.
	events := make(chan map[string]any, 64)
	userStream, err := c.Stream("user:rpc-check", events)
	if err != nil {
		fail("stream: %v", err)
	}
	if err := c.UserEvent("rpc-check", []byte("p1"), false); err != nil {
		fail("event: %v", err)
	}
	select {
	case e := <-events:
		r.StreamEvent = map[string]any{
			"Event": e["Event"], "Name": e["Name"], "Coalesce": e["Coalesce"],
			"Payload": fmt.Sprintf("%s", e["Payload"]), "has_LTime": e["LTime"] != nil,
		}
	case <-time.After(wait):
		fail("no user event on the stream")
	}
	if err := c.Stop(userStream); err != nil {
		fail("stop: %v", err)
	}
	r.StopOK = true

	// A query we answer ourselves through `respond`, while its response stream runs.
	queries := make(chan map[string]any, 64)
	if _, err := c.Stream("query:rpc-q", queries); err != nil {
		fail("query stream: %v", err)
	}
	acks := make(chan string, 64)
	resps := make(chan client.NodeResponse, 64)
	err = c.Query(&client.QueryParam{
		Name: "rpc-q", Payload: []byte("ask"), RequestAck: true,
		FilterNodes: []string{r.AgentName}, Timeout: 2 * time.Second,
		AckCh: acks, RespCh: resps,
	})
	if err != nil {
		fail("query: %v", err)
	}
	select {
	case q := <-queries:
		r.QueryEvent = map[string]string{"Event": fmt.Sprint(q["Event"]), "Name": fmt.Sprint(q["Name"]), "Payload": fmt.Sprintf("%s", q["Payload"])}
		// The generic decoder gives int64 or uint64, depending on the encoding.
		var id uint64
		switch v := q["ID"].(type) {
		case int64:
			id = uint64(v)
		case uint64:
			id = v
		default:
			fail("query record ID %T %v", q["ID"], q["ID"])
		}
		if err := c.Respond(id, []byte("answered-by-go-client")); err != nil {
			fail("respond: %v", err)
		}
	case <-time.After(wait):
		fail("no query on the stream")
	}
	r.Responses = map[string]string{}
	// A serf agent's query response stream can race its own deadline: the
	// query closes its channels a moment before the stream's timer fires, and
	// each read of a closed channel goes out as a record from "" until then.
	// No member is named "", so those records are dropped from the comparison.
	for acks != nil || resps != nil {
		select {
		case a, ok := <-acks:
			if !ok {
				acks = nil
				continue
			}
			if a != "" {
				r.Acks = append(r.Acks, a)
			}
		case x, ok := <-resps:
			if !ok {
				resps = nil
				continue
			}
			if x.From != "" {
				r.Responses[x.From] = string(x.Payload)
			}
		case <-time.After(wait):
			fail("the query's response stream never ended")
		}
	}
	if err := c.Respond(999999, []byte("x")); err != nil {
		r.BadRespond = err.Error()
	}
	if _, err := c.Stream("bogus-event", make(chan map[string]any, 1)); err != nil {
		r.BadFilter = err.Error()
	}

	// A monitor sees a log line (an event makes one).
	logs := make(chan string, 256)
	if _, err := c.Monitor(logutils.LogLevel("INFO"), logs); err != nil {
		fail("monitor: %v", err)
	}
	if err := c.UserEvent("rpc-log", nil, false); err != nil {
		fail("event: %v", err)
	}
	select {
	case <-logs:
		r.MonitorSaw = true
	case <-time.After(wait):
	}

	coord, err := c.GetCoordinate(r.AgentName)
	if err != nil {
		fail("get-coordinate: %v", err)
	}
	if coord != nil {
		r.CoordOK = true
		r.CoordDims = len(coord.Vec)
	}
	// Names differ between the agents compared: the agent's own is SELF.
	for i, a := range r.Acks {
		if a == r.AgentName {
			r.Acks[i] = "SELF"
		}
	}
	if p, ok := r.Responses[r.AgentName]; ok {
		delete(r.Responses, r.AgentName)
		r.Responses["SELF"] = p
	}
	r.MemberCount = len(r.Members)
	r.Members = nil
	out, _ := json.Marshal(r)
	fmt.Println(string(out))
}
