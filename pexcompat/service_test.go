package pexcompat_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	"go.uber.org/goleak"

	"github.com/switchyard-p2p/switchyard/pexcompat"
)

var testProto = pexcompat.ProtocolID("test-chain")

// connectedHosts returns n mocknet hosts, all linked and connected; the
// mocknet is closed when the test ends (after the test's own cleanups,
// which run first).
func connectedHosts(t *testing.T, n int) []host.Host {
	t.Helper()
	mn := mocknet.New()
	t.Cleanup(func() { _ = mn.Close() })
	hosts := make([]host.Host, n)
	for i := range hosts {
		h, err := mn.GenPeer()
		if err != nil {
			t.Fatal(err)
		}
		hosts[i] = h
	}
	if err := mn.LinkAll(); err != nil {
		t.Fatal(err)
	}
	if err := mn.ConnectAllButSelf(); err != nil {
		t.Fatal(err)
	}
	return hosts
}

// newService builds a Service closed when the test ends.
func newService(t *testing.T, h host.Host, handler pexcompat.Handler, opts ...pexcompat.Option) *pexcompat.Service {
	t.Helper()
	s := pexcompat.NewService(h, testProto, handler, opts...)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// testHandler answers with fixed addresses and records what it was given.
type testHandler struct {
	answer     []peer.AddrInfo
	requestErr error
	addrsErr   error
	block      chan struct{} // if not nil, HandleRequest waits for it to close
	entered    chan struct{} // if not nil, HandleRequest sends on it when called

	mu        sync.Mutex
	requests  []peer.ID
	announced map[peer.ID][]peer.AddrInfo
	malformed []error
}

func (h *testHandler) HandleMalformed(p peer.ID, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.malformed = append(h.malformed, err)
}

func (h *testHandler) malformedSeen() []error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.malformed)
}

func (h *testHandler) HandleRequest(p peer.ID) ([]peer.AddrInfo, error) {
	h.mu.Lock()
	h.requests = append(h.requests, p)
	h.mu.Unlock()
	if h.entered != nil {
		h.entered <- struct{}{}
	}
	if h.block != nil {
		<-h.block
	}
	return h.answer, h.requestErr
}

func (h *testHandler) HandleAddrs(p peer.ID, addrs []peer.AddrInfo) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.announced == nil {
		h.announced = map[peer.ID][]peer.AddrInfo{}
	}
	h.announced[p] = append(h.announced[p], addrs...)
	return h.addrsErr
}

func (h *testHandler) calls() (requests int, announcements int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.requests), len(h.announced)
}

func someAddrs(t *testing.T) []peer.AddrInfo {
	return []peer.AddrInfo{
		{ID: fixedID(t, 7), Addrs: maddrs(t, "/ip4/192.0.2.7/tcp/26656", "/ip6/2001:db8::7/udp/26656/quic-v1")},
		{ID: fixedID(t, 8), Addrs: maddrs(t, "/dns4/seed.example.com/tcp/26656")},
	}
}

func TestRequestReturnsTheRemoteHandlersAnswer(t *testing.T) {
	hs := connectedHosts(t, 2)
	a := newService(t, hs[0], &testHandler{})
	bh := &testHandler{answer: someAddrs(t)}
	newService(t, hs[1], bh)

	got, err := a.Request(context.Background(), hs[1].ID())
	if err != nil {
		t.Fatal(err)
	}
	if !equalAddrInfos(got, bh.answer) {
		t.Fatalf("got %v, want %v", got, bh.answer)
	}
	bh.mu.Lock()
	defer bh.mu.Unlock()
	if len(bh.requests) != 1 || bh.requests[0] != hs[0].ID() {
		t.Fatalf("handler saw requests from %v, want one from %s", bh.requests, hs[0].ID())
	}
}

func TestRequestAnsweredWithNoAddresses(t *testing.T) {
	hs := connectedHosts(t, 2)
	a := newService(t, hs[0], &testHandler{})
	newService(t, hs[1], &testHandler{})
	got, err := a.Request(context.Background(), hs[1].ID())
	if err != nil || len(got) != 0 {
		t.Fatalf("got %v, %v; want no addresses and no error", got, err)
	}
}

