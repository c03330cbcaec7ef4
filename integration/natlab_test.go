package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// natLab is a small internet in network namespaces: a public segment (a
// bridge in a hub namespace, 11.22.33.0/24: public to multiaddr's rules,
// unlike the documentation ranges, and reachable from nowhere but the lab),
// hosts on it, and private networks behind gateways that translate
// addresses with nftables, as home routers do. Each gateway can run
// miniupnpd, the daemon real routers run, for UPnP IGD and NAT-PMP.
type natLab struct {
	t   *testing.T
	lab *netnsLab
	dir string
	hub string
}

const (
	natPublicNet = "11.22.33."
	natDaemonEnv = "miniupnpd-nftables and nftables (.ci/run installs them)"
)

// newNATLab makes the hub; the test is skipped where namespaces cannot be
// made, or where nft or miniupnpd is missing and needDaemon is set.
func newNATLab(t *testing.T, needDaemon bool) *natLab {
	t.Helper()
	tools := []string{"nft"}
	if needDaemon {
		tools = append(tools, "miniupnpd")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("NAT lab: no %s (install %s)", tool, natDaemonEnv)
		}
	}
	lab := newNetnsLab(t)
	n := &natLab{t: t, lab: lab, dir: t.TempDir()}
	n.hub = lab.add("hub")
	lab.must("-n", n.hub, "link", "add", "br0", "type", "bridge")
	lab.must("-n", n.hub, "link", "set", "br0", "up")
	return n
}

// plug makes namespace name with its interface dev on the public bridge at
// natPublicNet+host, and returns the namespace's full name.
func (n *natLab) plug(name, dev string, host int) string {
	n.t.Helper()
	ns := n.lab.add(name)
	hubEnd := fmt.Sprintf("p-%s", name)
	n.lab.must("-n", n.hub, "link", "add", hubEnd, "type", "veth", "peer", "name", dev, "netns", ns)
	n.lab.must("-n", n.hub, "link", "set", hubEnd, "master", "br0", "up")
	n.lab.must("-n", ns, "addr", "add", fmt.Sprintf("%s%d/24", natPublicNet, host), "dev", dev)
	n.lab.must("-n", ns, "link", "set", dev, "up")
	return ns
}

// public adds a host on the public segment at natPublicNet+host.
func (n *natLab) public(name string, host int) string {
	n.t.Helper()
	return n.plug(name, "eth0", host)
}

// natKind is how a gateway picks the public port of an outbound flow.
type natKind int

const (
	// natPortPreserving is Linux's masquerade as home routers use it: the
	// flow keeps its source port when it is free, and every flow from one
	// socket gets the same public port (endpoint-independent mapping);
	// inbound packets pass only for flows that went out (address- and
	// port-dependent filtering).
	natPortPreserving natKind = iota
	// natSymmetric gives each flow a random public port (masquerade
	// random-fully): the port a peer sees is not the one another peer
	// would see (address- and port-dependent mapping).
	natSymmetric
)

func (k natKind) String() string {
	if k == natSymmetric {
		return "symmetric (random port per flow)"
	}
	return "endpoint-independent (port-preserving)"
}

// natGateway is a gateway of the lab: a namespace with wan0 on the public
// segment and eth0 on its private network, 10.78.<net>.0/24, whose one
// host it returns too.
type natGateway struct {
	ns, inside         string
	publicIP, insideIP string
	host               int
	lab                *natLab
}

