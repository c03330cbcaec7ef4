package p2p

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// MConnection is a peer's set of channel streams: for each channel the peer
// speaks, a send queue and the stream we write it on, and the stream the
// peer writes to us. Agents reach the sending peer of a message through
// InboundBytes.MConn.Peer.
type MConnection struct {
	// Peer is the peer these streams belong to.
	Peer *Peer
	// LocalAddress and RemoteAddress are the two ends of the libp2p
	// connection the peer was added on.
	LocalAddress  *NetAddress
	RemoteAddress *NetAddress

	sw     *Switch
	remote peer.ID
	budget *peerBudget // every byte the peer makes us hold

	// recvHeld is, by channel, the bytes of the peer's messages that wait
	// for Receive.
	recvHeld [256]atomic.Int64
	sched    sendScheduler
	byID     [256]*sendChannel // nil: unknown channel, or not spoken by the peer
	chans    []*sendChannel
	wg       sync.WaitGroup // channel writers

	// closing is closed when the peer starts stopping (no more sends);
	// quit when its streams must end now. A graceful stop closes closing,
	// lets the writers flush, then closes quit.
	closing   chan struct{}
	stopping  atomic.Bool // closing is closed; cheaper to test on every send
	quit      chan struct{}
	closeOnce sync.Once
	quitOnce  sync.Once
	ctx       context.Context // canceled with quit: bounds stream opening
	cancel    context.CancelFunc

	mu      sync.Mutex
	err     error                       // why the peer stopped; first reason wins
	streams map[network.Stream]struct{} // open streams, reset at stop
	readers map[*frameReader]byte       // inbound streams being read, and their channels
	inbound [256]uint8                  // inbound streams open, by channel
	failed  failures                    // waiting out disconnectGrace (see fail)
}

// streamFailure is a stream's failure that fail has not judged yet.
type streamFailure struct {
	s   network.Stream // nil: no stream yet
	err error
	at  time.Time
}

// failures are a peer's stream failures waiting to be judged together: the
// first, and the first that ran on a connection open at the time. (Only
// firsts: later ones would put the judgement off, and a peer that resets
// streams in a loop would never be judged.)
type failures struct{ first, onOpen *streamFailure }

// judged is the failure to judge the peer by: the one on a connection that
// is still open (the remote's doing), else the first.
func (fs failures) judged() *streamFailure {
	if fs.onOpen != nil && fs.onOpen.onOpenConn() {
		return fs.onOpen
	}
	return fs.first
}

// onOpenConn reports whether f's stream ran on a connection that is still
// open, the stronger evidence that the remote failed it.
func (f *streamFailure) onOpenConn() bool { return f.s != nil && !f.s.Conn().IsClosed() }

