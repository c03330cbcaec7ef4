// Command node runs a Switchyard node: a Switch with the PEX agent (peer
// discovery through an address book) and the mempool agent (transaction
// gossip). Each line typed on stdin is a transaction; the node prints its
// addresses, peers coming and going, and transactions entering its pool.
// Ctrl-C (or SIGTERM) stops it cleanly and saves the address book.
//
// Two nodes on one machine:
//
//	go run ./examples/node -listen 127.0.0.1:26656 -nat off -addr-book-strict=false -book a.json -key a.key
//	go run ./examples/node -listen 127.0.0.1:26657 -nat off -addr-book-strict=false -book b.json -key b.key \
//	    -seeds <peer ID printed by the first>@127.0.0.1:26656
//
// Run with -h for every flag.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	logging "github.com/ipfs/go-log/v2"
)

func main() {
	// Warnings (a world-readable key file, say) are worth seeing by default;
	// GOLOG_LOG_LEVEL still decides when it is set.
	if os.Getenv("GOLOG_LOG_LEVEL") == "" {
		logging.SetLogLevelRegex("switchyard/.*", "warn")
	}
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "node:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C kills the process at once
	}()
	if err := run(ctx, cfg, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "node:", err)
		os.Exit(1)
	}
}
