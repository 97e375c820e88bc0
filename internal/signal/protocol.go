// Package signal is livectl's signaling wire protocol: the message types that
// travel over GET /ws, their encoding, the stable error codes, and the Go
// client that bench, probe and publish use. The server decodes with the same
// functions, so there is exactly one implementation of the protocol.
//
// The protocol is JSON text frames over a WebSocket. Every frame is one
// Message; Type says which fields carry meaning (docs/protocol.md lists them).
// A request carries an ID; the reply to it (or the error) echoes that ID.
package signal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Version is the protocol version. It is offered as the WebSocket subprotocol
// Subprotocol and reported in the server's welcome message.
const Version = 1

// Subprotocol is the Sec-WebSocket-Protocol value of this protocol version.
const Subprotocol = "livectl.v1"

// DefaultMaxMessageSize is the largest frame a server accepts from a
// client by default (serve --max-message-size).
const DefaultMaxMessageSize = 64 << 10

// DefaultMaxServerMessageSize is the largest frame a client accepts from
// the server by default. Server frames can be larger than a client's: a
// joined reply lists up to --room-list-limit participants, every track of
// the room and the chat history.
const DefaultMaxServerMessageSize = 16 << 20

// Message types sent by clients.
const (
	TypeJoin      = "join"      // Room, Identity, Token → joined
	TypeLeave     = "leave"     // → left
	TypePing      = "ping"      // ClientTime → pong
	TypePublish   = "publish"   // SDP (offer with send tracks) → answer
	TypeSubscribe = "subscribe" // → offer (server-initiated), client replies with answer
	TypeAnswer    = "answer"    // SDP: client's answer to a server offer; server's answer to publish
	TypeTrickle   = "trickle"   // Candidate, Target: an ICE candidate, either direction
	TypeUnpublish = "unpublish" // TrackID (empty: all) → unpublished
	TypeChat      = "chat"      // Text, ClientTime → chat_ok; from the server: Room, Messages
	// TypeSetQuality caps the simulcast layers the server sends this
	// subscriber of TrackID (empty: every video track): Layer ("q", "h",
	// "f") and/or MaxWidth in pixels; neither lifts the cap → quality_set.
	TypeSetQuality = "set_quality"
)

// Message types sent by the server.
const (
	TypeWelcome           = "welcome" // Protocol, SessionID, ServerTime; first frame on every connection
	TypeJoined            = "joined"  // Room, Identity, SessionID, Participants, Tracks
	TypeLeft              = "left"
	TypePong              = "pong" // ClientTime echoed, ServerTime
	TypeOffer             = "offer"
	TypeParticipantJoined = "participant_joined" // Participant
	TypeParticipantLeft   = "participant_left"   // Participant
	TypeTrackPublished    = "track_published"    // Track
	TypeTrackUnpublished  = "track_unpublished"  // Track
	TypeUnpublished       = "unpublished"
	TypeError             = "error"    // Code, Reason; ID of the failed request if any
	TypeDraining          = "draining" // DeadlineMS: the server is shutting down
	// TypeParticipantUpdated: Participant; a member became a publisher.
	TypeParticipantUpdated = "participant_updated"
	// TypeRoomUpdate: Room, Publishers, Viewers; the room's counts, coalesced
	// (large rooms). On the wire it also carries "participants": the sum.
	TypeRoomUpdate = "room_update"
	TypeChatOK     = "chat_ok"     // Seq: the accepted message's place in the room's chat
	TypeQualitySet = "quality_set" // TrackID, Layer, MaxWidth as applied
)

// Trickle targets: which of the session's two peer connections a candidate is for.
const (
	TargetPublisher  = "publisher"
	TargetSubscriber = "subscriber"
)

