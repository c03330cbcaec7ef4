package transport_test

import (
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/switchyard-p2p/switchyard/p2p"
	"github.com/switchyard-p2p/switchyard/transport"
)

// TestSimulatedWANBetweenTwoSwitches is the README's example of a simulated
// network: two Switches 100 ms apart, one way, on 20 Mbit/s links; a
// message takes 100 ms of simulated time, and the test takes moments.
func TestSimulatedWANBetweenTwoSwitches(t *testing.T) {
	if transport.RaceEnabled {
		t.Skip("simulated networks under testing/synctest crash Go 1.26's race-enabled runtime now and then; .ci/run runs this test without -race")
	}
	synctest.Test(t, func(t *testing.T) { // a fake clock: everything below runs in it
		sn, hosts, err := transport.NewSimNet([]transport.SimLink{
			{Latency: 40 * time.Millisecond, BitsPerSecond: 20_000_000}, // host 0 to the core
			{Latency: 60 * time.Millisecond, BitsPerSecond: 20_000_000}, // host 1 to the core
		})
		if err != nil {
			t.Fatal(err)
		}
		defer sn.Close() // closes the hosts too

		chans := []*p2p.ChannelDescriptor{{Id: 0x30, DefaultPriority: 1}}
		a := p2p.NewSwitch(chans, p2p.WithHost(hosts[0]))
		b := p2p.NewSwitch(chans, p2p.WithHost(hosts[1]))
		for _, sw := range []*p2p.Switch{a, b} {
			if err := sw.Start(); err != nil {
				t.Fatal(err)
			}
			defer sw.Stop()
		}
		addr, err := p2p.NewNetAddressMultiaddr(hosts[1].Addrs()[0])
		if err != nil {
			t.Fatal(err)
		}
		addr.ID = hosts[1].ID()
		peer, err := a.DialPeerWithAddress(addr)
		if err != nil {
			t.Fatal(err)
		}

		sent := time.Now()
		peer.Send(0x30, p2p.ByteSlice("hello across the simulated world"))
		in, ok := b.Receive(0x30)
		if !ok {
			t.Fatal("b stopped")
		}
		if took := time.Since(sent); took != 100*time.Millisecond {
			t.Fatalf("%q took %s, want 40 ms + 60 ms", in.Bytes, took)
		}
	})
}

// TestSimulatedLossyWANDeliversEverything: with 5% of the packets lost
// each way, 500 messages of 1 KiB still arrive whole and in order, later
// than they do without loss (QUIC resends what was lost).
func TestSimulatedLossyWANDeliversEverything(t *testing.T) {
	if transport.RaceEnabled {
		t.Skip("simulated networks under testing/synctest crash Go 1.26's race-enabled runtime now and then; .ci/run runs this test without -race")
	}
	took := map[float64]time.Duration{}
	for _, loss := range []float64{0, 0.05} {
		synctest.Test(t, func(t *testing.T) {
			link := transport.SimLink{Latency: 25 * time.Millisecond, BitsPerSecond: 20_000_000, Loss: loss}
			sn, hosts, err := transport.NewSimNet([]transport.SimLink{link, link})
			if err != nil {
				t.Fatal(err)
			}
			defer sn.Close()
			chans := []*p2p.ChannelDescriptor{{Id: 0x30, DefaultPriority: 1}}
			a := p2p.NewSwitch(chans, p2p.WithHost(hosts[0]))
			b := p2p.NewSwitch(chans, p2p.WithHost(hosts[1]))
			for _, sw := range []*p2p.Switch{a, b} {
				if err := sw.Start(); err != nil {
					t.Fatal(err)
				}
				defer sw.Stop()
			}
			addr, err := p2p.NewNetAddressMultiaddr(hosts[1].Addrs()[0])
			if err != nil {
				t.Fatal(err)
			}
			addr.ID = hosts[1].ID()
			peer, err := a.DialPeerWithAddress(addr)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			const n = 500
			go func() {
				for i := range n {
					msg := fmt.Appendf(make([]byte, 0, 1024), "%04d", i)
					if !peer.Send(0x30, p2p.ByteSlice(msg[:1024])) {
						t.Errorf("send %d refused", i)
						return
					}
				}
			}()
			for i := range n {
				in, ok := b.Receive(0x30)
				if !ok {
					t.Fatal("b stopped")
				}
				if got := string(in.Bytes[:4]); got != fmt.Sprintf("%04d", i) || len(in.Bytes) != 1024 {
					t.Fatalf("message %d: got %q (%d bytes)", i, got, len(in.Bytes))
				}
			}
			took[loss] = time.Since(start)
		})
	}
	t.Logf("500 x 1 KiB over 50 ms, 20 Mbit/s: %s without loss, %s with 5%% lost", took[0], took[0.05])
	if took[0.05] <= took[0] {
		t.Fatalf("with 5%% loss the messages took %s, without %s: nothing was lost", took[0.05], took[0])
	}
}
