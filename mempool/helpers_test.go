package mempool_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"

	"github.com/switchyard-p2p/switchyard/mempool"
	"github.com/switchyard-p2p/switchyard/p2p"
)

// node is a Switch on a mocknet host running a MempoolAgent, with a
// validator that counts how often each transaction entered its pool.
type node struct {
	h      host.Host
	sw     *p2p.Switch
	mem    *mempool.Mempool
	agent  *mempool.MempoolAgent
	admits *admissions
	events chan interface{} // the Switch's events, for tests that wait on them
}

// nodeConfig configures one test node.
type nodeConfig struct {
	chanMaxTx int              // mempool.ChannelDescriptor argument (0: default)
	memOpts   []mempool.Option // extra pool options
	validate  mempool.ValidateFunc
	agentOpts []mempool.AgentOption
	noAgent   bool // build the Switch only (the agent is started by the test)
}

// admissions counts, per transaction hash, how many times the pool's
// validator passed it, i.e. how many times the transaction entered the pool:
// the validator runs only for transactions that are neither in the pool nor
// in the seen-cache, and a transaction it passes is always added.
type admissions struct {
	mu     sync.Mutex
	counts map[mempool.TxHash]int
}

func newAdmissions() *admissions { return &admissions{counts: map[mempool.TxHash]int{}} }

func (a *admissions) validator(next mempool.ValidateFunc) mempool.ValidateFunc {
	return func(tx []byte) error {
		if next != nil {
			if err := next(tx); err != nil {
				return err
			}
		}
		a.mu.Lock()
		a.counts[mempool.HashTx(tx)]++
		a.mu.Unlock()
		return nil
	}
}

// twice returns the hashes admitted more than once.
func (a *admissions) twice() []mempool.TxHash {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []mempool.TxHash
	for h, n := range a.counts {
		if n > 1 {
			out = append(out, h)
		}
	}
	return out
}

// newTestNet makes a mocknet with every host linked (not connected) and
// closes it when the test ends, after the nodes made on it are stopped
// (cleanups run last-in first-out).
func newTestNet(t *testing.T) mocknet.Mocknet {
	t.Helper()
	mn := mocknet.New()
	t.Cleanup(func() { mn.Close() })
	return mn
}

// newNode starts a Switch (and, unless cfg.noAgent, a MempoolAgent) on a
// new host of mn, and stops them when the test ends.
func newNode(t *testing.T, mn mocknet.Mocknet, cfg nodeConfig) *node {
	t.Helper()
	h, err := mn.GenPeer()
	if err != nil {
		t.Fatal(err)
	}
	if err := mn.LinkAll(); err != nil {
		t.Fatal(err)
	}
	return startNodeOn(t, h, cfg)
}

// startNodeOn starts a node on an existing host (for restarts).
func startNodeOn(t *testing.T, h host.Host, cfg nodeConfig) *node {
	t.Helper()
	n := &node{h: h, admits: newAdmissions(), events: make(chan interface{}, 1000)}
	opts := append([]mempool.Option{mempool.WithValidator(n.admits.validator(cfg.validate))}, cfg.memOpts...)
	n.mem = mempool.NewMempool(opts...)
	n.sw = p2p.NewSwitch([]*p2p.ChannelDescriptor{mempool.ChannelDescriptor(cfg.chanMaxTx)},
		p2p.WithHost(h), p2p.WithMaxPeers(50, 50))
	n.sw.AddEventListener("test", n.events)
	if err := n.sw.Start(); err != nil {
		t.Fatal(err)
	}
	n.agent = mempool.NewMempoolAgent(n.sw, n.mem, cfg.agentOpts...)
	if !cfg.noAgent {
		n.agent.Start()
	}
	t.Cleanup(n.stop)
	return n
}

// stop stops the agent and the Switch (idempotent, as both are).
func (n *node) stop() {
	n.agent.Stop()
	n.sw.Stop()
}

