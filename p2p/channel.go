package p2p

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/libp2p/go-libp2p/core/protocol"
)

// Defaults for the ChannelDescriptor fields left at zero.
const (
	DefaultSendQueueCapacity   = 100
	DefaultSendQueueBytes      = 16 << 20 // 16 MiB
	DefaultRecvQueueCapacity   = 100
	DefaultRecvQueueBytes      = 16 << 20 // 16 MiB
	DefaultRecvBufferSize      = 4096
	DefaultPriority            = 1
	DefaultRecvMessageCapacity = 4 << 20 // 4 MiB
)

// ChannelServiceName is the libp2p resource-manager service that every
// channel stream (both directions) is attached to, so that the resource
// manager's limits for it bound the number of channel streams per peer and
// in all (see transport.DefaultResourceManager). The memory the Switch holds
// for a peer is reserved in that peer's scope.
const ChannelServiceName = "switchyard.channels"

// DefaultNetwork is the network name used when none is given with
// WithNetwork. Nodes with different network names never become peers.
const DefaultNetwork = "switchyard"

// ChannelDescriptor configures one channel, as in the 2014 package. Zero
// fields take the Default… values above.
type ChannelDescriptor struct {
	// Id identifies the channel on the wire; it is part of the channel's
	// libp2p protocol ID.
	Id byte
	// SendQueueCapacity is the number of messages queued per peer before Send
	// blocks and TrySend fails. The channel's writer takes the whole queue at
	// once, so up to twice as many may be held: those waiting and the batch
	// being written.
	SendQueueCapacity int
	// SendQueueBytes bounds the bytes of the messages queued per peer (those
	// being written included), so that a peer that stops reading one channel
	// cannot take the whole of its memory budget (see transport.DefaultPeerMemory)
	// and stall the others. It is at least RecvMessageCapacity.
	SendQueueBytes int
	// RecvQueueCapacity is the number of received messages (from all peers)
	// held for Receive before the channel's streams stop being read, which
	// pushes back on the senders of this channel only.
	RecvQueueCapacity int
	// RecvQueueBytes bounds the bytes of one peer's messages held for
	// Receive on the channel: beyond it the peer's stream of the channel is
	// not read, so a channel the application does not drain cannot take the
	// whole of the peer's memory budget and stall its other channels. It is
	// at least RecvMessageCapacity.
	RecvQueueBytes int
	// RecvBufferSize is the read buffer of each inbound stream of the channel.
	RecvBufferSize int
	// DefaultPriority weighs the channel against the peer's other channels
	// when the link is saturated: busy channels share bandwidth in proportion
	// to their priorities.
	DefaultPriority uint
	// RecvMessageCapacity is the largest message accepted on the channel; a
	// peer that sends a larger one is stopped with ErrMessageTooLarge.
	RecvMessageCapacity int
}

// withDefaults returns a copy with every zero field set to its default.
func (d ChannelDescriptor) withDefaults() ChannelDescriptor {
	if d.SendQueueCapacity <= 0 {
		d.SendQueueCapacity = DefaultSendQueueCapacity
	}
	if d.RecvQueueCapacity <= 0 {
		d.RecvQueueCapacity = DefaultRecvQueueCapacity
	}
	if d.RecvBufferSize <= 0 {
		d.RecvBufferSize = DefaultRecvBufferSize
	}
	if d.DefaultPriority == 0 {
		d.DefaultPriority = DefaultPriority
	}
	if d.RecvMessageCapacity <= 0 {
		d.RecvMessageCapacity = DefaultRecvMessageCapacity
	}
	if d.SendQueueBytes <= 0 {
		d.SendQueueBytes = DefaultSendQueueBytes
	}
	d.SendQueueBytes = max(d.SendQueueBytes, d.RecvMessageCapacity)
	if d.RecvQueueBytes <= 0 {
		d.RecvQueueBytes = DefaultRecvQueueBytes
	}
	d.RecvQueueBytes = max(d.RecvQueueBytes, d.RecvMessageCapacity)
	return d
}

// ErrInvalidNetworkName is returned for a network name that cannot be part
// of a protocol ID.
var ErrInvalidNetworkName = errors.New("invalid network name")

var networkNameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// ValidateNetworkName checks that name is 1–64 characters of letters,
// digits, '.', '_' or '-', as PROTOCOL.md requires.
func ValidateNetworkName(name string) error {
	if !networkNameRE.MatchString(name) {
		return fmt.Errorf("%w: %q (want 1-64 of [A-Za-z0-9._-])", ErrInvalidNetworkName, name)
	}
	return nil
}

// ChannelProtocolID is the libp2p protocol that carries channel chID on
// network, e.g. /switchyard/mychain/ch/30/1.0.0 (the ID in two hex digits).
func ChannelProtocolID(network string, chID byte) protocol.ID {
	return protocol.ID(fmt.Sprintf("/switchyard/%s/ch/%02x/1.0.0", network, chID))
}
