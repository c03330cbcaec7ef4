package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	natpmp "github.com/jackpal/go-nat-pmp"
)

// NAT-PMP (RFC 6886) port mapping, against the default gateway found in the
// routing table (see defaultGateway). The protocol itself is
// github.com/jackpal/go-nat-pmp's; this file adds what go-libp2p's NAT-PMP
// lacks on Linux: finding the gateway, removing mappings at close (go-libp2p
// v0.51's DeletePortMapping for NAT-PMP does nothing), and checking replies.

const (
	// pmpLifetime is what NAT-PMP mappings are requested for; each is
	// renewed when half of what the gateway granted has passed, and expires
	// on its own that long after a crash.
	pmpLifetime = 10 * time.Minute
	// pmpTimeout bounds one request, retransmissions included (RFC 6886:
	// from 250 ms, doubling). go-nat-pmp cannot be canceled, so every
	// request, even at close, takes at most this long.
	pmpTimeout = 2 * time.Second
	// pmpRetry is how soon a refused or failed mapping is asked for again.
	pmpRetry = 30 * time.Second
	// pmpMinRenewal bounds how often a mapping is renewed, whatever short
	// lifetime a gateway grants.
	pmpMinRenewal = time.Second
)

// ErrNATPMP is returned (wrapped) for a NAT-PMP reply that is not a valid
// answer to the request: go-nat-pmp's checks (size, version, opcode, result
// code) and ours (the port it maps, the address it reports).
var ErrNATPMP = errors.New("transport: NAT-PMP")

// pmpClient is what pmpNAT asks of go-nat-pmp's Client.
type pmpClient interface {
	GetExternalAddress() (*natpmp.GetExternalAddressResult, error)
	AddPortMapping(protocol string, internalPort, requestedExternalPort int, lifetime int) (*natpmp.AddPortMappingResult, error)
}

// newPMPClient returns a client for the NAT-PMP server of gateway, whose
// requests give up after timeout. A variable for tests.
var newPMPClient = func(gateway netip.Addr, timeout time.Duration) pmpClient {
	return natpmp.NewClientWithTimeout(net.IP(gateway.AsSlice()), timeout)
}

// natEntry is a mapped port: "tcp" or "udp", and the local port.
type natEntry struct {
	protocol string
	port     int
}

// pmpMapping is what the gateway granted for one entry.
type pmpMapping struct {
	external uint16    // 0: not granted
	expires  time.Time // when the last grant runs out
	renewAt  time.Time // when to ask again
	err      error     // why the last request failed, or nil
}

// pmpNAT is a NAT-PMP gateway as a natDevice: it keeps its mappings renewed
// in the background until Close, which removes them.
type pmpNAT struct {
	gateway netip.Addr
	wake    chan struct{} // a mapping was added: its renewal may come first
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	io sync.Mutex // held for each request, and for a mapping's check and request

	mu       sync.Mutex
	external netip.Addr
	mappings map[natEntry]*pmpMapping
}

// discoverPMP asks the default gateway for its external address, and returns
// it as a natDevice if it answers over NAT-PMP.
func discoverPMP(ctx context.Context) (*pmpNAT, error) {
	gw, err := defaultGateway()
	if err != nil {
		return nil, err
	}
	n := newPMPNAT(gw)
	n.io.Lock()
	ext, err := n.externalAddress(ctx)
	n.io.Unlock()
	if err != nil {
		n.Close()
		return nil, err
	}
	n.mu.Lock()
	n.external = ext
	n.mu.Unlock()
	return n, nil
}

// newPMPNAT returns the NAT-PMP device of gateway, its renewals running.
func newPMPNAT(gateway netip.Addr) *pmpNAT {
	n := &pmpNAT{gateway: gateway, wake: make(chan struct{}, 1), mappings: map[natEntry]*pmpMapping{}}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.wg.Add(1)
	go n.run()
	return n
}

// client returns a client whose requests end by ctx's deadline, and at most
// after pmpTimeout.
func (n *pmpNAT) client(ctx context.Context) pmpClient {
	timeout := pmpTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = max(min(timeout, time.Until(d)), time.Millisecond)
	}
	return newPMPClient(n.gateway, timeout)
}

// externalAddress asks the gateway for its external address. n.io is held.
func (n *pmpNAT) externalAddress(ctx context.Context) (netip.Addr, error) {
	if err := ctx.Err(); err != nil {
		return netip.Addr{}, err
	}
	res, err := n.client(ctx).GetExternalAddress()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%w: external address from %s: %w", ErrNATPMP, n.gateway, err)
	}
	ext := netip.AddrFrom4(res.ExternalIPAddress)
	if ext.IsUnspecified() {
		return netip.Addr{}, fmt.Errorf("%w: %s reports no external address (0.0.0.0)", ErrNATPMP, n.gateway)
	}
	return ext, nil
}

// request asks the gateway to map e, suggesting external port ext, for
// lifetime (0: remove the mapping). It returns the external port and the
// lifetime granted. n.io is held.
func (n *pmpNAT) request(ctx context.Context, e natEntry, ext uint16, lifetime time.Duration) (uint16, time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	res, err := n.client(ctx).AddPortMapping(e.protocol, e.port, int(ext), int(lifetime/time.Second))
	switch {
	case err != nil:
		return 0, 0, fmt.Errorf("%w: map %s port %d at %s: %w", ErrNATPMP, e.protocol, e.port, n.gateway, err)
	case int(res.InternalPort) != e.port:
		return 0, 0, fmt.Errorf("%w: asked to map %s port %d, %s answered for port %d", ErrNATPMP, e.protocol, e.port, n.gateway, res.InternalPort)
	case lifetime > 0 && (res.MappedExternalPort == 0 || res.PortMappingLifetimeInSeconds == 0):
		return 0, 0, fmt.Errorf("%w: %s granted %s port %d as external port %d for %d s", ErrNATPMP, n.gateway, e.protocol, e.port, res.MappedExternalPort, res.PortMappingLifetimeInSeconds)
	}
	return res.MappedExternalPort, time.Duration(res.PortMappingLifetimeInSeconds) * time.Second, nil
}

