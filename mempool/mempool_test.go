package mempool_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/switchyard-p2p/switchyard/mempool"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func mustAddTx(t *testing.T, m *mempool.Mempool, txs ...[]byte) {
	t.Helper()
	for _, tx := range txs {
		if err := m.AddTx(tx); err != nil {
			t.Fatalf("AddTx(%q): %s", tx, err)
		}
	}
}

func mustReap(t *testing.T, m *mempool.Mempool, n int, want ...[]byte) {
	t.Helper()
	got := m.Reap(n)
	if len(got) != len(want) {
		t.Fatalf("Reap(%d) returned %d txs %q, want %q", n, len(got), got, want)
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("Reap(%d)[%d] = %q, want %q", n, i, got[i], want[i])
		}
	}
}

func TestPoolKeepsArrivalOrderAndReapReturnsOldestFirst(t *testing.T) {
	m := mempool.NewMempool()
	a, b, c := []byte("a"), []byte("b"), []byte("c")
	mustAddTx(t, m, c, a, b)
	mustReap(t, m, -1, c, a, b)
	mustReap(t, m, 2, c, a)
	mustReap(t, m, 0)
	mustReap(t, m, 10, c, a, b)
	if m.Size() != 3 || m.Bytes() != 3 {
		t.Fatalf("Size, Bytes = %d, %d; want 3, 3", m.Size(), m.Bytes())
	}
	// Reap does not remove.
	mustReap(t, m, -1, c, a, b)
}

func TestEmptyPoolReapsNothing(t *testing.T) {
	m := mempool.NewMempool()
	mustReap(t, m, -1)
	mustReap(t, m, 5)
	if m.Size() != 0 || m.Bytes() != 0 {
		t.Fatalf("Size, Bytes = %d, %d", m.Size(), m.Bytes())
	}
}

func TestAddTxRefusesADuplicate(t *testing.T) {
	m := mempool.NewMempool()
	mustAddTx(t, m, []byte("tx"))
	if err := m.AddTx([]byte("tx")); !errors.Is(err, mempool.ErrTxInCache) {
		t.Fatalf("second AddTx: %v, want ErrTxInCache", err)
	}
	if m.Size() != 1 {
		t.Fatalf("Size = %d, want 1", m.Size())
	}
}

func TestAddTxCopiesTheTransaction(t *testing.T) {
	m := mempool.NewMempool()
	tx := []byte("original")
	mustAddTx(t, m, tx)
	copy(tx, "mutated!")
	mustReap(t, m, -1, []byte("original"))
	if !m.Has(mempool.HashTx([]byte("original"))) {
		t.Fatal("pool lost the original hash")
	}
}

func TestHasAndHashTx(t *testing.T) {
	m := mempool.NewMempool()
	mustAddTx(t, m, []byte("x"))
	if !m.Has(mempool.HashTx([]byte("x"))) {
		t.Fatal("Has(x) = false")
	}
	if m.Has(mempool.HashTx([]byte("y"))) {
		t.Fatal("Has(y) = true")
	}
	if mempool.HashTx([]byte("x")) == mempool.HashTx([]byte("y")) {
		t.Fatal("distinct txs share a hash")
	}
}

func TestUpdateRemovesCommittedTxsAndKeepsThemSeen(t *testing.T) {
	m := mempool.NewMempool()
	a, b, c := []byte("aa"), []byte("bbb"), []byte("cccc")
	mustAddTx(t, m, a, b, c)
	m.Update([][]byte{b, []byte("never-seen")})
	mustReap(t, m, -1, a, c)
	if m.Size() != 2 || m.Bytes() != len(a)+len(c) {
		t.Fatalf("Size, Bytes = %d, %d; want 2, %d", m.Size(), m.Bytes(), len(a)+len(c))
	}
	if m.Has(mempool.HashTx(b)) {
		t.Fatal("committed tx still in the pool")
	}
	// Committed transactions, whether they were in the pool or not, are
	// not taken again.
	for _, tx := range [][]byte{b, []byte("never-seen")} {
		if err := m.AddTx(tx); !errors.Is(err, mempool.ErrTxInCache) {
			t.Fatalf("AddTx(%q) after Update: %v, want ErrTxInCache", tx, err)
		}
	}
	// New transactions go after the ones that stayed.
	mustAddTx(t, m, []byte("d"))
	mustReap(t, m, -1, a, c, []byte("d"))
}

