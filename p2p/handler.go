package p2p

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// ChannelHandler handles a message the Switch lends it: msg.Bytes is valid
// only until the handler returns, and the handler must copy whatever it
// keeps (see SetChannelHandler).
type ChannelHandler func(msg InboundBytes)

// channelHandler is the handler of one channel, if any, and what keeps its
// calls in order while it is set and changed.
type channelHandler struct {
	h atomic.Pointer[ChannelHandler]
	// calls is read-held around every call of the handler, and
	// write-held to change it: once SetChannelHandler returns, no call of
	// the old handler runs.
	calls sync.RWMutex
	// draining is held while messages of the receive queue are handed to
	// the handler, one drain at a time, so the queue's order is kept.
	draining sync.Mutex
}

// set replaces the handler, waiting for the calls of the old one to end.
func (c *channelHandler) set(h ChannelHandler) {
	c.calls.Lock()
	defer c.calls.Unlock()
	if h == nil {
		c.h.Store(nil)
		return
	}
	c.h.Store(&h)
}

// on reports whether a handler is set.
func (c *channelHandler) on() bool { return c.h.Load() != nil }

// call hands in to the handler and reports whether there was one.
func (c *channelHandler) call(in InboundBytes) bool {
	c.calls.RLock()
	defer c.calls.RUnlock()
	h := c.h.Load()
	if h == nil {
		return false
	}
	(*h)(in)
	return true
}

// SetChannelHandler makes h handle the messages of channel chId, from every
// peer, instead of Receive: the lending receive path. nil gives them back
// to Receive. It returns ErrUnknownChannel for a channel the Switch does
// not have.
//
// A message is lent: in.Bytes is the Switch's memory, valid only until h
// returns, and reused after; h must copy what it keeps and must not hand
// the slice to another goroutine. In exchange the Switch allocates nothing
// per message (a frame is lent from the stream's read buffer, or from a
// pool of buffers for larger ones), and a message goes from the stream
// straight to h, with no queue or goroutine in between.
//
// h is called on the goroutine that reads the peer's stream of the
// channel: one message at a time and in order for each peer, concurrently
// for different peers, so it must be safe for concurrent use. While it
// runs that stream is not read, so a slow h slows that peer's channel only
// (backpressure through the stream's window, as a slow Receive does); the
// message's bytes count against the peer's memory budget until h returns.
// h may penalise the peer (Penalize and the like return at once) but must
// not call SetChannelHandler, StopPeerGracefully or Stop, which wait for
// handlers. Unlike Receive's queue, which reads ahead, the lending path
// reads a peer's next message only once h has returned: what a peer sent
// just before it left may be lost if h has not taken it when the
// connection closes.
//
// Messages already waiting for Receive when h is set are handed to h first,
// in order. Once SetChannelHandler returns, the old handler is not called
// again; after Stop, no handler is called.
func (sw *Switch) SetChannelHandler(chId byte, h ChannelHandler) error {
	c := sw.handlers[chId]
	if c == nil {
		return fmt.Errorf("%w: %#02x", ErrUnknownChannel, chId)
	}
	c.set(h)
	if h != nil {
		sw.drainToHandler(chId)
	}
	return nil
}

// drainToHandler hands the messages waiting in channel chId's receive queue
// to its handler, oldest first, until the queue is empty or the handler is
// unset. A message's memory is released only after the handler returns,
// so its stream reader, which hands new messages to the handler directly
// only when none of its messages wait, cannot overtake it.
func (sw *Switch) drainToHandler(chId byte) {
	c, q := sw.handlers[chId], sw.recvQueues[chId]
	c.draining.Lock()
	defer c.draining.Unlock()
	for {
		in, ok := c.next(q)
		if !ok {
			return
		}
		in.release(chId)
	}
}

// next hands the oldest message of q to the handler and returns it; false
// when q is empty or no handler is set.
func (c *channelHandler) next(q *recvQueue) (InboundBytes, bool) {
	c.calls.RLock()
	defer c.calls.RUnlock()
	h := c.h.Load()
	if h == nil {
		return InboundBytes{}, false
	}
	in, ok := q.pop()
	if ok {
		(*h)(in)
	}
	return in, ok
}
