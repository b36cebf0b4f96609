// Command fixturegen writes, checks and verifies the codec fixtures of memberlist-interop.
//
//	fixturegen gen DIR     write Go-produced fixtures into DIR
//	fixturegen check DIR   regenerate and compare with DIR
//	fixturegen verify DIR  check that fixtures written by the Rust side decode as described
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
		fmt.Fprintln(os.Stderr, "usage: fixturegen gen|check|verify DIR")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "gen":
		err = gen(os.Args[2])
	case "check":
		err = check(os.Args[2])
	case "verify":
		err = verify(os.Args[2])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fixturegen:", err)
		os.Exit(1)
	}
}

func all() ([]fixture, error) {
	fs := genEncoder()
	nodes, err := genNodes()
	if err != nil {
		return nil, err
	}
	return append(fs, nodes...), nil
}

func write(dir string, fs []fixture) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
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
	return nil
}

func gen(dir string) error {
	fs, err := all()
	if err != nil {
		return err
	}
	old, _ := filepath.Glob(filepath.Join(dir, "*.bin"))
	for _, o := range old {
		os.Remove(o)
		os.Remove(strings.TrimSuffix(o, ".bin") + ".json")
	}
	if err := write(dir, fs); err != nil {
		return err
	}
	fmt.Printf("gen: wrote %d fixtures to %s\n", len(fs), dir)
	return nil
}

func load(dir string) (map[string]fixture, error) {
	out := map[string]fixture{}
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	for _, p := range paths {
		name := strings.TrimSuffix(filepath.Base(p), ".json")
		if name == "README" {
			continue
		}
		js, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var side map[string]any
		if err := json.Unmarshal(js, &side); err != nil {
			return nil, fmt.Errorf("%s: %v", p, err)
		}
		bin, err := os.ReadFile(strings.TrimSuffix(p, ".json") + ".bin")
		if err != nil {
			return nil, err
		}
		out[name] = fixture{name, bin, side}
	}
	return out, nil
}

// normalize round-trips a sidecar through JSON so fresh and loaded ones compare alike.
func normalize(side map[string]any) map[string]any {
	js, _ := json.Marshal(side)
	var out map[string]any
	json.Unmarshal(js, &out)
	return out
}

// shape keeps what must not change between runs of a node scenario.
func shape(side map[string]any) string {
	var b strings.Builder
	fmt.Fprint(&b, side["kind"], side["direction"], side["label"], side["layers"], side["encryption_version"], side["key_index"])
	msgs, _ := side["messages"].([]any)
	if m, ok := side["message"]; ok {
		msgs = append(msgs, m)
	}
	for _, m := range msgs {
		mm := m.(map[string]any)
		fmt.Fprint(&b, " ", mm["type"], mm["layers"])
		if f, ok := mm["fields"].(map[string]any); ok {
			keys := []string{}
			for k := range f {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			fmt.Fprint(&b, keys)
		}
	}
	return b.String()
}

func check(dir string) error {
	committed, err := load(dir)
	if err != nil {
		return err
	}
	fresh, err := all()
	if err != nil {
		return err
	}
	var problems []string
	seen := map[string]bool{}
	for _, f := range fresh {
		seen[f.name] = true
		c, ok := committed[f.name]
		if !ok {
			problems = append(problems, f.name+": generated but not committed")
			continue
		}
		fs := normalize(f.side)
		if fs["origin"] == "encoder" {
			if string(c.bin) != string(f.bin) {
				problems = append(problems, f.name+": bytes differ from the committed fixture")
			}
			a, _ := json.Marshal(fs)
			b, _ := json.Marshal(c.side)
			if string(a) != string(b) {
				problems = append(problems, f.name+": sidecar differs from the committed one")
			}
		} else if shape(fs) != shape(c.side) {
			problems = append(problems, fmt.Sprintf("%s: recorded shape changed:\n  now:       %s\n  committed: %s", f.name, shape(fs), shape(c.side)))
		}
	}
	for name := range committed {
		if !seen[name] {
			problems = append(problems, name+": committed but no longer generated")
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return fmt.Errorf("fixtures differ from a fresh generation:\n%s", strings.Join(problems, "\n"))
	}
	fmt.Printf("check: %d fixtures match a fresh generation (%d encoder fixtures byte for byte)\n", len(fresh), countOrigin(fresh, "encoder"))
	return nil
}

func countOrigin(fs []fixture, origin string) int {
	n := 0
	for _, f := range fs {
		if f.side["origin"] == origin {
			n++
		}
	}
	return n
}
