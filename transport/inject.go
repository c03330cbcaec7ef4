package transport

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/transport"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// Connection injection.
//
// The seed API's Switch.AddPeerWithConnection(conn net.Conn, outbound bool)
// hands us a connection someone else established. go-libp2p's swarm has no
// exported way to adopt a connection: connections enter it only from a
// transport's Dial or from a listener's Accept. So every host built by New
// carries one more transport, the injector, listening on a private address
// "/memory/<random>" (never advertised: New's address factory drops it, and
// it cannot be dialed). InjectConn runs libp2p's connection upgrade on the
// raw conn (multistream-select, TLS or Noise, then the muxer, checked by the
// resource manager and the gater like any connection), and hands the result
// to the swarm through that listener's Accept. From then on it is an ordinary
// libp2p connection: streams, notifications, identify, connection manager.
//
// Limits:
//   - The swarm records every accepted connection as inbound, so
//     network.Conn.Stat().Direction says DirInbound even for an outbound
//     injection; ConnDirection reports the true one.
//   - go-libp2p's upgrader refuses an outbound upgrade without an expected
//     peer ID, which AddPeerWithConnection does not have. The injector's
//     own security transports therefore ignore the expected peer on outbound
//     handshakes and accept whoever authenticates, as an inbound handshake
//     does; the returned peer ID is the authenticated one.
//   - The injector offers exactly the security protocols chosen with
//     WithSecurity (extra ones added with WithLibp2pOptions are not offered).
//     Noise initiated by an injected outbound conn negotiates the muxer with
//     multistream-select (one extra round trip), not inside the handshake.

// ErrInjectionUnsupported is returned by InjectConn for a host that was not
// built by New (a stock libp2p host, a mocknet host).
var ErrInjectionUnsupported = errors.New("transport: host does not accept injected connections (not built by transport.New)")

// ErrHostClosed is returned by InjectConn when the host is closed or closing.
var ErrHostClosed = errors.New("transport: host closed")

// ErrInjectRejected is returned (wrapped) by InjectConn when the resource
// manager, the connection gater or the swarm refuses the connection.
var ErrInjectRejected = errors.New("transport: injected connection rejected")

// HandshakeTimeout bounds InjectConn's handshake when its context has no
// deadline, so a silent remote cannot hold it forever.
const HandshakeTimeout = 15 * time.Second

// placeholderPeer satisfies the upgrader's "outbound needs a peer" check;
// the injector's security transports ignore it (see the limits above).
const placeholderPeer = peer.ID("switchyard-inject-unknown-peer")

// InjectConn secures and multiplexes c, an established raw connection (from
// net.Dial, a net.Listener, net.Pipe, ...), and adds it to h's swarm as a
// libp2p connection. With outbound true this side is the initiator of the
// handshake (it dialed); the other side must then run as responder (false),
// e.g. InjectConn on a peer's host, or a stock libp2p node's listener when
// outbound is true. It returns the remote's authenticated peer ID once the
// connection is in the swarm (h.Network().ConnsToPeer sees it).
//
// It blocks until then, until ctx is done, or for at most HandshakeTimeout
// if ctx has no deadline. It takes ownership of c: on any error c is closed
// and nothing is left running. Errors: ErrInjectionUnsupported for a host not
// built by New, ErrHostClosed, ErrInjectRejected (resource manager, gater,
// swarm), or a handshake error (garbage on the wire, a closed conn, a peer
// speaking neither TLS nor Noise). Safe for concurrent use.
func InjectConn(ctx context.Context, h host.Host, c net.Conn, outbound bool) (peer.ID, error) {
	inj, err := injectorOf(h)
	if err != nil {
		c.Close()
		return "", err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, HandshakeTimeout)
		defer cancel()
	}
	return inj.inject(ctx, c, outbound)
}

// ConnDirection returns the direction of c: for a connection added by
// InjectConn, the outbound flag it was given; otherwise c.Stat().Direction.
func ConnDirection(c network.Conn) network.Direction {
	var ic *injectedConn
	if c.As(&ic) {
		return ic.dir
	}
	return c.Stat().Direction
}

