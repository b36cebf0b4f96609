// Command decodediff writes a corpus of msgpack bodies, odd and damaged ones included,
// together with what go-msgpack v2 (the codec memberlist pins) makes of each when it
// decodes it into memberlist's structs exactly as memberlist's decode() does, and of
// LZW streams with what memberlist's decompressBuffer makes of them. The Rust
// test tests/go_decode_diff.rs decodes the same bodies and must reach the same verdict
// and the same field values. The corpus is deterministic (seeded), so `check` can
// regenerate it and compare it with the committed file.
//
//	decodediff gen FILE    write the corpus
//	decodediff check FILE  regenerate and compare byte for byte
package main

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"reflect"

	"github.com/memberlist-interop/interop/internal/wire"
)

const (
	seed     = 20260705
	cases    = 3000
	lzwCount = 300
)

func main() {
	if len(os.Args) != 3 || (os.Args[1] != "gen" && os.Args[1] != "check") {
		fmt.Fprintln(os.Stderr, "usage: decodediff gen|check FILE")
		os.Exit(2)
	}
	corpus := build()
	switch os.Args[1] {
	case "gen":
		if err := os.WriteFile(os.Args[2], corpus, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("decodediff: wrote %d cases to %s\n", cases+lzwCount, os.Args[2])
	case "check":
		old, err := os.ReadFile(os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if !bytes.Equal(old, corpus) {
			fmt.Fprintf(os.Stderr, "decodediff: %s differs from what Go produces now\n", os.Args[2])
			os.Exit(1)
		}
		fmt.Printf("decodediff: %s matches (%d cases)\n", os.Args[2], cases+lzwCount)
	}
}

// One line of the corpus.
type record struct {
	Struct string         `json:"struct"`
	Hex    string         `json:"hex"`
	OK     bool           `json:"ok"`
	Error  string         `json:"error,omitempty"`
	Fields map[string]any `json:"fields,omitempty"`
}

func build() []byte {
	rng := rand.New(rand.NewSource(seed))
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	type item struct {
		t    target
		body []byte
	}
	var items []item
	for _, e := range edgeCases() {
		items = append(items, item{e.t, e.body})
	}
	for len(items) < cases {
		t := targets[rng.Intn(len(targets))]
		items = append(items, item{t, newGen(rng).body(t)})
	}
	for _, it := range items {
		t, body := it.t, it.body
		rec := record{Struct: t.name, Hex: hex.EncodeToString(body)}
		v := reflect.New(reflect.TypeOf(t.zero))
		if err := wire.DecodeBody(body, v.Interface()); err != nil {
			rec.Error = err.Error()
		} else {
			rec.OK = true
			rec.Fields = fields(v.Elem())
		}
		writeRecord(w, rec)
	}
	for _, rec := range lzwCases(rng, lzwCount) {
		writeRecord(w, rec)
	}
	w.Flush()
	return out.Bytes()
}

func writeRecord(w *bufio.Writer, rec record) {
	line, err := json.Marshal(rec)
	if err != nil {
		panic(err)
	}
	w.Write(line)
	w.WriteByte('\n')
}

// fields renders a decoded struct: numbers and bools as JSON, Go strings and byte
// slices as hex (strings need not be UTF-8), nil byte slices as null.
func fields(v reflect.Value) map[string]any {
	m := map[string]any{}
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		name := v.Type().Field(i).Name
		switch f.Kind() {
		case reflect.String:
			m[name] = hex.EncodeToString([]byte(f.String()))
		case reflect.Slice:
			if f.IsNil() {
				m[name] = nil
			} else {
				m[name] = hex.EncodeToString(f.Bytes())
			}
		case reflect.Bool:
			m[name] = f.Bool()
		case reflect.Int:
			m[name] = f.Int()
		case reflect.Uint8, reflect.Uint16, reflect.Uint32:
			m[name] = f.Uint()
		default:
			panic("unhandled kind " + f.Kind().String())
		}
	}
	return m
}