// gateway makes a gateway at natPublicNet+host translating for private
// network 10.78.<net>.0/24 and its one host (at .2, routed through the
// gateway at .1). Its firewall forwards what the inside sends out and the
// answers, and what miniupnpd maps, nothing else.
func (n *natLab) gateway(name string, host, net int, kind natKind) *natGateway {
	n.t.Helper()
	g := &natGateway{lab: n, host: host, publicIP: fmt.Sprintf("%s%d", natPublicNet, host)}
	g.ns = n.plug(name, "wan0", host)
	g.inside = n.lab.add(name + "-in")
	gwIP := fmt.Sprintf("10.78.%d.1", net)
	g.insideIP = fmt.Sprintf("10.78.%d.2", net)
	n.lab.must("-n", g.ns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", g.inside)
	n.lab.must("-n", g.ns, "addr", "add", gwIP+"/24", "dev", "eth0")
	n.lab.must("-n", g.ns, "link", "set", "eth0", "up")
	n.lab.must("-n", g.inside, "addr", "add", g.insideIP+"/24", "dev", "eth0")
	n.lab.must("-n", g.inside, "link", "set", "eth0", "up")
	n.lab.must("-n", g.inside, "route", "add", "default", "via", gwIP)
	n.exec(g.ns, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward")

	masq := "masquerade"
	if kind == natSymmetric {
		masq = "masquerade fully-random"
	}
	// The chains miniupnpd fills (its defaults for the nftables backend:
	// table inet filter; chains miniupnpd, prerouting_miniupnpd and
	// postrouting_miniupnpd) are there whether it runs or not.
	// Like a home router, the gateway drops what comes from outside to
	// itself unasked (a kernel answering a stray SYN with a reset would
	// also claim the port for that flow, and so break the next mapping).
	ruleset := fmt.Sprintf(`table inet filter {
	chain input {
		type filter hook input priority 0; policy accept;
		iifname "wan0" ct state established,related accept
		iifname "wan0" drop
	}
	chain forward {
		type filter hook forward priority 0; policy drop;
		ct state established,related accept
		iifname "eth0" oifname "wan0" accept
		jump miniupnpd
	}
	chain miniupnpd {
	}
	chain prerouting {
		type nat hook prerouting priority -100; policy accept;
		jump prerouting_miniupnpd
	}
	chain postrouting {
		type nat hook postrouting priority 100; policy accept;
		jump postrouting_miniupnpd
		oifname "wan0" %s
	}
	chain prerouting_miniupnpd {
	}
	chain postrouting_miniupnpd {
	}
}
`, masq)
	file := filepath.Join(n.dir, name+".nft")
	if err := os.WriteFile(file, []byte(ruleset), 0o600); err != nil {
		n.t.Fatal(err)
	}
	n.exec(g.ns, "nft", "-f", file)
	return g
}

// exec runs a command in namespace ns and returns its output, failing the
// test if it fails.
func (n *natLab) exec(ns string, args ...string) string {
	n.t.Helper()
	out, err := exec.Command(n.lab.ipCmd, append([]string{"netns", "exec", ns}, args...)...).CombinedOutput()
	if err != nil {
		n.t.Fatalf("in %s: %s: %s: %s", ns, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out)
}

// miniupnpd is the daemon running on a gateway.
type miniupnpd struct {
	g      *natGateway
	leases string // its lease file: one line per mapping
	cmd    *exec.Cmd

	mu  sync.Mutex
	log bytes.Buffer
}

func (d *miniupnpd) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log.Write(p)
}

func (d *miniupnpd) output() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log.String()
}

// miniupnpd starts miniupnpd in the foreground on g, serving UPnP IGD, or
// NAT-PMP (and PCP), or both, to the private network, in secure mode (a
// host maps ports to itself only), and stops it when the test ends. It
// returns once the daemon listens.
func (g *natGateway) miniupnpd(upnp, pmp bool) *miniupnpd {
	t := g.lab.t
	t.Helper()
	yesNo := map[bool]string{true: "yes", false: "no"}
	base := filepath.Join(g.lab.dir, filepath.Base(g.ns))
	d := &miniupnpd{g: g, leases: base + ".leases"}
	conf := fmt.Sprintf(`ext_ifname=wan0
listening_ip=eth0
port=0
enable_upnp=%s
enable_natpmp=%s
secure_mode=yes
lease_file=%s
uuid=3b9b3b2e-0000-4000-8000-0000000000%02d
allow 1024-65535 10.78.0.0/16 1024-65535
deny 0-65535 0.0.0.0/0 0-65535
`, yesNo[upnp], yesNo[pmp], d.leases, g.host%100)
	if err := os.WriteFile(base+".conf", []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	d.cmd = exec.Command(g.lab.lab.ipCmd, "netns", "exec", g.ns, "miniupnpd", "-d", "-f", base+".conf", "-P", base+".pid")
	d.cmd.Stdout, d.cmd.Stderr = d, d
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start miniupnpd: %s", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- d.cmd.Wait() }()
	t.Cleanup(func() {
		d.cmd.Process.Signal(syscall.SIGTERM) // ip netns exec execs it: the signal reaches miniupnpd
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			d.cmd.Process.Kill()
			<-exited
			t.Errorf("miniupnpd did not stop on SIGTERM; its log:\n%s", tail(d.output(), 4000))
		}
		if t.Failed() {
			t.Logf("miniupnpd on %s:\n%s", g.ns, tail(d.output(), 8000))
		}
	})
	ready := "HTTP listening on port"
	if !upnp {
		ready = "Listening for NAT-PMP/PCP traffic"
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(d.output(), ready) {
		select {
		case err := <-exited:
			t.Fatalf("miniupnpd exited: %v; its log:\n%s", err, d.output())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("miniupnpd did not start in 10 s; its log:\n%s", d.output())
		}
	}
	return d
}

// mappings returns the daemon's own list of its port mappings to
// internalIP: its lease file's lines for them ("TCP:<ext port>:<ip>:<port>:
// <expiry>:<description>"), and the rules it put in the gateway's
// firewall that forward to it.
func (d *miniupnpd) mappings(internalIP string) (leases, rules []string) {
	d.g.lab.t.Helper()
	data, err := os.ReadFile(d.leases)
	if err != nil && !os.IsNotExist(err) {
		d.g.lab.t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if strings.Contains(l, ":"+internalIP+":") {
			leases = append(leases, l)
		}
	}
	for _, l := range strings.Split(d.g.lab.exec(d.g.ns, "nft", "list", "chain", "inet", "filter", "prerouting_miniupnpd"), "\n") {
		if strings.Contains(l, "dnat") && strings.Contains(l, internalIP) {
			rules = append(rules, strings.TrimSpace(l))
		}
	}
	return leases, rules
}

// awaitMapping waits until the daemon lists a mapping of proto ("TCP" or
// "UDP") external port ext to internalIP:port, in its lease file and its
// firewall.
func (d *miniupnpd) awaitMapping(proto, ext, internalIP string, port int, deadline time.Time) {
	t := d.g.lab.t
	t.Helper()
	lease := fmt.Sprintf("%s:%s:%s:%d:", proto, ext, internalIP, port)
	rule := fmt.Sprintf("dnat ip to %s:%d", internalIP, port)
	for {
		leases, rules := d.mappings(internalIP)
		if containsPrefix(leases, lease) && containsSubstring(rules, rule) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("miniupnpd does not list %s (leases %q, rules %q)", lease, leases, rules)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// awaitNoMapping waits until the daemon lists no mapping to
// internalIP:port.
func (d *miniupnpd) awaitNoMapping(internalIP string, port int, deadline time.Time) {
	t := d.g.lab.t
	t.Helper()
	for {
		leases, rules := d.mappings(internalIP)
		var left []string
		for _, l := range leases {
			if strings.Contains(l, fmt.Sprintf(":%s:%d:", internalIP, port)) {
				left = append(left, l)
			}
		}
		for _, r := range rules {
			if strings.Contains(r, fmt.Sprintf("%s:%d", internalIP, port)) {
				left = append(left, r)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("miniupnpd still lists a mapping to %s:%d: %q", internalIP, port, left)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func containsPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

func containsSubstring(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// sendLine writes a line to a child's stdin (a command to it).
func (c *testChild) sendLine(t *testing.T, line string) {
	t.Helper()
	if _, err := fmt.Fprintln(c.stdin, line); err != nil {
		t.Fatalf("write to a child: %s", err)
	}
}

// natContext bounds a lab test's children; deadline bounds its waits.
func natContext(t *testing.T, timeout time.Duration) (context.Context, time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout+30*time.Second)
	t.Cleanup(cancel) // after the children's cleanup: kills only a child that hangs
	return ctx, time.Now().Add(timeout)
}