// memoryAny selects the injector among a swarm's transports by protocol.
var memoryAny = ma.StringCast("/memory/0")

func injectorOf(h host.Host) (*injector, error) {
	sw, ok := h.Network().(*swarm.Swarm)
	if !ok {
		return nil, ErrInjectionUnsupported
	}
	if inj, ok := sw.TransportForListening(memoryAny).(*injector); ok {
		return inj, nil
	}
	select {
	case <-sw.Done():
		return nil, ErrHostClosed
	default:
		return nil, ErrInjectionUnsupported
	}
}

// injector is the transport.Transport that feeds injected connections to
// the swarm. It cannot dial; its one listener yields what inject upgraded.
type injector struct {
	laddr    ma.Multiaddr
	upgrader transport.Upgrader
	rcmgr    network.ResourceManager
	gater    connmgr.ConnectionGater

	incoming  chan *injectedConn
	closed    chan struct{}
	closeOnce sync.Once
	listening atomic.Bool
	seq       atomic.Uint64
}

var _ transport.Transport = (*injector)(nil)

// newInjectAddr picks a host's private listen address.
func newInjectAddr() ma.Multiaddr {
	var b [8]byte
	rand.Read(b[:])
	return ma.StringCast(fmt.Sprintf("/memory/%d", binary.BigEndian.Uint64(b[:])>>1))
}

func (inj *injector) inject(ctx context.Context, c net.Conn, outbound bool) (peer.ID, error) {
	dir, expect := network.DirInbound, peer.ID("")
	if outbound {
		dir, expect = network.DirOutbound, placeholderPeer
	}
	mc := inj.wrap(c)
	if !outbound && inj.gater != nil && !inj.gater.InterceptAccept(mc) {
		c.Close()
		return "", fmt.Errorf("%w: gater refused %s", ErrInjectRejected, mc.RemoteMultiaddr())
	}
	_, usefd := c.(syscall.Conn)
	scope, err := inj.rcmgr.OpenConnection(dir, usefd, mc.RemoteMultiaddr())
	if err != nil {
		c.Close()
		return "", fmt.Errorf("%w: resource manager: %w", ErrInjectRejected, err)
	}
	cc, err := inj.upgrader.Upgrade(ctx, inj, mc, dir, expect, scope) // on error: scope done
	if err != nil {
		c.Close()
		return "", fmt.Errorf("transport: inject %v conn from %s: %w", dir, mc.RemoteMultiaddr(), err)
	}
	if inj.gater != nil && !inj.gater.InterceptSecured(dir, cc.RemotePeer(), mc) {
		cc.CloseWithError(network.ConnGated)
		return "", fmt.Errorf("%w: gater refused peer %s", ErrInjectRejected, cc.RemotePeer())
	}
	ic := &injectedConn{CapableConn: cc, dir: dir, added: make(chan struct{}), gone: make(chan struct{})}
	select {
	case inj.incoming <- ic:
	case <-inj.closed:
		ic.Close()
		return "", ErrHostClosed
	case <-ctx.Done():
		ic.Close()
		return "", fmt.Errorf("transport: inject %v conn: %w", dir, ctx.Err())
	}
	select {
	case <-ic.added:
		return ic.RemotePeer(), nil
	case <-ic.gone:
		return "", fmt.Errorf("%w: swarm refused the connection to %s", ErrInjectRejected, ic.RemotePeer())
	case <-ctx.Done():
		ic.Close()
		return "", fmt.Errorf("transport: inject %v conn: %w", dir, ctx.Err())
	}
}

// wrap gives c multiaddrs: its own for TCP and other IP conns, private
// /memory ones for conns without a network address (net.Pipe).
func (inj *injector) wrap(c net.Conn) manet.Conn {
	if mc, err := manet.WrapNetConn(c); err == nil {
		return mc
	}
	raddr := ma.StringCast(fmt.Sprintf("/memory/%d", inj.seq.Add(1)))
	return &addrlessConn{Conn: c, laddr: inj.laddr, raddr: raddr}
}

