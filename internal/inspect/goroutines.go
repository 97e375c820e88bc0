package inspect

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/pprof/profile"
)

// GoroutineProfile is one goroutine profile (the protobuf form of
// /debug/pprof/goroutine) with its raw bytes, kept so it can be saved for
// `go tool pprof` or diffed later.
type GoroutineProfile struct {
	Raw       []byte
	Profile   *profile.Profile
	Source    string // URL or file it came from
	FetchedAt time.Time
}

// FetchGoroutines fetches and parses the goroutine profile.
func (c *Client) FetchGoroutines(ctx context.Context) (*GoroutineProfile, error) {
	raw, err := c.Fetch(ctx, "/debug/pprof/goroutine", debugQuery(0), 0)
	if err != nil {
		return nil, err
	}
	gp, err := ParseGoroutineProfile(raw.Body, raw.URL)
	if err != nil {
		return nil, err
	}
	gp.FetchedAt = raw.FetchedAt
	return gp, nil
}

// FetchGoroutineDump fetches and parses the debug=2 text dump, which carries
// each goroutine's state, wait time and creator.
func (c *Client) FetchGoroutineDump(ctx context.Context) (*Dump, error) {
	raw, err := c.Fetch(ctx, "/debug/pprof/goroutine", debugQuery(2), 0)
	if err != nil {
		return nil, err
	}
	d, err := ParseDump(raw.Body)
	if err != nil {
		return nil, fmt.Errorf("parsing goroutine dump from %s: %w", raw.URL, err)
	}
	d.Raw = raw.Body
	return d, nil
}

// ParseGoroutineProfile parses a goroutine profile (gzipped or plain
// protobuf); source names it in errors.
func ParseGoroutineProfile(raw []byte, source string) (*GoroutineProfile, error) {
	p, err := parseProfile(raw, source)
	if err != nil {
		return nil, err
	}
	if len(p.SampleType) == 0 || p.SampleType[0].Type != "goroutine" {
		kind := "unknown"
		if len(p.SampleType) > 0 {
			kind = p.SampleType[0].Type
		}
		return nil, fmt.Errorf("reading %s: %w: it is a %q profile, not a goroutine profile", source, ErrNotProfile, kind)
	}
	return &GoroutineProfile{Raw: raw, Profile: p, Source: source}, nil
}

// LoadGoroutineProfile reads a profile saved with --save (or by curl).
func LoadGoroutineProfile(path string) (*GoroutineProfile, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading goroutine profile: %w", err)
	}
	gp, err := ParseGoroutineProfile(raw, path)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(path); err == nil {
		gp.FetchedAt = st.ModTime()
	}
	if gp.Profile.TimeNanos != 0 {
		gp.FetchedAt = time.Unix(0, gp.Profile.TimeNanos)
	}
	return gp, nil
}

// parseProfile parses a protobuf profile. google/pprof also accepts legacy
// text formats; a body that parsed but holds no sample type is not something
// a pprof handler sent.
func parseProfile(raw []byte, source string) (*profile.Profile, error) {
	if len(raw) == 0 {
		return nil, fmt.Errorf("reading %s: %w: the body is empty", source, ErrNotProfile)
	}
	p, err := profile.ParseData(raw)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w (%v); the target answered, but not with a pprof profile: is it a Go process serving net/http/pprof at /debug/pprof/?",
			source, ErrNotProfile, err)
	}
	if len(p.SampleType) == 0 {
		return nil, fmt.Errorf("reading %s: %w: the profile has no sample types", source, ErrNotProfile)
	}
	return p, nil
}

// Total is the number of goroutines in the profile.
func (g *GoroutineProfile) Total() int64 {
	var n int64
	for _, s := range g.Profile.Sample {
		if len(s.Value) > 0 {
			n += s.Value[0]
		}
	}
	return n
}

// NotStarted is the Top of goroutines that have not run yet: their stack
// is empty but for runtime.goexit.
const NotStarted = "(not yet started)"

// Frame is one function in a stack.
type Frame struct {
	Func string
	File string
	Line int64
}

