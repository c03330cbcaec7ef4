package p2p

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestMalformedFramesStopOnlyTheSender feeds a Switch each kind of bad frame
// from a hand-written peer and checks that the peer is stopped with the
// right reason while another peer keeps exchanging messages.
func TestMalformedFramesStopOnlyTheSender(t *testing.T) {
	chans := func() []*ChannelDescriptor {
		return []*ChannelDescriptor{{Id: 0x10, RecvMessageCapacity: 1024, RecvQueueCapacity: 100}}
	}
	for _, tc := range []struct {
		name  string
		bytes []byte
		close bool // close the stream after writing (truncation)
		want  error
	}{
		{"oversized", []byte{0x81, 0x08}, false, ErrMessageTooLarge}, // 1025 bytes announced
		{"huge length", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, false, ErrMessageTooLarge},
		{"endless varint", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, false, ErrBadFrame},
		{"non-minimal varint", []byte{0x85, 0x00, 'a', 'b', 'c', 'd', 'e'}, false, ErrBadFrame},
		{"truncated message", []byte{0x0a, 'a', 'b', 'c'}, true, ErrBadFrame},
		{"truncated varint", []byte{0x81}, true, ErrBadFrame},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sws, mn := mockSwitchesNet(t, 2, chans, WithBanDuration(0))
			sw, good := sws[0], sws[1]
			events := make(chan interface{}, 10)
			sw.AddEventListener("test", events)
			connectSwitches(t, good, sw)
			collect(t, events, 1, 5*time.Second)

			bad := rawHost(t, mn, ChannelProtocolID(DefaultNetwork, 0x10))
			connectRaw(t, bad, sw)
			collect(t, events, 1, 5*time.Second)
			s, err := bad.NewStream(context.Background(), sw.Host().ID(), ChannelProtocolID(DefaultNetwork, 0x10))
			if err != nil {
				t.Fatal(err)
			}
			s.Write(tc.bytes)
			if tc.close {
				s.CloseWrite()
			}
			done, ok := collect(t, events, 1, 5*time.Second)[0].(SwitchEventDonePeer)
			if !ok || done.Peer.ID != bad.ID() {
				t.Fatalf("want SwitchEventDonePeer for the bad peer, got %#v", done)
			}
			if err, _ := done.Error.(error); !errors.Is(err, tc.want) {
				t.Fatalf("stopped for %v, want %v", done.Error, tc.want)
			}
			s.Reset()

			gp := good.Peers().List()[0]
			if !gp.Send(0x10, ByteSlice("still working")) {
				t.Fatal("send from good peer failed")
			}
			mustEqual(t, receiveN(t, sw, 0x10, 1, 5*time.Second)[0].Bytes, []byte("still working"))
		})
	}
}

func TestHostSpeakingNoChannelIsNotAPeer(t *testing.T) {
	sws, mn := mockSwitchesNet(t, 1, testChannels)
	sw := sws[0]
	stock := rawHost(t, mn, "/some/other/protocol/1.0.0")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := stock.Connect(ctx, addrOf(t, sw).AddrInfo()); err != nil {
		t.Fatal(err)
	}
	addr := addrOf(t, sw)
	addr.ID = stock.ID()
	addr.Multiaddr = stock.Addrs()[0]
	if _, err := sw.DialPeerWithAddress(addr); !errors.Is(err, ErrNotSwitchyardPeer) {
		t.Fatalf("dial stock host: %v, want ErrNotSwitchyardPeer", err)
	}
	if sw.Peers().Size() != 0 {
		t.Fatal("stock host became a peer")
	}
	// Its attempt to open one of our channels is refused by negotiation.
	if _, err := stock.NewStream(ctx, sw.Host().ID(), "/switchyard/other/ch/10/1.0.0"); err == nil {
		t.Fatal("stream on an unknown protocol opened")
	}
}

func TestPeerWithoutAChannelGetsAClearSendError(t *testing.T) {
	sws, mn := mockSwitchesNet(t, 1, testChannels)
	sw := sws[0]
	// A peer that speaks only channel 0x10 of ours.
	h := rawHost(t, mn, ChannelProtocolID(DefaultNetwork, 0x10))
	p := connectRaw(t, h, sw)
	if err := p.SendContext(context.Background(), 0x20, ByteSlice("x")); !errors.Is(err, ErrChannelNotSupported) {
		t.Fatalf("send on channel the peer lacks: %v, want ErrChannelNotSupported", err)
	}
	if err := p.SendContext(context.Background(), 0x99, ByteSlice("x")); !errors.Is(err, ErrUnknownChannel) {
		t.Fatalf("send on unknown channel: %v, want ErrUnknownChannel", err)
	}
	if p.CanSend(0x20) || p.TrySend(0x20, ByteSlice("x")) {
		t.Fatal("CanSend/TrySend on a channel the peer lacks")
	}
	if !p.Send(0x10, ByteSlice("ok")) {
		t.Fatal("send on the shared channel failed")
	}
	if _, ok := sw.Receive(0x99); ok {
		t.Fatal("Receive on an unknown channel returned true")
	}
}

func TestTooLargeSendIsRefusedLocally(t *testing.T) {
	chans := func() []*ChannelDescriptor { return []*ChannelDescriptor{{Id: 0x10, RecvMessageCapacity: 10}} }
	sws := mockSwitches(t, 2, chans)
	connectSwitches(t, sws[0], sws[1])
	p := sws[0].Peers().List()[0]
	if err := p.SendContext(context.Background(), 0x10, ByteSlice("01234567890")); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("oversized send: %v, want ErrMessageTooLarge", err)
	}
}
