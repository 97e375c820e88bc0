package top

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/table"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"github.com/livectl/livectl/internal/inspect"
	"github.com/livectl/livectl/internal/stats"
)

// Styles. Colours are dropped automatically where the terminal has none.
var (
	headerStyle = lipgloss.NewStyle().Bold(true).Reverse(true)
	labelStyle  = lipgloss.NewStyle().Faint(true)
	sparkStyle  = lipgloss.NewStyle().Foreground(lipgloss.Color("6"))
	okStyle     = lipgloss.NewStyle().Foreground(lipgloss.Color("2")).Bold(true)
	warnStyle   = lipgloss.NewStyle().Foreground(lipgloss.Color("3")).Bold(true)
	errStyle    = lipgloss.NewStyle().Foreground(lipgloss.Color("1")).Bold(true)
	pauseStyle  = lipgloss.NewStyle().Foreground(lipgloss.Color("4")).Bold(true)
	staleStyle  = lipgloss.NewStyle().Faint(true)
	footStyle   = lipgloss.NewStyle().Faint(true)
	boxStyle    = lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).Padding(0, 1)
)

func tableStyles() table.Styles {
	return table.Styles{
		Header:   lipgloss.NewStyle().Bold(true).Padding(0, 1),
		Cell:     lipgloss.NewStyle().Padding(0, 1),
		Selected: lipgloss.NewStyle().Reverse(true),
	}
}

// Fixed row budget of each view; the table gets the rest.
const (
	roomsChrome      = 9 // header, status, 4 totals rows, extra totals, blank, footer
	goroutinesChrome = 5 // header, status, summary, blank, footer
	minWidth         = 40
)

// roomCol is a column of the rooms table. The room name takes what the
// others leave; on a terminal too narrow for them all, columns are left
// out by drop (lowest first, 0 never) until the name has minNameWidth.
type roomCol struct {
	title string
	width int
	key   SortKey
	drop  int
	cell  func(stats.Room) string
}

const minNameWidth = 12

var roomCols = []roomCol{
	{"PART", 5, SortParticipants, 0, func(r stats.Room) string { return fmt.Sprint(r.Participants) }},
	{"VIEW", 5, -1, 0, func(r stats.Room) string { return fmt.Sprint(r.Viewers) }},
	{"PUB", 3, -1, 5, func(r stats.Room) string { return fmt.Sprint(r.Publishers) }},
	{"SUB", 4, -1, 1, func(r stats.Room) string { return fmt.Sprint(r.Subscribers) }},
	{"TRK", 4, SortTracks, 2, func(r stats.Room) string { return fmt.Sprint(r.Tracks) }},
	// Chat messages in, and deliveries to members, per second.
	{"MSG/s", 5, -1, 0, func(r stats.Room) string { return compact(r.ChatInPerS) }},
	{"DLV/s", 6, -1, 0, func(r stats.Room) string { return compact(r.ChatDeliveriesPerS) }},
	{"IN", 10, SortBitrateIn, 3, func(r stats.Room) string { return formatBits(float64(r.BitrateInBps)) }},
	{"OUT", 10, SortBitrateOut, 4, func(r stats.Room) string { return formatBits(float64(r.BitrateOutBps)) }},
}

// layersCol is the layer mix of a room with simulcast tracks: its video
// viewers per layer (RID), lowest layer first, "p" those paused below the
// lowest. It is shown only while some room has simulcast figures, and is
// left out on a narrow terminal right after SUB.
var layersCol = roomCol{"LAYERS", 12, -1, 1, func(r stats.Room) string { return layerMix(r.Simulcast) }}