// Location is file:line with the directory trimmed to its last element.
func (f Frame) Location() string {
	if f.File == "" {
		return ""
	}
	file := f.File
	if i := strings.LastIndexByte(file, '/'); i >= 0 {
		if j := strings.LastIndexByte(file[:i], '/'); j >= 0 {
			file = file[j+1:]
		}
	}
	return file + ":" + strconv.FormatInt(f.Line, 10)
}

// frames expands a sample's locations (with inlined calls) into frames,
// leaf first, dropping runtime.goexit, which every goroutine has at the
// bottom. complete is false when goexit was not there: the runtime cut the
// stack (it records at most 128 frames by default, GODEBUG=profstackdepth).
func frames(s *profile.Sample) (out []Frame, complete bool) {
	out = make([]Frame, 0, len(s.Location)+2)
	for _, loc := range s.Location {
		for _, ln := range loc.Line {
			f := Frame{Line: ln.Line}
			if ln.Function != nil {
				f.Func, f.File = ln.Function.Name, ln.Function.Filename
			}
			if f.Func == "" {
				f.Func = fmt.Sprintf("0x%x", loc.Address)
			}
			out = append(out, f)
		}
		if len(loc.Line) == 0 {
			out = append(out, Frame{Func: fmt.Sprintf("0x%x", loc.Address)})
		}
	}
	if n := len(out); n > 0 && out[n-1].Func == "runtime.goexit" {
		return out[:n-1], true
	}
	return out, false
}

// isRuntimeFrame reports whether a frame is Go runtime machinery, or a
// standard blocking primitive, that sits above the interesting frame of a
// parked goroutine (gopark, chanrecv, semacquire, netpoll, time.Sleep,
// Mutex.Lock). What it blocks on is already the group's state; the "top" of
// a group is the first frame that is not such machinery, so two goroutines
// sleeping in different functions land in different, named groups.
func isRuntimeFrame(fn string) bool {
	if strings.HasPrefix(fn, "runtime.") ||
		strings.HasPrefix(fn, "internal/runtime/") ||
		strings.HasPrefix(fn, "internal/sync.") ||
		strings.HasPrefix(fn, "internal/poll.") ||
		strings.HasPrefix(fn, "net.(*netFD).") ||
		strings.HasPrefix(fn, "net.(*conn).") ||
		strings.HasPrefix(fn, "net.(*TCPListener).") ||
		strings.HasPrefix(fn, "sync.runtime_") {
		return true
	}
	switch fn {
	case "time.Sleep", "sync.(*Mutex).Lock", "sync.(*RWMutex).Lock", "sync.(*RWMutex).RLock",
		"sync.(*WaitGroup).Wait", "sync.(*Cond).Wait":
		return true
	}
	return false
}

// topIndex picks the frame that names a group: the first frame of code
// outside the standard library (the application or a third-party module,
// which is where leaks are fixed), else the first frame outside the runtime
// (a goroutine entirely in net/http stays named by net/http), else the leaf.
func topIndex(fs []Frame) int {
	firstNonRuntime := -1
	for i, f := range fs {
		if isRuntimeFrame(f.Func) {
			continue
		}
		if firstNonRuntime < 0 {
			firstNonRuntime = i
		}
		if !isStdlib(f.Func) {
			return i
		}
	}
	return max(firstNonRuntime, 0)
}

// isStdlib guesses whether a function belongs to the standard library: its
// import path's first element has no dot (bufio, net/http) and it is not
// package main. Modules without a dot in their path are taken for standard
// library too, which only changes which frame names a group.
func isStdlib(fn string) bool {
	if strings.HasPrefix(fn, "main.") {
		return false
	}
	head := fn
	if i := strings.IndexByte(head, '/'); i >= 0 {
		head = head[:i]
	} else if i := strings.IndexByte(head, '.'); i >= 0 {
		head = head[:i]
	}
	return !strings.Contains(head, ".")
}

// GroupOptions say how to group a goroutine profile.
type GroupOptions struct {
	// Depth > 0 groups by the first Depth frames from the top frame (the
	// runtime frames above it stay in the key); 0 groups identical stacks.
	Depth int
	// Filter keeps groups with at least one frame (function or file:line)
	// that matches.
	Filter *regexp.Regexp
	// Top > 0 keeps only the Top largest groups in Report.Groups (Total
	// still counts every goroutine).
	Top int
	// Dump, when set (from FetchGoroutineDump), adds states, wait times and
	// creators to the groups.
	Dump *Dump
}

