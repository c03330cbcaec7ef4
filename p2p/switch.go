package p2p

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/host/eventbus"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard-p2p/switchyard/transport"
	"github.com/switchyard-p2p/switchyard/transport/yamux4"
)

// Switch manages peers and carries the messages of its channels to and from
// them over a libp2p host. Agents use it as in the 2014 package: Receive to
// read a channel, Peer.Send or Broadcast to write, AddEventListener to learn
// of peers coming and going. All methods are safe for concurrent use.
type Switch struct {
	cfg        config
	initErr    error
	chDescs    []*ChannelDescriptor
	descByID   [256]*ChannelDescriptor
	protoByID  [256]protocol.ID
	recvQueues [256]*recvQueue
	handlers   [256]*channelHandler // SetChannelHandler's

	host     host.Host
	ownsHost bool
	metrics  *metrics
	events   *eventHub
	peers    *PeerSet
	bans     *banList
	sub      event.Subscription
	// connNotifee tells peers of direct connections (see relayed.go).
	connNotifee network.Notifiee

	state  atomic.Int32 // stateNew, stateStarted, stateStopped
	quit   chan struct{}
	ctx    context.Context // canceled at Stop: bounds dials
	cancel context.CancelFunc

	// mu guards the bookkeeping below, and serializes peer admission.
	mu         sync.Mutex
	waiters    map[peer.ID][]chan peerResult
	dialing    map[string]int  // addresses being dialed, by NetAddress.String
	dialingIDs map[peer.ID]int // peer IDs being dialed
	persistent map[peer.ID]*persistentPeer
	foreign    map[peer.ID]time.Time // connected, identified (at that time) speaking none of our channels
	nonPeers   map[peer.ID]time.Time // connected (since then) and not a peer; see closeNonPeers
	// waitingStreams counts, by remote, its inbound streams that wait for
	// it to be admitted (see awaitPeerForStream).
	waitingStreams map[peer.ID]int

	// spawnMu guards stopping and the Add side of tasks, so that no task
	// starts after Stop began waiting.
	spawnMu  sync.Mutex
	stopping bool
	tasks    sync.WaitGroup // every goroutine the Switch starts, stream handlers included
}

const (
	stateNew int32 = iota
	stateStarted
	stateStopped
)

type peerResult struct {
	peer *Peer
	err  error
}

// NewSwitch returns a Switch for the given channels. It does no I/O; Start
// builds or joins the host. A configuration error (a duplicate or nil
// channel, a bad network name) is returned by Start.
func NewSwitch(chDescs []*ChannelDescriptor, opts ...Option) *Switch {
	sw := &Switch{
		cfg:        defaultConfig(),
		peers:      NewPeerSet(),
		quit:       make(chan struct{}),
		waiters:    map[peer.ID][]chan peerResult{},
		dialing:    map[string]int{},
		dialingIDs: map[peer.ID]int{},
		persistent: map[peer.ID]*persistentPeer{},
		foreign:    map[peer.ID]time.Time{},
		nonPeers:   map[peer.ID]time.Time{},

		waitingStreams: map[peer.ID]int{},
	}
	sw.ctx, sw.cancel = context.WithCancel(context.Background())
	for _, o := range opts {
		o(&sw.cfg)
	}
	sw.events = newEventHub(sw.cfg.eventQueueLimit)
	sw.bans = newBanList()
	sw.initErr = ValidateNetworkName(sw.cfg.network)
	for _, d := range chDescs {
		if d == nil {
			sw.initErr = fmt.Errorf("nil channel descriptor")
			continue
		}
		if sw.descByID[d.Id] != nil {
			sw.initErr = fmt.Errorf("duplicate channel %#02x", d.Id)
			continue
		}
		nd := d.withDefaults()
		sw.chDescs = append(sw.chDescs, &nd)
		sw.descByID[d.Id] = &nd
		sw.protoByID[d.Id] = ChannelProtocolID(sw.cfg.network, d.Id)
		sw.recvQueues[d.Id] = newRecvQueue(nd.RecvQueueCapacity)
		sw.handlers[d.Id] = &channelHandler{}
	}
	return sw
}

// Start joins (or builds) the host, registers a stream handler per channel,
// and begins admitting peers: those already connected and every one that
// connects later. Calling it again is a no-op; after Stop it returns
// ErrSwitchStopped.
func (sw *Switch) Start() error {
	if sw.initErr != nil {
		return fmt.Errorf("switch config: %w", sw.initErr)
	}
	if !sw.state.CompareAndSwap(stateNew, stateStarted) {
		if sw.state.Load() == stateStopped {
			return ErrSwitchStopped
		}
		return nil
	}
	if err := sw.start(); err != nil {
		sw.Stop()
		return err
	}
	return nil
}

