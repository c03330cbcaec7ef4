package transport

import (
	"context"
	"errors"
	"testing"

	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	ma "github.com/multiformats/go-multiaddr"
)

// policy is a connmgr.ConnectionGater (an interface users implement) that
// refuses what its fields say.
type policy struct {
	refuseDial, refuseAccept, refuseUpgraded bool
	refuseSecured                            peer.ID
}

func (p *policy) InterceptPeerDial(peer.ID) bool               { return !p.refuseDial }
func (p *policy) InterceptAddrDial(peer.ID, ma.Multiaddr) bool { return true }
func (p *policy) InterceptAccept(network.ConnMultiaddrs) bool  { return !p.refuseAccept }
func (p *policy) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) {
	return !p.refuseUpgraded, 0
}
func (p *policy) InterceptSecured(_ network.Direction, id peer.ID, _ network.ConnMultiaddrs) bool {
	return id != p.refuseSecured
}

func TestGaterRefusesDials(t *testing.T) {
	a, b := newTestHost(t, WithConnectionGater(&policy{refuseDial: true})), newTestHost(t)
	if err := a.Connect(testContext(t), addrInfo(b)); err == nil {
		t.Fatal("a dial refused by the gater succeeded")
	}
}

func TestGaterGovernsInjectedConns(t *testing.T) {
	for _, tc := range []struct {
		name     string
		gate     func(other peer.ID) *policy
		outbound bool
	}{
		{"accept refused (responder)", func(peer.ID) *policy { return &policy{refuseAccept: true} }, false},
		{"peer refused after the handshake (responder)", func(o peer.ID) *policy { return &policy{refuseSecured: o} }, false},
		{"peer refused after the handshake (initiator)", func(o peer.ID) *policy { return &policy{refuseSecured: o} }, true},
		{"upgraded conn refused by the swarm (initiator)", func(peer.ID) *policy { return &policy{refuseUpgraded: true} }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			other := newTestHost(t)
			gated := newTestHost(t, WithConnectionGater(tc.gate(other.ID())))
			ours, theirs := tcpPair(t)
			errOther := make(chan error, 1)
			go func() {
				_, err := InjectConn(testContext(t), other, theirs, !tc.outbound)
				errOther <- err
			}()
			_, err := InjectConn(testContext(t), gated, ours, tc.outbound)
			if !errors.Is(err, ErrInjectRejected) {
				t.Fatalf("err = %v, want ErrInjectRejected", err)
			}
			<-errOther // the other side fails or sees the conn closed; either way it returns
			if n := len(gated.Network().ConnsToPeer(other.ID())); n != 0 {
				t.Fatalf("gated host kept %d conns to the refused peer", n)
			}
		})
	}
}

func TestInjectConnRefusedByTheResourceManager(t *testing.T) {
	rm, err := DefaultResourceManager()
	if err != nil {
		t.Fatal(err)
	}
	h := newTestHost(t, WithResourceManager(rm))
	if h.Network().ResourceManager() != rm {
		t.Fatal("the host does not use the given resource manager")
	}
	// Exhaust the system's inbound connection slots.
	var scopes []network.ConnManagementScope
	defer func() {
		for _, s := range scopes {
			s.Done()
		}
	}()
	for {
		s, err := rm.OpenConnection(network.DirInbound, false, ma.StringCast("/ip4/127.0.0.1/tcp/1"))
		if err != nil {
			t.Logf("resource manager full after %d connections: %v", len(scopes), err)
			break
		}
		scopes = append(scopes, s)
		if len(scopes) > 100_000 {
			t.Fatal("the resource manager never refuses")
		}
	}
	ours, theirs := tcpPair(t)
	defer theirs.Close()
	if _, err := InjectConn(context.Background(), h, ours, false); !errors.Is(err, ErrInjectRejected) {
		t.Fatalf("err = %v, want ErrInjectRejected", err)
	}
}

func TestConnManagerWiring(t *testing.T) {
	info := func(t *testing.T, opts ...Option) connmgr.CMInfo {
		h := newTestHost(t, opts...)
		cm, ok := h.ConnManager().(*connmgr.BasicConnMgr)
		if !ok {
			t.Fatalf("conn manager is %T", h.ConnManager())
		}
		return cm.GetInfo()
	}
	if got := info(t); got.LowWater != DefaultConnLow || got.HighWater != DefaultConnHigh || got.GracePeriod != DefaultConnGrace {
		t.Errorf("default conn manager %+v", got)
	}
	if got := info(t, WithConnLimits(5, 10)); got.LowWater != 5 || got.HighWater != 10 {
		t.Errorf("WithConnLimits(5, 10) gave %+v", got)
	}
	mine, err := connmgr.NewConnManager(1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if h := newTestHost(t, WithConnManager(mine)); h.ConnManager() != mine {
		t.Error("WithConnManager was ignored")
	}
}
