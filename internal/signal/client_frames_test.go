package signal

import "testing"

func TestEventType(t *testing.T) {
	encoded, err := Encode(&Message{Type: TypeParticipantJoined, Participant: &Participant{Identity: "a"}})
	if err != nil {
		t.Fatal(err)
	}
	reply, err := Encode(&Message{Type: TypePong, ID: "7", ClientTime: 5})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		frame string
		typ   string
		ok    bool
	}{
		{"encoded event", string(encoded), TypeParticipantJoined, true},
		{"event pong", `{"type":"pong","client_time":5}`, TypePong, true},
		{"encoded reply", string(reply), "", false},
		{"spaces", `{ "type": "pong"}`, "", false},
		{"other order", `{"id":"1","type":"pong"}`, "", false},
		{"escaped", `{"type":"po\"ng"}`, "", false},
		{"empty type", `{"type":""}`, "", false},
		{"unterminated", `{"type":"pong`, "", false},
		{"short", `{"ty`, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			typ, ok := eventType([]byte(tt.frame))
			if typ != tt.typ || ok != tt.ok {
				t.Errorf("eventType(%s) = %q, %v; want %q, %v", tt.frame, typ, ok, tt.typ, tt.ok)
			}
		})
	}
}

func TestReplyID(t *testing.T) {
	reply, err := Encode(&Message{Type: TypeJoined, ID: "12", Room: "r", Participants: []Participant{{Identity: "a"}}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		frame string
		id    string
		ok    bool
	}{
		{"encoded reply", string(reply), "12", true},
		{"event", `{"type":"participant_joined","participant":{"identity":"a"}}`, "", false},
		{"escaped id", `{"type":"pong","id":"1\"2"}`, "", false},
		{"empty id", `{"type":"pong","id":""}`, "", false},
		{"numeric id", `{"type":"pong","id":12}`, "", false},
		{"spaces", `{"type": "pong", "id": "1"}`, "", false},
		{"unterminated", `{"type":"pong","id":"1`, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, ok := replyID([]byte(tt.frame))
			if id != tt.id || ok != tt.ok {
				t.Errorf("replyID(%s) = %q, %v; want %q, %v", tt.frame, id, ok, tt.id, tt.ok)
			}
		})
	}
}
