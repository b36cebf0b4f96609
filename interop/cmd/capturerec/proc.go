package main

// Child processes the recorder drives: gonode nodes (JSON lines both ways), serf
// agents (through the serf command line), and tcpdump.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// syncBuffer collects a child's output while others read it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitLimit bounds every wait for a node or agent to reach a state.
const waitLimit = 30 * time.Second

type goNode struct {
	name, addr string
	cmd        *exec.Cmd
	stdin      io.WriteCloser
	stderr     syncBuffer

	mu     sync.Mutex
	grew   *sync.Cond
	events []map[string]any
	closed bool
	nextID int
}

func startGoNode(bin, name string, args ...string) (*goNode, error) {
	n := &goNode{name: name}
	n.grew = sync.NewCond(&n.mu)
	n.cmd = exec.Command(bin, append([]string{"-name", name}, args...)...)
	n.cmd.Stderr = &n.stderr
	var err error
	if n.stdin, err = n.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := n.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := n.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			var e map[string]any
			if json.Unmarshal(sc.Bytes(), &e) != nil {
				e = map[string]any{"event": "unparsed", "line": sc.Text()}
			}
			n.mu.Lock()
			n.events = append(n.events, e)
			n.grew.Broadcast()
			n.mu.Unlock()
		}
		n.mu.Lock()
		n.closed = true
		n.grew.Broadcast()
		n.mu.Unlock()
	}()
	ready, err := n.wait(func(e map[string]any) bool { return e["event"] == "ready" }, waitLimit)
	if err != nil {
		n.cmd.Process.Kill()
		return nil, err
	}
	n.addr = ready["addr"].(string)
	return n, nil
}

// wait returns the first event since start that satisfies pred.
func (n *goNode) wait(pred func(map[string]any) bool, limit time.Duration) (map[string]any, error) {
	timer := time.AfterFunc(limit, func() {
		n.mu.Lock()
		n.grew.Broadcast()
		n.mu.Unlock()
	})
	defer timer.Stop()
	deadline := time.Now().Add(limit)
	n.mu.Lock()
	defer n.mu.Unlock()
	for seen := 0; ; {
		for _, e := range n.events[seen:] {
			if pred(e) {
				return e, nil
			}
		}
		seen = len(n.events)
		if n.closed {
			return nil, fmt.Errorf("%s exited; stderr:\n%s", n.name, n.stderr.String())
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s: nothing matched within %v", n.name, limit)
		}
		n.grew.Wait()
	}
}

// do sends one command and returns its reply; an error reply is an error.
func (n *goNode) do(cmd map[string]any) (map[string]any, error) {
	n.mu.Lock()
	n.nextID++
	id := float64(n.nextID) // JSON numbers decode as float64
	n.mu.Unlock()
	cmd["id"] = id
	line, _ := json.Marshal(cmd)
	if _, err := n.stdin.Write(append(line, '\n')); err != nil {
		return nil, fmt.Errorf("%s: %v", n.name, err)
	}
	reply, err := n.wait(func(e map[string]any) bool { return e["id"] == id }, waitLimit)
	if err != nil {
		return nil, err
	}
	if reply["event"] == "error" {
		return nil, fmt.Errorf("%s: %s: %v", n.name, cmd["cmd"], reply["error"])
	}
	return reply, nil
}

