// Package progress shows the state of long work on stderr: a one-line bar
// redrawn in place when stderr is a terminal, plain timestamped lines when it
// is a pipe or a file, nothing with --quiet. bench, probe --count and other
// long commands share it so their progress looks the same.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/charmbracelet/x/term"
)

// Mode is how progress is shown.
type Mode int

// Progress modes.
const (
	Off   Mode = iota // --quiet
	Plain             // one line per tick, for pipes and CI logs
	Bar               // a bar redrawn in place, for terminals
)

// ModeFor picks the mode for a stream.
func ModeFor(quiet, tty bool) Mode {
	switch {
	case quiet:
		return Off
	case tty:
		return Bar
	}
	return Plain
}

// Status is what the work reports on each tick.
type Status struct {
	Phase string // "ramp", "hold", "leave", …
	// Done and Total draw the bar; Total 0 means no known end.
	Done, Total int64
	// Text follows the bar: "est 5230  failed 0  1998/s  p99 12.1ms".
	// Fields are separated by two spaces; a line too wide for the
	// terminal drops whole fields from the end, never part of one.
	Text string
}

// fieldSep separates the fields of Status.Text.
const fieldSep = "  "

// Reporter prints a Status every interval until Stop.
type Reporter struct {
	w        io.Writer
	mode     Mode
	status   func() Status
	start    time.Time
	stop     chan struct{}
	done     chan struct{}
	once     sync.Once
	barWidth int
	// width is the terminal's columns now (a terminal may be resized
	// during the run), 0 when unknown.
	width func() int
}

// Start begins reporting status() on w every interval (one second if zero).
// With Mode Off it does nothing, and status is never called.
func Start(w io.Writer, mode Mode, interval time.Duration, status func() Status) *Reporter {
	if interval <= 0 {
		interval = time.Second
	}
	r := &Reporter{w: w, mode: mode, status: status, start: time.Now(),
		stop: make(chan struct{}), done: make(chan struct{}), barWidth: 24, width: widthOf(w)}
	if mode == Off {
		close(r.done)
		return r
	}
	go r.loop(interval)
	return r
}

func (r *Reporter) loop(interval time.Duration) {
	defer close(r.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			r.print(r.status(), false)
		}
	}
}

// Stop ends reporting, prints the final status once more and, for a bar,
// ends its line so later output starts clean. It is safe to call twice.
func (r *Reporter) Stop() {
	r.once.Do(func() {
		if r.mode == Off {
			return
		}
		close(r.stop)
		<-r.done
		r.print(r.status(), true)
	})
}

func (r *Reporter) print(s Status, final bool) {
	elapsed := time.Since(r.start).Truncate(time.Second)
	switch r.mode {
	case Bar:
		end := ""
		if final {
			end = "\n"
		}
		// \r and erase-line redraw the line in place; a line wider than
		// the terminal would wrap, and the next \r would redraw only its
		// last row, stacking copies instead.
		fmt.Fprintf(r.w, "\r\x1b[K%s%s", Fit(s, elapsed, r.barWidth, r.width()), end)
	case Plain:
		fmt.Fprintln(r.w, Line(s, elapsed, 0))
	}
}

// Line renders one status line; barWidth 0 leaves out the bar (plain mode).
func Line(s Status, elapsed time.Duration, barWidth int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%5s] ", elapsed)
	if s.Phase != "" {
		fmt.Fprintf(&b, "%-5s ", s.Phase)
	}
	if s.Total > 0 {
		done := min(max(s.Done, 0), s.Total)
		if barWidth > 0 {
			fill := int(int64(barWidth) * done / s.Total)
			b.WriteString("[" + strings.Repeat("=", fill) + strings.Repeat(" ", barWidth-fill) + "] ")
		}
		fmt.Fprintf(&b, "%d/%d (%d%%) ", s.Done, s.Total, 100*done/s.Total)
	}
	b.WriteString(s.Text)
	return strings.TrimRight(b.String(), " ")
}

// DefaultWidth is the terminal width assumed when it cannot be read.
const DefaultWidth = 80

// widthOf returns the columns of the terminal behind w, read afresh each
// call, or DefaultWidth.
func widthOf(w io.Writer) func() int {
	f, ok := w.(*os.File)
	return func() int {
		if ok {
			if cols, _, err := term.GetSize(f.Fd()); err == nil && cols > 0 {
				return cols
			}
		}
		return DefaultWidth
	}
}

// minBar is the narrowest bar worth drawing; narrower, it is left out.
const minBar = 8

// Fit renders a status line that fits in width columns (0: no limit),
// with a bar of at most barWidth. It keeps the last column free (some
// terminals wrap on writing it). To fit, the bar narrows and then goes,
// then whole fields of Text are dropped from the end: a figure is shown
// whole or not at all, never with its unit cut off.
func Fit(s Status, elapsed time.Duration, barWidth, width int) string {
	line := Line(s, elapsed, barWidth)
	if width <= 0 {
		return line
	}
	room := width - 1
	if over := utf8.RuneCountInString(line) - room; over > 0 {
		bw := barWidth - over
		if bw < minBar {
			bw = 0
		}
		line = Line(s, elapsed, bw)
	}
	fields := strings.Split(s.Text, fieldSep)
	for utf8.RuneCountInString(line) > room && len(fields) > 1 {
		fields = fields[:len(fields)-1]
		s.Text = strings.Join(fields, fieldSep)
		line = Line(s, elapsed, 0)
	}
	if utf8.RuneCountInString(line) > room {
		s.Text = ""
		line = Line(s, elapsed, 0)
	}
	return line
}
