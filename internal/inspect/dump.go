package inspect

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Dump is a parsed debug=2 goroutine dump (/debug/pprof/goroutine?debug=2,
// the same text a Go program prints when it dies of a panic).
type Dump struct {
	Raw        []byte
	Goroutines []DumpGoroutine
	// Skipped counts lines the parser did not understand and ignored.
	Skipped int
}

// DumpGoroutine is one goroutine of a dump.
type DumpGoroutine struct {
	ID    int64
	State string // "chan receive", "select", "IO wait", "running", …
	// Wait is how long it has been blocked; Go prints it in whole minutes
	// and only from one minute on, so shorter waits are 0.
	Wait   time.Duration
	Locked bool     // locked to an OS thread
	Extra  []string // other bracketed annotations, kept verbatim
	// Frames are the stack, leaf first, with file and line.
	Frames []Frame
	// Elided is set when Go cut the stack: it prints the first and last 50
	// frames of a deeper one with "...N frames elided..." between them
	// (older runtimes: the first 100, then "...additional frames
	// elided..."). ElidedAt is the index in Frames where the cut is: only
	// Frames[:ElidedAt] are the goroutine's leading frames without a gap.
	// ElidedFrames is how many frames were left out, when Go says (0:
	// not said).
	Elided       bool
	ElidedAt     int
	ElidedFrames int
	// CreatedBy is the function whose go statement started the goroutine;
	// CreatorID the goroutine that ran it (0 when not printed).
	CreatedBy string
	CreatorID int64
}

// ParseDump parses a debug=2 goroutine dump. The input comes from a remote
// process and may be truncated or hostile, so the parser is line based,
// never panics and skips what it does not understand (counted in Skipped).
// It fails only when the text holds no goroutine at all.
func ParseDump(data []byte) (*Dump, error) {
	d := &Dump{}
	var cur *DumpGoroutine
	// lastFrame is the index in cur.Frames waiting for its "\tfile:line"
	// line, or -1.
	lastFrame := -1
	inCreator, inAncestor := false, false
	for len(data) > 0 {
		var line []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			line, data = data, nil
		}
		s := strings.TrimRight(string(line), "\r")
		switch {
		case strings.HasPrefix(s, "goroutine "):
			g, ok := parseHeader(s)
			if !ok {
				d.Skipped++
				cur = nil
				continue
			}
			d.Goroutines = append(d.Goroutines, g)
			cur = &d.Goroutines[len(d.Goroutines)-1]
			lastFrame, inCreator, inAncestor = -1, false, false
		case cur == nil:
			if strings.TrimSpace(s) != "" {
				d.Skipped++
			}
		case s == "":
			cur, lastFrame = nil, -1
		case inAncestor:
			// tracebackancestors output: stacks of the creators, not of
			// this goroutine; ignored.
		case strings.HasPrefix(s, "\t"):
			if inCreator {
				inCreator = false
				continue
			}
			if lastFrame < 0 {
				d.Skipped++
				continue
			}
			file, ln, ok := parseFileLine(s)
			if !ok {
				d.Skipped++
			} else {
				cur.Frames[lastFrame].File, cur.Frames[lastFrame].Line = file, ln
			}
			lastFrame = -1
		case strings.HasPrefix(s, "created by "):
			cur.CreatedBy, cur.CreatorID = parseCreatedBy(s)
			inCreator, lastFrame = true, -1
		case strings.HasPrefix(s, "...") && strings.Contains(s, "elided"):
			if !cur.Elided {
				cur.Elided, cur.ElidedAt = true, len(cur.Frames)
				// "...42 frames elided..."
				if f := strings.Fields(strings.TrimPrefix(s, "...")); len(f) > 0 {
					if n, err := strconv.Atoi(f[0]); err == nil && n > 0 {
						cur.ElidedFrames = n
					}
				}
			}
			lastFrame = -1
		case strings.HasPrefix(s, "[originating from goroutine"):
			inAncestor, lastFrame = true, -1
		default:
			fn, ok := parseFuncLine(s)
			if !ok {
				d.Skipped++
				lastFrame = -1
				continue
			}
			cur.Frames = append(cur.Frames, Frame{Func: fn})
			lastFrame = len(cur.Frames) - 1
		}
	}
	if len(d.Goroutines) == 0 {
		return nil, fmt.Errorf("%w: no \"goroutine N [state]:\" header found in the debug=2 dump", ErrNotProfile)
	}
	return d, nil
}

