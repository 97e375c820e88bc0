package inspect

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"
)

func TestLiveBundle(t *testing.T) {
	srv := pprofServer(t)
	park(t, 4, parkedInKnownFunction)
	stats := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"uptime_s":1,"goroutines":9,"rooms":[]}`))
	}))
	defer stats.Close()
	c, _ := NewClient(srv.URL, srv.Client())
	dir := t.TempDir()

	t.Run("complete", func(t *testing.T) {
		out := filepath.Join(dir, "b.tar.gz")
		var steps []string
		res, err := c.Bundle(context.Background(), out, BundleOptions{CPU: time.Second, StatsURL: stats.URL + "/v1/stats", Progress: func(s string) { steps = append(steps, s) }})
		if err != nil {
			t.Fatal(err)
		}
		files := readTar(t, out)
		for _, name := range []string{"goroutine.pb.gz", "goroutine-debug2.txt", "heap.pb.gz", "cpu.pb.gz", "stats.json", "summary.txt"} {
			if len(files[name]) == 0 {
				t.Errorf("bundle lacks %s (has %v)", name, res.Files)
			}
		}
		for _, name := range []string{"goroutine.pb.gz", "heap.pb.gz", "cpu.pb.gz"} {
			if _, err := profile.ParseData(files[name]); err != nil {
				t.Errorf("%s does not parse: %v", name, err)
			}
		}
		sum := string(files["summary.txt"])
		for _, want := range []string{"== goroutines ==", "parkedInKnownFunction", "== heap (in use) ==", "== cpu ==", srv.URL} {
			if !strings.Contains(sum, want) {
				t.Errorf("summary.txt lacks %q:\n%s", want, sum)
			}
		}
		if len(res.Missing) != 0 || len(steps) < 4 {
			t.Errorf("missing = %v, steps = %v", res.Missing, steps)
		}
	})
	t.Run("stats unreachable is a note", func(t *testing.T) {
		out := filepath.Join(dir, "c.tar.gz")
		res, err := c.Bundle(context.Background(), out, BundleOptions{StatsURL: "http://127.0.0.1:1/v1/stats"})
		if err != nil {
			t.Fatal(err)
		}
		files := readTar(t, out)
		if _, ok := files["stats.json"]; ok {
			t.Error("stats.json present")
		}
		if _, ok := files["cpu.pb.gz"]; ok {
			t.Error("cpu.pb.gz present with CPU 0")
		}
		if !strings.Contains(string(files["summary.txt"]), "stats.json skipped") || len(res.Missing) != 1 {
			t.Errorf("summary / missing = %v", res.Missing)
		}
	})
	t.Run("stats from the target by default", func(t *testing.T) {
		// The target (a pprof-only process) has no /v1/stats: the
		// bundle is written, and says what is missing and what to do.
		out := filepath.Join(dir, "e.tar.gz")
		res, err := c.Bundle(context.Background(), out, BundleOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// The hint naming --stats is the CLI's (TestInspectBundleStatsHint).
		if len(res.Missing) != 1 || !strings.Contains(res.Missing[0], srv.URL+"/v1/stats") || !res.NoStats {
			t.Errorf("missing = %v, no_stats %v, want the target's /v1/stats named and marked", res.Missing, res.NoStats)
		}
		out = filepath.Join(dir, "f.tar.gz")
		if res, err = c.Bundle(context.Background(), out, BundleOptions{StatsURL: "none"}); err != nil || len(res.Missing) != 0 {
			t.Errorf("--stats none: err %v, missing %v", err, res.Missing)
		}
	})
	t.Run("unreachable target writes nothing", func(t *testing.T) {
		bad, _ := NewClient("http://127.0.0.1:1", nil)
		out := filepath.Join(dir, "d.tar.gz")
		if _, err := bad.Bundle(context.Background(), out, BundleOptions{}); !errors.Is(err, ErrUnreachable) {
			t.Fatalf("err = %v", err)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("archive written for an unreachable target")
		}
	})
}

func readTar(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	out := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		out[h.Name] = b
	}
}
