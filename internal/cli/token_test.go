package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/livectl/livectl/internal/auth"
)

// testSecret is a secret of the shortest length HS256 allows.
const testSecret = "0123456789abcdef0123456789abcdef"

func TestToken(t *testing.T) {
	var out, errOut bytes.Buffer
	code := Run(context.Background(), testFactory(&out, &errOut),
		[]string{"token", "--auth-secret", testSecret, "--room", "r", "--identity", "alice", "--publish", "--ttl", "10m"})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	g, err := auth.Verify([]byte(testSecret), strings.TrimSpace(out.String()))
	if err != nil {
		t.Fatal(err)
	}
	if g.Room != "r" || g.Identity != "alice" || !g.Publish || g.Subscribe || time.Until(g.ExpiresAt) > 11*time.Minute {
		t.Fatalf("grant = %+v", g)
	}
}

func TestTokenJSONAndAlias(t *testing.T) {
	var out, errOut bytes.Buffer
	code := Run(context.Background(), testFactory(&out, &errOut),
		[]string{"token", "--secret", testSecret, "--room", "r", "--identity", "bob", "--subscribe", "-o", "json"})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var got struct {
		Token     string    `json:"token"`
		Room      string    `json:"room"`
		Identity  string    `json:"identity"`
		Publish   bool      `json:"publish"`
		Subscribe bool      `json:"subscribe"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, out.String())
	}
	if got.Room != "r" || got.Identity != "bob" || got.Publish || !got.Subscribe || got.ExpiresAt.IsZero() {
		t.Fatalf("json = %+v", got)
	}
	if _, err := auth.Verify([]byte(testSecret), got.Token); err != nil {
		t.Fatal(err)
	}
}

func TestTokenUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no secret", []string{"token", "--room", "r", "--identity", "i"}, "--auth-secret is required"},
		{"no room", []string{"token", "--auth-secret", testSecret, "--identity", "i"}, "--room is required"},
		{"no identity", []string{"token", "--auth-secret", testSecret, "--room", "r"}, "--identity is required"},
		{"bad ttl", []string{"token", "--auth-secret", testSecret, "--room", "r", "--identity", "i", "--ttl", "-1h"}, "--ttl must be positive"},
		{"short secret", []string{"token", "--auth-secret", "s3cret", "--room", "r", "--identity", "i"}, "needs at least 32"},
		{"room longer than the server takes", []string{"token", "--auth-secret", testSecret, "--room", strings.Repeat("r", 129), "--identity", "i"}, "at most 128 bytes"},
		{"--secret and --auth-secret disagree", []string{"token", "--auth-secret", testSecret, "--secret", testSecret + "x", "--room", "r", "--identity", "i"}, "disagree"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := Run(context.Background(), testFactory(&out, &errOut), tc.args)
			if code != ExitUsage || !strings.Contains(errOut.String(), tc.want) || out.Len() != 0 {
				t.Fatalf("exit %d, stderr %q, stdout %q", code, errOut.String(), out.String())
			}
		})
	}
}

// TestTokenSecretFlagWins: --secret on the command line wins over the
// secret in the environment (or config file), as every flag does.
func TestTokenSecretFlagWins(t *testing.T) {
	env := map[string]string{"LIVECTL_AUTH_SECRET": strings.Repeat("e", 32)}
	code, out, errOut := runCLI(t, env, "token", "--secret", testSecret, "--room", "r", "--identity", "a")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if _, err := auth.Verify([]byte(testSecret), strings.TrimSpace(out)); err != nil {
		t.Fatalf("token not signed with --secret: %v", err)
	}
}
