// Command gonode runs one memberlist v0.7.0 node, driven over stdin and reporting on
// stdout, for interop tests against other implementations.
//
// Stdout carries JSON lines: first {"event":"ready","name":..,"addr":"ip:port"} with the
// port really bound, then node events (join, leave, update: name, addr, meta, state,
// incarnation, vsn), user messages ({"event":"msg","payload":..,"payload_b64":..}),
// memberlist warnings and errors ({"event":"log"}), and one reply per command. Stdin
// takes JSON command lines ({"cmd":"members","id":1}); see commands.go. The node shuts
// down and exits on stdin EOF (so it dies with its parent), on "shutdown", and on
// SIGINT/SIGTERM. memberlist's own log goes to stderr.
package main

import (
	"encoding/base64"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/memberlist"
)

// listFlag collects a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

type options struct {
	name, bind, advertise, profile, label, meta string
	joins, keys                                 listFlag
	protocol                                    int
	verifyIn, verifyOut, compress               bool
	probeInterval, probeTimeout                 time.Duration
	gossipInterval, pushPullInterval            time.Duration
	suspicionMult                               int
	queueCheckInterval                          time.Duration
}

func parseFlags() options {
	var o options
	flag.StringVar(&o.name, "name", "", "node name (required)")
	flag.StringVar(&o.bind, "bind", "127.0.0.1:0", "ip:port to bind, port 0 picks a free one")
	flag.StringVar(&o.advertise, "advertise", "", "ip:port to advertise (default: the bound address)")
	flag.Var(&o.joins, "join", "ip:port to join after start (repeatable)")
	flag.StringVar(&o.profile, "profile", "lan", "timing profile: lan, wan or local")
	flag.Var(&o.keys, "key", "base64 gossip key (repeatable; the first is primary)")
	flag.StringVar(&o.label, "label", "", "packet and stream label")
	flag.IntVar(&o.protocol, "protocol", int(memberlist.ProtocolVersion2Compatible), "protocol version, 1 to 5")
	flag.StringVar(&o.meta, "meta", "", "node meta (at most 512 bytes)")
	flag.BoolVar(&o.verifyIn, "gossip-verify-incoming", true, "refuse unencrypted incoming traffic when keys are set")
	flag.BoolVar(&o.verifyOut, "gossip-verify-outgoing", true, "encrypt outgoing traffic when keys are set")
	flag.BoolVar(&o.compress, "compress", true, "compress outgoing messages (the profiles' default is on)")
	flag.DurationVar(&o.probeInterval, "probe-interval", 0, "probe interval (default: the profile's)")
	flag.DurationVar(&o.probeTimeout, "probe-timeout", 0, "probe timeout (default: the profile's, at most half the probe interval)")
	flag.DurationVar(&o.gossipInterval, "gossip-interval", 0, "gossip interval (default: the profile's)")
	flag.DurationVar(&o.pushPullInterval, "pushpull-interval", 0, "push/pull interval (default: the profile's)")
	flag.IntVar(&o.suspicionMult, "suspicion-mult", 0, "suspicion multiplier (default: the profile's)")
	flag.DurationVar(&o.queueCheckInterval, "queue-check-interval", 0, "how often memberlist.queue.broadcasts is sampled (default: the profile's)")
	flag.Parse()
	return o
}

func splitAddr(s string) (string, int, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, err
	}
	p, err := strconv.ParseUint(port, 10, 16)
	return host, int(p), err
}

// config turns the flags into a memberlist configuration.
func (o options) config() (*memberlist.Config, error) {
	var c *memberlist.Config
	switch o.profile {
	case "lan":
		c = memberlist.DefaultLANConfig()
	case "wan":
		c = memberlist.DefaultWANConfig()
	case "local":
		c = memberlist.DefaultLocalConfig()
	default:
		return nil, fmt.Errorf("-profile %q: want lan, wan or local", o.profile)
	}
	if o.name == "" {
		return nil, fmt.Errorf("-name is required")
	}
	c.Name = o.name
	host, port, err := splitAddr(o.bind)
	if err != nil {
		return nil, fmt.Errorf("-bind %q: %v", o.bind, err)
	}
	c.BindAddr, c.BindPort = host, port
	c.AdvertiseAddr, c.AdvertisePort = "", port
	if o.advertise != "" {
		if c.AdvertiseAddr, c.AdvertisePort, err = splitAddr(o.advertise); err != nil {
			return nil, fmt.Errorf("-advertise %q: %v", o.advertise, err)
		}
	}
	if o.protocol < int(memberlist.ProtocolVersionMin) || o.protocol > int(memberlist.ProtocolVersionMax) {
		return nil, fmt.Errorf("-protocol %d: want %d to %d", o.protocol, memberlist.ProtocolVersionMin, memberlist.ProtocolVersionMax)
	}
	c.ProtocolVersion = uint8(o.protocol)
	if len(o.meta) > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("-meta: %d bytes, at most %d", len(o.meta), memberlist.MetaMaxSize)
	}
	if len(o.keys) > 0 {
		keys := make([][]byte, len(o.keys))
		for i, k := range o.keys {
			if keys[i], err = base64.StdEncoding.DecodeString(k); err != nil {
				return nil, fmt.Errorf("-key %q: %v", k, err)
			}
		}
		if c.Keyring, err = memberlist.NewKeyring(keys, keys[0]); err != nil {
			return nil, fmt.Errorf("-key: %v", err)
		}
	}
	c.Label = o.label
	c.GossipVerifyIncoming, c.GossipVerifyOutgoing = o.verifyIn, o.verifyOut
	c.EnableCompression = o.compress
	if o.probeInterval > 0 {
		c.ProbeInterval = o.probeInterval
	}
	if o.probeTimeout > 0 {
		c.ProbeTimeout = o.probeTimeout
	} else if c.ProbeTimeout > c.ProbeInterval/2 {
		c.ProbeTimeout = c.ProbeInterval / 2
	}
	if o.gossipInterval > 0 {
		c.GossipInterval = o.gossipInterval
	}
	if o.pushPullInterval > 0 {
		c.PushPullInterval = o.pushPullInterval
	}
	if o.suspicionMult > 0 {
		c.SuspicionMult = o.suspicionMult
	}
	if o.queueCheckInterval > 0 {
		c.QueueCheckInterval = o.queueCheckInterval
	}
	return c, nil
}

func main() {
	o := parseFlags()
	layout, err := checkLayout()
	if err != nil {
		fail(err)
	}
	c, err := o.config()
	if err != nil {
		fail(err)
	}
	sink := installMetrics()
	out := &output{}
	d := newDelegate(out, []byte(o.meta), c.RetransmitMult)
	c.Delegate = d
	c.Events = events{out: out}
	c.LogOutput = nil
	c.Logger = log.New(logSink{out: out}, o.name+" ", log.LstdFlags|log.Lmicroseconds)
	m, err := memberlist.Create(c)
	if err != nil {
		fail(err)
	}
	d.node.Store(m)
	self := m.LocalNode()
	out.markReady(event{
		"event": "ready", "name": self.Name,
		"addr": net.JoinHostPort(self.Addr.String(), strconv.Itoa(int(self.Port))),
	})
	n := &node{m: m, d: d, out: out, layout: layout, keyring: c.Keyring, metrics: sink}
	if len(o.joins) > 0 {
		n.run(command{Cmd: "join", Addrs: o.joins})
	}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		n.serve(os.Stdin)
		close(done)
	}()
	select {
	case <-done:
	case <-stop:
	}
	m.Shutdown()
	out.emit(event{"event": "shutdown"})
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "gonode:", err)
	os.Exit(2)
}
