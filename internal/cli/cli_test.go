package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// runCLI runs livectl in process with args, the given environment (nil: an
// empty one, so the developer's LIVECTL_* variables cannot leak in) and no
// standard input, and returns the exit code and both streams.
func runCLI(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	f := NewFactory()
	f.IO = &IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
	f.LookupEnv = func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	code = Run(context.Background(), f, args)
	return code, out.String(), errOut.String()
}
