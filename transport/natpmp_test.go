package transport

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	natpmp "github.com/jackpal/go-nat-pmp"
)

type (
	natpmpExternal = natpmp.GetExternalAddressResult
	natpmpMapping  = natpmp.AddPortMappingResult
)

// pmpServer is a NAT-PMP gateway on a loopback address of its own
// (127.a.b.c, port 5351, where go-nat-pmp sends), answering each request
// with what reply returns (nil: no answer). It records the requests.
type pmpServer struct {
	addr  netip.Addr
	conn  *net.UDPConn
	reply func(req []byte) []byte
	done  chan struct{}

	mu   sync.Mutex
	reqs [][]byte
}

func newPMPServer(t *testing.T, reply func(req []byte) []byte) *pmpServer {
	t.Helper()
	for range 20 {
		addr := netip.AddrFrom4([4]byte{127, byte(1 + rand.IntN(250)), byte(rand.IntN(256)), byte(1 + rand.IntN(250))})
		conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, 5351)))
		if err != nil {
			continue
		}
		s := &pmpServer{addr: addr, conn: conn, reply: reply, done: make(chan struct{})}
		go s.serve()
		t.Cleanup(func() {
			conn.Close()
			<-s.done
		})
		return s
	}
	t.Skip("no loopback address free for a NAT-PMP server on port 5351")
	return nil
}

func (s *pmpServer) serve() {
	defer close(s.done)
	buf := make([]byte, 64)
	for {
		n, from, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		req := append([]byte(nil), buf[:n]...)
		s.mu.Lock()
		s.reqs = append(s.reqs, req)
		s.mu.Unlock()
		if r := s.reply(req); r != nil {
			s.conn.WriteToUDPAddrPort(r, from)
		}
	}
}

func (s *pmpServer) requests() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.reqs...)
}

// pmpGateway answers like a gateway whose external address is ext, granting
// every mapping on external port internal+1000 for the requested lifetime.
func pmpGateway(ext string) func([]byte) []byte {
	return func(req []byte) []byte {
		switch {
		case len(req) == 2 && req[1] == 0:
			r := []byte{0, 128, 0, 0, 0, 0, 0, 1}
			a := netip.MustParseAddr(ext).As4()
			return append(r, a[:]...)
		case len(req) == 12 && (req[1] == 1 || req[1] == 2):
			internal := binary.BigEndian.Uint16(req[4:6])
			lifetime := binary.BigEndian.Uint32(req[8:12])
			external := internal + 1000
			if lifetime == 0 {
				external = 0
			}
			r := []byte{0, 128 + req[1], 0, 0, 0, 0, 0, 1}
			r = binary.BigEndian.AppendUint16(r, internal)
			r = binary.BigEndian.AppendUint16(r, external)
			return binary.BigEndian.AppendUint32(r, lifetime)
		}
		return []byte{0, 128 + req[1], 0, 5} // unsupported opcode
	}
}

// mapReq is a NAT-PMP mapping request: opcode, internal and external port,
// lifetime in seconds.
type mapReq struct {
	op                 byte
	internal, external uint16
	lifetime           uint32
}

func parseMapReq(t *testing.T, req []byte) mapReq {
	t.Helper()
	if len(req) != 12 || req[0] != 0 {
		t.Fatalf("request % x is not a NAT-PMP mapping request", req)
	}
	return mapReq{req[1], binary.BigEndian.Uint16(req[4:6]), binary.BigEndian.Uint16(req[6:8]), binary.BigEndian.Uint32(req[8:12])}
}

