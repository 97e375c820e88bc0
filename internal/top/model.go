// Package top is the `livectl top` dashboard: a bubbletea program that polls
// a running server's /v1/stats, keeps short histories for sparklines, shows a
// sortable, filterable rooms table and, from the pprof admin listener, the
// largest goroutine groups. Polling runs in tea.Cmds off the UI goroutine, so
// a slow or vanished server never freezes the screen; it is shown instead,
// and polling backs off until the server answers again.
package top

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/table"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/livectl/livectl/internal/stats"
)

// Defaults for Options fields left zero.
const (
	DefaultInterval = time.Second
	DefaultHistory  = 5 * time.Minute
	// DefaultGoroutineGroups is how many goroutine groups the view asks for.
	DefaultGoroutineGroups = 50
	// MaxBackoff caps the wait between attempts while the server is away.
	MaxBackoff = 30 * time.Second
	// maxHistorySamples bounds the rings whatever --history/--interval say.
	maxHistorySamples = 3600
)

// Options configure the dashboard.
type Options struct {
	// Target is shown in the header (the server's base URL).
	Target string
	// Admin is shown in the goroutine view; empty when there is none.
	Admin string
	// Interval between /v1/stats polls.
	Interval time.Duration
	// GoroutineInterval between goroutine profile fetches, which cost the
	// server more (the profile stops the world), so they are slower and
	// happen only while the goroutine view is shown. Default max(5×Interval, 5s).
	GoroutineInterval time.Duration
	// History is the time window the sparklines cover.
	History time.Duration
	// Stats is where snapshots come from.
	Stats StatsSource
	// Goroutines is where goroutine groups come from; nil disables the view's data.
	Goroutines GoroutineSource
	// Cluster is where the nodes view's data comes from; nil: none.
	Cluster ClusterSource
	// Now is the clock; tests replace it.
	Now func() time.Time
}

