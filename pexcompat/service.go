package pexcompat

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	msmux "github.com/multiformats/go-multistream"
)

// Handler is what a Service asks when a remote peer opens a PEX stream. The
// p2p package's PEX agent implements it. Its methods may be called
// concurrently (up to WithMaxInboundStreams at once) and must not call the
// Service's Close.
type Handler interface {
	// HandleRequest returns the addresses to answer a Request from p with.
	// The answer must obey the limits (at most MaxAddrs entries, see
	// Marshal); an answer Marshal refuses is not sent, the stream is reset
	// and the refusal is logged as a warning. An error (e.g. p is rate
	// limited) resets the stream without an answer.
	HandleRequest(p peer.ID) ([]peer.AddrInfo, error)
	// HandleAddrs receives the addresses that p announced to us unasked.
	// They passed every check of Unmarshal; whether they are routable,
	// ours, or plausible is the Handler's to judge. An error resets the
	// stream, which the announcer's Announce reports.
	HandleAddrs(p peer.ID, addrs []peer.AddrInfo) error
}

// Admitter may be implemented by a Handler that serves only some remotes
// (the p2p PEX agent serves its peers only). The Service asks it before an
// inbound stream takes any slot, so that remotes it refuses cannot keep
// others from being served.
type Admitter interface {
	// Admit returns nil once p may be served, or why it may not; it may wait
	// (for a remote that connected just now to be admitted as a peer) until
	// ctx ends, which happens after the Service's timeout.
	Admit(ctx context.Context, p peer.ID) error
}

// A MalformedHandler is told of each inbound message that broke the
// message rules, before its stream is reset, so that it can count it
// against the remote (the Service itself only resets the stream). A
// Handler may implement it.
type MalformedHandler interface {
	HandleMalformed(p peer.ID, err error)
}

// Service serves and asks PEX over libp2p streams of one protocol ID (and
// of an older one, WithLegacyProtocol). Each exchange is one stream: the
// opener sends one message (a Request or an Addrs announcement), the other
// side answers a Request with one Addrs message and acknowledges an
// announcement it accepts with an empty Addrs message (with nothing on a
// 1.0.0 stream), then closes the stream; any failure resets it. The methods
// of Service are safe for concurrent use.
type Service struct {
	host    host.Host
	id      protocol.ID
	handler Handler
	cfg     config

	// ctx is canceled by Close; it aborts every exchange in progress.
	ctx    context.Context
	cancel context.CancelFunc
	// slots holds one token per inbound stream being served.
	slots chan struct{}

	mu      sync.Mutex
	closed  bool
	perPeer map[peer.ID]int // inbound streams being served, by remote
	// wg counts exchanges in progress, in both directions; Add is only
	// called under mu while !closed, so Close's Wait never races with it.
	wg sync.WaitGroup
}

// NewService builds a Service for protocol id (normally ProtocolID(network))
// on h and registers its stream handler with h.SetStreamHandler, replacing
// any handler h had for id. Inbound streams are answered by handler. It
// panics if h or handler is nil or id is empty (programming errors). Close
// removes the stream handler again.
func NewService(h host.Host, id protocol.ID, handler Handler, opts ...Option) *Service {
	if h == nil || handler == nil || id == "" {
		panic("pexcompat: NewService needs a host, a protocol ID and a handler")
	}
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{
		host:    h,
		id:      id,
		handler: handler,
		cfg:     cfg,
		ctx:     ctx,
		cancel:  cancel,
		slots:   make(chan struct{}, cfg.maxInboundStreams),
		perPeer: map[peer.ID]int{},
	}
	for _, p := range s.protocols() {
		h.SetStreamHandler(p, s.handleStream)
	}
	return s
}

// protocols are the protocol IDs the Service serves and speaks, its own
// first.
func (s *Service) protocols() []protocol.ID {
	if s.cfg.legacy == "" || s.cfg.legacy == s.id {
		return []protocol.ID{s.id}
	}
	return []protocol.ID{s.id, s.cfg.legacy}
}

// ack is the acknowledgement of an accepted announcement: one frame (2
// bytes) holding an Addrs message (type 0x02) without entries (count 0).
var ack = []byte{0x02, byte(TypeAddrs), 0x00}

