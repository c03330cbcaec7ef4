package transport

import (
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/config"
	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/prometheus/client_golang/prometheus"
)

// ErrBadOption is returned by New when an option's argument is invalid
// (a nil key, low water above high water, an unknown security protocol, ...).
var ErrBadOption = errors.New("transport: bad option")

// DefaultListenAddr is where a host listens when WithListenAddrs is not
// given: TCP port 26656 (Tendermint's customary p2p port) on every IPv4
// interface. Since it is unspecified, NAT port mapping is on by default.
const DefaultListenAddr = "/ip4/0.0.0.0/tcp/26656"

// Default connection-manager water marks and grace period. A Switchyard node
// aims at about 50 peers: the connection manager starts trimming above 60
// connections and trims back down to 40, never touching a connection younger
// than the grace period (so a new peer has time to identify and open its
// channel streams). The Switch's own peer limits sit inside these bounds.
const (
	DefaultConnLow     = 40
	DefaultConnHigh    = 60
	DefaultConnGrace   = time.Minute
	defaultUserAgent   = "switchyard"
	maxListenAddrCount = 64
)

// Security names a libp2p security protocol a host can offer.
type Security int

const (
	// SecurityTLS is libp2p's TLS 1.3 handshake ("/tls/1.0.0"). It is the
	// faster of the two on the hot path (~1.6 GB/s vs ~0.9 GB/s per stream on
	// a 2-core development machine) thanks to AES-GCM in hardware.
	SecurityTLS Security = iota + 1
	// SecurityNoise is libp2p's Noise XX handshake ("/noise"), which every
	// libp2p implementation speaks, including js-libp2p in browsers.
	SecurityNoise
)

// String returns the protocol's short name.
func (s Security) String() string {
	switch s {
	case SecurityTLS:
		return "tls"
	case SecurityNoise:
		return "noise"
	default:
		return fmt.Sprintf("Security(%d)", int(s))
	}
}

// Option configures New. Options are applied in order; a later option of the
// same kind replaces an earlier one.
type Option func(*settings) error

// settings is what the options build; New turns it into libp2p options.
type settings struct {
	key          crypto.PrivKey
	keyFile      string
	listen       []string
	quic         bool
	security     []Security
	nat          *bool // nil: decided by the listen addresses
	connMgr      connmgr.ConnManager
	connLow      int
	connHigh     int
	rcmgr        network.ResourceManager
	gater        connmgr.ConnectionGater
	registerer   prometheus.Registerer
	addrsFactory config.AddrsFactory
	sharePorts   bool
	traversal    natTraversal // AutoNAT v2, relay, hole punching: nattraversal.go
	extra        []libp2p.Option
}

func defaultSettings() *settings {
	return &settings{
		listen:   []string{DefaultListenAddr},
		security: []Security{SecurityTLS, SecurityNoise},
		connLow:  DefaultConnLow,
		connHigh: DefaultConnHigh,
	}
}

// WithIdentity makes the host use key as its identity (its peer ID is derived
// from key's public half). It replaces WithKeyFile.
// Default: a fresh ephemeral Ed25519 key, so the peer ID changes every run.
func WithIdentity(key crypto.PrivKey) Option {
	return func(s *settings) error {
		if key == nil {
			return fmt.Errorf("%w: WithIdentity: nil key", ErrBadOption)
		}
		s.key, s.keyFile = key, ""
		return nil
	}
}

// WithKeyFile makes the host load its identity from path, or create an
// Ed25519 key there (0600, written crash-safely) if no file exists, as
// LoadOrCreateKey does. A file that exists but is not a valid key file makes
// New fail with ErrBadKeyFile; it is never replaced. It replaces WithIdentity.
// Default: an ephemeral key, nothing written.
func WithKeyFile(path string) Option {
	return func(s *settings) error {
		if path == "" {
			return fmt.Errorf("%w: WithKeyFile: empty path", ErrBadOption)
		}
		s.keyFile, s.key = path, nil
		return nil
	}
}

// WithListenAddrs sets the TCP addresses the host listens on. Each is either
// a multiaddr ("/ip4/127.0.0.1/tcp/0", "/ip6/::1/tcp/26656") or a "host:port"
// string ("127.0.0.1:26656", "[::1]:0", "localhost:0", and ":26656" for every
// IPv4 interface). Port 0 picks a free port. An address that does not parse
// makes New fail with ErrBadListenAddr.
// Default: DefaultListenAddr ("/ip4/0.0.0.0/tcp/26656").
func WithListenAddrs(addrs ...string) Option {
	return func(s *settings) error {
		if len(addrs) == 0 {
			return fmt.Errorf("%w: WithListenAddrs: no address", ErrBadListenAddr)
		}
		if len(addrs) > maxListenAddrCount {
			return fmt.Errorf("%w: WithListenAddrs: %d addresses (at most %d)", ErrBadListenAddr, len(addrs), maxListenAddrCount)
		}
		s.listen = append([]string(nil), addrs...)
		return nil
	}
}

// WithPortSharing lets the host listen on a TCP port that another socket
// already holds with SO_REUSEPORT (another process on the same port gets a
// share of the incoming connections, chosen by the kernel). Default: New
// fails with ErrPortInUse if a fixed listen port is taken.
func WithPortSharing() Option {
	return func(s *settings) error {
		s.sharePorts = true
		return nil
	}
}

