package p2p

import (
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// banList remembers peers stopped for an error until their ban expires.
type banList struct {
	mu    sync.Mutex
	until map[peer.ID]time.Time
}

func newBanList() *banList { return &banList{until: map[peer.ID]time.Time{}} }

// maxBannedPeers bounds the list against a peer that keeps changing its ID.
const maxBannedPeers = 10000

func (b *banList) ban(id peer.ID, d time.Duration) {
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.until) >= maxBannedPeers {
		for k, t := range b.until {
			if now.After(t) || len(b.until) >= maxBannedPeers {
				delete(b.until, k)
			}
		}
	}
	b.until[id] = now.Add(d)
}

func (b *banList) banned(id peer.ID) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.until[id]
	if ok && time.Now().After(t) {
		delete(b.until, id)
		return false
	}
	return ok
}

// gater is the connection gater of a host the Switch builds: it refuses
// banned peers before any stream is opened (persistent peers excepted).
type gater struct{ sw *Switch }

var _ connmgr.ConnectionGater = (*gater)(nil)

func (g *gater) allowed(id peer.ID) bool {
	g.sw.mu.Lock()
	persistent := g.sw.persistent[id] != nil
	g.sw.mu.Unlock()
	return persistent || !g.sw.bans.banned(id)
}

func (g *gater) InterceptPeerDial(p peer.ID) bool                                { return g.allowed(p) }
func (g *gater) InterceptAddrDial(peer.ID, ma.Multiaddr) bool                    { return true }
func (g *gater) InterceptAccept(network.ConnMultiaddrs) bool                     { return true }
func (g *gater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }
func (g *gater) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return g.allowed(p)
}
