package progress

import (
	"strings"
	"testing"
	"time"

	"github.com/livectl/livectl/internal/syncio"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestModeFor(t *testing.T) {
	tests := []struct {
		name       string
		quiet, tty bool
		want       Mode
	}{
		{"quiet terminal", true, true, Off},
		{"quiet pipe", true, false, Off},
		{"terminal", false, true, Bar},
		{"pipe", false, false, Plain},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ModeFor(tt.quiet, tt.tty); got != tt.want {
				t.Errorf("ModeFor = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLine(t *testing.T) {
	tests := []struct {
		name  string
		s     Status
		width int
		want  string
	}{
		{"bar", Status{Phase: "ramp", Done: 5, Total: 10, Text: "p99 3ms"}, 10, "[   2s] ramp  [=====     ] 5/10 (50%) p99 3ms"},
		{"plain", Status{Phase: "hold", Done: 10, Total: 10, Text: "rtt p99 1ms"}, 0, "[   2s] hold  10/10 (100%) rtt p99 1ms"},
		{"no total", Status{Phase: "leave", Text: "closing"}, 10, "[   2s] leave closing"},
		{"overshoot clamps bar", Status{Done: 12, Total: 10}, 4, "[   2s] [====] 12/10 (100%)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Line(tt.s, 2*time.Second, tt.width); got != tt.want {
				t.Errorf("Line = %q\n          want %q", got, tt.want)
			}
		})
	}
}

func TestReporterModes(t *testing.T) {
	status := func() Status { return Status{Phase: "ramp", Done: 1, Total: 2} }
	t.Run("plain prints lines", func(t *testing.T) {
		var buf syncio.Buffer
		r := Start(&buf, Plain, 10*time.Millisecond, status)
		time.Sleep(35 * time.Millisecond)
		r.Stop()
		r.Stop()
		out := buf.String()
		if n := strings.Count(out, "\n"); n < 2 {
			t.Errorf("want several lines, got %q", out)
		}
		if strings.Contains(out, "\r") {
			t.Errorf("plain output has carriage returns: %q", out)
		}
	})
	t.Run("bar redraws in place", func(t *testing.T) {
		var buf syncio.Buffer
		r := Start(&buf, Bar, 10*time.Millisecond, status)
		time.Sleep(35 * time.Millisecond)
		r.Stop()
		out := buf.String()
		if !strings.HasPrefix(out, "\r\x1b[K") || strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
			t.Errorf("bar output %q", out)
		}
	})
	t.Run("off prints nothing", func(t *testing.T) {
		var buf syncio.Buffer
		r := Start(&buf, Off, time.Millisecond, func() Status { t.Error("status called"); return Status{} })
		time.Sleep(5 * time.Millisecond)
		r.Stop()
		if buf.String() != "" {
			t.Errorf("quiet output %q", buf.String())
		}
	})
}
