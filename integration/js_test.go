package integration

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-p2p/switchyard/mempool"
	"github.com/switchyard-p2p/switchyard/p2p"
)

// jsPeer is integration/js/peer.mjs, a Switchyard peer in JavaScript
// written from PROTOCOL.md alone, run by Node. It holds any number of
// libp2p nodes; see its header for the commands and events.
type jsPeer struct {
	t     *testing.T
	cmd   *exec.Cmd
	stdin io.WriteCloser

	mu      sync.Mutex
	cond    *sync.Cond
	nextID  int
	results map[int]map[string]any
	events  []map[string]any
	ended   bool
	stderr  strings.Builder
}

// startJS starts the JavaScript peer, or skips the test where Node or its
// packages are missing (.ci/run installs them with npm ci).
func startJS(t *testing.T) *jsPeer {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the JavaScript peer cannot run")
	}
	dir, err := filepath.Abs("js")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "libp2p")); err != nil {
		t.Skip("integration/js/node_modules is missing: run npm ci in integration/js (.ci/run does)")
	}
	j := &jsPeer{t: t, results: map[int]map[string]any{}}
	j.cond = sync.NewCond(&j.mu)
	j.cmd = exec.Command(node, "peer.mjs")
	j.cmd.Dir = dir
	j.cmd.Stderr = &syncWriter{mu: &j.mu, w: &j.stderr}
	stdout, err := j.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if j.stdin, err = j.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := j.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go j.read(stdout)
	t.Cleanup(func() {
		j.stdin.Close()
		done := make(chan error, 1)
		go func() { done <- j.cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			j.cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			j.mu.Lock()
			t.Logf("the JavaScript peer's stderr:\n%s", tail(j.stderr.String(), 5000))
			j.mu.Unlock()
		}
	})
	return j
}

type syncWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (j *jsPeer) read(stdout io.Reader) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			continue
		}
		j.mu.Lock()
		if ev["ev"] == "result" {
			if id, ok := ev["id"].(float64); ok {
				j.results[int(id)] = ev
			}
		} else {
			j.events = append(j.events, ev)
		}
		j.cond.Broadcast()
		j.mu.Unlock()
	}
	j.mu.Lock()
	j.ended = true
	j.cond.Broadcast()
	j.mu.Unlock()
}

// call sends a command and waits for its result.
func (j *jsPeer) call(cmd map[string]any) map[string]any {
	j.t.Helper()
	j.mu.Lock()
	id := j.nextID
	j.nextID++
	j.mu.Unlock()
	cmd["id"] = id
	b, _ := json.Marshal(cmd)
	if _, err := fmt.Fprintf(j.stdin, "%s\n", b); err != nil {
		j.t.Fatalf("write to the JavaScript peer: %s", err)
	}
	return j.wait(fmt.Sprintf("the result of %s", b), 20*time.Second, func() map[string]any { return j.results[id] })
}

// event waits for an event that match accepts.
func (j *jsPeer) event(what string, timeout time.Duration, match func(map[string]any) bool) map[string]any {
	j.t.Helper()
	return j.wait(what, timeout, func() map[string]any {
		for _, ev := range j.events {
			if match(ev) {
				return ev
			}
		}
		return nil
	})
}

func (j *jsPeer) wait(what string, timeout time.Duration, find func() map[string]any) map[string]any {
	j.t.Helper()
	deadline := time.Now().Add(timeout)
	stop := time.AfterFunc(timeout, func() { j.mu.Lock(); j.cond.Broadcast(); j.mu.Unlock() })
	defer stop.Stop()
	j.mu.Lock()
	defer j.mu.Unlock()
	for {
		if r := find(); r != nil {
			if e, ok := r["error"]; ok {
				j.t.Fatalf("%s: the JavaScript peer failed: %v", what, e)
			}
			return r
		}
		if j.ended || time.Now().After(deadline) {
			j.t.Fatalf("no %s within %s", what, timeout)
		}
		j.cond.Wait()
	}
}

// jsNode is one libp2p node of the JavaScript peer.
type jsNode struct {
	j     *jsPeer
	index int
	id    string
	addr  string
}

// newNode starts a node that speaks the given channels.
func (j *jsPeer) newNode(channels ...byte) *jsNode {
	j.t.Helper()
	chs := make([]int, len(channels))
	for i, c := range channels {
		chs[i] = int(c)
	}
	r := j.call(map[string]any{"cmd": "new", "channels": chs})
	return &jsNode{j: j, index: int(r["node"].(float64)), id: r["peer"].(string), addr: r["addrs"].([]any)[0].(string)}
}

func (n *jsNode) call(cmd map[string]any) map[string]any {
	n.j.t.Helper()
	cmd["node"] = n.index
	return n.j.call(cmd)
}

// netAddr is the node's address for a Switch to dial.
func (n *jsNode) netAddr(t *testing.T) *p2p.NetAddress {
	na, err := p2p.ParseNetAddress(n.addr)
	if err != nil {
		t.Fatal(err)
	}
	return na
}

