package relay

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

// TestPionLogs: pion's logs reach the relay's logger as JSON records with
// their scope, at the mapped level, and every peer shares one logger per
// scope.
func TestPionLogs(t *testing.T) {
	tests := []struct {
		name  string
		log   func(f *pionLogs)
		level string // "" when nothing may be written
	}{
		{"error is a warning", func(f *pionLogs) {
			f.NewLogger("dtls").Errorf("handshake: %s", "bad record")
		}, "WARN"},
		{"warning", func(f *pionLogs) { f.NewLogger("dtls").Warn("handshake: bad record") }, "WARN"},
		{"info is debug", func(f *pionLogs) { f.NewLogger("dtls").Infof("handshake: %s", "bad record") }, "DEBUG"},
		{"debug is dropped", func(f *pionLogs) { f.NewLogger("dtls").Debugf("handshake: %s", "bad record") }, ""},
		{"trace is dropped", func(f *pionLogs) { f.NewLogger("dtls").Trace("handshake: bad record") }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			f := newPionLogs(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
			tt.log(f)
			if tt.level == "" {
				if buf.Len() != 0 {
					t.Fatalf("wrote %q, want nothing", buf.String())
				}
				return
			}
			var rec map[string]any
			if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
				t.Fatalf("not one JSON record: %q: %v", buf.String(), err)
			}
			if rec["level"] != tt.level || rec["pion"] != "dtls" || rec["msg"] != "handshake: bad record" {
				t.Errorf("record %v, want level %s, pion dtls, msg %q", rec, tt.level, "handshake: bad record")
			}
		})
	}

	var buf bytes.Buffer
	f := newPionLogs(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if f.NewLogger("ice") != f.NewLogger("ice") {
		t.Error("two loggers for one scope")
	}
	f.NewLogger("ice").Infof("checking %d pairs", 3)
	if strings.Contains(buf.String(), "checking") {
		t.Errorf("info written at warn level: %q", buf.String())
	}
	newPionLogs(nil).NewLogger("ice").Error("no logger: dropped, no panic")
}
