package main

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