// frameHex is msg framed with its length (PROTOCOL.md §4.2), in hex.
func frameHex(msg []byte) string {
	return hex.EncodeToString(append(binary.AppendUvarint(nil, uint64(len(msg))), msg...))
}

// TestJavaScriptPeerInteroperates runs the JavaScript peer against Go nodes:
// both dial, channel messages and PEX go both ways, every bad input of
// PROTOCOL.md gets the penalty the document states, and a Go node's Stop is
// a graceful close for it.
func TestJavaScriptPeerInteroperates(t *testing.T) {
	j := startJS(t)
	goNode := func() *node {
		n := newNode(t, nodeConfig{swOpts: []p2p.Option{tcpHostOptions()}, mempool: true, pexOpts: []p2p.PEXOption{p2p.WithEnsurePeersPeriod(time.Hour)}})
		n.startPEX(t)
		return n
	}
	g1, g2 := goNode(), goNode()
	js := j.newNode(mempool.MempoolCh)
	peerOf := func(n *node, id string) *p2p.Peer {
		t.Helper()
		var p *p2p.Peer
		waitFor(t, 5*time.Second, "the Go node admits the JavaScript node", func() bool {
			p, _ = n.sw.Peers().(*p2p.PeerSet).Get(id), 0
			return p != nil
		})
		return p
	}
	var jsAtG1 *p2p.Peer

	t.Run("JavaScript dials Go", func(t *testing.T) {
		js.call(map[string]any{"cmd": "dial", "addr": fmt.Sprintf("%s/p2p/%s", g1.sw.Host().Addrs()[0], g1.id())})
		jsAtG1 = peerOf(g1, js.id)
	})
	t.Run("Go dials JavaScript", func(t *testing.T) {
		if _, err := g2.sw.DialPeerWithAddress(js.netAddr(t)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a transaction from Go reaches JavaScript", func(t *testing.T) {
		tx := []byte("from go")
		if err := g1.mem.BroadcastTx(tx); err != nil {
			t.Fatal(err)
		}
		want := hex.EncodeToString(append([]byte{0x10}, tx...))
		j.event("the transaction at the JavaScript node", 10*time.Second, func(ev map[string]any) bool {
			return ev["ev"] == "recv" && ev["hex"] == want
		})
	})
	t.Run("a transaction from JavaScript reaches Go", func(t *testing.T) {
		tx := []byte("from js")
		js.call(map[string]any{"cmd": "send", "peer": g1.id(), "ch": 0x30, "hex": hex.EncodeToString(append([]byte{0x10}, tx...))})
		waitFor(t, 10*time.Second, "the transaction in the pool", func() bool { return g1.mem.Mempool().Has(mempool.HashTx(tx)) })
	})
	t.Run("PEX request from JavaScript", func(t *testing.T) {
		if r := js.call(map[string]any{"cmd": "pexRequest", "peer": g1.id()}); r["outcome"] != "answered" {
			t.Fatalf("request: %v", r)
		}
	})
	t.Run("PEX request from Go", func(t *testing.T) {
		made := "12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5"
		js.call(map[string]any{"cmd": "knows", "entries": []map[string]any{{"peer": made, "addrs": []string{"/ip4/127.0.0.1/tcp/9"}}}})
		got, err := g1.pex.RequestPEXContext(t.Context(), jsAtG1)
		if err != nil || len(got) != 1 || got[0].ID.String() != made {
			t.Fatalf("request: %v, %v", got, err)
		}
	})
	t.Run("announcement from JavaScript", func(t *testing.T) {
		own := strings.Split(js.addr, "/p2p/")[0]
		if r := js.call(map[string]any{"cmd": "announce", "peer": g1.id(), "addrs": []string{own}}); r["outcome"] != "accepted" {
			t.Fatalf("announcement: %v", r)
		}
		waitFor(t, 5*time.Second, "the address in the book", func() bool { return g1.book.HasAddress(js.netAddr(t)) })
	})
	t.Run("announcement from Go", func(t *testing.T) {
		// g2 dialed the JavaScript node, so it announced its addresses.
		j.event("g2's announcement", 10*time.Second, func(ev map[string]any) bool {
			return ev["ev"] == "announced" && ev["peer"] == g2.id()
		})
	})

	// Bad input (PROTOCOL.md §4.3, §5, §6, §7): each from a fresh identity.
	mempoolCh := p2p.ChannelProtocolID(p2p.DefaultNetwork, mempool.MempoolCh)
	pexProto := "/switchyard/switchyard/pex/1.1.0"
	connect := func(t *testing.T, channels ...byte) *jsNode {
		t.Helper()
		n := j.newNode(channels...)
		n.call(map[string]any{"cmd": "dial", "addr": fmt.Sprintf("%s/p2p/%s", g1.sw.Host().Addrs()[0], g1.id())})
		if len(channels) > 0 {
			peerOf(g1, n.id)
		}
		return n
	}
	banned := func(t *testing.T, n *jsNode, raw string, closeWrite bool) {
		t.Helper()
		n.call(map[string]any{"cmd": "raw", "peer": g1.id(), "proto": string(mempoolCh), "hex": raw, "closeWrite": closeWrite, "waitMs": 3000})
		waitFor(t, 5*time.Second, "the Go node drops the sender", func() bool { return !g1.sw.Peers().Has(n.id) })
		// Banned: it may not come back.
		r := j.call(map[string]any{"cmd": "dial", "node": n.index, "addr": fmt.Sprintf("%s/p2p/%s", g1.sw.Host().Addrs()[0], g1.id())})
		time.Sleep(300 * time.Millisecond)
		if g1.sw.Peers().Has(n.id) {
			t.Fatalf("a banned peer was admitted again (dial: %v)", r)
		}
	}
	stays := func(t *testing.T, n *jsNode) {
		t.Helper()
		time.Sleep(500 * time.Millisecond)
		if !g1.sw.Peers().Has(n.id) {
			t.Fatal("the sender was stopped for what is only dropped")
		}
	}
	for _, row := range []struct {
		name       string
		raw        []byte
		closeWrite bool
	}{
		{"a message above the channel's size: ban", binary.AppendUvarint(nil, 1<<20+2), false},
		{"a varint that never ends: ban", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, false},
		{"a non-minimal varint: ban", []byte{0x85, 0x00, 0x10, 'a', 'b', 'c', 'd'}, false},
		{"a stream that ends inside a message: ban", []byte{0x0a, 0x10, 'a', 'b'}, true},
		{"an empty mempool message: ban", []byte{0x00}, false},
		{"a mempool message of a type byte alone: ban", []byte{0x01, 0x10}, false},
	} {
		t.Run(row.name, func(t *testing.T) {
			banned(t, connect(t, mempool.MempoolCh), hex.EncodeToString(row.raw), row.closeWrite)
		})
	}
	t.Run("a mempool message of an unknown type: dropped", func(t *testing.T) {
		n := connect(t, mempool.MempoolCh)
		n.call(map[string]any{"cmd": "raw", "peer": g1.id(), "proto": string(mempoolCh), "hex": frameHex([]byte{0x42, 'x'}), "waitMs": 300})
		stays(t, n)
	})
	t.Run("a third stream of one channel: reset", func(t *testing.T) {
		n := connect(t, mempool.MempoolCh)
		for i := range 3 {
			r := n.call(map[string]any{"cmd": "raw", "peer": g1.id(), "proto": string(mempoolCh), "hex": frameHex([]byte{0x10, 's', byte('0' + i)}), "waitMs": 500})
			if want := map[bool]string{true: "reset", false: "open"}[i == 2]; r["outcome"] != want {
				t.Fatalf("stream %d: %v, want %s", i+1, r["outcome"], want)
			}
		}
		stays(t, n)
	})
	t.Run("a malformed PEX request: reset", func(t *testing.T) {
		n := connect(t, mempool.MempoolCh)
		if r := n.call(map[string]any{"cmd": "raw", "peer": g1.id(), "proto": pexProto, "hex": "020100", "closeWrite": true}); r["outcome"] != "reset" {
			t.Fatalf("outcome %v, want reset", r["outcome"])
		}
		stays(t, n)
	})
	t.Run("PEX from a host that is not a peer: reset", func(t *testing.T) {
		n := connect(t) // speaks no channel
		if r := n.call(map[string]any{"cmd": "raw", "peer": g1.id(), "proto": pexProto, "hex": "0101", "closeWrite": true}); r["outcome"] != "reset" && r["outcome"] != "refused" {
			t.Fatalf("outcome %v, want reset", r["outcome"])
		}
	})
	t.Run("PEX requests beyond the pace: refused, not banned", func(t *testing.T) {
		n := connect(t, mempool.MempoolCh)
		answered, refused := 0, 0
		for range p2p.PEXRequestBurst + 3 {
			if r := n.call(map[string]any{"cmd": "pexRequest", "peer": g1.id()}); r["outcome"] == "answered" {
				answered++
			} else {
				refused++
			}
		}
		if answered < p2p.PEXRequestBurst || refused == 0 {
			t.Fatalf("%d answered, %d refused", answered, refused)
		}
		stays(t, n)
	})

	t.Run("a Go node's Stop is a graceful close", func(t *testing.T) {
		start := time.Now()
		g2.stop()
		if took := time.Since(start); took >= time.Second {
			t.Errorf("Stop took %s: the JavaScript node did not answer its FIN", took)
		}
		j.event("end of stream from the stopped node", 10*time.Second, func(ev map[string]any) bool {
			return ev["ev"] == "streamEnd" && ev["peer"] == g2.id() && ev["how"] == "eof"
		})
	})
}
