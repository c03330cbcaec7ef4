package pexcompat

import (
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
)

// MessageType is the first byte of every PEX message.
type MessageType byte

// The message types of protocol version 1.0.0. Any other type byte is
// rejected with ErrUnknownType.
const (
	// TypeRequest is the type byte of a Request.
	TypeRequest MessageType = 0x01
	// TypeAddrs is the type byte of an Addrs message.
	TypeAddrs MessageType = 0x02
)

// String returns the message type's name, or its value in hex if unknown.
func (t MessageType) String() string {
	switch t {
	case TypeRequest:
		return "Request"
	case TypeAddrs:
		return "Addrs"
	default:
		return fmt.Sprintf("MessageType(0x%02x)", byte(t))
	}
}

// Message is a PEX message: *Request or *Addrs. The interface is sealed (it
// has an unexported method), so a type switch over those two is exhaustive.
type Message interface {
	// Type returns the message's type byte.
	Type() MessageType
	isMessage()
}

// Request asks the remote peer for addresses of other peers (the seed's
// pexRequestMsg). It has no body. The answer is an Addrs message.
type Request struct{}

// Type returns TypeRequest.
func (*Request) Type() MessageType { return TypeRequest }
func (*Request) isMessage()        {}

// Addrs carries addresses of peers (the seed's pexAddrsMessage). It is the
// answer to a Request and is also sent unasked, as an announcement.
//
// Each entry is a peer ID with the multiaddrs it can be dialed at. A
// multiaddr must not contain a /p2p component: the entry's peer ID field
// already says whose address it is, and a /p2p component naming another
// peer would make the address ambiguous (this also means relay addresses,
// /…/p2p/<relay>/p2p-circuit, are not carried by version 1.0.0). An entry
// may have no multiaddrs; receivers skip it.
type Addrs struct {
	Addrs []peer.AddrInfo
}

// Type returns TypeAddrs.
func (*Addrs) Type() MessageType { return TypeAddrs }
func (*Addrs) isMessage()        {}