func TestUpdateWithNothingIsANoOp(t *testing.T) {
	m := mempool.NewMempool()
	mustAddTx(t, m, []byte("a"))
	m.Update(nil)
	mustReap(t, m, -1, []byte("a"))
}

func TestSeenCacheIsBoundedAndForgetsTheOldest(t *testing.T) {
	m := mempool.NewMempool(mempool.WithCacheSize(2))
	a, b, c := []byte("a"), []byte("b"), []byte("c")
	mustAddTx(t, m, a, b, c)
	m.Update([][]byte{a, b, c}) // the cache now remembers b and c only
	if m.Size() != 0 {
		t.Fatalf("Size = %d after committing everything", m.Size())
	}
	for _, tx := range [][]byte{b, c} {
		if err := m.AddTx(tx); !errors.Is(err, mempool.ErrTxInCache) {
			t.Fatalf("AddTx(%q): %v, want ErrTxInCache", tx, err)
		}
	}
	if err := m.AddTx(a); err != nil {
		t.Fatalf("AddTx(a) after the cache evicted it: %v, want it accepted", err)
	}
	// Taking a again made it the most recent hash, evicting b.
	if err := m.AddTx(b); err != nil {
		t.Fatalf("AddTx(b) after a pushed it out of the cache: %v", err)
	}
	mustReap(t, m, -1, a, b)
}

func TestTxInThePoolStaysDeduplicatedAfterTheCacheEvictsIt(t *testing.T) {
	m := mempool.NewMempool(mempool.WithCacheSize(1))
	a, b := []byte("a"), []byte("b")
	mustAddTx(t, m, a, b) // the cache remembers only b
	if err := m.AddTx(a); !errors.Is(err, mempool.ErrTxInCache) {
		t.Fatalf("AddTx(a) while a is in the pool: %v, want ErrTxInCache", err)
	}
	mustReap(t, m, -1, a, b)
}

func TestPoolLimits(t *testing.T) {
	tests := []struct {
		name                         string
		maxTxs, maxBytes, maxTxBytes int
		fill                         []string // added first, must succeed
		add                          string
		want                         error
		pool                         []string // what the pool holds afterwards, oldest first
	}{
		{"count cap reached: the oldest goes", 2, 100, 100, []string{"a", "b"}, "c", nil, []string{"b", "c"}},
		{"byte cap exceeded: the oldest go", 10, 10, 10, []string{"123", "456", "78"}, "123456", nil, []string{"78", "123456"}},
		{"byte cap met exactly", 10, 10, 10, []string{"123456"}, "1234", nil, []string{"123456", "1234"}},
		{"tx above the size cap", 10, 100, 4, nil, "12345", mempool.ErrTxTooLarge, nil},
		{"tx at the size cap", 10, 100, 4, nil, "1234", nil, []string{"1234"}},
		{"size cap checked before eviction", 1, 100, 4, []string{"a"}, "12345", mempool.ErrTxTooLarge, []string{"a"}},
		{"duplicate reported before eviction", 1, 100, 4, []string{"a"}, "a", mempool.ErrTxInCache, []string{"a"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := mempool.NewMempool(mempool.WithLimits(tc.maxTxs, tc.maxBytes, tc.maxTxBytes))
			for _, tx := range tc.fill {
				mustAddTx(t, m, []byte(tx))
			}
			err := m.AddTx([]byte(tc.add))
			if !errors.Is(err, tc.want) { // errors.Is(nil, nil) holds
				t.Fatalf("AddTx(%q) = %v, want %v", tc.add, err, tc.want)
			}
			var want [][]byte
			for _, tx := range tc.pool {
				want = append(want, []byte(tx))
			}
			mustReap(t, m, -1, want...)
			if got := m.Stats().Evicted.Load(); got != uint64(len(tc.fill)+1-len(tc.pool)) && tc.want == nil {
				t.Fatalf("Evicted = %d", got)
			}
		})
	}
}

func TestDefaultTxSizeCap(t *testing.T) {
	m := mempool.NewMempool()
	if err := m.AddTx(make([]byte, mempool.DefaultMaxTxBytes)); err != nil {
		t.Fatalf("tx of DefaultMaxTxBytes: %v", err)
	}
	big := bytes.Repeat([]byte{1}, mempool.DefaultMaxTxBytes+1)
	if err := m.AddTx(big); !errors.Is(err, mempool.ErrTxTooLarge) {
		t.Fatalf("tx of DefaultMaxTxBytes+1: %v, want ErrTxTooLarge", err)
	}
}

