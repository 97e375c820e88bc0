package inspect

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// BundleOptions say what goes into an incident bundle.
type BundleOptions struct {
	// CPU is the CPU profile duration; 0 skips the CPU profile.
	CPU time.Duration
	// StatsURL is a /v1/stats URL; "" is the target's own (livectl
	// serve's admin listener serves it next to pprof), "none" skips it.
	StatsURL string
	// Top is the number of rows per table in summary.txt.
	Top int
	// Progress, if set, is told what is being fetched.
	Progress func(msg string)
	// Now is the clock (tests fix it).
	Now func() time.Time
}

// BundleFile is one entry of a bundle.
type BundleFile struct {
	Name  string `json:"name"`
	Bytes int    `json:"bytes"`
}

// BundleResult is the JSON document of `inspect bundle`.
type BundleResult struct {
	Out    string       `json:"out"`
	Target string       `json:"target"`
	At     time.Time    `json:"at"`
	Files  []BundleFile `json:"files"`
	// Missing names the parts that could not be collected, with why.
	Missing []string `json:"missing"`
	// NoStats is set when the default stats URL (the target's) did not
	// answer, so that the caller can say what to try.
	NoStats bool `json:"no_stats,omitempty"`
	// Goroutines is the goroutine total, for scripts that want one figure.
	Goroutines int64 `json:"goroutines"`
}

// ErrBundleIncomplete is returned (wrapped) when the bundle was written but
// a profile in it is missing.
var ErrBundleIncomplete = errors.New("bundle incomplete")

// ErrNoStats marks a missing stats.json when the stats URL was the target's
// default: the target may not be a livectl server's admin listener.
var ErrNoStats = errors.New("no stats at the target's /v1/stats")

type bundleEntry struct {
	name string
	data []byte
}

