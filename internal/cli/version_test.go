package cli

import (
	"runtime/debug"
	"testing"
)

func TestBuildInfoFallback(t *testing.T) {
	vcs := func(rev, modified string) *debug.BuildInfo {
		return &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}}
	}
	tests := []struct {
		name                    string
		version, commit         string
		info                    *debug.BuildInfo
		wantVersion, wantCommit string
	}{
		{"stamped wins", "v1.2.3", "abc1234", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-x"}}, "v1.2.3", "abc1234"},
		{"go build in a checkout", "", "", vcs("66dfebe2", "false"), "dev", "66dfebe2"},
		{"dirty checkout", "", "", vcs("66dfebe2", "true"), "dev", "66dfebe2-dirty"},
		{"go install at a version", "", "", &debug.BuildInfo{Main: debug.Module{Version: "v0.4.0"}}, "v0.4.0", "unknown"},
		{"no build info", "", "", nil, "dev", "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := buildInfo(tt.version, tt.commit, tt.info)
			if b.Version != tt.wantVersion || b.Commit != tt.wantCommit {
				t.Errorf("got version %q commit %q, want %q %q", b.Version, b.Commit, tt.wantVersion, tt.wantCommit)
			}
		})
	}
}