// Request asks p for addresses: it opens a stream (dialing p if the host is
// not connected to it, like host.NewStream), sends a Request, closes its
// write side and reads one Addrs answer. It blocks until the answer arrived,
// ctx ended, the Service's timeout (WithTimeout) passed, or the Service was
// closed. Errors wrap ErrProtocolNotSupported if p does not speak this PEX
// protocol, ErrServiceClosed, ctx's error (context.DeadlineExceeded after
// the timeout), the sentinels of ReadMessage for a malformed answer,
// ErrUnexpectedMessage for an answer that is not an Addrs message, io.EOF if
// p closed the stream without answering, or the stream's error (e.g.
// network.ErrReset when p's Handler refused). The answer may hold zero
// entries; it has passed every check of Unmarshal and nothing else.
//
// If the peerstore already lists p as speaking the protocol (identify told
// the host so), go-libp2p negotiates lazily: the Request travels with the
// protocol proposal. Should p no longer speak it (its Service was closed),
// p refuses the protocol and then resets the stream, and which of the two
// arrives first decides whether the error wraps ErrProtocolNotSupported or
// network.ErrReset. Either way the call fails at once.
func (s *Service) Request(ctx context.Context, p peer.ID) ([]peer.AddrInfo, error) {
	var addrs []peer.AddrInfo
	err := s.exchange(ctx, p, "request", func(str network.Stream) error {
		if err := WriteMessage(str, &Request{}); err != nil {
			return err
		}
		if err := str.CloseWrite(); err != nil {
			return fmt.Errorf("closing write side: %w", err)
		}
		msg, release, err := readReserved(str, network.ReservationPriorityMedium)
		defer release()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("stream closed without an answer: %w", err)
			}
			return fmt.Errorf("reading answer: %w", err)
		}
		a, ok := msg.(*Addrs)
		if !ok {
			return fmt.Errorf("answer is a %s message, want Addrs: %w", msg.Type(), ErrUnexpectedMessage)
		}
		addrs = a.Addrs
		return nil
	})
	if err != nil {
		return nil, err
	}
	return addrs, nil
}

// Announce sends addrs to p unasked, as an Addrs message on a new stream,
// and waits until p's Handler has taken them (p acknowledges with an empty
// Addrs message) or refused them (p resets the stream, reported as an
// error). It returns Marshal's error (ErrTooManyAddrs, ErrBadMultiaddr, ...)
// without opening a stream if addrs break a limit; otherwise its errors are
// those of Request, with ErrUnexpectedMessage if p sends anything but the
// acknowledgement, and ErrNotAcknowledged if the stream ends without it
// (p may or may not have taken them). On a 1.0.0 stream
// (WithLegacyProtocol) the end of the stream counts as acceptance, and
// anything p sends as ErrUnexpectedMessage.
func (s *Service) Announce(ctx context.Context, p peer.ID, addrs []peer.AddrInfo) error {
	frame, err := marshalFrame(&Addrs{Addrs: addrs})
	if err != nil {
		return fmt.Errorf("pex: announce to %s: %w", p, err)
	}
	return s.exchange(ctx, p, "announce", func(str network.Stream) error {
		if _, err := str.Write(frame); err != nil {
			return fmt.Errorf("writing Addrs frame: %w", err)
		}
		if err := str.CloseWrite(); err != nil {
			return fmt.Errorf("closing write side: %w", err)
		}
		if !acknowledges(str.Protocol()) {
			return awaitLegacyOutcome(str)
		}
		msg, release, err := readReserved(str, network.ReservationPriorityMedium)
		defer release()
		switch {
		case errors.Is(err, io.EOF):
			return fmt.Errorf("stream ended: %w", ErrNotAcknowledged)
		case err != nil:
			return fmt.Errorf("remote did not accept the announcement: %w", err)
		}
		if a, ok := msg.(*Addrs); !ok || len(a.Addrs) > 0 {
			return fmt.Errorf("the acknowledgement is not an empty Addrs message (a %s message): %w", msg.Type(), ErrUnexpectedMessage)
		}
		return nil
	})
}

// awaitLegacyOutcome waits for the end of a 1.0.0 announcement stream:
// the end of the stream means accepted, a reset refused.
func awaitLegacyOutcome(str network.Stream) error {
	var b [1]byte
	n, err := io.ReadFull(str, b[:])
	switch {
	case n > 0:
		return fmt.Errorf("remote wrote on an announcement stream: %w", ErrUnexpectedMessage)
	case errors.Is(err, io.EOF):
		return nil
	default:
		return fmt.Errorf("remote did not accept the announcement: %w", err)
	}
}

