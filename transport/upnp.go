package transport

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"github.com/libp2p/go-libp2p/p2p/net/nat"
)

// UPnP port mapping goes through go-libp2p's NAT (github.com/huin/goupnp
// underneath), with one instance per process. go-libp2p v0.51 picks
// external ports from a math/rand source that all its NAT instances share
// without a lock, under each instance's own lock only: two instances
// mapping at once race (the race detector reports it when a host and
// MapPort map ports at the same moment). One shared instance serialises
// every pick. Discovery is serialised too: the first user discovers, the
// others wait and share what it found, and the last to leave closes it.

// discoverLibp2pNAT is go-libp2p's discovery. A variable for tests.
var discoverLibp2pNAT = func(ctx context.Context) (natDevice, error) {
	return nat.DiscoverNAT(ctx)
}

// sharedUPnP is the process's go-libp2p NAT and who uses it.
var sharedUPnP = struct {
	sem   chan struct{} // held while the state below is used, discovery included
	dev   natDevice
	users int
	refs  map[natEntry]int // how many users mapped each port
}{sem: make(chan struct{}, 1), refs: map[natEntry]int{}}

// upnpUser is one user's handle on the shared go-libp2p NAT, a natDevice
// whose Close removes the user's own mappings (and closes the NAT when it
// is the last user).
type upnpUser struct {
	mu     sync.Mutex
	mapped map[natEntry]bool
	closed bool
}

// acquireUPnP returns a handle on the shared go-libp2p NAT, discovering it
// first if no one uses it. Waiting for another user's discovery ends with
// ctx.
func acquireUPnP(ctx context.Context) (*upnpUser, error) {
	if err := lockShared(ctx); err != nil {
		return nil, err
	}
	defer unlockShared()
	if sharedUPnP.dev == nil {
		dev, err := discoverLibp2pNAT(ctx)
		if err != nil {
			return nil, err
		}
		sharedUPnP.dev = dev
	}
	sharedUPnP.users++
	return &upnpUser{mapped: map[natEntry]bool{}}, nil
}

func lockShared(ctx context.Context) error {
	select {
	case sharedUPnP.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("transport: waiting for NAT discovery: %w", ctx.Err())
	}
}

func unlockShared() { <-sharedUPnP.sem }

// AddMapping maps port, unless another user has it mapped already.
func (u *upnpUser) AddMapping(ctx context.Context, protocol string, port int) error {
	e := natEntry{protocol, port}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return errors.New("transport: UPnP: closed")
	}
	if u.mapped[e] {
		return nil
	}
	if err := lockShared(ctx); err != nil {
		return err
	}
	defer unlockShared()
	if sharedUPnP.refs[e] == 0 {
		if err := sharedUPnP.dev.AddMapping(ctx, protocol, port); err != nil {
			return err
		}
	}
	sharedUPnP.refs[e]++
	u.mapped[e] = true
	return nil
}

// GetMapping returns the shared NAT's mapping of port, if this user mapped it.
func (u *upnpUser) GetMapping(protocol string, port int) (netip.AddrPort, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed || !u.mapped[natEntry{protocol, port}] {
		return netip.AddrPort{}, false
	}
	// The shared NAT stays open while this user is: no lock needed.
	return sharedUPnP.dev.GetMapping(protocol, port)
}

// RemoveMapping drops this user's mapping of port, and asks the gateway to
// remove it if no other user has it mapped.
func (u *upnpUser) RemoveMapping(ctx context.Context, protocol string, port int) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.removeLocked(ctx, natEntry{protocol, port})
}

func (u *upnpUser) removeLocked(ctx context.Context, e natEntry) error {
	if !u.mapped[e] {
		return fmt.Errorf("transport: UPnP: %s port %d is not mapped", e.protocol, e.port)
	}
	delete(u.mapped, e)
	sharedUPnP.sem <- struct{}{} // never abandoned: a removal is bounded by ctx
	defer unlockShared()
	sharedUPnP.refs[e]--
	if sharedUPnP.refs[e] > 0 {
		return nil
	}
	delete(sharedUPnP.refs, e)
	return sharedUPnP.dev.RemoveMapping(ctx, e.protocol, e.port)
}

// Close removes this user's mappings and, for the last user, closes the
// shared NAT (which removes what is left). Calling it again does nothing.
func (u *upnpUser) Close() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return nil
	}
	var errs []error
	ctx, cancel := context.WithTimeout(context.Background(), nat.DiscoveryTimeout)
	defer cancel()
	for e := range u.mapped {
		errs = append(errs, u.removeLocked(ctx, e))
	}
	u.closed = true
	sharedUPnP.sem <- struct{}{}
	defer unlockShared()
	sharedUPnP.users--
	if sharedUPnP.users == 0 {
		errs = append(errs, sharedUPnP.dev.Close())
		sharedUPnP.dev = nil
	}
	return errors.Join(errs...)
}