// Group is a set of goroutines with the same stack (or the same top frames).
type Group struct {
	Count int64 `json:"count"`
	// State is the most common state of the group's goroutines: from the
	// debug=2 dump when one was fetched (StateSource "dump"), otherwise
	// inferred from the runtime frames on the stack (StateSource "stack").
	State       string `json:"state"`
	StateSource string `json:"state_source"`
	// States counts goroutines per state (a group may mix "chan receive"
	// and "runnable", or, with Depth, stacks blocked on different things).
	States map[string]int `json:"states,omitempty"`
	// WaitMinS / WaitMaxS are the shortest and longest wait among the
	// group's goroutines, in seconds. Go prints waits only once they reach a
	// minute, so goroutines parked for less count as 0.
	WaitMinS *float64 `json:"wait_min_s,omitempty"`
	WaitMaxS *float64 `json:"wait_max_s,omitempty"`
	// Top is the frame that names the group: the first one outside the Go
	// runtime and standard library, else the first outside the runtime
	// (see topIndex); TopLocation is its file:line.
	Top         string `json:"top"`
	TopLocation string `json:"top_location"`
	// Entry is the function the goroutines started in (the bottom frame).
	Entry string `json:"entry"`
	// CreatedBy is the function whose go statement started them (dump only).
	CreatedBy string `json:"created_by,omitempty"`
	// Stack is the (possibly depth-cut) stack, leaf first; Locations are the
	// matching file:line entries.
	Stack     []string `json:"stack"`
	Locations []string `json:"locations"`

	// Key identifies the group across samples (stack functions and lines).
	Key string `json:"-"`

	frames []Frame // the (cut) stack, for joining with a dump
	// whole is false when the profile's stack was cut by the runtime
	// before the frames the key needs: frames is then only the leading
	// part of the goroutines' stacks.
	whole bool
}

// Report is a grouped goroutine profile: the JSON document of
// `inspect goroutines`.
type Report struct {
	Target string    `json:"target,omitempty"`
	At     time.Time `json:"at"`
	Total  int64     `json:"total"`
	// Matched counts goroutines in groups that passed the filter (equal to
	// Total without one).
	Matched int64 `json:"matched"`
	// GroupCount is the number of groups before --top cut the list.
	GroupCount int     `json:"group_count"`
	Groups     []Group `json:"groups"`
	// Depth is the --depth used (0: identical stacks).
	Depth int `json:"depth"`
}

// GroupProfile groups the goroutines of gp by stack. Groups are ordered by count,
// largest first, then by top frame and key so output is deterministic.
func GroupProfile(gp *GoroutineProfile, opts GroupOptions) *Report {
	all := groupAll(gp, opts)
	r := &Report{Target: gp.Source, At: gp.FetchedAt, Total: gp.Total(), Depth: opts.Depth, Groups: []Group{}}
	for _, g := range all {
		if opts.Filter != nil && !g.matches(opts.Filter) {
			continue
		}
		r.Matched += g.Count
		r.Groups = append(r.Groups, *g)
	}
	r.GroupCount = len(r.Groups)
	if opts.Top > 0 && len(r.Groups) > opts.Top {
		r.Groups = r.Groups[:opts.Top]
	}
	return r
}

func (g *Group) matches(re *regexp.Regexp) bool {
	for i, fn := range g.Stack {
		if re.MatchString(fn) || re.MatchString(g.Locations[i]) {
			return true
		}
	}
	return re.MatchString(g.CreatedBy)
}