func newMConnection(sw *Switch, p *Peer, conn network.Conn, spoken map[byte]bool, budget *peerBudget) *MConnection {
	m := &MConnection{
		Peer:    p,
		sw:      sw,
		remote:  p.ID,
		budget:  budget,
		closing: make(chan struct{}),
		quit:    make(chan struct{}),
		streams: map[network.Stream]struct{}{},
		readers: map[*frameReader]byte{},
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	if conn != nil {
		m.LocalAddress = netAddressOf(conn.LocalMultiaddr(), sw.host.ID())
		m.RemoteAddress = netAddressOf(conn.RemoteMultiaddr(), p.ID)
	}
	for _, d := range sw.chDescs {
		if !spoken[d.Id] {
			continue
		}
		c := newSendChannel(m, d, sw.protoByID[d.Id], sw.metrics.channel(d.Id))
		m.byID[d.Id] = c
		m.chans = append(m.chans, c)
	}
	m.sched.init(m.chans, sw.cfg.stallTimeout)
	return m
}

// start launches one writer per channel, as tasks of the Switch.
func (m *MConnection) start() {
	for _, c := range m.chans {
		m.wg.Add(1)
		if !m.sw.spawn(c.run) {
			c.drop()
			m.wg.Done()
		}
	}
}

// channel returns the send side of chID, or why there is none.
func (m *MConnection) channel(chID byte) (*sendChannel, error) {
	if c := m.byID[chID]; c != nil {
		return c, nil
	}
	if m.sw.descByID[chID] == nil {
		return nil, fmt.Errorf("%w: %#02x", ErrUnknownChannel, chID)
	}
	return nil, fmt.Errorf("%w: %#02x (%s)", ErrChannelNotSupported, chID, m.Peer)
}

// send queues bz on chID; see sendChannel.enqueue for ctx and timeout.
func (m *MConnection) send(ctx context.Context, timeout time.Duration, chID byte, bz []byte) error {
	c, err := m.channel(chID)
	if err != nil {
		return err
	}
	if len(bz) > c.desc.RecvMessageCapacity {
		return fmt.Errorf("%w: %d bytes on channel %#02x (max %d)", ErrMessageTooLarge, len(bz), chID, c.desc.RecvMessageCapacity)
	}
	return c.enqueue(ctx, timeout, bz)
}

func (m *MConnection) trySend(chID byte, bz []byte) error {
	c, err := m.channel(chID)
	if err != nil {
		return err
	}
	if len(bz) > c.desc.RecvMessageCapacity {
		return fmt.Errorf("%w: %d bytes on channel %#02x (max %d)", ErrMessageTooLarge, len(bz), chID, c.desc.RecvMessageCapacity)
	}
	return c.tryEnqueue(bz)
}

func (m *MConnection) canSend(chID byte) bool {
	c, err := m.channel(chID)
	if err != nil {
		return false
	}
	return !m.stopping.Load() && c.refusedAt.Load() != m.budget.releaseCount() && !c.queue.full()
}

// openStream opens our stream for a channel and tracks it for stop. It
// waits as long as the peer lives: go-libp2p opens a stream only once
// identify has finished on the connection, which can take long on a loaded
// machine, and slowness is no fault. The watchdog counts the wait as a
// write that makes no progress (see sendChannel.run). When the protocol
// negotiation fails, it returns the stream, reset, with the error, so that
// the caller can tell which connection it failed on (see fail).
func (m *MConnection) openStream(proto protocol.ID) (network.Stream, error) {
	// Never redial a peer that went away: mocknet's NewStream dials even
	// with WithNoDial.
	if !isConnected(m.sw.host.Network().Connectedness(m.remote)) {
		return nil, fmt.Errorf("open %s: %w", proto, network.ErrNoConn)
	}
	// A peer reached only through a relay has a relayed connection, which
	// go-libp2p marks limited when the relay sets limits; the channel runs
	// over it, and moves to a direct one when one appears (see relayed.go). go-libp2p opens the stream on the best
	// connection: a direct one when there is one.
	ctx := network.WithAllowLimitedConn(network.WithNoDial(m.ctx, "channel stream"), "channel stream")
	s, err := m.sw.host.NewStream(ctx, m.remote, proto)
	if err != nil {
		return nil, err
	}
	if err := s.Scope().SetService(ChannelServiceName); err != nil {
		s.Reset()
		return nil, fmt.Errorf("attach to resource scope %s: %w", ChannelServiceName, err)
	}
	// go-libp2p negotiates the protocol lazily, with the first write, when
	// identify listed it; the remote resets a stream not negotiated within
	// its negotiation timeout (10 s). An empty write sends the protocol now,
	// so a channel that stays silent longer keeps its stream.
	if _, err := s.Write(nil); err != nil {
		s.Reset()
		return s, fmt.Errorf("negotiate %s: %w", proto, err)
	}
	if !m.track(s) {
		s.Reset()
		return nil, ErrPeerStopped
	}
	return s, nil
}

// isConnected reports whether c is a live connectedness: a direct
// connection, or only limited (relayed) ones.
func isConnected(c network.Connectedness) bool {
	return c == network.Connected || c == network.Limited
}

// hasDirectConn reports whether the host has an open connection to the
// peer that is not relayed.
func (m *MConnection) hasDirectConn() bool {
	for _, c := range m.sw.host.Network().ConnsToPeer(m.remote) {
		if !c.IsClosed() && !isRelayed(c) {
			return true
		}
	}
	return false
}

// directConnAppeared tells the channels that a direct connection to the
// peer appeared, so that those on a relayed one move to it.
func (m *MConnection) directConnAppeared() {
	for _, c := range m.chans {
		select {
		case c.move <- struct{}{}:
		default:
		}
	}
}

// untrack forgets stream s, closed by its channel.
func (m *MConnection) untrack(s network.Stream) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.streams != nil {
		delete(m.streams, s)
	}
}

