package wire

import (
	"errors"
	"fmt"

	"lethe/crypto"
)

// Outcomes a node reports for a request, insert or announcement (spec §10.3), whether its
// own or a peer's: package routing uses these very values as its outcomes. Callers branch on
// them with errors.Is; ReplyError and ErrorReply, the one place where failure messages and
// errors meet, convert between them and the messages that carry them.
var (
	ErrDataNotFound  = errors.New("data not found")
	ErrRouteNotFound = errors.New("route not found")
	ErrRejectedLoop  = errors.New("rejected: request seen already (loop)")
	ErrOverloaded    = errors.New("overloaded")
	// ErrCollision is crypto.ErrCollision: the SSK slot holds a different block.
	ErrCollision = crypto.ErrCollision
)

// RouteNotFoundError is ErrRouteNotFound with the hops-to-live that were left, which the
// previous hop may spend on another peer.
type RouteNotFoundError struct{ HTL uint8 }

func (e *RouteNotFoundError) Error() string {
	return fmt.Sprintf("route not found (%d hops to live left)", e.HTL)
}

func (e *RouteNotFoundError) Unwrap() error { return ErrRouteNotFound }

// CollisionError is ErrCollision with the block that holds the slot.
type CollisionError struct{ Existing []byte }

func (e *CollisionError) Error() string { return ErrCollision.Error() }
func (e *CollisionError) Unwrap() error { return ErrCollision }

// ReplyError is the error a failure reply reports, or nil if m is not a failure reply.
// With ErrorReply it is the one place where failure messages and errors meet.
func ReplyError(m Message) error {
	switch m := m.(type) {
	case *DataNotFound:
		return ErrDataNotFound
	case *RouteNotFound:
		return &RouteNotFoundError{HTL: m.HTL}
	case *RejectedLoop:
		return ErrRejectedLoop
	case *RejectedOverload:
		return ErrOverloaded
	case *InsertCollision:
		return &CollisionError{Existing: m.Block}
	}
	return nil
}

// ErrorReply is the failure reply that reports err for the request id, and false if err is
// none of the outcomes above. A RouteNotFoundError keeps its HTL and a CollisionError its
// block; plain ErrRouteNotFound reports HTL 0.
func ErrorReply(id uint64, err error) (Message, bool) {
	var rnf *RouteNotFoundError
	var coll *CollisionError
	switch {
	case errors.As(err, &rnf):
		return &RouteNotFound{ID: id, HTL: rnf.HTL}, true
	case errors.Is(err, ErrRouteNotFound):
		return &RouteNotFound{ID: id}, true
	case errors.As(err, &coll):
		return &InsertCollision{ID: id, Block: coll.Existing}, true
	case errors.Is(err, ErrDataNotFound):
		return &DataNotFound{ID: id}, true
	case errors.Is(err, ErrRejectedLoop):
		return &RejectedLoop{ID: id}, true
	case errors.Is(err, ErrOverloaded):
		return &RejectedOverload{ID: id}, true
	}
	return nil, false
}
