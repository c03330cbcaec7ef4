package mempool

import "testing"

// TestARecordMadeAfterThePeerWasForgottenDoesNotMatchItsNextConnection:
// the agent takes a peer's message after it forgot the peer when the
// message was read before the peer left but handled after (the agent
// forgets a peer when it leaves, while its handler may still be taking
// the peer's last messages). The record "this connection has X" is then
// made under the old connection's tag, and the peer's next connection,
// with a tag of its own, still gets X, and everything else it lacks.
func TestARecordMadeAfterThePeerWasForgottenDoesNotMatchItsNextConnection(t *testing.T) {
	m := NewMempool()
	txY, txX := []byte("Y: taken before the peer left"), []byte("X: taken after it was forgotten")
	if err := m.addTx(txY, "P#1"); err != nil {
		t.Fatal(err)
	}
	m.forget("P#1")
	if err := m.addTx(txX, "P#1"); err != nil {
		t.Fatal(err)
	}
	for _, tx := range [][]byte{txY, txX} {
		m.mu.Lock()
		e := m.byHash[HashTx(tx)]
		m.mu.Unlock()
		if !m.claim(e, "P#2") {
			t.Errorf("the peer's next connection would not get %q", tx)
		}
	}
}

// TestADuplicateCostsNoAllocation: a transaction the pool has, which is
// what most gossip brings, is counted and dropped without an allocation
// (the agent takes it lent from the Switch, and the pool copies only what
// it keeps).
func TestADuplicateCostsNoAllocation(t *testing.T) {
	m := NewMempool()
	tx := []byte("a transaction every peer sends us")
	if err := m.addTx(tx, "P#1"); err != nil {
		t.Fatal(err)
	}
	if allocs := testing.AllocsPerRun(100, func() {
		if err := m.addTx(tx, "P#2"); err != ErrTxInCache {
			t.Fatal(err)
		}
	}); allocs != 0 {
		t.Fatalf("%v allocations per duplicate", allocs)
	}
}