// track registers s to be reset when the peer stops; false if it already has.
func (m *MConnection) track(s network.Stream) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	select {
	case <-m.quit:
		return false
	default:
	}
	m.streams[s] = struct{}{}
	return true
}

// onClosedConn reports whether some of the peer's streams run on a
// connection that has closed.
func (m *MConnection) onClosedConn() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for s := range m.streams {
		if s.Conn().IsClosed() {
			return true
		}
	}
	return false
}

// addReader registers fr, the reader of an inbound stream of channel chID,
// for the watchdog and for reset at stop. It fails with ErrPeerStopped, or
// with ErrStreamLimit when the peer has maxInboundStreamsPerChannel streams
// of that channel open already.
func (m *MConnection) addReader(chID byte, fr *frameReader) error {
	s := fr.src.(network.Stream)
	m.mu.Lock()
	defer m.mu.Unlock()
	select {
	case <-m.quit:
		return ErrPeerStopped
	default:
	}
	if m.inbound[chID] >= maxInboundStreamsPerChannel {
		return fmt.Errorf("%w: %d open", ErrStreamLimit, m.inbound[chID])
	}
	m.inbound[chID]++
	m.readers[fr] = chID
	m.streams[s] = struct{}{}
	return nil
}

func (m *MConnection) removeReader(chID byte, fr *frameReader) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.readers[fr]; ok {
		delete(m.readers, fr)
		m.inbound[chID]--
	}
	if m.streams != nil {
		delete(m.streams, fr.src.(network.Stream))
	}
}

