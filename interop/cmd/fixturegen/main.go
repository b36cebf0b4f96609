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

// stable blanks a node sidecar's volatile items so two runs of a scenario compare
// equal exactly when they recorded the same thing. An item names a field anywhere
// ("SeqNo"), a field of one message type ("suspect.From"), or "messages order" (gossip
// order is timing: messages are then compared as a sorted list).
func stable(side map[string]any) map[string]any {
	out := normalize(side)
	vol := map[string]bool{}
	list, _ := out["volatile"].([]any)
	for _, v := range list {
		vol[v.(string)] = true
	}
	blank := func(m map[string]any, typ string) {
		for k := range m {
			if vol[k] || vol[typ+"."+k] {
				m[k] = "(volatile)"
			}
		}
	}
	msg := func(m map[string]any) {
		typ, _ := m["type"].(string)
		if f, ok := m["fields"].(map[string]any); ok {
			blank(f, typ)
		}
		nodes, _ := m["nodes"].([]any)
		for _, n := range nodes {
			blank(n.(map[string]any), "node")
		}
	}
	if m, ok := out["message"].(map[string]any); ok {
		msg(m)
	}
	if msgs, ok := out["messages"].([]any); ok {
		for _, m := range msgs {
			msg(m.(map[string]any))
		}
		if vol["messages order"] {
			sort.Slice(msgs, func(i, j int) bool { return jsonText(msgs[i]) < jsonText(msgs[j]) })
		}
	}
	return out
}

func jsonText(v any) string {
	js, _ := json.Marshal(v)
	return string(js)
}

// sidecarDiff lists, by JSON path, where two sidecars differ, with both values.
func sidecarDiff(now, committed map[string]any) string {
	var lines []string
	diffAt("", now, committed, &lines)
	if len(lines) > 20 {
		lines = append(lines[:20], fmt.Sprintf("  … and %d more", len(lines)-20))
	}
	return strings.Join(lines, "\n")
}

func diffAt(path string, a, b any, out *[]string) {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		sorted := []string{}
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			diffAt(path+"."+k, am[k], bm[k], out)
		}
		return
	}
	al, aok := a.([]any)
	bl, bok := b.([]any)
	if aok && bok && len(al) == len(bl) {
		for i := range al {
			diffAt(fmt.Sprintf("%s[%d]", path, i), al[i], bl[i], out)
		}
		return
	}
	if x, y := jsonText(a), jsonText(b); x != y {
		*out = append(*out, fmt.Sprintf("  %s\n    now:       %s\n    committed: %s", path, clip(x), clip(y)))
	}
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + fmt.Sprintf("… (%d chars)", len(s))
	}
	return s
}

func skipped(name string) bool {
	for _, sc := range skippedScenarios {
		if strings.HasPrefix(name, "node_"+sc+"_") {
			return true
		}
	}
	return false
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
				problems = append(problems, fmt.Sprintf("%s: bytes differ from the committed fixture (%d bytes now, %d committed)", f.name, len(f.bin), len(c.bin)))
			}
			if jsonText(fs) != jsonText(c.side) {
				problems = append(problems, fmt.Sprintf("%s: sidecar differs from the committed one:\n%s", f.name, sidecarDiff(fs, c.side)))
			}
		} else if a, b := stable(fs), stable(c.side); jsonText(a) != jsonText(b) {
			problems = append(problems, fmt.Sprintf("%s: recorded traffic differs beyond its volatile items:\n%s", f.name, sidecarDiff(a, b)))
		}
	}
	for name := range committed {
		if !seen[name] && !skipped(name) {
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