// newNodes makes k nodes with the same configuration.
func newNodes(t *testing.T, mn mocknet.Mocknet, k int, cfg nodeConfig) []*node {
	t.Helper()
	nodes := make([]*node, k)
	for i := range nodes {
		nodes[i] = newNode(t, mn, cfg)
	}
	return nodes
}

// addr is a dialable address of n.
func (n *node) addr(t *testing.T) *p2p.NetAddress {
	t.Helper()
	na, err := p2p.NewNetAddressMultiaddr(n.h.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	na.ID = n.h.ID()
	return na
}

// connect dials b from a and waits until each has the other as a peer.
func connect(t *testing.T, a, b *node) {
	t.Helper()
	if _, err := a.sw.DialPeerWithAddress(b.addr(t)); err != nil && !errors.Is(err, p2p.ErrSwitchDuplicatePeer) {
		t.Fatalf("dial: %s", err)
	}
	waitFor(t, 5*time.Second, "peers", func() bool {
		return b.sw.Peers().Has(a.h.ID().String()) && a.sw.Peers().Has(b.h.ID().String())
	})
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitDone waits for the SwitchEventDonePeer of the peer with key on n's
// events and returns its reason.
func (n *node) waitDone(t *testing.T, key string) interface{} {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ev := <-n.events:
			if d, ok := ev.(p2p.SwitchEventDonePeer); ok && d.Peer.Key == key {
				return d.Error
			}
		case <-deadline:
			t.Fatalf("peer %s was not stopped", key)
		}
	}
}

// peerOf returns a's Peer for b.
func (n *node) peerOf(t *testing.T, b *node) *p2p.Peer {
	t.Helper()
	for _, p := range n.sw.Peers().List() {
		if p.ID == b.h.ID() {
			return p
		}
	}
	t.Fatalf("%s is not a peer of %s", b.h.ID(), n.h.ID())
	return nil
}

// txs returns k distinct transactions tagged with tag.
func txs(tag string, k int) [][]byte {
	out := make([][]byte, k)
	for i := range out {
		out[i] = fmt.Appendf(nil, "%s-tx-%04d", tag, i)
	}
	return out
}

// hasAll reports whether n's pool holds every transaction of want.
func (n *node) hasAll(want [][]byte) bool {
	for _, tx := range want {
		if !n.mem.Has(mempool.HashTx(tx)) {
			return false
		}
	}
	return true
}

// waitAll waits until every node's pool holds every transaction of want.
func waitAll(t *testing.T, nodes []*node, want [][]byte) {
	t.Helper()
	waitFor(t, 10*time.Second, "every pool has every tx", func() bool {
		for _, n := range nodes {
			if !n.hasAll(want) {
				return false
			}
		}
		return true
	})
}

// mustAdd adds txs locally at n. It reports failures with t.Errorf, so it
// may run in a goroutine of its own.
func (n *node) mustAdd(t *testing.T, txs ...[]byte) {
	t.Helper()
	for _, tx := range txs {
		if err := n.agent.BroadcastTx(tx); err != nil {
			t.Errorf("BroadcastTx(%q): %s", tx, err)
			return
		}
	}
}

// quiet waits until no message is in flight among nodes: the transactions
// the agents queued for sending equal those received (and the counts hold
// still for a moment).
func quiet(t *testing.T, nodes []*node) {
	t.Helper()
	var last [2]uint64
	stableSince := time.Now()
	waitFor(t, 10*time.Second, "gossip settles", func() bool {
		var sent, recv uint64
		for _, n := range nodes {
			sent += n.mem.Stats().Gossiped.Load()
			recv += n.mem.Stats().Received.Load()
		}
		now := [2]uint64{sent, recv}
		if now != last {
			last, stableSince = now, time.Now()
		}
		return sent == recv && time.Since(stableSince) > 50*time.Millisecond
	})
}

// ctxTimeout is a context for one blocking step of a test.
func ctxTimeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}
