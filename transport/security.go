package transport

import (
	"context"
	"fmt"
	"net"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/pnet"
	"github.com/libp2p/go-libp2p/core/sec"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	"github.com/libp2p/go-libp2p/p2p/net/upgrader"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	tls "github.com/libp2p/go-libp2p/p2p/security/tls"
	ma "github.com/multiformats/go-multiaddr"
)

// securityOptions offers the chosen security protocols, in order.
func securityOptions(protocols []Security) []libp2p.Option {
	opts := make([]libp2p.Option, 0, len(protocols))
	for _, p := range protocols {
		switch p {
		case SecurityTLS:
			opts = append(opts, libp2p.Security(tls.ID, tls.New))
		case SecurityNoise:
			opts = append(opts, libp2p.Security(noise.ID, noise.New))
		}
	}
	return opts
}

// injectorConstructor returns the libp2p.Transport constructor of a host's
// injector. fx hands it the host's own key, muxers, private-network key,
// resource manager, gater and swarm, so injected connections are upgraded
// and admitted exactly like dialed or accepted ones.
func injectorConstructor(laddr ma.Multiaddr, protocols []Security) any {
	return func(key crypto.PrivKey, muxers []upgrader.StreamMuxer, psk pnet.PSK,
		rcmgr network.ResourceManager, gater connmgr.ConnectionGater, sw *swarm.Swarm) (*injector, error) {
		secs, err := injectorSecurity(key, muxers, protocols)
		if err != nil {
			return nil, err
		}
		// No gater here: inject asks it itself, to tell a refusal
		// (ErrInjectRejected) from a failed handshake.
		u, err := upgrader.New(secs, muxers, psk, rcmgr, nil)
		if err != nil {
			return nil, err
		}
		if rcmgr == nil {
			rcmgr = &network.NullResourceManager{}
		}
		inj := &injector{
			laddr:    laddr,
			upgrader: u,
			rcmgr:    rcmgr,
			gater:    gater,
			incoming: make(chan *injectedConn),
			closed:   make(chan struct{}),
		}
		sw.Notify(&network.NotifyBundle{ConnectedF: inj.connected})
		return inj, nil
	}
}

// injectorSecurity builds the injector's security transports. Inbound they
// are the stock ones; outbound they authenticate whoever answers, since an
// injected outbound conn comes without an expected peer ID.
func injectorSecurity(key crypto.PrivKey, muxers []upgrader.StreamMuxer, protocols []Security) ([]sec.SecureTransport, error) {
	out := make([]sec.SecureTransport, 0, len(protocols))
	for _, p := range protocols {
		switch p {
		case SecurityTLS:
			t, err := tls.New(tls.ID, key, muxers)
			if err != nil {
				return nil, fmt.Errorf("transport: tls: %w", err)
			}
			// An empty peer ID makes TLS accept any authenticated peer.
			out = append(out, anyPeerOutbound{SecureTransport: t, outbound: t})
		case SecurityNoise:
			t, err := noise.New(noise.ID, key, muxers)
			if err != nil {
				return nil, fmt.Errorf("transport: noise: %w", err)
			}
			// Noise's Transport always checks the expected peer outbound;
			// a session transport can be told not to.
			st, err := t.WithSessionOptions(noise.DisablePeerIDCheck())
			if err != nil {
				return nil, fmt.Errorf("transport: noise: %w", err)
			}
			out = append(out, anyPeerOutbound{SecureTransport: t, outbound: st})
		}
	}
	return out, nil
}

// anyPeerOutbound secures inbound conns with SecureTransport and outbound
// ones with outbound, without an expected peer ID.
type anyPeerOutbound struct {
	sec.SecureTransport
	outbound sec.SecureTransport
}

func (t anyPeerOutbound) SecureOutbound(ctx context.Context, insecure net.Conn, _ peer.ID) (sec.SecureConn, error) {
	return t.outbound.SecureOutbound(ctx, insecure, "")
}
