package cluster

import (
	"encoding/json"
	"fmt"
)

// What the node reads from the store comes from every other node, and from
// whatever else can write to the same Redis: it is checked before use.
const (
	// maxEnvelope bounds a room channel message: a chat message of
	// signal.MaxChatLen with every character escaped fits with room to
	// spare, as does any membership event.
	maxEnvelope = 256 << 10
	// maxRecord bounds a node record: maxRecordRooms rooms with long
	// names fit.
	maxRecord = 1 << 20
	// maxListed bounds the publishers a node names in its counts: a
	// joined reply lists at most --room-list-limit (default 100) anyway.
	maxListed = 100
)

// decodeJSON reads s, at most max bytes, as a T; check says what a
// decoded T lacks ("" when nothing).
func decodeJSON[T any](what, s string, max int, check func(*T) string) (T, error) {
	var v T
	reason := ""
	if len(s) > max {
		reason = fmt.Sprintf("%d bytes, more than %d", len(s), max)
	} else if err := json.Unmarshal([]byte(s), &v); err != nil {
		reason = err.Error()
	} else {
		reason = check(&v)
	}
	if reason != "" {
		var zero T
		return zero, &MessageError{What: what, Reason: reason}
	}
	return v, nil
}

// decodeEnvelope reads one room channel message.
func decodeEnvelope(payload string) (envelope, error) {
	return decodeJSON("room message", payload, maxEnvelope, func(e *envelope) string {
		if e.Node == "" {
			return "no sending node"
		}
		switch e.Kind {
		case kindChat:
			if e.Chat == nil || e.Seq == 0 {
				return "chat without a message or a seq"
			}
		case kindEvent:
			if len(e.Event) == 0 || string(e.Event) == "null" {
				return "event without a frame"
			}
		case kindCounts:
			if e.Pubs < 0 || e.View < 0 {
				return "negative counts"
			}
			if len(e.List) > min(e.Pubs, maxListed) {
				return fmt.Sprintf("%d publishers named for %d (at most %d)", len(e.List), e.Pubs, maxListed)
			}
			for i := range e.List {
				if e.List[i].Identity == "" {
					return "a named publisher without an identity"
				}
				e.List[i].Publisher = true
			}
		default:
			return fmt.Sprintf("unknown kind %q", e.Kind)
		}
		return ""
	})
}

// decodeRecord reads one node record.
func decodeRecord(s string) (Record, error) {
	return decodeJSON("node record", s, maxRecord, func(r *Record) string {
		if r.ID == "" {
			return "no node id"
		}
		return ""
	})
}
