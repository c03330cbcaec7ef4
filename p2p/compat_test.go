package p2p

import (
	"net"
	"time"
)

// These assignments pin the signatures that COMPAT.md promises: a change to
// any of them breaks the build of this package's tests.
var (
	_ func([]*ChannelDescriptor, ...Option) *Switch      = NewSwitch
	_ func(*Switch) error                                = (*Switch).Start
	_ func(*Switch)                                      = (*Switch).Stop
	_ func(*Switch, net.Conn, bool) (*Peer, error)       = (*Switch).AddPeerWithConnection
	_ func(*Switch, *NetAddress) (*Peer, error)          = (*Switch).DialPeerWithAddress
	_ func(*Switch, *NetAddress) bool                    = (*Switch).IsDialing
	_ func(*Switch, byte, Binary) (int, int)             = (*Switch).Broadcast
	_ func(*Switch, string, chan<- interface{})          = (*Switch).AddEventListener
	_ func(*Switch, string)                              = (*Switch).RemoveEventListener
	_ func(*Switch, byte) (InboundBytes, bool)           = (*Switch).Receive
	_ func(*Switch) (int, int, int)                      = (*Switch).NumPeers
	_ func(*Switch) IPeerSet                             = (*Switch).Peers
	_ func(*Switch, *Peer, interface{})                  = (*Switch).StopPeerForError
	_ func(*Switch, *Peer)                               = (*Switch).StopPeerGracefully
	_ error                                              = ErrSwitchStopped
	_ error                                              = ErrSwitchDuplicatePeer
	_                                                    = SwitchEventNewPeer{Peer: (*Peer)(nil)}
	_                                                    = SwitchEventDonePeer{Peer: (*Peer)(nil), Error: interface{}(nil)}
	_ func(*Peer) bool                                   = (*Peer).IsOutbound
	_ func(*Peer, byte, Binary) bool                     = (*Peer).Send
	_ func(*Peer, byte, Binary) bool                     = (*Peer).TrySend
	_ func(*Peer, byte) bool                             = (*Peer).CanSend
	_ func(*Peer) string                                 = (*Peer).String
	_ func(*Peer, *Peer) bool                            = (*Peer).Equals
	_                                                    = Peer{Key: ""}
	_ IPeerSet                                           = NewPeerSet()
	_                                                    = InboundBytes{MConn: &MConnection{Peer: nil, LocalAddress: nil, RemoteAddress: nil}, Bytes: nil}
	_                                                    = ChannelDescriptor{Id: 0, SendQueueCapacity: 0, RecvQueueCapacity: 0, RecvBufferSize: 0, DefaultPriority: 0}
	_ Binary                                             = ByteSlice(nil)
	_ Binary                                             = TypedMessage{Type: 0, Msg: ByteSlice(nil)}
	_                                                    = NetAddress{IP: nil, Port: 0}
	_ func(net.Addr) *NetAddress                         = NewNetAddress
	_ func(string) *NetAddress                           = NewNetAddressString
	_ func(net.IP, uint16) *NetAddress                   = NewNetAddressIPPort
	_ func(*NetAddress, interface{}) bool                = (*NetAddress).Equals
	_ func(*NetAddress, interface{}) bool                = (*NetAddress).Less
	_ func(*NetAddress) string                           = (*NetAddress).String
	_ func(*NetAddress) (net.Conn, error)                = (*NetAddress).Dial
	_ func(*NetAddress, time.Duration) (net.Conn, error) = (*NetAddress).DialTimeout
	_ func(*NetAddress) bool                             = (*NetAddress).Routable
	_ func(*NetAddress) bool                             = (*NetAddress).Valid
	_ func(*NetAddress) bool                             = (*NetAddress).Local
	_ func(*NetAddress, *NetAddress) int                 = (*NetAddress).ReachabilityTo
	_ func(*NetAddress) bool                             = (*NetAddress).RFC1918
	_ func(*NetAddress) bool                             = (*NetAddress).RFC3849
	_ func(*NetAddress) bool                             = (*NetAddress).RFC3927
	_ func(*NetAddress) bool                             = (*NetAddress).RFC3964
	_ func(*NetAddress) bool                             = (*NetAddress).RFC4193
	_ func(*NetAddress) bool                             = (*NetAddress).RFC4380
	_ func(*NetAddress) bool                             = (*NetAddress).RFC4843
	_ func(*NetAddress) bool                             = (*NetAddress).RFC4862
	_ func(*NetAddress) bool                             = (*NetAddress).RFC6052
	_ func(*NetAddress) bool                             = (*NetAddress).RFC6145
	_ func(string, ...AddrBookOption) *AddrBook          = NewAddrBook
	_ func(*AddrBook) error                              = (*AddrBook).Start
	_ func(*AddrBook)                                    = (*AddrBook).Stop
	_ func(*AddrBook, *NetAddress)                       = (*AddrBook).AddOurAddress
	_ func(*AddrBook) []*NetAddress                      = (*AddrBook).OurAddresses
	_ func(*AddrBook, *NetAddress, *NetAddress) error    = (*AddrBook).AddAddress
	_ func(*AddrBook) bool                               = (*AddrBook).NeedMoreAddrs
	_ func(*AddrBook) int                                = (*AddrBook).Size
	_ func(*AddrBook, int) *NetAddress                   = (*AddrBook).PickAddress
	_ func(*AddrBook, *NetAddress)                       = (*AddrBook).MarkGood
	_ func(*AddrBook, *NetAddress)                       = (*AddrBook).MarkAttempt
	_ func(*AddrBook, *NetAddress)                       = (*AddrBook).MarkBad
	_ func(*AddrBook) []*NetAddress                      = (*AddrBook).GetSelection
	_ func(*Switch, *AddrBook, ...PEXOption) *PEXAgent   = NewPEXAgent
	_ func(*PEXAgent) error                              = (*PEXAgent).Start
	_ func(*PEXAgent)                                    = (*PEXAgent).Stop
	_ func(*PEXAgent, *Peer)                             = (*PEXAgent).RequestPEX
	_ func(*PEXAgent, *Peer, []*NetAddress)              = (*PEXAgent).SendAddrs
	_ byte                                               = PexCh
	_ func(string, string) Listener                      = NewDefaultListener
	_ func(Listener) <-chan net.Conn                     = Listener.Connections
	_ func(Listener) *NetAddress                         = Listener.ExternalAddress
	_ func(Listener)                                     = Listener.Stop
)