// TestFullPoolKeepsTakingNewTxs: a pool whose transactions are never
// committed (as in examples/node) keeps taking new ones, evicting the
// oldest; an evicted transaction is still remembered as seen.
func TestFullPoolKeepsTakingNewTxs(t *testing.T) {
	m := mempool.NewMempool(mempool.WithLimits(100, 1<<20, 100))
	for i := range 10000 {
		mustAddTx(t, m, []byte(fmt.Sprintf("tx-%d", i)))
	}
	if m.Size() != 100 || m.Stats().Evicted.Load() != 9900 {
		t.Fatalf("size %d, evicted %d; want 100, 9900", m.Size(), m.Stats().Evicted.Load())
	}
	if err := m.AddTx([]byte("tx-9999")); !errors.Is(err, mempool.ErrTxInCache) {
		t.Fatalf("AddTx of a tx in the pool: %v", err)
	}
	if err := m.AddTx([]byte("tx-9000")); !errors.Is(err, mempool.ErrTxInCache) {
		t.Fatalf("AddTx of an evicted tx still in the seen-cache: %v", err)
	}
}

func TestValidatorRejectsInvalidTxs(t *testing.T) {
	errOdd := errors.New("odd length")
	calls := 0
	m := mempool.NewMempool(mempool.WithValidator(func(tx []byte) error {
		calls++
		if len(tx)%2 == 1 {
			return errOdd
		}
		return nil
	}))
	mustAddTx(t, m, []byte("ok"))
	err := m.AddTx([]byte("bad"))
	if !errors.Is(err, mempool.ErrInvalidTx) || !errors.Is(err, errOdd) {
		t.Fatalf("AddTx(bad) = %v, want ErrInvalidTx wrapping the validator's error", err)
	}
	if !strings.Contains(err.Error(), "odd length") {
		t.Fatalf("error %q does not say why", err)
	}
	mustReap(t, m, -1, []byte("ok"))
	if got := m.Stats().Invalid.Load(); got != 1 {
		t.Fatalf("Invalid = %d, want 1", got)
	}
	// A rejected tx is not remembered: it is checked again (a validator may
	// depend on state that changes).
	_ = m.AddTx([]byte("bad"))
	if calls != 3 {
		t.Fatalf("validator ran %d times, want 3", calls)
	}
	// Duplicates do not reach the validator.
	_ = m.AddTx([]byte("ok"))
	if calls != 3 {
		t.Fatalf("validator ran for a duplicate")
	}
}

func TestConcurrentAddTxTakesEachTxOnce(t *testing.T) {
	m := mempool.NewMempool()
	const writers, perWriter = 8, 200
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := map[string]int{}
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Every writer submits the same transactions.
			for i := 0; i < perWriter; i++ {
				tx := fmt.Appendf(nil, "tx-%d", i)
				if err := m.AddTx(tx); err == nil {
					mu.Lock()
					accepted[string(tx)]++
					mu.Unlock()
				} else if !errors.Is(err, mempool.ErrTxInCache) {
					t.Errorf("AddTx: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	if m.Size() != perWriter || len(accepted) != perWriter {
		t.Fatalf("Size = %d, accepted %d distinct, want %d", m.Size(), len(accepted), perWriter)
	}
	for tx, n := range accepted {
		if n != 1 {
			t.Fatalf("%s accepted %d times", tx, n)
		}
	}
}

func TestChannelDescriptorBoundsMessagesByTheTxCap(t *testing.T) {
	d := mempool.ChannelDescriptor(0)
	if d.Id != mempool.MempoolCh || mempool.MempoolCh != 0x30 {
		t.Fatalf("channel %#02x, want 0x30", d.Id)
	}
	if d.RecvMessageCapacity != mempool.DefaultMaxTxBytes+1 {
		t.Fatalf("RecvMessageCapacity = %d, want DefaultMaxTxBytes+1 (type byte)", d.RecvMessageCapacity)
	}
	if got := mempool.ChannelDescriptor(100).RecvMessageCapacity; got != 101 {
		t.Fatalf("ChannelDescriptor(100).RecvMessageCapacity = %d, want 101", got)
	}
}
