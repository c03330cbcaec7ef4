package mempool_test

import (
	"errors"
	"fmt"
	"time"

	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"

	"github.com/switchyard-p2p/switchyard/mempool"
	"github.com/switchyard-p2p/switchyard/p2p"
)

// A consumer (a block proposer, say) reaps transactions in arrival order and
// tells the pool which were committed.
func ExampleMempool() {
	m := mempool.NewMempool(mempool.WithValidator(func(tx []byte) error {
		if len(tx) == 0 || tx[0] == '!' {
			return errors.New("rejected")
		}
		return nil
	}))
	for _, tx := range []string{"pay alice 5", "pay bob 7", "!bogus", "pay alice 5"} {
		if err := m.AddTx([]byte(tx)); err != nil {
			fmt.Printf("%q: %v\n", tx, err)
		}
	}
	for _, tx := range m.Reap(10) {
		fmt.Printf("reaped %q\n", tx)
	}
	m.Update([][]byte{[]byte("pay alice 5")})
	fmt.Println("left:", m.Size())
	fmt.Println("re-add committed:", m.AddTx([]byte("pay alice 5")))
	// Output:
	// "!bogus": mempool: invalid tx: rejected
	// "pay alice 5": mempool: tx already seen
	// reaped "pay alice 5"
	// reaped "pay bob 7"
	// left: 1
	// re-add committed: mempool: tx already seen
}

// Two Switches on go-libp2p's in-memory network gossip a transaction.
func ExampleMempoolAgent() {
	mn, err := mocknet.FullMeshLinked(2)
	if err != nil {
		panic(err)
	}
	defer mn.Close()
	var agents []*mempool.MempoolAgent
	for _, h := range mn.Hosts() {
		sw := p2p.NewSwitch([]*p2p.ChannelDescriptor{mempool.ChannelDescriptor(0)}, p2p.WithHost(h))
		if err := sw.Start(); err != nil {
			panic(err)
		}
		defer sw.Stop()
		agent := mempool.NewMempoolAgent(sw, mempool.NewMempool())
		agent.Start()
		defer agent.Stop()
		agents = append(agents, agent)
	}
	// Connect the hosts; the Switches admit each other as peers.
	if _, err := mn.ConnectPeers(mn.Hosts()[0].ID(), mn.Hosts()[1].ID()); err != nil {
		panic(err)
	}

	tx := []byte("pay carol 3")
	if err := agents[0].BroadcastTx(tx); err != nil {
		panic(err)
	}
	for !agents[1].Mempool().Has(mempool.HashTx(tx)) {
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Printf("the peer has %q\n", agents[1].Mempool().Reap(1)[0])
	// Output: the peer has "pay carol 3"
}
