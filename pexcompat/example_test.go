package pexcompat_test

import (
	"bytes"
	"context"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/switchyard-p2p/switchyard/pexcompat"
)

// staticBook answers every request with the same addresses and prints
// announcements.
type staticBook []peer.AddrInfo

func (b staticBook) HandleRequest(peer.ID) ([]peer.AddrInfo, error) { return b, nil }

func (b staticBook) HandleAddrs(_ peer.ID, addrs []peer.AddrInfo) error {
	for _, ai := range addrs {
		fmt.Println("announced:", ai.Addrs)
	}
	return nil
}

func ExampleService() {
	mn := mocknet.New()
	defer mn.Close()
	alice, _ := mn.GenPeer()
	bob, _ := mn.GenPeer()
	_ = mn.LinkAll()
	_ = mn.ConnectAllButSelf()

	seed, _ := peer.Decode("12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5")
	id := pexcompat.ProtocolID("test-chain")
	a := pexcompat.NewService(alice, id, staticBook{})
	defer a.Close()
	b := pexcompat.NewService(bob, id, staticBook{{ID: seed, Addrs: []ma.Multiaddr{ma.StringCast("/ip4/192.0.2.1/tcp/26656")}}})
	defer b.Close()

	addrs, err := a.Request(context.Background(), bob.ID())
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, ai := range addrs {
		fmt.Println("answer:", ai.ID == seed, ai.Addrs)
	}
	err = a.Announce(context.Background(), bob.ID(), []peer.AddrInfo{{ID: seed, Addrs: []ma.Multiaddr{ma.StringCast("/dns4/seed.example.com/tcp/26656")}}})
	fmt.Println("announce error:", err)
	// Output:
	// answer: true [/ip4/192.0.2.1/tcp/26656]
	// announced: [/dns4/seed.example.com/tcp/26656]
	// announce error: <nil>
}

func ExampleProtocolID() {
	fmt.Println(pexcompat.ProtocolID("test-chain"))
	// Output: /switchyard/test-chain/pex/1.1.0
}

func ExampleMarshal() {
	seed, _ := peer.Decode("12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5")
	req, _ := pexcompat.Marshal(&pexcompat.Request{})
	fmt.Printf("Request: %x\n", req)
	msg, _ := pexcompat.Marshal(&pexcompat.Addrs{Addrs: []peer.AddrInfo{
		{ID: seed, Addrs: []ma.Multiaddr{ma.StringCast("/ip4/192.0.2.1/tcp/26656")}},
	}})
	fmt.Printf("Addrs: %x\n", msg)
	// Output:
	// Request: 01
	// Addrs: 0201260024080112208a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c010804c0000201066820
}

func ExampleReadMessage() {
	var stream bytes.Buffer // stands in for a network.Stream
	_ = pexcompat.WriteMessage(&stream, &pexcompat.Request{})
	fmt.Printf("frame: %x\n", stream.Bytes())
	msg, err := pexcompat.ReadMessage(&stream)
	fmt.Println(msg.Type(), err)
	_, err = pexcompat.ReadMessage(&stream)
	fmt.Println(err)
	// Output:
	// frame: 0101
	// Request <nil>
	// EOF
}
