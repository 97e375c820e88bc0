// Package browsertest starts headless Chromium for end-to-end tests, with the
// flags this project's machines need (fake camera and permission prompt, no
// sandbox or GPU, no background networking on a closed network, WebRTC over
// loopback), so every browser test launches it one way.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"testing"

	"github.com/chromedp/chromedp"
)

// DefaultPath is Debian's chromium; LIVECTL_CHROMIUM overrides it.
const DefaultPath = "/usr/bin/chromium"

// Path returns the Chromium binary to use. When it is missing the test is
// skipped with a message saying how to get it, or fails when
// LIVECTL_REQUIRE_BROWSER is set (CI, where a skip would hide a gap).
func Path(t testing.TB) string {
	t.Helper()
	path := os.Getenv("LIVECTL_CHROMIUM")
	if path == "" {
		path = DefaultPath
	}
	if _, err := exec.LookPath(path); err != nil {
		msg := "Chromium not found at " + path + " (apt-get install chromium, or set LIVECTL_CHROMIUM): browser test not run"
		if os.Getenv("LIVECTL_REQUIRE_BROWSER") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return path
}

// Launch starts a fresh headless Chromium (new user data dir) and returns a
// chromedp browser context; new tabs are chromedp.NewContext(ctx). The
// browser is stopped when the test ends. extra adds flags for one test
// (a host mapping, trusting a test certificate).
func Launch(t testing.TB, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(Path(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		// The relay and the browser meet on 127.0.0.1: let WebRTC use the
		// loopback interface and show real addresses instead of mDNS names.
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns"),
	)
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
	})
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	return bctx
}
