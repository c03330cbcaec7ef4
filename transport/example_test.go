package transport_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/switchyard-p2p/switchyard/transport"
)

// Two hosts on loopback: one dials the other by address and peer ID, and
// they talk over a stream.
func ExampleNew() {
	a, err := transport.New(transport.WithListenAddrs("127.0.0.1:0"))
	if err != nil {
		panic(err)
	}
	defer a.Close()
	b, err := transport.New(transport.WithListenAddrs("127.0.0.1:0"), transport.WithSecurity(transport.SecurityNoise))
	if err != nil {
		panic(err)
	}
	defer b.Close()

	b.SetStreamHandler("/example/hello/1.0.0", func(s network.Stream) {
		defer s.Close()
		s.Write([]byte("hello from b"))
	})
	ctx := context.Background()
	if err := a.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
		panic(err)
	}
	s, err := a.NewStream(ctx, b.ID(), "/example/hello/1.0.0")
	if err != nil {
		panic(err)
	}
	msg, _ := io.ReadAll(s)
	s.Close()
	st := a.Network().ConnsToPeer(b.ID())[0].ConnState()
	fmt.Printf("%s over %s + %s\n", msg, st.Security, st.StreamMultiplexer)
	// Output: hello from b over /noise + /yamux/1.0.0
}

// A connection established outside libp2p (here a plain TCP dial) becomes a
// libp2p connection of both hosts; each learns the other's peer ID.
func ExampleInjectConn() {
	a, _ := transport.New(transport.WithListenAddrs("127.0.0.1:0"))
	defer a.Close()
	b, _ := transport.New(transport.WithListenAddrs("127.0.0.1:0"))
	defer b.Close()

	l, _ := net.Listen("tcp", "127.0.0.1:0")
	defer l.Close()
	inbound := make(chan peer.ID)
	go func() {
		c, _ := l.Accept()
		id, err := transport.InjectConn(context.Background(), b, c, false)
		if err != nil {
			panic(err)
		}
		inbound <- id
	}()
	c, _ := net.Dial("tcp", l.Addr().String())
	id, err := transport.InjectConn(context.Background(), a, c, true)
	if err != nil {
		panic(err)
	}
	fmt.Println(id == b.ID(), <-inbound == a.ID())
	// Output: true true
}

// A persistent identity: the first run creates the key file, later runs
// load it, so the peer ID stays the same.
func ExampleLoadOrCreateKey() {
	dir, _ := os.MkdirTemp("", "switchyard-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "node.key")

	first, _ := transport.LoadOrCreateKey(path)
	again, _ := transport.LoadOrCreateKey(path)
	fi, _ := os.Stat(path)
	fmt.Println(first.Equals(again), fi.Mode().Perm())
	// Output: true -rw-------
}

// Fifty in-memory hosts, all connected, for tests of code that takes a host.
func ExampleNewMocknet() {
	mn, hosts, err := transport.NewMocknet(50, transport.MockConnected(true))
	if err != nil {
		panic(err)
	}
	defer mn.Close()
	fmt.Println(len(hosts), len(hosts[0].Network().Peers()))
	// Output: 50 49
}
