package transport

import (
	"testing"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"
	yamux4 "github.com/libp2p/go-yamux/v4"
	yamux5 "github.com/libp2p/go-yamux/v5"
)

// newStockHost is a go-libp2p host with libp2p's defaults (TLS and Noise,
// go-yamux/v5), listening on loopback TCP only.
func newStockHost(t testing.TB, opts ...libp2p.Option) host.Host {
	t.Helper()
	opts = append([]libp2p.Option{
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.DisableMetrics(),
	}, opts...)
	h, err := libp2p.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func TestInteropWithStockLibp2pHost(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ours    []Option
		wantSec protocol.ID
	}{
		{"default (tls first)", nil, "/tls/1.0.0"},
		{"noise only", []Option{WithSecurity(SecurityNoise)}, "/noise"},
		{"tls only", []Option{WithSecurity(SecurityTLS)}, "/tls/1.0.0"},
	} {
		for _, dir := range []string{"we dial them", "they dial us"} {
			t.Run(tc.name+"/"+dir, func(t *testing.T) {
				ours, stock := newTestHost(t, tc.ours...), newStockHost(t)
				serveEcho(ours)
				serveEcho(stock)
				ctx := testContext(t)
				dialer, target := ours, stock
				if dir == "they dial us" {
					dialer, target = stock, ours
				}
				if err := dialer.Connect(ctx, addrInfo(target)); err != nil {
					t.Fatalf("connect: %v", err)
				}
				for _, side := range []struct {
					name   string
					h      host.Host
					remote host.Host
				}{{"ours", ours, stock}, {"stock", stock, ours}} {
					conns := side.h.Network().ConnsToPeer(side.remote.ID())
					if len(conns) != 1 {
						t.Fatalf("%s side: %d conns, want 1", side.name, len(conns))
					}
					st := conns[0].ConnState()
					if st.StreamMultiplexer != YamuxID {
						t.Errorf("%s side: muxer %q, want %q", side.name, st.StreamMultiplexer, YamuxID)
					}
					if st.Security != tc.wantSec {
						t.Errorf("%s side: security %q, want %q", side.name, st.Security, tc.wantSec)
					}
				}
				// The same yamux protocol, two implementations.
				var v4 *yamux4.Session
				if !ours.Network().ConnsToPeer(stock.ID())[0].As(&v4) {
					t.Error("our conn does not run on go-yamux/v4")
				}
				var v5 *yamux5.Session
				if !stock.Network().ConnsToPeer(ours.ID())[0].As(&v5) {
					t.Error("the stock host's conn does not run on go-yamux/v5")
				}
				assertEcho(t, ctx, ours, stock)
				assertEcho(t, ctx, stock, ours)
				if d := ConnDirection(ours.Network().ConnsToPeer(stock.ID())[0]); (d == network.DirOutbound) != (dir == "we dial them") {
					t.Errorf("our conn's direction is %v", d)
				}
			})
		}
	}
}