// groupAll builds every group of gp, sorted, without filter or top cut.
func groupAll(gp *GoroutineProfile, opts GroupOptions) []*Group {
	byKey := map[string]*Group{}
	var order []*Group
	for _, s := range gp.Profile.Sample {
		if len(s.Value) == 0 || s.Value[0] <= 0 {
			continue
		}
		fs, complete := frames(s)
		top := topIndex(fs)
		entry := ""
		if len(fs) > 0 {
			entry = fs[len(fs)-1].Func
		}
		cut, key, whole := fs, "", complete
		if opts.Depth > 0 {
			// Coarse grouping: the functions of the first Depth frames from
			// the top, whatever runtime frames sit above and whatever lines.
			end := min(top+opts.Depth, len(fs))
			cut, key = fs[:end], funcKey(fs[top:end])
			whole = complete || top+opts.Depth <= len(fs)
		} else {
			key = stackKey(cut)
		}
		state := inferState(cut)
		if len(cut) == 0 {
			// Only runtime.goexit: created by a go statement, not yet
			// scheduled for the first time. Decided here, not when the
			// group is made, so every sample of it (one per label set)
			// counts the same state.
			state = "runnable"
		}
		g := byKey[key]
		if g == nil {
			g = &Group{Key: key, Entry: entry, Stack: make([]string, len(cut)), Locations: make([]string, len(cut)), frames: cut, whole: whole}
			for i, f := range cut {
				g.Stack[i], g.Locations[i] = f.Func, f.Location()
			}
			g.State, g.StateSource = state, "stack"
			g.States = map[string]int{}
			if len(cut) > 0 {
				g.Top, g.TopLocation = cut[top].Func, cut[top].Location()
			} else {
				g.Top = NotStarted
			}
			byKey[key] = g
			order = append(order, g)
		} else if g.Entry != entry {
			// Cut stacks of different goroutines may start in different functions.
			g.Entry = "(various)"
		}
		g.Count += s.Value[0]
		g.States[state] += int(s.Value[0])
	}
	for _, g := range order {
		g.State = mostCommon(g.States)
	}
	if opts.Dump != nil {
		applyDump(order, opts.Dump, opts.Depth)
	}
	sort.SliceStable(order, func(i, j int) bool {
		a, b := order[i], order[j]
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		if a.Top != b.Top {
			return a.Top < b.Top
		}
		return a.Key < b.Key
	})
	return order
}

// stackKey identifies a stack by function and line of each frame: the two
// sources (protobuf and debug=2 text) agree on both, while addresses and
// file paths can differ between them.
func stackKey(fs []Frame) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(f.Func)
		b.WriteByte(':')
		b.WriteString(strconv.FormatInt(f.Line, 10))
		b.WriteByte('\n')
	}
	return b.String()
}

// funcKey identifies a stack by function names only: the fallback when lines
// disagree between the protobuf and text forms.
func funcKey(fs []Frame) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(f.Func)
		b.WriteByte('\n')
	}
	return b.String()
}

// inferState names what a goroutine is blocked on from the runtime frames
// on its stack, for when no debug=2 dump was fetched. It recognises the
// common parks; anything else parked is "waiting", anything not parked
// "running".
func inferState(fs []Frame) string {
	parked := false
	for _, f := range fs {
		switch fn := f.Func; {
		case fn == "runtime.gopark" || fn == "runtime.goparkunlock" || fn == "runtime.park_m":
			parked = true
		case fn == "runtime.chanrecv" || fn == "runtime.chanrecv1" || fn == "runtime.chanrecv2":
			return "chan receive"
		case fn == "runtime.chansend" || fn == "runtime.chansend1":
			return "chan send"
		case fn == "runtime.selectgo":
			return "select"
		case fn == "runtime.block":
			return "select (no cases)"
		case strings.HasPrefix(fn, "internal/poll.runtime_pollWait"):
			return "IO wait"
		case fn == "time.Sleep":
			return "sleep"
		case fn == "sync.(*Mutex).Lock" || fn == "sync.(*RWMutex).Lock":
			return "sync.Mutex.Lock"
		case fn == "sync.(*RWMutex).RLock":
			return "sync.RWMutex.RLock"
		case fn == "sync.(*WaitGroup).Wait":
			return "sync.WaitGroup.Wait"
		case fn == "sync.(*Cond).Wait":
			return "sync.Cond.Wait"
		case strings.HasPrefix(fn, "runtime.semacquire"), strings.HasPrefix(fn, "sync.runtime_Semacquire"):
			return "semacquire"
		case fn == "runtime.gcBgMarkWorker" || fn == "runtime.bgsweep" || fn == "runtime.bgscavenge":
			if parked {
				return "GC worker (idle)"
			}
		}
	}
	if parked {
		return "waiting"
	}
	return "running"
}