func TestDiscoverPMPFindsTheDefaultGatewayAndMapsAndUnmaps(t *testing.T) {
	srv := newPMPServer(t, pmpGateway("11.22.33.44"))
	writeRouteTable(t, srv.addr.String())
	n, err := discoverPMP(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := n.AddMapping(context.Background(), "tcp", 26656); err != nil {
		t.Fatal(err)
	}
	if got, ok := n.GetMapping("tcp", 26656); !ok || got != netip.MustParseAddrPort("11.22.33.44:27656") {
		t.Fatalf("GetMapping = %v, %v; want 11.22.33.44:27656", got, ok)
	}
	if _, ok := n.GetMapping("udp", 26656); ok {
		t.Fatal("udp/26656 mapped, only tcp was asked for")
	}
	if err := n.AddMapping(context.Background(), "udp", 4001); err != nil {
		t.Fatal(err)
	}
	if err := n.RemoveMapping(context.Background(), "udp", 4001); err != nil {
		t.Fatal(err)
	}
	if err := n.RemoveMapping(context.Background(), "udp", 4001); !errors.Is(err, ErrNATPMP) {
		t.Fatalf("removing it again: err = %v, want ErrNATPMP", err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	reqs := srv.requests()
	want := []mapReq{
		{2, 26656, 26656, uint32(pmpLifetime / time.Second)}, // suggests its own port
		{1, 4001, 4001, uint32(pmpLifetime / time.Second)},
		{1, 4001, 0, 0}, // RFC 6886 §3.4: removal
		{2, 26656, 0, 0},
	}
	if len(reqs) != 1+len(want) {
		t.Fatalf("%d requests, want %d: % x", len(reqs), 1+len(want), reqs)
	}
	for i, w := range want {
		if got := parseMapReq(t, reqs[i+1]); got != w {
			t.Errorf("request %d = %+v, want %+v", i+1, got, w)
		}
	}
	if err := n.AddMapping(context.Background(), "tcp", 1); !errors.Is(err, ErrNATPMP) {
		t.Fatalf("AddMapping after Close: err = %v, want ErrNATPMP", err)
	}
}

func TestMapPortUsesNATPMPAndReportsARefusal(t *testing.T) {
	srv := newPMPServer(t, func(req []byte) []byte {
		if req[1] == 0 {
			return pmpGateway("11.22.33.44")(req)
		}
		return []byte{0, 128 + req[1], 0, 2, 0, 0, 0, 1, req[4], req[5], 0, 0, 0, 0, 0, 0} // not authorized
	})
	writeRouteTable(t, srv.addr.String())
	m, err := MapPort(context.Background(), "udp", 4001)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	_, err = m.External()
	if !errors.Is(err, ErrNoMapping) || !errors.Is(err, ErrNATPMP) || !strings.Contains(err.Error(), "result code 2") {
		t.Fatalf("External() err = %v, want ErrNoMapping and ErrNATPMP with result code 2", err)
	}
}

// Each bad reply a gateway can send is an error, never a panic or a
// mapping.
func TestBadNATPMPRepliesAreErrors(t *testing.T) {
	ok := pmpGateway("11.22.33.44")
	for _, tc := range []struct {
		name  string
		reply func(req []byte) []byte
		want  string
	}{
		{"empty", func([]byte) []byte { return []byte{} }, "result size"},
		{"truncated", func(req []byte) []byte { return ok(req)[:7] }, "result size"},
		{"version 1", func(req []byte) []byte { r := ok(req); r[0] = 1; return r }, "version 1"},
		{"PCP's version", func(req []byte) []byte { r := ok(req); r[0] = 2; return r }, "version 2"},
		{"not a reply", func(req []byte) []byte { r := ok(req); r[1] -= 128; return r }, "opcode"},
		{"other opcode", func(req []byte) []byte { r := ok(req); r[1] ^= 3; return r }, "opcode"},
		{"network failure", func(req []byte) []byte { r := ok(req); r[3] = 3; return r }, "result code 3"},
		{"out of resources", func(req []byte) []byte { r := ok(req); r[3] = 4; return r }, "result code 4"},
		{"unknown result", func(req []byte) []byte { r := ok(req); r[2] = 0xff; return r }, "result code 65"},
		{"other port", func(req []byte) []byte { r := ok(req); r[9]++; return r }, "answered for port"},
		{"external port 0", func(req []byte) []byte { r := ok(req); r[10], r[11] = 0, 0; return r }, "external port 0"},
		{"lifetime 0", func(req []byte) []byte { r := ok(req); clear(r[12:]); return r }, "for 0 s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newPMPServer(t, tc.reply)
			n := newPMPNAT(srv.addr)
			defer n.Close()
			n.io.Lock()
			_, _, err := n.request(context.Background(), natEntry{"tcp", 26656}, 26656, pmpLifetime)
			n.io.Unlock()
			if !errors.Is(err, ErrNATPMP) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrNATPMP saying %q", err, tc.want)
			}
		})
	}
}

func TestBadNATPMPExternalAddressRepliesAreErrors(t *testing.T) {
	ok := pmpGateway("11.22.33.44")
	for _, tc := range []struct {
		name  string
		reply func(req []byte) []byte
		want  string
	}{
		{"truncated", func(req []byte) []byte { return ok(req)[:11] }, "result size"},
		{"no address", func(req []byte) []byte { r := ok(req); clear(r[8:]); return r }, "0.0.0.0"},
		{"refused", func(req []byte) []byte { r := ok(req); r[3] = 2; return r }, "result code 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newPMPServer(t, tc.reply)
			writeRouteTable(t, srv.addr.String())
			if n, err := discoverPMP(context.Background()); !errors.Is(err, ErrNATPMP) || !strings.Contains(err.Error(), tc.want) {
				if err == nil {
					n.Close()
				}
				t.Fatalf("err = %v, want ErrNATPMP saying %q", err, tc.want)
			}
		})
	}
}

