package p2p

import (
	"errors"
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the Switch's Prometheus metrics. Per-message counters are
// resolved per channel once, so the hot path only adds to them.
type metrics struct {
	reg        prometheus.Registerer
	collectors []prometheus.Collector
	peers      *prometheus.GaugeVec
	peerErrors prometheus.Counter
	penalties  *prometheus.CounterVec
	nonPeers   prometheus.Counter
	dials      *prometheus.CounterVec
	byChannel  [256]*channelStats
}

// channelStats counts one channel's traffic.
type channelStats struct {
	sentBytes, sentMsgs, recvBytes, recvMsgs prometheus.Counter
}

// sent counts a batch of msgs messages of size bytes in all.
func (c *channelStats) sent(msgs, size int) {
	c.sentBytes.Add(float64(size))
	c.sentMsgs.Add(float64(msgs))
}

// received counts msgs messages of size bytes in all.
func (c *channelStats) received(msgs, size int) {
	if msgs == 0 {
		return
	}
	c.recvBytes.Add(float64(size))
	c.recvMsgs.Add(float64(msgs))
}

func newMetrics(sw *Switch, reg prometheus.Registerer) (*metrics, error) {
	const ns, sub = "switchyard", "p2p"
	m := &metrics{reg: reg}
	m.peers = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: ns, Subsystem: sub, Name: "peers",
		Help: "Connected peers, by direction.",
	}, []string{"direction"})
	m.peerErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "peer_errors_total",
		Help: "Peers stopped for a fault and banned (see peer_penalties_total for all penalties).",
	})
	m.penalties = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "peer_penalties_total",
		Help: "Penalties given to peers, by penalty (drop, disconnect, ban) and reason.",
	}, []string{"penalty", "reason"})
	m.nonPeers = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "non_peer_connections_closed_total",
		Help: "Connections closed because their remote did not become a peer in time.",
	})
	m.dials = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "dials_total",
		Help: "Outcomes of DialPeerWithAddress.",
	}, []string{"result"})
	bytes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "channel_bytes_total",
		Help: "Message bytes (without framing) by channel and direction.",
	}, []string{"channel", "direction"})
	msgs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "channel_messages_total",
		Help: "Messages by channel and direction.",
	}, []string{"channel", "direction"})
	queues := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: ns, Subsystem: sub, Name: "send_queue_messages",
		Help: "Messages waiting in the send queues of all peers and channels.",
	}, func() float64 {
		n := 0
		for _, p := range sw.peers.List() {
			for _, c := range p.mconn.chans {
				n += c.queue.len()
			}
		}
		return float64(n)
	})
	held := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: ns, Subsystem: sub, Name: "peer_memory_bytes",
		Help: "Bytes the peers make the Switch hold (queued to them, frames from them, their messages waiting for Receive), reserved in their resource-manager scopes.",
	}, func() float64 {
		var n int64
		for _, p := range sw.peers.List() {
			n += p.mconn.budget.held()
		}
		return float64(n)
	})
	recvQueues := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: ns, Subsystem: sub, Name: "recv_queue_messages",
		Help: "Received messages waiting for Receive, all channels.",
	}, func() float64 {
		n := 0
		for _, d := range sw.chDescs {
			n += sw.recvQueues[d.Id].len()
		}
		return float64(n)
	})
	for _, d := range sw.chDescs {
		ch := fmt.Sprintf("%02x", d.Id)
		m.byChannel[d.Id] = &channelStats{
			sentBytes: bytes.WithLabelValues(ch, "sent"),
			sentMsgs:  msgs.WithLabelValues(ch, "sent"),
			recvBytes: bytes.WithLabelValues(ch, "received"),
			recvMsgs:  msgs.WithLabelValues(ch, "received"),
		}
	}
	m.collectors = []prometheus.Collector{m.peers, m.peerErrors, m.penalties, m.nonPeers, m.dials, bytes, msgs, queues, held, recvQueues}
	for i, c := range m.collectors {
		if err := reg.Register(c); err != nil {
			for _, done := range m.collectors[:i] {
				reg.Unregister(done)
			}
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) unregister() {
	for _, c := range m.collectors {
		m.reg.Unregister(c)
	}
}

func (m *metrics) channel(id byte) *channelStats { return m.byChannel[id] }

func (m *metrics) peerAdded(outbound bool)   { m.peers.WithLabelValues(direction(outbound)).Inc() }
func (m *metrics) peerRemoved(outbound bool) { m.peers.WithLabelValues(direction(outbound)).Dec() }

func (m *metrics) dialed(err error) {
	if m == nil {
		return
	}
	result := "ok"
	switch {
	case err == nil:
	case errors.Is(err, ErrSwitchDuplicatePeer):
		result = "duplicate"
	case errors.Is(err, ErrPeerBanned), errors.Is(err, ErrMaxPeers), errors.Is(err, ErrDialSelf):
		result = "refused"
	case errors.Is(err, ErrNotSwitchyardPeer):
		result = "not_switchyard"
	default:
		result = "failed"
	}
	m.dials.WithLabelValues(result).Inc()
}

func direction(outbound bool) string {
	if outbound {
		return "outbound"
	}
	return "inbound"
}

func (m *metrics) nonPeerClosed() { m.nonPeers.Inc() }

// penalized counts a penalty, and a ban among the peer errors too.
func (m *metrics) penalized(p Penalty, reason error) {
	m.penalties.WithLabelValues(p.String(), reasonLabel(reason)).Inc()
	if p == PenaltyBan {
		m.peerErrors.Inc()
	}
}

// reasonLabels name the reasons of penalties in metrics: the first sentinel
// that reason wraps, or "other". The set is fixed, so the label's
// cardinality is bounded whatever peers send.
var reasonLabels = []struct {
	err   error
	label string
}{
	{ErrBadFrame, "bad_frame"},
	{ErrMessageTooLarge, "message_too_large"},
	{ErrPeerStalled, "stalled"},
	{ErrPeerMemory, "memory"},
	{ErrPEXFlood, "pex_flood"},
	{ErrPEXBadAnswer, "pex_bad_answer"},
	{ErrStreamLimit, "stream_limit"},
}

// RegisterPenaltyReason names err in the metrics of penalties given for a
// reason that wraps it (agents call it for their own sentinels, before
// starting). Reasons that wrap no registered error count as "other".
func RegisterPenaltyReason(err error, label string) {
	reasonMu.Lock()
	defer reasonMu.Unlock()
	for _, r := range reasonLabels {
		if r.err == err {
			return
		}
	}
	reasonLabels = append(reasonLabels, struct {
		err   error
		label string
	}{err, label})
}

var reasonMu sync.Mutex

func reasonLabel(reason error) string {
	reasonMu.Lock()
	defer reasonMu.Unlock()
	for _, r := range reasonLabels {
		if errors.Is(reason, r.err) {
			return r.label
		}
	}
	return "other"
}
