package inspect

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseDump(t *testing.T) {
	b, err := os.ReadFile("testdata/dump-synthetic.txt")
	if err != nil {
		t.Fatal(err)
	}
	d, err := ParseDump(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Goroutines) != 5 || d.Skipped != 0 {
		t.Fatalf("goroutines = %d skipped = %d, want 5 and 0", len(d.Goroutines), d.Skipped)
	}
	g := d.Goroutines[1]
	if g.ID != 7 || g.State != "chan receive" || g.Wait != 12*time.Minute || g.Locked {
		t.Errorf("goroutine 7 header = %+v", g)
	}
	if len(g.Frames) != 2 || g.Frames[0].Func != "example.com/app/worker.(*Pool).wait" || g.Frames[0].Line != 88 ||
		g.Frames[1].Func != "example.com/app/worker.(*Pool).run" || g.Frames[1].File != "/src/app/worker/pool.go" || g.Frames[1].Line != 61 {
		t.Errorf("goroutine 7 frames = %+v", g.Frames)
	}
	if g.CreatedBy != "example.com/app/worker.New" || g.CreatorID != 1 {
		t.Errorf("created by = %q in %d", g.CreatedBy, g.CreatorID)
	}
	io := d.Goroutines[4]
	if io.ID != 21 || io.State != "IO wait" || io.Wait != 2*time.Minute || !io.Locked || !io.Elided || len(io.Frames) != 3 || io.CreatorID != 5 {
		t.Errorf("goroutine 21 = %+v", io)
	}
}

func TestParseDumpEdgeCases(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr bool
		check   func(t *testing.T, d *Dump)
	}{
		{name: "empty", in: "", wantErr: true},
		{name: "html", in: "<html><body>404 page</body></html>\n", wantErr: true},
		{name: "protobuf bytes", in: "\x1f\x8b\x08\x00\x00\x00", wantErr: true},
		{name: "header only, truncated", in: "goroutine 5 [select]:\nmain.f(", check: func(t *testing.T, d *Dump) {
			if len(d.Goroutines) != 1 || len(d.Goroutines[0].Frames) != 0 || d.Skipped != 1 {
				t.Errorf("got %+v", d)
			}
		}},
		{name: "crlf and one minute", in: "goroutine 3 [sleep, 1 minutes]:\r\ntime.Sleep(0x3b9aca00)\r\n\t/go/src/runtime/time.go:300 +0x1\r\n", check: func(t *testing.T, d *Dump) {
			g := d.Goroutines[0]
			if g.Wait != time.Minute || g.Frames[0].Func != "time.Sleep" || g.Frames[0].Line != 300 {
				t.Errorf("got %+v", g)
			}
		}},
		{name: "unknown annotations kept", in: "goroutine 9 [chan send, durable, 99999999999999999999 minutes]:\nmain.f()\n", check: func(t *testing.T, d *Dump) {
			g := d.Goroutines[0]
			if g.State != "chan send" || g.Wait != 0 || len(g.Extra) != 2 {
				t.Errorf("got %+v", g)
			}
		}},
		{name: "bad header skipped, next parsed", in: "goroutine x [running]:\nmain.a()\n\ngoroutine 2 [running]:\nmain.b()\n", check: func(t *testing.T, d *Dump) {
			if len(d.Goroutines) != 1 || d.Goroutines[0].ID != 2 || d.Skipped != 2 {
				t.Errorf("got %+v", d)
			}
		}},
		{name: "generic and method names", in: "goroutine 4 [running]:\nexample.com/p.Map[...].Range(0xc0, {0x1, 0x2})\n\t/p.go:9 +0x1\nexample.com/p.(*T).m.func1()\n\t/p.go:12 +0x2\n", check: func(t *testing.T, d *Dump) {
			fs := d.Goroutines[0].Frames
			if len(fs) != 2 || fs[0].Func != "example.com/p.Map[...].Range" || fs[1].Func != "example.com/p.(*T).m.func1" {
				t.Errorf("frames = %+v", fs)
			}
		}},
		{name: "ancestors ignored", in: "goroutine 6 [running]:\nmain.f()\n\t/m.go:1 +0x1\n[originating from goroutine 1]:\nmain.main()\n\t/m.go:2 +0x1\n", check: func(t *testing.T, d *Dump) {
			if fs := d.Goroutines[0].Frames; len(fs) != 1 || fs[0].Func != "main.f" {
				t.Errorf("frames = %+v", fs)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := ParseDump([]byte(tc.in))
			if tc.wantErr {
				if !errors.Is(err, ErrNotProfile) {
					t.Fatalf("err = %v, want ErrNotProfile", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, d)
		})
	}
}

// FuzzParseDump feeds the debug=2 parser arbitrary text: it must not
// panic, and what it returns must be well formed. Seeds are real dumps
// (testdata/fuzz/FuzzParseDump) plus the synthetic one.
func FuzzParseDump(f *testing.F) {
	if b, err := os.ReadFile("testdata/dump-synthetic.txt"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("goroutine 1 [running]:\nmain.main()\n\t/m.go:3 +0x1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := ParseDump(data)
		if err != nil {
			if d != nil {
				t.Fatal("error with a non-nil dump")
			}
			return
		}
		if len(d.Goroutines) == 0 {
			t.Fatal("no error and no goroutine")
		}
		for _, g := range d.Goroutines {
			if g.ID < 0 || g.State == "" || g.Wait < 0 || g.CreatorID < 0 {
				t.Fatalf("bad goroutine %+v", g)
			}
			for _, fr := range g.Frames {
				if fr.Func == "" || strings.ContainsAny(fr.Func, " \t\n") || fr.Line < 0 {
					t.Fatalf("bad frame %+v", fr)
				}
			}
		}
	})
}
