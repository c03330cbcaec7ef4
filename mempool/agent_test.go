package mempool_test

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/switchyard-p2p/switchyard/mempool"
)

func TestTwoAgentsExchangeEveryTxExactlyOnce(t *testing.T) {
	mn := newTestNet(t)
	nodes := newNodes(t, mn, 2, nodeConfig{})
	a, b := nodes[0], nodes[1]
	connect(t, a, b)
	fromA, fromB := txs("a", 100), txs("b", 100)
	go a.mustAdd(t, fromA...)
	b.mustAdd(t, fromB...)
	all := append(append([][]byte{}, fromA...), fromB...)
	waitAll(t, nodes, all)
	quiet(t, nodes)
	for _, n := range nodes {
		if n.mem.Size() != 200 {
			t.Fatalf("pool holds %d txs, want 200", n.mem.Size())
		}
		if tw := n.admits.twice(); len(tw) > 0 {
			t.Fatalf("%d txs entered a pool twice", len(tw))
		}
		st := n.mem.Stats()
		// Between two peers nothing is ever sent back: each side sends
		// exactly its own 100 and receives exactly the other's 100.
		if g, r, d := st.Gossiped.Load(), st.Received.Load(), st.Duplicate.Load(); g != 100 || r != 100 || d != 0 {
			t.Fatalf("gossiped %d, received %d, duplicate %d; want 100, 100, 0", g, r, d)
		}
	}
	// Each pool keeps its own txs in the order they were added, and the
	// peer's in the order the peer added them.
	assertSubsequence(t, a.mem.Reap(-1), fromB)
	assertSubsequence(t, b.mem.Reap(-1), fromA)
}

// assertSubsequence checks that want appears, in order, within got.
func assertSubsequence(t *testing.T, got, want [][]byte) {
	t.Helper()
	i := 0
	for _, tx := range got {
		if i < len(want) && string(tx) == string(want[i]) {
			i++
		}
	}
	if i != len(want) {
		t.Fatalf("only the first %d of %d txs appear in order", i, len(want))
	}
}

func TestTenAgentsOnARandomGraphEveryTxReachesEveryPoolOnce(t *testing.T) {
	const k, ntx = 10, 60
	mn := newTestNet(t)
	nodes := newNodes(t, mn, k, nodeConfig{})
	rng := rand.New(rand.NewPCG(1, 2))
	// A ring keeps the graph connected; chords make several paths (and so
	// the chance of a tx arriving twice).
	for i := range nodes {
		connect(t, nodes[i], nodes[(i+1)%k])
	}
	for c := 0; c < k; c++ {
		i, j := rng.IntN(k), rng.IntN(k)
		if i != j {
			connect(t, nodes[i], nodes[j])
		}
	}
	all := txs("net", ntx)
	local := make([]int, k)
	for _, tx := range all {
		i := rng.IntN(k)
		local[i]++
		nodes[i].mustAdd(t, tx)
	}
	waitAll(t, nodes, all)
	quiet(t, nodes)
	var gossiped, received uint64
	for i, n := range nodes {
		if n.mem.Size() != ntx {
			t.Fatalf("node %d holds %d txs, want %d", i, n.mem.Size(), ntx)
		}
		if tw := n.admits.twice(); len(tw) > 0 {
			t.Fatalf("node %d: %d txs entered the pool twice", i, len(tw))
		}
		st := n.mem.Stats()
		// Every tx not added here arrived from a peer at least once; the
		// extra copies are the duplicates.
		if r, d := st.Received.Load(), st.Duplicate.Load(); r-d != uint64(ntx-local[i]) {
			t.Fatalf("node %d: received %d, duplicate %d, want received-duplicate = %d", i, r, d, ntx-local[i])
		}
		gossiped += st.Gossiped.Load()
		received += st.Received.Load()
	}
	if gossiped != received {
		t.Fatalf("gossiped %d, received %d", gossiped, received)
	}
	t.Logf("%d txs over %d nodes: %d messages (%.2f per tx per node)", ntx, k, received, float64(received)/float64(ntx*(k-1)))
}