// establish asks for e (again), unless it was removed, and records the
// answer.
func (n *pmpNAT) establish(ctx context.Context, e natEntry) {
	n.io.Lock() // a removal waits for this request, and none follows it
	defer n.io.Unlock()
	n.mu.Lock()
	m := n.mappings[e]
	if m == nil {
		n.mu.Unlock()
		return
	}
	suggest := uint16(e.port)
	if m.external != 0 {
		suggest = m.external // RFC 6886: renew the port we hold
	}
	n.mu.Unlock()
	ext, granted, err := n.request(ctx, e, suggest, pmpLifetime)
	now := time.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	if err != nil {
		log.Debugw("NAT-PMP mapping failed", "protocol", e.protocol, "port", e.port, "err", err)
		// A failed renewal leaves the last grant standing until it runs
		// out (GetMapping checks), and the next request asks for its port.
		m.err, m.renewAt = err, now.Add(pmpRetry)
		if !now.Before(m.expires) {
			m.external = 0
		}
		return
	}
	m.external, m.expires, m.err, m.renewAt = ext, now.Add(granted), nil, now.Add(max(granted/2, pmpMinRenewal))
}

// AddMapping asks the gateway to forward protocol traffic to port, and keeps
// asking in the background, like go-libp2p's NAT: a refusal is not an error
// here, GetMapping reports no mapping until one is granted.
func (n *pmpNAT) AddMapping(ctx context.Context, protocol string, port int) error {
	e := natEntry{protocol, port}
	n.mu.Lock()
	if n.ctx.Err() != nil {
		n.mu.Unlock()
		return fmt.Errorf("%w: closed", ErrNATPMP)
	}
	if _, ok := n.mappings[e]; ok {
		n.mu.Unlock()
		return nil
	}
	n.mappings[e] = &pmpMapping{renewAt: time.Now().Add(pmpLifetime)} // not due before established
	n.mu.Unlock()
	n.establish(ctx, e)
	select {
	case n.wake <- struct{}{}:
	default:
	}
	return nil
}

// GetMapping returns the external address and port forwarding to port.
func (n *pmpNAT) GetMapping(protocol string, port int) (netip.AddrPort, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	m := n.mappings[natEntry{protocol, port}]
	if m == nil || m.external == 0 || !time.Now().Before(m.expires) || !n.external.IsValid() {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(n.external, m.external), true
}

// mappingError says why port is not mapped: the last request's error.
func (n *pmpNAT) mappingError(protocol string, port int) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if m := n.mappings[natEntry{protocol, port}]; m != nil {
		return m.err
	}
	return nil
}

// RemoveMapping stops renewing the mapping of port and asks the gateway to
// remove it.
func (n *pmpNAT) RemoveMapping(ctx context.Context, protocol string, port int) error {
	e := natEntry{protocol, port}
	n.io.Lock()
	defer n.io.Unlock()
	n.mu.Lock()
	_, ok := n.mappings[e]
	delete(n.mappings, e)
	n.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %s port %d is not mapped", ErrNATPMP, protocol, port)
	}
	_, _, err := n.request(ctx, e, 0, 0)
	return err
}

// Close stops the renewals and removes every mapping from the gateway.
func (n *pmpNAT) Close() error {
	n.mu.Lock()
	n.cancel()
	entries := make([]natEntry, 0, len(n.mappings))
	for e := range n.mappings {
		entries = append(entries, e)
	}
	n.mu.Unlock()
	n.wg.Wait()
	var errs []error
	for _, e := range entries {
		errs = append(errs, n.RemoveMapping(context.Background(), e.protocol, e.port))
	}
	return errors.Join(errs...)
}

// run renews each mapping when it is due, and refreshes the external
// address with them, until Close.
func (n *pmpNAT) run() {
	defer n.wg.Done()
	t := time.NewTimer(n.untilNextRenewal())
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-n.wake:
		case <-t.C:
			n.renewDue()
		}
		t.Reset(n.untilNextRenewal())
	}
}

// untilNextRenewal is how long until the first mapping is due (a long time
// when there is none: AddMapping wakes the loop).
func (n *pmpNAT) untilNextRenewal() time.Duration {
	n.mu.Lock()
	defer n.mu.Unlock()
	next := time.Now().Add(pmpLifetime)
	for _, m := range n.mappings {
		if m.renewAt.Before(next) {
			next = m.renewAt
		}
	}
	return max(time.Until(next), 0)
}

// renewDue asks again for every mapping that is due, then for the external
// address.
func (n *pmpNAT) renewDue() {
	now := time.Now()
	n.mu.Lock()
	var due []natEntry
	for e, m := range n.mappings {
		if !m.renewAt.After(now) {
			due = append(due, e)
		}
	}
	n.mu.Unlock()
	if len(due) == 0 {
		return
	}
	for _, e := range due {
		n.establish(n.ctx, e)
	}
	n.io.Lock()
	ext, err := n.externalAddress(n.ctx)
	n.io.Unlock()
	if err != nil {
		log.Debugw("NAT-PMP external address", "err", err)
		return
	}
	n.mu.Lock()
	n.external = ext
	n.mu.Unlock()
}
