package transport

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"go.uber.org/goleak"
)

// tcpPair returns both ends of a real loopback TCP connection.
func tcpPair(t *testing.T) (dialer, accepted net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := l.Accept()
		ch <- res{c, err}
	}()
	dialer, err = net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		dialer.Close()
		t.Fatal(r.err)
	}
	return dialer, r.c
}

type injectResult struct {
	id  peer.ID
	err error
}

// injectBoth injects the two ends concurrently: out on a (outbound), in on b.
func injectBoth(ctx context.Context, a, b host.Host, out, in net.Conn) (ra, rb injectResult) {
	chA := make(chan injectResult, 1)
	go func() {
		id, err := InjectConn(ctx, a, out, true)
		chA <- injectResult{id, err}
	}()
	id, err := InjectConn(ctx, b, in, false)
	return <-chA, injectResult{id, err}
}

// assertEcho opens an echo stream from a to b over the existing connection
// and checks the bytes come back.
func assertEcho(t *testing.T, ctx context.Context, a, b host.Host) {
	t.Helper()
	s, err := a.NewStream(network.WithNoDial(ctx, "injected conn must be used"), b.ID(), echoProto)
	if err != nil {
		t.Fatalf("stream %s -> %s: %v", a.ID(), b.ID(), err)
	}
	defer s.Close()
	want := []byte("switchyard over an injected connection")
	if _, err := s.Write(want); err != nil {
		t.Fatal(err)
	}
	s.CloseWrite()
	got, err := io.ReadAll(s)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("echo: got %q, %v; want %q", got, err, want)
	}
}

func TestInjectConnBothRoles(t *testing.T) {
	for _, tc := range []struct {
		name string
		pair func(*testing.T) (net.Conn, net.Conn)
		sec  []Security
	}{
		{"tcp/tls+noise", tcpPair, nil},
		{"pipe/tls+noise", func(*testing.T) (net.Conn, net.Conn) { return net.Pipe() }, nil},
		{"tcp/noise", tcpPair, []Security{SecurityNoise}},
		{"tcp/tls", tcpPair, []Security{SecurityTLS}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts []Option
			if tc.sec != nil {
				opts = append(opts, WithSecurity(tc.sec...))
			}
			a, b := newTestHost(t, opts...), newTestHost(t, opts...)
			serveEcho(a)
			serveEcho(b)
			ctx := testContext(t)
			out, in := tc.pair(t)
			ra, rb := injectBoth(ctx, a, b, out, in)
			if ra.err != nil || rb.err != nil {
				t.Fatalf("inject: outbound %v, inbound %v", ra.err, rb.err)
			}
			if ra.id != b.ID() || rb.id != a.ID() {
				t.Fatalf("peer IDs: a learned %s (want %s), b learned %s (want %s)", ra.id, b.ID(), rb.id, a.ID())
			}
			assertEcho(t, ctx, a, b)
			assertEcho(t, ctx, b, a)
			// Identify ran over the injected conn, as over any other.
			waitFor(t, "a learns b's protocols through identify", func() bool {
				ps, _ := a.Peerstore().SupportsProtocols(b.ID(), echoProto)
				return len(ps) == 1
			})

			ca, cb := a.Network().ConnsToPeer(b.ID()), b.Network().ConnsToPeer(a.ID())
			if len(ca) != 1 || len(cb) != 1 {
				t.Fatalf("conns: a->b %d, b->a %d; want 1 each", len(ca), len(cb))
			}
			if d := ConnDirection(ca[0]); d != network.DirOutbound {
				t.Errorf("ConnDirection on the outbound side = %v", d)
			}
			if d := ConnDirection(cb[0]); d != network.DirInbound {
				t.Errorf("ConnDirection on the inbound side = %v", d)
			}
			if mux := ca[0].ConnState().StreamMultiplexer; mux != YamuxID {
				t.Errorf("muxer %q, want %q", mux, YamuxID)
			}
			if tc.sec != nil {
				if want := map[Security]string{SecurityTLS: "/tls/1.0.0", SecurityNoise: "/noise"}[tc.sec[0]]; string(ca[0].ConnState().Security) != want {
					t.Errorf("security %q, want %q", ca[0].ConnState().Security, want)
				}
			}
		})
	}
}

