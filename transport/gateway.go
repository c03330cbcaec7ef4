package transport

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// ErrNoGateway is returned (wrapped) when this machine's default IPv4
// gateway cannot be found: no default route, or no routing table to read.
var ErrNoGateway = errors.New("transport: no default gateway")

// procNetRoute is Linux's IPv4 routing table. A variable for tests.
var procNetRoute = "/proc/net/route"

// maxRouteTableBytes bounds how much of the routing table is read.
const maxRouteTableBytes = 1 << 20

// defaultGateway returns the gateway of this machine's default IPv4 route,
// read from the kernel's routing table (Linux only: elsewhere the file does
// not exist and the error wraps ErrNoGateway). go-libp2p v0.51 asks
// go-netroute for the route to 0.0.0.0 instead, which it refuses, so its
// NAT-PMP never finds a gateway on Linux.
func defaultGateway() (netip.Addr, error) {
	f, err := os.Open(procNetRoute)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%w: %w", ErrNoGateway, err)
	}
	defer f.Close()
	gw, err := parseRouteTable(io.LimitReader(f, maxRouteTableBytes))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%s: %w", procNetRoute, err)
	}
	return gw, nil
}

// Route flags of /proc/net/route (linux/route.h).
const (
	rtfUp      = 0x1
	rtfGateway = 0x2
)

// parseRouteTable finds the default route with the lowest metric in a table
// in /proc/net/route's format: a header line, then one route a line, fields
// separated by whitespace (Iface Destination Gateway Flags RefCnt Use Metric
// Mask ...), addresses as 8 hex digits in the machine's byte order. Lines
// that do not parse are skipped; with no usable default route the error
// wraps ErrNoGateway.
func parseRouteTable(r io.Reader) (netip.Addr, error) {
	sc := bufio.NewScanner(r)
	var best netip.Addr
	bestMetric := uint64(0)
	header := true
	for sc.Scan() {
		if header {
			header = false
			continue
		}
		f := strings.Fields(sc.Text())
		if len(f) < 8 {
			continue
		}
		dst, err1 := routeAddr(f[1])
		gw, err2 := routeAddr(f[2])
		flags, err3 := strconv.ParseUint(f[3], 16, 32)
		metric, err4 := strconv.ParseUint(f[6], 10, 32)
		mask, err5 := routeAddr(f[7])
		if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
			continue
		}
		isDefault := dst.IsUnspecified() && mask.IsUnspecified()
		if !isDefault || flags&(rtfUp|rtfGateway) != rtfUp|rtfGateway || gw.IsUnspecified() {
			continue
		}
		if !best.IsValid() || metric < bestMetric {
			best, bestMetric = gw, metric
		}
	}
	if err := sc.Err(); err != nil {
		return netip.Addr{}, fmt.Errorf("%w: reading the routing table: %w", ErrNoGateway, err)
	}
	if !best.IsValid() {
		return netip.Addr{}, fmt.Errorf("%w: no default IPv4 route", ErrNoGateway)
	}
	return best, nil
}

// routeAddr decodes an IPv4 address of /proc/net/route: the 32-bit value in
// network byte order, printed as hex in the machine's byte order.
func routeAddr(s string) (netip.Addr, error) {
	if len(s) != 8 {
		return netip.Addr{}, fmt.Errorf("address %q: want 8 hex digits", s)
	}
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("address %q: %w", s, err)
	}
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], uint32(v))
	return netip.AddrFrom4(b), nil
}
