// Package testkit holds the small helpers that the tests of the signaling
// server and of the media plane beside it (internal/server, internal/sfu)
// share. It is separate from servertest, which builds a whole server with
// the SFU and so cannot be imported by the SFU's own tests.
package testkit

import (
	"context"
	"testing"
	"time"

	"github.com/livectl/livectl/internal/signal"
)

// Dial connects a signaling client to url and closes it when the test ends.
func Dial(t testing.TB, url string, opts *signal.DialOptions) *signal.Client {
	t.Helper()
	c, err := signal.Dial(context.Background(), url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Ctx is a context that ends after 10 s or with the test.
func Ctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Next receives from ch, failing the test after 5 s.
func Next[T any](t testing.TB, ch <-chan T) T {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
		var zero T
		return zero
	}
}

// WaitFor polls cond until it holds, failing the test after 5 s.
func WaitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