// Close removes the stream handler, aborts every exchange in progress
// (their streams are reset; outbound calls return ErrServiceClosed) and
// waits until all have returned, including Handler calls already running.
// Later Request and Announce calls return ErrServiceClosed. It is
// idempotent, always returns nil, and must not be called from a Handler
// method (it would wait for itself).
func (s *Service) Close() error {
	s.mu.Lock()
	first := !s.closed
	s.closed = true
	s.mu.Unlock()
	if first {
		for _, p := range s.protocols() {
			s.host.RemoveStreamHandler(p)
		}
		s.cancel()
	}
	s.wg.Wait()
	return nil
}

// enter registers an exchange; it returns false once the Service is closed.
func (s *Service) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	return true
}

// exchange runs one outbound exchange with p: it opens a stream bounded by
// ctx, the Service's timeout and Close, and hands it to fn. It closes the
// stream after fn succeeded and resets it after fn failed.
func (s *Service) exchange(ctx context.Context, p peer.ID, op string, fn func(network.Stream) error) error {
	if !s.enter() {
		return fmt.Errorf("pex: %s to %s: %w", op, p, ErrServiceClosed)
	}
	defer s.wg.Done()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()
	stopOnClose := context.AfterFunc(s.ctx, cancel)
	defer stopOnClose()

	err := func() error {
		str, err := s.host.NewStream(ctx, p, s.protocols()...)
		if err != nil {
			return fmt.Errorf("opening stream: %w", err)
		}
		// Deadlines are not enough: some transports (mocknet) ignore them.
		stopReset := context.AfterFunc(ctx, func() { _ = str.Reset() })
		defer stopReset()
		if deadline, ok := ctx.Deadline(); ok {
			_ = str.SetDeadline(deadline)
		}
		if err := str.Scope().SetService(ServiceName); err != nil {
			_ = str.Reset()
			return fmt.Errorf("attaching stream to resource scope %q: %w", ServiceName, err)
		}
		if err := fn(str); err != nil {
			_ = str.Reset()
			return err
		}
		// The exchange is complete; a failure to close changes nothing.
		_ = str.Close()
		return nil
	}()
	if err != nil {
		return fmt.Errorf("pex: %s to %s: %w", op, p, s.explain(ctx, err))
	}
	return nil
}

// handleStream serves one inbound stream; the host calls it in a goroutine
// of its own.
func (s *Service) handleStream(str network.Stream) {
	remote := str.Conn().RemotePeer()
	if !s.enter() {
		log.Debugw("resetting inbound PEX stream: service closed", "peer", remote)
		_ = str.Reset()
		return
	}
	defer s.wg.Done()
	if a, ok := s.handler.(Admitter); ok {
		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.timeout)
		err := a.Admit(ctx, remote)
		cancel()
		if err != nil {
			log.Debugw("resetting inbound PEX stream: not admitted", "peer", remote, "err", err)
			_ = str.Reset()
			return
		}
	}
	if !s.takePeerSlot(remote) {
		log.Debugw("resetting inbound PEX stream: too many in progress from this peer", "peer", remote, "max", s.cfg.maxStreamsPerPeer)
		_ = str.Reset()
		return
	}
	defer s.releasePeerSlot(remote)
	if err := s.serve(str, remote); err != nil {
		if errors.Is(err, errBadAnswer) {
			log.Warnw("resetting inbound PEX stream", "peer", remote, "err", err)
		} else {
			log.Debugw("resetting inbound PEX stream", "peer", remote, "err", err)
		}
		_ = str.Reset()
		return
	}
	_ = str.Close()
}

// takePeerSlot counts an inbound stream of p, unless p has
// WithMaxInboundStreamsPerPeer of them being served already.
func (s *Service) takePeerSlot(p peer.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perPeer[p] >= s.cfg.maxStreamsPerPeer {
		return false
	}
	s.perPeer[p]++
	return true
}

func (s *Service) releasePeerSlot(p peer.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perPeer[p]--; s.perPeer[p] <= 0 {
		delete(s.perPeer, p)
	}
}

