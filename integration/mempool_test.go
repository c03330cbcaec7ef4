package integration

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/switchyard-p2p/switchyard/mempool"
	"github.com/switchyard-p2p/switchyard/p2p"
)

func TestMempoolGossipOverPEXReachesEveryNodeOnce(t *testing.T) {
	n, txs := 50, 200
	if testing.Short() {
		n = 20
	}
	mn := newMocknet(t)
	nodes := pexNetwork(t, n, func(int) p2p.Option { return p2p.WithHost(genPeer(t, mn)) }, nodeConfig{mempool: true})
	d := discover(t, nodes, 4, 60*time.Second)
	t.Logf("%d mocknet nodes with mempools connected %s", n, d)

	// Transactions enter at random nodes.
	start := time.Now()
	local := make([]int, n)
	var all []mempool.TxHash
	for i := 0; i < txs; i++ {
		at := rand.N(n)
		tx := []byte(fmt.Sprintf("tx-%03d-%016x", i, rand.Uint64()))
		if err := nodes[at].mem.BroadcastTx(tx); err != nil {
			t.Fatalf("BroadcastTx at node %d: %s", at, err)
		}
		local[at]++
		all = append(all, mempool.HashTx(tx))
	}
	waitPools(t, nodes, txs, 60*time.Second)
	spread := time.Since(start)
	for i, nd := range nodes {
		for _, h := range all {
			if !nd.mem.Mempool().Has(h) {
				t.Fatalf("node %d lacks tx %x", i, h[:4])
			}
		}
	}
	// Each transaction entered each pool once: from a peer unless it was
	// injected there; every other arrival was counted as a duplicate. (The
	// counters settle once the last duplicates have arrived.)
	var received, dups, gossiped uint64
	var wrong string
	deadline := time.Now().Add(10 * time.Second)
	for {
		received, dups, gossiped, wrong = 0, 0, 0, ""
		for i, nd := range nodes {
			st := nd.mem.Mempool().Stats()
			d := st.Duplicate.Load() // before Received, which is counted first
			r := st.Received.Load()
			if got, want := r-d, uint64(txs-local[i]); got != want && wrong == "" {
				wrong = fmt.Sprintf("node %d took %d transactions from peers, want %d", i, got, want)
			}
			received += r
			dups += d
			gossiped += st.Gossiped.Load()
		}
		if wrong == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(wrong)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%d txs reached all %d pools in %s; on the wire %d deliveries (%.2f per tx per node), %d duplicates, %d sent",
		txs, n, spread.Round(time.Millisecond), received, float64(received)/float64(txs*n), dups, gossiped)
	checkNoPeerErrors(t, nodes)

	// A node that joins late gets the whole pool.
	late := newNode(t, nodeConfig{
		swOpts:  []p2p.Option{p2p.WithHost(genPeer(t, mn)), p2p.WithMaxPeers(40, 10)},
		seeds:   []*p2p.NetAddress{nodes[0].addr(t)},
		pexOpts: scalePEX(),
		mempool: true,
	})
	late.startPEX(t)
	took := waitFor(t, 30*time.Second, "the late node has all transactions", func() bool { return late.mem.Mempool().Size() == txs })
	t.Logf("a late node caught up with %d txs in %s", txs, took.Round(time.Millisecond))
	nodes = append(nodes, late)

	// A hand-written peer sends one good transaction, a message of a type
	// the victim does not know (dropped), then a malformed one (a type byte
	// without a transaction): it is stopped, its transaction spreads, and
	// gossip goes on.
	victim := nodes[1+rand.N(n-1)]
	events := make(chan interface{}, 64)
	victim.sw.AddEventListener("garbage", events)
	bad := genPeer(t, mn)
	proto := p2p.ChannelProtocolID(p2p.DefaultNetwork, mempool.MempoolCh)
	discardChannel(bad, proto)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := bad.Connect(ctx, peer.AddrInfo{ID: victim.sw.Host().ID(), Addrs: victim.sw.Host().Addrs()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the victim admits the hand-written peer", func() bool { return victim.sw.Peers().Has(bad.ID().String()) })
	good := []byte("tx-from-a-hand-written-peer")
	writeFrames(t, bad, victim, proto, append([]byte{0x10}, good...), []byte{0x99, 'n', 'e', 'w'}, []byte{0x10})
	done := doneEvent(t, events, bad.ID().String(), 10*time.Second)
	if err, _ := done.Error.(error); !errors.Is(err, mempool.ErrBadMessage) {
		t.Fatalf("the garbage peer was stopped for %v, want mempool.ErrBadMessage", done.Error)
	}
	for i := 0; i < 20; i++ {
		if err := nodes[rand.N(len(nodes))].mem.BroadcastTx([]byte(fmt.Sprintf("after-garbage-%02d", i))); err != nil {
			t.Fatal(err)
		}
	}
	waitPools(t, nodes, txs+1+20, 60*time.Second)
	for i, nd := range nodes {
		if !nd.mem.Mempool().Has(mempool.HashTx(good)) {
			t.Errorf("node %d lacks the hand-written peer's good transaction", i)
		}
	}
}

// waitPools waits until every node's pool holds want transactions, and
// fails if one holds more.
func waitPools(t testing.TB, nodes []*node, want int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		full := 0
		for i, nd := range nodes {
			switch size := nd.mem.Mempool().Size(); {
			case size > want:
				t.Fatalf("node %d holds %d transactions, more than the %d sent", i, size, want)
			case size == want:
				full++
			}
		}
		if full == len(nodes) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s only %d of %d pools hold all %d transactions", timeout, full, len(nodes), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// writeFrames opens h's stream for a channel protocol to n and writes msgs
// on it, each framed by hand with its unsigned-varint length (PROTOCOL.md
// §4.2). The stream stays open until the test ends.
func writeFrames(t testing.TB, h host.Host, n *node, proto protocol.ID, msgs ...[]byte) {
	t.Helper()
	s, err := h.NewStream(context.Background(), n.sw.Host().ID(), proto)
	if err != nil {
		t.Fatalf("open %s: %s", proto, err)
	}
	t.Cleanup(func() { s.Reset() })
	var buf []byte
	for _, m := range msgs {
		buf = binary.AppendUvarint(buf, uint64(len(m)))
		buf = append(buf, m...)
	}
	if _, err := s.Write(buf); err != nil {
		t.Fatalf("write on %s: %s", proto, err)
	}
}
