package p2p_test

import (
	"context"
	"fmt"
	"time"

	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"

	"github.com/switchyard-p2p/switchyard/p2p"
)

// Two Switches on go-libp2p's in-memory mocknet: one dials the other and
// sends a message on channel 0x30, which the other receives.
func ExampleNewSwitch() {
	mn := mocknet.New()
	defer mn.Close()
	ha, _ := mn.GenPeer()
	hb, _ := mn.GenPeer()
	mn.LinkAll()

	chans := func() []*p2p.ChannelDescriptor { return []*p2p.ChannelDescriptor{{Id: 0x30}} }
	a := p2p.NewSwitch(chans(), p2p.WithHost(ha))
	b := p2p.NewSwitch(chans(), p2p.WithHost(hb))
	a.Start()
	b.Start()
	defer a.Stop()
	defer b.Stop()

	addr, _ := p2p.NewNetAddressMultiaddr(hb.Addrs()[0])
	addr.ID = hb.ID()
	peer, err := a.DialPeerWithAddress(addr)
	if err != nil {
		fmt.Println(err)
		return
	}
	peer.Send(0x30, p2p.ByteSlice("hello"))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	msg, err := b.ReceiveContext(ctx, 0x30)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s from the dialer: %v\n", msg.Bytes, msg.MConn.Peer.ID == ha.ID())
	// Output: hello from the dialer: true
}

// The 2014 message envelope: a type byte, then the message.
func ExampleTypedMessage() {
	msg := p2p.TypedMessage{Type: 0x10, Msg: p2p.ByteSlice("tx")}
	var buf bytesBuffer
	msg.WriteTo(&buf)
	fmt.Printf("% x\n", buf)
	// Output: 10 74 78
}

type bytesBuffer []byte

func (b *bytesBuffer) Write(p []byte) (int, error) { *b = append(*b, p...); return len(p), nil }

// Protocol IDs carry the network name and the channel ID in hex.
func ExampleChannelProtocolID() {
	fmt.Println(p2p.ChannelProtocolID("mychain", 0x30))
	// Output: /switchyard/mychain/ch/30/1.0.0
}