func TestInjectedOutboundConnReachesStockLibp2pListener(t *testing.T) {
	ours := newTestHost(t)
	stock, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	defer stock.Close()
	serveEcho(stock)
	serveEcho(ours)
	var tcpAddr ma.Multiaddr
	for _, a := range stock.Addrs() {
		if _, err := a.ValueForProtocol(ma.P_TCP); err == nil {
			tcpAddr = a
		}
	}
	_, hostport, err := manetDialArgs(tcpAddr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", hostport)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	id, err := InjectConn(ctx, ours, c, true)
	if err != nil {
		t.Fatalf("inject: %v", err)
	}
	if id != stock.ID() {
		t.Fatalf("learned %s, want the stock host's %s", id, stock.ID())
	}
	assertEcho(t, ctx, ours, stock)
	assertEcho(t, ctx, stock, ours)
}

func TestInjectConnHandshakeFailures(t *testing.T) {
	// remote plays the other end of the conn; every case must fail fast with
	// an error, well before the context's deadline.
	garbage := func(b []byte) func(net.Conn) {
		return func(c net.Conn) {
			c.Write(b)
			c.Close()
		}
	}
	for _, tc := range []struct {
		name     string
		outbound bool
		remote   func(net.Conn)
	}{
		{"http request to a responder", false, garbage([]byte("GET / HTTP/1.1\r\nHost: example\r\n\r\n"))},
		{"endless varint to a responder", false, garbage(bytes.Repeat([]byte{0xff}, 64))},
		{"wrong multistream header to a responder", false, garbage([]byte("\x13/multistream/9.9.9\n"))},
		{"garbage answer to an initiator", true, func(c net.Conn) {
			c.Read(make([]byte, 1024))
			garbage(bytes.Repeat([]byte{0xff}, 64))(c)
		}},
		{"remote closes at once (initiator)", true, func(c net.Conn) { c.Close() }},
		{"remote closes at once (responder)", false, func(c net.Conn) { c.Close() }},
		{"remote closes mid-handshake", true, func(c net.Conn) {
			c.Read(make([]byte, 1024))
			c.Close()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			running := goleak.IgnoreCurrent() // earlier tests' leftovers, if any
			h, err := New(WithListenAddrs("127.0.0.1:0"))
			if err != nil {
				t.Fatal(err)
			}
			ours, theirs := tcpPair(t)
			defer theirs.Close()
			done := make(chan struct{})
			go func() {
				defer close(done)
				tc.remote(theirs)
			}()
			start := time.Now()
			_, err = InjectConn(testContext(t), h, ours, tc.outbound)
			if err == nil {
				t.Fatal("handshake with a bad remote succeeded")
			}
			if errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 10*time.Second {
				t.Fatalf("failed only at the deadline (%v): %v", time.Since(start), err)
			}
			theirs.Close()
			<-done
			if n := len(h.Network().Conns()); n != 0 {
				t.Errorf("host has %d conns after a failed injection", n)
			}
			// Nothing of the failed handshake outlives the host.
			h.Close()
			goleak.VerifyNone(t, running)
		})
	}
	t.Run("silent remote hits the context deadline", func(t *testing.T) {
		h := newTestHost(t)
		ours, theirs := net.Pipe()
		defer theirs.Close()
		go io.Copy(io.Discard, theirs)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, err := InjectConn(ctx, h, ours, false)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want context.DeadlineExceeded", err)
		}
	})
}

func TestInjectConnWithBothSidesInitiatingFails(t *testing.T) {
	// A misuse: both ends claim to have dialed. Both run multistream-select
	// and TLS as clients, which fails at once rather than hanging.
	c, d := newTestHost(t), newTestHost(t)
	x, y := tcpPair(t)
	errs := make(chan error, 2)
	for _, side := range []struct {
		h    host.Host
		conn net.Conn
	}{{c, x}, {d, y}} {
		go func() {
			_, err := InjectConn(testContext(t), side.h, side.conn, true)
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err == nil || errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("two initiators: err = %v, want a prompt handshake error", err)
		}
	}
}

func TestInjectConnRefusesForeignHosts(t *testing.T) {
	stock, err := libp2p.New(libp2p.NoListenAddrs, libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	defer stock.Close()
	mn, hosts, err := NewMocknet(1)
	if err != nil {
		t.Fatal(err)
	}
	defer mn.Close()
	for name, h := range map[string]host.Host{"stock": stock, "mocknet": hosts[0]} {
		ours, theirs := net.Pipe()
		_, err := InjectConn(testContext(t), h, ours, true)
		if !errors.Is(err, ErrInjectionUnsupported) {
			t.Errorf("%s host: err = %v, want ErrInjectionUnsupported", name, err)
		}
		// InjectConn owns the conn: it must have closed it.
		if _, err := theirs.Write([]byte{1}); err == nil {
			t.Errorf("%s host: conn left open", name)
		}
	}
}

func TestInjectConnOnClosedHost(t *testing.T) {
	h, err := New(WithListenAddrs("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	h.Close()
	ours, _ := net.Pipe()
	if _, err := InjectConn(testContext(t), h, ours, false); !errors.Is(err, ErrHostClosed) {
		t.Fatalf("err = %v, want ErrHostClosed", err)
	}
}

func TestInjectAddrIsNotAdvertised(t *testing.T) {
	h := newTestHost(t)
	for _, a := range h.Addrs() {
		if _, err := a.ValueForProtocol(ma.P_MEMORY); err == nil {
			t.Errorf("host advertises its private injection address %s", a)
		}
	}
}
