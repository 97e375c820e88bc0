package bench

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Shard is one process's part of a run split over several machines
// (--shard I/N): Index counts from 0, as Kubernetes' JOB_COMPLETION_INDEX
// does. The zero Shard is an unsplit run.
type Shard struct {
	Index int `json:"index"`
	Count int `json:"count"`
}

// ErrShard is wrapped by every error about a shard's index and count.
var ErrShard = errors.New("invalid shard")

// ParseShard reads "I/N": shard I (0 ≤ I < N) of N.
func ParseShard(s string) (Shard, error) {
	i, n, ok := strings.Cut(s, "/")
	if !ok {
		return Shard{}, fmt.Errorf("%w %q: want I/N, e.g. 0/3 (shards count from 0)", ErrShard, s)
	}
	index, err1 := strconv.Atoi(strings.TrimSpace(i))
	count, err2 := strconv.Atoi(strings.TrimSpace(n))
	if err1 != nil || err2 != nil {
		return Shard{}, fmt.Errorf("%w %q: want I/N, e.g. 0/3 (shards count from 0)", ErrShard, s)
	}
	return NewShard(index, count)
}

// NewShard is shard index of count, checked.
func NewShard(index, count int) (Shard, error) {
	if count < 1 {
		return Shard{}, fmt.Errorf("%w: the shard count must be at least 1, got %d", ErrShard, count)
	}
	if index < 0 || index >= count {
		return Shard{}, fmt.Errorf("%w: index %d is not between 0 and %d (shards count from 0)", ErrShard, index, count-1)
	}
	return Shard{Index: index, Count: count}, nil
}

// Split reports whether s is a part of a larger run.
func (s Shard) Split() bool { return s.Count > 1 }

// String is the --shard form, I/N.
func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// Of is this shard's part of n starts at rate numbered from 0: the same
// consecutive blocks that --procs deals out, so that N shards open the
// same sessions in the same rooms as one run of them all. A shard with no
// sessions (more shards than sessions) is an error.
func (s Shard) Of(n int, rate float64) (Share, error) {
	if !s.Split() {
		return Share{N: n, Rate: rate}, nil
	}
	if n < s.Count {
		return Share{}, fmt.Errorf("%w: %d shards for %d sessions leave some shards nothing to do", ErrShard, s.Count, n)
	}
	return Shares(n, rate, 0, s.Count)[s.Index], nil
}

// MissingShards checks that the shards of merged runs are each there
// exactly once: it lists the problems (missing, repeated, differing
// counts), none when the runs were not sharded at all.
func MissingShards(shards []Shard) []string {
	count, split := 0, false
	for _, s := range shards {
		split = split || s.Split()
		count = max(count, s.Count)
	}
	if !split {
		return nil
	}
	var out []string
	seen := make(map[int]int, count)
	for _, s := range shards {
		switch {
		case !s.Split():
			out = append(out, fmt.Sprintf("a report of an unsplit run next to shards of %d", count))
			continue
		case s.Count != count:
			out = append(out, fmt.Sprintf("a report of shard %s next to shards of %d", s, count))
			continue
		}
		seen[s.Index]++
	}
	for i := range count {
		switch seen[i] {
		case 0:
			out = append(out, fmt.Sprintf("shard %d/%d is missing", i, count))
		case 1:
		default:
			out = append(out, fmt.Sprintf("shard %d/%d is there %d times", i, count, seen[i]))
		}
	}
	return out
}