// WithQUIC makes the host also listen on QUIC v1 (UDP) at the host and port
// of each TCP listen address, and dial QUIC addresses.
// Default: TCP only.
func WithQUIC() Option {
	return func(s *settings) error {
		s.quic = true
		return nil
	}
}

// WithSecurity sets the security protocols the host offers, in order of
// preference, e.g. WithSecurity(SecurityNoise) to speak Noise only.
// Default: SecurityTLS, then SecurityNoise (TLS is faster; Noise is what
// js-libp2p speaks).
func WithSecurity(protocols ...Security) Option {
	return func(s *settings) error {
		if len(protocols) == 0 {
			return fmt.Errorf("%w: WithSecurity: no protocol", ErrBadOption)
		}
		seen := make(map[Security]bool, len(protocols))
		for _, p := range protocols {
			if p != SecurityTLS && p != SecurityNoise {
				return fmt.Errorf("%w: WithSecurity: unknown protocol %v", ErrBadOption, p)
			}
			if seen[p] {
				return fmt.Errorf("%w: WithSecurity: %v given twice", ErrBadOption, p)
			}
			seen[p] = true
		}
		s.security = append([]Security(nil), protocols...)
		return nil
	}
}

// WithNAT forces UPnP / NAT-PMP port mapping on or off. When on, the host
// asks the gateway to forward its listen ports and advertises the mapped
// addresses (see ExternalAddrs); discovery sends SSDP multicast on the LAN.
// Default: on if any listen address is unspecified (0.0.0.0 or ::), off
// otherwise (a host bound to a specific address is usually not meant to be
// reachable from outside).
func WithNAT(enable bool) Option {
	return func(s *settings) error {
		s.nat = &enable
		return nil
	}
}

// WithConnManager makes the host use cm as its connection manager. The host
// closes cm when it closes. It replaces WithConnLimits.
// Default: go-libp2p's connmgr with DefaultConnLow / DefaultConnHigh water
// marks and a DefaultConnGrace grace period.
func WithConnManager(cm connmgr.ConnManager) Option {
	return func(s *settings) error {
		if cm == nil {
			return fmt.Errorf("%w: WithConnManager: nil", ErrBadOption)
		}
		s.connMgr = cm
		return nil
	}
}

// WithConnLimits sets the default connection manager's water marks: above
// high connections it trims down to low (oldest-idle, unprotected first).
// It replaces WithConnManager.
// Default: DefaultConnLow (40) and DefaultConnHigh (60).
func WithConnLimits(low, high int) Option {
	return func(s *settings) error {
		if low < 0 || high <= 0 || low > high {
			return fmt.Errorf("%w: WithConnLimits(%d, %d): need 0 <= low <= high, high > 0", ErrBadOption, low, high)
		}
		s.connMgr, s.connLow, s.connHigh = nil, low, high
		return nil
	}
}

// WithResourceManager makes the host use rm as its resource manager. The
// host closes rm when it closes.
// Default: go-libp2p's rcmgr with its default limits scaled to this machine
// (see DefaultResourceManager).
func WithResourceManager(rm network.ResourceManager) Option {
	return func(s *settings) error {
		if rm == nil {
			return fmt.Errorf("%w: WithResourceManager: nil", ErrBadOption)
		}
		s.rcmgr = rm
		return nil
	}
}

// WithConnectionGater makes the host ask g before dialing, accepting and
// upgrading every connection, injected ones (InjectConn) included.
// Default: no gater; everything the resource manager admits is allowed.
func WithConnectionGater(g connmgr.ConnectionGater) Option {
	return func(s *settings) error {
		if g == nil {
			return fmt.Errorf("%w: WithConnectionGater: nil", ErrBadOption)
		}
		s.gater = g
		return nil
	}
}

// WithPrometheusRegisterer turns go-libp2p's own metrics (swarm, identify,
// resource manager, event bus, ...) on and registers them with reg.
// Default: go-libp2p's metrics are off.
func WithPrometheusRegisterer(reg prometheus.Registerer) Option {
	return func(s *settings) error {
		if reg == nil {
			return fmt.Errorf("%w: WithPrometheusRegisterer: nil", ErrBadOption)
		}
		s.registerer = reg
		return nil
	}
}

// WithAddrsFactory makes the host advertise f(addrs) instead of addrs. Use it
// rather than libp2p.AddrsFactory, which New already sets (to hide the
// private address used by InjectConn) and which libp2p allows only once.
// Default: the listen addresses, NAT-mapped and observed addresses.
func WithAddrsFactory(f config.AddrsFactory) Option {
	return func(s *settings) error {
		if f == nil {
			return fmt.Errorf("%w: WithAddrsFactory: nil", ErrBadOption)
		}
		s.addrsFactory = f
		return nil
	}
}

// WithLibp2pOptions appends opts, unchanged, after every option New derives,
// as an escape hatch for what this package does not wrap (relay, hole
// punching, a peerstore, ...). They can conflict with New's own choices:
// libp2p refuses a second identity, connection manager, resource manager or
// address factory, and an extra transport or muxer changes what the host
// speaks. Injected connections (InjectConn) offer only the security
// protocols chosen with WithSecurity.
// Default: none.
func WithLibp2pOptions(opts ...libp2p.Option) Option {
	return func(s *settings) error {
		s.extra = append(s.extra, opts...)
		return nil
	}
}
