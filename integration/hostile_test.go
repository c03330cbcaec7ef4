package integration

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/switchyard-p2p/switchyard/p2p"
)

// The hostile-peer tests play, one at a time, the attacks a node must
// survive (README, "Limits and defences"). Each attacker is a plain
// go-libp2p host with a fresh identity (plainHost); an honest pair of
// Switchyard nodes, both connected to the victim only, measures delivery
// through it; the victim runs in a child process so that its memory is
// its own. Every test asserts the bound the attack would break.

// heapBound is what the victim's heap must stay under during every attack.
const heapBound = 256 << 20

// gossipRate is the honest load, in bytes per second of 1 MiB transactions:
// 45 MB/s, or 12 MB/s under the race detector, which makes everything 5-10
// times slower.
func gossipRate() int {
	if raceEnabled {
		return 12 << 20
	}
	return 45 << 20
}

// neverReader connects h to the victim as a peer that speaks the mempool
// channel but never reads what it is sent, and reconnects whenever the
// victim drops it, until ctx ends.
func neverReader(ctx context.Context, t *testing.T, h host.Host, v *victim) {
	h.SetStreamHandler(wireMempoolCh, func(s network.Stream) {
		<-ctx.Done()
		s.Reset()
	})
	for ctx.Err() == nil {
		if h.Network().Connectedness(v.info.ID) != network.Connected {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			h.Connect(cctx, v.info)
			cancel()
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestAttackPeersThatNeverRead: three peers that speak the mempool channel
// but never read, and come back whenever they are dropped, while 1 MiB
// transactions are gossiped through the victim. Their queues are bounded
// (bytes, and a transaction queued to all of them is held once), each is
// disconnected when its writes stall, and honest delivery goes on.
func TestAttackPeersThatNeverRead(t *testing.T) {
	const stall = 3 * time.Second
	v := startVictim(t, victimStallEnv+"="+stall.String())
	idle, _ := v.idleHeap()
	sender, d := honestPair(t, v)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	var attackers []host.Host
	for range 3 {
		h := plainHost(t, false)
		attackers = append(attackers, h)
		wg.Add(1)
		go func() {
			defer wg.Done()
			neverReader(ctx, t, h, v)
		}()
	}
	v.waitStat(func(s victimStat) bool { return s.peers == 5 }, 10*time.Second)
	start := time.Now()
	gctx, stopGossip := context.WithTimeout(ctx, 4*stall)
	defer stopGossip()
	gossip(gctx, sender, 1<<20, gossipRate())
	sent := time.Since(start)
	time.Sleep(time.Second) // the last transactions arrive

	during := v.since(start)
	peak := maxHeap(during)
	stalled := 0
	for _, h := range attackers {
		if r, ok := v.doneReason(h.ID()); ok && strings.Contains(r, "peer stalled") {
			stalled++
		}
	}
	cancel()
	wg.Wait()
	after, pool := v.idleHeap()
	t.Logf("%d MiB of txs in %s through the victim beside 3 never-reading peers: %d delivered, p50 %s, p99 %s; victim heap idle %s, peak %s, after %s (its pool %s); %d of 3 dropped for stalling",
		int64(gossipRate())*int64(sent/time.Millisecond)/1000>>20, sent.Round(time.Millisecond), d.count(), d.percentile(50), d.percentile(99), mib(idle), mib(peak), mib(after), mib(pool), stalled)
	if peak > heapBound {
		t.Errorf("victim heap reached %s, above %s", mib(peak), mib(heapBound))
	}
	if p99 := d.percentile(99); p99 > time.Second {
		t.Errorf("honest p99 delivery %s, above 1 s", p99)
	}
	if want := int(float64(sent) / float64(time.Second) * float64(gossipRate()) / (1 << 20) * 0.9); d.count() < want {
		t.Errorf("only %d transactions delivered, want at least %d", d.count(), want)
	}
	if stalled != 3 {
		t.Errorf("%d of 3 never-reading peers were disconnected for stalling", stalled)
	}
	if after > idle+pool+16<<20 {
		t.Errorf("victim heap %s after the attack, idle was %s and the pool holds %s", mib(after), mib(idle), mib(pool))
	}
}

// stalledFrames connects h to the victim as a peer and opens streams of the
// mempool channel, each declaring a 1 MiB message, sending 10 bytes of it
// and stalling; whenever the victim drops it, it comes back and does it
// again, until ctx ends. It returns how many streams the victim took (did
// not reset at once).
func stalledFrames(ctx context.Context, h host.Host, v *victim, streams int) {
	h.SetStreamHandler(wireMempoolCh, func(s network.Stream) { io.Copy(io.Discard, s); s.Reset() })
	header := binary.AppendUvarint(nil, 1<<20)
	header = append(header, make([]byte, 10)...)
	for ctx.Err() == nil {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := h.Connect(cctx, v.info)
		cancel()
		if err == nil {
			for range streams {
				s, err := h.NewStream(ctx, v.info.ID, wireMempoolCh)
				if err != nil {
					break
				}
				if _, err := s.Write(header); err != nil {
					s.Reset()
				}
			}
		}
		for ctx.Err() == nil && h.Network().Connectedness(v.info.ID) == network.Connected {
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}

// TestAttackStalledFramesDeclaringAMebibyte: six identities each open ~270
// streams of the mempool channel that declare a 1 MiB message, send a few
// bytes of it and stall, and come back whenever they are dropped. The
// victim takes two streams per peer and channel, allocates a body only as
// its bytes arrive, and disconnects each peer whose frame stalls; its heap
// stays bounded during the attack and returns to idle after.
func TestAttackStalledFramesDeclaringAMebibyte(t *testing.T) {
	const stall = 2 * time.Second
	v := startVictim(t, victimStallEnv+"="+stall.String())
	idle, _ := v.idleHeap()
	sender, d := honestPair(t, v)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	var attackers []host.Host
	start := time.Now()
	for range 6 {
		h := plainHost(t, false)
		attackers = append(attackers, h)
		wg.Add(1)
		go func() {
			defer wg.Done()
			stalledFrames(ctx, h, v, 270)
		}()
	}
	gctx, stopGossip := context.WithTimeout(ctx, 4*stall)
	defer stopGossip()
	gossip(gctx, sender, 64<<10, 4<<20)
	during := v.since(start)
	stalled := 0
	for _, h := range attackers {
		if r, ok := v.doneReason(h.ID()); ok && strings.Contains(r, "peer stalled") {
			stalled++
		}
	}
	cancel()
	wg.Wait()
	for _, h := range attackers {
		h.Close()
	}
	v.waitStat(func(s victimStat) bool { return s.peers == 2 }, 10*time.Second)
	after, pool := v.idleHeap()
	peak := maxHeap(during)
	t.Logf("6 identities x 270 stalled 1 MiB frames, for %s: victim heap idle %s, peak %s, after %s (its pool %s); %d of 6 dropped for stalling; honest txs %d delivered, p99 %s",
		(4 * stall).Round(time.Millisecond), mib(idle), mib(peak), mib(after), mib(pool), stalled, d.count(), d.percentile(99))
	if peak > heapBound {
		t.Errorf("victim heap reached %s, above %s", mib(peak), mib(heapBound))
	}
	if stalled != 6 {
		t.Errorf("%d of 6 stalling peers were disconnected for it", stalled)
	}
	if after > idle+pool+16<<20 {
		t.Errorf("victim heap %s after the attack, idle was %s and the pool holds %s", mib(after), mib(idle), mib(pool))
	}
	if p99 := d.percentile(99); p99 > time.Second || d.count() == 0 {
		t.Errorf("honest delivery: %d txs, p99 %s", d.count(), p99)
	}
}

// TestAttackNonPeerHostsDoNotCrowdOutANewcomer: 250 plain libp2p hosts,
// which speak none of the victim's channels, connect to it and come back
// two seconds after each time it closes them, filling its inbound
// connection limit (64 here). The victim closes them once identify shows
// what they are, so an honest newcomer that comes while it is full is
// admitted within seconds.
func TestAttackNonPeerHostsDoNotCrowdOutANewcomer(t *testing.T) {
	const n, limit = 250, 64
	v := startVictim(t, fmt.Sprintf("%s=%d", victimConnsEnv, limit))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	start := time.Now()
	for range n {
		h := plainHost(t, false)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if h.Network().Connectedness(v.info.ID) != network.Connected {
					cctx, cc := context.WithTimeout(ctx, 5*time.Second)
					h.Connect(cctx, v.info)
					cc()
				}
				select {
				case <-ctx.Done():
				case <-time.After(2 * time.Second):
				}
			}
		}()
	}
	full := v.waitStat(func(s victimStat) bool { return s.conns >= limit }, 30*time.Second)
	joined := time.Now()
	newcomer := newNode(t, nodeConfig{swOpts: []p2p.Option{tcpHostOptions()}})
	na, err := p2p.NetAddressFromAddrInfo(v.info)
	if err != nil {
		t.Fatal(err)
	}
	for {
		// A refused dial puts the victim in the swarm's dial backoff (5 s);
		// the newcomer redials at once, as a persistent peer would.
		ctx, cc := context.WithTimeout(network.WithForceDirectDial(context.Background(), "redial"), 5*time.Second)
		_, err := newcomer.sw.DialPeerContext(ctx, na[0])
		cc()
		if err == nil {
			break
		}
		if time.Since(joined) > 5*time.Second {
			t.Fatalf("the newcomer was refused for %s: %s", time.Since(joined).Round(time.Millisecond), err)
		}
		time.Sleep(100 * time.Millisecond) // as a node would redial
	}
	admitted := time.Since(joined)
	v.waitStat(func(s victimStat) bool { return s.peers == 1 }, 5*time.Second)
	t.Logf("%d non-peer hosts filled the victim's %d inbound connections %s after they began; a newcomer then was admitted in %s",
		n, full.conns, full.at.Sub(start).Round(time.Millisecond), admitted.Round(time.Millisecond))
}

// stallPEX opens PEX streams to the victim from h, as many as it lets
// through, each sending nothing, and keeps doing so (reconnecting when the
// victim closes the connection) until ctx ends.
func stallPEX(ctx context.Context, h host.Host, v *victim) {
	for ctx.Err() == nil {
		if h.Network().Connectedness(v.info.ID) != network.Connected {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			h.Connect(cctx, v.info)
			cancel()
		}
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		if s, err := h.NewStream(sctx, v.info.ID, wirePEX); err == nil {
			s.Write(nil) // negotiate, then stall
			go func() { <-ctx.Done(); s.Reset() }()
		}
		cancel()
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestAttackStalledPEXStreamsDoNotStarveHonestRequests: 3 hosts that are
// not peers and 8 peers open PEX streams to the victim and stall them, as
// fast as it lets them. Non-peers never get a PEX slot; a peer holds at
// most its own two while it sends nothing, and a slot of the node's only
// once its message is in; so honest peers asking at the protocol's pace
// are served.
func TestAttackStalledPEXStreamsDoNotStarveHonestRequests(t *testing.T) {
	v := startVictim(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for i := range 11 {
		h := plainHost(t, false)
		if i >= 3 { // a peer: it speaks a channel of the victim
			h.SetStreamHandler(wireMempoolCh, func(s network.Stream) { io.Copy(io.Discard, s); s.Reset() })
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			stallPEX(ctx, h, v)
		}()
	}
	time.Sleep(time.Second) // the attack is under way
	na, err := p2p.NetAddressFromAddrInfo(v.info)
	if err != nil {
		t.Fatal(err)
	}
	var served, asked atomic.Int32
	var honest sync.WaitGroup
	for range 5 {
		n := newNode(t, nodeConfig{swOpts: []p2p.Option{tcpHostOptions()}, pexOpts: []p2p.PEXOption{p2p.WithEnsurePeersPeriod(time.Hour)}})
		n.startPEX(t)
		p, err := n.sw.DialPeerWithAddress(na[0])
		if err != nil {
			t.Fatal(err)
		}
		honest.Add(1)
		go func() {
			defer honest.Done()
			for range 4 {
				time.Sleep(1200 * time.Millisecond) // within the protocol's pace
				asked.Add(1)
				rctx, cc := context.WithTimeout(ctx, 10*time.Second)
				if _, err := n.pex.RequestPEXContext(rctx, p); err == nil {
					served.Add(1)
				} else {
					t.Logf("an honest request failed: %s", err)
				}
				cc()
			}
		}()
	}
	honest.Wait()
	t.Logf("3 non-peers and 8 peers stalling PEX streams: %d of %d honest requests served", served.Load(), asked.Load())
	if served.Load()*10 < asked.Load()*9 {
		t.Errorf("only %d of %d honest PEX requests were served", served.Load(), asked.Load())
	}
}

// writeTxs writes txs to the victim on h's stream of the mempool channel,
// framed by hand (PROTOCOL.md §4.2, §5), at most rate per second.
func writeTxs(t *testing.T, s network.Stream, txs [][]byte, rate int) {
	t.Helper()
	every := time.Second / time.Duration(rate)
	next := time.Now()
	var buf []byte
	for _, tx := range txs {
		buf = binary.AppendUvarint(buf[:0], uint64(len(tx)+1))
		buf = append(append(buf, 0x10), tx...)
		if _, err := s.Write(buf); err != nil {
			t.Fatalf("write a tx: %s", err)
		}
		next = next.Add(every)
		time.Sleep(time.Until(next))
	}
}

// TestAttackTinyTxsFillThePoolYetGossipGoesOn: a peer sends 6,000 tiny
// transactions, more than the victim's pool holds (5,000); the pool evicts
// its oldest, and new honest transactions still cross the victim.
func TestAttackTinyTxsFillThePoolYetGossipGoesOn(t *testing.T) {
	v := startVictim(t)
	sender, d := honestPair(t, v)
	h := plainHost(t, false)
	h.SetStreamHandler(wireMempoolCh, func(s network.Stream) { io.Copy(io.Discard, s); s.Reset() })
	connectTo(t, h, v)
	s, err := h.NewStream(context.Background(), v.info.ID, wireMempoolCh)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Reset()
	var txs [][]byte
	for i := range 6000 {
		txs = append(txs, []byte(fmt.Sprintf("tiny-%05d", i)))
	}
	writeTxs(t, s, txs, 3000) // within the ingest budget
	full := v.waitStat(func(s victimStat) bool { return s.received >= 6000 }, 20*time.Second)
	for range 50 {
		sender.mem.BroadcastTx(stampedTx(100))
	}
	waitFor(t, 10*time.Second, "the honest txs cross the victim", func() bool { return d.count() == 50 })
	after := v.waitStat(func(s victimStat) bool { return s.evicted >= 1050 }, 5*time.Second)
	t.Logf("6000 tiny txs: the victim's pool held %d, evicted %d; 50 honest txs then crossed it (p99 %s), pool %d, evicted %d",
		full.pool, full.evicted, d.percentile(99), after.pool, after.evicted)
	if after.evicted < 1000 || after.pool > 5000 {
		t.Errorf("pool %d, evicted %d", after.pool, after.evicted)
	}
}

// TestAttackFreshIdentitiesCannotPullThePoolAgainAndAgain: the victim's
// pool holds ~60 MiB when 30 fresh identities join at once and stay a few
// seconds, reading all they are sent. Each is sent at most the newest
// catch-up budget (8 MiB), and all of them together no faster than the
// catch-up pace (2 MiB/s).
func TestAttackFreshIdentitiesCannotPullThePoolAgainAndAgain(t *testing.T) {
	v := startVictim(t)
	sender, d := honestPair(t, v)
	for range 60 {
		sender.mem.BroadcastTx(stampedTx(1 << 20))
	}
	waitFor(t, 30*time.Second, "the pool fills", func() bool { return d.count() == 60 })
	var got atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range 30 {
		h := plainHost(t, false)
		h.SetStreamHandler(wireMempoolCh, func(s network.Stream) {
			n, _ := io.Copy(io.Discard, s)
			got.Add(n)
			s.Reset()
		})
		wg.Add(1)
		go func() {
			defer wg.Done()
			connectTo(t, h, v)
		}()
	}
	wg.Wait()
	time.Sleep(3 * time.Second)
	elapsed := time.Since(start)
	catchUp := v.last().catchUp
	t.Logf("30 fresh identities for %s: the victim sent %s of catch-up in all (its pool: %s)", elapsed.Round(time.Millisecond), mib(catchUp), mib(v.last().poolBytes))
	// The pace's burst (2 MiB), its rate, and a message in flight.
	if most := int64(2<<20) + int64(elapsed.Seconds()*(2<<20)) + 1<<20; catchUp > most {
		t.Errorf("catch-up of %s in %s, more than the pace allows (%s)", mib(catchUp), elapsed, mib(most))
	}
}

// TestAttackFloodsOfDuplicatesOrLargeTxsAreCutOff: a peer floods the
// victim with one transaction over and over, or with unique transactions
// at the size limit; either is dropped beyond the peer's ingest budget and
// the peer disconnected (not banned) once far beyond it, while honest
// transactions keep crossing the victim.
func TestAttackFloodsOfDuplicatesOrLargeTxsAreCutOff(t *testing.T) {
	for name, tx := range map[string]func(i int) []byte{
		"duplicates": func(int) []byte { return []byte("the same tx, again") },
		"large unique txs": func(i int) []byte {
			b := make([]byte, 1<<20)
			binary.BigEndian.PutUint64(b, uint64(i))
			return b
		},
	} {
		t.Run(name, func(t *testing.T) {
			// A budget below what the victim can process even on a loaded
			// machine under the race detector, so that the flood is over it.
			v := startVictim(t, fmt.Sprintf("%s=%d,%d", victimIngestEnv, 8<<20, 1000))
			sender, d := honestPair(t, v)
			h := plainHost(t, false)
			h.SetStreamHandler(wireMempoolCh, func(s network.Stream) { io.Copy(io.Discard, s); s.Reset() })
			connectTo(t, h, v)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go gossip(ctx, sender, 1024, 200<<10)
			start := time.Now()
			s, err := h.NewStream(ctx, v.info.ID, wireMempoolCh)
			if err != nil {
				t.Fatal(err)
			}
			sent := 0
			var buf []byte
			for i := 0; time.Since(start) < 20*time.Second; i++ {
				msg := tx(i)
				buf = binary.AppendUvarint(buf[:0], uint64(len(msg)+1))
				buf = append(append(buf, 0x10), msg...)
				if _, err := s.Write(buf); err != nil {
					break // disconnected
				}
				sent++
			}
			cut := time.Since(start)
			var reason string
			waitFor(t, 5*time.Second, "the victim reports the disconnect", func() bool {
				var ok bool
				reason, ok = v.doneReason(h.ID())
				return ok
			})
			cancel()
			after := time.Now()
			st := v.waitStat(func(s victimStat) bool { return s.at.After(after) }, 5*time.Second)
			t.Logf("flood of %s: %d messages in %s, then cut off (%s); the victim processed %d, dropped %d; honest txs %d, p99 %s",
				name, sent, cut.Round(time.Millisecond), reason, st.received, st.overBudget, d.count(), d.percentile(99))
			if !strings.Contains(reason, "ingest budget") {
				t.Fatalf("the flooder was not disconnected for its ingest budget: %q", reason)
			}
			if p99 := d.percentile(99); p99 > time.Second || d.count() == 0 {
				t.Errorf("honest delivery during the flood: %d txs, p99 %s", d.count(), p99)
			}
			// Not banned: it may come back.
			waitFor(t, 5*time.Second, "the flooder sees the disconnect", func() bool { return h.Network().Connectedness(v.info.ID) != network.Connected })
			connectTo(t, h, v)
		})
	}
}

// hostileAddrs is an Addrs message (PROTOCOL.md §6.4), encoded by hand, of
// 250 made-up peers at random loopback addresses (which a victim that
// dials them reaches nowhere but here).
func hostileAddrs(t *testing.T) []byte {
	t.Helper()
	msg := []byte{0x02}
	msg = binary.AppendUvarint(msg, 250)
	for range 250 {
		_, pub, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		id, err := peer.IDFromPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		var ip [3]byte
		rand.Read(ip[:])
		a := ma.StringCast(fmt.Sprintf("/ip4/127.%d.%d.%d/tcp/%d", ip[0], ip[1], ip[2], 1024+int(ip[0])*200))
		msg = binary.AppendUvarint(msg, uint64(len(id)))
		msg = append(msg, id...)
		msg = binary.AppendUvarint(msg, 1)
		msg = binary.AppendUvarint(msg, uint64(len(a.Bytes())))
		msg = append(msg, a.Bytes()...)
	}
	return append(binary.AppendUvarint(nil, uint64(len(msg))), msg...) // the frame's length, then the message
}

// TestAttackEightPEXSourcesCannotFillAFreshBook: a fresh node with two
// honest seeds is joined by 8 hostile peers that answer every PEX request
// with 250 made-up addresses. The node keeps at most its per-source share
// of them (from the hostile peers, and from the honest ones that relay what
// they learnt from the fresh node), so its book still needs more, it keeps
// asking the honest peers too, and learns the honest network from them.
func TestAttackEightPEXSourcesCannotFillAFreshBook(t *testing.T) {
	honest := pexNetwork(t, 6, func(int) p2p.Option { return tcpHostOptions() }, nodeConfig{})
	for _, n := range honest {
		n.startPEX(t)
	}
	discover(t, honest, 4, 30*time.Second)
	fresh := newNode(t, nodeConfig{
		swOpts:  []p2p.Option{tcpHostOptions()},
		seeds:   []*p2p.NetAddress{honest[1].addr(t), honest[2].addr(t)},
		pexOpts: []p2p.PEXOption{p2p.WithEnsurePeersPeriod(time.Second)},
	})
	var answered atomic.Int32
	for range 8 {
		h := plainHost(t, false)
		h.SetStreamHandler(wireTestCh, func(s network.Stream) { io.Copy(io.Discard, s); s.Reset() })
		h.SetStreamHandler(wirePEX, func(s network.Stream) {
			var req [2]byte
			if _, err := io.ReadFull(s, req[:]); err != nil || req != [2]byte{0x01, 0x01} {
				s.Reset()
				return
			}
			frame := hostileAddrs(t)
			if _, err := s.Write(frame); err == nil {
				answered.Add(1)
			}
			s.Close()
		})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := h.Connect(ctx, peer.AddrInfo{ID: fresh.sw.Host().ID(), Addrs: fresh.sw.Host().Addrs()}); err != nil {
			t.Fatal(err)
		}
		cancel()
	}
	waitFor(t, 10*time.Second, "the fresh node admits the hostile peers", func() bool { return fresh.sw.Peers().Size() >= 8 })
	fresh.startPEX(t)
	learnt := func() (honestAddrs int) {
		for _, n := range honest {
			if fresh.book.HasAddress(&p2p.NetAddress{ID: n.sw.Host().ID()}) {
				honestAddrs++
			}
		}
		return
	}
	waitFor(t, 30*time.Second, "the fresh node learns the whole honest network", func() bool {
		return learnt() == len(honest) && answered.Load() >= 8
	})
	time.Sleep(3 * time.Second) // more rounds of asking
	h := learnt()
	size := fresh.book.Size()
	out, _, _ := fresh.sw.NumPeers()
	t.Logf("a fresh node among 8 hostile PEX sources (%d answers of 250 made-up addresses): book of %d addresses, %d of them honest nodes', still needs more: %v; %d outbound peers",
		answered.Load(), size, h, fresh.book.NeedMoreAddrs(), out)
	// Honest peers that asked the fresh node relay some made-up addresses
	// too: each source, hostile or honest, has at most its share.
	if sources := 8 + len(honest); size-h > sources*62 {
		t.Errorf("the book holds %d made-up addresses, more than %d sources' share", size-h, sources)
	}
	if !fresh.book.NeedMoreAddrs() {
		t.Error("8 hostile sources made the book stop asking for addresses")
	}
	if h < len(honest) {
		t.Errorf("the book holds %d honest addresses of %d", h, len(honest))
	}
}

// TestAttackAnnouncementsOfAThirdPartyDoNotFloodIt: 50 identities each
// announce themselves at a third party's address, and leave. The node takes
// the addresses (an announcement is only about its sender), but dials that ip:port one at a
// time, and after a failed dial backs it off, whatever peer ID the address
// names: the third party sees a connection or two, not dozens.
func TestAttackAnnouncementsOfAThirdPartyDoNotFloodIt(t *testing.T) {
	third, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	var hits atomic.Int32
	go func() {
		for {
			c, err := third.Accept()
			if err != nil {
				return
			}
			hits.Add(1)
			c.Close()
		}
	}()
	thirdAddr := ma.StringCast(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", third.Addr().(*net.TCPAddr).Port))
	node := newNode(t, nodeConfig{swOpts: []p2p.Option{tcpHostOptions(), p2p.WithMaxPeers(60, 10)}, pexOpts: []p2p.PEXOption{p2p.WithEnsurePeersPeriod(time.Second)}})
	node.startPEX(t)
	target := peer.AddrInfo{ID: node.sw.Host().ID(), Addrs: node.sw.Host().Addrs()}
	accepted := 0
	for range 50 {
		h := plainHost(t, false)
		h.SetStreamHandler(wireTestCh, func(s network.Stream) { io.Copy(io.Discard, s); s.Reset() })
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := h.Connect(ctx, target); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "the node admits the announcer", func() bool { return node.sw.Peers().Has(h.ID().String()) })
		// Addrs{ {h's ID, [the third party's address]} }, as a frame.
		msg := []byte{0x02, 0x01}
		msg = binary.AppendUvarint(msg, uint64(len(h.ID())))
		msg = append(msg, h.ID()...)
		msg = append(msg, 0x01)
		msg = binary.AppendUvarint(msg, uint64(len(thirdAddr.Bytes())))
		msg = append(msg, thirdAddr.Bytes()...)
		s, err := h.NewStream(ctx, target.ID, wirePEX)
		if err != nil {
			t.Fatal(err)
		}
		s.Write(append(binary.AppendUvarint(nil, uint64(len(msg))), msg...))
		s.CloseWrite()
		if ack, err := io.ReadAll(s); err == nil && string(ack) == "\x02\x02\x00" { // PROTOCOL.md §6.2
			accepted++
		}
		cancel()
		h.Close() // gone: the node now has an address to dial for it
	}
	start := time.Now()
	time.Sleep(12 * time.Second)
	t.Logf("50 identities announced themselves at a third party's address (%d accepted): the node connected to it %d times in %s", accepted, hits.Load(), time.Since(start).Round(time.Second))
	if accepted < 45 {
		t.Errorf("only %d of 50 announcements were accepted", accepted)
	}
	if n := hits.Load(); n > 3 || n == 0 {
		t.Errorf("the third party got %d connections", n)
	}
}
