// Command ndbnode runs one Docker NetworkDB node (moby's daemon/libnetwork/networkdb, what
// Swarm's overlay networks gossip on) on a loopback address, driven by one command per line on
// stdin, each answered by one JSON line on stdout, so that tests can record real NetworkDB
// traffic:
//
//	join HOST:PORT            join the cluster through a member
//	join-network NET          join network NET (a network event)
//	leave-network NET         leave it
//	create TABLE NET KEY VAL  create an entry (a table event); update, delete alike
//	update TABLE NET KEY VAL
//	delete TABLE NET KEY
//	get TABLE NET KEY         {"value": VAL} or {"error"}
//	peers NET                 {"peers": [names]}
//	close                     leave the cluster and exit
//
// Usage: ndbnode -name NAME -bind 127.0.0.1 -port PORT
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/moby/moby/v2/daemon/libnetwork/networkdb"
)

func main() {
	name := flag.String("name", "", "node name (NetworkDB's hostname)")
	bind := flag.String("bind", "127.0.0.1", "address to bind and advertise")
	port := flag.Int("port", 0, "gossip port (UDP and TCP)")
	flag.Parse()
	if *name == "" || *port == 0 {
		fmt.Fprintln(os.Stderr, "ndbnode: -name and -port are required")
		os.Exit(2)
	}
	conf := networkdb.DefaultConfig()
	conf.Hostname = *name
	conf.NodeID = *name
	conf.BindAddr = *bind
	conf.AdvertiseAddr = *bind
	conf.BindPort = *port
	db, err := networkdb.New(conf)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ndbnode:", err)
		os.Exit(2)
	}
	out := json.NewEncoder(os.Stdout)
	_ = out.Encode(map[string]string{"event": "ready"})
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 0 {
			continue
		}
		reply := map[string]interface{}{"cmd": f[0]}
		var err error
		arg := func(i int) string {
			if i < len(f) {
				return f[i]
			}
			return ""
		}
		switch f[0] {
		case "join":
			err = db.Join([]string{arg(1)})
		case "join-network":
			err = db.JoinNetwork(arg(1))
		case "leave-network":
			err = db.LeaveNetwork(arg(1))
		case "create":
			err = db.CreateEntry(arg(1), arg(2), arg(3), []byte(arg(4)))
		case "update":
			err = db.UpdateEntry(arg(1), arg(2), arg(3), []byte(arg(4)))
		case "delete":
			err = db.DeleteEntry(arg(1), arg(2), arg(3))
		case "get":
			var v []byte
			if v, err = db.GetEntry(arg(1), arg(2), arg(3)); err == nil {
				reply["value"] = string(v)
			}
		case "peers":
			names := []string{}
			for _, p := range db.Peers(arg(1)) {
				names = append(names, p.Name)
			}
			sort.Strings(names)
			reply["peers"] = names
		case "close":
			db.Close()
			_ = out.Encode(reply)
			return
		default:
			err = fmt.Errorf("unknown command %q", f[0])
		}
		if err != nil {
			reply["error"] = err.Error()
		}
		_ = out.Encode(reply)
	}
	db.Close()
}
