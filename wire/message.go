package wire

import (
	"fmt"
	"time"

	"lethe/crypto"
)

// Spec constants (spec §10). Changing one changes the protocol.
const (
	// MinVersion and MaxVersion are the wire versions this build speaks. Two nodes agree on
	// the highest version both speak in their Hello messages (spec §10.1).
	MinVersion = 1
	MaxVersion = 1

	// MaxHTL is the largest hops-to-live a request, insert or announcement may carry.
	MaxHTL = 18
	// MaxTimeout is the longest time a request may ask its next hop to keep trying.
	MaxTimeout = 5 * time.Minute
	// MaxPeerLocations bounds a list of neighbour locations (swaps, location updates).
	MaxPeerLocations = 100

	// MaxMessageSize is the largest encoding of any message: an insert of a CHK block.
	MaxMessageSize = 1 + 8 + 1 + 1 + 8 + crypto.KeySize + 4 + crypto.CHKBlockSize
	// MaxSmallMessage is the largest encoding of a message that fits one small frame (spec
	// §11.2): a small tunnel cell. Every message without a block fits one but TunnelKey and
	// TunnelCreate, so their types cannot be told by size; the longest after the cell is an
	// Announcement, 1 + 8 + 1 + 8 + 2 + MaxNodeRefSize = 920 bytes.
	MaxSmallMessage = TunnelCellSize
)

// flagTail is the flag bit for Request.Tail and Insert.Tail.
const flagTail = 0x01

// Type is the first byte of every encoded message.
type Type uint8

// Message types (spec §10.2). Request, Insert and DataReply have one type per key family.
const (
	TypeHello             Type = 0x01
	TypeKeepalive         Type = 0x02
	TypeObservedAddress   Type = 0x03
	TypeNodeRefUpdate     Type = 0x04
	TypePunchRequest      Type = 0x05
	TypePunchIntro        Type = 0x06
	TypeCHKRequest        Type = 0x10
	TypeSSKRequest        Type = 0x11
	TypeCHKInsert         Type = 0x12
	TypeSSKInsert         Type = 0x13
	TypeCHKDataReply      Type = 0x14
	TypeSSKDataReply      Type = 0x15
	TypeAccepted          Type = 0x16
	TypeInsertReply       Type = 0x17
	TypeInsertCollision   Type = 0x18
	TypeDataNotFound      Type = 0x20
	TypeRouteNotFound     Type = 0x21
	TypeRejectedLoop      Type = 0x22
	TypeRejectedOverload  Type = 0x23
	TypeNodeRefOffer      Type = 0x30
	TypeAnnouncement      Type = 0x31
	TypeAnnouncementReply Type = 0x32
	TypeSwapRequest       Type = 0x40
	TypeSwapReply         Type = 0x41
	TypeSwapCommit        Type = 0x42
	TypeLocationUpdate    Type = 0x43
	TypeOfferKey          Type = 0x50
)

var typeNames = map[Type]string{
	TypeHello: "Hello", TypeKeepalive: "Keepalive",
	TypeObservedAddress: "ObservedAddress", TypeNodeRefUpdate: "NodeRefUpdate",
	TypePunchRequest: "PunchRequest", TypePunchIntro: "PunchIntro",
	TypeCHKRequest: "CHKRequest", TypeSSKRequest: "SSKRequest",
	TypeCHKInsert: "CHKInsert", TypeSSKInsert: "SSKInsert",
	TypeCHKDataReply: "CHKDataReply", TypeSSKDataReply: "SSKDataReply",
	TypeAccepted: "Accepted", TypeInsertReply: "InsertReply", TypeInsertCollision: "InsertCollision",
	TypeDataNotFound: "DataNotFound", TypeRouteNotFound: "RouteNotFound",
	TypeRejectedLoop: "RejectedLoop", TypeRejectedOverload: "RejectedOverload",
	TypeNodeRefOffer: "NodeRefOffer", TypeAnnouncement: "Announcement",
	TypeAnnouncementReply: "AnnouncementReply",
	TypeSwapRequest:       "SwapRequest", TypeSwapReply: "SwapReply", TypeSwapCommit: "SwapCommit",
	TypeLocationUpdate: "LocationUpdate", TypeOfferKey: "OfferKey",
}

func (t Type) String() string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("Type(%#02x)", uint8(t))
}

// Message is one of the message types of this package. The set is closed: only the types
// here implement it.
type Message interface {
	Type() Type
	encode(e *encoder)
}

// Hello opens every link in both directions (spec §10.1): the wire versions the sender
// speaks and its noderef, which must name the identity the link authenticated.
type Hello struct {
	MinVersion, MaxVersion uint8
	Ref                    *NodeRef
}

// Keepalive keeps an idle link alive; the transport sends and consumes it.
type Keepalive struct{}

// Request asks for the block under Key (CHKRequest or SSKRequest by KeyType).
type Request struct {
	KeyType crypto.KeyType // crypto.CHK or crypto.SSK
	ID      uint64         // random, chosen by the originator, kept along the path
	HTL     uint8          // hops to live, at most MaxHTL
	// Tail marks a request that has reached a node no route improves on, in the key's
	// neighbourhood: it goes on from node to nearest node, where inserts keep their copies
	// (spec §18.3).
	Tail bool
	// Stem picks the stem's hops (spec §18.2): all requests of one download carry the same
	// tag and walk the same stem. It is zero below HTL 18.
	Stem    uint64
	Key     crypto.RoutingKey
	Timeout time.Duration // how long the receiver may search; whole milliseconds, at most MaxTimeout
}