func TestAnnounceDeliversAddrsWithTheSourcePeer(t *testing.T) {
	hs := connectedHosts(t, 3)
	a := newService(t, hs[0], &testHandler{})
	c := newService(t, hs[2], &testHandler{})
	bh := &testHandler{}
	newService(t, hs[1], bh)

	fromA, fromC := someAddrs(t)[:1], someAddrs(t)[1:]
	if err := a.Announce(context.Background(), hs[1].ID(), fromA); err != nil {
		t.Fatal(err)
	}
	if err := c.Announce(context.Background(), hs[1].ID(), fromC); err != nil {
		t.Fatal(err)
	}
	// Announce returns once the remote Handler took the addresses.
	bh.mu.Lock()
	defer bh.mu.Unlock()
	if !equalAddrInfos(bh.announced[hs[0].ID()], fromA) || !equalAddrInfos(bh.announced[hs[2].ID()], fromC) {
		t.Fatalf("HandleAddrs got %v; want %v from A and %v from C", bh.announced, fromA, fromC)
	}
}

func TestHandlerErrorResetsTheStream(t *testing.T) {
	errLimited := errors.New("rate limited")
	hs := connectedHosts(t, 2)
	a := newService(t, hs[0], &testHandler{})
	newService(t, hs[1], &testHandler{answer: someAddrs(t), requestErr: errLimited, addrsErr: errLimited})

	got, err := a.Request(context.Background(), hs[1].ID())
	if !errors.Is(err, network.ErrReset) || got != nil {
		t.Fatalf("Request: got %v, %v; want no answer and network.ErrReset", got, err)
	}
	if err := a.Announce(context.Background(), hs[1].ID(), someAddrs(t)); !errors.Is(err, network.ErrReset) {
		t.Fatalf("Announce: got %v, want network.ErrReset", err)
	}
}

func TestAnswerOverTheLimitsIsNotSent(t *testing.T) {
	hs := connectedHosts(t, 2)
	a := newService(t, hs[0], &testHandler{})
	one := someAddrs(t)[0]
	tooMany := make([]peer.AddrInfo, pexcompat.MaxAddrs+1)
	for i := range tooMany {
		tooMany[i] = one
	}
	newService(t, hs[1], &testHandler{answer: tooMany})
	if _, err := a.Request(context.Background(), hs[1].ID()); !errors.Is(err, network.ErrReset) {
		t.Fatalf("got %v, want network.ErrReset", err)
	}
}

// rawResponder registers a plain stream handler for testProto on h that
// reads the request and then does whatever respond says.
func rawResponder(t *testing.T, h host.Host, respond func(s network.Stream)) {
	t.Helper()
	h.SetStreamHandler(testProto, func(s network.Stream) {
		if _, err := pexcompat.ReadMessage(s); err != nil {
			_ = s.Reset()
			return
		}
		respond(s)
	})
	t.Cleanup(func() { h.RemoveStreamHandler(testProto) })
}

func writeAndClose(b []byte) func(network.Stream) {
	return func(s network.Stream) {
		_, _ = s.Write(b)
		_ = s.Close()
	}
}

// TestRequestRejectsMalformedAnswers: a remote that answers with garbage
// makes Request fail with the sentinel error of that garbage.
func TestRequestRejectsMalformedAnswers(t *testing.T) {
	a := fixedID(t, 1)
	tests := []struct {
		name    string
		respond func(network.Stream)
		want    error
	}{
		{"unknown message type", writeAndClose([]byte{0x01, 0x09}), pexcompat.ErrUnknownType},
		{"a Request instead of Addrs", writeAndClose([]byte{0x01, 0x01}), pexcompat.ErrUnexpectedMessage},
		{"oversized frame length", writeAndClose(uv(pexcompat.MaxMessageSize + 1)), pexcompat.ErrMessageTooLarge},
		{"length prefix that never ends", writeAndClose(cat(make([]byte, 0), []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})), pexcompat.ErrBadVarint},
		{"non-minimal length prefix", writeAndClose([]byte{0x82, 0x00, 0x02, 0x00}), pexcompat.ErrBadVarint},
		{"frame cut short", writeAndClose([]byte{0x10, 0x02, 0x01}), pexcompat.ErrTruncated},
		{"absurd entry count", writeAndClose(cat(uv(10), []byte{0x02}, uv(1<<62))), pexcompat.ErrTooManyAddrs},
		{"bad peer ID", writeAndClose(cat(uv(5), []byte{0x02, 0x01, 0x01, 0x07, 0x00})), pexcompat.ErrBadPeerID},
		{"multiaddr with a /p2p component", writeAndClose(func() []byte {
			m := cat([]byte{0x02}, uv(1), rawEntry([]byte(a), maddrs(t, "/ip4/192.0.2.1/tcp/1/p2p/"+fixedID(t, 2).String())[0].Bytes()))
			return cat(uv(uint64(len(m))), m)
		}()), pexcompat.ErrBadMultiaddr},
		{"stream closed without an answer", func(s network.Stream) { _ = s.Close() }, io.EOF},
		{"stream reset without an answer", func(s network.Stream) { _ = s.Reset() }, network.ErrReset},
	}
	hs := connectedHosts(t, 2)
	svc := newService(t, hs[0], &testHandler{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rawResponder(t, hs[1], tt.respond)
			got, err := svc.Request(context.Background(), hs[1].ID())
			if !errors.Is(err, tt.want) || got != nil {
				t.Fatalf("got %v, %v; want error %v", got, err, tt.want)
			}
		})
	}
}

