package cluster

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// The room messages the node itself sends, as they appear on a channel.
var validEnvelopes = []string{
	`{"n":"a","k":"chat","m":{"seq":0,"from":"alice","text":"hi","server_time":1},"seq":7}`,
	`{"n":"a","k":"ev","ev":{"type":"participant_joined","identity":"bob"}}`,
	`{"n":"b","k":"counts","p":1,"v":250}`,
	`{"n":"b","k":"counts","p":2,"v":250,"l":[{"identity":"alice","session_id":"s1","publisher":true}]}`,
	`{"n":"b","k":"counts"}`,
}

var validRecords = []string{
	`{"id":"a","url":"http://a:7880","media_addr":"a:7882","version":"v","state":"serving","load":{"cpu":0.5,"sessions":3,"tracks":2,"bitrate_bps":100},"rooms":{"live":3},"updated_ms":1}`,
	`{"id":"b","url":"http://b:7880","state":"draining"}`,
}

// A named publisher is one, whatever the message says.
func TestDecodeNamedPublishers(t *testing.T) {
	e, err := decodeEnvelope(`{"n":"a","k":"counts","p":1,"l":[{"identity":"x","publisher":false}]}`)
	if err != nil {
		t.Fatal(err)
	}
	if len(e.List) != 1 || !e.List[0].Publisher {
		t.Fatalf("named publishers %+v, want x with publisher:true", e.List)
	}
	many := `{"n":"a","k":"counts","p":1000,"l":[` + strings.Repeat(`{"identity":"x"},`, maxListed) + `{"identity":"y"}]}`
	if _, err := decodeEnvelope(many); err == nil {
		t.Fatalf("%d named publishers accepted, want at most %d", maxListed+1, maxListed)
	}
}

// TestDecode: the node's own messages and records are read back; each kind
// of malformed input is refused with a MessageError saying what is wrong.
func TestDecode(t *testing.T) {
	envelope := func(s string) error { _, err := decodeEnvelope(s); return err }
	record := func(s string) error { _, err := decodeRecord(s); return err }
	for _, s := range validEnvelopes {
		if err := envelope(s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	for _, s := range validRecords {
		if err := record(s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	for _, tc := range []struct {
		name   string
		decode func(string) error
		in     string
		reason string
	}{
		{"message not json", envelope, `{"n":"a",`, "unexpected end"},
		{"message without node", envelope, `{"k":"counts","p":1}`, "no sending node"},
		{"unknown kind", envelope, `{"n":"a","k":"boom"}`, "unknown kind"},
		{"chat without seq", envelope, `{"n":"a","k":"chat","m":{"text":"x"}}`, "without a message or a seq"},
		{"chat without message", envelope, `{"n":"a","k":"chat","seq":3}`, "without a message or a seq"},
		{"event without frame", envelope, `{"n":"a","k":"ev"}`, "without a frame"},
		{"null event", envelope, `{"n":"a","k":"ev","ev":null}`, "without a frame"},
		{"negative counts", envelope, `{"n":"a","k":"counts","p":-1}`, "negative"},
		{"more publishers named than counted", envelope, `{"n":"a","k":"counts","p":1,"l":[{"identity":"x"},{"identity":"y"}]}`, "2 publishers named for 1"},
		{"publisher named without identity", envelope, `{"n":"a","k":"counts","p":1,"l":[{"session_id":"s"}]}`, "without an identity"},
		{"message field of the wrong type", envelope, `{"n":1,"k":"counts"}`, "cannot unmarshal"},
		{"message too large", envelope, `{"n":"a","k":"ev","ev":"` + strings.Repeat("x", maxEnvelope) + `"}`, "more than"},
		{"record not json", record, `[`, "unexpected end"},
		{"record without id", record, `{"url":"http://a"}`, "no node id"},
		{"record field of the wrong type", record, `{"id":"a","rooms":[1]}`, "cannot unmarshal"},
		{"record too large", record, `{"id":"a","url":"` + strings.Repeat("x", maxRecord) + `"}`, "more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.decode(tc.in)
			var me *MessageError
			if !errors.As(err, &me) || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("got %v, want a MessageError saying %q", err, tc.reason)
			}
		})
	}
}

// fuzzDecode fuzzes decode from seeds: it must not panic, must refuse with
// a MessageError, and must refuse whatever is over max bytes; accepted
// checks what it accepted.
func fuzzDecode[T any](f *testing.F, seeds []string, decode func(string) (T, error), max int, accepted func(t *testing.T, v T)) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := decode(s)
		if err != nil {
			var me *MessageError
			if !errors.As(err, &me) {
				t.Fatalf("error %v is not a MessageError", err)
			}
			return
		}
		if len(s) > max {
			t.Fatalf("accepted %d bytes", len(s))
		}
		accepted(t, v)
	})
}

// FuzzDecodeEnvelope: whatever arrives on a room channel; what is accepted
// has what deliver relies on and survives a round trip.
func FuzzDecodeEnvelope(f *testing.F) {
	seeds := append([]string{`{"n":"a","k":"chat","m":null,"seq":1}`, `{"n":"","k":"ev","ev":null}`}, validEnvelopes...)
	fuzzDecode(f, seeds, decodeEnvelope, maxEnvelope, func(t *testing.T, e envelope) {
		if e.Node == "" || (e.Kind == kindChat && (e.Chat == nil || e.Seq == 0)) || (e.Kind == kindEvent && (len(e.Event) == 0 || string(e.Event) == "null")) {
			t.Fatalf("accepted %+v", e)
		}
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("re-encoding %+v: %v", e, err)
		}
		if _, err := decodeEnvelope(string(b)); err != nil {
			t.Fatalf("re-encoded %s refused: %v", b, err)
		}
	})
}

// FuzzDecodeRecord: whatever a node record key holds.
func FuzzDecodeRecord(f *testing.F) {
	seeds := append([]string{`{"id":"a","rooms":{"x":-1},"load":{"cpu":1e308}}`}, validRecords...)
	fuzzDecode(f, seeds, decodeRecord, maxRecord, func(t *testing.T, r Record) {
		if r.ID == "" {
			t.Fatalf("accepted %+v", r)
		}
	})
}
