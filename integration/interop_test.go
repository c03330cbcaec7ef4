package integration

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	tls "github.com/libp2p/go-libp2p/p2p/security/tls"

	"github.com/switchyard-p2p/switchyard/p2p"
	"github.com/switchyard-p2p/switchyard/pexcompat"
)

// stockHost is a go-libp2p host with go-libp2p's defaults (its own yamux,
// TLS and Noise, identify, its own resource manager), listening on
// 127.0.0.1 only, closed when the test ends.
func stockHost(t testing.TB, opts ...libp2p.Option) host.Host {
	t.Helper()
	h, err := libp2p.New(append([]libp2p.Option{libp2p.ListenAddrStrings(loopback)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func connectHost(t testing.TB, h host.Host, to host.Host) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Connect(ctx, peer.AddrInfo{ID: to.ID(), Addrs: to.Addrs()}); err != nil {
		t.Fatalf("connect: %s", err)
	}
}

func TestStockLibp2pHostIsNotAdmittedAndTheSwitchKeepsWorking(t *testing.T) {
	sw := newNode(t, nodeConfig{swOpts: []p2p.Option{tcpHostOptions()}})
	real := newNode(t, nodeConfig{swOpts: []p2p.Option{tcpHostOptions()}})
	events := make(chan interface{}, 16)
	sw.sw.AddEventListener("test", events)

	stock := stockHost(t)
	connectHost(t, stock, sw.sw.Host())
	connectSwitches(t, real.sw, sw.sw)
	pingPong(t, real.sw, sw.sw)

	// Dialing the stock host, already connected: it is not one of ours.
	start := time.Now()
	if _, err := sw.sw.DialPeerWithAddress(addrOf(t, stock)); !errors.Is(err, p2p.ErrNotSwitchyardPeer) {
		t.Fatalf("dial a connected stock host: %v, want ErrNotSwitchyardPeer", err)
	}
	// Dialing a stock host afresh: identify tells the same.
	fresh := stockHost(t)
	if _, err := sw.sw.DialPeerWithAddress(addrOf(t, fresh)); !errors.Is(err, p2p.ErrNotSwitchyardPeer) {
		t.Fatalf("dial a new stock host: %v, want ErrNotSwitchyardPeer", err)
	}
	t.Logf("both dials to stock hosts answered ErrNotSwitchyardPeer in %s", time.Since(start).Round(time.Millisecond))

	for _, ev := range drain(events) {
		if e, ok := ev.(p2p.SwitchEventNewPeer); ok && e.Peer.Key != real.id() {
			t.Fatalf("%s became a peer", e.Peer)
		}
	}
	if got := sw.sw.Peers().Size(); got != 1 {
		t.Fatalf("the Switch has %d peers, want only the real one", got)
	}
	pingPong(t, real.sw, sw.sw)
}

// drain returns what is queued on events now.
func drain(events chan interface{}) []interface{} {
	var out []interface{}
	for {
		select {
		case ev := <-events:
			out = append(out, ev)
		default:
			return out
		}
	}
}

// handFramedPeer is a stock go-libp2p host that speaks one channel of
// PROTOCOL.md §4 by hand: it registers the channel's protocol, reads the
// varint-framed messages the Switch writes on the stream it opens, and
// writes its own on a stream of its own.
type handFramedPeer struct {
	h        host.Host
	got      chan []byte
	inbound  atomic.Int32 // streams the Switch opened to us
	readErrs chan error
}

func newHandFramedPeer(t testing.TB, netName string, chID byte, opts ...libp2p.Option) *handFramedPeer {
	hp := &handFramedPeer{h: stockHost(t, opts...), got: make(chan []byte, 100), readErrs: make(chan error, 10)}
	hp.h.SetStreamHandler(p2p.ChannelProtocolID(netName, chID), func(s network.Stream) {
		hp.inbound.Add(1)
		s.CloseWrite() // we never write on a stream the remote opened
		br := bufio.NewReader(s)
		for {
			msg, err := readFrameByHand(br)
			if err != nil {
				if err == io.EOF { // the Switch closed at a frame boundary: answer with ours
					s.Close()
				} else {
					s.Reset()
					hp.readErrs <- err
				}
				return
			}
			hp.got <- msg
		}
	})
	return hp
}

// readFrameByHand reads one unsigned-varint length and that many bytes.
func readFrameByHand(br *bufio.Reader) ([]byte, error) {
	n, err := binary.ReadUvarint(br)
	if err != nil {
		return nil, err
	}
	if n > 1<<20 {
		return nil, fmt.Errorf("frame of %d bytes", n)
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(br, msg); err != nil {
		return nil, fmt.Errorf("frame cut off: %w", err)
	}
	return msg, nil
}

func TestStockHostSpeakingTheWireFormatByHandExchangesMessagesWithASwitch(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []libp2p.Option
	}{
		{"go-libp2p defaults", nil},
		{"Noise only, as js-libp2p", []libp2p.Option{libp2p.Security(noise.ID, noise.New)}},
		{"TLS only", []libp2p.Option{libp2p.Security(tls.ID, tls.New)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sw := newNode(t, nodeConfig{swOpts: []p2p.Option{tcpHostOptions(), p2p.WithNetwork("interop-1")}})
			hp := newHandFramedPeer(t, "interop-1", testCh, tc.opts...)
			connectHost(t, hp.h, sw.sw.Host())
			waitFor(t, 5*time.Second, "the Switch admits the hand-written peer", func() bool { return sw.sw.Peers().Has(hp.h.ID().String()) })
			p := sw.sw.Peers().(*p2p.PeerSet).Get(hp.h.ID().String())
			if p.IsOutbound() {
				t.Error("a peer that dialed us is outbound")
			}

			// Switch to stock host: empty, short, and multi-byte-length messages, in order.
			msgs := [][]byte{{}, []byte("hello"), make([]byte, 300), make([]byte, 70000)}
			for i := range msgs[2:] {
				for j := range msgs[2+i] {
					msgs[2+i][j] = byte(j * (i + 1))
				}
			}
			for _, m := range msgs {
				if !p.Send(testCh, p2p.ByteSlice(m)) {
					t.Fatal("Send to the stock host failed")
				}
			}
			for i, want := range msgs {
				select {
				case got := <-hp.got:
					if string(got) != string(want) {
						t.Fatalf("message %d: got %d bytes, want %d", i, len(got), len(want))
					}
				case err := <-hp.readErrs:
					t.Fatalf("the stock host read a bad frame: %s", err)
				case <-time.After(5 * time.Second):
					t.Fatalf("message %d did not arrive", i)
				}
			}
			if n := hp.inbound.Load(); n != 1 {
				t.Errorf("the Switch opened %d streams for the channel, want 1", n)
			}

			// Stock host to Switch, on a stream the stock host opens.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := hp.h.NewStream(ctx, sw.sw.Host().ID(), p2p.ChannelProtocolID("interop-1", testCh))
			if err != nil {
				t.Fatal(err)
			}
			var buf []byte
			for _, m := range msgs {
				buf = binary.AppendUvarint(buf, uint64(len(m)))
				buf = append(buf, m...)
			}
			if _, err := s.Write(buf); err != nil {
				t.Fatal(err)
			}
			for i, want := range msgs {
				m := receive(t, sw.sw, testCh, 5*time.Second)
				if m.MConn.Peer.Key != hp.h.ID().String() || string(m.Bytes) != string(want) {
					t.Fatalf("message %d: got %d bytes from %s", i, len(m.Bytes), m.MConn.Peer.Key)
				}
			}
			// Graceful close (§4.4): we half-close; the Switch, having read
			// everything, closes its side.
			s.CloseWrite()
			s.SetReadDeadline(time.Now().Add(5 * time.Second))
			if rest, err := io.ReadAll(s); err != nil || len(rest) > 0 {
				t.Fatalf("after our half-close: %d bytes, %v; want the Switch's clean close", len(rest), err)
			}
			s.Close()
			if !sw.sw.Peers().Has(hp.h.ID().String()) {
				t.Fatal("a graceful close of one stream stopped the peer")
			}
		})
	}
}

func TestStockHostAsksASwitchForAddressesOverPEXByHand(t *testing.T) {
	sw := newNode(t, nodeConfig{swOpts: []p2p.Option{tcpHostOptions()}, pexOpts: []p2p.PEXOption{p2p.WithEnsurePeersPeriod(time.Hour)}})
	sw.startPEX(t)
	other := newNode(t, nodeConfig{swOpts: []p2p.Option{tcpHostOptions()}})
	connectSwitches(t, other.sw, sw.sw)
	waitFor(t, 5*time.Second, "the Switch's book learns the other node", func() bool { return sw.book.HasAddress(other.addr(t)) })

	hp := newHandFramedPeer(t, p2p.DefaultNetwork, testCh) // a peer: PEX answers peers only
	connectHost(t, hp.h, sw.sw.Host())
	waitFor(t, 5*time.Second, "the Switch admits the stock host", func() bool { return sw.sw.Peers().Has(hp.h.ID().String()) })
	pexProto := pexcompat.ProtocolID(p2p.DefaultNetwork)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// A Request: one frame, half-close, one Addrs frame back (PROTOCOL.md §6.2).
	s, err := hp.h.NewStream(ctx, sw.sw.Host().ID(), pexProto)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Reset()
	if _, err := s.Write([]byte{0x01, 0x01}); err != nil { // frame length 1, type Request
		t.Fatal(err)
	}
	s.CloseWrite()
	s.SetReadDeadline(time.Now().Add(5 * time.Second))
	msg, err := pexcompat.ReadMessage(s)
	if err != nil {
		t.Fatalf("read the answer: %s", err)
	}
	addrs, ok := msg.(*pexcompat.Addrs)
	if !ok {
		t.Fatalf("answer is a %T, want *pexcompat.Addrs", msg)
	}
	found := false
	for _, ai := range addrs.Addrs {
		if ai.ID == hp.h.ID() {
			t.Fatal("the answer holds the asker itself")
		}
		if ai.ID == other.sw.Host().ID() {
			for _, m := range ai.Addrs {
				found = found || m.Equal(other.addr(t).Multiaddr)
			}
		}
	}
	if !found {
		t.Fatalf("the answer %v lacks the other node at %s", addrs.Addrs, other.addr(t))
	}
	if _, err := s.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("after the answer: %v, want the end of the stream", err)
	}

	// An announcement of our own address: acknowledged with an empty Addrs
	// message, then the end of the stream.
	a, err := hp.h.NewStream(ctx, sw.sw.Host().ID(), pexProto)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Reset()
	ours := addrOf(t, hp.h)
	if err := pexcompat.WriteMessage(a, &pexcompat.Addrs{Addrs: []peer.AddrInfo{ours.AddrInfo()}}); err != nil {
		t.Fatal(err)
	}
	a.CloseWrite()
	a.SetReadDeadline(time.Now().Add(5 * time.Second))
	if rest, err := io.ReadAll(a); err != nil || string(rest) != "\x02\x02\x00" {
		t.Fatalf("announcement answered with %x, %v; want the acknowledgement 02 02 00, then the end of the stream", rest, err)
	}
	if !sw.book.HasAddress(ours) {
		t.Fatal("the Switch's book did not take the announced address")
	}
}
