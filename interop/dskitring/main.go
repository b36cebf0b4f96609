// Command dskitring runs one member of a grafana/dskit hash ring kept in dskit's memberlist
// KV store over dskit's own TCP transport (what Loki, Mimir, Tempo and Cortex run), so that
// the inspector can be tested against the real wire. It prints one JSON line per ring change
// it sees ({"event":"ring","instances":{ID:STATE}}), one per change of the memberlist members
// it counts alive ({"event":"members","id":ID,"members":[NAME...]}, read from dskit's own
// memberlist status page) and, on SIGTERM, leaves the ring (the instance is unregistered) and
// the memberlist cluster before exiting.
//
// Usage: dskitring -id NAME -bind 127.0.0.1:PORT [-join 127.0.0.1:PORT,...] [-zone Z] [-tokens N]
//
//	[-compression lzw|snappy|none]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-kit/log"
	"github.com/grafana/dskit/kv"
	"github.com/grafana/dskit/kv/codec"
	"github.com/grafana/dskit/kv/memberlist"
	"github.com/grafana/dskit/ring"
	"github.com/grafana/dskit/services"
	"github.com/prometheus/client_golang/prometheus"
)

const ringKey = "ring"

func main() {
	id := flag.String("id", "", "instance ID (also the memberlist node name)")
	bind := flag.String("bind", "", "host:port of the TCP transport")
	join := flag.String("join", "", "comma-separated host:port of members to join")
	zone := flag.String("zone", "", "availability zone of the instance")
	tokens := flag.Int("tokens", 8, "number of ring tokens")
	heartbeat := flag.Duration("heartbeat", 500*time.Millisecond, "ring heartbeat period")
	compression := flag.String("compression", "lzw", "memberlist compression: lzw (memberlist's), snappy (Grafana's fork only) or none")
	flag.Parse()
	if *id == "" || *bind == "" {
		fail(fmt.Errorf("-id and -bind are required"))
	}
	host, portText, err := net.SplitHostPort(*bind)
	if err != nil {
		fail(err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		fail(err)
	}

	var cfg memberlist.KVConfig
	fs := flag.NewFlagSet("kv", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	cfg.NodeName = *id
	cfg.RandomizeNodeName = false
	cfg.TCPTransport.BindAddrs = []string{host}
	cfg.TCPTransport.BindPort = port
	cfg.AdvertiseAddr = host
	cfg.AdvertisePort = port
	cfg.GossipInterval = 100 * time.Millisecond
	cfg.PushPullInterval = 2 * time.Second
	cfg.LeaveTimeout = 2 * time.Second
	cfg.EnableCompression = *compression != "none"
	if cfg.EnableCompression {
		cfg.CompressionAlgorithm = *compression
	}
	if *join != "" {
		cfg.JoinMembers = strings.Split(*join, ",")
	}
	cfg.Codecs = []codec.Codec{ring.GetCodec()}

	logger := log.NewLogfmtLogger(log.NewSyncWriter(os.Stderr))
	kvs := memberlist.NewKVInitService(&cfg, logger, &noDNS{}, prometheus.NewRegistry())
	store, err := kv.NewClient(kv.Config{Store: "memberlist", StoreConfig: kv.StoreConfig{
		MemberlistKV: kvs.GetMemberlistKV,
	}}, ring.GetCodec(), nil, logger)
	if err != nil {
		fail(err)
	}

	lcfg := ring.BasicLifecyclerConfig{
		ID:                 *id,
		Addr:               *bind,
		Zone:               *zone,
		HeartbeatPeriod:    *heartbeat,
		HeartbeatTimeout:   time.Minute,
		NumTokens:          *tokens,
		RingTokenGenerator: ring.NewRandomTokenGenerator(),
	}
	var delegate ring.BasicLifecyclerDelegate = ring.NewInstanceRegisterDelegate(ring.ACTIVE, *tokens)
	delegate = ring.NewLeaveOnStoppingDelegate(delegate, logger)
	lc, err := ring.NewBasicLifecycler(lcfg, "dskitring", ringKey, store, delegate, logger, prometheus.NewRegistry())
	if err != nil {
		fail(err)
	}
	ctx := context.Background()
	if err := services.StartAndAwaitRunning(ctx, lc); err != nil {
		fail(err)
	}

	// Report the ring as this member sees it, whenever it changes.
	go store.WatchKey(ctx, ringKey, func(v interface{}) bool {
		desc, ok := v.(*ring.Desc)
		if !ok || desc == nil {
			return true
		}
		seen := map[string]string{}
		ids := make([]string, 0, len(desc.Ingesters))
		for name, inst := range desc.Ingesters {
			seen[name] = inst.State.String()
			ids = append(ids, name)
		}
		sort.Strings(ids)
		line, _ := json.Marshal(map[string]interface{}{"event": "ring", "id": *id, "instances": seen})
		fmt.Println(string(line))
		return true
	})

	// Report the memberlist members this member lists alive, whenever they change, as
	// dskit's status page (its JSON form) gives them.
	go func() {
		status := memberlist.NewHTTPStatusHandler(kvs, nil)
		last := ""
		for range time.Tick(100 * time.Millisecond) {
			req := httptest.NewRequest(http.MethodGet, "/memberlist", nil)
			req.Header.Set("Accept", "application/json")
			rec := httptest.NewRecorder()
			status.ServeHTTP(rec, req)
			var page struct {
				SortedMembers []struct{ Name string }
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
				continue
			}
			names := []string{}
			for _, m := range page.SortedMembers {
				names = append(names, m.Name)
			}
			line, _ := json.Marshal(map[string]interface{}{"event": "members", "id": *id, "members": names})
			if string(line) != last {
				last = string(line)
				fmt.Println(last)
			}
		}
	}()

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
	// Unregisters the instance from the ring (gossiped as LEFT), then leaves memberlist.
	_ = services.StopAndAwaitTerminated(ctx, lc)
	if mkv, err := kvs.GetMemberlistKV(); err == nil {
		_ = services.StopAndAwaitTerminated(ctx, mkv)
	}
	fmt.Println(`{"event":"stopped"}`)
}

// noDNS resolves nothing: members are given as host:port.
type noDNS struct{ addrs []string }

func (d *noDNS) Resolve(_ context.Context, addrs []string) error { d.addrs = addrs; return nil }
func (d *noDNS) Addresses() []string                             { return d.addrs }

func fail(err error) {
	fmt.Fprintln(os.Stderr, "dskitring:", err)
	os.Exit(2)
}
