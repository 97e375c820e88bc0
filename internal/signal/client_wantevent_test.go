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