// Error codes: stable strings a client can switch on.
const (
	CodeBadMessage      = "bad_message"       // not JSON, or a required field missing
	CodeUnknownType     = "unknown_type"      // Type not known to this protocol version
	CodeMessageTooLarge = "message_too_large" // frame over the size limit (connection closes)
	CodeNotJoined       = "not_joined"        // request needs a joined room
	CodeAlreadyJoined   = "already_joined"    // one room per connection
	CodeRoomFull        = "room_full"         // --max-participants reached
	CodeServerFull      = "server_full"       // --max-conns or --max-rooms reached
	CodeDraining        = "draining"          // server is shutting down
	CodeUnauthorized    = "unauthorized"      // missing or invalid token
	CodeForbidden       = "forbidden"         // token lacks the grant
	CodeBadSDP          = "bad_sdp"           // SDP could not be parsed or negotiated
	CodeUnsupported     = "unsupported"       // a valid request this server does not offer
	CodeSlowConsumer    = "slow_consumer"     // send queue overflowed (connection closes)
	CodeMediaFailed     = "media_failed"      // the server ended a peer connection on its own (Target says which)
	CodeRateLimited     = "rate_limited"      // request over the connection's rate limit: not executed
	CodeNotOrigin       = "not_origin"        // publish on a cluster node that is not the room's origin (Reason names it)
	CodeInternal        = "internal"
)

// WebSocket close codes the server uses beyond RFC 6455's.
const (
	CloseNormal          = 1000
	CloseGoingAway       = 1001 // draining finished
	ClosePolicyViolation = 1008 // origin or auth refused
	CloseMessageTooBig   = 1009
	CloseTryAgainLater   = 1013 // server full or draining
	CloseSlowConsumer    = 4008 // send queue overflowed
	CloseProtocolError   = 4002 // repeated malformed frames
	CloseRateLimited     = 4029 // kept sending over its rate limit (4000 + HTTP 429)
)

// Participant is a member of a room as others see it. Publisher is set
// for a member that has published media over /ws in this membership
// (docs/protocol.md, "Live rooms").
type Participant struct {
	Identity  string `json:"identity"`
	SessionID string `json:"session_id,omitempty"`
	Publisher bool   `json:"publisher,omitempty"`
}

// Participants is a list of participants. In a room_update frame the
// "participants" key holds a count instead (the frame's Publishers plus
// Viewers); a number there decodes as an empty list.
type Participants []Participant

// UnmarshalJSON accepts a list, or a number (room_update) that it ignores.
func (p *Participants) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && (b[0] == '-' || b[0] >= '0' && b[0] <= '9') {
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return err
		}
		*p = nil
		return nil
	}
	return json.Unmarshal(b, (*[]Participant)(p))
}

// ChatMessage is one chat (danmaku) message as members receive it. Seq is
// its place in the room's chat: per room, from 1, without holes.
type ChatMessage struct {
	Seq        uint64 `json:"seq"`
	From       string `json:"from"`
	Text       string `json:"text"`
	ClientTime int64  `json:"client_time,omitempty"` // the sender's, as sent (Unix ms)
	ServerTime int64  `json:"server_time"`           // when the server accepted it (Unix ms)
}

// Track describes a published media track.
type Track struct {
	ID        string `json:"id"`
	Kind      string `json:"kind"`            // "audio" or "video"
	Codec     string `json:"codec,omitempty"` // MIME type, e.g. "video/VP8"
	Publisher string `json:"publisher"`       // identity of the publisher
	StreamID  string `json:"stream_id,omitempty"`
}

// ICECandidate is a trickled candidate, shaped like the browser's
// RTCIceCandidateInit so that pages can pass it straight through.
type ICECandidate struct {
	Candidate        string  `json:"candidate"`
	SDPMid           *string `json:"sdpMid,omitempty"`
	SDPMLineIndex    *uint16 `json:"sdpMLineIndex,omitempty"`
	UsernameFragment *string `json:"usernameFragment,omitempty"`
}