// connected is the swarm notification that an injected conn was adopted.
func (inj *injector) connected(_ network.Network, c network.Conn) {
	var ic *injectedConn
	if c.As(&ic) {
		ic.addOnce.Do(func() { close(ic.added) })
	}
}

func (inj *injector) close() {
	inj.closeOnce.Do(func() { close(inj.closed) })
}

// Dial always fails: the injector's address is private and local.
func (inj *injector) Dial(context.Context, ma.Multiaddr, peer.ID) (transport.CapableConn, error) {
	return nil, errors.New("transport: the injection address cannot be dialed")
}

// CanDial is false for every address, so the swarm never tries to.
func (inj *injector) CanDial(ma.Multiaddr) bool { return false }

// Listen returns the injector's one listener, on its own address only.
func (inj *injector) Listen(laddr ma.Multiaddr) (transport.Listener, error) {
	if !laddr.Equal(inj.laddr) {
		return nil, fmt.Errorf("transport: injector listens on %s only, not %s", inj.laddr, laddr)
	}
	if !inj.listening.CompareAndSwap(false, true) {
		return nil, errors.New("transport: injector already listening")
	}
	return &injectListener{inj: inj}, nil
}

// Protocols claims /memory, a protocol no other transport of ours uses.
func (inj *injector) Protocols() []int { return []int{ma.P_MEMORY} }

// Proxy is false: the injector carries its own connections.
func (inj *injector) Proxy() bool { return false }

// Close stops the listener; the swarm calls it when it closes.
func (inj *injector) Close() error {
	inj.close()
	return nil
}

// injectListener hands injected conns to the swarm's accept loop.
type injectListener struct{ inj *injector }

func (l *injectListener) Accept() (transport.CapableConn, error) {
	select {
	case c := <-l.inj.incoming:
		return c, nil
	case <-l.inj.closed:
		return nil, transport.ErrListenerClosed
	}
}

func (l *injectListener) Close() error {
	l.inj.close()
	return nil
}

func (l *injectListener) Addr() net.Addr          { return memAddr(l.inj.laddr.String()) }
func (l *injectListener) Multiaddr() ma.Multiaddr { return l.inj.laddr }

// memAddr is the net.Addr of a /memory address.
type memAddr string

func (a memAddr) Network() string { return "memory" }
func (a memAddr) String() string  { return string(a) }

// addrlessConn gives a conn without IP addresses /memory multiaddrs.
type addrlessConn struct {
	net.Conn
	laddr, raddr ma.Multiaddr
}

func (c *addrlessConn) LocalMultiaddr() ma.Multiaddr  { return c.laddr }
func (c *addrlessConn) RemoteMultiaddr() ma.Multiaddr { return c.raddr }

// injectedConn is an upgraded injected connection. It tells inject when the
// swarm adopted it (the Connected notification finds it through As) or
// dropped it (the swarm closes what it refuses), and remembers the real
// direction.
type injectedConn struct {
	transport.CapableConn
	dir network.Direction

	added    chan struct{}
	addOnce  sync.Once
	gone     chan struct{}
	goneOnce sync.Once
}

// As lets ConnDirection and the injector find the injectedConn under the
// swarm's wrappers; other targets go to the upgraded conn.
func (c *injectedConn) As(target any) bool {
	if t, ok := target.(**injectedConn); ok {
		*t = c
		return true
	}
	return c.CapableConn.As(target)
}

// Stat passes the upgraded conn's stats through (the swarm reads them).
func (c *injectedConn) Stat() network.ConnStats {
	if cs, ok := c.CapableConn.(network.ConnStat); ok {
		return cs.Stat()
	}
	return network.ConnStats{}
}

func (c *injectedConn) Close() error {
	c.goneOnce.Do(func() { close(c.gone) })
	return c.CapableConn.Close()
}

func (c *injectedConn) CloseWithError(code network.ConnErrorCode) error {
	c.goneOnce.Do(func() { close(c.gone) })
	return c.CapableConn.CloseWithError(code)
}
