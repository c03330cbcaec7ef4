package p2p

import "sync"

// sendQueue is one channel's queue of encoded messages for one peer.
// Senders add one message at a time; the channel's writer takes everything
// queued at once, so a burst costs the writer one lock rather than a channel
// operation per message. At most capacity messages wait, plus the batch the
// writer is writing; and at most maxBytes bytes, counting that batch until
// it is written (one message is always let in, whatever its size). An idle
// queue holds no memory.
type sendQueue struct {
	capacity int
	maxBytes int
	ready    chan struct{} // one slot: the queue became non-empty

	mu      sync.Mutex
	bytes   int  // queued or being written
	closed  bool // the channel ended: pushes fail
	waiting bool // the writer found the queue empty and waits for ready
	msgs    [][]byte
	spare   [][]byte      // the writer's last batch, emptied, for reuse
	space   chan struct{} // closed at the writer's next take; nil until a sender waits
}

func newSendQueue(capacity, maxBytes int) *sendQueue {
	return &sendQueue{capacity: capacity, maxBytes: maxBytes, ready: make(chan struct{}, 1), waiting: true}
}

// tryPush queues bz if there is room.
func (q *sendQueue) tryPush(bz []byte) bool {
	q.mu.Lock()
	if q.closed || len(q.msgs) >= q.capacity || (q.bytes > 0 && q.bytes+len(bz) > q.maxBytes) {
		q.mu.Unlock()
		return false
	}
	q.msgs = append(q.msgs, bz)
	q.bytes += len(bz)
	wake := q.waiting
	q.waiting = false
	q.mu.Unlock()
	if wake {
		select {
		case q.ready <- struct{}{}:
		default:
		}
	}
	return true
}

// spaceSignal returns a channel closed when the writer next takes messages
// (and so makes room). A sender that found the queue full waits on it, then
// tries again.
func (q *sendQueue) spaceSignal() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.space == nil {
		q.space = make(chan struct{})
	}
	return q.space
}

// take removes and returns everything queued. When nothing is queued it
// returns nil and the next push signals ready. Pass the batch to recycle
// once written.
func (q *sendQueue) take() [][]byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.msgs) == 0 {
		q.waiting = true
		return nil
	}
	batch := q.msgs
	q.msgs, q.spare = q.spare, nil
	if q.space != nil {
		close(q.space)
		q.space = nil
	}
	return batch
}

// written tells the queue that the writer is done with n bytes of what it
// took, and wakes the senders waiting for room (see spaceSignal).
func (q *sendQueue) written(n int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.bytes -= n
	if q.space != nil {
		close(q.space)
		q.space = nil
	}
}

// close makes every later push fail, wakes the waiting senders and returns
// the messages still queued, which the caller drops.
func (q *sendQueue) close() [][]byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	left := q.msgs
	q.msgs = nil
	q.bytes = 0
	if q.space != nil {
		close(q.space)
		q.space = nil
	}
	return left
}

// recycle gives a written batch's slice back for reuse, dropping its
// references to the messages. The queue thus alternates between two slices
// (the one filling, the one being written), whose capacity is bounded by
// the queue's (append grows a slice at most a little past its length).
func (q *sendQueue) recycle(batch [][]byte) {
	clear(batch)
	q.mu.Lock()
	if q.spare == nil {
		q.spare = batch[:0]
	}
	q.mu.Unlock()
}

// full reports whether the queue has no room left (by count or by bytes).
func (q *sendQueue) full() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed || len(q.msgs) >= q.capacity || q.bytes >= q.maxBytes
}

// len returns the number of messages waiting.
func (q *sendQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.msgs)
}
