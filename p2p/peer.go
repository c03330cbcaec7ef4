package p2p

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Peer is a remote node we exchange channel messages with: one libp2p peer
// ID, however many connections libp2p holds to it. Its methods are safe for
// concurrent use.
type Peer struct {
	// Key identifies the peer: its libp2p peer ID as a string.
	Key string
	// ID is the libp2p peer ID.
	ID peer.ID

	outbound atomic.Bool
	mconn    *MConnection
	data     sync.Map
}

// IsOutbound reports whether we dialed the peer (rather than it dialing us).
func (p *Peer) IsOutbound() bool { return p.outbound.Load() }

// MConnection returns the peer's set of channel streams.
func (p *Peer) MConnection() *MConnection { return p.mconn }

// Send queues msg on channel chId, blocking while the channel's send queue is
// full. It returns false if the message could not be queued: the peer or the
// Switch stopped, the send timeout passed, or the channel is unknown, not
// spoken by the peer, or the message is too large (SendContext says which).
func (p *Peer) Send(chId byte, msg Binary) bool {
	bz, err := encodeMessage(msg)
	if err != nil {
		return false
	}
	return p.mconn.send(context.Background(), p.mconn.sw.cfg.sendTimeout, chId, bz) == nil
}

// SendContext is Send with a context in place of the send timeout, and an
// error saying why the message was not queued (ErrPeerStopped,
// ErrSwitchStopped, ErrUnknownChannel, ErrChannelNotSupported,
// ErrMessageTooLarge, or the context's error wrapped in ErrSendTimeout).
func (p *Peer) SendContext(ctx context.Context, chId byte, msg Binary) error {
	bz, err := encodeMessage(msg)
	if err != nil {
		return err
	}
	return p.mconn.send(ctx, 0, chId, bz)
}

// TrySend queues msg on channel chId if there is room, and never blocks. It
// returns false if the queue is full or the message could not be sent at
// all (see Send).
func (p *Peer) TrySend(chId byte, msg Binary) bool {
	bz, err := encodeMessage(msg)
	if err != nil {
		return false
	}
	return p.mconn.trySend(chId, bz) == nil
}

// CanSend reports whether a TrySend on chId would find room now: the queue
// is full neither by count nor by bytes (SendQueueBytes), and the last message refused on it (if any) was not refused
// for the peer's memory budget since the channel last wrote.
func (p *Peer) CanSend(chId byte) bool { return p.mconn.canSend(chId) }

// Set stores a value under key for agents that track per-peer state; it is
// dropped with the Peer.
func (p *Peer) Set(key string, value interface{}) { p.data.Store(key, value) }

// Get returns the value stored under key, or nil.
func (p *Peer) Get(key string) interface{} {
	v, _ := p.data.Load(key)
	return v
}

// String describes the peer for logs: its ID and direction.
func (p *Peer) String() string {
	dir := "in"
	if p.IsOutbound() {
		dir = "out"
	}
	return fmt.Sprintf("Peer{%s %s}", p.ID.ShortString(), dir)
}

// Equals reports whether other is the same remote node (same key).
func (p *Peer) Equals(other *Peer) bool {
	if p == nil || other == nil {
		return p == other
	}
	return p.Key == other.Key
}
