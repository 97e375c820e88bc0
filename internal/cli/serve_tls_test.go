package cli

import (
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/livectl/livectl/internal/syncio"
	"github.com/livectl/livectl/internal/tlsconf"
	"github.com/livectl/livectl/internal/tlsconf/tlstest"
)

// TestServeTLSBadValues: each wrong --tls-cert/--tls-key/--ca is exit 2
// naming the flag, before anything listens.
func TestServeTLSBadValues(t *testing.T) {
	ca := tlstest.NewCA(t)
	now := time.Now()
	good, other := ca.Localhost(t), ca.Localhost(t)
	expired := ca.Issue(t, []string{"localhost"}, now.Add(-48*time.Hour), now.Add(-time.Hour))
	missing := filepath.Join(t.TempDir(), "missing.pem")
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"missing cert file", []string{"serve", "--dev", "--tls-cert", missing, "--tls-key", good.KeyFile}, []string{"--tls-cert", "no such file"}},
		{"missing key file", []string{"serve", "--dev", "--tls-cert", good.CertFile, "--tls-key", missing}, []string{"--tls-key", "no such file"}},
		{"key mismatch", []string{"serve", "--dev", "--tls-cert", good.CertFile, "--tls-key", other.KeyFile}, []string{"--tls-key", "does not match", "--tls-cert"}},
		{"expired cert", []string{"serve", "--dev", "--tls-cert", expired.CertFile, "--tls-key", expired.KeyFile}, []string{"--tls-cert", "expired", "renew"}},
		{"cert without key", []string{"serve", "--dev", "--tls-cert", good.CertFile}, []string{"--tls-cert and --tls-key go together"}},
		{"key without cert", []string{"serve", "--dev", "--tls-key", good.KeyFile}, []string{"--tls-cert and --tls-key go together"}},
		{"key given as cert", []string{"serve", "--dev", "--tls-cert", good.KeyFile, "--tls-key", good.KeyFile}, []string{"--tls-cert", "no PEM"}},
		{"publish --ca missing", []string{"publish", "--url", "wss://127.0.0.1:1/ws", "--room", "r", "--ca", missing}, []string{"--ca", "no such file"}},
		{"probe --ca not PEM", []string{"probe", "--url", "https://127.0.0.1:1/whep/r", "--ca", good.KeyFile}, []string{"--ca", "no PEM"}},
		{"top --ca missing", []string{"top", "--once", "--ca", missing}, []string{"--ca"}},
		{"inspect --ca missing", []string{"inspect", "goroutines", "--ca", missing}, []string{"--ca"}},
		{"bench signal --ca missing", []string{"bench", "signal", "--url", "wss://127.0.0.1:1/ws", "--ca", missing}, []string{"--ca"}},
		{"bench media --ca missing", []string{"bench", "media", "--whep", "https://127.0.0.1:1/whep/r", "--ca", missing}, []string{"--ca"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if args[0] == "serve" {
				args = append([]string{"serve", "--listen", "127.0.0.1:0", "--admin-listen", ""}, args[1:]...)
			}
			code, _, stderr := runCLI(t, nil, args...)
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

// TestServeTLS runs serve with a certificate from a test CA: the banner
// prints https/wss URLs, publish (WSS) and probe (HTTPS WHEP) trusting the
// CA get a decoded frame, a probe that does not trust it fails saying what
// to pass, --insecure works, and the certificate is reloaded on SIGHUP and
// when its files change.
func TestServeTLS(t *testing.T) {
	ca := tlstest.NewCA(t)
	first := ca.Localhost(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	install := func(p tlstest.Pair) { tlstest.Install(t, p, certFile, keyFile) }
	install(first)

	// errOut is read while serve logs to it.
	var errOut syncio.Buffer
	f := NewFactory()
	f.IO = &IOStreams{In: strings.NewReader(""), Out: io.Discard, ErrOut: &errOut}
	f.LookupEnv = func(string) (string, bool) { return "", false }
	f.Logger = slog.New(slog.NewTextHandler(&errOut, nil))
	sigs, hup := make(chan os.Signal, 1), make(chan os.Signal, 1)
	opts := testServeOptions()
	opts.TLSCert, opts.TLSKey, opts.TLSWatchInterval = certFile, keyFile, 50*time.Millisecond
	opts.Signals, opts.Reload = sigs, hup
	addr, done := startServe(t, f, opts, &errOut)
	defer func() {
		sigs <- syscall.SIGTERM
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	for _, want := range []string{"wss://" + addr + "/ws", "https://" + addr + "/whip/{room}", "https://" + addr + "/healthz"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, errOut.String())
		}
	}

	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		if code, _, stderr := runCLI(t, nil, "publish", "--url", "wss://"+addr+"/ws", "--room", "tls", "--ca", ca.File, "--duration", "8s", "-q"); code != 0 {
			t.Errorf("publish over WSS with --ca: exit %d: %s", code, stderr)
		}
	}()
	defer func() { <-pubDone }()

	probeOK := func(name string, args ...string) {
		t.Helper()
		var last string
		for range 10 { // until the publisher's video is in the room
			code, stdout, stderr := runCLI(t, nil, append([]string{"probe", "--url", "https://" + addr + "/whep/tls", "--observe", "0", "-o", "json"}, args...)...)
			var rep struct {
				OK int `json:"ok"`
			}
			if code == 0 && json.Unmarshal([]byte(stdout), &rep) == nil && rep.OK == 1 {
				return
			}
			last = stderr
			time.Sleep(300 * time.Millisecond)
		}
		t.Errorf("%s: no frame decoded over HTTPS WHEP; last stderr %q", name, last)
	}
	probeOK("probe --ca", "--ca", ca.File)
	probeOK("probe --insecure", "--insecure")

	code, _, stderr := runCLI(t, nil, "probe", "--url", "https://"+addr+"/whep/tls", "--timeout", "3s")
	if code != ExitFailure || !strings.Contains(stderr, "--ca FILE") || !strings.Contains(stderr, "--insecure") {
		t.Errorf("probe without trusting the CA: exit %d, stderr %q; want exit 1 saying --ca or --insecure", code, stderr)
	}

	cfg, err := tlsconf.Client{CAFile: ca.File}.Config()
	if err != nil {
		t.Fatal(err)
	}
	served := func() string { return tlstest.ServedSerial(t, addr, cfg) }
	waitServed := func(how, want string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for served() != want {
			if time.Now().After(deadline) {
				t.Fatalf("%s: still serving %s, want %s\n%s", how, served(), want, errOut.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if got := served(); got != first.Serial.String() {
		t.Fatalf("serving %s, want %s", got, first.Serial)
	}

	// A renewal written in place is picked up by the file watch.
	second := ca.Localhost(t)
	install(second)
	waitServed("file change", second.Serial.String())

	// SIGHUP reloads too: the files are unchanged now, so only the
	// signal can have caused a reload logged with its trigger.
	hup <- syscall.SIGHUP
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(errOut.String(), "trigger=SIGHUP") {
		if time.Now().After(deadline) {
			t.Fatalf("no reload logged after SIGHUP:\n%s", errOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
