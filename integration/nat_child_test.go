package integration

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	"go.uber.org/goleak"

	"github.com/switchyard-p2p/switchyard/p2p"
	"github.com/switchyard-p2p/switchyard/transport"
)

// The NAT tests' child processes (nat_test.go, relay_test.go), one per
// namespace. Each prints what it finds on stdout, one line each, takes
// commands from its stdin one a line, and when its stdin closes stops its
// node, checks that no goroutine is left, prints "STOPPED" and exits.

const (
	natExtEnv    = "SWITCHYARD_NAT_EXT"    // the gateway's public address
	natPeerEnv   = "SWITCHYARD_NAT_PEER"   // the multiaddr (with /p2p) to dial
	natListenEnv = "SWITCHYARD_NAT_LISTEN" // the listen multiaddr
	natKeyEnv    = "SWITCHYARD_NAT_KEY"    // the identity key file
)

// natChild is a child's stdin: its commands, and a context that ends when
// stdin closes.
type natChild struct {
	ctx  context.Context
	cmds <-chan string
}

// natChildMain runs the role named by natRoleEnv.
func natChildMain(role string) int {
	ctx, cancel := context.WithCancel(context.Background())
	cmds := make(chan string)
	go func() {
		defer cancel()
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			select {
			case cmds <- sc.Text():
			case <-ctx.Done():
			}
		}
	}()
	c := &natChild{ctx: ctx, cmds: cmds}
	var sw *p2p.Switch
	var err error
	switch role {
	case "mapped":
		sw, err = natMappedRun(c)
	case "dialer":
		sw, err = natDialerRun(c)
	case "relay":
		sw, err = relayServerRun(c)
	case "relayed":
		sw, err = relayedRun(c)
	default:
		err = fmt.Errorf("unknown role %q", role)
	}
	if err != nil {
		fmt.Printf("FAIL %s\n", err) // the parent may be waiting for a line
		fmt.Fprintf(os.Stderr, "%s: %s\n", role, err)
	}
	<-ctx.Done()
	if sw != nil {
		sw.Stop()
	}
	// UPnP's HTTP requests go through http.DefaultTransport, whose idle
	// keep-alive connections to the gateway are not the node's to close.
	http.DefaultClient.CloseIdleConnections()
	if leak := goleak.Find(); leak != nil {
		fmt.Fprintf(os.Stderr, "%s: goroutines left after Stop: %s\n", role, leak)
		return 1
	}
	fmt.Println("STOPPED")
	if err != nil {
		return 1
	}
	return 0
}

// await waits for command want.
func (c *natChild) await(want string) error {
	select {
	case cmd := <-c.cmds:
		if cmd != want {
			return fmt.Errorf("command %q, want %q", cmd, want)
		}
		return nil
	case <-c.ctx.Done():
		return fmt.Errorf("stdin closed while waiting for %q", want)
	}
}

// natMappedRun is a node behind a gateway that maps ports: a Switch
// listening on all interfaces (so its NAT port mapping is on), and at the
// same moment, in the same process, transport.MapPort for a UDP port (the
// race detector watches the two mappers). It prints "MAPPORT <ip:port>"
// when MapPort's mapping is granted and "MAPPED <multiaddr>" when the
// Switch's host reports its mapped address at the gateway's public address;
// on the command "unmap" it closes MapPort's mapping and prints
// "UNMAPPED"; then it answers the first hello on testCh and prints "RESULT
// ok <the peer's address>".
func natMappedRun(c *natChild) (*p2p.Switch, error) {
	ext := os.Getenv(natExtEnv)
	ctx, cancel := context.WithTimeout(c.ctx, natTimeout)
	defer cancel()
	sw := p2p.NewSwitch(testChannels(), p2p.WithHostOptions(
		transport.WithListenAddrs(fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", natHostPort)),
	))
	if err := sw.Start(); err != nil {
		return nil, err
	}
	mapped := make(chan error, 1)
	var m *transport.PortMapping
	go func() {
		var err error
		m, err = transport.MapPort(ctx, "udp", natRawPort)
		mapped <- err
	}()
	found := ""
	for found == "" {
		for _, a := range transport.ExternalAddrs(sw.Host()) {
			if ip, err := a.ValueForProtocol(ma.P_IP4); err == nil && ip == ext {
				found = a.String()
			}
		}
		select {
		case <-ctx.Done():
			<-mapped
			if m != nil {
				m.Close()
			}
			return sw, fmt.Errorf("the host reports no address at %s: %v (%w)", ext, sw.Host().Addrs(), ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	fmt.Printf("MAPPED %s/p2p/%s\n", found, sw.Host().ID())
	if err := <-mapped; err != nil {
		return sw, fmt.Errorf("MapPort: %w", err)
	}
	var ap fmt.Stringer
	for ap == nil {
		got, err := m.External()
		switch {
		case err == nil:
			ap = got
		case ctx.Err() != nil:
			m.Close()
			return sw, fmt.Errorf("MapPort's mapping: %w", err)
		default:
			time.Sleep(50 * time.Millisecond)
		}
	}
	fmt.Printf("MAPPORT %s\n", ap)
	if err := c.await("unmap"); err != nil {
		m.Close()
		return sw, err
	}
	if err := m.Close(); err != nil {
		return sw, fmt.Errorf("MapPort's Close: %w", err)
	}
	fmt.Println("UNMAPPED")

	in, err := sw.ReceiveContext(ctx, testCh)
	if err != nil {
		return sw, fmt.Errorf("waiting for a hello: %w", err)
	}
	if string(in.Bytes) != "hello from outside" {
		return sw, fmt.Errorf("got %q", in.Bytes)
	}
	if !in.MConn.Peer.Send(testCh, p2p.ByteSlice("hello from inside")) {
		return sw, errors.New("reply not sent")
	}
	fmt.Printf("RESULT ok %s\n", in.MConn.RemoteAddress)
	return sw, nil
}

// natDialerRun is a node outside the NAT: it dials natPeerEnv, says hello
// on testCh, and prints "RESULT ok <the peer's address>" when the answer
// comes.
func natDialerRun(c *natChild) (*p2p.Switch, error) {
	ctx, cancel := context.WithTimeout(c.ctx, natTimeout)
	defer cancel()
	sw := p2p.NewSwitch(testChannels(), p2p.WithHostOptions(
		transport.WithListenAddrs(os.Getenv(natListenEnv)),
		transport.WithNAT(false),
	))
	if err := sw.Start(); err != nil {
		return nil, err
	}
	addr, err := ma.NewMultiaddr(os.Getenv(natPeerEnv))
	if err != nil {
		return sw, err
	}
	na, err := p2p.NewNetAddressMultiaddr(addr)
	if err != nil {
		return sw, err
	}
	p, err := sw.DialPeerContext(ctx, na)
	if err != nil {
		return sw, fmt.Errorf("dial %s: %w", addr, err)
	}
	if !p.Send(testCh, p2p.ByteSlice("hello from outside")) {
		return sw, errors.New("hello not sent")
	}
	in, err := sw.ReceiveContext(ctx, testCh)
	if err != nil {
		return sw, fmt.Errorf("waiting for the answer: %w", err)
	}
	if string(in.Bytes) != "hello from inside" {
		return sw, fmt.Errorf("got %q", in.Bytes)
	}
	fmt.Printf("RESULT ok %s\n", strings.TrimSpace(in.MConn.RemoteAddress.String()))
	return sw, nil
}
