package integration

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/switchyard-p2p/switchyard/transport"
)

// The network-namespace test runs one node per namespace. Go cannot move
// one goroutine's sockets into another namespace reliably (libp2p dials
// from goroutines on any thread), so each node is a child process — this
// test binary again, started with "ip netns exec" — and TestMain runs
// netnsChildMain instead of the tests when netnsChildEnv is set.
//
// The namespaces are wired to a bridge that lives in a namespace of its
// own, so nothing is added to the host's namespace and its firewall does
// not see the traffic: the test's network has no way out.

const (
	netnsChildEnv = "SWITCHYARD_NETNS_NODE" // the child's index
	netnsKeyEnv   = "SWITCHYARD_NETNS_KEY"
	netnsAllEnv   = "SWITCHYARD_NETNS_ALL" // every node, "peerID@ip:port" separated by commas; the first is the seed

	netnsNodes   = 5
	netnsSubnet  = "10.77.0."
	netnsPort    = 26656
	netnsTimeout = 60 * time.Second
)

// netnsAddr is node i's address.
func netnsAddr(i int) string { return fmt.Sprintf("%s%d", netnsSubnet, i+1) }

func TestNodesInNetworkNamespacesDiscoverEachOtherAndExchangeMessages(t *testing.T) {
	lab := newNetnsLab(t)
	dir := t.TempDir()
	hub := lab.add("hub")
	lab.must("-n", hub, "link", "add", "br0", "type", "bridge")
	lab.must("-n", hub, "link", "set", "br0", "up")

	all := make([]string, netnsNodes)
	for i := range all {
		ns := lab.add(fmt.Sprint(i))
		veth := fmt.Sprintf("v%d", i)
		lab.must("-n", hub, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
		lab.must("-n", hub, "link", "set", veth, "master", "br0", "up")
		lab.must("-n", ns, "addr", "add", netnsAddr(i)+"/24", "dev", "eth0")
		lab.must("-n", ns, "link", "set", "eth0", "up")

		keyFile := filepath.Join(dir, fmt.Sprintf("node%d.key", i))
		key, err := transport.LoadOrCreateKey(keyFile)
		if err != nil {
			t.Fatal(err)
		}
		id, err := peer.IDFromPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		all[i] = fmt.Sprintf("%s@%s:%d", id, netnsAddr(i), netnsPort)
	}

	// One node per namespace; each reports on stdout and runs until its
	// stdin closes. The seed listens before the others start: libp2p's
	// dial backoff would hold back one that dialed it too early for 5 s.
	ctx, cancel := context.WithTimeout(context.Background(), netnsTimeout+30*time.Second)
	t.Cleanup(cancel) // after the children's cleanup: kills only a child that hangs
	deadline := time.Now().Add(netnsTimeout)
	children := make([]*testChild, netnsNodes)
	for i := range children {
		children[i] = startChild(t, lab, ctx, fmt.Sprintf("%s-%d", lab.prefix, i), fmt.Sprintf("node %d", i),
			fmt.Sprintf("%s=%d", netnsChildEnv, i),
			netnsKeyEnv+"="+filepath.Join(dir, fmt.Sprintf("node%d.key", i)),
			netnsAllEnv+"="+strings.Join(all, ","),
		)
		if i == 0 {
			children[0].await(t, "LISTENING", deadline)
		}
	}
	for i, c := range children {
		r := c.await(t, "RESULT ", deadline)
		if !strings.HasPrefix(r, "ok ") {
			t.Fatalf("node %d (%s): %s", i, all[i], r)
		}
		t.Logf("node %d at %s: %s", i, netnsAddr(i), strings.TrimPrefix(r, "ok "))
	}
}
