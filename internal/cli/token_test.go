package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
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
	if !g.Chat {
		t.Fatalf("chat not granted by default: %+v", g)
	}
}

func TestTokenNoChat(t *testing.T) {
	var out, errOut bytes.Buffer
	code := Run(context.Background(), testFactory(&out, &errOut),
		[]string{"token", "--auth-secret", testSecret, "--room", "r", "--identity", "viewer", "--no-chat"})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	g, err := auth.Verify([]byte(testSecret), strings.TrimSpace(out.String()))
	if err != nil {
		t.Fatal(err)
	}
	if g.Chat {
		t.Fatalf("--no-chat minted a chat grant: %+v", g)
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
		{"room longer than the server takes", []string{"token", "--auth-secret", testSecret, "--room", strings.Repeat("r", 129), "--identity", "i"}, "at most 128"},
		{"room with a control character", []string{"token", "--auth-secret", testSecret, "--room", "a\nb", "--identity", "i"}, "control character"},
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

// TestTokenSecretPrecedence: --secret is --auth-secret by another name and
// keeps the precedence of flags (command line > environment > config file)
// against it. LIVECTL_SECRET was once ignored ("--auth-secret is required").
func TestTokenSecretPrecedence(t *testing.T) {
	other := strings.Repeat("e", 32)
	cfg := filepath.Join(t.TempDir(), "livectl.yaml")
	if err := os.WriteFile(cfg, []byte("secret: "+testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string // the secret the token is signed with
	}{
		{"--secret over env auth-secret", map[string]string{"LIVECTL_AUTH_SECRET": other}, []string{"--secret", testSecret}, testSecret},
		{"LIVECTL_SECRET alone", map[string]string{"LIVECTL_SECRET": testSecret}, nil, testSecret},
		{"config secret alone", nil, []string{"--config", cfg}, testSecret},
		{"env secret over config", map[string]string{"LIVECTL_SECRET": other}, []string{"--config", cfg}, other},
		{"--auth-secret over env secret", map[string]string{"LIVECTL_SECRET": other}, []string{"--auth-secret", testSecret}, testSecret},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"token", "--room", "r", "--identity", "a"}, tc.args...)
			code, out, errOut := runCLI(t, tc.env, args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if _, err := auth.Verify([]byte(tc.want), strings.TrimSpace(out)); err != nil {
				t.Fatalf("token not signed with the winning secret: %v", err)
			}
		})
	}
	code, _, errOut := runCLI(t, map[string]string{"LIVECTL_SECRET": other, "LIVECTL_AUTH_SECRET": testSecret}, "token", "--room", "r", "--identity", "a")
	if code != ExitUsage || !strings.Contains(errOut, "disagree") {
		t.Errorf("two secrets from the environment: exit %d, %q", code, errOut)
	}
}
