package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeDevWithSecret: --dev together with an auth secret from any
// source is exit 2 naming both and where each came from; it used to run
// with auth off.
func TestServeDevWithSecret(t *testing.T) {
	secret := strings.Repeat("s", 32)
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		args   []string
		env    map[string]string
		config string
		want   []string
	}{
		{"both flags", []string{"--dev", "--auth-secret", secret}, nil, "", []string{"--dev turns auth off", "--auth-secret gives"}},
		{"secret from the environment", []string{"--dev"}, map[string]string{"LIVECTL_AUTH_SECRET": secret}, "",
			[]string{"--dev turns auth off", "--auth-secret (from environment variable LIVECTL_AUTH_SECRET)"}},
		{"dev from the config file", []string{"--auth-secret", secret}, nil, "serve:\n  dev: true\n",
			[]string{"--dev (from config key \"serve.dev\"", "--auth-secret gives"}},
		{"secret from the config file", []string{"--dev"}, nil, "serve:\n  auth-secret: " + secret + "\n",
			[]string{"--dev turns", "--auth-secret (from config key \"serve.auth-secret\""}},
		{"secret file flag", []string{"--dev", "--auth-secret-file", secretFile}, nil, "", []string{"--dev turns", "--auth-secret-file gives"}},
		{"dev from the environment, secret file from the config", nil, map[string]string{"LIVECTL_DEV": "true"}, "serve:\n  auth-secret-file: " + secretFile + "\n",
			[]string{"--dev (from environment variable LIVECTL_DEV)", "--auth-secret-file (from config key \"serve.auth-secret-file\""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"serve", "--listen", "127.0.0.1:0", "--admin-listen", ""}, tc.args...)
			if tc.config != "" {
				args = append(args, "--config", writeFile(t, t.TempDir(), "livectl.yaml", tc.config))
			}
			code, _, stderr := runCLI(t, tc.env, args...)
			if code != ExitUsage {
				t.Fatalf("exit %d, want 2; stderr %q", code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q lacks %q", stderr, w)
				}
			}
		})
	}
}
