// Package tlsconf holds livectl's TLS settings in one place: the server's
// certificate, checked at start and reloaded without a restart when its
// files change, and the trust of livectl's clients (a CA file, or no
// verification at all for a test server).
package tlsconf

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

var (
	// ErrExpired: the certificate's validity ended.
	ErrExpired = errors.New("certificate has expired")
	// ErrNotYetValid: the certificate's validity has not begun.
	ErrNotYetValid = errors.New("certificate is not valid yet")
	// ErrKeyMismatch: the key and the certificate are each well formed but
	// not a pair.
	ErrKeyMismatch = errors.New("private key does not match the certificate")
	// ErrNoPEM: a file holds no PEM block of the kind wanted.
	ErrNoPEM = errors.New("no PEM data of the expected kind")
)

// FileError says which file (certificate, key or CA) a problem is in.
type FileError struct {
	// Role is "certificate", "key" or "CA".
	Role string
	File string
	Err  error
}

func (e *FileError) Error() string { return fmt.Sprintf("%s %s: %v", e.Role, e.File, e.Err) }
func (e *FileError) Unwrap() error { return e.Err }

// Load reads a PEM certificate chain and its key and checks that they are
// a pair and that the certificate is valid at now.
func Load(certFile, keyFile string, now time.Time) (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, &FileError{"certificate", certFile, err}
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, &FileError{"key", keyFile, err}
	}
	leaf, err := firstCertificate(certPEM)
	if err != nil {
		return nil, &FileError{"certificate", certFile, err}
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// X509KeyPair's errors are strings; tell a mismatch (both files
		// parse on their own) from a broken key file.
		if b, _ := pem.Decode(keyPEM); b == nil || !bytes.Contains([]byte(b.Type), []byte("PRIVATE KEY")) {
			return nil, &FileError{"key", keyFile, ErrNoPEM}
		}
		if _, kerr := parseKey(keyPEM); kerr != nil {
			return nil, &FileError{"key", keyFile, kerr}
		}
		return nil, &FileError{"key", keyFile, ErrKeyMismatch}
	}
	switch {
	case now.After(leaf.NotAfter):
		return nil, &FileError{"certificate", certFile, fmt.Errorf("%w (on %s)", ErrExpired, leaf.NotAfter.UTC().Format(time.DateOnly))}
	case now.Before(leaf.NotBefore):
		return nil, &FileError{"certificate", certFile, fmt.Errorf("%w (from %s)", ErrNotYetValid, leaf.NotBefore.UTC().Format(time.RFC3339))}
	}
	cert.Leaf = leaf
	return &cert, nil
}

func firstCertificate(pemData []byte) (*x509.Certificate, error) {
	for rest := pemData; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, ErrNoPEM
		}
		if b.Type == "CERTIFICATE" {
			return x509.ParseCertificate(b.Bytes)
		}
	}
}

func parseKey(keyPEM []byte) (any, error) {
	b, _ := pem.Decode(keyPEM)
	if k, err := x509.ParsePKCS8PrivateKey(b.Bytes); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(b.Bytes); err == nil {
		return k, nil
	}
	return x509.ParseECPrivateKey(b.Bytes)
}

// Reloader serves a certificate that it reloads when asked (SIGHUP) or
// when its files change. A reload that fails (a half-written file, an
// expired renewal) keeps the certificate in use.
type Reloader struct {
	certFile, keyFile string
	cert              atomic.Pointer[tls.Certificate]

	mu    sync.Mutex // serialises reloads
	stamp string     // the files' size and mtime at the last load
}

// NewReloader loads the pair once; its errors are Load's.
func NewReloader(certFile, keyFile string) (*Reloader, error) {
	r := &Reloader{certFile: certFile, keyFile: keyFile}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// Reload loads the files again and, when they are a valid pair, serves
// them from the next handshake on.
func (r *Reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	stamp := r.fileStamp()
	c, err := Load(r.certFile, r.keyFile, time.Now())
	if err != nil {
		return err
	}
	r.cert.Store(c)
	r.stamp = stamp
	return nil
}

// Certificate is the certificate served now; its Leaf is parsed.
func (r *Reloader) Certificate() *tls.Certificate { return r.cert.Load() }

// GetCertificate is tls.Config.GetCertificate.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cert.Load(), nil
}

// fileStamp summarises both files' size and modification time, following
// symlinks: Kubernetes swaps a secret's files through a symlink.
func (r *Reloader) fileStamp() string {
	var b bytes.Buffer
	for _, f := range []string{r.certFile, r.keyFile} {
		if fi, err := os.Stat(f); err == nil {
			fmt.Fprintf(&b, "%d/%d;", fi.Size(), fi.ModTime().UnixNano())
		} else {
			b.WriteString("missing;")
		}
	}
	return b.String()
}

// Watch checks the files every interval until ctx ends and reloads them
// when they changed; changed is told each outcome (err nil: reloaded).
// A failed reload is tried again only after the files change again.
func (r *Reloader) Watch(ctx context.Context, interval time.Duration, changed func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.mu.Lock()
		stamp := r.fileStamp()
		same := stamp == r.stamp
		if !same {
			r.stamp = stamp // do not retry a broken pair every tick
		}
		r.mu.Unlock()
		if !same {
			changed(r.Reload())
		}
	}
}

// ServerConfig is the public listener's TLS: TLS 1.2 and later with Go's
// default cipher suites, the Reloader's certificate, HTTP/1.1 (WebSocket
// upgrades need it).
func ServerConfig(r *Reloader) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: r.GetCertificate,
		NextProtos:     []string{"http/1.1"},
	}
}

// Transport is Go's default HTTP transport (proxy from the environment,
// timeouts, HTTP/2) with cfg for https:// URLs; cfg may be nil. Each
// caller gets its own, so closing its idle connections touches no one
// else's.
func Transport(cfg *tls.Config) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg
	return tr
}

// Client is what livectl's clients trust beyond the system's roots.
type Client struct {
	// Insecure skips verification of the server's certificate.
	Insecure bool `json:"insecure,omitempty"`
	// CAFile is a PEM file of CA certificates to trust instead of the
	// system's roots (a private CA, a self-signed test certificate).
	CAFile string `json:"ca_file,omitempty"`
}

// Config returns the clients' TLS configuration, or nil (Go's defaults:
// the system roots) when c asks for nothing.
func (c Client) Config() (*tls.Config, error) {
	if !c.Insecure && c.CAFile == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.Insecure}
	if c.CAFile != "" {
		b, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, &FileError{"CA", c.CAFile, err}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, &FileError{"CA", c.CAFile, ErrNoPEM}
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}
