package mempool

import (
	"fmt"
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
	}
}
