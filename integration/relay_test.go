package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// The relay tests put two Switchyard nodes behind two NATs that map no
// ports (no UPnP, no NAT-PMP: nftables masquerade in two gateway
// namespaces, see natlab_test.go) and a relay on the public segment
// between them. Each node reserves a slot on the relay; one connects to
// the other's relayed address, and they become Switchyard peers over that
// limited connection and exchange channel messages. DCUtR then tries to
// punch a hole for a direct connection:
//
//   - through NATs that keep a flow's public port (Linux's masquerade as
//     home routers use it: endpoint-independent mapping, with filtering
//     that admits only flows that went out), the hole punch succeeds, the
//     test checks that the peers end up on a connection that is not
//     relayed, that every channel stream moved to it, and that messages
//     flow there;
//   - through symmetric NATs (masquerade fully-random: a new public port
//     per flow), no direct connection comes, as none can (the test watches
//     for one for symmetricWindow and reports whether DCUtR even started:
//     go-libp2p starts it only once the host knows a public address, which
//     the ever-changing observed ports do not give it), and the peers stay
//     on the relay, where their messages keep flowing.

const (
	relayHost  = 55
	relayNATs  = 44 // the gateways' public addresses: natPublicNet + 44 and + 45
	relayLimit = 60 * time.Second
)

func TestHolePunchThroughEndpointIndependentNATsMovesRelayedPeersToADirectConnection(t *testing.T) {
	a, b := startRelayedPair(t, natPortPreserving)
	deadline := time.Now().Add(relayLimit)
	for name, n := range map[string]*testChild{"a": a, "b": b} {
		direct := n.await(t, "DIRECT ", deadline)
		if strings.Contains(direct, "p2p-circuit") || !strings.Contains(direct, natPublicNet) {
			t.Fatalf("%s's direct connection is to %s", name, direct)
		}
		t.Logf("%s: a direct connection to %s after the hole punch; every channel moved to it, and messages flow on it", name, direct)
	}
}

func TestRelayBetweenSymmetricNATsCarriesTheChannelsWithoutADirectConnection(t *testing.T) {
	a, b := startRelayedPair(t, natSymmetric)
	deadline := time.Now().Add(relayLimit)
	for name, n := range map[string]*testChild{"a": a, "b": b} {
		got := n.await(t, "NO-DIRECT ", deadline)
		t.Logf("%s: no direct connection (%s); %d more messages each way over the relay", name, got, relayMsgs)
	}
}

// startRelayedPair builds the lab with gateways of kind, starts the relay
// and the two nodes, and returns the nodes once they are peers over the
// relay and have exchanged messages there.
func startRelayedPair(t *testing.T, kind natKind) (a, b *testChild) {
	lab := newNATLab(t, false)
	relayNS := lab.public("relay", relayHost)
	gwA := lab.gateway("gwa", relayNATs, 1, kind)
	gwB := lab.gateway("gwb", relayNATs+1, 2, kind)
	ctx, deadline := natContext(t, relayLimit)
	t.Logf("NATs: %s", kind)

	relay := startChild(t, lab.lab, ctx, relayNS, "the relay", natRoleEnv+"=relay",
		natListenEnv+"="+fmt.Sprintf("/ip4/%s%d/tcp/%d", natPublicNet, relayHost, natHostPort))
	relayAddr := relay.await(t, "RELAY ", deadline)

	start := time.Now()
	env := []string{natRoleEnv + "=relayed", natExtEnv + "=" + relayAddr}
	if kind == natSymmetric {
		env = append(env, natSymmetricEnv+"=1")
	}
	a = startChild(t, lab.lab, ctx, gwA.inside, "node a", env...)
	relayedA := a.await(t, "RELAYED ", deadline)
	if !strings.Contains(relayedA, "/p2p-circuit/") {
		t.Fatalf("a's relayed address %s", relayedA)
	}
	b = startChild(t, lab.lab, ctx, gwB.inside, "node b", append(env, natPeerEnv+"="+relayedA)...)
	for name, n := range map[string]*testChild{"a": a, "b": b} {
		if got := n.await(t, "PEER ", deadline); got != "limited=true" {
			t.Fatalf("%s admitted the other with %s, want only a relayed (limited) connection", name, got)
		}
	}
	for _, n := range []*testChild{a, b} {
		n.await(t, "RELAY-MSGS", deadline)
	}
	t.Logf("a at %s; after %s the nodes were peers over the relay and had exchanged %d messages each way", relayedA, time.Since(start).Round(time.Millisecond), relayMsgs)
	return a, b
}
