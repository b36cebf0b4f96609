package main

// verify: Go reads the bytes the Rust side encoded and checks that they say what
// their sidecars say.

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/memberlist-interop/interop/internal/wire"
)

func sideKeys(side map[string]any) ([][]byte, error) {
	var keys [][]byte
	list, _ := side["keys"].([]any)
	for _, k := range list {
		b, err := base64.StdEncoding.DecodeString(k.(string))
		if err != nil {
			return nil, err
		}
		keys = append(keys, b)
	}
	return keys, nil
}

func same(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func verifyOne(f fixture) error {
	side := f.side
	keys, err := sideKeys(side)
	if err != nil {
		return err
	}
	switch side["kind"] {
	case "message":
		want := side["message"].(map[string]any)
		got, err := describeHeaderOrMessage(f.bin)
		if err != nil {
			return err
		}
		if !same(got["fields"], want["fields"]) || got["type"] != want["type"] {
			return fmt.Errorf("decoded %v, sidecar says %v", got, want)
		}
	case "packet":
		info, err := describePacket(f.bin, keys)
		if err != nil {
			return err
		}
		got := normalize(packetSide(info, keys))
		for _, k := range []string{"label", "layers", "messages", "encryption_version", "key_index"} {
			if !same(got[k], side[k]) {
				return fmt.Errorf("%s: decoded %v, sidecar says %v", k, got[k], side[k])
			}
		}
	case "stream":
		dialer := side["direction"] == "dialer"
		label, _ := side["label"].(string)
		info, err := describeStream(f.bin, dialer, label, keys)
		if err != nil {
			return err
		}
		got := normalize(streamSide(info, dialer, keys))
		for _, k := range []string{"layers", "message", "encryption_version", "key_index"} {
			if !same(got[k], side[k]) {
				return fmt.Errorf("%s: decoded %v, sidecar says %v", k, got[k], side[k])
			}
		}
	case "lzw":
		plain, err := wire.LZWDecompress(f.bin)
		if err != nil {
			return err
		}
		p := side["plain"].(map[string]any)
		var want []byte
		if h, ok := p["hex"].(string); ok {
			want, _ = hex.DecodeString(h)
		} else {
			want = pattern(p["pattern"].(string), int(p["len"].(float64)))
		}
		if !bytes.Equal(plain, want) {
			return fmt.Errorf("decompressed %d bytes differ from the sidecar's %d", len(plain), len(want))
		}
	case "encrypt":
		k, _ := base64.StdEncoding.DecodeString(side["key"].(string))
		aad, _ := hex.DecodeString(side["aad"].(string))
		want, _ := hex.DecodeString(side["plain"].(string))
		plain, _, err := wire.DecryptPayload([][]byte{k}, f.bin, aad)
		if err != nil {
			return err
		}
		if !bytes.Equal(plain, want) {
			return fmt.Errorf("decrypted bytes differ")
		}
	default:
		return fmt.Errorf("unknown kind %v", side["kind"])
	}
	return nil
}

func verify(dir string) error {
	fs, err := load(dir)
	if err != nil {
		return err
	}
	if len(fs) == 0 {
		return fmt.Errorf("no fixtures in %s", dir)
	}
	var problems []string
	for name, f := range fs {
		if err := verifyOne(f); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", name, err))
		}
	}
	real, failures := verifyWithNode(fs)
	problems = append(problems, failures...)
	if len(problems) > 0 {
		sort.Strings(problems)
		return fmt.Errorf("%d failures among %d fixtures written by Rust:\n%s", len(problems), len(fs), strings.Join(problems, "\n"))
	}
	fmt.Printf("verify: %d fixtures OK (%d also fed to a real memberlist node, which acted on them)\n", len(fs), real)
	return nil
}

// describeHeaderOrMessage also reads the header-only fixtures of the stream messages.
func describeHeaderOrMessage(buf []byte) (map[string]any, error) {
	var v any
	switch {
	case len(buf) > 0 && buf[0] == wire.PushPullMsg:
		v = &wire.PushPullHeader{}
	case len(buf) > 0 && buf[0] == wire.UserMsg:
		v = &wire.UserMsgHeader{}
	default:
		return describeMessage(buf, nil)
	}
	if err := wire.DecodeBody(buf[1:], v); err != nil {
		return nil, err
	}
	return map[string]any{"type": wire.TypeNames[buf[0]], "fields": jsonFields(v)}, nil
}
