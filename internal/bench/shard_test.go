package bench

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseShard(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Shard
		err  string
	}{
		{"0/3", Shard{0, 3}, ""},
		{"2/3", Shard{2, 3}, ""},
		{" 1 / 2 ", Shard{1, 2}, ""},
		{"0/1", Shard{0, 1}, ""},
		{"3/3", Shard{}, "between 0 and 2"},
		{"-1/3", Shard{}, "between 0 and 2"},
		{"0/0", Shard{}, "at least 1"},
		{"1", Shard{}, "want I/N"},
		{"a/3", Shard{}, "want I/N"},
	} {
		got, err := ParseShard(tc.in)
		if tc.err != "" {
			if !errors.Is(err, ErrShard) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want one saying %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

// The shards' parts are the --procs blocks: together every session once,
// in order, the rate whole.
func TestShardOf(t *testing.T) {
	var next int
	var rate float64
	for i := range 3 {
		sh, err := Shard{i, 3}.Of(10, 100)
		if err != nil {
			t.Fatal(err)
		}
		if sh.Offset != next {
			t.Errorf("shard %d starts at %d, want %d", i, sh.Offset, next)
		}
		next += sh.N
		rate += sh.Rate
	}
	if next != 10 || rate != 100 {
		t.Errorf("shards cover %d sessions at %v/s, want 10 at 100/s", next, rate)
	}
	if one, err := (Shard{}).Of(10, 100); err != nil || one != (Share{N: 10, Rate: 100}) {
		t.Errorf("unsplit: %+v %v", one, err)
	}
	if _, err := (Shard{4, 5}).Of(3, 100); !errors.Is(err, ErrShard) {
		t.Errorf("5 shards of 3 sessions: %v", err)
	}
}

func TestMissingShards(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []Shard
		want []string
	}{
		{"unsplit runs", []Shard{{}, {}}, nil},
		{"all there", []Shard{{2, 3}, {0, 3}, {1, 3}}, nil},
		{"one missing", []Shard{{0, 3}, {2, 3}}, []string{"shard 1/3 is missing"}},
		{"one twice", []Shard{{0, 2}, {1, 2}, {1, 2}}, []string{"shard 1/2 is there 2 times"}},
		{"counts differ", []Shard{{0, 2}, {1, 2}, {0, 3}}, []string{"a report of shard 0/2 next to shards of 3", "a report of shard 1/2 next to shards of 3", "shard 1/3 is missing", "shard 2/3 is missing"}},
		{"with an unsplit run", []Shard{{0, 2}, {1, 2}, {}}, []string{"a report of an unsplit run next to shards of 2"}},
	} {
		if got := MissingShards(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
