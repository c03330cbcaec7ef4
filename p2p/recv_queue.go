package p2p

import "sync"

// recvQueue is one channel's queue of received messages, from all peers,
// waiting for Receive. A stream reader adds every whole message it has
// buffered at once, so a burst costs it one lock; Receive takes one message
// at a time. At most capacity messages wait; a reader that finds the queue
// full waits for room, which is the channel's backpressure.
type recvQueue struct {
	ready chan struct{} // one slot: messages may be waiting for a Receive

	mu    sync.Mutex
	ring  []InboundBytes // capacity slots, count of them in use from head
	head  int
	count int
	space chan struct{} // closed when Receive takes a message; nil until a reader waits
}

func newRecvQueue(capacity int) *recvQueue {
	return &recvQueue{ready: make(chan struct{}, 1), ring: make([]InboundBytes, capacity)}
}

// push adds as many of msgs as there is room for and returns how many. It
// never blocks: a reader with messages left over waits on spaceSignal.
func (q *recvQueue) push(msgs []InboundBytes) int {
	q.mu.Lock()
	n := min(len(msgs), len(q.ring)-q.count)
	for i := range n {
		q.ring[(q.head+q.count+i)%len(q.ring)] = msgs[i]
	}
	q.count += n
	q.mu.Unlock()
	if n > 0 {
		q.signal()
	}
	return n
}

// pop removes the oldest message, if any. When more are left it passes the
// wake-up on, so that every waiting Receive gets its turn.
func (q *recvQueue) pop() (InboundBytes, bool) {
	q.mu.Lock()
	if q.count == 0 {
		q.mu.Unlock()
		return InboundBytes{}, false
	}
	m := q.ring[q.head]
	q.ring[q.head] = InboundBytes{} // drop the queue's reference
	q.head = (q.head + 1) % len(q.ring)
	q.count--
	more := q.count > 0
	if q.space != nil {
		close(q.space)
		q.space = nil
	}
	q.mu.Unlock()
	if more {
		q.signal()
	}
	return m, true
}

// signal wakes one waiting Receive, or leaves the wake-up for the next.
func (q *recvQueue) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// spaceSignal returns a channel closed when Receive next takes a message.
// A reader that found the queue full waits on it, then pushes again.
func (q *recvQueue) spaceSignal() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.space == nil {
		q.space = make(chan struct{})
	}
	return q.space
}

// len returns the number of messages waiting.
func (q *recvQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.count
}

// drain removes and returns every message waiting.
func (q *recvQueue) drain() []InboundBytes {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]InboundBytes, 0, q.count)
	for q.count > 0 {
		out = append(out, q.ring[q.head])
		q.ring[q.head] = InboundBytes{}
		q.head = (q.head + 1) % len(q.ring)
		q.count--
	}
	return out
}
