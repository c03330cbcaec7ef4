package p2p

import (
	"github.com/libp2p/go-libp2p/core/network"
	ma "github.com/multiformats/go-multiaddr"
)

// A peer reached only through a circuit relay is a peer like any other: its
// channels run over the relayed connection, and move to a direct connection
// when one appears (sendChannel.moveStream), e.g. after a DCUtR hole punch.

// isRelayed reports whether c runs through a circuit relay: a limited
// connection, or one whose remote address is a circuit (a relay without
// limits gives connections that are not marked limited).
func isRelayed(c network.Conn) bool {
	if c.Stat().Limited {
		return true
	}
	_, err := c.RemoteMultiaddr().ValueForProtocol(ma.P_CIRCUIT)
	return err == nil
}

// directConnNotifee tells a peer's channels when a direct connection to it
// appears, so that those on a relayed connection move to it. It does not
// block: the host calls it as connections open.
func (sw *Switch) directConnNotifee() network.Notifiee {
	return &network.NotifyBundle{ConnectedF: func(_ network.Network, c network.Conn) {
		if isRelayed(c) {
			return
		}
		if p := sw.peers.Get(c.RemotePeer().String()); p != nil {
			p.mconn.directConnAppeared()
		}
	}}
}