func (o *Options) setDefaults() {
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.GoroutineInterval <= 0 {
		o.GoroutineInterval = max(5*o.Interval, 5*time.Second)
	}
	if o.History <= 0 {
		o.History = DefaultHistory
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// ConnState is the dashboard's view of the server.
type ConnState int

// Connection states.
const (
	// Connecting: no answer yet, no failure yet.
	Connecting ConnState = iota
	// Live: the last poll succeeded.
	Live
	// Down: the last poll failed; polls continue with backoff.
	Down
)

func (s ConnState) String() string {
	return [...]string{"connecting", "live", "down"}[s]
}

// View is which screen is shown.
type View int

// The dashboard's views; tab cycles through them.
const (
	ViewRooms View = iota
	ViewGoroutines
	ViewNodes // the cluster's nodes and rooms (/v1/cluster)
	numViews
)

// SortKey is the rooms table's sort column.
type SortKey int

// Sort columns in the order s cycles through them.
const (
	SortParticipants SortKey = iota
	SortBitrateIn
	SortBitrateOut
	SortTracks
	SortName
	numSortKeys
)

func (k SortKey) String() string {
	return [...]string{"participants", "bitrate in", "bitrate out", "tracks", "name"}[k]
}

// history holds one ring per sparkline.
type history struct {
	conns, rooms, bitIn, bitOut, loss, goroutines, heap, gcPause *Ring
}

func newHistory(n int) history {
	return history{NewRing(n), NewRing(n), NewRing(n), NewRing(n), NewRing(n), NewRing(n), NewRing(n), NewRing(n)}
}

// reset empties every ring: after a restart the old process's samples
// would draw one line across two processes.
func (h history) reset() {
	for _, r := range []*Ring{h.conns, h.rooms, h.bitIn, h.bitOut, h.loss, h.goroutines, h.heap, h.gcPause} {
		r.Reset()
	}
}

// Messages the model receives from its commands.
type (
	tickMsg  time.Time
	statsMsg struct {
		snap       *stats.Snapshot
		err        error
		start, end time.Time
	}
	goroutinesMsg struct {
		sum *GoroutineSummary
		err error
		end time.Time
	}
)

// Model is the dashboard's bubbletea model.
type Model struct {
	opts   Options
	keys   KeyMap
	ctx    context.Context
	cancel context.CancelFunc

	width, height int
	now           time.Time

	// Polling state.
	state     ConnState
	inflight  bool
	nextFetch time.Time
	failures  int
	lastErr   error
	paused    bool

	// Data.
	snap        *stats.Snapshot
	snapStart   time.Time // when the poll that got snap started
	snapAt      time.Time // and when it ended
	rates       Rates
	ratesOK     bool
	restartedAt time.Time
	hist        history

	// Goroutine view data.
	gr         *GoroutineSummary
	grErr      error
	grAt       time.Time
	grInflight bool
	grNext     time.Time

	// Nodes view data.
	cl         *ClusterView
	clErr      error
	clAt       time.Time
	clInflight bool
	clNext     time.Time

	// Presentation.
	view        View
	sortKey     SortKey
	sortReverse bool
	filter      lineInput
	filtering   bool
	showHelp    bool
	help        help.Model
	rooms       table.Model
	groups      table.Model
	roomsShown  int
	groupsShown int
}

// New returns a dashboard model; run it with tea.NewProgram.
func New(opts Options) *Model {
	opts.setDefaults()
	samples := int(opts.History / opts.Interval)
	samples = min(max(samples, 2), maxHistorySamples)
	ctx, cancel := context.WithCancel(context.Background())
	keys := DefaultKeyMap()
	tkeys := table.KeyMap{
		LineUp: keys.Up, LineDown: keys.Down, PageUp: keys.PageUp, PageDown: keys.PageDown,
		GotoTop: keys.Top, GotoBottom: keys.Bottom,
		HalfPageUp: key.NewBinding(key.WithKeys("ctrl+u")), HalfPageDown: key.NewBinding(key.WithKeys("ctrl+d")),
	}
	m := &Model{
		opts: opts, keys: keys, ctx: ctx, cancel: cancel,
		width: 80, height: 24,
		now:    opts.Now(),
		hist:   newHistory(samples),
		filter: lineInput{prompt: "filter: ", limit: 128},
		help:   help.New(),
		rooms:  table.New(table.WithFocused(true), table.WithKeyMap(tkeys), table.WithStyles(tableStyles())),
		groups: table.New(table.WithFocused(true), table.WithKeyMap(tkeys), table.WithStyles(tableStyles())),
	}
	m.layout()
	m.refreshRooms()
	m.refreshGroups()
	return m
}

// Init starts the first poll and the clock.
func (m *Model) Init() tea.Cmd {
	return tea.Batch(m.maybeFetch(), m.tick())
}

// tickEvery is how often the clock ticks: often enough that a countdown or
// staleness mark is never more than a fraction of an interval late.
func (m *Model) tickEvery() time.Duration {
	return min(max(m.opts.Interval/4, 100*time.Millisecond), time.Second)
}

// tick is tea.Tick that also ends when the model quits, so no timer
// goroutine outlives the program.
func (m *Model) tick() tea.Cmd {
	d, ctx := m.tickEvery(), m.ctx
	return func() tea.Msg {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case now := <-t.C:
			return tickMsg(now)
		case <-ctx.Done():
			return nil
		}
	}
}

// fetchTimeout bounds one poll: long enough for a busy server, short enough
// that a hung one is reported within a few seconds.
func (m *Model) fetchTimeout() time.Duration {
	return min(max(2*m.opts.Interval, 2*time.Second), 10*time.Second)
}

// maybeFetch starts a stats poll when one is due and none is running, and a
// goroutine fetch likewise while that view is shown.
func (m *Model) maybeFetch() tea.Cmd {
	if m.paused {
		return nil
	}
	var cmds []tea.Cmd
	if !m.inflight && !m.now.Before(m.nextFetch) && m.opts.Stats != nil {
		m.inflight = true
		src, ctx, now, timeout := m.opts.Stats, m.ctx, m.opts.Now, m.fetchTimeout()
		cmds = append(cmds, func() tea.Msg {
			start := now()
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			s, err := src.FetchStats(ctx)
			return statsMsg{snap: s, err: err, start: start, end: now()}
		})
	}
	if m.view == ViewGoroutines && !m.grInflight && !m.now.Before(m.grNext) && m.opts.Goroutines != nil {
		m.grInflight = true
		src, ctx, now, timeout := m.opts.Goroutines, m.ctx, m.opts.Now, 2*m.fetchTimeout()
		cmds = append(cmds, func() tea.Msg {
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			sum, err := src.TopGoroutines(ctx, DefaultGoroutineGroups)
			return goroutinesMsg{sum: sum, err: err, end: now()}
		})
	}
	cmds = append(cmds, m.fetchCluster())
	return tea.Batch(cmds...)
}

// backoff is the wait before attempt n+1 after n consecutive failures:
// the interval, doubling, capped at MaxBackoff.
func (m *Model) backoff() time.Duration {
	d := m.opts.Interval
	for i := 1; i < m.failures && d < MaxBackoff; i++ {
		d *= 2
	}
	return min(d, max(MaxBackoff, m.opts.Interval))
}

// Update handles one message.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.layout()
		return m, nil
	case tickMsg:
		// The model's clock is Options.Now, not the tick's timestamp, so a
		// test that controls Now controls everything shown.
		m.now = m.opts.Now()
		return m, tea.Batch(m.maybeFetch(), m.tick())
	case statsMsg:
		m.onStats(msg)
		return m, m.maybeFetch()
	case goroutinesMsg:
		m.onGoroutines(msg)
		return m, nil
	case clusterMsg:
		m.onCluster(msg)
		return m, nil
	case tea.KeyMsg:
		return m.onKey(msg)
	}
	return m, nil
}

