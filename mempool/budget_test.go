package mempool_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/switchyard-p2p/switchyard/mempool"
	"github.com/switchyard-p2p/switchyard/p2p"
)

// floodFrom makes rogue (a node without an agent) send msgs to victim as
// fast as the channel takes them, until it is no longer a peer.
func floodFrom(t *testing.T, rogue, victim *node, msgs func(i int) []byte) {
	t.Helper()
	p := rogue.peerOf(t, victim)
	for i := 0; i < 1_000_000 && rogue.sw.Peers().Has(p.Key); i++ {
		if p.SendContext(ctxTimeout(t), mempool.MempoolCh, p2p.ByteSlice(msgs(i))) != nil {
			return
		}
	}
}

// TestPeerFarOverItsIngestBudgetIsDisconnectedNotBanned: unique
// transactions or duplicates, a peer that keeps sending far over its budget
// has what is over dropped unread, then is disconnected; it may come back.
func TestPeerFarOverItsIngestBudgetIsDisconnectedNotBanned(t *testing.T) {
	for name, msg := range map[string]func(i int) []byte{
		"unique":    func(i int) []byte { return fmt.Appendf([]byte{0x10}, "unique-%d", i) },
		"duplicate": func(int) []byte { return []byte("\x10the same tx") },
	} {
		t.Run(name, func(t *testing.T) {
			mn := newTestNet(t)
			victim := newNode(t, mn, nodeConfig{agentOpts: []mempool.AgentOption{mempool.WithIngestBudget(1<<20, 200)}})
			rogue := newNode(t, mn, nodeConfig{noAgent: true})
			connect(t, rogue, victim)
			start := time.Now()
			go floodFrom(t, rogue, victim, msg)
			reason := victim.waitDone(t, rogue.h.ID().String())
			if err, _ := reason.(error); !errors.Is(err, mempool.ErrIngestFlood) {
				t.Fatalf("rogue stopped for %v, want ErrIngestFlood", reason)
			}
			st := victim.mem.Stats()
			t.Logf("disconnected after %s: %d taken, %d dropped over budget", time.Since(start).Round(time.Millisecond), st.Received.Load(), st.OverBudget.Load())
			if st.OverBudget.Load() == 0 {
				t.Error("nothing was dropped before the disconnect")
			}
			// At most the budget's burst and its rate got through.
			if got, most := st.Received.Load(), uint64(200+200*time.Since(start).Seconds()); got > most {
				t.Errorf("%d messages processed, budget allows %d", got, most)
			}
			// Not banned: it may come back at once.
			waitFor(t, 5*time.Second, "the rogue sees the disconnect", func() bool { return !rogue.sw.Peers().Has(victim.h.ID().String()) })
			if _, err := rogue.sw.DialPeerWithAddress(victim.addr(t)); err != nil {
				t.Fatalf("the disconnected peer cannot come back: %s", err)
			}
		})
	}
}

// TestPeerWithinItsIngestBudgetIsNeverDropped: a peer sending just under
// its budget has every message processed.
func TestPeerWithinItsIngestBudgetIsNeverDropped(t *testing.T) {
	mn := newTestNet(t)
	victim := newNode(t, mn, nodeConfig{agentOpts: []mempool.AgentOption{mempool.WithIngestBudget(1<<20, 400)}})
	sender := newNode(t, mn, nodeConfig{})
	connect(t, sender, victim)
	all := txs("steady", 300) // the burst, then 100 at 200/s: half the rate
	sender.mustAdd(t, all[:200]...)
	for _, tx := range all[200:] {
		time.Sleep(5 * time.Millisecond)
		sender.mustAdd(t, tx)
	}
	waitAll(t, []*node{victim}, all)
	if d := victim.mem.Stats().OverBudget.Load(); d != 0 {
		t.Fatalf("%d messages dropped from a peer within its budget", d)
	}
}

// TestCatchUpIsBoundedPerPeerAndPacedForAll: a new peer is sent at most the
// catch-up budget of the pool (its newest transactions), and new peers
// together no faster than the catch-up rate; transactions that enter the
// pool after they joined reach them at once.
func TestCatchUpIsBoundedPerPeerAndPacedForAll(t *testing.T) {
	const tx, perPeer, rate = 10 << 10, 100 << 10, 200 << 10 // bytes, bytes, bytes/s
	mn := newTestNet(t)
	src := newNode(t, mn, nodeConfig{agentOpts: []mempool.AgentOption{mempool.WithCatchUp(perPeer, rate)}})
	var pool [][]byte
	for i := range 100 { // 1 MB
		b := make([]byte, tx)
		copy(b, fmt.Sprintf("pool-%d", i))
		pool = append(pool, b)
	}
	src.mustAdd(t, pool...)
	start := time.Now()
	fresh := newNodes(t, mn, 5, nodeConfig{})
	for _, n := range fresh {
		connect(t, n, src)
	}
	live := []byte("live, after they joined")
	src.mustAdd(t, live)
	waitAll(t, fresh, [][]byte{live})
	// Each gets the newest 9 (10 x 10 KiB and the type bytes exceed 100 KiB).
	newest := pool[len(pool)-9:]
	waitAll(t, fresh, newest)
	elapsed := time.Since(start)
	sent := src.mem.Stats().CatchUp.Load()
	t.Logf("catch-up: %d bytes to %d new peers in %s", sent, len(fresh), elapsed.Round(time.Millisecond))
	for _, n := range fresh {
		if n.mem.Size() != len(newest)+1 {
			t.Errorf("a new peer holds %d txs, want %d (the newest within the catch-up budget, and the live one)", n.mem.Size(), len(newest)+1)
		}
	}
	if most := uint64(rate) + uint64(rate*elapsed.Seconds()) + tx; sent > most {
		t.Errorf("catch-up sent %d bytes in %s, more than the pace allows (%d)", sent, elapsed, most)
	}
	if minElapsed := time.Duration(float64(sent-rate-tx) / rate * float64(time.Second)); elapsed < minElapsed {
		t.Errorf("catch-up of %d bytes took %s, faster than %d B/s", sent, elapsed, rate)
	}
}
