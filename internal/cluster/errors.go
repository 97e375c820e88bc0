package cluster

import (
	"errors"
	"fmt"
)

// Sentinel errors of the cluster package. Callers test them with
// errors.Is; none names a flag (internal/cli adds what to do).
var (
	// ErrUnavailable: the cluster store (Redis) cannot be reached, so
	// nothing that spans nodes can be done now. Local rooms keep working.
	ErrUnavailable = errors.New("cluster store unreachable")
	// ErrDraining: this node is draining and takes no new rooms.
	ErrDraining = errors.New("node is draining: it takes no new rooms")
	// ErrNoOrigin: no node holds the room's origin lease (no publisher).
	ErrNoOrigin = errors.New("room has no origin node")
	// ErrNodeGone: the room's origin lease names a node that is down (its
	// record has expired, or its HTTP refuses or does not answer:
	// Config.Liveness); Claim takes such a lease over.
	ErrNodeGone = errors.New("room's origin node is gone")
	// ErrNotMember: the room has no member on this node, so this node
	// does not follow its channel.
	ErrNotMember = errors.New("room has no member on this node")
	// ErrClosed: the node has been closed.
	ErrClosed = errors.New("cluster node closed")
)

// StoreError is a failed exchange with the cluster store. It matches
// ErrUnavailable.
type StoreError struct {
	Op  string // what was being done, e.g. "claiming room origin"
	Err error
}

func (e *StoreError) Error() string { return fmt.Sprintf("%s: %v: %v", e.Op, ErrUnavailable, e.Err) }

func (e *StoreError) Unwrap() []error { return []error{ErrUnavailable, e.Err} }

// ConfigError is a configuration the node cannot run with.
type ConfigError struct {
	Field  string // the Config field
	Reason string
}

func (e *ConfigError) Error() string { return fmt.Sprintf("cluster config %s: %s", e.Field, e.Reason) }

// MessageError is a room channel message or node record read from the
// store that cannot be used: too large, not JSON, or missing what its kind
// needs. The node counts and drops such messages.
type MessageError struct {
	What   string // "room message" or "node record"
	Reason string
}

func (e *MessageError) Error() string { return fmt.Sprintf("malformed %s: %s", e.What, e.Reason) }
