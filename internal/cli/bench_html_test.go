package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/livectl/livectl/internal/browsertest"
	"github.com/livectl/livectl/internal/peer/peertest"
)

// Two runs' files make one page that headless Chromium renders: every
// chart there, its lines drawn with points. LIVECTL_UPDATE_DOCS=1 saves
// the screenshot docs/bench.md shows.
func TestBenchReportHTMLInChromium(t *testing.T) {
	url := benchServer(t)
	dir := t.TempDir()
	files := []string{filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")}
	for i, file := range files {
		// Ramps of 2 and 3 s and a 2 s hold, so that every line spans two
		// seconds or more even when a loaded machine delays the sessions:
		// with ramps of 1.3 and 2 s and a 1 s hold, the count of drawn
		// lines once came out short on a machine at load 15-25.
		if code, _, stderr := runCLI(t, nil, "bench", "signal", "--url", url, "--conns", []string{"40", "60"}[i], "--rate", "20",
			"--duration", "2s", "--ping-interval", "100ms", "--quiet", "--out", file); code != ExitOK {
			t.Fatalf("run: exit %d: %s", code, stderr)
		}
	}
	page := filepath.Join(dir, "runs.html")
	if code, _, stderr := runCLI(t, nil, append([]string{"bench", "report", "--html", page, "--quiet"}, files...)...); code != ExitOK {
		t.Fatalf("report --html: exit %d: %s", code, stderr)
	}
	charts, drawn, png := renderCharts(t, page)
	// Four charts; two runs of seven lines each (open; attempts, failures;
	// join and rtt p50, p99), each over two or more seconds.
	if charts != 4 || drawn != 14 {
		t.Errorf("%d charts with %d lines drawn, want 4 with 14", charts, drawn)
	}
	if os.Getenv("LIVECTL_UPDATE_DOCS") != "" {
		if err := os.WriteFile(filepath.Join("..", "..", "docs", "images", "bench-report.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// renderCharts opens page in headless Chromium: its charts, the lines
// drawn with two points or more, and a screenshot.
func renderCharts(t *testing.T, page string) (charts, drawn int, png []byte) {
	t.Helper()
	ctx := browsertest.Launch(t)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1360, 1000), chromedp.Navigate("file://"+page)); err != nil {
		t.Fatal(err)
	}
	charts, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("svg.chart").length`))
	if err != nil {
		t.Fatal(err)
	}
	drawn, err = chromedp.Run(ctx, chromedp.Evaluate[int](
		`[...document.querySelectorAll("svg.chart polyline.line")].filter(l => l.points.numberOfItems > 1 && l.getBBox().width > 0).length`))
	if err != nil {
		t.Fatal(err)
	}
	png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100: PNG
	if err != nil {
		t.Fatal(err)
	}
	return charts, drawn, png
}

// Two bench media runs' files make one page that headless Chromium
// renders: six charts (receiving; starts and failures; first frame;
// bitrate; loss; freezes) with each run's lines over its seconds.
func TestBenchReportMediaHTMLInChromium(t *testing.T) {
	srv := peertest.Start(t)
	dir := t.TempDir()
	files := []string{filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")}
	for _, file := range files {
		if code, _, stderr := runCLI(t, nil, "bench", "media", "--whep", srv.URL+"/whep/h", "--whip", srv.URL+"/whip/h",
			"--publishers", "1", "--subscribers", "2", "--rate", "20", "--duration", "2s", "--quiet", "--out", file); code != ExitOK {
			t.Fatalf("run: exit %d: %s", code, stderr)
		}
	}
	page := filepath.Join(dir, "media.html")
	if code, _, stderr := runCLI(t, nil, append([]string{"bench", "report", "--html", page, "--quiet"}, files...)...); code != ExitOK {
		t.Fatalf("report --html: exit %d: %s", code, stderr)
	}
	charts, drawn, _ := renderCharts(t, page)
	// Per run: receiving; starts, failures; bitrate; loss; freezes drawn
	// over two seconds or more (first frames may all fall in one second).
	if charts != 6 || drawn < 12 {
		t.Errorf("%d charts with %d lines drawn, want 6 with 12 or more", charts, drawn)
	}
}
