package cli

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/livectl/livectl/internal/bench"
	"github.com/livectl/livectl/internal/bench/signalbench"
)

// TestTargetURLFlagParsing reads --url through each command's own flag
// set: repeated, comma-separated, both at once, spaces and empty items.
func TestTargetURLFlagParsing(t *testing.T) {
	commands := map[string]func(*Factory) *cobra.Command{
		"bench signal": newBenchSignalCmd, "bench media": newBenchMediaCmd, "probe": newProbeCmd,
	}
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"one", []string{"--url", "ws://a/ws"}, []string{"ws://a/ws"}},
		{"repeated", []string{"--url", "ws://a/ws", "--url", "ws://b/ws"}, []string{"ws://a/ws", "ws://b/ws"}},
		{"comma list", []string{"--url", "ws://a/ws,ws://b/ws"}, []string{"ws://a/ws", "ws://b/ws"}},
		{"both", []string{"--url", "ws://a/ws,ws://b/ws", "--url", "ws://c/ws"}, []string{"ws://a/ws", "ws://b/ws", "ws://c/ws"}},
		{"spaces and empty items", []string{"--url", "ws://a/ws, ws://b/ws,"}, []string{"ws://a/ws", "ws://b/ws"}},
	}
	for name, newCmd := range commands {
		for _, tt := range tests {
			t.Run(name+"/"+tt.name, func(t *testing.T) {
				f := NewFactory()
				cmd := newCmd(f)
				if err := cmd.ParseFlags(tt.args); err != nil {
					t.Fatal(err)
				}
				raw, err := cmd.Flags().GetStringSlice("url")
				if err != nil {
					t.Fatal(err)
				}
				got, err := targetURLs(f, "url", raw, "want ws://…", wsSchemes)
				if err != nil || !reflect.DeepEqual(got, tt.want) {
					t.Errorf("urls %q, %v; want %q", got, err, tt.want)
				}
			})
		}
	}
}

// TestTargetURLUsageErrors: every URL is checked before anything runs,
// and a bad one is a usage error (exit 2) naming the flag and that URL.
func TestTargetURLUsageErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		mention string
	}{
		{"signal: http among ws", []string{"bench", "signal", "--url", "ws://127.0.0.1:1/ws,http://127.0.0.1:2/ws"}, `--url "http://127.0.0.1:2/ws": want ws://`},
		{"signal: second has no host", []string{"bench", "signal", "--url", "ws://127.0.0.1:1/ws", "--url", "ws:///ws"}, `--url "ws:///ws"`},
		{"media: WHEP URL in --url", []string{"bench", "media", "--room", "r", "--url", "ws://127.0.0.1:1/ws", "--url", "http://127.0.0.1:2/whep/r"}, `--url "http://127.0.0.1:2/whep/r": want ws://host:port/ws (use --whep`},
		{"media: ws URL in --whep", []string{"bench", "media", "--whep", "http://127.0.0.1:1/whep/r,ws://127.0.0.1:2/ws"}, `--whep "ws://127.0.0.1:2/ws"`},
		{"probe: mixed kinds", []string{"probe", "--room", "r", "--url", "ws://127.0.0.1:1/ws,http://127.0.0.1:2/whep/r"}, `--url mixes kinds: "ws://127.0.0.1:1/ws" and "http://127.0.0.1:2/whep/r"`},
		{"probe: unknown scheme", []string{"probe", "--url", "http://127.0.0.1:1/whep/r", "--url", "ftp://127.0.0.1:2/x"}, `--url "ftp://127.0.0.1:2/x"`},
		{"probe: ws list without room", []string{"probe", "--url", "ws://127.0.0.1:1/ws,ws://127.0.0.1:2/ws"}, "--room is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, nil, tt.args...)
			if code != ExitUsage || !strings.Contains(stderr, tt.mention) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 2 mentioning %s", code, stderr, tt.mention)
			}
		})
	}
}

// TestBenchSignalTwoServers runs the command against two servers with a
// repeated --url: the JSON report names both and counts each one's share.
func TestBenchSignalTwoServers(t *testing.T) {
	a, b := benchServer(t), benchServer(t)
	code, stdout, stderr := runCLI(t, nil, "bench", "signal", "--url", a, "--url", b, "--conns", "6", "--rate", "1000",
		"--duration", "0s", "-o", "json")
	if code != ExitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	var rep signalbench.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	want := []bench.TargetCount{{URL: a, Sessions: 3}, {URL: b, Sessions: 3}}
	if rep.Target != a+","+b || !reflect.DeepEqual(rep.Targets, want) || rep.Connections.Established != 6 {
		t.Errorf("target %q counts %+v established %d, want %+v and 6", rep.Target, rep.Targets, rep.Connections.Established, want)
	}
}
