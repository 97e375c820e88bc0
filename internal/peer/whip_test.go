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
			w.WriteHeader(http.StatusCreated)
			w.Write([]byte("<html>"))
		case r.Method == "DELETE":
			deleted = r.URL.Path
		default:
			http.Error(w, "room not found", http.StatusNotFound)
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	tests := []struct {
		name    string
		path    string
		wantErr string
		status  int
	}{
		{"created", "/whep/ok", "", 0},
		{"404 with body", "/whep/missing", "HTTP 404: room not found", 404},
		{"2xx without SDP", "/whep/notsdp", "not an SDP answer", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Exchange(ctx, nil, srv.URL+tt.path, "tok", "v=0\r\n")
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if s.Location != srv.URL+"/res/1" || auth != "Bearer tok" {
					t.Fatalf("location %q auth %q", s.Location, auth)
				}
				if err := s.Close(ctx); err != nil || deleted != "/res/1" {
					t.Fatalf("delete: %v, path %q", err, deleted)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			var he *HTTPError
			if tt.status != 0 && (!errors.As(err, &he) || he.Status != tt.status) {
				t.Fatalf("err = %#v, want *HTTPError with status %d", err, tt.status)
			}
		})
	}
}
