package transport

import (
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
)

// MockOption configures NewMocknet.
type MockOption func(*mockSettings) error

type mockSettings struct {
	linked    bool
	connected bool
	latency   time.Duration
	bandwidth float64
}

// MockLinked says whether every pair of hosts is linked, i.e. able to dial
// each other (mocknet's "physical" links). Unlinked hosts can be linked
// later with mn.LinkPeers.
// Default: true.
func MockLinked(linked bool) MockOption {
	return func(s *mockSettings) error {
		s.linked = linked
		return nil
	}
}

// MockConnected says whether every pair of hosts is also connected before
// NewMocknet returns. It implies MockLinked(true).
// Default: false (hosts are linked, not connected).
func MockConnected(connected bool) MockOption {
	return func(s *mockSettings) error {
		s.connected = connected
		return nil
	}
}

// MockLatency delays every message on the links by d.
// Default: 0.
func MockLatency(d time.Duration) MockOption {
	return func(s *mockSettings) error {
		if d < 0 {
			return fmt.Errorf("%w: MockLatency(%v)", ErrBadOption, d)
		}
		s.latency = d
		return nil
	}
}

// MockBandwidth limits every link to bytesPerSec in each direction.
// Default: 0, unlimited.
func MockBandwidth(bytesPerSec float64) MockOption {
	return func(s *mockSettings) error {
		if bytesPerSec < 0 {
			return fmt.Errorf("%w: MockBandwidth(%v)", ErrBadOption, bytesPerSec)
		}
		s.bandwidth = bytesPerSec
		return nil
	}
}

// NewMocknet builds go-libp2p's in-memory network with n hosts, for tests of
// code that takes a host.Host: the hosts behave like real ones (peer IDs,
// streams, protocol negotiation, identify, notifications) without sockets,
// handshakes or a muxer. Close the returned Mocknet to close every host and
// stop everything it started. On error nothing is left running.
//
// Mocknet hosts are not built by New: InjectConn refuses them with
// ErrInjectionUnsupported.
func NewMocknet(n int, opts ...MockOption) (mocknet.Mocknet, []host.Host, error) {
	if n < 0 {
		return nil, nil, fmt.Errorf("%w: NewMocknet(%d)", ErrBadOption, n)
	}
	s := &mockSettings{linked: true}
	for _, opt := range opts {
		if err := opt(s); err != nil {
			return nil, nil, err
		}
	}
	mn := mocknet.New()
	mn.SetLinkDefaults(mocknet.LinkOptions{Latency: s.latency, Bandwidth: s.bandwidth})
	hosts := make([]host.Host, 0, n)
	fail := func(err error) (mocknet.Mocknet, []host.Host, error) {
		mn.Close()
		return nil, nil, fmt.Errorf("transport: mocknet: %w", err)
	}
	for range n {
		h, err := mn.GenPeer()
		if err != nil {
			return fail(err)
		}
		hosts = append(hosts, h)
	}
	if s.linked || s.connected {
		if err := mn.LinkAll(); err != nil {
			return fail(err)
		}
	}
	if s.connected {
		if err := mn.ConnectAllButSelf(); err != nil {
			return fail(err)
		}
	}
	return mn, hosts, nil
}
