package mempool

import (
	"errors"
	"fmt"

	"github.com/switchyard-p2p/switchyard/p2p"
)

// MempoolCh is the channel transactions are gossiped on, as in the 2014
// template.
var MempoolCh = byte(0x30)

// msgTypeTx is the type byte of a TxMessage: the message is this byte
// followed by the transaction.
const msgTypeTx = byte(0x10)

// ErrBadMessage is the reason a peer is stopped (and banned) when it sends
// a malformed message on MempoolCh: an empty one, or a transaction message
// without a transaction (PROTOCOL.md §5).
var ErrBadMessage = errors.New("mempool: malformed message")

// ErrUnknownMessage is returned for a message on MempoolCh of a type this
// version does not know; the agent drops it (a later version may add types)
// and counts it against the sender's ingest budget.
var ErrUnknownMessage = errors.New("mempool: unknown message type")

// ChannelDescriptor describes MempoolCh for NewSwitch; maxTxBytes bounds a
// transaction (0 means DefaultMaxTxBytes), and so the channel's messages
// (maxTxBytes plus the type byte: a larger message stops and bans its
// sender). Every node of a network should use the same value.
func ChannelDescriptor(maxTxBytes int) *p2p.ChannelDescriptor {
	if maxTxBytes <= 0 {
		maxTxBytes = DefaultMaxTxBytes
	}
	return &p2p.ChannelDescriptor{
		Id:                  MempoolCh,
		SendQueueCapacity:   1000,
		RecvQueueCapacity:   1000,
		DefaultPriority:     5,
		RecvMessageCapacity: maxTxBytes + 1,
	}
}

// txMessage encodes tx for the wire.
func txMessage(tx []byte) p2p.Binary {
	return p2p.TypedMessage{Type: msgTypeTx, Msg: p2p.ByteSlice(tx)}
}

// decodeTx returns the transaction a message carries.
func decodeTx(bz []byte) ([]byte, error) {
	switch {
	case len(bz) == 0:
		return nil, fmt.Errorf("%w: empty", ErrBadMessage)
	case bz[0] != msgTypeTx:
		return nil, fmt.Errorf("%w: %#02x", ErrUnknownMessage, bz[0])
	case len(bz) == 1:
		return nil, fmt.Errorf("%w: empty transaction", ErrBadMessage)
	}
	return bz[1:], nil
}