func (sw *Switch) start() error {
	reg := sw.cfg.registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	sw.host = sw.cfg.host
	if sw.host == nil {
		opts := append([]transport.Option{
			transport.WithConnectionGater(&gater{sw: sw}),
		}, sw.cfg.hostOpts...)
		if sw.cfg.registerer != nil {
			opts = append(opts, transport.WithPrometheusRegisterer(sw.cfg.registerer))
		}
		h, err := transport.New(opts...)
		if err != nil {
			return fmt.Errorf("build host: %w", err)
		}
		sw.host, sw.ownsHost = h, true
	}
	m, err := newMetrics(sw, reg)
	if err != nil {
		return err
	}
	sw.metrics = m
	sub, err := sw.host.EventBus().Subscribe([]interface{}{
		new(event.EvtPeerIdentificationCompleted),
		new(event.EvtPeerIdentificationFailed),
		new(event.EvtPeerProtocolsUpdated),
		new(event.EvtPeerConnectednessChanged),
	}, eventbus.BufSize(eventBusBuffer))
	if err != nil {
		return fmt.Errorf("subscribe to host events: %w", err)
	}
	sw.sub = sub
	sw.connNotifee = sw.directConnNotifee()
	sw.host.Network().Notify(sw.connNotifee)
	for _, d := range sw.chDescs {
		d := d
		sw.host.SetStreamHandler(sw.protoByID[d.Id], func(s network.Stream) { sw.handleChannelStream(d, s) })
	}
	sw.spawn(sw.eventLoop)
	sw.spawn(sw.watchdog)
	now := time.Now()
	for _, p := range sw.host.Network().Peers() {
		sw.mu.Lock()
		sw.noteConnectedLocked(p, now)
		sw.mu.Unlock()
		sw.considerPeer(p, nil, nil, false)
	}
	for _, addr := range sw.cfg.persistent {
		sw.addPersistent(addr)
	}
	log.Infof("switch started on %s, network %q, %d channels", sw.host.ID(), sw.cfg.network, len(sw.chDescs))
	return nil
}

// Stop disconnects every peer (each gets its SwitchEventDonePeer), as
// gracefully as the peers let it (PROTOCOL.md §4.4): it writes what is
// queued on each channel, half-closes the channel streams and waits, at
// most stopGrace (2 s) in all, for the peers to have read everything; then
// it sends a yamux GoAway on each peer's connections and closes them, on a
// host given with WithHost too. It unblocks Receive and blocked sends
// (they return false), removes the Switch's handlers from the host (and
// closes the host if the Switch built it), and returns when every
// goroutine the Switch started has ended. Idempotent.
func (sw *Switch) Stop() {
	if sw.state.Swap(stateStopped) == stateStopped {
		return
	}
	close(sw.quit)
	sw.cancel()
	sw.spawnMu.Lock()
	sw.stopping = true
	sw.spawnMu.Unlock()
	if sw.host != nil {
		for _, d := range sw.chDescs {
			sw.host.RemoveStreamHandler(sw.protoByID[d.Id])
		}
	}
	if sw.sub != nil {
		sw.sub.Close()
	}
	if sw.connNotifee != nil {
		sw.host.Network().StopNotify(sw.connNotifee)
	}
	sw.mu.Lock() // peers admitted before the state changed are in the set now
	peers := sw.peers.List()
	sw.mu.Unlock()
	sw.flushPeers(peers)
	// Connections close before what is left of the streams is reset, so that
	// the remote sees a disconnect rather than streams failing on a live
	// connection.
	if sw.ownsHost {
		sw.host.Network().Close()
	} else {
		for _, p := range peers {
			sw.host.Network().ClosePeer(p.ID)
		}
	}
	for _, p := range peers {
		sw.removePeer(p, nil)
	}
	sw.tasks.Wait()
	for _, d := range sw.chDescs {
		for _, m := range sw.recvQueues[d.Id].drain() {
			m.release(d.Id)
		}
	}
	sw.events.close(eventDrainGrace)
	if sw.ownsHost {
		if err := sw.host.Close(); err != nil {
			log.Warnf("close host: %s", err)
		}
	}
	if sw.metrics != nil {
		sw.metrics.unregister()
	}
	log.Info("switch stopped")
}

// stopGrace bounds the graceful part of Stop.
const stopGrace = 2 * time.Second

// goAwayWrite is how long Stop gives the GoAways it queued to be written
// before it closes the connections (go-yamux v4 closes without sending what
// is queued).
const goAwayWrite = 20 * time.Millisecond

