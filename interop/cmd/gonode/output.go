package main

// The stdout protocol: one JSON object per line. Events that happen while the node
// starts (memberlist announces its own join inside Create) are held back so that the
// "ready" line is always the first one.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sync"
)

type output struct {
	mu      sync.Mutex
	ready   bool
	pending [][]byte
}

// event is one output line; "event" names its kind.
type event map[string]any

func (o *output) emit(e event) {
	line, err := json.Marshal(e)
	if err != nil {
		line, _ = json.Marshal(event{"event": "error", "error": "encoding an event: " + err.Error()})
	}
	line = append(line, '\n')
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.ready {
		o.pending = append(o.pending, line)
		return
	}
	o.write(line)
}

// markReady prints the ready line, then whatever was held back.
func (o *output) markReady(e event) {
	line, _ := json.Marshal(e)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.write(append(line, '\n'))
	for _, p := range o.pending {
		o.write(p)
	}
	o.pending = nil
	o.ready = true
}

// write must be called with mu held. When stdout is gone our parent is gone too.
func (o *output) write(line []byte) {
	if _, err := os.Stdout.Write(line); err != nil {
		fmt.Fprintln(os.Stderr, "gonode: stdout closed:", err)
		os.Exit(3)
	}
}

// logSink receives memberlist's log lines: every line goes to stderr, and warnings
// and errors also become {"event":"log"} lines so tests can see them. log.Logger
// calls Write once per line.
type logSink struct{ out *output }

func (s logSink) Write(p []byte) (int, error) {
	os.Stderr.Write(p)
	for _, level := range []string{"ERR", "WARN"} {
		if i := bytes.Index(p, []byte("["+level+"] ")); i >= 0 {
			msg := bytes.TrimRight(p[i+len(level)+3:], "\n")
			s.out.emit(event{"event": "log", "level": level, "msg": string(msg)})
			break
		}
	}
	return len(p), nil
}