// Insert stores a block under Key (CHKInsert or SSKInsert by KeyType).
type Insert struct {
	KeyType crypto.KeyType
	ID      uint64
	HTL     uint8
	// Tail marks an insert that a node nearest its key has already stored: the few hops
	// left walk to the key's other nearest nodes, which keep copies (spec §18.4).
	Tail bool
	// Stem is as Request.Stem: all inserts of one upload walk the same stem.
	Stem    uint64
	Key     crypto.RoutingKey
	Timeout time.Duration
	Block   []byte // exactly crypto.CHKBlockSize or crypto.SSKBlockSize bytes
}

// DataReply answers a Request with the block (CHKDataReply or SSKDataReply by KeyType).
// The transport splits it across frames so that it does not hold up smaller messages.
type DataReply struct {
	KeyType crypto.KeyType
	ID      uint64
	Block   []byte
}

// Accepted tells the sender of a request or insert that the receiver is working on it.
type Accepted struct{ ID uint64 }

// InsertReply reports that an insert was stored as far as its HTL reached.
type InsertReply struct{ ID uint64 }

// InsertCollision reports that a different block already holds an SSK slot; it carries the
// existing block, which wins (spec §4.3).
type InsertCollision struct {
	ID    uint64
	Block []byte // crypto.SSKBlockSize bytes
}

// DataNotFound: the request ran out of HTL without finding the block.
type DataNotFound struct{ ID uint64 }

// RouteNotFound: the receiver had no peer left to try; HTL is what was left, so the sender
// can try another peer with it (backtracking).
type RouteNotFound struct {
	ID  uint64
	HTL uint8
}

// RejectedLoop: the receiver has already seen this request ID.
type RejectedLoop struct{ ID uint64 }

// RejectedOverload: the receiver will not take the request now.
type RejectedOverload struct{ ID uint64 }

// NodeRefOffer travels back along the path of a successful request for path folding.
type NodeRefOffer struct {
	ID  uint64
	Ref *NodeRef
}

// Announcement introduces a newcomer (opennet) towards Target, carrying its noderef.
type Announcement struct {
	ID     uint64
	HTL    uint8
	Target crypto.Location
	Ref    *NodeRef
}

// AnnouncementReply offers the newcomer the noderef of a node willing to peer with it.
type AnnouncementReply struct {
	ID  uint64
	Ref *NodeRef
}

// SwapRequest starts a location swap (darknet): a random walk of HTL hops carrying a
// commitment to the initiator's random value.
type SwapRequest struct {
	ID         uint64
	HTL        uint8
	Commitment [32]byte
}

// SwapReply answers a SwapRequest with the responder's random value, location and its
// neighbours' locations.
type SwapReply struct {
	ID            uint64
	Random        [32]byte
	Location      crypto.Location
	PeerLocations []crypto.Location // at most MaxPeerLocations
}

// SwapCommit completes a swap with the initiator's random value (opening its commitment),
// location and neighbours' locations.
type SwapCommit struct {
	ID            uint64
	Random        [32]byte
	Location      crypto.Location
	PeerLocations []crypto.Location
}

// LocationUpdate tells a peer the sender's location and its neighbours' locations (FOAF
// routing).
type LocationUpdate struct {
	Location      crypto.Location
	PeerLocations []crypto.Location
}

// OfferKey tells a peer that asked for Key recently that the block has appeared (the
// recently-failed table).
type OfferKey struct {
	KeyType crypto.KeyType
	Key     crypto.RoutingKey
}

func (m *Hello) Type() Type             { return TypeHello }
func (m *Keepalive) Type() Type         { return TypeKeepalive }
func (m *Accepted) Type() Type          { return TypeAccepted }
func (m *InsertReply) Type() Type       { return TypeInsertReply }
func (m *InsertCollision) Type() Type   { return TypeInsertCollision }
func (m *DataNotFound) Type() Type      { return TypeDataNotFound }
func (m *RouteNotFound) Type() Type     { return TypeRouteNotFound }
func (m *RejectedLoop) Type() Type      { return TypeRejectedLoop }
func (m *RejectedOverload) Type() Type  { return TypeRejectedOverload }
func (m *NodeRefOffer) Type() Type      { return TypeNodeRefOffer }
func (m *Announcement) Type() Type      { return TypeAnnouncement }
func (m *AnnouncementReply) Type() Type { return TypeAnnouncementReply }
func (m *SwapRequest) Type() Type       { return TypeSwapRequest }
func (m *SwapReply) Type() Type         { return TypeSwapReply }
func (m *SwapCommit) Type() Type        { return TypeSwapCommit }
func (m *LocationUpdate) Type() Type    { return TypeLocationUpdate }
func (m *OfferKey) Type() Type          { return TypeOfferKey }

// Type is TypeCHKRequest or TypeSSKRequest; a request of another key type does not encode.
func (m *Request) Type() Type { return byKeyType(m.KeyType, TypeCHKRequest, TypeSSKRequest) }

// Type is TypeCHKInsert or TypeSSKInsert.
func (m *Insert) Type() Type { return byKeyType(m.KeyType, TypeCHKInsert, TypeSSKInsert) }

// Type is TypeCHKDataReply or TypeSSKDataReply.
func (m *DataReply) Type() Type { return byKeyType(m.KeyType, TypeCHKDataReply, TypeSSKDataReply) }

// byKeyType picks the message type of a key family; 0, which no decoder accepts, for any
// other.
func byKeyType(k crypto.KeyType, chk, ssk Type) Type {
	switch k {
	case crypto.CHK:
		return chk
	case crypto.SSK:
		return ssk
	}
	return 0
}
