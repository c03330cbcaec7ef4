package yamux4

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-yamux/v4"
	ma "github.com/multiformats/go-multiaddr"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// pair runs a client and a server session over a loopback TCP connection.
func pair(t *testing.T, clientScope, serverScope network.PeerScope) (client, server network.MuxedConn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c
	}()
	cc, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sc := <-accepted
	if sc == nil {
		t.Fatal("accept failed")
	}
	client, err = DefaultTransport.NewConn(cc, false, clientScope)
	if err != nil {
		t.Fatal(err)
	}
	server, err = DefaultTransport.NewConn(sc, true, serverScope)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client.Close()
		server.Close()
	})
	return client, server
}

func TestConfigSuitsLongLivedPerChannelStreams(t *testing.T) {
	c := NewConfig()
	if err := yamux.VerifyConfig(c); err != nil {
		t.Fatal(err)
	}
	if c.MaxStreamWindowSize != 16<<20 || c.MaxIncomingStreams != math.MaxUint32 || c.ReadBufSize != 0 || c.LogOutput != io.Discard {
		t.Fatalf("config %+v", c)
	}
	if DefaultTransport.Config().MaxStreamWindowSize != MaxStreamWindow {
		t.Fatal("DefaultTransport does not use NewConfig")
	}
}

func TestStreamsCarryDataBothWays(t *testing.T) {
	client, server := pair(t, nil, nil)
	const streams = 20
	var wg sync.WaitGroup
	wg.Go(func() { // server: echo every stream
		for range streams {
			s, err := server.AcceptStream()
			if err != nil {
				t.Error(err)
				return
			}
			wg.Go(func() {
				defer s.Close()
				io.Copy(s, s)
			})
		}
	})
	for i := range streams {
		s, err := client.OpenStream(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		want := bytes.Repeat([]byte(fmt.Sprint(i)), 100_000)
		wg.Go(func() {
			s.Write(want)
			s.CloseWrite()
		})
		got, err := io.ReadAll(s)
		s.Close()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("stream %d: %d bytes back, %v", i, len(got), err)
		}
	}
	wg.Wait()
}

func TestResetIsSeenAsNetworkErrReset(t *testing.T) {
	for name, reset := range map[string]func(network.MuxedStream) error{
		"Reset":          network.MuxedStream.Reset,
		"ResetWithError": func(s network.MuxedStream) error { return s.ResetWithError(42) },
	} {
		t.Run(name, func(t *testing.T) {
			client, server := pair(t, nil, nil)
			s, err := client.OpenStream(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			s.Write([]byte("x"))
			rs, err := server.AcceptStream()
			if err != nil {
				t.Fatal(err)
			}
			if err := reset(s); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Write([]byte("after")); !errors.Is(err, network.ErrReset) {
				t.Errorf("local write after reset: %v, want network.ErrReset", err)
			}
			rs.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err = io.ReadAll(rs)
			if !errors.Is(err, network.ErrReset) {
				t.Fatalf("remote read: %v, want network.ErrReset", err)
			}
		})
	}
}

func TestCloseWithErrorClosesTheSession(t *testing.T) {
	client, server := pair(t, nil, nil)
	if err := client.CloseWithError(7); err != nil {
		t.Fatal(err)
	}
	if !client.IsClosed() {
		t.Error("client not closed")
	}
	if _, err := server.AcceptStream(); err == nil {
		t.Error("server accepts streams on a closed session")
	}
	if _, err := client.OpenStream(context.Background()); err == nil {
		t.Error("client opens streams on a closed session")
	}
}

func TestAsExposesTheV4Session(t *testing.T) {
	client, _ := pair(t, nil, nil)
	var s *yamux.Session
	if !client.As(&s) || s == nil {
		t.Fatal("As(**yamux.Session) failed")
	}
	var other *net.TCPConn
	if client.As(&other) {
		t.Fatal("As claimed an unrelated type")
	}
}

func TestReadDeadline(t *testing.T) {
	client, server := pair(t, nil, nil)
	s, err := client.OpenStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Write([]byte("x"))
	rs, err := server.AcceptStream()
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	rs.Read(make([]byte, 1))
	rs.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	var ne net.Error
	if _, err := rs.Read(make([]byte, 1)); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read past the deadline: %v, want a timeout", err)
	}
}

