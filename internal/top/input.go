package top

import (
	"strings"
	"unicode"

	tea "github.com/charmbracelet/bubbletea"
)

// lineInput is the filter's one-line editor: type, backspace, ctrl+u/ctrl+w.
// bubbles/textinput would do, but it pulls a clipboard module into the build
// for paste support that a filter box does not need.
type lineInput struct {
	prompt string
	value  []rune
	limit  int
}

func (in *lineInput) Value() string      { return string(in.value) }
func (in *lineInput) SetValue(s string)  { in.value = []rune(s) }
func (in *lineInput) View() string       { return in.prompt + string(in.value) + "█" }
func (in *lineInput) Update(msg tea.Msg) { in.update(msg) }

func (in *lineInput) update(msg tea.Msg) {
	k, ok := msg.(tea.KeyMsg)
	if !ok {
		return
	}
	switch k.Type {
	case tea.KeyBackspace:
		if n := len(in.value); n > 0 {
			in.value = in.value[:n-1]
		}
	case tea.KeyCtrlU:
		in.value = in.value[:0]
	case tea.KeyCtrlW:
		s := strings.TrimRightFunc(string(in.value), unicode.IsSpace)
		i := strings.LastIndexFunc(s, unicode.IsSpace)
		in.value = []rune(s[:i+1])
	case tea.KeyRunes, tea.KeySpace:
		for _, r := range k.Runes {
			if unicode.IsPrint(r) && (in.limit == 0 || len(in.value) < in.limit) {
				in.value = append(in.value, r)
			}
		}
	}
}
