package tlsconf_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/livectl/livectl/internal/tlsconf"
	"github.com/livectl/livectl/internal/tlsconf/tlstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestLoad(t *testing.T) {
	ca := tlstest.NewCA(t)
	now := time.Now()
	good := ca.Localhost(t)
	other := ca.Localhost(t)
	expired := ca.Issue(t, []string{"localhost"}, now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	future := ca.Issue(t, []string{"localhost"}, now.Add(time.Hour), now.Add(48*time.Hour))
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	os.WriteFile(garbage, []byte("not PEM\n"), 0o600)

	tests := []struct {
		name      string
		cert, key string
		want      error
		role      string
	}{
		{"valid pair", good.CertFile, good.KeyFile, nil, ""},
		{"missing certificate", filepath.Join(t.TempDir(), "none.pem"), good.KeyFile, fs.ErrNotExist, "certificate"},
		{"missing key", good.CertFile, filepath.Join(t.TempDir(), "none.pem"), fs.ErrNotExist, "key"},
		{"key of another certificate", good.CertFile, other.KeyFile, tlsconf.ErrKeyMismatch, "key"},
		{"expired", expired.CertFile, expired.KeyFile, tlsconf.ErrExpired, "certificate"},
		{"not yet valid", future.CertFile, future.KeyFile, tlsconf.ErrNotYetValid, "certificate"},
		{"certificate not PEM", garbage, good.KeyFile, tlsconf.ErrNoPEM, "certificate"},
		{"key not PEM", good.CertFile, garbage, tlsconf.ErrNoPEM, "key"},
		{"key file given as certificate", good.KeyFile, good.KeyFile, tlsconf.ErrNoPEM, "certificate"},
		{"certificate given as key", good.CertFile, good.CertFile, tlsconf.ErrNoPEM, "key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tlsconf.Load(tt.cert, tt.key, now)
			if tt.want == nil {
				if err != nil || c.Leaf == nil {
					t.Fatalf("Load = %v, %v", c, err)
				}
				return
			}
			var fe *tlsconf.FileError
			if !errors.Is(err, tt.want) || !errors.As(err, &fe) || fe.Role != tt.role {
				t.Fatalf("Load error %v, want %v in the %s file", err, tt.want, tt.role)
			}
		})
	}
}

// TestReloadOnFileChange: a TLS listener serves a renewed certificate
// after its files change, and keeps the old one when the new files are
// broken.
func TestReloadOnFileChange(t *testing.T) {
	ca := tlstest.NewCA(t)
	first, second := ca.Localhost(t), ca.Localhost(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	install := func(p tlstest.Pair) { tlstest.Install(t, p, certFile, keyFile) }
	install(first)
	r, err := tlsconf.NewReloader(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", tlsconf.ServerConfig(r))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	clientCfg, err := tlsconf.Client{CAFile: ca.File}.Config()
	if err != nil {
		t.Fatal(err)
	}
	served := func() string { return tlstest.ServedSerial(t, ln.Addr().String(), clientCfg) }
	if got := served(); got != first.Serial.String() {
		t.Fatalf("serving serial %s, want %s", got, first.Serial)
	}

	ctx, cancel := context.WithCancel(context.Background())
	outcomes := make(chan error, 10)
	done := make(chan struct{})
	go func() { r.Watch(ctx, 20*time.Millisecond, func(err error) { outcomes <- err }); close(done) }()
	defer func() { cancel(); <-done }()

	install(second)
	// The watch may look between the certificate's rename and the key's
	// and report a mismatched pair first; the key's rename then reloads.
	for err := waitOutcome(t, outcomes); err != nil; err = waitOutcome(t, outcomes) {
		if !errors.Is(err, tlsconf.ErrKeyMismatch) {
			t.Fatalf("reload after the files changed: %v", err)
		}
	}
	if got := served(); got != second.Serial.String() {
		t.Fatalf("after the change serving serial %s, want %s", got, second.Serial)
	}

	// A key that does not match: reported, the certificate in use stays.
	// Written in place, the file can be seen half written (truncated, or
	// part of the PEM): reported as unreadable, and the complete file
	// then as a mismatch.
	os.WriteFile(keyFile, mustRead(t, first.KeyFile), 0o600)
	for {
		err := waitOutcome(t, outcomes)
		if errors.Is(err, tlsconf.ErrKeyMismatch) {
			break
		}
		var fe *tlsconf.FileError
		if !errors.As(err, &fe) {
			t.Fatalf("reload of a mismatched pair: %v, want ErrKeyMismatch", err)
		}
	}
	if got := served(); got != second.Serial.String() {
		t.Fatalf("after a failed reload serving serial %s, want the previous %s", got, second.Serial)
	}
}

func TestClientConfig(t *testing.T) {
	ca := tlstest.NewCA(t)
	if c, err := (tlsconf.Client{}).Config(); c != nil || err != nil {
		t.Errorf("no flags: %v, %v; want nil (Go's defaults)", c, err)
	}
	if c, err := (tlsconf.Client{Insecure: true}).Config(); err != nil || !c.InsecureSkipVerify {
		t.Errorf("insecure: %+v, %v", c, err)
	}
	if c, err := (tlsconf.Client{CAFile: ca.File}).Config(); err != nil || c.RootCAs == nil {
		t.Errorf("CA file: %+v, %v", c, err)
	}
	var fe *tlsconf.FileError
	if _, err := (tlsconf.Client{CAFile: filepath.Join(t.TempDir(), "none")}).Config(); !errors.As(err, &fe) || fe.Role != "CA" {
		t.Errorf("missing CA file: %v", err)
	}
	empty := filepath.Join(t.TempDir(), "empty.pem")
	os.WriteFile(empty, nil, 0o600)
	if _, err := (tlsconf.Client{CAFile: empty}).Config(); !errors.Is(err, tlsconf.ErrNoPEM) {
		t.Errorf("CA file without certificates: %v", err)
	}
}

func waitOutcome(t *testing.T, c <-chan error) error {
	t.Helper()
	select {
	case err := <-c:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("the watcher did not notice the files changed")
		return nil
	}
}

func mustRead(t *testing.T, f string) []byte {
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
