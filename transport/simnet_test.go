package transport

import (
	"context"
	"errors"
	"math"
	"testing"
	"testing/synctest"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
)

// TestSimulatedNetworkHasItsLatenciesAndPartitions: on a SimNet, a round
// trip between two hosts takes twice the sum of their access latencies
// (simulated time, in a synctest bubble), and a partition stops their
// traffic until it heals.
func TestSimulatedNetworkHasItsLatenciesAndPartitions(t *testing.T) {
	if raceEnabled {
		t.Skip("simulated networks under testing/synctest crash Go 1.26's race-enabled runtime now and then; .ci/run runs this test without -race")
	}
	synctest.Test(t, func(t *testing.T) {
		sn, hs, err := NewSimNet([]SimLink{{Latency: 10 * time.Millisecond}, {Latency: 40 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		defer sn.Close()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		if err := hs[0].Connect(ctx, peer.AddrInfo{ID: hs[1].ID(), Addrs: hs[1].Addrs()}); err != nil {
			t.Fatal(err)
		}
		ping.NewPingService(hs[1])
		pings := ping.NewPingService(hs[0])
		res := <-pings.Ping(ctx, hs[1].ID())
		if res.Error != nil || res.RTT != 100*time.Millisecond {
			t.Fatalf("round trip %s (%v), want 2 x (10 ms + 40 ms)", res.RTT, res.Error)
		}
		sn.Partition([]int{1})
		pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
		// Ping closes its channel without a result when pctx ends.
		if res, ok := <-ping.Ping(pctx, hs[0], hs[1].ID()); ok && res.Error == nil {
			t.Fatalf("a ping crossed a partition (%s)", res.RTT)
		}
		if pctx.Err() == nil {
			t.Fatal("the ping across the partition ended before its deadline")
		}
		pcancel()
		sn.Heal()
		if res := <-pings.Ping(ctx, hs[1].ID()); res.Error != nil || res.RTT != 100*time.Millisecond {
			t.Fatalf("round trip after healing %s (%v), want 100ms", res.RTT, res.Error)
		}
		cancel()
		synctest.Wait()
	})
}

// TestSimulatedLinksMustMakeSense: NewSimNet refuses a negative latency or
// bandwidth and a loss outside 0 to 1, and leaves nothing running.
func TestSimulatedLinksMustMakeSense(t *testing.T) {
	if raceEnabled {
		t.Skip("simulated networks under testing/synctest crash Go 1.26's race-enabled runtime now and then; .ci/run runs this test without -race")
	}
	synctest.Test(t, func(t *testing.T) {
		for _, bad := range []SimLink{
			{Latency: -time.Millisecond},
			{BitsPerSecond: -1},
			{Loss: -0.1},
			{Loss: 1.5},
			{Loss: math.NaN()},
		} {
			if _, _, err := NewSimNet([]SimLink{{}, bad}); !errors.Is(err, ErrBadSimLink) {
				t.Errorf("%+v: %v, want ErrBadSimLink", bad, err)
			}
		}
	})
}