func TestNewPeerGetsTheWholePool(t *testing.T) {
	mn := newTestNet(t)
	a := newNode(t, mn, nodeConfig{})
	pool := txs("early", 300) // more than one gossip batch
	a.mustAdd(t, pool...)
	b := newNode(t, mn, nodeConfig{})
	connect(t, b, a)
	waitAll(t, []*node{b}, pool)
	// ...in a's order.
	assertSubsequence(t, b.mem.Reap(-1), pool)
	// And what comes later follows.
	late := txs("late", 10)
	a.mustAdd(t, late...)
	waitAll(t, []*node{b}, late)
}

func TestLateJoinerCatchesUpThroughAnyPeer(t *testing.T) {
	mn := newTestNet(t)
	nodes := newNodes(t, mn, 3, nodeConfig{})
	a, b, late := nodes[0], nodes[1], nodes[2]
	connect(t, a, b)
	pool := txs("before", 50)
	a.mustAdd(t, pool...)
	waitAll(t, []*node{b}, pool)
	// The late node knows only b, which got the txs from a.
	connect(t, late, b)
	waitAll(t, []*node{late}, pool)
	if got := late.mem.Stats().Duplicate.Load(); got != 0 {
		t.Fatalf("late joiner saw %d duplicates from its single peer", got)
	}
}

func TestAgentStartedAfterPeersConnectedGossipsToThem(t *testing.T) {
	mn := newTestNet(t)
	a := newNode(t, mn, nodeConfig{noAgent: true})
	b := newNode(t, mn, nodeConfig{noAgent: true})
	connect(t, a, b)
	pool := txs("pre", 20)
	for _, tx := range pool {
		if err := a.mem.AddTx(tx); err != nil {
			t.Fatal(err)
		}
	}
	a.agent.Start()
	b.agent.Start()
	waitAll(t, []*node{b}, pool)
}

func TestCommittedTxsAreNotGossiped(t *testing.T) {
	mn := newTestNet(t)
	a := newNode(t, mn, nodeConfig{})
	pool := txs("c", 10)
	a.mustAdd(t, pool...)
	a.mem.Update(pool[:5])
	b := newNode(t, mn, nodeConfig{})
	connect(t, b, a)
	waitAll(t, []*node{b}, pool[5:])
	quiet(t, []*node{a, b})
	if b.mem.Size() != 5 {
		t.Fatalf("new peer holds %d txs, want the 5 not committed", b.mem.Size())
	}
}

func TestTxAPeerAlreadyCommittedCountsAsDuplicate(t *testing.T) {
	mn := newTestNet(t)
	a := newNode(t, mn, nodeConfig{})
	b := newNode(t, mn, nodeConfig{})
	tx := []byte("committed at b")
	a.mustAdd(t, tx)
	b.mem.Update([][]byte{tx})
	connect(t, a, b)
	waitFor(t, 5*time.Second, "b receives the tx", func() bool { return b.mem.Stats().Received.Load() == 1 })
	st := b.mem.Stats()
	if st.Duplicate.Load() != 1 || b.mem.Size() != 0 {
		t.Fatalf("duplicate %d, size %d; want 1, 0", st.Duplicate.Load(), b.mem.Size())
	}
	if a.mem.Stats().Gossiped.Load() != 1 {
		t.Fatalf("a gossiped %d", a.mem.Stats().Gossiped.Load())
	}
}

func TestFullPoolKeepsTheNewestTxsFromPeersWithoutStoppingThem(t *testing.T) {
	mn := newTestNet(t)
	a := newNode(t, mn, nodeConfig{})
	b := newNode(t, mn, nodeConfig{memOpts: []mempool.Option{mempool.WithLimits(5, 1<<20, 1<<20)}})
	connect(t, a, b)
	all := txs("x", 20)
	a.mustAdd(t, all...)
	waitFor(t, 5*time.Second, "b receives all", func() bool { return b.mem.Stats().Received.Load() == 20 })
	if got := b.mem.Reap(-1); len(got) != 5 || !bytes.Equal(got[4], all[19]) {
		t.Fatalf("b holds %d txs, want the newest 5", len(got))
	}
	if !a.sw.Peers().Has(b.h.ID().String()) || !b.sw.Peers().Has(a.h.ID().String()) {
		t.Fatal("a full pool disconnected the peers")
	}
}

