package peer

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestExchange(t *testing.T) {
	var deleted, auth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == "POST" && r.URL.Path == "/whep/ok":
			auth = r.Header.Get("Authorization")
			if r.Header.Get("Content-Type") != "application/sdp" {
				http.Error(w, "want application/sdp", http.StatusUnsupportedMediaType)
				return
			}
			w.Header().Set("Location", "../res/1")
			w.WriteHeader(http.StatusCreated)
			w.Write([]byte("v=0\r\n"))
		case r.Method == "POST" && r.URL.Path == "/whep/notsdp":
			w.Header().Set("Location", "/res/bad")
			w.WriteHeader(http.StatusCreated)
			w.Write([]byte("<html>"))
		case r.Method == "POST" && r.URL.Path == "/whep/huge":
			w.Header().Set("Location", "/res/huge")
			w.WriteHeader(http.StatusCreated)
			w.Write([]byte("v=0\r\n" + strings.Repeat("a=x\r\n", maxAnswer/5)))
		case r.Method == "POST" && r.URL.Path == "/whep/moved":
			// A load balancer sends the POST on to the server that takes it.
			http.Redirect(w, r, "/v2/whep/ok", http.StatusTemporaryRedirect)
		case r.Method == "POST" && r.URL.Path == "/v2/whep/ok":
			w.Header().Set("Location", "res/2")
			w.WriteHeader(http.StatusCreated)
			w.Write([]byte("v=0\r\n"))
		case r.Method == "DELETE":
			deleted = r.URL.Path
		default:
			http.Error(w, "room not found", http.StatusNotFound)
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	tests := []struct {
		name     string
		path     string
		wantErr  string
		status   int
		location string // the session's resource, deleted by Close or on error
	}{
		{"created", "/whep/ok", "", 0, "/res/1"},
		{"created after a redirect: Location is relative to the new URL", "/whep/moved", "", 0, "/v2/whep/res/2"},
		{"404 with body", "/whep/missing", "HTTP 404: room not found", 404, ""},
		{"2xx without SDP: the session is deleted", "/whep/notsdp", "not an SDP answer", 0, "/res/bad"},
		{"answer too large: the session is deleted", "/whep/huge", "larger than 256 KiB", 0, "/res/huge"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			deleted = ""
			s, err := Exchange(ctx, nil, srv.URL+tt.path, "tok", "v=0\r\n")
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if s.Location != srv.URL+tt.location || auth != "Bearer tok" {
					t.Fatalf("location %q auth %q", s.Location, auth)
				}
				if err := s.Close(ctx); err != nil || deleted != tt.location {
					t.Fatalf("delete: %v, path %q", err, deleted)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if deleted != tt.location {
				t.Errorf("DELETE sent to %q, want %q", deleted, tt.location)
			}
			var he *HTTPError
			if tt.status != 0 && (!errors.As(err, &he) || he.Status != tt.status) {
				t.Fatalf("err = %#v, want *HTTPError with status %d", err, tt.status)
			}
		})
	}
}