// applyDump joins the debug=2 goroutines to groups and fills states, waits
// and creators. The text form hides the runtime frames the protobuf form
// has (gopark, chanrecv), so the join uses only the frames outside the
// runtime: by function and line first, then by function only. The two forms
// are snapshots taken a moment apart, so a goroutine in the dump may have no
// group; it is then not counted.
//
// Deep stacks are cut differently by the two forms: the text keeps the
// first and last 50 frames of a stack over 100, the profile the first 128.
// Such a goroutine never matches a group whole, so it is joined on the
// leading frames both sides still have (see prefixJoin).
func applyDump(groups []*Group, d *Dump, depth int) {
	byKey := map[string]*Group{}
	byFunc := map[string]*Group{}
	pj := &prefixJoin{}
	for _, g := range groups {
		fs := userFrames(g.frames[topIndex(g.frames):])
		if _, dup := byKey[stackKey(fs)]; !dup {
			byKey[stackKey(fs)] = g
		}
		if _, dup := byFunc[funcKey(fs)]; !dup {
			byFunc[funcKey(fs)] = g
		}
		pj.add(g, fs)
	}
	type acc struct {
		states   map[string]int
		min, max time.Duration
		n        int
		creators map[string]int
	}
	accs := map[*Group]*acc{}
	for i := range d.Goroutines {
		gr := &d.Goroutines[i]
		top := topIndex(gr.Frames)
		fs := gr.Frames[top:]
		ds := dumpStack{total: -1, whole: !gr.Elided}
		// lead is how many of fs are the goroutine's leading frames
		// without a gap.
		lead := len(fs)
		if gr.Elided {
			lead = max(gr.ElidedAt-top, 0)
		}
		if depth > 0 && depth < len(fs) {
			fs = fs[:depth]
			ds.whole = ds.whole || depth <= lead
		} else if gr.Elided && lead > 0 {
			// The outermost frames and the count left out tell apart
			// stacks that differ only in how deep they are (recursion).
			ds.tail = userFrames(gr.Frames[gr.ElidedAt:])
			if gr.ElidedFrames > 0 {
				ds.total = len(userFrames(fs)) + gr.ElidedFrames
			}
		}
		ds.lead = userFrames(fs[:min(lead, len(fs))])
		all := userFrames(fs)
		g := byKey[stackKey(all)]
		if g == nil {
			g = byFunc[funcKey(all)]
		}
		if g == nil {
			g = pj.find(ds)
		}
		if g == nil {
			continue
		}
		a := accs[g]
		if a == nil {
			a = &acc{states: map[string]int{}, creators: map[string]int{}}
			accs[g] = a
		}
		a.states[gr.State]++
		if a.n == 0 || gr.Wait < a.min {
			a.min = gr.Wait
		}
		if gr.Wait > a.max {
			a.max = gr.Wait
		}
		a.n++
		if gr.CreatedBy != "" {
			a.creators[gr.CreatedBy]++
		}
	}
	for g, a := range accs {
		g.States = a.states
		g.State, g.StateSource = mostCommon(a.states), "dump"
		lo, hi := a.min.Seconds(), a.max.Seconds()
		g.WaitMinS, g.WaitMaxS = &lo, &hi
		g.CreatedBy = mostCommon(a.creators)
	}
}

// dumpStack is what a dump goroutine tells of its stack, in user frames
// from its top, when it matched no group whole.
type dumpStack struct {
	lead  []Frame // the leading frames, without a gap
	tail  []Frame // the outermost frames after an elision; nil if none
	total int     // frames in the whole stack, -1 when unknown
	whole bool    // lead is the entire stack (as far as the key goes)
}

// prefixJoin matches a dump goroutine to a group when one side holds only
// the leading part of the stack: the shorter side must be such a part, and
// the longer one must start with it. A group the profile holds whole must
// also end as the dump does and, when the dump says how many frames it
// left out, be as deep; so a recursion blocked at several depths keeps
// its groups apart. What still cannot be told apart goes to the larger
// group.
type prefixJoin struct {
	groups []*Group
	user   [][]Frame // each group's user frames from its top
	// byLen[n] indexes by their first n user frames the groups that go on
	// past them (or may: their stack was cut); built when first needed.
	byLen map[int]*prefixIndex
	// cut are the groups whose stack the profile cut short.
	cut []int
}

