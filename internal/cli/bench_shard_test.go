package cli

import (
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livectl/livectl/internal/bench/signalbench"
)

// Three --shard i/3 runs started together (--start-at) against one server,
// merged by bench report, count exactly what one run of all their sessions
// counts: sessions, and every histogram's values. Two of the three merge
// too, saying which shard is missing.
func TestBenchSignalShardsMergeToOneRun(t *testing.T) {
	url := benchServer(t)
	common := []string{"bench", "signal", "--url", url, "--conns", "30", "--rate", "600",
		"--duration", "200ms", "--ping-interval", "0", "--room-size", "7", "--quiet"}
	var merged, whole signalbench.Report
	files := runShardsAndWhole(t, common, &merged, &whole)
	if merged.Connections != whole.Connections || merged.Connections.Established != 30 || merged.Runs != 3 {
		t.Errorf("merged shards: %+v (%d runs); one run: %+v", merged.Connections, merged.Runs, whole.Connections)
	}
	if merged.Settings.Conns != 30 || merged.Settings.Rooms != whole.Settings.Rooms || merged.Settings.RoomSize != whole.Settings.RoomSize {
		t.Errorf("merged settings %+v, one run's %+v", merged.Settings, whole.Settings)
	}
	for _, name := range signalbench.LatencyNames {
		if m, w := merged.Latency[name].Count, whole.Latency[name].Count; m != w {
			t.Errorf("%s: merged shards count %d values, one run %d", name, m, w)
		}
	}
	// The shards' time series merge on the wall clock: every attempt of
	// the three in some second.
	var att int64
	if merged.Series != nil {
		for _, p := range merged.Series.Points {
			att += p.Attempts
		}
	}
	if att != 30 {
		t.Errorf("merged series counts %d attempts, want 30", att)
	}
	if merged.Latency[signalbench.LatJoin].Count != 30 {
		t.Errorf("join count %d, want 30", merged.Latency[signalbench.LatJoin].Count)
	}
	// The merged context is the whole run's: no shard left in it, the
	// shards' common run id.
	c := merged.Context
	if c == nil || c.Settings["shard"] != nil || c.Settings["conns"] != float64(30) || !strings.HasPrefix(c.Settings["run_id"].(string), "s") {
		t.Errorf("merged context settings %v", c.Settings)
	}

	// Two shard files merge (no --merge needed: they are shards), and
	// the one left out is named.
	code, stdout, stderr := runCLI(t, nil, "bench", "report", files[0], files[2])
	if code != ExitOK || !strings.Contains(stderr, "shard 1/3 is missing") || !strings.Contains(stdout, "2 runs merged") {
		t.Errorf("two of three shards: exit %d, stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	// A shard file records its shard.
	var one signalbench.Report
	_, out0, _ := runCLI(t, nil, "bench", "report", "-o", "json", files[1])
	if err := json.Unmarshal([]byte(out0), &one); err != nil {
		t.Fatal(err)
	}
	if sh, _ := one.Context.Settings["shard"].(map[string]any); sh["index"] != float64(1) || sh["count"] != float64(3) {
		t.Errorf("shard 1/3's context: shard %v", one.Context.Settings["shard"])
	}
}

func TestBenchSignalShardFlags(t *testing.T) {
	url := "ws://127.0.0.1:1/ws"
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"index past count", nil, []string{"--shard", "3/3", "--run-id", "r"}, "between 0 and 2"},
		{"both forms", nil, []string{"--shard", "0/3", "--shards", "3", "--run-id", "r"}, "not both"},
		{"shards outside a job", nil, []string{"--shards", "3", "--run-id", "r"}, "JOB_COMPLETION_INDEX"},
		{"job index past count", map[string]string{"JOB_COMPLETION_INDEX": "5"}, []string{"--shards", "3", "--run-id", "r"}, "between 0 and 2"},
		{"no common run id", nil, []string{"--shard", "0/3"}, "--start-at"},
		{"bad start time", nil, []string{"--start-at", "tomorrow"}, "RFC 3339"},
		{"more shards than sessions", nil, []string{"--shard", "0/5", "--run-id", "r", "--conns", "3"}, "nothing to do"},
	} {
		args := append([]string{"bench", "signal", "--url", url, "--quiet"}, tc.args...)
		code, _, stderr := runCLI(t, tc.env, args...)
		if code != ExitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want usage error saying %q", tc.name, code, stderr, tc.want)
		}
	}
	// In an Indexed Job, --shards takes the index from the environment:
	// shard 1/2 of 4 sessions against nothing tries 2 of them.
	code, stdout, stderr := runCLI(t, map[string]string{"JOB_COMPLETION_INDEX": "1"}, "bench", "signal", "--url", url,
		"--conns", "4", "--shards", "2", "--run-id", "r", "--quiet", "-o", "json", "--connect-timeout", "1s")
	var rep signalbench.Report
	_ = json.Unmarshal([]byte(stdout), &rep)
	if code != ExitFailure || rep.Connections.Attempted != 2 || rep.Context == nil || rep.Context.Settings["shard"] == nil {
		t.Errorf("--shards 2 with index 1: exit %d, attempted %d, stderr %q", code, rep.Connections.Attempted, stderr)
	}
}

// runShardsAndWhole runs the generator command common as three --shard
// i/3 processes started together (--start-at) and once whole, and reads
// the shards merged by bench report and the whole run into merged and
// whole; it returns the shards' files.
func runShardsAndWhole(t *testing.T, common []string, merged, whole any) []string {
	t.Helper()
	dir := t.TempDir()
	startAt := time.Now().Add(1500 * time.Millisecond).UTC().Format(time.RFC3339Nano)
	files := make([]string, 3)
	var wg sync.WaitGroup
	for i := range files {
		files[i] = filepath.Join(dir, "shard"+strconv.Itoa(i)+".json")
		wg.Add(1)
		go func() {
			defer wg.Done()
			args := append(common[:len(common):len(common)], "--shard", strconv.Itoa(i)+"/3", "--start-at", startAt, "--out", files[i])
			if code, _, stderr := runCLI(t, nil, args...); code != ExitOK {
				t.Errorf("shard %d/3: exit %d: %s", i, code, stderr)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	wholeFile := filepath.Join(dir, "whole.json")
	if code, _, stderr := runCLI(t, nil, append(common, "--run-id", "whole", "--out", wholeFile)...); code != ExitOK {
		t.Fatalf("one run: exit %d: %s", code, stderr)
	}
	code, stdout, stderr := runCLI(t, nil, append([]string{"bench", "report", "-o", "json"}, files...)...)
	if code != ExitOK || strings.Contains(stderr, "warning") {
		t.Fatalf("merge: exit %d, stderr:\n%s", code, stderr)
	}
	if err := json.Unmarshal([]byte(stdout), merged); err != nil {
		t.Fatal(err)
	}
	_, wholeOut, _ := runCLI(t, nil, "bench", "report", "-o", "json", wholeFile)
	if err := json.Unmarshal([]byte(wholeOut), whole); err != nil {
		t.Fatal(err)
	}
	return files
}