// Message is one frame of the protocol. It is flat on purpose: one decode
// with no second pass, and the field set per Type is small (docs/protocol.md).
type Message struct {
	Type string `json:"type"`
	ID   string `json:"id,omitempty"`

	Room     string `json:"room,omitempty"`
	Identity string `json:"identity,omitempty"`
	Token    string `json:"token,omitempty"`

	Protocol     int          `json:"protocol,omitempty"`
	SessionID    string       `json:"session_id,omitempty"`
	Participant  *Participant `json:"participant,omitempty"`
	Participants Participants `json:"participants,omitempty"`
	// Publishers and Viewers are the room's counts (joined, room_update):
	// its members are Publishers + Viewers.
	Publishers int `json:"publishers,omitempty"`
	Viewers    int `json:"viewers,omitempty"`

	ClientTime int64 `json:"client_time,omitempty"` // opaque to the server, echoed in pong
	ServerTime int64 `json:"server_time,omitempty"` // Unix time in milliseconds

	SDP       string        `json:"sdp,omitempty"`
	Target    string        `json:"target,omitempty"`
	Candidate *ICECandidate `json:"candidate,omitempty"`
	Track     *Track        `json:"track,omitempty"`
	Tracks    []Track       `json:"tracks,omitempty"`
	TrackID   string        `json:"track_id,omitempty"`
	Layer     string        `json:"layer,omitempty"`     // set_quality: a simulcast layer's RID
	MaxWidth  int           `json:"max_width,omitempty"` // set_quality: widest layer wanted, pixels

	Text     string        `json:"text,omitempty"`     // chat request
	Seq      uint64        `json:"seq,omitempty"`      // chat_ok
	Messages []ChatMessage `json:"messages,omitempty"` // chat event; joined: the chat history

	Code       string `json:"code,omitempty"`
	Reason     string `json:"reason,omitempty"`
	DeadlineMS int64  `json:"deadline_ms,omitempty"`
}

// Limits on fields, enforced by Validate.
const (
	MaxNameLen = 128 // room and identity
	MaxIDLen   = 64  // request id
	MaxSDPLen  = 48 << 10
	MaxChatLen = 16 << 10 // chat text, whatever --chat-max-bytes says
	// MaxLayerWidth bounds set_quality's max_width (8K).
	MaxLayerWidth = 7680
)

// ErrEmptyType is returned by Decode for a frame without a type.
var ErrEmptyType = errors.New("message has no type")

// Decode parses one frame. It rejects anything that is not a single JSON
// object with a non-empty type; unknown fields are ignored so that newer
// clients keep working against older servers.
func Decode(b []byte) (*Message, error) {
	m := new(Message)
	if err := DecodeInto(b, m); err != nil {
		return nil, err
	}
	return m, nil
}

// DecodeInto is Decode into a caller-owned Message, which it resets first.
func DecodeInto(b []byte, m *Message) error {
	*m = Message{}
	b = bytes.Trim(b, " \t\r\n") // JSON's whitespace only
	if len(b) == 0 || b[0] != '{' {
		return fmt.Errorf("decoding message: not a JSON object")
	}
	if err := json.Unmarshal(b, m); err != nil {
		return fmt.Errorf("decoding message: %w", err)
	}
	if m.Type == "" {
		return ErrEmptyType
	}
	return nil
}

// CheckName says what is wrong with a room or identity name, or nil: 1 to
// MaxNameLen bytes of UTF-8 without control characters, and not "." or
// "..". Names become metric labels (which must be UTF-8), URL path
// segments (a WHIP session's Location, where "." and ".." would be
// resolved away) and log fields, over /ws and WHIP/WHEP alike.
//
// Names are also shown to people (participant lists, dashboards, logs), so
// characters that make one name look like another, or like nothing, are
// refused too: format characters (bidi overrides such as U+202E, zero-width
// spaces, U+FEFF), line and paragraph separators, and names made only of
// white space. ZWNJ and ZWJ (U+200C, U+200D) stay allowed: scripts such as
// Persian and emoji sequences need them.
func CheckName(what, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%s is empty", what)
	case len(name) > MaxNameLen:
		return fmt.Errorf("%s is %d bytes, at most %d", what, len(name), MaxNameLen)
	case !utf8.ValidString(name):
		return fmt.Errorf("%s is not valid UTF-8", what)
	case name == "." || name == "..":
		return fmt.Errorf("%s %q is reserved (a URL path step)", what, name)
	}
	blank := true
	for _, r := range name {
		switch {
		case unicode.IsControl(r) || r == utf8.RuneError:
			return fmt.Errorf("%s contains a control character (%U)", what, r)
		case unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp) && !unicode.Is(unicode.Join_Control, r):
			return fmt.Errorf("%s contains an invisible or text-direction character (%U)", what, r)
		}
		blank = blank && unicode.IsSpace(r)
	}
	if blank {
		return fmt.Errorf("%s is only white space", what)
	}
	return nil
}

// Encode serialises m as one frame.
func Encode(m *Message) ([]byte, error) {
	if m.Type == TypeRoomUpdate {
		return json.Marshal(roomUpdate{Type: m.Type, Room: m.Room,
			Participants: m.Publishers + m.Viewers, Publishers: m.Publishers, Viewers: m.Viewers})
	}
	return json.Marshal(m)
}