func (m *Model) onStats(msg statsMsg) {
	m.inflight = false
	if msg.end.After(m.now) {
		m.now = msg.end
	}
	if m.paused {
		// The display is frozen; the next poll after resuming replaces this.
		return
	}
	if msg.err != nil {
		m.failures++
		m.lastErr = msg.err
		m.state = Down
		m.nextFetch = msg.end.Add(m.backoff())
		return
	}
	s := msg.snap
	if m.snap != nil {
		prev, cur := Poll{m.snap, m.snapStart, m.snapAt}, Poll{s, msg.start, msg.end}
		if Restarted(prev, cur) {
			m.restartedAt = msg.end
			m.hist.reset()
		}
		m.rates, m.ratesOK = Derive(prev, cur)
	}
	h := m.hist
	h.conns.Push(float64(s.Connections))
	h.rooms.Push(float64(roomCount(s)))
	h.goroutines.Push(float64(s.Goroutines))
	h.heap.Push(float64(s.HeapBytes))
	h.gcPause.Push(float64(s.GCPauseNsP99))
	if m.ratesOK {
		h.bitIn.Push(m.rates.BitrateInBps)
		h.bitOut.Push(m.rates.BitrateOutBps)
		h.loss.Push(m.rates.LossPct)
	}
	m.snap, m.snapStart, m.snapAt = s, msg.start, msg.end
	m.state, m.failures, m.lastErr = Live, 0, nil
	// Keep the cadence of the polls' starts, not their ends, so a slow
	// server does not stretch the interval; never schedule in the past: a
	// poll that took longer than the interval is followed by the next one
	// now, and the countdown shown never goes negative.
	m.nextFetch = msg.start.Add(m.opts.Interval)
	if m.nextFetch.Before(m.now) {
		m.nextFetch = m.now
	}
	m.refreshRooms()
}

func (m *Model) onGoroutines(msg goroutinesMsg) {
	m.grInflight = false
	m.grNext = msg.end.Add(m.opts.GoroutineInterval)
	if m.paused {
		return
	}
	if msg.err != nil {
		m.grErr = msg.err
		return
	}
	m.gr, m.grErr, m.grAt = msg.sum, nil, msg.end
	m.refreshGroups()
}

func (m *Model) onKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	if msg.Type == tea.KeyCtrlC {
		return m.quit()
	}
	// Keys typed faster than the terminal is read (or sent by a script)
	// arrive as one message with several runes; outside the filter box
	// each one is a command of its own.
	if msg.Type == tea.KeyRunes && len(msg.Runes) > 1 && !msg.Paste && !m.filtering {
		var cmds []tea.Cmd
		for _, r := range msg.Runes {
			_, cmd := m.onKey(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}})
			cmds = append(cmds, cmd) // after "/", the rest goes to the filter
		}
		return m, tea.Batch(cmds...)
	}
	if m.filtering {
		switch {
		case key.Matches(msg, m.keys.Clear):
			m.filtering = false
			m.filter.SetValue("")
		case key.Matches(msg, m.keys.Accept):
			m.filtering = false
		default:
			m.filter.Update(msg)
		}
		m.refreshRooms()
		m.refreshGroups()
		return m, nil
	}
	if m.showHelp {
		switch {
		case key.Matches(msg, m.keys.Quit):
			return m.quit()
		case key.Matches(msg, m.keys.Help), key.Matches(msg, m.keys.Clear):
			m.showHelp = false
		}
		return m, nil
	}
	switch {
	case key.Matches(msg, m.keys.Quit):
		return m.quit()
	case key.Matches(msg, m.keys.Help):
		m.showHelp = true
	case key.Matches(msg, m.keys.Filter):
		m.filtering = true
	case key.Matches(msg, m.keys.Clear):
		if m.filter.Value() != "" {
			m.filter.SetValue("")
			m.refreshRooms()
			m.refreshGroups()
		}
	case key.Matches(msg, m.keys.Sort):
		m.sortKey = (m.sortKey + 1) % numSortKeys
		m.sortReverse = false
		m.refreshRooms()
	case key.Matches(msg, m.keys.Reverse):
		m.sortReverse = !m.sortReverse
		m.refreshRooms()
	case key.Matches(msg, m.keys.Pause):
		m.paused = !m.paused
		if !m.paused {
			m.nextFetch, m.grNext = m.now, m.now
			return m, m.maybeFetch()
		}
	case key.Matches(msg, m.keys.Refresh):
		m.nextFetch, m.grNext, m.failures = m.now, m.now, 0
		return m, m.maybeFetch()
	case key.Matches(msg, m.keys.View):
		m.view = (m.view + 1) % numViews
		return m, m.maybeFetch()
	default:
		var cmd tea.Cmd
		switch m.view {
		case ViewRooms:
			m.rooms, cmd = m.rooms.Update(msg)
		case ViewGoroutines:
			m.groups, cmd = m.groups.Update(msg)
		}
		return m, cmd
	}
	return m, nil
}