// errBadAnswer marks a failure that is ours, not the remote's: the
// Handler's answer could not be encoded.
var errBadAnswer = errors.New("handler's answer breaks the protocol limits")

// serve reads one message from str and answers it through the Handler.
func (s *Service) serve(str network.Stream, remote peer.ID) error {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.timeout)
	defer cancel()
	stopReset := context.AfterFunc(ctx, func() { _ = str.Reset() })
	defer stopReset()
	if deadline, ok := ctx.Deadline(); ok {
		_ = str.SetDeadline(deadline)
	}
	if err := str.Scope().SetService(ServiceName); err != nil {
		return fmt.Errorf("attaching stream to resource scope %q: %w", ServiceName, err)
	}
	msg, release, err := readReserved(str, network.ReservationPriorityLow)
	defer release()
	if err != nil {
		if mh, ok := s.handler.(MalformedHandler); ok && IsMalformed(err) {
			mh.HandleMalformed(remote, err)
		}
		return s.explain(ctx, fmt.Errorf("reading message: %w", err))
	}
	// A slot of the node's bounds the Handler's work. It is taken once the
	// message is in, so that remotes that send slowly (or not at all) hold
	// nothing but their own per-peer slots.
	select {
	case s.slots <- struct{}{}:
		defer func() { <-s.slots }()
	default:
		return fmt.Errorf("too many PEX streams in progress (%d)", cap(s.slots))
	}
	switch m := msg.(type) {
	case *Request:
		addrs, err := s.handler.HandleRequest(remote)
		if err != nil {
			return fmt.Errorf("handler refused the request: %w", err)
		}
		frame, err := marshalFrame(&Addrs{Addrs: addrs})
		if err != nil {
			return fmt.Errorf("%w: %w", errBadAnswer, err)
		}
		if _, err := str.Write(frame); err != nil {
			return s.explain(ctx, fmt.Errorf("writing answer: %w", err))
		}
	case *Addrs:
		if err := s.handler.HandleAddrs(remote, m.Addrs); err != nil {
			return fmt.Errorf("handler refused the announcement: %w", err)
		}
		if acknowledges(str.Protocol()) {
			if _, err := str.Write(ack); err != nil {
				return s.explain(ctx, fmt.Errorf("writing acknowledgement: %w", err))
			}
		}
	}
	return nil
}

// explain puts the cause first when an exchange with context ctx failed
// with err: the Service closing or ctx ending (the stream error is then
// only its consequence), or multistream-select refusing the protocol.
func (s *Service) explain(ctx context.Context, err error) error {
	deadline, hasDeadline := ctx.Deadline()
	switch {
	case s.ctx.Err() != nil:
		return fmt.Errorf("%w: %w", ErrServiceClosed, err)
	case ctx.Err() != nil:
		return fmt.Errorf("%w: %w", ctx.Err(), err)
	case hasDeadline && !time.Now().Before(deadline):
		// The stream's own deadline (the same instant) fired before the
		// context's timer did.
		return fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
	case errors.Is(err, msmux.ErrNotSupported[protocol.ID]{}):
		return fmt.Errorf("%w: %w", ErrProtocolNotSupported, err)
	default:
		return err
	}
}

// readReserved reads one message from str, reserving memory in str's
// resource scope at priority prio: the frame's size before the frame is
// allocated, then the decoded message's estimated size before the message
// is handed on. The caller must call release once it no longer holds the
// message, also when readReserved failed.
func readReserved(str network.Stream, prio uint8) (msg Message, release func(), err error) {
	scope := str.Scope()
	reserved := 0
	reserve := func(n int) error {
		if err := scope.ReserveMemory(n, prio); err != nil {
			return err
		}
		reserved += n
		return nil
	}
	release = func() {
		if reserved > 0 {
			scope.ReleaseMemory(reserved)
			reserved = 0
		}
	}
	b, err := readFrame(str, reserve)
	if err != nil {
		return nil, release, err
	}
	if msg, err = Unmarshal(b); err != nil {
		return nil, release, err
	}
	if n := decodedSize(msg); n > 0 {
		if err := reserve(n); err != nil {
			return nil, release, fmt.Errorf("pex: reserving %d bytes for the decoded message: %w", n, err)
		}
	}
	return msg, release, nil
}
