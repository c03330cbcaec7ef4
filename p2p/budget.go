package p2p

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Memory priorities of the two sides of a peer's budget (see
// network.ReservationPriority…). The resource manager refuses a reservation
// that would take its scope past the priority's share of the limit: sends
// stop at 60%, receives at 80%, so a peer we queue much for can still send
// to us, and yamux (which grows its windows up to 50% and reserves a new
// stream's first window at any level) keeps room to open streams.
const (
	sendPriority = network.ReservationPriorityMedium
	recvPriority = network.ReservationPriorityHigh
)

// budgetQuantum is how much the budget reserves from the resource manager at
// a time, so that most messages cost no call into it; up to two quanta may
// be reserved beyond what is used.
const budgetQuantum = 64 << 10

// peerBudget accounts for every byte one peer makes the Switch hold: the
// messages queued to it, the frame it is sending us, and its messages
// waiting for Receive. Bytes are reserved, before they are held, in a span
// of the peer's libp2p resource-manager scope, the scope yamux also reserves
// that peer's stream windows in; so the resource manager's per-peer memory
// limit bounds the whole of it, and its system limit the sum over peers.
// Safe for concurrent use.
type peerBudget struct {
	mu      sync.Mutex
	span    network.ResourceScopeSpan
	granted int64 // reserved from span
	used    int64 // held by us
	closed  bool  // the peer stopped: end the span once nothing is held

	releases atomic.Int64 // counts releases, so a refused sender knows when to try again
}

// newPeerBudget opens a span in id's scope of rm.
func newPeerBudget(rm network.ResourceManager, id peer.ID) (*peerBudget, error) {
	var span network.ResourceScopeSpan
	err := rm.ViewPeer(id, func(ps network.PeerScope) error {
		var err error
		span, err = ps.BeginSpan()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("memory budget of %s: %w", id, err)
	}
	return &peerBudget{span: span}, nil
}

// reserve accounts n more bytes at priority prio, or returns the resource
// manager's refusal (which wraps network.ErrResourceLimitExceeded), or
// ErrPeerStopped once the budget is closed.
func (b *peerBudget) reserve(n int, prio uint8) error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrPeerStopped
	}
	if need := b.used + int64(n) - b.granted; need > 0 {
		grow := max(need, budgetQuantum)
		if err := b.span.ReserveMemory(int(grow), prio); err != nil {
			if grow == need {
				return err
			}
			if err := b.span.ReserveMemory(int(need), prio); err != nil {
				return err
			}
			grow = need
		}
		b.granted += grow
	}
	b.used += int64(n)
	return nil
}

// release gives back n bytes reserved earlier.
func (b *peerBudget) release(n int) {
	if b == nil || n == 0 {
		return
	}
	b.releases.Add(1)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= int64(n)
	if b.closed && b.used == 0 {
		b.endLocked()
		return
	}
	if spare := b.granted - b.used; b.span != nil && spare > 2*budgetQuantum {
		b.span.ReleaseMemory(int(spare - budgetQuantum))
		b.granted -= spare - budgetQuantum
	}
}

// releaseCount returns how many times memory was released so far.
func (b *peerBudget) releaseCount() int64 {
	if b == nil {
		return 0
	}
	return b.releases.Load()
}

// held returns the bytes accounted now.
func (b *peerBudget) held() int64 {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// close ends the span as soon as nothing is held any more (messages of the
// peer may still wait for Receive).
func (b *peerBudget) close() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	if b.used == 0 {
		b.endLocked()
	}
}

func (b *peerBudget) endLocked() {
	if b.span != nil {
		b.span.Done()
		b.span = nil
		b.granted = 0
	}
}