func (m *Model) quit() (tea.Model, tea.Cmd) {
	m.cancel() // abandon any poll in flight
	return m, tea.Quit
}

// roomCount prefers the server's count and falls back to the list's length.
func roomCount(s *stats.Snapshot) int64 {
	if s.RoomCount > 0 {
		return s.RoomCount
	}
	return int64(len(s.Rooms))
}

// VisibleRooms returns the rooms that match the filter, in display order.
func (m *Model) VisibleRooms() []stats.Room {
	if m.snap == nil {
		return nil
	}
	f := strings.ToLower(strings.TrimSpace(m.filter.Value()))
	out := make([]stats.Room, 0, len(m.snap.Rooms))
	for _, r := range m.snap.Rooms {
		if f == "" || strings.Contains(strings.ToLower(r.Name), f) {
			out = append(out, r)
		}
	}
	SortRooms(out, m.sortKey, m.sortReverse)
	return out
}

// SortRooms orders rooms by key: numbers largest first, names A to Z, ties
// by name so the order is stable between polls; reverse flips it.
func SortRooms(rooms []stats.Room, k SortKey, reverse bool) {
	slices.SortStableFunc(rooms, func(a, b stats.Room) int {
		var c int
		switch k {
		case SortParticipants:
			c = cmp.Compare(b.Participants, a.Participants)
		case SortBitrateIn:
			c = cmp.Compare(b.BitrateInBps, a.BitrateInBps)
		case SortBitrateOut:
			c = cmp.Compare(b.BitrateOutBps, a.BitrateOutBps)
		case SortTracks:
			c = cmp.Compare(b.Tracks, a.Tracks)
		}
		if c == 0 {
			c = cmp.Compare(a.Name, b.Name)
		}
		if reverse {
			c = -c
		}
		return c
	})
}

// VisibleGroups returns the goroutine groups that match the filter (on any
// frame of the stack), largest first.
func (m *Model) VisibleGroups() []GoroutineGroup {
	if m.gr == nil {
		return nil
	}
	f := strings.ToLower(strings.TrimSpace(m.filter.Value()))
	out := make([]GoroutineGroup, 0, len(m.gr.Groups))
	for _, g := range m.gr.Groups {
		if f == "" || groupMatches(g, f) {
			out = append(out, g)
		}
	}
	slices.SortStableFunc(out, func(a, b GoroutineGroup) int { return cmp.Compare(b.Count, a.Count) })
	return out
}

func groupMatches(g GoroutineGroup, f string) bool {
	if strings.Contains(strings.ToLower(g.Top), f) || strings.Contains(strings.ToLower(g.State), f) {
		return true
	}
	for _, fr := range g.Stack {
		if strings.Contains(strings.ToLower(fr), f) {
			return true
		}
	}
	return false
}

// State reports the connection state (for tests and the e2e harness).
func (m *Model) State() ConnState { return m.state }

// Paused reports whether polling is paused.
func (m *Model) Paused() bool { return m.paused }

// Snapshot is the latest snapshot shown, nil before the first.
func (m *Model) Snapshot() *stats.Snapshot { return m.snap }

// CurrentRates are the rates from the last two snapshots; ok is false until
// there are two from the same server process.
func (m *Model) CurrentRates() (Rates, bool) { return m.rates, m.ratesOK }

// NextFetch is when the next poll is due.
func (m *Model) NextFetch() time.Time { return m.nextFetch }

// CurrentView is the screen shown.
func (m *Model) CurrentView() View { return m.view }
