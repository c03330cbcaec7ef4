package mempool_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-p2p/switchyard/mempool"
	"github.com/switchyard-p2p/switchyard/p2p"
)

var errBadPrefix = errors.New(`tx starts with "bad"`)

// rejectBad is the victim's validator in the bad-input tests.
func rejectBad(tx []byte) error {
	if bytes.HasPrefix(tx, []byte("bad")) {
		return errBadPrefix
	}
	return nil
}

func TestBadMessagesOnMempoolChStopTheSenderWhileGossipContinues(t *testing.T) {
	const chanMax, poolMax = 1024, 64 // the victim's channel and per-tx caps
	tests := []struct {
		name    string
		msg     []byte
		want    error
		invalid uint64 // the victim's Invalid counter afterwards
	}{
		{"empty message", []byte{}, mempool.ErrBadMessage, 0},
		{"unknown type byte", []byte{0x42, 'x'}, mempool.ErrBadMessage, 0},
		{"type byte without tx", []byte{0x10}, mempool.ErrBadMessage, 0},
		{"tx the validator rejects", append([]byte{0x10}, "bad tx"...), mempool.ErrInvalidTx, 1},
		{"tx above the pool's size cap", append([]byte{0x10}, bytes.Repeat([]byte{'x'}, poolMax+1)...), mempool.ErrTxTooLarge, 0},
		{"message above the channel's cap", append([]byte{0x10}, bytes.Repeat([]byte{'x'}, chanMax+1)...), p2p.ErrMessageTooLarge, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mn := newTestNet(t)
			victim := newNode(t, mn, nodeConfig{
				chanMaxTx: chanMax,
				validate:  rejectBad,
				memOpts:   []mempool.Option{mempool.WithLimits(100, 1<<20, poolMax)},
			})
			good := newNode(t, mn, nodeConfig{})
			// The rogue is a Switch without an agent whose channel allows
			// large messages, so it can put anything on MempoolCh.
			rogue := newNode(t, mn, nodeConfig{chanMaxTx: 1 << 20, noAgent: true})
			connect(t, good, victim)
			connect(t, rogue, victim)

			p := rogue.peerOf(t, victim)
			okTx := []byte("ok from rogue")
			for _, msg := range [][]byte{append([]byte{0x10}, okTx...), tc.msg} {
				if err := p.SendContext(ctxTimeout(t), mempool.MempoolCh, p2p.ByteSlice(msg)); err != nil {
					t.Fatalf("rogue send: %s", err)
				}
			}
			reason := victim.waitDone(t, rogue.h.ID().String())
			err, _ := reason.(error)
			if !errors.Is(err, tc.want) {
				t.Fatalf("rogue stopped for %v, want %v", reason, tc.want)
			}
			if tc.want == mempool.ErrInvalidTx && !strings.Contains(err.Error(), errBadPrefix.Error()) {
				t.Fatalf("reason %q does not say why the tx is invalid", err)
			}
			if got := victim.mem.Stats().Invalid.Load(); got != tc.invalid {
				t.Fatalf("Invalid = %d, want %d", got, tc.invalid)
			}
			if victim.sw.Peers().Has(rogue.h.ID().String()) {
				t.Fatal("rogue is still a peer")
			}

			// The rogue's valid tx, sent before the garbage, was taken and
			// gossiped on; gossip between the others goes on both ways.
			waitAll(t, []*node{victim, good}, [][]byte{okTx})
			fromVictim, fromGood := []byte("after, from victim"), []byte("after, from good")
			victim.mustAdd(t, fromVictim)
			good.mustAdd(t, fromGood)
			waitAll(t, []*node{victim, good}, [][]byte{fromVictim, fromGood})
			if !good.sw.Peers().Has(victim.h.ID().String()) {
				t.Fatal("the good peer was dropped too")
			}
		})
	}
}

func TestPeerWithoutTheMempoolChannelIsSkipped(t *testing.T) {
	mn := newTestNet(t)
	// victim speaks 0x30 and 0x31; other speaks only 0x31, so it is a peer
	// that gossip cannot reach.
	h, err := mn.GenPeer()
	if err != nil {
		t.Fatal(err)
	}
	h2, err := mn.GenPeer()
	if err != nil {
		t.Fatal(err)
	}
	if err := mn.LinkAll(); err != nil {
		t.Fatal(err)
	}
	sw := p2p.NewSwitch([]*p2p.ChannelDescriptor{mempool.ChannelDescriptor(0), {Id: 0x31}}, p2p.WithHost(h))
	other := p2p.NewSwitch([]*p2p.ChannelDescriptor{{Id: 0x31}}, p2p.WithHost(h2))
	for _, s := range []*p2p.Switch{sw, other} {
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Stop)
	}
	agent := mempool.NewMempoolAgent(sw, nil)
	agent.Start()
	t.Cleanup(agent.Stop)
	good := newNode(t, mn, nodeConfig{})
	na, err := p2p.NewNetAddressMultiaddr(h.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	na.ID = h.ID()
	for _, s := range []*p2p.Switch{other, good.sw} {
		if _, err := s.DialPeerWithAddress(na); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "two peers", func() bool { return sw.Peers().Size() == 2 })
	if err := agent.BroadcastTx([]byte("tx")); err != nil {
		t.Fatal(err)
	}
	waitAll(t, []*node{good}, [][]byte{[]byte("tx")})
	if sw.Peers().Size() != 2 {
		t.Fatal("a peer was dropped")
	}
}