// stalled returns why the peer counts as stalled at now (unix nanoseconds),
// or nil: a write on one of its channels, or a read inside a frame it
// sends, has made no progress for the stall timeouts.
func (m *MConnection) stalled(now int64) error {
	cfg := &m.sw.cfg
	for _, c := range m.chans {
		if t := c.writingSince.Load(); t != 0 && time.Duration(now-t) > cfg.sendStall {
			return fmt.Errorf("%w: channel %#02x: a write has made no progress for %s (the peer does not read)", ErrPeerStalled, c.desc.Id, time.Duration(now-t).Round(time.Millisecond))
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for fr, chID := range m.readers {
		if d := fr.stalledFor(now); d > cfg.readStall {
			return fmt.Errorf("%w: channel %#02x: a frame has made no progress for %s", ErrPeerStalled, chID, d.Round(time.Millisecond))
		}
	}
	return nil
}

// fail ends the peer after err on stream s (nil: no stream yet), unless it
// is already stopping. Only what a well-behaved peer never sends (a
// malformed or oversized frame) is the peer's fault and gets it banned. A
// stream that fails because its connection is going away is a plain
// disconnect, which the host reports (and the Switch handles) by itself;
// streams are often reset a moment before the host sees the connection go,
// so the peer gets disconnectGrace for that before a failure on a connection
// that stays up disconnects it with err as the reason, without a ban. One
// wait judges every failure of the peer meanwhile (by one on an open
// connection, if any, after its own grace), so a peer that resets streams
// in a loop costs one goroutine, not one per stream.
func (m *MConnection) fail(s network.Stream, err error) {
	if m.stopping.Load() {
		return
	}
	switch {
	case errors.Is(err, ErrBadFrame), errors.Is(err, ErrMessageTooLarge):
		m.sw.Penalize(m.Peer, PenaltyBan, err)
		return
	case errors.Is(err, ErrPeerMemory), errors.Is(err, ErrPeerStalled):
		m.sw.Penalize(m.Peer, PenaltyDisconnect, err)
		return
	}
	f := &streamFailure{s: s, err: err, at: time.Now()}
	m.mu.Lock()
	waiting := m.failed.first != nil
	if !waiting {
		m.failed.first = f
	}
	if m.failed.onOpen == nil && f.onOpenConn() {
		m.failed.onOpen = f
	}
	m.mu.Unlock()
	if waiting {
		return
	}
	m.sw.spawn(func() {
		t := time.NewTimer(disconnectGrace)
		defer t.Stop()
		for {
			select {
			case <-t.C:
			case <-m.closing: // removed meanwhile: the disconnect was seen
				return
			case <-m.sw.quit:
				return
			}
			m.mu.Lock()
			f := m.failed.judged()
			if wait := disconnectGrace - time.Since(f.at); wait > 0 {
				m.mu.Unlock()
				t.Reset(wait) // it came later: it gets its whole grace too (at most once)
				continue
			}
			m.failed = failures{}
			m.mu.Unlock()
			m.judge(f)
			return
		}
	})
}

// judge ends the peer for f, a failure that has waited out its grace.
func (m *MConnection) judge(f *streamFailure) {
	switch {
	case !m.liveConnOtherThan(f.s):
		log.Debugf("%s: connection gone: %s", m.Peer, f.err)
	case f.s != nil && f.s.Conn().IsClosed():
		// Its connection closed beside a live one: no fault of the
		// remote's, but the streams must be renewed.
		log.Debugf("%s: renewing streams, their connection closed: %s", m.Peer, f.err)
		m.sw.disconnect(m.Peer, nil)
	default:
		m.sw.disconnect(m.Peer, f.err)
	}
}

// disconnectGrace is how long a failed stream waits for its connection's
// closing to be reported before it counts as a failure of its own.
const disconnectGrace = time.Second

// liveConnOtherThan reports whether the host has an open connection to the
// peer besides the one s ran on (any open one, when s is nil or its own
// connection is open). With none, the peer is going away and the host's
// disconnect event removes it cleanly; with one, the streams that broke must
// be replaced, which the peer's removal and a redial do.
func (m *MConnection) liveConnOtherThan(s network.Stream) bool {
	var dead network.Conn
	if s != nil && s.Conn().IsClosed() {
		dead = s.Conn()
	}
	for _, c := range m.sw.host.Network().ConnsToPeer(m.remote) {
		if c != dead && !c.IsClosed() {
			return true
		}
	}
	return false
}

// setErr records why the peer stopped, keeping the first reason.
func (m *MConnection) setErr(reason error) {
	m.mu.Lock()
	if m.err == nil {
		m.err = reason
	}
	m.mu.Unlock()
}

// Err returns why the peer was stopped (nil for a clean stop or while it runs).
func (m *MConnection) Err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err
}

// beginStop refuses further sends.
func (m *MConnection) beginStop() {
	m.closeOnce.Do(func() {
		m.stopping.Store(true)
		close(m.closing)
	})
}

// stop ends the peer's streams now (resetting them in the background). It
// does not wait for the writers (they may be the caller); Stop of the
// Switch does.
func (m *MConnection) stop() {
	m.beginStop()
	m.quitOnce.Do(func() {
		m.mu.Lock()
		close(m.quit)
		streams := m.streams
		m.streams = nil
		m.mu.Unlock()
		m.cancel()
		// A reset can block for as long as yamux's write timeout when the
		// remote does not read its connection, so it does not hold up the
		// caller (a penalty is given from loops that serve every peer).
		reset := func() {
			for s := range streams {
				s.Reset()
			}
		}
		if !m.sw.spawn(reset) {
			reset()
		}
		m.budget.close()
	})
}

// stopGracefully lets the writers flush what is queued and close their
// streams, waiting at most timeout, then stops.
func (m *MConnection) stopGracefully(timeout time.Duration) {
	m.beginStop()
	done := make(chan struct{})
	go func() { m.wg.Wait(); close(done) }()
	t := time.NewTimer(timeout)
	select {
	case <-done:
	case <-t.C:
	}
	t.Stop()
	m.stop()
	<-done
}
