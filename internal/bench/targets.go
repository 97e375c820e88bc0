package bench

import (
	"fmt"
	"io"
	"strings"
)

// Several targets: a generator given several URLs (the nodes of a cluster)
// spreads its sessions over them round-robin by session index. The index
// is the session's number over the whole run, so a --procs parent and its
// children, each numbering from its Offset, agree on every session's
// target, and a merged report's counts per target are exact.

// Targets is the list of URLs a run spreads its sessions over: urls when
// several were given, else the one url.
func Targets(url string, urls []string) []string {
	if len(urls) > 0 {
		return urls
	}
	return []string{url}
}

// FirstOf normalises a run's target and its list of targets as options
// carry them: one listed URL is the target alone (no list), several give
// the target their first when it is unset.
func FirstOf(one string, list []string) (string, []string) {
	switch {
	case len(list) == 1:
		return list[0], nil
	case len(list) > 1 && one == "":
		return list[0], list
	}
	return one, list
}

// TargetOf is the URL of session i (numbered over the whole run).
func TargetOf(targets []string, i int) string { return targets[i%len(targets)] }

// TargetIndex is the index in targets of session i's URL.
func TargetIndex(targets []string, i int) int { return i % len(targets) }

// TargetCount is how many of a run's sessions went to one URL, and how
// many of those failed (never established, or never got a first frame).
type TargetCount struct {
	URL      string `json:"url"`
	Sessions int64  `json:"sessions"`
	Failed   int64  `json:"failed"`
}

// NewTargetCounts lists targets with zero counts, in their order.
func NewTargetCounts(targets []string) []TargetCount {
	out := make([]TargetCount, len(targets))
	for i, t := range targets {
		out[i].URL = t
	}
	return out
}

// MergeTargetCounts adds the counts of one report to acc, keeping the
// order in which URLs first appear. A report without counts (it had one
// target) counts all its sessions under that target.
func MergeTargetCounts(acc []TargetCount, counts []TargetCount, target string, sessions, failed int64) []TargetCount {
	if len(counts) == 0 {
		counts = []TargetCount{{URL: target, Sessions: sessions, Failed: failed}}
	}
	for _, c := range counts {
		i := 0
		for i < len(acc) && acc[i].URL != c.URL {
			i++
		}
		if i == len(acc) {
			acc = append(acc, TargetCount{URL: c.URL})
		}
		acc[i].Sessions += c.Sessions
		acc[i].Failed += c.Failed
	}
	return acc
}

// SeveralTargets is counts when they cover several URLs, else nil: a
// report of one target says so in its target field alone.
func SeveralTargets(counts []TargetCount) []TargetCount {
	if len(counts) < 2 {
		return nil
	}
	return counts
}

// WriteTargets prints the counts per target as a table line ("targets
// a: 50 (0 failed), b: 50 (2 failed)"); nothing when there are none.
func WriteTargets(w io.Writer, counts []TargetCount) {
	if len(counts) == 0 {
		return
	}
	parts := make([]string, len(counts))
	for i, c := range counts {
		parts[i] = fmt.Sprintf("%s: %d (%d failed)", c.URL, c.Sessions, c.Failed)
	}
	fmt.Fprintf(w, "targets\t%s\n", strings.Join(parts, ", "))
}