// flushPeers lets the channels of peers write what is queued and end their
// streams with a FIN each, and waits for the remotes to answer each FIN
// (then they have read everything sent), or stopGrace; then it sends a
// yamux GoAway on each of the peers' connections, so that the remotes know
// the close that follows is deliberate. (The GoAway comes last: js-libp2p
// ends every stream of a connection on receiving one.)
func (sw *Switch) flushPeers(peers []*Peer) {
	var wg sync.WaitGroup
	for _, p := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.mconn.stopGracefully(stopGrace)
		}()
	}
	wg.Wait()
	sent := false
	for _, p := range peers {
		for _, c := range sw.host.Network().ConnsToPeer(p.ID) {
			sent = yamux4.GoAway(c) || sent
		}
	}
	if sent {
		time.Sleep(goAwayWrite)
	}
}

// spawn runs f in a goroutine owned by the Switch (Stop waits for it); it
// returns false, without running f, once Stop has begun.
func (sw *Switch) spawn(f func()) bool {
	sw.spawnMu.Lock()
	defer sw.spawnMu.Unlock()
	if sw.stopping {
		return false
	}
	sw.tasks.Add(1)
	go func() {
		defer sw.tasks.Done()
		f()
	}()
	return true
}

// IsRunning reports whether the Switch is started and not stopped.
func (sw *Switch) IsRunning() bool { return sw.state.Load() == stateStarted }

// Host returns the libp2p host the Switch runs on (nil before Start).
func (sw *Switch) Host() host.Host { return sw.host }

// Network returns the network name the Switch's protocols are under.
func (sw *Switch) Network() string { return sw.cfg.network }

// ChannelDescriptors returns the channels, with defaults filled in.
func (sw *Switch) ChannelDescriptors() []*ChannelDescriptor {
	return append([]*ChannelDescriptor(nil), sw.chDescs...)
}

// AddEventListener registers listener to receive SwitchEventNewPeer and
// SwitchEventDonePeer values, each once and in order. A listener of the same
// name is replaced. Events are delivered by a goroutine of the listener's
// own, so a slow listener delays only itself; one that falls behind by more
// than 10 000 events is dropped. Closing the channel also drops it.
func (sw *Switch) AddEventListener(name string, listener chan<- interface{}) {
	sw.events.add(name, listener)
}

// RemoveEventListener unregisters the listener; once it returns, nothing more
// is sent on the listener's channel.
func (sw *Switch) RemoveEventListener(name string) {
	sw.events.remove(name)
}

// Receive blocks until a message arrives on channel chId from any peer. It
// returns false once the Switch is stopped, or at once for an unknown channel.
func (sw *Switch) Receive(chId byte) (InboundBytes, bool) {
	m, err := sw.ReceiveContext(context.Background(), chId)
	if errors.Is(err, ErrUnknownChannel) {
		log.Warnf("Receive on unknown channel %#02x", chId)
	}
	return m, err == nil
}

// ReceiveContext is Receive with a context: it returns ctx's error when ctx
// is done, ErrSwitchStopped after Stop, ErrUnknownChannel for a channel the
// Switch does not have.
func (sw *Switch) ReceiveContext(ctx context.Context, chId byte) (InboundBytes, error) {
	q := sw.recvQueues[chId]
	if q == nil {
		return InboundBytes{}, fmt.Errorf("%w: %#02x", ErrUnknownChannel, chId)
	}
	if sw.state.Load() == stateStopped {
		return InboundBytes{}, ErrSwitchStopped
	}
	for {
		if m, ok := q.pop(); ok {
			m.release(chId)
			return m, nil
		}
		select {
		case <-q.ready:
		case <-sw.quit:
			return InboundBytes{}, ErrSwitchStopped
		case <-ctx.Done():
			return InboundBytes{}, ctx.Err()
		}
	}
}

// Broadcast queues msg on channel chId for every peer without blocking
// (TrySend), encoding it once, and counts the peers it was queued for and
// those it was not (queue full, channel not spoken, peer stopping).
func (sw *Switch) Broadcast(chId byte, msg Binary) (numSuccess, numFailure int) {
	bz, err := encodeMessage(msg)
	if err != nil {
		log.Warnf("Broadcast on %#02x: %s", chId, err)
		return 0, sw.peers.Size()
	}
	for _, p := range sw.peers.List() {
		if p.mconn.trySend(chId, bz) == nil {
			numSuccess++
		} else {
			numFailure++
		}
	}
	return numSuccess, numFailure
}

// NumPeers counts the peers by direction, and the dials in progress.
func (sw *Switch) NumPeers() (outbound, inbound, dialing int) {
	for _, p := range sw.peers.List() {
		if p.IsOutbound() {
			outbound++
		} else {
			inbound++
		}
	}
	sw.mu.Lock()
	dialing = len(sw.dialing)
	sw.mu.Unlock()
	return outbound, inbound, dialing
}

// Peers returns the set of current peers.
func (sw *Switch) Peers() IPeerSet { return sw.peers }

const (
	eventBusBuffer  = 1024
	eventDrainGrace = time.Second
)
