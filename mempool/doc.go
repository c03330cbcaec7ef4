// Package mempool is the MempoolAgent of the 2014 p2p README made real: a
// small transaction pool (validation, de-duplication, arrival order, size
// caps, Reap and Update for a consumer) and an agent that gossips every new
// transaction, on channel MempoolCh, to each peer that does not have it yet.
//
// A Switch that runs the agent must include ChannelDescriptor() among its
// channels.
package mempool

import logging "github.com/ipfs/go-log/v2"

var log = logging.Logger("switchyard/mempool")
