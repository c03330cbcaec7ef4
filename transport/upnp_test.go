package transport

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// withLibp2pNAT replaces go-libp2p's discovery for one test, counting the
// discoveries.
func withLibp2pNAT(t *testing.T, d func(context.Context) (natDevice, error)) *atomic.Int32 {
	var n atomic.Int32
	old := discoverLibp2pNAT
	discoverLibp2pNAT = func(ctx context.Context) (natDevice, error) {
		n.Add(1)
		return d(ctx)
	}
	t.Cleanup(func() { discoverLibp2pNAT = old })
	return &n
}

func TestUPnPUsersShareOneDiscoveryAndOneNAT(t *testing.T) {
	gw := &fakeGateway{grant: netip.MustParseAddrPort("11.22.33.44:40000")}
	discoveries := withLibp2pNAT(t, func(context.Context) (natDevice, error) { return gw, nil })

	const users = 8
	handles := make([]*upnpUser, users)
	var wg sync.WaitGroup
	for i := range handles {
		wg.Go(func() {
			u, err := acquireUPnP(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			handles[i] = u
			// Half map the same port, half a port of their own.
			port := 26656
			if i%2 == 1 {
				port += i
			}
			if err := u.AddMapping(context.Background(), "tcp", port); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	t.Cleanup(func() { // on failure too: the shared NAT is the process's
		for _, u := range handles {
			if u != nil {
				u.Close()
			}
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	if n := discoveries.Load(); n != 1 {
		t.Fatalf("%d discoveries for %d users, want 1", n, users)
	}
	if added, _, _ := gw.counts(); added != 1+users/2 {
		t.Fatalf("the gateway was asked for %d mappings, want %d", added, 1+users/2)
	}
	if _, ok := handles[0].GetMapping("tcp", 26657); ok {
		t.Fatal("a user sees a mapping it did not ask for")
	}
	if got, ok := handles[1].GetMapping("tcp", 26657); !ok || got.Port() != 40000 {
		t.Fatalf("GetMapping = %v, %v", got, ok)
	}
	for i, u := range handles {
		if err := u.Close(); err != nil {
			t.Fatal(err)
		}
		// The odd users' own ports go as they leave; the shared port when
		// the last even user (users-2) leaves.
		want := (i + 1) / 2
		if i >= users-2 {
			want++
		}
		if _, removed, closed := gw.counts(); i < users-1 && (closed != 0 || removed != want) {
			t.Fatalf("after %d of %d users left: %d mappings removed (want %d), the NAT closed %d times", i+1, users, removed, want, closed)
		}
	}
	if _, removed, closed := gw.counts(); removed != 1+users/2 || closed != 1 {
		t.Fatalf("after every user left: %d mappings removed, the NAT closed %d times; want %d and 1", removed, closed, 1+users/2)
	}
	if err := handles[0].Close(); err != nil {
		t.Fatalf("a second Close: %s", err)
	}
	if err := handles[0].AddMapping(context.Background(), "tcp", 1); err == nil {
		t.Fatal("AddMapping after Close succeeded")
	}

	// The next user discovers again.
	u, err := acquireUPnP(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n := discoveries.Load(); n != 2 {
		t.Fatalf("%d discoveries, want 2", n)
	}
	u.Close()
}

func TestAFailedUPnPDiscoveryIsRetriedByTheNextUser(t *testing.T) {
	fail := errors.New("no UPnP gateway")
	discoveries := withLibp2pNAT(t, func(context.Context) (natDevice, error) { return nil, fail })
	for range 2 {
		if _, err := acquireUPnP(context.Background()); !errors.Is(err, fail) {
			t.Fatalf("err = %v", err)
		}
	}
	if n := discoveries.Load(); n != 2 {
		t.Fatalf("%d discoveries, want 2", n)
	}
}

func TestWaitingForAnotherUsersUPnPDiscoveryEndsWithTheContext(t *testing.T) {
	release := make(chan struct{})
	withLibp2pNAT(t, func(context.Context) (natDevice, error) {
		<-release
		return nil, errors.New("none")
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		acquireUPnP(context.Background())
	}()
	deadline := time.Now().Add(5 * time.Second)
	for len(sharedUPnP.sem) == 0 { // until the first user is discovering
		if time.Now().After(deadline) {
			close(release)
			t.Fatal("the first user never started discovering")
		}
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := acquireUPnP(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	close(release)
	<-done
}
