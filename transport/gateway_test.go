package transport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const routeHeader = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"

// routeHex is ip as /proc/net/route prints it on this machine.
func routeHex(ip string) string {
	b := netip.MustParseAddr(ip).As4()
	return fmt.Sprintf("%08X", binary.NativeEndian.Uint32(b[:]))
}

// routeLine is one route of /proc/net/route.
func routeLine(iface, dst, gw string, flags, metric int, mask string) string {
	return fmt.Sprintf("%s\t%s\t%s\t%04X\t0\t0\t%d\t%s\t0\t0\t0\n", iface, routeHex(dst), routeHex(gw), flags, metric, routeHex(mask))
}

func TestTheDefaultRouteWithTheLowestMetricGivesTheGateway(t *testing.T) {
	table := routeHeader +
		routeLine("eth0", "10.0.0.0", "0.0.0.0", 0x1, 0, "255.255.255.0") +
		routeLine("wlan0", "0.0.0.0", "192.168.1.1", 0x3, 600, "0.0.0.0") +
		routeLine("eth0", "0.0.0.0", "10.0.0.1", 0x3, 100, "0.0.0.0") +
		routeLine("eth1", "0.0.0.0", "10.9.0.1", 0x1, 0, "0.0.0.0") // no gateway flag
	gw, err := parseRouteTable(strings.NewReader(table))
	if err != nil || gw != netip.MustParseAddr("10.0.0.1") {
		t.Fatalf("gateway = %v, %v; want 10.0.0.1", gw, err)
	}
}

func TestARouteTableWithoutADefaultRouteIsErrNoGateway(t *testing.T) {
	for name, table := range map[string]string{
		"empty":       "",
		"header only": routeHeader,
		"no default":  routeHeader + routeLine("eth0", "10.0.0.0", "0.0.0.0", 0x1, 0, "255.255.255.0"),
		"route down":  routeHeader + routeLine("eth0", "0.0.0.0", "10.0.0.1", 0x2, 0, "0.0.0.0"),
		"not a /0":    routeHeader + routeLine("eth0", "0.0.0.0", "10.0.0.1", 0x3, 0, "255.0.0.0"),
		"gateway 0":   routeHeader + routeLine("eth0", "0.0.0.0", "0.0.0.0", 0x3, 0, "0.0.0.0"),
		"garbage":     routeHeader + "eth0 zz yy xx\n\x00\xff\n" + strings.Repeat("x", 70000) + "\n",
		"short line":  routeHeader + "eth0\t00000000\t0100000A\t0003\n",
		"bad hex":     routeHeader + "eth0\t00000000\t0100000G\t0003\t0\t0\t0\t00000000\n",
		"long hex":    routeHeader + "eth0\t00000000\t0100000A0\t0003\t0\t0\t0\t00000000\n",
		"bad flags":   routeHeader + "eth0\t00000000\t0100000A\tzz\t0\t0\t0\t00000000\n",
		"bad metric":  routeHeader + "eth0\t00000000\t0100000A\t0003\t0\t0\t-1\t00000000\n",
	} {
		t.Run(name, func(t *testing.T) {
			if gw, err := parseRouteTable(strings.NewReader(table)); !errors.Is(err, ErrNoGateway) {
				t.Fatalf("gateway = %v, %v; want ErrNoGateway", gw, err)
			}
		})
	}
}

func TestAMissingRouteTableIsErrNoGateway(t *testing.T) {
	withRouteTable(t, filepath.Join(t.TempDir(), "missing"))
	if gw, err := defaultGateway(); !errors.Is(err, ErrNoGateway) {
		t.Fatalf("gateway = %v, %v; want ErrNoGateway", gw, err)
	}
}

func TestDefaultGatewayReadsTheRouteFile(t *testing.T) {
	writeRouteTable(t, "10.1.2.3")
	if gw, err := defaultGateway(); err != nil || gw != netip.MustParseAddr("10.1.2.3") {
		t.Fatalf("gateway = %v, %v; want 10.1.2.3", gw, err)
	}
}

// withRouteTable makes defaultGateway read path for one test.
func withRouteTable(t *testing.T, path string) {
	old := procNetRoute
	procNetRoute = path
	t.Cleanup(func() { procNetRoute = old })
}

// writeRouteTable makes defaultGateway find gw for one test.
func writeRouteTable(t *testing.T, gw string) {
	path := filepath.Join(t.TempDir(), "route")
	table := routeHeader + routeLine("eth0", "0.0.0.0", gw, 0x3, 0, "0.0.0.0")
	if err := os.WriteFile(path, []byte(table), 0o600); err != nil {
		t.Fatal(err)
	}
	withRouteTable(t, path)
}
