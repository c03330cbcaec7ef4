package integration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"go.uber.org/goleak"

	"github.com/switchyard-p2p/switchyard/p2p"
	"github.com/switchyard-p2p/switchyard/transport"
)

// netnsChildMain runs one node of the network-namespace test inside its
// namespace: it prints one "RESULT ok …" or "RESULT fail …" line on
// stdout, keeps the node running until stdin closes (the others may still
// need it), then stops it and checks that no goroutine is left.
func netnsChildMain() int {
	// The parent closes stdin when every node is done, or one failed.
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	sw, book, pex, res, err := netnsChildRun(ctx)
	if err != nil {
		fmt.Printf("RESULT fail %s\n", err)
	} else {
		fmt.Printf("RESULT ok %s\n", res)
	}
	<-ctx.Done()
	if sw != nil {
		sw.Stop()
		pex.Stop()
		book.Stop()
	}
	if err != nil {
		return 1
	}
	if leak := goleak.Find(); leak != nil {
		fmt.Fprintf(os.Stderr, "goroutines left after Stop: %s\n", leak)
		return 1
	}
	return 0
}

func netnsChildRun(ctx context.Context) (*p2p.Switch, *p2p.AddrBook, *p2p.PEXAgent, string, error) {
	me, err := strconv.Atoi(os.Getenv(netnsChildEnv))
	if err != nil {
		return nil, nil, nil, "", fmt.Errorf("bad %s: %w", netnsChildEnv, err)
	}
	var all []*p2p.NetAddress
	for _, s := range strings.Split(os.Getenv(netnsAllEnv), ",") {
		na, err := p2p.ParseNetAddress(s)
		if err != nil {
			return nil, nil, nil, "", err
		}
		all = append(all, na)
	}
	if me < 0 || me >= len(all) {
		return nil, nil, nil, "", fmt.Errorf("node %d of %d", me, len(all))
	}
	self := all[me]
	sw := p2p.NewSwitch(testChannels(), p2p.WithMaxPeers(40, 10), p2p.WithHostOptions(
		transport.WithKeyFile(os.Getenv(netnsKeyEnv)),
		transport.WithListenAddrs(self.Multiaddr.String()),
		transport.WithNAT(false),
	))
	book := p2p.NewAddrBook("", p2p.WithBookRoutabilityStrict(false))
	pex := p2p.NewPEXAgent(sw, book, scalePEX()...)
	if err := sw.Start(); err != nil {
		return nil, nil, nil, "", err
	}
	fmt.Println("LISTENING")
	if sw.Host().ID() != self.ID {
		return sw, book, pex, "", fmt.Errorf("identity %s, want %s", sw.Host().ID(), self.ID)
	}
	if err := book.Start(); err != nil {
		return sw, book, pex, "", err
	}
	if me != 0 {
		if err := book.AddAddress(all[0], nil); err != nil {
			return sw, book, pex, "", err
		}
	}
	start := time.Now()
	if err := pex.Start(); err != nil {
		return sw, book, pex, "", err
	}

	// Discovery: every other node becomes a peer, at its namespace address,
	// and the book holds its address.
	ctx, cancel := context.WithTimeout(ctx, netnsTimeout)
	defer cancel()
	peers, learned := 0, 0
	for {
		peers, learned = 0, 0
		for i, na := range all {
			if i == me {
				continue
			}
			if sw.Peers().Has(na.ID.String()) {
				peers++
			}
			if book.HasAddress(na) {
				learned++
			}
		}
		if peers == len(all)-1 && learned == len(all)-1 {
			break
		}
		select {
		case <-ctx.Done():
			return sw, book, pex, "", fmt.Errorf("after %s, %d of the %d other nodes are peers and the book holds %d: %v (%w)",
				time.Since(start).Round(time.Millisecond), peers, len(all)-1, learned, book.GetSelection(), ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	discovered := time.Since(start)
	_, subnet, _ := net.ParseCIDR(netnsSubnet + "0/24")
	out := 0
	for _, p := range sw.Peers().List() {
		if ra := p.MConnection().RemoteAddress; ra == nil || !subnet.Contains(ra.IP) {
			return sw, book, pex, "", fmt.Errorf("peer %s connected from %v, outside %s", p, ra, subnet)
		}
		if p.IsOutbound() {
			out++
		}
	}

	// Messages: a hello to every peer, and one from every peer.
	hello := fmt.Sprintf("hello from %s", self)
	for _, p := range sw.Peers().List() {
		if !p.Send(testCh, p2p.ByteSlice(hello)) {
			return sw, book, pex, "", fmt.Errorf("send to %s failed", p)
		}
	}
	from := map[string]bool{}
	for len(from) < len(all)-1 {
		m, err := sw.ReceiveContext(ctx, testCh)
		if err != nil {
			return sw, book, pex, "", fmt.Errorf("hellos from %d of %d nodes: %w", len(from), len(all)-1, err)
		}
		if !strings.HasPrefix(string(m.Bytes), "hello from "+m.MConn.Peer.Key+"@") {
			return sw, book, pex, "", errors.New("unexpected message " + strconv.Quote(string(m.Bytes)))
		}
		from[m.MConn.Peer.Key] = true
	}
	return sw, book, pex, fmt.Sprintf("all %d others are peers (%d dialed by us) after %s, their addresses in the book, hellos exchanged with each",
		peers, out, discovered.Round(time.Millisecond)), nil
}
