package transport

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
)

func TestMocknetOfFiftyConnectedHosts(t *testing.T) {
	const n = 50
	mn, hosts, err := NewMocknet(n, MockConnected(true))
	if err != nil {
		t.Fatal(err)
	}
	defer mn.Close()
	if len(hosts) != n {
		t.Fatalf("%d hosts, want %d", len(hosts), n)
	}
	for _, h := range hosts {
		if got := len(h.Network().Peers()); got != n-1 {
			t.Fatalf("host %s is connected to %d peers, want %d", h.ID(), got, n-1)
		}
	}
	for _, h := range hosts {
		serveEcho(h)
	}
	i := rand.IntN(n)
	j := (i + 1 + rand.IntN(n-1)) % n
	assertEcho(t, testContext(t), hosts[i], hosts[j])
}

func TestMocknetLinkedHostsCanDialButAreNotConnected(t *testing.T) {
	mn, hosts, err := NewMocknet(3)
	if err != nil {
		t.Fatal(err)
	}
	defer mn.Close()
	if c := hosts[0].Network().Connectedness(hosts[1].ID()); c == network.Connected {
		t.Fatal("hosts are connected without MockConnected")
	}
	serveEcho(hosts[1])
	if err := hosts[0].Connect(testContext(t), addrInfo(hosts[1])); err != nil {
		t.Fatalf("linked hosts cannot connect: %v", err)
	}
	assertEcho(t, testContext(t), hosts[0], hosts[1])
}

func TestMocknetUnlinkedHostsCannotDial(t *testing.T) {
	mn, hosts, err := NewMocknet(2, MockLinked(false))
	if err != nil {
		t.Fatal(err)
	}
	defer mn.Close()
	if err := hosts[0].Connect(testContext(t), addrInfo(hosts[1])); err == nil {
		t.Fatal("unlinked hosts connected")
	}
}

func TestMocknetLatencyDelaysStreams(t *testing.T) {
	const latency = 50 * time.Millisecond
	mn, hosts, err := NewMocknet(2, MockConnected(true), MockLatency(latency), MockBandwidth(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer mn.Close()
	serveEcho(hosts[1])
	start := time.Now()
	assertEcho(t, testContext(t), hosts[0], hosts[1])
	if rtt := time.Since(start); rtt < 2*latency {
		t.Fatalf("echo took %v, less than a round trip of %v", rtt, 2*latency)
	}
}

func TestMocknetBadOptions(t *testing.T) {
	for name, f := range map[string]func() error{
		"negative count":     func() error { _, _, err := NewMocknet(-1); return err },
		"negative latency":   func() error { _, _, err := NewMocknet(1, MockLatency(-time.Second)); return err },
		"negative bandwidth": func() error { _, _, err := NewMocknet(1, MockBandwidth(-1)); return err },
	} {
		if err := f(); !errors.Is(err, ErrBadOption) {
			t.Errorf("%s: err = %v, want ErrBadOption", name, err)
		}
	}
}
