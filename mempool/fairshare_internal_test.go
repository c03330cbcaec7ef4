package mempool

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestFloodingOriginEvictsItsOwnTransactions: a full pool evicts from the
// origin that holds the most, so a peer that floods it with valid
// transactions replaces its own, while an honest peer's and the node's own
// stay; and the counts of what each origin holds stay right through
// eviction and Update.
func TestFloodingOriginEvictsItsOwnTransactions(t *testing.T) {
	m := NewMempool(WithLimits(100, 1<<20, 1<<10))
	var honest, local [][]byte
	for i := range 30 {
		tx := []byte(fmt.Sprintf("honest-%d", i))
		honest = append(honest, tx)
		if err := m.addTx(tx, "honest#1"); err != nil {
			t.Fatal(err)
		}
		tx = []byte(fmt.Sprintf("local-%d", i))
		local = append(local, tx)
		if err := m.AddTx(tx); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10000 {
		if err := m.addTx([]byte(fmt.Sprintf("flood-%d", i)), "flooder#2"); err != nil {
			t.Fatal(err)
		}
	}
	for _, tx := range append(honest, local...) {
		if !m.Has(HashTx(tx)) {
			t.Fatalf("%s was evicted by a flood", tx)
		}
	}
	if m.Size() != 100 || !m.Has(HashTx([]byte("flood-9999"))) || m.Has(HashTx([]byte("flood-0"))) {
		t.Fatalf("size %d; the flood's newest should be in, its oldest out", m.Size())
	}
	// Committing some of each keeps the books right, and makes room.
	m.Update([][]byte{honest[3], local[7], []byte("flood-9990")})
	checkOrigins(t, m)
	if err := m.addTx([]byte("honest-new"), "honest#3"); err != nil {
		t.Fatal(err)
	}
	checkOrigins(t, m)
	if len(m.Reap(-1)) != 98 || !m.Has(HashTx(honest[4])) {
		t.Fatalf("size %d after Update and one more", m.Size())
	}
}

// checkOrigins checks byOrigin against the pool's entries.
func checkOrigins(t *testing.T, m *Mempool) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	count, bytes := map[string]int{}, map[string]int{}
	for _, e := range m.txs {
		count[e.origin]++
		bytes[e.origin] += len(e.tx)
	}
	if len(count) != len(m.byOrigin) {
		t.Fatalf("%d origins in the pool, %d counted", len(count), len(m.byOrigin))
	}
	for k, o := range m.byOrigin {
		if o.count != count[k] || o.bytes != bytes[k] {
			t.Fatalf("origin %q: counted %d txs %d bytes, pool has %d, %d", k, o.count, o.bytes, count[k], bytes[k])
		}
		if o.index >= len(m.origins) || m.origins[o.index] != o {
			t.Fatalf("origin %q is not where the heap says", k)
		}
	}
	if len(m.origins) != len(m.byOrigin) {
		t.Fatalf("%d origins in the heap, %d in the map", len(m.origins), len(m.byOrigin))
	}
	for i := 1; i < len(m.origins); i++ {
		if m.origins.Less(i, (i-1)/2) {
			t.Fatalf("heap order broken at %d", i)
		}
	}
}

// TestEvictionTakesFromTheBiggestOfManyOrigins: with thousands of origins
// (sybils that each left a transaction), every eviction still takes the
// oldest transaction of an origin holding the most bytes (then the most
// transactions), through adds from random origins of random sizes and
// Updates.
func TestEvictionTakesFromTheBiggestOfManyOrigins(t *testing.T) {
	m := NewMempool(WithLimits(500, 1<<30, 1<<12)) // full by count: one eviction per add
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		from := fmt.Sprintf("peer-%d#1", rng.IntN(2000))
		if i%7 == 0 {
			from = "big#1"
		}
		tx := make([]byte, 8+rng.IntN(600))
		binary.BigEndian.PutUint64(tx, uint64(i))
		// The brute-force choice: the oldest transaction of each origin
		// tied for the most bytes, then transactions.
		m.mu.Lock()
		full := len(m.txs) >= m.maxTxs
		var candidates []*entry
		if full {
			var top *origin
			for _, o := range m.byOrigin {
				if top == nil || o.bytes > top.bytes || o.bytes == top.bytes && o.count > top.count {
					top = o
				}
			}
			for _, o := range m.byOrigin {
				if o.bytes == top.bytes && o.count == top.count {
					for _, e := range o.entries {
						if m.byHash[e.hash] == e {
							candidates = append(candidates, e)
							break
						}
					}
				}
			}
		}
		m.mu.Unlock()
		if err := m.addTx(tx, from); err != nil {
			t.Fatal(err)
		}
		if full {
			gone := 0
			for _, e := range candidates {
				if !m.Has(e.hash) {
					gone++
				}
			}
			if gone != 1 {
				t.Fatalf("add %d: %d of the %d biggest origins' oldest transactions evicted, want 1", i, gone, len(candidates))
			}
		}
		if i%1000 == 0 {
			m.Update([][]byte{tx})
			checkOrigins(t, m)
		}
	}
	checkOrigins(t, m)
}

// BenchmarkAddToAFullPool adds transactions to a full pool whose other
// transactions come from one origin, or from thousands (one each): the
// eviction's cost should not follow the number of origins.
func BenchmarkAddToAFullPool(b *testing.B) {
	for _, origins := range []int{1, 4900} {
		b.Run(fmt.Sprintf("origins=%d", origins), func(b *testing.B) {
			m := NewMempool(WithLimits(5000, 64<<20, 1<<10))
			for i := range 4900 {
				tx := make([]byte, 64)
				binary.BigEndian.PutUint64(tx, uint64(i))
				if err := m.addTx(tx, fmt.Sprintf("peer-%d#1", i%origins)); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for i := range b.N {
				tx := make([]byte, 64)
				binary.BigEndian.PutUint64(tx, uint64(1<<32+i))
				if err := m.addTx(tx, "flooder#1"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
