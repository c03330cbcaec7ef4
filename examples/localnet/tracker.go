package main

import (
	"encoding/binary"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/switchyard-p2p/switchyard/mempool"
)

// tracker records, for every injected transaction, when it was injected and
// when the last node took it into its pool.
//
// The pools report arrivals through their validator, the pool's only hook
// on new transactions: it runs for each transaction about to enter a pool
// (local or from a peer), after the duplicate and size checks, and a
// transaction it passes always enters. It runs under the pool's lock, so it
// only does a map lookup and a few atomic operations.
type tracker struct {
	nodes int
	start time.Time
	txs   [][]byte
	index map[mempool.TxHash]int // read-only once built

	injected   []atomic.Int64 // ns after start; 0: not injected yet
	origin     []atomic.Int32 // node the tx was injected at
	arrived    []atomic.Int64 // [tx*nodes+node]: ns after start when node's pool took tx; 0: not yet
	have       []atomic.Int32 // nodes whose pool took the tx
	doneAt     []atomic.Int64 // ns after start when have reached nodes
	complete   atomic.Int32   // txs every node has
	deliveries atomic.Int64   // (tx, node) arrivals
}

// newTracker makes k transactions of size bytes (each starts with its
// number, the rest random from rng) for a network of nodes.
func newTracker(nodes, k, size int, rng *rand.Rand) *tracker {
	t := &tracker{
		nodes:    nodes,
		start:    time.Now(),
		txs:      make([][]byte, k),
		index:    make(map[mempool.TxHash]int, k),
		injected: make([]atomic.Int64, k),
		origin:   make([]atomic.Int32, k),
		arrived:  make([]atomic.Int64, k*nodes),
		have:     make([]atomic.Int32, k),
		doneAt:   make([]atomic.Int64, k),
	}
	for i := range t.txs {
		tx := make([]byte, size)
		binary.BigEndian.PutUint64(tx, uint64(i))
		for j := 8; j < size; j++ {
			tx[j] = byte(rng.Uint32())
		}
		t.txs[i] = tx
		t.index[mempool.HashTx(tx)] = i
	}
	return t
}

// validator is node's pool validator that reports arrivals; it accepts
// every transaction.
func (t *tracker) validator(node int) mempool.ValidateFunc {
	return func(tx []byte) error {
		if i, ok := t.index[mempool.HashTx(tx)]; ok {
			if !t.arrived[i*t.nodes+node].CompareAndSwap(0, max(int64(time.Since(t.start)), 1)) {
				return nil // taken before (and evicted since): not a new arrival
			}
			t.deliveries.Add(1)
			if t.have[i].Add(1) == int32(t.nodes) {
				t.doneAt[i].Store(max(int64(time.Since(t.start)), 1))
				t.complete.Add(1)
			}
		}
		return nil
	}
}

// markInjected records that tx i is about to be injected at node.
func (t *tracker) markInjected(i, node int) {
	t.origin[i].Store(int32(node))
	t.injected[i].Store(max(int64(time.Since(t.start)), 1))
}

// latencies returns, for every transaction that reached every node, the
// time from its injection until the last node took it.
func (t *tracker) latencies() []time.Duration {
	var out []time.Duration
	for i := range t.txs {
		if done, in := t.doneAt[i].Load(), t.injected[i].Load(); done > 0 && in > 0 {
			out = append(out, time.Duration(done-in))
		}
	}
	return out
}

// arrivals returns, per transaction and node, the time from the
// transaction's injection until the node's pool took it: -1 if it never did
// (or the transaction was not injected).
func (t *tracker) arrivals() [][]time.Duration {
	out := make([][]time.Duration, len(t.txs))
	for i := range t.txs {
		in := t.injected[i].Load()
		out[i] = make([]time.Duration, t.nodes)
		for n := range out[i] {
			at := t.arrived[i*t.nodes+n].Load()
			out[i][n] = -1
			if in > 0 && at > 0 {
				out[i][n] = max(time.Duration(at-in), 0)
			}
		}
	}
	return out
}

// origins returns, per transaction, the node it was injected at: -1 if it
// was not injected.
func (t *tracker) origins() []int {
	out := make([]int, len(t.txs))
	for i := range out {
		out[i] = -1
		if t.injected[i].Load() > 0 {
			out[i] = int(t.origin[i].Load())
		}
	}
	return out
}
