package p2p

import "errors"

// Errors the Switch returns; compare with errors.Is, since most are wrapped
// with the peer or channel they concern.
var (
	// ErrSwitchStopped is returned by calls made after (or interrupted by) Stop.
	ErrSwitchStopped = errors.New("switch is stopped")
	// ErrSwitchDuplicatePeer is returned when adding or dialing a peer that is
	// already connected.
	ErrSwitchDuplicatePeer = errors.New("duplicate peer")
	// ErrSwitchNotStarted is returned by calls that need a started Switch.
	ErrSwitchNotStarted = errors.New("switch is not started")
	// ErrDialSelf is returned when asked to dial our own peer ID or address.
	ErrDialSelf = errors.New("cannot dial self")
	// ErrPeerBanned is returned when dialing or accepting a peer that is
	// temporarily banned after being stopped for an error.
	ErrPeerBanned = errors.New("peer is banned")
	// ErrMaxPeers is returned when a peer limit (inbound or outbound) is reached.
	ErrMaxPeers = errors.New("peer limit reached")
	// ErrNotSwitchyardPeer is returned when a connected host speaks none of our
	// channels (another network name, or not a Switchyard node at all).
	ErrNotSwitchyardPeer = errors.New("remote speaks none of our channels")
	// ErrPeerStopped is returned by sends to a peer that has been stopped.
	ErrPeerStopped = errors.New("peer is stopped")
	// ErrUnknownChannel is returned for a channel ID the Switch was not
	// configured with.
	ErrUnknownChannel = errors.New("unknown channel")
	// ErrChannelNotSupported is returned when the remote peer does not speak
	// a channel we have.
	ErrChannelNotSupported = errors.New("peer does not speak this channel")
	// ErrSendQueueFull is returned by a non-blocking send when the channel's
	// send queue is full.
	ErrSendQueueFull = errors.New("send queue is full")
	// ErrSendTimeout is returned when a blocking send could not queue its
	// message within the Switch's send timeout.
	ErrSendTimeout = errors.New("send timed out")
	// ErrMessageTooLarge is the reason a peer is stopped when it sends a
	// message above the channel's RecvMessageCapacity, and the error for a
	// local send above the same limit.
	ErrMessageTooLarge = errors.New("message exceeds the channel's maximum size")
	// ErrBadFrame is the reason a peer is stopped when a channel stream
	// carries a malformed frame (a varint that never ends, a non-minimal
	// varint, or a frame cut off mid-message).
	ErrBadFrame = errors.New("malformed frame")
	// ErrNoPeerID is returned when an address without a peer ID is dialed on a
	// host that cannot learn the ID from the handshake.
	ErrNoPeerID = errors.New("address has no peer ID")
)
