package bench

import (
	"reflect"
	"testing"
)

func TestTargetOfRoundRobin(t *testing.T) {
	targets := []string{"a", "b", "c"}
	// Sessions numbered over the whole run: a --procs child starting at
	// offset 4 picks the same target for session 4 as one process would.
	got := map[string]int{}
	for i := range 10 {
		got[TargetOf(targets, i)]++
	}
	if want := map[string]int{"a": 4, "b": 3, "c": 3}; !reflect.DeepEqual(got, want) {
		t.Errorf("10 sessions over 3 targets: %v, want %v", got, want)
	}
	if TargetOf(targets, 4) != "b" || TargetOf([]string{"x"}, 7) != "x" {
		t.Error("session 4 of a,b,c should go to b, any session of one target to it")
	}
	if got := Targets("x", nil); !reflect.DeepEqual(got, []string{"x"}) {
		t.Errorf("Targets of one URL = %v", got)
	}
}

// countedReport is what MergeTargetCounts reads of one report.
type countedReport struct {
	counts           []TargetCount
	target           string
	sessions, failed int64
}

func TestMergeTargetCounts(t *testing.T) {
	tests := []struct {
		name    string
		reports []countedReport
		want    []TargetCount
	}{
		{
			name: "children of one run over two targets add up",
			reports: []countedReport{
				{[]TargetCount{{"a", 3, 1}, {"b", 2, 0}}, "a,b", 5, 1},
				{[]TargetCount{{"a", 2, 0}, {"b", 3, 2}}, "a,b", 5, 2},
			},
			want: []TargetCount{{"a", 5, 1}, {"b", 5, 2}},
		},
		{
			name: "a report of one target counts under it",
			reports: []countedReport{
				{[]TargetCount{{"a", 1, 0}, {"b", 1, 0}}, "a,b", 2, 0},
				{nil, "c", 4, 1},
				{nil, "a", 2, 0},
			},
			want: []TargetCount{{"a", 3, 0}, {"b", 1, 0}, {"c", 4, 1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var acc []TargetCount
			for _, r := range tt.reports {
				acc = MergeTargetCounts(acc, r.counts, r.target, r.sessions, r.failed)
			}
			if !reflect.DeepEqual(acc, tt.want) {
				t.Errorf("merged %v, want %v", acc, tt.want)
			}
		})
	}
	if SeveralTargets([]TargetCount{{"a", 1, 0}}) != nil {
		t.Error("one target's counts should be left out of a report")
	}
}

func TestAddTarget(t *testing.T) {
	tests := []struct{ targets, target, want string }{
		{"", "a", "a"},
		{"a", "a", "a"},
		{"a", "b", "a,b"},
		{"a,b", "a,b", "a,b"}, // two reports of one run over a and b
		{"a,b", "b,c", "a,b,c"},
	}
	for _, tt := range tests {
		if got := AddTarget(tt.targets, tt.target); got != tt.want {
			t.Errorf("AddTarget(%q, %q) = %q, want %q", tt.targets, tt.target, got, tt.want)
		}
	}
}

func TestFirstOf(t *testing.T) {
	tests := []struct {
		one      string
		list     []string
		wantOne  string
		wantList []string
	}{
		{"a", nil, "a", nil},
		{"", []string{"a"}, "a", nil},
		{"", []string{"a", "b"}, "a", []string{"a", "b"}},
		{"a", []string{"a", "b"}, "a", []string{"a", "b"}},
	}
	for _, tt := range tests {
		one, list := FirstOf(tt.one, tt.list)
		if one != tt.wantOne || !reflect.DeepEqual(list, tt.wantList) {
			t.Errorf("FirstOf(%q, %q) = %q, %q; want %q, %q", tt.one, tt.list, one, list, tt.wantOne, tt.wantList)
		}
	}
}
