package mempool_test

import (
	"bytes"
	"errors"
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

// TestBadMessagesOnMempoolCh: a malformed message (PROTOCOL.md §5) stops
// and bans its sender; what a later version or another application might
// send (an unknown type, a tx this node's validator or size cap rejects) is
// dropped and counted, and the sender stays. Gossip goes on either way.
func TestBadMessagesOnMempoolCh(t *testing.T) {
	const chanMax, poolMax = 1024, 64 // the victim's channel and per-tx caps
	tests := []struct {
		name    string
		msg     []byte
		ban     error // the reason the sender is stopped for; nil: it stays
		invalid uint64
		unknown uint64
	}{
		{"empty message", []byte{}, mempool.ErrBadMessage, 0, 0},
		{"type byte without tx", []byte{0x10}, mempool.ErrBadMessage, 0, 0},
		{"message above the channel's cap", append([]byte{0x10}, bytes.Repeat([]byte{'x'}, chanMax+1)...), p2p.ErrMessageTooLarge, 0, 0},
		{"unknown type byte", []byte{0x42, 'x'}, nil, 0, 1},
		{"tx the validator rejects", append([]byte{0x10}, "bad tx"...), nil, 1, 0},
		{"tx above the pool's size cap", append([]byte{0x10}, bytes.Repeat([]byte{'x'}, poolMax+1)...), nil, 0, 0},
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
			okTx, afterTx := []byte("ok from rogue"), []byte("after, from rogue")
			msgs := [][]byte{append([]byte{0x10}, okTx...), tc.msg}
			if tc.ban == nil {
				msgs = append(msgs, append([]byte{0x10}, afterTx...))
			}
			for _, msg := range msgs {
				if err := p.SendContext(ctxTimeout(t), mempool.MempoolCh, p2p.ByteSlice(msg)); err != nil {
					t.Fatalf("rogue send: %s", err)
				}
			}
			if tc.ban != nil {
				reason := victim.waitDone(t, rogue.h.ID().String())
				if err, _ := reason.(error); !errors.Is(err, tc.ban) {
					t.Fatalf("rogue stopped for %v, want %v", reason, tc.ban)
				}
				if victim.sw.Peers().Has(rogue.h.ID().String()) {
					t.Fatal("rogue is still a peer")
				}
				waitAll(t, []*node{victim, good}, [][]byte{okTx})
			} else {
				// The tx after the bad message is taken: the rogue stayed.
				waitAll(t, []*node{victim, good}, [][]byte{okTx, afterTx})
				if !victim.sw.Peers().Has(rogue.h.ID().String()) {
					t.Fatal("the sender was stopped for a message an honest peer may send")
				}
			}
			st := victim.mem.Stats()
			if st.Invalid.Load() != tc.invalid || st.Unknown.Load() != tc.unknown {
				t.Fatalf("Invalid = %d, Unknown = %d; want %d, %d", st.Invalid.Load(), st.Unknown.Load(), tc.invalid, tc.unknown)
			}

			// Gossip between the others goes on both ways.
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
