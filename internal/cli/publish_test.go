package cli

import (
	"strings"
	"testing"
)

// TestPublishErrorsSayWhatToTry: a missing --file is a usage error naming
// the flag (it was exit 1 with a bare "open …" error), and an unreachable
// server gets a hint.
func TestPublishErrorsSayWhatToTry(t *testing.T) {
	code, _, stderr := runCLI(t, nil, "publish", "--url", "http://127.0.0.1:1/whip/x", "--file", "/no/such/clip.ivf")
	if code != ExitUsage || !strings.Contains(stderr, "--file") {
		t.Errorf("missing file: exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = runCLI(t, nil, "publish", "--url", "ws://127.0.0.1:1/ws", "--room", "x", "--connect-timeout", "2s")
	if code != ExitFailure || !strings.Contains(stderr, "is the server running") {
		t.Errorf("refused: exit %d, stderr %q", code, stderr)
	}
}
