package p2p

import "sync"

// IPeerSet is the read-only view of a set of peers that Switch.Peers returns.
type IPeerSet interface {
	// Has reports whether a peer with this key (its peer ID string) is in the set.
	Has(key string) bool
	// List returns a snapshot of the peers, in the order they were added.
	List() []*Peer
	// Size returns the number of peers.
	Size() int
}

// PeerSet is a set of peers keyed by Peer.Key, safe for concurrent use.
type PeerSet struct {
	mu     sync.RWMutex
	byKey  map[string]*Peer
	sorted []*Peer // in insertion order; List copies it
}

var _ IPeerSet = (*PeerSet)(nil)

// NewPeerSet returns an empty PeerSet.
func NewPeerSet() *PeerSet {
	return &PeerSet{byKey: map[string]*Peer{}}
}

// Add adds peer; it fails with ErrSwitchDuplicatePeer if a peer with the
// same key is already in the set.
func (ps *PeerSet) Add(peer *Peer) error {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if _, ok := ps.byKey[peer.Key]; ok {
		return ErrSwitchDuplicatePeer
	}
	ps.byKey[peer.Key] = peer
	ps.sorted = append(ps.sorted, peer)
	return nil
}

// Has reports whether a peer with this key is in the set.
func (ps *PeerSet) Has(key string) bool {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	_, ok := ps.byKey[key]
	return ok
}

// Get returns the peer with this key, or nil.
func (ps *PeerSet) Get(key string) *Peer {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	return ps.byKey[key]
}

// Remove removes peer (matched by pointer, so a newer peer with the same key
// stays) and reports whether it was there.
func (ps *PeerSet) Remove(peer *Peer) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.byKey[peer.Key] != peer {
		return false
	}
	delete(ps.byKey, peer.Key)
	for i, p := range ps.sorted {
		if p == peer {
			ps.sorted = append(ps.sorted[:i:i], ps.sorted[i+1:]...)
			break
		}
	}
	return true
}

// Size returns the number of peers.
func (ps *PeerSet) Size() int {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	return len(ps.byKey)
}

// List returns a snapshot of the peers in the order they were added.
func (ps *PeerSet) List() []*Peer {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	return append([]*Peer(nil), ps.sorted...)
}
