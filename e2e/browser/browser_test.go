// Package browser holds the end-to-end tests with a real browser: headless
// Chromium (fake camera) publishes through WHIP from the demo page and a
// second page plays the room through WHEP; frames must be rendered. And a
// chat message typed in one page appears in another.
//
// It runs with the ordinary `go test ./...` when Chromium is installed and
// skips, saying so, when it is not. Set LIVECTL_CHROMIUM to another binary,
// LIVECTL_REQUIRE_BROWSER=1 to fail instead of skipping (CI), and
// LIVECTL_BROWSER_ATTEMPTS=N to measure time to first rendered frame over N
// viewer attempts:
//
//	LIVECTL_BROWSER_ATTEMPTS=10 go test ./e2e/browser -run TestBrowser -v
package browser

import (
	"context"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/livectl/livectl/internal/browsertest"
	"github.com/livectl/livectl/internal/server"
	"github.com/livectl/livectl/internal/server/servertest"
)

// pageState mirrors window.livectl on the demo page.
type pageState struct {
	Publishing     bool     `json:"publishing"`
	Watching       bool     `json:"watching"`
	FramesRendered int      `json:"framesRendered"`
	FirstFrameMs   *float64 `json:"firstFrameMs"`
	Errors         []string `json:"errors"`
	Log            []string `json:"log"`
	Chat           struct {
		Joined   bool `json:"joined"`
		Members  int  `json:"members"`
		Messages []struct {
			From string `json:"from"`
			Text string `json:"text"`
		} `json:"messages"`
	} `json:"chat"`
}

func readState(ctx context.Context) (pageState, error) {
	return chromedp.Run(ctx, chromedp.Evaluate[pageState](`window.livectl || {}`))
}

// waitState polls the page until cond holds or d passes.
func waitState(ctx context.Context, d time.Duration, cond func(pageState) bool) (pageState, bool) {
	deadline := time.Now().Add(d)
	var st pageState
	for time.Now().Before(deadline) {
		var err error
		if st, err = readState(ctx); err == nil && cond(st) {
			return st, true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return st, false
}

func TestBrowserWHIPToWHEP(t *testing.T) {
	hs := servertest.Start(t, server.Config{})
	browser := browsertest.Launch(t)
	pubCtx, cancelPub := chromedp.NewContext(browser)
	defer cancelPub()
	ctx, cancel := context.WithTimeout(pubCtx, 60*time.Second)
	defer cancel()

	room := "browser"
	if err := chromedp.Do(ctx, chromedp.Navigate(hs.HTTP+"/?room="+room+"&publish=1")); err != nil {
		t.Fatalf("loading the demo page in Chromium: %v", err)
	}
	if st, ok := waitState(ctx, 15*time.Second, func(s pageState) bool { return s.Publishing || len(s.Errors) > 0 }); !ok || len(st.Errors) > 0 {
		t.Fatalf("the browser did not publish through WHIP: errors %v, page log:\n%v", st.Errors, st.Log)
	}

	attempts := 1
	if n, err := strconv.Atoi(os.Getenv("LIVECTL_BROWSER_ATTEMPTS")); err == nil && n > 0 {
		attempts = n
	}
	var firsts []float64
	for i := range attempts {
		viewCtx, cancelView := chromedp.NewContext(pubCtx) // a second tab
		vctx, cancelV := context.WithTimeout(viewCtx, 30*time.Second)
		start := time.Now()
		if err := chromedp.Do(vctx, chromedp.Navigate(hs.HTTP+"/?room="+room+"&watch=1")); err != nil {
			t.Fatalf("loading the viewer page: %v", err)
		}
		st, ok := waitState(vctx, 5*time.Second-time.Since(start), func(s pageState) bool { return s.FramesRendered >= 3 || len(s.Errors) > 0 })
		cancelV()
		cancelView()
		if !ok || len(st.Errors) > 0 || st.FirstFrameMs == nil {
			t.Fatalf("attempt %d: no video frames rendered through WHEP within 5s (frames %d, errors %v); page log:\n%v", i+1, st.FramesRendered, st.Errors, st.Log)
		}
		firsts = append(firsts, *st.FirstFrameMs)
		if testing.Verbose() {
			t.Logf("attempt %d page log:\n%s", i+1, strings.Join(st.Log, "\n"))
		}
	}
	slices.Sort(firsts)
	t.Logf("time to first rendered frame over %d WHEP attempts: p50 %.0f ms, max %.0f ms (from the start of the WHEP attempt to the first requestVideoFrameCallback)",
		len(firsts), firsts[len(firsts)/2], firsts[len(firsts)-1])

	// The browser's publish shows in the server's figures.
	st := hs.Stats()
	if st.TracksPublished < 1 || st.PacketsIn == 0 || st.PacketsOut == 0 {
		t.Errorf("server stats after the browser session: tracks %d, packets in %d out %d", st.TracksPublished, st.PacketsIn, st.PacketsOut)
	}
}

// A message typed into one page's chat box appears in another page's list,
// and both pages count the two members of the room.
func TestBrowserChat(t *testing.T) {
	hs := servertest.Start(t, server.Config{})
	browser := browsertest.Launch(t)
	aCtx, cancelA := chromedp.NewContext(browser)
	defer cancelA()
	a, cancel := context.WithTimeout(aCtx, 60*time.Second)
	defer cancel()
	b, cancelB := chromedp.NewContext(a) // a second tab
	defer cancelB()

	for _, p := range []struct {
		ctx  context.Context
		name string
	}{{a, "alice"}, {b, "bob"}} {
		if err := chromedp.Do(p.ctx, chromedp.Navigate(hs.HTTP+"/?room=chat&identity="+p.name)); err != nil {
			t.Fatalf("loading the demo page: %v", err)
		}
		if st, ok := waitState(p.ctx, 10*time.Second, func(s pageState) bool { return s.Chat.Joined }); !ok {
			t.Fatalf("%s's page did not join the chat; page log:\n%v", p.name, st.Log)
		}
	}
	for _, ctx := range []context.Context{a, b} {
		if st, ok := waitState(ctx, 5*time.Second, func(s pageState) bool { return s.Chat.Members == 2 }); !ok {
			t.Errorf("member count %d, want 2; page log:\n%v", st.Chat.Members, st.Log)
		}
	}

	const text = "hello from alice <b>not bold</b>"
	if err := chromedp.Do(a, chromedp.SendKeys(chromedp.ID("chattext"), text), chromedp.Click(chromedp.ID("chatsend"))); err != nil {
		t.Fatalf("typing into the chat box: %v", err)
	}
	st, ok := waitState(b, 5*time.Second, func(s pageState) bool { return len(s.Chat.Messages) > 0 })
	if !ok || st.Chat.Messages[0].Text != text || st.Chat.Messages[0].From != "alice" {
		t.Fatalf("bob's page got messages %+v, want alice's %q; page log:\n%v", st.Chat.Messages, text, st.Log)
	}
	// Shown as text in the list, not as HTML.
	shown, err := chromedp.Run(b, chromedp.Text(chromedp.ID("chatlist")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(shown, "alice") || !strings.Contains(shown, text) {
		t.Errorf("bob's chat list shows %q, want alice's message", shown)
	}
	if len(st.Errors) > 0 {
		t.Errorf("page errors: %v", st.Errors)
	}
}