// silentResponder reads the request and then never answers; its stream
// handlers return when the test ends.
func silentResponder(t *testing.T, h host.Host) {
	testDone := make(chan struct{})
	t.Cleanup(func() { close(testDone) })
	rawResponder(t, h, func(s network.Stream) {
		<-testDone
		_ = s.Reset()
	})
}

func TestRequestToASilentPeerEndsAfterTheTimeout(t *testing.T) {
	const timeout = 200 * time.Millisecond
	hs := connectedHosts(t, 2)
	svc := newService(t, hs[0], &testHandler{}, pexcompat.WithTimeout(timeout))
	silentResponder(t, hs[1])

	start := time.Now()
	_, err := svc.Request(context.Background(), hs[1].ID())
	elapsed := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want context.DeadlineExceeded", err)
	}
	if elapsed < timeout || elapsed > timeout+5*time.Second {
		t.Fatalf("Request returned after %v, want about %v", elapsed, timeout)
	}
}

func TestRequestEndsWhenItsContextIsCanceled(t *testing.T) {
	hs := connectedHosts(t, 2)
	svc := newService(t, hs[0], &testHandler{})
	silentResponder(t, hs[1])
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	if _, err := svc.Request(ctx, hs[1].ID()); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

func TestPeerWithoutPEXGivesErrProtocolNotSupported(t *testing.T) {
	hs := connectedHosts(t, 2)
	svc := newService(t, hs[0], &testHandler{})
	if _, err := svc.Request(context.Background(), hs[1].ID()); !errors.Is(err, pexcompat.ErrProtocolNotSupported) {
		t.Fatalf("Request: got %v, want ErrProtocolNotSupported", err)
	}
	if err := svc.Announce(context.Background(), hs[1].ID(), someAddrs(t)); !errors.Is(err, pexcompat.ErrProtocolNotSupported) {
		t.Fatalf("Announce: got %v, want ErrProtocolNotSupported", err)
	}
}

// TestPeerWronglyListedAsSpeakingPEXFailsPromptly covers go-libp2p's lazy
// negotiation: when the peerstore says the remote speaks the protocol,
// NewStream succeeds at once and sends the message with the protocol
// proposal. The remote refuses the protocol ("na") and then resets the
// stream when it reads our message as a second proposal; whichever of the
// two the opener sees first decides the error. Either way the call fails
// at once and the remote never sees a PEX message.
func TestPeerWronglyListedAsSpeakingPEXFailsPromptly(t *testing.T) {
	hs := connectedHosts(t, 2)
	svc := newService(t, hs[0], &testHandler{})
	notSpoken := func(t *testing.T, err error) {
		t.Helper()
		if !errors.Is(err, pexcompat.ErrProtocolNotSupported) && !errors.Is(err, network.ErrReset) {
			t.Fatalf("got %v, want ErrProtocolNotSupported or network.ErrReset", err)
		}
	}
	for i := 0; i < 20; i++ {
		if err := hs[0].Peerstore().AddProtocols(hs[1].ID(), testProto); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err := svc.Request(context.Background(), hs[1].ID())
		notSpoken(t, err)
		if err := hs[0].Peerstore().AddProtocols(hs[1].ID(), testProto); err != nil {
			t.Fatal(err)
		}
		notSpoken(t, svc.Announce(context.Background(), hs[1].ID(), someAddrs(t)))
		if elapsed := time.Since(start); elapsed > 5*time.Second {
			t.Fatalf("two failed exchanges took %v", elapsed)
		}
	}
}

func TestPeersOfDifferentNetworksDoNotExchange(t *testing.T) {
	hs := connectedHosts(t, 2)
	a := pexcompat.NewService(hs[0], pexcompat.ProtocolID("chain-a"), &testHandler{})
	t.Cleanup(func() { _ = a.Close() })
	b := pexcompat.NewService(hs[1], pexcompat.ProtocolID("chain-b"), &testHandler{answer: someAddrs(t)})
	t.Cleanup(func() { _ = b.Close() })
	if _, err := a.Request(context.Background(), hs[1].ID()); !errors.Is(err, pexcompat.ErrProtocolNotSupported) {
		t.Fatalf("got %v, want ErrProtocolNotSupported", err)
	}
}

func TestAnnounceRefusesInvalidAddrsWithoutOpeningAStream(t *testing.T) {
	hs := connectedHosts(t, 2)
	svc := newService(t, hs[0], &testHandler{})
	var opened atomic.Int32
	hs[1].SetStreamHandler(testProto, func(s network.Stream) { opened.Add(1); _ = s.Reset() })
	one := someAddrs(t)[0]
	tooMany := make([]peer.AddrInfo, pexcompat.MaxAddrs+1)
	for i := range tooMany {
		tooMany[i] = one
	}
	if err := svc.Announce(context.Background(), hs[1].ID(), tooMany); !errors.Is(err, pexcompat.ErrTooManyAddrs) {
		t.Fatalf("got %v, want ErrTooManyAddrs", err)
	}
	bad := []peer.AddrInfo{{ID: fixedID(t, 1), Addrs: maddrs(t, "/ip4/192.0.2.1/tcp/1/p2p/"+fixedID(t, 1).String())}}
	if err := svc.Announce(context.Background(), hs[1].ID(), bad); !errors.Is(err, pexcompat.ErrBadMultiaddr) {
		t.Fatalf("got %v, want ErrBadMultiaddr", err)
	}
	if n := opened.Load(); n != 0 {
		t.Fatalf("%d streams opened for refused announcements", n)
	}
}

// An announcement is accepted only when acknowledged: anything else in
// answer is an error, and a stream that ends without the acknowledgement
// (a remote that closed, or a connection that ended) leaves the outcome
// unknown.
func TestAnnounceNeedsTheAcknowledgement(t *testing.T) {
	for _, tc := range []struct {
		name    string
		respond func(network.Stream)
		want    error
	}{
		{"acknowledged", writeAndClose([]byte{0x02, 0x02, 0x00}), nil},
		{"a Request in answer", writeAndClose([]byte{0x01, 0x01}), pexcompat.ErrUnexpectedMessage},
		{"addresses in answer", writeAndClose(frameOf(t, &pexcompat.Addrs{Addrs: someAddrs(t)[:1]})), pexcompat.ErrUnexpectedMessage},
		{"closed without a word", writeAndClose(nil), pexcompat.ErrNotAcknowledged},
		{"garbage", writeAndClose([]byte{0x01, 0x09}), pexcompat.ErrUnknownType},
		{"reset", func(s network.Stream) { _ = s.Reset() }, network.ErrReset},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hs := connectedHosts(t, 2)
			svc := newService(t, hs[0], &testHandler{})
			rawResponder(t, hs[1], tc.respond)
			err := svc.Announce(context.Background(), hs[1].ID(), someAddrs(t))
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// A Service acknowledges an announcement it accepts with an empty Addrs
// message, on the wire.
func TestServiceAcknowledgesAnAcceptedAnnouncement(t *testing.T) {
	hs := connectedHosts(t, 2)
	newService(t, hs[1], &testHandler{})
	s := openRaw(t, hs[0], hs[1].ID())
	if _, err := s.Write(frameOf(t, &pexcompat.Addrs{Addrs: []peer.AddrInfo{{ID: hs[0].ID(), Addrs: someAddrs(t)[0].Addrs}}})); err != nil {
		t.Fatal(err)
	}
	if err := s.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(s)
	if err != nil || string(got) != "\x02\x02\x00" {
		t.Fatalf("read %x (%v), want the acknowledgement 02 02 00 then the end of the stream", got, err)
	}
}

// A node of version 1.1.0 with WithLegacyProtocol and one that speaks only
// 1.0.0 exchange addresses both ways, on 1.0.0's rules: an accepted
// announcement is closed without an acknowledgement.
func TestLegacyVersionStillExchanges(t *testing.T) {
	hs := connectedHosts(t, 2)
	const network = "test-chain"
	newer := pexcompat.NewService(hs[0], pexcompat.ProtocolID(network), &testHandler{answer: someAddrs(t)},
		pexcompat.WithLegacyProtocol(pexcompat.LegacyProtocolID(network)))
	t.Cleanup(func() { _ = newer.Close() })
	oh := &testHandler{answer: someAddrs(t)}
	older := pexcompat.NewService(hs[1], pexcompat.LegacyProtocolID(network), oh)
	t.Cleanup(func() { _ = older.Close() })
	ctx := context.Background()
	if err := newer.Announce(ctx, hs[1].ID(), someAddrs(t)[:1]); err != nil {
		t.Fatalf("1.1.0 announcing to 1.0.0: %v", err)
	}
	if err := older.Announce(ctx, hs[0].ID(), someAddrs(t)[:1]); err != nil {
		t.Fatalf("1.0.0 announcing to 1.1.0 (which must not acknowledge): %v", err)
	}
	for _, c := range []struct {
		name     string
		from     *pexcompat.Service
		to       peer.ID
		wantSize int
	}{{"1.1.0 asking 1.0.0", newer, hs[1].ID(), len(someAddrs(t))}, {"1.0.0 asking 1.1.0", older, hs[0].ID(), len(someAddrs(t))}} {
		got, err := c.from.Request(ctx, c.to)
		if err != nil || len(got) != c.wantSize {
			t.Fatalf("%s: %d addresses, %v", c.name, len(got), err)
		}
	}
	oh.mu.Lock()
	defer oh.mu.Unlock()
	if len(oh.announced[hs[0].ID()]) != 1 {
		t.Fatalf("the 1.0.0 node took %v", oh.announced)
	}
}

// openRaw opens a PEX stream from h to p without a Service.
func openRaw(t *testing.T, h host.Host, p peer.ID) network.Stream {
	t.Helper()
	s, err := h.NewStream(context.Background(), p, testProto)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Reset() })
	return s
}

// TestServiceResetsMalformedInboundMessages: garbage sent to a Service
// gets the stream reset and never reaches the Handler.
func TestServiceResetsMalformedInboundMessages(t *testing.T) {
	tests := []struct {
		name string
		send []byte
		want error // what the Handler's HandleMalformed is told
	}{
		{"unknown type", []byte{0x01, 0x09}, pexcompat.ErrUnknownType},
		{"oversized frame", uv(pexcompat.MaxMessageSize + 1), pexcompat.ErrMessageTooLarge},
		{"endless varint", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, pexcompat.ErrBadVarint},
		{"absurd entry count", cat(uv(10), []byte{0x02}, uv(1<<63-1)), pexcompat.ErrTooManyAddrs},
		{"Request with trailing bytes", []byte{0x02, 0x01, 0x00}, pexcompat.ErrTrailingBytes},
		{"frame cut short", []byte{0x10, 0x02}, pexcompat.ErrTruncated},
		{"nothing at all", nil, nil}, // a stream that ends at once: no message, none malformed
	}
	hs := connectedHosts(t, 2)
	bh := &testHandler{answer: someAddrs(t)}
	newService(t, hs[1], bh)
	told := 0 // malformed messages the Handler was told of
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openRaw(t, hs[0], hs[1].ID())
			// The Service may reset the stream before all of it is written.
			if _, err := s.Write(tt.send); err != nil && !errors.Is(err, network.ErrReset) {
				t.Fatal(err)
			}
			if err := s.CloseWrite(); err != nil && !errors.Is(err, network.ErrReset) {
				t.Fatal(err)
			}
			if _, err := io.ReadAll(s); !errors.Is(err, network.ErrReset) {
				t.Fatalf("reading the answer: %v, want network.ErrReset", err)
			}
			seen := bh.malformedSeen()
			switch {
			case tt.want == nil && len(seen) != told:
				t.Fatalf("the Handler was told %v", seen[told:])
			case tt.want != nil && (len(seen) != told+1 || !errors.Is(seen[told], tt.want)):
				t.Fatalf("the Handler was told %v, want %v", seen[told:], tt.want)
			}
			told = len(seen)
		})
	}
	if r, a := bh.calls(); r != 0 || a != 0 {
		t.Fatalf("the Handler saw %d requests and %d announcements, want none", r, a)
	}
}

