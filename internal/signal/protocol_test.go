package signal

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		ok       bool
		want     Message
	}{
		{"join", `{"type":"join","id":"1","room":"r","identity":"a","token":"t"}`, true,
			Message{Type: TypeJoin, ID: "1", Room: "r", Identity: "a", Token: "t"}},
		{"whitespace", " \n{\"type\":\"ping\",\"client_time\":5}\t", true, Message{Type: TypePing, ClientTime: 5}},
		{"unknown fields ignored", `{"type":"ping","future":{"x":[1,2]}}`, true, Message{Type: TypePing}},
		{"trickle", `{"type":"trickle","target":"publisher","candidate":{"candidate":"c","sdpMid":"0","sdpMLineIndex":0}}`, true,
			Message{Type: TypeTrickle, Target: TargetPublisher, Candidate: &ICECandidate{Candidate: "c", SDPMid: ptr("0"), SDPMLineIndex: ptr(uint16(0))}}},
		{"chat request", `{"type":"chat","id":"7","text":"hi","client_time":5}`, true,
			Message{Type: TypeChat, ID: "7", Text: "hi", ClientTime: 5}},
		{"chat batch", `{"type":"chat","room":"r","messages":[{"seq":1,"from":"a","text":"x","client_time":2,"server_time":3}]}`, true,
			Message{Type: TypeChat, Room: "r", Messages: []ChatMessage{{Seq: 1, From: "a", Text: "x", ClientTime: 2, ServerTime: 3}}}},
		{"chat_ok", `{"type":"chat_ok","id":"7","seq":9}`, true, Message{Type: TypeChatOK, ID: "7", Seq: 9}},
		{"room_update", `{"type":"room_update","room":"r","participants":12,"publishers":2,"viewers":10}`, true,
			Message{Type: TypeRoomUpdate, Room: "r", Publishers: 2, Viewers: 10}},
		{"joined with counts", `{"type":"joined","participants":[{"identity":"p","publisher":true}],"publishers":1,"viewers":1}`, true,
			Message{Type: TypeJoined, Participants: Participants{{Identity: "p", Publisher: true}}, Publishers: 1, Viewers: 1}},
		{"participants a string", `{"type":"joined","participants":"x"}`, false, Message{}},
		{"empty", ``, false, Message{}},
		{"array", `[{"type":"ping"}]`, false, Message{}},
		{"string", `"ping"`, false, Message{}},
		{"null", `null`, false, Message{}},
		{"no type", `{"id":"1"}`, false, Message{}},
		{"empty type", `{"type":""}`, false, Message{}},
		{"type not a string", `{"type":1}`, false, Message{}},
		{"truncated", `{"type":"ping"`, false, Message{}},
		{"trailing garbage", `{"type":"ping"} x`, false, Message{}},
		{"whitespace JSON does not allow", "\v\u00a0{\"type\":\"ping\"}", false, Message{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Decode([]byte(tc.in))
			if (err == nil) != tc.ok {
				t.Fatalf("Decode(%q) error = %v, want ok=%v", tc.in, err, tc.ok)
			}
			if tc.ok && !reflect.DeepEqual(*m, tc.want) {
				t.Fatalf("Decode(%q) = %+v, want %+v", tc.in, *m, tc.want)
			}
		})
	}
	if _, err := Decode([]byte(`{"id":"1"}`)); !errors.Is(err, ErrEmptyType) {
		t.Fatalf("no type: %v, want ErrEmptyType", err)
	}
}

func TestDecodeIntoResets(t *testing.T) {
	m := Message{Type: TypeJoin, Room: "old", SDP: "old"}
	if err := DecodeInto([]byte(`{"type":"ping"}`), &m); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m, Message{Type: TypePing}) {
		t.Fatalf("DecodeInto kept old fields: %+v", m)
	}
}

