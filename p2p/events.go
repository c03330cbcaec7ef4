package p2p

import (
	"sync"
	"time"
)

// SwitchEventNewPeer is sent to every event listener when a peer is added.
type SwitchEventNewPeer struct {
	Peer *Peer
}

// SwitchEventDonePeer is sent to every event listener when a peer is
// removed; Error is the reason it was stopped, nil for a clean disconnect.
type SwitchEventDonePeer struct {
	Peer  *Peer
	Error interface{}
}

// eventHub fans events out to listeners. Every listener sees every event
// once, in the same order; each has its own goroutine and queue, so a slow
// listener never stalls the Switch or the other listeners. A listener whose
// queue passes the limit is dropped (and the drop logged) rather than letting
// memory grow without bound.
type eventHub struct {
	mu        sync.Mutex
	listeners map[string]*listener
	limit     int
	closed    bool
}

func newEventHub(limit int) *eventHub {
	return &eventHub{listeners: map[string]*listener{}, limit: limit}
}

type listener struct {
	name  string
	out   chan<- interface{}
	mu    sync.Mutex
	queue []interface{}
	wake  chan struct{} // one pending wake-up
	quit  chan struct{} // closed (once, by halt) to stop the listener now
	halt  sync.Once
	drain chan struct{} // closed to stop once the queue is empty
	done  chan struct{}
}

// add registers out under name, replacing (and stopping) a listener of the
// same name.
func (h *eventHub) add(name string, out chan<- interface{}) {
	l := &listener{
		name:  name,
		out:   out,
		wake:  make(chan struct{}, 1),
		quit:  make(chan struct{}),
		drain: make(chan struct{}),
		done:  make(chan struct{}),
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	old := h.listeners[name]
	h.listeners[name] = l
	h.mu.Unlock()
	if old != nil {
		old.stop()
	}
	go l.run()
}

// remove stops the listener named name; when it returns, nothing more is
// sent on its channel.
func (h *eventHub) remove(name string) {
	h.mu.Lock()
	l := h.listeners[name]
	delete(h.listeners, name)
	h.mu.Unlock()
	if l != nil {
		l.stop()
	}
}

// publish queues ev for every listener. It never blocks on a listener.
func (h *eventHub) publish(ev interface{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for name, l := range h.listeners {
		if !l.push(ev, h.limit) {
			log.Errorf("event listener %q is %d events behind; dropping it", name, h.limit)
			delete(h.listeners, name)
			l.halt.Do(func() { close(l.quit) })
		}
	}
}

// close delivers what is queued (waiting at most grace for each slow
// listener), then stops every listener.
func (h *eventHub) close(grace time.Duration) {
	h.mu.Lock()
	h.closed = true
	ls := h.listeners
	h.listeners = map[string]*listener{}
	h.mu.Unlock()
	for _, l := range ls {
		close(l.drain)
	}
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	for _, l := range ls {
		select {
		case <-l.done:
		case <-deadline.C:
		}
		l.stop()
	}
}

func (l *listener) push(ev interface{}, limit int) bool {
	l.mu.Lock()
	if len(l.queue) >= limit {
		l.mu.Unlock()
		return false
	}
	l.queue = append(l.queue, ev)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	return true
}

func (l *listener) pop() (interface{}, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.queue) == 0 {
		return nil, false
	}
	ev := l.queue[0]
	l.queue[0] = nil
	l.queue = l.queue[1:]
	return ev, true
}

// stop ends the listener's goroutine and waits for it. Safe to call twice.
func (l *listener) stop() {
	l.halt.Do(func() { close(l.quit) })
	<-l.done
}

func (l *listener) run() {
	defer close(l.done)
	for {
		ev, ok := l.pop()
		if !ok {
			select {
			case <-l.wake:
				continue
			case <-l.drain:
				// The queue may have been filled between pop and drain.
				if ev, ok = l.pop(); !ok {
					return
				}
			case <-l.quit:
				return
			}
		}
		if !l.send(ev) {
			return
		}
	}
}

// send delivers ev, or gives up when the listener is stopped. The 2014
// template closes its listener channel in its own Stop while the Switch may
// still be sending; that closed channel ends this listener instead of
// crashing the program.
func (l *listener) send(ev interface{}) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			log.Warnf("event listener %q closed its channel; dropping it", l.name)
			ok = false
		}
	}()
	select {
	case l.out <- ev:
		return true
	case <-l.quit:
		return false
	}
}
