package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
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
	ipCmd, err := exec.LookPath("ip")
	if err != nil {
		t.Skip("network namespaces: no ip command (install iproute2)")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sum := sha256.Sum256([]byte(dir))
	prefix := "sy" + hex.EncodeToString(sum[:4]) // unique to this run
	ip := func(args ...string) error {
		out, err := exec.Command(ipCmd, args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
		}
		return nil
	}
	mustIP := func(args ...string) {
		t.Helper()
		if err := ip(args...); err != nil {
			t.Fatal(err)
		}
	}
	hub := prefix + "-hub"
	if err := ip("netns", "add", hub); err != nil {
		t.Skipf("network namespaces: cannot create one (needs root with CAP_NET_ADMIN and CAP_SYS_ADMIN): %s", err)
	}
	t.Cleanup(func() {
		if err := ip("netns", "del", hub); err != nil {
			t.Errorf("cleanup: %s", err)
		}
	})
	mustIP("-n", hub, "link", "add", "br0", "type", "bridge")
	mustIP("-n", hub, "link", "set", "br0", "up")

	all := make([]string, netnsNodes)
	for i := range all {
		ns := fmt.Sprintf("%s-%d", prefix, i)
		mustIP("netns", "add", ns)
		t.Cleanup(func() {
			if err := ip("netns", "del", ns); err != nil { // takes its veth pair along
				t.Errorf("cleanup: %s", err)
			}
		})
		veth := fmt.Sprintf("v%d", i)
		mustIP("-n", hub, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
		mustIP("-n", hub, "link", "set", veth, "master", "br0", "up")
		mustIP("-n", ns, "addr", "add", netnsAddr(i)+"/24", "dev", "eth0")
		mustIP("-n", ns, "link", "set", "eth0", "up")
		mustIP("-n", ns, "link", "set", "lo", "up")

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

	// One node per namespace; each reports on stdout and stops when its
	// stdin closes.
	type child struct {
		cmd    *exec.Cmd
		stdin  io.WriteCloser
		stderr bytes.Buffer
		result chan string // the RESULT line, or "" if the child ended without one
		// listening is closed when the child listens (or ends); the seed
		// must, before the others dial it, or libp2p's dial backoff holds
		// them back for 5 s.
		listening chan struct{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), netnsTimeout+30*time.Second)
	t.Cleanup(cancel) // after the children's cleanup below: kills only a child that hangs
	children := make([]*child, netnsNodes)
	var wg sync.WaitGroup
	for i := range children {
		c := &child{result: make(chan string, 1), listening: make(chan struct{})}
		c.cmd = exec.CommandContext(ctx, ipCmd, "netns", "exec", fmt.Sprintf("%s-%d", prefix, i), exe)
		c.cmd.Env = append(os.Environ(),
			fmt.Sprintf("%s=%d", netnsChildEnv, i),
			netnsKeyEnv+"="+filepath.Join(dir, fmt.Sprintf("node%d.key", i)),
			netnsAllEnv+"="+strings.Join(all, ","),
		)
		c.cmd.Stderr = &c.stderr
		stdout, err := c.cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if c.stdin, err = c.cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
		if err := c.cmd.Start(); err != nil {
			t.Fatalf("start node %d: %s", i, err)
		}
		children[i] = c
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := bufio.NewScanner(stdout)
			found := false
			defer func() {
				if !found {
					c.result <- ""
				}
			}()
			var once sync.Once
			defer once.Do(func() { close(c.listening) })
			for sc.Scan() {
				line := sc.Text()
				if line == "LISTENING" {
					once.Do(func() { close(c.listening) })
				}
				if strings.HasPrefix(line, "RESULT ") && !found {
					found = true
					c.result <- line
				}
			}
		}()
		if i == 0 {
			select {
			case <-c.listening:
			case <-time.After(netnsTimeout):
				t.Fatal("the seed does not listen")
			}
		}
	}
	// However the test ends, the children end and their output is read.
	t.Cleanup(func() {
		for _, c := range children {
			c.stdin.Close()
		}
		for i, c := range children {
			if err := c.cmd.Wait(); err != nil {
				t.Errorf("node %d exited: %s; its stderr:\n%s", i, err, tail(c.stderr.String(), 3000))
			}
		}
		wg.Wait()
	})
	start := time.Now()
	for i, c := range children {
		select {
		case r := <-c.result:
			if !strings.HasPrefix(r, "RESULT ok ") {
				t.Errorf("node %d (%s): %q", i, all[i], r)
				for _, c := range children { // the others stop waiting for it
					c.stdin.Close()
				}
			} else {
				t.Logf("node %d at %s: %s", i, netnsAddr(i), strings.TrimPrefix(r, "RESULT ok "))
			}
		case <-time.After(netnsTimeout + 10*time.Second - time.Since(start)):
			t.Errorf("node %d gave no result", i)
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
