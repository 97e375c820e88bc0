package cli

import (
	"context"
	"errors"
	"os"
	ossignal "os/signal"
	"syscall"
	"time"

	"github.com/livectl/livectl/internal/tlsconf"
)

// defaultTLSWatch is how often serve looks at --tls-cert/--tls-key for a
// renewal: certbot and Kubernetes replace the files without telling
// anyone, and a stat every few seconds costs nothing.
const defaultTLSWatch = 5 * time.Second

// loadTLS checks --tls-cert/--tls-key at start: a missing file, a key of
// another certificate or an expired certificate is a usage error naming
// the flag, not a server that fails every handshake.
func (o *ServeOptions) loadTLS(f *Factory) error {
	if o.TLSCert == "" && o.TLSKey == "" {
		return nil
	}
	if o.TLSCert == "" || o.TLSKey == "" {
		return UsageErrorf("%s and %s go together: give both (a PEM certificate chain and its private key) or neither",
			f.FlagRef("tls-cert"), f.FlagRef("tls-key"))
	}
	r, err := tlsconf.NewReloader(o.TLSCert, o.TLSKey)
	if err != nil {
		return UsageErrorf("%s", tlsProblem(f, err))
	}
	o.tls = r
	return nil
}

// tlsProblem names the flag whose file is wrong and says what to do.
func tlsProblem(f *Factory, err error) string {
	flag := f.FlagRef("tls-cert")
	if fe := (*tlsconf.FileError)(nil); errors.As(err, &fe) && fe.Role == "key" {
		flag = f.FlagRef("tls-key")
	}
	switch {
	case errors.Is(err, tlsconf.ErrKeyMismatch):
		return flag + ": " + err.Error() + " given with " + f.FlagRef("tls-cert") + ": give the key the certificate was issued for"
	case errors.Is(err, tlsconf.ErrExpired), errors.Is(err, tlsconf.ErrNotYetValid):
		return flag + ": " + err.Error() + ": renew it (certbot renew, or your CA) and point " + flag + " at the new file"
	}
	return flag + ": " + err.Error()
}

// watchReloads reloads the certificate on SIGHUP (systemctl reload) and
// when its files change, until ctx ends. Without TLS, SIGHUP is logged as
// having nothing to reload rather than killing the server. stop ends the
// watch.
func (o *ServeOptions) watchReloads(ctx context.Context, f *Factory) (stop func()) {
	log := f.Logger
	hup := o.Reload
	unnotify := func() {}
	if hup == nil {
		c := make(chan os.Signal, 1)
		ossignal.Notify(c, syscall.SIGHUP)
		unnotify = func() { ossignal.Stop(c) }
		hup = c
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{}, 2)
	reloaded := func(how string) func(error) {
		return func(err error) {
			if err != nil {
				log.Warn("TLS certificate not reloaded: still serving the previous one", "trigger", how, "err", tlsProblem(f, err))
				return
			}
			leaf := o.tls.Certificate().Leaf
			log.Info("TLS certificate reloaded", "trigger", how, "subject", leaf.Subject.CommonName, "not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
		}
	}
	go func() {
		defer func() { done <- struct{}{} }()
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if o.tls == nil {
					log.Info("SIGHUP: nothing to reload (no --tls-cert)")
					continue
				}
				reloaded("SIGHUP")(o.tls.Reload())
			}
		}
	}()
	watchers := 1
	if o.tls != nil {
		watchers++
		interval := o.TLSWatchInterval
		if interval <= 0 {
			interval = defaultTLSWatch
		}
		go func() {
			defer func() { done <- struct{}{} }()
			o.tls.Watch(ctx, interval, reloaded("file change"))
		}()
	}
	return func() {
		cancel()
		unnotify()
		for range watchers {
			<-done
		}
	}
}