func TestValidate(t *testing.T) {
	cand := &ICECandidate{Candidate: "c"}
	long := strings.Repeat("x", MaxNameLen+1)
	for _, tc := range []struct {
		name string
		m    Message
		code string // "" valid
	}{
		{"join", Message{Type: TypeJoin, Room: "r", Identity: "a"}, ""},
		{"join no room", Message{Type: TypeJoin, Identity: "a"}, CodeBadMessage},
		{"join no identity", Message{Type: TypeJoin, Room: "r"}, CodeBadMessage},
		{"join long room", Message{Type: TypeJoin, Room: long, Identity: "a"}, CodeBadMessage},
		{"join long identity", Message{Type: TypeJoin, Room: "r", Identity: long}, CodeBadMessage},
		{"long id", Message{Type: TypePing, ID: strings.Repeat("1", MaxIDLen+1)}, CodeBadMessage},
		{"leave", Message{Type: TypeLeave}, ""},
		{"chat", Message{Type: TypeChat, Text: "héllo 弾幕"}, ""},
		{"chat empty", Message{Type: TypeChat}, CodeBadMessage},
		{"chat control", Message{Type: TypeChat, Text: "a\x1bb"}, CodeBadMessage},
		{"chat newline", Message{Type: TypeChat, Text: "a\nb"}, CodeBadMessage},
		{"chat bad utf8", Message{Type: TypeChat, Text: "\xff"}, CodeBadMessage},
		{"chat too long", Message{Type: TypeChat, Text: strings.Repeat("x", MaxChatLen+1)}, CodeBadMessage},
		{"chat server-only", Message{Type: TypeChatOK}, CodeUnknownType},
		{"room_update from client", Message{Type: TypeRoomUpdate}, CodeUnknownType},
		{"ping", Message{Type: TypePing}, ""},
		{"subscribe", Message{Type: TypeSubscribe}, ""},
		{"unpublish", Message{Type: TypeUnpublish, TrackID: "t"}, ""},
		{"set_quality layer", Message{Type: TypeSetQuality, TrackID: "t", Layer: "h"}, ""},
		{"set_quality lifts the cap", Message{Type: TypeSetQuality}, ""},
		{"set_quality unknown layer", Message{Type: TypeSetQuality, Layer: "x"}, CodeBadMessage},
		{"set_quality negative width", Message{Type: TypeSetQuality, MaxWidth: -1}, CodeBadMessage},
		{"publish", Message{Type: TypePublish, SDP: "v=0"}, ""},
		{"publish no sdp", Message{Type: TypePublish}, CodeBadMessage},
		{"answer no sdp", Message{Type: TypeAnswer}, CodeBadMessage},
		{"answer long sdp", Message{Type: TypeAnswer, SDP: strings.Repeat("a", MaxSDPLen+1)}, CodeBadMessage},
		{"trickle", Message{Type: TypeTrickle, Target: TargetSubscriber, Candidate: cand}, ""},
		{"trickle no candidate", Message{Type: TypeTrickle, Target: TargetSubscriber}, CodeBadMessage},
		{"trickle bad target", Message{Type: TypeTrickle, Target: "x", Candidate: cand}, CodeBadMessage},
		{"server type", Message{Type: TypeJoined}, CodeUnknownType},
		{"unknown", Message{Type: "dance"}, CodeUnknownType},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.m.Validate()
			if tc.code == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			var pe *Error
			if !errors.As(err, &pe) || pe.Code != tc.code || pe.Reason == "" {
				t.Fatalf("Validate = %v, want %s with a reason", err, tc.code)
			}
		})
	}
}

func TestUnknownTypeReasonIsBounded(t *testing.T) {
	err := (&Message{Type: strings.Repeat("z", 1000)}).Validate()
	if len(err.Error()) > 100 {
		t.Fatalf("reason echoes the whole type: %d bytes", len(err.Error()))
	}
}

func TestErrorIs(t *testing.T) {
	err := error(&Error{Code: CodeRoomFull, Reason: "full"})
	if !errors.Is(err, &Error{Code: CodeRoomFull}) || errors.Is(err, &Error{Code: CodeDraining}) {
		t.Fatal("errors.Is does not match on the code")
	}
	m := ErrorMessage("7", CodeDraining, "bye")
	if m.Type != TypeError || m.ID != "7" || m.Code != CodeDraining || m.Reason != "bye" {
		t.Fatalf("ErrorMessage = %+v", m)
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	for _, m := range []*Message{
		{Type: TypeWelcome, Protocol: Version, SessionID: "s", ServerTime: 1700000000000},
		{Type: TypeJoined, ID: "1", Room: "r", Identity: "a", SessionID: "s",
			Participants: []Participant{{Identity: "b", SessionID: "t"}}, Tracks: []Track{{ID: "v", Kind: "video", Codec: "video/VP8", Publisher: "b"}}},
		{Type: TypeParticipantLeft, Room: "r", Participant: &Participant{Identity: "b", SessionID: "t"}},
		{Type: TypeDraining, DeadlineMS: 30000},
		{Type: TypeError, ID: "2", Code: CodeRoomFull, Reason: "room \"r\" is full"},
	} {
		t.Run(m.Type, func(t *testing.T) {
			b, err := Encode(m)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, m) {
				t.Fatalf("round trip: %+v, want %+v (wire %s)", got, m, b)
			}
		})
	}
}

