package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-varint"

	"github.com/switchyard-p2p/switchyard/p2p"
	"github.com/switchyard-p2p/switchyard/transport"
)

// runUntilReady runs the node with cfg until it is ready, then stops it and
// returns what run returned and printed.
func runUntilReady(t *testing.T, cfg *config, extra func(*output)) (string, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r, w := io.Pipe()
	out := &output{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, r, out) }()
	out.await(t, "ready: ")
	if extra != nil {
		extra(out)
	}
	cancel()
	w.Close()
	err := <-done
	return out.String(), err
}

// TestBookThatCannotBeSavedFailsTheRun: a book file whose directory does
// not exist (or cannot be written) is reported as not saved, with what was
// lost, and run returns an error (the program exits non-zero).
func TestBookThatCannotBeSavedFailsTheRun(t *testing.T) {
	cfg := localConfig(t.TempDir(), "a")
	cfg.BookFile = filepath.Join(t.TempDir(), "nodir", "book.json")
	out, err := runUntilReady(t, cfg, nil)
	if err == nil || !strings.Contains(out, "address book NOT saved to "+cfg.BookFile) || strings.Contains(out, "address book saved") {
		t.Fatalf("run returned %v; output:\n%s", err, out)
	}
}

// TestBookIsSavedEvenWhenEmpty: "saved" is printed only for a file that
// exists, even one with no address in it.
func TestBookIsSavedEvenWhenEmpty(t *testing.T) {
	cfg := localConfig(t.TempDir(), "a")
	out, err := runUntilReady(t, cfg, nil)
	if err != nil || !strings.Contains(out, "address book saved to "+cfg.BookFile+" (0 addresses)") {
		t.Fatalf("run returned %v; output:\n%s", err, out)
	}
	if _, err := os.Stat(cfg.BookFile); err != nil {
		t.Fatalf("said saved, but: %s", err)
	}
}

// TestTakenPortFailsTheRun: a second node on a port in use does not start,
// and says why; with -share-port it starts.
func TestTakenPortFailsTheRun(t *testing.T) {
	first := startNode(t, localConfig(t.TempDir(), "a"))
	addr := first.out.await(t, `listening on (/ip4/127\.0\.0\.1/tcp/\d+)/p2p/`)[1]
	cfg := localConfig(t.TempDir(), "b")
	cfg.ListenAddrs = []string{addr}
	err := run(context.Background(), cfg, strings.NewReader(""), io.Discard)
	if !errors.Is(err, transport.ErrPortInUse) {
		t.Fatalf("second node on %s: %v, want ErrPortInUse", addr, err)
	}
	cfg.SharePort = true
	if out, err := runUntilReady(t, cfg, nil); err != nil {
		t.Fatalf("with -share-port: %s\n%s", err, out)
	}
}

// TestUnreachableSeedIsReported: a seed that does not answer is named in
// the output at the default log level.
func TestUnreachableSeedIsReported(t *testing.T) {
	cfg := localConfig(t.TempDir(), "a")
	seed, err := p2p.ParseNetAddress("12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5@127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Seeds = []*p2p.NetAddress{seed}
	runUntilReady(t, cfg, func(out *output) { out.await(t, `seed \S+ not reached: `) })
}

// TestInterruptIsAGracefulCloseForPeers: a node stopped as by Ctrl-C
// writes what it had queued for a peer, then ends its stream with a clean
// end of stream (not a reset).
func TestInterruptIsAGracefulCloseForPeers(t *testing.T) {
	cfg := localConfig(t.TempDir(), "a")
	ctx, cancel := context.WithCancel(context.Background())
	r, w := io.Pipe()
	out := &output{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, r, out) }()
	addr := out.await(t, `listening on (/ip4/127\.0\.0\.1/tcp/\d+/p2p/\S+)`)[1]

	b, err := transport.New(transport.WithListenAddrs("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	type ending struct {
		txs int
		err error
	}
	ended := make(chan ending, 1)
	b.SetStreamHandler(p2p.ChannelProtocolID(cfg.Network, 0x30), func(s network.Stream) {
		br := bufio.NewReader(s)
		n := 0
		for {
			size, err := varint.ReadUvarint(br)
			if err == nil {
				_, err = io.ReadFull(br, make([]byte, size))
			}
			if err != nil {
				ended <- ending{n, err}
				s.Close()
				return
			}
			n++
		}
	})
	info, err := peer.AddrInfoFromString(addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Connect(context.Background(), *info); err != nil {
		t.Fatal(err)
	}
	out.await(t, `peer \+ `)
	for i := range 20 {
		fmt.Fprintf(w, "tx %d\n", i)
	}
	out.await(t, `"tx 19"`)
	cancel() // as Ctrl-C does
	w.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-ended:
		if e.err != io.EOF || e.txs == 0 {
			t.Fatalf("the peer's stream ended with %v after %d txs, want a clean end of stream after some", e.err, e.txs)
		}
		t.Logf("the peer got %d txs, then end of stream", e.txs)
	case <-time.After(5 * time.Second):
		t.Fatal("the peer's stream did not end")
	}
}
