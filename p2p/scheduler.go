package p2p

import (
	"math"
	"slices"
	"sync"
	"time"
)

// sendScheduler shares one peer's link among its channels by priority, the
// 2014 MConnection's rule: of the channels that want to write, the one with
// the lowest recentlySent/priority goes next, and recentlySent decays over
// time.
//
// Each channel writes on its own stream from its own goroutine. A writer
// holds the scheduler's single permit while it hands chunks of at most
// writeQuantum bytes to the muxer; between chunks it requeues, so that a
// channel that sent less for its priority can go first, and it releases the
// permit when it has nothing more to write.
//
// A write can also block because the remote stopped reading that channel
// (the stream's flow-control window is closed). So that such a channel
// cannot stall the others, a holder that has not finished a chunk within
// stallTimeout is set aside and the permit passes on; its write completes in
// the background whenever the remote reads again.
type sendScheduler struct {
	mu        sync.Mutex
	holder    *sendChannel
	epoch     uint64 // counts grants; unchanged for a whole stall period = holder stuck
	waiters   []*sendChannel
	channels  []*sendChannel
	stall     time.Duration
	lastDecay time.Time
}

const (
	// writeQuantum is the most a channel writes per turn: the granularity
	// at which a higher-priority channel can overtake a busy one.
	writeQuantum = 64 << 10
	// decayPeriod and decayFactor age recentlySent as the 2014 package did.
	decayPeriod = 100 * time.Millisecond
	decayFactor = 0.8
)

func (s *sendScheduler) init(channels []*sendChannel, stall time.Duration) {
	s.channels = channels
	s.stall = stall
	s.lastDecay = time.Now()
}

// acquire blocks until c holds the permit, and reports false if quit closed
// first.
func (s *sendScheduler) acquire(c *sendChannel, quit <-chan struct{}) bool {
	s.mu.Lock()
	if s.holder == nil {
		s.holder = c
		s.epoch++
		s.mu.Unlock()
		return true
	}
	s.waiters = append(s.waiters, c)
	epoch := s.epoch
	s.mu.Unlock()
	return s.wait(c, epoch, quit)
}

// requeue records that the holder c wrote n more bytes and lets a waiting
// channel that sent less for its priority go first; it returns when c holds
// the permit again (false if quit closed first).
func (s *sendScheduler) requeue(c *sendChannel, n int, quit <-chan struct{}) bool {
	now := time.Now()
	s.mu.Lock()
	s.decayLocked(now)
	c.recentlySent += float64(n)
	if s.holder != c { // set aside as stalled meanwhile: queue up anew
		s.mu.Unlock()
		return s.acquire(c, quit)
	}
	if len(s.waiters) == 0 {
		s.mu.Unlock()
		return true
	}
	s.waiters = append(s.waiters, c)
	s.holder = nil
	s.grantNextLocked() // may be c itself
	epoch := s.epoch
	s.mu.Unlock()
	return s.wait(c, epoch, quit)
}

// release returns the permit after c wrote n more bytes.
func (s *sendScheduler) release(c *sendChannel, n int) {
	now := time.Now()
	s.mu.Lock()
	s.decayLocked(now)
	c.recentlySent += float64(n)
	if s.holder == c { // else c was set aside as stalled; the permit moved on
		s.holder = nil
		s.grantNextLocked()
	}
	s.mu.Unlock()
}

// wait blocks the waiting channel c until it is granted the permit. If the
// holder makes no progress (no grant) for a stall period, it is set aside.
func (s *sendScheduler) wait(c *sendChannel, epoch uint64, quit <-chan struct{}) bool {
	select {
	case <-c.grant:
		return true
	default:
	}
	if c.stallTimer == nil {
		c.stallTimer = time.NewTimer(s.stall)
	} else {
		c.stallTimer.Reset(s.stall)
	}
	defer c.stallTimer.Stop()
	for {
		select {
		case <-c.grant:
			return true
		case <-c.stallTimer.C:
			s.mu.Lock()
			if s.epoch == epoch && s.holder != nil {
				// The holder finished nothing for a whole period: most
				// likely its remote stopped reading. Stop waiting for it.
				s.holder = nil
				s.grantNextLocked()
			}
			epoch = s.epoch
			s.mu.Unlock()
			c.stallTimer.Reset(s.stall)
		case <-quit:
			s.mu.Lock()
			if i := slices.Index(s.waiters, c); i >= 0 {
				s.waiters = slices.Delete(s.waiters, i, i+1)
			} else if s.holder == c { // granted while quitting
				<-c.grant
				s.holder = nil
				s.grantNextLocked()
			}
			s.mu.Unlock()
			return false
		}
	}
}

// grantNextLocked hands the permit to the waiting channel that sent least
// for its priority.
func (s *sendScheduler) grantNextLocked() {
	if len(s.waiters) == 0 {
		return
	}
	best := 0
	for i, w := range s.waiters[1:] {
		if w.recentlySent/w.priority < s.waiters[best].recentlySent/s.waiters[best].priority {
			best = i + 1
		}
	}
	c := s.waiters[best]
	s.waiters = slices.Delete(s.waiters, best, best+1)
	s.holder = c
	s.epoch++
	c.grant <- struct{}{}
}

func (s *sendScheduler) decayLocked(now time.Time) {
	elapsed := now.Sub(s.lastDecay)
	if elapsed < decayPeriod {
		return
	}
	f := math.Pow(decayFactor, float64(elapsed/decayPeriod))
	for _, c := range s.channels {
		c.recentlySent *= f
	}
	s.lastDecay = now
}
