package progress

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// TestFitGolden: the progress lines of bench signal, bench media and probe
// at 80, 100 and 200 columns fit the terminal (one column spare) and drop
// whole fields, never part of one (no "join p99 1.4m" for 1.4ms).
func TestFitGolden(t *testing.T) {
	statuses := []Status{
		{Phase: "ramp", Done: 5230, Total: 10000, Text: "open 5230  est 5230  failed 0  1998/s  join p99 1.4ms"},
		{Phase: "hold", Text: "open 100000  est 100000  failed 12345  0/s  rtt p99 1234.5ms"},
		{Phase: "ramp", Done: 1234567, Total: 2000000, Text: "open 1234567  est 1234000  failed 567  20000/s  connect p99 12345.6ms"},
		{Phase: "ramp", Done: 812, Total: 1000, Text: "receiving 800  ok 812  failed 0  1234567 kbps  freezes 12"},
		{Phase: "probe", Done: 7, Total: 20, Text: "ok 7  failed 0"},
	}
	var b strings.Builder
	for _, width := range []int{80, 100, 200} {
		fmt.Fprintf(&b, "== %d columns\n", width)
		for _, s := range statuses {
			line := Fit(s, 1234*time.Second, 24, width)
			if n := utf8.RuneCountInString(line); n >= width {
				t.Errorf("%d columns: line of %d: %q", width, n, line)
			}
			fields := strings.Split(s.Text, fieldSep)
			shown := line[strings.Index(line, ")")+1:] // after "(52%)" when there is a total
			if s.Total == 0 {
				shown = strings.TrimPrefix(line, Line(Status{Phase: s.Phase}, 1234*time.Second, 0))
			}
			for i, f := range strings.Split(strings.TrimSpace(shown), fieldSep) {
				if f != "" && f != fields[i] {
					t.Errorf("%d columns: field %q cut from %q", width, f, fields[i])
				}
			}
			b.WriteString(line + "\n")
		}
	}
	path := filepath.Join("testdata", "fit.golden")
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if b.String() != string(want) {
		t.Errorf("lines differ from %s:\n%s", path, b.String())
	}
}
