package integration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	"go.uber.org/goleak"

	"github.com/switchyard-p2p/switchyard/p2p"
	"github.com/switchyard-p2p/switchyard/transport"
)

// The NAT test's two child processes: a NAT-PMP gateway and a host behind
// it (see nat_test.go). Each prints its findings on stdout, one line each,
// and runs until its stdin closes.

// natChildMain runs the role named by natRoleEnv.
func natChildMain(role string) int {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	var err error
	switch role {
	case "gateway":
		err = natGatewayRun(ctx)
	case "host":
		err = natHostRun(ctx)
	default:
		err = fmt.Errorf("unknown role %q", role)
	}
	if err != nil {
		fmt.Printf("FAIL %s\n", err) // the parent may be waiting for a line
		fmt.Fprintf(os.Stderr, "%s: %s\n", role, err)
		return 1
	}
	return 0
}

// natGatewayRun is a UPnP Internet Gateway Device (see upnp_gateway_test.go)
// on natGatewayIP until ctx ends.
func natGatewayRun(ctx context.Context) error {
	gw, err := startUPnPGateway(natGatewayIP, "eth0", natExternalIP)
	if err != nil {
		return err
	}
	fmt.Println("READY")
	<-ctx.Done()
	return gw.close()
}

// natHostRun, one after the other: builds a host listening on all
// interfaces (so NAT port mapping is on by default), maps a raw UDP port
// with MapPort, and opens a p2p.Listener on all interfaces. It prints "HOST
// <multiaddr>" when transport.ExternalAddrs reports the mapped TCP address,
// "MAPPORT <ip:port>" when MapPort's mapping is granted and "LISTENER
// <ip:port>" with the listener's external address; then it closes them all
// and checks that no goroutine is left.
//
// Not at once: go-libp2p v0.51's NAT instances share one math/rand source
// for their port choices without a lock, and the race detector says so
// when two map a port at the same moment.
func natHostRun(ctx context.Context) error {
	h, err := transport.New(transport.WithListenAddrs(fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", natHostPort)))
	if err != nil {
		return err
	}
	defer h.Close()
	found := ""
	for found == "" && ctx.Err() == nil {
		for _, a := range transport.ExternalAddrs(h) {
			if ip, err := a.ValueForProtocol(ma.P_IP4); err == nil && ip == natExternalIP {
				found = a.String()
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	fmt.Printf("HOST %s\n", found)

	m, err := transport.MapPort(ctx, "udp", natRawPort)
	if err != nil {
		return fmt.Errorf("MapPort: %w", err)
	}
	ap, err := m.External()
	fmt.Printf("MAPPORT %s\n", ap)
	if err := errors.Join(err, m.Close()); err != nil {
		return fmt.Errorf("MapPort: %w", err)
	}

	l, err := p2p.NewListener("tcp", fmt.Sprintf("0.0.0.0:%d", natListenerPort))
	if err != nil {
		return fmt.Errorf("NewListener: %w", err)
	}
	ext := l.ExternalAddress()
	fmt.Printf("LISTENER %s\n", net.JoinHostPort(ext.IP.String(), fmt.Sprint(ext.Port)))
	l.Stop()

	<-ctx.Done()
	if err := h.Close(); err != nil {
		return fmt.Errorf("close host: %w", err)
	}
	// UPnP's HTTP requests go through http.DefaultTransport, whose idle
	// keep-alive connections to the gateway are not the host's to close.
	http.DefaultClient.CloseIdleConnections()
	if leak := goleak.Find(); leak != nil {
		return fmt.Errorf("goroutines left after Close: %w", leak)
	}
	return nil
}