// The wire names are the protocol: a rename breaks every client.
func TestWireNames(t *testing.T) {
	b, _ := Encode(&Message{Type: TypeTrickle, ID: "1", Target: TargetPublisher, TrackID: "x", ClientTime: 1, ServerTime: 2, DeadlineMS: 3,
		SessionID: "s", Candidate: &ICECandidate{Candidate: "c", SDPMid: ptr("0"), SDPMLineIndex: ptr(uint16(1)), UsernameFragment: ptr("u")}})
	const want = `{"type":"trickle","id":"1","session_id":"s","client_time":1,"server_time":2,"target":"publisher",` +
		`"candidate":{"candidate":"c","sdpMid":"0","sdpMLineIndex":1,"usernameFragment":"u"},"track_id":"x","deadline_ms":3}`
	if string(b) != want {
		t.Fatalf("wire form changed:\n got %s\nwant %s", b, want)
	}
}

// FuzzDecode: the decoder and Validate never panic on any input, accept
// only objects with a type, and what they accept survives a re-encode.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"type":"join","id":"1","room":"r","identity":"a","token":"t"}`,
		`{"type":"ping","client_time":123}`,
		`{"type":"trickle","target":"subscriber","candidate":{"candidate":"candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0}}`,
		`{"type":"publish","sdp":"v=0\r\n"}`,
		`{"type":"chat","id":"7","text":"hi","client_time":1700000000000}`,
		`{"type":"chat","room":"r","messages":[{"seq":1,"from":"a","text":"x","client_time":2,"server_time":3}]}`,
		`{"type":"chat_ok","id":"7","seq":9}`,
		`{"type":"room_update","room":"r","participants":12,"publishers":2,"viewers":10}`,
		`{"type":"joined","participants":-1}`,
		`{"type":"","id":"x"}`,
		`[]`, `{`, `null`, "\x00",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		if m.Type == "" {
			t.Fatal("decoded a message without a type")
		}
		if verr := m.Validate(); verr != nil {
			var pe *Error
			if !errors.As(verr, &pe) || (pe.Code != CodeBadMessage && pe.Code != CodeUnknownType) {
				t.Fatalf("Validate returned %v", verr)
			}
		}
		out, err := Encode(m)
		if err != nil {
			t.Fatalf("re-encoding %+v: %v", m, err)
		}
		m2, err := Decode(out)
		if err != nil {
			t.Fatalf("decoding re-encoded %s: %v", out, err)
		}
		// Encoding is a fixed point after one decode (empty lists and
		// invalid UTF-8 are normalised the first time).
		out2, err := Encode(m2)
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("re-encode changed the message:\n%s\n%s (%v)", out, out2, err)
		}
	})
}

func ptr[T any](v T) *T { return &v }

// TestEncodeRoomUpdate: a room_update carries every count, participants
// as a number, and decodes back to the same counts.
func TestEncodeRoomUpdate(t *testing.T) {
	b, err := Encode(&Message{Type: TypeRoomUpdate, Room: "r", Publishers: 0, Viewers: 7})
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"type":"room_update","room":"r","participants":7,"publishers":0,"viewers":7}`
	if string(b) != want {
		t.Fatalf("got %s, want %s", b, want)
	}
	m, err := Decode(b)
	if err != nil || m.Publishers != 0 || m.Viewers != 7 || m.Participants != nil {
		t.Fatalf("decoded %+v, %v", m, err)
	}
}

func TestCheckName(t *testing.T) {
	for _, tc := range []struct {
		name, problem string // "" problem: valid
	}{
		{"lobby", ""},
		{"Раздевалка 1", ""},
		{"a/b", ""}, // escaped in URLs, not a path step
		{strings.Repeat("r", MaxNameLen), ""},
		{"", "empty"},
		{strings.Repeat("r", MaxNameLen+1), "at most"},
		{"\xff", "UTF-8"},
		{".", "reserved"},
		{"..", "reserved"},
		{"a\nb", "control character"},
		{"a\x00b", "control character"},
		{"a\u0085b", "control character"},
		{"evil\u202Etxt.exe", "text-direction"},
		{"al\u200Bice", "invisible"},
		{"\uFEFFbob", "invisible"},
		{"a\u2028b", "invisible"},
		{"a\u2029b", "invisible"},
		{"\u2066x\u2069", "text-direction"},
		{" ", "white space"},
		{"   ", "white space"},
		{"\u3000\u00a0", "white space"},
		{" padded ", ""},
		{"\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645", ""}, // Persian with ZWNJ
		{"\U0001F469\u200D\U0001F4BB", ""},                       // emoji ZWJ sequence
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckName("room", tc.name)
			if (err == nil) != (tc.problem == "") || err != nil && !strings.Contains(err.Error(), tc.problem) {
				t.Errorf("CheckName(%q) = %v, want %q", tc.name, err, tc.problem)
			}
		})
	}
}