type prefixIndex struct{ byKey, byFunc map[string][]int }

func (p *prefixJoin) add(g *Group, user []Frame) {
	if !g.whole {
		p.cut = append(p.cut, len(p.groups))
	}
	p.groups = append(p.groups, g)
	p.user = append(p.user, user)
}

// Match qualities, best last.
const (
	noMatch            = iota
	matchPrefixAndTail // a whole group; the dump did not say how deep
	matchCut           // a group the profile cut; nothing more to check
	matchExactDepth    // a whole group, as deep as the dump says
)

func (p *prefixJoin) find(d dumpStack) *Group {
	n := len(d.lead)
	if n == 0 {
		return nil
	}
	best, bestQ := -1, noMatch
	consider := func(i, q int) {
		if q == noMatch {
			return
		}
		if best < 0 || q > bestQ || (q == bestQ && (len(p.user[i]) > len(p.user[best]) ||
			len(p.user[i]) == len(p.user[best]) && p.groups[i].Count > p.groups[best].Count)) {
			best, bestQ = i, q
		}
	}
	if !d.whole {
		// The dump was cut: groups whose stack starts with lead.
		idx := p.index(n)
		cands := idx.byKey[stackKey(d.lead)]
		if len(cands) == 0 {
			cands = idx.byFunc[funcKey(d.lead)]
		}
		for _, i := range cands {
			consider(i, p.quality(i, d))
		}
	}
	// The profile was cut before the dump's leading frames end: a cut
	// group whose stack is their start. The longest is the most specific.
	for _, i := range p.cut {
		u := p.user[i]
		if len(u) > 0 && len(u) <= n && sameFrames(u, d.lead[:len(u)]) && (d.total < 0 || d.total >= len(u)) {
			consider(i, matchCut)
		}
	}
	if best < 0 {
		return nil
	}
	return p.groups[best]
}

// quality rates group i, whose first len(d.lead) frames are d.lead, as
// the stack the dump cut.
func (p *prefixJoin) quality(i int, d dumpStack) int {
	u := p.user[i]
	if !p.groups[i].whole {
		if d.total >= 0 && d.total < len(u) {
			return noMatch // the profile holds more frames than the stack has
		}
		return matchCut
	}
	if len(d.tail) > len(u) || (d.tail != nil && !sameFrames(u[len(u)-len(d.tail):], d.tail)) {
		return noMatch
	}
	switch {
	case d.total < 0:
		return matchPrefixAndTail
	case d.total == len(u):
		return matchExactDepth
	}
	return noMatch
}

// sameFrames compares by function and line, or else by function only, as
// the whole-stack join does.
func sameFrames(a, b []Frame) bool {
	return stackKey(a) == stackKey(b) || funcKey(a) == funcKey(b)
}

func (p *prefixJoin) index(n int) *prefixIndex {
	if idx, ok := p.byLen[n]; ok {
		return idx
	}
	if p.byLen == nil {
		p.byLen = map[int]*prefixIndex{}
	}
	idx := &prefixIndex{byKey: map[string][]int{}, byFunc: map[string][]int{}}
	for i, u := range p.user {
		// A whole stack of exactly n frames is not one the dump cut
		// after n frames: that one had more.
		if len(u) > n || (len(u) == n && !p.groups[i].whole) {
			k, f := stackKey(u[:n]), funcKey(u[:n])
			idx.byKey[k] = append(idx.byKey[k], i)
			idx.byFunc[f] = append(idx.byFunc[f], i)
		}
	}
	p.byLen[n] = idx
	return idx
}

// userFrames drops the runtime frames, which only the protobuf form has.
func userFrames(fs []Frame) []Frame {
	out := make([]Frame, 0, len(fs))
	for _, f := range fs {
		if !isRuntimeFrame(f.Func) {
			out = append(out, f)
		}
	}
	return out
}

// mostCommon returns the key with the largest count, ties broken by name.
func mostCommon(m map[string]int) string {
	best, bestN := "", -1
	for k, n := range m {
		if n > bestN || (n == bestN && k < best) {
			best, bestN = k, n
		}
	}
	return best
}
