package integration

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchyard-p2p/switchyard/p2p"
	"github.com/switchyard-p2p/switchyard/transport"
)

func TestRestartedNodeReconnectsFromItsSavedBookWithoutTheSeed(t *testing.T) {
	// A seed and four nodes over TCP, discovering each other.
	nodes := pexNetwork(t, 5, func(int) p2p.Option { return tcpHostOptions() }, nodeConfig{pexOpts: fastPEX()})
	for _, n := range nodes {
		n.startPEX(t)
	}
	others := map[string]bool{}
	for _, n := range nodes[1:] {
		others[n.id()] = true
	}

	// X keeps its identity and its book in files; it wants 5 outbound peers,
	// so it dials every node.
	dir := t.TempDir()
	keyFile, bookFile := filepath.Join(dir, "node.key"), filepath.Join(dir, "addrbook.json")
	xConfig := nodeConfig{
		swOpts:   []p2p.Option{tcpHostOptions(transport.WithKeyFile(keyFile)), p2p.WithMaxPeers(40, 10)},
		bookPath: bookFile,
		pexOpts:  []p2p.PEXOption{p2p.WithEnsurePeersPeriod(200 * time.Millisecond), p2p.WithMinOutboundPeers(5)},
	}
	first := xConfig
	first.seeds = []*p2p.NetAddress{nodes[0].addr(t)}
	x := newNode(t, first)
	x.startPEX(t)
	took := waitFor(t, 30*time.Second, "X is a peer of the 4 nodes besides the seed", func() bool {
		out, in := peersAmong(x, others)
		return out+in == 4
	})
	t.Logf("X found the 4 nodes through the seed in %s", took.Round(time.Millisecond))
	for _, n := range nodes[1:] { // they talk, as peers do
		pingPong(t, x.sw, n.sw)
	}
	id := x.id()
	x.stop() // saves the book
	nodes[0].stop()
	if _, err := os.Stat(bookFile); err != nil {
		t.Fatalf("the book was not saved: %s", err)
	}

	// X again, same key and book, no seed to help it.
	x = newNode(t, xConfig)
	if x.id() != id {
		t.Fatalf("restarted with identity %s, want %s from the key file", x.id(), id)
	}
	if size := x.book.Size(); size < 4 {
		t.Fatalf("the reloaded book holds %d addresses, want at least the 4 peers", size)
	}
	start := time.Now()
	x.startPEX(t)
	deadline := time.Now().Add(15 * time.Second)
	for {
		out, in := peersAmong(x, others)
		if out+in == 4 && out >= 1 {
			t.Logf("restarted X reconnected to the 4 nodes in %s (%d dialed by X from its book, %d that dialed X)", time.Since(start).Round(time.Millisecond), out, in)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("restarted X has %d outbound and %d inbound peers among the 4 nodes after 15 s; its book: %d addresses; %s",
				out, in, x.book.Size(), peerErrorSummary(append(nodes[1:], x)))
		}
		time.Sleep(10 * time.Millisecond)
	}
	checkNoPeerErrors(t, append(nodes[1:], x))
	for _, n := range nodes[1:] {
		pingPong(t, x.sw, n.sw)
	}
}

// peersAmong counts n's outbound and inbound peers whose keys are in keys.
func peersAmong(n *node, keys map[string]bool) (out, in int) {
	for _, p := range n.sw.Peers().List() {
		switch {
		case !keys[p.Key]:
		case p.IsOutbound():
			out++
		default:
			in++
		}
	}
	return out, in
}
