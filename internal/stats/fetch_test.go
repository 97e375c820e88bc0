package stats

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestFetch(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/stats":
			_, _ = w.Write([]byte(`{"uptime_s":2.5,"connections":3,"rooms":[{"name":"a","participants":1}]}`))
		case "/html":
			_, _ = w.Write([]byte("<html>demo</html>"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	s, err := Fetch(ctx, srv.Client(), srv.URL+"/v1/stats")
	if err != nil || s.Connections != 3 || len(s.Rooms) != 1 || s.Rooms[0].Name != "a" {
		t.Fatalf("Fetch = %+v, %v", s, err)
	}
	var se *StatusError
	if _, err := Fetch(ctx, srv.Client(), srv.URL+"/nope"); !errors.As(err, &se) || se.Status != 404 || !strings.Contains(err.Error(), srv.URL+"/nope: HTTP 404") {
		t.Errorf("404: %v", err)
	}
	if _, err := Fetch(ctx, srv.Client(), srv.URL+"/html"); err == nil || !strings.Contains(err.Error(), "not a stats document") {
		t.Errorf("html: %v", err)
	}
	_, err = Fetch(ctx, http.DefaultClient, "http://127.0.0.1:1/v1/stats")
	if err == nil || strings.Count(err.Error(), "127.0.0.1:1/v1/stats") != 1 {
		t.Errorf("unreachable: %v (want the URL named once)", err)
	}
}