// layerMix renders viewers per layer as "q3 h2 f1" ("-" without simulcast).
func layerMix(sc *stats.Simulcast) string {
	if sc == nil {
		return "-"
	}
	rids := make([]string, 0, len(sc.ViewersPerLayer))
	for rid := range sc.ViewersPerLayer {
		if rid != stats.LayerPaused {
			rids = append(rids, rid)
		}
	}
	slices.SortFunc(rids, func(a, b string) int {
		return cmp.Or(cmp.Compare(stats.LayerRank(a), stats.LayerRank(b)), cmp.Compare(a, b))
	})
	parts := make([]string, 0, len(rids)+1)
	for _, rid := range rids {
		parts = append(parts, fmt.Sprintf("%s%d", rid, sc.ViewersPerLayer[rid]))
	}
	if n := sc.ViewersPerLayer[stats.LayerPaused]; n > 0 {
		parts = append(parts, fmt.Sprintf("p%d", n))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

// allRoomCols are the rooms table's columns, with the layer mix when some
// room of rooms has simulcast figures.
func allRoomCols(rooms []stats.Room) []roomCol {
	cols := slices.Clone(roomCols)
	if slices.ContainsFunc(rooms, func(r stats.Room) bool { return r.Simulcast != nil }) {
		cols = append(cols, layersCol)
	}
	return cols
}

// shownRoomCols are those of cols that fit width w.
func shownRoomCols(w int, cols []roomCol) []roomCol {
	cols = slices.Clone(cols)
	for {
		fixed := 0
		for _, c := range cols {
			fixed += c.width + 2 // cell padding
		}
		if w-fixed-2 >= minNameWidth {
			return cols
		}
		low := -1
		for i, c := range cols {
			if c.drop > 0 && (low < 0 || c.drop < cols[low].drop) {
				low = i
			}
		}
		if low < 0 {
			return cols
		}
		cols = slices.Delete(cols, low, low+1)
	}
}

// roomCols are the rooms table's columns for the data on screen.
func (m *Model) roomCols() []roomCol {
	if m.snap == nil {
		return roomCols
	}
	return allRoomCols(m.snap.Rooms)
}

// layout sizes the tables for the window.
func (m *Model) layout() {
	w := max(m.width, minWidth)
	m.refreshRooms() // the width decides which columns are shown
	m.rooms.SetWidth(w)
	m.rooms.SetHeight(max(m.height-roomsChrome, 2))
	m.groups.SetColumns(m.groupColumns())
	m.groups.SetWidth(w)
	m.groups.SetHeight(max(m.height-goroutinesChrome, 2))
}

func (m *Model) sortMark(k SortKey) string {
	if k != m.sortKey {
		return ""
	}
	desc := k != SortName
	if m.sortReverse {
		desc = !desc
	}
	if desc {
		return "▼"
	}
	return "▲"
}

func (m *Model) roomColumns() []table.Column {
	w := max(m.width, minWidth)
	shown := shownRoomCols(w, m.roomCols())
	fixed := 0
	for _, c := range shown {
		fixed += c.width + 2 // cell padding
	}
	nameW := max(w-fixed-2, 8)
	cols := []table.Column{{Title: "ROOM" + m.sortMark(SortName), Width: nameW}}
	for _, c := range shown {
		t := c.title
		if c.key >= 0 {
			t += m.sortMark(c.key)
		}
		cols = append(cols, table.Column{Title: padLeft(t, c.width), Width: c.width})
	}
	return cols
}

func (m *Model) groupColumns() []table.Column {
	w := max(m.width, minWidth)
	return []table.Column{
		{Title: padLeft("COUNT", 6), Width: 6},
		{Title: "STATE", Width: 14},
		{Title: "TOP FUNCTION", Width: max(w-6-14-6, 10)},
	}
}

// refreshRooms rebuilds the rooms table, keeping the selected room selected
// when it is still shown.
func (m *Model) refreshRooms() {
	// Every Set* re-renders the visible rows; skip it when only the data changed.
	if cols := m.roomColumns(); !slices.Equal(cols, m.rooms.Columns()) {
		// Rows of the old columns must go first: the table renders the
		// rows it holds against the new columns at once.
		m.rooms.SetRows(nil)
		m.rooms.SetColumns(cols)
	}
	var selected string
	if r := m.rooms.SelectedRow(); r != nil {
		selected = r[0]
	}
	rooms := m.VisibleRooms()
	shown := shownRoomCols(max(m.width, minWidth), m.roomCols())
	rows := make([]table.Row, len(rooms))
	cursor := 0
	for i, r := range rooms {
		row := table.Row{r.Name}
		for _, c := range shown {
			row = append(row, padLeft(c.cell(r), c.width))
		}
		rows[i] = row
		if r.Name == selected {
			cursor = i
		}
	}
	m.rooms.SetRows(rows)
	if cursor != m.rooms.Cursor() {
		m.rooms.SetCursor(cursor)
	}
	m.roomsShown = len(rooms)
}

func (m *Model) refreshGroups() {
	groups := m.VisibleGroups()
	rows := make([]table.Row, len(groups))
	for i, g := range groups {
		rows[i] = table.Row{padLeft(fmt.Sprint(g.Count), 6), g.State, inspect.ShortFunc(g.Top)}
	}
	m.groups.SetRows(rows)
	if m.groups.Cursor() < 0 || m.groups.Cursor() >= len(rows) {
		m.groups.SetCursor(0)
	}
	m.groupsShown = len(groups)
}

// View renders the screen; every line is cut to the window width so a
// narrow terminal never wraps and scrolls the layout.
func (m *Model) View() string {
	w := max(m.width, minWidth)
	var lines []string
	lines = append(lines, m.headerLine(w), m.statusLine(w))
	switch {
	case m.showHelp:
		lines = append(lines, m.helpView(w, m.height-3))
	case m.view == ViewGoroutines:
		lines = append(lines, m.goroutineSummary(), "", m.groups.View())
	case m.view == ViewNodes:
		lines = append(lines, m.nodesView())
	default:
		lines = append(lines, m.totals(w)...)
		lines = append(lines, "", m.roomsView())
	}
	body := strings.Split(strings.Join(lines, "\n"), "\n")
	// The footer sits on the last row whatever the body's height.
	room := max(m.height-1, 1)
	if len(body) > room {
		body = body[:room]
	}
	for len(body) < room {
		body = append(body, "")
	}
	body = append(body, m.footer(w))
	for i, l := range body {
		body[i] = ansi.Truncate(l, w, "")
	}
	return strings.Join(body, "\n")
}

func (m *Model) headerLine(w int) string {
	left := " livectl top  " + m.opts.Target
	if s := m.snap; s != nil {
		if s.Version != "" {
			left += "  " + s.Version
		}
		left += "  up " + formatUptime(s.UptimeS)
		if s.State != "" {
			left += "  " + s.State
		}
	}
	right := m.stateBadge() + " "
	gap := w - lipgloss.Width(left) - lipgloss.Width(right)
	if gap < 1 {
		left = ansi.Truncate(left, max(w-lipgloss.Width(right)-1, 0), "…")
		gap = max(w-lipgloss.Width(left)-lipgloss.Width(right), 1)
	}
	return headerStyle.Render(left + strings.Repeat(" ", gap) + right)
}

// stale reports whether the data shown is older than three polls.
func (m *Model) stale() bool {
	return m.snap != nil && m.now.Sub(m.snapAt) > 3*m.opts.Interval
}

func (m *Model) stateBadge() string {
	switch {
	case m.paused:
		return "PAUSED"
	case m.state == Down:
		return "DISCONNECTED"
	case m.state == Connecting:
		return "CONNECTING"
	case m.stale():
		return "STALE"
	}
	return "LIVE"
}

func (m *Model) statusLine(w int) string {
	age := ""
	if m.snap != nil {
		age = "data from " + formatAge(m.now.Sub(m.snapAt)) + " ago"
	}
	switch {
	case m.paused:
		s := "paused: press p to resume"
		if age != "" {
			s += "; " + age
		}
		return pauseStyle.Render(s)
	case m.state == Down:
		wait := max(m.nextFetch.Sub(m.now), 0).Round(time.Second)
		s := fmt.Sprintf("unreachable: %s · retry in %s (attempt %d)", shortErr(m.lastErr, m.fetchTimeout()), formatAge(wait), m.failures)
		if m.snap != nil {
			s += " · data " + formatAge(m.now.Sub(m.snapAt)) + " old"
		}
		return errStyle.Render(ansi.Truncate(s, w, "…"))
	case m.state == Connecting:
		return warnStyle.Render("connecting to " + m.opts.Target + " …")
	case m.stale():
		return warnStyle.Render("stale: " + age + " (server slow to answer)")
	case !m.restartedAt.IsZero() && m.now.Sub(m.restartedAt) < 10*time.Second:
		return warnStyle.Render("server restarted: counters reset, rates resume with the next poll")
	}
	return okStyle.Render("●") + labelStyle.Render(fmt.Sprintf(" polling every %s; %s", m.opts.Interval, age))
}

// totals renders the figures with sparklines in two columns, then one line
// of counts.
func (m *Model) totals(w int) []string {
	s, h := m.snap, m.hist
	if s == nil {
		return []string{"", labelStyle.Render("  waiting for the first /v1/stats answer…"), "", "", ""}
	}
	rate := func(v float64, f func(float64) string) string {
		if !m.ratesOK {
			return "–"
		}
		return f(v)
	}
	colW := w / 2
	cell := func(label, value string, r *Ring) string {
		const labelW, valueW = 11, 11
		sw := max(colW-labelW-valueW-2, 0)
		c := labelStyle.Render(padRight(label, labelW)) + padLeft(value, valueW) + " " + sparkStyle.Render(Sparkline(r.Values(), sw))
		if m.state != Live || m.stale() {
			c = staleStyle.Render(ansi.Strip(c))
		}
		return padRight(c, colW)
	}
	num := func(v int64) string { return fmt.Sprint(v) }
	rows := []string{
		cell("conns", num(s.Connections), h.conns) + cell("rooms", num(roomCount(s)), h.rooms),
		cell("bitrate in", rate(m.rates.BitrateInBps, formatBits), h.bitIn) + cell("bitrate out", rate(m.rates.BitrateOutBps, formatBits), h.bitOut),
		cell("loss", rate(m.rates.LossPct, formatPct), h.loss) + cell("goroutines", num(int64(s.Goroutines)), h.goroutines),
		cell("heap", formatBytes(float64(s.HeapBytes)), h.heap) + cell("gc p99", formatPause(float64(s.GCPauseNsP99)), h.gcPause),
	}
	extra := fmt.Sprintf("participants %d  tracks %d/%d pub/sub", s.Participants, s.TracksPublished, s.TracksSubscribed)
	if m.ratesOK {
		extra += fmt.Sprintf("  pkts in %s out %s  nack %.0f/s pli %.0f/s",
			perSecond(m.rates.PacketsInPS), perSecond(m.rates.PacketsOutPS), m.rates.NACKsPS, m.rates.PLIsPS)
	}
	rows = append(rows, labelStyle.Render(extra))
	return rows
}

func (m *Model) roomsView() string {
	if m.snap != nil && m.roomsShown == 0 {
		msg := "no rooms"
		if m.filter.Value() != "" {
			msg = fmt.Sprintf("no rooms match %q (esc clears the filter)", m.filter.Value())
		}
		header, _, _ := strings.Cut(m.rooms.View(), "\n")
		return header + "\n" + labelStyle.Render("  "+msg)
	}
	return m.rooms.View()
}

func (m *Model) goroutineSummary() string {
	switch {
	case m.opts.Goroutines == nil:
		return warnStyle.Render("no admin listener: start top with --admin http://host:6060 to see goroutine groups")
	case m.gr == nil && m.grErr == nil:
		return labelStyle.Render("fetching goroutine profile from " + m.opts.Admin + " …")
	case m.grErr != nil:
		s := fmt.Sprintf("goroutine profile: %v", m.grErr)
		if m.gr != nil {
			s += fmt.Sprintf(" (showing data from %s ago)", formatAge(m.now.Sub(m.grAt)))
		}
		return errStyle.Render(s)
	}
	return labelStyle.Render(fmt.Sprintf("%d goroutines, largest %d groups · %s ago, every %s · %s",
		m.gr.Total, len(m.gr.Groups), formatAge(m.now.Sub(m.grAt)), m.opts.GoroutineInterval, m.opts.Admin))
}

func (m *Model) footer(w int) string {
	if m.filtering {
		return m.filter.View() + footStyle.Render("  enter keep · esc clear")
	}
	var parts []string
	if m.view == ViewRooms {
		parts = append(parts, "sort "+m.sortKey.String()+m.sortMark(m.sortKey))
		if m.snap != nil {
			parts = append(parts, fmt.Sprintf("%d/%d rooms", m.roomsShown, len(m.snap.Rooms)))
		}
	} else if m.view == ViewNodes {
		parts = append(parts, "nodes view")
	} else {
		parts = append(parts, "goroutines view")
	}
	if f := m.filter.Value(); f != "" {
		parts = append(parts, fmt.Sprintf("filter %q", f))
	}
	left := strings.Join(parts, " · ")
	right := m.help.ShortHelpView(m.keys.ShortHelp())
	gap := w - lipgloss.Width(left) - lipgloss.Width(right) - 1
	if gap < 2 {
		// Narrow terminal: the overlay lists the rest.
		right = m.help.ShortHelpView([]key.Binding{m.keys.Help, m.keys.Quit})
		gap = w - lipgloss.Width(left) - lipgloss.Width(right) - 1
	}
	if gap < 2 {
		return footStyle.Render(" " + left)
	}
	return footStyle.Render(" "+left) + strings.Repeat(" ", gap) + right
}

func (m *Model) helpView(w, h int) string {
	hm := m.help
	hm.ShowAll = true
	text := "livectl top: live view of a livectl server\n\n" +
		hm.View(m.keys) + "\n\n" +
		labelStyle.Render("Bitrates and loss come from the server's byte and packet counters\n"+
			"between two polls; loss = lost / (received + lost). Sparklines cover\n"+
			fmt.Sprintf("the last %s, newest on the right. ? or esc closes this.", m.opts.History))
	return lipgloss.Place(w, max(h, 1), lipgloss.Center, lipgloss.Center, boxStyle.Render(text))
}

func padLeft(s string, w int) string {
	if n := lipgloss.Width(s); n < w {
		return strings.Repeat(" ", w-n) + s
	}
	return s
}

func padRight(s string, w int) string {
	if n := lipgloss.Width(s); n < w {
		return s + strings.Repeat(" ", w-n)
	}
	return s
}

// shortErr is the part of a poll error that fits a status line: the header
// already names the target, so the cause is what matters.
func shortErr(err error, timeout time.Duration) string {
	var op *net.OpError
	switch {
	case err == nil:
		return ""
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("no answer within %s", timeout)
	case errors.As(err, &op) && op.Err != nil:
		return op.Err.Error()
	}
	s := err.Error()
	if i := strings.Index(s, "/v1/stats: "); i >= 0 {
		s = s[i+len("/v1/stats: "):]
	}
	return s
}
