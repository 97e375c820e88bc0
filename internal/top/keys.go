package top

import "github.com/charmbracelet/bubbles/key"

// KeyMap is the dashboard's key bindings, as docs/top.md (Keys) lists them:
// q quit, ? help, / filter, s sort, p pause and tab switch view are the
// promised ones; the rest are conveniences.
type KeyMap struct {
	Quit, Help, Filter, Sort, Reverse, Pause, View, Refresh key.Binding
	Up, Down, PageUp, PageDown, Top, Bottom                 key.Binding
	// Accept and Clear act while the filter is being typed.
	Accept, Clear key.Binding
}

// DefaultKeyMap returns the bindings docs/top.md lists.
func DefaultKeyMap() KeyMap {
	return KeyMap{
		Quit:     key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
		Help:     key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Filter:   key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter")),
		Sort:     key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "sort")),
		Reverse:  key.NewBinding(key.WithKeys("S"), key.WithHelp("S", "reverse sort")),
		Pause:    key.NewBinding(key.WithKeys("p"), key.WithHelp("p", "pause")),
		View:     key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "switch view")),
		Refresh:  key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "refresh / retry now")),
		Up:       key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:     key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		PageUp:   key.NewBinding(key.WithKeys("pgup", "b"), key.WithHelp("pgup/b", "page up")),
		PageDown: key.NewBinding(key.WithKeys("pgdown", "f", " "), key.WithHelp("pgdn/f", "page down")),
		Top:      key.NewBinding(key.WithKeys("home", "g"), key.WithHelp("g/home", "first row")),
		Bottom:   key.NewBinding(key.WithKeys("end", "G"), key.WithHelp("G/end", "last row")),
		Accept:   key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "keep filter")),
		Clear:    key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "clear filter")),
	}
}

// ShortHelp is the one-line help in the footer.
func (k KeyMap) ShortHelp() []key.Binding {
	return []key.Binding{k.Quit, k.Help, k.Filter, k.Sort, k.Pause, k.View}
}

// FullHelp is the help overlay, in columns.
func (k KeyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.Quit, k.Help, k.Pause, k.Refresh, k.View},
		{k.Filter, k.Clear, k.Accept, k.Sort, k.Reverse},
		{k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom},
	}
}