func TestPeerThatRestartsGetsThePoolAgain(t *testing.T) {
	mn := newTestNet(t)
	a := newNode(t, mn, nodeConfig{})
	b := newNode(t, mn, nodeConfig{})
	connect(t, a, b)
	pool := txs("p", 30)
	a.mustAdd(t, pool...)
	waitAll(t, []*node{b}, pool)
	// b restarts with the same identity and an empty pool: a's record of
	// what b has must have been dropped with the old peer.
	b.stop()
	// The process ends: its connections close. (A Switch stopped on a host it
	// does not own leaves the host's connections open.)
	if err := b.h.Network().ClosePeer(a.h.ID()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "a drops b", func() bool { return !a.sw.Peers().Has(b.h.ID().String()) })
	b2 := startNodeOn(t, b.h, nodeConfig{})
	connect(t, b2, a)
	waitAll(t, []*node{b2}, pool)
}

func TestStopIsIdempotentAndStopBeforeStartIsANoOp(t *testing.T) {
	mn := newTestNet(t)
	n := newNode(t, mn, nodeConfig{noAgent: true})
	n.agent.Stop() // before Start
	n.agent.Start()
	n.agent.Start()
	n.agent.Stop()
	n.agent.Stop()
	// A stopped agent no longer takes txs from peers.
	other := newNode(t, mn, nodeConfig{})
	connect(t, other, n)
	other.mustAdd(t, []byte("after stop"))
	time.Sleep(100 * time.Millisecond)
	if n.mem.Size() != 0 {
		t.Fatal("a stopped agent took a tx")
	}
	// Local adds still reach the pool (BroadcastTx is AddTx).
	if err := n.agent.BroadcastTx([]byte("local")); err != nil {
		t.Fatal(err)
	}
}

func TestStopDuringHeavyGossipReturns(t *testing.T) {
	mn := newTestNet(t)
	nodes := newNodes(t, mn, 3, nodeConfig{})
	connect(t, nodes[0], nodes[1])
	connect(t, nodes[1], nodes[2])
	go func() {
		for _, tx := range txs("heavy", 2000) {
			if nodes[0].agent.BroadcastTx(tx) != nil {
				return
			}
		}
	}()
	time.Sleep(20 * time.Millisecond)
	done := make(chan struct{})
	go func() {
		for _, n := range nodes {
			n.stop()
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Stop did not return during gossip")
	}
}

func TestBroadcastTxReportsPoolErrors(t *testing.T) {
	mn := newTestNet(t)
	n := newNode(t, mn, nodeConfig{memOpts: []mempool.Option{mempool.WithLimits(10, 100, 4)}})
	n.mustAdd(t, []byte("tx"))
	if err := n.agent.BroadcastTx([]byte("tx")); err == nil {
		t.Fatal("duplicate accepted")
	}
	if err := n.agent.BroadcastTx([]byte("too long")); err == nil {
		t.Fatal("oversized tx accepted")
	}
	if n.agent.Mempool() != n.mem {
		t.Fatal("Mempool() is not the pool the agent was given")
	}
}

func TestNewMempoolAgentWithNilPoolMakesOne(t *testing.T) {
	mn := newTestNet(t)
	n := newNode(t, mn, nodeConfig{noAgent: true})
	agent := mempool.NewMempoolAgent(n.sw, nil)
	if agent.Mempool() == nil {
		t.Fatal("no pool")
	}
	if err := agent.BroadcastTx([]byte("x")); err != nil || agent.Mempool().Size() != 1 {
		t.Fatalf("BroadcastTx: %v, size %d", err, agent.Mempool().Size())
	}
}

// TestAgentThatMissedPeerEventsStillGossipsToNewPeers: a listener that falls
// far behind is dropped by the Switch; the agent then misses new peers'
// events, and still finds them (it compares its peers with the Switch's
// every second) and gossips to them.
func TestAgentThatMissedPeerEventsStillGossipsToNewPeers(t *testing.T) {
	mn := newTestNet(t)
	a := newNode(t, mn, nodeConfig{})
	a.sw.RemoveEventListener(a.agent.ListenerName()) // as if dropped
	b := newNode(t, mn, nodeConfig{})
	connect(t, b, a)
	pool := txs("unheard", 20)
	a.mustAdd(t, pool...)
	waitAll(t, []*node{b}, pool)
	// And the other way: b's txs reach a's pool (they need no event at a).
	back := txs("back", 5)
	b.mustAdd(t, back...)
	waitAll(t, []*node{a}, back)
}