func TestInboundStreamThatSendsNothingIsResetAfterTheTimeout(t *testing.T) {
	const timeout = 200 * time.Millisecond
	hs := connectedHosts(t, 2)
	newService(t, hs[1], &testHandler{}, pexcompat.WithTimeout(timeout))
	s := openRaw(t, hs[0], hs[1].ID())
	// Writing nothing would leave the lazy protocol negotiation pending;
	// an empty write does not send a frame but completes it.
	if _, err := s.Write(nil); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := io.ReadAll(s); !errors.Is(err, network.ErrReset) {
		t.Fatalf("got %v, want network.ErrReset", err)
	}
	if elapsed := time.Since(start); elapsed > timeout+5*time.Second {
		t.Fatalf("reset after %v, want about %v", elapsed, timeout)
	}
}

func TestInboundStreamsBeyondTheLimitAreReset(t *testing.T) {
	hs := connectedHosts(t, 3)
	bh := &testHandler{answer: someAddrs(t), block: make(chan struct{}), entered: make(chan struct{}, 16)}
	newService(t, hs[1], bh, pexcompat.WithMaxInboundStreams(1))
	a := newService(t, hs[0], &testHandler{})
	c := newService(t, hs[2], &testHandler{})

	first := make(chan error, 1)
	go func() {
		_, err := a.Request(context.Background(), hs[1].ID())
		first <- err
	}()
	<-bh.entered // the only slot is taken
	if _, err := c.Request(context.Background(), hs[1].ID()); !errors.Is(err, network.ErrReset) {
		t.Fatalf("second request: got %v, want network.ErrReset", err)
	}
	close(bh.block)
	if err := <-first; err != nil {
		t.Fatalf("first request: %v", err)
	}
	// The slot frees when the first handler returns, just after its answer
	// was sent.
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := c.Request(context.Background(), hs[1].ID())
		if err == nil {
			break
		}
		if !errors.Is(err, network.ErrReset) || time.Now().After(deadline) {
			t.Fatalf("request after the first one ended: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestConcurrentExchangesBetweenManyPeers(t *testing.T) {
	const n = 6
	hs := connectedHosts(t, n)
	svcs := make([]*pexcompat.Service, n)
	handlers := make([]*testHandler, n)
	for i, h := range hs {
		handlers[i] = &testHandler{answer: someAddrs(t)}
		svcs[i] = newService(t, h, handlers[i])
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*n*n)
	for i := range hs {
		for j := range hs {
			if i == j {
				continue
			}
			wg.Add(2)
			go func() {
				defer wg.Done()
				got, err := svcs[i].Request(context.Background(), hs[j].ID())
				if err == nil && !equalAddrInfos(got, someAddrs(t)) {
					err = errors.New("wrong answer")
				}
				errs <- err
			}()
			go func() {
				defer wg.Done()
				errs <- svcs[i].Announce(context.Background(), hs[j].ID(), someAddrs(t)[:1])
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	for i, h := range handlers {
		if r, a := h.calls(); r != n-1 || a != n-1 {
			t.Errorf("peer %d handled %d requests from %d announcers, want %d and %d", i, r, a, n-1, n-1)
		}
	}
}

// TestCloseWaitsForInFlightHandlersAndLeavesNoGoroutine: Close returns only
// after a Handler call in progress returned, and afterwards nothing of the
// Service runs.
func TestCloseWaitsForInFlightHandlersAndLeavesNoGoroutine(t *testing.T) {
	before := goleak.IgnoreCurrent()
	mn := mocknet.New()
	defer func() {
		_ = mn.Close()
		goleak.VerifyNone(t, before)
	}()
	ha, err := mn.GenPeer()
	if err != nil {
		t.Fatal(err)
	}
	hb, err := mn.GenPeer()
	if err != nil {
		t.Fatal(err)
	}
	if err := mn.LinkAll(); err != nil {
		t.Fatal(err)
	}
	bh := &testHandler{answer: someAddrs(t), block: make(chan struct{}), entered: make(chan struct{}, 1)}
	b := pexcompat.NewService(hb, testProto, bh)
	a := pexcompat.NewService(ha, testProto, &testHandler{})
	defer a.Close()

	reqErr := make(chan error, 1)
	go func() {
		_, err := a.Request(context.Background(), hb.ID())
		reqErr <- err
	}()
	<-bh.entered
	closed := make(chan struct{})
	go func() {
		_ = b.Close()
		close(closed)
	}()
	select {
	case <-closed:
		t.Fatal("Close returned while a Handler call was in progress")
	case <-time.After(100 * time.Millisecond):
	}
	close(bh.block)
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return after the Handler call ended")
	}
	// Close reset the exchange it aborted.
	if err := <-reqErr; !errors.Is(err, network.ErrReset) {
		t.Fatalf("the aborted request got %v, want network.ErrReset", err)
	}
}

func TestCloseIsIdempotentAndEndsTheService(t *testing.T) {
	hs := connectedHosts(t, 2)
	a := newService(t, hs[0], &testHandler{})
	b := pexcompat.NewService(hs[1], testProto, &testHandler{})
	if _, err := a.Request(context.Background(), hs[1].ID()); err != nil {
		t.Fatal(err) // hs[0] now knows that hs[1] speaks PEX
	}
	for i := 0; i < 2; i++ {
		if err := b.Close(); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
	}
	if _, err := b.Request(context.Background(), hs[0].ID()); !errors.Is(err, pexcompat.ErrServiceClosed) {
		t.Fatalf("Request after Close: %v, want ErrServiceClosed", err)
	}
	if err := b.Announce(context.Background(), hs[0].ID(), someAddrs(t)); !errors.Is(err, pexcompat.ErrServiceClosed) {
		t.Fatalf("Announce after Close: %v, want ErrServiceClosed", err)
	}
	// hs[0] may still believe hs[1] speaks PEX (lazy negotiation, see
	// TestPeerWronglyListedAsSpeakingPEXFailsPromptly).
	if _, err := a.Request(context.Background(), hs[1].ID()); !errors.Is(err, pexcompat.ErrProtocolNotSupported) && !errors.Is(err, network.ErrReset) {
		t.Fatalf("Request to a closed Service: %v, want ErrProtocolNotSupported or network.ErrReset", err)
	}
}

func TestCloseAbortsOutboundExchanges(t *testing.T) {
	hs := connectedHosts(t, 2)
	a := pexcompat.NewService(hs[0], testProto, &testHandler{})
	silentResponder(t, hs[1])
	done := make(chan error, 1)
	go func() {
		_, err := a.Request(context.Background(), hs[1].ID())
		done <- err
	}()
	time.Sleep(50 * time.Millisecond) // let the request reach the silent peer
	start := time.Now()
	_ = a.Close()
	if err := <-done; !errors.Is(err, pexcompat.ErrServiceClosed) {
		t.Fatalf("got %v, want ErrServiceClosed", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Fatalf("Close took %v with a request in flight", elapsed)
	}
}

func TestNewServicePanicsWithoutAHandler(t *testing.T) {
	hs := connectedHosts(t, 1)
	defer func() {
		if recover() == nil {
			t.Fatal("NewService accepted a nil Handler")
		}
	}()
	pexcompat.NewService(hs[0], testProto, nil)
}

func TestProtocolIDNamesTheNetwork(t *testing.T) {
	if got, want := pexcompat.ProtocolID("test-chain"), protocol.ID("/switchyard/test-chain/pex/1.1.0"); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if got, want := pexcompat.LegacyProtocolID("test-chain"), protocol.ID("/switchyard/test-chain/pex/1.0.0"); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// frameOf is m framed as on the wire.
func frameOf(t *testing.T, m pexcompat.Message) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := pexcompat.WriteMessage(&buf, m); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
