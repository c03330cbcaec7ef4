// Command template runs the 2014 README's MempoolAgent template (package
// examples/template/mempool, compiled against Switchyard unchanged but for
// its imports and message codec) on two Switches over go-libp2p's in-memory
// network: node A sends node B a TxMessage, and the program shows the line
// B's agent logged on receiving it.
//
//	go run ./examples/template
//
// It exits 0 once B's agent has logged the message, 1 if that does not
// happen within 10 seconds.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	logging "github.com/ipfs/go-log/v2"

	"github.com/switchyard-p2p/switchyard/examples/template/mempool"
	"github.com/switchyard-p2p/switchyard/p2p"
	"github.com/switchyard-p2p/switchyard/transport"
)

// templateLog is the go-log subsystem the template logs to.
const templateLog = "switchyard/template"

// errNotLogged is returned when B's agent does not log the message in time.
var errNotLogged = errors.New("the receiving agent did not log the message")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "template:", err)
		os.Exit(1)
	}
}

// run starts the two nodes, sends the message, waits until B's agent logs
// it (or ctx ends), and stops everything it started.
func run(ctx context.Context, out io.Writer) error {
	logged, closeLog, err := watchTemplateLog("received [TxMessage ")
	if err != nil {
		return err
	}
	defer closeLog()

	mn, hosts, err := transport.NewMocknet(2)
	if err != nil {
		return fmt.Errorf("mocknet: %w", err)
	}
	defer mn.Close()
	var sws []*p2p.Switch
	var agents []*mempool.MempoolAgent
	defer func() {
		// Switches first: the template's Stop closes its event channel, which
		// must not happen while a running Switch may send on it (a data race,
		// even though the Switch survives it). The template's routines end
		// when Receive returns false and when Stop closes that channel.
		for _, sw := range sws {
			sw.Stop()
		}
		for _, a := range agents {
			a.Stop()
		}
	}()
	for _, h := range hosts {
		sw := p2p.NewSwitch([]*p2p.ChannelDescriptor{{Id: mempool.MempoolCh}}, p2p.WithHost(h))
		if err := sw.Start(); err != nil {
			return fmt.Errorf("start switch: %w", err)
		}
		sws = append(sws, sw)
		agent := mempool.NewMempoolAgent(sw)
		agent.Start()
		agents = append(agents, agent)
	}
	a, b := sws[0], sws[1]
	fmt.Fprintf(out, "node A: %s\nnode B: %s\n", a.Host().ID(), b.Host().ID())

	addrB, err := p2p.NewNetAddressMultiaddr(b.Host().Addrs()[0])
	if err != nil {
		return err
	}
	addrB.ID = b.Host().ID()
	peerB, err := a.DialPeerContext(ctx, addrB)
	if err != nil {
		return fmt.Errorf("dial from A to B: %w", err)
	}
	fmt.Fprintf(out, "A is connected to B (%s)\n", peerB)

	msg := &mempool.TxMessage{Tx: []byte("hello from A")}
	if !peerB.Send(mempool.MempoolCh, msg) {
		return errors.New("send from A to B failed")
	}
	fmt.Fprintf(out, "A sent %s on channel %#02x\n", msg, mempool.MempoolCh)
	select {
	case line := <-logged:
		fmt.Fprintf(out, "B's agent logged: %s\n", line)
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", errNotLogged, ctx.Err())
	}
}

// watchTemplateLog turns on the template's info logs and returns a channel
// that yields the message of the first log line of the template containing
// want. closeLog restores the log level and ends the watch.
func watchTemplateLog(want string) (logged <-chan string, closeLog func(), err error) {
	oldLevel, err := logging.SubsystemLevelName(templateLog)
	if err != nil {
		return nil, nil, fmt.Errorf("template logger: %w", err)
	}
	if err := logging.SetLogLevel(templateLog, "info"); err != nil {
		return nil, nil, err
	}
	pipe := logging.NewPipeReader(logging.PipeFormat(logging.PlaintextOutput), logging.PipeLevel(logging.LevelInfo))
	found := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pipe)
		for sc.Scan() { // until the pipe is closed; logging blocks unless it is read
			line := sc.Text()
			if i := strings.Index(line, want); i >= 0 && strings.Contains(line, templateLog) {
				msg := line
				if j := strings.LastIndex(line[:i], "\t"); j >= 0 {
					msg = line[j+1:] // drop time, level, logger and caller
				}
				select {
				case found <- msg:
				default:
				}
			}
		}
	}()
	return found, func() {
		pipe.Close()
		<-done
		logging.SetLogLevel(templateLog, oldLevel)
	}, nil
}
