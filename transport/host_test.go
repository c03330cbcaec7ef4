package transport

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/sec"
)

func TestHostsAuthenticateEachOther(t *testing.T) {
	a, b := newTestHost(t), newTestHost(t)
	ctx := testContext(t)
	if err := a.Connect(ctx, addrInfo(b)); err != nil {
		t.Fatalf("connect: %v", err)
	}
	conns := a.Network().ConnsToPeer(b.ID())
	if len(conns) != 1 {
		t.Fatalf("a has %d conns to b, want 1", len(conns))
	}
	c := conns[0]
	if c.RemotePeer() != b.ID() || c.LocalPeer() != a.ID() {
		t.Errorf("a's conn: local %s remote %s, want %s %s", c.LocalPeer(), c.RemotePeer(), a.ID(), b.ID())
	}
	if !c.RemotePublicKey().Equals(b.Peerstore().PubKey(b.ID())) {
		t.Error("a's conn does not carry b's public key")
	}
	if st := c.ConnState(); st.Security != "/tls/1.0.0" || st.StreamMultiplexer != YamuxID {
		t.Errorf("negotiated %q + %q, want /tls/1.0.0 + %s", st.Security, st.StreamMultiplexer, YamuxID)
	}
	back := b.Network().ConnsToPeer(a.ID())
	if len(back) != 1 || back[0].RemotePeer() != a.ID() {
		t.Fatalf("b does not see a: %v", back)
	}
}

func TestDialExpectingWrongPeerIDFails(t *testing.T) {
	a, b := newTestHost(t), newTestHost(t)
	sk, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	impostor, _ := peer.IDFromPrivateKey(sk)
	err = a.Connect(testContext(t), peer.AddrInfo{ID: impostor, Addrs: b.Addrs()})
	if err == nil {
		t.Fatal("dialing b's address while expecting another peer ID succeeded")
	}
	var mismatch sec.ErrPeerIDMismatch
	if !errors.As(err, &mismatch) {
		t.Logf("error (not a typed ErrPeerIDMismatch, acceptable): %v", err)
	}
	if a.Network().Connectedness(b.ID()) == network.Connected {
		t.Error("a is connected to b after a failed, mismatched dial")
	}
}

func TestHundredConcurrentStreamsEchoTheirBytes(t *testing.T) {
	a, b := newTestHost(t), newTestHost(t)
	serveEcho(b)
	ctx := testContext(t)
	if err := a.Connect(ctx, addrInfo(b)); err != nil {
		t.Fatal(err)
	}
	const streams, size = 100, 64 << 10
	var wg sync.WaitGroup
	errs := make(chan error, streams)
	for i := range streams {
		wg.Go(func() {
			s, err := a.NewStream(ctx, b.ID(), echoProto)
			if err != nil {
				errs <- fmt.Errorf("stream %d: open: %w", i, err)
				return
			}
			defer s.Close()
			want := make([]byte, size)
			rand.Read(want)
			go func() {
				s.Write(want)
				s.CloseWrite()
			}()
			got, err := io.ReadAll(s)
			if err != nil {
				errs <- fmt.Errorf("stream %d: read: %w", i, err)
				s.Reset()
				return
			}
			if !bytes.Equal(got, want) {
				errs <- fmt.Errorf("stream %d: echoed %d bytes that differ from the %d sent", i, len(got), len(want))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(a.Network().ConnsToPeer(b.ID())); n != 1 {
		t.Errorf("streams used %d connections, want 1", n)
	}
}