// Bundle collects goroutine profiles (protobuf and debug=2), heap, CPU and
// /v1/stats from the target and writes them with a summary.txt into a
// .tar.gz at out. If the first fetch fails (target unreachable, no pprof)
// nothing is written. Later failures are listed in summary.txt and
// Missing, the archive is still written, and the error wraps
// ErrBundleIncomplete. Stats are optional: their absence is a note only.
func (c *Client) Bundle(ctx context.Context, out string, opts BundleOptions) (*BundleResult, error) {
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	progress := func(string) {}
	if opts.Progress != nil {
		progress = opts.Progress
	}
	top := opts.Top
	if top <= 0 {
		top = 15
	}
	res := &BundleResult{Out: out, Target: c.Target(), At: now().UTC(), Missing: []string{}}
	var entries []bundleEntry
	var summary bytes.Buffer
	var notes []string
	incomplete := false

	progress("fetching goroutine profile")
	gp, err := c.FetchGoroutines(ctx)
	if err != nil {
		return nil, err
	}
	entries = append(entries, bundleEntry{"goroutine.pb.gz", gp.Raw})
	res.Goroutines = gp.Total()

	progress("fetching goroutine dump (debug=2)")
	dump, err := c.FetchGoroutineDump(ctx)
	if err != nil {
		incomplete = true
		res.Missing = append(res.Missing, "goroutine-debug2.txt: "+err.Error())
	} else {
		entries = append(entries, bundleEntry{"goroutine-debug2.txt", dump.Raw})
	}

	progress("fetching heap profile")
	heap, err := c.FetchHeap(ctx, false)
	if err != nil {
		incomplete = true
		res.Missing = append(res.Missing, "heap.pb.gz: "+err.Error())
	} else {
		entries = append(entries, bundleEntry{"heap.pb.gz", heap.Raw.Body})
	}

	statsURL := opts.StatsURL
	if statsURL == "" {
		statsURL = strings.TrimSuffix(c.Target(), "/") + "/v1/stats"
	}
	if statsURL != "none" {
		progress("fetching " + statsURL)
		body, err := c.fetchStats(ctx, statsURL)
		if err != nil {
			if opts.StatsURL == "" {
				err = fmt.Errorf("%w: %w", ErrNoStats, err)
				res.NoStats = true
			}
			res.Missing = append(res.Missing, "stats.json: "+err.Error())
			notes = append(notes, "stats.json skipped: "+err.Error())
		} else {
			entries = append(entries, bundleEntry{"stats.json", body})
		}
	} else {
		notes = append(notes, "stats.json skipped: not asked for")
	}

	var cpu *Fetched
	if opts.CPU > 0 {
		progress(fmt.Sprintf("recording CPU profile for %s", opts.CPU))
		cpu, err = c.FetchCPU(ctx, opts.CPU)
		if err != nil {
			incomplete = true
			res.Missing = append(res.Missing, "cpu.pb.gz: "+err.Error())
		} else {
			entries = append(entries, bundleEntry{"cpu.pb.gz", cpu.Raw.Body})
		}
	} else {
		notes = append(notes, "cpu.pb.gz skipped: no CPU profile asked for")
	}

	// summary.txt: what a person reads first when the bundle is opened.
	fmt.Fprintf(&summary, "livectl inspect bundle\ntarget: %s\ncollected: %s\n\n", res.Target, res.At.Format(time.RFC3339))
	fmt.Fprintln(&summary, "== goroutines ==")
	_ = WriteGoroutineTable(&summary, GroupProfile(gp, GroupOptions{Top: top, Dump: dump}), false)
	if heap != nil {
		fmt.Fprintln(&summary, "\n== heap (in use) ==")
		if r, err := Top(heap.Profile, "heap", TopOptions{SampleType: "inuse_space", N: top}); err == nil {
			_ = WriteTopTable(&summary, r)
		} else {
			fmt.Fprintln(&summary, err)
		}
		fmt.Fprintln(&summary, "\n== heap (allocated since start) ==")
		if r, err := Top(heap.Profile, "heap", TopOptions{SampleType: "alloc_space", N: top}); err == nil {
			_ = WriteTopTable(&summary, r)
		} else {
			fmt.Fprintln(&summary, err)
		}
	}
	if cpu != nil {
		fmt.Fprintln(&summary, "\n== cpu ==")
		if r, err := Top(cpu.Profile, "cpu", TopOptions{N: top}); err == nil {
			_ = WriteTopTable(&summary, r)
		} else {
			fmt.Fprintln(&summary, err)
		}
	}
	if len(res.Missing) > 0 || len(notes) > 0 {
		fmt.Fprintln(&summary, "\n== notes ==")
		for _, m := range res.Missing {
			if !strings.HasPrefix(m, "stats.json") {
				fmt.Fprintln(&summary, "missing "+m)
			}
		}
		for _, n := range notes {
			fmt.Fprintln(&summary, n)
		}
	}
	fmt.Fprintln(&summary, "\nOpen the profiles with: go tool pprof -top heap.pb.gz (or cpu.pb.gz, goroutine.pb.gz)")
	entries = append(entries, bundleEntry{"summary.txt", summary.Bytes()})

	if err := writeTarGz(out, entries, res.At); err != nil {
		return nil, err
	}
	for _, e := range entries {
		res.Files = append(res.Files, BundleFile{Name: e.name, Bytes: len(e.data)})
	}
	if incomplete {
		return res, fmt.Errorf("wrote %s without every profile (%s): %w", out, strings.Join(res.Missing, "; "), ErrBundleIncomplete)
	}
	return res, nil
}

// fetchStats GETs a /v1/stats document and checks it is JSON. It is
// optional, so its errors are short notes rather than pprof advice.
func (c *Client) fetchStats(ctx context.Context, statsURL string) ([]byte, error) {
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, statsURL, nil)
	if err != nil {
		return nil, fmt.Errorf("invalid stats URL %q: %w", statsURL, err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %v", statsURL, unwrapNetError(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", statsURL, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching %s: %s", statsURL, resp.Status)
	}
	if !json.Valid(body) {
		return nil, fmt.Errorf("fetching %s: the answer is not JSON", statsURL)
	}
	return body, nil
}

// writeTarGz writes entries into a gzipped tar at path, through a temporary
// file so a failed write never leaves half an archive behind.
func writeTarGz(path string, entries []bundleEntry, at time.Time) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".bundle-*.tar.gz")
	if err != nil {
		return fmt.Errorf("writing bundle %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	zw := gzip.NewWriter(tmp)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.data)), ModTime: at, Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			tmp.Close()
			return fmt.Errorf("writing bundle %s: %w", path, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			tmp.Close()
			return fmt.Errorf("writing bundle %s: %w", path, err)
		}
	}
	if err := errors.Join(tw.Close(), zw.Close(), tmp.Close()); err != nil {
		return fmt.Errorf("writing bundle %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing bundle %s: %w", path, err)
	}
	return nil
}