// parseHeader parses "goroutine 18 [chan receive, 5 minutes, locked to thread]:".
// Newer runtimes may put annotations (gp=0x… m=…) between the ID and the
// bracket; they are ignored.
func parseHeader(s string) (DumpGoroutine, bool) {
	var g DumpGoroutine
	if !strings.HasSuffix(s, "]:") {
		return g, false
	}
	rest := s[len("goroutine "):]
	sp := strings.IndexByte(rest, ' ')
	if sp <= 0 {
		return g, false
	}
	id, err := strconv.ParseInt(rest[:sp], 10, 64)
	if err != nil || id < 0 {
		return g, false
	}
	open := strings.IndexByte(rest, '[')
	if open < 0 || open >= len(rest)-2 {
		return g, false
	}
	g.ID = id
	parts := strings.Split(rest[open+1:len(rest)-2], ", ")
	g.State = strings.TrimSpace(parts[0])
	if g.State == "" {
		return g, false
	}
	for _, p := range parts[1:] {
		p = strings.TrimSpace(p)
		switch {
		case p == "locked to thread":
			g.Locked = true
		case strings.HasSuffix(p, " minutes") || strings.HasSuffix(p, " minute"):
			n, err := strconv.ParseInt(strings.Fields(p)[0], 10, 64)
			// Keep absurd values as text rather than overflow the
			// Duration (a wait over ~292 years, e.g. 170,000,000 minutes).
			if err == nil && n >= 0 && n <= int64(math.MaxInt64/time.Minute) {
				g.Wait = time.Duration(n) * time.Minute
			} else {
				g.Extra = append(g.Extra, p)
			}
		case p != "":
			g.Extra = append(g.Extra, p)
		}
	}
	return g, true
}

// parseFuncLine takes "pkg.(*T).Method(0xc000010000, {0x1, 0x2})" or
// "pkg.f(...)" and returns the function name: everything before the
// argument list, which is the balanced (...) at the end of the line.
func parseFuncLine(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", false
	}
	name := s
	if strings.HasSuffix(s, ")") {
		depth := 0
		cut := -1
		for i := len(s) - 1; i >= 0; i-- {
			switch s[i] {
			case ')':
				depth++
			case '(':
				depth--
			}
			if depth == 0 {
				cut = i
				break
			}
		}
		if cut <= 0 {
			return "", false
		}
		name = s[:cut]
	}
	if strings.ContainsAny(name, " \t") || !balanced(name) {
		return "", false
	}
	return name, true
}

// balanced reports whether the parentheses of a function name pair up, as
// in pkg.(*T).M; a truncated line such as "pkg.f(" does not.
func balanced(s string) bool {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
			if depth < 0 {
				return false
			}
		}
	}
	return depth == 0
}

// parseFileLine parses "\t/path/to/file.go:123 +0x1d". Paths may hold
// spaces ("/tmp/rv dump/main.go", "C:/Program Files/Go/src/…"), so the
// line is cut at the last " +0x", not at the first space; inlined frames
// carry no offset, and GOTRACEBACK=system adds " fp=… sp=… pc=…" after it.
// The line number is the digits after the path's last colon, up to a space.
func parseFileLine(s string) (string, int64, bool) {
	s = strings.TrimSpace(s)
	if i := strings.LastIndex(s, " +0x"); i >= 0 {
		s = s[:i]
	}
	colon := strings.LastIndexByte(s, ':')
	if colon <= 0 {
		return "", 0, false
	}
	num := s[colon+1:]
	if sp := strings.IndexByte(num, ' '); sp >= 0 {
		num = num[:sp]
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return "", 0, false
	}
	return s[:colon], n, true
}

// parseCreatedBy parses "created by pkg.Func in goroutine 7" (the "in
// goroutine" part is absent on older runtimes).
func parseCreatedBy(s string) (string, int64) {
	rest := strings.TrimSpace(strings.TrimPrefix(s, "created by "))
	var id int64
	if i := strings.LastIndex(rest, " in goroutine "); i >= 0 {
		if n, err := strconv.ParseInt(strings.TrimSpace(rest[i+len(" in goroutine "):]), 10, 64); err == nil && n >= 0 {
			id = n
		}
		rest = rest[:i]
	}
	if fn, ok := parseFuncLine(rest); ok {
		rest = fn
	}
	return rest, id
}
