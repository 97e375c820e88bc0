package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/pflag"

	"github.com/livectl/livectl/internal/bench"
	"github.com/livectl/livectl/internal/report"
)

// The flags that split one run over several machines: --shard I/N, or
// --shards N with the index from a Kubernetes Indexed Job; --start-at to
// start them on one schedule; --run-id to name their rooms alike.

// envJobIndex is the variable a Kubernetes Indexed Job sets in each pod:
// its completion index, 0 to completions-1.
const envJobIndex = "JOB_COMPLETION_INDEX"

// benchSharding are the resolved sharding flags.
type benchSharding struct {
	Shard   string
	Shards  int
	StartAt string
	RunID   string
	// startAt is StartAt read (zero: start now).
	startAt time.Time
}

func addShardFlags(fl *pflag.FlagSet, s *benchSharding, unit string) {
	fl.StringVar(&s.Shard, "shard", "", "run shard I of N (0/3, 1/3, 2/3): this process's slice of the "+unit+", numbered over the whole run")
	fl.IntVar(&s.Shards, "shards", 0, "shard count, with the index from $"+envJobIndex+" (a Kubernetes Indexed Job)")
	fl.StringVar(&s.StartAt, "start-at", "", "wait until this time (RFC 3339, e.g. 2026-01-02T15:04:05Z) to start, so every shard starts on one schedule")
	fl.StringVar(&s.RunID, "run-id", "", "names of rooms and identities (default: random; with shards, from --start-at, so all shards agree)")
}

// resolve is the shard this process runs, when to start (zero: now) and
// the run id (empty: the generator picks one).
func (s benchSharding) resolve(f *Factory) (shard bench.Shard, startAt time.Time, runID string, err error) {
	if s.StartAt != "" {
		if startAt, err = time.Parse(time.RFC3339, s.StartAt); err != nil {
			return shard, startAt, "", UsageErrorf("%s %q: want an RFC 3339 time such as 2026-01-02T15:04:05Z", f.FlagRef("start-at"), s.StartAt)
		}
	}
	switch {
	case s.Shard != "" && s.Shards != 0:
		return shard, startAt, "", UsageErrorf("give %s or %s (with $%s), not both", f.FlagRef("shard"), f.FlagRef("shards"), envJobIndex)
	case s.Shard != "":
		if shard, err = bench.ParseShard(s.Shard); err != nil {
			return shard, startAt, "", UsageErrorf("%s: %v", f.FlagRef("shard"), err)
		}
	case s.Shards != 0:
		v, ok := f.LookupEnv(envJobIndex)
		if !ok {
			return shard, startAt, "", UsageErrorf("%s takes this shard's index from $%s, which is not set: give %s I/N outside a Kubernetes Indexed Job", f.FlagRef("shards"), envJobIndex, f.FlagRef("shard"))
		}
		i, aerr := strconv.Atoi(v)
		if aerr != nil {
			return shard, startAt, "", UsageErrorf("$%s %q is not a number", envJobIndex, v)
		}
		if shard, err = bench.NewShard(i, s.Shards); err != nil {
			return shard, startAt, "", UsageErrorf("%s with $%s=%d: %v", f.FlagRef("shards"), envJobIndex, i, err)
		}
	}
	runID = s.RunID
	if runID == "" && shard.Split() {
		if startAt.IsZero() {
			return shard, startAt, "", UsageErrorf("shards must name the same rooms: give them one %s (or %s)", f.FlagRef("start-at"), f.FlagRef("run-id"))
		}
		runID = "s" + strconv.FormatInt(startAt.Unix(), 36)
	}
	return shard, startAt, runID, nil
}

// waitUntil sleeps until t (the zero time: not at all), saying so on
// stderr; a time already past starts at once with a warning, since the
// shards are then no longer on one schedule.
func waitUntil(ctx context.Context, f *Factory, t time.Time) error {
	if t.IsZero() {
		return nil
	}
	d := time.Until(t)
	if d <= 0 {
		if d < -time.Second && !f.Globals.Quiet {
			fmt.Fprintf(f.IO.ErrOut, "warning: %s %s was %s ago: starting now, behind the other shards\n", f.FlagRef("start-at"), t.Format(time.RFC3339), (-d).Round(time.Second))
		}
		return nil
	}
	if !f.Globals.Quiet {
		fmt.Fprintf(f.IO.ErrOut, "waiting %s until %s\n", d.Round(time.Second), t.Format(time.RFC3339))
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("interrupted while waiting for %s", f.FlagRef("start-at"))
	case <-timer.C:
		return nil
	}
}

// settingShard is the shard a report's context records (the zero Shard
// for an unsplit run or a report without a context).
func settingShard(c *report.Context) bench.Shard {
	var sh bench.Shard
	if c == nil || c.Settings["shard"] == nil {
		return sh
	}
	b, _ := json.Marshal(c.Settings["shard"])
	_ = json.Unmarshal(b, &sh) // a malformed shard reads as none
	return sh
}

// allShards reports whether every report is a shard of a split run.
func allShards(ctxs []*report.Context) bool {
	for _, c := range ctxs {
		if !settingShard(c).Split() {
			return false
		}
	}
	return len(ctxs) > 0
}

// shardProblems says why reports merged are not the shards of one run:
// a shard missing or there twice, or shards of different runs (their run
// ids, and so their rooms, differ). Reports of unsplit runs have none.
func shardProblems(ctxs []*report.Context) []string {
	shards := make([]bench.Shard, len(ctxs))
	runIDs := map[string]bool{}
	for i, c := range ctxs {
		shards[i] = settingShard(c)
		if shards[i].Split() {
			id, _ := c.Settings["run_id"].(string)
			runIDs[id] = true
		}
	}
	problems := bench.MissingShards(shards)
	if len(runIDs) > 1 {
		problems = append(problems, fmt.Sprintf("the shards ran with %d different run ids (different rooms: give them one --start-at or --run-id)", len(runIDs)))
	}
	return problems
}

// wholeRun makes the context of merged shards that of the one run they
// make up: no shard in its settings (a copy: the shards' maps stay).
func wholeRun(c *report.Context) {
	if c == nil || c.Settings["shard"] == nil {
		return
	}
	settings := make(map[string]any, len(c.Settings))
	for k, v := range c.Settings {
		if k != "shard" {
			settings[k] = v
		}
	}
	c.Settings = settings
}
