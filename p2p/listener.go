package p2p

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/p2p/net/nat"

	"github.com/switchyard-p2p/switchyard/transport"
)

// Listener accepts raw connections, as in the 2014 package: hand each one to
// Switch.AddPeerWithConnection(conn, false), which runs libp2p's handshake on
// it. A Switch does not need one (its host listens by itself); it is for code
// that manages its own sockets.
type Listener interface {
	// Connections yields accepted connections; it is closed by Stop.
	Connections() <-chan net.Conn
	// InternalAddress is the address the listener is bound to.
	InternalAddress() *NetAddress
	// ExternalAddress is where others can reach the listener: the gateway's
	// mapped address when UPnP/NAT-PMP mapped the port, otherwise the bound
	// address (or, when bound to all interfaces, this machine's first
	// non-loopback address).
	ExternalAddress() *NetAddress
	// Stop closes the listener, removes the port mapping, and closes the
	// connections not yet taken from Connections. Idempotent.
	Stop()
}

// ListenerOption configures NewListener.
type ListenerOption func(*listenerConfig)

type listenerConfig struct {
	nat bool
}

// listenerNATTimeout is how long NewListener waits for a gateway's mapping:
// go-libp2p's discovery timeout. UPnP discovery alone takes about 4 s (two
// 2-second SSDP searches) before a gateway's description is fetched.
const listenerNATTimeout = nat.DiscoveryTimeout

// WithListenerNAT turns the UPnP/NAT-PMP port mapping on or off. Default: on
// when the listener is bound to all interfaces (0.0.0.0, :: or no host),
// off otherwise. Mapping sends discovery multicast on the LAN.
func WithListenerNAT(on bool) ListenerOption { return func(c *listenerConfig) { c.nat = on } }

// listenerBacklog is how many accepted connections wait in Connections
// before Accept pauses, as in the 2014 package.
const listenerBacklog = 10

// DefaultListener is the Listener that NewListener returns.
type DefaultListener struct {
	ln       net.Listener
	conns    chan net.Conn
	internal *NetAddress
	external *NetAddress
	mapping  *transport.PortMapping

	quit     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

var _ Listener = (*DefaultListener)(nil)

// NewDefaultListener listens on lAddr ("host:port") with protocol ("tcp"),
// mapping the port through UPnP/NAT-PMP when bound to all interfaces. Like
// the 2014 function it panics if it cannot listen; NewListener returns the
// error instead.
func NewDefaultListener(protocol string, lAddr string) Listener {
	l, err := NewListener(protocol, lAddr)
	if err != nil {
		panic(fmt.Sprintf("p2p: NewDefaultListener: %s", err))
	}
	return l
}

// NewListener listens on lAddr with protocol ("tcp", "tcp4" or "tcp6") and
// starts accepting. Port mapping, when on, waits up to 10 s for a gateway.
func NewListener(protocol, lAddr string, opts ...ListenerOption) (*DefaultListener, error) {
	host, _, err := net.SplitHostPort(lAddr)
	if err != nil {
		return nil, fmt.Errorf("listen %q: %w", lAddr, err)
	}
	ip := net.ParseIP(host)
	cfg := listenerConfig{nat: host == "" || (ip != nil && ip.IsUnspecified())}
	for _, o := range opts {
		o(&cfg)
	}
	switch protocol {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, fmt.Errorf("listen %q: protocol %q is not TCP", lAddr, protocol)
	}
	ln, err := net.Listen(protocol, lAddr)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	tcp := ln.Addr().(*net.TCPAddr)
	l := &DefaultListener{
		ln:       ln,
		conns:    make(chan net.Conn, listenerBacklog),
		internal: NewNetAddressIPPort(tcp.IP, uint16(tcp.Port)),
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	l.external = l.internal
	if tcp.IP.IsUnspecified() {
		if ip := firstNonLoopbackIP(); ip != nil {
			l.external = NewNetAddressIPPort(ip, uint16(tcp.Port))
		}
	}
	if cfg.nat {
		l.mapPort(tcp.Port, listenerNATTimeout)
	}
	go l.acceptRoutine()
	return l, nil
}

// mapPort asks the gateway for a mapping; failure leaves the local address
// as the external one.
func (l *DefaultListener) mapPort(port int, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	m, err := transport.MapPort(ctx, "tcp", port)
	if err != nil {
		log.Infof("listener: no port mapping (%s); external address is %s", err, l.external)
		return
	}
	l.mapping = m
	if ext, err := m.External(); err == nil {
		l.external = NewNetAddressIPPort(ext.Addr().AsSlice(), ext.Port())
		log.Infof("listener: port %d mapped to %s", port, l.external)
	}
}

func (l *DefaultListener) acceptRoutine() {
	defer close(l.done)
	defer close(l.conns)
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			select {
			case <-l.quit:
			default:
				if !errors.Is(err, net.ErrClosed) {
					log.Errorf("listener: accept: %s", err)
				}
			}
			return
		}
		select {
		case l.conns <- conn:
		case <-l.quit:
			conn.Close()
			return
		}
	}
}

// Connections yields accepted connections until Stop.
func (l *DefaultListener) Connections() <-chan net.Conn { return l.conns }

// InternalAddress is the bound address.
func (l *DefaultListener) InternalAddress() *NetAddress { return l.internal }

// ExternalAddress is where others can reach the listener.
func (l *DefaultListener) ExternalAddress() *NetAddress { return l.external }

// Stop closes the listener and waits for its goroutine.
func (l *DefaultListener) Stop() {
	l.stopOnce.Do(func() {
		close(l.quit)
		l.ln.Close()
		<-l.done
		for conn := range l.conns {
			conn.Close()
		}
		if l.mapping != nil {
			l.mapping.Close()
		}
	})
}

// String describes the listener for logs.
func (l *DefaultListener) String() string {
	return fmt.Sprintf("Listener(@%v)", l.external)
}

func firstNonLoopbackIP() net.IP {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && ipn.IP.To4() != nil {
			return ipn.IP
		}
	}
	return nil
}
