package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestStatsWhereAuthSays: with auth on, /v1/stats and /metrics (every room
// name and its traffic) are on the admin listener only and the public one
// answers 404, unless PublicStats; without auth both listeners serve them.
func TestStatsWhereAuthSays(t *testing.T) {
	secret := []byte(strings.Repeat("k", 32))
	for _, tc := range []struct {
		name       string
		cfg        Config
		publicWant int
	}{
		{"auth on", Config{AuthSecret: secret}, http.StatusNotFound},
		{"auth on, public stats", Config{AuthSecret: secret, PublicStats: true}, http.StatusOK},
		{"auth off", Config{}, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, tc.cfg)
			admin := httptest.NewServer(ts.AdminHandler())
			defer admin.Close()
			if got := ts.PublicStats(); got != (tc.publicWant == http.StatusOK) {
				t.Errorf("PublicStats() = %v", got)
			}
			for _, path := range []string{"/v1/stats", "/metrics"} {
				for _, l := range []struct {
					name, base string
					want       int
				}{{"public", ts.http.URL, tc.publicWant}, {"admin", admin.URL, http.StatusOK}} {
					resp, err := http.Get(l.base + path)
					if err != nil {
						t.Fatal(err)
					}
					resp.Body.Close()
					if resp.StatusCode != l.want {
						t.Errorf("%s %s = %d, want %d", l.name, path, resp.StatusCode, l.want)
					}
				}
			}
			// The public listener still answers health checks.
			resp, err := http.Get(ts.http.URL + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("healthz = %d", resp.StatusCode)
			}
		})
	}
}
