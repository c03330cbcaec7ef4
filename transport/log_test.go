package transport

import (
	"bufio"
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	logging "github.com/ipfs/go-log/v2"
	"github.com/libp2p/go-libp2p/gologshim"
)

func TestOurSubsystemIsAGoLogSubsystem(t *testing.T) {
	if !slices.Contains(logging.GetSubsystems(), "switchyard/transport") {
		t.Fatalf("subsystems %v lack switchyard/transport", logging.GetSubsystems())
	}
	if err := logging.SetLogLevel("switchyard/transport", "info"); err != nil {
		t.Fatal(err)
	}
	logging.SetLogLevel("switchyard/transport", "error")
}

// go-libp2p logs through gologshim (log/slog); this package's init hands it
// go-log's bridge, so go-log's levels and output govern it.
func TestGoLibp2pLogsGoThroughGoLog(t *testing.T) {
	const sys = "switchyard-test-libp2p-subsystem"
	l := gologshim.Logger(sys) // what go-libp2p packages do at init
	ctx := context.Background()
	l.Enabled(ctx, slog.LevelError) // first use binds the handler

	if err := logging.SetLogLevel(sys, "error"); err != nil {
		t.Fatalf("go-log does not know go-libp2p's subsystem: %v", err)
	}
	if l.Enabled(ctx, slog.LevelDebug) {
		t.Fatal("debug enabled while go-log says error")
	}
	if err := logging.SetLogLevel(sys, "debug"); err != nil {
		t.Fatal(err)
	}
	if !l.Enabled(ctx, slog.LevelDebug) {
		t.Fatal("debug disabled while go-log says debug")
	}

	r := logging.NewPipeReader(logging.PipeFormat(logging.JSONOutput))
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	l.Debug("hello from libp2p", "answer", 42)
	deadline := time.After(5 * time.Second)
	for found := false; !found; {
		select {
		case line := <-lines:
			found = strings.Contains(line, "hello from libp2p") && strings.Contains(line, sys) && strings.Contains(line, `"answer":42`)
		case <-deadline:
			r.Close()
			t.Fatal("go-libp2p's log line did not reach go-log's output")
		}
	}
	r.Close()
	for range lines {
	}
}
