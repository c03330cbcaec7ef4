package mempool

import (
	"cmp"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
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
	ErrTxInCache  = errors.New("mempool: tx already seen")
	ErrTxTooLarge = errors.New("mempool: tx too large")
	ErrInvalidTx  = errors.New("mempool: invalid tx")
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
// transaction's size. A transaction that would take the pool past a cap
// evicts the oldest ones (see AddTx). Defaults: DefaultMaxTxs,
// DefaultMaxBytes, DefaultMaxTxBytes.
func WithLimits(maxTxs, maxBytes, maxTxBytes int) Option {
	return func(m *Mempool) { m.maxTxs, m.maxBytes, m.maxTxBytes = maxTxs, maxBytes, maxTxBytes }
}

// WithCacheSize sets how many recent transaction hashes are remembered, so a
// transaction is not taken twice even after it left the pool. Default:
// DefaultCacheSize.
func WithCacheSize(n int) Option { return func(m *Mempool) { m.cache = newHashCache(n) } }

// Mempool holds transactions in arrival order, at most a count and a total
// size of them. When a new one does not fit, it evicts the oldest of the
// origin that holds the most bytes of the pool (the peer that first sent
// them, or this node for its own): a pool whose transactions are never
// committed (Update) keeps taking new ones instead of refusing everything
// once full, and one peer that floods it replaces its own transactions,
// not everyone's. It is safe for concurrent use.
type Mempool struct {
	validate                     ValidateFunc
	maxTxs, maxBytes, maxTxBytes int

	mu       sync.Mutex
	txs      []*entry // by seq
	byHash   map[TxHash]*entry
	byOrigin map[string]*origin
	origins  origins // the same, the biggest first
	bytes    int
	nextSeq  uint64
	cache    *hashCache
	added    chan struct{} // closed and replaced at every AddTx

	stats Stats
}

// entry is one transaction in the pool.
type entry struct {
	seq  uint64
	hash TxHash
	msg  []byte // the transaction as a message of MempoolCh: its type byte, then tx
	tx   []byte // msg[1:]
	// origin is who first gave the pool the transaction: a peer's key, or
	// "" for this node.
	origin string
	// have is who has the transaction: the peers it came from or went to
	// (by Peer.Key). Guarded by Mempool.mu.
	have map[string]struct{}
}

// Stats counts what the pool and its agent did.
type Stats struct {
	Received   atomic.Uint64 // transactions received from peers
	Duplicate  atomic.Uint64 // of those, already seen
	Invalid    atomic.Uint64 // rejected by the validator (local and remote)
	Gossiped   atomic.Uint64 // transactions sent to peers
	Evicted    atomic.Uint64 // oldest transactions evicted to make room for new ones
	OverBudget atomic.Uint64 // messages from peers dropped unread: over the sender's ingest budget
	Unknown    atomic.Uint64 // messages of a type this version does not know, dropped
	CatchUp    atomic.Uint64 // bytes sent to new peers from the pool they joined to (catch-up)
}

// NewMempool returns an empty pool.
func NewMempool(opts ...Option) *Mempool {
	m := &Mempool{
		maxTxs:     DefaultMaxTxs,
		maxBytes:   DefaultMaxBytes,
		maxTxBytes: DefaultMaxTxBytes,
		byHash:     map[TxHash]*entry{},
		byOrigin:   map[string]*origin{},
		cache:      newHashCache(DefaultCacheSize),
		added:      make(chan struct{}),
	}
	for _, o := range opts {
		o(m)
	}
	return m
}

// AddTx adds a transaction submitted locally. It fails with ErrTxTooLarge,
// ErrTxInCache (in the pool, or seen lately) or ErrInvalidTx (the
// validator's error wrapped); a transaction that passes them always enters,
// evicting the oldest transactions if the pool is at a cap.
func (m *Mempool) AddTx(tx []byte) error { return m.addTx(tx, "") }

// addTx adds tx, recording that peer from (a connection's tag, "key#n", or
// "" for this node) has it. For a transaction already seen it records from
// and returns ErrTxInCache.
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
	// The pool's own copy, made before anything else sees tx: a
	// transaction from a peer is lent (p2p's SetChannelHandler).
	msg := append([]byte{msgTypeTx}, tx...)
	if m.validate != nil {
		if err := m.validate(msg[1:]); err != nil {
			m.stats.Invalid.Add(1)
			return fmt.Errorf("%w: %w", ErrInvalidTx, err)
		}
	}
	m.evictLocked(len(tx))
	key, _, _ := strings.Cut(from, "#")
	e := &entry{seq: m.nextSeq, hash: h, msg: msg, tx: msg[1:], origin: key, have: map[string]struct{}{}}
	if from != "" {
		e.have[from] = struct{}{}
	}
	m.nextSeq++
	m.txs = append(m.txs, e)
	m.byHash[h] = e
	m.bytes += len(tx)
	o := m.byOrigin[key]
	if o == nil {
		o = &origin{}
		m.byOrigin[key] = o
	}
	m.origins.add(o, len(tx), o.count == 0)
	o.entries = append(o.entries, e)
	m.cache.add(h)
	close(m.added)
	m.added = make(chan struct{})
	return nil
}

// evictLocked evicts until a transaction of size bytes fits both caps: each
// time the oldest transaction of the origin that holds the most bytes.
// Evicted transactions stay in the seen-cache.
func (m *Mempool) evictLocked(size int) {
	for len(m.txs) > 0 && (len(m.txs) >= m.maxTxs || m.bytes+size > m.maxBytes) {
		top := m.origins[0]
		for len(top.entries) > 0 && m.byHash[top.entries[0].hash] != top.entries[0] {
			top.popFront() // removed meanwhile (Update)
		}
		if len(top.entries) == 0 {
			return // unreachable while the counts are right
		}
		m.removeLocked(top.entries[0])
		m.stats.Evicted.Add(1)
	}
}

// removeLocked takes e out of the pool.
func (m *Mempool) removeLocked(e *entry) {
	delete(m.byHash, e.hash)
	m.bytes -= len(e.tx)
	if i, ok := slices.BinarySearchFunc(m.txs, e.seq, func(x *entry, seq uint64) int { return cmp.Compare(x.seq, seq) }); ok {
		m.txs = slices.Delete(m.txs, i, i+1)
	}
	o := m.byOrigin[e.origin]
	if m.origins.remove(o, len(e.tx)) {
		delete(m.byOrigin, e.origin)
		return
	}
	switch {
	case o.entries[0] == e:
		o.popFront()
	case len(o.entries) > 2*o.count: // drop the entries removed out of order
		o.entries = slices.DeleteFunc(o.entries, func(x *entry) bool { return m.byHash[x.hash] != x })
	}
}

// popFront drops the first entry, and the array's reference to it (which
// would otherwise keep its transaction in memory until the array is
// reallocated).
func (o *origin) popFront() {
	o.entries[0] = nil
	o.entries = o.entries[1:]
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
	for _, tx := range committed {
		h := HashTx(tx)
		m.cache.add(h)
		if e := m.byHash[h]; e != nil {
			m.removeLocked(e)
		}
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

// catchUpRange returns the seqs a new peer's catch-up covers, [from, join):
// the newest transactions of the pool whose sizes (as messages) add up to
// at most budget bytes, and the seq the next transaction will get.
func (m *Mempool) catchUpRange(budget int) (from, join uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	join = m.nextSeq
	from = join
	for i := len(m.txs) - 1; i >= 0; i-- {
		if budget -= len(m.txs[i].msg); budget < 0 {
			break
		}
		from = m.txs[i].seq
	}
	return from, join
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