// roomUpdate is the wire form of a room_update: every count present, and
// "participants" a number.
type roomUpdate struct {
	Type         string `json:"type"`
	Room         string `json:"room"`
	Participants int    `json:"participants"`
	Publishers   int    `json:"publishers"`
	Viewers      int    `json:"viewers"`
}

// CheckChatText says what is wrong with a chat message's text, or nil:
// 1 to maxBytes bytes of UTF-8 without control characters.
func CheckChatText(text string, maxBytes int) error {
	switch {
	case text == "":
		return errors.New("chat text is empty")
	case len(text) > maxBytes:
		return fmt.Errorf("chat text is %d bytes, at most %d", len(text), maxBytes)
	case !utf8.ValidString(text):
		return errors.New("chat text is not valid UTF-8")
	}
	for _, r := range text {
		if unicode.IsControl(r) {
			return fmt.Errorf("chat text contains a control character (%U)", r)
		}
		if r == utf8.RuneError { // what the JSON decoder made of invalid UTF-8
			return errors.New("chat text is not valid UTF-8")
		}
	}
	return nil
}

// Validate checks the fields a client request of m's type needs, returning a
// *Error with CodeBadMessage or CodeUnknownType.
func (m *Message) Validate() error {
	if len(m.ID) > MaxIDLen {
		return &Error{Code: CodeBadMessage, Reason: fmt.Sprintf("id longer than %d bytes", MaxIDLen)}
	}
	switch m.Type {
	case TypeJoin:
		if m.Room == "" || m.Identity == "" {
			return &Error{Code: CodeBadMessage, Reason: "join needs room and identity"}
		}
		for _, n := range []struct{ what, name string }{{"room", m.Room}, {"identity", m.Identity}} {
			if err := CheckName(n.what, n.name); err != nil {
				return &Error{Code: CodeBadMessage, Reason: err.Error()}
			}
		}
	case TypeLeave, TypePing, TypeSubscribe, TypeUnpublish:
	case TypeChat:
		// The length limit is the server's (--chat-max-bytes); the frame
		// limit bounds it here.
		if err := CheckChatText(m.Text, MaxChatLen); err != nil {
			return &Error{Code: CodeBadMessage, Reason: err.Error()}
		}
	case TypePublish, TypeAnswer:
		if m.SDP == "" {
			return &Error{Code: CodeBadMessage, Reason: m.Type + " needs sdp"}
		}
		if len(m.SDP) > MaxSDPLen {
			return &Error{Code: CodeBadMessage, Reason: fmt.Sprintf("sdp longer than %d bytes", MaxSDPLen)}
		}
	case TypeSetQuality:
		switch m.Layer {
		case "", "q", "h", "f":
		default:
			return &Error{Code: CodeBadMessage, Reason: fmt.Sprintf(`set_quality layer %q: want "q", "h" or "f"`, truncate(m.Layer, 16))}
		}
		if m.MaxWidth < 0 || m.MaxWidth > MaxLayerWidth {
			return &Error{Code: CodeBadMessage, Reason: fmt.Sprintf("set_quality max_width %d: want 0–%d", m.MaxWidth, MaxLayerWidth)}
		}
	case TypeTrickle:
		if m.Candidate == nil {
			return &Error{Code: CodeBadMessage, Reason: "trickle needs candidate"}
		}
		if m.Target != TargetPublisher && m.Target != TargetSubscriber {
			return &Error{Code: CodeBadMessage, Reason: `trickle target must be "publisher" or "subscriber"`}
		}
	default:
		return &Error{Code: CodeUnknownType, Reason: fmt.Sprintf("unknown message type %q", truncate(m.Type, 32))}
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Error is a protocol error as carried by a TypeError message.
type Error struct {
	Code   string
	Reason string
}

func (e *Error) Error() string { return e.Code + ": " + e.Reason }

// Is lets errors.Is match on the code alone: errors.Is(err, &Error{Code: CodeRoomFull}).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// ErrorMessage builds the TypeError reply to the request with the given id.
func ErrorMessage(id, code, reason string) *Message {
	return &Message{Type: TypeError, ID: id, Code: code, Reason: reason}
}
