// Command serffixgen writes and checks the Serf fixtures of memberlist-interop
// (fixtures/serf): Serf's messages, tags, ping-ack coordinates and query filters as
// serf v0.11.0 encodes them, and Serf payloads recorded from a live serf cluster.
//
//	serffixgen gen DIR     write the fixtures into DIR
//	serffixgen check DIR   regenerate and compare with DIR
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: serffixgen gen|check DIR")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "gen":
		err = gen(os.Args[2])
	case "check":
		err = check(os.Args[2])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "serffixgen:", err)
		os.Exit(1)
	}
}

func all() ([]fixture, error) {
	fs := genEncoder()
	recorded, err := genCluster()
	if err != nil {
		return nil, err
	}
	return append(fs, recorded...), nil
}

func gen(dir string) error {
	fs, err := all()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	old, _ := filepath.Glob(filepath.Join(dir, "*.bin"))
	for _, o := range old {
		os.Remove(o)
		os.Remove(strings.TrimSuffix(o, ".bin") + ".json")
	}
	for _, f := range fs {
		js, err := json.MarshalIndent(f.side, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, f.name+".bin"), f.bin, 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, f.name+".json"), append(js, '\n'), 0o644); err != nil {
			return err
		}
	}
	fmt.Printf("gen: wrote %d fixtures to %s\n", len(fs), dir)
	return nil
}

func normalize(v any) map[string]any {
	js, _ := json.Marshal(v)
	var out map[string]any
	json.Unmarshal(js, &out)
	return out
}

func jsonText(v any) string {
	js, _ := json.Marshal(v)
	return string(js)
}

// stable blanks the fields a recorded sidecar lists as volatile (anywhere in it).
func stable(side map[string]any) map[string]any {
	out := normalize(side)
	vol := map[string]bool{}
	list, _ := out["volatile"].([]any)
	for _, v := range list {
		vol[v.(string)] = true
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if vol[k] {
					x[k] = "(volatile)"
				} else {
					walk(e)
				}
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(out)
	return out
}

func check(dir string) error {
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return err
	}
	committed := map[string]fixture{}
	for _, p := range paths {
		name := strings.TrimSuffix(filepath.Base(p), ".json")
		js, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var side map[string]any
		if err := json.Unmarshal(js, &side); err != nil {
			return fmt.Errorf("%s: %v", p, err)
		}
		bin, err := os.ReadFile(strings.TrimSuffix(p, ".json") + ".bin")
		if err != nil {
			return err
		}
		committed[name] = fixture{name, bin, side}
	}
	fresh, err := all()
	if err != nil {
		return err
	}
	var problems []string
	seen := map[string]bool{}
	exact := 0
	for _, f := range fresh {
		seen[f.name] = true
		c, ok := committed[f.name]
		if !ok {
			problems = append(problems, f.name+": generated but not committed")
			continue
		}
		fs := normalize(f.side)
		switch {
		case fs["origin"] != "encoder":
			if a, b := stable(fs), stable(c.side); jsonText(a) != jsonText(b) {
				problems = append(problems, fmt.Sprintf("%s: recorded payload differs beyond its volatile fields:\n  now:       %s\n  committed: %s", f.name, jsonText(a), jsonText(b)))
			}
			continue
		case fs["map_order"] == "random":
			// Go's map order makes the bytes vary; the decoded value and the sorted
			// encoding must not.
		case string(c.bin) != string(f.bin):
			problems = append(problems, fmt.Sprintf("%s: bytes differ from the committed fixture", f.name))
		default:
			exact++
		}
		if jsonText(fs) != jsonText(c.side) {
			problems = append(problems, fmt.Sprintf("%s: sidecar differs:\n  now:       %s\n  committed: %s", f.name, jsonText(fs), jsonText(c.side)))
		}
	}
	for name := range committed {
		if !seen[name] {
			problems = append(problems, name+": committed but no longer generated")
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return fmt.Errorf("serf fixtures differ from a fresh generation:\n%s", strings.Join(problems, "\n"))
	}
	fmt.Printf("check: %d serf fixtures match a fresh generation (%d byte for byte)\n", len(fresh), exact)
	return nil
}