// waitStates polls members until every named node has the wanted state.
func (n *goNode) waitStates(want map[string]string) error {
	deadline := time.Now().Add(waitLimit)
	for {
		reply, err := n.do(map[string]any{"cmd": "members"})
		if err != nil {
			return err
		}
		got := map[string]string{}
		for _, m := range reply["members"].([]any) {
			mm := m.(map[string]any)
			got[mm["name"].(string)] = mm["state"].(string)
		}
		ok := true
		for name, state := range want {
			ok = ok && got[name] == state
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: members %v, want %v", n.name, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop closes stdin (gonode shuts down without a leave) and waits for the exit.
func (n *goNode) stop() error {
	n.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- n.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(waitLimit):
		n.cmd.Process.Kill()
		return fmt.Errorf("%s did not exit", n.name)
	}
}

func (n *goNode) kill() error {
	if err := n.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	n.cmd.Wait()
	return nil
}

// serfAgent is a Debian serf agent; its RPC is driven through the serf command line.
type serfAgent struct {
	name, bind, rpc string
	cmd             *exec.Cmd
	log             syncBuffer
}

const serfBin = "/usr/bin/serf"

func startSerf(name, bind, rpc string, args ...string) (*serfAgent, error) {
	a := &serfAgent{name: name, bind: bind, rpc: rpc}
	a.cmd = exec.Command(serfBin, append([]string{"agent", "-node=" + name, "-bind=" + bind, "-rpc-addr=" + rpc}, args...)...)
	a.cmd.Stdout, a.cmd.Stderr = &a.log, &a.log
	if err := a.cmd.Start(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(waitLimit)
	for {
		if _, err := a.cli("members"); err == nil {
			return a, nil
		} else if time.Now().After(deadline) {
			a.cmd.Process.Kill()
			return nil, fmt.Errorf("serf %s: %v\n%s", name, err, a.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (a *serfAgent) cli(sub string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	out, err := exec.CommandContext(ctx, serfBin, append([]string{sub, "-rpc-addr=" + a.rpc}, args...)...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("serf %s %v: %v: %s", sub, args, err, out)
	}
	return string(out), nil
}

// waitStatuses polls `serf members` until every named agent has the wanted status.
func (a *serfAgent) waitStatuses(want map[string]string) error {
	deadline := time.Now().Add(waitLimit)
	for {
		out, err := a.cli("members", "-format=json")
		if err != nil {
			return err
		}
		var v struct {
			Members []struct{ Name, Status string }
		}
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			return err
		}
		got := map[string]string{}
		for _, m := range v.Members {
			got[m.Name] = m.Status
		}
		ok := true
		for name, status := range want {
			ok = ok && got[name] == status
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("serf %s: members %v, want %v", a.name, got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (a *serfAgent) stop() {
	a.cmd.Process.Kill()
	a.cmd.Wait()
}

// tcpdump records loopback traffic on the given ports until stopped. Immediate mode
// hands every packet to tcpdump at once: otherwise the kernel batches them and
// the last batch is lost when tcpdump is interrupted.
type tcpdump struct {
	cmd    *exec.Cmd
	filter string
}

func startTcpdump(file string, ports []int) (*tcpdump, error) {
	terms := make([]string, len(ports))
	for i, p := range ports {
		terms[i] = fmt.Sprintf("port %d", p)
	}
	t := &tcpdump{filter: strings.Join(terms, " or ")}
	t.cmd = exec.Command("/usr/bin/tcpdump", "-i", "lo", "--immediate-mode", "-U", "-s", "0", "-w", file, t.filter)
	errPipe, err := t.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := t.cmd.Start(); err != nil {
		return nil, err
	}
	// tcpdump says "listening on lo" once its capture is open.
	listening := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(errPipe)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listening on") {
				listening <- nil
				io.Copy(io.Discard, errPipe)
				return
			}
			fmt.Fprintln(os.Stderr, "tcpdump:", sc.Text())
		}
		listening <- fmt.Errorf("tcpdump exited before listening")
	}()
	select {
	case err := <-listening:
		return t, err
	case <-time.After(waitLimit):
		t.cmd.Process.Kill()
		return nil, fmt.Errorf("tcpdump did not start")
	}
}

func (t *tcpdump) stop() error {
	// Give the last packets of the scenario time to reach the capture.
	time.Sleep(300 * time.Millisecond)
	t.cmd.Process.Signal(syscall.SIGINT)
	return t.cmd.Wait()
}

// freePort returns a port free for both TCP and UDP on ip.
func freePort(ip string) (int, error) {
	for range 64 {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort(ip, fmt.Sprint(port)))
		l.Close()
		if err == nil {
			u.Close()
			return port, nil
		}
	}
	return 0, fmt.Errorf("no free port on %s", ip)
}
