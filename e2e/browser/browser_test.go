// Package browser holds the end-to-end tests with a real browser: headless
// Chromium (fake camera) publishes through WHIP from the demo page and a
// second page plays the room through WHEP; frames must be rendered. And a
// chat message typed in one page appears in another. In a cluster (three
// serve processes and a redis-server), Chromium publishes through a node
// that redirects it (307) to the room's origin.
//
// It runs with the ordinary `go test ./...` when Chromium is installed and
// skips, saying so, when it is not (the cluster test also when
// redis-server is not). Set LIVECTL_CHROMIUM to another binary,
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
	"github.com/livectl/livectl/internal/tlsconf/tlstest"
)

// pageState mirrors window.livectl on the demo page.
type pageState struct {
	Publishing     bool     `json:"publishing"`
	Watching       bool     `json:"watching"`
	FramesRendered int      `json:"framesRendered"`
	FirstFrameMs   *float64 `json:"firstFrameMs"`
	Errors         []string `json:"errors"`
	RedirectedTo   string   `json:"redirectedTo"`
	Log            []string `json:"log"`
	Notes          struct {
		Pub string `json:"pub"`
		Sub string `json:"sub"`
	} `json:"notes"`
	Chat struct {
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

// TestBrowserDemoPageNotices: watching an empty room settles with a notice
// over the video instead of a black "loading" picture; a page that is not
// a secure context (a plain-http name other than localhost) says over the
// camera that it needs HTTPS, and a publish attempt fails saying so rather
// than with a TypeError.
func TestBrowserDemoPageNotices(t *testing.T) {
	// insecure.test resolves to the server inside Chromium only; the
	// server answers that Host because it is allowed.
	hs := servertest.Start(t, server.Config{AllowedHosts: []string{"insecure.test"}})
	browser := browsertest.Launch(t, chromedp.Flag("host-resolver-rules", "MAP insecure.test 127.0.0.1"))

	t.Run("empty room", func(t *testing.T) {
		ctx, cancel := chromedp.NewContext(browser)
		defer cancel()
		ctx, cancelT := context.WithTimeout(ctx, 30*time.Second)
		defer cancelT()
		if err := chromedp.Do(ctx, chromedp.Navigate(hs.HTTP+"/?room=nobody-here&watch=1")); err != nil {
			t.Fatalf("loading the demo page: %v", err)
		}
		st, ok := waitState(ctx, 15*time.Second, func(s pageState) bool { return s.Notes.Sub != "" })
		if !ok || !strings.Contains(st.Notes.Sub, "waiting for a publisher") || !st.Watching || len(st.Errors) > 0 {
			t.Fatalf("watching an empty room: note %q, watching %v, errors %v; page log:\n%v", st.Notes.Sub, st.Watching, st.Errors, st.Log)
		}
		shown, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("remotenote").textContent`))
		if err != nil || shown != st.Notes.Sub {
			t.Errorf("the note over the video reads %q (%v), want %q", shown, err, st.Notes.Sub)
		}
	})

	t.Run("camera needs HTTPS", func(t *testing.T) {
		ctx, cancel := chromedp.NewContext(browser)
		defer cancel()
		ctx, cancelT := context.WithTimeout(ctx, 30*time.Second)
		defer cancelT()
		_, port, _ := strings.Cut(strings.TrimPrefix(hs.HTTP, "http://"), ":")
		if err := chromedp.Do(ctx, chromedp.Navigate("http://insecure.test:"+port+"/?room=r&publish=1")); err != nil {
			t.Fatalf("loading the demo page as insecure.test: %v", err)
		}
		st, ok := waitState(ctx, 10*time.Second, func(s pageState) bool { return len(s.Errors) > 0 })
		if !ok || !strings.Contains(st.Notes.Pub, "needs HTTPS") || !strings.Contains(strings.Join(st.Errors, " "), "needs HTTPS") {
			t.Fatalf("publishing from a plain-http page: note %q, errors %v; page log:\n%v", st.Notes.Pub, st.Errors, st.Log)
		}
	})
}

// TestBrowserPublishOverHTTPS: from a page served over HTTPS on a name
// other than localhost (livectl.test, mapped to 127.0.0.1 inside
// Chromium) the demo page gets the camera and publishes through WHIP, and
// a second tab renders it through WHEP: what a user on another machine
// does once serve has --tls-cert.
func TestBrowserPublishOverHTTPS(t *testing.T) {
	ca := tlstest.NewCA(t)
	pair := ca.Issue(t, []string{"livectl.test"}, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	hs := servertest.StartTLS(t, server.Config{AllowedHosts: []string{"livectl.test"}}, pair.CertFile, pair.KeyFile)
	browser := browsertest.Launch(t,
		chromedp.Flag("host-resolver-rules", "MAP livectl.test 127.0.0.1"),
		chromedp.Flag("ignore-certificate-errors", true))
	_, port, _ := strings.Cut(strings.TrimPrefix(hs.HTTP, "https://"), ":")
	base := "https://livectl.test:" + port

	pubCtx, cancelPub := chromedp.NewContext(browser)
	defer cancelPub()
	ctx, cancel := context.WithTimeout(pubCtx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/?room=tls&publish=1")); err != nil {
		t.Fatalf("loading the demo page over HTTPS: %v", err)
	}
	if st, ok := waitState(ctx, 20*time.Second, func(s pageState) bool { return s.Publishing || len(s.Errors) > 0 }); !ok || len(st.Errors) > 0 {
		t.Fatalf("the page served over HTTPS did not publish the camera: errors %v, notes %+v; page log:\n%v", st.Errors, st.Notes, st.Log)
	}
	isSecure, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.isSecureContext && location.protocol === "https:"`))
	if err != nil || !isSecure {
		t.Fatalf("the page is not an HTTPS secure context: %v %v", isSecure, err)
	}

	viewCtx, cancelView := chromedp.NewContext(pubCtx)
	defer cancelView()
	vctx, cancelV := context.WithTimeout(viewCtx, 30*time.Second)
	defer cancelV()
	if err := chromedp.Do(vctx, chromedp.Navigate(base+"/?room=tls&watch=1")); err != nil {
		t.Fatalf("loading the viewer page over HTTPS: %v", err)
	}
	if st, ok := waitState(vctx, 15*time.Second, func(s pageState) bool { return s.FramesRendered >= 3 || len(s.Errors) > 0 }); !ok || len(st.Errors) > 0 {
		t.Fatalf("no frames rendered through WHEP over HTTPS (frames %d, errors %v); page log:\n%v", st.FramesRendered, st.Errors, st.Log)
	}
	if st := hs.Stats(); st.TracksPublished < 1 {
		t.Errorf("server stats: %d tracks published", st.TracksPublished)
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
