package integration

import (
	"testing"
	"time"

	"github.com/switchyard-p2p/switchyard/p2p"
)

// TestThreeNodesWithDefaultsFindEachOther: A dials B; C knows only A. With
// the library's default PEX settings (a 30 s period), C learns B from A at
// once and dials it at once, not at its next round. (Only the book is not
// the default: a strict book keeps no loopback address.)
func TestThreeNodesWithDefaultsFindEachOther(t *testing.T) {
	a := newNode(t, nodeConfig{swOpts: []p2p.Option{tcpHostOptions()}, pexOpts: []p2p.PEXOption{}})
	b := newNode(t, nodeConfig{swOpts: []p2p.Option{tcpHostOptions()}, pexOpts: []p2p.PEXOption{}})
	a.startPEX(t)
	b.startPEX(t)
	if _, err := a.sw.DialPeerWithAddress(b.addr(t)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "A learns B's address", func() bool { return a.book.HasAddress(b.addr(t)) })
	c := newNode(t, nodeConfig{swOpts: []p2p.Option{tcpHostOptions()}, seeds: []*p2p.NetAddress{a.addr(t)}, pexOpts: []p2p.PEXOption{}})
	start := time.Now()
	c.startPEX(t)
	took := waitFor(t, 10*time.Second, "C is connected to A and B", func() bool {
		return c.sw.Peers().Has(a.id()) && c.sw.Peers().Has(b.id())
	})
	t.Logf("C, knowing only A, was connected to A and B after %s (default settings)", took.Round(time.Millisecond))
	if took > 3*time.Second {
		t.Errorf("C took %s", time.Since(start))
	}
}