// Stream memory is reserved from the peer's resource-manager scope, so the
// resource manager bounds what a peer's streams can make us buffer.
func TestStreamsReserveMemoryFromThePeerScope(t *testing.T) {
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(rcmgr.InfiniteLimits), rcmgr.WithMetricsDisabled())
	if err != nil {
		t.Fatal(err)
	}
	defer rm.Close()
	cs, err := rm.OpenConnection(network.DirInbound, false, ma.StringCast("/ip4/127.0.0.1/tcp/1"))
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Done()
	if err := cs.SetPeer(peer.ID("remote")); err != nil {
		t.Fatal(err)
	}
	scope := cs.PeerScope()
	before := scope.Stat().Memory

	client, server := pair(t, nil, scope)
	s, err := client.OpenStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s.Write([]byte("x"))
	rs, err := server.AcceptStream()
	if err != nil {
		t.Fatal(err)
	}
	if got := scope.Stat().Memory; got <= before {
		t.Fatalf("peer scope memory %d after a stream opened, want more than %d", got, before)
	}
	rs.Reset()
	s.Reset()
	deadline := time.Now().Add(5 * time.Second)
	for scope.Stat().Memory > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := scope.Stat().Memory; got != before {
		t.Fatalf("peer scope memory %d after the stream ended, want %d back", got, before)
	}
}

func TestStreamIsRefusedWhenThePeerScopeIsOutOfMemory(t *testing.T) {
	limits := rcmgr.PartialLimitConfig{
		PeerDefault: rcmgr.ResourceLimits{Memory: 64 << 10}, // below one 256 KiB window
	}.Build(rcmgr.InfiniteLimits)
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits), rcmgr.WithMetricsDisabled())
	if err != nil {
		t.Fatal(err)
	}
	defer rm.Close()
	cs, err := rm.OpenConnection(network.DirInbound, false, ma.StringCast("/ip4/127.0.0.1/tcp/1"))
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Done()
	if err := cs.SetPeer(peer.ID("greedy")); err != nil {
		t.Fatal(err)
	}
	client, _ := pair(t, nil, cs.PeerScope())
	s, err := client.OpenStream(context.Background())
	if err != nil {
		return // refused at open: fine
	}
	defer s.Close()
	s.SetDeadline(time.Now().Add(5 * time.Second))
	s.Write([]byte("x"))
	if _, err := s.Read(make([]byte, 1)); !errors.Is(err, network.ErrReset) {
		t.Fatalf("stream over an exhausted scope: read err %v, want network.ErrReset", err)
	}
}

// recordingConn keeps a copy of what it reads.
type recordingConn struct {
	net.Conn
	mu   sync.Mutex
	read bytes.Buffer
}

func (r *recordingConn) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.mu.Lock()
	r.read.Write(p[:n])
	r.mu.Unlock()
	return n, err
}

// TestGoAwayReachesTheRemoteBeforeLaterFrames: a GoAway is delivered
// ahead of what is written after it (here a stream's data and FIN), and the
// remote can no longer open streams.
func TestGoAwayReachesTheRemoteBeforeLaterFrames(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c
	}()
	cc, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sc := &recordingConn{Conn: <-accepted}
	client, err := DefaultTransport.NewConn(cc, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := DefaultTransport.NewConn(sc, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	if !GoAway(client) {
		t.Fatal("GoAway on a yamux v4 connection failed")
	}
	s, err := client.OpenStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s.Write([]byte("after"))
	s.CloseWrite()
	in, err := server.AcceptStream()
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(in); err != nil || string(b) != "after" {
		t.Fatalf("read %q, %v", b, err)
	}
	sc.mu.Lock()
	wire := bytes.Clone(sc.read.Bytes())
	sc.mu.Unlock()
	goAway := -1
	for i := 0; i+12 <= len(wire); { // walk the frames: version, type, flags(2), stream(4), length(4)
		if wire[i+1] == 3 {
			goAway = i
			break
		}
		n := 12
		if wire[i+1] == 0 { // data frames carry length bytes of body
			n += int(uint32(wire[i+8])<<24 | uint32(wire[i+9])<<16 | uint32(wire[i+10])<<8 | uint32(wire[i+11]))
		}
		i += n
	}
	if goAway < 0 {
		t.Fatalf("no GoAway frame reached the remote: % x", wire)
	}
	if _, err := server.OpenStream(context.Background()); err == nil {
		t.Fatal("the remote opened a stream after a GoAway")
	}
	if GoAway(fakeConn{}) {
		t.Fatal("GoAway on a connection of another muxer reported success")
	}
}

// fakeConn is a connection of no muxer of ours.
type fakeConn struct{}

func (fakeConn) As(any) bool { return false }
