package transport

import (
	"errors"
	"strings"
	"testing"

	ma "github.com/multiformats/go-multiaddr"
)

func TestParseListenAddr(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/tcp/0"},
		{"/ip6/::1/tcp/26656", "/ip6/::1/tcp/26656"},
		{"/ip4/0.0.0.0/tcp/26656", "/ip4/0.0.0.0/tcp/26656"},
		{"127.0.0.1:26656", "/ip4/127.0.0.1/tcp/26656"},
		{"[::1]:0", "/ip6/::1/tcp/0"},
		{"[::]:7", "/ip6/::/tcp/7"},
		{":26656", "/ip4/0.0.0.0/tcp/26656"},
		{"localhost:0", "/ip4/127.0.0.1/tcp/0"},
		{"[::ffff:10.0.0.1]:1", "/ip4/10.0.0.1/tcp/1"},
		{"0.0.0.0:65535", "/ip4/0.0.0.0/tcp/65535"},
	} {
		got, err := ParseListenAddr(tc.in)
		if err != nil {
			t.Errorf("ParseListenAddr(%q): %v", tc.in, err)
			continue
		}
		if !got.Equal(ma.StringCast(tc.want)) {
			t.Errorf("ParseListenAddr(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestBadListenAddrsAreClearErrors(t *testing.T) {
	for _, in := range []string{
		"",
		"127.0.0.1",
		"127.0.0.1:",
		"127.0.0.1:http",
		"127.0.0.1:65536",
		"127.0.0.1:-1",
		"::1:80",
		"[::1:80",
		"example.com:26656",
		"256.0.0.1:1",
		"[fe80::1%eth0]:1",
		"/ip4/127.0.0.1",
		"/ip4/127.0.0.1/tcp",
		"/ip4/127.0.0.1/tcp/99999",
		"/ip4/not-an-ip/tcp/1",
		"/ip4/127.0.0.1/udp/1/quic-v1",
		"/dns/example.com/tcp/1",
		"/ip4/127.0.0.1/tcp/1/p2p/QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N",
		"/memory/1",
		"/",
		"//ip4",
		strings.Repeat("9", 100) + ":1",
	} {
		_, err := ParseListenAddr(in)
		if !errors.Is(err, ErrBadListenAddr) {
			t.Errorf("ParseListenAddr(%q): err = %v, want ErrBadListenAddr", in, err)
			continue
		}
		if _, err := New(WithListenAddrs("127.0.0.1:0", in)); !errors.Is(err, ErrBadListenAddr) {
			t.Errorf("New with %q: err = %v, want ErrBadListenAddr", in, err)
		}
	}
}

func TestWithListenAddrsNeedsAtLeastOne(t *testing.T) {
	if _, err := New(WithListenAddrs()); !errors.Is(err, ErrBadListenAddr) {
		t.Fatalf("err = %v, want ErrBadListenAddr", err)
	}
}

func TestHostListensWhereAsked(t *testing.T) {
	h := newTestHost(t) // 127.0.0.1:0
	var tcp []ma.Multiaddr
	for _, a := range h.Network().ListenAddresses() {
		if _, err := a.ValueForProtocol(ma.P_TCP); err == nil {
			tcp = append(tcp, a)
		}
	}
	if len(tcp) != 1 {
		t.Fatalf("TCP listen addrs %v, want one", tcp)
	}
	if ip, _ := tcp[0].ValueForProtocol(ma.P_IP4); ip != "127.0.0.1" {
		t.Errorf("listening on %s, want 127.0.0.1", tcp[0])
	}
	if port, _ := tcp[0].ValueForProtocol(ma.P_TCP); port == "0" {
		t.Error("port 0 was not replaced by the chosen port")
	}
}

func TestQUICHostsConnectOverUDP(t *testing.T) {
	a, b := newTestHost(t, WithQUIC()), newTestHost(t, WithQUIC())
	serveEcho(b)
	var quicAddrs []ma.Multiaddr
	for _, addr := range b.Addrs() {
		if _, err := addr.ValueForProtocol(ma.P_QUIC_V1); err == nil {
			quicAddrs = append(quicAddrs, addr)
		}
	}
	if len(quicAddrs) == 0 {
		t.Fatalf("b advertises no QUIC address: %v", b.Addrs())
	}
	ctx := testContext(t)
	info := addrInfo(b)
	info.Addrs = quicAddrs
	if err := a.Connect(ctx, info); err != nil {
		t.Fatal(err)
	}
	conns := a.Network().ConnsToPeer(b.ID())
	if len(conns) != 1 || conns[0].ConnState().Transport != "quic-v1" {
		t.Fatalf("conns %v, want one QUIC conn", conns)
	}
	assertEcho(t, ctx, a, b)
}
