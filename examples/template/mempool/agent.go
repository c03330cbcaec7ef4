// Package mempool is the MempoolAgent template from the 2014 p2p README,
// compiled against Switchyard. Only the import lines and the message codec
// (at the end of the file: TxMessage, decodeMessage) differ from the
// original; everything between the markers is the seed's code as published.
package mempool

import (
	"bytes"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/switchyard-p2p/switchyard/p2p"
)

// --- begin: the 2014 template, unchanged ---

var (
	MempoolCh = byte(0x30)
)

// MempoolAgent handles mempool tx broadcasting amongst peers.
type MempoolAgent struct {
	sw       *p2p.Switch
	swEvents chan interface{}
	quit     chan struct{}

	started uint32
	stopped uint32
}

func NewMempoolAgent(sw *p2p.Switch) *MempoolAgent {
	swEvents := make(chan interface{})
	sw.AddEventListener("MempoolAgent.swEvents", swEvents)
	memA := &MempoolAgent{
		sw:       sw,
		swEvents: swEvents,
		quit:     make(chan struct{}),
	}
	return memA
}

func (memA *MempoolAgent) Start() {
	if atomic.CompareAndSwapUint32(&memA.started, 0, 1) {
		log.Info("Starting MempoolAgent")
		go memA.switchEventsRoutine()
		go memA.gossipTxRoutine()
	}
}

func (memA *MempoolAgent) Stop() {
	if atomic.CompareAndSwapUint32(&memA.stopped, 0, 1) {
		log.Info("Stopping MempoolAgent")
		close(memA.quit)
		close(memA.swEvents)
	}
}

// Handle peer new/done events
func (memA *MempoolAgent) switchEventsRoutine() {
	for {
		swEvent, ok := <-memA.swEvents
		if !ok {
			break
		}
		switch swEvent.(type) {
		case p2p.SwitchEventNewPeer:
			// event := swEvent.(p2p.SwitchEventNewPeer)
			// NOTE: set up peer state
		case p2p.SwitchEventDonePeer:
			// event := swEvent.(p2p.SwitchEventDonePeer)
			// NOTE: tear down peer state
		default:
			log.Warning("Unhandled switch event type")
		}
	}
}

func (memA *MempoolAgent) gossipTxRoutine() {
OUTER_LOOP:
	for {
		// Receive incoming message on MempoolCh
		inMsg, ok := memA.sw.Receive(MempoolCh)
		if !ok {
			break OUTER_LOOP // Client has stopped
		}
		_, msg_ := decodeMessage(inMsg.Bytes)
		log.Info("gossipMempoolRoutine received %v", msg_)

		switch msg_.(type) {
		case *TxMessage:
			// msg := msg_.(*TxMessage)
			// handle msg

		default:
			// Ignore unknown message
			// memA.sw.StopPeerForError(inMsg.MConn.Peer, errInvalidMessage)
		}
	}

	// Cleanup
}

// --- end: the 2014 template ---

// The message codec, which the template leaves to its user (the seed took
// it from tendermint/binary and tendermint/blocks): one type byte, then the
// transaction's bytes.

const (
	msgTypeUnknown = byte(0x00)
	msgTypeTx      = byte(0x10)
)

// TxMessage carries one transaction.
type TxMessage struct {
	Tx []byte
}

// WriteTo writes the message as its type byte and the transaction, so a
// TxMessage is a p2p.Binary that Send and Broadcast accept.
func (m *TxMessage) WriteTo(w io.Writer) (int64, error) {
	return p2p.TypedMessage{Type: msgTypeTx, Msg: p2p.ByteSlice(m.Tx)}.WriteTo(w)
}

// String describes the message for logs.
func (m *TxMessage) String() string { return fmt.Sprintf("[TxMessage %X]", m.Tx) }

// decodeMessage returns the type byte and the decoded message, or nil for
// an empty or unknown one.
func decodeMessage(bz []byte) (msgType byte, msg interface{}) {
	if len(bz) == 0 {
		return msgTypeUnknown, nil
	}
	msgType = bz[0]
	switch msgType {
	case msgTypeTx:
		return msgType, &TxMessage{Tx: bytes.Clone(bz[1:])}
	default:
		return msgType, nil
	}
}
