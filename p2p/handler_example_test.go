package p2p_test

import (
	"bytes"
	"fmt"
	"sync"
	"time"

	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"

	"github.com/switchyard-p2p/switchyard/p2p"
)

// The lending receive path: a handler gets each message of channel 0x30
// straight from the stream reader, in memory the Switch lends it until the
// handler returns. This one counts the messages and keeps a copy of the
// ones that start with "keep:" (a kept message must be copied: the
// Switch reuses its memory for the next one).
func ExampleSwitch_SetChannelHandler() {
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

	var mu sync.Mutex // the handler runs on one goroutine per peer
	var seen int
	var kept [][]byte
	done := make(chan struct{})
	b.SetChannelHandler(0x30, func(in p2p.InboundBytes) {
		mu.Lock()
		defer mu.Unlock()
		seen++
		if rest, ok := bytes.CutPrefix(in.Bytes, []byte("keep:")); ok {
			kept = append(kept, bytes.Clone(rest)) // copy what outlives the call
		}
		if seen == 3 {
			close(done)
		}
	})

	addr, _ := p2p.NewNetAddressMultiaddr(hb.Addrs()[0])
	addr.ID = hb.ID()
	peer, err := a.DialPeerWithAddress(addr)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, msg := range []string{"keep:first", "drop me", "keep:third"} {
		peer.Send(0x30, p2p.ByteSlice(msg))
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		fmt.Println("timed out")
		return
	}
	mu.Lock()
	fmt.Printf("%d messages, kept %q\n", seen, kept)
	mu.Unlock()
	// Output: 3 messages, kept ["first" "third"]
}
