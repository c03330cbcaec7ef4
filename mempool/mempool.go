package mempool

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
)

// Defaults for NewMempool's options.
const (
	DefaultMaxTxs     = 5000
	DefaultMaxBytes   = 64 << 20 // 64 MiB
	DefaultMaxTxBytes = 1 << 20  // 1 MiB
	DefaultCacheSize  = 10000
)

// Errors of AddTx; compare with errors.Is.
var (
	ErrTxInCache   = errors.New("mempool: tx already seen")
	ErrMempoolFull = errors.New("mempool: full")
	ErrTxTooLarge  = errors.New("mempool: tx too large")
	ErrInvalidTx   = errors.New("mempool: invalid tx")
)

// TxHash identifies a transaction: its SHA-256.
type TxHash [sha256.Size]byte

// HashTx returns the hash of tx.
func HashTx(tx []byte) TxHash { return sha256.Sum256(tx) }

// ValidateFunc checks a transaction before it enters the pool; an error
// rejects it.
type ValidateFunc func(tx []byte) error

// Option configures a Mempool.
type Option func(*Mempool)

// WithValidator sets the check every transaction must pass. Default: accept all.
func WithValidator(v ValidateFunc) Option { return func(m *Mempool) { m.validate = v } }

// WithLimits bounds the pool by transaction count and total bytes, and each
// transaction's size. Defaults: DefaultMaxTxs, DefaultMaxBytes, DefaultMaxTxBytes.
func WithLimits(maxTxs, maxBytes, maxTxBytes int) Option {
	return func(m *Mempool) { m.maxTxs, m.maxBytes, m.maxTxBytes = maxTxs, maxBytes, maxTxBytes }
}

// WithCacheSize sets how many recent transaction hashes are remembered, so a
// transaction is not taken twice even after it left the pool. Default:
// DefaultCacheSize.
func WithCacheSize(n int) Option { return func(m *Mempool) { m.cache = newHashCache(n) } }

// Mempool holds transactions in arrival order. It is safe for concurrent use.
type Mempool struct {
	validate                     ValidateFunc
	maxTxs, maxBytes, maxTxBytes int

	mu      sync.Mutex
	txs     []*entry // by seq
	byHash  map[TxHash]*entry
	bytes   int
	nextSeq uint64
	cache   *hashCache
	added   chan struct{} // closed and replaced at every AddTx

	stats Stats
}

// entry is one transaction in the pool.
type entry struct {
	seq  uint64
	hash TxHash
	tx   []byte
	// have is who has the transaction: the peers it came from or went to
	// (by Peer.Key). Guarded by Mempool.mu.
	have map[string]struct{}
}

// Stats counts what the pool and its agent did.
type Stats struct {
	Received  atomic.Uint64 // transactions received from peers
	Duplicate atomic.Uint64 // of those, already seen
	Invalid   atomic.Uint64 // rejected by the validator (local and remote)
	Gossiped  atomic.Uint64 // transactions sent to peers
}

// NewMempool returns an empty pool.
func NewMempool(opts ...Option) *Mempool {
	m := &Mempool{
		maxTxs:     DefaultMaxTxs,
		maxBytes:   DefaultMaxBytes,
		maxTxBytes: DefaultMaxTxBytes,
		byHash:     map[TxHash]*entry{},
		cache:      newHashCache(DefaultCacheSize),
		added:      make(chan struct{}),
	}
	for _, o := range opts {
		o(m)
	}
	return m
}

// AddTx adds a transaction submitted locally.
func (m *Mempool) AddTx(tx []byte) error { return m.addTx(tx, "") }

// addTx adds tx, recording that peer key from (if any) has it. For a
// transaction already seen it records from and returns ErrTxInCache.
func (m *Mempool) addTx(tx []byte, from string) error {
	if len(tx) > m.maxTxBytes {
		return fmt.Errorf("%w: %d bytes (max %d)", ErrTxTooLarge, len(tx), m.maxTxBytes)
	}
	h := HashTx(tx)
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.byHash[h]; e != nil || m.cache.has(h) {
		if e != nil && from != "" {
			e.have[from] = struct{}{}
		}
		return ErrTxInCache
	}
	if len(m.txs) >= m.maxTxs || m.bytes+len(tx) > m.maxBytes {
		return fmt.Errorf("%w: %d txs, %d bytes", ErrMempoolFull, len(m.txs), m.bytes)
	}
	if m.validate != nil {
		if err := m.validate(tx); err != nil {
			m.stats.Invalid.Add(1)
			return fmt.Errorf("%w: %w", ErrInvalidTx, err)
		}
	}
	e := &entry{seq: m.nextSeq, hash: h, tx: slices.Clone(tx), have: map[string]struct{}{}}
	if from != "" {
		e.have[from] = struct{}{}
	}
	m.nextSeq++
	m.txs = append(m.txs, e)
	m.byHash[h] = e
	m.bytes += len(tx)
	m.cache.add(h)
	close(m.added)
	m.added = make(chan struct{})
	return nil
}

// Reap returns up to n transactions, oldest first (n < 0: all). They stay in
// the pool until Update removes them.
func (m *Mempool) Reap(n int) [][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n < 0 || n > len(m.txs) {
		n = len(m.txs)
	}
	out := make([][]byte, n)
	for i := range out {
		out[i] = m.txs[i].tx
	}
	return out
}

// Update removes committed transactions from the pool; they stay in the
// seen-cache, so they are not taken again.
func (m *Mempool) Update(committed [][]byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	gone := map[TxHash]bool{}
	for _, tx := range committed {
		h := HashTx(tx)
		m.cache.add(h)
		if e := m.byHash[h]; e != nil {
			gone[h] = true
			delete(m.byHash, h)
			m.bytes -= len(e.tx)
		}
	}
	if len(gone) > 0 {
		m.txs = slices.DeleteFunc(m.txs, func(e *entry) bool { return gone[e.hash] })
	}
}

// Size returns the number of transactions in the pool.
func (m *Mempool) Size() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.txs)
}

// Bytes returns the total size of the transactions in the pool.
func (m *Mempool) Bytes() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.bytes
}

// Has reports whether the transaction with hash h is in the pool.
func (m *Mempool) Has(h TxHash) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.byHash[h] != nil
}

// Stats returns the pool's counters.
func (m *Mempool) Stats() *Stats { return &m.stats }

// after returns up to max entries with seq >= seq, and a channel closed when
// a transaction is added.
func (m *Mempool) after(seq uint64, max int) ([]*entry, <-chan struct{}) {
	m.mu.Lock()
	defer m.mu.Unlock()
	i, _ := slices.BinarySearchFunc(m.txs, seq, func(e *entry, s uint64) int {
		switch {
		case e.seq < s:
			return -1
		case e.seq > s:
			return 1
		}
		return 0
	})
	end := min(len(m.txs), i+max)
	return slices.Clone(m.txs[i:end]), m.added
}

// claim records that peer key gets e, and reports false if it had it
// already or e has left the pool.
func (m *Mempool) claim(e *entry, key string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.byHash[e.hash] != e {
		return false
	}
	if _, ok := e.have[key]; ok {
		return false
	}
	e.have[key] = struct{}{}
	return true
}

// forget drops what the pool knew of peer key.
func (m *Mempool) forget(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.txs {
		delete(e.have, key)
	}
}
