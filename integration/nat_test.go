package integration

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// The NAT test puts a host in a namespace whose default gateway is a UPnP
// Internet Gateway Device in another namespace (a child process of this
// test binary, see upnp_gateway_test.go), and checks that go-libp2p's port
// mapping, as the transport package turns it on, finds the gateway, maps
// the host's TCP port and reports the mapped address through
// transport.ExternalAddrs, and that transport.MapPort and p2p.NewListener
// map their ports the same way.
//
// NAT-PMP is not tested: go-libp2p v0.51 looks for the NAT-PMP gateway by
// asking go-netroute (v0.4.0) for the route to 0.0.0.0, which it refuses
// ("destination IP must be specified"), so on Linux only UPnP finds a
// gateway.
//
// The gateway namespace routes nowhere: the host's discovery traffic (SSDP
// multicast) ends there. natExternalIP is only the address the gateway
// reports; nothing is ever sent to it.

const (
	natRoleEnv      = "SWITCHYARD_NAT_ROLE"
	natGatewayIP    = "10.78.0.1"
	natHostIP       = "10.78.0.2"
	natExternalIP   = "11.22.33.44" // public to multiaddr's rules, unlike the documentation ranges
	natHostPort     = 26656
	natRawPort      = 26657
	natListenerPort = 26658
	natTimeout      = 60 * time.Second
)

func TestHostBehindAUPnPGatewayMapsItsPortAndReportsTheExternalAddress(t *testing.T) {
	lab := newNetnsLab(t)
	gw, lan := lab.add("gw"), lab.add("lan")
	lab.must("-n", gw, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", lan)
	lab.must("-n", gw, "addr", "add", natGatewayIP+"/24", "dev", "eth0")
	lab.must("-n", gw, "link", "set", "eth0", "up")
	lab.must("-n", lan, "addr", "add", natHostIP+"/24", "dev", "eth0")
	lab.must("-n", lan, "link", "set", "eth0", "up")
	lab.must("-n", lan, "route", "add", "default", "via", natGatewayIP)

	ctx, cancel := context.WithTimeout(context.Background(), natTimeout+30*time.Second)
	t.Cleanup(cancel) // after the children's cleanup: kills only a child that hangs
	deadline := time.Now().Add(natTimeout)
	gateway := startChild(t, lab, ctx, gw, "the gateway", natRoleEnv+"=gateway")
	gateway.await(t, "READY", deadline)
	start := time.Now()
	host := startChild(t, lab, ctx, lan, "the host", natRoleEnv+"=host")

	// The gateway is asked for both mappings, and grants them.
	granted := map[string]string{} // "tcp 26656" -> external port
	for len(granted) < 3 {
		var proto string
		var internal, external, lifetime int
		line := gateway.await(t, "MAP ", deadline)
		if _, err := fmt.Sscan(line, &proto, &internal, &external, &lifetime); err != nil {
			t.Fatalf("gateway line %q: %s", line, err)
		}
		if lifetime <= 0 {
			t.Errorf("mapping %s asked for lifetime %d", line, lifetime)
		}
		granted[fmt.Sprintf("%s %d", proto, internal)] = fmt.Sprint(external)
	}
	tcpPort, ok := granted[fmt.Sprintf("tcp %d", natHostPort)]
	if !ok {
		t.Fatalf("the host's TCP port %d was not mapped; mappings: %v", natHostPort, granted)
	}
	udpPort, ok := granted[fmt.Sprintf("udp %d", natRawPort)]
	if !ok {
		t.Fatalf("MapPort's UDP port %d was not mapped; mappings: %v", natRawPort, granted)
	}
	listenerPort, ok := granted[fmt.Sprintf("tcp %d", natListenerPort)]
	if !ok {
		t.Fatalf("the listener's TCP port %d was not mapped; mappings: %v", natListenerPort, granted)
	}

	// Both report the gateway's external address with the granted port.
	want := fmt.Sprintf("/ip4/%s/tcp/%s", natExternalIP, tcpPort)
	if got := host.await(t, "HOST ", deadline); got != want {
		t.Fatalf("ExternalAddrs reported %q, want %q", got, want)
	}
	if got, want := host.await(t, "MAPPORT ", deadline), natExternalIP+":"+udpPort; got != want {
		t.Fatalf("MapPort's mapping is %q, want %q", got, want)
	}
	if got, want := host.await(t, "LISTENER ", deadline), natExternalIP+":"+listenerPort; got != want {
		t.Fatalf("the listener's external address is %q, want %q", got, want)
	}
	// Closing MapPort's mapping, then stopping the listener, removes theirs
	// from the gateway.
	for _, want := range []string{"udp " + udpPort, "tcp " + listenerPort} {
		if got := gateway.await(t, "UNMAP ", deadline); got != want {
			t.Fatalf("the gateway was asked to remove %q, want %q", got, want)
		}
	}
	t.Logf("the host (%s), MapPort and the listener had their mappings after %s", want, time.Since(start).Round(time.Millisecond))
}
