package integration

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"
)

// The port-mapping tests put a Switchyard node behind a real gateway:
// miniupnpd (the UPnP IGD and NAT-PMP daemon home routers run) in a
// gateway namespace that translates addresses with nftables (masquerade)
// between a private network and a public segment (see natlab_test.go). The
// node maps its port over UPnP in one test and NAT-PMP in the other (the
// daemon serves only the protocol under test). A node on the public
// segment then dials the mapped address and they exchange channel
// messages; stopping the inside node removes its mapping, as the daemon's
// own list (its lease file and the firewall rules it made) shows. In the
// same process as the node, transport.MapPort maps a UDP port at the same
// moment (under -race, this checks that the two mappers do not race), and
// its Close removes that mapping.
//
// Every packet stays in the lab's namespaces: the public segment is a
// bridge in a namespace of its own, with no route out.

const (
	natRoleEnv  = "SWITCHYARD_NAT_ROLE"
	natHostPort = 26656
	natRawPort  = 26657
	natTimeout  = 60 * time.Second

	natGatewayHost = 44 // the gateway's public address: natPublicNet + 44
	natOutsideHost = 55
)

func TestUPnPNodeBehindMiniupnpdIsReachedFromOutside(t *testing.T) {
	testPortMapped(t, true)
}

func TestNATPMPNodeBehindMiniupnpdIsReachedFromOutside(t *testing.T) {
	testPortMapped(t, false)
}

func testPortMapped(t *testing.T, upnp bool) {
	lab := newNATLab(t, true)
	gw := lab.gateway("gw", natGatewayHost, 1, natPortPreserving)
	out := lab.public("out", natOutsideHost)
	daemon := gw.miniupnpd(upnp, !upnp)
	ctx, deadline := natContext(t, natTimeout)

	start := time.Now()
	inside := startChild(t, lab.lab, ctx, gw.inside, "the inside node", natRoleEnv+"=mapped", natExtEnv+"="+gw.publicIP)
	mappedAddr := inside.await(t, "MAPPED ", deadline)
	mapped, err := ma.NewMultiaddr(mappedAddr)
	if err != nil {
		t.Fatalf("MAPPED %q: %s", mappedAddr, err)
	}
	extPort, err := mapped.ValueForProtocol(ma.P_TCP)
	if err != nil {
		t.Fatalf("MAPPED %s: %s", mapped, err)
	}
	daemon.awaitMapping("TCP", extPort, gw.insideIP, natHostPort, deadline)
	mapPort, err := netip.ParseAddrPort(inside.await(t, "MAPPORT ", deadline))
	if err != nil {
		t.Fatal(err)
	}
	if mapPort.Addr().String() != gw.publicIP {
		t.Fatalf("MapPort's mapping is at %s, want the gateway's %s", mapPort, gw.publicIP)
	}
	daemon.awaitMapping("UDP", fmt.Sprint(mapPort.Port()), gw.insideIP, natRawPort, deadline)
	t.Logf("mapped over %s after %s: the node at %s, MapPort at %s", map[bool]string{true: "UPnP", false: "NAT-PMP"}[upnp],
		time.Since(start).Round(time.Millisecond), mapped, mapPort)

	inside.sendLine(t, "unmap")
	inside.await(t, "UNMAPPED", deadline)
	daemon.awaitNoMapping(gw.insideIP, natRawPort, deadline)

	outside := startChild(t, lab.lab, ctx, out, "the outside node", natRoleEnv+"=dialer",
		natPeerEnv+"="+mapped.String(),
		natListenEnv+"="+fmt.Sprintf("/ip4/%s%d/tcp/%d", natPublicNet, natOutsideHost, natHostPort))
	seenFromOutside := outside.await(t, "RESULT ok ", deadline)
	seenFromInside := inside.await(t, "RESULT ok ", deadline)
	// Each sees the other at its public address: the outside node dialed
	// the gateway, which forwarded to the inside node.
	if !strings.Contains(seenFromOutside, gw.publicIP) {
		t.Errorf("the outside node reached the inside one at %s, want the gateway's %s", seenFromOutside, gw.publicIP)
	}
	if !strings.Contains(seenFromInside, fmt.Sprintf("%s%d", natPublicNet, natOutsideHost)) {
		t.Errorf("the inside node sees the outside one at %s", seenFromInside)
	}

	inside.stdin.Close()
	inside.await(t, "STOPPED", deadline)
	daemon.awaitNoMapping(gw.insideIP, natHostPort, deadline)
	t.Logf("the outside node reached the inside one at %s and they exchanged messages; Stop removed the mapping", seenFromOutside)
}