func TestAGatewayThatDoesNotAnswerNATPMPIsAnErrorWithinTheDeadline(t *testing.T) {
	srv := newPMPServer(t, func([]byte) []byte { return nil })
	writeRouteTable(t, srv.addr.String())
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := discoverPMP(ctx); !errors.Is(err, ErrNATPMP) {
		t.Fatalf("err = %v, want ErrNATPMP", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("took %s with a 300 ms deadline", d)
	}
	if len(srv.requests()) == 0 {
		t.Fatal("no request reached the gateway")
	}
}

func TestAGatewayWithoutNATPMPIsAnErrorAtOnce(t *testing.T) {
	srv := newPMPServer(t, nil)
	srv.conn.Close() // nothing listens: the kernel answers "port unreachable"
	writeRouteTable(t, srv.addr.String())
	start := time.Now()
	if _, err := discoverPMP(context.Background()); !errors.Is(err, ErrNATPMP) {
		t.Fatalf("err = %v, want ErrNATPMP", err)
	}
	if d := time.Since(start); d > pmpTimeout/2 {
		t.Fatalf("took %s", d)
	}
}

func TestNoDefaultGatewayMeansNoNATPMP(t *testing.T) {
	withRouteTable(t, t.TempDir()+"/missing")
	if _, err := discoverPMP(context.Background()); !errors.Is(err, ErrNoGateway) {
		t.Fatalf("err = %v, want ErrNoGateway", err)
	}
}

// fakePMP is a NAT-PMP client answering from a script, for the device's
// own logic: renewal and its timing.
type fakePMP struct {
	mu       sync.Mutex
	granted  time.Duration // lifetime granted
	fail     error
	requests []mapReq
}

func (f *fakePMP) GetExternalAddress() (*natpmpExternal, error) {
	return &natpmpExternal{ExternalIPAddress: [4]byte{11, 22, 33, 44}}, nil
}

func (f *fakePMP) AddPortMapping(protocol string, internal, external, lifetime int) (*natpmpMapping, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	op := byte(1)
	if protocol == "tcp" {
		op = 2
	}
	f.requests = append(f.requests, mapReq{op, uint16(internal), uint16(external), uint32(lifetime)})
	if f.fail != nil {
		return nil, f.fail
	}
	granted := f.granted
	if lifetime == 0 {
		granted = 0
	}
	return &natpmpMapping{InternalPort: uint16(internal), MappedExternalPort: uint16(internal + 7), PortMappingLifetimeInSeconds: uint32(granted / time.Second)}, nil
}

func (f *fakePMP) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

// fakePMPNAT is a device that speaks to f, whose gateway's external
// address is known (11.22.33.44); it is closed when the test ends.
func fakePMPNAT(t *testing.T, f *fakePMP) *pmpNAT {
	withFakePMP(t, f)
	n := newPMPNAT(netip.MustParseAddr("10.0.0.1"))
	t.Cleanup(func() { n.Close() })
	n.mu.Lock()
	n.external = netip.MustParseAddr("11.22.33.44")
	n.mu.Unlock()
	return n
}

func withFakePMP(t *testing.T, f *fakePMP) {
	old := newPMPClient
	newPMPClient = func(netip.Addr, time.Duration) pmpClient { return f }
	t.Cleanup(func() { newPMPClient = old })
}

func TestNATPMPMappingsAreRenewedAtHalfTheirLifetimeWithTheirPort(t *testing.T) {
	f := &fakePMP{granted: 2 * time.Second}
	withFakePMP(t, f)
	n := newPMPNAT(netip.MustParseAddr("10.0.0.1"))
	defer n.Close()
	if err := n.AddMapping(context.Background(), "udp", 4001); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for f.count() < 3 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) < 3 {
		t.Fatalf("%d requests in 5 s for a 2 s lifetime, want renewals every second", len(f.requests))
	}
	if r := f.requests[1]; r.external != 4008 || r.lifetime != uint32(pmpLifetime/time.Second) {
		t.Fatalf("renewal %+v: want the granted port 4008 for %s", r, pmpLifetime)
	}
}

