package mempool_test

import (
	"bytes"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-p2p/switchyard/mempool"
	"github.com/switchyard-p2p/switchyard/p2p"
)

// TestRestartedPeerGetsTxsItSentJustBeforeLeaving checks that the agent's
// per-peer record ("this peer has tx X") is dropped with the peer even for
// messages of that peer still queued for the agent when the peer left.
//
// Sequence: p sends Y, Z and X and leaves gracefully. a's agent is still
// busy with Y (its validator blocks), so it learns that p left, and starts to
// forget what p had, while Z and X wait in its receive queue. p then
// restarts with the same identity and an empty pool and reconnects: a must
// give it Y, Z and X.
//
// The agent takes X after it forgot p, and so records that the (old) p has X;
// it never sends X to the new p. (Z's slow validation only makes the order
// certain: the forget, waiting for the pool's lock meanwhile, gets it as soon
// as Z is in, before X.)
//
// The agent records peers by a tag per connection (not by Peer.Key), so
// records made after the peer was forgotten never match its next connection.
func TestRestartedPeerGetsTxsItSentJustBeforeLeaving(t *testing.T) {
	txY, txZ, txX := []byte("Y: blocks in validation"), []byte("Z: slow to validate"), []byte("X: still queued")
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	validate := func(tx []byte) error {
		switch {
		case bytes.Equal(tx, txY):
			once.Do(func() { close(entered) })
			<-release
		case bytes.Equal(tx, txZ):
			time.Sleep(50 * time.Millisecond)
		}
		return nil
	}
	mn := newTestNet(t)
	a := newNode(t, mn, nodeConfig{validate: validate})
	// The first p sends by hand (no agent), so the test knows exactly what
	// is queued at a.
	p := newNode(t, mn, nodeConfig{noAgent: true})
	connect(t, p, a)
	pa := p.peerOf(t, a)
	for _, tx := range [][]byte{txY, txZ, txX} {
		if err := pa.SendContext(ctxTimeout(t), mempool.MempoolCh, p2p.ByteSlice(append([]byte{0x10}, tx...))); err != nil {
			t.Fatal(err)
		}
	}
	<-entered // a's receive routine is inside AddTx(Y)

	// p leaves gracefully (every message delivered), then its process ends.
	p.sw.StopPeerGracefully(pa)
	if reason := a.waitDone(t, p.h.ID().String()); reason != nil {
		t.Fatalf("p left with error %v", reason)
	}
	p.stop()
	// Let a's agent handle p's done event: it blocks in the pool (whose lock
	// the validator holds) to forget what p had. The wait is bounded, so an
	// agent that forgets differently is not held up.
	awaitStack("mempool.(*Mempool).forget(", time.Second)
	close(release)
	waitFor(t, 5*time.Second, "a takes X", func() bool { return a.mem.Has(mempool.HashTx(txX)) })

	// p restarts with the same identity and an empty pool.
	p2 := startNodeOn(t, p.h, nodeConfig{})
	connect(t, p2, a)
	all := [][]byte{txY, txZ, txX}
	deadline := time.Now().Add(3 * time.Second)
	for !p2.hasAll(all) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	for _, tx := range all {
		if !p2.mem.Has(mempool.HashTx(tx)) {
			t.Errorf("the restarted peer never got %q: a kept a stale record that the old peer had it", tx)
		}
	}
}

// awaitStack waits until some goroutine's stack holds fn, or timeout.
func awaitStack(fn string, timeout time.Duration) {
	buf := make([]byte, 1<<20)
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if bytes.Contains(buf[:runtime.Stack(buf, true)], []byte(fn)) {
			time.Sleep(10 * time.Millisecond) // into Lock
			return
		}
	}
}
