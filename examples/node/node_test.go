package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/switchyard-p2p/switchyard/p2p"
	"github.com/switchyard-p2p/switchyard/transport"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// output is a stdout that tests can read while run writes it.
type output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// await waits until the output matches re and returns the submatches.
func (o *output) await(t *testing.T, re string) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if m := rx.FindStringSubmatch(o.String()); m != nil {
			return m
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("output never matched %q:\n%s", re, o.String())
	return nil
}

// testNode is one run of the node in a goroutine.
type testNode struct {
	out    *output
	stdin  *io.PipeWriter
	cancel context.CancelFunc
	done   chan error
}

// startNode runs the node with cfg until the test stops it.
func startNode(t *testing.T, cfg *config) *testNode {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r, w := io.Pipe()
	n := &testNode{out: &output{}, stdin: w, cancel: cancel, done: make(chan error, 1)}
	go func() { n.done <- run(ctx, cfg, r, n.out) }()
	t.Cleanup(func() { n.stop(t) })
	return n
}

// stop cancels the node, waits for run to return nil, and ends its stdin.
func (n *testNode) stop(t *testing.T) {
	t.Helper()
	n.cancel()
	n.stdin.Close()
	select {
	case err, ok := <-n.done:
		if ok && err != nil {
			t.Errorf("run: %s", err)
		}
		if ok {
			close(n.done)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not return after cancel")
	}
}

// localConfig is a node on 127.0.0.1 with files in dir and fast PEX.
func localConfig(dir, name string) *config {
	cfg := defaultConfig()
	cfg.ListenAddrs = []string{"127.0.0.1:0"}
	cfg.KeyFile = filepath.Join(dir, name+".key")
	cfg.BookFile = filepath.Join(dir, name+".book.json")
	cfg.NAT = "off"
	cfg.BookStrict = false
	cfg.MinOutbound = 2
	cfg.EnsurePeersPeriod = 200 * time.Millisecond
	cfg.StatusInterval = 100 * time.Millisecond
	return cfg
}

func TestTwoNodesOneSeedingTheOtherGossipATypedTx(t *testing.T) {
	dir := t.TempDir()
	cfgA := localConfig(dir, "a")
	cfgA.MetricsAddr = "127.0.0.1:0"
	a := startNode(t, cfgA)
	m := a.out.await(t, `listening on (/ip4/127\.0\.0\.1/tcp/\d+/p2p/(\S+))`)
	addrA, idA := m[1], m[2]
	metricsURL := a.out.await(t, `metrics on (http://\S+)`)[1]

	cfgB := localConfig(dir, "b")
	seed, err := p2p.ParseNetAddress(addrA)
	if err != nil {
		t.Fatal(err)
	}
	cfgB.Seeds = []*p2p.NetAddress{seed}
	b := startNode(t, cfgB)
	idB := b.out.await(t, `node (\S+) on network "switchyard"`)[1]
	b.out.await(t, `peer \+ .*`+regexp.QuoteMeta(shortID(idA))+`.* out`)
	a.out.await(t, `peer \+ .*`+regexp.QuoteMeta(shortID(idB))+`.* in`)

	if _, err := io.WriteString(a.stdin, "hello from a\n"); err != nil {
		t.Fatal(err)
	}
	b.out.await(t, `tx [0-9a-f]{12} \(12 bytes\): "hello from a"`)
	a.out.await(t, `status: peers \d+ out, 1 in, .* gossiped 1, `)

	resp, err := http.Get(metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"switchyard_p2p_peers", `switchyard_p2p_channel_bytes_total{channel="30",direction="sent"}`, "go_goroutines"} {
		if !strings.Contains(string(body), want) {
			t.Fatalf("metrics lack %s", want)
		}
	}

	b.stop(t)
	a.stop(t)
	b.out.await(t, "address book saved to .*b.book.json")
	book, err := os.ReadFile(cfgB.BookFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(book), idA) {
		t.Fatalf("b's saved book does not hold a (%s):\n%s", idA, book)
	}

	// b restarts from its files: the same identity, and a's address known
	// without any seed.
	cfgB2 := localConfig(dir, "b")
	b2 := startNode(t, cfgB2)
	b2.out.await(t, `node `+idB+` on network`)
	b2.out.await(t, `address book .*b.book.json: [1-9]\d* addresses`)
}

// A relay, a node that reserves a slot on it (-relays), and a node that
// connects to the first through it (-connect with the relayed address):
// the two become peers over the relay and gossip a transaction.
func TestTwoNodesBecomePeersThroughARelayNode(t *testing.T) {
	dir := t.TempDir()
	cfgR := localConfig(dir, "relay")
	cfgR.RelayService, cfgR.RelayUnlimited, cfgR.Reachability = true, true, "public"
	r := startNode(t, cfgR)
	relayAddr := r.out.await(t, `listening on (/ip4/127\.0\.0\.1/tcp/\d+/p2p/\S+)`)[1]

	cfgA := localConfig(dir, "a")
	cfgA.Relays, cfgA.Reachability = []string{relayAddr}, "private"
	a := startNode(t, cfgA)
	idA := a.out.await(t, `node (\S+) on network`)[1]

	// b retries until a holds its reservation (the relay connects only
	// peers that hold one).
	ai, err := peer.AddrInfoFromString(relayAddr + "/p2p-circuit/p2p/" + idA)
	if err != nil {
		t.Fatal(err)
	}
	var b *testNode
	for attempt := 0; ; attempt++ {
		cfgB := localConfig(dir, "b")
		cfgB.Connect, cfgB.HolePunch = []peer.AddrInfo{*ai}, true // the relay transport, to dial the relayed address
		b = startNode(t, cfgB)
		m := b.out.await(t, `(connected to|not reached:) .*`+regexp.QuoteMeta(idA))
		if m[1] == "connected to" {
			break
		}
		if attempt == 20 {
			t.Fatalf("b never reached a through the relay:\n%s", b.out.String())
		}
		b.stop(t)
		time.Sleep(100 * time.Millisecond)
	}
	b.out.await(t, `peer \+ .*`+regexp.QuoteMeta(shortID(idA)))
	if _, err := io.WriteString(a.stdin, "hello over the relay\n"); err != nil {
		t.Fatal(err)
	}
	b.out.await(t, `tx [0-9a-f]{12} \(20 bytes\): "hello over the relay"`)
}

// shortID is how a Peer prints its ID (the last six characters).
func shortID(id string) string { return id[len(id)-6:] }

func TestNodesOfDifferentNetworksDoNotConnect(t *testing.T) {
	dir := t.TempDir()
	cfgA := localConfig(dir, "a")
	cfgA.Network = "net-a"
	a := startNode(t, cfgA)
	addrA := a.out.await(t, `listening on (/ip4/127\.0\.0\.1/tcp/\d+/p2p/\S+)`)[1]
	cfgB := localConfig(dir, "b")
	cfgB.Network = "net-b"
	seed, err := p2p.ParseNetAddress(addrA)
	if err != nil {
		t.Fatal(err)
	}
	cfgB.Seeds = []*p2p.NetAddress{seed}
	b := startNode(t, cfgB)
	b.out.await(t, `status: peers 0 out, 0 in`)
	time.Sleep(500 * time.Millisecond) // several PEX rounds
	if strings.Contains(b.out.String(), "peer +") || strings.Contains(a.out.String(), "peer +") {
		t.Fatalf("nodes of different networks connected:\n%s\n%s", a.out, b.out)
	}
}

func TestNodeWithABadKeyFileDoesNotStart(t *testing.T) {
	dir := t.TempDir()
	cfg := localConfig(dir, "a")
	if err := os.WriteFile(cfg.KeyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := run(context.Background(), cfg, strings.NewReader(""), io.Discard)
	if !errors.Is(err, transport.ErrBadKeyFile) {
		t.Fatalf("run = %v, want ErrBadKeyFile", err)
	}
	// The bad file is left as it was.
	if b, _ := os.ReadFile(cfg.KeyFile); string(b) != "not a key" {
		t.Fatal("the bad key file was replaced")
	}
}

func TestNodeWithACorruptBookStartsAndSaysSo(t *testing.T) {
	dir := t.TempDir()
	cfg := localConfig(dir, "a")
	if err := os.WriteFile(cfg.BookFile, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	n := startNode(t, cfg)
	n.out.await(t, `address book: .*corrupt.*\(starting with what could be kept\)`)
	n.out.await(t, "ready")
}

func TestMetricsAddressInUseIsAnError(t *testing.T) {
	dir := t.TempDir()
	a := startNode(t, func() *config { c := localConfig(dir, "a"); c.MetricsAddr = "127.0.0.1:0"; return c }())
	addr := strings.TrimPrefix(a.out.await(t, `metrics on (http://\S+)/metrics`)[1], "http://")
	cfg := localConfig(dir, "b")
	cfg.MetricsAddr = addr
	if err := run(context.Background(), cfg, strings.NewReader(""), io.Discard); err == nil {
		t.Fatal("run with a metrics address in use succeeded")
	}
}

func TestStdinErrorsAreReportedAndTheNodeKeepsRunning(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, localConfig(dir, "a"))
	n.out.await(t, "ready")
	// A line longer than the largest transaction.
	go func() {
		n.stdin.Write(bytes.Repeat([]byte("x"), 1<<20+10))
		n.stdin.Write([]byte("\n"))
	}()
	n.out.await(t, `stdin: .*token too long; no more transactions are read`)
	n.out.await(t, `status: peers`)
}

func TestDuplicateTxFromStdinIsReported(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, localConfig(dir, "a"))
	io.WriteString(n.stdin, "same\nsame\n")
	n.out.await(t, `tx not added: mempool: tx already seen`)
}

func TestParseFlags(t *testing.T) {
	const id = "12D3KooWKbDApGSZYXtW2tC8zBHPwxpnsPKTZK2ueuBMz3mqdpJM"
	good, err := parseFlags([]string{
		"-listen", "127.0.0.1:0,/ip6/::1/tcp/0",
		"-seeds", id + "@10.0.0.1:26656, 10.0.0.2:26656",
		"-persistent-peers", "/ip4/10.0.0.3/tcp/26656/p2p/" + id,
		"-network", "testnet-1", "-nat", "off", "-metrics", ":26660", "-seed-mode",
		"-addr-book-strict=false", "-min-outbound", "4", "-ensure-peers-period", "1s",
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(good.ListenAddrs) != 2 || len(good.Seeds) != 2 || len(good.PersistentPeers) != 1 ||
		good.Network != "testnet-1" || good.NAT != "off" || !good.SeedMode || good.BookStrict ||
		good.MinOutbound != 4 || good.EnsurePeersPeriod != time.Second || good.MetricsAddr != ":26660" {
		t.Fatalf("parsed %+v", good)
	}
	if good.Seeds[0].ID.String() != id {
		t.Fatalf("seed ID %s", good.Seeds[0].ID)
	}
	nat, err := parseFlags([]string{
		"-quic", "-autonat-v2", "-relay-service", "-relay-unlimited", "-hole-punch", "-reachability", "private",
		"-relays", "/ip4/11.22.33.55/tcp/26656/p2p/" + id + ", /ip4/11.22.33.55/udp/26656/quic-v1/p2p/" + id,
		"-connect", "/ip4/11.22.33.55/tcp/26656/p2p/" + id + "/p2p-circuit/p2p/" + id,
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !nat.QUIC || !nat.AutoNATv2 || !nat.RelayService || !nat.RelayUnlimited || !nat.HolePunch || nat.Reachability != "private" || len(nat.Relays) != 2 ||
		len(nat.Connect) != 1 || nat.Connect[0].ID.String() != id || len(nat.Connect[0].Addrs) != 1 {
		t.Fatalf("parsed %+v", nat)
	}
	if opts := traversalOptions(nat); len(opts) != 6 {
		t.Fatalf("%d host options for six NAT traversal flags", len(opts))
	}
	def, err := parseFlags(nil, io.Discard)
	if err != nil || def.ListenAddrs[0] != transport.DefaultListenAddr || !def.BookStrict || def.NAT != "auto" || def.Reachability != "auto" {
		t.Fatalf("defaults: %+v, %v", def, err)
	}
	if opts := traversalOptions(def); len(opts) != 0 {
		t.Fatalf("%d NAT traversal options by default, want none", len(opts))
	}

	bad := []struct {
		args []string
		want error
	}{
		{[]string{"-listen", "nonsense"}, transport.ErrBadListenAddr},
		{[]string{"-listen", ","}, errBadFlag},
		{[]string{"-seeds", "not-an-address"}, p2p.ErrInvalidNetAddress},
		{[]string{"-seeds", "10.0.0.1:0"}, errBadFlag},
		{[]string{"-persistent-peers", "example.com:26656"}, p2p.ErrInvalidNetAddress},
		{[]string{"-network", "bad name/with slash"}, p2p.ErrInvalidNetworkName},
		{[]string{"-nat", "maybe"}, errBadFlag},
		{[]string{"-reachability", "maybe"}, errBadFlag},
		{[]string{"-relays", "11.22.33.55:26656"}, errBadFlag},
		{[]string{"-relays", "/ip4/11.22.33.55/tcp/26656"}, errBadFlag},
		{[]string{"-connect", "/ip4/11.22.33.55/tcp/26656"}, errBadFlag},
		{[]string{"-relay-unlimited"}, errBadFlag},
		{[]string{"-min-outbound", "-1"}, errBadFlag},
		{[]string{"-ensure-peers-period", "0s"}, errBadFlag},
		{[]string{"stray"}, errBadFlag},
		{[]string{"-h"}, flag.ErrHelp},
	}
	for _, tc := range bad {
		_, err := parseFlags(tc.args, io.Discard)
		if !errors.Is(err, tc.want) {
			t.Errorf("parseFlags(%q) = %v, want %v", tc.args, err, tc.want)
		}
		if tc.want != errBadFlag && tc.want != flag.ErrHelp && !errors.Is(err, errBadFlag) {
			t.Errorf("parseFlags(%q) = %v, does not wrap errBadFlag", tc.args, err)
		}
	}
	if _, err := parseFlags([]string{"-no-such-flag"}, io.Discard); err == nil {
		t.Error("unknown flag accepted")
	}
}