func TestAFailedNATPMPMappingIsRetriedAndReportsItsError(t *testing.T) {
	f := &fakePMP{granted: time.Hour, fail: fmt.Errorf("%w: no", ErrNATPMP)}
	n := fakePMPNAT(t, f)
	if err := n.AddMapping(context.Background(), "tcp", 1); err != nil {
		t.Fatal(err)
	}
	if _, ok := n.GetMapping("tcp", 1); ok {
		t.Fatal("a refused mapping is reported")
	}
	if err := n.mappingError("tcp", 1); !errors.Is(err, ErrNATPMP) {
		t.Fatalf("mappingError = %v", err)
	}
	if d := n.untilNextRenewal(); d > pmpRetry || d < pmpRetry-time.Second {
		t.Fatalf("retried in %s, want %s", d, pmpRetry)
	}
	f.mu.Lock()
	f.fail = nil
	f.mu.Unlock()
	n.establish(context.Background(), natEntry{"tcp", 1})
	if got, ok := n.GetMapping("tcp", 1); !ok || got.Port() != 8 || n.mappingError("tcp", 1) != nil {
		t.Fatalf("after a granted retry: %v, %v, %v", got, ok, n.mappingError("tcp", 1))
	}
}

// A renewal that fails leaves the mapping as granted until its lifetime
// runs out, and the retries ask for the port held.
func TestAFailedNATPMPRenewalKeepsTheGrantUntilItExpires(t *testing.T) {
	f := &fakePMP{granted: time.Hour}
	n := fakePMPNAT(t, f)
	if err := n.AddMapping(context.Background(), "tcp", 1); err != nil {
		t.Fatal(err)
	}
	e := natEntry{"tcp", 1}
	f.mu.Lock()
	f.fail = fmt.Errorf("%w: busy", ErrNATPMP)
	f.mu.Unlock()
	n.establish(context.Background(), e)
	if got, ok := n.GetMapping("tcp", 1); !ok || got.Port() != 8 {
		t.Fatalf("after a failed renewal within the grant: %v, %v; want port 8 still", got, ok)
	}
	if err := n.mappingError("tcp", 1); !errors.Is(err, ErrNATPMP) {
		t.Fatalf("mappingError = %v", err)
	}
	n.establish(context.Background(), e)
	f.mu.Lock()
	last := f.requests[len(f.requests)-1]
	f.mu.Unlock()
	if last.external != 8 {
		t.Fatalf("retry %+v: want it to ask for the port held, 8", last)
	}
	// Once the grant has run out, a failed renewal leaves no mapping.
	n.mu.Lock()
	n.mappings[e].expires = time.Now().Add(-time.Second)
	n.mu.Unlock()
	n.establish(context.Background(), e)
	if got, ok := n.GetMapping("tcp", 1); ok {
		t.Fatalf("an expired grant is still reported: %v", got)
	}
}

// A gateway that grants a very short lifetime does not make the mapping be
// renewed more than once a second.
func TestNATPMPRenewalsAreAtMostOncePerSecond(t *testing.T) {
	f := &fakePMP{granted: time.Second} // renewals at half of it would be every 500 ms
	withFakePMP(t, f)
	n := newPMPNAT(netip.MustParseAddr("10.0.0.1"))
	defer n.Close()
	if err := n.AddMapping(context.Background(), "udp", 2); err != nil {
		t.Fatal(err)
	}
	if d := n.untilNextRenewal(); d < pmpMinRenewal-100*time.Millisecond {
		t.Fatalf("next renewal in %s, want at least %s", d, pmpMinRenewal)
	}
}
