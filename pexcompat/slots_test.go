package pexcompat_test

import (
	"context"
	"errors"
	"testing"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/switchyard-p2p/switchyard/pexcompat"
)

// TestServiceServesAtMostTwoStreamsOfOnePeer: with two of one peer's
// requests being served, its third is reset unread, while another peer is
// still served.
func TestServiceServesAtMostTwoStreamsOfOnePeer(t *testing.T) {
	hs := connectedHosts(t, 3)
	bh := &testHandler{answer: someAddrs(t), block: make(chan struct{}), entered: make(chan struct{}, 16)}
	newService(t, hs[1], bh)
	a := newService(t, hs[0], &testHandler{})
	c := newService(t, hs[2], &testHandler{})
	first := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := a.Request(context.Background(), hs[1].ID())
			first <- err
		}()
		<-bh.entered
	}
	if _, err := a.Request(context.Background(), hs[1].ID()); !errors.Is(err, network.ErrReset) {
		t.Fatalf("third request of one peer: got %v, want network.ErrReset", err)
	}
	other := make(chan error, 1)
	go func() {
		_, err := c.Request(context.Background(), hs[1].ID())
		other <- err
	}()
	<-bh.entered // another peer's request reaches the handler
	close(bh.block)
	for range 2 {
		if err := <-first; err != nil {
			t.Fatalf("first requests: %v", err)
		}
	}
	if err := <-other; err != nil {
		t.Fatalf("another peer's request: %v", err)
	}
}

// admitting is a testHandler that admits only the peers in ok.
type admitting struct {
	testHandler
	ok map[peer.ID]bool
}

var errNotAdmitted = errors.New("not admitted")

func (h *admitting) Admit(_ context.Context, p peer.ID) error {
	if !h.ok[p] {
		return errNotAdmitted
	}
	return nil
}

// TestRemotesTheHandlerDoesNotAdmitTakeNoSlot: with the only slot free, a
// remote the Handler does not admit is reset before its stream is read,
// and takes no slot from one it admits.
func TestRemotesTheHandlerDoesNotAdmitTakeNoSlot(t *testing.T) {
	hs := connectedHosts(t, 3)
	h := &admitting{testHandler: testHandler{answer: someAddrs(t)}, ok: map[peer.ID]bool{hs[2].ID(): true}}
	newService(t, hs[1], h, pexcompat.WithMaxInboundStreams(1))
	stranger := newService(t, hs[0], &testHandler{})
	friend := newService(t, hs[2], &testHandler{})
	for range 5 {
		if _, err := stranger.Request(context.Background(), hs[1].ID()); !errors.Is(err, network.ErrReset) {
			t.Fatalf("request of a remote not admitted: got %v, want network.ErrReset", err)
		}
	}
	if req, _ := h.calls(); req != 0 {
		t.Fatalf("the handler was asked %d times for a remote it did not admit", req)
	}
	if _, err := friend.Request(context.Background(), hs[1].ID()); err != nil {
		t.Fatalf("request of an admitted remote: %v", err)
	}
}
