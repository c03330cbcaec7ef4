package pexcompat

import (
	logging "github.com/ipfs/go-log/v2"
	"github.com/libp2p/go-libp2p/core/protocol"
)

var log = logging.Logger("switchyard/pex")

const (
	// ProtocolVersion is the version of the PEX wire protocol this package
	// speaks; it is the last element of ProtocolID. A change to the message
	// layout or to a limit needs a new version.
	ProtocolVersion = "1.0.0"

	// ServiceName is the resource-manager service scope every PEX stream is
	// attached to (in both directions), so a resource manager can give PEX
	// its own stream and memory limits.
	ServiceName = "switchyard.pex"
)

// ProtocolID returns the libp2p protocol ID of PEX on the named network:
// "/switchyard/" + network + "/pex/1.0.0". The network name (chain ID)
// keeps two Switchyard networks apart: peers of another network do not
// negotiate the protocol, so they never exchange addresses. ProtocolID does
// not validate network; callers pass a name they validated (non-empty,
// without '/' or whitespace), as the p2p package does.
func ProtocolID(network string) protocol.ID {
	return protocol.ID("/switchyard/" + network + "/pex/" + ProtocolVersion)
}
