package pexcompat

import (
	"path"

	logging "github.com/ipfs/go-log/v2"
	"github.com/libp2p/go-libp2p/core/protocol"
)

var log = logging.Logger("switchyard/pex")

const (
	// ProtocolVersion is the version of the PEX wire protocol this package
	// speaks; it is the last element of ProtocolID. A change to the message
	// layout, to a limit or to an exchange needs a new version.
	ProtocolVersion = "1.1.0"

	// LegacyProtocolVersion is the version before ProtocolVersion, which a
	// Service still serves and speaks with WithLegacyProtocol: the same
	// messages and limits, but an accepted announcement is closed without
	// an acknowledgement, so the announcer cannot tell acceptance from a
	// connection that closed.
	LegacyProtocolVersion = "1.0.0"

	// ServiceName is the resource-manager service scope every PEX stream is
	// attached to (in both directions), so a resource manager can give PEX
	// its own stream and memory limits.
	ServiceName = "switchyard.pex"
)

// ProtocolID returns the libp2p protocol ID of PEX on the named network:
// "/switchyard/" + network + "/pex/1.1.0". The network name (chain ID)
// keeps two Switchyard networks apart: peers of another network do not
// negotiate the protocol, so they never exchange addresses. ProtocolID does
// not validate network; callers pass a name they validated (non-empty,
// without '/' or whitespace), as the p2p package does.
func ProtocolID(network string) protocol.ID {
	return protocol.ID("/switchyard/" + network + "/pex/" + ProtocolVersion)
}

// LegacyProtocolID is ProtocolID for LegacyProtocolVersion (1.0.0).
func LegacyProtocolID(network string) protocol.ID {
	return protocol.ID("/switchyard/" + network + "/pex/" + LegacyProtocolVersion)
}

// acknowledges reports whether an accepted announcement is acknowledged on
// a stream of protocol id: on every version but 1.0.0, whose IDs end in
// "/1.0.0".
func acknowledges(id protocol.ID) bool {
	return path.Base(string(id)) != LegacyProtocolVersion
}
