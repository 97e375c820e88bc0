package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/livectl/livectl/internal/bench/signalbench"
)

// k8sJob is the part of deploy/k8s/bench-job.yaml's Job that the run
// depends on.
type k8sJob struct {
	Kind string `yaml:"kind"`
	Spec struct {
		CompletionMode string `yaml:"completionMode"`
		Completions    int    `yaml:"completions"`
		Parallelism    int    `yaml:"parallelism"`
		Template       struct {
			Spec struct {
				Containers []struct {
					Args []string `yaml:"args"`
				} `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

// TestK8sIndexedJobExample runs the Kubernetes example's bench command the
// way its Indexed Job would, as one process per completion index with
// JOB_COMPLETION_INDEX set and $(JOB_COMPLETION_INDEX) expanded in its
// arguments, against a loopback server instead of the example's URL and
// with a small load instead of its 30,000 sessions; then merges the
// reports as its comment says. So the example's flags parse, its shard
// count agrees with the Job's, and its shards add up to the whole run.
func TestK8sIndexedJobExample(t *testing.T) {
	job := readK8sJob(t, filepath.Join("..", "..", "deploy", "k8s", "bench-job.yaml"))
	if job.Spec.CompletionMode != "Indexed" || len(job.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("the example's Job: completionMode %q, %d containers", job.Spec.CompletionMode, len(job.Spec.Template.Spec.Containers))
	}
	n := job.Spec.Completions
	if n < 2 || job.Spec.Parallelism != n {
		t.Fatalf("completions %d, parallelism %d: every shard must run at once", n, job.Spec.Parallelism)
	}
	url, dir := benchServer(t), t.TempDir()
	startAt := time.Now().Add(1500 * time.Millisecond).UTC().Format(time.RFC3339Nano)
	// The example's arguments with loopback-sized values; every other
	// argument is the example's own.
	small := map[string]string{"--url": url, "--conns": "30", "--rate": "600/s", "--duration": "200ms", "--start-at": startAt}
	var shards int
	args := func(i int) []string {
		var out []string
		for _, a := range job.Spec.Template.Spec.Containers[0].Args {
			a = strings.ReplaceAll(a, "$(JOB_COMPLETION_INDEX)", strconv.Itoa(i)) // as Kubernetes expands it
			name, val, _ := strings.Cut(a, "=")
			switch {
			case small[name] != "":
				a = name + "=" + small[name]
			case name == "--out":
				a = name + "=" + filepath.Join(dir, filepath.Base(val))
			case name == "--shards":
				shards, _ = strconv.Atoi(val)
			}
			out = append(out, a)
		}
		return out
	}
	argv := make([][]string, n) // built before the shards start: args sets shards
	for i := range n {
		argv[i] = args(i)
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			env := map[string]string{"JOB_COMPLETION_INDEX": strconv.Itoa(i)}
			if code, _, stderr := runCLI(t, env, argv[i]...); code != ExitOK {
				t.Errorf("shard %d: exit %d: %s", i, code, stderr)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if shards != n {
		t.Fatalf("--shards=%d in the args, %d completions in the Job", shards, n)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "shard-*.json"))
	if len(files) != n {
		t.Fatalf("%d shard reports (%v), want %d", len(files), files, n)
	}
	code, stdout, stderr := runCLI(t, nil, append([]string{"bench", "report", "-o", "json"}, files...)...)
	if code != ExitOK || strings.Contains(stderr, "warning") {
		t.Fatalf("merge: exit %d, stderr:\n%s", code, stderr)
	}
	var merged signalbench.Report
	if err := json.Unmarshal([]byte(stdout), &merged); err != nil {
		t.Fatal(err)
	}
	if merged.Connections.Established != 30 || merged.Runs != n || merged.Latency[signalbench.LatJoin].Count != 30 {
		t.Errorf("merged shards: %+v, %d runs, %d joins; want 30 sessions from %d shards",
			merged.Connections, merged.Runs, merged.Latency[signalbench.LatJoin].Count, n)
	}
}

// readK8sJob finds the Job among the YAML documents of path.
func readK8sJob(t *testing.T, path string) k8sJob {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var j k8sJob
		err := dec.Decode(&j)
		if errors.Is(err, io.EOF) {
			t.Fatalf("%s has no Job", path)
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if j.Kind == "Job" {
			return j
		}
	}
}
